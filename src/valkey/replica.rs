//! The replica half of a server (valkey-model.md §3.1, §3.3, §4.1–§4.7 replica side): the
//! handshake and PSYNC, the classic download and blocking load, the dual-channel RDB and main
//! channels, the local buffer and its limit, the read cadence of the main channel during a
//! blocking load, applying the buffer, the first ACK, and reconnecting after any failure.
//!
//! **Simplifications.**
//! * The read cadence during a blocking load (§4.6) is a fluid read rate
//!   `c = 4 · 16 KiB · L / loading-process-events-interval-bytes` instead of four 16 KiB reads
//!   every `I` bytes loaded.
//! * Flushing the old dataset takes no time.
//! * A connection the primary resets is noticed when the replica would next read it: at once
//!   while it reads; during a blocking load at the next `processEventsWhileBlocked`, which runs
//!   each time the RDB loaded crosses a multiple of `loading-process-events-interval-bytes`
//!   (none before the end of a small RDB's load, so then after the load and the apply, §10.6);
//!   never while applying the local buffer, when the main channel has no read handler (§4.7).
//!   The loaded bytes of a disk load are `L · (now − load start)`; a socket parse counts what
//!   it has read.
//! * A normal close (a FIN) loses nothing: the replica reads what is still in the socket
//!   buffers and in flight, then sees end-of-file. A dual-channel RDB channel that the primary
//!   closes after its child wrote the last byte therefore ends the download (or the socket
//!   parse of a diskless load) normally; only a reset or a dropped link cuts it.
//! * Control messages arriving during a blocking load are handled promptly, as
//!   `processEventsWhileBlocked` does every 2 MiB of RDB.

use rand::RngExt;

use crate::engine::{SimDuration, SimTime};
use crate::net::{ConnId, Notification, Quantity, ReadMode, Side, Threshold, WatchId};
use crate::units::Rate;

use super::config::ReplCompression;
use super::info::InfoSample;
use super::journal::Event;
use super::log::Level;
use super::proto::{Proto, ReplId};
use super::server::{C, Server};
use super::transport::{self, DOWN};
use super::world::{Msg, Timer};

/// `PROTO_IOBUF_LEN`: one read of the main channel.
const IOBUF_BYTES: f64 = 16.0 * 1024.0;
/// `processEventsWhileBlocked` runs at most four polling iterations.
const READS_PER_EVENTS_CALL: f64 = 4.0;

/// How long `bytes` take at `bytes_per_sec` (a load or an apply).
fn time_for(bytes: u64, bytes_per_sec: u64) -> SimDuration {
    let secs = bytes as f64 / bytes_per_sec.max(1) as f64;
    SimDuration::from_secs_f64(secs).unwrap_or(SimDuration::MAX)
}

/// What the main channel is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MainPhase {
    /// Handshake sent.
    Handshake,
    /// `PSYNC` sent.
    PsyncSent,
    /// Classic: the RDB is arriving on this connection.
    Transfer,
    /// Dual: waiting for `$ENDOFF` on the RDB channel.
    WaitEndOff,
    /// Dual: `REPLCONF set-rdb-client-id` sent.
    SetCidSent,
    /// Dual: the main-channel `PSYNC` sent.
    DualPsyncSent,
    /// Dual: buffering the stream locally from `read_base`.
    Buffering { read_base: u64 },
    /// Dual: the local buffer reached its cap; not reading.
    BufferFull { read_base: u64 },
    /// Steady streaming: stream offset `base_offset` was at read counter `read_base`.
    Streaming { read_base: u64, base_offset: u64 },
}

/// Why the replica connects to its primary, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reconnect {
    /// The first connection after `REPLICAOF`.
    No,
    /// `cancelReplicationHandshake`: "Reconnecting to PRIMARY h:p after failure".
    AfterFailure,
    /// `replicationHandlePrimaryDisconnection` of an established link (seen on 9.1.2 after a
    /// main channel closed during a load): "Reconnecting to PRIMARY h:p".
    AfterLinkLoss,
}

/// The main connection.
#[derive(Clone, Debug)]
struct MainLink {
    conn: ConnId,
    phase: MainPhase,
    /// The primary closed it; noticed when next read.
    dead: bool,
    buffer_watch: Option<WatchId>,
}

/// Where the RDB is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RdbPhase {
    /// Dual: RDB channel handshake sent.
    Handshake,
    /// Dual: `SYNC` sent, waiting for `$ENDOFF`.
    WaitEndOff,
    /// Bytes arriving.
    Downloading,
    /// All bytes arrived; the replica has not noticed yet (§10.7).
    Noticing,
    /// Blocking load.
    Loading,
    /// Dual: loaded, main-channel PSYNC not accepted yet.
    Loaded,
    /// Dual: applying the local buffer.
    Applying,
}

/// The RDB being received.
#[derive(Clone, Debug)]
struct RdbSync {
    conn: ConnId,
    dual: bool,
    phase: RdbPhase,
    offset: u64,
    replid: ReplId,
    rdb_bytes: u64,
    read_base: u64,
    parse_from_socket: bool,
    /// The last RDB byte was read.
    arrived: bool,
    /// Bytes of the local buffer being applied.
    applying: u64,
    /// When the blocking load started (`None` before it).
    load_started: Option<SimTime>,
    /// The main channel was closed during the blocking load: the loaded-bytes boundary at
    /// which the next `processEventsWhileBlocked` notices it.
    events_point: Option<u64>,
}

impl RdbSync {
    /// RDB bytes are still coming: downloading to disk, or parsed straight from the socket
    /// (a load that started with the transfer).
    fn receiving(&self) -> bool {
        !self.arrived
            && (self.phase == RdbPhase::Downloading
                || (self.parse_from_socket && self.phase == RdbPhase::Loading))
    }
}

/// The replica half's state.
#[derive(Debug, Default)]
pub(crate) struct ReplicaState {
    pub(crate) primary_node: Option<usize>,
    /// `slave_repl_offset`: what the dataset reflects.
    pub(crate) offset: u64,
    /// The replication id of the data held.
    replid: Option<ReplId>,
    /// The cached primary `(replid, offset)`.
    pub(crate) cached: Option<(ReplId, u64)>,
    main: Option<MainLink>,
    rdb: Option<RdbSync>,
    pub(crate) loading: bool,
    /// Generation of the current sync attempt (timers of older attempts are ignored).
    attempt: u64,
    /// When the link last moved a byte or a message (for the replica's timeouts).
    last_io: SimTime,
    last_seen_read: u64,
    /// Stream bytes read before the current connection (INFO).
    stream_read_before: u64,
    /// `DEBUG pause-after-fork` stopped us right before the main-channel PSYNC: send it on
    /// resume.
    psync_on_resume: bool,
    synced_once: bool,
    /// The bio-thread download failed; the main thread notices at its next replication cron
    /// (`perf.download-polled`).
    download_failed: bool,
}

impl ReplicaState {
    /// The history this node holds: `replid` up to `offset`, cached for the next PSYNC.
    pub(crate) fn set_history(&mut self, replid: ReplId, offset: u64) {
        self.replid = Some(replid);
        self.offset = offset;
        self.cached = Some((replid, offset));
    }
}

impl Server {
    fn primary_addr(&self, ctx: C<'_, '_>) -> String {
        self.replica
            .primary_node
            .and_then(|p| ctx.env().nodes.get(p))
            .map_or_else(|| "?".into(), |n| n.addr.clone())
    }

    /// `REPLICAOF <node>` or `REPLICAOF NO ONE`.
    pub(crate) fn replicaof(&mut self, ctx: C<'_, '_>, target: Option<usize>) {
        if target.is_some() && target == self.replica.primary_node {
            // replicaofCommand: already attached to that primary, nothing happens.
            let text = "REPLICAOF would result into synchronization with the primary we are already connected with. No operation performed.";
            self.log(ctx, Level::Notice, text.to_string());
            return;
        }
        // replicationCachePrimaryUsingMyself: what the dataset holds now, including what a
        // streaming link applied since its sync.
        self.replica.offset = self.current_offset(ctx);
        self.advance(ctx);
        self.drop_link(ctx);
        let was_replica = self.replica.primary_node.is_some();
        let had_history = !was_replica && self.primary.buffer.is_some();
        self.replica.primary_node = target;
        if target.is_none() {
            if was_replica {
                // REPLICAOF NO ONE: shiftReplicationId keeps the old history as replid2 (chain.rs);
                // a later REPLICAOF to the old primary offers the new id, which it does not know,
                // so that sync is a full one.
                self.chain_promote(ctx);
                super::invariants::replica_dataset(ctx, self.node, Some(self.replica.offset));
                self.log(ctx, Level::Notice, "MASTER MODE enabled (user request from 'id=4 addr=127.0.0.1:0 laddr=127.0.0.1:0 fd=8 name= age=0 idle=0 flags=N db=9 cmd=replicaof user=default')".to_string());
            }
            return;
        }
        if had_history {
            self.chain_demote(ctx);
            // A primary turned replica holds its own stream up to its offset.
            super::invariants::replica_dataset(ctx, self.node, Some(self.replica.offset));
        }
        if !was_replica && self.replica.replid.is_none() {
            // A primary turned replica offers a replication id: its own on its very first sync
            // (§10.3). A replica whose data was flushed by a load that did not finish has none
            // (`PSYNC ? -1`).
            self.replica.replid = Some(ReplId(self.primary.replid.0 ^ 0xABCD));
            self.replica.offset = 0;
        }
        if self.replica.cached.is_none()
            && let Some(id) = self.replica.replid
        {
            self.replica.cached = Some((id, self.replica.offset));
        }
        self.connect_to_primary(ctx, Reconnect::No);
    }

    fn connect_to_primary(&mut self, ctx: C<'_, '_>, reconnect: Reconnect) {
        let Some(primary) = self.replica.primary_node else {
            return;
        };
        self.replica.attempt += 1;
        let addr = self.primary_addr(ctx);
        let suffix = match reconnect {
            Reconnect::No => None,
            Reconnect::AfterFailure => Some(" after failure"),
            Reconnect::AfterLinkLoss => Some(""),
        };
        if let Some(suffix) = suffix {
            self.log(
                ctx,
                Level::Notice,
                format!("Reconnecting to PRIMARY {addr}{suffix}"),
            );
        }
        self.log(ctx, Level::Notice, format!("Connecting to PRIMARY {addr}"));
        self.log(
            ctx,
            Level::Notice,
            "PRIMARY <-> REPLICA sync started".to_string(),
        );
        let Some(conn) = transport::connect(ctx, self.node, primary) else {
            self.log(
                ctx,
                Level::Warning,
                format!("Unable to connect to PRIMARY: no route to {addr}"),
            );
            return;
        };
        self.log(
            ctx,
            Level::Notice,
            "Non blocking connect for SYNC fired the event.".to_string(),
        );
        self.replica.main = Some(MainLink {
            conn,
            phase: MainPhase::Handshake,
            dead: false,
            buffer_watch: None,
        });
        self.replica.last_io = ctx.now();
        transport::read_mode(ctx, conn, DOWN, ReadMode::Stopped);
        let steps = self.perf.handshake_time;
        if steps > SimDuration::ZERO {
            let attempt = self.replica.attempt;
            ctx.schedule(Msg::Timer(Timer::HandshakeDone(attempt)), steps);
        } else {
            self.send_handshake(ctx);
        }
    }

    /// The sync request at the end of the handshake (PING, REPLCONF, PSYNC are one message;
    /// `perf.handshake-time` stands for their round trips and processing).
    fn send_handshake(&mut self, ctx: C<'_, '_>) {
        let Some(main) = &self.replica.main else {
            return;
        };
        let conn = main.conn;
        let dual = self.cfg.dual_channel_replication_enabled;
        transport::send(
            ctx,
            conn,
            Side::Initiator,
            Proto::Handshake {
                dual,
                node: self.node,
                compression: self.cfg.repl_compression != ReplCompression::No,
            },
        );
    }

    /// A classic download to disk in Valkey 9.1's bio thread, watched by the main thread's cron.
    fn bio_download(&self) -> bool {
        self.perf.download_polled
            && self
                .replica
                .rdb
                .as_ref()
                .is_some_and(|r| !r.parse_from_socket && !r.dual)
    }

    /// Valkey 9.1 downloads a disk-load RDB (classic or dual-channel) in a bio thread, which
    /// logs the download's end; the main thread notices it on its cron (`perf.download-polled`).
    fn bio_thread_download(&self) -> bool {
        self.perf.download_polled
            && self
                .replica
                .rdb
                .as_ref()
                .is_some_and(|r| !r.parse_from_socket)
    }

    /// Closes both channels and forgets the sync in progress.
    pub(crate) fn drop_link(&mut self, ctx: C<'_, '_>) {
        super::invariants::replica_dropping(ctx, self.node);
        self.replica.download_failed = false;
        self.replica.stream_read_before += self.stream_bytes_read(ctx);
        // `cancelReplicationHandshake` / `freeClient` close the sockets (a FIN, not a reset):
        // whatever was already written, such as a PSYNC, still reaches the primary.
        if let Some(main) = self.replica.main.take() {
            transport::unwatch(ctx, main.conn, DOWN, main.buffer_watch);
            transport::close(ctx, main.conn, Side::Initiator);
        }
        if let Some(rdb) = self.replica.rdb.take()
            && rdb.dual
        {
            transport::close(ctx, rdb.conn, Side::Initiator);
        }
        self.replica.loading = false;
        self.replica.attempt += 1;
        let node = self.node;
        let world = ctx.env();
        world.resume_offsets.set(&world.net, node, None);
    }

    /// After a failure: cache what we have and reconnect at once (§8).
    fn fail_and_reconnect(&mut self, ctx: C<'_, '_>) {
        self.drop_and_reconnect(ctx, Reconnect::AfterFailure);
    }

    /// Cache what we have, drop both channels and reconnect at once, logging `reconnect`.
    fn drop_and_reconnect(&mut self, ctx: C<'_, '_>, reconnect: Reconnect) {
        let now = ctx.now();
        let node = self.node;
        ctx.env()
            .journal
            .push(now, Event::LinkLost { replica: node });
        // What the dataset reflects now: a streaming link has applied past its sync's offset.
        self.replica.offset = self.current_offset(ctx);
        self.drop_link(ctx);
        if let Some(id) = self.replica.replid {
            self.replica.cached = Some((id, self.replica.offset));
        }
        self.connect_to_primary(ctx, reconnect);
    }

    // ------------------------------------------------------------------ network input

    pub(crate) fn replica_on_net(&mut self, n: Notification, ctx: C<'_, '_>) {
        self.replica.last_io = ctx.now();
        match n {
            Notification::Message { conn, tag, .. } => {
                let Some(proto) = transport::take_payload(ctx.env(), tag) else {
                    return;
                };
                self.on_primary_message(ctx, conn, proto);
            }
            Notification::Watch { conn, .. } => self.on_read_watch(ctx, conn),
            Notification::Reset { conn, .. } | Notification::Eof { conn, .. } => {
                self.on_conn_closed(ctx, conn)
            }
            _ => {}
        }
    }

    fn is_main(&self, conn: ConnId) -> bool {
        self.replica.main.as_ref().is_some_and(|m| m.conn == conn)
    }

    fn is_rdb(&self, conn: ConnId) -> bool {
        self.replica.rdb.as_ref().is_some_and(|r| r.conn == conn)
    }

    fn on_primary_message(&mut self, ctx: C<'_, '_>, conn: ConnId, proto: Proto) {
        if self.is_main(conn) {
            self.on_main_message(ctx, proto);
        } else if self.is_rdb(conn) {
            self.on_rdb_channel_message(ctx, proto);
        }
    }

    fn main_phase(&self) -> Option<MainPhase> {
        self.replica.main.as_ref().map(|m| m.phase)
    }

    fn set_main_phase(&mut self, phase: MainPhase) {
        if let Some(m) = self.replica.main.as_mut() {
            m.phase = phase;
        }
    }

    fn on_main_message(&mut self, ctx: C<'_, '_>, proto: Proto) {
        let Some(main) = self.replica.main.clone() else {
            return;
        };
        match (main.phase, proto) {
            (MainPhase::Handshake, Proto::HandshakeOk) => {
                self.log(
                    ctx,
                    Level::Notice,
                    "Primary replied to PING, replication can continue...".to_string(),
                );
                self.send_psync(ctx, main.conn);
            }
            (MainPhase::PsyncSent, Proto::Continue { replid }) => {
                self.classic_continue(ctx, replid)
            }
            (
                MainPhase::PsyncSent,
                Proto::FullResync {
                    replid,
                    offset,
                    rdb_bytes,
                },
            ) => {
                self.log(
                    ctx,
                    Level::Notice,
                    format!("Full resync from primary: {replid}:{offset}"),
                );
                self.set_main_phase(MainPhase::Transfer);
                self.begin_rdb(ctx, main.conn, false, replid, offset, rdb_bytes);
            }
            (MainPhase::PsyncSent, Proto::DualChannelSync) => {
                self.log(
                    ctx,
                    Level::Notice,
                    "Dual channel replication: PSYNC is not possible, initialize RDB channel."
                        .to_string(),
                );
                self.set_main_phase(MainPhase::WaitEndOff);
                self.open_rdb_channel(ctx);
            }
            (MainPhase::SetCidSent, Proto::HandshakeOk) => {
                if self.pause_after_fork {
                    // dualChannelReplMainConnSendPsync: DEBUG pause-after-fork stops the replica
                    // right before it sends the main-channel PSYNC.
                    self.replica.psync_on_resume = true;
                    self.pause_self(ctx);
                    return;
                }
                self.send_dual_psync(ctx);
            }
            (MainPhase::SetCidSent, Proto::Error(e)) => {
                self.log(
                    ctx,
                    Level::Warning,
                    format!("Primary does not understand REPLCONF identify: {e}"),
                );
                self.abort_dual(ctx);
            }
            (MainPhase::PsyncSent, Proto::Error(e)) => self.chain_try_later(ctx, &e),
            (MainPhase::DualPsyncSent, Proto::Continue { .. }) => self.dual_psync_accepted(ctx),
            (MainPhase::DualPsyncSent, Proto::DualChannelSync | Proto::FullResync { .. }) => {
                let text = "Aborting dual channel sync. Main channel psync result -1 PSYNC_FULLRESYNC_DUAL_CHANNEL";
                self.log(ctx, Level::Warning, text.to_string());
                self.abort_dual(ctx);
            }
            _ => {}
        }
    }

    fn send_psync(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        let (replid, offset) = match self.replica.cached {
            Some((id, off)) => (Some(id), off + 1),
            None => {
                self.log(
                    ctx,
                    Level::Notice,
                    "Partial resynchronization not possible (no cached primary)".to_string(),
                );
                (None, 0)
            }
        };
        if let Some(id) = replid {
            self.log(
                ctx,
                Level::Notice,
                format!("Trying a partial resynchronization (request {id}:{offset})."),
            );
            super::invariants::replica_psync(ctx, self.node, offset);
        }
        self.set_main_phase(MainPhase::PsyncSent);
        transport::send(ctx, conn, Side::Initiator, Proto::Psync { replid, offset });
    }

    /// The main channel's `PSYNC <replid> <endoff + 1>`.
    fn send_dual_psync(&mut self, ctx: C<'_, '_>) {
        let (Some(rdb), Some(main)) = (self.replica.rdb.clone(), self.replica.main.clone()) else {
            return;
        };
        let req = rdb.offset + 1;
        let text = format!(
            "Dual channel replication: Trying a partial resynchronization using main channel (request {}:{req}).",
            rdb.replid
        );
        self.log(ctx, Level::Notice, text);
        self.set_main_phase(MainPhase::DualPsyncSent);
        let psync = Proto::Psync {
            replid: Some(rdb.replid),
            offset: req,
        };
        transport::send(ctx, main.conn, Side::Initiator, psync);
    }

    /// A classic `+CONTINUE`: stream from the cached offset.
    fn classic_continue(&mut self, ctx: C<'_, '_>, replid: ReplId) {
        self.log(
            ctx,
            Level::Notice,
            "Successful partial resynchronization with primary.".to_string(),
        );
        self.log(
            ctx,
            Level::Notice,
            "PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization.".to_string(),
        );
        let offset = self.replica.cached.map_or(self.replica.offset, |(_, o)| o);
        let asked = self.replica.cached.map(|(id, _)| id);
        self.replica.replid = Some(replid);
        self.replica.offset = offset;
        self.replica.cached = None;
        self.chain_continued(ctx, asked, replid, offset);
        self.start_streaming(ctx, offset);
    }

    /// The main channel streams normally from `offset` (the dataset's offset).
    fn start_streaming(&mut self, ctx: C<'_, '_>, offset: u64) {
        let Some(main) = self.replica.main.clone() else {
            return;
        };
        let now = ctx.now();
        let read_base = transport::level(ctx, main.conn, DOWN, Quantity::Read);
        self.set_main_phase(MainPhase::Streaming {
            read_base,
            base_offset: offset,
        });
        if let Some(upstream) = self.replica.primary_node {
            super::invariants::replica_streaming(
                ctx, self.node, upstream, main.conn, offset, read_base,
            );
        }
        transport::read_mode(ctx, main.conn, DOWN, ReadMode::Unlimited);
        transport::send(ctx, main.conn, Side::Initiator, Proto::Ack(offset));
        self.replica.synced_once = true;
        let node = self.node;
        let world = ctx.env();
        world.resume_offsets.set(&world.net, node, Some(offset + 1));
        ctx.env()
            .journal
            .push(now, Event::ReplicaSynced { replica: node });
        if main.dead {
            self.connection_lost(ctx);
        }
    }

    // ------------------------------------------------------------------ the RDB

    fn open_rdb_channel(&mut self, ctx: C<'_, '_>) {
        let Some(primary) = self.replica.primary_node else {
            return;
        };
        let Some(conn) = transport::connect(ctx, self.node, primary) else {
            self.abort_dual(ctx);
            return;
        };
        transport::read_mode(ctx, conn, DOWN, ReadMode::Stopped);
        self.replica.rdb = Some(RdbSync {
            conn,
            dual: true,
            phase: RdbPhase::Handshake,
            offset: 0,
            replid: ReplId(0),
            rdb_bytes: 0,
            read_base: 0,
            parse_from_socket: false,
            arrived: false,
            applying: 0,
            load_started: None,
            events_point: None,
        });
        transport::send(
            ctx,
            conn,
            Side::Initiator,
            Proto::RdbChannelHandshake {
                node: self.node,
                compression: self.cfg.repl_compression != ReplCompression::No,
            },
        );
    }

    fn on_rdb_channel_message(&mut self, ctx: C<'_, '_>, proto: Proto) {
        let Some(rdb) = self.replica.rdb.clone() else {
            return;
        };
        match (rdb.phase, proto) {
            (RdbPhase::Handshake, Proto::HandshakeOk) => {
                self.log(
                    ctx,
                    Level::Debug,
                    "Received first reply from primary using rdb connection.".to_string(),
                );
                if let Some(r) = self.replica.rdb.as_mut() {
                    r.phase = RdbPhase::WaitEndOff;
                }
                transport::send(ctx, rdb.conn, Side::Initiator, Proto::Sync);
            }
            (
                RdbPhase::WaitEndOff,
                Proto::EndOff {
                    offset,
                    replid,
                    client_id,
                    rdb_bytes,
                },
            ) => {
                self.begin_rdb(ctx, rdb.conn, true, replid, offset, rdb_bytes);
                let Some(main) = self.replica.main.clone() else {
                    return;
                };
                self.set_main_phase(MainPhase::SetCidSent);
                transport::send(
                    ctx,
                    main.conn,
                    Side::Initiator,
                    Proto::SetRdbClientId(client_id),
                );
            }
            (RdbPhase::WaitEndOff, Proto::Error(e)) => {
                self.log(
                    ctx,
                    Level::Warning,
                    format!("Dual channel replication: Primary replied to SYNC with error: {e}"),
                );
                self.abort_dual(ctx);
            }
            _ => {}
        }
    }

    /// The RDB starts arriving on `conn`.
    fn begin_rdb(
        &mut self,
        ctx: C<'_, '_>,
        conn: ConnId,
        dual: bool,
        replid: ReplId,
        offset: u64,
        rdb_bytes: u64,
    ) {
        let parse = self
            .cfg
            .repl_diskless_load
            .parses_from_socket(self.keys < 0.5);
        let read_base = transport::level(ctx, conn, DOWN, Quantity::Read);
        self.replica.rdb = Some(RdbSync {
            conn,
            dual,
            phase: RdbPhase::Downloading,
            offset,
            replid,
            rdb_bytes,
            read_base,
            parse_from_socket: parse,
            arrived: false,
            applying: 0,
            load_started: None,
            events_point: None,
        });
        let node = self.node;
        let world = ctx.env();
        world.resume_offsets.set(&world.net, node, Some(offset + 1));
        let target = if parse { "to parser" } else { "to disk" };
        let text = format!(
            "PRIMARY <-> REPLICA sync: receiving streamed RDB from primary with EOF {target}"
        );
        if self.bio_thread_download() {
            let spawn = "Replica main thread creating Bio thread to save RDB to disk";
            self.log(ctx, Level::Notice, spawn.to_string());
            self.log(ctx, Level::Notice, format!("Replica bio thread: {text}"));
        } else {
            self.log(ctx, Level::Notice, text);
        }
        let mode = if parse {
            self.begin_blocking_load(ctx);
            ReadMode::Rate(Rate::new(self.load_rate(rdb_bytes)))
        } else {
            ReadMode::Rate(self.perf.disk_write_rate)
        };
        transport::read_mode(ctx, conn, DOWN, mode);
        transport::watch(
            ctx,
            conn,
            DOWN,
            Quantity::Read,
            Threshold::AtLeast(read_base + rdb_bytes),
        );
    }

    /// Keys in an RDB of `rdb_bytes` (from the dataset's mean per-key size).
    fn keys_in(&self, rdb_bytes: u64) -> u64 {
        self.dataset.keys_in(rdb_bytes)
    }

    /// The load rate `L` with the per-key cost and `key-load-delay` folded in:
    /// `S / (S/L + keys · (per-key cost + delay))`.
    fn load_rate(&self, rdb_bytes: u64) -> u64 {
        let base = self.perf.rdb_load_rate.bytes_per_sec().max(1) as f64;
        let keys = self.keys_in(rdb_bytes) as f64;
        let delay = &self.cfg.key_load_delay;
        let per_key_ns = self.perf.rdb_load_per_key.as_nanos() as f64
            + delay.mean_ns_per_key()
            + if delay.0 != 0 {
                self.perf.key_delay_overhead.as_nanos() as f64
            } else {
                0.0
            };
        let secs = rdb_bytes as f64 / base + keys * per_key_ns / 1e9;
        if secs <= 0.0 {
            return base as u64;
        }
        ((rdb_bytes as f64 / secs).round() as u64).max(1)
    }

    /// The main channel's read rate during a blocking load (§4.6).
    fn blocked_read_rate(&self, load_rate: u64) -> u64 {
        let interval = self
            .cfg
            .loading_process_events_interval_bytes
            .bytes()
            .max(1) as f64;
        (READS_PER_EVENTS_CALL * IOBUF_BYTES * load_rate as f64 / interval).round() as u64
    }

    /// A read watch fired: the RDB is all here, or the local buffer is full.
    fn on_read_watch(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        if self.is_rdb(conn)
            && let Some(rdb) = self.replica.rdb.clone()
            && rdb.receiving()
        {
            let read = transport::level(ctx, conn, DOWN, Quantity::Read);
            if read >= rdb.read_base + rdb.rdb_bytes {
                self.rdb_arrived(ctx);
                return;
            }
        }
        if self.is_main(conn)
            && let Some(MainPhase::Buffering { read_base }) = self.main_phase()
        {
            self.local_buffer_full(ctx, conn, read_base);
        }
    }

    fn rdb_arrived(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.as_mut() else {
            return;
        };
        let conn = rdb.conn;
        let now = ctx.now();
        let node = self.node;
        ctx.env()
            .journal
            .push(now, Event::RdbTransferred { replica: node });
        transport::read_mode(ctx, conn, DOWN, ReadMode::Stopped);
        let Some(rdb) = self.replica.rdb.as_mut() else {
            return;
        };
        rdb.arrived = true;
        if rdb.parse_from_socket {
            // Download and load were one blocking phase: the load is done.
            rdb.phase = RdbPhase::Loading;
            let attempt = self.replica.attempt;
            ctx.schedule(Msg::Timer(Timer::LoadDone(attempt)), SimDuration::ZERO);
            return;
        }
        rdb.phase = RdbPhase::Noticing;
        if self.perf.download_polled {
            let text = "Replica bio thread: Done downloading RDB";
            self.log(ctx, Level::Notice, text.to_string());
            return; // noticed at the next replication cron
        }
        let max = self.perf.download_end_detect_max.as_nanos();
        let min = self.perf.download_end_detect_min.as_nanos().min(max);
        let gap = if max == 0 {
            0
        } else {
            ctx.rng().random_range(min..=max)
        };
        let attempt = self.replica.attempt;
        ctx.schedule(
            Msg::Timer(Timer::DownloadNoticed(attempt)),
            SimDuration::from_nanos(gap),
        );
    }

    /// Flushing, then the blocking load of the downloaded file.
    fn load_file(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.clone() else {
            return;
        };
        self.begin_blocking_load(ctx);
        let took = time_for(rdb.rdb_bytes, self.load_rate(rdb.rdb_bytes));
        let attempt = self.replica.attempt;
        ctx.schedule(Msg::Timer(Timer::LoadDone(attempt)), took);
    }

    /// Enter a blocking load: the cached primary is discarded, the main channel (dual) is read
    /// only at the blocked cadence, keepalive newlines go out.
    fn begin_blocking_load(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.as_mut() else {
            return;
        };
        rdb.phase = RdbPhase::Loading;
        rdb.load_started = Some(ctx.now());
        let rdb_bytes = rdb.rdb_bytes;
        self.replica.loading = true;
        self.replica.cached = None;
        self.chain_attach_new_primary(ctx);
        // replicationAttachToNewPrimary discarded the cached primary and the data goes: a load
        // that does not finish leaves nothing to resume, so the next sync is a full one
        // (`PSYNC ? -1`), not a PSYNC of the flushed dataset's old id and offset.
        self.replica.replid = None;
        super::invariants::replica_dataset(ctx, self.node, None);
        self.log(
            ctx,
            Level::Notice,
            "PRIMARY <-> REPLICA sync: Flushing old data".to_string(),
        );
        self.log(
            ctx,
            Level::Notice,
            "PRIMARY <-> REPLICA sync: Loading DB in memory".to_string(),
        );
        let load_rate = self.load_rate(rdb_bytes);
        if let Some(main) = self.replica.main.clone()
            && matches!(main.phase, MainPhase::Buffering { .. })
            && !main.dead
        {
            let c = self.blocked_read_rate(load_rate);
            transport::read_mode(ctx, main.conn, DOWN, ReadMode::Rate(Rate::new(c)));
        }
        self.schedule_keepalive(ctx, load_rate);
    }

    /// `replicationSendNewlineToPrimary`: at most once a second, once per events interval.
    fn schedule_keepalive(&mut self, ctx: C<'_, '_>, load_rate: u64) {
        let interval =
            self.cfg.loading_process_events_interval_bytes.bytes() as f64 / load_rate.max(1) as f64;
        let every = SimDuration::from_secs_f64(interval.max(1.0)).unwrap_or(SimDuration::MAX);
        let attempt = self.replica.attempt;
        ctx.schedule(Msg::Timer(Timer::LoadKeepalive(attempt)), every);
    }

    fn load_done(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.clone() else {
            return;
        };
        let now = ctx.now();
        self.replica.loading = false;
        let keys = self.keys_in(rdb.rdb_bytes);
        self.keys = keys as f64;
        self.log(
            ctx,
            Level::Notice,
            format!("Done loading RDB, keys loaded: {keys}, keys expired: 0."),
        );
        let node = self.node;
        ctx.env()
            .journal
            .push(now, Event::LoadDone { replica: node });
        self.replica.replid = Some(rdb.replid);
        self.replica.offset = rdb.offset;
        super::invariants::replica_dataset(ctx, node, Some(rdb.offset));
        self.chain_full_synced(ctx, rdb.replid, rdb.offset);
        if !rdb.dual {
            self.log(
                ctx,
                Level::Notice,
                "PRIMARY <-> REPLICA sync: Finished with success".to_string(),
            );
            self.replica.rdb = None;
            self.start_streaming(ctx, rdb.offset);
            return;
        }
        match self.main_phase() {
            Some(MainPhase::Buffering { read_base } | MainPhase::BufferFull { read_base }) => {
                self.apply_local_buffer(ctx, read_base);
            }
            Some(_) => {
                // §4.7 step 1: loaded before the main channel's PSYNC; wait for it.
                if let Some(r) = self.replica.rdb.as_mut() {
                    r.phase = RdbPhase::Loaded;
                }
                self.log(
                    ctx,
                    Level::Notice,
                    "PRIMARY <-> REPLICA sync: Finished with success".to_string(),
                );
                let conn = rdb.conn;
                transport::reset(ctx, conn, Side::Initiator);
            }
            None => {}
        }
    }

    // ------------------------------------------------------------------ dual channel (§4)

    fn dual_psync_accepted(&mut self, ctx: C<'_, '_>) {
        let Some(main) = self.replica.main.clone() else {
            return;
        };
        let loaded = self
            .replica
            .rdb
            .as_ref()
            .is_some_and(|r| r.phase == RdbPhase::Loaded);
        let read_base = transport::level(ctx, main.conn, DOWN, Quantity::Read);
        self.set_main_phase(MainPhase::Buffering { read_base });
        if loaded {
            self.log(
                ctx,
                Level::Debug,
                "Dual channel sync - psync established after rdb load".to_string(),
            );
            self.apply_local_buffer(ctx, read_base);
            return;
        }
        let text = "Dual channel replication: PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization, RDB load in background.";
        self.log(ctx, Level::Notice, text.to_string());
        let mode = match self.replica.rdb.as_ref() {
            Some(r) if r.phase == RdbPhase::Loading => ReadMode::Rate(Rate::new(
                self.blocked_read_rate(self.load_rate(r.rdb_bytes)),
            )),
            _ => ReadMode::Unlimited,
        };
        transport::read_mode(ctx, main.conn, DOWN, mode);
        let cap = self.release.replica_buffer_cap(&self.cfg);
        if cap > 0 {
            let w = transport::watch(
                ctx,
                main.conn,
                DOWN,
                Quantity::Read,
                Threshold::AtLeast(read_base + cap + 1),
            );
            if let Some(m) = self.replica.main.as_mut() {
                m.buffer_watch = w;
            }
        }
    }

    /// "Replication buffer limit reached": stop reading the main channel until the RDB is loaded.
    fn local_buffer_full(&mut self, ctx: C<'_, '_>, conn: ConnId, read_base: u64) {
        let now = ctx.now();
        let bytes = transport::level(ctx, conn, DOWN, Quantity::Read) - read_base;
        transport::read_mode(ctx, conn, DOWN, ReadMode::Stopped);
        self.set_main_phase(MainPhase::BufferFull { read_base });
        let text = format!(
            "Dual channel replication: Replication buffer limit reached ({bytes} bytes), stopping buffering. Further accumulation will occur on primary side."
        );
        self.log(ctx, Level::Warning, text);
        let node = self.node;
        ctx.env()
            .journal
            .push(now, Event::ReplicaBufferFull { replica: node });
    }

    /// §4.7 step 2: apply the local buffer synchronously (no reads meanwhile).
    fn apply_local_buffer(&mut self, ctx: C<'_, '_>, read_base: u64) {
        let Some(main) = self.replica.main.clone() else {
            return;
        };
        let apply_rate = self.perf.apply_rate.bytes_per_sec();
        // Valkey reads nothing while it applies; Redis 8 keeps reading, at most half of what it
        // applies (simplification: the apply is timed as if the reads ran at that cap, the
        // longest it can take, and ends with everything read so far applied).
        let share = self.release.reads_while_applying();
        let mode = match share {
            Some(f) => ReadMode::Rate(Rate::new(((apply_rate as f64 * f) as u64).max(1))),
            None => ReadMode::Stopped,
        };
        transport::read_mode(ctx, main.conn, DOWN, mode);
        let bytes =
            transport::level(ctx, main.conn, DOWN, Quantity::Read).saturating_sub(read_base);
        self.set_main_phase(MainPhase::BufferFull { read_base });
        if let Some(r) = self.replica.rdb.as_mut() {
            r.phase = RdbPhase::Applying;
            r.applying = bytes;
        }
        let drain_rate = (apply_rate as f64 * (1.0 - share.unwrap_or(0.0))) as u64;
        let took = time_for(bytes, drain_rate.max(1));
        let attempt = self.replica.attempt;
        ctx.schedule(Msg::Timer(Timer::ApplyDone(attempt)), took);
    }

    fn apply_done(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.take() else {
            return;
        };
        self.log(
            ctx,
            Level::Notice,
            "Dual channel replication: Successfully streamed replication data into memory"
                .to_string(),
        );
        self.log(
            ctx,
            Level::Notice,
            "PRIMARY <-> REPLICA sync: Finished with success".to_string(),
        );
        transport::reset(ctx, rdb.conn, Side::Initiator);
        let mut applied = rdb.applying;
        if self.release.reads_while_applying().is_some()
            && let Some(main) = self.replica.main.as_ref()
            && let MainPhase::BufferFull { read_base } = &main.phase
        {
            let conn = main.conn;
            let read_base = *read_base;
            applied = transport::level(ctx, conn, DOWN, Quantity::Read).saturating_sub(read_base);
        }
        let offset = rdb.offset + applied;
        self.replica.offset = offset;
        self.start_streaming(ctx, offset);
    }

    /// "Aborting dual channel sync": close both channels, reconnect.
    fn abort_dual(&mut self, ctx: C<'_, '_>) {
        self.log(
            ctx,
            Level::Notice,
            "Dual channel replication: Aborting dual channel sync".to_string(),
        );
        self.fail_and_reconnect(ctx);
    }

    // ------------------------------------------------------------------ failures

    fn on_conn_closed(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        if self.is_main(conn) {
            self.on_main_closed(ctx, conn);
        } else if self.is_rdb(conn) {
            let phase = self.replica.rdb.as_ref().map(|r| r.phase);
            let receiving = self.replica.rdb.as_ref().is_some_and(RdbSync::receiving);
            if receiving || matches!(phase, Some(RdbPhase::Handshake | RdbPhase::WaitEndOff)) {
                self.log(
                    ctx,
                    Level::Warning,
                    "I/O error trying to sync with PRIMARY: connection lost".to_string(),
                );
                self.abort_dual(ctx);
            }
        }
    }

    /// The main channel was reset or reached end-of-file. It is noticed at once while the
    /// replica reads it, at the next events point during a blocking load, and after the load
    /// (and the apply) when it is not read at all.
    fn on_main_closed(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        let parsing_it = self
            .replica
            .rdb
            .as_ref()
            .is_some_and(|r| r.conn == conn && r.parse_from_socket && r.receiving());
        let reading = match self.main_phase() {
            Some(MainPhase::BufferFull { .. }) => false,
            // Classic: the RDB's own connection, read by the download (or by the socket parse
            // of a diskless load); a disk load reads nothing.
            Some(MainPhase::Transfer) => !self.replica.loading || parsing_it,
            _ => true,
        };
        if let Some(m) = self.replica.main.as_mut() {
            m.dead = true;
        }
        if !reading {
            return;
        }
        if self.replica.loading && !parsing_it {
            self.schedule_events_while_blocked(ctx);
            return;
        }
        self.main_closed_noticed(ctx);
    }

    /// The replica notices that the primary closed its main channel.
    ///
    /// Simplification: noticed during a dual-channel disk load, Valkey 9.1.2 aborts the sync
    /// and its load and then *exits* ("Short read or OOM loading DB. Unrecoverable error,
    /// aborting now.", seen on a real 9.1.2 with a 20 MB RDB); the model aborts and reconnects
    /// (valkey-model.md §4.6, §4.8) and does not model the process exit.
    fn main_closed_noticed(&mut self, ctx: C<'_, '_>) {
        match self.main_phase() {
            Some(MainPhase::Buffering { .. }) => {
                self.log(
                    ctx,
                    Level::Warning,
                    "Dual channel replication: Provisional primary closed connection".to_string(),
                );
                self.abort_dual(ctx);
            }
            Some(MainPhase::Transfer) if self.bio_download() => {
                for text in [
                    "Replica bio thread: I/O error trying to sync with PRIMARY: connection lost",
                    "Replica bio thread: Error downloading RDB",
                ] {
                    self.log(ctx, Level::Warning, text.to_string());
                }
                self.replica.download_failed = true;
            }
            Some(MainPhase::Transfer) => {
                self.log(
                    ctx,
                    Level::Warning,
                    "I/O error trying to sync with PRIMARY: connection lost".to_string(),
                );
                self.fail_and_reconnect(ctx);
            }
            Some(MainPhase::Streaming { .. }) => self.connection_lost(ctx),
            _ => {
                self.log(
                    ctx,
                    Level::Warning,
                    "Error condition on socket for SYNC: Connection reset by peer".to_string(),
                );
                self.fail_and_reconnect(ctx);
            }
        }
    }

    /// RDB bytes the blocking load has processed: what the parser read from the socket, or
    /// `L · (now − load start)` for a file.
    fn rdb_bytes_loaded(&self, ctx: C<'_, '_>, rdb: &RdbSync) -> u64 {
        if rdb.parse_from_socket {
            return transport::level(ctx, rdb.conn, DOWN, Quantity::Read)
                .saturating_sub(rdb.read_base)
                .min(rdb.rdb_bytes);
        }
        let Some(start) = rdb.load_started else {
            return 0;
        };
        let secs = ctx.now().saturating_since(start).as_secs_f64();
        let loaded = secs * self.load_rate(rdb.rdb_bytes) as f64;
        (loaded.round() as u64).min(rdb.rdb_bytes)
    }

    /// `rdbLoadProgressCallback` runs `processEventsWhileBlocked` each time the loaded bytes cross
    /// a multiple of `loading-process-events-interval-bytes`: wake up at the next crossing, if
    /// it comes before the end of the load.
    fn schedule_events_while_blocked(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.clone() else {
            return;
        };
        let interval = self.cfg.loading_process_events_interval_bytes.bytes();
        if interval == 0 {
            return; // never processes events while loading
        }
        let loaded = self.rdb_bytes_loaded(ctx, &rdb);
        let boundary = rdb
            .events_point
            .filter(|&b| b > loaded)
            .unwrap_or((loaded / interval + 1) * interval);
        if boundary >= rdb.rdb_bytes {
            return; // the load ends first: noticed after it
        }
        if let Some(r) = self.replica.rdb.as_mut() {
            r.events_point = Some(boundary);
        }
        let wait = time_for(boundary - loaded, self.load_rate(rdb.rdb_bytes))
            .max(SimDuration::from_nanos(1));
        let attempt = self.replica.attempt;
        ctx.schedule(Msg::Timer(Timer::EventsWhileBlocked(attempt)), wait);
    }

    /// A `processEventsWhileBlocked` during the load: a closed main channel is noticed now (a
    /// socket parse that fell behind its load rate waits for its next boundary).
    fn events_while_blocked(&mut self, ctx: C<'_, '_>) {
        let Some(rdb) = self.replica.rdb.clone() else {
            return;
        };
        let Some(boundary) = rdb.events_point else {
            return;
        };
        if rdb.parse_from_socket && self.rdb_bytes_loaded(ctx, &rdb) < boundary {
            self.schedule_events_while_blocked(ctx);
            return;
        }
        if let Some(r) = self.replica.rdb.as_mut() {
            r.events_point = None;
        }
        if self.replica.main.as_ref().is_some_and(|m| m.dead) {
            self.main_closed_noticed(ctx);
        }
    }

    /// A streaming link went down: cache the primary and reconnect.
    fn connection_lost(&mut self, ctx: C<'_, '_>) {
        let offset = self.current_offset(ctx);
        self.replica.offset = offset;
        self.log(
            ctx,
            Level::Notice,
            "Connection with primary lost.".to_string(),
        );
        self.log(
            ctx,
            Level::Notice,
            "Caching the disconnected primary state.".to_string(),
        );
        self.drop_and_reconnect(ctx, Reconnect::AfterLinkLoss);
    }

    /// The offset the dataset reflects now.
    pub(crate) fn current_offset(&self, ctx: C<'_, '_>) -> u64 {
        match (self.replica.main.as_ref(), self.main_phase()) {
            (
                Some(m),
                Some(MainPhase::Streaming {
                    read_base,
                    base_offset,
                }),
            ) => {
                base_offset
                    + transport::level(ctx, m.conn, DOWN, Quantity::Read).saturating_sub(read_base)
            }
            _ => self.replica.offset,
        }
    }

    /// What this replica has applied now (`slave_repl_offset`).
    pub(crate) fn replica_applied_offset(&self, ctx: C<'_, '_>) -> u64 {
        self.current_offset(ctx)
    }

    /// The link with the primary is up and streaming (`REPL_STATE_CONNECTED`).
    pub(crate) fn replica_link_streaming(&self) -> bool {
        matches!(self.main_phase(), Some(MainPhase::Streaming { .. }))
    }

    fn stream_bytes_read(&self, ctx: C<'_, '_>) -> u64 {
        match (self.replica.main.as_ref(), self.main_phase()) {
            (Some(m), Some(MainPhase::Streaming { read_base, .. })) => {
                transport::level(ctx, m.conn, DOWN, Quantity::Read).saturating_sub(read_base)
            }
            _ => 0,
        }
    }

    // ------------------------------------------------------------------ timers, crons, control

    pub(crate) fn replica_on_timer(&mut self, t: Timer, ctx: C<'_, '_>) {
        let current = self.replica.attempt;
        match t {
            Timer::DownloadNoticed(a) if a == current => self.load_file(ctx),
            Timer::LoadDone(a) if a == current => self.load_done(ctx),
            Timer::ApplyDone(a) if a == current => self.apply_done(ctx),
            Timer::LoadKeepalive(a) if a == current && self.replica.loading => {
                if let Some(rdb) = self.replica.rdb.clone() {
                    transport::send(ctx, rdb.conn, Side::Initiator, Proto::Newline);
                    self.schedule_keepalive(ctx, self.load_rate(rdb.rdb_bytes));
                }
            }
            Timer::Reconnect if self.replica.main.is_none() => {
                self.connect_to_primary(ctx, Reconnect::AfterFailure)
            }
            Timer::EventsWhileBlocked(a) if a == current && self.replica.loading => {
                self.events_while_blocked(ctx)
            }
            Timer::HandshakeDone(a) if a == self.replica.attempt => self.send_handshake(ctx),
            _ => {}
        }
    }

    /// `replicationCron` on the replica: ACK once a second while streaming; the transfer and
    /// streaming timeouts.
    pub(crate) fn replica_repl_cron(&mut self, ctx: C<'_, '_>) {
        if std::mem::take(&mut self.replica.download_failed) {
            self.log(
                ctx,
                Level::Warning,
                "Replica main thread detected RDB download failure in Bio thread".to_string(),
            );
            self.fail_and_reconnect(ctx);
            return;
        }
        if self.perf.download_polled
            && let Some(rdb) = self.replica.rdb.as_ref()
            && rdb.arrived
            && rdb.phase == RdbPhase::Noticing
        {
            for text in [
                "Replica main thread detected RDB download completion in Bio thread",
                "Loading the RDB and finalizing primary-replica sync...",
            ] {
                self.log(ctx, Level::Notice, text.to_string());
            }
            let attempt = self.replica.attempt;
            ctx.schedule(
                Msg::Timer(Timer::DownloadNoticed(attempt)),
                SimDuration::ZERO,
            );
        }
        let Some(main) = self.replica.main.clone() else {
            return;
        };
        let now = ctx.now();
        let read = transport::level(ctx, main.conn, DOWN, Quantity::Read);
        if read != self.replica.last_seen_read {
            self.replica.last_seen_read = read;
            self.replica.last_io = now;
        }
        let timeout = self.cfg.repl_timeout;
        let idle = now.saturating_since(self.replica.last_io);
        match main.phase {
            MainPhase::Streaming { .. } => {
                let offset = self.current_offset(ctx);
                transport::send(ctx, main.conn, Side::Initiator, Proto::Ack(offset));
                if idle > timeout {
                    self.log(
                        ctx,
                        Level::Warning,
                        "PRIMARY timeout: no data nor PING received...".to_string(),
                    );
                    let node = self.node;
                    ctx.env()
                        .journal
                        .push(now, Event::Timeout { replica: node });
                    self.connection_lost(ctx);
                }
            }
            MainPhase::Handshake | MainPhase::PsyncSent if idle > timeout => {
                self.log(
                    ctx,
                    Level::Warning,
                    "Timeout connecting to the PRIMARY...".to_string(),
                );
                let node = self.node;
                ctx.env()
                    .journal
                    .push(now, Event::Timeout { replica: node });
                self.fail_and_reconnect(ctx);
            }
            MainPhase::Transfer if idle > timeout && !self.replica.loading => {
                let text = "Timeout receiving bulk data from PRIMARY... If the problem persists try to set the 'repl-timeout' parameter in valkey.conf to a larger value.";
                self.log(ctx, Level::Warning, text.to_string());
                let node = self.node;
                ctx.env()
                    .journal
                    .push(now, Event::Timeout { replica: node });
                self.fail_and_reconnect(ctx);
            }
            _ => {}
        }
    }

    pub(crate) fn replica_pause(&mut self, ctx: C<'_, '_>) {
        for conn in self.replica_conns() {
            transport::read_mode(ctx, conn, DOWN, ReadMode::Stopped);
        }
    }

    pub(crate) fn replica_resume(&mut self, ctx: C<'_, '_>) {
        self.replica.last_io = self.replica.last_io.min(ctx.now());
        if std::mem::take(&mut self.replica.psync_on_resume) {
            self.send_dual_psync(ctx);
        }
        if let Some(rdb) = self.replica.rdb.clone()
            && rdb.receiving()
        {
            let mode = if rdb.parse_from_socket {
                ReadMode::Rate(Rate::new(self.load_rate(rdb.rdb_bytes)))
            } else {
                ReadMode::Rate(self.perf.disk_write_rate)
            };
            transport::read_mode(ctx, rdb.conn, DOWN, mode);
        }
        if let Some(main) = self.replica.main.clone() {
            let mode = match main.phase {
                MainPhase::Streaming { .. } => Some(ReadMode::Unlimited),
                MainPhase::Buffering { .. } if self.replica.loading => {
                    self.replica.rdb.as_ref().map(|r| {
                        ReadMode::Rate(Rate::new(
                            self.blocked_read_rate(self.load_rate(r.rdb_bytes)),
                        ))
                    })
                }
                MainPhase::Buffering { .. } => Some(ReadMode::Unlimited),
                _ => None,
            };
            if let Some(mode) = mode {
                transport::read_mode(ctx, main.conn, DOWN, mode);
            }
        }
    }

    fn replica_conns(&self) -> Vec<ConnId> {
        let mut conns = Vec::new();
        if let Some(m) = &self.replica.main {
            conns.push(m.conn);
        }
        if let Some(r) = &self.replica.rdb
            && r.dual
        {
            conns.push(r.conn);
        }
        conns
    }

    /// `CLIENT KILL TYPE MASTER`: a streaming link is a primary client, whose end is a lost
    /// connection (the primary is cached at the applied offset, `replicationCachePrimary`).
    /// Before that there is no primary client to kill: Valkey creates it only once the RDB is
    /// loaded (`replicationCreatePrimaryClient`; for dual channel
    /// `replicationResurrectProvisionalPrimary`) or on `+CONTINUE`, so a handshake or a sync
    /// in progress goes on (seen on Valkey 9.1.2: the command killed nothing and the transfer
    /// went on, shaped validation case 17's first version).
    pub(crate) fn replica_kill_link(&mut self, ctx: C<'_, '_>) {
        if matches!(self.main_phase(), Some(MainPhase::Streaming { .. })) {
            self.connection_lost(ctx);
        }
    }

    pub(crate) fn replica_info(&mut self, ctx: C<'_, '_>, s: &mut InfoSample) {
        if self.replica.primary_node.is_none() {
            return;
        }
        s.master_link_up = matches!(self.main_phase(), Some(MainPhase::Streaming { .. }));
        // `replicaIsInHandshakeState`: from the first handshake reply to the PSYNC reply; a
        // dual-channel main channel stays there while the RDB channel works.
        s.master_handshake = matches!(
            self.main_phase(),
            Some(
                MainPhase::Handshake
                    | MainPhase::PsyncSent
                    | MainPhase::WaitEndOff
                    | MainPhase::SetCidSent
                    | MainPhase::DualPsyncSent
            )
        );
        s.master_sync_in_progress = self.replica.rdb.is_some();
        s.loading = self.replica.loading;
        s.slave_repl_offset = self.current_offset(ctx);
        let world = ctx.env();
        s.resume_offset = world.resume_offsets.get(&world.net, self.node).unwrap_or(0);
        s.stream_bytes_read = self.replica.stream_read_before + self.stream_bytes_read(ctx);
        if let (
            Some(m),
            Some(MainPhase::Buffering { read_base } | MainPhase::BufferFull { read_base }),
        ) = (self.replica.main.as_ref(), self.main_phase())
        {
            s.replicas_repl_buffer_size =
                transport::level(ctx, m.conn, DOWN, Quantity::Read).saturating_sub(read_base);
        }
        if let Some(r) = self.replica.rdb.as_ref() {
            s.rdb_bytes_read =
                transport::level(ctx, r.conn, DOWN, Quantity::Read).saturating_sub(r.read_base);
        }
    }
}
