//! The control messages of the replication protocol (valkey-model.md §3.1, §4): small discrete
//! messages on a connection, as opposed to the RDB and the command stream, which move as fluid.
//!
//! **Simplification.** The replica's handshake (`PING`, `REPLCONF listening-port`, `REPLCONF
//! capa …`, `REPLCONF version`) is one pipelined `Handshake` and one `HandshakeOk`: each step
//! costs one round trip in Valkey, a few hundred microseconds that do not move any limit.

/// A replication id (40 hex characters in Valkey; a number here, printed as 40 hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ReplId(pub u64);

impl std::fmt::Display for ReplId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // 40 hex digits like Valkey's, derived from the number so they are stable.
        let a = self.0;
        let b = a.rotate_left(21) ^ 0x9E37_79B9_7F4A_7C15;
        let c = a.rotate_left(42) ^ 0xD1B5_4A32_D192_ED03;
        write!(f, "{a:016x}{b:016x}{:08x}", (c >> 32) as u32)
    }
}

/// A control message.
#[derive(Clone, Debug, PartialEq)]
pub enum Proto {
    // ---- replica → primary ----
    /// The pipelined handshake of a main channel (`capa dual-channel` when `dual`).
    Handshake {
        /// The replica advertises `capa dual-channel`.
        dual: bool,
        /// The replica's node (what `REPLCONF listening-port` identifies).
        node: usize,
        /// Valkey 9.2: the replica asks for a compressed stream (its `repl-compression` is not
        /// `no`); the primary compresses when its own is not `no` either.
        compression: bool,
    },
    /// `PSYNC <replid> <offset>`; `replid` `None` is `PSYNC ? -1`.
    Psync {
        /// The replication id asked for.
        replid: Option<ReplId>,
        /// The first offset wanted.
        offset: u64,
    },
    /// The RDB channel's `REPLCONF capa eof rdb-only 1 rdb-channel 1 …`.
    RdbChannelHandshake {
        /// The replica's node.
        node: usize,
        /// Valkey 9.2: the replica asks for a compressed RDB (as [`Proto::Handshake`]).
        compression: bool,
    },
    /// Plain `SYNC` on the RDB channel.
    Sync,
    /// `REPLCONF set-rdb-client-id <cid>` on the main channel.
    SetRdbClientId(u64),
    /// `REPLCONF ACK <offset>`.
    Ack(u64),
    /// The bare newline a loading replica sends at most once per second.
    Newline,
    // ---- primary → replica ----
    /// `+OK` / `+PONG` for a handshake step.
    HandshakeOk,
    /// `+FULLRESYNC <replid> <offset>`.
    FullResync {
        /// The primary's replication id.
        replid: ReplId,
        /// The fork offset.
        offset: u64,
        /// Simulation only: the RDB's size (a real replica learns it from the EOF mark).
        rdb_bytes: u64,
    },
    /// `+CONTINUE <replid>`.
    Continue {
        /// The primary's replication id.
        replid: ReplId,
    },
    /// `+DUALCHANNELSYNC`.
    DualChannelSync,
    /// `$ENDOFF:<offset> <replid> <dbid> <client-id>`.
    EndOff {
        /// The fork offset.
        offset: u64,
        /// The primary's replication id.
        replid: ReplId,
        /// The RDB-channel client id.
        client_id: u64,
        /// Simulation only: the RDB's size.
        rdb_bytes: u64,
    },
    /// `-ERR …` (for example `Unrecognized RDB client id`).
    Error(String),
    /// The keepalive newline a primary sends while a replica waits for the fork.
    Keepalive,
}

impl Proto {
    /// Approximate bytes on the wire (they only cost serialization time).
    pub fn wire_bytes(&self) -> u64 {
        match self {
            Proto::Handshake { .. } => 160,
            Proto::Psync { .. } => 80,
            Proto::RdbChannelHandshake { .. } => 120,
            Proto::Sync => 14,
            Proto::SetRdbClientId(_) => 60,
            Proto::Ack(_) => 60,
            Proto::Newline | Proto::Keepalive => 1,
            Proto::HandshakeOk => 5,
            Proto::FullResync { .. } => 70,
            Proto::Continue { .. } => 54,
            Proto::DualChannelSync => 18,
            Proto::EndOff { .. } => 90,
            Proto::Error(text) => 8 + text.len() as u64,
        }
    }
}
