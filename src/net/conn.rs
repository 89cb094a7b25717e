//! One direction of a TCP connection as a fluid pipeline of five monotone byte counters.
//!
//! ```text
//!  app ──W──▶ [app queue] ──A──▶ [send buffer] ──S──▶ ~~wire~~ ──R──▶ [recv buffer] ──D──▶ app
//! ```
//!
//! `W` written, `A` accepted, `S` sent, `R` arrived, `D` read. Every level is a difference of
//! two counters, so bytes are conserved exactly. The socket takes whatever fits
//! (`A = min(W, S + send cap)`), the receive window bounds what is unread or in flight
//! (`S − D <= recv cap`), and arrivals are the sends delayed by the latency: each change of the
//! send rate pushes a breakpoint `(t + latency, S(t), rate)` onto a delay line, and `R` follows
//! the front breakpoint.

use std::collections::VecDeque;

use super::fair_share::UNLIMITED;
use super::fluid::{Ctr, Form, Forms, NS};
use super::watch::Watch;
use super::{ConnId, Dir, NetError, Notification, WatchId};
use crate::engine::ActorId;
use crate::units::{ByteSize, Rate};

/// Default sender socket buffer: Linux's `tcp_wmem` autotuning maximum (4 MiB).
pub const DEFAULT_SEND_BUFFER: ByteSize = ByteSize::new(4 << 20);
/// Default receive window: half of Linux's `tcp_rmem` maximum (6 MiB), because with
/// `tcp_adv_win_scale = 1` the kernel advertises half the receive buffer as window and keeps the
/// rest for per-packet overhead; the payload that can sit unread or in flight is the window.
pub const DEFAULT_RECV_BUFFER: ByteSize = ByteSize::new(3 << 20);

/// Per-connection socket settings (the same for both directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnOptions {
    /// Payload the sender's socket buffer holds.
    pub send_buffer: ByteSize,
    /// Payload the receiver holds unread or lets be in flight (the receive window).
    pub recv_buffer: ByteSize,
    /// Cap a flow at `recv_buffer / RTT` (RTT = twice the link latency), as a window-limited TCP
    /// stream is. Window updates are otherwise instantaneous in this model, so without the cap a
    /// long link would carry more than real TCP can.
    pub window_limits_rate: bool,
}

impl Default for ConnOptions {
    /// 4 MiB send buffer, 3 MiB receive window, window-limited rate on.
    fn default() -> Self {
        ConnOptions {
            send_buffer: DEFAULT_SEND_BUFFER,
            recv_buffer: DEFAULT_RECV_BUFFER,
            window_limits_rate: true,
        }
    }
}

impl ConnOptions {
    pub(crate) fn validate(&self) -> Result<(), NetError> {
        if self.send_buffer.bytes() == 0 {
            return Err(NetError::ZeroBuffer("send"));
        }
        if self.recv_buffer.bytes() == 0 {
            return Err(NetError::ZeroBuffer("receive"));
        }
        Ok(())
    }
}

/// What a fluid producer does when the socket cannot take its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductionMode {
    /// Keep producing; the application queue grows without bound (an output buffer).
    Buffered,
    /// Wait: production slows to what the socket accepts (a process writing to a pipe). Also
    /// pauses while discrete writes wait in the application queue.
    Blocking,
}

/// A fluid writer: bytes produced at a constant rate, optionally up to a total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Production {
    /// Production rate.
    pub rate: Rate,
    /// Buffered or blocking.
    pub mode: ProductionMode,
    /// Bytes after which production ends (counted from when it is set), or `None`.
    pub total: Option<u64>,
    /// The fraction of a byte (in 10⁻⁹ bytes, below 10⁹) the producer has already made when it
    /// is set, replacing whatever fraction the written counter carried: a producer that
    /// mirrors another fluid (a clock its writer keeps) rounds where that one does, so it
    /// never hands over a byte before its source counts it. `None` keeps the counter's own.
    pub carry: Option<u64>,
}

impl Production {
    /// A buffered producer with no total.
    pub fn buffered(rate: Rate) -> Self {
        Production {
            rate,
            mode: ProductionMode::Buffered,
            total: None,
            carry: None,
        }
    }
    /// A blocking producer with no total.
    pub fn blocking(rate: Rate) -> Self {
        Production {
            rate,
            mode: ProductionMode::Blocking,
            total: None,
            carry: None,
        }
    }
    /// The same producer, ending after `bytes`.
    pub fn with_total(mut self, bytes: u64) -> Self {
        self.total = Some(bytes);
        self
    }
    /// The same producer, starting with `nanobytes` (mod 10⁹) of a byte already made.
    pub fn with_carry(mut self, nanobytes: u64) -> Self {
        self.carry = Some(nanobytes % NS as u64);
        self
    }
}

/// How the receiving application reads a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Not reading (it may still read discrete amounts with `read`).
    Stopped,
    /// Reading at most this rate.
    Rate(Rate),
    /// Reading whatever arrives, at once.
    Unlimited,
}

/// Where one direction is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// The writer may write.
    Open,
    /// The writer closed; the reader has not yet seen end-of-file.
    Closing,
    /// The reader saw end-of-file.
    Closed,
    /// The connection was reset.
    Reset,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Both directions open.
    Open,
    /// At least one direction closed, not both finished.
    Closing,
    /// Both directions saw end-of-file.
    Closed,
    /// Reset.
    Reset,
}

/// Counters, levels and rates of one direction at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirState {
    /// Bytes written (handed over or produced).
    pub written: u64,
    /// Bytes accepted into the send buffer.
    pub accepted: u64,
    /// Bytes sent.
    pub sent: u64,
    /// Bytes arrived in the receive buffer.
    pub arrived: u64,
    /// Bytes read.
    pub read: u64,
    /// `written − accepted`.
    pub app_queue: u64,
    /// `accepted − sent`.
    pub send_buffer: u64,
    /// `sent − arrived`.
    pub in_flight: u64,
    /// `arrived − read`.
    pub recv_buffer: u64,
    /// The send buffer's capacity.
    pub send_buffer_cap: u64,
    /// The receive window.
    pub recv_buffer_cap: u64,
    /// Rate at which bytes go on the wire.
    pub wire_rate: Rate,
    /// Rate at which bytes arrive.
    pub arrival_rate: Rate,
    /// Rate at which the application reads.
    pub read_rate: Rate,
    /// Rate at which the application writes (fluid part).
    pub write_rate: Rate,
    /// Whether the writer is blocked (see [`Notification::WriteBlocked`]).
    pub blocked: bool,
    /// Life cycle.
    pub state: StreamState,
}

/// A breakpoint of the delay line: from `at`, arrivals continue from the exact sent count `s`
/// (times 10⁹) at `rate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bp {
    pub(crate) at: u64,
    pub(crate) s: u128,
    pub(crate) rate: u64,
}

impl Bp {
    fn exact_at(&self, t: u64) -> u128 {
        self.s
            .saturating_add(u128::from(self.rate) * u128::from(t.saturating_sub(self.at)))
    }
}

#[derive(Clone, Copy, Debug)]
struct Producer {
    rate: u64,
    blocking: bool,
    /// Absolute value of `W` at which production ends.
    limit: Option<u64>,
    done: bool,
}

#[derive(Clone, Copy, Debug)]
struct Fin {
    final_w: u64,
    /// Earliest end-of-file: close time plus latency (the FIN's own trip).
    at: u64,
}

const W: usize = Ctr::W as usize;
const A: usize = Ctr::A as usize;
const S: usize = Ctr::S as usize;
const R: usize = Ctr::R as usize;
const D: usize = Ctr::D as usize;

/// One direction of a connection.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) conn: ConnId,
    pub(crate) dir: Dir,
    pub(crate) writer: ActorId,
    pub(crate) reader: ActorId,
    snd_cap: u64,
    rcv_cap: u64,
    window_cap: bool,
    forms: Forms,
    /// Counter values at the last settle.
    vals: [u64; 5],
    delay: VecDeque<Bp>,
    last_bp_at: u64,
    /// The send line the delay line currently replays (its last breakpoint, at send time).
    sent_line: Bp,
    /// Arrival rate stashed while the link is down.
    frozen_rate: u64,
    producer: Option<Producer>,
    read: ReadMode,
    fin: Option<Fin>,
    eof_done: bool,
    blocked: bool,
    readable_armed: bool,
    pub(crate) dead: bool,
    pub(crate) next_at: Option<u64>,
    watches: Vec<Watch>,
    /// The mark this direction keeps its counters for (see `Network::track`).
    pub(crate) track: Option<Track>,
    /// The change list this direction reports to, and whether it is on it now (see
    /// `Network::report_changes`).
    pub(crate) reports: Option<Reports>,
    /// Wire bytes per payload byte, in millionths ([`WIRE_UNCOMPRESSED`] = 1:1): a sender that
    /// compresses puts fewer bytes on the link than its application wrote. Every counter stays
    /// in payload bytes; only the link's fair share is taken in wire bytes.
    pub(crate) wire_ppm: u32,
}

/// A direction's counters as of its mark's last setting, captured before the first change that
/// follows that setting (until then they are the current formulas evaluated at the mark).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    pub(crate) mark: u32,
    /// Settings of the mark up to this epoch came before the tracking began: no answer for them.
    pub(crate) since: u64,
    /// The epoch of the setting `captured` belongs to.
    pub(crate) captured_epoch: u64,
    pub(crate) captured: Option<DirState>,
}

/// Where a direction reports its changes: a change list, and whether it is listed there now
/// (it is listed at most once until the list is next taken).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reports {
    pub(crate) list: u32,
    pub(crate) listed: bool,
}

/// `wire_ppm` of an uncompressed stream.
pub const WIRE_UNCOMPRESSED: u32 = 1_000_000;

impl Stream {
    pub(crate) fn new(
        conn: ConnId,
        dir: Dir,
        owners: [ActorId; 2],
        opts: &ConnOptions,
        now: u64,
    ) -> Self {
        Stream {
            conn,
            dir,
            writer: owners[dir.writer().index()],
            reader: owners[dir.reader().index()],
            snd_cap: opts.send_buffer.bytes(),
            rcv_cap: opts.recv_buffer.bytes(),
            window_cap: opts.window_limits_rate,
            forms: Forms::zero(now),
            vals: [0; 5],
            delay: VecDeque::new(),
            last_bp_at: now,
            sent_line: Bp {
                at: now,
                s: 0,
                rate: 0,
            },
            frozen_rate: 0,
            producer: None,
            read: ReadMode::Stopped,
            fin: None,
            eof_done: false,
            blocked: false,
            readable_armed: true,
            dead: false,
            next_at: None,
            watches: Vec::new(),
            track: None,
            reports: None,
            wire_ppm: WIRE_UNCOMPRESSED,
        }
    }

    /// Brings the counters to `t` under the current formulas, applying due delay-line
    /// breakpoints (not while the link is down) and clamping the rounding overshoot of a
    /// crossing that happens at `t` back to its bound.
    pub(crate) fn settle(&mut self, t: u64, down: bool) {
        if self.dead {
            return;
        }
        while !down && let Some(bp) = self.delay.front().copied().filter(|bp| bp.at <= t) {
            self.forms.set(
                Ctr::R,
                Form::Lin {
                    t0: bp.at,
                    c0: bp.s,
                    rate: bp.rate,
                },
            );
            self.delay.pop_front();
        }
        let raw = |c| self.forms.value(c, t);
        let mut w = raw(Ctr::W);
        let fluid_w = match self.forms.get(Ctr::W) {
            Form::Lin { c0, rate, .. } if rate > 0 => {
                Some(u64::try_from(c0 / NS).unwrap_or(u64::MAX))
            }
            _ => None,
        };
        if let (Some(c0), Some(limit)) = (fluid_w, self.producer.and_then(|p| p.limit)) {
            w = w.min(limit.max(c0));
        }
        let mut d = raw(Ctr::D).min(raw(Ctr::R));
        let s = raw(Ctr::S).min(w).min(d.saturating_add(self.rcv_cap));
        let r = raw(Ctr::R).min(s);
        d = d.min(r);
        if let (Some(c0), Some(true)) = (fluid_w, self.producer.map(|p| p.blocking)) {
            w = w.min(s.saturating_add(self.snd_cap)).max(c0);
        }
        let a = w.min(s.saturating_add(self.snd_cap));
        self.vals = [w, a, s, r, d];
    }

    /// `(app queue, send buffer, unacknowledged window, receive buffer)`.
    fn levels(&self) -> (u64, u64, u64, u64) {
        let [w, a, s, r, d] = self.vals;
        (
            w.saturating_sub(a),
            a.saturating_sub(s),
            s.saturating_sub(d),
            r.saturating_sub(d),
        )
    }

    fn producing(&self) -> Option<Producer> {
        self.producer
            .filter(|p| !p.done && p.limit.is_none_or(|l| self.vals[W] < l))
    }

    /// The rate at which the producer hands bytes over when the socket has room.
    fn p_eff(&self) -> u64 {
        let q = self.vals[W].saturating_sub(self.vals[A]);
        match self.producing() {
            Some(p) if !(p.blocking && q > 0) => p.rate,
            _ => 0,
        }
    }

    /// The rate the reader consumes at, given the current arrival rate.
    fn read_rate_now(&self) -> u64 {
        let ra = self.forms.rate(Ctr::R);
        let u = self.vals[R].saturating_sub(self.vals[D]);
        match self.read {
            ReadMode::Stopped => 0,
            ReadMode::Unlimited => ra,
            ReadMode::Rate(rate) if u > 0 => rate.bytes_per_sec(),
            ReadMode::Rate(rate) => rate.bytes_per_sec().min(ra),
        }
    }

    /// What this stream could use of the link: limited by the sender when its socket buffer is
    /// empty, by the reader when the window is full, and by window / RTT.
    pub(crate) fn demand(&self, latency: u64) -> u64 {
        if self.dead {
            return 0;
        }
        let (_, b, win, _) = self.levels();
        let mut cap = UNLIMITED;
        if self.window_cap && latency > 0 {
            let rtt = 2 * u128::from(latency);
            cap = u64::try_from(u128::from(self.rcv_cap) * NS / rtt).unwrap_or(UNLIMITED);
        }
        if b == 0 {
            cap = cap.min(self.p_eff());
        }
        if win >= self.rcv_cap {
            cap = cap.min(self.read_rate_now());
        }
        cap
    }

    /// A linear formula for `c` at `rate`, keeping the old anchor when nothing changed (so a
    /// counter is re-anchored only when its rate or value changes).
    fn lin(&self, c: Ctr, t: u64, rate: u64) -> Form {
        let v = self.vals[c as usize];
        match self.forms.get(c) {
            old @ Form::Lin { rate: r, .. } if r == rate && self.forms.value(c, t) == v => old,
            _ => Form::Lin {
                t0: t,
                c0: self.forms.anchor(c, t, v),
                rate,
            },
        }
    }

    /// Installs the formulas for the next segment given the wire `share`, extends the delay
    /// line, emits edge notifications and fires what is due; then computes `next_at`.
    pub(crate) fn apply(
        &mut self,
        t: u64,
        share: u64,
        latency: u64,
        down: bool,
        out: &mut Vec<Notification>,
    ) {
        if self.dead {
            self.next_at = None;
            return;
        }
        let (q, b, win, u) = self.levels();
        let p = self.p_eff();
        let ra = self.forms.rate(Ctr::R);
        let dr = self.read_rate_now();
        let mut next = Forms::zero(t);
        let sigma = if b == 0 && share >= p {
            next.set(Ctr::S, Form::Tie { to: Ctr::A, off: 0 });
            p
        } else if win >= self.rcv_cap && share >= dr {
            next.set(
                Ctr::S,
                Form::Tie {
                    to: Ctr::D,
                    off: self.rcv_cap,
                },
            );
            dr
        } else {
            next.set(Ctr::S, self.lin(Ctr::S, t, share));
            share
        };
        let blocking = self.producing().is_some_and(|p| p.blocking);
        let throttled = q == 0 && b >= self.snd_cap && sigma < p;
        if q > 0 || throttled {
            next.set(
                Ctr::A,
                Form::Tie {
                    to: Ctr::S,
                    off: self.snd_cap,
                },
            );
            let w = if throttled && blocking {
                Form::Tie { to: Ctr::A, off: 0 }
            } else {
                self.lin(Ctr::W, t, p)
            };
            next.set(Ctr::W, w);
        } else {
            next.set(Ctr::A, Form::Tie { to: Ctr::W, off: 0 });
            next.set(Ctr::W, self.lin(Ctr::W, t, p));
        }
        next.set(Ctr::R, self.lin(Ctr::R, t, ra));
        let d = match self.read {
            ReadMode::Stopped => self.lin(Ctr::D, t, 0),
            ReadMode::Unlimited => Form::Tie { to: Ctr::R, off: 0 },
            ReadMode::Rate(rate) if u == 0 && rate.bytes_per_sec() >= ra => {
                Form::Tie { to: Ctr::R, off: 0 }
            }
            ReadMode::Rate(rate) => self.lin(Ctr::D, t, rate.bytes_per_sec()),
        };
        next.set(Ctr::D, d);
        self.forms = next;
        self.extend_delay_line(t, latency);
        self.edges(q > 0 || throttled, out);
        self.fire_and_schedule(t, down, out);
    }

    /// Pushes a breakpoint when the send rate changed (or the sent count fell below the line
    /// the delay line replays, after a rounding clamp).
    fn extend_delay_line(&mut self, t: u64, latency: u64) {
        let (s, sigma) = (self.sent_exact(t), self.forms.rate(Ctr::S));
        if sigma == self.sent_line.rate && s == self.sent_line.exact_at(t) {
            return;
        }
        self.push_bp(t.saturating_add(latency), s, sigma);
        self.sent_line = Bp {
            at: t,
            s,
            rate: sigma,
        };
    }

    /// The exact sent count at `t` (times 10⁹), consistent with the settled integer value.
    fn sent_exact(&self, t: u64) -> u128 {
        self.forms.anchor(Ctr::S, t, self.vals[S])
    }

    fn push_bp(&mut self, at: u64, s: u128, rate: u64) {
        let at = at.max(self.last_bp_at);
        self.last_bp_at = at;
        self.delay.push_back(Bp { at, s, rate });
    }

    fn edges(&mut self, blocked: bool, out: &mut Vec<Notification>) {
        let (conn, dir) = (self.conn, self.dir);
        if blocked != self.blocked {
            self.blocked = blocked;
            let owner = self.writer;
            out.push(if blocked {
                Notification::WriteBlocked { conn, dir, owner }
            } else {
                Notification::Writable { conn, dir, owner }
            });
        }
        if let Some(p) = self.producer.as_mut()
            && !p.done
            && p.limit.is_some_and(|l| self.vals[W] >= l)
        {
            p.done = true;
            let owner = self.writer;
            out.push(Notification::ProductionDone { conn, dir, owner });
        }
        if self.read == ReadMode::Stopped && self.vals[R] == self.vals[D] {
            self.readable_armed = true;
        }
    }

    /// Fires watches, readability and end-of-file due at `t`, then finds the next instant
    /// anything happens on this stream.
    fn fire_and_schedule(&mut self, t: u64, down: bool, out: &mut Vec<Notification>) {
        let (conn, dir) = (self.conn, self.dir);
        let mut next: Option<u64> = None;
        let mut keep = |at: Option<u64>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        let forms = self.forms;
        self.watches.retain(|w| match w.due(&forms, t) {
            Some(at) if at <= t => {
                out.push(Notification::Watch {
                    id: w.id,
                    conn,
                    dir,
                    owner: w.owner,
                    quantity: w.quantity,
                    threshold: w.threshold,
                });
                false
            }
            at => {
                keep(at);
                true
            }
        });
        if self.readable_armed && self.read == ReadMode::Stopped {
            match forms.crossing(t, Ctr::R, Some(Ctr::D), 1, true) {
                Some(at) if at <= t => {
                    self.readable_armed = false;
                    out.push(Notification::Readable {
                        conn,
                        dir,
                        owner: self.reader,
                    });
                }
                at => keep(at),
            }
        }
        if let Some(fin) = self.fin.filter(|_| !self.eof_done) {
            match forms
                .crossing(t, Ctr::D, None, fin.final_w, true)
                .map(|c| c.max(fin.at))
            {
                Some(at) if at <= t => {
                    self.eof_done = true;
                    out.push(Notification::Eof {
                        conn,
                        dir,
                        owner: self.reader,
                    });
                }
                at => keep(at),
            }
        }
        for at in self.constraint_times(t) {
            keep(at);
        }
        if !down {
            keep(self.delay.front().map(|bp| bp.at));
        }
        self.next_at = next;
    }

    /// When the next level reaches a bound at the current rates (a change of regime).
    fn constraint_times(&self, t: u64) -> [Option<u64>; 6] {
        let f = &self.forms;
        let (q, b, win, u) = self.levels();
        let limit = self.producing().and_then(|p| p.limit);
        [
            limit.and_then(|l| f.crossing(t, Ctr::W, None, l, true)),
            (q > 0)
                .then(|| f.crossing(t, Ctr::W, Some(Ctr::A), 0, false))
                .flatten(),
            (b < self.snd_cap)
                .then(|| f.crossing(t, Ctr::A, Some(Ctr::S), self.snd_cap, true))
                .flatten(),
            (b > 0)
                .then(|| f.crossing(t, Ctr::A, Some(Ctr::S), 0, false))
                .flatten(),
            (win < self.rcv_cap)
                .then(|| f.crossing(t, Ctr::S, Some(Ctr::D), self.rcv_cap, true))
                .flatten(),
            (u > 0 && matches!(f.get(Ctr::D), Form::Lin { .. }))
                .then(|| f.crossing(t, Ctr::R, Some(Ctr::D), 0, false))
                .flatten(),
        ]
    }

    // ---- edits, applied between `settle` and `apply` ----

    pub(crate) fn check_writable(&self) -> Result<(), NetError> {
        if self.dead {
            return Err(NetError::Reset(self.conn));
        }
        if self.fin.is_some() {
            return Err(NetError::Closed {
                conn: self.conn,
                dir: self.dir,
            });
        }
        Ok(())
    }

    pub(crate) fn write(&mut self, bytes: u64) {
        self.vals[W] = self.vals[W].saturating_add(bytes);
        self.vals[A] = self.vals[W].min(self.vals[S].saturating_add(self.snd_cap));
    }

    pub(crate) fn set_production(&mut self, production: Option<Production>) {
        let w = self.vals[W];
        // A new production (none before, or the last one finished) starts from a whole byte:
        // the fraction a finished one left behind belongs to it, not to what comes next.
        if self.producer.is_none_or(|p| p.done) && production.is_some() && !self.dead {
            self.forms.set(Ctr::W, Form::constant(0, w));
        }
        if let Some(carry) = production.and_then(|p| p.carry).filter(|_| !self.dead) {
            // A constant with the carried fraction: `apply` re-anchors it at the producer's
            // rate keeping that fraction.
            self.forms.set(
                Ctr::W,
                Form::Lin {
                    t0: 0,
                    c0: u128::from(w) * NS + u128::from(carry),
                    rate: 0,
                },
            );
        }
        self.producer = production.map(|p| Producer {
            rate: p.rate.bytes_per_sec(),
            blocking: p.mode == ProductionMode::Blocking,
            limit: p.total.map(|n| w.saturating_add(n)),
            done: false,
        });
    }

    pub(crate) fn set_read_mode(&mut self, mode: ReadMode) {
        self.read = mode;
        if mode == ReadMode::Unlimited {
            self.vals[D] = self.vals[R];
        }
        self.readable_armed = mode == ReadMode::Stopped && self.vals[R] == self.vals[D];
    }

    pub(crate) fn read(&mut self, max: u64) -> u64 {
        let n = max.min(self.vals[R].saturating_sub(self.vals[D]));
        self.vals[D] += n;
        n
    }

    pub(crate) fn close(&mut self, fin_at: u64) {
        self.fin = Some(Fin {
            final_w: self.vals[W],
            at: fin_at,
        });
        self.producer = None;
    }

    pub(crate) fn add_watch(&mut self, watch: Watch) {
        self.watches.push(watch);
    }

    /// Forgets the watch `id`; returns whether it was pending. The caller reschedules.
    pub(crate) fn remove_watch(&mut self, id: WatchId) -> bool {
        let before = self.watches.len();
        self.watches.retain(|w| w.id != id);
        self.watches.len() != before
    }

    /// Pending watches.
    pub(crate) fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Recomputes `next_at` after a watch was removed, at `t` (no later than the next event, so
    /// nothing is due before it and the crossings of the current segment are unchanged).
    pub(crate) fn reschedule(&mut self, t: u64, down: bool, out: &mut Vec<Notification>) {
        if self.dead {
            self.next_at = None;
            return;
        }
        self.fire_and_schedule(t, down, out);
    }

    /// Reset: everything stops where it is; unread data is lost.
    pub(crate) fn kill(&mut self, t: u64) {
        self.dead = true;
        for c in [Ctr::W, Ctr::A, Ctr::S, Ctr::R, Ctr::D] {
            self.forms.set(c, Form::constant(t, self.vals[c as usize]));
        }
        self.delay.clear();
        self.watches.clear();
        self.producer = None;
        self.next_at = None;
    }

    // ---- link faults, applied between `settle` and `apply` ----

    /// The link went down: nothing arrives until it is back.
    pub(crate) fn freeze(&mut self, t: u64) {
        self.frozen_rate = self.forms.rate(Ctr::R);
        let c0 = self.forms.anchor(Ctr::R, t, self.vals[R]);
        self.forms.set(Ctr::R, Form::Lin { t0: t, c0, rate: 0 });
    }

    /// The link is back after `outage` ns that began at `since`: what was in flight resumes
    /// where it stopped, shifted by the outage.
    pub(crate) fn thaw(&mut self, t: u64, since: u64, outage: u64) {
        for bp in &mut self.delay {
            bp.at = bp.at.saturating_add(outage);
        }
        if !self.delay.is_empty() {
            self.last_bp_at = self.last_bp_at.saturating_add(outage);
        }
        if let Some(fin) = self.fin.as_mut()
            && fin.at > since
        {
            fin.at = fin.at.saturating_add(outage);
        }
        let c0 = self.forms.anchor(Ctr::R, t, self.vals[R]);
        self.forms.set(
            Ctr::R,
            Form::Lin {
                t0: t,
                c0,
                rate: self.frozen_rate,
            },
        );
    }

    /// The latency changed: the current send segment arrives under the new latency from now on.
    pub(crate) fn relatency(&mut self, t: u64, old: u64, new: u64) {
        let (s, sigma) = (self.sent_exact(t), self.forms.rate(Ctr::S));
        if self.dead || sigma == 0 {
            return;
        }
        if new > old {
            self.push_bp(t.saturating_add(old), s, 0);
        }
        self.push_bp(t.saturating_add(new), s, sigma);
        self.sent_line = Bp {
            at: t,
            s,
            rate: sigma,
        };
    }

    // ---- queries ----

    pub(crate) fn state(&self) -> StreamState {
        match (self.dead, self.fin.is_some(), self.eof_done) {
            (true, _, _) => StreamState::Reset,
            (_, _, true) => StreamState::Closed,
            (_, true, _) => StreamState::Closing,
            _ => StreamState::Open,
        }
    }

    /// Counters at `t` (no event may lie between the last settle and `t`).
    pub(crate) fn snapshot(&self, t: u64) -> DirState {
        let v = |c| {
            if self.dead {
                self.vals[c as usize]
            } else {
                self.forms.value(c, t)
            }
        };
        let rate = |c| Rate::new(if self.dead { 0 } else { self.forms.rate(c) });
        let [w, a, s, r, d] = [v(Ctr::W), v(Ctr::A), v(Ctr::S), v(Ctr::R), v(Ctr::D)];
        DirState {
            written: w,
            accepted: a,
            sent: s,
            arrived: r,
            read: d,
            app_queue: w.saturating_sub(a),
            send_buffer: a.saturating_sub(s),
            in_flight: s.saturating_sub(r),
            recv_buffer: r.saturating_sub(d),
            send_buffer_cap: self.snd_cap,
            recv_buffer_cap: self.rcv_cap,
            wire_rate: rate(Ctr::S),
            arrival_rate: rate(Ctr::R),
            read_rate: rate(Ctr::D),
            write_rate: rate(Ctr::W),
            blocked: self.blocked,
            state: self.state(),
        }
    }

    /// Bytes sent at `t`, for link statistics.
    pub(crate) fn sent_at(&self, t: u64) -> u64 {
        if self.dead {
            self.vals[S]
        } else {
            self.forms.value(Ctr::S, t)
        }
    }

    /// The current wire rate.
    pub(crate) fn wire_rate(&self) -> u64 {
        if self.dead {
            0
        } else {
            self.forms.rate(Ctr::S)
        }
    }
}
