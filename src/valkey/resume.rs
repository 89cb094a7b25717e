//! Every replica's resume offset (the offset it would PSYNC from), kept lazily.
//!
//! While a primary streams to a replica, the replica's resume offset is what its socket has
//! delivered, as of the primary's last look (its `advance`). Copying that for every replica on
//! each primary event made a primary with `n` replicas cost O(n) per event, so O(n²) in all.
//! Here a streaming replica's offset *follows* its connection instead: the network keeps the
//! connection's counters as of the primary's last look (a mark, see `Network::track`), and the
//! offset is read from them only when someone asks. An explicit value (a replica that learns a
//! new offset, a primary that drops the client) overrides the followed one until the primary's
//! next look, as it did when every look copied the offsets.
//!
//! For the backlog-exhaustion check, the stored values are kept in an ordered index; a followed
//! offset's stored value is a lower bound (it only grows while followed), refreshed only when it
//! falls below the value the check compares against.

use std::collections::BTreeSet;

use crate::net::{ConnId, Dir, MarkId, Network};

/// A replica offset that follows a primary's connection: `first + read − base`.
#[derive(Clone, Copy, Debug)]
struct Follow {
    conn: ConnId,
    dir: Dir,
    mark: MarkId,
    first_offset: u64,
    read_base: u64,
}

/// The resume offsets of every node (`None` where not known).
#[derive(Debug, Default)]
pub struct ResumeOffsets {
    /// Exact, or (for a followed offset not refreshed since its mark moved) a lower bound.
    stored: Vec<Option<u64>>,
    /// The epoch of the follow's mark at which `stored` was exact.
    epochs: Vec<u64>,
    follows: Vec<Option<Follow>>,
    /// `(stored, node)` for every known stored value.
    order: BTreeSet<(u64, usize)>,
    /// Nodes whose followed value may fall below the stored one at the mark's next setting (an
    /// explicit value set while followed, or a follow just begun).
    pending: Vec<usize>,
}

impl ResumeOffsets {
    /// Adds a node (unknown offset).
    pub fn push(&mut self) {
        self.stored.push(None);
        self.epochs.push(0);
        self.follows.push(None);
    }

    /// The followed value of `node`, if it follows a connection and its mark moved since the
    /// stored value was exact.
    fn followed(&self, net: &Network, node: usize) -> Option<u64> {
        let f = self.follows.get(node).copied().flatten()?;
        if net.mark_epoch(f.mark) <= self.epochs[node] {
            return None;
        }
        let s = net.at_mark(f.conn, f.dir)?;
        Some(f.first_offset + s.read.saturating_sub(f.read_base))
    }

    /// The resume offset of `node`.
    pub fn get(&self, net: &Network, node: usize) -> Option<u64> {
        match self.followed(net, node) {
            Some(v) => Some(v),
            None => self.stored.get(node).copied().flatten(),
        }
    }

    fn store(&mut self, node: usize, value: Option<u64>) {
        if let Some(old) = self.stored[node] {
            self.order.remove(&(old, node));
        }
        self.stored[node] = value;
        if let Some(v) = value {
            self.order.insert((v, node));
        }
    }

    /// Makes the stored value of `node` exact.
    fn refresh(&mut self, net: &Network, node: usize) {
        if let Some(v) = self.followed(net, node) {
            self.store(node, Some(v));
            if let Some(f) = self.follows[node] {
                self.epochs[node] = net.mark_epoch(f.mark);
            }
        }
    }

    /// Sets `node`'s offset explicitly (it overrides a follow until the follow's mark moves).
    pub fn set(&mut self, net: &Network, node: usize, value: Option<u64>) {
        if node >= self.stored.len() {
            return;
        }
        self.store(node, value);
        if let Some(f) = self.follows[node] {
            self.epochs[node] = net.mark_epoch(f.mark);
            self.pending.push(node);
        }
    }

    /// From the next setting of `mark` on, `node`'s offset is `first_offset + read − read_base`
    /// (`start` = `(first_offset, read_base)`)
    /// where `read` is what `dir` of `conn` had delivered at the mark (which `conn` must track).
    pub fn follow(
        &mut self,
        net: &Network,
        node: usize,
        conn: ConnId,
        dir: Dir,
        mark: MarkId,
        (first_offset, read_base): (u64, u64),
    ) {
        if node >= self.stored.len() {
            return;
        }
        self.follows[node] = Some(Follow {
            conn,
            dir,
            mark,
            first_offset,
            read_base,
        });
        self.epochs[node] = net.mark_epoch(mark);
        self.pending.push(node);
    }

    /// Stops following `conn` for `node` (the stored value stays, as of the last refresh: set
    /// it explicitly first).
    pub fn unfollow(&mut self, net: &Network, node: usize, conn: ConnId) {
        if self
            .follows
            .get(node)
            .copied()
            .flatten()
            .is_some_and(|f| f.conn == conn)
        {
            self.refresh(net, node);
            self.follows[node] = None;
        }
    }

    /// Nodes whose offset is known and below `bound` (ascending by node), with their offsets.
    /// Costs O((nodes below `bound`) · log n) plus the refreshes of followed values that were
    /// stale below it.
    pub fn below(&mut self, net: &Network, bound: u64) -> Vec<(usize, u64)> {
        self.settle_pending(net);
        let mut out = BTreeSet::new();
        let mut from = (0u64, 0usize);
        while let Some(&(v, node)) = self.order.range(from..).next() {
            if v >= bound {
                break;
            }
            from = (v, node + 1);
            // A refreshed value only grows: if it is still below, it is exact now (and may be
            // met again further on, which the set absorbs).
            self.refresh(net, node);
            if let Some(v) = self.stored[node].filter(|&v| v < bound) {
                out.insert((node, v));
            }
        }
        out.into_iter().collect()
    }

    /// Pending transitions whose mark has moved: refresh them so the index holds lower bounds.
    fn settle_pending(&mut self, net: &Network) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        for node in pending {
            match self.follows[node] {
                Some(f) if net.mark_epoch(f.mark) <= self.epochs[node] => self.pending.push(node),
                Some(_) => self.refresh(net, node),
                None => {}
            }
        }
        self.pending.sort_unstable();
        self.pending.dedup();
    }
}
