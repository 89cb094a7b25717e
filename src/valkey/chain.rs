//! Chained replication and promotion (PSYNC2): a replica serving its own replicas
//! (sub-replicas) from the stream it receives, and `REPLICAOF NO ONE` keeping the old history
//! as `replid2` so that the other replicas of the old primary PSYNC to the new one.
//!
//! A server has one replication history whichever role it plays: its primary half's `replid`,
//! `replid2`/`second_replid_offset` and backlog. On a replica they are its primary's:
//! * after a full sync (`readSyncBulkPayload`) the replica takes its primary's replid at the
//!   RDB's offset, clears `replid2` and creates its backlog; before loading it disconnects its
//!   sub-replicas and frees the backlog (`replicationAttachToNewPrimary`);
//! * after a PSYNC whose `+CONTINUE` names a new replid (its primary was promoted) it keeps
//!   the old one as `replid2` up to its offset + 1 and disconnects its sub-replicas, which then
//!   PSYNC to it with the old replid;
//! * while streaming it relays exactly the bytes it applies (`replicationFeedStreamFromPrimaryStream`):
//!   its backlog grows with them and its sub-replicas receive them; it never PINGs its
//!   sub-replicas itself (it relays its primary's PINGs);
//! * it refuses `SYNC`/`PSYNC` while its own link is not up (`-NOMASTERLINK`), and the
//!   sub-replica tries again at its next `replicationCron`;
//! * a lost link leaves the sub-replicas connected, with the same replid.
//!
//! `REPLICAOF NO ONE` (`replicationUnsetPrimary` → `shiftReplicationId`): the replid becomes
//! `replid2` valid up to offset + 1, a new replid starts, the backlog is kept and the
//! sub-replicas are disconnected (they PSYNC back at once, accepted through `replid2`).
//! `REPLICAOF <node>` on a primary with a backlog (`replicationCachePrimaryUsingMyself`) caches
//! its own replid and offset, so it PSYNCs to the new primary.
//!
//! **Simplification.** The relay is discrete: the bytes the replica applied since its last
//! event go to its backlog and its sub-replicas' sockets at each of its events (at least every
//! `1/hz`, its `serverCron`), not at each read. The stream reaches a sub-replica byte for byte
//! and in order, a little later than in Valkey. A replica's key count (its RDB's size for its
//! own full syncs) is the one it loaded; keys its primary adds later are not counted.

use crate::engine::SimDuration;
use crate::net::Side;

use super::info::InfoSample;
use super::log::Level;
use super::primary::NO_REPLID;
use super::proto::{Proto, ReplId};
use super::repl_buffer::{ReplBuffer, block_payload};
use super::server::{C, Server};
use super::transport::{self, DOWN};
use super::world::{Msg, Timer};

impl Server {
    /// The offset a replica's backlog must reach now (what it has applied), or `None` on a
    /// primary, whose stream comes from its write load.
    pub(crate) fn chain_relay_target(&self, ctx: C<'_, '_>) -> Option<u64> {
        self.replica.primary_node?;
        let buf = self.primary.buffer.as_ref()?;
        Some(self.replica_applied_offset(ctx).max(buf.offset()))
    }

    /// Hands `bytes` of relayed stream to every sub-replica that is streaming, and re-checks
    /// the limits of those whose reference does not move (their usage grew by the relay) right
    /// after the current event, as Valkey closes them asynchronously: the relay runs inside
    /// `advance`, whose callers hold client indices.
    pub(crate) fn chain_relay_write(&mut self, ctx: C<'_, '_>, bytes: u64) {
        for i in 0..self.primary.clients.len() {
            let c = &self.primary.clients[i];
            if c.is_streaming() {
                transport::write(ctx, c.conn, DOWN, bytes);
            }
        }
        let waiting: Vec<u64> = self
            .primary
            .clients
            .iter()
            .filter(|c| !c.is_streaming())
            .map(|c| c.id)
            .collect();
        for id in waiting {
            self.check_limits_soon(ctx, id);
        }
    }

    /// `syncCommand` on a replica whose link is not up: `-NOMASTERLINK`. True when refused.
    pub(crate) fn chain_refuses_sync(&mut self, ctx: C<'_, '_>, idx: usize) -> bool {
        if self.replica.primary_node.is_none() || self.replica_link_streaming() {
            return false;
        }
        let conn = self.primary.clients[idx].conn;
        let err =
            Proto::Error("-NOMASTERLINK Can't SYNC while not connected with my master".into());
        transport::send(ctx, conn, Side::Acceptor, err);
        true
    }

    /// The log line of a PSYNC refused for its replication id, or `None` when the id is ours
    /// or our `replid2` up to `second_replid_offset` (`primaryTryPartialResynchronization`).
    pub(crate) fn replid_refusal(&self, asked: ReplId, offset: u64) -> Option<String> {
        let p = &self.primary;
        if asked == p.replid {
            return None;
        }
        match p.replid2 {
            Some((id2, second)) if id2 == asked && offset <= second => None,
            Some((id2, second)) if id2 == asked => Some(format!(
                "Partial resynchronization not accepted: Requested offset for second ID was {offset}, but I can reply up to {second}"
            )),
            _ => Some(format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{asked}', my replication IDs are '{}' and '{}')",
                p.replid,
                p.replid2
                    .map_or_else(|| NO_REPLID.to_string(), |(id, _)| id.to_string())
            )),
        }
    }

    /// `replicationAttachToNewPrimary`, before a full sync's load: sub-replicas must resync with
    /// us too, and may not PSYNC meanwhile.
    pub(crate) fn chain_attach_new_primary(&mut self, ctx: C<'_, '_>) {
        self.primary_kill_replicas(ctx);
        self.primary.buffer = None;
    }

    /// The full sync's RDB is loaded: our history is the primary's from `offset`
    /// (`clearReplicationId2`, `createReplicationBacklog`).
    pub(crate) fn chain_full_synced(&mut self, ctx: C<'_, '_>, replid: ReplId, offset: u64) {
        self.primary.replid = replid;
        self.primary.replid2 = None;
        let k = self.cfg.repl_backlog_size.bytes();
        let bs = block_payload(self.primary.typical_command_bytes, k, self.perf.allocator);
        self.primary.buffer = Some(ReplBuffer::new(offset, k, bs));
        self.primary.clock.set(ctx.now(), offset, 0);
    }

    /// A PSYNC was accepted with `+CONTINUE <replid>`; `old` is the replid we asked with.
    pub(crate) fn chain_continued(
        &mut self,
        ctx: C<'_, '_>,
        old: Option<ReplId>,
        replid: ReplId,
        offset: u64,
    ) {
        if self.primary.buffer.is_none() {
            self.chain_full_synced(ctx, replid, offset);
        }
        let Some(old) = old.filter(|&o| o != replid) else {
            self.primary.replid = replid;
            return;
        };
        self.log(
            ctx,
            Level::Notice,
            format!("Primary replication ID changed to {replid}"),
        );
        self.primary.replid2 = Some((old, offset + 1));
        self.primary.replid = replid;
        // Sub-replicas must learn the new id: they reconnect and PSYNC with the old one.
        self.primary_kill_replicas(ctx);
    }

    /// `REPLICAOF <node>` on a primary: `replicationCachePrimaryUsingMyself`.
    pub(crate) fn chain_demote(&mut self, ctx: C<'_, '_>) {
        let offset = self.offset_now();
        self.log(
            ctx,
            Level::Notice,
            "Before turning into a replica, using my own primary parameters to synthesize a cached primary: I may be able to synchronize with the new primary with just a partial transfer.".to_string(),
        );
        self.replica.set_history(self.primary.replid, offset);
        // From now on the stream is relayed, not produced by the write load.
        self.rate_changed(ctx);
    }

    /// `REPLICAOF NO ONE`: `replicationUnsetPrimary` → `shiftReplicationId`, sub-replicas
    /// disconnected (they PSYNC back), the backlog kept, the write load's stream resumes here.
    pub(crate) fn chain_promote(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        let offset = self
            .primary
            .buffer
            .as_ref()
            .map_or(self.replica.offset, |b| b.offset());
        let old = self.primary.replid;
        let second = offset + 1;
        self.primary.replid_counter += 1;
        let new = ReplId(old.0.rotate_left(17) ^ self.primary.replid_counter ^ 0x5157_4A1D);
        self.primary.replid2 = Some((old, second));
        self.primary.replid = new;
        let text = format!(
            "Setting secondary replication ID to {old}, valid up to offset: {second}. New replication ID is {new}"
        );
        self.log(ctx, Level::Notice, text);
        self.primary_kill_replicas(ctx);
        self.primary.no_replicas_since = now;
        self.replica.set_history(new, offset);
        self.replica.cached = None;
        self.primary.clock.set(now, offset, 0);
        self.rate_changed(ctx);
    }

    /// `PSYNC_TRY_LATER` (`-NOMASTERLINK`, `-LOADING`): close, and connect again at the next
    /// `replicationCron`.
    pub(crate) fn chain_try_later(&mut self, ctx: C<'_, '_>, reply: &str) {
        self.log(
            ctx,
            Level::Notice,
            format!("Primary is currently unable to PSYNC but should be in the future: {reply}"),
        );
        self.drop_link(ctx);
        ctx.schedule(Msg::Timer(Timer::Reconnect), SimDuration::from_secs(1));
    }

    /// INFO `master_replid`, `master_replid2`, `second_repl_offset`.
    pub(crate) fn chain_info(&self, s: &mut InfoSample) {
        s.master_replid = self.primary.replid.to_string();
        match self.primary.replid2 {
            Some((id, second)) => {
                s.master_replid2 = id.to_string();
                s.second_repl_offset = i64::try_from(second).unwrap_or(i64::MAX);
            }
            None => {
                s.master_replid2 = NO_REPLID.to_string();
                s.second_repl_offset = -1;
            }
        }
    }
}
