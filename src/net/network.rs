//! The network: a passive component that computes its own next event.

use std::collections::{BTreeMap, BTreeSet};

use super::conn::{ConnOptions, ConnState, DirState, Production, ReadMode, Stream, StreamState};
use super::fair_share::max_min_share;
use super::fluid::transfer_ns;
use super::link::{Delivery, LinkState, LinkStats, Parcel};
use super::watch::{Quantity, Threshold, Watch};
use super::{
    ConnId, Dir, HostId, LinkId, LinkSpec, NetError, Notification, Side, Topology, WatchId,
};
use crate::engine::{ActorId, SimDuration, SimTime, actor_rng};
use crate::units::Rate;

mod follow;

/// A change to the network, immediate or scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The link stops carrying anything (a partition). Bytes and messages in flight wait.
    LinkDown(LinkId),
    /// The link carries again; what was in flight resumes, shifted by the outage.
    LinkUp(LinkId),
    /// A new one-way latency.
    SetLatency(LinkId, SimDuration),
    /// A new line rate.
    SetBandwidth(LinkId, Rate),
    /// The connection is reset by one of its ends.
    Reset(ConnId, Side),
}

/// One connection: two directions over one link.
#[derive(Debug)]
struct Conn {
    link: LinkId,
    /// The link way each direction uses.
    ways: [usize; 2],
    owners: [ActorId; 2],
    streams: [Stream; 2],
    reset: bool,
    /// Arrival of the last parcel per direction, to keep messages in order.
    last_parcel_at: [u64; 2],
    /// The `next_at` under which each direction is filed in the agenda.
    due: [Option<u64>; 2],
}

/// Something in the agenda: a stream with a pending instant, or a link way with a parcel in
/// flight. The derived order (ways after streams, then by index) only breaks ties within one
/// instant; a step processes everything due at its instant in link order either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Stream(u32, u8),
    Way(u32, u8),
}

/// How many times the network may process one instant before it reports that it is stuck.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// Links, connections and faults; owned by the simulation's environment and driven by one actor.
///
/// Every mutator takes `now` and first advances the network to it. The caller keeps exactly one
/// engine timer at [`Network::next_event_time`] (see [`NetWake`](super::NetWake)), calls
/// [`Network::advance`] when it fires, and hands the drained [`Notification`]s to their owners.
///
/// ```
/// use replsim::engine::{ActorId, SimDuration, SimTime};
/// use replsim::net::{ConnOptions, Dir, LinkSpec, Network, ReadMode, Topology};
///
/// let mut net = Network::new(Topology::new(), 1);
/// let a = net.add_host("a").unwrap();
/// let b = net.add_host("b").unwrap();
/// let spec = LinkSpec::new("1gbit".parse().unwrap(), SimDuration::from_millis(1));
/// net.add_link(a, b, spec).unwrap();
/// let owners = [ActorId::from_index(0), ActorId::from_index(1)];
/// let t0 = SimTime::ZERO;
/// let conn = net.connect(t0, a, b, ConnOptions::default(), owners).unwrap();
/// net.set_read_mode(t0, conn, Dir::Forward, ReadMode::Unlimited).unwrap();
/// net.write(t0, conn, Dir::Forward, 10_000_000).unwrap();
/// let (mut wakeups, mut notes) = (0, Vec::new());
/// while let Some(t) = net.next_event_time() {
///     net.advance(t).unwrap();
///     net.drain_notifications(&mut notes);
///     wakeups += 1;
/// }
/// let state = net.dir_state(net.now(), conn, Dir::Forward).unwrap();
/// assert_eq!(state.read, 10_000_000);
/// assert!(wakeups < 10);
/// ```
#[derive(Debug)]
pub struct Network {
    topo: Topology,
    links: Vec<LinkState>,
    conns: Vec<Conn>,
    now: u64,
    master_seed: u64,
    faults: BTreeMap<(u64, u64), Fault>,
    seq: u64,
    notes: Vec<Notification>,
    steps: u64,
    next_watch: u64,
    demands: Vec<u64>,
    shares: Vec<u64>,
    /// Every pending instant of a stream or a link way, so that the next event is found in
    /// O(log n) however many connections exist (faults keep their own map).
    agenda: BTreeSet<(u64, Due)>,
    /// Units of work done: instants processed, stream recomputations, watches evaluated,
    /// parcels delivered (see [`Network::work`]).
    work: u64,
    /// The most watches ever pending on one direction at once.
    peak_watches: usize,
    /// Each mark's `(epoch, instant)`: how many times it was set, and when last.
    marks: Vec<(u64, u64)>,
    /// Each change list: the directions listed since it was last taken, in the order of their
    /// first change (see [`Network::report_changes`]).
    change_lists: Vec<Vec<(ConnId, Dir)>>,
}

impl Network {
    /// A network over `topology`; link `"<a>-<b>"` draws jitter from the stream
    /// `engine::stream_seed(master_seed, "link:<a>-<b>")`.
    pub fn new(topology: Topology, master_seed: u64) -> Self {
        let mut net = Network {
            topo: Topology::new(),
            links: Vec::new(),
            conns: Vec::new(),
            now: 0,
            master_seed,
            faults: BTreeMap::new(),
            seq: 0,
            notes: Vec::new(),
            steps: 0,
            next_watch: 0,
            demands: Vec::new(),
            shares: Vec::new(),
            agenda: BTreeSet::new(),
            work: 0,
            peak_watches: 0,
            marks: Vec::new(),
            change_lists: Vec::new(),
        };
        for i in 0..topology.link_count() {
            let link = LinkId(i as u32);
            if let (Ok(spec), Ok(name)) = (topology.link_spec(link), topology.link_name(link)) {
                let rng = actor_rng(master_seed, &format!("link:{name}"));
                net.links.push(LinkState::new(spec, rng, 0));
            }
        }
        net.topo = topology;
        net
    }

    /// Adds a host (see [`Topology::add_host`]).
    pub fn add_host(&mut self, name: &str) -> Result<HostId, NetError> {
        self.topo.add_host(name)
    }

    /// Adds a link (see [`Topology::add_link`]); it exists from the network's current time.
    pub fn add_link(&mut self, a: HostId, b: HostId, spec: LinkSpec) -> Result<LinkId, NetError> {
        let link = self.topo.add_link(a, b, spec)?;
        let name = self.topo.link_name(link)?;
        let rng = actor_rng(self.master_seed, &format!("link:{name}"));
        self.links.push(LinkState::new(spec, rng, self.now));
        Ok(link)
    }

    /// The hosts and links.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The network's clock: the last time it was advanced to.
    pub fn now(&self) -> SimTime {
        SimTime::from_nanos(self.now)
    }

    /// How many instants the network has processed (its wake-ups).
    pub fn events(&self) -> u64 {
        self.steps
    }

    /// Units of work done so far, a measure of the network's cost that a caller can charge to
    /// an event budget: one per instant processed, per stream recomputed (a fair-share round
    /// touches every stream of the link direction), per watch evaluated and per parcel
    /// delivered. Each unit costs O(log n) at most.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Watches pending on `dir` of `conn` now.
    pub fn watch_count(&self, conn: ConnId, dir: Dir) -> Result<usize, NetError> {
        Ok(self.conn(conn)?.streams[dir.index()].watch_count())
    }

    /// The most watches that were ever pending on one direction of one connection at once.
    pub fn peak_watches(&self) -> usize {
        self.peak_watches
    }

    /// The next instant at which something happens inside the network, if any: now, while
    /// notifications wait to be drained.
    pub fn next_event_time(&self) -> Option<SimTime> {
        if !self.notes.is_empty() {
            return Some(SimTime::from_nanos(self.now));
        }
        self.next_internal().map(SimTime::from_nanos)
    }

    fn next_internal(&self) -> Option<u64> {
        let fault = self.faults.keys().next().map(|&(t, _)| t);
        let due = self.agenda.first().map(|&(t, _)| t);
        match (fault, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Files the stream under its current `next_at` in the agenda.
    fn index_stream(&mut self, conn: ConnId, dir: Dir) {
        let c = &mut self.conns[conn.index()];
        let next = c.streams[dir.index()].next_at;
        let filed = &mut c.due[dir.index()];
        if *filed == next {
            return;
        }
        let key = Due::Stream(conn.0, dir.index() as u8);
        if let Some(old) = filed.take() {
            self.agenda.remove(&(old, key));
        }
        *filed = next;
        if let Some(at) = next {
            self.agenda.insert((at, key));
        }
    }

    /// Files the link way under its first arrival in the agenda (nowhere while the link is down:
    /// nothing arrives then).
    fn index_way(&mut self, l: usize, w: usize) {
        let link = &mut self.links[l];
        let next = match link.down_since {
            Some(_) => None,
            None => link.ways[w].in_flight.keys().next().map(|&(t, _)| t),
        };
        let filed = &mut link.ways[w].due;
        if *filed == next {
            return;
        }
        let key = Due::Way(l as u32, w as u8);
        if let Some(old) = filed.take() {
            self.agenda.remove(&(old, key));
        }
        *filed = next;
        if let Some(at) = next {
            self.agenda.insert((at, key));
        }
    }

    /// Processes everything that happens up to and including `now`, then sets the clock to it.
    pub fn advance(&mut self, now: SimTime) -> Result<(), NetError> {
        let target = self.check_time(now)?;
        let mut same_instant = 0u32;
        let mut last = None;
        while let Some(t) = self.next_internal().filter(|&t| t <= target) {
            same_instant = if last == Some(t) { same_instant + 1 } else { 0 };
            if same_instant > MAX_STEPS_PER_INSTANT {
                return Err(NetError::Stuck(SimTime::from_nanos(t)));
            }
            last = Some(t);
            self.step(t);
        }
        self.now = target;
        Ok(())
    }

    /// Moves the notifications produced so far into `out`, in the order they happened.
    pub fn drain_notifications(&mut self, out: &mut Vec<Notification>) {
        out.append(&mut self.notes);
    }

    fn check_time(&self, now: SimTime) -> Result<u64, NetError> {
        if now.as_nanos() < self.now {
            return Err(NetError::PastTime {
                now: SimTime::from_nanos(self.now),
                at: now,
            });
        }
        Ok(now.as_nanos())
    }

    /// Processes the instant `t`: due faults, then the parcels that arrive (link by link), then
    /// the link ways with a stream due (link by link). Only what the agenda lists as due is
    /// touched, so an instant costs O(what happens · log n), not O(links + connections).
    fn step(&mut self, t: u64) {
        self.now = t;
        self.steps += 1;
        self.work += 1;
        while let Some(entry) = self.faults.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let fault = entry.remove();
            // A fault on something that changed since it was scheduled (a connection already
            // reset) has nothing left to do.
            let _ = self.apply_fault(t, fault);
        }
        let mut arrivals = Vec::new();
        let mut updates = Vec::new();
        for &(_, due) in self.agenda.range(..=(t, Due::Way(u32::MAX, u8::MAX))) {
            match due {
                Due::Way(l, w) => arrivals.push((l as usize, usize::from(w))),
                Due::Stream(c, d) => {
                    let conn = &self.conns[c as usize];
                    updates.push((conn.link.index(), conn.ways[usize::from(d)]));
                }
            }
        }
        arrivals.sort_unstable();
        updates.sort_unstable();
        updates.dedup();
        for (l, w) in arrivals {
            self.deliver_due(l, w, t);
        }
        for (l, w) in updates {
            self.update_way(l, w, t);
        }
    }

    fn deliver_due(&mut self, l: usize, w: usize, t: u64) {
        if self.links[l].down_since.is_some() {
            return;
        }
        while let Some(entry) = self.links[l].ways[w].in_flight.first_entry() {
            if entry.key().0 > t {
                break;
            }
            self.work += 1;
            let Delivery { conn, dir, parcel } = entry.remove();
            let c = &self.conns[conn.index()];
            let to = c.owners[dir.reader().index()];
            match parcel {
                Parcel::Message {
                    tag,
                    bytes,
                    sent_at,
                } if !c.reset => {
                    self.notes.push(Notification::Message {
                        conn,
                        dir,
                        to,
                        tag,
                        bytes,
                        sent_at,
                    });
                }
                Parcel::Message { .. } => {}
                Parcel::Reset => self.notes.push(Notification::Reset { conn, owner: to }),
            }
        }
        self.index_way(l, w);
    }

    // ---- streams ----

    fn stream(&self, conn: ConnId, dir: Dir) -> &Stream {
        &self.conns[conn.index()].streams[dir.index()]
    }

    fn stream_mut(&mut self, conn: ConnId, dir: Dir) -> &mut Stream {
        &mut self.conns[conn.index()].streams[dir.index()]
    }

    fn settle_way(&mut self, l: usize, w: usize, t: u64) {
        let down = self.links[l].down_since.is_some();
        for i in 0..self.links[l].ways[w].members.len() {
            let (c, d) = self.links[l].ways[w].members[i];
            self.capture(c, d);
            self.conns[c.index()].streams[d.index()].settle(t, down);
        }
    }

    /// Shares the way's capacity among its streams and installs their next segments.
    fn apply_way(&mut self, l: usize, w: usize, t: u64) {
        let link = &self.links[l];
        let (capacity, latency, down) = (
            link.capacity(),
            link.latency_ns(),
            link.down_since.is_some(),
        );
        let members = std::mem::take(&mut self.links[l].ways[w].members);
        self.demands.clear();
        for &(c, d) in &members {
            let stream = self.stream(c, d);
            let demand = to_wire(stream.demand(latency), stream.wire_ppm);
            self.demands.push(demand);
        }
        max_min_share(capacity, &self.demands, &mut self.shares);
        let mut moving = false;
        for (i, &(c, d)) in members.iter().enumerate() {
            let stream = self.stream(c, d);
            let share = from_wire(self.shares[i], stream.wire_ppm, stream.demand(latency));
            let stream = &mut self.conns[c.index()].streams[d.index()];
            self.work += 1 + stream.watch_count() as u64;
            stream.apply(t, share, latency, down, &mut self.notes);
            moving |= stream.wire_rate() > 0;
            self.list_change(c, d);
            self.index_stream(c, d);
        }
        let way = &mut self.links[l].ways[w];
        way.members = members;
        if let Some(since) = way.bulk_active_since {
            way.stats.busy = way.stats.busy.saturating_add_ns(t.saturating_sub(since));
        }
        way.bulk_active_since = moving.then_some(t);
    }

    fn update_way(&mut self, l: usize, w: usize, t: u64) {
        self.settle_way(l, w, t);
        self.apply_way(l, w, t);
    }

    /// Advances to `now`, settles the direction's link way, applies `edit` to the stream, and
    /// installs the new rates.
    fn touch<T>(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        edit: impl FnOnce(&mut Stream, u64) -> T,
    ) -> Result<T, NetError> {
        self.advance(now)?;
        let t = now.as_nanos();
        let (l, w) = self.way_of(conn, dir)?;
        self.settle_way(l, w, t);
        self.capture(conn, dir);
        let out = edit(self.stream_mut(conn, dir), t);
        self.apply_way(l, w, t);
        Ok(out)
    }

    fn way_of(&self, conn: ConnId, dir: Dir) -> Result<(usize, usize), NetError> {
        let c = self
            .conns
            .get(conn.index())
            .ok_or(NetError::UnknownConn(conn))?;
        Ok((c.link.index(), c.ways[dir.index()]))
    }

    fn conn(&self, conn: ConnId) -> Result<&Conn, NetError> {
        self.conns
            .get(conn.index())
            .ok_or(NetError::UnknownConn(conn))
    }

    fn writable(&self, conn: ConnId, dir: Dir) -> Result<(), NetError> {
        self.conn(conn)?.streams[dir.index()].check_writable()
    }

    fn live(&self, conn: ConnId) -> Result<(), NetError> {
        if self.conn(conn)?.reset {
            return Err(NetError::Reset(conn));
        }
        Ok(())
    }

    // ---- connections ----

    /// Opens a TCP connection from `from` to `to` over their direct link. `owners` are the
    /// endpoint owners `[initiator, acceptor]` that notifications name. The connection is usable
    /// at once (the handshake is not modelled; send a message if it matters).
    pub fn connect(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        options: ConnOptions,
        owners: [ActorId; 2],
    ) -> Result<ConnId, NetError> {
        self.advance(now)?;
        options.validate()?;
        let (from_name, to_name) = (self.topo.host_name(from)?, self.topo.host_name(to)?);
        let link = self
            .topo
            .link_between(from, to)
            .ok_or_else(|| NetError::NoLink {
                from: from_name.to_string(),
                to: to_name.to_string(),
            })?;
        let forward_way = if self.topo.link_hosts(link)?.0 == from {
            0
        } else {
            1
        };
        let id = ConnId(self.conns.len() as u32);
        let t = now.as_nanos();
        let streams = Dir::BOTH.map(|d| Stream::new(id, d, owners, &options, t));
        self.conns.push(Conn {
            link,
            ways: [forward_way, 1 - forward_way],
            owners,
            streams,
            reset: false,
            last_parcel_at: [0; 2],
            due: [None; 2],
        });
        for dir in Dir::BOTH {
            let (l, w) = self.way_of(id, dir)?;
            self.links[l].ways[w].members.push((id, dir));
            self.update_way(l, w, t);
        }
        Ok(id)
    }

    /// The writer of `dir` hands over `bytes` (buffered: what the socket cannot take waits in
    /// the application queue).
    pub fn write(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        bytes: u64,
    ) -> Result<(), NetError> {
        self.writable(conn, dir)?;
        self.touch(now, conn, dir, |s, _| s.write(bytes))
    }

    /// Sets (or with `None` stops) the fluid producer of `dir`.
    pub fn set_production(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        production: Option<Production>,
    ) -> Result<(), NetError> {
        self.writable(conn, dir)?;
        self.touch(now, conn, dir, |s, _| s.set_production(production))
    }

    /// Sets how the reader of `dir` reads.
    pub fn set_read_mode(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        mode: ReadMode,
    ) -> Result<(), NetError> {
        self.live(conn)?;
        self.touch(now, conn, dir, |s, _| s.set_read_mode(mode))
    }

    /// The sender of `dir` compresses: the link carries `wire_ppm` millionths of a byte per
    /// payload byte (`WIRE_UNCOMPRESSED` = 1:1, the default). Counters, buffers and watches stay
    /// in payload bytes; only the stream's fair share of the link is taken in wire bytes, so a
    /// stream compressed 2:1 moves twice the payload through the same line rate.
    pub fn set_wire_ratio(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        wire_ppm: u32,
    ) -> Result<(), NetError> {
        self.live(conn)?;
        let ppm = wire_ppm.clamp(1, super::conn::WIRE_UNCOMPRESSED);
        self.touch(now, conn, dir, |s, _| s.wire_ppm = ppm)
    }

    /// The reader of `dir` reads up to `max` bytes at once; returns how many it got.
    pub fn read(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        max: u64,
    ) -> Result<u64, NetError> {
        self.live(conn)?;
        self.touch(now, conn, dir, |s, _| s.read(max))
    }

    /// The writer of `dir` closes it: no more writes; the reader sees end-of-file once it has
    /// read everything (and not before the FIN's own trip, one latency after the close).
    pub fn close(&mut self, now: SimTime, conn: ConnId, dir: Dir) -> Result<(), NetError> {
        self.writable(conn, dir)?;
        let c = self.conn(conn)?;
        let latency = self.links[c.link.index()].latency_ns();
        // A message written before the close reaches the peer before its end-of-file, as bytes
        // written before a FIN do.
        let last_message = c.last_parcel_at[dir.index()].saturating_add(1);
        self.touch(now, conn, dir, |s, t| {
            s.close(t.saturating_add(latency).max(last_message))
        })
    }

    /// `by` resets the connection: unread and in-flight data and messages are lost; `by`'s owner
    /// is notified now, the other end's one latency later (later still if the link is down).
    pub fn reset(&mut self, now: SimTime, conn: ConnId, by: Side) -> Result<(), NetError> {
        self.advance(now)?;
        self.live(conn)?;
        self.do_reset(now.as_nanos(), conn, by);
        Ok(())
    }

    fn do_reset(&mut self, t: u64, conn: ConnId, by: Side) {
        let c = &mut self.conns[conn.index()];
        c.reset = true;
        let (link, owners) = (c.link.index(), c.owners);
        for dir in Dir::BOTH {
            let w = self.conns[conn.index()].ways[dir.index()];
            self.settle_way(link, w, t);
            self.stream_mut(conn, dir).kill(t);
            self.apply_way(link, w, t);
            // A dead stream takes no share and never changes again: it leaves the way, so
            // reconnections do not make every later fair-share round longer.
            let sent = self.stream(conn, dir).sent_at(t);
            let way = &mut self.links[link].ways[w];
            way.members.retain(|&m| m != (conn, dir));
            way.retired_bulk_bytes = way.retired_bulk_bytes.saturating_add(sent);
        }
        for w in 0..2 {
            let way = &mut self.links[link].ways[w];
            way.in_flight.retain(|_, d| d.conn != conn);
            way.held.retain(|d| d.conn != conn);
            self.index_way(link, w);
        }
        self.notes.push(Notification::Reset {
            conn,
            owner: owners[by.index()],
        });
        let dir = by.writes();
        self.send_parcel(t, conn, dir, Parcel::Reset);
    }

    /// Sends a control message of `bytes` on `dir`. It is serialized behind the messages already
    /// queued on the link direction (`start = max(now, busy_until)`), then travels the latency
    /// plus jitter, and arrives as [`Notification::Message`] with `tag`.
    ///
    /// Simplification: messages travel out of band of the bulk byte stream (they neither wait
    /// behind bulk bytes in the socket buffers nor take bandwidth from bulk flows). They stay in
    /// order per direction of a connection. While the link is down they are held and sent when
    /// it is back (TCP retransmission); a reset loses them.
    pub fn send_message(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        bytes: u64,
        tag: u64,
    ) -> Result<(), NetError> {
        self.advance(now)?;
        self.writable(conn, dir)?;
        let parcel = Parcel::Message {
            tag,
            bytes,
            sent_at: now,
        };
        self.send_parcel(now.as_nanos(), conn, dir, parcel);
        Ok(())
    }

    fn send_parcel(&mut self, t: u64, conn: ConnId, dir: Dir, parcel: Parcel) {
        let c = &self.conns[conn.index()];
        let (l, w) = (c.link.index(), c.ways[dir.index()]);
        let delivery = Delivery { conn, dir, parcel };
        if self.links[l].down_since.is_some() {
            self.links[l].ways[w].held.push(delivery);
            return;
        }
        self.schedule_parcel(l, w, t, delivery);
    }

    fn schedule_parcel(&mut self, l: usize, w: usize, t: u64, delivery: Delivery) {
        let link = &mut self.links[l];
        let latency = link.latency_ns();
        let rate = link.spec.payload_rate().bytes_per_sec();
        let arrive = match delivery.parcel {
            Parcel::Message { bytes, .. } => {
                let way = &mut link.ways[w];
                let serialize = transfer_ns(bytes, rate).unwrap_or(0);
                let start = t.max(way.busy_until);
                way.busy_until = start.saturating_add(serialize);
                let waited = start - t;
                let stats = &mut way.stats;
                stats.messages += 1;
                stats.message_bytes = stats.message_bytes.saturating_add(bytes);
                stats.busy = stats.busy.saturating_add_ns(serialize);
                stats.queueing_total = stats.queueing_total.saturating_add_ns(waited);
                stats.queueing_max = stats.queueing_max.max(SimDuration::from_nanos(waited));
                let jitter = link.spec.jitter.sample(&mut link.rng);
                link.ways[w]
                    .busy_until
                    .saturating_add(latency)
                    .saturating_add(jitter)
            }
            Parcel::Reset => t.saturating_add(latency),
        };
        let c = &mut self.conns[delivery.conn.index()];
        let slot = &mut c.last_parcel_at[delivery.dir.index()];
        let arrive = arrive.max(*slot);
        *slot = arrive;
        self.seq += 1;
        self.links[l].ways[w]
            .in_flight
            .insert((arrive, self.seq), delivery);
        self.index_way(l, w);
    }

    /// Asks to be told (as [`Notification::Watch`], addressed to `owner`) when `quantity` of
    /// `dir` meets `threshold`. One-shot; fires at once if it already holds. The instant is the
    /// first nanosecond at which the exact fluid quantity meets the threshold.
    pub fn watch(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        quantity: Quantity,
        threshold: Threshold,
        owner: ActorId,
    ) -> Result<WatchId, NetError> {
        self.live(conn)?;
        let id = WatchId(self.next_watch);
        let watch = Watch::new(id, quantity, threshold, owner)?;
        self.next_watch += 1;
        let pending = self.touch(now, conn, dir, |s, _| {
            s.add_watch(watch);
            s.watch_count()
        })?;
        self.peak_watches = self.peak_watches.max(pending);
        Ok(id)
    }

    /// Cancels the watch `id` on `dir` of `conn`; returns whether it was still pending (false
    /// once it fired, or after a reset). A caller that re-arms a prediction cancels the old
    /// watch, so watches do not pile up on a long-lived connection.
    pub fn unwatch(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
        id: WatchId,
    ) -> Result<bool, NetError> {
        let (l, _) = self.way_of(conn, dir)?;
        self.advance(now)?;
        let t = now.as_nanos();
        let down = self.links[l].down_since.is_some();
        self.capture(conn, dir);
        let stream = &mut self.conns[conn.index()].streams[dir.index()];
        if !stream.remove_watch(id) {
            return Ok(false);
        }
        self.work += 1 + stream.watch_count() as u64;
        stream.reschedule(t, down, &mut self.notes);
        self.index_stream(conn, dir);
        Ok(true)
    }

    // ---- queries ----

    /// Counters, levels, rates and state of `dir` at `now`.
    pub fn dir_state(
        &mut self,
        now: SimTime,
        conn: ConnId,
        dir: Dir,
    ) -> Result<DirState, NetError> {
        self.conn(conn)?;
        self.advance(now)?;
        Ok(self.stream(conn, dir).snapshot(now.as_nanos()))
    }

    /// Counters of `dir` at the network's current instant, without advancing it: reading them
    /// changes nothing, so an invariant checker may look as often as it likes and a checked run
    /// stays identical to an unchecked one. `None` for an unknown connection.
    pub fn peek(&self, conn: ConnId, dir: Dir) -> Option<DirState> {
        let c = self.conns.get(conn.index())?;
        Some(c.streams[dir.index()].snapshot(self.now))
    }

    /// The connection's life-cycle state.
    pub fn conn_state(&self, conn: ConnId) -> Result<ConnState, NetError> {
        let c = self.conn(conn)?;
        let states = c.streams.each_ref().map(Stream::state);
        Ok(match states {
            _ if c.reset => ConnState::Reset,
            [StreamState::Closed, StreamState::Closed] => ConnState::Closed,
            [StreamState::Open, StreamState::Open] => ConnState::Open,
            _ => ConnState::Closing,
        })
    }

    /// The link a connection uses.
    pub fn conn_link(&self, conn: ConnId) -> Result<LinkId, NetError> {
        Ok(self.conn(conn)?.link)
    }

    /// The endpoint owners `[initiator, acceptor]` of a connection.
    pub fn conn_owners(&self, conn: ConnId) -> Result<[ActorId; 2], NetError> {
        Ok(self.conn(conn)?.owners)
    }

    /// The live specification of a link (after faults).
    pub fn link_spec(&self, link: LinkId) -> Result<LinkSpec, NetError> {
        self.links
            .get(link.index())
            .map(|l| l.spec)
            .ok_or(NetError::UnknownLink(link))
    }

    /// Whether the link is up.
    pub fn link_is_up(&self, link: LinkId) -> Result<bool, NetError> {
        self.links
            .get(link.index())
            .map(|l| l.down_since.is_none())
            .ok_or(NetError::UnknownLink(link))
    }

    /// Statistics of both directions of a link at `now`: `[a → b, b → a]` for a link added as
    /// `add_link(a, b, …)`.
    pub fn link_stats(&mut self, now: SimTime, link: LinkId) -> Result<[LinkStats; 2], NetError> {
        self.link_index(link)?;
        self.advance(now)?;
        let t = now.as_nanos();
        let l = &self.links[link.index()];
        let capacity = u128::from(l.capacity());
        Ok([0, 1].map(|w| {
            let way = &l.ways[w];
            let mut stats = way.stats;
            stats.bulk_bytes = way
                .members
                .iter()
                .map(|&(c, d)| self.stream(c, d).sent_at(t))
                .fold(way.retired_bulk_bytes, u64::saturating_add);
            if let Some(since) = way.bulk_active_since {
                stats.busy = stats.busy.saturating_add_ns(t.saturating_sub(since));
            }
            stats.elapsed = SimDuration::from_nanos(t.saturating_sub(l.created));
            let span = u128::from(t.saturating_sub(way.capacity_since));
            stats.capacity_bytes = stats
                .capacity_bytes
                .saturating_add(capacity * span / 1_000_000_000);
            stats
        }))
    }

    fn link_index(&self, link: LinkId) -> Result<usize, NetError> {
        (link.index() < self.links.len())
            .then_some(link.index())
            .ok_or(NetError::UnknownLink(link))
    }

    // ---- faults ----

    /// Takes the link down now (a partition). Connections are not told: flows just stall.
    pub fn link_down(&mut self, now: SimTime, link: LinkId) -> Result<(), NetError> {
        self.link_index(link)?;
        self.advance(now)?;
        self.apply_fault(now.as_nanos(), Fault::LinkDown(link))
    }

    /// Brings the link back now.
    pub fn link_up(&mut self, now: SimTime, link: LinkId) -> Result<(), NetError> {
        self.link_index(link)?;
        self.advance(now)?;
        self.apply_fault(now.as_nanos(), Fault::LinkUp(link))
    }

    /// Changes the link's one-way latency now.
    pub fn set_latency(
        &mut self,
        now: SimTime,
        link: LinkId,
        latency: SimDuration,
    ) -> Result<(), NetError> {
        self.link_index(link)?;
        self.advance(now)?;
        self.apply_fault(now.as_nanos(), Fault::SetLatency(link, latency))
    }

    /// Changes the link's line rate now (it must leave a non-zero payload rate; use
    /// [`Network::link_down`] for a partition).
    pub fn set_bandwidth(
        &mut self,
        now: SimTime,
        link: LinkId,
        bandwidth: Rate,
    ) -> Result<(), NetError> {
        self.link_index(link)?;
        self.check_bandwidth(link, bandwidth)?;
        self.advance(now)?;
        self.apply_fault(now.as_nanos(), Fault::SetBandwidth(link, bandwidth))
    }

    fn check_bandwidth(&self, link: LinkId, bandwidth: Rate) -> Result<(), NetError> {
        let mut spec = self.link_spec(link)?;
        spec.bandwidth = bandwidth;
        spec.validate()
    }

    /// Schedules a fault at `at` (not before the network's clock). It counts in
    /// [`Network::next_event_time`].
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), NetError> {
        self.check_time(at)?;
        match fault {
            Fault::LinkDown(l) | Fault::LinkUp(l) | Fault::SetLatency(l, _) => {
                self.link_index(l)?;
            }
            Fault::SetBandwidth(l, rate) => self.check_bandwidth(l, rate)?,
            Fault::Reset(c, _) => {
                self.conn(c)?;
            }
        }
        self.seq += 1;
        self.faults.insert((at.as_nanos(), self.seq), fault);
        Ok(())
    }

    /// Schedules a partition of `link` from `start` until `end`.
    pub fn schedule_partition(
        &mut self,
        link: LinkId,
        start: SimTime,
        end: SimTime,
    ) -> Result<(), NetError> {
        self.check_time(end.max(start))?;
        self.schedule_fault(start, Fault::LinkDown(link))?;
        self.schedule_fault(end.max(start), Fault::LinkUp(link))
    }

    /// Schedules `latency` on `link` from `start` until `end`, then the latency it has now.
    pub fn schedule_latency(
        &mut self,
        link: LinkId,
        start: SimTime,
        end: SimTime,
        latency: SimDuration,
    ) -> Result<(), NetError> {
        let before = self.link_spec(link)?.latency;
        self.check_time(end.max(start))?;
        self.schedule_fault(start, Fault::SetLatency(link, latency))?;
        self.schedule_fault(end.max(start), Fault::SetLatency(link, before))
    }

    /// Schedules `bandwidth` on `link` from `start` until `end`, then the line rate it has now.
    pub fn schedule_bandwidth(
        &mut self,
        link: LinkId,
        start: SimTime,
        end: SimTime,
        bandwidth: Rate,
    ) -> Result<(), NetError> {
        let before = self.link_spec(link)?.bandwidth;
        self.check_time(end.max(start))?;
        self.schedule_fault(start, Fault::SetBandwidth(link, bandwidth))?;
        self.schedule_fault(end.max(start), Fault::SetBandwidth(link, before))
    }

    fn apply_fault(&mut self, t: u64, fault: Fault) -> Result<(), NetError> {
        match fault {
            Fault::LinkDown(l) => self.do_link_down(t, l.index()),
            Fault::LinkUp(l) => self.do_link_up(t, l.index()),
            Fault::SetLatency(l, latency) => self.do_latency(t, l.index(), latency),
            Fault::SetBandwidth(l, rate) => {
                self.check_bandwidth(l, rate)?;
                self.links[l.index()].account_capacity(t);
                self.relink(t, l.index(), |link| link.spec.bandwidth = rate);
            }
            Fault::Reset(c, by) => {
                self.live(c)?;
                self.do_reset(t, c, by);
            }
        }
        Ok(())
    }

    /// Settles both ways of a link, changes it, and installs the new rates.
    fn relink(&mut self, t: u64, l: usize, change: impl FnOnce(&mut LinkState)) {
        self.settle_way(l, 0, t);
        self.settle_way(l, 1, t);
        change(&mut self.links[l]);
        self.apply_way(l, 0, t);
        self.apply_way(l, 1, t);
    }

    fn each_stream_of(&mut self, l: usize, mut f: impl FnMut(&mut Stream)) {
        for w in 0..2 {
            for i in 0..self.links[l].ways[w].members.len() {
                let (c, d) = self.links[l].ways[w].members[i];
                f(&mut self.conns[c.index()].streams[d.index()]);
            }
        }
    }

    fn do_link_down(&mut self, t: u64, l: usize) {
        if self.links[l].down_since.is_some() {
            return;
        }
        self.links[l].account_capacity(t);
        self.settle_way(l, 0, t);
        self.settle_way(l, 1, t);
        self.links[l].down_since = Some(t);
        self.each_stream_of(l, |s| s.freeze(t));
        self.apply_way(l, 0, t);
        self.apply_way(l, 1, t);
        self.index_way(l, 0);
        self.index_way(l, 1);
    }

    fn do_link_up(&mut self, t: u64, l: usize) {
        let Some(since) = self.links[l].down_since else {
            return;
        };
        let outage = t - since;
        self.links[l].account_capacity(t);
        self.settle_way(l, 0, t);
        self.settle_way(l, 1, t);
        self.links[l].down_since = None;
        self.each_stream_of(l, |s| s.thaw(t, since, outage));
        for w in 0..2 {
            let way = &mut self.links[l].ways[w];
            let shifted = std::mem::take(&mut way.in_flight)
                .into_iter()
                .map(|((at, seq), d)| ((at.saturating_add(outage), seq), d))
                .collect();
            way.in_flight = shifted;
            if way.busy_until > since {
                way.busy_until = way.busy_until.saturating_add(outage);
            }
            for d in std::mem::take(&mut way.held) {
                self.schedule_parcel(l, w, t, d);
            }
            self.index_way(l, w);
        }
        self.apply_way(l, 0, t);
        self.apply_way(l, 1, t);
    }

    fn do_latency(&mut self, t: u64, l: usize, latency: SimDuration) {
        let old = self.links[l].latency_ns();
        let new = latency.as_nanos();
        self.settle_way(l, 0, t);
        self.settle_way(l, 1, t);
        self.links[l].spec.latency = latency;
        self.each_stream_of(l, |s| s.relatency(t, old, new));
        self.apply_way(l, 0, t);
        self.apply_way(l, 1, t);
    }
}

/// Saturating addition of nanoseconds to a duration.
trait AddNs {
    fn saturating_add_ns(self, ns: u64) -> Self;
}

impl AddNs for SimDuration {
    fn saturating_add_ns(self, ns: u64) -> Self {
        SimDuration::from_nanos(self.as_nanos().saturating_add(ns))
    }
}

/// A payload demand (bytes/s) in wire bytes/s at `ppm` wire bytes per million payload bytes
/// (rounded up, so the share given back covers the demand).
fn to_wire(demand: u64, ppm: u32) -> u64 {
    if ppm >= super::conn::WIRE_UNCOMPRESSED || demand == super::fair_share::UNLIMITED {
        return demand;
    }
    let wire = (u128::from(demand) * u128::from(ppm)).div_ceil(1_000_000);
    u64::try_from(wire).unwrap_or(super::fair_share::UNLIMITED)
}

/// A wire share (bytes/s) back in payload bytes/s, never above the payload `demand`.
fn from_wire(share: u64, ppm: u32, demand: u64) -> u64 {
    if ppm >= super::conn::WIRE_UNCOMPRESSED {
        return share;
    }
    let payload = u128::from(share) * 1_000_000 / u128::from(ppm.max(1));
    u64::try_from(payload).unwrap_or(u64::MAX).min(demand)
}
