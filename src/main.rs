//! The `replsim` binary: parse the command line, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use replsim::cli::{Cli, run};

fn main() -> ExitCode {
    restore_sigpipe();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replsim: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`replsim run … | head`) would panic;
/// the default disposition ends the process quietly, as command-line tools do.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to its default at start-up, before any thread
    // exists, has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
