//! The command line: one file per subcommand; `main.rs` only maps errors to exit codes.

pub mod advise;
pub mod bench;
pub mod calibrate;
pub mod completions;
pub mod conformance;
pub mod explain;
pub mod merge;
pub mod output;
pub mod plot;
pub mod replay;
pub mod run;
pub mod swarm;
pub mod sweep;
pub mod validate;
pub mod versions;

use clap::{Parser, Subcommand};

/// Exit code for a simulation or runtime failure.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for bad input (a model file, an argument).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Exit code when the machine cannot run what was asked and it was skipped (`validate --shaped`
/// without root, network namespaces or HTB).
pub const EXIT_SKIPPED: u8 = 3;

/// An error at the command-line edge: a message for the user and the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// The message printed to stderr.
    pub message: String,
    /// 1 (runtime) or 2 (bad input).
    pub code: u8,
}

impl CliError {
    /// Skipped, the machine cannot do it: exit code 3.
    pub fn skipped(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_SKIPPED,
        }
    }
    /// Bad input: exit code 2.
    pub fn bad_input(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_BAD_INPUT,
        }
    }
    /// A runtime failure: exit code 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_RUNTIME,
        }
    }
}

/// replsim: when does a Valkey replica's output buffer overflow, when does the backlog run out,
/// which comes first, and what follows?
#[derive(Debug, Parser)]
#[command(name = "replsim", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one model with one seed: outcome, logs, INFO timeline.
    Run(run::RunArgs),
    /// Run an experiment: a sweep of model parameters over seeds, in parallel, resumable.
    Sweep(sweep::SweepArgs),
    /// Run random valid models with the invariant checker; every failure becomes a repro file.
    Swarm(swarm::SwarmArgs),
    /// Join the result tables of sweep shards.
    Merge(merge::MergeArgs),
    /// Re-run a repro bundle and check its trace hash and outcome.
    Replay(replay::ReplayArgs),
    /// Draw the charts and the HTML report of a run or sweep directory.
    Plot(plot::PlotArgs),
    /// What should I set? The boundary of one knob for a goal, found by search.
    Advise(advise::AdviseArgs),
    /// What decided a run, in words: the first limit, its rates, the next PSYNC, what followed,
    /// and the smallest single change (checked by one rerun).
    Explain(explain::ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Measure the engine's event rate (ping-pong and a bare-heap ceiling).
    Bench(bench::BenchArgs),
    /// Run the models that translate Valkey's own replication tests (conformance/) over seeds.
    Conformance(conformance::ConformanceArgs),
    /// Run models on real valkey-server processes and in the simulator; print where they agree.
    Validate(validate::ValidateArgs),
    /// Run one model under each server release (Redis 6.2 … Valkey 9.2): will upgrading fix it?
    Versions(versions::VersionsArgs),
    /// Measure this machine's loopback for the calibrated model (real valkey-server processes).
    Calibrate(calibrate::CalibrateArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Swarm(args) => swarm::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Versions(args) => versions::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Advise(args) => advise::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
