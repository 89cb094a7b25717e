//! # replsim
//!
//! A seeded discrete-event simulator of Valkey's full-sync replication. It answers, for a given
//! workload, network and configuration: **when does a replica's client output buffer (COB)
//! overflow, when does the replication backlog run out, which comes first, and what follows**
//! (a partial resync, or a full-sync loop)?
//!
//! The model follows `valkey-model.md` (Valkey 9.1): the shared replication buffer with its
//! block-granular COB accounting and incremental trimming, classic and dual-channel full
//! sync, the protected RDB-channel client and its grace period, the replica's local buffer and its
//! read cadence during a blocking load, PSYNC acceptance, timeouts and reconnects. Every node
//! writes a log with Valkey's own texts and samples INFO fields. `replsim validate` runs the same
//! model on real servers and compares (15 bundled cases agree with Valkey 9.1.2).
//!
//! ## A run in ten lines
//!
//! ```no_run
#![doc = include_str!("../examples/quickstart.rs")]
//! ```
//!
//! ## Design
//!
//! * **Determinism.** Time is integer nanoseconds; events are totally ordered by
//!   `(time, insertion sequence)`; each actor draws from its own ChaCha8 stream keyed by
//!   `(master seed, actor name)`; nothing that affects results iterates a hash map. The same model
//!   and seed give the same trace digest and byte-identical outputs on any machine.
//! * **Speed.** Bulk data (the RDB, the command stream, the write load) moves as fluid flows with
//!   piecewise-constant rates; an event happens when a rate changes or a level crosses a threshold,
//!   at a time computed from the rates. A 10-minute production-like run costs tens of thousands of
//!   events and about ten milliseconds.
//!
//! ## Modules (arrows point down only)
//!
//! | module | holds |
//! |---|---|
//! | [`cli`] | one file per subcommand; maps errors to exit codes |
//! | [`experiment`] | sweeps: axes × seeds → parallel runs → result tables, resume, shards, bundles |
//! | [`validate`] | the same model on real `valkey-server` processes, classified alike; calibration |
//! | [`report`] | charts and the HTML report, from run records and result tables |
//! | [`scenario`] | model files (TOML) → a runnable [`valkey::Cluster`]; `--set` overrides |
//! | [`valkey`] | the domain: primary, replica and client actors, replication buffer, scripts, outcomes |
//! | [`net`] | hosts, links, TCP-like connections with back-pressure, faults — knows nothing of Valkey |
//! | [`engine`] | the discrete-event kernel — knows nothing of networks or Valkey |
//! | [`analytic`] | the closed forms of valkey-model.md §7, for overlays and checks |
//! | [`units`] | byte sizes and rates with valkey.conf's units |
//! | [`staging`] | output directories that appear whole or not at all |
//! | [`bench`](mod@bench) | the benchmark workloads of `replsim bench` and `BENCHMARKS.md` |
#![warn(missing_docs, missing_debug_implementations)]
pub mod analytic;
pub mod bench;
pub mod cli;
pub mod engine;
pub mod experiment;
pub mod net;
pub mod report;
pub mod scenario;
pub mod staging;
pub mod units;
pub mod validate;
pub mod valkey;
