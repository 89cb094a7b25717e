//! The `replsim` binary: parse the command line, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use replsim::cli::{Cli, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replsim: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
