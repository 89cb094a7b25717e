//! The discrete-event kernel. It knows nothing of networks or Valkey.
//!
//! * [`SimTime`] / [`SimDuration`]: integer nanoseconds with human units.
//! * [`Simulation`]: actors of one type, messages of one type, a queue totally ordered by
//!   `(time, seq)`, per-actor random streams, a trace digest, stop conditions.
//! * [`Ctx`]: what a handler may do — read the time, send, schedule and cancel timers (also
//!   periodic ones), draw from its own random stream, reach the shared environment, trace, stop.
//!
//! Errors inside a handler (an unknown target, a time before now, an overflowing time) do not
//! panic: the first one is recorded and ends the run with [`SimError`] once the handler returns.

mod actor;
mod queue;
mod rng;
mod sim;
mod time;
mod trace;

pub use actor::{Actor, ActorId, Message};
pub use rng::{ActorRng, actor_rng, derive_seed, stream_seed};
pub use sim::{Ctx, RunStats, SimError, Simulation, StopAt, StopReason, TimerId};
pub use time::{ParseDurationError, SimDuration, SimTime};
pub use trace::TraceDigest;

pub(crate) use time::{DecimalError, parse_scaled_decimal};
