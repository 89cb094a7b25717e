//! `replsim sweep`: run an experiment file's grid of points × seeds in parallel, resumable,
//! optionally one shard of it.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::experiment::{ExperimentError, ProgressMode, Shard, SweepOptions, SweepReport, sweep};
use crate::units::ByteSize;

/// Arguments of `replsim sweep`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  replsim sweep experiments/smoke.toml
  replsim sweep experiments/bench-10k.toml --jobs 2
  replsim sweep experiments/bench-10k.toml --resume            # continue a killed sweep
  replsim sweep experiments/bench-10k.toml --shard 3/8         # runs with index % 8 == 2
  replsim merge output/bench-10k-shard-*-of-8                  # join the shards

Writes output/<experiment>/ (or output/<experiment>-shard-<i>-of-<N>/): results.csv and
results.jsonl (one row per run, in run order, byte-identical for any --jobs), sweep.json,
experiment.resolved.toml, model.resolved.toml, bundles/run-<i>.json (repro bundles of
surprising runs; replay one with replsim replay) and sweep-info.json (wall time).

--out must be new, empty, or replsim's own output (never a directory replsim did not write).
One process writes a sweep directory at a time: a second sweep into it (--resume or --force)
exits 2 naming the PID and host of the one running.")]
pub struct SweepArgs {
    /// The experiment file (experiments/*.toml).
    pub experiment: PathBuf,
    /// Worker threads (default: the available parallelism; never more than the runs to do,
    /// nor 1024).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Continue the sweep in the output directory (start one if there is none).
    #[arg(long)]
    pub resume: bool,
    /// Run only shard i of N (1 <= i <= N): the runs whose index % N == i - 1.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<String>,
    /// Output directory (default `output/<experiment>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing sweep directory instead of refusing.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Print plain progress lines even on a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub plain: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Refuse, before running, a sweep whose estimated memory (the largest run's INFO samples
    /// times the jobs, plus 1 KiB per run of results) exceeds SIZE.
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub max_memory: ByteSize,
    /// Check the model's invariants in every run: a broken one fails the sweep with a report
    /// and the command that reproduces it (also `[experiment] check = true`).
    #[arg(long)]
    pub check: bool,
}

/// Runs `replsim sweep`.
pub fn run(args: SweepArgs) -> Result<(), CliError> {
    let shard = match &args.shard {
        Some(s) => s
            .parse::<Shard>()
            .map_err(|e| CliError::bad_input(format!("--shard {e}")))?,
        None => Shard::ALL,
    };
    let progress = match (args.quiet, args.plain) {
        (true, _) => ProgressMode::Off,
        (_, true) => ProgressMode::Lines,
        _ => ProgressMode::Auto,
    };
    let options = SweepOptions {
        experiment: args.experiment,
        out: args.out,
        jobs: args.jobs,
        resume: args.resume,
        force: args.force,
        shard,
        progress,
        max_memory: args.max_memory.bytes(),
        check: args.check,
    };
    let report = sweep(&options).map_err(to_cli)?;
    print_report(&report);
    if shard == Shard::ALL {
        draw_report(&report.dir);
    }
    Ok(())
}

/// Draws the sweep's charts and `index.html` (a shard is only part of the table: its report
/// comes with `replsim merge`). A chart that cannot be drawn is a warning, not a failed sweep.
pub(crate) fn draw_report(dir: &std::path::Path) {
    match crate::report::draw_sweep(dir) {
        Ok(_) => println!("report: {}", dir.join("index.html").display()),
        Err(e) => eprintln!("replsim: warning: report not drawn: {e}"),
    }
}

/// Maps a library error to an exit code: 2 for bad input, 1 otherwise.
pub(crate) fn to_cli(e: ExperimentError) -> CliError {
    if e.is_bad_input() {
        CliError::bad_input(e.to_string())
    } else {
        CliError::runtime(e.to_string())
    }
}

fn print_report(r: &SweepReport) {
    let shard = if r.shard.is_all() {
        String::new()
    } else {
        format!(" (shard {})", r.shard)
    };
    let resumed = if r.resumed_from > 0 {
        format!(", {} resumed", r.resumed_from)
    } else {
        String::new()
    };
    println!(
        "{}: {} runs{shard} ({} points x {} seeds in all){resumed}, {:.1} s with {} jobs",
        r.plan.name,
        r.runs,
        r.plan.points(),
        r.plan.seeds,
        r.wall_seconds,
        r.jobs
    );
    let counts: Vec<String> = r
        .tally
        .outcomes
        .iter()
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    println!("  outcomes: {}", counts.join(", "));
    println!("  output: {}", r.dir.display());
    if let (Some((run, outcome)), Some(cmd)) = (&r.tally.first_surprise, r.first_surprise_command())
    {
        println!("  first surprising run: {run} ({outcome})");
        println!("  replay: {cmd}");
    }
}
