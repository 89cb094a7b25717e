//! The phase diagram of a two-axis sweep: one cell per pair of axis values, coloured by the most
//! common outcome over the seeds, or by the fraction of seeds in which the COB overflowed before
//! the backlog ran out; the closed-form boundary on top where the axes map to it.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Axis;
use super::boundary::Overlay;
use super::format;
use super::legend::{self, Entry, Key};
use super::render::{Chart, ChartResult, text, titled};
use super::style;
use super::table::ResultTable;

/// The runs of one cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CellStats {
    /// Runs per outcome.
    pub counts: BTreeMap<String, usize>,
    /// Runs.
    pub n: usize,
    /// Runs with `cob_before_backlog = true`.
    pub cob_first: usize,
    /// Runs whose scripted test passed.
    pub passed: usize,
}

impl CellStats {
    /// The most common outcome and its count; ties go to the outcome listed first in
    /// [`style::OUTCOMES`] (then by name).
    pub fn dominant(&self) -> (&str, usize) {
        let rank = |o: &str| style::OUTCOMES.iter().position(|k| *k == o).unwrap_or(99);
        self.counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| rank(b.0).cmp(&rank(a.0))))
            .map_or(("", 0), |(o, c)| (o.as_str(), *c))
    }

    /// The fraction of runs in which the COB overflowed before the backlog ran out.
    pub fn p_cob_first(&self) -> f64 {
        self.fraction(self.cob_first)
    }

    /// The fraction of runs whose scripted test passed.
    pub fn p_passed(&self) -> f64 {
        self.fraction(self.passed)
    }

    fn fraction(&self, k: usize) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            k as f64 / self.n as f64
        }
    }
}

/// The cells of a two-axis sweep.
#[derive(Clone, Debug)]
pub(crate) struct PhaseData {
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Cells by `(x index, y index)`.
    pub cells: BTreeMap<(usize, usize), CellStats>,
}

impl PhaseData {
    /// Groups the table's rows by the two axes; `Err` says which column is missing.
    pub fn build(table: &ResultTable, x: &str, y: &str) -> Result<Self, String> {
        for column in [x, y, "outcome"] {
            if !table.has(column) {
                return Err(format!(
                    "no phase diagram: the result table has no column `{column}`"
                ));
            }
        }
        let (x, y) = (
            Axis::from_rows(x, &table.rows),
            Axis::from_rows(y, &table.rows),
        );
        let mut cells: BTreeMap<(usize, usize), CellStats> = BTreeMap::new();
        for row in &table.rows {
            let (Some(i), Some(j), Some(outcome)) = (
                row.get(&x.path).and_then(|v| x.index_of(v)),
                row.get(&y.path).and_then(|v| y.index_of(v)),
                row.get("outcome"),
            ) else {
                continue;
            };
            let cell = cells.entry((i, j)).or_default();
            *cell.counts.entry(outcome.to_string()).or_default() += 1;
            cell.n += 1;
            cell.cob_first += usize::from(row.bool("cob_before_backlog") == Some(true));
            cell.passed += usize::from(row.bool("passed") != Some(false));
        }
        if cells.is_empty() {
            return Err("no phase diagram: no row has values for both axes".into());
        }
        Ok(PhaseData { x, y, cells })
    }

    /// Outcomes that colour at least one cell, in legend order, with their cell counts.
    pub fn dominant_outcomes(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for c in self.cells.values() {
            *counts.entry(c.dominant().0.to_string()).or_default() += 1;
        }
        let rank = |o: &str| style::OUTCOMES.iter().position(|k| *k == o).unwrap_or(99);
        let mut out: Vec<(String, usize)> = counts.into_iter().collect();
        out.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// What colours the cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Colouring {
    /// The most common outcome.
    Outcome,
    /// The fraction of seeds with `cob_before_backlog`.
    CobFirst,
    /// The fraction of seeds whose scripted test passed.
    Passed,
    /// Whether `replsim advise`'s goal holds (1), fails (0) or is not known (no runs).
    Goal,
}

/// What `replsim advise` draws over a phase diagram, in cell coordinates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layers {
    /// The traced boundary, as a polyline.
    pub curve: Vec<(f64, f64)>,
    /// Legend text of the curve.
    pub curve_label: String,
    /// Probes: position and whether the goal held there.
    pub probes: Vec<((f64, f64), bool)>,
    /// Extra notes under the legend.
    pub notes: Vec<String>,
}

/// A phase diagram ready to draw.
#[derive(Debug)]
pub(crate) struct PhaseChart<'a> {
    /// The cells.
    pub data: &'a PhaseData,
    /// What colours them.
    pub colouring: Colouring,
    /// Title.
    pub title: String,
    /// Subtitle: the fixed parameters.
    pub subtitle: String,
    /// The closed-form boundary, or why it is not drawn.
    pub overlay: &'a Overlay,
    /// `replsim advise`'s curve and probes, if any.
    pub layers: Option<&'a Layers>,
}

const LEGEND_WIDTH: u32 = 320;

impl Chart for PhaseChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1250, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let body = titled(root, &self.title, &self.subtitle)?;
        let (w, _) = body.dim_in_pixel();
        let (plot, legend_area) = body.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        let (nx, ny) = (self.data.x.len() as f64, self.data.y.len() as f64);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(64)
            .y_label_area_size(110)
            .build_cartesian_2d(-0.5..nx - 0.5, -0.5..ny - 0.5)?;
        let (x, y) = (&self.data.x, &self.data.y);
        let x_fmt = |v: &f64| x.tick_label(*v);
        let y_fmt = |v: &f64| y.tick_label(*v);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(x.len().min(16))
            .y_labels(y.len().min(16))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(x.path.as_str())
            .y_desc(y.path.as_str())
            .label_style(text(style::TICK_SIZE, style::BLACK))
            .axis_desc_style(text(style::LABEL_SIZE, style::BLACK))
            .draw()?;
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let show_text = f64::from(pw) / nx >= 40.0 && f64::from(ph) / ny >= 20.0;
        for (&(i, j), cell) in &self.data.cells {
            let (fill, label) = self.cell_look(cell);
            let (cx, cy) = (i as f64, j as f64);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(cx - 0.5, cy - 0.5), (cx + 0.5, cy + 0.5)],
                fill.filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(cx - 0.5, cy - 0.5), (cx + 0.5, cy + 0.5)],
                WHITE.stroke_width(1),
            )))?;
            if show_text && !label.is_empty() {
                let centre = Pos::new(HPos::Center, VPos::Center);
                let style = text(style::TICK_SIZE, style::text_colour_on(fill)).pos(centre);
                chart.draw_series(std::iter::once(Text::new(label, (cx, cy), style)))?;
            }
        }
        if let Overlay::Curve { segments, .. } = self.overlay {
            for &(a, b) in segments {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![a, b],
                    WHITE.stroke_width(6),
                )))?;
            }
            for &(a, b) in segments {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![a, b],
                    style::BLACK.stroke_width(3),
                )))?;
            }
        }
        if let Some(layers) = self.layers {
            if layers.curve.len() >= 2 {
                chart.draw_series(std::iter::once(PathElement::new(
                    layers.curve.clone(),
                    WHITE.stroke_width(7),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    layers.curve.clone(),
                    style::BLUISH_GREEN.stroke_width(4),
                )))?;
            }
            for &(p, passed) in &layers.probes {
                let colour = if passed {
                    style::BLUE
                } else {
                    style::VERMILLION
                };
                chart.draw_series(std::iter::once(Circle::new(p, 4, WHITE.filled())))?;
                chart.draw_series(std::iter::once(Circle::new(p, 3, colour.filled())))?;
            }
        }
        self.draw_legend(&legend_area)
    }
}

impl PhaseChart<'_> {
    /// The fill of a cell and the text in it.
    fn cell_look(&self, cell: &CellStats) -> (RGBColor, String) {
        match self.colouring {
            Colouring::Outcome => {
                let (outcome, count) = cell.dominant();
                let label = if count < cell.n {
                    format!("{count}/{}", cell.n)
                } else {
                    String::new()
                };
                (style::outcome_colour(outcome), label)
            }
            Colouring::CobFirst => {
                let p = cell.p_cob_first();
                (style::probability_colour(p), format::sig3(p))
            }
            Colouring::Passed => {
                let p = cell.p_passed();
                (style::probability_colour(p), format::sig3(p))
            }
            Colouring::Goal => {
                let p = cell.p_passed();
                let fill = if p.is_nan() {
                    style::LIGHT_GREY
                } else if p >= 0.5 {
                    RGBColor(205, 228, 244)
                } else {
                    RGBColor(250, 215, 190)
                };
                (fill, String::new())
            }
        }
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> ChartResult {
        let mut notes = Vec::new();
        let mut entries = Vec::new();
        let heading = match self.colouring {
            Colouring::Outcome => {
                entries.extend(
                    self.data
                        .dominant_outcomes()
                        .into_iter()
                        .map(|(o, n)| Entry {
                            key: Key::Swatch,
                            colour: style::outcome_colour(&o),
                            label: format!("{o} ({n} cells)"),
                        }),
                );
                notes.push(
                    "A cell shows the most common outcome over its seeds; \"k/n\" marks cells \
                     where only k of n seeds agree."
                        .to_string(),
                );
                "Outcome (most common over seeds)"
            }
            Colouring::CobFirst => {
                "Fraction of seeds where the COB overflowed before the backlog ran out"
            }
            Colouring::Passed => "Fraction of seeds where the scripted test passed",
            Colouring::Goal => {
                entries.push(Entry {
                    key: Key::Swatch,
                    colour: RGBColor(205, 228, 244),
                    label: "the goal holds (every seed, by the probes of the column)".into(),
                });
                entries.push(Entry {
                    key: Key::Swatch,
                    colour: RGBColor(250, 215, 190),
                    label: "the goal fails".into(),
                });
                entries.push(Entry {
                    key: Key::Swatch,
                    colour: style::LIGHT_GREY,
                    label: "inside the final bracket (not known)".into(),
                });
                "advise: where the goal holds"
            }
        };
        if let Some(layers) = self.layers {
            entries.push(Entry {
                key: Key::Line,
                colour: style::BLUISH_GREEN,
                label: layers.curve_label.clone(),
            });
            entries.push(Entry {
                key: Key::LinePoint,
                colour: style::BLUE,
                label: "probe: the goal held".into(),
            });
            entries.push(Entry {
                key: Key::LinePoint,
                colour: style::VERMILLION,
                label: "probe: the goal failed".into(),
            });
            notes.extend(layers.notes.iter().cloned());
        }
        match self.overlay {
            Overlay::Curve { label, .. } => entries.push(Entry {
                key: Key::Line,
                colour: style::BLACK,
                label: label.clone(),
            }),
            Overlay::Skipped(why) => notes.push(format!("No closed-form overlay: {why}")),
        }
        let mut y = legend::draw(area, heading, &entries, &[], 16)?;
        if !matches!(self.colouring, Colouring::Outcome | Colouring::Goal) {
            y = draw_colour_bar(area, y)?;
        }
        legend::draw(area, "", &[], &notes, y + 6)?;
        Ok(())
    }
}

/// A vertical colour bar for probabilities 0 … 1 at `top`; returns the y below it.
fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
) -> ChartResult<i32> {
    const HEIGHT: i32 = 200;
    const STEPS: i32 = 50;
    for k in 0..STEPS {
        let p = 1.0 - f64::from(k) / f64::from(STEPS - 1);
        let y0 = top + k * HEIGHT / STEPS;
        let y1 = top + (k + 1) * HEIGHT / STEPS;
        area.draw(&Rectangle::new(
            [(4, y0), (30, y1)],
            style::probability_colour(p).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [(4, top), (30, top + HEIGHT)],
        RGBColor(120, 120, 120).stroke_width(1),
    ))?;
    for (p, label) in [
        (1.0, "1"),
        (0.75, "0.75"),
        (0.5, "0.5"),
        (0.25, "0.25"),
        (0.0, "0"),
    ] {
        let y = top + ((1.0 - p) * f64::from(HEIGHT)) as i32;
        area.draw(&PathElement::new(
            vec![(30, y), (36, y)],
            style::BLACK.stroke_width(1),
        ))?;
        let style = text(style::TICK_SIZE, style::BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label, (40, y), style))?;
    }
    Ok(top + HEIGHT + 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_breaks_ties_by_outcome_order() {
        let cell = CellStats {
            counts: BTreeMap::from([
                ("full_resync_loop".to_string(), 2),
                ("clean_sync".to_string(), 2),
                ("timeout".to_string(), 1),
            ]),
            n: 5,
            cob_first: 2,
            passed: 4,
        };
        assert_eq!(cell.dominant(), ("clean_sync", 2));
        assert!((cell.p_cob_first() - 0.4).abs() < 1e-12);
        assert!((cell.p_passed() - 0.8).abs() < 1e-12);
    }
}
