//! Actors and the messages they exchange.
//!
//! A simulation is built from one actor type (usually an enum with a variant per kind of actor)
//! and one message type (an enum): static dispatch, no box per event. Actors own their state;
//! the only state they share is the environment `Env` that [`Ctx::env`](super::Ctx::env) hands
//! out, for passive subsystems such as a network whose next event time is computed, not polled.

use std::fmt;

use super::Ctx;

/// Index of an actor inside one simulation, in the order actors were added.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ActorId(pub(crate) u32);

impl ActorId {
    /// The position of the actor in the simulation (0 for the first actor added).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
    /// The id of the actor at `index`; only meaningful for the simulation that produced it.
    pub const fn from_index(index: u32) -> Self {
        ActorId(index)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.0)
    }
}

/// A message type: every value has a kind, a small number that names its variant.
///
/// Messages are `Clone` so that periodic timers can deliver the same message again.
///
/// The kind (not the payload) is folded into the trace digest, so two messages of the same
/// variant with different payloads look alike to the digest; payload-dependent behaviour shows
/// up in the digest through the events it causes.
pub trait Message: Clone {
    /// The names of the kinds, indexed by [`Message::kind`]; used by the JSON-lines trace.
    const KIND_NAMES: &'static [&'static str];
    /// The kind of this message: an index into [`Message::KIND_NAMES`].
    fn kind(&self) -> usize;
}

/// Something that reacts to messages.
pub trait Actor {
    /// The messages every actor of the simulation understands.
    type Msg: Message;
    /// State shared by all actors (use `()` when there is none).
    type Env;
    /// Reacts to one message at the current simulated time.
    fn handle(&mut self, msg: Self::Msg, ctx: &mut Ctx<'_, Self::Msg, Self::Env>);
}
