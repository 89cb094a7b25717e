//! Scratch folders for tests that run the `replsim` binary: one per test, under the system's
//! temporary folder, named by module, process and test so parallel tests never share one.

use std::path::PathBuf;

/// An empty folder `replsim-<module>-<pid>-<name>` (emptied if a previous run left it).
pub fn dir(module: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("replsim-{module}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
