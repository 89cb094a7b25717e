//! `replsim plot` (being built).

use clap::Args;

use super::CliError;

/// Arguments of `replsim plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Inputs.
    pub inputs: Vec<std::path::PathBuf>,
}

/// Runs `replsim plot`.
pub fn run(_args: PlotArgs) -> Result<(), CliError> {
    Err(CliError::runtime("replsim plot is not implemented yet"))
}
