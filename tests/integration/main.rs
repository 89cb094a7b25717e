//! replsim's integration tests: one binary, a module per behaviour.

mod analytic;
mod common;
mod determinism;
mod engine_errors;
mod net;
mod ordering;
mod timers;
mod units;
mod valkey_model;
