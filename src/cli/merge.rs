//! `replsim merge`: join the shard directories of one sweep.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::sweep::to_cli;
use crate::experiment::merge;

/// Arguments of `replsim merge`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  replsim merge output/bench-10k-shard-1-of-2 output/bench-10k-shard-2-of-2
  replsim merge output/bench-10k-shard-*-of-8 --out output/bench-10k

The merged results.csv and results.jsonl are byte-identical to those of an unsharded sweep.
Refuses directories of different experiments (their sweep.json hashes differ: another
experiment file, model or replsim version), overlapping, missing or unfinished shards.
Default output: <parent of the first directory>/<experiment>.")]
pub struct MergeArgs {
    /// The shard directories (written by replsim sweep --shard i/N).
    #[arg(required = true, value_name = "DIR")]
    pub inputs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing sweep directory at --out.
    #[arg(long)]
    pub force: bool,
}

/// Runs `replsim merge`.
pub fn run(args: MergeArgs) -> Result<(), CliError> {
    let report = merge(&args.inputs, args.out.as_deref(), args.force).map_err(to_cli)?;
    println!(
        "{}: {} runs from {} shards, {} bundles -> {}",
        report.experiment,
        report.runs,
        report.shards,
        report.bundles,
        report.out.display()
    );
    super::sweep::draw_report(&report.out);
    Ok(())
}
