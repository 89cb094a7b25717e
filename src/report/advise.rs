//! The charts of `replsim advise`: P(goal) along one knob with every probe marked, and, for two
//! knobs, the traced boundary curve drawn over a phase diagram of where the goal holds.
//! Drawn from plain numbers handed over by the caller; nothing here runs a simulation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::ReportError;
use super::axis::{Axis, parse_number};
use super::boundary::{self, Overlay};
use super::experiment::BaseModel;
use super::format;
use super::legend::{self, Entry, Key};
use super::phase::{CellStats, Colouring, Layers, PhaseChart, PhaseData};
use super::probability::wilson_interval;
use super::render::{Chart, ChartResult, render, text, titled};
use super::style;
use super::table::Row;

/// How a knob's values read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueUnit {
    /// A plain number.
    Plain,
    /// Bytes.
    Bytes,
    /// Bytes per second.
    Rate,
    /// Nanoseconds (shown in seconds).
    Nanos,
}

impl ValueUnit {
    fn show(self, x: f64) -> String {
        match self {
            ValueUnit::Plain => format::sig3(x),
            ValueUnit::Bytes => format::bytes(x),
            ValueUnit::Rate => format::rate(x),
            ValueUnit::Nanos => format!("{} s", format::sig3(x / 1e9)),
        }
    }
}

/// One probe as the chart needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartProbe {
    /// The knob's value.
    pub value: f64,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that reached the goal.
    pub successes: u64,
    /// Which side it was judged on.
    pub passed: bool,
}

/// The P(goal) chart of one knob.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
    /// The knob's path (x axis).
    pub knob: String,
    /// How its values read.
    pub unit: ValueUnit,
    /// The goal's name.
    pub goal: String,
    /// Confidence of the intervals drawn.
    pub confidence: f64,
    /// Every probe.
    pub probes: Vec<ChartProbe>,
    /// The boundary and its bracket.
    pub boundary: Option<f64>,
    /// The final bracket.
    pub interval: Option<[f64; 2]>,
    /// The closed form, if any.
    pub closed_form: Option<f64>,
    /// The recommended value.
    pub recommended: Option<f64>,
}

/// The two-sided normal quantile for a confidence (by bisection on erf).
fn z_for(p: f64) -> f64 {
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

/// One panel's x mapping: log when every value is positive.
#[derive(Clone, Copy)]
struct Scale {
    log: bool,
}

impl Scale {
    fn to(self, x: f64) -> f64 {
        if self.log { x.ln() } else { x }
    }
    fn from(self, u: f64) -> f64 {
        if self.log { u.exp() } else { u }
    }
}

const LEGEND_PX: u32 = 330;

impl Chart for LineChart {
    fn size(&self) -> (u32, u32) {
        (1400, 650)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let body = titled(root, &self.title, &self.subtitle)?;
        let (w, _) = body.dim_in_pixel();
        let (plots, legend_area) = body.split_horizontally(w.saturating_sub(LEGEND_PX));
        let (pw, _) = plots.dim_in_pixel();
        let (left, right) = plots.split_horizontally(pw * 11 / 20);
        let values: Vec<f64> = self.probes.iter().map(|p| p.value).collect();
        let (min, max) = values
            .iter()
            .chain(self.closed_form.iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !min.is_finite() {
            return Ok(());
        }
        let scale = Scale { log: min > 0.0 };
        let pad = |a: f64, b: f64| {
            let (ua, ub) = (scale.to(a), scale.to(b));
            let d = ((ub - ua) * 0.05).max(if scale.log { 0.02 } else { 1e-9 });
            (ua - d, ub + d)
        };
        self.panel(&left, scale, pad(min, max), "all probes")?;
        // The zoom: the final bracket and the probes near it.
        let (zlo, zhi) = match self.interval {
            Some([lo, hi]) => {
                let near: Vec<f64> = values
                    .iter()
                    .copied()
                    .chain(self.closed_form)
                    .filter(|v| *v >= lo * 0.85 && *v <= hi * 1.15)
                    .collect();
                near.iter()
                    .fold((lo, hi), |(a, b), &v| (a.min(v), b.max(v)))
            }
            None => (min, max),
        };
        self.panel(&right, scale, pad(zlo, zhi), "near the boundary")?;
        self.legend(&legend_area)
    }
}

impl LineChart {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        scale: Scale,
        (u0, u1): (f64, f64),
        caption: &str,
    ) -> ChartResult {
        let unit = self.unit;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .margin_right(20)
            .caption(caption, text(style::LABEL_SIZE, style::BLACK))
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(u0..u1, -0.04..1.04)?;
        let x_fmt = |u: &f64| unit.show(scale.from(*u));
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(style::LIGHT_GREY)
            .x_labels(6)
            .y_labels(11)
            .x_label_formatter(&x_fmt)
            .x_desc(self.knob.as_str())
            .y_desc(format!("P({})", self.goal))
            .label_style(text(style::TICK_SIZE, style::BLACK))
            .axis_desc_style(text(style::LABEL_SIZE, style::BLACK))
            .draw()?;
        if let Some([lo, hi]) = self.interval {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(scale.to(lo), -0.04), (scale.to(hi), 1.04)],
                style::LIGHT_GREY.filled(),
            )))?;
        }
        let vline = |x: f64| vec![(scale.to(x), -0.04), (scale.to(x), 1.04)];
        let visible = |x: f64| (u0..=u1).contains(&scale.to(x));
        if let Some(c) = self.closed_form.filter(|c| visible(*c)) {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vline(c),
                10,
                6,
                style::BLUE.stroke_width(2),
            )))?;
        }
        if let Some(b) = self.boundary.filter(|b| visible(*b)) {
            chart.draw_series(std::iter::once(PathElement::new(
                vline(b),
                style::BLACK.stroke_width(2),
            )))?;
        }
        if let Some(r) = self.recommended.filter(|r| visible(*r)) {
            chart.draw_series(std::iter::once(PathElement::new(
                vline(r),
                style::BLUISH_GREEN.stroke_width(3),
            )))?;
        }
        let z = z_for(self.confidence);
        for p in &self.probes {
            let u = scale.to(p.value);
            if !(u0..=u1).contains(&u) {
                continue;
            }
            let (lo, hi) = wilson_interval(p.successes, p.seeds, z);
            let frac = p.successes as f64 / p.seeds.max(1) as f64;
            let colour = if p.passed {
                style::BLUE
            } else {
                style::VERMILLION
            };
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(u, lo), (u, hi)],
                colour.mix(0.6).stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Circle::new((u, frac), 5, colour.filled())))?;
        }
        Ok(())
    }

    fn legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> ChartResult {
        let mut entries = vec![
            Entry {
                key: Key::LinePoint,
                colour: style::BLUE,
                label: "probe judged a pass (bar: Wilson interval of its seeds)".into(),
            },
            Entry {
                key: Key::LinePoint,
                colour: style::VERMILLION,
                label: "probe judged a fail".into(),
            },
        ];
        if let (Some(b), Some([lo, hi])) = (self.boundary, self.interval) {
            entries.push(Entry {
                key: Key::Line,
                colour: style::BLACK,
                label: format!(
                    "boundary {} (grey: the bracket {} .. {})",
                    self.unit.show(b),
                    self.unit.show(lo),
                    self.unit.show(hi)
                ),
            });
        }
        if let Some(r) = self.recommended {
            entries.push(Entry {
                key: Key::Line,
                colour: style::BLUISH_GREEN,
                label: format!("recommended {}", self.unit.show(r)),
            });
        }
        let mut notes = Vec::new();
        match self.closed_form {
            Some(c) => entries.push(Entry {
                key: Key::Line,
                colour: style::BLUE,
                label: format!("closed form {} (dashed)", self.unit.show(c)),
            }),
            None => notes.push("No closed form for this knob and goal.".to_string()),
        }
        notes.push(format!(
            "Intervals at confidence {}; seeds run per probe until its side was known.",
            self.confidence
        ));
        legend::draw(area, "replsim advise", &entries, &notes, 16)?;
        Ok(())
    }
}

/// Draws `<stem>.svg` / `<stem>.png` of the P(goal) chart into `dir`.
pub fn draw_line(dir: &Path, stem: &str, chart: &LineChart) -> Result<Vec<PathBuf>, ReportError> {
    render(chart, dir, stem)
}

/// One column of a two-knob trace.
#[derive(Clone, Debug)]
pub struct TraceColumn {
    /// A's value as `--set` writes it (also the axis label the closed form reads).
    pub a_set: String,
    /// A's value for people.
    pub a_show: String,
    /// B's bracket, low to high, when found.
    pub interval: Option<[f64; 2]>,
    /// `Some(true)`: the goal holds above the bracket in B.
    pub more_is_better: Option<bool>,
    /// When not found: whether the goal holds everywhere along B.
    pub everywhere: bool,
    /// Probes along B: value and side.
    pub probes: Vec<(f64, bool)>,
}

/// The two-knob chart.
#[derive(Clone, Debug)]
pub struct TraceChart {
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
    /// A's path.
    pub knob_a: String,
    /// B's path.
    pub knob_b: String,
    /// The columns, by A.
    pub columns: Vec<TraceColumn>,
    /// Rows of the background: B's value, as `--set` writes it, and for people.
    pub rows: Vec<(f64, String, String)>,
    /// The base model (with the `--set` overrides) as TOML, for the closed-form overlay.
    pub base_toml: Option<String>,
    /// Notes for the legend (runs, the grid's cost).
    pub notes: Vec<String>,
}

/// Draws `<stem>.svg` / `<stem>.png`: a phase diagram with one column per value of A and one
/// row per value of B in `rows`, each cell coloured by the side the column's probes put it on
/// (the goal is monotone in B), the closed-form boundary, the probes and the traced curve.
pub fn draw_trace(dir: &Path, stem: &str, t: &TraceChart) -> Result<Vec<PathBuf>, ReportError> {
    let mut rows = Vec::new();
    for c in &t.columns {
        for (_, b_set, _) in &t.rows {
            rows.push(Row(BTreeMap::from([
                (t.knob_a.clone(), c.a_set.clone()),
                (t.knob_b.clone(), b_set.clone()),
            ])));
        }
    }
    let mut x = Axis::from_rows(&t.knob_a, &rows);
    let mut y = Axis::from_rows(&t.knob_b, &rows);
    if x.numbers.is_none() || y.numbers.is_none() {
        return Err(ReportError::Draw {
            chart: stem.to_string(),
            reason: "the knobs' values do not read as numbers".into(),
        });
    }
    x.display = Some(
        x.labels
            .iter()
            .map(|l| {
                t.columns
                    .iter()
                    .find(|c| &c.a_set == l)
                    .map_or(l.clone(), |c| c.a_show.clone())
            })
            .collect(),
    );
    y.display = Some(
        y.labels
            .iter()
            .map(|l| {
                t.rows
                    .iter()
                    .find(|r| &r.1 == l)
                    .map_or(l.clone(), |r| r.2.clone())
            })
            .collect(),
    );
    // The axis reads a duration in seconds where the knob counts nanoseconds: B's values times
    // `k` are the axis's numbers.
    let k = t
        .rows
        .iter()
        .find(|r| r.0 != 0.0)
        .and_then(|r| parse_number(&r.1).map(|n| n / r.0))
        .unwrap_or(1.0);
    let mut cells = BTreeMap::new();
    let mut layers = Layers {
        curve_label: "advise: the traced boundary (middle of each column's bracket)".into(),
        notes: t.notes.clone(),
        ..Layers::default()
    };
    for c in &t.columns {
        let Some(i) = x.index_of(&c.a_set) else {
            continue;
        };
        for (b, b_set, _) in &t.rows {
            let Some(j) = y.index_of(b_set) else { continue };
            let holds = match (c.interval, c.more_is_better) {
                (Some([lo, hi]), Some(more)) => {
                    if *b >= hi {
                        Some(more)
                    } else if *b <= lo {
                        Some(!more)
                    } else {
                        None
                    }
                }
                _ => Some(c.everywhere),
            };
            let cell = CellStats {
                n: usize::from(holds.is_some()),
                passed: usize::from(holds == Some(true)),
                ..CellStats::default()
            };
            cells.insert((i, j), cell);
        }
        if let Some([lo, hi]) = c.interval {
            let m = if lo > 0.0 {
                (lo * hi).sqrt()
            } else {
                0.5 * (lo + hi)
            };
            if let Some(py) = y.position_of(m * k) {
                layers.curve.push((i as f64, py));
            }
        }
        for &(b, passed) in &c.probes {
            if let Some(py) = y.position_of(b * k) {
                layers.probes.push(((i as f64, py), passed));
            }
        }
    }
    let overlay = match &t.base_toml {
        Some(toml) => boundary::overlay(
            Some(&BaseModel {
                toml: toml.clone(),
                origin: "the model".into(),
            }),
            &x,
            &y,
        ),
        None => Overlay::Skipped("no base model".into()),
    };
    let data = PhaseData { x, y, cells };
    let chart = PhaseChart {
        data: &data,
        colouring: Colouring::Goal,
        title: t.title.clone(),
        subtitle: t.subtitle.clone(),
        overlay: &overlay,
        layers: Some(&layers),
    };
    render(&chart, dir, stem)
}
