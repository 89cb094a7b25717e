//! The network substrate: closed forms, back-pressure, faults, conservation, determinism, and a
//! run driven by the engine.

use proptest::prelude::*;
use replsim::engine::{Actor, ActorId, Ctx, Message, SimDuration, SimTime, Simulation, StopAt};
use replsim::net::{
    ConnId, ConnOptions, ConnState, Dir, Fault, HostId, Jitter, LinkId, LinkSpec, NetError,
    NetWake, Network, Notification, Production, Quantity, ReadMode, Side, StreamState, Threshold,
    Topology,
};
use replsim::units::{ByteSize, Rate};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const MIB: u64 = 1 << 20;

fn t(ns: u64) -> SimTime {
    SimTime::from_nanos(ns)
}

fn owners() -> [ActorId; 2] {
    [ActorId::from_index(0), ActorId::from_index(1)]
}

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

/// Two hosts joined by one link; returns the payload rate too.
fn pair(bandwidth: &str, latency_ns: u64, seed: u64) -> (Network, HostId, HostId, LinkId, u64) {
    let mut topo = Topology::new();
    let a = topo.add_host("a").unwrap();
    let b = topo.add_host("b").unwrap();
    let spec = LinkSpec::new(rate(bandwidth), SimDuration::from_nanos(latency_ns));
    let link = topo.add_link(a, b, spec).unwrap();
    let payload = spec.payload_rate().bytes_per_sec();
    (Network::new(topo, seed), a, b, link, payload)
}

fn ceil_div(a: u128, b: u128) -> u64 {
    a.div_ceil(b) as u64
}

/// Runs the network until `until`, returning every notification with the instant it happened.
fn run(net: &mut Network, until: SimTime) -> Vec<(SimTime, Notification)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    net.drain_notifications(&mut buf);
    let now = net.now();
    out.extend(buf.drain(..).map(|n| (now, n)));
    while let Some(at) = net.next_event_time().filter(|&at| at <= until) {
        net.advance(at).unwrap();
        net.drain_notifications(&mut buf);
        out.extend(buf.drain(..).map(|n| (at, n)));
    }
    net.advance(until).unwrap();
    out
}

fn eof_time(log: &[(SimTime, Notification)], conn: ConnId, dir: Dir) -> Option<u64> {
    log.iter().find_map(|(at, n)| match n {
        Notification::Eof {
            conn: c, dir: d, ..
        } if *c == conn && *d == dir => Some(at.as_nanos()),
        _ => None,
    })
}

/// Writes `bytes` on the forward direction, closes it, and lets the reader read everything.
fn bulk(net: &mut Network, a: HostId, b: HostId, at: u64, bytes: u64) -> ConnId {
    let conn = net
        .connect(t(at), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.set_read_mode(t(at), conn, Dir::Forward, ReadMode::Unlimited)
        .unwrap();
    net.write(t(at), conn, Dir::Forward, bytes).unwrap();
    net.close(t(at), conn, Dir::Forward).unwrap();
    conn
}

#[test]
fn one_flow_takes_size_over_payload_rate_plus_latency() {
    let latency = MS;
    let (mut net, a, b, _, payload) = pair("1gbit", latency, 1);
    assert_eq!(payload, 125_000_000 * 1448 / 1514);
    let size = 50_000_000;
    let conn = bulk(&mut net, a, b, 0, size);
    let log = run(&mut net, t(10 * SEC));
    let expected = latency + ceil_div(u128::from(size) * 1_000_000_000, u128::from(payload));
    assert_eq!(eof_time(&log, conn, Dir::Forward), Some(expected));
    let before = net.dir_state(t(10 * SEC), conn, Dir::Forward).unwrap();
    assert_eq!(before.read, size);
    assert_eq!(net.conn_state(conn).unwrap(), ConnState::Closing);
    // One nanosecond earlier the last byte had not arrived.
    let (mut net2, a2, b2, _, _) = pair("1gbit", latency, 1);
    let conn2 = bulk(&mut net2, a2, b2, 0, size);
    let state = net2
        .dir_state(t(expected - 1), conn2, Dir::Forward)
        .unwrap();
    assert!(state.read < size);
    assert_eq!(
        net2.dir_state(t(expected), conn2, Dir::Forward)
            .unwrap()
            .read,
        size
    );
}

#[test]
fn two_saturated_flows_share_and_the_survivor_speeds_up() {
    let latency = 2 * MS;
    let (mut net, a, b, link, payload) = pair("1gbit", latency, 1);
    assert_eq!(payload % 2, 0);
    let half = payload / 2;
    let (small, large) = (10_000_000u64, 30_000_000u64);
    let c1 = bulk(&mut net, a, b, 0, small);
    let c2 = bulk(&mut net, a, b, 0, large);
    let mid = net.dir_state(t(MS), c1, Dir::Forward).unwrap();
    assert_eq!(mid.wire_rate.bytes_per_sec(), half);
    let log = run(&mut net, t(10 * SEC));
    let t1 = ceil_div(u128::from(small) * 1_000_000_000, u128::from(half));
    // The survivor keeps the exact fraction of a byte it had sent by t1.
    let left = u128::from(large) * 1_000_000_000 - u128::from(half) * u128::from(t1);
    let t2 = t1 + ceil_div(left, u128::from(payload));
    assert_eq!(eof_time(&log, c1, Dir::Forward), Some(t1 + latency));
    assert_eq!(eof_time(&log, c2, Dir::Forward), Some(t2 + latency));
    let stats = net.link_stats(t(10 * SEC), link).unwrap();
    assert_eq!(stats[0].bulk_bytes, small + large);
    assert_eq!(stats[1].bulk_bytes, 0);
    assert_eq!(stats[0].busy.as_nanos(), t2);
    assert!(stats[0].utilisation() > 0.0 && stats[0].utilisation() < 1.0);
}

#[test]
fn a_slow_reader_caps_the_flow() {
    let latency = MS;
    let (mut net, a, b, _, payload) = pair("1gbit", latency, 1);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    let r = 10 * MIB;
    net.set_read_mode(t(0), conn, Dir::Forward, ReadMode::Rate(Rate::new(r)))
        .unwrap();
    let size = 40 * MIB;
    net.write(t(0), conn, Dir::Forward, size).unwrap();
    net.close(t(0), conn, Dir::Forward).unwrap();
    let early = net.dir_state(t(MS / 2), conn, Dir::Forward).unwrap();
    assert_eq!(early.wire_rate.bytes_per_sec(), payload);
    let mid = net.dir_state(t(2 * SEC), conn, Dir::Forward).unwrap();
    assert_eq!(mid.wire_rate.bytes_per_sec(), r);
    assert_eq!(mid.read_rate.bytes_per_sec(), r);
    assert_eq!(mid.sent - mid.read, mid.recv_buffer_cap, "window full");
    let log = run(&mut net, t(100 * SEC));
    let expected = latency + ceil_div(u128::from(size) * 1_000_000_000, u128::from(r));
    assert_eq!(eof_time(&log, conn, Dir::Forward), Some(expected));
}

fn stalled(mode_blocking: bool) -> (Network, ConnId, Vec<(SimTime, Notification)>, u64, u64, u64) {
    let (mut net, a, b, _, _) = pair("1gbit", MS, 1);
    let opts = ConnOptions {
        send_buffer: ByteSize::new(MIB),
        recv_buffer: ByteSize::new(2 * MIB),
        ..ConnOptions::default()
    };
    let conn = net.connect(t(0), a, b, opts, owners()).unwrap();
    let p = 50_000_000;
    let production = if mode_blocking {
        Production::blocking(Rate::new(p))
    } else {
        Production::buffered(Rate::new(p))
    };
    net.set_production(t(0), conn, Dir::Forward, Some(production))
        .unwrap();
    let watch_at = 5 * MIB;
    if !mode_blocking {
        let w = net.watch(
            t(0),
            conn,
            Dir::Forward,
            Quantity::AppQueue,
            Threshold::AtLeast(watch_at),
            owners()[0],
        );
        w.unwrap();
    }
    let log = run(&mut net, t(SEC));
    (net, conn, log, p, 3 * MIB, watch_at)
}

#[test]
fn a_stalled_receiver_blocks_the_sender_after_both_buffers() {
    let (mut net, conn, log, p, buffers, watch_at) = stalled(false);
    let blocked_at = ceil_div(u128::from(buffers) * 1_000_000_000, u128::from(p));
    let blocked: Vec<u64> = log
        .iter()
        .filter(|(_, n)| matches!(n, Notification::WriteBlocked { .. }))
        .map(|(at, _)| at.as_nanos())
        .collect();
    assert_eq!(blocked, vec![blocked_at]);
    let watch = log
        .iter()
        .find(|(_, n)| matches!(n, Notification::Watch { .. }))
        .unwrap();
    let expected_watch = ceil_div(
        u128::from(buffers + watch_at) * 1_000_000_000,
        u128::from(p),
    );
    assert_eq!(watch.0.as_nanos(), expected_watch);
    let state = net.dir_state(t(SEC), conn, Dir::Forward).unwrap();
    assert_eq!(state.accepted, buffers);
    assert_eq!(state.send_buffer, MIB);
    assert_eq!(state.in_flight + state.recv_buffer, 2 * MIB);
    assert_eq!(
        state.app_queue,
        p - buffers,
        "the app queue grows at the production rate"
    );
    assert_eq!(state.wire_rate.bytes_per_sec(), 0);
    assert!(state.blocked);
    // The reader wakes up: the queue drains and the writer is told.
    net.set_read_mode(t(SEC), conn, Dir::Forward, ReadMode::Unlimited)
        .unwrap();
    let log = run(&mut net, t(10 * SEC));
    assert!(
        log.iter()
            .any(|(_, n)| matches!(n, Notification::Writable { .. }))
    );
    let state = net.dir_state(t(10 * SEC), conn, Dir::Forward).unwrap();
    assert_eq!(state.app_queue, 0);
}

#[test]
fn a_blocking_producer_stalls_instead_of_queueing() {
    let (mut net, conn, log, _, buffers, _) = stalled(true);
    assert!(
        log.iter()
            .any(|(_, n)| matches!(n, Notification::WriteBlocked { .. }))
    );
    let state = net.dir_state(t(SEC), conn, Dir::Forward).unwrap();
    assert_eq!(state.written, buffers);
    assert_eq!(state.app_queue, 0);
    assert_eq!(state.write_rate.bytes_per_sec(), 0);
}

#[test]
fn production_with_a_total_ends_and_says_so() {
    let (mut net, a, b, _, _) = pair("1gbit", MS, 1);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.set_read_mode(t(0), conn, Dir::Forward, ReadMode::Unlimited)
        .unwrap();
    let production = Production::blocking(Rate::new(10_000_000)).with_total(1_000_000);
    net.set_production(t(0), conn, Dir::Forward, Some(production))
        .unwrap();
    let log = run(&mut net, t(SEC));
    let done = log
        .iter()
        .find(|(_, n)| matches!(n, Notification::ProductionDone { .. }))
        .unwrap();
    assert_eq!(done.0.as_nanos(), 100 * MS);
    assert_eq!(
        net.dir_state(t(SEC), conn, Dir::Forward).unwrap().read,
        1_000_000
    );
}

#[test]
fn a_partition_shifts_the_finish_by_exactly_the_outage() {
    let latency = MS;
    let (mut net, a, b, link, payload) = pair("1gbit", latency, 1);
    let size = 3 * payload / 2; // 1.5 s of sending
    let conn = bulk(&mut net, a, b, 0, size);
    let (down, up) = (SEC, SEC + 700 * MS);
    net.schedule_partition(link, t(down), t(up)).unwrap();
    let frozen = net
        .dir_state(t(down + 300 * MS), conn, Dir::Forward)
        .unwrap();
    let later = net
        .dir_state(t(down + 600 * MS), conn, Dir::Forward)
        .unwrap();
    assert_eq!(
        (frozen.sent, frozen.arrived),
        (later.sent, later.arrived),
        "nothing moves"
    );
    assert_eq!(later.wire_rate.bytes_per_sec(), 0);
    let log = run(&mut net, t(10 * SEC));
    let undisturbed = latency + ceil_div(u128::from(size) * 1_000_000_000, u128::from(payload));
    assert_eq!(
        eof_time(&log, conn, Dir::Forward),
        Some(undisturbed + (up - down))
    );
}

#[test]
fn messages_are_held_during_a_partition_and_lost_on_reset() {
    let (mut net, a, b, link, _) = pair("1gbit", MS, 1);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.link_down(t(0), link).unwrap();
    net.send_message(t(0), conn, Dir::Forward, 100, 7).unwrap();
    assert!(!net.link_is_up(link).unwrap());
    let log = run(&mut net, t(SEC));
    assert!(log.is_empty(), "nothing crosses a partition");
    net.link_up(t(SEC), link).unwrap();
    let log = run(&mut net, t(2 * SEC));
    let arrival = log
        .iter()
        .find(|(_, n)| matches!(n, Notification::Message { tag: 7, .. }))
        .unwrap();
    assert!(arrival.0.as_nanos() > SEC + MS && arrival.0.as_nanos() < SEC + 2 * MS);
    net.send_message(t(2 * SEC), conn, Dir::Forward, 100, 8)
        .unwrap();
    net.reset(t(2 * SEC), conn, Side::Acceptor).unwrap();
    let log = run(&mut net, t(3 * SEC));
    assert!(
        !log.iter()
            .any(|(_, n)| matches!(n, Notification::Message { .. }))
    );
}

#[test]
fn close_gives_eof_after_the_reader_drains_everything() {
    let (mut net, a, b, _, payload) = pair("1gbit", MS, 1);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.write(t(0), conn, Dir::Forward, 1_000_000).unwrap();
    net.close(t(0), conn, Dir::Forward).unwrap();
    assert_eq!(
        net.write(t(0), conn, Dir::Forward, 1),
        Err(NetError::Closed {
            conn,
            dir: Dir::Forward
        })
    );
    let log = run(&mut net, t(5 * SEC));
    let readable = log
        .iter()
        .find(|(_, n)| matches!(n, Notification::Readable { .. }))
        .unwrap();
    assert_eq!(
        readable.0.as_nanos(),
        MS + ceil_div(1_000_000_000, u128::from(payload))
    );
    assert_eq!(readable.1.owner(), owners()[1]);
    assert!(
        eof_time(&log, conn, Dir::Forward).is_none(),
        "nothing read yet"
    );
    // Reads in two steps: EOF only after the last byte.
    assert_eq!(
        net.read(t(5 * SEC), conn, Dir::Forward, 600_000).unwrap(),
        600_000
    );
    assert!(eof_time(&run(&mut net, t(6 * SEC)), conn, Dir::Forward).is_none());
    assert_eq!(
        net.read(t(6 * SEC), conn, Dir::Forward, u64::MAX).unwrap(),
        400_000
    );
    assert_eq!(
        eof_time(&run(&mut net, t(7 * SEC)), conn, Dir::Forward),
        Some(6 * SEC)
    );
    let state = net.dir_state(t(7 * SEC), conn, Dir::Forward).unwrap();
    assert_eq!(state.state, StreamState::Closed);
    net.close(t(7 * SEC), conn, Dir::Backward).unwrap();
    let log = run(&mut net, t(8 * SEC));
    // Nothing was written backward: end-of-file as soon as the FIN arrives.
    assert_eq!(eof_time(&log, conn, Dir::Backward), Some(7 * SEC + MS));
    assert_eq!(net.conn_state(conn).unwrap(), ConnState::Closed);
}

#[test]
fn reset_loses_unread_data_and_tells_both_ends() {
    let latency = 3 * MS;
    let (mut net, a, b, _, _) = pair("1gbit", latency, 1);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.write(t(0), conn, Dir::Forward, 20 * MIB).unwrap();
    net.reset(t(SEC), conn, Side::Initiator).unwrap();
    let log = run(&mut net, t(2 * SEC));
    let resets: Vec<(u64, ActorId)> = log
        .iter()
        .filter_map(|(at, n)| match n {
            Notification::Reset { owner, .. } => Some((at.as_nanos(), *owner)),
            _ => None,
        })
        .collect();
    assert_eq!(
        resets,
        vec![(SEC, owners()[0]), (SEC + latency, owners()[1])]
    );
    let state = net.dir_state(t(2 * SEC), conn, Dir::Forward).unwrap();
    assert_eq!(state.read, 0);
    assert!(
        state.recv_buffer > 0,
        "the unread bytes are lost with the connection"
    );
    assert_eq!(state.state, StreamState::Reset);
    assert_eq!(net.conn_state(conn).unwrap(), ConnState::Reset);
    assert_eq!(
        net.write(t(2 * SEC), conn, Dir::Forward, 1),
        Err(NetError::Reset(conn))
    );
    assert_eq!(
        net.reset(t(2 * SEC), conn, Side::Acceptor),
        Err(NetError::Reset(conn))
    );
    assert!(net.next_event_time().is_none());
}

#[test]
fn control_messages_pay_serialization_and_queue_behind_each_other() {
    let latency = 5 * MS;
    let (mut net, a, b, link, payload) = pair("100mbit", latency, 1);
    assert_eq!(payload, 11_955_085);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    net.send_message(t(0), conn, Dir::Forward, 10_000, 1)
        .unwrap();
    net.send_message(t(0), conn, Dir::Forward, 5_000, 2)
        .unwrap();
    net.send_message(t(0), conn, Dir::Backward, 10_000, 3)
        .unwrap();
    let log = run(&mut net, t(SEC));
    let ser = |bytes: u64| ceil_div(u128::from(bytes) * 1_000_000_000, u128::from(payload));
    let arrivals: Vec<(u64, u64)> = log
        .iter()
        .filter_map(|(at, n)| match n {
            Notification::Message { tag, .. } => Some((*tag, at.as_nanos())),
            _ => None,
        })
        .collect();
    assert_eq!(
        arrivals,
        vec![
            (1, ser(10_000) + latency),
            (3, ser(10_000) + latency),
            (2, ser(10_000) + ser(5_000) + latency)
        ]
    );
    let stats = net.link_stats(t(SEC), link).unwrap();
    assert_eq!(stats[0].messages, 2);
    assert_eq!(stats[0].message_bytes, 15_000);
    assert_eq!(stats[0].queueing_total.as_nanos(), ser(10_000));
    assert_eq!(stats[0].queueing_max.as_nanos(), ser(10_000));
    assert_eq!(stats[0].busy.as_nanos(), ser(10_000) + ser(5_000));
    assert_eq!(stats[1].messages, 1);
}

fn jittered_arrivals(seed: u64, jitter: Jitter) -> Vec<u64> {
    let mut topo = Topology::new();
    let a = topo.add_host("a").unwrap();
    let b = topo.add_host("b").unwrap();
    let spec = LinkSpec::new(rate("1gbit"), SimDuration::from_millis(1)).with_jitter(jitter);
    topo.add_link(a, b, spec).unwrap();
    let mut net = Network::new(topo, seed);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    for i in 0..20 {
        net.send_message(t(i * MS), conn, Dir::Forward, 100, i)
            .unwrap();
    }
    let log = run(&mut net, t(SEC));
    let arrivals: Vec<u64> = log.iter().map(|(at, _)| at.as_nanos()).collect();
    assert_eq!(arrivals.len(), 20);
    assert!(
        arrivals.windows(2).all(|w| w[0] <= w[1]),
        "in order per connection"
    );
    arrivals
}

#[test]
fn jitter_is_deterministic_under_a_seed() {
    let jitters = [
        Jitter::Uniform {
            max: SimDuration::from_millis(2),
        },
        Jitter::Exponential {
            mean: SimDuration::from_micros(500),
        },
        Jitter::Normal {
            mean: SimDuration::from_micros(500),
            std_dev: SimDuration::from_micros(200),
        },
    ];
    for jitter in jitters {
        let first = jittered_arrivals(42, jitter);
        assert_eq!(first, jittered_arrivals(42, jitter), "{jitter:?}");
        assert_ne!(first, jittered_arrivals(43, jitter), "{jitter:?}");
    }
}

#[test]
fn bad_input_is_an_error_value() {
    let mut topo = Topology::new();
    let a = topo.add_host("a").unwrap();
    let b = topo.add_host("b").unwrap();
    let c = topo.add_host("c").unwrap();
    assert_eq!(topo.add_host("a"), Err(NetError::DuplicateHost("a".into())));
    let spec = LinkSpec::new(rate("1gbit"), SimDuration::ZERO);
    assert!(matches!(
        topo.add_link(a, a, spec),
        Err(NetError::SelfLink(_))
    ));
    let zero = LinkSpec::new(Rate::ZERO, SimDuration::ZERO);
    assert_eq!(topo.add_link(a, b, zero), Err(NetError::ZeroBandwidth(0)));
    let link = topo.add_link(a, b, spec).unwrap();
    assert!(matches!(
        topo.add_link(b, a, spec),
        Err(NetError::DuplicateLink { .. })
    ));
    let mut net = Network::new(topo, 1);
    let o = owners();
    assert!(matches!(
        net.connect(t(0), a, c, ConnOptions::default(), o),
        Err(NetError::NoLink { .. })
    ));
    let tiny = ConnOptions {
        send_buffer: ByteSize::ZERO,
        ..ConnOptions::default()
    };
    assert_eq!(
        net.connect(t(0), a, b, tiny, o),
        Err(NetError::ZeroBuffer("send"))
    );
    let conn = net
        .connect(t(SEC), a, b, ConnOptions::default(), o)
        .unwrap();
    assert!(matches!(
        net.write(t(0), conn, Dir::Forward, 1),
        Err(NetError::PastTime { .. })
    ));
    let watch = net.watch(
        t(SEC),
        conn,
        Dir::Forward,
        Quantity::Sent,
        Threshold::AtMost(5),
        o[0],
    );
    assert!(matches!(watch, Err(NetError::BadWatch(_))));
    assert_eq!(
        net.set_bandwidth(t(SEC), link, Rate::ZERO),
        Err(NetError::ZeroBandwidth(0))
    );
    let other = {
        let mut t2 = Topology::new();
        let x = t2.add_host("x").unwrap();
        let y = t2.add_host("y").unwrap();
        let l = t2.add_link(x, y, spec).unwrap();
        let mut n2 = Network::new(t2, 1);
        let _ = n2.connect(t(0), x, y, ConnOptions::default(), o).unwrap();
        let _ = n2.connect(t(0), x, y, ConnOptions::default(), o).unwrap();
        (
            n2.connect(t(0), x, y, ConnOptions::default(), o).unwrap(),
            l,
        )
    };
    assert_eq!(
        net.write(t(SEC), other.0, Dir::Forward, 1),
        Err(NetError::UnknownConn(other.0))
    );
    assert!(
        net.link_down(t(SEC), other.1).is_ok(),
        "link 0 exists in both"
    );
    assert!(net.schedule_fault(t(0), Fault::LinkUp(link)).is_err());
    assert!(net.add_host("a").is_err());
    let dot = net.topology().to_dot();
    assert!(dot.starts_with("graph topology {"));
    assert!(dot.contains("\"a\" -- \"b\" [label=\"1gbit 0s\"]"));
    assert!(dot.contains("\"c\";"));
}

#[test]
fn latency_and_bandwidth_changes_apply_for_an_interval() {
    let (mut net, a, b, link, payload) = pair("1gbit", MS, 1);
    let size = payload; // one second of sending at full rate
    let conn = bulk(&mut net, a, b, 0, size);
    net.schedule_bandwidth(link, t(SEC / 2), t(SEC), rate("500mbit"))
        .unwrap();
    net.schedule_latency(link, t(0), t(2 * SEC), SimDuration::from_millis(10))
        .unwrap();
    let mid = net.dir_state(t(3 * SEC / 4), conn, Dir::Forward).unwrap();
    assert_eq!(mid.wire_rate.bytes_per_sec(), payload / 2);
    let log = run(&mut net, t(10 * SEC));
    // Half a second at full rate, half a second at half rate, then a quarter second at full.
    let finish = eof_time(&log, conn, Dir::Forward).unwrap();
    let expected = 5 * SEC / 4 + 10 * MS;
    assert_eq!(finish, expected);
    assert_eq!(
        net.dir_state(t(10 * SEC), conn, Dir::Forward).unwrap().read,
        size
    );
    assert_eq!(
        net.link_spec(link).unwrap().latency,
        SimDuration::from_millis(1)
    );
}

#[test]
fn ten_gib_to_a_steady_reader_costs_a_handful_of_events() {
    let (mut net, a, b, _, payload) = pair("10gbit", MS, 1);
    let size = 10 << 30;
    let conn = bulk(&mut net, a, b, 0, size);
    let log = run(&mut net, t(3600 * SEC));
    let expected = MS + ceil_div(u128::from(size) * 1_000_000_000, u128::from(payload));
    assert_eq!(eof_time(&log, conn, Dir::Forward), Some(expected));
    assert!(net.events() <= 20, "{} events", net.events());
    assert_eq!(
        net.dir_state(t(3600 * SEC), conn, Dir::Forward)
            .unwrap()
            .read,
        size
    );
}

/// Finish times of processor sharing, in seconds (test oracle only).
fn processor_sharing(sizes: &[u64], capacity: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut finish = vec![0.0; sizes.len()];
    let (mut now, mut done_bytes) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        let active = (sizes.len() - k) as f64;
        now += (sizes[i] as f64 - done_bytes) * active / capacity;
        done_bytes = sizes[i] as f64;
        finish[i] = now;
    }
    finish
}

/// A hundred flows of 1, 2, …, 100 MB started together on one 10gbit link, run to the end.
struct Hundred {
    net: Network,
    conns: Vec<ConnId>,
    log: Vec<(SimTime, Notification)>,
    sizes: Vec<u64>,
    payload: u64,
}

fn hundred_flows() -> Hundred {
    let (mut net, a, b, _, payload) = pair("10gbit", MS, 1);
    let sizes: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
    let conns: Vec<ConnId> = sizes.iter().map(|&s| bulk(&mut net, a, b, 0, s)).collect();
    let log = run(&mut net, t(3600 * SEC));
    Hundred {
        net,
        conns,
        log,
        sizes,
        payload,
    }
}

#[test]
fn a_hundred_concurrent_flows_finish_as_processor_sharing_says() {
    let Hundred {
        mut net,
        conns,
        log,
        sizes,
        payload,
    } = hundred_flows();
    let oracle = processor_sharing(&sizes, payload as f64);
    for (i, &conn) in conns.iter().enumerate() {
        let finish = eof_time(&log, conn, Dir::Forward).unwrap();
        let expected = (oracle[i] * 1e9).round() as u64 + MS;
        assert!(
            finish.abs_diff(expected) < 1_000,
            "flow {i}: {finish} vs {expected}"
        );
        let state = net.dir_state(t(3600 * SEC), conn, Dir::Forward).unwrap();
        assert_eq!(state.read, sizes[i]);
    }
    assert!(net.events() < 1_000, "{} events", net.events());
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_network_events_and_wall_time() {
    let started = std::time::Instant::now();
    let (mut net, a, b, _, _) = pair("10gbit", MS, 1);
    let conn = bulk(&mut net, a, b, 0, 10 << 30);
    let log = run(&mut net, t(3600 * SEC));
    let wall = started.elapsed();
    let end = eof_time(&log, conn, Dir::Forward).unwrap();
    println!(
        "10 GiB over 10gbit/1ms to an unlimited reader: {} network events, {:.1} us wall, done at {}",
        net.events(),
        wall.as_secs_f64() * 1e6,
        t(end)
    );
    let started = std::time::Instant::now();
    let Hundred { net, log, .. } = hundred_flows();
    let wall = started.elapsed();
    let last = log.iter().map(|(at, _)| *at).max().unwrap();
    println!(
        "100 concurrent flows (1..100 MB) over 10gbit/1ms: {} network events, {:.1} us wall, last done at {last}",
        net.events(),
        wall.as_secs_f64() * 1e6
    );
}

// ---- conservation under random schedules ----

#[derive(Clone, Debug)]
enum Op {
    Write(usize, bool, u64),
    Produce(usize, bool, Option<(u64, bool, Option<u64>)>),
    ReadMode(usize, bool, u8, u64),
    Read(usize, bool, u64),
    Message(usize, bool, u64),
    Down,
    Up,
    Latency(u64),
    Bandwidth(u64),
    Close(usize, bool),
    Reset(usize),
    Watch(usize, bool, u8, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..3usize;
    prop_oneof![
        4 => (c.clone(), any::<bool>(), 1..20_000_000u64).prop_map(|(c, d, n)| Op::Write(c, d, n)),
        3 => (c.clone(), any::<bool>(), proptest::option::of((1_000..200_000_000u64, any::<bool>(), proptest::option::of(1..50_000_000u64))))
            .prop_map(|(c, d, p)| Op::Produce(c, d, p)),
        4 => (c.clone(), any::<bool>(), 0..3u8, 1_000..300_000_000u64).prop_map(|(c, d, m, r)| Op::ReadMode(c, d, m, r)),
        2 => (c.clone(), any::<bool>(), 1..10_000_000u64).prop_map(|(c, d, n)| Op::Read(c, d, n)),
        1 => (c.clone(), any::<bool>(), 1..100_000u64).prop_map(|(c, d, n)| Op::Message(c, d, n)),
        1 => Just(Op::Down),
        2 => Just(Op::Up),
        1 => prop_oneof![0..20_000_000u64, 0..100_000u64].prop_map(Op::Latency),
        1 => (1_000_000..20_000_000_000u64).prop_map(Op::Bandwidth),
        1 => (c.clone(), any::<bool>()).prop_map(|(c, d)| Op::Close(c, d)),
        1 => c.clone().prop_map(Op::Reset),
        1 => (c, any::<bool>(), 0..9u8, 0..30_000_000u64).prop_map(|(c, d, q, v)| Op::Watch(c, d, q, v)),
    ]
}

const QUANTITIES: [Quantity; 9] = [
    Quantity::Written,
    Quantity::Accepted,
    Quantity::Sent,
    Quantity::Arrived,
    Quantity::Read,
    Quantity::AppQueue,
    Quantity::SendBuffer,
    Quantity::InFlight,
    Quantity::RecvBuffer,
];

fn dir_of(forward: bool) -> Dir {
    if forward { Dir::Forward } else { Dir::Backward }
}

/// Applies one random operation; errors (closed, reset) are fine, panics are not.
fn apply(net: &mut Network, now: SimTime, conns: &[ConnId], link: LinkId, op: &Op) {
    let _ = match *op {
        Op::Write(c, d, n) => net.write(now, conns[c], dir_of(d), n),
        Op::Produce(c, d, p) => {
            let production = p.map(|(r, blocking, total)| {
                let base = if blocking {
                    Production::blocking(Rate::new(r))
                } else {
                    Production::buffered(Rate::new(r))
                };
                Production { total, ..base }
            });
            net.set_production(now, conns[c], dir_of(d), production)
        }
        Op::ReadMode(c, d, m, r) => {
            let mode = [
                ReadMode::Stopped,
                ReadMode::Rate(Rate::new(r)),
                ReadMode::Unlimited,
            ][m as usize];
            net.set_read_mode(now, conns[c], dir_of(d), mode)
        }
        Op::Read(c, d, n) => net.read(now, conns[c], dir_of(d), n).map(|_| ()),
        Op::Message(c, d, n) => net.send_message(now, conns[c], dir_of(d), n, 0),
        Op::Down => net.link_down(now, link),
        Op::Up => net.link_up(now, link),
        Op::Latency(ns) => net.set_latency(now, link, SimDuration::from_nanos(ns)),
        Op::Bandwidth(bps) => net.set_bandwidth(now, link, Rate::new(bps)),
        Op::Close(c, d) => net.close(now, conns[c], dir_of(d)),
        Op::Reset(c) => net.reset(now, conns[c], Side::Initiator),
        Op::Watch(c, d, q, v) => {
            let quantity = QUANTITIES[q as usize];
            let threshold = if quantity.is_level() && v % 2 == 0 {
                Threshold::AtMost(v)
            } else {
                Threshold::AtLeast(v)
            };
            net.watch(now, conns[c], dir_of(d), quantity, threshold, owners()[0])
                .map(|_| ())
        }
    };
}

/// Checks conservation, caps and monotonicity of every direction at `now`.
fn check(
    net: &mut Network,
    now: SimTime,
    conns: &[ConnId],
    last: &mut [[u64; 5]],
) -> Result<(), TestCaseError> {
    for (i, &conn) in conns.iter().enumerate() {
        for dir in Dir::BOTH {
            let s = net.dir_state(now, conn, dir).unwrap();
            let counters = [s.written, s.accepted, s.sent, s.arrived, s.read];
            prop_assert!(
                counters.windows(2).all(|w| w[0] >= w[1]),
                "pipeline order {counters:?}"
            );
            prop_assert_eq!(
                s.written,
                s.app_queue + s.send_buffer + s.in_flight + s.recv_buffer + s.read
            );
            prop_assert!(
                s.send_buffer <= s.send_buffer_cap,
                "send buffer {} > cap",
                s.send_buffer
            );
            prop_assert!(
                s.in_flight + s.recv_buffer <= s.recv_buffer_cap,
                "window exceeded: {s:?}"
            );
            let prev = &mut last[2 * i + dir.index()];
            prop_assert!(
                counters.iter().zip(prev.iter()).all(|(c, p)| c >= p),
                "went backwards {prev:?} -> {counters:?}"
            );
            *prev = counters;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bytes_are_conserved_under_random_schedules(
        ops in proptest::collection::vec((0..400_000_000u64, op()), 1..40),
        small_buffers in any::<bool>(),
        fast in any::<bool>(),
    ) {
        // At 100gbit a nanosecond carries 12 bytes, so crossings overshoot and get clamped.
        // (with a short latency, or window / RTT would cap the flows well below that).
        let (bandwidth, latency) = if fast { ("100gbit", 20_000) } else { ("1gbit", 2 * MS) };
        let (mut net, a, b, link, _) = pair(bandwidth, latency, 9);
        let opts = if small_buffers {
            ConnOptions { send_buffer: ByteSize::new(100_000), recv_buffer: ByteSize::new(250_000), ..ConnOptions::default() }
        } else {
            ConnOptions::default()
        };
        let conns: Vec<ConnId> = (0..3)
            .map(|i| if i == 1 { net.connect(t(0), b, a, opts, owners()) } else { net.connect(t(0), a, b, opts, owners()) })
            .collect::<Result<_, _>>()
            .unwrap();
        let mut last = vec![[0u64; 5]; 6];
        let mut notes = Vec::new();
        let mut now = 0u64;
        for (dt, op) in &ops {
            // Walk through every network event up to the next operation, checking at each.
            let target = now + dt;
            while let Some(at) = net.next_event_time().filter(|at| at.as_nanos() <= target) {
                net.advance(at).unwrap();
                net.drain_notifications(&mut notes);
                check(&mut net, at, &conns, &mut last)?;
            }
            now = target;
            apply(&mut net, t(now), &conns, link, op);
            check(&mut net, t(now), &conns, &mut last)?;
        }
        // Heal, read everything, and let it drain: nothing is lost on live connections.
        let _ = net.link_up(t(now), link);
        for &conn in &conns {
            for dir in Dir::BOTH {
                let _ = net.set_production(t(now), conn, dir, None);
                let _ = net.set_read_mode(t(now), conn, dir, ReadMode::Unlimited);
            }
        }
        let end = t(now + 3600 * SEC);
        let mut steps = 0;
        while let Some(at) = net.next_event_time().filter(|&at| at <= end) {
            net.advance(at).unwrap();
            net.drain_notifications(&mut notes);
            steps += 1;
            prop_assert!(steps < 100_000, "does not settle");
        }
        for &conn in &conns {
            for dir in Dir::BOTH {
                let s = net.dir_state(end, conn, dir).unwrap();
                if s.state != StreamState::Reset {
                    prop_assert_eq!(s.read, s.written, "undelivered bytes on {:?} {:?}: {:?}", conn, dir, s);
                }
            }
        }
    }
}

// ---- driven by the engine ----

#[derive(Clone, Debug)]
enum Msg {
    Wake,
    Start,
    Net(Notification),
}

impl Message for Msg {
    const KIND_NAMES: &'static [&'static str] = &["wake", "start", "net"];
    fn kind(&self) -> usize {
        match self {
            Msg::Wake => 0,
            Msg::Start => 1,
            Msg::Net(_) => 2,
        }
    }
}

struct Env {
    net: Network,
    wake: NetWake,
    conn: Option<ConnId>,
    hosts: (HostId, HostId),
}

fn parts(env: &mut Env) -> (&mut Network, &mut NetWake) {
    (&mut env.net, &mut env.wake)
}

const DRIVER: ActorId = ActorId::from_index(0);
const WRITER: ActorId = ActorId::from_index(1);
const READER: ActorId = ActorId::from_index(2);

enum Node {
    Driver { wakes: u32 },
    Writer { log: Vec<(SimTime, Notification)> },
    Reader { log: Vec<(SimTime, Notification)> },
}

impl Actor for Node {
    type Msg = Msg;
    type Env = Env;

    fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, Env>) {
        let now = ctx.now();
        match (self, msg) {
            (Node::Driver { wakes }, Msg::Wake) => {
                *wakes += 1;
                ctx.env().wake.fired();
                ctx.env().net.advance(now).unwrap();
                let mut notes = Vec::new();
                ctx.env().net.drain_notifications(&mut notes);
                for n in notes {
                    ctx.send(n.owner(), Msg::Net(n), SimDuration::ZERO);
                }
            }
            (Node::Writer { .. }, Msg::Start) => {
                let env = ctx.env();
                let (a, b) = env.hosts;
                let conn = env
                    .net
                    .connect(now, a, b, ConnOptions::default(), [WRITER, READER])
                    .unwrap();
                env.conn = Some(conn);
                env.net.write(now, conn, Dir::Forward, 8 * MIB).unwrap();
                env.net.close(now, conn, Dir::Forward).unwrap();
                env.net
                    .watch(
                        now,
                        conn,
                        Dir::Forward,
                        Quantity::Read,
                        Threshold::AtLeast(4 * MIB),
                        WRITER,
                    )
                    .unwrap();
            }
            (Node::Reader { .. }, Msg::Start) => {
                let env = ctx.env();
                let conn = env.conn.unwrap();
                env.net
                    .set_read_mode(now, conn, Dir::Forward, ReadMode::Rate(Rate::new(20 * MIB)))
                    .unwrap();
            }
            (Node::Writer { log } | Node::Reader { log }, Msg::Net(n)) => log.push((now, n)),
            _ => {}
        }
        NetWake::sync(ctx, parts, DRIVER, || Msg::Wake);
    }
}

#[test]
fn an_engine_actor_drives_the_network_with_one_timer() {
    let (net, a, b, _, _) = pair("1gbit", MS, 5);
    let env = Env {
        net,
        wake: NetWake::new(),
        conn: None,
        hosts: (a, b),
    };
    let mut sim = Simulation::new(5, env);
    assert_eq!(
        sim.add_actor("net", Node::Driver { wakes: 0 }).unwrap(),
        DRIVER
    );
    assert_eq!(
        sim.add_actor("writer", Node::Writer { log: Vec::new() })
            .unwrap(),
        WRITER
    );
    assert_eq!(
        sim.add_actor("reader", Node::Reader { log: Vec::new() })
            .unwrap(),
        READER
    );
    sim.send_at(WRITER, Msg::Start, SimTime::ZERO).unwrap();
    sim.send_at(READER, Msg::Start, SimTime::ZERO).unwrap();
    sim.run(StopAt::horizon(t(10 * SEC))).unwrap();
    // The reader reads at 20 MiB/s from the first arrival (one latency): half of the 8 MiB after
    // 200 ms, all of it after 400 ms.
    // The writer learns at once that the socket is full, when the queue drained, and when the
    // reader has read half.
    let Node::Writer { log } = sim.actor(WRITER) else {
        unreachable!()
    };
    let kinds: Vec<(u64, &str)> = log
        .iter()
        .map(|(at, n)| {
            let kind = match n {
                Notification::WriteBlocked { .. } => "blocked",
                Notification::Writable { .. } => "writable",
                Notification::Watch { .. } => "watch",
                _ => "other",
            };
            (at.as_nanos(), kind)
        })
        .collect();
    assert_eq!(kinds[0], (0, "blocked"));
    assert_eq!(kinds[1].1, "writable");
    assert_eq!(kinds[2], (MS + 200 * MS, "watch"));
    assert_eq!(kinds.len(), 3);
    let Node::Reader { log } = sim.actor(READER) else {
        unreachable!()
    };
    let eof = log
        .iter()
        .find(|(_, n)| matches!(n, Notification::Eof { .. }))
        .unwrap();
    assert_eq!(eof.0.as_nanos(), MS + 400 * MS);
    assert!(log.iter().all(|(_, n)| n.owner() == READER));
    let Node::Driver { wakes } = sim.actor(DRIVER) else {
        unreachable!()
    };
    assert!(*wakes <= 12, "{wakes} wake-ups");
    assert!(sim.env().wake.armed_at().is_none(), "nothing left to do");
    let conn = sim.env().conn.unwrap();
    let state = sim
        .env_mut()
        .net
        .dir_state(t(10 * SEC), conn, Dir::Forward)
        .unwrap();
    assert_eq!(state.read, 8 * MIB);
}

#[test]
fn crossings_on_a_fast_link_land_exactly_on_their_bounds() {
    // At 100gbit a nanosecond carries about 12 bytes: the last nanosecond of a crossing overshoots
    // and is clamped back, so counters stay exact and in pipeline order.
    let (mut net, a, b, _, payload) = pair("100gbit", 10_000, 1);
    let size = 20_000_003;
    let conn = bulk(&mut net, a, b, 0, size);
    let log = run(&mut net, t(SEC));
    let expected = 10_000 + ceil_div(u128::from(size) * 1_000_000_000, u128::from(payload));
    assert_eq!(eof_time(&log, conn, Dir::Forward), Some(expected));
    let s = net.dir_state(t(SEC), conn, Dir::Forward).unwrap();
    assert_eq!(
        [s.written, s.accepted, s.sent, s.arrived, s.read],
        [size; 5]
    );
}

/// One step of a random network history for the property tests below: two flows on one link,
/// written, produced, read or not, time passing, and `Look` (set a mark, take a change list).
#[derive(Clone, Debug)]
enum NetOp {
    Write(usize, u64),
    Produce(usize, u64),
    Advance(u64),
    Read(usize, bool),
    Look,
}

fn net_op() -> impl Strategy<Value = NetOp> {
    prop_oneof![
        (0usize..2, 1u64..5_000_000).prop_map(|(c, b)| NetOp::Write(c, b)),
        (0usize..2, 0u64..200_000_000).prop_map(|(c, r)| NetOp::Produce(c, r)),
        (0u64..50 * MS).prop_map(NetOp::Advance),
        (0usize..2, any::<bool>()).prop_map(|(c, on)| NetOp::Read(c, on)),
        Just(NetOp::Look),
    ]
}

/// Two connections from `a` to `b` on a 1gbit link, at t = 0.
fn two_flows() -> (Network, [ConnId; 2]) {
    let (mut net, a, b, _, _) = pair("1gbit", MS, 3);
    let mut conn = || {
        net.connect(t(0), a, b, ConnOptions::default(), owners())
            .unwrap()
    };
    let conns = [conn(), conn()];
    (net, conns)
}

/// Applies `op` at `*now` (moving `now` on `Advance`); returns whether it is a `Look`.
fn apply_op(net: &mut Network, conns: &[ConnId; 2], now: &mut u64, op: &NetOp) -> bool {
    match *op {
        NetOp::Write(c, bytes) => net.write(t(*now), conns[c], Dir::Forward, bytes).unwrap(),
        NetOp::Produce(c, r) => {
            let p = Production::blocking(Rate::new(r)).with_total(20 * MIB);
            net.set_production(t(*now), conns[c], Dir::Forward, Some(p))
                .unwrap();
        }
        NetOp::Advance(dt) => {
            *now += dt;
            run(net, t(*now));
        }
        NetOp::Read(c, on) => {
            let mode = if on {
                ReadMode::Unlimited
            } else {
                ReadMode::Stopped
            };
            net.set_read_mode(t(*now), conns[c], Dir::Forward, mode)
                .unwrap();
        }
        NetOp::Look => return true,
    }
    false
}

proptest! {
    /// A direction that tracks a mark answers `at_mark` with exactly what `dir_state` returned
    /// at the mark's last setting, however the direction changed since (writes, productions,
    /// reads, the fair share with another flow on its link, time) — and nothing before the
    /// first setting.
    #[test]
    fn a_tracked_direction_answers_with_its_counters_at_the_mark(
        ops in proptest::collection::vec(net_op(), 1..60)
    ) {
        let (mut net, conns) = two_flows();
        let mark = net.new_mark();
        net.track(conns[0], Dir::Forward, mark).unwrap();
        prop_assert_eq!(net.at_mark(conns[0], Dir::Forward), None);
        prop_assert_eq!(net.at_mark(conns[1], Dir::Forward), None);
        let mut now = 0;
        let mut at_mark = None;
        for op in ops {
            if apply_op(&mut net, &conns, &mut now, &op) {
                net.set_mark(t(now), mark).unwrap();
                at_mark = Some(net.dir_state(t(now), conns[0], Dir::Forward).unwrap());
            }
            prop_assert_eq!(net.at_mark(conns[0], Dir::Forward), at_mark);
        }
        prop_assert_eq!(net.mark_epoch(mark) > 0, at_mark.is_some());
    }
}

/// What a change list promises stays put while a direction is not listed: its flags and rates.
fn shape(s: &replsim::net::DirState) -> (bool, Rate, Rate, Rate, Rate, StreamState) {
    (
        s.blocked,
        s.wire_rate,
        s.write_rate,
        s.arrival_rate,
        s.read_rate,
        s.state,
    )
}

proptest! {
    /// A direction that reports to a change list and is not listed on it has the blocked flag
    /// and rates it had when the list was last taken, however the network moved since (writes,
    /// productions, reads, the fair share with a second flow on its link, time); a take lists
    /// it at most once, and never a direction that does not report.
    #[test]
    fn an_unlisted_direction_is_as_it_was_when_its_list_was_taken(
        ops in proptest::collection::vec(net_op(), 1..60)
    ) {
        let (mut net, conns) = two_flows();
        let list = net.new_change_list();
        net.report_changes(conns[0], Dir::Forward, Some(list)).unwrap();
        let mut now = 0;
        let mut taken = shape(&net.dir_state(t(now), conns[0], Dir::Forward).unwrap());
        for op in ops {
            if apply_op(&mut net, &conns, &mut now, &op) {
                let mut out = Vec::new();
                net.take_changes(t(now), list, &mut out).unwrap();
                prop_assert!(out.len() <= 1, "listed twice or a stranger: {:?}", out);
                prop_assert!(out.iter().all(|&(c, d)| c == conns[0] && d == Dir::Forward));
                prop_assert!(!net.is_listed(conns[0], Dir::Forward));
                taken = shape(&net.dir_state(t(now), conns[0], Dir::Forward).unwrap());
            }
            if !net.is_listed(conns[0], Dir::Forward) {
                let s = net.dir_state(t(now), conns[0], Dir::Forward).unwrap();
                prop_assert_eq!(shape(&s), taken);
            }
            prop_assert!(!net.is_listed(conns[1], Dir::Forward));
        }
    }
}

#[test]
fn a_change_list_reports_a_reset_and_forgets_a_direction_that_stops_reporting() {
    let (mut net, a, b, _, _) = pair("1gbit", MS, 3);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    let list = net.new_change_list();
    net.report_changes(conn, Dir::Forward, Some(list)).unwrap();
    let mut out = Vec::new();
    net.take_changes(t(0), list, &mut out).unwrap();
    assert!(out.is_empty(), "nothing changed yet: {out:?}");
    net.write(t(MS), conn, Dir::Forward, 1000).unwrap();
    net.write(t(MS), conn, Dir::Forward, 1000).unwrap();
    net.take_changes(t(MS), list, &mut out).unwrap();
    assert_eq!(
        out,
        vec![(conn, Dir::Forward)],
        "listed once for two writes"
    );
    out.clear();
    net.reset(t(2 * MS), conn, Side::Initiator).unwrap();
    net.take_changes(t(2 * MS), list, &mut out).unwrap();
    assert_eq!(out, vec![(conn, Dir::Forward)], "a reset is a change");
    out.clear();
    let (mut net, a, b, _, _) = pair("1gbit", MS, 3);
    let conn = net
        .connect(t(0), a, b, ConnOptions::default(), owners())
        .unwrap();
    let list = net.new_change_list();
    net.report_changes(conn, Dir::Forward, Some(list)).unwrap();
    net.write(t(MS), conn, Dir::Forward, 1000).unwrap();
    net.report_changes(conn, Dir::Forward, None).unwrap();
    net.write(t(2 * MS), conn, Dir::Forward, 1000).unwrap();
    net.take_changes(t(2 * MS), list, &mut out).unwrap();
    assert!(out.is_empty(), "no longer reporting: {out:?}");
    let (mut other, ..) = pair("1gbit", MS, 3);
    assert!(matches!(
        other.take_changes(t(0), list, &mut out),
        Err(NetError::UnknownChangeList(_))
    ));
}
