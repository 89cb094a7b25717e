//! `replsim advise`: the boundary of one knob for a goal, found by search, not by a grid.
//!
//! A **knob** is any numeric field a sweep axis or `--set` can take: a plain number
//! (`workloads.app.ops-per-sec`, `nodes.primary.config.repl-timeout`), a size
//! (`nodes.primary.config.repl-backlog-size`), a rate (`links.0.bandwidth`) or a duration. For
//! `...config.client-output-buffer-limit` the knob is the **hard** limit; the soft limit and its
//! seconds keep the model's values.
//!
//! The search assumes the chance that the goal holds is monotone in the knob. It probes the
//! model's current value, then steps ×4 toward the other side (the side a built-in prior says —
//! more COB, backlog, bandwidth or timeout helps, more writes hurt — or both ends when the knob
//! has no prior) until the answer flips, within `--min`/`--max` (default ×1/64 … ×64 of the
//! current value). If nothing flips it probes the far end of the other side too, so the
//! direction always comes from probes, and says "reached nowhere" or "everywhere" when it is.
//! Then it bisects the bracket (geometrically for positive ranges) until the knob is known to
//! 1 % or one unit.
//!
//! **Which side a probe is on.** Seeds are run in batches of [`BATCH`] (in parallel; the answer
//! does not depend on the thread count, since every batch is complete before it is judged).
//! With the default goal "always" (every seed must reach the goal), one failing seed makes the
//! probe a fail; a probe passes when all of `n = min(--seeds, ⌈ln(1−P)/ln(1−0.2)⌉)` seeds pass
//! — enough that a goal failing on 20 % of seeds or more would, with confidence P, have shown
//! (22 seeds at P = 0.99, so 20 with the default cap). While bracketing and bisecting, one
//! batch that all passes is taken as a pass for now (*screened*); only the bracket's final
//! passing end is run on all n seeds, and if a seed fails there it becomes the failing end and
//! the bisection continues. The failing end has therefore always failed, and the passing end
//! passed on every seed.
//!
//! **Two knobs** ([`trace`]): B's boundary is searched at a few values of A, then at values of A
//! added where the curve turns most, and the runs are compared with a grid at the same
//! resolution. With `threshold = θ < 1` the probe is a
//! pass once the Wilson score interval at confidence P lies above θ, a fail once it lies below,
//! and at the cap it is judged by the observed rate (marked undecided).
//!
//! Seeds are `model.seed + i` for the i-th seed of every probe (common random numbers along the
//! knob), so a search is reproducible and each probe can be rerun with `replsim run --seed`.

use rayon::prelude::*;
use serde::Serialize;
use toml::Value;

use super::ExperimentError;
use crate::engine::SimDuration;
use crate::scenario::{ModelFile, Override, lookup, parse_model};
use crate::units::{ByteSize, Rate};
use crate::valkey::{Cluster, CobLimit, Outcome, OutcomeRecord};

/// Seeds run together before a probe is judged.
pub const BATCH: u64 = 4;
/// The default range around the current value: ×1/RANGE … ×RANGE.
pub const RANGE: f64 = 64.0;
/// The relative precision the bisection stops at.
pub const PRECISION: f64 = 0.01;

/// What must hold at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// `outcome == clean_sync`: the first full sync completed with no limit crossed.
    CleanSync,
    /// `outcome != full_resync_loop`.
    NoFullResyncLoop,
    /// After a drop the replica came back by PSYNC: `partial_syncs_ok ≥ 1` and at most one
    /// full sync.
    PartialResyncAfterDrop,
    /// `in_sync_at_end`: the replica is online and caught up at the horizon.
    InSyncAtEnd,
}

impl Goal {
    /// The names `--goal` takes.
    pub const NAMES: [&'static str; 4] = [
        "clean_sync",
        "no_full_resync_loop",
        "partial_resync_after_drop",
        "in_sync_at_end",
    ];

    /// The goal called `name`.
    pub fn parse(name: &str) -> Option<Goal> {
        let all = [
            Goal::CleanSync,
            Goal::NoFullResyncLoop,
            Goal::PartialResyncAfterDrop,
            Goal::InSyncAtEnd,
        ];
        Goal::NAMES
            .iter()
            .position(|n| *n == name.replace('-', "_"))
            .map(|i| all[i])
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::CleanSync => Goal::NAMES[0],
            Goal::NoFullResyncLoop => Goal::NAMES[1],
            Goal::PartialResyncAfterDrop => Goal::NAMES[2],
            Goal::InSyncAtEnd => Goal::NAMES[3],
        }
    }

    /// Whether a run's outcome record reaches the goal.
    pub fn holds(self, r: &OutcomeRecord) -> bool {
        match self {
            Goal::CleanSync => r.outcome == Outcome::CleanSync,
            Goal::NoFullResyncLoop => r.outcome != Outcome::FullResyncLoop,
            Goal::PartialResyncAfterDrop => r.partial_syncs_ok >= 1 && r.full_syncs <= 1,
            Goal::InSyncAtEnd => r.in_sync_at_end,
        }
    }
}

/// How a knob's value is written into the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnobKind {
    /// A TOML integer.
    Integer,
    /// A TOML float.
    Float,
    /// A size, in bytes.
    Size,
    /// A rate, in bytes per second.
    Rate,
    /// A duration, in nanoseconds.
    Duration,
    /// The hard part of `client-output-buffer-limit`, in bytes; the rest kept as written.
    CobHard {
        /// The soft limit as written.
        soft: String,
        /// The soft seconds.
        secs: u64,
    },
}

/// One knob of a model: its path, kind and current value (in bytes, B/s, ns or plain).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Knob {
    /// The path, as for `--set`.
    pub path: String,
    /// How values are written.
    pub kind: KnobKind,
    /// The model's value.
    pub current: f64,
}

impl Knob {
    /// The `--set` value for `x`.
    pub fn set_value(&self, x: f64) -> String {
        let n = x.round().max(0.0) as u64;
        match &self.kind {
            KnobKind::Integer => format!("{}", x.round() as i64),
            KnobKind::Float => format!("{x:?}"),
            KnobKind::Size => format!("{n}b"),
            KnobKind::Rate => format!("{n}b/s"),
            KnobKind::Duration => format!("{n}ns"),
            KnobKind::CobHard { soft, secs } => format!("{n}b {soft} {secs}"),
        }
    }

    /// The `--set` value for `x` as a person writes it (`1400mb 0 0` rather than bytes).
    pub fn pretty_set(&self, x: f64) -> String {
        let n = ByteSize::new(x.round().max(0.0) as u64);
        match &self.kind {
            KnobKind::Size => n.to_string(),
            KnobKind::CobHard { soft, secs } => format!("{n} {soft} {secs}"),
            _ => self.set_value(x),
        }
    }

    /// `x` for a person (`256.0 MiB`, `1.0 GB/s`, `2.5s`, `12000`).
    pub fn show(&self, x: f64) -> String {
        let n = x.round().max(0.0) as u64;
        match &self.kind {
            KnobKind::Integer => format!("{}", x.round() as i64),
            KnobKind::Float => format!("{}", (x * 100.0).round() / 100.0),
            KnobKind::Size | KnobKind::CobHard { .. } => {
                let s = ByteSize::new(n);
                let exact = s.to_string();
                if exact.chars().any(|c| c.is_ascii_alphabetic()) {
                    exact
                } else if x >= 1048576.0 {
                    format!("{:.1} MiB", x / 1048576.0)
                } else {
                    s.human()
                }
            }
            KnobKind::Rate => Rate::new(n).human(),
            KnobKind::Duration => format!("{:.3}s", x / 1e9),
        }
    }

    /// The smallest step the knob takes (1 unit; 0 for a float).
    fn quantum(&self) -> f64 {
        match self.kind {
            KnobKind::Float => 0.0,
            _ => 1.0,
        }
    }

    /// Rounds to a value the knob can take.
    fn snap(&self, x: f64) -> f64 {
        if self.quantum() > 0.0 { x.round() } else { x }
    }

    /// Parses a `--min`/`--max` value written like the field (`64mb`, `100mbit`, `30s`, `5000`).
    pub fn parse_value(&self, text: &str) -> Result<f64, String> {
        let t = text.trim();
        let bad = |e: String| format!("{t:?} is not a value for {}: {e}", self.path);
        Ok(match self.kind {
            KnobKind::Integer | KnobKind::Float => {
                t.parse::<f64>().map_err(|e| bad(e.to_string()))?
            }
            KnobKind::Size | KnobKind::CobHard { .. } => t
                .parse::<ByteSize>()
                .map_err(|e| bad(e.to_string()))?
                .bytes() as f64,
            KnobKind::Rate => t
                .parse::<Rate>()
                .map_err(|e| bad(e.to_string()))?
                .bytes_per_sec() as f64,
            KnobKind::Duration => t
                .parse::<SimDuration>()
                .map_err(|e| bad(e.to_string()))?
                .as_nanos() as f64,
        })
    }

    /// A nearby friendly value (two significant digits of MiB/KiB/bytes, or of the number),
    /// rounded `up` or down.
    pub fn friendly(&self, x: f64, up: bool) -> f64 {
        let unit = match self.kind {
            KnobKind::Size | KnobKind::CobHard { .. } if x >= 1024.0 * 1024.0 => 1024.0 * 1024.0,
            KnobKind::Size | KnobKind::CobHard { .. } if x >= 1024.0 => 1024.0,
            KnobKind::Duration if x >= 1e6 => 1e6,
            _ => 1.0,
        };
        let v = x / unit;
        if v <= 0.0 {
            return x;
        }
        let step = 10f64.powf(v.log10().floor() - 1.0);
        let step = if self.quantum() > 0.0 && unit == 1.0 {
            step.max(1.0)
        } else {
            step
        };
        let r = if up {
            (v / step - 1e-9).ceil()
        } else {
            (v / step + 1e-9).floor()
        } * step;
        self.snap(r * unit)
    }
}

/// Finds `path` in the resolved model and works out how to write it; `accepts` tells whether the
/// model accepts a `--set` value for it (to tell a size `10m` from a duration `10m`).
pub fn knob_of(
    model: &ModelFile,
    path: &str,
    accepts: impl Fn(&str) -> bool,
) -> Result<Knob, String> {
    let root = Value::try_from(model).map_err(|e| e.to_string())?;
    let v = lookup(&root, path).map_err(|e| format!("--knob {path}: {e}"))?;
    let not_numeric = |what: &str| {
        format!(
            "--knob {path}: the field holds {what}, not a number, size, rate or duration \
             (advise varies one numeric field)"
        )
    };
    let knob = |kind, current| Knob {
        path: path.to_string(),
        kind,
        current,
    };
    match v {
        Value::Integer(i) => Ok(knob(KnobKind::Integer, *i as f64)),
        Value::Float(f) => Ok(knob(KnobKind::Float, *f)),
        Value::String(s) if path.ends_with("client-output-buffer-limit") => {
            let c: CobLimit = s.parse().map_err(|e| format!("--knob {path}: {e}"))?;
            Ok(knob(
                KnobKind::CobHard {
                    soft: c.soft.to_string(),
                    secs: c.soft_seconds,
                },
                c.hard.bytes() as f64,
            ))
        }
        Value::String(s) => {
            let candidates = [
                (
                    KnobKind::Rate,
                    s.parse::<Rate>().ok().map(|r| r.bytes_per_sec() as f64),
                ),
                (
                    KnobKind::Size,
                    s.parse::<ByteSize>().ok().map(|b| b.bytes() as f64),
                ),
                (
                    KnobKind::Duration,
                    s.parse::<SimDuration>().ok().map(|d| d.as_nanos() as f64),
                ),
            ];
            for (kind, x) in candidates {
                if let Some(x) = x {
                    let k = knob(kind, x);
                    if accepts(&k.set_value(x)) {
                        return Ok(k);
                    }
                }
            }
            Err(not_numeric(&format!("\"{s}\"")))
        }
        Value::Boolean(b) => Err(not_numeric(&format!("{b}"))),
        Value::Table(_) => Err(not_numeric("a table")),
        Value::Array(_) => Err(not_numeric("an array")),
        Value::Datetime(_) => Err(not_numeric("a date")),
    }
}

/// The built-in expectation for a knob: `Some(true)` when more of it helps.
pub fn prior(path: &str) -> Option<bool> {
    let helps = [
        "client-output-buffer-limit",
        "repl-backlog-size",
        "bandwidth",
        "repl-timeout",
        "rate",
    ];
    if path.contains("ops-per-sec") || path.contains("value-size") {
        Some(false)
    } else if helps.iter().any(|h| path.contains(h)) {
        Some(true)
    } else {
        None
    }
}

/// What to search.
#[derive(Clone, Debug)]
pub struct AdviseOptions {
    /// The model's text.
    pub text: String,
    /// Its name in messages.
    pub file: String,
    /// `--set` overrides applied to the model before anything else.
    pub base: Vec<Override>,
    /// The knob's path (the first `--knob`; in two dimensions the one across, A).
    pub knob: String,
    /// The goal.
    pub goal: Goal,
    /// Confidence P of a probe's side.
    pub confidence: f64,
    /// Most seeds per probe.
    pub seeds: u64,
    /// `None`: every seed must reach the goal; `Some(θ)`: P(goal) ≥ θ.
    pub threshold: Option<f64>,
    /// `--min`, as written (for `knob`).
    pub min: Option<String>,
    /// `--max`, as written (for `knob`).
    pub max: Option<String>,
    /// Worker threads.
    pub jobs: usize,
}

/// One probe: a knob value and what its seeds said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    /// The knob value (bytes, B/s, ns or plain).
    pub value: f64,
    /// The value as `--set` writes it.
    pub set: String,
    /// Which side it is on.
    pub passed: bool,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that reached the goal.
    pub successes: u64,
    /// False when the seed cap was reached before the confidence was (threshold mode only).
    pub decided: bool,
    /// A pass on the first batch of seeds only: a probe inside the bracket that was not its
    /// passing end, so it was never confirmed on every seed.
    pub screened: bool,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Advice {
    /// The knob.
    pub knob: Knob,
    /// The goal.
    pub goal: Goal,
    /// `more_is_better`, `more_is_worse`, or `None` when nothing flipped.
    pub direction: Option<&'static str>,
    /// The range searched.
    pub range: [f64; 2],
    /// The value to set, or `None` when the goal holds nowhere or everywhere in range.
    pub recommended: Option<f64>,
    /// It as `--set` writes it.
    pub recommended_set: Option<String>,
    /// The boundary's estimate (geometric middle of the final bracket).
    pub boundary: Option<f64>,
    /// The final bracket: the last failing and the last passing probe, low to high.
    pub interval: Option<[f64; 2]>,
    /// `everywhere`, `nowhere` or `found`.
    pub verdict: &'static str,
    /// Simulation runs.
    pub runs: u64,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

/// The two-sided normal quantile for confidence `p` (bisection on `erf`, so it is the same on
/// every machine).
pub fn z_for(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erf(mid / std::f64::consts::SQRT_2) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Seeds a passing probe needs under the "always" rule: `⌈ln(1−P)/ln(0.8)⌉`, capped.
pub fn seeds_needed(confidence: f64, cap: u64) -> u64 {
    let n = ((1.0 - confidence).ln() / 0.8f64.ln()).ceil();
    (n.max(1.0) as u64).min(cap).max(1)
}

/// The probes of one knob with everything else fixed (`fixed`: the `--set` overrides, and in two
/// dimensions the other knob's value).
struct Search<'a> {
    o: &'a AdviseOptions,
    knob: Knob,
    fixed: Vec<Override>,
    base_seed: u64,
    pool: &'a rayon::ThreadPool,
    probes: Vec<Probe>,
    runs: u64,
}

/// What a one-knob search found, before any recommendation.
struct Line {
    /// `Some(true)`: the goal holds above the boundary.
    more_is_better: Option<bool>,
    /// `found`, `everywhere` or `nowhere`.
    verdict: &'static str,
    /// The final bracket's failing and passing ends (when found).
    fail: f64,
    pass: f64,
}

impl Search<'_> {
    fn run_seed(&self, x: f64, i: u64) -> Result<bool, ExperimentError> {
        let seed = self.base_seed.wrapping_add(i) & (i64::MAX as u64);
        let set = self.knob.set_value(x);
        let mut overrides = self.fixed.clone();
        overrides.push(Override {
            path: self.knob.path.clone(),
            value: set.clone(),
        });
        overrides.push(Override {
            path: "model.seed".into(),
            value: seed.to_string(),
        });
        let model = parse_model(&self.o.text, &self.o.file, &overrides).map_err(|e| {
            ExperimentError::BadInput(format!(
                "--knob {}: the model rejects {set:?} ({e}); give --min/--max inside the valid range",
                self.knob.path
            ))
        })?;
        let failed = |e: String| {
            ExperimentError::Runtime(format!(
                "{}: run with --set {}={set:?} --seed {seed} failed: {e}",
                self.o.file, self.knob.path
            ))
        };
        let result = Cluster::build(&model.cluster(), &model.run_options())
            .map_err(|e| failed(e.to_string()))?
            .run()
            .map_err(|e| failed(e.to_string()))?;
        Ok(self.o.goal.holds(&result.record))
    }

    /// Runs seeds at `x` until its side is known (or the cap); reuses an earlier probe. With
    /// `full = false` under the "every seed" rule, one batch that all passes is enough for now
    /// (a *screened* pass, confirmed later by [`Search::probe`] with `full` if it ends up as
    /// the bracket's passing end); a failure is always final.
    fn probe(&mut self, x: f64, full: bool) -> Result<bool, ExperimentError> {
        let x = self.knob.snap(x);
        let cap = self.o.seeds;
        let needed = seeds_needed(self.o.confidence, cap);
        let screening = !full && self.o.threshold.is_none();
        let earlier = self.probes.iter().position(|p| p.value == x);
        let (mut n, mut ok) = (0u64, 0u64);
        if let Some(i) = earlier {
            let p = &self.probes[i];
            if !p.passed || screening || p.seeds >= needed || self.o.threshold.is_some() {
                return Ok(p.passed);
            }
            (n, ok) = (p.seeds, p.successes);
        }
        let z = z_for(self.o.confidence);
        let (passed, decided) = loop {
            let end = (n + BATCH).min(cap);
            let results: Vec<Result<bool, ExperimentError>> = self.pool.install(|| {
                (n..end)
                    .into_par_iter()
                    .map(|i| self.run_seed(x, i))
                    .collect()
            });
            for r in results {
                ok += u64::from(r?);
            }
            self.runs += end - n;
            n = end;
            match self.o.threshold {
                None => {
                    if ok < n {
                        break (false, true);
                    }
                    if n >= needed || screening {
                        break (true, true);
                    }
                }
                Some(theta) => {
                    let (lo, hi) = crate::report::wilson_interval(ok, n, z);
                    if lo > theta {
                        break (true, true);
                    }
                    if hi < theta {
                        break (false, true);
                    }
                    if n >= cap {
                        break (ok as f64 / n as f64 >= theta, false);
                    }
                }
            }
        };
        let probe = Probe {
            value: x,
            set: self.knob.set_value(x),
            passed,
            seeds: n,
            successes: ok,
            decided,
            screened: passed && self.o.threshold.is_none() && n < needed,
        };
        match earlier {
            Some(i) => self.probes[i] = probe,
            None => self.probes.push(probe),
        }
        Ok(passed)
    }

    fn mid(&self, a: f64, b: f64) -> f64 {
        self.knob.snap(mid(a, b))
    }

    fn precise(&self, a: f64, b: f64) -> bool {
        let (lo, hi) = (a.min(b), a.max(b));
        hi - lo <= (PRECISION * lo.abs()).max(self.knob.quantum())
    }

    /// Bracket from `start` in steps of ×`factor` (toward where the prior says the answer
    /// flips; both ends when there is no prior), then bisect to [`PRECISION`].
    fn line(&mut self, start: f64, lo: f64, hi: f64, factor: f64) -> Result<Line, ExperimentError> {
        let start = self.knob.snap(start.clamp(lo, hi));
        let at_start = self.probe(start, false)?;
        let toward_more = prior(&self.knob.path).map(|more_helps| more_helps != at_start);
        let flipped = |s: &Search, from: bool| s.probes.iter().any(|p| p.passed != from);
        let walk = |s: &mut Search, up: bool| -> Result<(), ExperimentError> {
            let mut x = start;
            loop {
                let next = if up {
                    (x * factor).min(hi)
                } else if x > 0.0 {
                    (x / factor).max(lo)
                } else {
                    lo
                };
                if s.knob.snap(next) == s.knob.snap(x) {
                    return Ok(());
                }
                x = next;
                if s.probe(x, false)? != at_start {
                    return Ok(());
                }
            }
        };
        match toward_more {
            Some(up) => {
                walk(self, up)?;
                if !flipped(self, at_start) {
                    self.probe(if up { lo } else { hi }, false)?;
                }
            }
            None => {
                self.probe(lo, false)?;
                self.probe(hi, false)?;
            }
        }
        // Nothing failed: confirm every screened pass before saying "everywhere".
        if self.probes.iter().all(|p| p.passed) {
            let xs: Vec<f64> = self.probes.iter().map(|p| p.value).collect();
            for x in xs {
                self.probe(x, true)?;
            }
        }
        let mut sorted = self.probes.clone();
        sorted.sort_by(|a, b| a.value.total_cmp(&b.value));
        // The flip nearest the start: with monotone answers there is one.
        let pair = sorted
            .windows(2)
            .find(|w| w[0].passed != w[1].passed)
            .map(|w| (w[0].value, w[1].value, w[1].passed));
        let Some((v0, v1, more_is_better)) = pair else {
            let everywhere = sorted.iter().all(|p| p.passed);
            return Ok(Line {
                more_is_better: None,
                verdict: if everywhere { "everywhere" } else { "nowhere" },
                fail: f64::NAN,
                pass: f64::NAN,
            });
        };
        let (mut fail, mut pass) = if more_is_better { (v0, v1) } else { (v1, v0) };
        loop {
            while !self.precise(fail, pass) {
                let m = self.mid(fail, pass);
                if m == fail || m == pass {
                    break;
                }
                if self.probe(m, false)? {
                    pass = m;
                } else {
                    fail = m;
                }
            }
            // The passing end must pass on every seed, not only on the screening batch.
            if self.probe(pass, true)? {
                break;
            }
            fail = pass;
            let beyond = |p: &&Probe| {
                p.passed
                    && if more_is_better {
                        p.value > fail
                    } else {
                        p.value < fail
                    }
            };
            let next = self
                .probes
                .iter()
                .filter(beyond)
                .min_by(|a, b| (a.value - fail).abs().total_cmp(&(b.value - fail).abs()))
                .map(|p| p.value);
            match next {
                Some(x) => pass = x,
                None => {
                    return Ok(Line {
                        more_is_better: None,
                        verdict: "nowhere",
                        fail: f64::NAN,
                        pass: f64::NAN,
                    });
                }
            }
        }
        Ok(Line {
            more_is_better: Some(more_is_better),
            verdict: "found",
            fail,
            pass,
        })
    }
}

/// The geometric middle of two positive values, else the arithmetic one.
fn mid(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 {
        (a * b).sqrt()
    } else {
        0.5 * (a + b)
    }
}

fn direction_name(more_is_better: bool) -> &'static str {
    if more_is_better {
        "more_is_better"
    } else {
        "more_is_worse"
    }
}

/// Checks the options that do not depend on the model.
fn check_options(o: &AdviseOptions) -> Result<(), ExperimentError> {
    let bad = ExperimentError::BadInput;
    if !(o.confidence > 0.0 && o.confidence < 1.0) {
        return Err(bad(format!(
            "--confidence {}: must be between 0 and 1 exclusive (e.g. 0.99)",
            o.confidence
        )));
    }
    if o.seeds == 0 {
        return Err(bad("--seeds 0: at least one seed per probe".into()));
    }
    if let Some(t) = o.threshold
        && !(t > 0.0 && t < 1.0)
    {
        return Err(bad(format!(
            "--threshold {t}: must be between 0 and 1 exclusive (leave it out for \"every seed\")"
        )));
    }
    Ok(())
}

/// The knob at `path` of the model (with the `--set` overrides) and its range: `--min`/`--max`
/// when given, else ×1/`range` … ×`range` of the model's value.
pub fn resolve_knob(
    o: &AdviseOptions,
    path: &str,
    min: Option<&str>,
    max: Option<&str>,
    range: f64,
) -> Result<(Knob, f64, f64), ExperimentError> {
    let bad = ExperimentError::BadInput;
    let model = parse_model(&o.text, &o.file, &o.base).map_err(|e| bad(e.to_string()))?;
    let accepts = |v: &str| {
        let mut set = o.base.clone();
        set.push(Override {
            path: path.to_string(),
            value: v.to_string(),
        });
        parse_model(&o.text, &o.file, &set).is_ok()
    };
    let knob = knob_of(&model, path, accepts).map_err(bad)?;
    let c = knob.current;
    let parse = |t: Option<&str>, what: &str| -> Result<Option<f64>, ExperimentError> {
        t.map(|t| knob.parse_value(t).map_err(|e| bad(format!("{what}: {e}"))))
            .transpose()
    };
    let (min, max) = (parse(min, "--min")?, parse(max, "--max")?);
    if (min.is_none() || max.is_none()) && c <= 0.0 {
        return Err(bad(format!(
            "--knob {path}: the model's value is {}, so there is no range around it: give --min and --max",
            knob.show(c)
        )));
    }
    // A hard COB limit below the soft one is rejected by the model: the default range starts at
    // the soft limit.
    let floor = match &knob.kind {
        KnobKind::CobHard { soft, .. } => {
            soft.parse::<ByteSize>().map_or(0.0, |b| b.bytes() as f64)
        }
        _ => 0.0,
    };
    let lo = knob.snap(min.unwrap_or((c / range).max(floor))).max(0.0);
    let hi = knob.snap(max.unwrap_or(c * range));
    if lo >= hi {
        return Err(bad(format!(
            "--knob {path}: --min {} is not below --max {}",
            knob.show(lo),
            knob.show(hi)
        )));
    }
    Ok((knob, lo, hi))
}

fn pool(jobs: usize) -> Result<rayon::ThreadPool, ExperimentError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| ExperimentError::Runtime(format!("cannot start workers: {e}")))
}

fn base_seed(o: &AdviseOptions) -> Result<u64, ExperimentError> {
    parse_model(&o.text, &o.file, &o.base)
        .map(|m| m.model.seed)
        .map_err(|e| ExperimentError::BadInput(e.to_string()))
}

/// Runs the search.
pub fn advise(o: &AdviseOptions) -> Result<Advice, ExperimentError> {
    check_options(o)?;
    let (knob, lo, hi) = resolve_knob(o, &o.knob, o.min.as_deref(), o.max.as_deref(), RANGE)?;
    let pool = pool(o.jobs)?;
    let mut s = Search {
        o,
        fixed: o.base.clone(),
        base_seed: base_seed(o)?,
        pool: &pool,
        probes: Vec::new(),
        runs: 0,
        knob,
    };
    let line = s.line(s.knob.current, lo, hi, 4.0)?;
    let range = [lo, hi];
    let Some(more_is_better) = line.more_is_better else {
        return Ok(Advice {
            knob: s.knob,
            goal: o.goal,
            direction: None,
            range,
            recommended: None,
            recommended_set: None,
            boundary: None,
            interval: None,
            verdict: line.verdict,
            runs: s.runs,
            probes: s.probes,
        });
    };
    let (fail, pass) = (line.fail, line.pass);
    // Recommend a friendly value on the passing side; check it on the full seed count.
    let mut rec = s.knob.friendly(pass, more_is_better);
    if rec != pass && !s.probe(rec, true)? {
        rec = pass;
    }
    let boundary = s.mid(fail, pass);
    Ok(Advice {
        direction: Some(direction_name(more_is_better)),
        range,
        recommended: Some(rec),
        recommended_set: Some(s.knob.pretty_set(rec)),
        boundary: Some(boundary),
        interval: Some([fail.min(pass), fail.max(pass)]),
        verdict: "found",
        runs: s.runs,
        goal: o.goal,
        probes: s.probes,
        knob: s.knob,
    })
}

/// The default range of the knob across (A) in two dimensions: ×1/RANGE_2D … ×RANGE_2D.
pub const RANGE_2D: f64 = 4.0;
/// Columns (values of A) searched before any refinement.
pub const FIRST_COLUMNS: usize = 5;
/// Refinement stops when no neighbouring pair of columns turns by more than this (radians).
pub const MIN_BEND: f64 = 0.05;

/// What to trace in two dimensions besides [`AdviseOptions`].
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// The knob along which each column's boundary is searched (B, drawn up).
    pub knob_b: String,
    /// `--min` for B.
    pub min_b: Option<String>,
    /// `--max` for B.
    pub max_b: Option<String>,
    /// Most columns (values of A), at least [`FIRST_COLUMNS`].
    pub columns: usize,
}

/// One value of A and B's boundary there.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// A's value.
    pub a: f64,
    /// It as `--set` writes it.
    pub a_set: String,
    /// `found`, `everywhere` or `nowhere` along B.
    pub verdict: &'static str,
    /// `more_is_better` or `more_is_worse` in B.
    pub direction: Option<&'static str>,
    /// B's boundary (geometric middle of the bracket).
    pub boundary: Option<f64>,
    /// B's final bracket, low to high.
    pub interval: Option<[f64; 2]>,
    /// 1 for the first columns, 2… for those added where the curve bends.
    pub round: usize,
    /// Runs at this column.
    pub runs: u64,
    /// Probes along B, in the order run.
    pub probes: Vec<Probe>,
}

/// What a grid at the same resolution would cost.
#[derive(Clone, Debug, Serialize)]
pub struct GridCost {
    /// Columns: A's range at the finest spacing the trace used.
    pub columns: u64,
    /// Rows: B's range at [`PRECISION`].
    pub rows: u64,
    /// Seeds per grid point (`--seeds`: a grid runs every seed everywhere).
    pub seeds: u64,
    /// columns × rows × seeds.
    pub runs: u64,
    /// The same with only the trace's own columns: columns × rows × seeds.
    pub runs_same_columns: u64,
}

/// The boundary curve of two knobs.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// The knob across.
    pub knob_a: Knob,
    /// The knob up.
    pub knob_b: Knob,
    /// The goal.
    pub goal: Goal,
    /// A's range.
    pub range_a: [f64; 2],
    /// B's range.
    pub range_b: [f64; 2],
    /// The columns, by A.
    pub columns: Vec<Column>,
    /// Simulation runs in all.
    pub runs: u64,
    /// A grid at the same resolution.
    pub grid: GridCost,
    /// runs / grid.runs.
    pub fraction_of_grid: f64,
}

/// Normalised position of `x` in `[lo, hi]`: logarithmic for a positive range.
fn unit(x: f64, lo: f64, hi: f64) -> f64 {
    if lo > 0.0 {
        (x / lo).ln() / (hi / lo).ln()
    } else {
        (x - lo) / (hi - lo)
    }
}

/// The turn at `b` of the path a → b → c (radians, 0 for straight on).
fn turn(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    let (u, v) = ((b.0 - a.0, b.1 - a.1), (c.0 - b.0, c.1 - b.1));
    let (nu, nv) = (u.0.hypot(u.1), v.0.hypot(v.1));
    if nu == 0.0 || nv == 0.0 {
        return 0.0;
    }
    ((u.0 * v.0 + u.1 * v.1) / (nu * nv))
        .clamp(-1.0, 1.0)
        .acos()
}

/// Traces B's boundary along A: [`FIRST_COLUMNS`] values of A spread over its range (log-spaced
/// for a positive range), B searched at each as [`advise`] does (starting from the nearest
/// column's boundary with ×2 steps), then columns added one at a time in the gap whose ends turn
/// most (in log-log coordinates normalised to the ranges) or where the curve leaves B's range,
/// until `columns` or no turn exceeds [`MIN_BEND`].
pub fn trace(o: &AdviseOptions, t: &TraceOptions) -> Result<Trace, ExperimentError> {
    check_options(o)?;
    let bad = ExperimentError::BadInput;
    if o.knob == t.knob_b {
        return Err(bad(format!(
            "--knob {} given twice: two dimensions need two different knobs",
            o.knob
        )));
    }
    if t.columns < FIRST_COLUMNS {
        return Err(bad(format!(
            "--columns {}: at least {FIRST_COLUMNS}",
            t.columns
        )));
    }
    let (knob_a, lo_a, hi_a) =
        resolve_knob(o, &o.knob, o.min.as_deref(), o.max.as_deref(), RANGE_2D)?;
    let (knob_b, lo_b, hi_b) =
        resolve_knob(o, &t.knob_b, t.min_b.as_deref(), t.max_b.as_deref(), RANGE)?;
    let pool = pool(o.jobs)?;
    let seed = base_seed(o)?;
    let mut columns: Vec<Column> = Vec::new();
    let search_at = |a: f64, start: f64, factor: f64, round: usize| {
        let mut fixed = o.base.clone();
        fixed.push(Override {
            path: knob_a.path.clone(),
            value: knob_a.set_value(a),
        });
        let mut s = Search {
            o,
            knob: knob_b.clone(),
            fixed,
            base_seed: seed,
            pool: &pool,
            probes: Vec::new(),
            runs: 0,
        };
        let line = s.line(start, lo_b, hi_b, factor)?;
        let found = line.more_is_better.is_some();
        Ok::<Column, ExperimentError>(Column {
            a,
            a_set: knob_a.set_value(a),
            verdict: line.verdict,
            direction: line.more_is_better.map(direction_name),
            boundary: found.then(|| s.mid(line.fail, line.pass)),
            interval: found.then(|| [line.fail.min(line.pass), line.fail.max(line.pass)]),
            round,
            runs: s.runs,
            probes: s.probes,
        })
    };
    let spread = |k: usize| {
        let f = k as f64 / (FIRST_COLUMNS - 1) as f64;
        knob_a.snap(if lo_a > 0.0 {
            lo_a * (hi_a / lo_a).powf(f)
        } else {
            lo_a + (hi_a - lo_a) * f
        })
    };
    // The first columns from the one nearest A's model value outward, each starting at its
    // neighbour's boundary.
    let mut order: Vec<usize> = (0..FIRST_COLUMNS).collect();
    let near = |k: usize| {
        (unit(spread(k), lo_a, hi_a) - unit(knob_a.current.clamp(lo_a, hi_a), lo_a, hi_a)).abs()
    };
    order.sort_by(|&i, &j| near(i).total_cmp(&near(j)).then(i.cmp(&j)));
    for k in order {
        let a = spread(k);
        if columns.iter().any(|c| c.a == a) {
            continue;
        }
        let nearest = columns
            .iter()
            .filter(|c| c.boundary.is_some())
            .min_by(|x, y| (x.a - a).abs().total_cmp(&(y.a - a).abs()));
        let column = match nearest {
            Some(c) => search_at(a, c.boundary.unwrap_or(knob_b.current), 2.0, 1)?,
            None => search_at(a, knob_b.current, 4.0, 1)?,
        };
        columns.push(column);
    }
    columns.sort_by(|x, y| x.a.total_cmp(&y.a));
    let point = |c: &Column| {
        c.boundary
            .map(|b| (unit(c.a, lo_a, hi_a), unit(b, lo_b, hi_b)))
    };
    let mut round = 2;
    while columns.len() < t.columns {
        // Score every gap: where the curve leaves the range, or the larger turn at its ends.
        let n = columns.len();
        let turn_at = |k: usize| -> f64 {
            if k == 0 || k + 1 >= n {
                return 0.0;
            }
            match (
                point(&columns[k - 1]),
                point(&columns[k]),
                point(&columns[k + 1]),
            ) {
                (Some(a), Some(b), Some(c)) => turn(a, b, c),
                _ => 0.0,
            }
        };
        let mut best: Option<(f64, usize)> = None;
        for k in 0..n - 1 {
            let (c0, c1) = (&columns[k], &columns[k + 1]);
            let m = knob_a.snap(mid(c0.a, c1.a));
            if m == c0.a
                || m == c1.a
                || (c1.a - c0.a) <= (PRECISION * c0.a.abs()).max(knob_a.quantum())
            {
                continue;
            }
            let score = if c0.verdict != c1.verdict {
                f64::INFINITY
            } else if c0.boundary.is_some() {
                turn_at(k).max(turn_at(k + 1))
            } else {
                0.0
            };
            let width = unit(c1.a, lo_a, hi_a) - unit(c0.a, lo_a, hi_a);
            let better = match best {
                None => true,
                Some((s, j)) => {
                    let wj = unit(columns[j + 1].a, lo_a, hi_a) - unit(columns[j].a, lo_a, hi_a);
                    score > s || (score == s && width > wj)
                }
            };
            if better {
                best = Some((score, k));
            }
        }
        let Some((score, k)) = best else { break };
        if score < MIN_BEND {
            break;
        }
        let (c0, c1) = (&columns[k], &columns[k + 1]);
        let a = knob_a.snap(mid(c0.a, c1.a));
        let start = match (c0.boundary, c1.boundary) {
            (Some(x), Some(y)) => mid(x, y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => knob_b.current,
        };
        let column = search_at(a, start, 2.0, round)?;
        columns.insert(k + 1, column);
        round += 1;
    }
    let runs: u64 = columns.iter().map(|c| c.runs).sum();
    let rows = if lo_b > 0.0 {
        ((hi_b / lo_b).ln() / (1.0 + PRECISION).ln()).ceil() as u64 + 1
    } else {
        ((hi_b - lo_b) / (PRECISION * hi_b.abs()).max(knob_b.quantum())).ceil() as u64 + 1
    };
    let finest = columns
        .windows(2)
        .map(|w| unit(w[1].a, lo_a, hi_a) - unit(w[0].a, lo_a, hi_a))
        .filter(|g| *g > 0.0)
        .fold(1.0f64, f64::min);
    let grid_columns = (1.0 / finest).round() as u64 + 1;
    let grid_runs = grid_columns * rows * o.seeds;
    Ok(Trace {
        range_a: [lo_a, hi_a],
        range_b: [lo_b, hi_b],
        goal: o.goal,
        grid: GridCost {
            columns: grid_columns,
            rows,
            seeds: o.seeds,
            runs: grid_runs,
            runs_same_columns: columns.len() as u64 * rows * o.seeds,
        },
        fraction_of_grid: runs as f64 / grid_runs.max(1) as f64,
        runs,
        columns,
        knob_a,
        knob_b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_and_seed_rule() {
        assert!((z_for(0.95) - 1.959964).abs() < 1e-4);
        assert!((z_for(0.99) - 2.575829).abs() < 1e-4);
        assert_eq!(seeds_needed(0.99, 100), 21);
        assert_eq!(seeds_needed(0.99, 20), 20);
        assert_eq!(seeds_needed(0.5, 20), 4);
    }

    #[test]
    fn goals_parse_and_friendly_rounding() {
        for n in Goal::NAMES {
            assert_eq!(Goal::parse(n).unwrap().as_str(), n);
        }
        assert!(Goal::parse("fast").is_none());
        let k = Knob {
            path: "x".into(),
            kind: KnobKind::Size,
            current: 0.0,
        };
        assert_eq!(k.friendly(300.4 * 1048576.0, true), 310.0 * 1048576.0);
        assert_eq!(k.friendly(300.4 * 1048576.0, false), 300.0 * 1048576.0);
        let k = Knob {
            kind: KnobKind::Integer,
            ..k
        };
        assert_eq!(k.friendly(12345.0, false), 12000.0);
        assert_eq!(k.friendly(7.0, true), 7.0);
    }

    #[test]
    fn turns_and_positions() {
        assert!(turn((0.0, 0.0), (1.0, 1.0), (2.0, 2.0)).abs() < 1e-6);
        let right_angle = turn((0.0, 0.0), (1.0, 0.0), (1.0, 1.0));
        assert!((right_angle - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
        assert_eq!(turn((0.0, 0.0), (0.0, 0.0), (1.0, 1.0)), 0.0);
        assert!((unit(10.0, 1.0, 100.0) - 0.5).abs() < 1e-12);
        assert!((unit(5.0, 0.0, 10.0) - 0.5).abs() < 1e-12);
        assert_eq!(mid(4.0, 9.0), 6.0);
        assert_eq!(mid(-2.0, 4.0), 1.0);
    }
}
