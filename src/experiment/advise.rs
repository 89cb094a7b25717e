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
//! (22 seeds at P = 0.99, so 20 with the default cap). With `threshold = θ < 1` the probe is a
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
    /// The knob's path.
    pub knob: String,
    /// The goal.
    pub goal: Goal,
    /// Confidence P of a probe's side.
    pub confidence: f64,
    /// Most seeds per probe.
    pub seeds: u64,
    /// `None`: every seed must reach the goal; `Some(θ)`: P(goal) ≥ θ.
    pub threshold: Option<f64>,
    /// `--min`, as written.
    pub min: Option<String>,
    /// `--max`, as written.
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

struct Search<'a> {
    o: &'a AdviseOptions,
    knob: Knob,
    base_seed: u64,
    pool: rayon::ThreadPool,
    probes: Vec<Probe>,
    runs: u64,
}

impl Search<'_> {
    fn run_seed(&self, x: f64, i: u64) -> Result<bool, ExperimentError> {
        let seed = self.base_seed.wrapping_add(i) & (i64::MAX as u64);
        let set = self.knob.set_value(x);
        let mut overrides = self.o.base.clone();
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

    /// Runs seeds at `x` until its side is known (or the cap); reuses an earlier probe.
    fn probe(&mut self, x: f64) -> Result<bool, ExperimentError> {
        let x = self.knob.snap(x);
        if let Some(p) = self.probes.iter().find(|p| p.value == x) {
            return Ok(p.passed);
        }
        let cap = self.o.seeds;
        let needed = seeds_needed(self.o.confidence, cap);
        let z = z_for(self.o.confidence);
        let (mut n, mut ok) = (0u64, 0u64);
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
                    if n >= needed {
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
        self.probes.push(Probe {
            value: x,
            set: self.knob.set_value(x),
            passed,
            seeds: n,
            successes: ok,
            decided,
        });
        Ok(passed)
    }

    fn mid(&self, a: f64, b: f64) -> f64 {
        let m = if a > 0.0 && b > 0.0 {
            (a * b).sqrt()
        } else {
            0.5 * (a + b)
        };
        self.knob.snap(m)
    }

    fn precise(&self, a: f64, b: f64) -> bool {
        let (lo, hi) = (a.min(b), a.max(b));
        hi - lo <= (PRECISION * lo.abs()).max(self.knob.quantum())
    }
}

/// Runs the search.
pub fn advise(o: &AdviseOptions) -> Result<Advice, ExperimentError> {
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
    let model = parse_model(&o.text, &o.file, &o.base).map_err(|e| bad(e.to_string()))?;
    let accepts = |v: &str| {
        let mut set = o.base.clone();
        set.push(Override {
            path: o.knob.clone(),
            value: v.to_string(),
        });
        parse_model(&o.text, &o.file, &set).is_ok()
    };
    let knob = knob_of(&model, &o.knob, accepts).map_err(bad)?;
    let c = knob.current;
    let parse = |t: &Option<String>, what: &str| -> Result<Option<f64>, ExperimentError> {
        t.as_ref()
            .map(|t| knob.parse_value(t).map_err(|e| bad(format!("{what}: {e}"))))
            .transpose()
    };
    let (min, max) = (parse(&o.min, "--min")?, parse(&o.max, "--max")?);
    if (min.is_none() || max.is_none()) && c <= 0.0 {
        return Err(bad(format!(
            "--knob {}: the model's value is {}, so there is no range around it: give --min and --max",
            o.knob,
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
    let lo = knob.snap(min.unwrap_or((c / RANGE).max(floor))).max(0.0);
    let hi = knob.snap(max.unwrap_or(c * RANGE));
    if lo >= hi {
        return Err(bad(format!(
            "--knob {}: --min {} is not below --max {}",
            o.knob,
            knob.show(lo),
            knob.show(hi)
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.jobs.max(1))
        .build()
        .map_err(|e| ExperimentError::Runtime(format!("cannot start workers: {e}")))?;
    let mut s = Search {
        o,
        knob,
        base_seed: model.model.seed,
        pool,
        probes: Vec::new(),
        runs: 0,
    };
    // Bracket: the current value (clamped), then ×4 steps toward where the answer should flip.
    let start = c.clamp(lo, hi);
    let at_start = s.probe(start)?;
    let toward_more = prior(&o.knob).map(|more_helps| more_helps != at_start);
    let flipped = |s: &Search, from: bool| s.probes.iter().any(|p| p.passed != from);
    let walk = |s: &mut Search, up: bool| -> Result<(), ExperimentError> {
        let mut x = start;
        loop {
            let next = if up {
                (x * 4.0).min(hi)
            } else if x > 0.0 {
                (x / 4.0).max(lo)
            } else {
                lo
            };
            if s.knob.snap(next) == s.knob.snap(x) {
                return Ok(());
            }
            x = next;
            if s.probe(x)? != at_start {
                return Ok(());
            }
        }
    };
    match toward_more {
        Some(up) => {
            walk(&mut s, up)?;
            if !flipped(&s, at_start) {
                s.probe(if up { lo } else { hi })?;
            }
        }
        None => {
            s.probe(lo)?;
            s.probe(hi)?;
        }
    }
    let mut sorted = s.probes.clone();
    sorted.sort_by(|a, b| a.value.total_cmp(&b.value));
    let range = [lo, hi];
    let pair = sorted
        .windows(2)
        .find(|w| w[0].passed != w[1].passed)
        .map(|w| (w[0].clone(), w[1].clone()));
    let Some((p0, p1)) = pair else {
        let everywhere = sorted.iter().all(|p| p.passed);
        return Ok(Advice {
            knob: s.knob,
            goal: o.goal,
            direction: None,
            range,
            recommended: None,
            recommended_set: None,
            boundary: None,
            interval: None,
            verdict: if everywhere { "everywhere" } else { "nowhere" },
            runs: s.runs,
            probes: s.probes,
        });
    };
    let more_is_better = p1.passed;
    // Bisect: `fail` and `pass` are the two ends of the bracket.
    let (mut fail, mut pass) = if more_is_better {
        (p0.value, p1.value)
    } else {
        (p1.value, p0.value)
    };
    while !s.precise(fail, pass) {
        let m = s.mid(fail, pass);
        if m == fail || m == pass {
            break;
        }
        if s.probe(m)? {
            pass = m;
        } else {
            fail = m;
        }
    }
    // Recommend a friendly value on the passing side; check it on the full seed count.
    let mut rec = s.knob.friendly(pass, more_is_better);
    if rec != pass && !s.probe(rec)? {
        rec = pass;
    }
    let boundary = s.mid(fail, pass);
    Ok(Advice {
        direction: Some(if more_is_better {
            "more_is_better"
        } else {
            "more_is_worse"
        }),
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
}
