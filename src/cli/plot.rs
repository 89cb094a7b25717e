//! `replsim plot`: (re)draws the charts and the HTML report of run and sweep directories.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::report::{self, DirKind, ReportError};

/// Arguments of `replsim plot`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim plot output/worked-example-classic-1\n  replsim plot output/smoke\n\nA run directory (timeline.csv, summary.json) gets timeline.svg, timeline.png and index.html.\nA sweep directory (results.csv or results.jsonl) gets phase diagrams, outcome probabilities,\nthe distribution of the time to COB overflow, and index.html."
)]
pub struct PlotArgs {
    /// Run or sweep directories (one or more).
    #[arg(value_name = "DIR", required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Runs `replsim plot`.
pub fn run(args: PlotArgs) -> Result<(), CliError> {
    for dir in &args.inputs {
        plot_one(dir)?;
    }
    Ok(())
}

fn plot_one(dir: &Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::bad_input(format!(
            "{}: no such directory (expected a run directory from `replsim run` or a sweep \
             directory from `replsim sweep`)",
            dir.display()
        )));
    }
    let kind = report::detect(dir).ok_or_else(|| {
        CliError::bad_input(ReportError::NotAResultDir(dir.to_path_buf()).to_string())
    })?;
    let written = report::draw_dir(dir).map_err(|e| match e {
        ReportError::Parse { .. } | ReportError::NotAResultDir(_) => {
            CliError::bad_input(e.to_string())
        }
        _ => CliError::runtime(e.to_string()),
    })?;
    let what = match kind {
        DirKind::Run => "run",
        DirKind::Sweep => "sweep",
    };
    println!("{} ({what}): {} files", dir.display(), written.len());
    for file in written {
        println!("  {}", file.display());
    }
    Ok(())
}
