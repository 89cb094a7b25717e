//! The simulation loop and the context handed to actors.

use std::io::Write;
use std::time::Instant;

use super::actor::{Actor, ActorId, Message};
use super::queue::{EventQueue, NO_TIMER, Timers};
use super::rng::{ActorRng, actor_rng};
use super::trace::{TraceDigest, TraceSink};
use super::{SimDuration, SimTime};

/// A handle to a cancellable scheduled message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

/// An error of the simulation itself (not of the modelled system).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A message was addressed to an actor id this simulation does not have.
    #[error("{from} sent a message to unknown {to}")]
    UnknownActor {
        /// The sender's name (or `"setup"` for messages scheduled before the run).
        from: String,
        /// The unknown target.
        to: ActorId,
    },
    /// Something was scheduled before the current time.
    #[error("{actor} scheduled an event at {at}, before the current time {now}")]
    ScheduledInPast {
        /// The actor's name.
        actor: String,
        /// The requested time.
        at: SimTime,
        /// The current time.
        now: SimTime,
    },
    /// `now + delay` does not fit in a `SimTime`.
    #[error("{actor} scheduled an event {delay} after {now}, past the end of representable time")]
    TimeOverflow {
        /// The actor's name.
        actor: String,
        /// The current time.
        now: SimTime,
        /// The requested delay.
        delay: SimDuration,
    },
    /// A periodic timer with a zero period would fire forever at one instant.
    #[error("{actor} asked for a periodic timer with a zero period")]
    ZeroPeriod {
        /// The actor's name.
        actor: String,
    },
    /// Two actors with the same name: their random streams would coincide.
    #[error(
        "an actor named {0:?} already exists (names key the random streams, so they must be unique)"
    )]
    DuplicateName(String),
    /// Writing the JSON-lines trace failed.
    #[error("writing the event trace failed: {0}")]
    TraceIo(String),
    /// The work budget ran out before the horizon (returned by callers that treat a truncated
    /// run as a failure; [`Simulation::run`] itself reports [`StopReason::EventBudget`]).
    #[error(
        "the work budget of {budget} units (max-events: events plus the work inside them) ran \
         out at t = {at}, before the horizon {horizon}; raise max-events or shorten the horizon"
    )]
    WorkBudget {
        /// The budget.
        budget: u64,
        /// Where the run stopped.
        at: SimTime,
        /// Where it should have stopped.
        horizon: SimTime,
    },
    /// A model's invariant checker found a state the model must never reach (a model bug, not
    /// a property of the simulated system). The engine only carries it; the model names it.
    #[error("invariant broken at {at} on {node}: {invariant}: {detail}")]
    Invariant {
        /// When it was found.
        at: SimTime,
        /// The node (or connection) at fault.
        node: String,
        /// The invariant's name.
        invariant: String,
        /// The values that break it.
        detail: String,
    },
}

/// Cancelled entries tolerated in the queue before it is compacted (when they are also more than
/// half of it).
const STALE_SLACK: usize = 1024;

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopAt {
    /// Events later than this are not processed.
    pub horizon: SimTime,
    /// The work budget: the run stops once it has done this many units of work. A unit is an
    /// event, a cancelled timer skipped on the way, or whatever an actor charges with
    /// [`Ctx::charge`] (work done inside one event, such as a component's inner loop), so the
    /// budget bounds the cost of a run, not only its event count.
    pub max_events: u64,
}

impl StopAt {
    /// Stop at `horizon`, with no event budget.
    pub fn horizon(horizon: SimTime) -> Self {
        StopAt {
            horizon,
            max_events: u64::MAX,
        }
    }
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// The next event lies beyond the horizon (or the queue ran dry at it).
    Horizon,
    /// The work budget ([`StopAt::max_events`]) is spent.
    EventBudget,
    /// An actor called [`Ctx::stop`].
    Stopped {
        /// The actor that stopped the run.
        actor: String,
        /// Its reason.
        reason: String,
    },
    /// Nothing is left to do before the horizon.
    Idle,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunStats {
    /// Events processed (cancelled timers do not count).
    pub events: u64,
    /// Units of work done: events, cancelled timers skipped, and what actors charged with
    /// [`Ctx::charge`]. The budget of [`StopAt::max_events`] applies to this.
    pub work: u64,
    /// Simulated time at the end of the run.
    pub end_time: SimTime,
    /// Why the run stopped.
    pub stop: StopReason,
    /// The trace digest, as 16 hex digits.
    pub trace_hash: String,
    /// Wall-clock seconds the run took (provenance only; never feeds back into the model).
    pub wall_seconds: f64,
}

/// Everything except the actors themselves, so that an actor can be borrowed mutably while its
/// context borrows the rest.
struct Core<M> {
    queue: EventQueue<M>,
    timers: Timers,
    names: Vec<String>,
    /// Name → id, for uniqueness checks and lookups only (never iterated).
    index: std::collections::HashMap<String, ActorId>,
    rngs: Vec<ActorRng>,
    master_seed: u64,
    now: SimTime,
    digest: TraceDigest,
    events: u64,
    /// Units of work besides events: cancelled timers and charged work.
    extra_work: u64,
    /// Entries in the queue whose timer was cancelled (dropped when popped, or all at once when
    /// they outnumber the live ones, so the queue stays O(live timers) however often timers
    /// are re-armed).
    stale: usize,
    sink: Option<TraceSink>,
    stop: Option<StopReason>,
    error: Option<SimError>,
}

/// A seeded discrete-event simulation over actors of type `A`.
///
/// ```
/// use replsim::engine::{Actor, Ctx, Message, SimDuration, SimTime, Simulation, StopAt};
///
/// #[derive(Clone)]
/// struct Tick;
/// impl Message for Tick {
///     const KIND_NAMES: &'static [&'static str] = &["tick"];
///     fn kind(&self) -> usize { 0 }
/// }
/// struct Counter(u32);
/// impl Actor for Counter {
///     type Msg = Tick;
///     type Env = ();
///     fn handle(&mut self, _: Tick, ctx: &mut Ctx<'_, Tick, ()>) {
///         self.0 += 1;
///         ctx.schedule(Tick, SimDuration::from_millis(100));
///     }
/// }
///
/// let mut sim = Simulation::new(42, ());
/// let id = sim.add_actor("counter", Counter(0)).unwrap();
/// sim.send_at(id, Tick, SimTime::ZERO).unwrap();
/// let stats = sim.run(StopAt::horizon(SimTime::from_secs(1))).unwrap();
/// assert_eq!(sim.actor(id).0, 11); // t = 0, 0.1, …, 1.0
/// assert_eq!(stats.events, 11);
/// ```
pub struct Simulation<A: Actor> {
    actors: Vec<A>,
    core: Core<A::Msg>,
    env: A::Env,
}

impl<A: Actor> std::fmt::Debug for Simulation<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("actors", &self.core.names)
            .field("now", &self.core.now)
            .field("pending", &self.core.queue.len())
            .field("events", &self.core.events)
            .finish()
    }
}

impl<A: Actor> Simulation<A> {
    /// An empty simulation with the given master seed and shared environment.
    pub fn new(master_seed: u64, env: A::Env) -> Self {
        Simulation {
            actors: Vec::new(),
            core: Core {
                queue: EventQueue::new(),
                timers: Timers::new(),
                names: Vec::new(),
                index: std::collections::HashMap::new(),
                rngs: Vec::new(),
                master_seed,
                now: SimTime::ZERO,
                digest: TraceDigest::default(),
                events: 0,
                extra_work: 0,
                stale: 0,
                sink: None,
                stop: None,
                error: None,
            },
            env,
        }
    }

    /// Adds an actor under a unique name; the name keys its random stream.
    pub fn add_actor(&mut self, name: &str, actor: A) -> Result<ActorId, SimError> {
        if self.core.index.contains_key(name) {
            return Err(SimError::DuplicateName(name.to_string()));
        }
        let id = ActorId(self.actors.len() as u32);
        self.core.index.insert(name.to_string(), id);
        self.actors.push(actor);
        self.core.names.push(name.to_string());
        self.core.rngs.push(actor_rng(self.core.master_seed, name));
        Ok(id)
    }

    /// Schedules `msg` for `to` at the absolute time `at` (before or between runs).
    pub fn send_at(&mut self, to: ActorId, msg: A::Msg, at: SimTime) -> Result<(), SimError> {
        if to.index() >= self.actors.len() {
            return Err(SimError::UnknownActor {
                from: "setup".into(),
                to,
            });
        }
        if at < self.core.now {
            return Err(SimError::ScheduledInPast {
                actor: "setup".into(),
                at,
                now: self.core.now,
            });
        }
        self.core.queue.push(at, to.0, NO_TIMER, 0, msg);
        Ok(())
    }

    /// Writes every processed event, and every actor note, as one JSON object per line.
    pub fn set_trace_writer(&mut self, out: Box<dyn Write>) {
        self.core.sink = Some(TraceSink::new(out));
    }

    /// Runs until a stop condition holds. May be called again to continue with a later stop.
    pub fn run(&mut self, stop_at: StopAt) -> Result<RunStats, SimError> {
        let started = Instant::now();
        let budget_end = self.work().saturating_add(stop_at.max_events);
        self.core.stop = None;
        let reason = loop {
            let Some(next) = self.core.queue.peek_time() else {
                break StopReason::Idle;
            };
            if next > stop_at.horizon {
                self.core.now = stop_at.horizon;
                break StopReason::Horizon;
            }
            if self.work() >= budget_end {
                break StopReason::EventBudget;
            }
            self.step();
            if let Some(err) = self.core.error.take() {
                return Err(err);
            }
            if let Some(reason) = self.core.stop.take() {
                break reason;
            }
        };
        self.finish_trace()?;
        Ok(RunStats {
            events: self.core.events,
            work: self.work(),
            end_time: self.core.now,
            stop: reason,
            trace_hash: self.core.digest.hex(),
            wall_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Pops and handles one event (skipping cancelled timers). Returns false when none is left.
    fn step(&mut self) -> bool {
        let Some(entry) = self.core.queue.pop() else {
            return false;
        };
        if entry.timer != NO_TIMER {
            let Some(slot) = self.core.timers.live(entry.timer, entry.generation) else {
                self.core.stale = self.core.stale.saturating_sub(1);
                return true; // cancelled: not an event (its work was counted at the cancel)
            };
            if slot.period_ns == 0 {
                self.core.timers.release(entry.timer, entry.generation);
            } else {
                self.rearm_periodic(&entry, slot.period_ns);
            }
        }
        self.core.now = entry.time;
        self.core.events += 1;
        let kind = entry.msg.kind();
        self.core.digest.fold(entry.time, entry.to, kind as u32);
        if let Some(sink) = self.core.sink.as_mut() {
            let kind_name = A::Msg::KIND_NAMES.get(kind).copied().unwrap_or("?");
            sink.event(entry.time, &self.core.names[entry.to as usize], kind_name);
        }
        let mut ctx = Ctx {
            core: &mut self.core,
            env: &mut self.env,
            me: ActorId(entry.to),
        };
        self.actors[entry.to as usize].handle(entry.msg, &mut ctx);
        true
    }

    /// Re-queues a periodic timer one period later, before its handler runs, so the handler can
    /// cancel it.
    fn rearm_periodic(&mut self, entry: &super::queue::Entry<A::Msg>, period_ns: u64) {
        let Some(next) = entry.time.checked_add(SimDuration::from_nanos(period_ns)) else {
            self.core.timers.release(entry.timer, entry.generation);
            return;
        };
        self.core.queue.push(
            next,
            entry.to,
            entry.timer,
            entry.generation,
            entry.msg.clone(),
        );
    }

    fn finish_trace(&mut self) -> Result<(), SimError> {
        if let Some(sink) = self.core.sink.as_mut() {
            sink.flush();
            if let Some(e) = sink.error.take() {
                return Err(SimError::TraceIo(e.to_string()));
            }
        }
        Ok(())
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }
    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.core.events
    }
    /// Units of work done so far (see [`RunStats::work`]).
    pub fn work(&self) -> u64 {
        self.core.events.saturating_add(self.core.extra_work)
    }
    /// The trace digest so far, as 16 hex digits.
    pub fn trace_hash(&self) -> String {
        self.core.digest.hex()
    }
    /// Events still pending (including cancelled timers not yet discarded).
    pub fn pending(&self) -> usize {
        self.core.queue.len()
    }
    /// The actor with the given id.
    ///
    /// # Panics
    /// If `id` does not belong to this simulation (a programming error, not user input).
    pub fn actor(&self, id: ActorId) -> &A {
        &self.actors[id.index()]
    }
    /// The actor with the given id, mutably (same panics as [`Simulation::actor`]).
    pub fn actor_mut(&mut self, id: ActorId) -> &mut A {
        &mut self.actors[id.index()]
    }
    /// The name an actor was added under.
    pub fn actor_name(&self, id: ActorId) -> &str {
        &self.core.names[id.index()]
    }
    /// The id of the actor called `name`.
    pub fn actor_id(&self, name: &str) -> Option<ActorId> {
        self.core.index.get(name).copied()
    }
    /// The shared environment.
    pub fn env(&self) -> &A::Env {
        &self.env
    }
    /// The shared environment, mutably.
    pub fn env_mut(&mut self) -> &mut A::Env {
        &mut self.env
    }
}

/// What an actor can do while it handles a message.
pub struct Ctx<'a, M, E> {
    core: &'a mut Core<M>,
    env: &'a mut E,
    me: ActorId,
}

impl<M, E> std::fmt::Debug for Ctx<'_, M, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("me", &self.core.names[self.me.index()])
            .field("now", &self.core.now)
            .finish()
    }
}

impl<M: Message, E> Ctx<'_, M, E> {
    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// The actor handling the message.
    #[inline]
    pub fn me(&self) -> ActorId {
        self.me
    }

    /// The name of the actor handling the message.
    pub fn my_name(&self) -> &str {
        &self.core.names[self.me.index()]
    }

    /// The name of any actor of this simulation (`"?"` for an unknown id).
    pub fn name_of(&self, id: ActorId) -> &str {
        self.core.names.get(id.index()).map_or("?", String::as_str)
    }

    /// This actor's own random stream.
    #[inline]
    pub fn rng(&mut self) -> &mut ActorRng {
        &mut self.core.rngs[self.me.index()]
    }

    /// The environment shared by all actors.
    #[inline]
    pub fn env(&mut self) -> &mut E {
        self.env
    }

    /// The environment and this actor's random stream at once (for passive subsystems that draw
    /// on the caller's stream).
    pub fn env_and_rng(&mut self) -> (&mut E, &mut ActorRng) {
        (self.env, &mut self.core.rngs[self.me.index()])
    }

    /// Delivers `msg` to `to` after `delay`. An unknown target or an overflowing time ends the
    /// run with an error after this handler returns.
    #[inline]
    pub fn send(&mut self, to: ActorId, msg: M, delay: SimDuration) {
        if let Some(at) = self.at_after(delay) {
            self.push(to, msg, at, NO_TIMER, 0);
        }
    }

    /// Delivers `msg` to `to` at the absolute time `at` (not before now).
    pub fn send_at(&mut self, to: ActorId, msg: M, at: SimTime) {
        if self.check_not_past(at) {
            self.push(to, msg, at, NO_TIMER, 0);
        }
    }

    /// Delivers `msg` to this actor after `delay`; the returned id cancels it.
    #[inline]
    pub fn schedule(&mut self, msg: M, delay: SimDuration) -> TimerId {
        let me = self.me;
        self.timer_for(me, msg, delay)
    }

    /// Delivers `msg` to this actor at `at`; the returned id cancels it.
    pub fn schedule_at(&mut self, msg: M, at: SimTime) -> TimerId {
        let me = self.me;
        self.timer_for_at(me, msg, at)
    }

    /// A cancellable delivery to any actor after `delay` (for example a wake-up of a shared
    /// subsystem's driver).
    pub fn timer_for(&mut self, to: ActorId, msg: M, delay: SimDuration) -> TimerId {
        match self.at_after(delay) {
            Some(at) => self.timer_for_at(to, msg, at),
            None => TimerId {
                slot: NO_TIMER,
                generation: 0,
            },
        }
    }

    /// A cancellable delivery to any actor at `at`.
    pub fn timer_for_at(&mut self, to: ActorId, msg: M, at: SimTime) -> TimerId {
        if !self.check_not_past(at) {
            return TimerId {
                slot: NO_TIMER,
                generation: 0,
            };
        }
        let (slot, generation) = self.core.timers.acquire(0);
        self.push(to, msg, at, slot, generation);
        TimerId { slot, generation }
    }

    /// Delivers `msg` to this actor after `first`, then every `period`, until cancelled.
    pub fn schedule_periodic(
        &mut self,
        msg: M,
        first: SimDuration,
        period: SimDuration,
    ) -> TimerId {
        let none = TimerId {
            slot: NO_TIMER,
            generation: 0,
        };
        if period == SimDuration::ZERO {
            let actor = self.my_name().to_string();
            self.core
                .error
                .get_or_insert(SimError::ZeroPeriod { actor });
            return none;
        }
        let Some(at) = self.at_after(first) else {
            return none;
        };
        let (slot, generation) = self.core.timers.acquire(period.as_nanos());
        let me = self.me;
        self.push(me, msg, at, slot, generation);
        TimerId { slot, generation }
    }

    /// Cancels a timer (one-shot or periodic); returns false if it already fired or was
    /// cancelled. Works for timers due at the current instant too.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        if !self.core.timers.release(timer.slot, timer.generation) {
            return false;
        }
        self.core.extra_work = self.core.extra_work.saturating_add(1);
        self.core.stale += 1;
        if self.core.stale > STALE_SLACK && self.core.stale > self.core.queue.len() / 2 {
            let timers = &self.core.timers;
            self.core
                .queue
                .retain(|e| e.timer == NO_TIMER || timers.live(e.timer, e.generation).is_some());
            self.core.stale = 0;
        }
        true
    }

    /// Charges `units` of work done inside this event to the run's budget
    /// ([`StopAt::max_events`]): a component whose cost per event is not constant (a network's
    /// inner loop) reports it here, so that a run cannot go far past its budget inside events.
    /// The run stops before the next event once the budget is spent.
    #[inline]
    pub fn charge(&mut self, units: u64) {
        self.core.extra_work = self.core.extra_work.saturating_add(units);
    }

    /// Stops the run after this handler returns.
    pub fn stop(&mut self, reason: impl Into<String>) {
        let actor = self.my_name().to_string();
        self.core.stop = Some(StopReason::Stopped {
            actor,
            reason: reason.into(),
        });
    }

    /// Whether a JSON-lines trace is being written (so notes can be skipped cheaply).
    pub fn tracing(&self) -> bool {
        self.core.sink.is_some()
    }

    /// Attaches a note to the JSON-lines trace (no effect, and no cost, when it is off).
    pub fn trace(&mut self, note: impl FnOnce() -> String) {
        if let Some(sink) = self.core.sink.as_mut() {
            let name = &self.core.names[self.me.index()];
            sink.note(self.core.now, name, &note());
        }
    }

    #[inline]
    fn at_after(&mut self, delay: SimDuration) -> Option<SimTime> {
        let at = self.core.now.checked_add(delay);
        if at.is_none() {
            let actor = self.my_name().to_string();
            let now = self.core.now;
            self.core
                .error
                .get_or_insert(SimError::TimeOverflow { actor, now, delay });
        }
        at
    }

    fn check_not_past(&mut self, at: SimTime) -> bool {
        if at >= self.core.now {
            return true;
        }
        let actor = self.my_name().to_string();
        let now = self.core.now;
        self.core
            .error
            .get_or_insert(SimError::ScheduledInPast { actor, at, now });
        false
    }

    #[inline]
    fn push(&mut self, to: ActorId, msg: M, at: SimTime, timer: u32, generation: u32) {
        if to.index() >= self.core.names.len() {
            let from = self.my_name().to_string();
            self.core
                .error
                .get_or_insert(SimError::UnknownActor { from, to });
            return;
        }
        self.core.queue.push(at, to.0, timer, generation, msg);
    }
}
