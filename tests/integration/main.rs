//! replsim's integration tests: one binary, a module per behaviour.

mod analytic;
mod bad_input;
mod case_study;
mod common;
mod determinism;
mod dual_channel;
mod engine_errors;
mod known_behaviours;
mod net;
mod ordering;
mod report;
mod sweeps;
mod timers;
mod units;
mod valkey_model;
