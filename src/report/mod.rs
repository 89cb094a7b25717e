//! Charts (SVG and PNG, fonts embedded) and the per-sweep HTML report, drawn from run records
//! and result tables. Never runs a simulation itself. (Being built.)

use std::path::{Path, PathBuf};

/// A chart or report that could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(pub String);

/// Draws the charts of one run directory (summary.json, timeline.csv, journal.json) into it;
/// returns the files written.
pub fn draw_run(_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    Ok(Vec::new())
}
