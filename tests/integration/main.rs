//! replsim's integration tests: one binary, a module per behaviour.

mod common;
mod determinism;
mod engine_errors;
mod ordering;
mod timers;
mod units;
