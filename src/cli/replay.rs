//! `replsim replay` (being built).

use clap::Args;

use super::CliError;

/// Arguments of `replsim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Inputs.
    pub inputs: Vec<std::path::PathBuf>,
}

/// Runs `replsim replay`.
pub fn run(_args: ReplayArgs) -> Result<(), CliError> {
    Err(CliError::runtime("replsim replay is not implemented yet"))
}
