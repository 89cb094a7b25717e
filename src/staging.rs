//! Directories that appear whole or not at all: everything is written into a hidden staging
//! directory beside the target, which replaces the target on [`StagedDir::commit`] and is
//! removed if dropped before. So bad input or a crash never leaves a half-written result
//! directory. Used by `replsim run` and by sweeps and merges.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A staging directory that becomes its target on commit.
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates `.<name>.partial-<pid>` beside `target` (and `target`'s parent if needed).
    pub fn create(target: &Path) -> io::Result<Self> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent)?;
        let name = target
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().to_string());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging)?;
        Ok(StagedDir {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// The directory this becomes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The path of `name` inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Replaces the target with the staging directory.
    pub fn commit(mut self) -> io::Result<()> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target)?;
        }
        fs::rename(&self.staging, &self.target)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}
