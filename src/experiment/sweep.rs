//! A whole sweep invocation: load and validate the experiment, create or resume its directory,
//! run what is left of the shard, record the timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::runner::execute;
use super::store::{BUNDLES, SweepDir, Tally};
use super::{Bundle, ExperimentError, Plan, Progress, ProgressMode, Shard};
use crate::scenario::{DEFAULT_MAX_MEMORY, Footprint};
use crate::units::ByteSize;

/// What `replsim sweep` was asked to do.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The experiment file.
    pub experiment: PathBuf,
    /// The output directory (default `output/<name>`, or `output/<name>-shard-<i>-of-<N>`).
    pub out: Option<PathBuf>,
    /// Worker threads (default: the available parallelism).
    pub jobs: Option<usize>,
    /// Continue the sweep in the output directory, if there is one.
    pub resume: bool,
    /// Replace an existing sweep directory.
    pub force: bool,
    /// The slice of runs to do.
    pub shard: Shard,
    /// How to show progress.
    pub progress: ProgressMode,
    /// Refuse, before running, a sweep whose estimated memory exceeds this many bytes: the
    /// largest run's estimate ([`Footprint`]) times the workers, plus [`ROW_BYTES`] per run for
    /// the result table the report reads back. Default [`DEFAULT_MAX_MEMORY`].
    pub max_memory: u64,
    /// Check the model's invariants in every run (as `[experiment] check = true`).
    pub check: bool,
}

impl SweepOptions {
    /// Options for `experiment` with every default.
    pub fn new(experiment: impl Into<PathBuf>) -> SweepOptions {
        SweepOptions {
            experiment: experiment.into(),
            out: None,
            jobs: None,
            resume: false,
            force: false,
            shard: Shard::ALL,
            check: false,
            progress: ProgressMode::Auto,
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

/// What a sweep invocation did.
#[derive(Debug)]
pub struct SweepReport {
    /// The experiment.
    pub plan: Plan,
    /// The output directory.
    pub dir: PathBuf,
    /// The shard.
    pub shard: Shard,
    /// Runs in this shard.
    pub runs: u64,
    /// Runs already done by earlier invocations.
    pub resumed_from: u64,
    /// Outcome counts over every row.
    pub tally: Tally,
    /// Worker threads used.
    pub jobs: usize,
    /// Wall time of this invocation.
    pub wall_seconds: f64,
}

impl SweepReport {
    /// The command that replays the first surprising run: `replsim replay <bundle>` when it has a
    /// bundle, else the `replsim run` line.
    pub fn first_surprise_command(&self) -> Option<String> {
        let (run, _) = self.tally.first_surprise.as_ref()?;
        let bundle = self.dir.join(BUNDLES).join(Bundle::file_name(*run));
        Some(if bundle.is_file() {
            format!("replsim replay {}", bundle.display())
        } else {
            self.plan.reproduce_command(&self.plan.run(*run))
        })
    }
}

/// The default output directory of `plan`'s `shard`.
pub fn default_dir(plan: &Plan, shard: Shard) -> PathBuf {
    let name = if shard.is_all() {
        plan.name.clone()
    } else {
        format!("{}-shard-{}-of-{}", plan.name, shard.index, shard.count)
    };
    Path::new("output").join(name)
}

/// Runs a sweep.
pub fn sweep(options: &SweepOptions) -> Result<SweepReport, ExperimentError> {
    let mut plan = Plan::load(&options.experiment)?;
    plan.check |= options.check;
    let shard = options.shard;
    let jobs = jobs(options.jobs, shard.len(plan.runs()))?;
    check_table_memory(&plan, shard, options.max_memory)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("replsim-sweep-{i}"))
        .build()
        .map_err(|e| ExperimentError::Runtime(format!("cannot start {jobs} threads: {e}")))?;
    let largest = pool.install(|| plan.validate_footprint())?;
    check_memory(&plan, shard, jobs, largest, options.max_memory)?;
    let path = options
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&plan, shard));
    // An empty directory (made by a job script, say) is a new sweep's, even with --resume.
    let started_before = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some());
    let (mut dir, mut tally) = if options.resume && started_before {
        SweepDir::resume(&path, &plan, shard)?
    } else {
        let dir = SweepDir::create(&path, &plan, shard, options.force)?;
        (dir, Tally::default())
    };
    let runs = shard.len(plan.runs());
    let resumed_from = dir.rows();
    let mut progress = Progress::new(options.progress, &plan.name, runs, resumed_from);
    let started = Instant::now();
    let result = execute(&plan, &mut dir, &pool, &mut progress, &mut tally);
    progress.finish();
    result?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let done = runs - resumed_from;
    dir.record_invocation(serde_json::json!({
        "jobs": jobs,
        "shard": shard.to_string(),
        "runs_done": done,
        "resumed_from": resumed_from,
        "wall_seconds": wall_seconds,
        "runs_per_sec": done as f64 / wall_seconds.max(1e-9),
    }))?;
    Ok(SweepReport {
        plan,
        dir: path,
        shard,
        runs,
        resumed_from,
        tally,
        jobs,
        wall_seconds,
    })
}

/// Bytes one run's row costs in the result table that the report reads back (a generous round
/// figure: a row is a few hundred bytes of CSV).
pub const ROW_BYTES: u64 = 1024;

/// Most worker threads, however many are asked for.
pub const MAX_JOBS: usize = 1024;

/// The worker count: as asked (default: the available parallelism), but never more than the
/// runs to do nor [`MAX_JOBS`] (`--jobs 5000` on 8 runs starts 8 workers).
pub(crate) fn jobs(requested: Option<usize>, runs: u64) -> Result<usize, ExperimentError> {
    let wanted = match requested {
        Some(0) => {
            return Err(ExperimentError::BadInput(
                "--jobs 0: at least one worker is needed".into(),
            ));
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let runs = usize::try_from(runs).unwrap_or(usize::MAX).max(1);
    Ok(wanted.min(runs).min(MAX_JOBS))
}

/// Refuses, before any point is checked, a sweep whose result table alone would exceed
/// `max_memory` (the runs' models may differ by point, so their estimate waits for
/// [`Plan::validate_footprint`]).
fn check_table_memory(plan: &Plan, shard: Shard, max_memory: u64) -> Result<(), ExperimentError> {
    let runs = shard.len(plan.runs());
    let table = runs.saturating_mul(ROW_BYTES);
    if table <= max_memory {
        return Ok(());
    }
    Err(ExperimentError::semantic(
        plan.file.display().to_string(),
        "axes",
        format!(
            "the sweep's results would need about {} ({runs} runs × {ROW_BYTES} B of results), \
             above the {} cap (--max-memory); use fewer steps or seeds, a --shard, or raise \
             the cap (--max-memory {})",
            ByteSize::new(table).human(),
            ByteSize::new(max_memory).human(),
            ByteSize::new(table.next_multiple_of(1 << 30)),
        ),
    ))
}

/// Refuses a sweep whose estimate (`jobs` runs like `largest` at once, and a row per run of
/// this shard) exceeds `max_memory`, naming the numbers and what to change.
fn check_memory(
    plan: &Plan,
    shard: Shard,
    jobs: usize,
    largest: Footprint,
    max_memory: u64,
) -> Result<(), ExperimentError> {
    let runs = shard.len(plan.runs());
    let table = runs.saturating_mul(ROW_BYTES);
    let workers = largest.bytes.saturating_mul(jobs as u64);
    let total = table.saturating_add(workers);
    if total <= max_memory {
        return Ok(());
    }
    let gib = |b: u64| ByteSize::new(b).human();
    Err(ExperimentError::semantic(
        plan.file.display().to_string(),
        "axes",
        format!(
            "the sweep would need about {} ({jobs} jobs × {} for a run of {} INFO samples, plus \
             {runs} runs × {ROW_BYTES} B of results), above the {} cap (--max-memory); use \
             fewer --jobs, fewer steps or seeds, a --shard, a coarser model.sample-interval or \
             a shorter horizon, or raise the cap (--max-memory {})",
            gib(total),
            gib(largest.bytes),
            largest.samples,
            gib(max_memory),
            ByteSize::new(total.next_multiple_of(1 << 30)),
        ),
    ))
}
