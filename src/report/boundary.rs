//! The closed-form boundary on a phase diagram: where `analytic.rs` says a COB limit starts to
//! trip (classic §7.4 or dual-channel §7.5, whichever the model runs).
//!
//! Any axis maps to the closed form the same way: its value is set in the base model as a
//! `--set` override would, and the closed-form parameters are derived from the resulting model.
//! An axis that changes no parameter (the seed, the horizon) does not map, and the overlay is
//! skipped with a note. Between grid values the parameters are interpolated (each is linear in
//! the axis value for the knobs that map: write rate, limits, sizes, rates), the "does a limit
//! trip?" predicate is sampled on a fine grid, and its edge is traced with marching squares,
//! each crossing refined by bisection.

use super::axis::Axis;
use super::experiment::BaseModel;
use super::params::{self, ModelParams};
use crate::analytic::Params;
use crate::scenario::{ModelFile, Override, apply_overrides};

/// Samples per axis of the fine grid.
const SAMPLES: usize = 96;
/// Bisection steps per crossing.
const BISECTIONS: usize = 12;

/// A line segment in cell coordinates (x index, y index).
pub(crate) type Segment = ((f64, f64), (f64, f64));

/// The overlay of a phase diagram.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Overlay {
    /// The boundary, as segments, with its legend text.
    Curve {
        /// The segments.
        segments: Vec<Segment>,
        /// Legend text.
        label: String,
    },
    /// Why there is no overlay.
    Skipped(String),
}

/// The closed-form boundary of the phase diagram over `x` × `y`.
pub(crate) fn overlay(base: Option<&BaseModel>, x: &Axis, y: &Axis) -> Overlay {
    match build(base, x, y) {
        Ok(o) => o,
        Err(why) => Overlay::Skipped(why),
    }
}

fn build(base: Option<&BaseModel>, x: &Axis, y: &Axis) -> Result<Overlay, String> {
    let base = base.ok_or("the sweep directory names no base model")?;
    for axis in [x, y] {
        if axis.numbers.is_none() {
            return Err(format!("axis `{}` is not numeric", axis.path));
        }
    }
    let value: toml::Value = toml::from_str(&base.toml)
        .map_err(|e| format!("base model ({}) does not parse: {e}", base.origin))?;
    let grid = node_params(&value, x, y)?;
    for (axis, changes) in [(x, varies(&grid, true)), (y, varies(&grid, false))] {
        if !changes {
            return Err(format!(
                "axis `{}` changes no closed-form parameter",
                axis.path
            ));
        }
    }
    let field = Field { x, y, grid: &grid };
    let (segments, side) = field.trace();
    let mode = if grid[0][0].dual {
        "dual-channel, §7.5"
    } else {
        "classic, §7.4"
    };
    let label = if segments.is_empty() {
        format!("closed form ({mode}): the same on the whole grid, no boundary inside")
    } else {
        format!("closed form ({mode}): a COB limit trips on the side of {side}")
    };
    Ok(Overlay::Curve { segments, label })
}

/// Closed-form parameters at every grid node, `grid[i][j]` for x value i and y value j.
fn node_params(base: &toml::Value, x: &Axis, y: &Axis) -> Result<Vec<Vec<ModelParams>>, String> {
    let mut grid = Vec::with_capacity(x.len());
    for xv in &x.labels {
        let mut column = Vec::with_capacity(y.len());
        for yv in &y.labels {
            let mut v = base.clone();
            let set = [(&x.path, xv), (&y.path, yv)].map(|(path, value)| Override {
                path: path.clone(),
                value: value.clone(),
            });
            apply_overrides(&mut v, &set).map_err(|e| e.to_string())?;
            let model: ModelFile = v
                .try_into()
                .map_err(|e| format!("{} = {xv}, {} = {yv}: {e}", x.path, y.path))?;
            column.push(params::from_model(&model)?);
        }
        grid.push(column);
    }
    Ok(grid)
}

/// Whether the parameters change along x (`along_x`) or along y somewhere on the grid.
fn varies(grid: &[Vec<ModelParams>], along_x: bool) -> bool {
    let (nx, ny) = (grid.len(), grid.first().map_or(0, Vec::len));
    (0..nx).any(|i| {
        (0..ny).any(|j| {
            let (i2, j2) = if along_x { (i + 1, j) } else { (i, j + 1) };
            i2 < nx && j2 < ny && grid[i][j].params != grid[i2][j2].params
        })
    })
}

/// The predicate over cell coordinates.
struct Field<'a> {
    x: &'a Axis,
    y: &'a Axis,
    grid: &'a [Vec<ModelParams>],
}

impl Field<'_> {
    fn overflows(&self, px: f64, py: f64) -> bool {
        let (Some((i0, i1, wx)), Some((j0, j1, wy))) =
            (self.x.neighbours(px), self.y.neighbours(py))
        else {
            return false;
        };
        let g = self.grid;
        let bottom = lerp(&g[i0][j0].params, &g[i1][j0].params, wx);
        let top = lerp(&g[i0][j1].params, &g[i1][j1].params, wx);
        let nearest = &g[if wx < 0.5 { i0 } else { i1 }][if wy < 0.5 { j0 } else { j1 }];
        ModelParams {
            params: lerp(&bottom, &top, wy),
            ..nearest.clone()
        }
        .predicts_overflow()
    }

    /// Marching squares over the fine grid; also says on which side the predicate holds.
    fn trace(&self) -> (Vec<Segment>, String) {
        let (nx, ny) = (self.x.len() as f64, self.y.len() as f64);
        let xs: Vec<f64> = (0..=SAMPLES)
            .map(|k| -0.5 + nx * k as f64 / SAMPLES as f64)
            .collect();
        let ys: Vec<f64> = (0..=SAMPLES)
            .map(|k| -0.5 + ny * k as f64 / SAMPLES as f64)
            .collect();
        let v: Vec<Vec<bool>> = xs
            .iter()
            .map(|&px| ys.iter().map(|&py| self.overflows(px, py)).collect())
            .collect();
        let mut segments = Vec::new();
        for a in 0..SAMPLES {
            for b in 0..SAMPLES {
                let corners = [(a, b), (a + 1, b), (a + 1, b + 1), (a, b + 1)];
                let mut hits = Vec::new();
                for e in 0..4 {
                    let (p, q) = (corners[e], corners[(e + 1) % 4]);
                    if v[p.0][p.1] != v[q.0][q.1] {
                        hits.push(self.crossing(
                            (xs[p.0], ys[p.1]),
                            (xs[q.0], ys[q.1]),
                            v[p.0][p.1],
                        ));
                    }
                }
                for pair in hits.chunks_exact(2) {
                    segments.push((pair[0], pair[1]));
                }
            }
        }
        (segments, side(&v, self.x, self.y))
    }

    /// The point between `p` (predicate `at_p`) and `q` (the other value) where it flips.
    fn crossing(&self, p: (f64, f64), q: (f64, f64), at_p: bool) -> (f64, f64) {
        let (mut lo, mut hi) = (0.0, 1.0);
        let at = |t: f64| (p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t);
        for _ in 0..BISECTIONS {
            let mid = (lo + hi) / 2.0;
            let m = at(mid);
            if self.overflows(m.0, m.1) == at_p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        at((lo + hi) / 2.0)
    }
}

/// Where the predicate holds more: "high <x> and low <y>", from the halves of the sample grid.
fn side(v: &[Vec<bool>], x: &Axis, y: &Axis) -> String {
    let share = |pick: &dyn Fn(usize, usize) -> bool| {
        let (mut hits, mut all) = (0usize, 0usize);
        for (a, column) in v.iter().enumerate() {
            for (b, &on) in column.iter().enumerate() {
                if pick(a, b) {
                    all += 1;
                    hits += usize::from(on);
                }
            }
        }
        hits as f64 / all.max(1) as f64
    };
    let half = v.len() / 2;
    let dx = share(&|a, _| a > half) - share(&|a, _| a < half);
    let dy = share(&|_, b| b > half) - share(&|_, b| b < half);
    let short = |a: &Axis| a.path.rsplit('.').next().unwrap_or(&a.path).to_string();
    let word = |d: f64, a: &Axis| match d {
        d if d > 0.05 => Some(format!("high {}", short(a))),
        d if d < -0.05 => Some(format!("low {}", short(a))),
        _ => None,
    };
    let parts: Vec<String> = [word(dx, x), word(dy, y)].into_iter().flatten().collect();
    if parts.is_empty() {
        "one of the two regions".into()
    } else {
        parts.join(" and ")
    }
}

/// `a + w (b − a)` for every numeric parameter, floored at 0; flags from `a`.
fn lerp(a: &Params, b: &Params, w: f64) -> Params {
    let f = |x: f64, y: f64| (x + w * (y - x)).max(0.0);
    Params {
        write_rate_bps: f(a.write_rate_bps, b.write_rate_bps),
        rdb_bytes: f(a.rdb_bytes, b.rdb_bytes),
        link_bps: f(a.link_bps, b.link_bps),
        gen_bps: f(a.gen_bps, b.gen_bps),
        load_bps: f(a.load_bps, b.load_bps),
        apply_bps: f(a.apply_bps, b.apply_bps),
        backlog_bytes: f(a.backlog_bytes, b.backlog_bytes),
        cob_hard_bytes: f(a.cob_hard_bytes, b.cob_hard_bytes),
        cob_soft_bytes: f(a.cob_soft_bytes, b.cob_soft_bytes),
        cob_soft_secs: f(a.cob_soft_secs, b.cob_soft_secs),
        replica_cob_hard_bytes: f(a.replica_cob_hard_bytes, b.replica_cob_hard_bytes),
        socket_slack_bytes: f(a.socket_slack_bytes, b.socket_slack_bytes),
        events_interval_bytes: f(a.events_interval_bytes, b.events_interval_bytes),
        rtt_secs: f(a.rtt_secs, b.rtt_secs),
        psync_delay_secs: f(a.psync_delay_secs, b.psync_delay_secs),
        ..*a
    }
}
