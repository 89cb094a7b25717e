//! `replsim explain`: what decided a run, in words (or JSON), with one checked suggestion.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::sweep::to_cli;
use crate::experiment::explain::{bundle_files, explain_and_check};
use crate::report::explain::{RunFiles, to_text};

/// Arguments of `replsim explain`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  replsim run models/default.toml --out output/default
  replsim explain output/default
  replsim explain output/default --json
  replsim explain bundles/flaky-test-old-seed23.json   # a repro bundle: replayed, then explained
  replsim run models/default.toml --explain             # run, then explain

Reads journal.json, timeline.csv, the node logs, summary.json and model.resolved.toml of a run
directory (or replays a repro bundle in memory) and says, for every replica: which limit was
crossed first and when (the journal's time), from what rates (the COB's growth since the fork,
the RDB's time on the link from the closed forms), what the replica asked for at its next PSYNC
and what the primary's backlog held (from the logs), and what followed. Then the smallest single
change the closed forms point at, checked by ONE rerun of the model with the same seed (--no-rerun
skips it). Exit 2 when the directory is not a run directory or a file in it is unreadable.")]
pub struct ExplainArgs {
    /// A run directory (`replsim run --out DIR`, `replsim replay --out DIR`) or a repro bundle
    /// (`bundles/run-7.json`).
    pub run: PathBuf,
    /// Print the facts as JSON (first_limit, at_s, rates, psync, outcome, suggestion, replicas).
    #[arg(long)]
    pub json: bool,
    /// Do not rerun the model to check the suggestion.
    #[arg(long)]
    pub no_rerun: bool,
}

/// Runs `replsim explain`.
pub fn run(args: ExplainArgs) -> Result<(), CliError> {
    let files = if args.run.is_file() {
        bundle_files(&args.run).map_err(to_cli)?
    } else {
        RunFiles::read_dir(&args.run).map_err(|e| CliError::bad_input(e.to_string()))?
    };
    let e = explain_and_check(&files, !args.no_rerun).map_err(to_cli)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
    } else {
        print!("{}", to_text(&e));
    }
    Ok(())
}
