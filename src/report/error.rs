//! What can go wrong while drawing.

use std::path::PathBuf;

/// A chart or report that could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory holds neither a run nor a sweep.
    #[error(
        "{0}: not a run directory (timeline.csv, summary.json) nor a sweep directory (results.csv, results.jsonl)"
    )]
    NotAResultDir(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file was read but its content is not what replsim writes.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// The drawing library failed.
    #[error("cannot draw {chart}: {reason}")]
    Draw {
        /// The chart's file stem.
        chart: String,
        /// Why.
        reason: String,
    },
}

impl ReportError {
    /// A read error from an I/O error.
    pub(crate) fn read(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        ReportError::Read {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    /// A write error from an I/O error.
    pub(crate) fn write(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        ReportError::Write {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    /// A parse error.
    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        ReportError::Parse {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
