//! Same seed and model ⇒ same trace digest; random streams are per actor.

use std::io::Write;
use std::sync::{Arc, Mutex};

use replsim::bench::pingpong_sim;
use replsim::engine::{SimTime, Simulation, StopAt};

use crate::common::{Msg, Recorder};

fn pingpong_hash(pairs: u32, seed: u64) -> String {
    let mut sim = pingpong_sim(pairs, seed);
    sim.run(StopAt {
        horizon: SimTime::MAX,
        max_events: 20_000,
    })
    .unwrap()
    .trace_hash
}

#[test]
fn same_seed_same_digest_other_seed_other_digest() {
    assert_eq!(pingpong_hash(10, 42), pingpong_hash(10, 42));
    assert_ne!(pingpong_hash(10, 42), pingpong_hash(10, 43));
    assert_ne!(pingpong_hash(10, 42), pingpong_hash(11, 42));
}

#[test]
fn digest_is_stable_across_releases_and_machines() {
    // Pinned value: if this changes, every recorded trace hash and repro bundle breaks.
    // Change it only on purpose, and say so in the CHANGELOG.
    assert_eq!(pingpong_hash(3, 7), PINNED_PINGPONG_3_7);
}

const PINNED_PINGPONG_3_7: &str = "351954d4a2f9ea80";

#[test]
fn digest_is_the_same_on_another_thread() {
    let here = pingpong_hash(50, 5);
    let there = std::thread::spawn(|| pingpong_hash(50, 5)).join().unwrap();
    assert_eq!(here, there);
}

fn draws_of(actor: &str, extra_actor: bool, extra_draws_elsewhere: u32) -> Vec<u64> {
    let mut sim = Simulation::new(77, ());
    if extra_actor {
        let x = sim.add_actor("newcomer", Recorder::default()).unwrap();
        sim.send_at(x, Msg::Draw(5), SimTime::ZERO).unwrap();
    }
    let other = sim.add_actor("other", Recorder::default()).unwrap();
    let me = sim.add_actor(actor, Recorder::default()).unwrap();
    sim.send_at(other, Msg::Draw(extra_draws_elsewhere), SimTime::ZERO)
        .unwrap();
    sim.send_at(me, Msg::Draw(4), SimTime::from_secs(1))
        .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(2))).unwrap();
    sim.actor(me).draws.clone()
}

#[test]
fn adding_an_actor_or_a_draw_elsewhere_leaves_my_draws_unchanged() {
    let base = draws_of("me", false, 1);
    assert_eq!(base.len(), 4);
    assert_eq!(draws_of("me", true, 1), base);
    assert_eq!(draws_of("me", false, 100), base);
    assert_ne!(draws_of("someone-else", false, 1), base);
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_lines_trace_lists_every_event() {
    let buf = Shared::default();
    let mut sim = pingpong_sim(2, 1);
    sim.set_trace_writer(Box::new(buf.clone()));
    let stats = sim
        .run(StopAt {
            horizon: SimTime::MAX,
            max_events: 50,
        })
        .unwrap();
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, stats.events);
    assert_eq!(lines[0]["kind"], "ball");
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["t_ns"].as_u64() <= w[1]["t_ns"].as_u64())
    );
    // Tracing does not change the digest.
    let mut plain = pingpong_sim(2, 1);
    let plain_stats = plain
        .run(StopAt {
            horizon: SimTime::MAX,
            max_events: 50,
        })
        .unwrap();
    assert_eq!(plain_stats.trace_hash, stats.trace_hash);
}
