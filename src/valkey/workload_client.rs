//! The write-load client actor: steps its schedule and tells its primary the stream rate.

use crate::engine::{ActorId, Ctx, SimDuration, SimTime, TimerId};

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
    /// The stream rate last told to the primary (bytes/s), and since when.
    rate: u64,
    since: SimTime,
    /// Stream bytes written so far, in byte·nanoseconds (exact integer accounting).
    sent_byte_ns: u128,
    /// The pending end of the `max-bytes` budget at the current rate.
    budget_timer: Option<TimerId>,
    /// The budget is spent: the load never writes again.
    exhausted: bool,
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
            rate: 0,
            since: SimTime::ZERO,
            sent_byte_ns: 0,
            budget_timer: None,
            exhausted: false,
        }
    }

    /// The load's start (none for `on-action`) and stop, as `Control(SetLoad)` messages to
    /// itself.
    pub(crate) fn start_stop(&self) -> (Option<SimDuration>, Option<SimDuration>) {
        (self.spec.start.at(), self.spec.stop)
    }

    pub(crate) fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        match msg {
            Msg::Control(super::world::Control::SetLoad(on)) => {
                if on && self.exhausted {
                    return;
                }
                self.running = on;
                if on {
                    self.next_phase(ctx);
                } else {
                    self.tell(ctx, 0.0);
                    self.exhausted |= self.budget_spent();
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

    /// The `max-bytes` budget in byte·nanoseconds.
    fn budget_byte_ns(&self) -> Option<u128> {
        self.spec
            .max_bytes
            .map(|b| u128::from(b.bytes()) * 1_000_000_000)
    }

    fn budget_spent(&self) -> bool {
        self.budget_byte_ns()
            .is_some_and(|b| self.sent_byte_ns >= b)
    }

    /// Counts what the last rate wrote until now, then (with a budget) re-arms the budget's end
    /// for the new rate: a `SetLoad(false)` to itself when the budget runs out.
    fn account(&mut self, ctx: &mut Ctx<'_, Msg, World>, new_rate: u64) {
        let now = ctx.now();
        let dt = u128::from(now.saturating_since(self.since).as_nanos());
        self.sent_byte_ns += u128::from(self.rate) * dt;
        self.since = now;
        self.rate = new_rate;
        let Some(budget) = self.budget_byte_ns() else {
            return;
        };
        if let Some(t) = self.budget_timer.take() {
            ctx.cancel(t);
        }
        if new_rate == 0 {
            return;
        }
        let left = budget.saturating_sub(self.sent_byte_ns);
        let ns = left.div_ceil(u128::from(new_rate));
        let delay = SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        let off = Msg::Control(super::world::Control::SetLoad(false));
        self.budget_timer = Some(ctx.schedule(off, delay));
    }

    fn tell(&mut self, ctx: &mut Ctx<'_, Msg, World>, ops_per_sec: f64) {
        let bytes = (ops_per_sec * self.spec.bytes_per_op()).round().max(0.0) as u64;
        self.account(ctx, bytes);
        let msg = Msg::WriteRate {
            client: self.index,
            bytes_per_sec: bytes,
            new_keys_per_sec: ops_per_sec * self.spec.new_key_fraction,
        };
        ctx.send(self.target, msg, SimDuration::ZERO);
    }
}
