//! What the network tells the applications.

use super::{ConnId, Dir, Quantity, Threshold, WatchId};
use crate::engine::{ActorId, SimTime};

/// Something an endpoint owner should learn about, at the network's current time.
///
/// Notifications carry owners (given at connect or watch time) and ids, never payloads: a
/// message's `tag` is the caller's handle for whatever it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notification {
    /// A control message arrived at the reader of `dir`.
    Message {
        /// The connection.
        conn: ConnId,
        /// The direction it travelled.
        dir: Dir,
        /// The receiving owner.
        to: ActorId,
        /// The sender's tag.
        tag: u64,
        /// Its size.
        bytes: u64,
        /// When it was sent.
        sent_at: SimTime,
    },
    /// The writer of `dir` can no longer hand everything over: the socket is full, so its
    /// application queue grows (buffered) or its producer is throttled (blocking).
    WriteBlocked {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// The writer.
        owner: ActorId,
    },
    /// The writer of `dir` is no longer blocked (its application queue drained).
    Writable {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// The writer.
        owner: ActorId,
    },
    /// Data arrived in an empty receive buffer while its reader was stopped.
    Readable {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// The reader.
        owner: ActorId,
    },
    /// The reader of `dir` has read everything the writer wrote before closing.
    Eof {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// The reader.
        owner: ActorId,
    },
    /// The connection was reset (the initiating end learns at once, the other after the
    /// latency).
    Reset {
        /// The connection.
        conn: ConnId,
        /// The endpoint owner that learns it.
        owner: ActorId,
    },
    /// A fluid producer wrote its total byte count.
    ProductionDone {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// The writer.
        owner: ActorId,
    },
    /// A threshold watch fired.
    Watch {
        /// The watch.
        id: WatchId,
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
        /// Who asked.
        owner: ActorId,
        /// What was watched.
        quantity: Quantity,
        /// The threshold it reached.
        threshold: Threshold,
    },
}

impl Notification {
    /// The actor this notification is for.
    pub fn owner(&self) -> ActorId {
        match *self {
            Notification::Message { to, .. } => to,
            Notification::WriteBlocked { owner, .. }
            | Notification::Writable { owner, .. }
            | Notification::Readable { owner, .. }
            | Notification::Eof { owner, .. }
            | Notification::Reset { owner, .. }
            | Notification::ProductionDone { owner, .. }
            | Notification::Watch { owner, .. } => owner,
        }
    }
}
