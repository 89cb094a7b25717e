//! A write rate recorded in production, replayed as a load (`pattern = "trace"`).
//!
//! The scenario layer reads the CSV (Prometheus/Grafana exports, INFO-sampling scripts) and hands
//! this module a [`TraceSeries`]: rates at instants relative to the first row, in integer
//! nanoseconds. Here the series becomes load phases. A load is a fluid with piecewise-constant
//! rates (DESIGN speed rule), so:
//! - `step`: the rate of a row holds until the next row (one phase per row);
//! - `linear`: the rate moves linearly between rows; it is cut into sub-steps of at most
//!   `resolution`, each at the mean of the line over the sub-step (its midpoint value), so the
//!   bytes written over every sub-step are the line's exactly.
//!
//! The series lasts `length_ns` (the last row holds for one row spacing; an offset column ends
//! at its last sample). After that a looping load starts again from the first row (a `linear`
//! load interpolates from the last row back to the first), and a non-looping one holds the last
//! rate.

use serde::{Deserialize, Serialize};

use crate::engine::SimDuration;

/// What the trace's values count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceQuantity {
    /// Replication-stream bytes per second (e.g. `rate(master_repl_offset[1m])`).
    BytesPerSec,
    /// Write commands per second.
    OpsPerSec,
    /// A cumulative replication offset (`master_repl_offset` as sampled): the rate between two
    /// samples is their slope. Only in model files: the series stores bytes/s.
    Offset,
}

/// How the rate moves between two rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolation {
    /// Each row's rate holds until the next row.
    #[default]
    Step,
    /// The rate moves linearly from one row to the next.
    Linear,
}

/// A recorded rate: `(t, value)` rows with `t` in nanoseconds from the first row (strictly
/// increasing, the first 0), values ≥ 0 in `quantity` (bytes/s or ops/s), and the series'
/// length (where a loop starts again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TraceSeries {
    /// `bytes-per-sec` or `ops-per-sec`.
    pub quantity: TraceQuantity,
    /// Nanoseconds from the first row to where the series ends (> the last row's time).
    pub length_ns: u64,
    /// The rows.
    pub points: Vec<(u64, f64)>,
}

impl TraceSeries {
    /// Checks the invariants the scenario layer establishes (a bundle or an inline series may
    /// have been edited by hand).
    pub fn check(&self) -> Result<(), String> {
        if self.quantity == TraceQuantity::Offset {
            return Err("series.quantity must be bytes-per-sec or ops-per-sec".into());
        }
        let Some(&(t0, _)) = self.points.first() else {
            return Err("series.points is empty".into());
        };
        if t0 != 0 {
            return Err(format!("series.points starts at {t0} ns, not 0"));
        }
        for (i, w) in self.points.windows(2).enumerate() {
            if w[1].0 <= w[0].0 {
                return Err(format!(
                    "series.points[{}] at {} ns is not after the row before ({} ns)",
                    i + 1,
                    w[1].0,
                    w[0].0
                ));
            }
        }
        if let Some((i, v)) = self
            .points
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.1.is_finite() && p.1 >= 0.0))
        {
            return Err(format!(
                "series.points[{i}] has rate {}, not a finite rate >= 0",
                v.1
            ));
        }
        let last = self.points.last().map_or(0, |p| p.0);
        if self.length_ns <= last {
            return Err(format!(
                "series.length-ns {} is not after the last row ({last} ns)",
                self.length_ns
            ));
        }
        Ok(())
    }

    /// The mean rate over one length of the series (step: rows weighted by how long they hold;
    /// linear: trapezoids, the last row back to the first when looping).
    pub fn mean(&self, interpolation: Interpolation, looping: bool) -> f64 {
        let n = self.points.len();
        if n == 0 || self.length_ns == 0 {
            return 0.0;
        }
        let mut area = 0.0;
        for i in 0..n {
            let (t, v) = self.points[i];
            let (end, next) = match self.points.get(i + 1) {
                Some(&p) => p,
                None if looping => (self.length_ns, self.points[0].1),
                None => (self.length_ns, v),
            };
            let dt = (end - t) as f64;
            area += match interpolation {
                Interpolation::Step => v * dt,
                Interpolation::Linear => (v + next) / 2.0 * dt,
            };
        }
        area / self.length_ns as f64
    }

    /// The largest rate of any row.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }
}

/// A trace ready to play: rates in commands/s (bytes/s divided by the load's bytes per command,
/// the scale applied) and where to start.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePlay {
    /// `(t ns, ops/s)` rows.
    pub points: Vec<(u64, f64)>,
    /// The series' length in ns.
    pub length_ns: u64,
    /// Step or linear.
    pub interpolation: Interpolation,
    /// Start again from the first row after the end.
    pub looping: bool,
    /// Where in the trace the load starts (ns from the first row).
    pub start_ns: u64,
    /// The longest sub-step of a linear trace (ns, > 0).
    pub resolution_ns: u64,
}

impl TracePlay {
    /// The phase at position `pos` (ns from the first row, already past any loop): its rate
    /// and how long it holds (`None`: for ever), as `(ops/s, hold ns)`.
    pub fn phase_at(&self, pos: u64) -> (f64, Option<u64>) {
        let pos = if self.looping {
            pos % self.length_ns.max(1)
        } else {
            pos
        };
        let n = self.points.len();
        if n == 0 {
            return (0.0, None);
        }
        if pos >= self.length_ns {
            return (self.points[n - 1].1, None); // past the end, not looping: the last rate
        }
        // The row whose span holds `pos`.
        let i = match self.points.binary_search_by_key(&pos, |p| p.0) {
            Ok(i) => i,
            Err(i) => i - 1, // points[0].0 == 0 <= pos
        };
        let (t, v) = self.points[i];
        let (end, next) = match self.points.get(i + 1) {
            Some(&p) => p,
            None if self.looping => (self.length_ns, self.points[0].1),
            None => (self.length_ns, v),
        };
        match self.interpolation {
            Interpolation::Step => (v, Some(end - pos)),
            Interpolation::Linear => {
                let hold = (end - pos).min(self.resolution_ns.max(1));
                // The line's value at the sub-step's midpoint is its mean over the sub-step.
                let mid = (pos - t) as f64 + hold as f64 / 2.0;
                let frac = mid / (end - t) as f64;
                (v + (next - v) * frac, Some(hold))
            }
        }
    }
}

/// Steps through a [`TracePlay`]: the position advances by each phase's hold.
#[derive(Clone, Debug)]
pub(crate) struct TraceCursor {
    pos: u64,
}

impl TraceCursor {
    pub(crate) fn new(play: &TracePlay) -> Self {
        TraceCursor { pos: play.start_ns }
    }

    /// The next phase: `(ops/s, hold)`.
    pub(crate) fn next(&mut self, play: &TracePlay) -> (f64, Option<SimDuration>) {
        let (rate, hold) = play.phase_at(self.pos);
        if let Some(h) = hold {
            self.pos = self.pos.saturating_add(h);
        }
        (rate, hold.map(SimDuration::from_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(interpolation: Interpolation, looping: bool) -> TracePlay {
        TracePlay {
            points: vec![(0, 100.0), (10, 200.0), (30, 0.0)],
            length_ns: 40,
            interpolation,
            looping,
            start_ns: 0,
            resolution_ns: 5,
        }
    }

    #[test]
    fn step_holds_each_row_until_the_next_and_loops() {
        let p = play(Interpolation::Step, true);
        let mut c = TraceCursor::new(&p);
        let phases: Vec<_> = (0..5).map(|_| c.next(&p)).collect();
        let ns = |n| Some(SimDuration::from_nanos(n));
        assert_eq!(
            phases,
            vec![
                (100.0, ns(10)),
                (200.0, ns(20)),
                (0.0, ns(10)),
                (100.0, ns(10)),
                (200.0, ns(20))
            ]
        );
    }

    #[test]
    fn without_loop_the_last_rate_holds_for_ever() {
        let p = play(Interpolation::Step, false);
        let mut c = TraceCursor { pos: 35 };
        assert_eq!(c.next(&p), (0.0, Some(SimDuration::from_nanos(5))));
        assert_eq!(c.next(&p), (0.0, None));
    }

    #[test]
    fn linear_sub_steps_carry_the_lines_bytes() {
        let p = play(Interpolation::Linear, true);
        let mut c = TraceCursor::new(&p);
        // Over one length, the bytes (rate × hold) equal the trapezoids' area.
        let mut area = 0.0;
        let mut t = 0;
        while t < 40 {
            let (rate, hold) = c.next(&p);
            let h = hold.unwrap().as_nanos();
            assert!(h <= 5);
            area += rate * h as f64;
            t += h;
        }
        assert_eq!(t, 40);
        let want = (100.0 + 200.0) / 2.0 * 10.0 + (200.0 + 0.0) / 2.0 * 20.0 + 50.0 * 10.0;
        assert!((area - want).abs() < 1e-9, "{area} vs {want}");
        let s = TraceSeries {
            quantity: TraceQuantity::BytesPerSec,
            length_ns: 40,
            points: p.points.clone(),
        };
        assert!((s.mean(Interpolation::Linear, true) * 40.0 - want).abs() < 1e-9);
    }

    #[test]
    fn a_start_offset_begins_mid_row() {
        let mut p = play(Interpolation::Step, true);
        p.start_ns = 15;
        let mut c = TraceCursor::new(&p);
        assert_eq!(c.next(&p), (200.0, Some(SimDuration::from_nanos(15))));
    }

    #[test]
    fn check_rejects_edited_series() {
        let mut s = TraceSeries {
            quantity: TraceQuantity::BytesPerSec,
            length_ns: 40,
            points: vec![(0, 1.0), (10, 2.0)],
        };
        assert!(s.check().is_ok());
        s.points[1].0 = 0;
        assert!(s.check().unwrap_err().contains("not after"));
        s.points[1] = (10, -1.0);
        assert!(s.check().unwrap_err().contains("rate -1"));
        s.points[1] = (10, 1.0);
        s.length_ns = 10;
        assert!(s.check().unwrap_err().contains("length-ns"));
    }
}
