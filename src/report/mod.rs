//! Charts (SVG and PNG, font embedded) and the per-sweep HTML report, drawn from run records and
//! result tables. Never runs a simulation itself.
//!
//! Two kinds of directory are drawn:
//!
//! - a **run directory** (`replsim run`: `summary.json`, `timeline.csv`, `journal.json`,
//!   `model.resolved.toml`) gets `timeline.svg` / `timeline.png` and a small `index.html`
//!   ([`draw_run`]);
//! - a **sweep directory** (`replsim sweep`: `results.csv` or `results.jsonl`,
//!   `experiment.resolved.toml`, `bundles/`) gets phase diagrams, outcome probabilities with
//!   Wilson intervals, the distribution of the time to COB overflow, and an `index.html` that
//!   shows them with the experiment's parameters ([`draw_sweep`]).
//!
//! [`draw_dir`] tells the two apart. Every chart is deterministic: the same input gives the same
//! bytes, whatever order the sweep's runs finished in. Text is laid out with DejaVu Sans, which is
//! compiled in, so nothing depends on the fonts of the machine.
//!
//! ```no_run
//! use std::path::Path;
//! let written = replsim::report::draw_dir(Path::new("output/worked-example-classic-1"))?;
//! for file in written {
//!     println!("{}", file.display());
//! }
//! # Ok::<(), replsim::report::ReportError>(())
//! ```

mod advise;
mod axis;
mod boundary;
mod cdf;
mod error;
mod experiment;
pub mod explain;
mod format;
mod html;
mod legend;
mod lines;
mod markers;
mod panel;
mod params;
mod phase;
mod probability;
mod render;
mod run;
mod run_data;
mod series;
mod strip;
pub mod style;
mod sweep;
mod table;
mod timeline;
mod versions;

use std::path::{Path, PathBuf};

pub use advise::{
    ChartProbe, LineChart, TraceChart, TraceColumn, ValueUnit, draw_line as draw_advise_line,
    draw_trace as draw_advise_trace,
};
pub use error::ReportError;
pub use params::{closed_form_for, closed_form_for_goal};
pub use probability::wilson_interval;

/// What kind of output directory a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirKind {
    /// One run of `replsim run`: has `timeline.csv` or `summary.json`.
    Run,
    /// A sweep of `replsim sweep`: has `results.csv` or `results.jsonl`.
    Sweep,
}

/// Tells a run directory from a sweep directory by the files in it; `None` when it is neither.
pub fn detect(dir: &Path) -> Option<DirKind> {
    let has = |name: &str| dir.join(name).is_file();
    if has("results.csv") || has("results.jsonl") {
        Some(DirKind::Sweep)
    } else if has("timeline.csv") || has("summary.json") {
        Some(DirKind::Run)
    } else {
        None
    }
}

/// Draws the charts of one run directory (summary.json, timeline.csv, journal.json,
/// model.resolved.toml) into it: `timeline.svg`, `timeline.png` and `index.html`. Returns the
/// files written.
pub fn draw_run(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    run::draw(dir)
}

/// Draws the charts and `index.html` of a sweep directory (results.csv or results.jsonl,
/// experiment.resolved.toml, bundles/) into it. A chart whose columns are missing is skipped with
/// a note on the page. Returns the files written.
pub fn draw_sweep(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    sweep::draw(dir)
}

/// Draws `versions.svg` / `versions.png` of a `replsim versions` directory from its
/// `versions.csv`, with `title` on top. Returns the files written.
pub fn draw_versions(dir: &Path, title: &str) -> Result<Vec<PathBuf>, ReportError> {
    versions::draw(dir, title)
}

/// Draws a run or a sweep directory, whichever `dir` is.
pub fn draw_dir(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    match detect(dir) {
        Some(DirKind::Run) => draw_run(dir),
        Some(DirKind::Sweep) => draw_sweep(dir),
        None => Err(ReportError::NotAResultDir(dir.to_path_buf())),
    }
}
