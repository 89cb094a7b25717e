//! One panel of a stacked time chart: lines, filled areas and horizontal limits over a shared
//! time axis, a legend in a column to the right, and the event markers as dashed verticals.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::format::{self, ByteUnit};
use super::lines::smooth_runs;
use super::markers::Marker;
use super::render::{ChartResult, text, wrap};
use super::series::{Series, split_gaps};
use super::style;

/// Left margin of every panel, in pixels.
pub(crate) const MARGIN_LEFT: u32 = 10;
/// Width of the y tick labels and description.
pub(crate) const Y_LABEL_AREA: u32 = 100;
/// Right margin between the plot and the legend column.
pub(crate) const MARGIN_RIGHT: u32 = 25;
/// Width of the legend column.
pub(crate) const LEGEND_WIDTH: u32 = 290;

/// How a panel maps values to its y axis.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scale {
    /// Bytes on a linear axis in one binary unit.
    Bytes(ByteUnit),
    /// Bytes on a log₂ axis (labels at powers of two), floored at `floor` bytes.
    LogBytes {
        /// Values below are drawn at this level.
        floor: f64,
    },
    /// Bytes per second on a linear axis in one binary unit.
    Rate(ByteUnit),
}

impl Scale {
    fn y(self, v: f64) -> f64 {
        match self {
            Scale::Bytes(u) | Scale::Rate(u) => v / u.divisor,
            Scale::LogBytes { floor } => v.max(floor).log2(),
        }
    }

    fn tick(self, y: f64) -> String {
        match self {
            Scale::Bytes(_) | Scale::Rate(_) => format::tick(y),
            Scale::LogBytes { .. } => format::bytes(y.exp2()),
        }
    }

    fn description(self, name: &str) -> String {
        match self {
            Scale::Bytes(u) => format!("{name} ({})", u.name),
            Scale::Rate(u) => format!("{name} ({}/s)", u.name),
            Scale::LogBytes { .. } => format!("{name} (log scale)"),
        }
    }
}

/// A drawn series.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub colour: RGBColor,
    /// The points (bytes or bytes per second).
    pub points: Series,
    /// Filled down to the axis instead of a line.
    pub filled: bool,
}

/// A horizontal limit line.
#[derive(Clone, Debug)]
pub(crate) struct Limit {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub colour: RGBColor,
    /// The level (bytes or bytes per second).
    pub value: f64,
    /// Dashed (soft or informative) instead of solid.
    pub dashed: bool,
}

/// One panel.
#[derive(Clone, Debug)]
pub(crate) struct Panel {
    /// Caption above the plot.
    pub caption: String,
    /// What the y axis measures ("COB", "read rate"); the unit is added.
    pub y_name: &'static str,
    /// Y scale.
    pub scale: Scale,
    /// Series.
    pub traces: Vec<Trace>,
    /// Horizontal lines.
    pub limits: Vec<Limit>,
    /// A line under the legend (e.g. why something is missing).
    pub note: Option<String>,
    /// Points further apart than this (seconds) are not joined.
    pub gap_s: f64,
}

impl Panel {
    /// The y range in axis units, with headroom above the largest value or limit.
    fn y_range(&self) -> (f64, f64) {
        let top = self
            .traces
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.1))
            .chain(self.limits.iter().map(|l| l.value))
            .fold(0.0, f64::max);
        match self.scale {
            Scale::LogBytes { floor } => {
                let lo = floor.log2().floor();
                let hi = (top.max(floor).log2() + 0.5).ceil().max(lo + 6.0);
                (lo, hi)
            }
            s => (0.0, (s.y(top) * 1.08).max(1.0)),
        }
    }

    /// Draws the panel on `area`; `x_desc` labels the time axis (bottom panel only).
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_end: f64,
        markers: &[Marker],
        x_desc: Option<&str>,
    ) -> ChartResult {
        let (w, _) = area.dim_in_pixel();
        let (plot_area, legend_area) = area.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        let (y_lo, y_hi) = self.y_range();
        let mut chart = ChartBuilder::on(&plot_area)
            .margin_left(MARGIN_LEFT)
            .margin_right(MARGIN_RIGHT)
            .margin_top(4)
            .caption(&self.caption, text(style::LABEL_SIZE + 1.0, style::BLACK))
            .x_label_area_size(if x_desc.is_some() { 48 } else { 26 })
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..x_end, y_lo..y_hi)?;
        let scale = self.scale;
        let y_fmt = move |y: &f64| scale.tick(*y);
        let x_fmt = |x: &f64| format::tick(*x);
        let mut mesh = chart.configure_mesh();
        mesh.max_light_lines(0)
            .bold_line_style(style::LIGHT_GREY)
            .x_labels(14)
            .y_labels(match scale {
                Scale::LogBytes { .. } => 12,
                _ => 6,
            })
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_desc(scale.description(self.y_name))
            .label_style(text(style::TICK_SIZE, style::BLACK))
            .axis_desc_style(text(style::LABEL_SIZE, style::BLACK));
        if let Some(desc) = x_desc {
            mesh.x_desc(desc);
        }
        mesh.draw()?;
        for m in markers {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(m.t_s, y_lo), (m.t_s, y_hi)],
                5,
                4,
                m.colour.mix(0.5).stroke_width(1),
            )))?;
        }
        for t in self.traces.iter().filter(|t| t.filled) {
            let pts: Vec<(f64, f64)> = t.points.iter().map(|&(x, v)| (x, scale.y(v))).collect();
            chart.draw_series(
                AreaSeries::new(pts, y_lo, t.colour.mix(0.3))
                    .border_style(t.colour.stroke_width(1)),
            )?;
        }
        for l in &self.limits {
            let pts = vec![(0.0, scale.y(l.value)), (x_end, scale.y(l.value))];
            let style = l.colour.stroke_width(2);
            if l.dashed {
                chart.draw_series(std::iter::once(DashedPathElement::new(pts, 10, 6, style)))?;
            } else {
                chart.draw_series(std::iter::once(PathElement::new(pts, style)))?;
            }
        }
        for t in self.traces.iter().filter(|t| !t.filled) {
            for part in split_gaps(&t.points, self.gap_s) {
                let pts: Vec<(f64, f64)> = part.iter().map(|&(x, v)| (x, scale.y(v))).collect();
                for run in smooth_runs(&pts, |p| chart.backend_coord(p)) {
                    chart.draw_series(LineSeries::new(run, t.colour.stroke_width(2)))?;
                }
            }
        }
        self.draw_legend(&legend_area)
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> ChartResult {
        let mut y = 34;
        let label_style = text(style::TICK_SIZE, style::BLACK);
        let entries = self
            .traces
            .iter()
            .map(|t| (t.label.as_str(), t.colour, t.filled, false))
            .chain(
                self.limits
                    .iter()
                    .map(|l| (l.label.as_str(), l.colour, false, l.dashed)),
            );
        for (label, colour, filled, dashed) in entries {
            let sy = y + 8;
            if filled {
                area.draw(&Rectangle::new(
                    [(0, sy - 6), (24, sy + 6)],
                    colour.mix(0.3).filled(),
                ))?;
            } else if dashed {
                area.draw(&DashedPathElement::new(
                    vec![(0, sy), (26, sy)],
                    6,
                    4,
                    colour.stroke_width(2),
                ))?;
            } else {
                area.draw(&PathElement::new(
                    vec![(0, sy), (26, sy)],
                    colour.stroke_width(2),
                ))?;
            }
            for line in wrap(label, 34) {
                area.draw(&Text::new(line, (32, y), label_style.clone()))?;
                y += 17;
            }
            y += 5;
        }
        if let Some(note) = &self.note {
            for line in wrap(note, 38) {
                area.draw(&Text::new(
                    line,
                    (0, y),
                    text(style::TICK_SIZE, RGBColor(90, 90, 90)),
                ))?;
                y += 17;
            }
        }
        Ok(())
    }
}
