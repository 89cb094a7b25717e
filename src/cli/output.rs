//! Output directories that appear whole or not at all: everything is written into a staging
//! directory next to the target, which is renamed into place at the end.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::CliError;
use crate::scenario::ModelFile;
use crate::valkey::RunResult;

/// A staging directory that becomes `target` on [`OutputDir::commit`], and disappears if
/// dropped before.
#[derive(Debug)]
pub struct OutputDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl OutputDir {
    /// Creates the staging directory beside `target`.
    pub fn create(target: &Path) -> Result<Self, CliError> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| {
            CliError::bad_input(format!(
                "cannot create output directory {}: {e}",
                parent.display()
            ))
        })?;
        let name = target
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().to_string());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(|e| {
            CliError::bad_input(format!(
                "cannot write to output directory {}: {e}",
                parent.display()
            ))
        })?;
        Ok(OutputDir {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// The path of a file inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Writes a whole file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        fs::write(self.path(name), bytes).map_err(|e| {
            CliError::runtime(format!(
                "cannot write {}: {e}",
                self.target.join(name).display()
            ))
        })
    }

    /// A buffered writer for a file.
    pub fn writer(&self, name: &str) -> Result<Box<dyn Write>, CliError> {
        let f = fs::File::create(self.path(name)).map_err(|e| {
            CliError::runtime(format!(
                "cannot write {}: {e}",
                self.target.join(name).display()
            ))
        })?;
        Ok(Box::new(BufWriter::new(f)))
    }

    /// Replaces `target` with the staging directory.
    pub fn commit(mut self) -> Result<(), CliError> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(|e| {
                CliError::runtime(format!("cannot replace {}: {e}", self.target.display()))
            })?;
        }
        fs::rename(&self.staging, &self.target).map_err(|e| {
            CliError::runtime(format!(
                "cannot move results into {}: {e}",
                self.target.display()
            ))
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes everything a run produced.
pub fn write_run(dir: &OutputDir, model: &ModelFile, result: &RunResult) -> Result<(), CliError> {
    let json = |v: &dyn erased::Json| v.to_json();
    // summary.json is byte-identical for the same model and seed on any machine; the wall time
    // (provenance) goes to run-info.json instead.
    let mut summary = serde_json::to_value(&result.record).unwrap_or_default();
    if let Some(map) = summary.as_object_mut() {
        map.remove("wall_seconds");
    }
    dir.write("summary.json", json(&summary).as_bytes())?;
    let info = serde_json::json!({
        "wall_seconds": result.record.wall_seconds,
        "events_per_sec": result.record.events as f64 / result.record.wall_seconds.max(1e-9),
    });
    dir.write("run-info.json", json(&info).as_bytes())?;
    dir.write("journal.json", json(&result.journal).as_bytes())?;
    dir.write("model.resolved.toml", model.to_toml().as_bytes())?;
    for (node, log) in &result.logs {
        dir.write(&format!("{node}.log"), log.as_bytes())?;
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    for s in &result.samples {
        csv.serialize(s)
            .map_err(|e| CliError::runtime(format!("cannot write timeline.csv: {e}")))?;
    }
    let bytes = csv
        .into_inner()
        .map_err(|e| CliError::runtime(format!("cannot write timeline.csv: {e}")))?;
    dir.write("timeline.csv", &bytes)
}

mod erased {
    /// Pretty JSON of anything serialisable, behind a trait object.
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
        }
    }
}
