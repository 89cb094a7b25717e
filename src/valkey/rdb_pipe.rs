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
//! Valkey's full-sync timeout counts only for a replica whose last pipe write was partial
//! (`repl_last_partial_write`): one held back by a slower replica is not stuck.

use crate::net::{ConnId, Production};
use crate::units::Rate;

use super::log::Level;
use super::server::{C, Server};
use super::transport::{self, DOWN};

/// One socket target of the running child, as the pipe sees it now.
struct PipeTarget {
    id: u64,
    conn: ConnId,
    /// RDB bytes still to write to it.
    left: u64,
    /// Its socket is full.
    blocked: bool,
    /// What its socket takes now (bytes/s).
    wire_rate: u64,
}

impl Server {
    /// Gives every socket target of the child its production rate (see the module docs);
    /// `running` is false while the parent is stopped (a pipe child then stalls; a dual-channel
    /// child does not).
    pub(crate) fn rdb_pipe_rebalance(&mut self, ctx: C<'_, '_>, running: bool) {
        let Some(child) = self.primary.child.as_ref() else {
            return;
        };
        if !child.socket || child.exited {
            return;
        }
        let child_rate = if running || child.dual { child.rate } else { 0 };
        let (rdb_bytes, targets) = (child.rdb_bytes, child.targets.clone());
        let mut pipe = Vec::with_capacity(targets.len());
        for (id, base) in targets {
            let Some(i) = self.primary.client_index(id) else {
                continue;
            };
            let conn = self.primary.clients[i].conn;
            let Some(s) = transport::state(ctx, conn, DOWN) else {
                continue;
            };
            pipe.push(PipeTarget {
                id,
                conn,
                left: rdb_bytes.saturating_sub(s.written.saturating_sub(base)),
                blocked: s.blocked,
                wire_rate: s.wire_rate.bytes_per_sec(),
            });
        }
        let slowest_full = pipe
            .iter()
            .filter(|t| t.blocked && t.left > 0)
            .map(|t| t.wire_rate)
            .min();
        let held = slowest_full.map_or(child_rate, |w| w.min(child_rate));
        for t in pipe.iter().filter(|t| t.left > 0) {
            let rate = if t.blocked { child_rate } else { held };
            self.set_pipe_rate(ctx, t, rate);
        }
    }

    /// Sets one target's production, unless it already runs at `rate`.
    fn set_pipe_rate(&mut self, ctx: C<'_, '_>, t: &PipeTarget, rate: u64) {
        let Some(child) = self.primary.child.as_mut() else {
            return;
        };
        // A map by id: a scan of every target here made each rebalance O(targets²).
        if child.pipe_rates.insert(t.id, rate) == Some(rate) {
            return;
        }
        let production = Production::blocking(Rate::new(rate)).with_total(t.left);
        transport::produce(ctx, t.conn, DOWN, production);
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
            .is_some_and(|id| child.targets.iter().any(|&(t, _)| t == id));
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
        if pipe {
            let text =
                format!("Diskless rdb transfer, done reading from pipe, {up} replicas still up.");
            self.log(ctx, Level::Notice, text);
        }
    }
}
