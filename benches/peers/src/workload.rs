//! What every engine's ping-pong has in common: the delay law, the per-player random streams and
//! the measurement each run hands back.
//!
//! The workload is the one of `replsim::bench`: `pairs` pairs of players; at t = 0 each `b_i`
//! receives a ball (the serve of `a_i`); every player that receives a ball returns it to its
//! partner after a delay drawn uniformly from 1 µs … 1 ms from its *own* stream. One **event** is
//! one ball delivery handled by a player, in every engine.
//!
//! Because each pair's timeline depends only on its two players' streams, the multiset of
//! delivery times is the same in every engine whatever order same-time deliveries take, so a run
//! stopped after N deliveries ends at the same simulated instant in all of them: that is what
//! [`crate::check_agreement`] compares before anything is timed.

use std::ops::RangeInclusive;

use rand_chacha::ChaCha8Rng;

/// Smallest and largest delay a player waits before returning the ball, in nanoseconds: the
/// same law as `replsim::bench` (which keeps its constant private).
pub const DELAY_NS: RangeInclusive<u64> = 1_000..=1_000_000;

/// Name of the serving player of pair `i`, as `replsim::bench::pingpong_sim` names it.
pub fn server_name(i: u32) -> String {
    format!("a{i}")
}

/// Name of the receiving player of pair `i`, as `replsim::bench::pingpong_sim` names it.
pub fn receiver_name(i: u32) -> String {
    format!("b{i}")
}

/// The random stream of the player called `name`: exactly the stream replsim gives the actor
/// of that name, so every engine draws the same delays.
pub fn player_rng(seed: u64, name: &str) -> ChaCha8Rng {
    replsim::engine::actor_rng(seed, name)
}

/// What one timed run of a peer engine measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerRun {
    /// Ball deliveries handled by players, counted by the players themselves.
    pub events: u64,
    /// Wall-clock seconds of the timed part (the run loop; model building is excluded).
    pub wall_seconds: f64,
    /// Simulated time of the last delivery, in nanoseconds since the start.
    pub end_time_ns: u64,
}
