//! Errors that teach: every message names the file (or directory), the key at fault and what
//! would be valid. The CLI maps [`ExperimentError::is_bad_input`] to exit code 2.

/// Why an experiment could not be loaded, run, resumed, merged or replayed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Unreadable {
        /// The path.
        file: String,
        /// The OS's reason.
        reason: String,
    },
    /// TOML or JSON syntax, an unknown key, a wrong type.
    #[error("{file}: {message}")]
    Invalid {
        /// The path.
        file: String,
        /// The parser's message, with the key (and line and column when known).
        message: String,
    },
    /// A value that parses but cannot be used.
    #[error("{file}: {key}: {reason}")]
    Semantic {
        /// The path.
        file: String,
        /// The key at fault (`axes[1].log.from`, `experiment.seeds`, …).
        key: String,
        /// Why, and what would be valid.
        reason: String,
    },
    /// Other bad input: an output directory that cannot be used, shards that do not fit.
    #[error("{0}")]
    BadInput(String),
    /// A failure while running: a simulation error, a full disk.
    #[error("{0}")]
    Runtime(String),
}

impl ExperimentError {
    /// Whether the user can fix this by changing their input (exit code 2) rather than a
    /// failure while running (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ExperimentError::Runtime(_))
    }

    /// A semantic error in `file` at `key`.
    pub(crate) fn semantic(
        file: impl Into<String>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ExperimentError::Semantic {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// An I/O failure while writing results (a runtime error).
    pub(crate) fn io(path: &std::path::Path, what: &str, e: std::io::Error) -> Self {
        ExperimentError::Runtime(format!("cannot {what} {}: {e}", path.display()))
    }
}
