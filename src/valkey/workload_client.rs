//! The write-load client actor: steps its schedule and tells its primary the stream rate.

use crate::engine::{ActorId, Ctx, SimDuration};

use super::workload::{LoadSchedule, WorkloadSpec};
use super::world::{Msg, World};

/// One write-load client.
#[derive(Debug)]
pub struct LoadClient {
    index: u32,
    spec: WorkloadSpec,
    schedule: LoadSchedule,
    target: ActorId,
    running: bool,
}

impl LoadClient {
    /// A client that writes to the server actor `target`.
    pub(crate) fn new(index: u32, spec: WorkloadSpec, target: ActorId) -> Self {
        // The cluster builder validated the pattern; a constant zero rate is the safe fallback.
        let pattern = spec
            .load_pattern()
            .unwrap_or(super::workload::LoadPattern::Constant { ops_per_sec: 0.0 });
        let schedule = LoadSchedule::new(pattern);
        LoadClient {
            index,
            spec,
            schedule,
            target,
            running: false,
        }
    }

    /// The load's start and stop, as `Control(SetLoad)` messages to itself.
    pub(crate) fn start_stop(&self) -> (SimDuration, Option<SimDuration>) {
        (self.spec.start, self.spec.stop)
    }

    pub(crate) fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        match msg {
            Msg::Control(super::world::Control::SetLoad(on)) => {
                self.running = on;
                if on {
                    self.next_phase(ctx);
                } else {
                    self.tell(ctx, 0.0);
                }
            }
            Msg::LoadTick if self.running => self.next_phase(ctx),
            _ => {}
        }
    }

    fn next_phase(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let phase = self.schedule.next_phase(ctx.rng());
        self.tell(ctx, phase.ops_per_sec);
        if let Some(hold) = phase.hold {
            ctx.schedule(Msg::LoadTick, hold);
        }
    }

    fn tell(&self, ctx: &mut Ctx<'_, Msg, World>, ops_per_sec: f64) {
        let bytes = (ops_per_sec * self.spec.bytes_per_op()).round().max(0.0) as u64;
        let msg = Msg::WriteRate {
            client: self.index,
            bytes_per_sec: bytes,
            new_keys_per_sec: ops_per_sec * self.spec.new_key_fraction,
        };
        ctx.send(self.target, msg, SimDuration::ZERO);
    }
}
