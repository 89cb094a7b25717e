//! Outcome probabilities along one sweep axis, each with a 95 % Wilson score interval over the
//! seeds (and over the values of any other axis, which are pooled).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::legend::{self, Entry, Key};
use super::lines::smooth_runs;
use super::render::{Chart, ChartResult, text, titled};
use super::style;
use super::table::ResultTable;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval for `successes` out of `trials` at the normal quantile `z` (1.96
/// for 95 %): `(low, high)`, within [0, 1]. It stays sensible at 0 and n successes and for small
/// n, where the normal approximation does not. With no trials it is `(0, 1)`.
///
/// ```
/// use replsim::report::wilson_interval;
/// let (lo, hi) = wilson_interval(0, 10, 1.96);
/// assert_eq!(lo, 0.0);
/// assert!((hi - 0.2775).abs() < 1e-3);
/// let (lo, hi) = wilson_interval(5, 10, 1.96);
/// assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3);
/// assert_eq!(wilson_interval(0, 0, 1.96), (0.0, 1.0));
/// ```
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One estimated probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Estimate {
    /// Position on the axis.
    pub at: usize,
    /// Successes / trials.
    pub p: f64,
    /// Wilson 95 % interval.
    pub low: f64,
    /// Wilson 95 % interval.
    pub high: f64,
}

/// One series: a label, a colour, estimates.
#[derive(Clone, Debug)]
pub(crate) struct ProbSeries {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub colour: RGBColor,
    /// One estimate per axis value.
    pub points: Vec<Estimate>,
}

/// The probability chart's data.
#[derive(Clone, Debug)]
pub(crate) struct ProbabilityData {
    /// The axis.
    pub axis: Axis,
    /// Runs per axis value.
    pub trials: Vec<u64>,
    /// One series per outcome that occurs, then `cob_before_backlog`.
    pub series: Vec<ProbSeries>,
}

impl ProbabilityData {
    /// Counts outcomes per value of `axis`; `Err` says which column is missing.
    pub fn build(table: &ResultTable, axis: &str) -> Result<Self, String> {
        for column in [axis, "outcome"] {
            if !table.has(column) {
                return Err(format!(
                    "no probability chart: the result table has no column `{column}`"
                ));
            }
        }
        let axis = Axis::from_rows(axis, &table.rows);
        let n = axis.len();
        let mut trials = vec![0u64; n];
        let mut outcome_counts: Vec<(String, Vec<u64>)> = style::OUTCOMES
            .iter()
            .map(|o| (o.to_string(), vec![0; n]))
            .collect();
        let mut cob_first = vec![0u64; n];
        let mut passed = vec![0u64; n];
        for row in &table.rows {
            let (Some(i), Some(outcome)) = (
                row.get(&axis.path).and_then(|v| axis.index_of(v)),
                row.get("outcome"),
            ) else {
                continue;
            };
            trials[i] += 1;
            cob_first[i] += u64::from(row.bool("cob_before_backlog") == Some(true));
            passed[i] += u64::from(row.bool("passed") != Some(false));
            match outcome_counts.iter_mut().find(|(o, _)| o == outcome) {
                Some((_, c)) => c[i] += 1,
                None => {
                    let mut c = vec![0; n];
                    c[i] = 1;
                    outcome_counts.push((outcome.to_string(), c));
                }
            }
        }
        let mut series: Vec<ProbSeries> = outcome_counts
            .into_iter()
            .filter(|(_, c)| c.iter().any(|&k| k > 0))
            .map(|(o, c)| ProbSeries {
                label: format!("P({o})"),
                colour: style::outcome_colour(&o),
                points: estimates(&c, &trials),
            })
            .collect();
        if table.has("cob_before_backlog") {
            series.push(ProbSeries {
                label: "P(cob_before_backlog): COB overflowed before the backlog ran out".into(),
                colour: style::BLACK,
                points: estimates(&cob_first, &trials),
            });
        }
        if super::sweep::has_script(table) {
            series.push(ProbSeries {
                label: "P(passed): the scripted test passed".into(),
                colour: style::PASSED,
                points: estimates(&passed, &trials),
            });
        }
        Ok(ProbabilityData {
            axis,
            trials,
            series,
        })
    }
}

fn estimates(successes: &[u64], trials: &[u64]) -> Vec<Estimate> {
    successes
        .iter()
        .zip(trials)
        .enumerate()
        .filter(|(_, (_, n))| **n > 0)
        .map(|(at, (&k, &n))| {
            let (low, high) = wilson_interval(k, n, Z95);
            Estimate {
                at,
                p: k as f64 / n as f64,
                low,
                high,
            }
        })
        .collect()
}

/// The chart.
#[derive(Debug)]
pub(crate) struct ProbabilityChart<'a> {
    /// The data.
    pub data: &'a ProbabilityData,
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
}

impl Chart for ProbabilityChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1250, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let body = titled(root, &self.title, &self.subtitle)?;
        let (w, _) = body.dim_in_pixel();
        let (plot, legend_area) = body.split_horizontally(w.saturating_sub(320));
        let axis = &self.data.axis;
        let n = axis.len() as f64;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(64)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..n - 0.5, -0.02..1.02)?;
        let x_fmt = |v: &f64| axis.tick_label(*v);
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(style::LIGHT_GREY)
            .x_labels(axis.len().min(16))
            .y_labels(11)
            .x_label_formatter(&x_fmt)
            .x_desc(axis.path.as_str())
            .y_desc("probability over seeds (95 % Wilson interval)")
            .label_style(text(style::TICK_SIZE, style::BLACK))
            .axis_desc_style(text(style::LABEL_SIZE, style::BLACK))
            .draw()?;
        let count = self.data.series.len().max(1) as f64;
        for (k, s) in self.data.series.iter().enumerate() {
            // Spread the series a little so their intervals do not hide each other.
            let dx = (k as f64 - (count - 1.0) / 2.0) * (0.3 / count).min(0.06);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|e| (e.at as f64 + dx, e.p)).collect();
            for run in smooth_runs(&pts, |p| chart.backend_coord(p)) {
                chart.draw_series(LineSeries::new(run, s.colour.stroke_width(2)))?;
            }
            for e in &s.points {
                let x = e.at as f64 + dx;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, e.low), (x, e.high)],
                    s.colour.stroke_width(1),
                )))?;
                for y in [e.low, e.high] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x - 0.02, y), (x + 0.02, y)],
                        s.colour.stroke_width(1),
                    )))?;
                }
                chart.draw_series(std::iter::once(Circle::new((x, e.p), 4, s.colour.filled())))?;
            }
        }
        let entries: Vec<Entry> = self
            .data
            .series
            .iter()
            .map(|s| Entry {
                key: Key::LinePoint,
                colour: s.colour,
                label: s.label.clone(),
            })
            .collect();
        let trials: Vec<String> = self.data.trials.iter().map(u64::to_string).collect();
        let notes = [format!(
            "Runs per value: {}. Bars: 95 % Wilson score intervals.",
            trials.join(", ")
        )];
        legend::draw(&legend_area, "Outcome", &entries, &notes, 16)?;
        Ok(())
    }
}
