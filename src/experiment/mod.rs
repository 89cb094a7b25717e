//! Sweeps: an experiment file's axes × seeds → runs in parallel → result tables; resume;
//! shards; repro bundles.
//!
//! An **experiment file** (`experiments/*.toml`) names a base model, the axes to vary and how
//! many seeds each point gets:
//!
//! ```toml
//! [experiment]
//! model = "../models/worked-example-classic.toml"   # relative to this file
//! seeds = 2                                          # runs per point
//! horizon = "60s"                                    # optional: overrides model.horizon
//!
//! [[axes]]
//! path = "workloads.writer.ops-per-sec"
//! values = [2000, 5000, 10000]
//!
//! [[axes]]
//! path = "nodes.primary.config.repl-backlog-size"
//! log = { from = "1mb", to = "1024mb", steps = 8 }
//!
//! [plot]
//! phase = { x = "workloads.writer.ops-per-sec", y = "nodes.primary.config.repl-backlog-size" }
//! ```
//!
//! [`Plan`] expands it (see [`axis`] for the value syntax and [`plan`] for run order and seeds);
//! [`sweep()`] validates every point's model, then runs it on a local rayon pool and appends each
//! finished run, in run order, to `results.csv` and `results.jsonl` ([`store`] describes the
//! directory and how a killed sweep resumes). [`Shard`] slices a sweep for a cluster scheduler and
//! [`merge()`] joins the slices; [`Bundle`] is a repro bundle.
//!
//! ```no_run
//! use replsim::experiment::{SweepOptions, sweep};
//! let report = sweep(&SweepOptions::new("experiments/smoke.toml")).unwrap();
//! println!("{} runs in {}", report.runs, report.dir.display());
//! ```

pub mod advise;
pub mod axis;
mod bundle;
pub mod conformance;
mod error;
pub mod explain;
mod file;
mod merge;
pub mod plan;
mod progress;
mod runner;
mod shard;
pub mod store;
pub mod swarm;
mod sweep;
mod table;
pub mod versions;

pub use axis::{Axis, AxisSpec, RangeSpec, value_text};
pub use bundle::{Bundle, Replay};
pub use error::ExperimentError;
pub use file::{ExperimentFile, ExperimentMeta, OUTCOMES};
pub use merge::{MergeReport, merge};
pub use plan::{Plan, RunSpec};
pub use progress::{Progress, ProgressMode};
pub use runner::{execute, run_one};
pub use shard::Shard;
pub use store::{Manifest, SweepDir, Tally};
pub use sweep::{MAX_JOBS, ROW_BYTES, SweepOptions, SweepReport, default_dir, sweep};
pub use table::Row;
pub use versions::{VersionRow, compare, to_csv};
