//! replsim's integration tests: one binary, a module per behaviour.

mod advise;
mod analytic;
mod bad_input;
mod case_study;
mod chain;
mod checked;
mod common;
mod conformance;
mod cost;
mod determinism;
mod dual_channel;
mod engine_errors;
#[cfg(unix)]
mod fuzz_models;
mod help;
mod known_behaviours;
mod limits;
mod model_files;
mod net;
mod ordering;
mod outputs;
mod report;
mod run_logs;
mod scratch;
mod script_actions;
mod shared_fork;
mod swarm;
mod sweeps;
mod timers;
mod trace_load;
mod units;
mod valkey92;
mod valkey_model;
mod versions;
