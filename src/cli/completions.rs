//! `replsim completions SHELL`: shell completion scripts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError};

/// Arguments of `replsim completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim completions bash > ~/.local/share/bash-completion/completions/replsim\n  replsim completions zsh > ~/.zfunc/_replsim\n  replsim completions fish > ~/.config/fish/completions/replsim.fish"
)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Prints the completion script for a shell.
pub fn run(args: CompletionsArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "replsim", &mut std::io::stdout());
    Ok(())
}
