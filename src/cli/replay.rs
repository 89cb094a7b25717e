//! `replsim replay`: re-run a repro bundle and check its trace hash and outcome.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::output::{OutputDir, write_run};
use super::sweep::to_cli;
use crate::experiment::Bundle;
use crate::scenario::Footprint;
use crate::staging::OutputKind;
use crate::units::ByteSize;

/// Arguments of `replsim replay`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  replsim replay output/smoke/bundles/run-30.json
  replsim replay bundle.json --out output/run-30      # also write logs, timeline, journal

A bundle holds the resolved model (the point's overrides and the seed applied), the seed, the
replsim version, the trace hash and the outcome of one run. Exit code 0 when the replay has the
same trace hash and outcome, 1 when it differs, 2 when the bundle cannot be read.")]
pub struct ReplayArgs {
    /// The bundle (`bundles/run-<i>.json` of a sweep directory).
    pub bundle: PathBuf,
    /// Also write the run's directory (logs, timeline.csv, journal.json) here: a new or empty
    /// directory, or an earlier run's output.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out (never a directory replsim did
    /// not write).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Refuse, before running, a bundle whose model's estimated memory exceeds SIZE (the same
    /// estimate as `replsim run --max-memory`).
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub max_memory: ByteSize,
}

/// Runs `replsim replay`.
pub fn run(args: ReplayArgs) -> Result<(), CliError> {
    let file = args.bundle.display().to_string();
    let bundle = Bundle::load(&args.bundle).map_err(to_cli)?;
    if bundle.replsim_version != env!("CARGO_PKG_VERSION") {
        eprintln!(
            "replsim: warning: {file} was written by replsim {}, this is {}",
            bundle.replsim_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    let model = bundle.resolve(&file).map_err(to_cli)?;
    Footprint::check(&model, &file, args.max_memory.bytes(), "--max-memory")
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    let staging = match &args.out {
        Some(out) => Some(OutputDir::create(out, OutputKind::Run, args.force)?),
        None => None,
    };
    let replay = bundle.replay_model(&file, model).map_err(to_cli)?;
    if let Some(staging) = staging {
        write_run(&staging, &replay.model, &replay.result)?;
        staging.commit()?;
    }
    let r = &replay.result.record;
    let what = if bundle.is_single_run() {
        format!("replsim run of model {}", replay.model.model.name)
    } else {
        format!("run {} of sweep {}", bundle.run, bundle.experiment)
    };
    println!(
        "{file}: {what}: {} (trace hash {}, seed {})",
        r.outcome.as_str(),
        r.trace_hash,
        r.seed
    );
    let differences = replay.differences(&bundle);
    if differences.is_empty() {
        println!("  matches the bundle");
        return Ok(());
    }
    Err(CliError::runtime(format!(
        "{file}: the replay differs from the bundle:\n  {}",
        differences.join("\n  ")
    )))
}
