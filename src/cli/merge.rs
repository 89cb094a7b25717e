//! `replsim merge` (being built).

use clap::Args;

use super::CliError;

/// Arguments of `replsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Inputs.
    pub inputs: Vec<std::path::PathBuf>,
}

/// Runs `replsim merge`.
pub fn run(_args: MergeArgs) -> Result<(), CliError> {
    Err(CliError::runtime("replsim merge is not implemented yet"))
}
