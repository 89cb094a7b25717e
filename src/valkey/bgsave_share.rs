//! A replica that asks for a full sync while a fork child is already running
//! (`syncCommand`, valkey-model.md §3.2 step 2 and §11.5).
//!
//! A disk-based BGSAVE started for replicas can be shared: the newcomer takes a copy of the
//! output-buffer reference of a replica already waiting for that BGSAVE's end
//! (`copyReplicaOutputBuffer`), gets the same `+FULLRESYNC` offset, and waits for the same
//! `dump.rdb` ("Waiting for end of BGSAVE for SYNC"). It can when that replica needs nothing
//! the newcomer lacks (its capabilities are a subset of the newcomer's) and both ask for the
//! same kind of RDB (a plain replica or an RDB channel). A socket target is never shared. A
//! replica that cannot attach waits for the next BGSAVE.

use crate::net::{Quantity, Side};

use super::log::Level;
use super::primary::ClientState;
use super::proto::Proto;
use super::server::{C, Server};
use super::transport::{self, DOWN};

impl Server {
    /// `syncCommand` with a child running: attach the client at `idx` (in `WAIT_BGSAVE_START`)
    /// to a shareable disk BGSAVE, or log why it waits for the next one.
    pub(crate) fn attach_or_wait_for_next_bgsave(&mut self, ctx: C<'_, '_>, idx: usize) {
        let Some(child) = self.primary.child.as_ref() else {
            return;
        };
        if child.socket {
            let text = "Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC";
            self.log(ctx, Level::Notice, text.to_string());
            return;
        }
        let Some(donor) = self.shareable_bgsave_donor(idx) else {
            let text =
                "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC";
            self.log(ctx, Level::Notice, text.to_string());
            return;
        };
        self.attach_to_bgsave(ctx, idx, donor);
        self.log(
            ctx,
            Level::Notice,
            "Waiting for end of BGSAVE for SYNC".to_string(),
        );
    }

    /// The first replica in `WAIT_BGSAVE_END` that the client at `idx` may share a BGSAVE with:
    /// one with an output buffer unless the newcomer wants only the RDB; then the capability
    /// and requirement check (`(c.capa & r.capa) == r.capa && c.req == r.req`). Valkey looks at
    /// the first candidate only.
    fn shareable_bgsave_donor(&self, idx: usize) -> Option<usize> {
        let c = &self.primary.clients[idx];
        let donor =
            self.primary.clients.iter().position(|r| {
                r.state == ClientState::WaitBgsaveEnd && (!r.rdb_only || c.rdb_only)
            })?;
        let r = &self.primary.clients[donor];
        let capa_ok = c.dual_capa || !r.dual_capa;
        (capa_ok && c.rdb_only == r.rdb_only).then_some(donor)
    }

    /// `copyReplicaOutputBuffer` + `replicationSetupReplicaForFullResync` with the donor's
    /// `psync_initial_offset`: the newcomer becomes one more target of the running child.
    fn attach_to_bgsave(&mut self, ctx: C<'_, '_>, idx: usize, donor: usize) {
        let Some((offset, rdb_bytes)) =
            self.primary.child.as_ref().map(|c| (c.offset, c.rdb_bytes))
        else {
            return;
        };
        let (id, conn, replica, rdb_only) = {
            let c = &self.primary.clients[idx];
            (c.id, c.conn, c.replica, c.rdb_only)
        };
        let donor_id = self.primary.clients[donor].id;
        let net = &ctx.env().net;
        if let Some(from) = self
            .primary
            .buffer
            .as_ref()
            .filter(|_| !rdb_only)
            .map(|buf| {
                self.exact_ref(net, donor)
                    .or_else(|| buf.ref_offset(donor_id))
                    .unwrap_or(offset + 1)
            })
        {
            self.set_client_ref(ctx, id, from);
        }
        let replid = self.primary.replid;
        let reply = Proto::FullResync {
            replid,
            offset,
            rdb_bytes,
        };
        transport::send(ctx, conn, Side::Acceptor, reply);
        self.primary.clients[idx].state = ClientState::WaitBgsaveEnd;
        let world = ctx.env();
        world
            .resume_offsets
            .set(&world.net, replica, Some(offset + 1));
        let base = transport::level(ctx, conn, DOWN, Quantity::Written);
        if let Some(child) = self.primary.child.as_mut() {
            child.targets.push((id, base));
        }
        self.arm_limits(ctx, idx);
    }
}
