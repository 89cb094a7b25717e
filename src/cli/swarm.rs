//! `replsim swarm`: random valid models run with the invariant checker.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::experiment::swarm::{SwarmOptions, default_dir, run_swarm};

/// Arguments of `replsim swarm`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim swarm --seeds 1000\n  replsim swarm --seeds 100000 --jobs 2 --out output/swarm-100k\n  replsim swarm --from-seed 4242 --seeds 1   # one seed again\n\nEach seed is a random but valid model (1-4 replicas, classic/dual-channel, disk/diskless, configs across their ranges, a write load, random pauses, kills, link faults, config-sets and replicaofs) run with the invariant checker, a work budget and a horizon of at most 90 s. Every failure (a broken invariant, a panic, a spent budget) is written as failures/seed-N.toml (a model file: `replsim run` it) and failures/seed-N.json (a repro bundle); failures.tsv lists them with their replay commands. Exit 1 if any seed failed."
)]
pub struct SwarmArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub from_seed: u64,
    /// Worker threads (default: the available parallelism).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Output directory (default output/swarm). It must be new, empty, or an earlier swarm's.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out.
    #[arg(long)]
    pub force: bool,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs `replsim swarm`.
pub fn run(args: SwarmArgs) -> Result<(), CliError> {
    if args.seeds == 0 {
        return Err(CliError::bad_input("--seeds 0: run at least one seed"));
    }
    let jobs = match args.jobs {
        Some(0) => return Err(CliError::bad_input("--jobs 0: use at least one worker")),
        Some(j) => j.min(1024),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let options = SwarmOptions {
        from_seed: args.from_seed,
        seeds: args.seeds,
        jobs: jobs.min(usize::try_from(args.seeds).unwrap_or(usize::MAX)),
        out: args.out.unwrap_or_else(default_dir),
        force: args.force,
        progress: !args.quiet,
    };
    let report = run_swarm(&options).map_err(super::sweep::to_cli)?;
    for f in &report.failures {
        println!("seed {} failed ({}): {}", f.seed, f.kind, f.message);
        println!("  replay: {}", f.replay_command());
    }
    println!(
        "swarm: {} seeds from {}, {} failed, {} events, {:.1} s with {} jobs, output {}",
        report.runs,
        options.from_seed,
        report.failures.len(),
        report.events,
        report.wall_seconds,
        options.jobs,
        report.dir.display()
    );
    if report.failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "{} of {} seeds failed (see {})",
            report.failures.len(),
            report.runs,
            report.dir.join("failures.tsv").display()
        )))
    }
}
