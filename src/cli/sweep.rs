//! `replsim sweep` (being built).

use clap::Args;

use super::CliError;

/// Arguments of `replsim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Inputs.
    pub inputs: Vec<std::path::PathBuf>,
}

/// Runs `replsim sweep`.
pub fn run(_args: SweepArgs) -> Result<(), CliError> {
    Err(CliError::runtime("replsim sweep is not implemented yet"))
}
