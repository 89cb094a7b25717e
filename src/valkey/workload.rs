//! Write-load clients (valkey-model.md §7.2's W): constant, Poisson, on/off bursts and ramps,
//! with value-size distributions, started and stopped at given times.
//!
//! A load is a **fluid**: what reaches the primary is a piecewise-constant rate of replication
//! stream bytes, changed only when the load's phase changes (DESIGN speed rule). Random parts are
//! drawn from the client's own stream: a Poisson load draws the number of commands in each
//! `interval` (so the rate changes once per interval); the value size of those commands is
//! represented by its mean (the stream only needs byte counts, and over an interval of thousands
//! of commands the mean is what the bytes add up to).

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::trace::{Interpolation, TraceCursor, TracePlay, TraceQuantity, TraceSeries};
use crate::engine::{ActorRng, SimDuration};
use crate::units::ByteSize;

/// The kind of rate pattern, as written in a model file (`pattern = "poisson"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternKind {
    /// A fixed rate (`ops-per-sec`).
    Constant,
    /// Poisson arrivals (`ops-per-sec`, optional `interval`).
    Poisson,
    /// On/off bursts (`ops-per-sec`, `on`, `off`).
    Bursts,
    /// A linear ramp (`from-ops-per-sec`, `to-ops-per-sec`, `over`, optional `steps`).
    Ramp,
    /// A rate recorded in production (`file`, `quantity`, optional `column`, `interpolation`,
    /// `loop`, `scale`, `trace-start`, `max-gap`, `resolution`).
    Trace,
}

/// How the command rate evolves.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadPattern {
    /// A fixed rate.
    Constant {
        /// Commands per second.
        ops_per_sec: f64,
    },
    /// Poisson arrivals: the count in each interval is drawn, the rate is constant inside it.
    Poisson {
        /// Mean commands per second.
        ops_per_sec: f64,
        /// How often the drawn rate changes (default 100ms).
        interval: SimDuration,
    },
    /// Alternating bursts and silences.
    Bursts {
        /// Commands per second while on.
        ops_per_sec: f64,
        /// Length of a burst.
        on: SimDuration,
        /// Length of a silence.
        off: SimDuration,
    },
    /// A linear ramp from one rate to another, in steps.
    Ramp {
        /// Commands per second at the start.
        from_ops_per_sec: f64,
        /// Commands per second at the end (held afterwards).
        to_ops_per_sec: f64,
        /// How long the ramp lasts.
        over: SimDuration,
        /// Number of steps (default 20).
        steps: u32,
    },
    /// A recorded rate, played from `start_ns` (see [`TracePlay`]).
    Trace(TracePlay),
}

/// The size of the values written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SizeDist {
    /// Every value has this size.
    Fixed {
        /// The size.
        size: ByteSize,
    },
    /// Uniform between two sizes.
    Uniform {
        /// Smallest.
        min: ByteSize,
        /// Largest.
        max: ByteSize,
    },
    /// Exponentially distributed with this mean.
    Exponential {
        /// The mean.
        mean: ByteSize,
    },
}

impl SizeDist {
    /// The mean size in bytes.
    pub fn mean_bytes(&self) -> f64 {
        match self {
            SizeDist::Fixed { size } => size.bytes() as f64,
            SizeDist::Uniform { min, max } => (min.bytes() + max.bytes()) as f64 / 2.0,
            SizeDist::Exponential { mean } => mean.bytes() as f64,
        }
    }

    /// A typical single value, for the block size a command of this load creates.
    pub fn typical_bytes(&self) -> u64 {
        self.mean_bytes().round() as u64
    }
}

/// When a load starts: at a time, or only when a `start-load` action starts it
/// (`start = "on-action"`).
///
/// ```
/// use replsim::valkey::LoadStart;
/// let at: LoadStart = toml::Value::String("10s".into()).try_into().unwrap();
/// assert_eq!(at.at().unwrap().as_nanos(), 10_000_000_000);
/// let on: LoadStart = toml::Value::String("on-action".into()).try_into().unwrap();
/// assert_eq!(on, LoadStart::OnAction);
/// assert!(toml::Value::String("soon".into()).try_into::<LoadStart>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStart {
    /// At this time after the start of the run.
    At(SimDuration),
    /// When a `start-load` action names the load (never, without one).
    OnAction,
}

impl Default for LoadStart {
    fn default() -> Self {
        LoadStart::At(SimDuration::ZERO)
    }
}

impl LoadStart {
    /// The start time, if the load starts at one.
    pub fn at(self) -> Option<SimDuration> {
        match self {
            LoadStart::At(t) => Some(t),
            LoadStart::OnAction => None,
        }
    }
}

impl Serialize for LoadStart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LoadStart::At(t) => t.serialize(s),
            LoadStart::OnAction => s.serialize_str("on-action"),
        }
    }
}

impl<'de> Deserialize<'de> for LoadStart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() == "on-action" {
            return Ok(LoadStart::OnAction);
        }
        text.parse().map(LoadStart::At).map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}; a load starts at a time (\"10s\") or \"on-action\" (when a start-load action runs)"
            ))
        })
    }
}

/// One write-load client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WorkloadSpec {
    /// A unique name (keys the client's random stream).
    pub name: String,
    /// The node it writes to (default: the first primary).
    #[serde(default)]
    pub target: Option<String>,
    /// When it starts: a time (default 0, at once) or `"on-action"` (when a `start-load`
    /// action runs).
    #[serde(default)]
    pub start: LoadStart,
    /// When it stops (default: never).
    #[serde(default)]
    pub stop: Option<SimDuration>,
    /// A byte budget: the load stops for good once its commands have made this many bytes of
    /// replication stream (the RESP bytes of its `SET`s, what [`WorkloadSpec::bytes_per_op`]
    /// counts and the primary's offset grows by; keys and values alone are fewer). A later
    /// `start-load` does not restart it. Default: no budget.
    #[serde(default)]
    pub max_bytes: Option<ByteSize>,
    /// The rate pattern's kind.
    pub pattern: PatternKind,
    /// Commands per second (constant, poisson, bursts).
    #[serde(default)]
    pub ops_per_sec: Option<f64>,
    /// Poisson: how often the drawn rate changes (default 100ms).
    #[serde(default)]
    pub interval: Option<SimDuration>,
    /// Bursts: length of a burst.
    #[serde(default)]
    pub on: Option<SimDuration>,
    /// Bursts: length of a silence.
    #[serde(default)]
    pub off: Option<SimDuration>,
    /// Ramp: commands per second at the start.
    #[serde(default)]
    pub from_ops_per_sec: Option<f64>,
    /// Ramp: commands per second at the end.
    #[serde(default)]
    pub to_ops_per_sec: Option<f64>,
    /// Ramp: how long it lasts.
    #[serde(default)]
    pub over: Option<SimDuration>,
    /// Ramp: number of steps (default 20).
    #[serde(default)]
    pub steps: Option<u32>,
    /// Trace: the CSV file of the recorded rate, relative to the model file (read by the
    /// scenario layer into `series`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Trace: the column with the values, by header name or 1-based number (default: the last
    /// column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Trace: what the values count (`bytes-per-sec`, `ops-per-sec` or `offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<TraceQuantity>,
    /// Trace: `step` (default) or `linear` between rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<Interpolation>,
    /// Trace: start again from the first row after the last (default false: hold the last
    /// rate).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub looping: Option<bool>,
    /// Trace: multiply every rate (default 1; `1.5` for 50 % growth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Trace: where in the trace the load starts, from its first row (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_start: Option<SimDuration>,
    /// Trace: the longest gap allowed between two rows (default: 5 × the median spacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gap: Option<SimDuration>,
    /// Trace, linear: the longest constant-rate sub-step (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<SimDuration>,
    /// Trace: the recorded rate itself, as read from `file` (the resolved model and repro
    /// bundles carry it, so they replay without the CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<TraceSeries>,
    /// Value sizes.
    #[serde(default = "default_value_size")]
    pub value_size: SizeDist,
    /// Key length in bytes (default 16).
    #[serde(default = "default_key_bytes")]
    pub key_bytes: u64,
    /// Fraction of commands that create a new key (the rest overwrite), which grows the RDB of
    /// the next full sync. Default 0.
    #[serde(default)]
    pub new_key_fraction: f64,
}

fn default_value_size() -> SizeDist {
    SizeDist::Fixed {
        size: ByteSize::new(100),
    }
}
fn default_key_bytes() -> u64 {
    16
}

/// Decimal digits of `n` (for RESP length prefixes).
fn digits(n: u64) -> u64 {
    n.checked_ilog10().map_or(1, |d| u64::from(d) + 1)
}

impl WorkloadSpec {
    /// A load at a fixed rate of fixed-size values, from time 0, never stopping, targeting the
    /// first primary.
    pub fn constant(name: &str, ops_per_sec: f64, value_size: ByteSize, key_bytes: u64) -> Self {
        WorkloadSpec {
            name: name.to_string(),
            target: None,
            start: LoadStart::default(),
            stop: None,
            max_bytes: None,
            pattern: PatternKind::Constant,
            ops_per_sec: Some(ops_per_sec),
            interval: None,
            on: None,
            off: None,
            from_ops_per_sec: None,
            to_ops_per_sec: None,
            over: None,
            steps: None,
            file: None,
            column: None,
            quantity: None,
            interpolation: None,
            looping: None,
            scale: None,
            trace_start: None,
            max_gap: None,
            resolution: None,
            series: None,
            value_size: SizeDist::Fixed { size: value_size },
            key_bytes,
            new_key_fraction: 0.0,
        }
    }

    /// Replication-stream bytes of one `SET key value` as RESP
    /// (`*3\r\n$3\r\nSET\r\n$<k>\r\n<key>\r\n$<v>\r\n<value>\r\n`), at the mean value size.
    pub fn bytes_per_op(&self) -> f64 {
        let v = self.value_size.mean_bytes();
        let k = self.key_bytes;
        23.0 + (digits(k) + k) as f64 + digits(v.round() as u64) as f64 + v
    }

    /// The size of one command, for block sizing (`feedReplicationBuffer` requests at least the
    /// command's length).
    pub fn typical_command_bytes(&self) -> u64 {
        self.bytes_per_op().round() as u64
    }

    /// The rate pattern, checked for the fields its kind needs.
    pub fn load_pattern(&self) -> Result<LoadPattern, String> {
        let need = |v: Option<f64>, key: &str| {
            v.ok_or_else(|| {
                format!(
                    "workload {}: pattern {:?} needs {key}",
                    self.name, self.pattern
                )
            })
        };
        let need_d = |v: Option<SimDuration>, key: &str| {
            v.ok_or_else(|| {
                format!(
                    "workload {}: pattern {:?} needs {key}",
                    self.name, self.pattern
                )
            })
        };
        Ok(match self.pattern {
            PatternKind::Constant => LoadPattern::Constant {
                ops_per_sec: need(self.ops_per_sec, "ops-per-sec")?,
            },
            PatternKind::Poisson => LoadPattern::Poisson {
                ops_per_sec: need(self.ops_per_sec, "ops-per-sec")?,
                interval: self.interval.unwrap_or(SimDuration::from_millis(100)),
            },
            PatternKind::Bursts => LoadPattern::Bursts {
                ops_per_sec: need(self.ops_per_sec, "ops-per-sec")?,
                on: need_d(self.on, "on")?,
                off: need_d(self.off, "off")?,
            },
            PatternKind::Ramp => LoadPattern::Ramp {
                from_ops_per_sec: need(self.from_ops_per_sec, "from-ops-per-sec")?,
                to_ops_per_sec: need(self.to_ops_per_sec, "to-ops-per-sec")?,
                over: need_d(self.over, "over")?,
                steps: self.steps.unwrap_or(20),
            },
            PatternKind::Trace => LoadPattern::Trace(self.trace_play()?),
        })
    }

    /// The trace ready to play: its rows in commands/s, scaled.
    fn trace_play(&self) -> Result<TracePlay, String> {
        let name = &self.name;
        let Some(series) = self.series.as_ref() else {
            return Err(format!(
                "workload {name}: pattern \"trace\" needs file (a CSV of the recorded rate, \
                 relative to the model file) and quantity (bytes-per-sec, ops-per-sec or offset)"
            ));
        };
        series
            .check()
            .map_err(|e| format!("workload {name}: {e}"))?;
        let scale = self.scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(format!(
                "workload {name}: scale {scale} is not a factor >= 0 (1 = as recorded, 1.5 = 50 % more)"
            ));
        }
        let resolution = self.resolution.unwrap_or(SimDuration::from_secs(1));
        if resolution == SimDuration::ZERO {
            return Err(format!(
                "workload {name}: resolution must be greater than zero (e.g. \"1s\")"
            ));
        }
        let start_ns = self.trace_start.map_or(0, SimDuration::as_nanos);
        let looping = self.looping.unwrap_or(false);
        if start_ns >= series.length_ns && !looping {
            return Err(format!(
                "workload {name}: trace-start {} is past the end of the trace ({}); with loop = \
                 true it wraps around",
                SimDuration::from_nanos(start_ns),
                SimDuration::from_nanos(series.length_ns)
            ));
        }
        let per_op = match series.quantity {
            TraceQuantity::OpsPerSec => 1.0,
            _ => self.bytes_per_op(),
        };
        Ok(TracePlay {
            points: series
                .points
                .iter()
                .map(|&(t, v)| (t, v * scale / per_op))
                .collect(),
            length_ns: series.length_ns,
            interpolation: self.interpolation.unwrap_or_default(),
            looping,
            start_ns,
            resolution_ns: resolution.as_nanos(),
        })
    }

    /// Checks the numbers make sense.
    pub fn validate(&self) -> Result<(), String> {
        let rate_ok = |r: f64| r.is_finite() && r >= 0.0;
        let pattern = self.load_pattern()?;
        let ok = match &pattern {
            LoadPattern::Constant { ops_per_sec } => rate_ok(*ops_per_sec),
            LoadPattern::Poisson {
                ops_per_sec,
                interval,
            } => rate_ok(*ops_per_sec) && *interval > SimDuration::ZERO,
            LoadPattern::Bursts {
                ops_per_sec, on, ..
            } => rate_ok(*ops_per_sec) && *on > SimDuration::ZERO,
            LoadPattern::Ramp {
                from_ops_per_sec,
                to_ops_per_sec,
                steps,
                ..
            } => rate_ok(*from_ops_per_sec) && rate_ok(*to_ops_per_sec) && *steps > 0,
            LoadPattern::Trace(play) => play.points.iter().all(|p| rate_ok(p.1)),
        };
        if !ok {
            return Err(format!(
                "workload {}: rates must be finite and >= 0, intervals and bursts > 0, ramp steps > 0",
                self.name
            ));
        }
        if !(0.0..=1.0).contains(&self.new_key_fraction) {
            return Err(format!(
                "workload {}: new-key-fraction {} is outside [0, 1]",
                self.name, self.new_key_fraction
            ));
        }
        if let SizeDist::Uniform { min, max } = self.value_size
            && min > max
        {
            return Err(format!(
                "workload {}: value-size min {min} is above max {max}",
                self.name
            ));
        }
        if let (Some(stop), Some(start)) = (self.stop, self.start.at())
            && stop < start
        {
            return Err(format!(
                "workload {}: stop {stop} is before start {start}",
                self.name
            ));
        }
        if self.max_bytes.is_some_and(|b| b.bytes() == 0) {
            return Err(format!(
                "workload {}: max-bytes 0 would never write; give a budget (e.g. \"100mb\") or leave it out",
                self.name
            ));
        }
        Ok(())
    }
}

/// The phase a load is in: a rate (commands/s) held until the next change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// Commands per second in this phase.
    pub ops_per_sec: f64,
    /// How long until the next change (`None`: held forever).
    pub hold: Option<SimDuration>,
}

/// Steps a load pattern through its phases.
#[derive(Clone, Debug)]
pub struct LoadSchedule {
    pattern: LoadPattern,
    step: u64,
    /// Where a trace is.
    cursor: Option<TraceCursor>,
}

impl LoadSchedule {
    /// A schedule at its first phase.
    pub fn new(pattern: LoadPattern) -> Self {
        let cursor = match &pattern {
            LoadPattern::Trace(play) => Some(TraceCursor::new(play)),
            _ => None,
        };
        LoadSchedule {
            pattern,
            step: 0,
            cursor,
        }
    }

    /// The next phase, drawing from `rng` where the pattern is random.
    pub fn next_phase(&mut self, rng: &mut ActorRng) -> Phase {
        let step = self.step;
        self.step += 1;
        match &self.pattern {
            LoadPattern::Constant { ops_per_sec } => Phase {
                ops_per_sec: *ops_per_sec,
                hold: None,
            },
            LoadPattern::Poisson {
                ops_per_sec,
                interval,
            } => {
                let mean = ops_per_sec * interval.as_secs_f64();
                let count = poisson(rng, mean);
                Phase {
                    ops_per_sec: count as f64 / interval.as_secs_f64(),
                    hold: Some(*interval),
                }
            }
            LoadPattern::Bursts {
                ops_per_sec,
                on,
                off,
            } => {
                if step.is_multiple_of(2) {
                    Phase {
                        ops_per_sec: *ops_per_sec,
                        hold: Some(*on),
                    }
                } else {
                    Phase {
                        ops_per_sec: 0.0,
                        hold: Some(*off).filter(|d| *d > SimDuration::ZERO),
                    }
                }
            }
            LoadPattern::Ramp {
                from_ops_per_sec,
                to_ops_per_sec,
                over,
                steps,
            } => {
                let steps = u64::from(*steps);
                if step >= steps {
                    return Phase {
                        ops_per_sec: *to_ops_per_sec,
                        hold: None,
                    };
                }
                let frac = step as f64 / steps as f64;
                let len = SimDuration::from_nanos(over.as_nanos() / steps);
                Phase {
                    ops_per_sec: from_ops_per_sec + (to_ops_per_sec - from_ops_per_sec) * frac,
                    hold: Some(len.max(SimDuration::from_nanos(1))),
                }
            }
            LoadPattern::Trace(play) => {
                let cursor = self.cursor.get_or_insert_with(|| TraceCursor::new(play));
                let (ops_per_sec, hold) = cursor.next(play);
                Phase { ops_per_sec, hold }
            }
        }
    }
}

/// A Poisson draw: Knuth's product method for small means, a rounded normal for large ones
/// (the load only needs the count's first two moments right). Transcendental functions come
/// from `libm` (a pure-Rust port of musl's), not the platform's, so draws are bit-identical on
/// every machine.
fn poisson(rng: &mut ActorRng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = libm::exp(-mean);
        let mut product: f64 = rng.random();
        let mut count = 0;
        while product > limit {
            product *= rng.random::<f64>();
            count += 1;
        }
        return count;
    }
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    let z = (-2.0 * libm::log(u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2);
    (mean + z * mean.sqrt()).round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::actor_rng;

    #[test]
    fn resp_size_of_a_set() {
        let w = WorkloadSpec::constant("w", 1.0, ByteSize::new(100), 16);
        // *3\r\n $3\r\nSET\r\n $16\r\n <16>\r\n $100\r\n <100>\r\n
        assert_eq!(w.bytes_per_op(), (4 + 9 + 5 + 18 + 6 + 102) as f64);
    }

    #[test]
    fn poisson_mean_is_right() {
        let mut rng = actor_rng(1, "p");
        for mean in [3.0, 500.0] {
            let n = 4000;
            let total: u64 = (0..n).map(|_| poisson(&mut rng, mean)).sum();
            let avg = total as f64 / n as f64;
            assert!((avg - mean).abs() < mean * 0.05 + 0.2, "mean {mean}: {avg}");
        }
    }

    #[test]
    fn bursts_alternate_and_ramps_end_at_target() {
        let mut rng = actor_rng(1, "b");
        let mut s = LoadSchedule::new(LoadPattern::Bursts {
            ops_per_sec: 10.0,
            on: SimDuration::from_secs(1),
            off: SimDuration::from_secs(2),
        });
        let rates: Vec<f64> = (0..4).map(|_| s.next_phase(&mut rng).ops_per_sec).collect();
        assert_eq!(rates, [10.0, 0.0, 10.0, 0.0]);
        let mut r = LoadSchedule::new(LoadPattern::Ramp {
            from_ops_per_sec: 0.0,
            to_ops_per_sec: 100.0,
            over: SimDuration::from_secs(10),
            steps: 4,
        });
        let phases: Vec<Phase> = (0..5).map(|_| r.next_phase(&mut rng)).collect();
        assert_eq!(phases[1].ops_per_sec, 25.0);
        assert_eq!(
            phases[4],
            Phase {
                ops_per_sec: 100.0,
                hold: None
            }
        );
    }
}
