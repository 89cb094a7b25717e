//! Valkey 9.2 write throttling (`repl-throttling-enabled yes`, valkey PR #4356,
//! `src/throttle_repl.c`), modelled from `/work/shared/valkey-versions.md` ("Valkey 9.2
//! throttling"); no registry ships 9.2, so nothing here was checked against a real server.
//!
//! **What the documents say, as modelled.** Every 100 ms, on a primary with replicas and a
//! non-zero replica output-buffer limit, the `ONLINE` replica with the largest output buffer is
//! looked at (replicas still waiting for or receiving their RDB are not). The target is the
//! soft limit / 2 (the hard limit / 2 when the soft limit is 0); throttling starts once that
//! replica's buffer reaches half the target. The buffer is extrapolated 30 s ahead from its
//! trend over the last 2 s; above the target the allowed write rate is multiplied by 0.95,
//! otherwise by 1.05, until writes are unlimited again. Throttled writes are delayed, not
//! refused. While throttling, a replica above the target is exempt from the soft limit unless
//! the soft limit has been exceeded for over 120 s; the hard limit still applies.
//!
//! **What the documents leave open, and the choices made here** (each a simplification):
//! * *The unit of the rate.* Modelled in replication-stream bytes per second (the model's load is
//!   a stream-byte fluid); `repl_throttle_rate` reports it, 0 when unlimited.
//! * *Where the rate starts.* At activation the allowed rate is the write rate offered at that
//!   moment, and the first decision follows in the same tick.
//! * *When it is "unlimited again".* When nothing is delayed any more (the queue is empty), the
//!   allowed rate is at least the offered rate, and the watched buffer is below the activation
//!   level (half the target): both the reason to throttle and its effect are gone.
//! * *Delayed, not refused.* The load is open-loop (the clients want to write at their rate):
//!   what they offer above the allowed rate waits in a queue, and the stream runs at the allowed
//!   rate until the queue is empty; every byte offered is written eventually, in order. A
//!   closed-loop client would instead just slow down; the queue is then an upper bound.
//! * *The target's limits* are the configured `client-output-buffer-limit replica` values, not
//!   the ones raised to `repl-backlog-size`.
//! * *`repl_throttle_below_guardrail_secs`*: the documents give the name only; here it is the
//!   time (whole seconds) during which writes were delayed (the stream ran below the offered
//!   rate or a queue was waiting).
//! * *`repl_throttle_total_commands`*: the commands written while throttling was active (each
//!   went through the throttle), counted as stream bytes / the load's typical command size.
//! * *maxmemory* is not modelled, so the soft-limit exemption's "unless over maxmemory" never
//!   applies.
//! * The keys a delayed command creates are counted when it is offered, not when it runs (the
//!   RDB of a fork during throttling holds at most the queued commands' keys too many).

use std::collections::VecDeque;

use crate::engine::{SimDuration, SimTime, TimerId};

use super::info::InfoSample;
use super::primary::ClientState;
use super::release::Release;
use super::server::{C, Server};
use super::world::{Msg, Timer};

/// The throttle's period.
pub const TICK: SimDuration = SimDuration::from_millis(100);
/// The window the buffer's trend is taken over.
pub const TREND_WINDOW: SimDuration = SimDuration::from_secs(2);
/// How far ahead the buffer is extrapolated.
pub const HORIZON: SimDuration = SimDuration::from_secs(30);
/// How long the soft limit may be exceeded under throttling before it applies again (s).
pub const SOFT_EXEMPTION_SECS: u64 = 120;
/// Decrease factor above target (per mille).
const DOWN_PERMILLE: u64 = 950;
/// Increase factor below target (per mille).
const UP_PERMILLE: u64 = 1050;

/// The throttle's state on one primary.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// Throttling is on: the stream runs at most at `allowed`.
    pub(crate) active: bool,
    /// The allowed write rate (stream bytes/s) while active.
    pub(crate) allowed: u64,
    /// The watched buffer's samples of the last [`TREND_WINDOW`].
    history: VecDeque<(SimTime, u64)>,
    /// Offered bytes not written yet, in byte·nanoseconds.
    queue_nb: u128,
    /// Until when the queue and the counters are accounted.
    settled_at: SimTime,
    /// `repl_throttle_activation_events`.
    pub(crate) activations: u64,
    /// Nanoseconds during which writes were delayed.
    delayed_ns: u64,
    /// Stream bytes written while active, in byte·nanoseconds.
    written_nb: u128,
    /// The pending tick.
    tick: Option<TimerId>,
    /// The pending end of the queue's drain.
    drain: Option<TimerId>,
}

impl Throttle {
    /// Moves the accounting to `now` without counting the span (a stopped process).
    pub(crate) fn skip_to(&mut self, now: SimTime) {
        self.settled_at = now.max(self.settled_at);
    }

    /// Bytes offered and not written yet.
    pub(crate) fn queued_bytes(&self) -> u64 {
        u64::try_from(self.queue_nb / 1_000_000_000).unwrap_or(u64::MAX)
    }

    /// The stream rate for an offered write rate: unchanged when inactive; while active the
    /// allowed rate when a queue waits, else the smaller of the two.
    pub(crate) fn stream_rate(&self, offered: u64) -> u64 {
        if !self.active {
            offered
        } else if self.queue_nb > 0 {
            self.allowed
        } else {
            offered.min(self.allowed)
        }
    }

    /// Accounts `[settled_at, now)` at `offered` bytes/s offered and `written` bytes/s streamed.
    fn settle(&mut self, now: SimTime, offered: u64, written: u64) {
        let dt = now.saturating_since(self.settled_at).as_nanos();
        self.settled_at = now.max(self.settled_at);
        if dt == 0 {
            return;
        }
        let dt128 = u128::from(dt);
        let delayed = self.queue_nb > 0 || written < offered;
        self.queue_nb = (self.queue_nb + u128::from(offered) * dt128)
            .saturating_sub(u128::from(written) * dt128);
        if self.active {
            self.written_nb += u128::from(written) * dt128;
            if delayed {
                self.delayed_ns = self.delayed_ns.saturating_add(dt);
            }
        }
    }

    /// One decision: `cob` is the watched buffer now (`None`: no online replica), `target` the
    /// target, `offered` the offered write rate. Returns whether the stream rate may change.
    pub(crate) fn decide(
        &mut self,
        now: SimTime,
        cob: Option<u64>,
        target: u64,
        offered: u64,
    ) -> bool {
        let cob_now = cob.unwrap_or(0);
        self.history.push_back((now, cob_now));
        while self
            .history
            .front()
            .is_some_and(|&(t, _)| now.saturating_since(t) > TREND_WINDOW)
        {
            self.history.pop_front();
        }
        let activation = target / 2;
        if !self.active {
            if cob.is_none() || cob_now < activation || offered == 0 {
                return false;
            }
            self.active = true;
            self.activations += 1;
            self.allowed = offered;
        }
        let predicted = self.predicted(now, cob_now);
        self.allowed = if predicted > target {
            (u128::from(self.allowed) * u128::from(DOWN_PERMILLE) / 1000).max(1) as u64
        } else {
            let up = u128::from(self.allowed) * u128::from(UP_PERMILLE) / 1000 + 1;
            u64::try_from(up).unwrap_or(u64::MAX)
        };
        if self.queue_nb == 0 && self.allowed >= offered && cob_now < activation {
            self.active = false;
            self.allowed = 0;
        }
        true
    }

    /// The buffer extrapolated [`HORIZON`] ahead from its trend over the window (never below 0).
    fn predicted(&self, now: SimTime, cob_now: u64) -> u64 {
        let Some(&(t0, c0)) = self.history.front() else {
            return cob_now;
        };
        let span = now.saturating_since(t0).as_nanos();
        if span == 0 {
            return cob_now;
        }
        let delta = i128::from(cob_now) - i128::from(c0);
        let ahead = delta * i128::from(HORIZON.as_nanos()) / i128::from(span);
        u64::try_from((i128::from(cob_now) + ahead).max(0)).unwrap_or(u64::MAX)
    }

    /// The INFO fields.
    pub(crate) fn info(&self, s: &mut InfoSample, command_bytes: u64) {
        s.repl_throttle_rate = Some(if self.active { self.allowed } else { 0 });
        s.repl_throttle_activation_events = Some(self.activations);
        s.repl_throttle_below_guardrail_secs = Some(self.delayed_ns / 1_000_000_000);
        let bytes = self.written_nb / 1_000_000_000;
        s.repl_throttle_total_commands =
            Some(u64::try_from(bytes / u128::from(command_bytes.max(1))).unwrap_or(u64::MAX));
    }
}

impl Server {
    /// Whether this server throttles writes (Valkey 9.2 with `repl-throttling-enabled yes`).
    pub(crate) fn throttling_enabled(&self) -> bool {
        self.release == Release::Valkey92 && self.cfg.repl_throttling_enabled
    }

    /// The throttle's target for the configured replica limits (`None`: no limit, no
    /// throttling).
    fn throttle_target(&self) -> Option<u64> {
        let l = self.cfg.client_output_buffer_limit;
        let base = if l.soft.bytes() > 0 {
            l.soft.bytes()
        } else {
            l.hard.bytes()
        };
        (base > 0).then_some(base / 2)
    }

    /// The write rate the load offers the stream now (0 while paused, without a backlog or as
    /// a relaying replica, as the unthrottled stream would be).
    pub(crate) fn offered_rate(&self) -> u64 {
        self.unthrottled_rate()
    }

    /// Brings the throttle's accounting to now (before any change of rate).
    pub(crate) fn throttle_settle(&mut self, now: SimTime) {
        if !self.throttling_enabled() {
            return;
        }
        let offered = self.offered_rate();
        let written = self.primary.clock_rate();
        self.primary.throttle.settle(now, offered, written);
    }

    /// Starts the 100 ms tick when throttling is on and the primary has replicas.
    pub(crate) fn throttle_ensure(&mut self, ctx: C<'_, '_>) {
        if !self.throttling_enabled()
            || self.primary.throttle.tick.is_some()
            || !self.has_replicas()
        {
            return;
        }
        let epoch = self.next_epoch();
        self.primary.throttle.tick = Some(ctx.schedule(Msg::Timer(Timer::Throttle(epoch)), TICK));
    }

    /// After a change of stream rate: arms the end of the queue's drain, if it drains.
    pub(crate) fn throttle_arm_drain(&mut self, ctx: C<'_, '_>) {
        if let Some(t) = self.primary.throttle.drain.take() {
            ctx.cancel(t);
        }
        let th = &self.primary.throttle;
        if !th.active || th.queue_nb == 0 {
            return;
        }
        let offered = self.offered_rate();
        let written = self.primary.clock_rate();
        if written <= offered {
            return;
        }
        let ns = th.queue_nb.div_ceil(u128::from(written - offered));
        let delay = SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        let epoch = self.next_epoch();
        self.primary.throttle.drain =
            Some(ctx.schedule(Msg::Timer(Timer::ThrottleDrain(epoch)), delay));
    }

    /// The queue drained: the stream falls back to the offered rate.
    pub(crate) fn throttle_drained(&mut self, ctx: C<'_, '_>) {
        self.primary.throttle.drain = None;
        self.advance(ctx);
        self.rate_changed(ctx);
    }

    /// The 100 ms tick (`throttle_repl.c`'s cron).
    pub(crate) fn throttle_tick(&mut self, ctx: C<'_, '_>) {
        self.primary.throttle.tick = None;
        if !self.throttling_enabled() || !self.has_replicas() {
            self.throttle_release(ctx);
            return;
        }
        self.advance(ctx);
        // Writing clients' references follow their sockets lazily (primary.rs `advance`).
        self.refresh_all_refs(ctx);
        let now = ctx.now();
        let Some(target) = self.throttle_target() else {
            self.throttle_release(ctx);
            self.throttle_ensure(ctx);
            return;
        };
        let cob = self.primary.buffer.as_ref().and_then(|buf| {
            self.primary
                .clients
                .iter()
                .filter(|c| matches!(c.state, ClientState::Online { .. }) && !c.rdb_only)
                .map(|c| buf.cob_bytes(c.id))
                .max()
        });
        let offered = self.offered_rate();
        let was = (self.primary.throttle.active, self.primary.throttle.allowed);
        self.primary.throttle.decide(now, cob, target, offered);
        if was != (self.primary.throttle.active, self.primary.throttle.allowed) {
            self.rate_changed(ctx);
        }
        self.throttle_ensure(ctx);
    }

    /// Throttling stops at once (no replicas, no limit, switched off): what waits is written
    /// now.
    pub(crate) fn throttle_release(&mut self, ctx: C<'_, '_>) {
        if !self.primary.throttle.active && self.primary.throttle.queue_nb == 0 {
            return;
        }
        self.advance(ctx);
        let queued = self.primary.throttle.queued_bytes();
        self.primary.throttle.queue_nb = 0;
        self.primary.throttle.active = false;
        self.primary.throttle.allowed = 0;
        if queued > 0 {
            self.feed_discrete(ctx, queued);
        }
        self.rate_changed(ctx);
    }

    /// While throttling, a replica above the target is exempt from the soft limit unless the
    /// soft limit has been exceeded for over [`SOFT_EXEMPTION_SECS`].
    pub(crate) fn soft_limit_exempt(&self, usage: u64, exceeded_secs: u64) -> bool {
        self.throttling_enabled()
            && self.primary.throttle.active
            && self.throttle_target().is_some_and(|t| usage > t)
            && exceeded_secs <= SOFT_EXEMPTION_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SimTime {
        SimTime::ZERO.saturating_add(SimDuration::from_millis(ms))
    }

    #[test]
    fn starts_at_half_the_target_and_cuts_a_rising_buffer() {
        let mut th = Throttle::default();
        // Below half the target: nothing.
        th.decide(at(0), Some(100), 1000, 5000);
        assert!(!th.active);
        // Half the target, rising: starts at the offered rate, cut by 5 %.
        th.decide(at(100), Some(500), 1000, 5000);
        assert!(th.active);
        assert_eq!(th.activations, 1);
        assert_eq!(th.allowed, 4750);
    }

    #[test]
    fn a_flat_buffer_below_target_lets_the_rate_grow_back_and_ends() {
        let mut th = Throttle {
            active: true,
            allowed: 1000,
            ..Throttle::default()
        };
        th.decide(at(0), Some(600), 1000, 2000);
        assert_eq!(th.allowed, 1051);
        assert!(th.active);
        // The buffer fell below the activation level and the rate covers the offer: unlimited.
        th.decide(at(100), Some(100), 1000, 1000);
        assert!(!th.active);
        assert_eq!(th.allowed, 0);
    }

    #[test]
    fn the_trend_predicts_thirty_seconds_ahead() {
        let mut th = Throttle::default();
        th.history.push_back((at(0), 0));
        // +100 bytes over 2 s: +1500 in 30 s.
        assert_eq!(th.predicted(at(2000), 100), 1600);
        // Falling: never below 0.
        th.history.clear();
        th.history.push_back((at(0), 1000));
        assert_eq!(th.predicted(at(1000), 500), 0);
    }

    #[test]
    fn delayed_bytes_wait_and_drain_in_full() {
        let mut th = Throttle {
            active: true,
            allowed: 1000,
            ..Throttle::default()
        };
        // 1 s offered at 3000, written at 1000: 2000 bytes wait.
        th.settle(at(1000), 3000, th.stream_rate(3000));
        assert_eq!(th.queued_bytes(), 2000);
        // The offer stops: the stream keeps the allowed rate until the queue is empty.
        assert_eq!(th.stream_rate(0), 1000);
        th.settle(at(3000), 0, 1000);
        assert_eq!(th.queued_bytes(), 0);
        assert_eq!(th.delayed_ns, 3_000_000_000);
        let mut s = InfoSample::default();
        th.info(&mut s, 100);
        assert_eq!(s.repl_throttle_total_commands, Some(30));
        assert_eq!(s.repl_throttle_below_guardrail_secs, Some(3));
    }
}
