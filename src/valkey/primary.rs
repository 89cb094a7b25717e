//! The primary half of a server (valkey-model.md §2–§4 primary side): PSYNC acceptance, full
//! syncs and the fork, the shared replication buffer, COB limits, the dual-channel RDB client
//! pin and its grace period, streaming, timeouts.
//!
//! **How limits are checked without polling bytes.** Valkey checks a replica's output-buffer
//! limits when a new buffer block is allocated and in `clientsCron`. Here the check points are
//! predicted: for a client whose reference does not move (not writing: waiting for the fork's
//! end, for its first ACK, or a pinned RDB client) the block at which its usage reaches a limit
//! is known, and so is the time the stream reaches that block (a timer). For a client that is
//! writing, the lag between the primary offset and what its socket accepted is watched on the
//! network (a threshold watch on the connection's application queue), which fires when the lag
//! implies the limit in whole blocks. `clientsCron` runs as in Valkey at `hz` and re-checks.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{SimDuration, SimTime, TimerId};
use crate::net::{
    ChangeListId, ConnId, MarkId, Network, Notification, Production, Quantity, ReadMode, Side,
    Threshold, WatchId,
};
use crate::units::Rate;

use super::info::InfoSample;
use super::journal::{ClientKind, Event, Limit};
use super::log::{Level, Role};
use super::proto::{Proto, ReplId};
use super::rdb_pipe::Pace;
use super::release::ReplicaOutput;
use super::repl_buffer::{BLOCK_OVERHEAD_BYTES, ConsumerId, ReplBuffer, block_payload};
use super::server::{C, Server};
use super::throttle::Throttle;
use super::transport::{self, DOWN, UP};
use super::world::{Msg, Timer};

/// The replication stream as a fluid: `offset(t) = o0 + rate·(t − t0)`, re-anchored whenever the
/// rate changes, so the offset never drifts. The fraction of a byte at the anchor is kept
/// (`frac`, in 10⁻⁹ bytes), as the network keeps it for the bytes on the wire: dropping it at
/// each re-anchor made the sockets run ahead of the offset by up to a byte per rate change, and
/// a replica read bytes its primary's offset did not have yet (`replica-offset-bound`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamClock {
    t0: SimTime,
    o0: u64,
    frac: u64,
    rate: u64,
}

impl StreamClock {
    fn nanobytes_at(&self, t: SimTime) -> u128 {
        let dt = u128::from(t.saturating_since(self.t0).as_nanos());
        u128::from(self.rate) * dt + u128::from(self.frac)
    }

    pub(crate) fn offset_at(&self, t: SimTime) -> u64 {
        self.o0 + (self.nanobytes_at(t) / 1_000_000_000) as u64
    }

    /// The fraction of a byte (10⁻⁹ bytes) the stream has made beyond `offset_at(t)`: a socket
    /// producer that carries it rounds where the clock does.
    pub(crate) fn carry_at(&self, t: SimTime) -> u64 {
        (self.nanobytes_at(t) % 1_000_000_000) as u64
    }

    /// The first instant the offset reaches `target`, if it ever does at this rate.
    fn time_to_reach(&self, now: SimTime, target: u64) -> Option<SimTime> {
        if self.offset_at(now) >= target {
            return Some(now);
        }
        if self.rate == 0 {
            return None;
        }
        let need =
            (u128::from(target - self.o0) * 1_000_000_000).saturating_sub(u128::from(self.frac));
        let ns = need.div_ceil(u128::from(self.rate));
        let ns = u64::try_from(ns).ok()?;
        Some(self.t0.saturating_add(SimDuration::from_nanos(ns)).max(now))
    }

    /// Restarts the clock at `offset` now, at `rate` (a relayed stream, a promotion).
    pub(crate) fn set(&mut self, now: SimTime, offset: u64, rate: u64) {
        self.t0 = now;
        self.o0 = offset;
        self.rate = rate;
    }

    fn reanchor(&mut self, now: SimTime, rate: u64) {
        let total = self.nanobytes_at(now);
        self.o0 += (total / 1_000_000_000) as u64;
        self.frac = (total % 1_000_000_000) as u64;
        self.t0 = now.max(self.t0);
        self.rate = rate;
    }
}

/// Where a replica client is (Valkey's `repl_state` for replica clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// Connected, handshaking; not a replica yet.
    Handshake,
    /// `WAIT_BGSAVE_START`: nothing is buffered for it yet.
    WaitBgsaveStart,
    /// `WAIT_BGSAVE_END`: the fork happened; everything written since accumulates.
    WaitBgsaveEnd,
    /// `SEND_BULK`: a disk-based RDB is being sent.
    SendBulk,
    /// `ONLINE`; `streaming` is false while waiting for the first ACK (diskless).
    Online { streaming: bool },
    /// `BG_RDB_LOAD`: a dual-channel main channel streaming while its replica loads.
    BgRdbLoad,
    /// The RDB of an `rdb-only` client went out; it is to be freed.
    RdbTransmitted,
}

/// Output-buffer limit bookkeeping of one client.
#[derive(Clone, Debug, Default)]
pub(crate) struct LimitState {
    epoch: u64,
    /// `obuf_soft_limit_reached_time` in whole seconds.
    soft_since: Option<u64>,
    watches: Vec<WatchId>,
    /// The pending check-point timer of the current arming (cancelled on re-arming, so that
    /// every rate change does not leave one more stale timer in the queue).
    cob_timer: Option<TimerId>,
    /// The thresholds `watches` were armed with (a re-arming with the same ones keeps them).
    armed: Option<Vec<Threshold>>,
    /// Checks at the same instant, to stop a watch that keeps firing from spinning.
    same_instant: (SimTime, u32),
}

/// Where a writing client started writing: the offset of the first stream byte handed to its
/// socket and the connection's `Written` counter at that moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamStart {
    first_offset: u64,
    written_base: u64,
}

/// A replica-side client of this primary (classic replica, RDB channel or main channel).
#[derive(Clone, Debug)]
pub(crate) struct ReplClient {
    pub(crate) id: u64,
    pub(crate) replica: usize,
    pub(crate) conn: ConnId,
    pub(crate) state: ClientState,
    pub(crate) dual_capa: bool,
    pub(crate) rdb_only: bool,
    assoc_rdb: Option<u64>,
    pub(crate) protected: bool,
    is_main_channel: bool,
    stream: Option<StreamStart>,
    limits: LimitState,
    last_interaction: SimTime,
    /// `repl_ack_time`: refreshed by ACKs, bare newlines and going online.
    ack_time: SimTime,
    /// A protected RDB client whose free waits for the grace period.
    free_pending: bool,
    /// A protected RDB client pinned while the backlog had no block to track: it is attached
    /// to the first block fed ("Attach replica rdb client").
    attach_pending: bool,
    /// The socket's accepted-bytes counter at the last `replicationCron` and since when it has
    /// not moved: Valkey's `repl_last_partial_write` is cleared whenever a pending write
    /// completes, so a transfer times out only when it makes no progress at all.
    progress: (u64, SimTime),
    created: SimTime,
    /// The epoch of the primary's mark at which this client's buffer reference was exact (set
    /// explicitly, or read from its socket as of the mark): a writing client's reference
    /// follows its socket lazily (see `Server::advance`).
    ref_epoch: u64,
    /// Valkey 9.2: the compression negotiated for this connection (wire millionths per byte).
    wire_ppm: Option<u32>,
}

impl ReplClient {
    /// Writing the stream to its socket.
    pub(crate) fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    fn kind(&self) -> ClientKind {
        if self.rdb_only {
            ClientKind::RdbChannel
        } else if self.is_main_channel {
            ClientKind::MainChannel
        } else {
            ClientKind::Replica
        }
    }
}

/// How `freeClient` ends a replica-side client's socket.
///
/// Valkey always calls `close()`. What the replica then sees depends on the socket: a client
/// freed after its RDB went out (the RDB channel once the child exited) ends with a FIN behind
/// its last bytes, and the replica reads the payload to its end. A client dropped mid-stream
/// (output-buffer limit, timeout, `CLIENT KILL`) is modelled as a reset: on Valkey 9.1.2 the
/// bytes already in the kernel when the primary dropped a replica never reached it
/// (valkey-model.md §10.2), so the replica's resume offset lags by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SocketEnd {
    /// A FIN after the bytes already written.
    Close,
    /// A reset: what is in the socket buffers or in flight is lost.
    Reset,
}

/// The fork child serving replicas.
#[derive(Clone, Debug)]
pub(crate) struct Child {
    pub(crate) socket: bool,
    pub(crate) dual: bool,
    pub(crate) rdb_bytes: u64,
    /// Effective generation rate (bytes/s) with the per-key delays folded in.
    pub(crate) rate: u64,
    /// `psync_initial_offset` of its replicas: the primary offset at the fork.
    pub(crate) offset: u64,
    /// Target clients and each one's `Written` counter when production started.
    pub(crate) targets: Vec<(u64, u64)>,
    /// Target clients whose RDB was fully produced (a set: one lookup per production end, not a
    /// scan; with thousands of replicas the scans made the ends of one fork quadratic).
    pub(crate) produced: BTreeSet<u64>,
    /// The child exited (all written, or disk save done); noticed at the next `serverCron`.
    pub(crate) exited: bool,
    /// Socket targets: the RDB pipe's lockstep (see `rdb_pipe.rs`).
    pub(crate) pipe: Pace,
}

/// INFO `# Stats` counters of the primary half.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PrimaryStats {
    pub(crate) sync_full: u64,
    pub(crate) sync_partial_ok: u64,
    pub(crate) sync_partial_err: u64,
    pub(crate) cob_disconnections: u64,
    pub(crate) total_forks: u64,
}

/// The primary half's state.
#[derive(Debug)]
pub(crate) struct PrimaryState {
    pub(crate) replid: ReplId,
    /// `replid2` and `second_replid_offset`: the history this node shares with its former
    /// primary, valid for PSYNC up to that offset (set by `shiftReplicationId`, `chain.rs`).
    pub(crate) replid2: Option<(ReplId, u64)>,
    pub(crate) buffer: Option<ReplBuffer>,
    pub(crate) clock: StreamClock,
    /// `(client, stream bytes/s, new keys/s)` for every load client.
    rates: Vec<(u32, u64, f64)>,
    /// Replica-side clients in the order they connected: ids strictly increase along the list
    /// (a client is only ever appended with a fresh id, and removing one keeps the order), so a
    /// client is found by id with a binary search.
    pub(crate) clients: Vec<ReplClient>,
    /// Each client's connection → its id, so a notification finds its client without a scan of
    /// every replica (O(log replicas) per network event).
    by_conn: BTreeMap<ConnId, u64>,
    next_client_id: u64,
    pub(crate) child: Option<Child>,
    pub(crate) stats: PrimaryStats,
    pub(crate) replid_counter: u64,
    last_ping: Option<SimTime>,
    last_keys_update: SimTime,
    /// The typical command size of the load (for block sizing).
    pub(crate) typical_command_bytes: u64,
    /// Replica nodes in an episode of backlog exhaustion (see `check_backlog_exhaustion`): each
    /// episode is reported once.
    exhausted: BTreeSet<usize>,
    /// `repl_no_replicas_since`: when the last replica left (for `repl-backlog-ttl`).
    pub(crate) no_replicas_since: SimTime,
    /// The network mark set at each `advance` that has writing clients: their sockets keep
    /// their counters as of it (created on first use).
    mark: Option<MarkId>,
    /// The buffer offset at the mark's last setting (a reference never passes it + 1).
    mark_offset: u64,
    /// Clients with a stream (writing).
    streaming: usize,
    /// Writing clients whose reference was set explicitly since the mark was last set: at its
    /// next setting they follow their sockets again, maybe from below, so they are refreshed
    /// then (the ordered references must stay lower bounds).
    ref_pending: Vec<u64>,
    /// Some protected client may wait for its first block (`backfill_rdb_clients`).
    attach_pending_any: bool,
    /// Valkey 9.2 write throttling (`throttle.rs`).
    pub(crate) throttle: Throttle,
    /// The network change list the RDB pipe's target sockets report to (created on first use).
    pub(crate) pipe_changes: Option<ChangeListId>,
    /// Clients over their soft limit (`soft_since` set), by id: what `clientsCron` re-checks.
    over_soft: BTreeSet<u64>,
}

impl PrimaryState {
    pub(crate) fn new(seed: u64) -> Self {
        PrimaryState {
            replid: ReplId(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED),
            replid2: None,
            buffer: None,
            clock: StreamClock::default(),
            rates: Vec::new(),
            clients: Vec::new(),
            by_conn: BTreeMap::new(),
            next_client_id: 3,
            child: None,
            stats: PrimaryStats::default(),
            replid_counter: seed,
            last_ping: None,
            last_keys_update: SimTime::ZERO,
            typical_command_bytes: 100,
            exhausted: BTreeSet::new(),
            no_replicas_since: SimTime::ZERO,
            mark: None,
            mark_offset: 0,
            streaming: 0,
            ref_pending: Vec::new(),
            attach_pending_any: false,
            throttle: Throttle::default(),
            pipe_changes: None,
            over_soft: BTreeSet::new(),
        }
    }

    /// Whether a notification concerns a connection this half serves.
    pub(crate) fn owns_conn(&self, n: &Notification) -> bool {
        match *n {
            Notification::Message { dir, .. } => dir == UP,
            Notification::Watch { conn, dir, .. } => {
                dir == DOWN
                    && self.by_conn.contains_key(&conn)
                    && !matches!(
                        n,
                        Notification::Watch {
                            quantity: Quantity::Read,
                            ..
                        }
                    )
            }
            Notification::ProductionDone { conn, .. }
            | Notification::WriteBlocked { conn, .. }
            | Notification::Writable { conn, .. } => self.by_conn.contains_key(&conn),
            Notification::Reset { conn, .. } | Notification::Eof { conn, dir: UP, .. } => {
                self.by_conn.contains_key(&conn)
            }
            _ => false,
        }
    }

    fn stream_rate(&self) -> u64 {
        self.rates.iter().map(|&(_, r, _)| r).sum()
    }

    /// The stream clock's current rate (bytes/s).
    pub(crate) fn clock_rate(&self) -> u64 {
        self.clock.rate
    }

    pub(crate) fn client_index(&self, id: u64) -> Option<usize> {
        self.clients.binary_search_by_key(&id, |c| c.id).ok()
    }

    pub(crate) fn client_by_conn(&self, conn: ConnId) -> Option<usize> {
        self.client_index(*self.by_conn.get(&conn)?)
    }

    /// Appends a client (its id is the largest yet) and indexes its connection.
    fn add_client(&mut self, client: ReplClient) -> usize {
        debug_assert!(self.clients.last().is_none_or(|c| c.id < client.id));
        self.by_conn.insert(client.conn, client.id);
        self.clients.push(client);
        self.clients.len() - 1
    }

    /// Removes the client at `i`, keeping the others in order.
    fn remove_client(&mut self, i: usize) -> ReplClient {
        let c = self.clients.remove(i);
        self.over_soft.remove(&c.id);
        if c.stream.is_some() {
            self.streaming -= 1;
        }
        if self.by_conn.get(&c.conn) == Some(&c.id) {
            self.by_conn.remove(&c.conn);
        }
        c
    }

    /// `replicas_waiting_psync`.
    pub(crate) fn waiting_psync(&self) -> u64 {
        self.clients.iter().filter(|c| c.protected).count() as u64
    }
}

impl Server {
    // ------------------------------------------------------------------ the stream

    /// Brings the stream and the buffer to now: feeds what the load wrote since the last event
    /// and moves writing clients' references to what their sockets accepted.
    pub(crate) fn advance(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        self.throttle_settle(now);
        let dt = now
            .saturating_since(self.primary.last_keys_update)
            .as_secs_f64();
        let new_keys: f64 = self.primary.rates.iter().map(|&(_, _, k)| k).sum();
        if !self.paused && self.primary.buffer.is_some() {
            self.keys += new_keys * dt;
        }
        self.primary.last_keys_update = now;
        // A replica relays what it applies from its own primary (chain.rs).
        let relayed = self.chain_relay_target(ctx);
        let Some(buf) = self.primary.buffer.as_mut() else {
            return;
        };
        let target = relayed.unwrap_or_else(|| self.primary.clock.offset_at(now));
        if target > buf.offset() {
            let delta = target - buf.offset();
            let k = buf.backlog_bytes();
            self.settle_refs(ctx, delta, k);
            let Some(buf) = self.primary.buffer.as_mut() else {
                return;
            };
            buf.feed(delta);
            if relayed.is_some() {
                self.chain_relay_write(ctx, delta);
            }
        }
        if relayed.is_some() {
            self.primary.clock.set(now, target, 0);
        }
        self.backfill_rdb_clients(ctx);
        // Each writing client's reference follows what its socket accepted, its replica's
        // resume offset what the replica has read, both as of now. Copying every socket's
        // counters here made each primary event O(replicas): instead the network keeps the
        // writing sockets' counters as of this mark, and a reference is read from them only
        // when something needs it (a limit check, a trim it could stop, INFO).
        if self.primary.streaming > 0 {
            let mark = self.primary_mark(ctx);
            let now = ctx.now();
            let _ = ctx.env().net.set_mark(now, mark);
            transport::charge(ctx);
            self.primary.mark_offset = self.primary.buffer.as_ref().map_or(0, ReplBuffer::offset);
            for id in std::mem::take(&mut self.primary.ref_pending) {
                if let Some(i) = self.primary.client_index(id) {
                    self.refresh_ref(ctx, i);
                }
            }
        }
        self.check_backlog_exhaustion(ctx);
    }

    /// The primary's network mark (created on first use).
    fn primary_mark(&mut self, ctx: C<'_, '_>) -> MarkId {
        *self
            .primary
            .mark
            .get_or_insert_with(|| ctx.env().net.new_mark())
    }

    /// Client `i`'s reference as of the mark, if it follows its socket and the stored one is
    /// older than the mark's last setting (otherwise the stored reference is exact).
    fn followed_ref(&self, net: &Network, i: usize) -> Option<u64> {
        let c = &self.primary.clients[i];
        let start = c.stream?;
        let mark = self.primary.mark?;
        if net.mark_epoch(mark) <= c.ref_epoch {
            return None;
        }
        let s = net.at_mark(c.conn, DOWN)?;
        let accepted = s.accepted.saturating_sub(start.written_base);
        Some((start.first_offset + accepted).min(self.primary.mark_offset + 1))
    }

    /// Client `i`'s exact reference (read-only: for the invariant checker).
    pub(crate) fn exact_ref(&self, net: &Network, i: usize) -> Option<u64> {
        let buf = self.primary.buffer.as_ref()?;
        match self.followed_ref(net, i) {
            Some(r) => Some(r.max(buf.base_offset() + 1)),
            None => buf.ref_offset(self.primary.clients[i].id),
        }
    }

    /// Makes every client's stored reference exact (before reading all of them).
    pub(crate) fn refresh_all_refs(&mut self, ctx: C<'_, '_>) {
        for i in 0..self.primary.clients.len() {
            self.refresh_ref(ctx, i);
        }
    }

    /// Makes client `i`'s stored reference exact.
    fn refresh_ref(&mut self, ctx: C<'_, '_>, i: usize) {
        let net = &ctx.env().net;
        let Some(r) = self.followed_ref(net, i) else {
            return;
        };
        let epoch = self.primary.mark.map_or(0, |m| net.mark_epoch(m));
        let id = self.primary.clients[i].id;
        if let Some(buf) = self.primary.buffer.as_mut() {
            buf.set_ref(id, r);
        }
        self.primary.clients[i].ref_epoch = epoch;
    }

    /// Sets a client's reference explicitly (it holds until the mark is next set; a writing
    /// client then follows its socket again).
    pub(crate) fn set_client_ref(&mut self, ctx: C<'_, '_>, id: u64, next_offset: u64) {
        let Some(buf) = self.primary.buffer.as_mut() else {
            return;
        };
        buf.set_ref(id, next_offset);
        let epoch = self.primary.mark.map_or(0, |m| ctx.env().net.mark_epoch(m));
        if let Some(i) = self.primary.client_index(id) {
            self.primary.clients[i].ref_epoch = epoch;
            if self.primary.clients[i].stream.is_some() {
                self.primary.ref_pending.push(id);
            }
        }
    }

    /// Before a trim (after feeding `bytes` more, with a backlog of `backlog_bytes`): makes
    /// exact every stored reference that could stop it. Stored references are lower bounds of
    /// the exact ones, so the oldest one is exact once it is fresh or past the trim's reach;
    /// a stale one is refreshed (it only grows) and the next oldest looked at.
    fn settle_refs(&mut self, ctx: C<'_, '_>, bytes: u64, backlog_bytes: u64) {
        let Some(horizon) = self
            .primary
            .buffer
            .as_ref()
            .and_then(|b| b.trim_horizon(bytes, backlog_bytes))
        else {
            return;
        };
        while let Some((o, id)) = self.primary.buffer.as_ref().and_then(ReplBuffer::first_ref) {
            if o >= horizon {
                break;
            }
            let Some(i) = self.primary.client_index(id) else {
                break;
            };
            if self.followed_ref(&ctx.env().net, i).is_none() {
                break;
            }
            self.refresh_ref(ctx, i);
        }
    }

    /// The `beforeSleep` trim of the buffer.
    pub(crate) fn primary_before_sleep(&mut self, ctx: C<'_, '_>) {
        let Some(k) = self.primary.buffer.as_ref().map(ReplBuffer::backlog_bytes) else {
            return;
        };
        self.settle_refs(ctx, 0, k);
        let command_bytes = self.primary.typical_command_bytes;
        if let Some(buf) = self.primary.buffer.as_mut() {
            buf.before_sleep(command_bytes);
        }
    }

    /// Releases `id`'s reference (one trim call).
    fn release_ref(&mut self, ctx: C<'_, '_>, id: u64) {
        let Some(k) = self.primary.buffer.as_ref().map(ReplBuffer::backlog_bytes) else {
            return;
        };
        self.settle_refs(ctx, 0, k);
        if let Some(buf) = self.primary.buffer.as_mut() {
            buf.release(id);
        }
    }

    /// The stream rate the primary produces now: what the load offers, held to the allowed
    /// rate while Valkey 9.2 throttles writes (`throttle.rs`).
    fn effective_rate(&self) -> u64 {
        let offered = self.unthrottled_rate();
        if self.throttling_enabled() {
            self.primary.throttle.stream_rate(offered)
        } else {
            offered
        }
    }

    /// The stream rate the load offers now (0 while paused or without a backlog: Valkey
    /// does not advance the offset when there is no backlog).
    pub(crate) fn unthrottled_rate(&self) -> u64 {
        // A replica's own stream is its primary's, relayed (chain.rs), never its write load.
        if self.paused || self.primary.buffer.is_none() || self.replica.primary_node.is_some() {
            0
        } else {
            self.primary.stream_rate()
        }
    }

    /// Re-anchors the stream after a change of rate and passes the new rate to every writing
    /// client's socket and every waiting client's limit prediction.
    pub(crate) fn rate_changed(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        self.throttle_settle(now);
        let rate = self.effective_rate();
        self.primary.clock.reanchor(now, rate);
        let offset = self.primary.buffer.as_ref().map(ReplBuffer::offset);
        for i in 0..self.primary.clients.len() {
            let c = &self.primary.clients[i];
            if let Some(start) = c.stream {
                // The socket holds every whole byte of the stream up to the offset (a
                // safety net: with the producer carrying the clock's fraction, from
                // `start_stream` on, it is never short), and its producer goes on from the
                // clock's fraction of a byte, so it hands over the next byte exactly when the
                // clock counts it — never before (a replica cannot have a byte its primary
                // has not produced: `replica-offset-bound`).
                let conn = c.conn;
                if let Some(offset) = offset {
                    let due = (offset + 1).saturating_sub(start.first_offset);
                    let written = transport::level(ctx, conn, DOWN, Quantity::Written)
                        .saturating_sub(start.written_base);
                    if due > written {
                        transport::write(ctx, conn, DOWN, due - written);
                    }
                }
                let carry = self.primary.clock.carry_at(now);
                let production = Production::buffered(Rate::new(rate)).with_carry(carry);
                transport::produce(ctx, conn, DOWN, production);
            }
            self.arm_limits(ctx, i);
        }
        if self.throttling_enabled() {
            self.throttle_arm_drain(ctx);
        }
    }

    /// A load client's new rate.
    pub(crate) fn set_client_rate(
        &mut self,
        ctx: C<'_, '_>,
        client: u32,
        bytes_per_sec: u64,
        new_keys: f64,
    ) {
        self.advance(ctx);
        match self.primary.rates.iter_mut().find(|(c, _, _)| *c == client) {
            Some(entry) => *entry = (client, bytes_per_sec, new_keys),
            None => self.primary.rates.push((client, bytes_per_sec, new_keys)),
        }
        self.rate_changed(ctx);
    }

    /// Feeds a small discrete run (a PING) into the stream.
    pub(crate) fn feed_discrete(&mut self, ctx: C<'_, '_>, bytes: u64) {
        self.advance(ctx);
        let Some(k) = self.primary.buffer.as_ref().map(ReplBuffer::backlog_bytes) else {
            return;
        };
        self.settle_refs(ctx, bytes, k);
        let Some(buf) = self.primary.buffer.as_mut() else {
            return;
        };
        buf.feed(bytes);
        self.primary.clock.o0 += bytes;
        self.backfill_rdb_clients(ctx);
        for i in 0..self.primary.clients.len() {
            if self.primary.clients[i].stream.is_some() {
                transport::write(ctx, self.primary.clients[i].conn, DOWN, bytes);
            }
        }
    }

    fn ensure_backlog(&mut self, ctx: C<'_, '_>) {
        if self.primary.buffer.is_some() {
            return;
        }
        self.advance(ctx);
        self.primary.replid_counter += 1;
        self.primary.replid =
            ReplId(self.primary.replid.0.rotate_left(7) ^ self.primary.replid_counter);
        self.primary.replid2 = None;
        let offset = self.primary.clock.offset_at(ctx.now());
        let k = self.cfg.repl_backlog_size.bytes();
        let bs = block_payload(self.primary.typical_command_bytes, k, self.perf.allocator);
        self.primary.buffer = Some(ReplBuffer::new(offset, k, bs));
        let text = format!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            self.primary.replid, NO_REPLID
        );
        self.log(ctx, Level::Notice, text);
        self.rate_changed(ctx);
    }

    pub(crate) fn offset_now(&self) -> u64 {
        self.primary.buffer.as_ref().map_or(0, ReplBuffer::offset)
    }

    // ------------------------------------------------------------------ network input

    pub(crate) fn primary_on_net(&mut self, n: Notification, ctx: C<'_, '_>) {
        match n {
            Notification::Message { conn, tag, .. } => {
                let Some(proto) = transport::take_payload(ctx.env(), tag) else {
                    return;
                };
                self.on_replica_message(ctx, conn, proto);
            }
            Notification::Watch { conn, id, .. } => {
                let Some(i) = self.primary.client_by_conn(conn) else {
                    return;
                };
                let limits = &mut self.primary.clients[i].limits;
                if !limits.watches.contains(&id) {
                    return; // a watch from an earlier arming
                }
                // It fired, so it is gone: the next arming must watch again.
                limits.watches.retain(|&w| w != id);
                limits.armed = None;
                self.advance(ctx);
                self.check_limits(ctx, i, false);
            }
            Notification::ProductionDone { conn, .. } => self.on_rdb_produced(ctx, conn),
            Notification::WriteBlocked { conn, .. } | Notification::Writable { conn, .. } => {
                self.rdb_pipe_edge(ctx, conn);
            }
            Notification::Reset { conn, .. } | Notification::Eof { conn, .. } => {
                let Some(i) = self.primary.client_by_conn(conn) else {
                    return;
                };
                if self.primary.clients[i].protected {
                    // freeClientsInAsyncFreeQueue: a protected RDB client's free waits for the
                    // grace period; its pin stays.
                    self.postpone_rdb_client_free(ctx, i);
                } else {
                    self.free_client(ctx, i);
                }
            }
            _ => {}
        }
    }

    fn on_replica_message(&mut self, ctx: C<'_, '_>, conn: ConnId, proto: Proto) {
        let now = ctx.now();
        let idx = match self.primary.client_by_conn(conn) {
            Some(i) => i,
            None => {
                let replica = match proto {
                    Proto::Handshake { node, .. } | Proto::RdbChannelHandshake { node, .. } => node,
                    _ => return,
                };
                let id = self.primary.next_client_id;
                self.primary.next_client_id += 1;
                self.primary.add_client(ReplClient {
                    id,
                    replica,
                    conn,
                    state: ClientState::Handshake,
                    dual_capa: false,
                    rdb_only: false,
                    assoc_rdb: None,
                    protected: false,
                    is_main_channel: false,
                    stream: None,
                    limits: LimitState::default(),
                    last_interaction: now,
                    ack_time: now,
                    free_pending: false,
                    attach_pending: false,
                    progress: (0, now),
                    created: now,
                    ref_epoch: 0,
                    wire_ppm: None,
                })
            }
        };
        self.primary.clients[idx].last_interaction = now;
        match proto {
            Proto::Handshake {
                dual, compression, ..
            } => {
                self.primary.clients[idx].dual_capa = dual;
                self.negotiate_compression(ctx, idx, compression);
                transport::send(ctx, conn, Side::Acceptor, Proto::HandshakeOk);
            }
            Proto::RdbChannelHandshake { compression, .. } => {
                self.primary.clients[idx].rdb_only = true;
                self.negotiate_compression(ctx, idx, compression);
                transport::send(ctx, conn, Side::Acceptor, Proto::HandshakeOk);
            }
            Proto::Psync { replid, offset } => self.on_psync(ctx, idx, replid, offset),
            Proto::Sync if self.chain_refuses_sync(ctx, idx) => {}
            Proto::Sync => {
                let addr = self.replica_addr(ctx, idx);
                self.log(
                    ctx,
                    Level::Notice,
                    format!("Replica {addr} asks for synchronization"),
                );
                self.start_full_sync(ctx, idx);
            }
            Proto::SetRdbClientId(cid) => {
                let known = self
                    .primary
                    .clients
                    .iter()
                    .any(|c| c.id == cid && c.rdb_only && c.protected);
                if known {
                    self.primary.clients[idx].assoc_rdb = Some(cid);
                    transport::send(ctx, conn, Side::Acceptor, Proto::HandshakeOk);
                } else {
                    let err = Proto::Error(format!("Unrecognized RDB client id {cid}"));
                    transport::send(ctx, conn, Side::Acceptor, err);
                }
            }
            Proto::Ack(offset) => {
                self.primary.clients[idx].ack_time = now;
                self.on_ack(ctx, idx, offset);
            }
            Proto::Newline => self.primary.clients[idx].ack_time = now,
            _ => {}
        }
        self.throttle_ensure(ctx);
    }

    /// Valkey 9.2 `repl-compression`, negotiated per replica at its handshake: when the replica
    /// asks for it and this primary's own setting is not `no`, everything this connection
    /// carries down (the stream and a diskless RDB) goes on the wire compressed by this
    /// primary's ratio ([`ValkeyConfig::wire_ppm`]), while the output buffer and the backlog
    /// keep counting uncompressed replication bytes.
    ///
    /// Simplifications (the documents say only "negotiated per replica", PRs #3853, #4075,
    /// #3798): the primary's algorithm is used whatever the replica's is; compressing costs no
    /// CPU time (the stream and the RDB are not produced slower); the socket buffers hold
    /// uncompressed bytes (a real kernel buffer holds compressed ones, so it takes more payload
    /// before the output buffer grows); a disk-based full sync is not compressed
    /// (`rdbcompression lz4` is not modelled).
    ///
    /// [`ValkeyConfig::wire_ppm`]: super::config::ValkeyConfig::wire_ppm
    fn negotiate_compression(&mut self, ctx: C<'_, '_>, idx: usize, asked: bool) {
        if !asked || self.release != super::release::Release::Valkey92 {
            return;
        }
        if let Some(ppm) = self.cfg.wire_ppm() {
            self.primary.clients[idx].wire_ppm = Some(ppm);
            transport::wire_ratio(ctx, self.primary.clients[idx].conn, DOWN, ppm);
        }
    }

    pub(crate) fn replica_addr(&self, ctx: C<'_, '_>, idx: usize) -> String {
        let r = self.primary.clients[idx].replica;
        ctx.env()
            .nodes
            .get(r)
            .map_or_else(|| "?".into(), |n| n.addr.clone())
    }

    // ------------------------------------------------------------------ PSYNC (§2.4)

    fn on_psync(&mut self, ctx: C<'_, '_>, idx: usize, replid: Option<ReplId>, offset: u64) {
        if self.chain_refuses_sync(ctx, idx) {
            return;
        }
        self.advance(ctx);
        let addr = self.replica_addr(ctx, idx);
        self.log(
            ctx,
            Level::Notice,
            format!("Replica {addr} asks for synchronization"),
        );
        if self.try_partial(ctx, idx, replid, offset) {
            return;
        }
        if replid.is_some() {
            self.primary.stats.sync_partial_err += 1;
        }
        let conn = self.primary.clients[idx].conn;
        if self.primary.clients[idx].dual_capa && self.cfg.serves_dual_channel() {
            let text = format!(
                "Dual channel replication: Replica {addr} is capable of dual channel synchronization, and partial sync isn't possible. Full sync will continue with dedicated RDB channel."
            );
            self.log(ctx, Level::Notice, text);
            self.primary.clients[idx].is_main_channel = true;
            transport::send(ctx, conn, Side::Acceptor, Proto::DualChannelSync);
            return;
        }
        self.start_full_sync(ctx, idx);
    }

    /// `primaryTryPartialResynchronization`: true when accepted.
    fn try_partial(
        &mut self,
        ctx: C<'_, '_>,
        idx: usize,
        replid: Option<ReplId>,
        offset: u64,
    ) -> bool {
        let addr = self.replica_addr(ctx, idx);
        let r = self.primary.clients[idx].replica;
        let Some(replid) = replid else {
            self.log(
                ctx,
                Level::Notice,
                format!("Full resync requested by replica {addr}"),
            );
            return false;
        };
        if let Some(text) = self.replid_refusal(replid, offset) {
            self.log(ctx, Level::Notice, text);
            return false;
        }
        let serves = self.primary.buffer.as_ref().is_some_and(|b| {
            b.can_serve(offset)
                && self
                    .backlog_window()
                    .is_some_and(|(first, _)| offset >= first)
        });
        if !serves {
            let (first, last) = self
                .backlog_window()
                .zip(self.primary.buffer.as_ref())
                .map_or((0, 0), |((first, _), b)| (first, b.offset()));
            let text = format!(
                "Unable to partial resync with replica {addr} for lack of backlog (Replica request was {replid}:{offset}, and I can only reply with the range [{first}, {last}])."
            );
            self.log(ctx, Level::Notice, text);
            let now = ctx.now();
            ctx.env()
                .journal
                .push(now, Event::PsyncRefusedBacklog { replica: r });
            return false;
        }
        self.accept_partial(ctx, idx, replid, offset);
        true
    }

    fn accept_partial(&mut self, ctx: C<'_, '_>, idx: usize, replid: ReplId, offset: u64) {
        let now = ctx.now();
        let addr = self.replica_addr(ctx, idx);
        let (conn, id, replica) = {
            let c = &self.primary.clients[idx];
            (c.conn, c.id, c.replica)
        };
        // `+CONTINUE <my replid>`: after a promotion the replica learns the new id.
        let _ = replid;
        let mine = self.primary.replid;
        transport::send(ctx, conn, Side::Acceptor, Proto::Continue { replid: mine });
        self.primary.stats.sync_partial_ok += 1;
        let pinned_rdb = self.primary.clients[idx]
            .assoc_rdb
            .and_then(|cid| self.primary.client_index(cid))
            .filter(|&rdb| self.primary.clients[rdb].protected);
        let dual_main = pinned_rdb.is_some();
        let pending = self.offset_now() + 1 - offset;
        if let Some(rdb) = pinned_rdb {
            // `removeReplicaFromPsyncWait` runs (and logs) before `addReplyReplicationBacklog`.
            let rdb_id = self.primary.clients[rdb].id;
            let text = format!(
                "Dual channel replication: Remove psync waiting replica {addr} with cid {rdb_id}, repl buffer block ref count decreased"
            );
            self.log(ctx, Level::Debug, text);
        }
        self.log_psync_backlog(ctx, offset);
        let text = format!(
            "Partial resynchronization request from {addr} accepted. Sending {pending} bytes of backlog starting from offset {offset}."
        );
        self.log(ctx, Level::Notice, text);
        self.set_client_ref(ctx, id, offset);
        self.primary.clients[idx].state = if dual_main {
            ClientState::BgRdbLoad
        } else {
            ClientState::Online { streaming: true }
        };
        if let Some(rdb) = pinned_rdb {
            // removeReplicaFromPsyncWait: the main channel's reference now holds the history.
            let rdb_id = self.primary.clients[rdb].id;
            self.primary.clients[rdb].protected = false;
            self.primary.clients[rdb].attach_pending = false;
            self.release_ref(ctx, rdb_id);
            self.arm_limits(ctx, rdb);
        }
        ctx.env()
            .journal
            .push(now, Event::PsyncAccepted { replica, dual_main });
        self.start_stream(ctx, idx);
    }

    /// `(repl_backlog_first_byte_offset, repl_backlog_histlen)` as the release keeps them: the
    /// shared buffer's live blocks (Redis 7.0 on, Valkey), or on Redis ≤ 6.2 a circular backlog
    /// of its own whose history never exceeds `repl-backlog-size` (6.2.14 `replication.c`,
    /// `feedReplicationBacklog`), whatever the replicas' private lists still hold.
    fn backlog_window(&self) -> Option<(u64, u64)> {
        let buf = self.primary.buffer.as_ref()?;
        let mut histlen = buf.histlen();
        if self.release.replica_output() == ReplicaOutput::PrivateLists {
            histlen = histlen.min(buf.backlog_bytes());
        }
        Some((buf.offset() + 1 - histlen, histlen))
    }

    /// `addReplyReplicationBacklog`'s debug lines.
    fn log_psync_backlog(&mut self, ctx: C<'_, '_>, offset: u64) {
        let Some((first, histlen)) = self.backlog_window() else {
            return;
        };
        let Some(buf) = self.primary.buffer.as_ref() else {
            return;
        };
        let size = buf.backlog_bytes();
        let mut lines = vec![format!("[PSYNC] Replica request offset: {offset}")];
        if histlen == 0 {
            lines.push("[PSYNC] Backlog history len is zero".to_string());
        } else {
            lines.push(format!("[PSYNC] Backlog size: {size}"));
            lines.push(format!("[PSYNC] First byte: {first}"));
            lines.push(format!("[PSYNC] History len: {histlen}"));
            lines.push(format!(
                "[PSYNC] Skipping: {}",
                offset.saturating_sub(first)
            ));
        }
        for text in lines {
            self.log(ctx, Level::Debug, text);
        }
    }

    // ------------------------------------------------------------------ full sync (§3.2, §4.2)

    fn start_full_sync(&mut self, ctx: C<'_, '_>, idx: usize) {
        let now = ctx.now();
        let replica = self.primary.clients[idx].replica;
        self.primary.stats.sync_full += 1;
        ctx.env()
            .journal
            .push(now, Event::FullSyncStarted { replica });
        self.primary.clients[idx].state = ClientState::WaitBgsaveStart;
        self.ensure_backlog(ctx);
        if self.primary.child.is_some() {
            self.attach_or_wait_for_next_bgsave(ctx, idx);
            return;
        }
        if self.cfg.repl_diskless_sync && self.cfg.repl_diskless_sync_delay > SimDuration::ZERO {
            self.log(
                ctx,
                Level::Notice,
                "Delay next BGSAVE for diskless SYNC".to_string(),
            );
            return;
        }
        self.fork(ctx);
    }

    /// `startBgsaveForReplication` for every waiting replica with the same requirements.
    fn fork(&mut self, ctx: C<'_, '_>) {
        self.advance(ctx);
        let Some(first) = self
            .primary
            .clients
            .iter()
            .position(|c| c.state == ClientState::WaitBgsaveStart)
        else {
            return;
        };
        let dual = self.primary.clients[first].rdb_only;
        let socket = self.cfg.repl_diskless_sync;
        let targets: Vec<usize> = (0..self.primary.clients.len())
            .filter(|&i| {
                let c = &self.primary.clients[i];
                c.state == ClientState::WaitBgsaveStart && c.rdb_only == dual
            })
            .collect();
        let text = format!(
            "Starting BGSAVE for SYNC with target: {} using: {}",
            if socket { "replicas sockets" } else { "disk" },
            if dual { "dual-channel" } else { "normal sync" }
        );
        self.log(ctx, Level::Notice, text);
        let keys = self.keys.max(0.0).round() as u64;
        let rdb_bytes = self.dataset.rdb_bytes_for(keys) + self.populated.1;
        let keys = keys + self.populated.0;
        let rate = self.rdb_generation_rate(rdb_bytes, keys);
        let offset = self.offset_now();
        let pid = self.pid + 1 + self.primary.stats.sync_full as u32;
        let mut child = Child {
            socket,
            dual,
            rdb_bytes,
            rate,
            offset,
            targets: Vec::new(),
            produced: BTreeSet::new(),
            exited: false,
            pipe: Pace::default(),
        };
        let mut pipe_rates = BTreeMap::new();
        let replid = self.primary.replid;
        for &i in &targets {
            let (conn, id) = (self.primary.clients[i].conn, self.primary.clients[i].id);
            let addr = self.replica_addr(ctx, i);
            if dual {
                let text = format!(
                    "Dual channel replication: Sending to replica {addr} RDB end offset {offset} and client-id {id}"
                );
                self.log(ctx, Level::Notice, text);
                let endoff = Proto::EndOff {
                    offset,
                    replid,
                    client_id: id,
                    rdb_bytes,
                };
                transport::send(ctx, conn, Side::Acceptor, endoff);
                self.pin_tail(ctx, i);
            } else {
                let reply = Proto::FullResync {
                    replid,
                    offset,
                    rdb_bytes,
                };
                transport::send(ctx, conn, Side::Acceptor, reply);
                self.set_client_ref(ctx, id, offset + 1);
            }
            self.primary.clients[i].state = ClientState::WaitBgsaveEnd;
            let replica = self.primary.clients[i].replica;
            let world = ctx.env();
            world
                .resume_offsets
                .set(&world.net, replica, Some(offset + 1));
            let base = transport::level(ctx, conn, DOWN, Quantity::Written);
            child.targets.push((id, base));
            if socket {
                transport::produce(
                    ctx,
                    conn,
                    DOWN,
                    Production::blocking(Rate::new(rate)).with_total(rdb_bytes),
                );
                pipe_rates.insert(id, rate);
                self.rdb_pipe_follow(ctx, conn);
            }
            self.arm_limits(ctx, i);
        }
        self.primary.stats.total_forks += 1;
        let now = ctx.now();
        ctx.env().journal.push(now, Event::Fork { offset });
        let text = if !socket {
            format!("Background saving started by pid {pid}")
        } else if dual {
            format!("Background RDB transfer started by pid {pid} to direct socket to replica")
        } else {
            format!("Background RDB transfer started by pid {pid} to pipe through parent process")
        };
        self.log(ctx, Level::Notice, text);
        if !socket {
            let disk = self.perf.disk_write_rate.bytes_per_sec().max(1);
            let ns = u128::from(rdb_bytes) * 1_000_000_000 / u128::from(rate.min(disk).max(1));
            let epoch = self.next_epoch();
            ctx.schedule(
                Msg::Timer(Timer::ChildExited(epoch)),
                SimDuration::from_nanos(ns as u64),
            );
        }
        child.pipe = Pace::starting(pipe_rates);
        self.primary.child = Some(child);
        if self.pause_after_fork {
            self.pause_self(ctx);
        }
    }

    /// The child's RDB bytes per second: `S / (S/G + keys · (per-key cost + per-key delay))`.
    fn rdb_generation_rate(&self, rdb_bytes: u64, keys: u64) -> u64 {
        let base = self.perf.rdb_save_rate.bytes_per_sec().max(1) as f64;
        let per_key_ns = self.perf.rdb_save_per_key.as_nanos() as f64
            + self.cfg.rdb_key_save_delay.mean_ns_per_key()
            + if self.cfg.rdb_key_save_delay.0 != 0 {
                self.perf.key_delay_overhead.as_nanos() as f64
            } else {
                0.0
            };
        let secs = rdb_bytes as f64 / base + keys as f64 * per_key_ns / 1e9;
        if secs <= 0.0 {
            return base as u64;
        }
        ((rdb_bytes as f64 / secs).round() as u64).max(1)
    }

    /// `addRdbReplicaToPsyncWait`: pin the tail block (or the first future one) for an RDB
    /// client and protect it.
    fn pin_tail(&mut self, ctx: C<'_, '_>, idx: usize) {
        let id = self.primary.clients[idx].id;
        let addr = self.replica_addr(ctx, idx);
        let Some(buf) = self.primary.buffer.as_mut() else {
            return;
        };
        let tracking =
            buf.offset() > buf.first_byte_offset().saturating_sub(1) && buf.histlen() > 0;
        let next = if tracking {
            buf.offset()
        } else {
            buf.offset() + 1
        };
        self.set_client_ref(ctx, id, next);
        self.primary.clients[idx].protected = true;
        self.primary.clients[idx].attach_pending = !tracking;
        self.primary.attach_pending_any |= !tracking;
        let what = if tracking {
            "tracking repl-backlog tail"
        } else {
            "no repl-backlog to track"
        };
        self.log(
            ctx,
            Level::Debug,
            format!("Dual channel replication: Add rdb replica {addr} to waiting psync, with cid {id}, {what}"),
        );
    }

    /// `backfillRdbReplicasToPsyncWait`: once the backlog holds a block, RDB clients pinned
    /// while it had none reference it. Noticed at the next event after the first byte is fed
    /// (the fluid stream has no per-command step).
    fn backfill_rdb_clients(&mut self, ctx: C<'_, '_>) {
        if self
            .primary
            .buffer
            .as_ref()
            .is_none_or(|b| b.histlen() == 0)
            || !self.primary.attach_pending_any
        {
            return;
        }
        // Every protected pending client is attached below; one that is pending but not
        // protected is only protected again by `pin_tail`, which raises the flag again.
        self.primary.attach_pending_any = false;
        for i in 0..self.primary.clients.len() {
            let c = &mut self.primary.clients[i];
            if !(c.attach_pending && c.protected) {
                continue;
            }
            c.attach_pending = false;
            let id = c.id;
            let text = format!(
                "Dual channel replication: Attach replica rdb client {id} to repl buf block"
            );
            self.log(ctx, Level::Debug, text);
        }
    }

    fn on_rdb_produced(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        let Some(i) = self.primary.client_by_conn(conn) else {
            return;
        };
        let id = self.primary.clients[i].id;
        if self.primary.clients[i].state == ClientState::SendBulk {
            if let Some(ppm) = self.primary.clients[i].wire_ppm {
                // The disk-based RDB went out uncompressed; the stream is compressed again.
                transport::wire_ratio(ctx, conn, DOWN, ppm);
            }
            self.put_online(ctx, i, true);
            return;
        }
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        child.produced.insert(id);
        if child.socket {
            self.rdb_pipe_finished(ctx);
            return;
        }
        // Every target produced: `produced` then holds at least as many ids as there are
        // targets, so the full check only runs once that is so.
        if child.produced.len() >= child.targets.len()
            && child
                .targets
                .iter()
                .all(|(t, _)| child.produced.contains(t))
        {
            child.exited = true;
        }
    }

    /// `checkChildrenDone` at `serverCron`: the child exited.
    fn child_done(&mut self, ctx: C<'_, '_>) {
        let Some(child) = self.primary.child.take() else {
            return;
        };
        let text = if child.socket {
            "Background RDB transfer terminated with success"
        } else {
            "Background saving terminated with success"
        };
        self.log(ctx, Level::Notice, text.to_string());
        if !child.socket {
            self.log_as(
                ctx,
                Role::Child,
                Level::Notice,
                "DB saved on disk".to_string(),
            );
        }
        for (id, _) in child.targets {
            let Some(i) = self.primary.client_index(id) else {
                continue;
            };
            if self.primary.clients[i].state != ClientState::WaitBgsaveEnd {
                continue;
            }
            if !child.socket {
                self.send_bulk(ctx, i, child.rdb_bytes);
            } else if child.dual {
                self.rdb_client_transmitted(ctx, i);
            } else {
                let addr = self.replica_addr(ctx, i);
                let text = format!(
                    "Streamed RDB transfer with replica {addr} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming"
                );
                self.log(ctx, Level::Notice, text);
                self.put_online(ctx, i, false);
            }
        }
        // Replicas that arrived during this child wait for the next one.
        if self
            .primary
            .clients
            .iter()
            .any(|c| c.state == ClientState::WaitBgsaveStart)
            && (!self.cfg.repl_diskless_sync
                || self.cfg.repl_diskless_sync_delay == SimDuration::ZERO)
        {
            self.fork(ctx);
        }
    }

    fn send_bulk(&mut self, ctx: C<'_, '_>, i: usize, rdb_bytes: u64) {
        self.primary.clients[i].state = ClientState::SendBulk;
        let conn = self.primary.clients[i].conn;
        if self.primary.clients[i].wire_ppm.is_some() {
            // `repl-compression` covers the stream and a diskless sync, not a disk-based RDB.
            transport::wire_ratio(ctx, conn, DOWN, crate::net::WIRE_UNCOMPRESSED);
        }
        let rate = self.perf.disk_write_rate;
        transport::produce(
            ctx,
            conn,
            DOWN,
            Production::blocking(rate).with_total(rdb_bytes),
        );
    }

    /// `replicaPutOnline`, then streaming at once (disk-based sync) or after the first ACK.
    fn put_online(&mut self, ctx: C<'_, '_>, i: usize, stream_now: bool) {
        self.mark_online(ctx, i, stream_now);
        if stream_now {
            self.start_stream(ctx, i);
        } else {
            self.arm_limits(ctx, i);
        }
    }

    /// The client becomes `ONLINE`: "Synchronization with replica X succeeded".
    fn mark_online(&mut self, ctx: C<'_, '_>, i: usize, streaming: bool) {
        let now = ctx.now();
        let addr = self.replica_addr(ctx, i);
        self.primary.clients[i].state = ClientState::Online { streaming };
        self.primary.clients[i].ack_time = now;
        let text = format!("Synchronization with replica {addr} succeeded");
        self.log(ctx, Level::Notice, text);
        let replica = self.primary.clients[i].replica;
        ctx.env().journal.push(now, Event::Online { replica });
    }

    /// The RDB of an rdb-only client went out: free it, unless it still protects the backlog
    /// for its main channel, in which case the free waits for the grace period (§4.5).
    fn rdb_client_transmitted(&mut self, ctx: C<'_, '_>, i: usize) {
        let addr = self.replica_addr(ctx, i);
        self.primary.clients[i].state = ClientState::RdbTransmitted;
        let text = format!(
            "RDB transfer completed, rdb only replica ({addr}) should be disconnected asap"
        );
        self.log(ctx, Level::Notice, text);
        if self.primary.clients[i].protected {
            self.postpone_rdb_client_free(ctx, i);
            return;
        }
        self.free_client_with(ctx, i, SocketEnd::Close);
    }

    /// The RDB client is to be freed but still protects the backlog for its main channel: the
    /// free waits for the grace period (once).
    fn postpone_rdb_client_free(&mut self, ctx: C<'_, '_>, i: usize) {
        if self.primary.clients[i].free_pending {
            return;
        }
        self.primary.clients[i].free_pending = true;
        let id = self.primary.clients[i].id;
        let addr = self.replica_addr(ctx, i);
        let grace = self.cfg.rdb_client_grace_period;
        let secs = grace.as_secs_f64().round();
        let text = format!(
            "Dual channel replication: Postpone RDB client id={id} ({addr}) free for {secs} seconds"
        );
        self.log(ctx, Level::Verbose, text);
        ctx.schedule(Msg::Timer(Timer::Grace(id)), grace);
    }

    fn on_ack(&mut self, ctx: C<'_, '_>, i: usize, _offset: u64) {
        match self.primary.clients[i].state {
            ClientState::Online { streaming: false } => {
                self.primary.clients[i].state = ClientState::Online { streaming: true };
                self.start_stream(ctx, i);
            }
            ClientState::BgRdbLoad => self.mark_online(ctx, i, true),
            _ => {}
        }
    }

    /// Hands everything from the client's reference to the tail to its socket, then keeps
    /// producing at the stream rate.
    fn start_stream(&mut self, ctx: C<'_, '_>, i: usize) {
        // Advancing may drop clients (a relayed stream can overrun a waiting one's limit):
        // find this one again by id.
        let id = self.primary.clients[i].id;
        self.advance(ctx);
        let Some(i) = self.primary.client_index(id) else {
            return;
        };
        let conn = self.primary.clients[i].conn;
        self.refresh_ref(ctx, i);
        let Some(buf) = self.primary.buffer.as_ref() else {
            return;
        };
        let first = buf.ref_offset(id).unwrap_or(buf.offset() + 1);
        let pending = (buf.offset() + 1).saturating_sub(first);
        let written_base = transport::level(ctx, conn, DOWN, Quantity::Written);
        if self.primary.clients[i].stream.is_none() {
            self.primary.streaming += 1;
        }
        self.primary.clients[i].stream = Some(StreamStart {
            first_offset: first,
            written_base,
        });
        // From the mark's next setting on, the reference and the replica's resume offset
        // follow this socket (see `advance`).
        let mark = self.primary_mark(ctx);
        let replica = self.primary.clients[i].replica;
        let world = ctx.env();
        let _ = world.net.track(conn, DOWN, mark);
        let epoch = world.net.mark_epoch(mark);
        world
            .resume_offsets
            .follow(&world.net, replica, conn, DOWN, mark, (first, written_base));
        self.primary.clients[i].ref_epoch = epoch;
        self.primary.ref_pending.push(id);
        let feed = super::invariants::Feed {
            first_offset: first,
            written_base,
        };
        super::invariants::primary_feeds(ctx, self.node, conn, feed);
        transport::write(ctx, conn, DOWN, pending);
        let rate = self.effective_rate();
        let carry = self.primary.clock.carry_at(ctx.now());
        let production = Production::buffered(Rate::new(rate)).with_carry(carry);
        transport::produce(ctx, conn, DOWN, production);
        self.arm_limits(ctx, i);
    }

    // ------------------------------------------------------------------ COB limits (§1.2, §2.5)

    fn effective_limits(&self) -> (Option<u64>, Option<u64>) {
        let k = self.cfg.repl_backlog_size.bytes();
        let (hard, soft) = self
            .release
            .effective_cob_limits(self.cfg.client_output_buffer_limit, k);
        // The limits apply to what is pending beyond the static buffer (below): in the
        // buffer's own usage, that much more.
        let extra = self.static_reply_bytes();
        (hard.map(|h| h + extra), soft.map(|s| s + extra))
    }

    /// The bytes of a replica's pending output that its output-buffer usage does not count:
    /// on Redis ≤ 6.2 the first 16 KiB go into the client's static reply buffer (`c->buf`,
    /// `PROTO_REPLY_CHUNK_BYTES`, 6.2.14 `networking.c` `_addReplyToBuffer`), which
    /// `getClientOutputBufferMemoryUsage` leaves out; from 7.0 a replica's output is only its
    /// reference into the shared buffer. (Approximate once streaming: 6.2 refills the static
    /// buffer only when the reply list is empty.)
    fn static_reply_bytes(&self) -> u64 {
        match self.release.replica_output() {
            ReplicaOutput::PrivateLists => 16 << 10,
            ReplicaOutput::SharedBlocks => 0,
        }
    }

    /// A replica's `omem` as the release reports it (INFO, CLIENT LIST, the COB log line).
    fn reported_omem(&self, buf: &ReplBuffer, id: ConsumerId) -> u64 {
        buf.cob_bytes(id).saturating_sub(self.static_reply_bytes())
    }

    /// Re-arms the prediction of client `i`'s next limit check point.
    pub(crate) fn arm_limits(&mut self, ctx: C<'_, '_>, i: usize) {
        let epoch = self.next_epoch();
        if let Some(timer) = self.primary.clients[i].limits.cob_timer.take() {
            ctx.cancel(timer);
        }
        self.primary.clients[i].limits.epoch = epoch;
        let limits = &self.primary.clients[i].limits;
        if !limits.watches.is_empty()
            && limits.armed.is_some()
            && self.lag_thresholds(i) == limits.armed
        {
            return; // the watches of the last arming are pending and still right
        }
        let conn = self.primary.clients[i].conn;
        self.primary.clients[i].limits.armed = None;
        let watches = std::mem::take(&mut self.primary.clients[i].limits.watches);
        for w in watches {
            transport::unwatch(ctx, conn, DOWN, Some(w));
        }
        let (hard, soft) = self.effective_limits();
        self.refresh_ref(ctx, i);
        let Some(buf) = self.primary.buffer.as_ref() else {
            return;
        };
        let c = &self.primary.clients[i];
        if !buf.has_ref(c.id) || c.state == ClientState::RdbTransmitted && !c.protected {
            return;
        }
        let per_block = buf.block_bytes() + BLOCK_OVERHEAD_BYTES;
        let blocks_for = |limit: u64| limit.div_ceil(per_block).max(1);
        let soft_pending = soft.filter(|_| c.limits.soft_since.is_none());
        if c.stream.is_some() {
            let thresholds = self.lag_thresholds(i).unwrap_or_default();
            let mut ids = Vec::new();
            for &threshold in &thresholds {
                if let Some(id) = transport::watch(ctx, conn, DOWN, Quantity::AppQueue, threshold) {
                    ids.push(id);
                }
            }
            let limits = &mut self.primary.clients[i].limits;
            limits.watches = ids;
            limits.armed = Some(thresholds);
            return;
        }
        // A reference that does not move: the check point is the allocation of a known block.
        let id = c.id;
        let now = ctx.now();
        let targets: Vec<u64> = [hard, soft_pending]
            .into_iter()
            .flatten()
            .filter_map(|limit| buf.allocation_offset(id, blocks_for(limit)))
            .collect();
        let due = targets
            .into_iter()
            .filter_map(|o| self.primary.clock.time_to_reach(now, o))
            .min();
        if let Some(at) = due {
            let timer = ctx.schedule_at(Msg::Timer(Timer::CobCheck(id, epoch)), at);
            self.primary.clients[i].limits.cob_timer = Some(timer);
        }
    }

    /// Checks client `id`'s limits at this instant but after the current event
    /// (`closeClientOnOutputBufferLimitReached(c, async=1)` from `feedReplicationBuffer`): the
    /// event that grew its usage must not find its clients gone under it.
    pub(crate) fn check_limits_soon(&mut self, ctx: C<'_, '_>, id: u64) {
        let Some(i) = self.primary.client_index(id) else {
            return;
        };
        let epoch = self.next_epoch();
        self.primary.clients[i].limits.epoch = epoch;
        if let Some(timer) = self.primary.clients[i].limits.cob_timer.take() {
            ctx.cancel(timer);
        }
        let timer = ctx.schedule(Msg::Timer(Timer::CobCheck(id, epoch)), SimDuration::ZERO);
        self.primary.clients[i].limits.cob_timer = Some(timer);
    }

    /// The watch thresholds on the lag (application queue) of a writing client `i` that imply
    /// the block-granular formula: usage spans between floor((lag−1)/bs)+1 and +2 blocks, so a
    /// lag of (N−1)·bs + 1 guarantees N blocks and a lag of (N−3)·bs guarantees fewer than N. A
    /// small margin absorbs the byte or two between the stream clock and the socket's own fluid.
    /// Usage within those two blocks of a limit is caught by the next check. `None` for a client
    /// that is not writing (or holds no reference).
    fn lag_thresholds(&self, i: usize) -> Option<Vec<Threshold>> {
        let (hard, soft) = self.effective_limits();
        let buf = self.primary.buffer.as_ref()?;
        let c = &self.primary.clients[i];
        if !buf.has_ref(c.id) || c.state == ClientState::RdbTransmitted && !c.protected {
            return None;
        }
        c.stream?;
        let bs = buf.block_bytes();
        let blocks_for = |limit: u64| limit.div_ceil(bs + BLOCK_OVERHEAD_BYTES).max(1);
        let rise = |limit: u64| (blocks_for(limit) - 1) * bs + 1 + WATCH_MARGIN_BYTES;
        let fall = |limit: u64| blocks_for(limit).saturating_sub(3) * bs;
        let mut thresholds = Vec::new();
        if let Some(h) = hard {
            thresholds.push(Threshold::AtLeast(rise(h)));
        }
        match (soft, c.limits.soft_since) {
            (Some(s), None) => thresholds.push(Threshold::AtLeast(rise(s))),
            (Some(s), Some(_)) => thresholds.push(Threshold::AtMost(fall(s))),
            _ => {}
        }
        Some(thresholds)
    }

    /// Checks client `i` against its limits now; `cron` selects the synchronous close path.
    pub(crate) fn check_limits(&mut self, ctx: C<'_, '_>, i: usize, cron: bool) {
        let (hard, soft) = self.effective_limits();
        self.refresh_ref(ctx, i);
        let Some(buf) = self.primary.buffer.as_ref() else {
            return;
        };
        let c = &self.primary.clients[i];
        let usage = buf.cob_bytes(c.id);
        if hard.is_some_and(|h| usage >= h) {
            self.cob_disconnect(ctx, i, Limit::PrimaryCobHard, !cron);
            return;
        }
        let now = ctx.now();
        let unix = self.unixtime(now);
        match (soft, c.limits.soft_since) {
            (Some(s), None) if usage >= s => {
                self.primary.clients[i].limits.soft_since = Some(unix);
                let id = self.primary.clients[i].id;
                self.primary.over_soft.insert(id);
                let secs = self.cfg.client_output_buffer_limit.soft_seconds;
                let at = self.time_of_unixtime(unix + secs + 1).max(now);
                let (id, epoch) = (
                    self.primary.clients[i].id,
                    self.primary.clients[i].limits.epoch,
                );
                ctx.schedule_at(Msg::Timer(Timer::SoftCheck(id, epoch + 1)), at);
            }
            (Some(s), Some(since)) if usage >= s => {
                let secs = self.cfg.client_output_buffer_limit.soft_seconds;
                let exceeded = unix.saturating_sub(since);
                // Valkey 9.2: a throttled replica above target is exempt for a while;
                // `primary_cron` re-checks it at `hz` meanwhile.
                if exceeded > secs && !self.soft_limit_exempt(usage, exceeded) {
                    self.cob_disconnect(ctx, i, Limit::PrimaryCobSoft, !cron);
                    return;
                }
            }
            (_, Some(_)) => {
                self.primary.clients[i].limits.soft_since = None;
                let id = self.primary.clients[i].id;
                self.primary.over_soft.remove(&id);
            }
            _ => {}
        }
        let limits = &mut self.primary.clients[i].limits;
        limits.same_instant = match limits.same_instant {
            (t, n) if t == now => (t, n + 1),
            _ => (now, 1),
        };
        if limits.same_instant.1 > MAX_CHECKS_PER_INSTANT {
            // Defensive: never spin at one instant; look again a millisecond later.
            let (id, epoch) = (self.primary.clients[i].id, self.next_epoch());
            self.primary.clients[i].limits.epoch = epoch;
            if let Some(timer) = self.primary.clients[i].limits.cob_timer.take() {
                ctx.cancel(timer);
            }
            let timer = ctx.schedule(
                Msg::Timer(Timer::CobCheck(id, epoch)),
                SimDuration::from_millis(1),
            );
            self.primary.clients[i].limits.cob_timer = Some(timer);
            return;
        }
        self.arm_limits(ctx, i);
    }

    /// `closeClientOnOutputBufferLimitReached`.
    fn cob_disconnect(&mut self, ctx: C<'_, '_>, i: usize, limit: Limit, asynchronous: bool) {
        self.refresh_ref(ctx, i);
        let now = ctx.now();
        let c = self.primary.clients[i].clone();
        let omem = self
            .primary
            .buffer
            .as_ref()
            .map_or(0, |b| self.reported_omem(b, c.id));
        let addr = self.replica_addr(ctx, i);
        let age = now.saturating_since(c.created).as_secs_f64() as u64;
        let idle = now.saturating_since(c.last_interaction).as_secs_f64() as u64;
        let flags = "S";
        let info = format!(
            "id={} addr={addr} laddr={} fd={} name= age={age} idle={idle} flags={flags} db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={} user=default redir=-1 resp=2 lib-name= lib-ver=",
            c.id,
            self.addr(ctx.env()),
            c.id + 7,
            omem + 22_400,
            if c.rdb_only { "sync" } else { "psync" },
        );
        let rdb_channel = c.rdb_only && c.protected;
        let limit = if rdb_channel {
            Limit::RdbChannelCob
        } else {
            limit
        };
        let text = if asynchronous || c.rdb_only {
            format!(
                "Client {info} scheduled to be closed ASAP for overcoming of output buffer limits."
            )
        } else {
            format!("Client {info} closed for overcoming of output buffer limits.")
        };
        self.log(ctx, Level::Warning, text);
        self.primary.stats.cob_disconnections += 1;
        ctx.env().journal.push(
            now,
            Event::CobDisconnect {
                replica: c.replica,
                kind: c.kind(),
                limit,
                omem,
            },
        );
        self.free_client(ctx, i);
    }

    /// `freeClient` of a replica-side client whose socket may still hold bytes that must not
    /// arrive: see [`SocketEnd::Reset`].
    pub(crate) fn free_client(&mut self, ctx: C<'_, '_>, i: usize) {
        self.free_client_with(ctx, i, SocketEnd::Reset);
    }

    /// `freeClient` of a replica-side client: drop its reference (one trim call), end its
    /// connection as `end` says, and stop a diskless child that has nobody left to feed.
    fn free_client_with(&mut self, ctx: C<'_, '_>, i: usize, end: SocketEnd) {
        if let Some(pos) = self.read_position(ctx, i) {
            let replica = self.primary.clients[i].replica;
            let world = ctx.env();
            world.resume_offsets.set(&world.net, replica, Some(pos));
        }
        {
            let (replica, conn) = (
                self.primary.clients[i].replica,
                self.primary.clients[i].conn,
            );
            let world = ctx.env();
            world.resume_offsets.unfollow(&world.net, replica, conn);
        }
        let c = self.primary.remove_client(i);
        let addr = ctx
            .env()
            .nodes
            .get(c.replica)
            .map_or_else(|| "?".into(), |n| n.addr.clone());
        for w in c.limits.watches {
            transport::unwatch(ctx, c.conn, DOWN, Some(w));
        }
        if let Some(timer) = c.limits.cob_timer {
            ctx.cancel(timer);
        }
        self.release_ref(ctx, c.id);
        match end {
            SocketEnd::Close => transport::close(ctx, c.conn, Side::Acceptor),
            SocketEnd::Reset => transport::reset(ctx, c.conn, Side::Acceptor),
        }
        let registered = !matches!(c.state, ClientState::Handshake);
        if c.rdb_only {
            self.log(
                ctx,
                Level::Notice,
                format!("Dual channel replication: Replica {addr} rdb channel disconnected."),
            );
        } else if registered {
            self.log(
                ctx,
                Level::Notice,
                format!("Connection with replica {addr} lost."),
            );
        }
        self.drop_child_target(ctx, c.id);
        self.advance(ctx);
        if registered && !self.has_replicas() {
            self.primary.no_replicas_since = ctx.now();
        }
    }

    /// Whether `server.replicas` is non-empty (clients past their handshake, RDB channels too).
    pub(crate) fn has_replicas(&self) -> bool {
        self.primary
            .clients
            .iter()
            .any(|c| !matches!(c.state, ClientState::Handshake))
    }

    /// `replicationCron`'s keepalive: a newline every second to each replica waiting for its
    /// fork or for a disk-based BGSAVE (pre-sync). It resets the replica's `repl-timeout` and is
    /// no part of the replication stream.
    fn presync_keepalives(&mut self, ctx: C<'_, '_>) {
        let disk_child = self.primary.child.as_ref().is_some_and(|c| !c.socket);
        for i in 0..self.primary.clients.len() {
            let c = &self.primary.clients[i];
            let presync = c.state == ClientState::WaitBgsaveStart
                || (c.state == ClientState::WaitBgsaveEnd && disk_child);
            if presync {
                transport::send(ctx, c.conn, Side::Acceptor, Proto::Keepalive);
            }
        }
    }

    /// `replicationCron`: a primary (not itself a replica) without replicas for longer than
    /// `repl-backlog-ttl` frees its backlog and takes a new replication id, so that no later
    /// PSYNC is served from the offsets it stopped keeping.
    fn backlog_ttl(&mut self, ctx: C<'_, '_>) {
        let ttl = self.cfg.repl_backlog_ttl.as_nanos() / 1_000_000_000;
        if ttl == 0
            || self.primary.buffer.is_none()
            || self.replica.primary_node.is_some()
            || self.has_replicas()
        {
            return;
        }
        let now = ctx.now();
        let idle = self
            .unixtime(now)
            .saturating_sub(self.unixtime(self.primary.no_replicas_since));
        if idle <= ttl {
            return;
        }
        self.advance(ctx);
        self.primary.replid_counter += 1;
        self.primary.replid =
            ReplId(self.primary.replid.0.rotate_left(11) ^ self.primary.replid_counter);
        self.primary.buffer = None;
        self.log(
            ctx,
            Level::Notice,
            format!("Replication backlog freed after {ttl} seconds without connected replicas."),
        );
        self.rate_changed(ctx);
    }

    fn drop_child_target(&mut self, ctx: C<'_, '_>, id: u64) {
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        child.targets.retain(|(t, _)| *t != id);
        if let Some(conn) = child.pipe.forget(id) {
            let _ = ctx.env().net.report_changes(conn, DOWN, None);
        }
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        if !child.targets.is_empty() || child.exited {
            // The others go on without it: at their own pace, or they were only waiting for it.
            if child.socket && !child.exited {
                let running = !self.paused;
                self.rdb_pipe_finished(ctx);
                self.rdb_pipe_rebalance(ctx, running);
            }
            return;
        }
        let (dual, socket) = (child.dual, child.socket);
        if !socket && self.cfg.has_save_points() {
            // With save points the RDB matters for itself: the save runs on (`freeClient`).
            return;
        }
        self.primary.child = None;
        if !socket {
            // A disk save only for replicas is killed when the last replica waiting for it
            // leaves — in Valkey only with persistence off (no `save` points, no AOF).
            self.log(
                ctx,
                Level::Notice,
                "Background saving, persistence disabled, last replica dropped, killing fork child."
                    .to_string(),
            );
        } else if dual {
            self.log(
                ctx,
                Level::Warning,
                "Background RDB transfer error".to_string(),
            );
        } else {
            self.log(
                ctx,
                Level::Warning,
                "Diskless rdb transfer, last replica dropped, killing fork child.".to_string(),
            );
        }
    }

    // ------------------------------------------------------------------ timers and crons

    pub(crate) fn primary_on_timer(&mut self, t: Timer, ctx: C<'_, '_>) {
        match t {
            Timer::Fork => self.fork(ctx),
            Timer::ChildExited(_) => {
                if let Some(child) = self.primary.child.as_mut() {
                    child.exited = true;
                }
            }
            Timer::CobCheck(id, epoch) | Timer::SoftCheck(id, epoch) => {
                let Some(i) = self.primary.client_index(id) else {
                    return;
                };
                let current = self.primary.clients[i].limits.epoch;
                let valid = matches!(t, Timer::CobCheck(..)) && epoch == current
                    || matches!(t, Timer::SoftCheck(..))
                        && self.primary.clients[i].limits.soft_since.is_some();
                if valid {
                    self.advance(ctx);
                    self.check_limits(ctx, i, matches!(t, Timer::SoftCheck(..)));
                }
            }
            Timer::Grace(id) => {
                let Some(i) = self.primary.client_index(id) else {
                    return;
                };
                if !self.primary.clients[i].protected {
                    return;
                }
                let now = ctx.now();
                let secs = self.cfg.rdb_client_grace_period.as_secs_f64().round();
                let text = format!(
                    "Replica main channel failed to establish PSYNC within the grace period ({secs} seconds). Freeing RDB client {id}."
                );
                self.log(ctx, Level::Notice, text);
                let replica = self.primary.clients[i].replica;
                ctx.env().journal.push(now, Event::GraceExpired { replica });
                // An RDB the child finished is all in the socket: a normal close delivers it.
                let end = if self.primary.clients[i].state == ClientState::RdbTransmitted {
                    SocketEnd::Close
                } else {
                    SocketEnd::Reset
                };
                self.free_client_with(ctx, i, end);
            }
            Timer::BacklogCheck(_) => self.advance(ctx),
            Timer::Throttle(_) => self.throttle_tick(ctx),
            Timer::ThrottleDrain(_) => self.throttle_drained(ctx),
            _ => {}
        }
    }

    /// `serverCron`: child exit detection and `clientsCron`'s limit checks.
    pub(crate) fn primary_cron(&mut self, ctx: C<'_, '_>) {
        if self.primary.child.as_ref().is_some_and(|c| c.exited) {
            self.child_done(ctx);
        }
        if self.primary.clients.is_empty() {
            return;
        }
        self.advance(ctx);
        // Only clients over their soft limit have anything to check here; they are kept in a
        // set (a walk over every client at `hz` touched thousands of idle ones).
        let over: Vec<u64> = self.primary.over_soft.iter().copied().collect();
        for id in over {
            let Some(i) = self.primary.client_index(id) else {
                continue;
            };
            if self.primary.clients[i].limits.soft_since.is_some() {
                self.check_limits(ctx, i, true);
            }
        }
    }

    /// `replicationCron` (1 Hz): the diskless fork delay, PINGs, timeouts.
    pub(crate) fn primary_repl_cron(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        if self.primary.child.is_none() && self.should_start_child(now) {
            self.fork(ctx);
        }
        let registered = self
            .primary
            .clients
            .iter()
            .any(|c| !matches!(c.state, ClientState::Handshake) && !c.rdb_only);
        // Only a top-level primary PINGs; a replica relays its primary's PINGs (chain.rs).
        if registered && self.replica.primary_node.is_none() {
            let period = self.cfg.repl_ping_replica_period;
            let due = self
                .primary
                .last_ping
                .is_none_or(|t| now.saturating_since(t) >= period);
            if due {
                self.primary.last_ping = Some(now);
                self.feed_discrete(ctx, PING_BYTES);
            }
        }
        self.presync_keepalives(ctx);
        self.throttle_ensure(ctx);
        if self
            .primary
            .child
            .as_ref()
            .is_some_and(|c| c.targets.len() > 1)
        {
            let running = !self.paused;
            self.rdb_pipe_rebalance(ctx, running);
        }
        self.full_sync_timeouts(ctx);
        let timeout = self.cfg.repl_timeout;
        let mut i = 0;
        while i < self.primary.clients.len() {
            let c = &self.primary.clients[i];
            let online = matches!(c.state, ClientState::Online { .. });
            let idle = self.unixtime(now).saturating_sub(self.unixtime(c.ack_time));
            if online && idle > timeout.as_nanos() / 1_000_000_000 {
                let addr = self.replica_addr(ctx, i);
                let replica = c.replica;
                self.log(
                    ctx,
                    Level::Warning,
                    format!("Disconnecting timedout replica (streaming sync): {addr}"),
                );
                ctx.env().journal.push(now, Event::Timeout { replica });
                self.free_client(ctx, i);
                continue;
            }
            i += 1;
        }
        self.backlog_ttl(ctx);
    }

    /// `replicationCron`'s full-sync timeout: a diskless transfer whose socket has taken nothing
    /// for `repl-timeout` (the replica stopped reading the RDB). A classic replica is dropped
    /// ("Disconnecting timedout replica (full sync)"); a dual-channel child's blocking send times
    /// out instead ("Background RDB transfer error"), which frees the RDB client.
    fn full_sync_timeouts(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        let timeout_secs = self.cfg.repl_timeout.as_nanos() / 1_000_000_000;
        let socket = self.primary.child.as_ref().is_some_and(|c| c.socket);
        let mut i = 0;
        while i < self.primary.clients.len() {
            let conn = self.primary.clients[i].conn;
            let accepted = transport::level(ctx, conn, DOWN, Quantity::Accepted);
            let state = self.primary.clients[i].state;
            // `repl_last_partial_write`: only a replica whose socket is full is waited on; one
            // held back by a slower replica of the same pipe is not stuck (rdb_pipe.rs).
            let blocked = transport::state(ctx, conn, DOWN).is_some_and(|s| s.blocked);
            let transferring = state == ClientState::WaitBgsaveEnd && socket && blocked;
            let progress = &mut self.primary.clients[i].progress;
            // The clock starts with the transfer (Valkey checks nothing before the first
            // partial write): a replica that waited out a long diskless delay is not stuck.
            if accepted != progress.0 || !transferring {
                *progress = (accepted, now);
            }
            let since = progress.1;
            let idle = self.unixtime(now).saturating_sub(self.unixtime(since));
            let stuck = transferring && idle > timeout_secs;
            if !stuck {
                i += 1;
                continue;
            }
            let (replica, rdb_only) = {
                let c = &self.primary.clients[i];
                (c.replica, c.rdb_only)
            };
            let addr = self.replica_addr(ctx, i);
            let text = if rdb_only {
                "Background RDB transfer error".to_string()
            } else {
                format!("Disconnecting timedout replica (full sync): {addr}")
            };
            self.log(ctx, Level::Warning, text);
            ctx.env().journal.push(now, Event::Timeout { replica });
            if rdb_only {
                // The child's error ends the transfer; the client goes even if still protected.
                self.primary.clients[i].protected = false;
            }
            self.free_client(ctx, i);
        }
    }

    /// `shouldStartChildReplication`: the longest waiter has waited the diskless delay (in whole
    /// seconds of `server.unixtime`), or enough replicas wait.
    fn should_start_child(&self, now: SimTime) -> bool {
        let waiting: Vec<&ReplClient> = self
            .primary
            .clients
            .iter()
            .filter(|c| c.state == ClientState::WaitBgsaveStart)
            .collect();
        if waiting.is_empty() {
            return false;
        }
        if !self.cfg.repl_diskless_sync {
            return true;
        }
        let delay = self.cfg.repl_diskless_sync_delay.as_nanos() / 1_000_000_000;
        let unix = self.unixtime(now);
        let max_idle = waiting
            .iter()
            .map(|c| unix.saturating_sub(self.unixtime(c.last_interaction)))
            .max()
            .unwrap_or(0);
        let max = self.cfg.repl_diskless_sync_max_replicas;
        max_idle >= delay || (max > 0 && waiting.len() as u32 >= max)
    }

    /// The offset a client's replica would resume from now: for a writing client, what the
    /// replica has read (a dual-channel replica applies its local buffer before it could notice a
    /// failure, a classic one streams straight into its dataset); bytes still in the socket
    /// buffers are lost on a disconnect (§10.2), so they do not count.
    fn read_position(&self, ctx: C<'_, '_>, i: usize) -> Option<u64> {
        let c = &self.primary.clients[i];
        let start = c.stream?;
        let read = transport::level(ctx, c.conn, DOWN, Quantity::Read);
        Some(start.first_offset + read.saturating_sub(start.written_base))
    }

    /// Reports backlog exhaustion once per episode. An episode starts when a replica's resume
    /// offset falls below `repl_backlog_first_byte_offset` (a reconnect now needs a full sync)
    /// and ends only when the replica is servable by the backlog at its configured size again:
    /// its resume offset inside the window *and* at most `repl-backlog-size` bytes behind the
    /// primary (or it has no resume offset at all). Being back inside a window that only the
    /// replica's own output-buffer reference holds open does not end it: while such a replica
    /// drains its COB, each event-loop trim moves the first byte just past what it has read (its
    /// reference sits at what its socket accepted), so the plain in/out test flips on every
    /// iteration.
    fn check_backlog_exhaustion(&mut self, ctx: C<'_, '_>) {
        // Episodes are the top-level primary's (a replica's backlog is its relayed copy).
        if self.replica.primary_node.is_some() {
            return;
        }
        let (Some(buf), Some((first, _))) = (self.primary.buffer.as_ref(), self.backlog_window())
        else {
            return;
        };
        let end = buf.offset() + 1;
        let nominal = buf.backlog_bytes();
        let now = ctx.now();
        let world = ctx.env();
        // Episodes that end: a replica in one is servable again (or has no resume offset).
        // O(replicas in an episode).
        let known: Vec<usize> = self.primary.exhausted.iter().copied().collect();
        for replica in known {
            let resume = world.resume_offsets.get(&world.net, replica);
            if resume.is_none_or(|r| r >= first && end.saturating_sub(r) <= nominal) {
                self.primary.exhausted.remove(&replica);
            }
        }
        // Episodes that start: a resume offset below the first byte (found in the ordered
        // offsets, not by a walk over every replica). A servable replica is never below it, so
        // the two steps are the per-replica test in either order.
        for (replica, _) in world.resume_offsets.below(&world.net, first) {
            if self.primary.exhausted.insert(replica) {
                world.journal.push(now, Event::BacklogExhausted { replica });
            }
        }
    }

    // ------------------------------------------------------------------ control

    pub(crate) fn primary_pause(&mut self, ctx: C<'_, '_>) {
        self.advance(ctx);
        self.primary.clock.reanchor(ctx.now(), 0);
        let carry = self.primary.clock.carry_at(ctx.now());
        for c in &self.primary.clients {
            transport::read_mode(ctx, c.conn, UP, ReadMode::Stopped);
            // A stopped process writes no new stream to its replicas.
            if c.stream.is_some() {
                let production = Production::buffered(Rate::new(0)).with_carry(carry);
                transport::produce(ctx, c.conn, DOWN, production);
            }
        }
        self.set_pipe_flow(ctx, false);
    }

    pub(crate) fn primary_resume(&mut self, ctx: C<'_, '_>) {
        // A stopped process neither takes nor writes commands: nothing to account for.
        self.primary.throttle.skip_to(ctx.now());
        for c in &self.primary.clients {
            transport::read_mode(ctx, c.conn, UP, ReadMode::Unlimited);
        }
        self.set_pipe_flow(ctx, true);
        self.primary.last_keys_update = ctx.now();
        self.rate_changed(ctx);
    }

    /// A classic diskless child writes through the parent's pipe: it stalls while the parent is
    /// stopped. A dual-channel child writes straight to the sockets and does not.
    fn set_pipe_flow(&mut self, ctx: C<'_, '_>, running: bool) {
        self.rdb_pipe_rebalance(ctx, running);
    }

    pub(crate) fn primary_kill_replicas(&mut self, ctx: C<'_, '_>) {
        while !self.primary.clients.is_empty() {
            self.free_client(ctx, 0);
        }
    }

    pub(crate) fn primary_config_changed(&mut self, ctx: C<'_, '_>) {
        let k = self.cfg.repl_backlog_size.bytes();
        self.settle_refs(ctx, 0, k);
        if let Some(buf) = self.primary.buffer.as_mut() {
            buf.set_backlog_bytes(k);
        }
        for i in 0..self.primary.clients.len() {
            self.arm_limits(ctx, i);
        }
        if self.throttling_enabled() {
            self.throttle_ensure(ctx);
        } else {
            self.throttle_release(ctx);
        }
    }

    pub(crate) fn primary_info(&mut self, ctx: C<'_, '_>, s: &mut InfoSample) {
        if self.primary.buffer.is_some() {
            self.advance(ctx);
        }
        self.refresh_all_refs(ctx);
        if self.release == super::release::Release::Valkey92 {
            let bytes = self.primary.typical_command_bytes;
            self.primary.throttle.info(s, bytes);
        }
        let p = &self.primary;
        // `server.primary_repl_offset` outlives a backlog freed by `repl-backlog-ttl`: it stays
        // where the stream stopped (and a new backlog continues from it).
        s.master_repl_offset = p.clock.offset_at(ctx.now());
        if let Some(buf) = p.buffer.as_ref() {
            s.master_repl_offset = buf.offset();
            (s.repl_backlog_first_byte_offset, s.repl_backlog_histlen) =
                self.backlog_window().unwrap_or_default();
            s.mem_total_replication_buffers = buf.mem_total();
            if self.release.replica_output() == ReplicaOutput::PrivateLists {
                // Redis ≤ 6.2: a preallocated circular backlog plus every replica's own copy
                // of the stream (INFO's mem_replication_backlog + mem_clients_slaves).
                s.mem_total_replication_buffers = self.cfg.repl_backlog_size.bytes()
                    + p.clients
                        .iter()
                        .map(|c| self.reported_omem(buf, c.id))
                        .sum::<u64>();
            }
            for c in &p.clients {
                let omem = self.reported_omem(buf, c.id);
                if c.rdb_only {
                    s.rdb_channel_omem = s.rdb_channel_omem.max(omem);
                } else {
                    s.replica_omem = s.replica_omem.max(omem);
                }
            }
        }
        s.replicas_waiting_psync = p.waiting_psync();
        s.connected_slaves = p
            .clients
            .iter()
            .filter(|c| !matches!(c.state, ClientState::Handshake))
            .count() as u64;
        s.replicas_online = p
            .clients
            .iter()
            .filter(|c| matches!(c.state, ClientState::Online { .. }))
            .count() as u64;
        s.sync_full = p.stats.sync_full;
        s.sync_partial_ok = p.stats.sync_partial_ok;
        s.sync_partial_err = p.stats.sync_partial_err;
        s.client_output_buffer_limit_disconnections = p.stats.cob_disconnections;
        s.rdb_bgsave_in_progress = p.child.is_some();
        s.total_forks = p.stats.total_forks;
        for c in &p.clients {
            let kind = c.kind();
            match c.state {
                ClientState::WaitBgsaveStart | ClientState::WaitBgsaveEnd => {
                    s.slaves_wait_bgsave += 1;
                    match kind {
                        ClientKind::RdbChannel => s.slaves_wait_bgsave_rdb_channel += 1,
                        ClientKind::Replica => s.slaves_wait_bgsave_replica += 1,
                        ClientKind::MainChannel => {}
                    }
                }
                ClientState::BgRdbLoad if kind == ClientKind::MainChannel => {
                    s.slaves_bg_transfer_main_channel += 1;
                }
                _ => {}
            }
        }
    }

    /// `CLIENT KILL TYPE`-like: frees the replica-side clients of one kind (all when `kind` is
    /// `None`), as `CLIENT KILL ID` of each would.
    pub(crate) fn primary_kill_clients(&mut self, ctx: C<'_, '_>, kind: Option<ClientKind>) {
        let mut i = 0;
        while i < self.primary.clients.len() {
            let c = &self.primary.clients[i];
            if kind.is_none_or(|k| c.kind() == k && !matches!(c.state, ClientState::Handshake)) {
                self.free_client(ctx, i);
            } else {
                i += 1;
            }
        }
    }
}

/// The all-zero second replication id Valkey prints when there is none.
pub(crate) const NO_REPLID: &str = "0000000000000000000000000000000000000000";
/// How often one client may be checked at one instant before re-checks move to a timer.
const MAX_CHECKS_PER_INSTANT: u32 = 4;
/// Slack between a watch's lag threshold and the formula's (see `arm_limits`).
const WATCH_MARGIN_BYTES: u64 = 4096;
/// `*1\r\n$4\r\nPING\r\n`.
const PING_BYTES: u64 = 14;
