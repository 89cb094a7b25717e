//! The distribution of the time to the first COB disconnect (`t_cob_overflow_s`) across runs, as
//! empirical CDFs: the fraction of *all* runs of a group that had overflowed by time t, so a
//! curve that levels off below 1 shows how many runs never overflowed.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::legend::{self, Entry, Key};
use super::lines::smooth_runs;
use super::render::{Chart, ChartResult, text, titled};
use super::style;
use super::table::ResultTable;

/// Series colours, in order (Okabe–Ito).
const COLOURS: [RGBColor; 8] = [
    style::BLUE,
    style::ORANGE,
    style::BLUISH_GREEN,
    style::VERMILLION,
    style::SKY_BLUE,
    style::REDDISH_PURPLE,
    style::BLACK,
    style::YELLOW,
];

/// One curve: a group of runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Curve {
    /// Legend text.
    pub label: String,
    /// Sorted overflow times of the runs that overflowed.
    pub times: Vec<f64>,
    /// Runs in the group.
    pub runs: usize,
}

/// The CDF chart's data.
#[derive(Clone, Debug)]
pub(crate) struct CdfData {
    /// One curve per group.
    pub curves: Vec<Curve>,
    /// The time axis' end.
    pub x_end: f64,
}

impl CdfData {
    /// Groups runs by `by` when it has at most [`COLOURS`] values, else pools them; `Err` says
    /// why there is nothing to draw.
    pub fn build(table: &ResultTable, by: Option<&str>) -> Result<Self, String> {
        const COLUMN: &str = "t_cob_overflow_s";
        if !table.has(COLUMN) {
            return Err(format!("no CDF: the result table has no column `{COLUMN}`"));
        }
        let axis = by
            .filter(|b| table.has(b))
            .map(|b| Axis::from_rows(b, &table.rows))
            .filter(|a| a.len() > 1 && a.len() <= COLOURS.len());
        let groups = axis.as_ref().map_or(1, Axis::len);
        let mut curves: Vec<Curve> = (0..groups)
            .map(|g| Curve {
                label: axis.as_ref().map_or_else(
                    || "all runs".to_string(),
                    |a| format!("{} = {}", a.path, a.labels[g]),
                ),
                times: Vec::new(),
                runs: 0,
            })
            .collect();
        for row in &table.rows {
            let g = match &axis {
                Some(a) => match row.get(&a.path).and_then(|v| a.index_of(v)) {
                    Some(g) => g,
                    None => continue,
                },
                None => 0,
            };
            curves[g].runs += 1;
            curves[g].times.extend(row.f64(COLUMN));
        }
        for c in &mut curves {
            c.times.sort_by(f64::total_cmp);
        }
        let t_max = curves
            .iter()
            .flat_map(|c| c.times.last())
            .fold(0.0, |a: f64, b| a.max(*b));
        if curves.iter().all(|c| c.times.is_empty()) {
            return Err("no CDF: no run had a COB disconnect".into());
        }
        let horizon = table
            .rows
            .iter()
            .filter_map(|r| r.f64("sim_seconds"))
            .fold(0.0, f64::max);
        let x_end = if horizon > t_max {
            horizon
        } else {
            t_max * 1.05
        }
        .max(1e-3);
        Ok(CdfData { curves, x_end })
    }
}

/// The steps of a curve: `(t, fraction of runs overflowed by t)`.
fn steps(c: &Curve, x_end: f64) -> Vec<(f64, f64)> {
    let n = c.runs.max(1) as f64;
    let mut pts = vec![(0.0, 0.0)];
    for (k, &t) in c.times.iter().enumerate() {
        pts.push((t, k as f64 / n));
        pts.push((t, (k + 1) as f64 / n));
    }
    pts.push((x_end, c.times.len() as f64 / n));
    pts
}

/// The chart.
#[derive(Debug)]
pub(crate) struct CdfChart<'a> {
    /// The data.
    pub data: &'a CdfData,
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
}

impl Chart for CdfChart<'_> {
    fn size(&self) -> (u32, u32) {
        (1250, 680)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let body = titled(root, &self.title, &self.subtitle)?;
        let (w, _) = body.dim_in_pixel();
        let (plot, legend_area) = body.split_horizontally(w.saturating_sub(320));
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..self.data.x_end, 0.0..1.02)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(style::LIGHT_GREY)
            .x_labels(12)
            .y_labels(11)
            .x_label_formatter(&|v| super::format::tick(*v))
            .x_desc("seconds since REPLICAOF to the first COB disconnect")
            .y_desc("fraction of runs overflowed by then")
            .label_style(text(style::TICK_SIZE, style::BLACK))
            .axis_desc_style(text(style::LABEL_SIZE, style::BLACK))
            .draw()?;
        let mut entries = Vec::new();
        for (c, colour) in self.data.curves.iter().zip(COLOURS.iter().cycle()) {
            let pts = steps(c, self.data.x_end);
            for run in smooth_runs(&pts, |p| chart.backend_coord(p)) {
                chart.draw_series(LineSeries::new(run, colour.stroke_width(2)))?;
            }
            entries.push(Entry {
                key: Key::Line,
                colour: *colour,
                label: format!("{} ({} of {} runs)", c.label, c.times.len(), c.runs),
            });
        }
        let notes =
            ["A curve that levels off below 1: the other runs never overflowed.".to_string()];
        legend::draw(&legend_area, "Runs", &entries, &notes, 16)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_all_runs() {
        let c = Curve {
            label: "x".into(),
            times: vec![1.0, 2.0],
            runs: 4,
        };
        assert_eq!(
            steps(&c, 10.0),
            vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 0.25),
                (2.0, 0.25),
                (2.0, 0.5),
                (10.0, 0.5)
            ]
        );
    }
}
