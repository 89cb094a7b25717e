//! The conformance set: models that translate Valkey's own Tcl replication tests step by step
//! (each carries a `[conformance]` table naming its source), run over a few seeds in parallel on
//! the sweep runner's pool. An instance passes when every seed passes: every scripted wait held
//! (`passed` in the outcome record) **and** every action of the script ran before the horizon (a
//! step never reached is not a pass).
//!
//! Seeds: seed `s` of `N` is the model's own `model.seed` plus `s` (0-based), so a model with
//! the default seed 1 runs seeds 1..=N and its first seed is the one `replsim run` uses.
//!
//! ```no_run
//! use replsim::experiment::conformance::{ConformanceOptions, run_set};
//! let report = run_set(&ConformanceOptions::new("conformance")).unwrap();
//! println!("{}/{} passed", report.passed(), report.rows.len());
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use super::{Bundle, ExperimentError, Progress, ProgressMode};
use crate::scenario::{ConformanceMeta, ModelFile, load_model};
use crate::valkey::{Cluster, OutcomeRecord};

/// Default number of seeds per instance.
pub const DEFAULT_SEEDS: u64 = 3;

/// Most seeds per instance (a conformance run is a check, not a sweep).
pub const MAX_SEEDS: u64 = 1000;

/// What to run.
#[derive(Clone, Debug)]
pub struct ConformanceOptions {
    /// The folder searched (recursively) for models with a `[conformance]` table.
    pub dir: PathBuf,
    /// Seeds per instance.
    pub seeds: u64,
    /// Worker threads (default: the available parallelism).
    pub jobs: Option<usize>,
    /// Only the instances whose path or source test name contains this.
    pub filter: Option<String>,
    /// Progress on stderr.
    pub progress: ProgressMode,
}

impl ConformanceOptions {
    /// The defaults for `dir`: 3 seeds, all cores, no filter, no progress.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConformanceOptions {
            dir: dir.into(),
            seeds: DEFAULT_SEEDS,
            jobs: None,
            filter: None,
            progress: ProgressMode::Off,
        }
    }
}

/// One model of the set.
#[derive(Clone, Debug)]
pub struct Instance {
    /// The model file.
    pub path: PathBuf,
    /// The parsed model.
    pub model: ModelFile,
    /// Its `[conformance]` table.
    pub meta: ConformanceMeta,
}

/// One instance's result over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct ConformanceRow {
    /// The model file.
    pub test: String,
    /// The Tcl file it translates.
    pub file: String,
    /// The Tcl test's name.
    pub source_test: String,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that passed.
    pub seeds_passed: u64,
    /// The seeds that failed.
    pub failed_seeds: Vec<u64>,
    /// The first failure (of the lowest failing seed): a failed wait, a step never reached, or
    /// a simulation error.
    pub first_failure: Option<String>,
}

impl ConformanceRow {
    /// Whether every seed passed.
    pub fn passed(&self) -> bool {
        self.seeds_passed == self.seeds
    }
}

/// A failing seed's repro bundle, to be written where the caller wants it.
#[derive(Clone, Debug)]
pub struct FailedRun {
    /// The model file.
    pub test: String,
    /// The seed.
    pub seed: u64,
    /// The bundle (absent when the simulation itself failed).
    pub bundle: Option<Bundle>,
}

/// The whole set's result.
#[derive(Clone, Debug)]
pub struct ConformanceReport {
    /// One row per instance, in path order.
    pub rows: Vec<ConformanceRow>,
    /// Bundles of failing seeds.
    pub failures: Vec<FailedRun>,
    /// Worker threads used.
    pub jobs: usize,
}

impl ConformanceReport {
    /// Instances with every seed passing.
    pub fn passed(&self) -> usize {
        self.rows.iter().filter(|r| r.passed()).count()
    }
}

/// Every `*.toml` under `dir` (recursively, sorted), parsed; the ones with a `[conformance]`
/// table are the set. A file that does not parse is bad input naming the file; so is a
/// conformance model that asserts nothing (no action with a `timeout`).
pub fn discover(dir: &Path) -> Result<Vec<Instance>, ExperimentError> {
    if !dir.is_dir() {
        return Err(ExperimentError::BadInput(format!(
            "{}: not a directory (give the folder of conformance models, e.g. conformance/)",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    collect_toml(dir, &mut files)?;
    files.sort();
    let mut set = Vec::new();
    for path in files {
        let model = load_model(&path, &[]).map_err(|e| ExperimentError::BadInput(e.to_string()))?;
        let Some(meta) = model.conformance.clone() else {
            continue;
        };
        if !model.actions.iter().any(|a| a.timeout.is_some()) {
            return Err(ExperimentError::semantic(
                path.display().to_string(),
                "actions",
                "a conformance model must assert something: no action has a `timeout` \
                 (translate the Tcl's waits and assertions as actions with timeouts)",
            ));
        }
        set.push(Instance { path, model, meta });
    }
    Ok(set)
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ExperimentError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ExperimentError::Unreadable {
        file: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| ExperimentError::Unreadable {
                file: dir.display().to_string(),
                reason: e.to_string(),
            })?
            .path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// One seed of one instance.
struct SeedRun {
    seed: u64,
    failure: Option<String>,
    bundle: Option<Bundle>,
}

/// Runs one seed: the model with `model.seed` replaced.
fn run_seed(instance: &Instance, seed: u64) -> SeedRun {
    let mut model = instance.model.clone();
    model.model.seed = seed;
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Cluster::build(&model.cluster(), &model.run_options())
            .map_err(|e| e.to_string())?
            .run()
            .map_err(|e| e.to_string())
    }));
    let record = match ran {
        Ok(Ok(result)) => result.record,
        Ok(Err(e)) => {
            return SeedRun {
                seed,
                failure: Some(format!("simulation failed: {e}")),
                bundle: None,
            };
        }
        Err(_) => {
            return SeedRun {
                seed,
                failure: Some("the simulation panicked (a replsim bug)".into()),
                bundle: None,
            };
        }
    };
    let failure = failure_of(&model, &record);
    let bundle = failure.as_ref().map(|_| {
        let sets = vec![format!("model.seed={seed}")];
        Bundle::of_single_run(&model, &sets, &record)
    });
    SeedRun {
        seed,
        failure,
        bundle,
    }
}

/// Why a finished run does not pass, if it does not.
fn failure_of(model: &ModelFile, record: &OutcomeRecord) -> Option<String> {
    if let Some(first) = record.assertions_failed.first() {
        return Some(first.clone());
    }
    if !record.passed {
        return Some("the scripted test failed".into());
    }
    model
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| a.label(i))
        .find(|label| !record.marks.contains_key(label))
        .map(|label| format!("{label}: never ran before the horizon"))
}

/// Runs the set under `options.dir`.
pub fn run_set(options: &ConformanceOptions) -> Result<ConformanceReport, ExperimentError> {
    if options.seeds == 0 || options.seeds > MAX_SEEDS {
        return Err(ExperimentError::BadInput(format!(
            "--seeds {}: give 1..={MAX_SEEDS} seeds per instance",
            options.seeds
        )));
    }
    let mut set = discover(&options.dir)?;
    if let Some(f) = &options.filter {
        set.retain(|i| i.path.display().to_string().contains(f) || i.meta.test.contains(f));
    }
    if set.is_empty() {
        return Err(ExperimentError::BadInput(format!(
            "{}: no model with a [conformance] table{}",
            options.dir.display(),
            options
                .filter
                .as_ref()
                .map_or(String::new(), |f| format!(" matches --filter {f:?}"))
        )));
    }
    let seeds = options.seeds;
    for i in &set {
        if i.model
            .model
            .seed
            .checked_add(seeds)
            .is_none_or(|s| s > i64::MAX as u64)
        {
            return Err(ExperimentError::semantic(
                i.path.display().to_string(),
                "model.seed",
                format!(
                    "{} + {seeds} seeds leaves the seed range",
                    i.model.model.seed
                ),
            ));
        }
    }
    let total = set.len() as u64 * seeds;
    let jobs = super::sweep::jobs(options.jobs, total)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("replsim-conformance-{i}"))
        .build()
        .map_err(|e| ExperimentError::Runtime(format!("cannot start {jobs} threads: {e}")))?;
    let progress = Mutex::new(Progress::new(options.progress, "conformance", total, 0));
    let runs: Vec<SeedRun> = pool.install(|| {
        (0..total)
            .into_par_iter()
            .map(|k| {
                let instance = &set[(k / seeds) as usize];
                let run = run_seed(instance, instance.model.model.seed + k % seeds);
                if let Ok(mut p) = progress.lock() {
                    p.inc();
                }
                run
            })
            .collect()
    });
    if let Ok(p) = progress.lock() {
        p.finish();
    }
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (instance, runs) in set.iter().zip(runs.chunks(seeds as usize)) {
        let test = instance.path.display().to_string();
        let failed: Vec<&SeedRun> = runs.iter().filter(|r| r.failure.is_some()).collect();
        rows.push(ConformanceRow {
            test: test.clone(),
            file: instance.meta.file.clone(),
            source_test: instance.meta.test.clone(),
            seeds,
            seeds_passed: seeds - failed.len() as u64,
            failed_seeds: failed.iter().map(|r| r.seed).collect(),
            first_failure: failed
                .first()
                .map(|r| format!("seed {}: {}", r.seed, r.failure.clone().unwrap_or_default())),
        });
        for r in failed {
            failures.push(FailedRun {
                test: test.clone(),
                seed: r.seed,
                bundle: r.bundle.clone(),
            });
        }
    }
    Ok(ConformanceReport {
        rows,
        failures,
        jobs,
    })
}
