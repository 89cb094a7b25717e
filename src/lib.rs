//! replsim: a seeded discrete-event simulator of Valkey's full-sync replication.
#![warn(missing_docs, missing_debug_implementations)]

pub mod analytic;
pub mod bench;
pub mod cli;
pub mod engine;
pub mod experiment;
pub mod net;
pub mod report;
pub mod scenario;
pub mod units;
pub mod valkey;
