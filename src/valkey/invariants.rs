//! The invariant checker: properties every run of the model must keep, whatever the system
//! being simulated does. A broken one is a bug of the *model* (not an outcome of the simulated
//! system): the run stops with [`SimError::Invariant`](crate::engine::SimError::Invariant)
//! naming the time, the node, the invariant and the values, and never panics.
//!
//! Switched on by the caller ([`RunOptions::check`](super::RunOptions::check): `replsim run
//! --check`, `sweep --check`, `[model] check = true`, `REPLSIM_CHECK=1`, always in `replsim
//! swarm` and in the test suite). Off, the model pays one `Option` test per server event and per
//! hook; on, each server event costs O(its clients + live connections), and the network is only
//! *read* ([`Network::peek`](crate::net::Network::peek)), so a checked run is event for event
//! the run an unchecked one would be (same trace hash).
//!
//! The invariants, each with its name as reported:
//!
//! * `stream-exactly-once` — per primary→replica edge: the replica applies the connection's
//!   `n`-th stream byte as the same offset the primary sent it as
//!   (`base_offset − read_base = first_offset − 1 − written_base`, checked when both ends of a
//!   stream are known), and a replica starts streaming at or after what its dataset holds.
//! * `psync-offset` — a partial `PSYNC` asks for the replica's applied offset + 1, where the
//!   applied offset is the checker's own: the RDB's offset after a full sync's load, then plus
//!   every stream byte read while streaming, frozen when the link drops. A replica whose dataset
//!   was flushed for a load that did not finish has no applied offset and must not ask for one.
//! * `replica-offset-bound` — a streaming replica's applied offset never exceeds its primary's
//!   offset, and never goes back while it streams.
//! * `conn-conservation` — on every connection direction, written ≥ accepted ≥ sent ≥ arrived
//!   ≥ read (so written = app queue + send buffer + in flight + receive buffer + read with no
//!   level negative), and no counter ever decreases.
//! * `cob-blocks` — a replica-side client's output-buffer usage is the memory of the buffer's
//!   blocks from the one it references to the tail (`mem_total` minus the blocks before its
//!   own), and a client never references a block that was trimmed away.
//! * `backlog-size` — without a client pinning blocks older than the backlog window, the backlog
//!   holds at most `repl-backlog-size` plus one block; when it is larger (a pin just went, or
//!   `CONFIG SET` shrank it), every event trims at least the 640 blocks `beforeSleep` allows.
//! * `info-counters` — `sync_full`, `sync_partial_ok` and
//!   `client_output_buffer_limit_disconnections` of all nodes sum to the journal's full syncs,
//!   accepted PSYNCs and COB disconnects, `sync_partial_err` is at least the journal's PSYNCs
//!   refused for lack of backlog, and no counter decreases.
//! * `pipe-view` — while a diskless child feeds several sockets, the RDB pipe's stored view of
//!   each one (full or not, its wire rate, RDB bytes left or not) equals the socket now unless
//!   the network listed the socket as changed since the pipe last looked: the pipe re-reads
//!   only listed sockets (`rdb_pipe.rs`), and this is why that is exact.
//! * `no-wrap` — offsets, counters and buffer sizes stay below 2⁶² (a `u64` that wrapped below
//!   zero shows up as a huge number).

use std::collections::BTreeMap;

use crate::engine::SimTime;
use crate::net::{ConnId, Dir, DirState, StreamState};

use super::journal::{Event, Journal};
use super::primary::{PrimaryStats, StreamClock};
use super::repl_buffer::{BLOCK_OVERHEAD_BYTES, ReplBuffer, TRIM_BLOCKS_PER_CALL};
use super::server::{C, Server};
use super::transport::DOWN;

/// Values at or above this are a wrapped `u64` (2⁶²: an exabyte-scale offset no run reaches).
const WRAP: u64 = 1 << 62;
/// Blocks `beforeSleep` trims per event-loop iteration at least (10 × 64).
const SLEEP_TRIM_BLOCKS: u64 = 10 * TRIM_BLOCKS_PER_CALL;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When it was found.
    pub at: SimTime,
    /// The node (or `conn N`) at fault.
    pub node: String,
    /// The invariant's name (see the module docs).
    pub invariant: &'static str,
    /// The values that break it.
    pub detail: String,
}

type Check = Result<(), (&'static str, String)>;

fn broken(invariant: &'static str, detail: String) -> Check {
    Err((invariant, detail))
}

/// A replica's stream on its main channel: stream offset `base` was applied when the
/// connection's read counter stood at `read_base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Streaming {
    pub(crate) conn: ConnId,
    pub(crate) upstream: usize,
    pub(crate) base: u64,
    pub(crate) read_base: u64,
}

impl Streaming {
    fn applied(&self, read: u64) -> Result<u64, String> {
        match read.checked_sub(self.read_base) {
            Some(n) => Ok(self.base + n),
            None => Err(format!(
                "the connection's read counter {read} went below the {} it stood at when streaming began",
                self.read_base
            )),
        }
    }
}

/// What a primary writes on a connection: stream offset `first_offset` is the byte after the
/// connection's written counter `written_base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Feed {
    pub(crate) first_offset: u64,
    pub(crate) written_base: u64,
}

/// What the checker knows of one node's replica half.
#[derive(Clone, Copy, Debug, Default)]
struct ReplicaTrack {
    /// The offset the dataset reflects; `None` after a flush for a load that has not finished.
    /// A node starts with an empty dataset at offset 0.
    applied: Option<u64>,
    streaming: Option<Streaming>,
    /// The highest applied offset seen while streaming (never goes back).
    high: u64,
}

/// The state of a backlog at the last check, to see that an oversized one shrinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BacklogTrack {
    base: u64,
    first_block: u64,
}

/// The checker's memory across events.
#[derive(Debug, Default)]
pub struct Checker {
    violation: Option<Violation>,
    replicas: Vec<ReplicaTrack>,
    /// The primary's feed of every connection that carries a stream, by connection.
    feeds: BTreeMap<ConnId, Feed>,
    /// Each node's stream clock, as of its last event (its primary half's offset).
    clocks: Vec<Option<StreamClock>>,
    /// The connections each node writes its stream on, as of its last event. A replica is
    /// held to its upstream's offset only while the upstream still feeds its connection: a
    /// chained upstream that resynced itself has a new history (and dropped its sub-replicas,
    /// which have not noticed yet).
    fed: Vec<Vec<ConnId>>,
    backlogs: Vec<Option<BacklogTrack>>,
    stats: Vec<PrimaryStats>,
    /// Journal events already counted, and the counts.
    journal_seen: usize,
    journal_counts: PrimaryStats,
    journal_refused: u64,
    /// Last counters `[written, accepted, sent, arrived, read]` of each connection direction
    /// (`2·conn + dir`).
    conns: Vec<[u64; 5]>,
    /// Connections that may still move (dropped once both directions are reset or finished).
    live: Vec<ConnId>,
}

impl Checker {
    /// The first broken invariant, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// A connection was opened: watch its counters from now on.
    pub(crate) fn conn_opened(&mut self, conn: ConnId) {
        self.live.push(conn);
    }

    fn replica(&mut self, node: usize) -> &mut ReplicaTrack {
        if self.replicas.len() <= node {
            self.replicas.resize(
                node + 1,
                ReplicaTrack {
                    applied: Some(0),
                    ..ReplicaTrack::default()
                },
            );
        }
        &mut self.replicas[node]
    }
}

fn slot<T: Clone + Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize(i + 1, T::default());
    }
    &mut v[i]
}

/// Records a broken invariant (the first one wins) and stops the run after this event.
fn fail(ctx: C<'_, '_>, node: usize, (invariant, detail): (&'static str, String)) {
    let at = ctx.now();
    let world = ctx.env();
    let name = world
        .nodes
        .get(node)
        .map_or_else(|| format!("node {node}"), |n| n.name.clone());
    let Some(checker) = world.checker.as_mut() else {
        return;
    };
    if checker.violation.is_none() {
        checker.violation = Some(Violation {
            at,
            node: name,
            invariant,
            detail,
        });
    }
    ctx.stop(format!("invariant {invariant} broken"));
}

fn report(ctx: C<'_, '_>, node: usize, check: Check) {
    if let Err(e) = check {
        fail(ctx, node, e);
    }
}

// ---------------------------------------------------------------------- the pure checks

/// `stream-exactly-once` on one edge: the replica maps connection byte `n` to the offset the
/// primary sent it as.
pub(crate) fn check_edge(s: &Streaming, f: &Feed) -> Check {
    let replica_view = i128::from(s.base) - i128::from(s.read_base);
    let primary_view = i128::from(f.first_offset) - 1 - i128::from(f.written_base);
    if replica_view == primary_view {
        return Ok(());
    }
    let shift = replica_view - primary_view;
    let what = if shift > 0 {
        "skipped"
    } else {
        "applied twice"
    };
    broken(
        "stream-exactly-once",
        format!(
            "the replica applies the byte after read counter {} as offset {}, the primary sent the byte after written counter {} as offset {}: {} bytes {what}",
            s.read_base,
            s.base + 1,
            f.written_base,
            f.first_offset,
            shift.unsigned_abs()
        ),
    )
}

/// `psync-offset`: a partial PSYNC asks for the applied offset + 1.
pub(crate) fn check_psync(applied: Option<u64>, requested: u64) -> Check {
    match applied {
        Some(a) if requested == a + 1 => Ok(()),
        Some(a) => broken(
            "psync-offset",
            format!(
                "PSYNC asks for offset {requested}, the replica has applied up to {a} (it must ask for {})",
                a + 1
            ),
        ),
        None => broken(
            "psync-offset",
            format!(
                "PSYNC asks for offset {requested} with a dataset flushed for a load that did not finish"
            ),
        ),
    }
}

/// `stream-exactly-once` at the start of streaming: a replica starts at or after its dataset.
pub(crate) fn check_stream_start(applied: Option<u64>, base: u64) -> Check {
    match applied {
        Some(a) if base < a => broken(
            "stream-exactly-once",
            format!("the replica starts streaming at offset {base} below the {a} it applied"),
        ),
        None => broken(
            "stream-exactly-once",
            format!("the replica starts streaming at offset {base} without a loaded dataset"),
        ),
        _ => Ok(()),
    }
}

/// `replica-offset-bound`: applied ≤ the primary's offset, and it never goes back. Strict: a
/// socket's producer carries its primary's stream-clock fraction of a byte (`rate_changed`,
/// `start_stream`), so it never hands over a byte before the clock counts it.
pub(crate) fn check_offset_bound(applied: u64, high: u64, primary: Option<u64>) -> Check {
    if applied < high {
        return broken(
            "replica-offset-bound",
            format!("the replica's offset went back from {high} to {applied} while streaming"),
        );
    }
    match primary {
        Some(p) if applied > p => broken(
            "replica-offset-bound",
            format!("the replica's offset {applied} exceeds its primary's {p}"),
        ),
        _ => Ok(()),
    }
}

/// `conn-conservation` (and `no-wrap`) on one direction's counters.
pub(crate) fn check_conn(prev: Option<[u64; 5]>, now: [u64; 5]) -> Check {
    const NAMES: [&str; 5] = ["written", "accepted", "sent", "arrived", "read"];
    for i in 0..4 {
        if now[i] < now[i + 1] {
            return broken(
                "conn-conservation",
                format!(
                    "{} {} < {} {}: a level between them is negative (counters {now:?})",
                    NAMES[i],
                    now[i],
                    NAMES[i + 1],
                    now[i + 1]
                ),
            );
        }
    }
    if now[0] >= WRAP {
        return broken("no-wrap", format!("written counter {} wrapped", now[0]));
    }
    if let Some(prev) = prev {
        for i in 0..5 {
            if now[i] < prev[i] {
                return broken(
                    "conn-conservation",
                    format!(
                        "the {} counter went back from {} to {}",
                        NAMES[i], prev[i], now[i]
                    ),
                );
            }
        }
    }
    Ok(())
}

/// A replication buffer's shape, for the checks (see [`ReplBuffer::audit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferAudit {
    pub(crate) base: u64,
    pub(crate) offset: u64,
    pub(crate) first_block: u64,
    pub(crate) block_bytes: u64,
    pub(crate) backlog_bytes: u64,
    pub(crate) histlen: u64,
    pub(crate) mem_total: u64,
}

impl BufferAudit {
    fn tail(&self) -> Option<u64> {
        (self.offset > self.base).then(|| self.block_of(self.offset))
    }

    fn block_of(&self, o: u64) -> u64 {
        (o.max(self.base + 1) - self.base - 1) / self.block_bytes.max(1)
    }
}

/// `cob-blocks`, `backlog-size` and `no-wrap` on one buffer: `refs` are each client's
/// referenced next offset and reported usage, `prev` the backlog at the last check.
pub(crate) fn check_buffer(
    b: &BufferAudit,
    refs: &[(u64, u64, u64)],
    prev: Option<BacklogTrack>,
) -> Check {
    if b.offset >= WRAP || b.histlen >= WRAP || b.mem_total >= WRAP {
        return broken("no-wrap", format!("replication buffer {b:?}"));
    }
    if b.offset < b.base || b.histlen > b.offset - b.base {
        return broken(
            "backlog-size",
            format!(
                "the backlog holds {} bytes of the {} the stream has had since it was created",
                b.histlen,
                b.offset.saturating_sub(b.base)
            ),
        );
    }
    let Some(tail) = b.tail() else {
        return Ok(());
    };
    let per_block = b.block_bytes + BLOCK_OVERHEAD_BYTES;
    let mut oldest_ref_block = u64::MAX;
    for &(id, next, cob) in refs {
        let block = b.block_of(next);
        let expected = if next <= b.base || block > tail {
            0 // not allocated yet: a NULL reference
        } else if block < b.first_block {
            return broken(
                "cob-blocks",
                format!(
                    "client {id} references block {block} (offset {next}), trimmed away: the backlog starts at block {}",
                    b.first_block
                ),
            );
        } else {
            oldest_ref_block = oldest_ref_block.min(block);
            b.mem_total - (block - b.first_block) * per_block
        };
        if cob != expected {
            return broken(
                "cob-blocks",
                format!(
                    "client {id} uses {cob} bytes, the blocks {block}..={tail} it references hold {expected}"
                ),
            );
        }
    }
    let span = b.offset - b.base;
    let size_target = if span > b.backlog_bytes {
        (span - b.backlog_bytes - 1) / b.block_bytes.max(1)
    } else {
        0
    };
    let pinned = oldest_ref_block < size_target;
    if pinned || b.histlen <= b.backlog_bytes + b.block_bytes {
        return Ok(());
    }
    // Oversized and unpinned: trimming must be under way at full speed.
    let Some(prev) = prev.filter(|p| p.base == b.base) else {
        return Ok(()); // a new backlog: trimmed from its next event on
    };
    let owed = size_target.saturating_sub(prev.first_block);
    let trimmed = b.first_block.saturating_sub(prev.first_block);
    if trimmed >= owed.min(SLEEP_TRIM_BLOCKS) {
        return Ok(());
    }
    broken(
        "backlog-size",
        format!(
            "the backlog holds {} bytes, over repl-backlog-size {} plus a block of {}, with no client pinning it, and trimmed only {trimmed} of the {} blocks it may since the last check",
            b.histlen,
            b.backlog_bytes,
            b.block_bytes,
            owed.min(SLEEP_TRIM_BLOCKS)
        ),
    )
}

/// `info-counters`: the nodes' counters against the journal's.
pub(crate) fn check_counters(sum: &PrimaryStats, journal: &PrimaryStats, refused: u64) -> Check {
    let pairs = [
        ("sync_full", sum.sync_full, journal.sync_full),
        (
            "sync_partial_ok",
            sum.sync_partial_ok,
            journal.sync_partial_ok,
        ),
        (
            "client_output_buffer_limit_disconnections",
            sum.cob_disconnections,
            journal.cob_disconnections,
        ),
    ];
    for (name, info, events) in pairs {
        if info != events {
            return broken(
                "info-counters",
                format!("INFO {name} is {info}, the journal has {events} such events"),
            );
        }
    }
    if sum.sync_partial_err < refused {
        return broken(
            "info-counters",
            format!(
                "INFO sync_partial_err is {}, below the journal's {refused} PSYNCs refused for lack of backlog",
                sum.sync_partial_err
            ),
        );
    }
    Ok(())
}

/// `info-counters`: no counter goes back.
pub(crate) fn check_stats_monotone(prev: &PrimaryStats, now: &PrimaryStats) -> Check {
    let pairs = [
        ("sync_full", prev.sync_full, now.sync_full),
        ("sync_partial_ok", prev.sync_partial_ok, now.sync_partial_ok),
        (
            "sync_partial_err",
            prev.sync_partial_err,
            now.sync_partial_err,
        ),
        (
            "client_output_buffer_limit_disconnections",
            prev.cob_disconnections,
            now.cob_disconnections,
        ),
    ];
    for (name, before, after) in pairs {
        if after < before {
            return broken(
                "info-counters",
                format!("INFO {name} went back from {before} to {after}"),
            );
        }
        if after >= WRAP {
            return broken("no-wrap", format!("INFO {name} is {after}"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------- hooks in the model

/// The replica `node` streams from `upstream` on `conn`: stream offset `base` was applied at
/// read counter `read_base`.
pub(crate) fn replica_streaming(
    ctx: C<'_, '_>,
    node: usize,
    upstream: usize,
    conn: ConnId,
    base: u64,
    read_base: u64,
) {
    let Some(c) = ctx.env().checker.as_mut() else {
        return;
    };
    let s = Streaming {
        conn,
        upstream,
        base,
        read_base,
    };
    let feed = c.feeds.get(&conn).copied();
    let r = c.replica(node);
    let check = check_stream_start(r.applied, base)
        .and_then(|()| feed.map_or(Ok(()), |f| check_edge(&s, &f)));
    r.applied = Some(base);
    r.high = base;
    r.streaming = Some(s);
    report(ctx, node, check);
}

/// The primary `node` starts writing the stream on `conn`.
pub(crate) fn primary_feeds(ctx: C<'_, '_>, node: usize, conn: ConnId, feed: Feed) {
    let Some(c) = ctx.env().checker.as_mut() else {
        return;
    };
    c.feeds.insert(conn, feed);
    let streaming = c
        .replicas
        .iter()
        .filter_map(|r| r.streaming)
        .find(|s| s.conn == conn);
    if let Some(s) = streaming {
        report(ctx, node, check_edge(&s, &feed));
    }
}

/// The replica `node` drops its link: what it streamed is applied for good.
pub(crate) fn replica_dropping(ctx: C<'_, '_>, node: usize) {
    let world = ctx.env();
    let Some(c) = world.checker.as_mut() else {
        return;
    };
    let r = c.replica(node);
    let Some(s) = r.streaming.take() else {
        return;
    };
    let read = world.net.peek(s.conn, DOWN).map_or(s.read_base, |d| d.read);
    let check = s.applied(read).map(|a| {
        r.applied = Some(a);
    });
    report(ctx, node, check.map_err(|d| ("stream-exactly-once", d)));
}

/// The replica `node`'s dataset was replaced: `Some(offset)` when a full sync's RDB finished
/// loading, `None` when it was flushed for a load.
pub(crate) fn replica_dataset(ctx: C<'_, '_>, node: usize, offset: Option<u64>) {
    if let Some(c) = ctx.env().checker.as_mut() {
        let r = c.replica(node);
        r.applied = offset;
        r.streaming = None;
    }
}

/// The replica `node` asks for a partial resynchronization from `requested`.
pub(crate) fn replica_psync(ctx: C<'_, '_>, node: usize, requested: u64) {
    let Some(c) = ctx.env().checker.as_mut() else {
        return;
    };
    let applied = c.replica(node).applied;
    report(ctx, node, check_psync(applied, requested));
}

/// After every event of a server: its buffer and clients, its stream, its counters, and every
/// live connection.
pub(crate) fn after_event(server: &Server, ctx: C<'_, '_>) {
    if ctx.env().checker.is_none() {
        return;
    }
    let node = server.node;
    let checks = [
        primary_checks(server, ctx),
        pipe_checks(server, ctx),
        replica_checks(node, ctx),
        conn_checks(ctx),
        counter_checks(server, ctx),
    ];
    for check in checks {
        if check.is_err() {
            report(ctx, node, check);
            return;
        }
    }
}

fn primary_checks(server: &Server, ctx: C<'_, '_>) -> Check {
    let node = server.node;
    let world = ctx.env();
    let net = &world.net;
    let Some(c) = world.checker.as_mut() else {
        return Ok(());
    };
    *slot(&mut c.fed, node) = server
        .primary
        .clients
        .iter()
        .filter(|cl| cl.is_streaming())
        .map(|cl| cl.conn)
        .collect();
    let Some(buf) = server.primary.buffer.as_ref() else {
        *slot(&mut c.clocks, node) = None;
        *slot(&mut c.backlogs, node) = None;
        return Ok(());
    };
    *slot(&mut c.clocks, node) = Some(server.primary.clock);
    let audit = buf.audit();
    // Writing clients' references follow their sockets lazily: read the exact ones.
    let refs: Vec<(u64, u64, u64)> = (0..server.primary.clients.len())
        .filter_map(|i| {
            let id = server.primary.clients[i].id;
            server
                .exact_ref(net, i)
                .map(|r| (id, r, buf.cob_bytes_from(r)))
        })
        .collect();
    let prev = *slot(&mut c.backlogs, node);
    *slot(&mut c.backlogs, node) = Some(BacklogTrack {
        base: audit.base,
        first_block: audit.first_block,
    });
    check_buffer(&audit, &refs, prev)
}

/// `pipe-view`: see [`Pace::stale_view`](super::rdb_pipe::Pace::stale_view).
fn pipe_checks(server: &Server, ctx: C<'_, '_>) -> Check {
    let Some(child) = server.primary.child.as_ref() else {
        return Ok(());
    };
    if !child.socket || child.exited {
        return Ok(());
    }
    match child
        .pipe
        .stale_view(&ctx.env().net, &child.targets, child.rdb_bytes)
    {
        Some(detail) => broken("pipe-view", detail),
        None => Ok(()),
    }
}

fn replica_checks(node: usize, ctx: C<'_, '_>) -> Check {
    let world = ctx.env();
    let Some(c) = world.checker.as_mut() else {
        return Ok(());
    };
    let Some(s) = c.replicas.get(node).and_then(|r| r.streaming) else {
        return Ok(());
    };
    let Some(d) = world.net.peek(s.conn, DOWN) else {
        return Ok(());
    };
    let applied = s.applied(d.read).map_err(|e| ("stream-exactly-once", e))?;
    if applied >= WRAP {
        return broken("no-wrap", format!("replica offset {applied}"));
    }
    let t = world.net.now();
    let fed = c.fed.get(s.upstream).is_some_and(|f| f.contains(&s.conn));
    let primary = c
        .clocks
        .get(s.upstream)
        .copied()
        .flatten()
        .filter(|_| fed)
        .map(|clock| clock.offset_at(t));
    let r = c.replica(node);
    let check = check_offset_bound(applied, r.high, primary);
    r.high = r.high.max(applied);
    check.map_err(|(n, e)| {
        let feed = c.feeds.get(&s.conn);
        (
            n,
            format!(
                "{e} (conn {}: read {} since read {} at offset {}; the primary's feed {feed:?}, written {})",
                s.conn.index(),
                d.read,
                s.read_base,
                s.base,
                d.written
            ),
        )
    })
}

fn conn_checks(ctx: C<'_, '_>) -> Check {
    let world = ctx.env();
    let Some(c) = world.checker.as_mut() else {
        return Ok(());
    };
    let mut result = Ok(());
    c.live.retain(|&conn| {
        let mut moving = false;
        for dir in Dir::BOTH {
            let Some(d) = world.net.peek(conn, dir) else {
                continue;
            };
            moving |= !matches!(d.state, StreamState::Reset | StreamState::Closed);
            let now = counters(&d);
            let i = 2 * conn.index() + dir.index();
            let prev = c.conns.get(i).copied().filter(|p| *p != [0; 5]);
            *slot(&mut c.conns, i) = now;
            if result.is_ok() {
                result = check_conn(prev, now)
                    .map_err(|(n, e)| (n, format!("conn {}: {e}", conn.index())));
            }
        }
        moving
    });
    result
}

fn counters(d: &DirState) -> [u64; 5] {
    [d.written, d.accepted, d.sent, d.arrived, d.read]
}

fn counter_checks(server: &Server, ctx: C<'_, '_>) -> Check {
    let world = ctx.env();
    let Some(c) = world.checker.as_mut() else {
        return Ok(());
    };
    let now = server.primary.stats;
    let prev = std::mem::replace(slot(&mut c.stats, server.node), now);
    check_stats_monotone(&prev, &now)?;
    count_journal(c, &world.journal);
    let sum = c.stats.iter().fold(PrimaryStats::default(), |mut s, x| {
        s.sync_full += x.sync_full;
        s.sync_partial_ok += x.sync_partial_ok;
        s.sync_partial_err += x.sync_partial_err;
        s.cob_disconnections += x.cob_disconnections;
        s
    });
    check_counters(&sum, &c.journal_counts, c.journal_refused)
}

/// Counts the journal's events since the last call (amortised O(1) per event).
fn count_journal(c: &mut Checker, journal: &Journal) {
    for (_, e) in &journal.events[c.journal_seen.min(journal.events.len())..] {
        match e {
            Event::FullSyncStarted { .. } => c.journal_counts.sync_full += 1,
            Event::PsyncAccepted { .. } => c.journal_counts.sync_partial_ok += 1,
            Event::CobDisconnect { .. } => c.journal_counts.cob_disconnections += 1,
            Event::PsyncRefusedBacklog { .. } => c.journal_refused += 1,
            _ => {}
        }
    }
    c.journal_seen = journal.events.len();
}

impl ReplBuffer {
    /// The buffer's shape for the invariant checker.
    pub(crate) fn audit(&self) -> BufferAudit {
        BufferAudit {
            base: self.base_offset(),
            offset: self.offset(),
            first_block: self.first_block_index(),
            block_bytes: self.block_bytes(),
            backlog_bytes: self.backlog_bytes(),
            histlen: self.histlen(),
            mem_total: self.mem_total(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each invariant catches a state that breaks it (a checker that cannot fail is a defect),
    //! and passes the state next to it that does not.

    use super::*;
    use crate::net::ConnId;

    fn name(c: Check) -> &'static str {
        c.err().map_or("ok", |(n, _)| n)
    }

    #[test]
    fn stream_exactly_once_catches_a_skip_and_a_duplicate() {
        let s = Streaming {
            conn: ConnId(0),
            upstream: 0,
            base: 1000,
            read_base: 50,
        };
        // The primary wrote offset 1001 right after written counter 50: the views agree.
        let good = Feed {
            first_offset: 1001,
            written_base: 50,
        };
        assert_eq!(name(check_edge(&s, &good)), "ok");
        let dup = Feed {
            first_offset: 995,
            ..good
        };
        let e = check_edge(&s, &dup).unwrap_err();
        assert_eq!(e.0, "stream-exactly-once");
        assert!(e.1.contains("6 bytes skipped"), "{}", e.1);
        let ahead = Feed {
            written_base: 40,
            ..good
        };
        assert!(
            check_edge(&s, &ahead)
                .unwrap_err()
                .1
                .contains("applied twice")
        );
        assert_eq!(
            name(check_stream_start(Some(1000), 999)),
            "stream-exactly-once"
        );
        assert_eq!(name(check_stream_start(None, 5)), "stream-exactly-once");
        assert_eq!(name(check_stream_start(Some(1000), 1000)), "ok");
    }

    #[test]
    fn psync_offset_must_be_applied_plus_one() {
        assert_eq!(name(check_psync(Some(41), 42)), "ok");
        // The known bug of issue 14: the offset of the last RDB instead of what was applied.
        let e = check_psync(Some(5000), 1001).unwrap_err();
        assert_eq!(e.0, "psync-offset");
        assert!(e.1.contains("must ask for 5001"), "{}", e.1);
        assert_eq!(name(check_psync(Some(41), 41)), "psync-offset");
        assert_eq!(name(check_psync(None, 1)), "psync-offset");
    }

    #[test]
    fn a_replica_never_passes_its_primary_nor_goes_back() {
        assert_eq!(name(check_offset_bound(100, 90, Some(100))), "ok");
        assert_eq!(
            name(check_offset_bound(101, 90, Some(100))),
            "replica-offset-bound"
        );
        assert_eq!(
            name(check_offset_bound(80, 90, None)),
            "replica-offset-bound"
        );
    }

    #[test]
    fn conn_conservation_catches_negative_levels_regressions_and_wraps() {
        assert_eq!(
            name(check_conn(Some([9, 8, 7, 6, 5]), [10, 9, 8, 7, 6])),
            "ok"
        );
        // More read than arrived: the receive buffer would be negative.
        assert_eq!(
            name(check_conn(None, [10, 9, 8, 7, 8])),
            "conn-conservation"
        );
        assert_eq!(
            name(check_conn(None, [10, 11, 8, 7, 6])),
            "conn-conservation"
        );
        assert_eq!(
            name(check_conn(Some([10, 9, 8, 7, 6]), [10, 9, 8, 7, 5])),
            "conn-conservation"
        );
        assert_eq!(name(check_conn(None, [u64::MAX, 0, 0, 0, 0])), "no-wrap");
    }

    /// A buffer of 10-byte blocks from offset 0 to 100 (blocks 0..=9), backlog size 30, first
    /// block 6 (histlen 40 = K + one block).
    fn buffer() -> BufferAudit {
        BufferAudit {
            base: 0,
            offset: 100,
            first_block: 6,
            block_bytes: 10,
            backlog_bytes: 30,
            histlen: 40,
            mem_total: 4 * (10 + BLOCK_OVERHEAD_BYTES),
        }
    }

    #[test]
    fn cob_blocks_counts_from_the_client_block_to_the_tail() {
        let b = buffer();
        let per = 10 + BLOCK_OVERHEAD_BYTES;
        // Next offset 75 is in block 7: blocks 7, 8, 9.
        assert_eq!(name(check_buffer(&b, &[(1, 75, 3 * per)], None)), "ok");
        assert_eq!(name(check_buffer(&b, &[(1, 101, 0)], None)), "ok");
        let e = check_buffer(&b, &[(1, 75, 2 * per)], None).unwrap_err();
        assert_eq!(e.0, "cob-blocks");
        // A reference into a block the backlog trimmed (block 2 < first block 6).
        let e = check_buffer(&b, &[(1, 25, 8 * per)], None).unwrap_err();
        assert!(e.1.contains("trimmed away"), "{}", e.1);
    }

    #[test]
    fn backlog_size_allows_one_block_over_and_needs_trimming_beyond() {
        let b = buffer();
        assert_eq!(name(check_buffer(&b, &[], None)), "ok");
        // 80 bytes held (first block 2) with nobody pinning them, and no trimming since the
        // last check at block 2.
        let big = BufferAudit {
            first_block: 2,
            histlen: 80,
            mem_total: 8 * (10 + BLOCK_OVERHEAD_BYTES),
            ..b
        };
        let prev = Some(BacklogTrack {
            base: 0,
            first_block: 2,
        });
        assert_eq!(name(check_buffer(&big, &[], prev)), "backlog-size");
        // A client referencing block 2 pins it: allowed.
        let per = 10 + BLOCK_OVERHEAD_BYTES;
        assert_eq!(name(check_buffer(&big, &[(1, 21, 8 * per)], prev)), "ok");
        // Trimming under way since a check at block 0: allowed.
        let earlier = Some(BacklogTrack {
            base: 0,
            first_block: 0,
        });
        let trimming = BufferAudit {
            first_block: 2,
            ..big
        };
        assert_eq!(name(check_buffer(&trimming, &[], earlier)), "backlog-size");
        let done = BufferAudit {
            first_block: 6,
            histlen: 40,
            mem_total: 4 * per,
            ..b
        };
        assert_eq!(name(check_buffer(&done, &[], earlier)), "ok");
        // More history than the stream ever had.
        let bogus = BufferAudit { histlen: 101, ..b };
        assert_eq!(name(check_buffer(&bogus, &[], None)), "backlog-size");
        let wrapped = BufferAudit {
            offset: u64::MAX - 1,
            ..b
        };
        assert_eq!(name(check_buffer(&wrapped, &[], None)), "no-wrap");
    }

    #[test]
    fn info_counters_agree_with_the_journal() {
        let s = PrimaryStats {
            sync_full: 2,
            sync_partial_ok: 1,
            sync_partial_err: 3,
            cob_disconnections: 1,
            total_forks: 2,
        };
        assert_eq!(name(check_counters(&s, &s, 3)), "ok");
        let fewer = PrimaryStats { sync_full: 1, ..s };
        assert_eq!(name(check_counters(&s, &fewer, 0)), "info-counters");
        assert_eq!(name(check_counters(&s, &s, 4)), "info-counters");
        assert_eq!(name(check_stats_monotone(&s, &fewer)), "info-counters");
        assert_eq!(name(check_stats_monotone(&fewer, &s)), "ok");
    }
}
