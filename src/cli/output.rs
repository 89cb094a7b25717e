//! Output directories that appear whole or not at all: everything is written into a staging
//! directory next to the target, which is renamed into place at the end (see
//! [`crate::staging`]: only replsim's own output is ever replaced).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::CliError;
use crate::scenario::ModelFile;
use crate::staging::{DirLock, OutputError, OutputKind, StagedDir};
use crate::valkey::{InfoSample, Journal, OutcomeRecord, RunResult};

/// A run directory that appears whole or not at all, and replaces only replsim's own output
/// (see [`crate::staging`]), with errors as [`CliError`]s.
#[derive(Debug)]
pub struct OutputDir(StagedDir);

impl OutputDir {
    /// Checks that `target` may be written as output of `kind` (`force`: even over replsim's
    /// output of another kind) and creates the staging directory beside it. Call it before
    /// simulating, so a refused target costs nothing.
    pub fn create(target: &Path, kind: OutputKind, force: bool) -> Result<Self, CliError> {
        StagedDir::create(target, kind, force)
            .map(OutputDir)
            .map_err(output_error)
    }

    /// The path of a file inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path(name)
    }

    /// Writes a whole file (`name` may have folders: `case/sim/summary.json`).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| self.write_error(name, e))?;
        }
        fs::write(path, bytes).map_err(|e| self.write_error(name, e))
    }

    /// A buffered writer for a file.
    pub fn writer(&self, name: &str) -> Result<Box<dyn Write>, CliError> {
        let f = fs::File::create(self.path(name)).map_err(|e| self.write_error(name, e))?;
        Ok(Box::new(BufWriter::new(f)))
    }

    /// Replaces the target with the staging directory; the returned lock keeps other replsim
    /// processes from replacing it until dropped (hold it while drawing the charts).
    pub fn commit(self) -> Result<DirLock, CliError> {
        self.0.commit().map_err(output_error)
    }

    fn write_error(&self, name: &str, e: std::io::Error) -> CliError {
        CliError::runtime(format!(
            "cannot write {}: {e}",
            self.0.target().join(name).display()
        ))
    }
}

/// An output directory's error as a [`CliError`]: exit 2 when another directory would do.
pub fn output_error(e: OutputError) -> CliError {
    if e.is_bad_input() {
        CliError::bad_input(e.to_string())
    } else {
        CliError::runtime(e.to_string())
    }
}

/// Writes everything a run produced.
pub fn write_run(dir: &OutputDir, model: &ModelFile, result: &RunResult) -> Result<(), CliError> {
    write_run_parts(
        dir,
        "",
        model,
        &result.record,
        &result.journal,
        &result.logs,
        &result.samples,
    )
}

/// Writes a run's files under `prefix` (empty, or a folder path ending in `/`): the layout of
/// `replsim run`, for simulated and real runs alike.
pub fn write_run_parts(
    dir: &OutputDir,
    prefix: &str,
    model: &ModelFile,
    record: &OutcomeRecord,
    journal: &Journal,
    logs: &[(String, String)],
    samples: &[InfoSample],
) -> Result<(), CliError> {
    let json = |v: &dyn erased::Json| v.to_json();
    let at = |name: &str| format!("{prefix}{name}");
    // summary.json is byte-identical for the same model and seed on any machine; the wall time
    // (provenance) goes to run-info.json instead.
    let mut summary = serde_json::to_value(record).unwrap_or_default();
    if let Some(map) = summary.as_object_mut() {
        map.remove("wall_seconds");
    }
    dir.write(&at("summary.json"), json(&summary).as_bytes())?;
    let info = serde_json::json!({
        "wall_seconds": record.wall_seconds,
        "events_per_sec": record.events as f64 / record.wall_seconds.max(1e-9),
        "invariants_checked": model.run_options().check,
    });
    dir.write(&at("run-info.json"), json(&info).as_bytes())?;
    dir.write(&at("journal.json"), json(journal).as_bytes())?;
    dir.write(&at("model.resolved.toml"), model.to_toml().as_bytes())?;
    for (node, log) in logs {
        dir.write(&at(&format!("{node}.log")), log.as_bytes())?;
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    for s in samples {
        csv.serialize(s)
            .map_err(|e| CliError::runtime(format!("cannot write timeline.csv: {e}")))?;
    }
    let bytes = csv
        .into_inner()
        .map_err(|e| CliError::runtime(format!("cannot write timeline.csv: {e}")))?;
    dir.write(&at("timeline.csv"), &bytes)
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
