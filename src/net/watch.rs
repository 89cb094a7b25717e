//! Threshold watches: "tell me when this quantity of a direction reaches that value".

use super::fluid::{Ctr, Forms};
use super::{NetError, WatchId};
use crate::engine::ActorId;

/// A quantity of one direction of a connection: a monotone counter or a level between two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Bytes the writing application handed over (written or produced).
    Written,
    /// Bytes accepted into the sender's socket buffer.
    Accepted,
    /// Bytes put on the wire.
    Sent,
    /// Bytes arrived in the receiver's socket buffer.
    Arrived,
    /// Bytes read by the receiving application.
    Read,
    /// Written − accepted: what the application keeps because the socket is full.
    AppQueue,
    /// Accepted − sent: the sender's socket buffer.
    SendBuffer,
    /// Sent − arrived: on the wire.
    InFlight,
    /// Arrived − read: the receiver's socket buffer.
    RecvBuffer,
}

impl Quantity {
    /// The counter, or the pair of counters whose difference is the level.
    pub(crate) fn counters(self) -> (Ctr, Option<Ctr>) {
        match self {
            Quantity::Written => (Ctr::W, None),
            Quantity::Accepted => (Ctr::A, None),
            Quantity::Sent => (Ctr::S, None),
            Quantity::Arrived => (Ctr::R, None),
            Quantity::Read => (Ctr::D, None),
            Quantity::AppQueue => (Ctr::W, Some(Ctr::A)),
            Quantity::SendBuffer => (Ctr::A, Some(Ctr::S)),
            Quantity::InFlight => (Ctr::S, Some(Ctr::R)),
            Quantity::RecvBuffer => (Ctr::R, Some(Ctr::D)),
        }
    }

    /// Whether this is a level (which can go down) rather than a counter.
    pub fn is_level(self) -> bool {
        self.counters().1.is_some()
    }
}

/// When a watch fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// When the quantity is at least this value.
    AtLeast(u64),
    /// When the level is at most this value (levels only).
    AtMost(u64),
}

/// A pending one-shot watch on one direction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    pub(crate) id: WatchId,
    pub(crate) quantity: Quantity,
    pub(crate) threshold: Threshold,
    pub(crate) owner: ActorId,
}

impl Watch {
    pub(crate) fn new(
        id: WatchId,
        quantity: Quantity,
        threshold: Threshold,
        owner: ActorId,
    ) -> Result<Self, NetError> {
        if matches!(threshold, Threshold::AtMost(_)) && !quantity.is_level() {
            return Err(NetError::BadWatch(
                "counters never go down; use AtMost on a level",
            ));
        }
        Ok(Watch {
            id,
            quantity,
            threshold,
            owner,
        })
    }

    /// The first instant `>= now` at which the watch holds at the current rates.
    pub(crate) fn due(&self, forms: &Forms, now: u64) -> Option<u64> {
        let (x, y) = self.quantity.counters();
        match self.threshold {
            Threshold::AtLeast(v) => forms.crossing(now, x, y, v, true),
            Threshold::AtMost(v) => forms.crossing(now, x, y, v, false),
        }
    }
}
