//! The ping-pong workload on NeXosim 1.0, as NeXosim models are meant to be written: players
//! are models connected output-to-input, and delays are self-scheduled events.
//!
//! ```text
//!                      ┌──────────────┐  out ──► receive  ┌──────────────┐
//!   serve ──► receive  │     b_i      │                   │     a_i      │      × pairs
//!  (EventSource, t=0)  │ serve (self, │  receive ◄── out  │ serve (self, │
//!                      │ +U(1µs,1ms)) │                   │ +U(1µs,1ms)) │
//!                      └──────────────┘                   └──────────────┘
//! ```
//!
//! NeXosim cannot deliver a message to *another* model after a delay: a model's `Context`
//! schedules events only on the model itself, and output ports deliver at the current instant.
//! So the closest faithful construction is the usual NeXosim one: a player that `receive`s a
//! ball draws the delay from its own stream and schedules its own `serve` that much later;
//! `serve` sends the ball through the player's output port to its partner's `receive` input.
//!
//! **One event** = one call of a player's `receive` input (one ball delivery), exactly as in
//! replsim and simcore. In NeXosim's own terms each event costs one scheduler-queue entry (the
//! self-scheduled `serve`) plus one message through the partner's mailbox. The simulation runs on
//! `SimInit::with_num_threads(1)`, NeXosim's single-threaded executor on the calling thread.
//!
//! `Simulation::step` processes *every* event due at the next instant, so a run stops at the
//! first step that reaches the target count and may overshoot it by the few deliveries that
//! share that instant; the players count deliveries themselves and the actual count is reported.

use std::cell::Cell;
use std::time::{Duration, Instant};

use nexosim::model::{Context, Model, schedulable};
use nexosim::ports::{EventSource, Output};
use nexosim::simulation::{Mailbox, SimInit, SimulationError};
use nexosim::time::MonotonicTime;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::workload::{DELAY_NS, PeerRun, player_rng, receiver_name, server_name};

thread_local! {
    /// Ball deliveries handled by players. The single-threaded executor runs every model on the
    /// thread that steps the simulation, so a plain thread-local cell is enough (and cheaper than
    /// an atomic, which a multi-threaded executor would need).
    static DELIVERIES: Cell<u64> = const { Cell::new(0) };
}

fn deliveries() -> u64 {
    DELIVERIES.with(Cell::get)
}

/// The ball. NeXosim messages must be serializable (simulations can be saved and restored).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Ball;

/// One player: it returns every ball through its output port after a random delay.
#[derive(Serialize, Deserialize)]
pub struct Player {
    /// Connected to the partner's `receive` input.
    out: Output<Ball>,
    /// The player's own stream (part of the model's state, so it is saved with it).
    rng: ChaCha8Rng,
}

#[Model]
impl Player {
    /// A ball arrives from the partner [input port]: count it, draw the delay, and schedule
    /// the return.
    pub fn receive(&mut self, ball: Ball, cx: &Context<Self>) {
        DELIVERIES.with(|d| d.set(d.get() + 1));
        let delay = Duration::from_nanos(self.rng.random_range(DELAY_NS));
        cx.schedule_event(delay, schedulable!(Self::serve), ball)
            .expect("a delay of at least 1 µs is always in the future");
    }

    /// The delay has elapsed: send the ball to the partner [self-scheduled input].
    #[nexosim(schedulable)]
    async fn serve(&mut self, ball: Ball) {
        self.out.send(ball).await;
    }
}

/// Runs ping-pong with `pairs` pairs until at least `events` balls have been delivered.
///
/// # Errors
///
/// A NeXosim build or execution error (none is expected for this bench).
pub fn pingpong(pairs: u32, events: u64, seed: u64) -> Result<PeerRun, SimulationError> {
    let mut bench = SimInit::with_num_threads(1);
    // The serves: one source broadcasting a ball to every `b_i` at t = 0.
    let mut serves = EventSource::new();
    for i in 0..pairs {
        let (a_name, b_name) = (server_name(i), receiver_name(i));
        let (a_mbox, b_mbox) = (Mailbox::new(), Mailbox::new());
        let mut a = Player {
            out: Output::new(),
            rng: player_rng(seed, &a_name),
        };
        let mut b = Player {
            out: Output::new(),
            rng: player_rng(seed, &b_name),
        };
        a.out.connect(Player::receive, &b_mbox);
        b.out.connect(Player::receive, &a_mbox);
        serves = serves.connect(Player::receive, &b_mbox);
        bench = bench
            .add_model(a, a_mbox, &a_name)
            .add_model(b, b_mbox, &b_name);
    }
    let serves = serves.register(&mut bench);
    let t0 = MonotonicTime::EPOCH;
    let mut simu = bench.init(t0)?;

    DELIVERIES.with(|d| d.set(0));
    let started = Instant::now();
    simu.process_event(&serves, Ball)?;
    while deliveries() < events {
        let before = deliveries();
        simu.step()?;
        if deliveries() == before {
            break; // nothing left to deliver; cannot happen while balls are in play
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();

    Ok(PeerRun {
        events: deliveries(),
        wall_seconds,
        end_time_ns: simu.time().duration_since(t0).as_nanos() as u64,
    })
}
