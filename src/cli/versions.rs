//! `replsim versions`: one model under each server release, as a table, a CSV and a chart.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use super::output::OutputDir;
use super::run::parse_overrides;
use crate::experiment::{VersionRow, compare, to_csv};
use crate::staging::{OutputKind, path_component};
use crate::valkey::Release;

/// Arguments of `replsim versions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim versions models/default.toml\n  replsim versions models/default.toml --servers redis-7.0,valkey-9.1 --seeds 3\n\nWrites output/<model>-versions/ (or --out DIR): versions.csv, versions.json, versions.svg/png. Releases marked * were validated against a real server; the others are modelled from their code and PRs."
)]
pub struct VersionsArgs {
    /// The model file.
    pub model: PathBuf,
    /// The releases to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// Seeds per release (the model's seed and the next ones).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Override any model field: path.to.key=value (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Output directory (default `output/<model>-versions`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out.
    #[arg(long)]
    pub force: bool,
    /// Print the rows as JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

/// Runs `replsim versions`.
pub fn run(args: VersionsArgs) -> Result<(), CliError> {
    let releases: Vec<Release> = if args.servers.is_empty() {
        Release::ALL.to_vec()
    } else {
        args.servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e: String| CliError::bad_input(format!("--servers: {e}")))
            })
            .collect::<Result<_, _>>()?
    };
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(CliError::bad_input(format!(
            "--seeds {}: give 1..=1000 seeds per release",
            args.seeds
        )));
    }
    let overrides = parse_overrides(&args.set)?;
    let file = args.model.display().to_string();
    let text = std::fs::read_to_string(&args.model)
        .map_err(|e| CliError::bad_input(format!("{file}: cannot read: {e}")))?;
    let name = crate::scenario::parse_model(&text, &file, &overrides)
        .map_err(|e| CliError::bad_input(e.to_string()))?
        .model
        .name;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(path_component(&format!("{name}-versions"))));
    let staging = OutputDir::create(&out_dir, OutputKind::Versions, args.force)?;
    let (own, rows) =
        compare(&text, &file, &overrides, &releases, args.seeds).map_err(CliError::bad_input)?;
    staging.write("versions.csv", to_csv(&rows).as_bytes())?;
    let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
    staging.write("versions.json", json.as_bytes())?;
    let _lock = staging.commit()?;
    let title = format!("{name} under each release (model's own: {own})");
    if let Err(e) = crate::report::draw_versions(&out_dir, &title) {
        eprintln!("replsim: warning: chart not drawn: {e}");
    }
    if args.json {
        println!("{json}");
        return Ok(());
    }
    print_table(&name, own, &rows);
    println!("  output: {}", out_dir.display());
    Ok(())
}

fn print_table(name: &str, own: Release, rows: &[VersionRow]) {
    println!("{name}: one model under each release (the model's own: {own})");
    println!(
        "  {:<12} {:<24} {:<17} {:>10} {:>5} {:>11} {:>8}  checked",
        "release", "outcome", "first limit", "first COB", "fulls", "peak outmem", "in sync",
    );
    for r in rows {
        let checked = if r.validated {
            "validated on a real server"
        } else {
            "modelled from code"
        };
        if let Some(reason) = &r.not_applicable {
            println!("  {:<12} n/a: {reason}", r.server.name());
            continue;
        }
        let outcome = if r.seeds > 1 {
            format!("{} ({}/{})", r.outcome, r.same_outcome_seeds, r.seeds)
        } else {
            r.outcome.clone()
        };
        let in_sync = if r.seeds > 1 {
            format!("{}/{}", r.in_sync_seeds, r.seeds)
        } else {
            (r.in_sync_seeds > 0).to_string()
        };
        println!(
            "  {:<12} {:<24} {:<17} {:>10} {:>5} {:>11} {:>8}  {checked}",
            r.server.name(),
            outcome,
            r.first_limit,
            r.t_cob_overflow_s
                .map_or("-".to_string(), |t| format!("{t:.2} s")),
            r.full_syncs,
            format!("{:.1} MiB", r.peak_output_memory_bytes as f64 / 1048576.0),
            in_sync,
        );
    }
    let diffs: Vec<&VersionRow> = rows
        .iter()
        .filter(|r| r.first_difference.is_some())
        .collect();
    if !diffs.is_empty() {
        println!("  where the outcome differs from {own}, the first mechanism that differs:");
        for r in diffs {
            println!(
                "    {:<12} {}",
                r.server.name(),
                r.first_difference.as_deref().unwrap_or("")
            );
        }
    }
}
