//! The journal of a run: the replication events that decide the outcome, and the outcome record
//! of DESIGN.md ("Outcome of a run") computed from them.

use serde::Serialize;

use crate::engine::SimTime;

/// Which limit a COB disconnect crossed, or which other limit was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// No limit was crossed.
    None,
    /// The primary's replica-class hard limit on a replica or main-channel client.
    PrimaryCobHard,
    /// The primary's replica-class soft limit.
    PrimaryCobSoft,
    /// The COB of a protected dual-channel RDB client (its pinned span).
    RdbChannelCob,
    /// The replica's local buffer (dual channel) reached its cap.
    ReplicaBuffer,
    /// The replica's resume offset fell out of the primary's PSYNC window.
    Backlog,
    /// A replication timeout.
    ReplTimeout,
}

/// What kind of client a COB disconnect closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A classic (single-channel) replica.
    Replica,
    /// A dual-channel RDB channel.
    RdbChannel,
    /// A dual-channel main channel.
    MainChannel,
}

/// One event that matters for the outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A full sync started on the primary (`sync_full++`).
    FullSyncStarted {
        /// The replica node.
        replica: usize,
    },
    /// The fork for replication.
    Fork {
        /// The primary offset at fork.
        offset: u64,
    },
    /// A PSYNC was accepted.
    PsyncAccepted {
        /// The replica node.
        replica: usize,
        /// On a dual-channel main channel right after `$ENDOFF` (part of a full sync).
        dual_main: bool,
    },
    /// A PSYNC was refused for lack of backlog.
    PsyncRefusedBacklog {
        /// The replica node.
        replica: usize,
    },
    /// The RDB finished reaching the replica.
    RdbTransferred {
        /// The replica node.
        replica: usize,
    },
    /// The replica finished loading the RDB.
    LoadDone {
        /// The replica node.
        replica: usize,
    },
    /// A client was closed for overcoming its output buffer limit.
    CobDisconnect {
        /// The replica node it served.
        replica: usize,
        /// The client kind.
        kind: ClientKind,
        /// Which limit.
        limit: Limit,
        /// `omem` at the disconnect.
        omem: u64,
    },
    /// The dual-channel local buffer reached its cap.
    ReplicaBufferFull {
        /// The replica node.
        replica: usize,
    },
    /// A replication timeout dropped a link.
    Timeout {
        /// The replica node.
        replica: usize,
    },
    /// The grace period of a protected RDB client expired.
    GraceExpired {
        /// The replica node.
        replica: usize,
    },
    /// The primary put the replica online (`Synchronization with replica … succeeded`).
    Online {
        /// The replica node.
        replica: usize,
    },
    /// The replica finished a sync and streams normally.
    ReplicaSynced {
        /// The replica node.
        replica: usize,
    },
    /// The replica's link to its primary went down.
    LinkLost {
        /// The replica node.
        replica: usize,
    },
    /// The replica's resume offset fell out of the primary's PSYNC window.
    BacklogExhausted {
        /// The replica node.
        replica: usize,
    },
    /// A named timestamp from a script.
    Mark {
        /// The name.
        name: String,
    },
}

/// Events with their times.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Journal {
    /// `(time, event)` in the order they happened.
    pub events: Vec<(SimTime, Event)>,
}

impl Journal {
    /// Records an event.
    pub fn push(&mut self, time: SimTime, event: Event) {
        self.events.push((time, event));
    }

    /// The first time an event satisfying `pred` happened.
    pub fn first(&self, pred: impl Fn(&Event) -> bool) -> Option<SimTime> {
        self.events.iter().find(|(_, e)| pred(e)).map(|(t, _)| *t)
    }

    /// How many events satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| pred(e)).count()
    }
}

/// How a run ended (DESIGN.md outcome vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// First full sync completed, no limit crossed.
    CleanSync,
    /// A COB disconnect, then PSYNC accepted.
    OverflowPartialResync,
    /// A COB disconnect, PSYNC refused for lack of backlog, a new full sync that completed.
    OverflowFullResync,
    /// Full syncs keep failing until the horizon.
    FullResyncLoop,
    /// A replication timeout ended the sync.
    Timeout,
    /// The horizon was reached mid-sync with no limit crossed.
    Unfinished,
}

impl Outcome {
    /// Every outcome, in DESIGN.md's order.
    pub const ALL: [Outcome; 6] = [
        Outcome::CleanSync,
        Outcome::OverflowPartialResync,
        Outcome::OverflowFullResync,
        Outcome::FullResyncLoop,
        Outcome::Timeout,
        Outcome::Unfinished,
    ];

    /// Their snake_case names, in the same order (the one list tables and legends use).
    pub const NAMES: [&'static str; 6] = [
        "clean_sync",
        "overflow_partial_resync",
        "overflow_full_resync",
        "full_resync_loop",
        "timeout",
        "unfinished",
    ];

    /// The snake_case name used in records and tables.
    pub fn as_str(self) -> &'static str {
        let i = Outcome::ALL.iter().position(|&o| o == self).unwrap_or(0);
        Outcome::NAMES[i]
    }
}

/// The facts the classifier needs besides the journal.
#[derive(Clone, Copy, Debug)]
pub struct EndState {
    /// The watched replica's node index.
    pub replica: usize,
    /// Whether the replica is online and caught up at the horizon.
    pub in_sync_at_end: bool,
}

/// The outcome fields that come from the journal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// The outcome.
    pub outcome: Outcome,
    /// The first limit crossed.
    pub first_limit: Limit,
    /// First COB disconnect (seconds).
    pub t_cob_overflow_s: Option<f64>,
    /// First time the resume offset left the PSYNC window (seconds).
    pub t_backlog_exhausted_s: Option<f64>,
    /// Whether the COB disconnect came before the backlog ran out (null when one is missing).
    pub cob_before_backlog: Option<bool>,
}

impl Journal {
    /// Classifies a run for the replica `end.replica`.
    pub fn classify(&self, end: EndState) -> Classification {
        let r = end.replica;
        let cob =
            self.first(|e| matches!(e, Event::CobDisconnect { replica, .. } if *replica == r));
        let backlog =
            self.first(|e| matches!(e, Event::BacklogExhausted { replica } if *replica == r));
        let timeout = self.first(|e| matches!(e, Event::Timeout { replica } if *replica == r));
        let buffer =
            self.first(|e| matches!(e, Event::ReplicaBufferFull { replica } if *replica == r));
        let cob_limit = self.events.iter().find_map(|(_, e)| match e {
            Event::CobDisconnect { replica, limit, .. } if *replica == r => Some(*limit),
            _ => None,
        });
        let mut candidates: Vec<(SimTime, Limit)> = Vec::new();
        if let (Some(t), Some(l)) = (cob, cob_limit) {
            candidates.push((t, l));
        }
        if let Some(t) = backlog {
            candidates.push((t, Limit::Backlog));
        }
        if let Some(t) = timeout {
            candidates.push((t, Limit::ReplTimeout));
        }
        if let Some(t) = buffer {
            candidates.push((t, Limit::ReplicaBuffer));
        }
        // Stable: at equal times the order above (COB, backlog, timeout, buffer) wins.
        candidates.sort_by_key(|&(t, _)| t);
        let first_limit = candidates.first().map_or(Limit::None, |&(_, l)| l);
        let outcome = self.outcome(r, cob, timeout, end.in_sync_at_end);
        Classification {
            outcome,
            first_limit,
            t_cob_overflow_s: cob.map(SimTime::as_secs_f64),
            t_backlog_exhausted_s: backlog.map(SimTime::as_secs_f64),
            cob_before_backlog: match (cob, backlog) {
                (Some(c), Some(b)) => Some(c <= b),
                _ => None,
            },
        }
    }

    fn outcome(
        &self,
        r: usize,
        cob: Option<SimTime>,
        timeout: Option<SimTime>,
        in_sync: bool,
    ) -> Outcome {
        let synced_after = |t: SimTime| {
            self.events.iter().any(|(te, e)| {
                *te > t && matches!(e, Event::ReplicaSynced { replica } if *replica == r)
            })
        };
        let Some(t_cob) = cob else {
            if let Some(t) = timeout
                && !synced_after(t)
            {
                return Outcome::Timeout;
            }
            let synced =
                self.first(|e| matches!(e, Event::ReplicaSynced { replica } if *replica == r));
            return if synced.is_some() {
                Outcome::CleanSync
            } else {
                Outcome::Unfinished
            };
        };
        // What the first PSYNC after the disconnect got.
        let after: Vec<&Event> = self
            .events
            .iter()
            .filter(|(t, _)| *t > t_cob)
            .map(|(_, e)| e)
            .collect();
        let next_psync = after.iter().find_map(|e| match e {
            Event::PsyncAccepted {
                replica,
                dual_main: false,
            } if *replica == r => Some(true),
            Event::PsyncRefusedBacklog { replica } if *replica == r => Some(false),
            Event::FullSyncStarted { replica } if *replica == r => Some(false),
            _ => None,
        });
        match next_psync {
            Some(true) => Outcome::OverflowPartialResync,
            Some(false) if in_sync && synced_after(t_cob) => Outcome::OverflowFullResync,
            Some(false) => Outcome::FullResyncLoop,
            None if in_sync => Outcome::OverflowFullResync,
            None => Outcome::FullResyncLoop,
        }
    }
}
