//! INFO-like samples (valkey-model.md §5.3), taken by every node on a fixed interval: the
//! series behind `timeline.csv` and the run timeline chart.

use serde::Serialize;

use crate::engine::SimTime;

/// One node's INFO fields at one instant. Primary-side fields are 0 on a replica and the other
/// way round.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InfoSample {
    /// Seconds since the start.
    pub t_s: f64,
    /// The node's name.
    pub node: String,
    /// `master` or `slave`, as INFO says.
    pub role: &'static str,
    /// `master_repl_offset`.
    pub master_repl_offset: u64,
    /// `repl_backlog_first_byte_offset`.
    pub repl_backlog_first_byte_offset: u64,
    /// `repl_backlog_histlen`.
    pub repl_backlog_histlen: u64,
    /// `mem_total_replication_buffers`.
    pub mem_total_replication_buffers: u64,
    /// Largest `omem` among classic replica and main-channel clients.
    pub replica_omem: u64,
    /// Largest `omem` among dual-channel RDB clients.
    pub rdb_channel_omem: u64,
    /// `replicas_waiting_psync`.
    pub replicas_waiting_psync: u64,
    /// `master_replid`: this node's replication id (its primary's on a replica).
    pub master_replid: String,
    /// `master_replid2`: the id of the history before a promotion (all zeros when none).
    pub master_replid2: String,
    /// `second_repl_offset`: `master_replid2` is valid for PSYNC up to this offset (-1: none).
    pub second_repl_offset: i64,
    /// `connected_slaves`.
    pub connected_slaves: u64,
    /// Replica clients in state `online` (the `slaveN:…,state=online` lines of INFO
    /// replication; `verify_replica_online`).
    pub replicas_online: u64,
    /// `sync_full`.
    pub sync_full: u64,
    /// `sync_partial_ok`.
    pub sync_partial_ok: u64,
    /// `sync_partial_err`.
    pub sync_partial_err: u64,
    /// `client_output_buffer_limit_disconnections`.
    pub client_output_buffer_limit_disconnections: u64,
    /// `DBSIZE` (all databases; on a replica, what its last RDB held): keys written by the loads
    /// (`new-key-fraction`) and `populate` actions on top of the dataset.
    pub dbsize: u64,
    /// `rdb_bgsave_in_progress`: a fork child is running.
    pub rdb_bgsave_in_progress: bool,
    /// `total_forks`: forks for replicas since the start.
    pub total_forks: u64,
    /// `slaveN:` lines of `INFO replication` with `state=wait_bgsave` (any type).
    pub slaves_wait_bgsave: u64,
    /// `slaveN:` lines with `state=wait_bgsave` and `type=rdb-channel`.
    pub slaves_wait_bgsave_rdb_channel: u64,
    /// `slaveN:` lines with `state=wait_bgsave` and `type=replica` (a classic replica).
    pub slaves_wait_bgsave_replica: u64,
    /// `slaveN:` lines with `state=bg_transfer` and `type=main-channel`.
    pub slaves_bg_transfer_main_channel: u64,
    /// The process is stopped (SIGSTOP or `DEBUG pause-after-fork`): not an INFO field but what
    /// a test sees with `ps` (`wait_process_paused`).
    pub process_paused: bool,
    /// Replica: `master_link_status` is up.
    pub master_link_up: bool,
    /// Replica: `ROLE` says `handshake` (connected, sync request not answered yet; for a
    /// dual-channel replica, the whole RDB-channel part until its main-channel PSYNC is
    /// answered).
    pub master_handshake: bool,
    /// Replica: `master_sync_in_progress`.
    pub master_sync_in_progress: bool,
    /// Replica: `loading`.
    pub loading: bool,
    /// Replica: `slave_repl_offset` (what it has applied).
    pub slave_repl_offset: u64,
    /// Replica: the offset it would resume from (`slave_repl_offset + 1`, or the RDB's offset + 1
    /// during a full sync).
    pub resume_offset: u64,
    /// Replica: `replicas_repl_buffer_size` (dual-channel local buffer).
    pub replicas_repl_buffer_size: u64,
    /// Replica: RDB bytes read in the current sync.
    pub rdb_bytes_read: u64,
    /// Replica: stream bytes read from the main channel, cumulative.
    pub stream_bytes_read: u64,
    /// Valkey 9.2 `repl_throttle_rate`: the allowed write rate in stream bytes/s (0 =
    /// unlimited). Present (on every node) only in a Valkey 9.2 run, so other runs' outputs
    /// keep their columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repl_throttle_rate: Option<u64>,
    /// Valkey 9.2 `repl_throttle_activation_events`: how often throttling started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repl_throttle_activation_events: Option<u64>,
    /// Valkey 9.2 `repl_throttle_below_guardrail_secs`: seconds during which writes were
    /// delayed (the model's reading of the name; `throttle.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repl_throttle_below_guardrail_secs: Option<u64>,
    /// Valkey 9.2 `repl_throttle_total_commands`: commands written while throttling was on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repl_throttle_total_commands: Option<u64>,
}

impl InfoSample {
    /// An empty sample for `node` at `time`.
    pub fn at(time: SimTime, node: &str, role: &'static str) -> Self {
        InfoSample {
            t_s: time.as_secs_f64(),
            node: node.to_string(),
            role,
            ..InfoSample::default()
        }
    }
}
