//! `replsim conformance`: run the models that translate Valkey's own replication tests.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::output::OutputDir;
use super::sweep::to_cli;
use crate::experiment::ProgressMode;
use crate::experiment::conformance::{
    ConformanceOptions, ConformanceReport, DEFAULT_SEEDS, run_set,
};
use crate::staging::{OutputKind, path_component};

/// Arguments of `replsim conformance`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  replsim conformance conformance
  replsim conformance conformance --seeds 10 --jobs 2
  replsim conformance conformance --filter replication-psync --json
  replsim conformance conformance --out output/conformance   # bundles of failing seeds

Runs every model under DIR (recursively) that has a [conformance] table: each translates one
instance of a test in Valkey's tests/integration/*.tcl (conformance/README.md lists them and the
ones not translated). Each instance runs over N seeds: the model's own seed and the N-1 after it
(seeds 1..=N for the default seed 1). A seed passes when every scripted wait held and every
action of the script ran before the horizon; an instance passes when all its seeds do.

Prints one row per instance (model, Tcl file, Tcl test, seeds passed, first failure) and, last,
\"N/M passed\". Exit 0 when all pass, 1 when any fails, 2 on bad input (a model that does not
parse is named). With --out DIR, each failing seed's repro bundle is written to
DIR/bundles/<model>-seed-<s>.json (replay it with replsim replay).")]
pub struct ConformanceArgs {
    /// The folder of conformance models (searched recursively).
    pub dir: PathBuf,
    /// Seeds per instance: the model's seed and the ones after it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEEDS)]
    pub seeds: u64,
    /// Worker threads (default: the available parallelism).
    #[arg(long, short = 'j', value_name = "J")]
    pub jobs: Option<usize>,
    /// Print the rows as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Only the instances whose model path or Tcl test name contains S.
    #[arg(long, value_name = "S")]
    pub filter: Option<String>,
    /// Write repro bundles of failing seeds into DIR (new, empty, or an earlier conformance
    /// output).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out.
    #[arg(long)]
    pub force: bool,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs `replsim conformance`.
pub fn run(args: ConformanceArgs) -> Result<(), CliError> {
    let staging = match &args.out {
        Some(out) => Some(OutputDir::create(out, OutputKind::Conformance, args.force)?),
        None => None,
    };
    let options = ConformanceOptions {
        dir: args.dir.clone(),
        seeds: args.seeds,
        jobs: args.jobs,
        filter: args.filter.clone(),
        progress: if args.quiet {
            ProgressMode::Off
        } else {
            ProgressMode::Lines
        },
    };
    let report = run_set(&options).map_err(to_cli)?;
    if let Some(staging) = staging {
        write_bundles(&staging, &report)?;
        staging.commit()?;
    }
    if args.json {
        let json = serde_json::json!({
            "rows": report.rows,
            "passed": report.passed(),
            "instances": report.rows.len(),
            "seeds": args.seeds,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print_table(&report);
    }
    if report.passed() == report.rows.len() {
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "{} of {} conformance instances failed",
            report.rows.len() - report.passed(),
            report.rows.len()
        )))
    }
}

fn write_bundles(staging: &OutputDir, report: &ConformanceReport) -> Result<(), CliError> {
    for f in &report.failures {
        let Some(bundle) = &f.bundle else { continue };
        let name = format!(
            "bundles/{}-seed-{}.json",
            path_component(f.test.trim_end_matches(".toml")),
            f.seed
        );
        staging.write(&name, bundle.to_json().as_bytes())?;
    }
    let rows = serde_json::to_string_pretty(&report.rows).unwrap_or_default() + "\n";
    staging.write("results.json", rows.as_bytes())
}

fn print_table(report: &ConformanceReport) {
    let width = |f: &dyn Fn(&crate::experiment::conformance::ConformanceRow) -> usize, min| {
        report.rows.iter().map(f).max().unwrap_or(0).max(min)
    };
    let w_test = width(&|r| r.test.len(), 4);
    let w_file = width(&|r| tcl_name(&r.file).len(), 6);
    let w_src = width(&|r| r.source_test.len(), 9);
    println!(
        "{:<w_test$}  {:<w_file$}  {:<w_src$}  {:>6}  first failure",
        "test", "source", "Tcl test", "seeds"
    );
    for r in &report.rows {
        println!(
            "{:<w_test$}  {:<w_file$}  {:<w_src$}  {:>6}  {}",
            r.test,
            tcl_name(&r.file),
            r.source_test,
            format!("{}/{}", r.seeds_passed, r.seeds),
            r.first_failure.as_deref().unwrap_or("-")
        );
    }
    println!("{}/{} passed", report.passed(), report.rows.len());
}

/// The Tcl file's name without its folders.
fn tcl_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}
