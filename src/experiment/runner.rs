//! Running a sweep: workers on a local rayon pool claim run indices in order from a shared
//! counter, each run a single-threaded simulation; the calling thread writes the finished rows
//! in run order through a reorder buffer. A worker never runs more than [`window`] runs ahead of
//! the last row written, so memory stays flat however many runs there are: only the rows waiting
//! in the buffer are kept, never a whole `RunResult`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Condvar, Mutex};

use super::{Bundle, ExperimentError, Plan, Progress, Row, Shard, SweepDir, Tally};
use crate::valkey::Cluster;

/// What a worker hands the writer: a row and, for a surprising outcome, its bundle.
type Finished = Result<(Row, Option<Bundle>), ExperimentError>;

/// How far ahead of the writer the workers may run.
fn window(jobs: usize) -> u64 {
    (jobs as u64 * 16).max(64)
}

/// Runs one run of `plan` and formats its row (and bundle, if its outcome asks for one).
pub fn run_one(plan: &Plan, index: u64) -> Finished {
    let run = plan.run(index);
    let model = plan.model_for(&run).map_err(|e| {
        ExperimentError::Runtime(format!("run {index}: the model was rejected: {e}"))
    })?;
    let failed = |e: String| {
        ExperimentError::Runtime(format!(
            "run {index} ({}) failed: {e}\n  reproduce: {}",
            plan.describe_point(run.point),
            plan.reproduce_command(&run)
        ))
    };
    let result = Cluster::build(&model.cluster(), &model.run_options())
        .map_err(|e| failed(e.to_string()))?
        .run()
        .map_err(|e| failed(e.to_string()))?;
    let row = Row::new(plan, &run, &result.record);
    let bundle = plan
        .bundles(&row.outcome)
        .then(|| Bundle::new(plan, &run, &model, &result.record));
    Ok((row, bundle))
}

/// [`run_one`], with a panic in the simulation turned into an error that names the run.
fn run_guarded(plan: &Plan, index: u64) -> Finished {
    std::panic::catch_unwind(AssertUnwindSafe(|| run_one(plan, index))).unwrap_or_else(|_| {
        let run = plan.run(index);
        Err(ExperimentError::Runtime(format!(
            "run {index} ({}) panicked (a replsim bug: please report it with this command)\n  \
             reproduce: {}",
            plan.describe_point(run.point),
            plan.reproduce_command(&run)
        )))
    })
}

/// Shared state of one execution.
struct Shared<'a> {
    plan: &'a Plan,
    shard: Shard,
    /// The next shard position to claim.
    next: AtomicU64,
    /// One past the last shard position.
    end: u64,
    /// Shard positions written so far, guarded for the workers' wait.
    written: Mutex<u64>,
    advanced: Condvar,
    abort: AtomicBool,
    window: u64,
}

impl Shared<'_> {
    /// Blocks until position `j` is within the window of the writer (or the sweep aborts).
    fn wait_for_window(&self, j: u64) {
        let Ok(mut written) = self.written.lock() else {
            return;
        };
        while j >= *written + self.window && !self.abort.load(Ordering::Relaxed) {
            written = match self.advanced.wait(written) {
                Ok(w) => w,
                Err(_) => return,
            };
        }
    }

    fn set_written(&self, j: u64) {
        if let Ok(mut w) = self.written.lock() {
            *w = j;
        }
        self.advanced.notify_all();
    }

    fn stop(&self) {
        // Under the lock, so that a worker between its check and its wait cannot miss it.
        let guard = self.written.lock();
        self.abort.store(true, Ordering::Relaxed);
        drop(guard);
        self.advanced.notify_all();
    }

    fn work(&self, tx: Sender<(u64, Finished)>) {
        while !self.abort.load(Ordering::Relaxed) {
            let j = self.next.fetch_add(1, Ordering::Relaxed);
            if j >= self.end {
                return;
            }
            self.wait_for_window(j);
            if self.abort.load(Ordering::Relaxed) {
                return;
            }
            let finished = run_guarded(self.plan, self.shard.run_at(j));
            if tx.send((j, finished)).is_err() {
                return;
            }
        }
    }
}

/// Runs the rest of `dir`'s shard of `plan` on `pool`, appending rows in run order and adding
/// them to `tally`.
pub fn execute(
    plan: &Plan,
    dir: &mut SweepDir,
    pool: &rayon::ThreadPool,
    progress: &mut Progress,
    tally: &mut Tally,
) -> Result<(), ExperimentError> {
    let shard = dir.shard();
    let jobs = pool.current_num_threads();
    let shared = Shared {
        plan,
        shard,
        next: AtomicU64::new(dir.rows()),
        end: shard.len(plan.runs()),
        written: Mutex::new(dir.rows()),
        advanced: Condvar::new(),
        abort: AtomicBool::new(false),
        window: window(jobs),
    };
    let (tx, rx) = channel();
    pool.in_place_scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let shared = &shared;
            scope.spawn(move |_| shared.work(tx));
        }
        drop(tx);
        let written = write_in_order(&shared, rx, dir, progress, tally);
        if written.is_err() {
            shared.stop();
        }
        written
    })
}

/// The writer: rows arrive in any order and leave in run order.
fn write_in_order(
    shared: &Shared<'_>,
    rx: Receiver<(u64, Finished)>,
    dir: &mut SweepDir,
    progress: &mut Progress,
    tally: &mut Tally,
) -> Result<(), ExperimentError> {
    let mut waiting: BTreeMap<u64, Finished> = BTreeMap::new();
    let mut want = dir.rows();
    for (j, finished) in rx {
        waiting.insert(j, finished);
        while let Some(finished) = waiting.remove(&want) {
            let (row, bundle) = finished?;
            // The first surprising run and its replay command are printed once, in the
            // sweep's summary (`SweepReport::first_surprise_command`).
            dir.append(&row, bundle.as_ref())?;
            tally.add(shared.plan, row.run, &row.outcome);
            progress.inc();
            want += 1;
            shared.set_written(want);
        }
        if want >= shared.end {
            break;
        }
    }
    if want < shared.end {
        return Err(ExperimentError::Runtime(format!(
            "internal error: the workers stopped after {want} of {} runs",
            shared.end
        )));
    }
    Ok(())
}
