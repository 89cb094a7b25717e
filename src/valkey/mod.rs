//! The Valkey domain: configuration, the shared replication buffer, and the primary, replica
//! and client actors. Follows `valkey-model.md`; where it simplifies, the doc comment of the
//! code says what and why. Knows nothing of files, the CLI or charts.

mod bgsave_share;
mod chain;
mod cluster;
mod config;
mod info;
pub mod invariants;
mod journal;
pub mod limits;
mod log;
mod primary;
mod proto;
mod rdb_pipe;
mod release;
mod repl_buffer;
mod replica;
mod resume;
mod script;
mod server;
mod spec;
mod throttle;
mod trace;
mod transport;
mod workload;
mod workload_client;
mod world;

pub use cluster::{
    BuildError, CAUGHT_UP_BYTES, Cluster, NetworkCost, OutcomeRecord, RunOptions, RunResult,
    caught_up,
};
pub use config::{
    BACKLOG_MIN_BYTES, CobLimit, ConfigError, DisklessLoad, FORKLESS_UNKNOWN, KeyDelayMicros,
    ReplCompression, ValkeyConfig,
};
pub use info::InfoSample;
pub use invariants::{Checker, Violation};
pub use journal::{ClientKind, Event, Journal, Limit, Outcome};
pub use log::{Level, LogBook, LogLine, Role, glob_match};
pub use proto::{Proto, ReplId};
pub use release::{Mechanism, Release, ReplicaOutput, TwoChannel};
pub use repl_buffer::{
    Allocator, BLOCK_OVERHEAD_BYTES, ConsumerId, MIN_BLOCK_BYTES, ReplBuffer, TRIM_BLOCKS_PER_CALL,
    block_payload,
};
pub use script::{
    ActionKind, ActionSpec, Condition, InfoRef, Script, ScriptTick, compare, compare_with,
    info_field, info_field_names,
};
pub use server::Server;
pub use spec::{
    ClusterSpec, DatasetSpec, LinkSpecFile, NodeRole, NodeSpec, PerfSpec, Population,
    population_name,
};
pub use trace::{Interpolation, TracePlay, TraceQuantity, TraceSeries};
pub use workload::{
    LoadPattern, LoadSchedule, LoadStart, PatternKind, Phase, SizeDist, WorkloadSpec,
};
pub use workload_client::LoadClient;
pub use world::{Control, Msg, Node, NodeAddr, Timer, World};
