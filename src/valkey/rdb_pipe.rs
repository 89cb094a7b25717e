//! Several replicas fed by one diskless fork move in lockstep (valkey-model.md §3.2 step 4).
//!
//! In Valkey the child writes the RDB into a pipe; the parent reads one chunk
//! (`rdbPipeReadHandler`, 16 KiB), writes it to every replica still attached, and reads the
//! next chunk only when every one of them took the whole chunk (`rdbPipeWriteHandler`,
//! `rdb_pipe_numconns_writing`). So the pipe moves at the pace of the slowest replica still
//! attached; a replica that drops leaves the others going; when none is left the child is
//! killed. A dual-channel child writes straight to its RDB-channel sockets, one after the
//! other with blocking writes, which holds them together the same way.
//!
//! **Fluid form.** Every target's socket gets a blocking production of the RDB. While no
//! socket is full, all run at the child's rate. When some sockets are full (the net reports
//! `WriteBlocked`), those keep the child's rate and are throttled by their sockets; the others
//! are given the slowest full socket's wire rate, so that what was written to each stays
//! equal. The rates are recomputed on every blocked/writable edge, when a target drops, and at
//! each `replicationCron`; a change in a full socket's wire rate between those points (another
//! flow on its link starting or ending) is seen at the next one.
//!
//! **Cost.** A fork can feed thousands of replicas, and edges grow with them: re-reading every
//! target at every edge made such a fork quadratic. The pipe keeps its view of each socket
//! ([`Pace`]) and the sockets report to a network change list, so a rebalance re-reads only
//! the sockets listed since the last one, keeps the full ones ordered by wire rate (the first
//! sets the pace), and re-paces every target only when the pace itself changed. The rates it
//! gives are those a full re-read would give (the `pipe-view` invariant checks the premise).
//!
//! Valkey's full-sync timeout counts only for a replica whose last pipe write was partial
//! (`repl_last_partial_write`): one held back by a slower replica is not stuck.

use std::collections::{BTreeMap, BTreeSet};

use crate::net::{ChangeListId, ConnId, Dir, DirState, Network, Production};
use crate::units::Rate;

use super::log::Level;
use super::server::{C, Server};
use super::transport::{self, DOWN};

/// The pipe's view of its targets' sockets, kept between rebalances so that each one re-reads
/// only the sockets that changed since the last (the network lists them, see
/// `Network::report_changes`). Re-reading every target at every edge made a fork that feeds
/// thousands of replicas quadratic; the result is the same, because a socket that the network
/// did not list has the same blocked flag, wire rate and bytes-left-or-not as when last read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pace {
    /// Each target's socket as last read, by client id.
    seen: BTreeMap<u64, Seen>,
    /// Full sockets with RDB bytes still to write, by `(wire rate, client id)`: the first one
    /// sets the pace.
    slow: BTreeSet<(u64, u64)>,
    /// The child's rate and the held rate given at the last rebalance.
    last: Option<(u64, u64)>,
    /// The production rate each target's socket was last given, by client id.
    rates: BTreeMap<u64, u64>,
}

/// One target's socket as the pipe last read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    conn: ConnId,
    /// RDB bytes were still to be written to it.
    left: bool,
    /// Its socket was full.
    blocked: bool,
    /// What its socket took (bytes/s).
    wire_rate: u64,
}

impl Seen {
    /// What the pipe keeps of `conn`'s socket state `s`, for a target whose RDB production
    /// started at written counter `base`.
    fn of(conn: ConnId, s: &DirState, base: u64, rdb_bytes: u64) -> Self {
        Seen {
            conn,
            left: rdb_bytes > s.written.saturating_sub(base),
            blocked: s.blocked,
            wire_rate: s.wire_rate.bytes_per_sec(),
        }
    }

    fn slow_key(&self, id: u64) -> Option<(u64, u64)> {
        (self.blocked && self.left).then_some((self.wire_rate, id))
    }
}

impl Pace {
    /// A pace whose targets start at `rate`.
    pub(crate) fn starting(rates: BTreeMap<u64, u64>) -> Self {
        Pace {
            rates,
            ..Pace::default()
        }
    }

    fn store(&mut self, id: u64, seen: Option<Seen>) {
        if let Some(key) = self.seen.get(&id).and_then(|s| s.slow_key(id)) {
            self.slow.remove(&key);
        }
        match seen {
            Some(s) => {
                if let Some(key) = s.slow_key(id) {
                    self.slow.insert(key);
                }
                self.seen.insert(id, s);
            }
            None => {
                self.seen.remove(&id);
            }
        }
    }

    /// For the invariant checker (`pipe-view`): the first target whose socket the network did
    /// not list as changed yet differs from the pipe's view of it (blocked flag, wire rate,
    /// bytes left or not), as a description. Re-reading only listed sockets is exact because
    /// there is none.
    pub(crate) fn stale_view(
        &self,
        net: &Network,
        targets: &[(u64, u64)],
        rdb_bytes: u64,
    ) -> Option<String> {
        for &(id, base) in targets {
            let Some(seen) = self.seen.get(&id) else {
                continue;
            };
            if net.is_listed(seen.conn, DOWN) {
                continue;
            }
            let now = Seen::of(seen.conn, &net.peek(seen.conn, DOWN)?, base, rdb_bytes);
            if now != *seen {
                return Some(format!(
                    "client {id} on {}: the pipe saw (bytes left {}, blocked {}, wire {} B/s), \
                     the socket is (bytes left {}, blocked {}, wire {} B/s), and the network \
                     did not list it as changed",
                    seen.conn,
                    seen.left,
                    seen.blocked,
                    seen.wire_rate,
                    now.left,
                    now.blocked,
                    now.wire_rate
                ));
            }
        }
        None
    }

    /// Forgets a target that left; returns its connection if the pipe had read it.
    pub(crate) fn forget(&mut self, id: u64) -> Option<ConnId> {
        let conn = self.seen.get(&id).map(|s| s.conn);
        self.store(id, None);
        self.rates.remove(&id);
        conn
    }
}

impl Server {
    /// Gives every socket target of the child its production rate (see the module docs);
    /// `running` is false while the parent is stopped (a pipe child then stalls; a dual-channel
    /// child does not). Only targets whose socket changed since the last rebalance are re-read
    /// and re-paced, unless the pace itself changed.
    pub(crate) fn rdb_pipe_rebalance(&mut self, ctx: C<'_, '_>, running: bool) {
        let Some(child) = self.primary.child.as_ref() else {
            return;
        };
        if !child.socket || child.exited {
            return;
        }
        let child_rate = if running || child.dual { child.rate } else { 0 };
        let rdb_bytes = child.rdb_bytes;
        let list = self.pipe_change_list(ctx);
        let mut listed = Vec::new();
        let now = ctx.now();
        let _ = ctx.env().net.take_changes(now, list, &mut listed);
        transport::charge(ctx);
        let Some(child) = self.primary.child.as_ref() else {
            return;
        };
        let complete = child.pipe.seen.len() == child.targets.len();
        let whole = !complete || child.pipe.last.map(|l| l.0) != Some(child_rate);
        let reread = if whole {
            child.targets.clone()
        } else {
            self.listed_targets(&listed)
        };
        let mut read = Vec::with_capacity(reread.len());
        for &(id, base) in &reread {
            read.push((id, self.read_target(ctx, id, base, rdb_bytes)));
        }
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        for (id, seen) in read {
            child.pipe.store(id, seen);
        }
        let held = child
            .pipe
            .slow
            .first()
            .map_or(child_rate, |&(w, _)| w.min(child_rate));
        // A new pace re-paces every target; otherwise only the re-read ones may move.
        let repace = whole || child.pipe.last.map(|l| l.1) != Some(held);
        child.pipe.last = Some((child_rate, held));
        let order: Vec<u64> = if repace {
            child.targets.iter().map(|&(id, _)| id).collect()
        } else {
            reread.iter().map(|&(id, _)| id).collect()
        };
        for id in order {
            self.pace_target(ctx, id, child_rate, held);
        }
    }

    /// The targets (id, base) whose socket the network listed, in id order.
    fn listed_targets(&self, listed: &[(ConnId, Dir)]) -> Vec<(u64, u64)> {
        let Some(child) = self.primary.child.as_ref() else {
            return Vec::new();
        };
        let mut targets: Vec<(u64, u64)> = listed
            .iter()
            .filter_map(|&(conn, _)| self.primary.client_by_conn(conn))
            .map(|i| self.primary.clients[i].id)
            .filter_map(|id| {
                let k = child.targets.binary_search_by_key(&id, |&(t, _)| t).ok()?;
                Some(child.targets[k])
            })
            .collect();
        targets.sort_unstable();
        targets.dedup();
        targets
    }

    /// Gives target `id` the child's rate if its socket is full, else the held one (nothing
    /// once its RDB is all written).
    fn pace_target(&mut self, ctx: C<'_, '_>, id: u64, child_rate: u64, held: u64) {
        let Some(&seen) = self
            .primary
            .child
            .as_ref()
            .and_then(|c| c.pipe.seen.get(&id))
        else {
            return;
        };
        if seen.left {
            let rate = if seen.blocked { child_rate } else { held };
            self.set_pipe_rate(ctx, id, seen.conn, rate);
        }
    }

    /// Target `id`'s socket now; `None` if its client or connection is gone.
    fn read_target(&self, ctx: C<'_, '_>, id: u64, base: u64, rdb_bytes: u64) -> Option<Seen> {
        let i = self.primary.client_index(id)?;
        let conn = self.primary.clients[i].conn;
        let s = transport::state(ctx, conn, DOWN)?;
        Some(Seen::of(conn, &s, base, rdb_bytes))
    }

    /// Sets one target's production, unless it already runs at `rate`.
    fn set_pipe_rate(&mut self, ctx: C<'_, '_>, id: u64, conn: ConnId, rate: u64) {
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        // A map by id: a scan of every target here made each rebalance O(targets²).
        if child.pipe.rates.insert(id, rate) == Some(rate) {
            return;
        }
        let Some(&(_, base)) = child
            .targets
            .binary_search_by_key(&id, |&(t, _)| t)
            .ok()
            .map(|k| &child.targets[k])
        else {
            return;
        };
        let rdb_bytes = child.rdb_bytes;
        let written = transport::state(ctx, conn, DOWN).map_or(0, |s| s.written);
        let left = rdb_bytes.saturating_sub(written.saturating_sub(base));
        let production = Production::blocking(Rate::new(rate)).with_total(left);
        transport::produce(ctx, conn, DOWN, production);
    }

    /// The primary's change list for its pipe targets (created on first use).
    fn pipe_change_list(&mut self, ctx: C<'_, '_>) -> ChangeListId {
        *self
            .primary
            .pipe_changes
            .get_or_insert_with(|| ctx.env().net.new_change_list())
    }

    /// Makes a new target's socket report its changes to the pipe.
    pub(crate) fn rdb_pipe_follow(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        let list = self.pipe_change_list(ctx);
        let _ = ctx.env().net.report_changes(conn, DOWN, Some(list));
    }

    /// A target's socket became full or writable again: the pipe's pace may change. A single
    /// target has nobody to hold back.
    pub(crate) fn rdb_pipe_edge(&mut self, ctx: C<'_, '_>, conn: ConnId) {
        let Some(child) = self.primary.child.as_ref() else {
            return;
        };
        if !child.socket || child.targets.len() < 2 {
            return;
        }
        // The client on `conn` (one lookup), then whether it is a target.
        let ours = self
            .primary
            .client_by_conn(conn)
            .map(|i| self.primary.clients[i].id)
            .is_some_and(|id| child.targets.binary_search_by_key(&id, |&(t, _)| t).is_ok());
        if ours {
            let running = !self.paused;
            self.rdb_pipe_rebalance(ctx, running);
        }
    }

    /// Every remaining target has its whole RDB: the parent reads the pipe's end ("Diskless
    /// rdb transfer, done reading from pipe, N replicas still up."), and the child may exit.
    pub(crate) fn rdb_pipe_finished(&mut self, ctx: C<'_, '_>) {
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        // `produced` holds at least as many ids as there are targets before they can all be in
        // it: the full check then runs once per fork, not once per target's end.
        let done = !child.exited
            && !child.targets.is_empty()
            && child.produced.len() >= child.targets.len()
            && child
                .targets
                .iter()
                .all(|(t, _)| child.produced.contains(t));
        if !done {
            return;
        }
        child.exited = true;
        let (pipe, up) = (!child.dual, child.targets.len());
        // Nothing is paced any more: the sockets stop reporting to the pipe.
        let conns: Vec<ConnId> = child.pipe.seen.values().map(|s| s.conn).collect();
        for conn in conns {
            let _ = ctx.env().net.report_changes(conn, DOWN, None);
        }
        if pipe {
            let text =
                format!("Diskless rdb transfer, done reading from pipe, {up} replicas still up.");
            self.log(ctx, Level::Notice, text);
        }
    }
}
