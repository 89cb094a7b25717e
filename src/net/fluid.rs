//! Piecewise-linear integer counters and the instants at which they cross a value.
//!
//! A counter in a constant-rate segment is `floor((c0 + rate·(t − t0)) / 10⁹)` from its anchor,
//! where `c0` is the exact value at the anchor times 10⁹ (re-anchoring keeps the fraction of a
//! byte, so nothing drifts and nothing is ever a sum of increments) — or it is tied to another counter plus a constant (the send buffer
//! is full: `accepted = sent + cap`). Ties make the levels that sit at a bound exactly constant.
//!
//! Crossing times are computed from the exact rational value `c0 + rate·(t − t0)/10⁹` (kept as
//! an integer numerator over 10⁹) and rounded up to the next nanosecond. Because a level is a
//! difference of floors, `floor(x) − floor(y)` is within one byte of `x − y` on either side; for
//! an integer bound `K` that means: while the exact level is below `K` the integer level is at
//! most `K`, and once it reaches `K` the integer level has too. So caps are never exceeded between
//! events and a crossing never "lags" behind its computed instant.

/// Nanoseconds per second, as the denominator of every exact value.
pub(crate) const NS: u128 = 1_000_000_000;

/// The five monotone counters of one direction, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctr {
    /// Handed over by the writing application.
    W = 0,
    /// Accepted into the sender's socket buffer.
    A = 1,
    /// Put on the wire.
    S = 2,
    /// Arrived in the receiver's socket buffer.
    R = 3,
    /// Read by the receiving application.
    D = 4,
}

/// How one counter evolves during the current segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `floor((c0 + rate·(t − t0)) / 10⁹)`: `c0` is the exact value at `t0` times 10⁹, so a
    /// re-anchoring keeps the fraction of a byte already moved and nothing drifts.
    Lin { t0: u64, c0: u128, rate: u64 },
    /// `value(to) + off`.
    Tie { to: Ctr, off: u64 },
}

impl Form {
    /// A constant.
    pub(crate) const fn constant(t0: u64, value: u64) -> Form {
        Form::Lin {
            t0,
            c0: value as u128 * NS,
            rate: 0,
        }
    }
}

/// The formulas of the five counters of one direction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forms(pub(crate) [Form; 5]);

/// Ties form chains at most this long (they are acyclic by construction); the guard only keeps a
/// bug from recursing forever.
const MAX_DEPTH: u32 = 6;

impl Forms {
    /// All counters at zero from `t0`.
    pub(crate) fn zero(t0: u64) -> Self {
        Forms([Form::constant(t0, 0); 5])
    }

    pub(crate) fn get(&self, c: Ctr) -> Form {
        self.0[c as usize]
    }

    pub(crate) fn set(&mut self, c: Ctr, f: Form) {
        self.0[c as usize] = f;
    }

    /// The integer value of `c` at `t`.
    pub(crate) fn value(&self, c: Ctr, t: u64) -> u64 {
        self.value_at_depth(c, t, 0)
    }

    fn value_at_depth(&self, c: Ctr, t: u64, depth: u32) -> u64 {
        match self.get(c) {
            Form::Lin { t0, c0, rate } => {
                let exact = c0.saturating_add(u128::from(rate) * u128::from(t.saturating_sub(t0)));
                u64::try_from(exact / NS).unwrap_or(u64::MAX)
            }
            Form::Tie { to, off } if depth < MAX_DEPTH => {
                self.value_at_depth(to, t, depth + 1).saturating_add(off)
            }
            Form::Tie { .. } => 0,
        }
    }

    /// The rate of `c` in bytes per second.
    pub(crate) fn rate(&self, c: Ctr) -> u64 {
        let mut c = c;
        for _ in 0..MAX_DEPTH {
            match self.get(c) {
                Form::Lin { rate, .. } => return rate,
                Form::Tie { to, .. } => c = to,
            }
        }
        0
    }

    /// The anchor for a new segment of `c` at `t` whose integer value is `value`: the exact
    /// value with its fraction of a byte kept, and the integer part set to `value` (which differs
    /// from the formula's after an edit such as a write, or a clamp).
    pub(crate) fn anchor(&self, c: Ctr, t: u64, value: u64) -> u128 {
        let exact = u128::try_from(self.exact(c, t)).unwrap_or(0);
        let fraction = exact % NS;
        u128::from(value) * NS + fraction
    }

    /// The exact value of `c` at `t`, times 10⁹.
    pub(crate) fn exact(&self, c: Ctr, t: u64) -> i128 {
        let mut c = c;
        let mut offset: i128 = 0;
        for _ in 0..MAX_DEPTH {
            match self.get(c) {
                Form::Lin { t0, c0, rate } => {
                    let base = i128::try_from(c0).unwrap_or(i128::MAX);
                    let gained = i128::from(rate).saturating_mul(i128::from(t.saturating_sub(t0)));
                    return base.saturating_add(gained).saturating_add(offset);
                }
                Form::Tie { to, off } => {
                    offset = offset.saturating_add(i128::from(off) * NS as i128);
                    c = to;
                }
            }
        }
        offset
    }

    /// The first instant `>= now` at which `x − y` (or `x` alone) reaches `target` going up
    /// (`up`) or down; `None` if it never does at the current rates.
    pub(crate) fn crossing(
        &self,
        now: u64,
        x: Ctr,
        y: Option<Ctr>,
        target: u64,
        up: bool,
    ) -> Option<u64> {
        let (mut level, mut slope) = (self.exact(x, now), i128::from(self.rate(x)));
        if let Some(y) = y {
            level = level.saturating_sub(self.exact(y, now));
            slope -= i128::from(self.rate(y));
        }
        crossing_time(now, level, slope, target, up)
    }
}

/// The first instant `>= now` at which a level that is `level/10⁹` at `now` and moves by
/// `slope` bytes per second reaches `target` (from below if `up`, from above otherwise).
pub(crate) fn crossing_time(
    now: u64,
    level: i128,
    slope: i128,
    target: u64,
    up: bool,
) -> Option<u64> {
    let goal = i128::from(target) * NS as i128;
    let (gap, speed) = if up {
        (goal - level, slope)
    } else {
        (level - goal, -slope)
    };
    if gap <= 0 {
        return Some(now);
    }
    if speed <= 0 {
        return None;
    }
    let delta = (gap + speed - 1) / speed;
    u64::try_from(delta).ok().and_then(|d| now.checked_add(d))
}

/// `ceil(bytes · 10⁹ / rate)` nanoseconds; `None` for a zero rate or an overflow.
pub(crate) fn transfer_ns(bytes: u64, rate: u64) -> Option<u64> {
    if rate == 0 {
        return None;
    }
    let ns = (u128::from(bytes) * NS).div_ceil(u128::from(rate));
    u64::try_from(ns).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_counter_is_floored_from_its_anchor() {
        let mut f = Forms::zero(0);
        f.set(
            Ctr::S,
            Form::Lin {
                t0: 10,
                c0: 5 * NS,
                rate: 3,
            },
        );
        assert_eq!(f.value(Ctr::S, 10), 5);
        assert_eq!(f.value(Ctr::S, 10 + 333_333_333), 5);
        assert_eq!(f.value(Ctr::S, 10 + 333_333_334), 6);
        f.set(
            Ctr::A,
            Form::Tie {
                to: Ctr::S,
                off: 100,
            },
        );
        assert_eq!(f.value(Ctr::A, 10 + 1_000_000_000), 108);
        assert_eq!(f.rate(Ctr::A), 3);
    }

    #[test]
    fn crossing_is_the_first_nanosecond_at_or_past_the_target() {
        let mut f = Forms::zero(0);
        f.set(
            Ctr::W,
            Form::Lin {
                t0: 0,
                c0: 0,
                rate: 3,
            },
        );
        // 3 B/s reaches 1 byte at 1/3 s: the first whole nanosecond is 333_333_334.
        assert_eq!(f.crossing(0, Ctr::W, None, 1, true), Some(333_333_334));
        assert_eq!(f.value(Ctr::W, 333_333_334), 1);
        assert_eq!(f.value(Ctr::W, 333_333_333), 0);
        assert_eq!(f.crossing(0, Ctr::W, None, 0, true), Some(0));
        assert_eq!(f.crossing(0, Ctr::W, None, 1, false), Some(0));
        f.set(
            Ctr::A,
            Form::Lin {
                t0: 0,
                c0: 10 * NS,
                rate: 1,
            },
        );
        assert_eq!(f.anchor(Ctr::W, 500_000_000, 7), 7 * NS + 500_000_000);
        // A − W = 10 − 2t: reaches 0 at t = 5 s.
        assert_eq!(
            f.crossing(0, Ctr::A, Some(Ctr::W), 0, false),
            Some(5_000_000_000)
        );
        assert_eq!(f.crossing(0, Ctr::A, Some(Ctr::W), 20, true), None);
    }

    #[test]
    fn transfer_time_rounds_up() {
        assert_eq!(transfer_ns(1, 3), Some(333_333_334));
        assert_eq!(transfer_ns(125, 125_000_000), Some(1_000));
        assert_eq!(transfer_ns(1, 0), None);
    }
}
