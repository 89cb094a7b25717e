//! The ping-pong workload on simcore 0.1, written the way simcore's callback mode intends:
//! each player is a component with its own `SimulationContext` and an `EventHandler`.
//!
//! ```text
//!            Ball, after U(1 µs, 1 ms)
//!   ┌──────┐ ──────────────────────────► ┌──────┐
//!   │  a_i │                             │  b_i │      × pairs
//!   └──────┘ ◄────────────────────────── └──────┘
//!            Ball, after U(1 µs, 1 ms)
//! ```
//!
//! **One event** = one `Simulation::step`, which pops one `Ball` and delivers it to the
//! destination player's `EventHandler::on`; that handler draws the delay from its own stream and
//! `emit`s the ball to its partner. simcore has no cheaper path for a message between two
//! components, so this is the same work replsim's `Ctx::send` does. Time is simcore's `f64`
//! seconds; delays are drawn in integer nanoseconds (the same draws as replsim) and converted.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use simcore::{Event, EventHandler, Id, Simulation, SimulationContext, cast};

use crate::workload::{DELAY_NS, PeerRun, player_rng, receiver_name, server_name};

/// The ball: simcore events carry a boxed, serializable payload.
#[derive(Clone, Serialize)]
struct Ball;

/// One player: it knows its partner and returns every ball after a random delay.
struct Player {
    ctx: SimulationContext,
    partner: Id,
    rng: ChaCha8Rng,
    /// Balls this player received, summed after the run to check the step count.
    received: u64,
}

impl EventHandler for Player {
    fn on(&mut self, event: Event) {
        cast!(match event.data {
            Ball {} => {
                self.received += 1;
                let delay_s = self.rng.random_range(DELAY_NS) as f64 * 1e-9;
                self.ctx.emit(Ball, self.partner, delay_s);
            }
        })
    }
}

/// Runs ping-pong with `pairs` pairs until `events` balls have been delivered.
pub fn pingpong(pairs: u32, events: u64, seed: u64) -> PeerRun {
    // simcore's own generator is not used: every draw comes from the players' streams.
    let mut sim = Simulation::new(seed);
    let mut players = Vec::with_capacity(2 * pairs as usize);
    for i in 0..pairs {
        let (a_name, b_name) = (server_name(i), receiver_name(i));
        let a_ctx = sim.create_context(&a_name);
        let b_ctx = sim.create_context(&b_name);
        let (a_id, b_id) = (a_ctx.id(), b_ctx.id());
        // The serve: `a_i`'s ball reaches `b_i` at t = 0.
        a_ctx.emit(Ball, b_id, 0.0);
        for (name, ctx, partner) in [(a_name, a_ctx, b_id), (b_name, b_ctx, a_id)] {
            let rng = player_rng(seed, &name);
            let player = Rc::new(RefCell::new(Player {
                ctx,
                partner,
                rng,
                received: 0,
            }));
            sim.add_handler(&name, player.clone());
            players.push(player);
        }
    }

    let started = Instant::now();
    let mut done = 0u64;
    while done < events && sim.step() {
        done += 1;
    }
    let wall_seconds = started.elapsed().as_secs_f64();

    let received: u64 = players.iter().map(|p| p.borrow().received).sum();
    assert_eq!(
        received, done,
        "every simcore step must deliver exactly one ball"
    );
    PeerRun {
        events: received,
        wall_seconds,
        end_time_ns: (sim.time() * 1e9).round() as u64,
    }
}
