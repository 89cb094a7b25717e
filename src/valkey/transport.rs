//! The Valkey model's only door to the network: opening connections, sending control messages,
//! starting and steering fluid flows, reading counters, watching thresholds. Every call that
//! changes the network re-arms the network driver's wake-up, so callers never think about it.
//!
//! Replicas open every replication connection, so on each connection the `Forward` direction
//! carries replica → primary (handshakes, PSYNC, ACKs) and `Backward` carries primary → replica
//! (replies, the RDB and the command stream).

use crate::engine::{ActorId, Ctx, SimTime, TimerId};
use crate::net::{
    ConnId, ConnOptions, Dir, DirState, Production, Quantity, ReadMode, Side, Threshold, WatchId,
};

use super::proto::Proto;
use super::world::{Msg, World};

/// Primary → replica.
pub const DOWN: Dir = Dir::Backward;
/// Replica → primary.
pub const UP: Dir = Dir::Forward;

/// The driver's pending wake-up.
#[derive(Debug, Default)]
pub(crate) struct WakeState {
    timer: Option<TimerId>,
    at: Option<SimTime>,
    driver: Option<ActorId>,
    /// The network's work already charged to the run's budget.
    charged: u64,
}

impl WakeState {
    pub(crate) fn set_driver(&mut self, driver: ActorId) {
        self.driver = Some(driver);
    }
}

type C<'a, 'b> = &'a mut Ctx<'b, Msg, World>;

/// The network driver's handler: bring the network to now, hand every notification to its
/// owner (same instant), re-arm.
pub(crate) fn drive(ctx: C<'_, '_>) {
    let now = ctx.now();
    let world = ctx.env();
    world.wake.timer = None;
    world.wake.at = None;
    let mut out = Vec::new();
    let _ = world.net.advance(now);
    world.net.drain_notifications(&mut out);
    for n in out {
        let owner = n.owner();
        ctx.send(owner, Msg::Net(n), crate::engine::SimDuration::ZERO);
    }
    rearm(ctx);
}

/// Charges the network's work since the last charge to the run's budget (`max-events`), so that
/// a run whose network does much inside few events still stops near its budget.
pub(crate) fn charge(ctx: C<'_, '_>) {
    let world = ctx.env();
    let work = world.net.work();
    let units = work.saturating_sub(world.wake.charged);
    world.wake.charged = work;
    ctx.charge(units);
}

/// Keeps exactly one driver wake-up at the network's next event time.
pub(crate) fn rearm(ctx: C<'_, '_>) {
    charge(ctx);
    let now = ctx.now();
    let world = ctx.env();
    let next = world.net.next_event_time().map(|t| t.max(now));
    if next == world.wake.at {
        return;
    }
    let (old, driver) = (world.wake.timer.take(), world.wake.driver);
    world.wake.at = next;
    if let Some(old) = old {
        ctx.cancel(old);
    }
    if let (Some(at), Some(driver)) = (next, driver) {
        let id = ctx.timer_for_at(driver, Msg::NetWake, at);
        ctx.env().wake.timer = Some(id);
    }
}

/// Opens a connection from `from_node` (a replica) to `to_node` (its primary).
pub(crate) fn connect(ctx: C<'_, '_>, from_node: usize, to_node: usize) -> Option<ConnId> {
    let now = ctx.now();
    let world = ctx.env();
    let (a, b) = (
        world.nodes.get(from_node)?.clone(),
        world.nodes.get(to_node)?.clone(),
    );
    let options = world
        .conn_options
        .iter()
        .find(|(x, y, _)| (*x, *y) == (a.host, b.host) || (*x, *y) == (b.host, a.host))
        .map_or_else(ConnOptions::default, |&(_, _, o)| o);
    let conn = world
        .net
        .connect(now, a.host, b.host, options, [a.actor, b.actor])
        .ok()?;
    if let Some(checker) = world.checker.as_mut() {
        checker.conn_opened(conn);
    }
    rearm(ctx);
    Some(conn)
}

/// Sends a control message from `side` of `conn`.
pub(crate) fn send(ctx: C<'_, '_>, conn: ConnId, side: Side, proto: Proto) {
    let now = ctx.now();
    let world = ctx.env();
    let bytes = proto.wire_bytes();
    let tag = match world.free_tags.pop() {
        Some(tag) => {
            world.payloads[tag as usize] = Some(proto);
            tag
        }
        None => {
            world.payloads.push(Some(proto));
            (world.payloads.len() - 1) as u64
        }
    };
    if world
        .net
        .send_message(now, conn, side.writes(), bytes, tag)
        .is_err()
    {
        world.payloads[tag as usize] = None;
        world.free_tags.push(tag);
    }
    rearm(ctx);
}

/// Takes the payload of a delivered message.
pub(crate) fn take_payload(world: &mut World, tag: u64) -> Option<Proto> {
    let slot = world.payloads.get_mut(tag as usize)?;
    let proto = slot.take();
    if proto.is_some() {
        world.free_tags.push(tag);
    }
    proto
}

/// Sets (or replaces) the fluid producer of `dir`.
pub(crate) fn produce(ctx: C<'_, '_>, conn: ConnId, dir: Dir, production: Production) {
    let now = ctx.now();
    let _ = ctx
        .env()
        .net
        .set_production(now, conn, dir, Some(production));
    rearm(ctx);
}

/// Hands `bytes` to the socket of `dir` at once (they queue in the application if it is full).
pub(crate) fn write(ctx: C<'_, '_>, conn: ConnId, dir: Dir, bytes: u64) {
    if bytes == 0 {
        return;
    }
    let now = ctx.now();
    let _ = ctx.env().net.write(now, conn, dir, bytes);
    rearm(ctx);
}

/// Sets how the reader of `dir` reads.
pub(crate) fn read_mode(ctx: C<'_, '_>, conn: ConnId, dir: Dir, mode: ReadMode) {
    let now = ctx.now();
    let _ = ctx.env().net.set_read_mode(now, conn, dir, mode);
    rearm(ctx);
}

/// The sender of `dir` compresses what it writes to `wire_ppm` millionths (Valkey 9.2
/// `repl-compression`); the application's counters stay uncompressed.
pub(crate) fn wire_ratio(ctx: C<'_, '_>, conn: ConnId, dir: Dir, wire_ppm: u32) {
    let now = ctx.now();
    let _ = ctx.env().net.set_wire_ratio(now, conn, dir, wire_ppm);
    rearm(ctx);
}

/// A one-shot watch; `None` if the connection is gone.
pub(crate) fn watch(
    ctx: C<'_, '_>,
    conn: ConnId,
    dir: Dir,
    quantity: Quantity,
    threshold: Threshold,
) -> Option<WatchId> {
    let now = ctx.now();
    let me = ctx.me();
    let id = ctx
        .env()
        .net
        .watch(now, conn, dir, quantity, threshold, me)
        .ok();
    rearm(ctx);
    id
}

/// Cancels a watch on `dir` of `conn` (nothing if it already fired or the connection is gone),
/// so that re-arming a prediction replaces its watch instead of adding one.
pub(crate) fn unwatch(ctx: C<'_, '_>, conn: ConnId, dir: Dir, id: Option<WatchId>) {
    let Some(id) = id else {
        return;
    };
    let now = ctx.now();
    let _ = ctx.env().net.unwatch(now, conn, dir, id);
    rearm(ctx);
}

/// Every counter and level of `dir` now, in one snapshot (`None` for a connection that is gone).
pub(crate) fn state(ctx: C<'_, '_>, conn: ConnId, dir: Dir) -> Option<DirState> {
    let now = ctx.now();
    let state = ctx.env().net.dir_state(now, conn, dir).ok();
    charge(ctx);
    state
}

/// A counter or level of `dir` now (0 for a connection that is gone).
pub(crate) fn level(ctx: C<'_, '_>, conn: ConnId, dir: Dir, quantity: Quantity) -> u64 {
    let Some(s) = state(ctx, conn, dir) else {
        return 0;
    };
    match quantity {
        Quantity::Written => s.written,
        Quantity::Accepted => s.accepted,
        Quantity::Sent => s.sent,
        Quantity::Arrived => s.arrived,
        Quantity::Read => s.read,
        Quantity::AppQueue => s.app_queue,
        Quantity::SendBuffer => s.send_buffer,
        Quantity::InFlight => s.in_flight,
        Quantity::RecvBuffer => s.recv_buffer,
    }
}

/// Closes `side`'s writing direction (a FIN: what it sent, messages included, arrives first;
/// the peer then sees end-of-file), and stops reading the other direction.
pub(crate) fn close(ctx: C<'_, '_>, conn: ConnId, side: Side) {
    let now = ctx.now();
    let net = &mut ctx.env().net;
    let _ = net.close(now, conn, side.writes());
    let _ = net.set_read_mode(now, conn, side.writes().reverse(), ReadMode::Stopped);
    rearm(ctx);
}

/// Resets the connection from `side` (unread data is lost; the peer learns after the latency).
pub(crate) fn reset(ctx: C<'_, '_>, conn: ConnId, side: Side) {
    let now = ctx.now();
    let _ = ctx.env().net.reset(now, conn, side);
    rearm(ctx);
}
