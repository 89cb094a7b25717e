//! Keeping one engine timer at the network's next event.

use super::Network;
use crate::engine::{ActorId, Ctx, Message, SimTime, TimerId};

/// The wake-up timer of the actor that drives a [`Network`]: exactly one engine timer, at
/// [`Network::next_event_time`], re-armed after every change to the network.
///
/// The driver actor calls [`NetWake::fired`] when its wake message arrives, then
/// [`Network::advance`] to the current time, hands out the drained notifications, and re-arms.
/// Any actor that mutates the network re-arms too (with [`NetWake::rearm`] if it owns the
/// `NetWake`, or [`NetWake::sync`] when the network and the `NetWake` live in the environment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetWake {
    timer: Option<TimerId>,
    at: Option<SimTime>,
}

impl NetWake {
    /// No timer.
    pub fn new() -> Self {
        NetWake::default()
    }

    /// The instant the timer is armed for.
    pub fn armed_at(&self) -> Option<SimTime> {
        self.at
    }

    /// Records that the timer fired (call before re-arming, when the wake message arrives).
    pub fn fired(&mut self) {
        self.timer = None;
        self.at = None;
    }

    /// Makes the timer fire at `next` (none if `None`), delivering `make_msg()` to `driver`.
    /// Nothing happens if it is already armed for that instant. A `next` in the past (which a
    /// correctly advanced network never returns) is clamped to now.
    pub fn rearm<M: Message, E>(
        &mut self,
        ctx: &mut Ctx<'_, M, E>,
        driver: ActorId,
        next: Option<SimTime>,
        make_msg: impl FnOnce() -> M,
    ) {
        let next = next.map(|t| t.max(ctx.now()));
        if next == self.at && (self.timer.is_some() || next.is_none()) {
            return;
        }
        if let Some(timer) = self.timer.take() {
            ctx.cancel(timer);
        }
        self.at = next;
        self.timer = next.map(|at| ctx.timer_for_at(driver, make_msg(), at));
    }

    /// [`NetWake::rearm`] for a network and a `NetWake` that live in the environment `E`;
    /// `parts` picks them out, e.g. `|env: &mut Env| (&mut env.net, &mut env.wake)`.
    pub fn sync<M: Message, E>(
        ctx: &mut Ctx<'_, M, E>,
        parts: for<'e> fn(&'e mut E) -> (&'e mut Network, &'e mut NetWake),
        driver: ActorId,
        make_msg: impl FnOnce() -> M,
    ) {
        let (next, mut wake) = {
            let (net, wake) = parts(ctx.env());
            (net.next_event_time(), *wake)
        };
        wake.rearm(ctx, driver, next, make_msg);
        *parts(ctx.env()).1 = wake;
    }
}
