//! What can go wrong when building or driving a network.

use super::{ChangeListId, ConnId, Dir, HostId, LinkId, MarkId};
use crate::engine::SimTime;

/// An error of the network layer: bad input or an impossible request. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// No host has this name.
    #[error("unknown host {0:?}")]
    UnknownHostName(String),
    /// No host has this id.
    #[error("unknown {0}")]
    UnknownHost(HostId),
    /// No link has this id.
    #[error("unknown {0}")]
    UnknownLink(LinkId),
    /// No connection has this id.
    #[error("unknown {0}")]
    UnknownConn(ConnId),
    /// No mark has this id.
    #[error("unknown {0}")]
    UnknownMark(MarkId),
    /// No change list has this id.
    #[error("unknown {0}")]
    UnknownChangeList(ChangeListId),
    /// Two hosts with one name.
    #[error("a host named {0:?} already exists")]
    DuplicateHost(String),
    /// A second link between the same two hosts (connections pick "the" direct link).
    #[error("hosts {a:?} and {b:?} are already linked (one direct link per pair of hosts)")]
    DuplicateLink {
        /// One host's name.
        a: String,
        /// The other host's name.
        b: String,
    },
    /// A link from a host to itself.
    #[error("a link needs two different hosts, got {0:?} twice")]
    SelfLink(String),
    /// `connect` between hosts that have no direct link.
    #[error("no direct link between {from:?} and {to:?}")]
    NoLink {
        /// The connecting host.
        from: String,
        /// The host connected to.
        to: String,
    },
    /// A link whose payload rate would be zero.
    #[error("link bandwidth must be > 0 bytes/s after framing overhead (got {0} B/s line rate)")]
    ZeroBandwidth(u64),
    /// A framing overhead that is not a fraction in (0, 1].
    #[error("framing overhead must satisfy 0 < payload <= frame, got {payload}/{frame}")]
    BadOverhead {
        /// Payload bytes per frame.
        payload: u32,
        /// Line bytes per frame.
        frame: u32,
    },
    /// A jitter distribution with an impossible parameter.
    #[error("bad jitter: {0}")]
    BadJitter(String),
    /// A socket buffer of zero bytes.
    #[error("the {0} buffer must be at least 1 byte")]
    ZeroBuffer(&'static str),
    /// A call with a time earlier than the network's clock.
    #[error("time went backwards: asked for {at}, the network is at {now}")]
    PastTime {
        /// The network's clock.
        now: SimTime,
        /// The requested time.
        at: SimTime,
    },
    /// Writing (or sending, or producing) on a direction whose writer has closed it.
    #[error("{conn} {dir:?} is closed for writing")]
    Closed {
        /// The connection.
        conn: ConnId,
        /// The direction.
        dir: Dir,
    },
    /// Using a connection that was reset.
    #[error("{0} was reset")]
    Reset(ConnId),
    /// A watch that can never fire (for example "a counter drops to or below").
    #[error("invalid watch: {0}")]
    BadWatch(&'static str),
    /// The internal event loop did not settle at one instant (a bug, reported instead of hanging).
    #[error("the network did not settle at {0} (internal error)")]
    Stuck(SimTime),
}
