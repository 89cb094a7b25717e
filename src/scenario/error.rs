//! Errors that teach: every message names the file, the key (and line/column when TOML knows
//! it), and what would be valid.

/// A model or experiment file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Unreadable {
        /// The path.
        file: String,
        /// The OS's reason.
        reason: String,
    },
    /// TOML syntax, an unknown key, a wrong type or unit.
    #[error("{file}: {message}")]
    Invalid {
        /// The path.
        file: String,
        /// TOML's message, with the line, column and key.
        message: String,
    },
    /// A value that parses but makes no sense (a reference to a missing node, a range).
    #[error("{file}: {key}: {reason}")]
    Semantic {
        /// The path.
        file: String,
        /// The key at fault.
        key: String,
        /// Why, and what would be valid.
        reason: String,
    },
    /// A `--set` override that cannot be applied.
    #[error("--set {assignment}: {reason}")]
    BadOverride {
        /// The override as given.
        assignment: String,
        /// Why.
        reason: String,
    },
}
