//! Output directories that replsim owns, and that appear whole or not at all.
//!
//! Every directory replsim writes (`run`, `replay --out`, `sweep`, `merge`, `validate`) carries
//! a marker file, [`MARKER`], saying which kind of output it holds. replsim only ever replaces
//! a directory that carries the marker (or an empty one): a directory with anything else in it
//! is refused with a message that says how to proceed, before any simulation runs, and so is a
//! path naming a file or the current directory. `--force` lets a command replace replsim's
//! output of *another* kind (a `run` over a sweep directory, a `sweep` over an older sweep); it
//! never reaches a directory without the marker.
//!
//! Everything is written into a hidden staging directory beside the target,
//! `.<name>.partial-<pid>`, which replaces the target on [`StagedDir::commit`] and is removed if
//! dropped before. A staging directory left behind by a killed process is removed by the next
//! command that writes into the same parent, once its owner is gone (see [`StagedDir::create`]).
//!
//! The marker is also an advisory lock ([`DirLock`]): the process writing a directory holds it
//! (a sweep for its whole run), with its PID and host written into the marker, so a second
//! writer is refused with the holder's name instead of interleaving rows.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The marker file in every directory replsim writes.
pub const MARKER: &str = ".replsim-output";

/// What a replsim output directory holds (recorded in its [`MARKER`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// One run's directory (`replsim run`, `replsim replay --out`).
    Run,
    /// A sweep or merged sweep directory (`replsim sweep`, `replsim merge`).
    Sweep,
    /// A validation directory (`replsim validate`).
    Validate,
    /// A swarm's directory (`replsim swarm`).
    Swarm,
    /// The repro bundles of a conformance run (`replsim conformance --out`).
    Conformance,
    /// One model under each release (`replsim versions`).
    Versions,
    /// A knob's boundary and its charts (`replsim advise`).
    Advise,
}

impl OutputKind {
    /// The kind's name, as in the marker.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Run => "run",
            OutputKind::Sweep => "sweep",
            OutputKind::Validate => "validate",
            OutputKind::Swarm => "swarm",
            OutputKind::Conformance => "conformance",
            OutputKind::Versions => "versions",
            OutputKind::Advise => "advise",
        }
    }

    /// Whether a new output of this kind replaces an old one of the same kind without `--force`.
    /// A run is cheap to redo; a sweep is not, so replacing one takes `--force`.
    fn replaces_own_kind(self) -> bool {
        !matches!(self, OutputKind::Sweep)
    }
}

/// The content of [`MARKER`]: which kind of output, and who holds (or last held) its lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Always `"replsim"`.
    pub written_by: String,
    /// What the directory holds.
    pub kind: OutputKind,
    /// The replsim version that wrote it.
    pub replsim_version: String,
    /// The process that holds (or last held) the directory's lock.
    pub pid: u32,
    /// That process's host.
    pub host: String,
}

impl Marker {
    fn new(kind: OutputKind) -> Marker {
        Marker {
            written_by: "replsim".into(),
            kind,
            replsim_version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            host: host_name(),
        }
    }

    /// Reads the marker of `dir`; `None` when there is none or it is not replsim's.
    pub fn read(dir: &Path) -> Option<Marker> {
        let text = fs::read_to_string(dir.join(MARKER)).ok()?;
        serde_json::from_str::<Marker>(&text)
            .ok()
            .filter(|m| m.written_by == "replsim")
    }

    fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target is not replsim's to replace, is locked, or cannot be a directory (bad input).
    #[error("{0}")]
    Refused(String),
    /// The directory (or its parent) cannot be created (bad input: choose another path).
    #[error("cannot create output directory {}: {source}", path.display())]
    Create {
        /// The target.
        path: PathBuf,
        /// The OS's reason.
        source: io::Error,
    },
    /// Moving the finished directory into place failed (a runtime error).
    #[error("cannot move results into {}: {source}", path.display())]
    Commit {
        /// The target.
        path: PathBuf,
        /// The OS's reason.
        source: io::Error,
    },
}

impl OutputError {
    /// Whether the user can fix this by choosing another output (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, OutputError::Commit { .. })
    }
}

/// The advisory lock of an output directory: its [`MARKER`], locked exclusively, with this
/// process's PID and host written into it. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir` (creating its marker as `kind` if it has none, e.g. a sweep directory of an
    /// older replsim); refused when another process holds the lock.
    pub fn acquire(dir: &Path, kind: OutputKind) -> Result<DirLock, OutputError> {
        let path = dir.join(MARKER);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| OutputError::Create {
                path: dir.to_path_buf(),
                source: e,
            })?;
        let mut lock = DirLock::try_lock(file, dir)?;
        let old = Marker::read(dir);
        let marker = Marker {
            kind: old.map_or(kind, |m| m.kind),
            ..Marker::new(kind)
        };
        lock.write_holder(&marker)
            .map_err(|e| OutputError::Create {
                path: dir.to_path_buf(),
                source: e,
            })?;
        Ok(lock)
    }

    fn try_lock(mut file: File, dir: &Path) -> Result<DirLock, OutputError> {
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str::<Marker>(&text).map_or_else(
                    |_| "another process".to_string(),
                    |m| format!("process {} on host {}", m.pid, m.host),
                );
                Err(OutputError::Refused(format!(
                    "{} is being written by another replsim ({holder}); wait for it to finish \
                     (one writer per directory), or choose another --out",
                    dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => Err(OutputError::Create {
                path: dir.to_path_buf(),
                source: e,
            }),
        }
    }

    /// Rewrites the marker in place (never empty for a reader: the new text is written over the
    /// old, then the file is cut to its length).
    fn write_holder(&mut self, marker: &Marker) -> io::Result<()> {
        let text = marker.to_json();
        self._file.rewind()?;
        self._file.write_all(text.as_bytes())?;
        self._file.set_len(text.len() as u64)?;
        self._file.flush()
    }
}

/// A staging directory that becomes its target on commit.
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    /// The target as given (for messages).
    target: PathBuf,
    /// The target resolved against the current directory (for the file operations).
    resolved: PathBuf,
    kind: OutputKind,
    force: bool,
    lock: Option<DirLock>,
    committed: bool,
}

impl StagedDir {
    /// Checks that `target` may be written as output of `kind` (see the module docs; `force`
    /// lets it replace replsim's output of another kind), then creates `.<name>.partial-<pid>`
    /// beside it (and its parent if needed), holding the staging directory's lock.
    ///
    /// Staging directories of earlier processes in the same parent are removed first when
    /// they carry replsim's marker and their lock is free (their owner is gone), and, for an
    /// owner on this host, its PID is no longer running.
    pub fn create(target: &Path, kind: OutputKind, force: bool) -> Result<Self, OutputError> {
        let (parent, name) = check_target(target, kind, force)?;
        let create_err = |e| OutputError::Create {
            path: target.to_path_buf(),
            source: e,
        };
        fs::create_dir_all(&parent).map_err(create_err)?;
        let parent = fs::canonicalize(&parent).map_err(create_err)?;
        remove_leftovers(&parent);
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if Marker::read(&staging).is_some() {
            // Our own PID's leftover (an earlier output of this process, or a reused PID).
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir(&staging).map_err(create_err)?;
        let mut dir = StagedDir {
            resolved: parent.join(&name),
            staging,
            target: target.to_path_buf(),
            kind,
            force,
            lock: None,
            committed: false,
        };
        dir.lock = Some(DirLock::acquire(&dir.staging, kind)?);
        Ok(dir)
    }

    /// The directory this becomes.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The path of `name` inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Replaces the target with the staging directory, checking again that the target is
    /// replsim's to replace (it may have changed since [`StagedDir::create`]), and returns the
    /// directory's lock, held until dropped.
    pub fn commit(mut self) -> Result<DirLock, OutputError> {
        let commit_err = |e| OutputError::Commit {
            path: self.target.clone(),
            source: e,
        };
        if let Ok(meta) = fs::metadata(&self.resolved) {
            if !meta.is_dir() {
                return Err(not_a_directory(&self.target));
            }
            // Held while the old directory is removed, so no writer of it is cut short.
            let _old = replaceable(&self.resolved, &self.target, self.kind, self.force)?;
            if is_empty_dir(&self.resolved) {
                fs::remove_dir(&self.resolved).map_err(commit_err)?;
            } else {
                fs::remove_dir_all(&self.resolved).map_err(commit_err)?;
            }
        }
        fs::rename(&self.staging, &self.resolved).map_err(commit_err)?;
        self.committed = true;
        Ok(self.lock.take().expect("a staged directory holds its lock"))
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// `name` as one safe path component: no separators, no `.`/`..`, not hidden, not empty.
/// Used to turn a model's or experiment's name into the folder `output/<name>`.
///
/// ```
/// use replsim::staging::path_component;
/// assert_eq!(path_component("default"), "default");
/// assert_eq!(path_component("../../etc"), "_._.._etc");
/// assert_eq!(path_component("/tmp/x"), "_tmp_x");
/// assert_eq!(path_component(".."), "_.");
/// assert_eq!(path_component(""), "_");
/// ```
pub fn path_component(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == ':' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.replace_range(0..out.chars().next().map_or(0, char::len_utf8), "_");
        if out.is_empty() {
            out.push('_');
        }
    }
    out
}

/// Checks `target` and returns its parent and final component (the checks of the module docs).
fn check_target(
    target: &Path,
    kind: OutputKind,
    force: bool,
) -> Result<(PathBuf, String), OutputError> {
    match fs::metadata(target) {
        Ok(meta) if !meta.is_dir() => Err(not_a_directory(target)),
        Ok(_) => {
            let resolved = fs::canonicalize(target).map_err(|e| OutputError::Create {
                path: target.to_path_buf(),
                source: e,
            })?;
            if let Ok(cwd) = std::env::current_dir()
                && cwd.starts_with(&resolved)
            {
                return Err(OutputError::Refused(format!(
                    "{} is the current directory (or holds it); replsim writes its output into a \
                     directory of its own: give a new one, e.g. --out {}",
                    target.display(),
                    target.join("results").display()
                )));
            }
            replaceable(&resolved, target, kind, force)?;
            let (Some(parent), Some(name)) = (resolved.parent(), resolved.file_name()) else {
                return Err(not_a_directory(target));
            };
            Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
        }
        Err(_) => {
            let name = match target.components().next_back() {
                Some(std::path::Component::Normal(n)) => n.to_string_lossy().into_owned(),
                _ => return Err(not_a_directory(target)),
            };
            let parent = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Ok((parent.to_path_buf(), name))
        }
    }
}

/// Whether the existing directory `resolved` may be replaced; when it carries a marker, returns
/// its lock (refused while another process holds it).
fn replaceable(
    resolved: &Path,
    target: &Path,
    kind: OutputKind,
    force: bool,
) -> Result<Option<DirLock>, OutputError> {
    if is_empty_dir(resolved) {
        return Ok(None);
    }
    let Some(marker) = Marker::read(resolved) else {
        return Err(OutputError::Refused(format!(
            "{} exists, is not empty and was not written by replsim (it has no {MARKER} \
             marker); replsim never replaces a directory it did not create, even with --force. \
             Choose a new or empty directory (--out), or move its files away first",
            target.display()
        )));
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(resolved.join(MARKER))
        .map_err(|e| OutputError::Create {
            path: target.to_path_buf(),
            source: e,
        })?;
    let lock = DirLock::try_lock(file, target)?;
    let same = marker.kind == kind;
    if !(force || same && kind.replaces_own_kind()) {
        let hint = if same && kind == OutputKind::Sweep {
            "pass --resume to continue it (replsim sweep), --force to replace it, or choose \
             another --out"
        } else {
            "pass --force to replace it, or choose another --out"
        };
        return Err(OutputError::Refused(format!(
            "{} already holds replsim's {} output; {hint}",
            target.display(),
            marker.kind.as_str()
        )));
    }
    Ok(Some(lock))
}

fn not_a_directory(target: &Path) -> OutputError {
    let what = if target.is_file() {
        "is a file, not a directory"
    } else {
        "does not name a folder replsim can create"
    };
    OutputError::Refused(format!(
        "{} {what}; give a new or empty directory for the output (--out), e.g. --out results",
        target.display()
    ))
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Removes `.<name>.partial-<pid>` folders in `parent` whose owner is gone (module docs).
fn remove_leftovers(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let me = std::process::id();
    let host = host_name();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = staging_pid(&name) else {
            continue;
        };
        let path = entry.path();
        if pid == me || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(marker) = Marker::read(&path) else {
            continue;
        };
        if marker.pid != pid || (marker.host == host && pid_running(pid)) {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).open(path.join(MARKER)) else {
            continue;
        };
        // Free lock: the owner is gone (on this host or another sharing the file system).
        if file.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The PID in a staging folder's name `.<name>.partial-<pid>`.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (stem, pid) = rest.rsplit_once(".partial-")?;
    if stem.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(unix)]
fn pid_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn pid_running(_pid: u32) -> bool {
    true
}

/// This machine's host name (for the marker and lock messages).
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; the name is NUL-terminated when it fits.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            let name = String::from_utf8_lossy(&buf[..end]).into_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_recognised_and_nothing_else() {
        assert_eq!(staging_pid(".default-1.partial-1234"), Some(1234));
        assert_eq!(staging_pid(".a.b.partial-7"), Some(7));
        for other in [
            "default-1.partial-12",
            ".partial-12",
            ".x.partial-",
            ".x.partial-12a",
            ".x.partial-99999999999999",
            "thesis.tex",
        ] {
            assert_eq!(staging_pid(other), None, "{other}");
        }
    }

    #[test]
    fn path_components_stay_one_component() {
        for name in [
            "..",
            ".",
            "/",
            "a/../../b",
            "/abs/path",
            "c:\\x",
            ".hidden",
            "\n",
            "",
        ] {
            let c = path_component(name);
            let p = Path::new("output").join(&c);
            assert_eq!(p.parent(), Some(Path::new("output")), "{name:?} -> {c:?}");
            assert!(
                matches!(
                    p.components().next_back(),
                    Some(std::path::Component::Normal(_))
                ),
                "{name:?} -> {c:?}"
            );
            assert!(!c.starts_with('.'), "{name:?} -> {c:?}");
        }
        assert_eq!(path_component("worked-example-dual"), "worked-example-dual");
    }
}
