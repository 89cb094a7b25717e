//! A small recording model shared by the engine tests.

use replsim::engine::{Actor, ActorId, Ctx, Message, SimDuration, TimerId};

/// Messages of the recording model.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// A labelled message; the recorder logs the label.
    Note(u64),
    /// Ask the receiver to schedule `Note(label)` to itself after `delay`, and remember the id.
    ScheduleSelf { label: u64, delay: SimDuration },
    /// Ask the receiver to schedule a periodic `Note(label)`.
    Periodic {
        label: u64,
        first: SimDuration,
        period: SimDuration,
    },
    /// Ask the receiver to cancel the timer it remembered under `label`.
    Cancel(u64),
    /// Ask the receiver to draw `n` random numbers and log them.
    Draw(u32),
    /// Forward `Note(label)` to `to` after `delay`.
    Forward {
        to: ActorId,
        label: u64,
        delay: SimDuration,
    },
    /// Stop the run.
    Stop,
}

impl Message for Msg {
    const KIND_NAMES: &'static [&'static str] = &[
        "note",
        "schedule_self",
        "periodic",
        "cancel",
        "draw",
        "forward",
        "stop",
    ];
    fn kind(&self) -> usize {
        match self {
            Msg::Note(_) => 0,
            Msg::ScheduleSelf { .. } => 1,
            Msg::Periodic { .. } => 2,
            Msg::Cancel(_) => 3,
            Msg::Draw(_) => 4,
            Msg::Forward { .. } => 5,
            Msg::Stop => 6,
        }
    }
}

/// Logs every note with its delivery time; keeps timers by label.
#[derive(Debug, Default)]
pub struct Recorder {
    /// `(time in ns, label)` for each note received.
    pub notes: Vec<(u64, u64)>,
    /// Every random number drawn.
    pub draws: Vec<u64>,
    /// Timers by label.
    pub timers: Vec<(u64, TimerId)>,
    /// Results of cancel requests.
    pub cancelled: Vec<bool>,
}

impl Actor for Recorder {
    type Msg = Msg;
    type Env = ();

    fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, ()>) {
        use rand::Rng;
        match msg {
            Msg::Note(label) => self.notes.push((ctx.now().as_nanos(), label)),
            Msg::ScheduleSelf { label, delay } => {
                let id = ctx.schedule(Msg::Note(label), delay);
                self.timers.push((label, id));
            }
            Msg::Periodic {
                label,
                first,
                period,
            } => {
                let id = ctx.schedule_periodic(Msg::Note(label), first, period);
                self.timers.push((label, id));
            }
            Msg::Cancel(label) => {
                let id = self
                    .timers
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map(|(_, id)| *id);
                let ok = id.is_some_and(|id| ctx.cancel(id));
                self.cancelled.push(ok);
            }
            Msg::Draw(n) => {
                for _ in 0..n {
                    let v = ctx.rng().next_u64();
                    self.draws.push(v);
                }
            }
            Msg::Forward { to, label, delay } => ctx.send(to, Msg::Note(label), delay),
            Msg::Stop => ctx.stop("asked to stop"),
        }
    }
}

/// Milliseconds as a duration.
pub fn ms(v: u64) -> SimDuration {
    SimDuration::from_millis(v)
}
