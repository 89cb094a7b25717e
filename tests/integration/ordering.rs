//! Events run in `(time, seq)` order: by time, and in scheduling order at equal times.

use proptest::prelude::*;
use replsim::engine::{SimTime, Simulation, StopAt};

use crate::common::{Msg, Recorder, ms};

#[test]
fn equal_times_run_in_scheduling_order() {
    let mut sim = Simulation::new(1, ());
    let r = sim.add_actor("r", Recorder::default()).unwrap();
    for label in [5, 3, 9, 1, 7] {
        sim.send_at(r, Msg::Note(label), SimTime::from_secs(1))
            .unwrap();
    }
    sim.send_at(r, Msg::Note(0), SimTime::ZERO).unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(10))).unwrap();
    let labels: Vec<u64> = sim.actor(r).notes.iter().map(|&(_, l)| l).collect();
    assert_eq!(labels, [0, 5, 3, 9, 1, 7]);
}

#[test]
fn zero_delay_messages_run_after_the_current_instant_s_earlier_events() {
    // A message sent with zero delay at t joins the end of the t batch.
    let mut sim = Simulation::new(1, ());
    let a = sim.add_actor("a", Recorder::default()).unwrap();
    let b = sim.add_actor("b", Recorder::default()).unwrap();
    let t = SimTime::from_secs(1);
    sim.send_at(
        a,
        Msg::Forward {
            to: b,
            label: 1,
            delay: ms(0),
        },
        t,
    )
    .unwrap();
    sim.send_at(b, Msg::Note(2), t).unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(2))).unwrap();
    assert_eq!(sim.actor(b).notes, [(1_000_000_000, 2), (1_000_000_000, 1)]);
}

#[test]
fn horizon_and_budget_stop_the_run() {
    let mut sim = Simulation::new(1, ());
    let r = sim.add_actor("r", Recorder::default()).unwrap();
    for s in 0..10 {
        sim.send_at(r, Msg::Note(s), SimTime::from_secs(s)).unwrap();
    }
    let stats = sim.run(StopAt::horizon(SimTime::from_secs(4))).unwrap();
    assert_eq!(stats.events, 5);
    assert_eq!(stats.end_time, SimTime::from_secs(4));
    assert_eq!(stats.stop, replsim::engine::StopReason::Horizon);
    let stats = sim
        .run(StopAt {
            horizon: SimTime::MAX,
            max_events: 2,
        })
        .unwrap();
    assert_eq!(stats.events, 7);
    assert_eq!(stats.stop, replsim::engine::StopReason::EventBudget);
    let stats = sim.run(StopAt::horizon(SimTime::MAX)).unwrap();
    assert_eq!(stats.stop, replsim::engine::StopReason::Idle);
    assert_eq!(stats.events, 10);
}

#[test]
fn an_actor_can_stop_the_run() {
    let mut sim = Simulation::new(1, ());
    let r = sim.add_actor("r", Recorder::default()).unwrap();
    sim.send_at(r, Msg::Stop, SimTime::from_secs(1)).unwrap();
    sim.send_at(r, Msg::Note(1), SimTime::from_secs(2)).unwrap();
    let stats = sim.run(StopAt::horizon(SimTime::from_secs(10))).unwrap();
    assert!(
        matches!(stats.stop, replsim::engine::StopReason::Stopped { ref actor, .. } if actor == "r")
    );
    assert!(sim.actor(r).notes.is_empty());
    assert_eq!(stats.end_time, SimTime::from_secs(1));
}

proptest! {
    /// Random schedules, including many equal times and messages sent from handlers, are
    /// always processed in non-decreasing `(time, seq)` order.
    #[test]
    fn random_schedules_run_in_time_then_scheduling_order(
        initial in prop::collection::vec((0u64..5, 0u64..4), 1..60),
        forwards in prop::collection::vec((0usize..60, 0u64..3), 0..60),
    ) {
        let mut sim = Simulation::new(9, ());
        let a = sim.add_actor("a", Recorder::default()).unwrap();
        let b = sim.add_actor("b", Recorder::default()).unwrap();
        // Labels encode the scheduling order: label = global order of scheduling.
        let mut order = 0u64;
        let mut expected: Vec<(u64, u64)> = Vec::new();
        for &(t, _) in &initial {
            sim.send_at(b, Msg::Note(order), SimTime::from_secs(t)).unwrap();
            expected.push((t * 1_000_000_000, order));
            order += 1;
        }
        // Forwards are scheduled by actor a while handling at time t_a, delivered t_a + d later.
        let mut fwd_labels = Vec::new();
        for &(i, d) in &forwards {
            let t_a = initial[i % initial.len()].1;
            let label = 1_000 + order;
            sim.send_at(a, Msg::Forward { to: b, label, delay: replsim::engine::SimDuration::from_secs(d) }, SimTime::from_secs(t_a)).unwrap();
            fwd_labels.push(label);
            order += 1;
        }
        sim.run(StopAt::horizon(SimTime::MAX)).unwrap();
        let notes = &sim.actor(b).notes;
        prop_assert_eq!(notes.len(), initial.len() + forwards.len());
        for w in notes.windows(2) {
            prop_assert!(w[0].0 <= w[1].0, "time went backwards: {:?}", w);
        }
        // Among the notes scheduled before the run, equal times keep insertion order.
        let pre: Vec<(u64, u64)> = notes.iter().copied().filter(|&(_, l)| l < 1_000).collect();
        let mut sorted = expected.clone();
        sorted.sort_by_key(|&(t, l)| (t, l));
        prop_assert_eq!(pre, sorted);
    }
}
