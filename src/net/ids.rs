//! Small identifiers: hosts, links, connections, watches, directions and sides.

use std::fmt;

/// A host (a node of the topology), in the order hosts were added.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct HostId(pub(crate) u32);

/// A link (an edge of the topology), in the order links were added.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LinkId(pub(crate) u32);

/// A connection, in the order connections were opened. Ids are never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId(pub(crate) u32);

/// A mark: a point in time, reset by [`crate::net::Network::set_mark`], as of which tracked
/// directions keep their counters (see [`crate::net::Network::track`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MarkId(pub(crate) u32);

/// A change list: directions that report to it are listed when they change (see
/// [`crate::net::Network::report_changes`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChangeListId(pub(crate) u32);

/// A threshold watch, unique within one network.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct WatchId(pub(crate) u64);

macro_rules! index_accessors {
    ($t:ty, $word:literal) => {
        impl $t {
            /// The position of this item in creation order (0 for the first).
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($word, "#{}"), self.0)
            }
        }
    };
}
index_accessors!(HostId, "host");
index_accessors!(LinkId, "link");
index_accessors!(ConnId, "conn");
index_accessors!(WatchId, "watch");
index_accessors!(MarkId, "mark");
index_accessors!(ChangeListId, "changes");

/// One end of a connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Side {
    /// The end that called `connect` (the active opener).
    Initiator,
    /// The end that was connected to (the passive opener).
    Acceptor,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Initiator => Side::Acceptor,
            Side::Acceptor => Side::Initiator,
        }
    }
    /// 0 for the initiator, 1 for the acceptor.
    pub const fn index(self) -> usize {
        match self {
            Side::Initiator => 0,
            Side::Acceptor => 1,
        }
    }
    /// The direction this side writes.
    pub const fn writes(self) -> Dir {
        match self {
            Side::Initiator => Dir::Forward,
            Side::Acceptor => Dir::Backward,
        }
    }
}

/// One direction of a connection: an ordered byte stream from a writer side to a reader side.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Dir {
    /// Initiator → acceptor.
    Forward,
    /// Acceptor → initiator.
    Backward,
}

impl Dir {
    /// Both directions, forward first.
    pub const BOTH: [Dir; 2] = [Dir::Forward, Dir::Backward];

    /// 0 for forward, 1 for backward.
    pub const fn index(self) -> usize {
        match self {
            Dir::Forward => 0,
            Dir::Backward => 1,
        }
    }
    /// The opposite direction.
    pub const fn reverse(self) -> Dir {
        match self {
            Dir::Forward => Dir::Backward,
            Dir::Backward => Dir::Forward,
        }
    }
    /// The side that writes this direction.
    pub const fn writer(self) -> Side {
        match self {
            Dir::Forward => Side::Initiator,
            Dir::Backward => Side::Acceptor,
        }
    }
    /// The side that reads this direction.
    pub const fn reader(self) -> Side {
        self.writer().peer()
    }
}
