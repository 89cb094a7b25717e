//! A sweep's output directory:
//!
//! ```text
//! sweep.json                 which experiment (name, hash), how many runs, which shard
//! experiment.resolved.toml   the experiment with its axes expanded, and [plot]
//! model.resolved.toml        the base model as parsed
//! results.csv, results.jsonl one row per finished run, in run order
//! bundles/run-<i>.json       repro bundles of surprising runs
//! sweep-info.json            wall time and rate of each invocation (not deterministic)
//! ```
//!
//! A new directory appears whole (it is staged beside its target and renamed into place) before
//! the first run; rows are then appended one `write` per line, CSV first, JSON second. A sweep
//! killed at any moment therefore leaves both tables holding a prefix of the run order, the CSV
//! at most one row ahead, and possibly a torn last line. [`SweepDir::resume`] keeps the longest
//! prefix that both tables hold whole and truncates both to it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::RowHead;
use super::{Bundle, ExperimentError, Plan, Row, Shard};
use crate::staging::{DirLock, OutputError, OutputKind, StagedDir};

/// The deterministic description of a sweep directory (`sweep.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The experiment's name.
    pub experiment: String,
    /// [`Plan::hash`]: the same for every shard of one experiment.
    pub hash: String,
    /// Runs in the whole sweep (all shards).
    pub runs: u64,
    /// Which shard this directory holds (none: the whole sweep).
    pub shard: Option<Shard>,
    /// The replsim version.
    pub replsim_version: String,
}

impl Manifest {
    /// The manifest of `plan`'s `shard`.
    pub fn new(plan: &Plan, shard: Shard) -> Manifest {
        Manifest {
            experiment: plan.name.clone(),
            hash: plan.hash().to_string(),
            runs: plan.runs(),
            shard: (!shard.is_all()).then_some(shard),
            replsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The shard, `1/1` for a whole sweep.
    pub fn shard(&self) -> Shard {
        self.shard.unwrap_or(Shard::ALL)
    }

    /// Reads `dir/sweep.json`.
    pub fn load(dir: &Path) -> Result<Manifest, ExperimentError> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|e| {
            ExperimentError::BadInput(format!(
                "{} is not a sweep directory (cannot read {MANIFEST}: {e})",
                dir.display()
            ))
        })?;
        let invalid = |message: String| ExperimentError::Invalid {
            file: path.display().to_string(),
            message,
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        match manifest.shard {
            Some(s) if s.index == 0 || s.index > s.count => {
                Err(invalid(format!("shard {s} is not i/N with 1 <= i <= N")))
            }
            _ => Ok(manifest),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// `sweep.json`.
pub const MANIFEST: &str = "sweep.json";
/// The CSV table.
pub const RESULTS_CSV: &str = "results.csv";
/// The JSON-lines table.
pub const RESULTS_JSONL: &str = "results.jsonl";
/// The resolved experiment.
pub const EXPERIMENT_TOML: &str = "experiment.resolved.toml";
/// The base model.
pub const MODEL_TOML: &str = "model.resolved.toml";
/// Timing (not deterministic).
pub const INFO_JSON: &str = "sweep-info.json";
/// The bundle directory.
pub const BUNDLES: &str = "bundles";

const EXPERIMENT_HEADER: &str = "# The experiment as run, its axes expanded (written by replsim \
                                 sweep; the report reads [[axes]] and [plot]).\n";

/// Outcome counts and the first surprising run, over every row of the tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Rows per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// The first run (in run order) whose outcome writes a bundle, with that outcome.
    pub first_surprise: Option<(u64, String)>,
    /// Rows whose outcome writes a bundle.
    pub surprises: u64,
}

impl Tally {
    /// Counts one row.
    pub fn add(&mut self, plan: &Plan, run: u64, outcome: &str) {
        *self.outcomes.entry(outcome.to_string()).or_default() += 1;
        if plan.bundles(outcome) {
            self.surprises += 1;
            if self.first_surprise.is_none() {
                self.first_surprise = Some((run, outcome.to_string()));
            }
        }
    }
}

/// An open sweep directory, appending rows.
#[derive(Debug)]
pub struct SweepDir {
    path: PathBuf,
    shard: Shard,
    csv: File,
    jsonl: File,
    rows: u64,
    bundles: u32,
    max_bundles: u32,
    /// Held for as long as this directory is open: one writer per sweep directory.
    _lock: DirLock,
}

impl SweepDir {
    /// Creates the directory for a new sweep. An existing sweep directory is an error unless
    /// `force`; a directory replsim did not write is always one (an empty one is used).
    pub fn create(
        path: &Path,
        plan: &Plan,
        shard: Shard,
        force: bool,
    ) -> Result<SweepDir, ExperimentError> {
        let staging = Staging::create(path, force)?;
        staging.write(MANIFEST, Manifest::new(plan, shard).to_json().as_bytes())?;
        let experiment = format!("{EXPERIMENT_HEADER}{}", plan.resolved_toml());
        staging.write(EXPERIMENT_TOML, experiment.as_bytes())?;
        staging.write(MODEL_TOML, plan.base.to_toml().as_bytes())?;
        staging.write(RESULTS_CSV, b"")?;
        staging.write(RESULTS_JSONL, b"")?;
        staging.mkdir(BUNDLES)?;
        let lock = staging.commit()?;
        SweepDir::open(path, plan, shard, 0, 0, lock)
    }

    /// Reopens a killed sweep's directory: checks that it holds this experiment and shard and
    /// that no other process is writing it (taking its lock), keeps the rows both tables hold
    /// whole, and returns the tally of those rows.
    pub fn resume(
        path: &Path,
        plan: &Plan,
        shard: Shard,
    ) -> Result<(SweepDir, Tally), ExperimentError> {
        let manifest = Manifest::load(path)?;
        check_same_sweep(path, &manifest, plan, shard)?;
        let lock = DirLock::acquire(path, OutputKind::Sweep).map_err(output_error)?;
        let (csv_path, jsonl_path) = (path.join(RESULTS_CSV), path.join(RESULTS_JSONL));
        let total = plan.runs();
        let (_, json_rows) = scan_jsonl(&jsonl_path, shard, total, u64::MAX, &mut |_| {})?;
        let (csv_bytes, rows) = scan_csv(&csv_path, shard, json_rows)?;
        let mut tally = Tally::default();
        let (json_bytes, _) = scan_jsonl(&jsonl_path, shard, total, rows, &mut |h| {
            tally.add(plan, h.run, &h.outcome)
        })?;
        truncate(&csv_path, csv_bytes)?;
        truncate(&jsonl_path, json_bytes)?;
        let bundles = tally.surprises.min(u64::from(plan.max_bundles)) as u32;
        Ok((
            SweepDir::open(path, plan, shard, rows, bundles, lock)?,
            tally,
        ))
    }

    fn open(
        path: &Path,
        plan: &Plan,
        shard: Shard,
        rows: u64,
        bundles: u32,
        lock: DirLock,
    ) -> Result<SweepDir, ExperimentError> {
        let append = |name: &str| {
            let p = path.join(name);
            OpenOptions::new()
                .append(true)
                .open(&p)
                .map_err(|e| ExperimentError::io(&p, "open", e))
        };
        fs::create_dir_all(path.join(BUNDLES))
            .map_err(|e| ExperimentError::io(&path.join(BUNDLES), "create", e))?;
        Ok(SweepDir {
            path: path.to_path_buf(),
            shard,
            csv: append(RESULTS_CSV)?,
            jsonl: append(RESULTS_JSONL)?,
            rows,
            bundles,
            max_bundles: plan.max_bundles,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shard this directory holds.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Rows already in the tables (this shard's runs `0..rows` in shard order).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends `row` (and writes `bundle` first, while fewer than `max-bundles` were written);
    /// returns the path of the bundle written, if any.
    pub fn append(
        &mut self,
        row: &Row,
        bundle: Option<&Bundle>,
    ) -> Result<Option<PathBuf>, ExperimentError> {
        let expected = self.shard.run_at(self.rows);
        if row.run != expected {
            return Err(ExperimentError::Runtime(format!(
                "internal error: run {} written where run {expected} belongs",
                row.run
            )));
        }
        let bundle_path = match bundle.filter(|_| self.bundles < self.max_bundles) {
            Some(b) => Some(self.write_bundle(b)?),
            None => None,
        };
        let csv_path = self.path.join(RESULTS_CSV);
        if self.rows == 0 {
            let mut first = row.csv_header.clone();
            first.extend_from_slice(&row.csv);
            self.csv.write_all(&first)
        } else {
            self.csv.write_all(&row.csv)
        }
        .map_err(|e| ExperimentError::io(&csv_path, "append to", e))?;
        self.jsonl
            .write_all(&row.json)
            .map_err(|e| ExperimentError::io(&self.path.join(RESULTS_JSONL), "append to", e))?;
        self.rows += 1;
        Ok(bundle_path)
    }

    fn write_bundle(&mut self, bundle: &Bundle) -> Result<PathBuf, ExperimentError> {
        let path = self.path.join(BUNDLES).join(Bundle::file_name(bundle.run));
        write_atomic(&path, bundle.to_json().as_bytes())?;
        self.bundles += 1;
        Ok(path)
    }

    /// Appends this invocation's timing to `sweep-info.json`.
    pub fn record_invocation(&self, info: serde_json::Value) -> Result<(), ExperimentError> {
        let path = self.path.join(INFO_JSON);
        let mut all: Vec<serde_json::Value> = fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("invocations").and_then(|i| i.as_array().cloned()))
            .unwrap_or_default();
        all.push(info);
        let doc = serde_json::json!({ "invocations": all });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        write_atomic(&path, text.as_bytes())
    }
}

fn check_same_sweep(
    path: &Path,
    manifest: &Manifest,
    plan: &Plan,
    shard: Shard,
) -> Result<(), ExperimentError> {
    if manifest.hash != plan.hash() {
        return Err(ExperimentError::BadInput(format!(
            "{} holds a sweep of a different experiment ({} {}; this is {} {}: the experiment, \
             its model or replsim changed); choose another --out, or --force to start over",
            path.display(),
            manifest.experiment,
            manifest.hash,
            plan.name,
            plan.hash()
        )));
    }
    if manifest.shard() != shard {
        return Err(ExperimentError::BadInput(format!(
            "{} holds shard {} of this experiment, not {shard}",
            path.display(),
            manifest.shard()
        )));
    }
    Ok(())
}

/// Reads whole, well-placed JSON rows (at most `limit`); returns their byte length and count.
fn scan_jsonl(
    path: &Path,
    shard: Shard,
    total: u64,
    limit: u64,
    on_row: &mut dyn FnMut(&RowHead),
) -> Result<(u64, u64), ExperimentError> {
    let file = File::open(path).map_err(|e| ExperimentError::io(path, "read", e))?;
    let mut reader = BufReader::new(file);
    let (mut bytes, mut rows) = (0u64, 0u64);
    let mut line = Vec::new();
    while rows < limit {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ExperimentError::io(path, "read", e))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let Ok(head) = serde_json::from_slice::<RowHead>(&line) else {
            break;
        };
        if head.run != shard.run_at(rows) || head.run >= total {
            break;
        }
        on_row(&head);
        bytes += n as u64;
        rows += 1;
    }
    Ok((bytes, rows))
}

/// Reads the CSV header and whole, well-placed rows (at most `limit`); returns the byte length
/// to keep (0 when no row is kept: the header is rewritten with the first row) and the count.
fn scan_csv(path: &Path, shard: Shard, limit: u64) -> Result<(u64, u64), ExperimentError> {
    let file = File::open(path).map_err(|e| ExperimentError::io(path, "read", e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let header = reader
        .read_until(b'\n', &mut line)
        .map_err(|e| ExperimentError::io(path, "read", e))?;
    if header == 0 || line.last() != Some(&b'\n') {
        return Ok((0, 0));
    }
    let (mut bytes, mut rows) = (header as u64, 0u64);
    while rows < limit {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ExperimentError::io(path, "read", e))?;
        let prefix = format!("{},", shard.run_at(rows));
        if n == 0 || line.last() != Some(&b'\n') || !line.starts_with(prefix.as_bytes()) {
            break;
        }
        bytes += n as u64;
        rows += 1;
    }
    Ok((if rows == 0 { 0 } else { bytes }, rows))
}

fn truncate(path: &Path, len: u64) -> Result<(), ExperimentError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(|e| ExperimentError::io(path, "truncate", e))
}

/// Writes a file whole or not at all (a temporary file renamed into place).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExperimentError> {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            ExperimentError::io(path, "write", e)
        })
}

/// A sweep or merge output directory that appears whole or not at all and replaces only
/// replsim's own output (see [`crate::staging`]), with errors as [`ExperimentError`]s.
#[derive(Debug)]
pub(crate) struct Staging(StagedDir);

impl Staging {
    /// Checks that `target` may hold a new sweep (`force`: replace replsim's output there) and
    /// creates the staging directory beside it (bad input if either is impossible).
    pub(crate) fn create(target: &Path, force: bool) -> Result<Staging, ExperimentError> {
        StagedDir::create(target, OutputKind::Sweep, force)
            .map(Staging)
            .map_err(output_error)
    }

    /// The path of `name` inside the staging directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.path(name)
    }

    /// Writes a whole file.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ExperimentError> {
        fs::write(self.path(name), bytes)
            .map_err(|e| ExperimentError::io(&self.path(name), "write", e))
    }

    /// Creates a subdirectory.
    pub(crate) fn mkdir(&self, name: &str) -> Result<(), ExperimentError> {
        fs::create_dir_all(self.path(name))
            .map_err(|e| ExperimentError::io(&self.path(name), "create", e))
    }

    /// Replaces the target with the staging directory; returns its lock (one writer at a time).
    pub(crate) fn commit(self) -> Result<DirLock, ExperimentError> {
        self.0.commit().map_err(output_error)
    }
}

/// An output directory's error as an [`ExperimentError`].
pub(crate) fn output_error(e: OutputError) -> ExperimentError {
    if e.is_bad_input() {
        ExperimentError::BadInput(e.to_string())
    } else {
        ExperimentError::Runtime(e.to_string())
    }
}
