//! Timers: one-shot, periodic, and lazy generation-checked cancellation.

use replsim::engine::{SimTime, Simulation, StopAt};

use crate::common::{Msg, Recorder, ms};

fn recorder() -> (Simulation<Recorder>, replsim::engine::ActorId) {
    let mut sim = Simulation::new(3, ());
    let r = sim.add_actor("r", Recorder::default()).unwrap();
    (sim, r)
}

#[test]
fn cancelled_timer_never_fires_and_is_not_an_event() {
    let (mut sim, r) = recorder();
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 1,
            delay: ms(500),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 2,
            delay: ms(600),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.send_at(r, Msg::Cancel(1), SimTime::from_nanos(100_000_000))
        .unwrap();
    let stats = sim.run(StopAt::horizon(SimTime::from_secs(1))).unwrap();
    assert_eq!(sim.actor(r).notes, [(600_000_000, 2)]);
    assert_eq!(sim.actor(r).cancelled, [true]);
    assert_eq!(stats.events, 4); // two schedules, one cancel, one note
}

#[test]
fn cancel_works_for_a_timer_due_at_the_same_instant() {
    // Timer 1 is due at t = 1 s; the cancel is also delivered at t = 1 s but was scheduled
    // earlier, so it runs first and must suppress the timer.
    let (mut sim, r) = recorder();
    sim.send_at(r, Msg::Cancel(1), SimTime::from_secs(1))
        .unwrap();
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 1,
            delay: ms(1000),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(2))).unwrap();
    assert!(sim.actor(r).notes.is_empty());
    assert_eq!(sim.actor(r).cancelled, [true]);
}

#[test]
fn cancelling_twice_or_after_firing_reports_false() {
    let (mut sim, r) = recorder();
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 1,
            delay: ms(10),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.send_at(r, Msg::Cancel(1), SimTime::from_secs(1))
        .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(2))).unwrap();
    assert_eq!(sim.actor(r).notes, [(10_000_000, 1)]);
    assert_eq!(sim.actor(r).cancelled, [false]);
}

#[test]
fn a_stale_id_cannot_cancel_a_newer_timer_in_the_same_slot() {
    let (mut sim, r) = recorder();
    // Timer 1 fires at 10 ms and frees its slot; timer 2 reuses it. Cancel(1) uses the old id.
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 1,
            delay: ms(10),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.send_at(
        r,
        Msg::ScheduleSelf {
            label: 2,
            delay: ms(100),
        },
        SimTime::from_nanos(20_000_000),
    )
    .unwrap();
    sim.send_at(r, Msg::Cancel(1), SimTime::from_nanos(30_000_000))
        .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(1))).unwrap();
    assert_eq!(sim.actor(r).notes, [(10_000_000, 1), (120_000_000, 2)]);
    assert_eq!(sim.actor(r).cancelled, [false]);
}

#[test]
fn periodic_timer_fires_every_period_until_cancelled() {
    let (mut sim, r) = recorder();
    sim.send_at(
        r,
        Msg::Periodic {
            label: 7,
            first: ms(100),
            period: ms(250),
        },
        SimTime::ZERO,
    )
    .unwrap();
    sim.send_at(r, Msg::Cancel(7), SimTime::from_nanos(1_000_000_000))
        .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(5))).unwrap();
    let times: Vec<u64> = sim
        .actor(r)
        .notes
        .iter()
        .map(|&(t, _)| t / 1_000_000)
        .collect();
    assert_eq!(times, [100, 350, 600, 850]);
    assert_eq!(sim.actor(r).cancelled, [true]);
}

#[test]
fn periodic_timer_cancelled_at_its_own_firing_instant_stops_at_once() {
    let (mut sim, r) = recorder();
    sim.send_at(
        r,
        Msg::Periodic {
            label: 7,
            first: ms(100),
            period: ms(100),
        },
        SimTime::ZERO,
    )
    .unwrap();
    // Scheduled before the run, so at t = 300 ms it runs before the timer's third firing.
    sim.send_at(r, Msg::Cancel(7), SimTime::from_nanos(300_000_000))
        .unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(1))).unwrap();
    let times: Vec<u64> = sim
        .actor(r)
        .notes
        .iter()
        .map(|&(t, _)| t / 1_000_000)
        .collect();
    assert_eq!(times, [100, 200]);
}
