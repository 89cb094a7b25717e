//! The chart of `replsim versions`: one bar per release, its length the peak replication output
//! memory, its colour the outcome, with the first COB disconnect and the reason written beside
//! it. Drawn from `versions.csv` alone.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;
use super::format;
use super::render::{Chart, ChartResult, render, text, titled};
use super::style;

/// One row of `versions.csv`, as the chart needs it.
#[derive(Clone, Debug)]
struct Bar {
    server: String,
    validated: bool,
    not_applicable: String,
    outcome: String,
    t_cob_s: String,
    peak_bytes: f64,
}

struct VersionsChart {
    bars: Vec<Bar>,
    title: String,
}

const ROW_PX: u32 = 34;
const LABEL_PX: i32 = 150;

impl Chart for VersionsChart {
    fn size(&self) -> (u32, u32) {
        (1000, 110 + ROW_PX * self.bars.len() as u32 + 30)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let area = titled(
            root,
            &self.title,
            "bar: peak replication output memory of the primary; colour: outcome; * = validated \
             on a real server, the others modelled from the code",
        )?;
        let (w, _) = area.dim_in_pixel();
        let max = self
            .bars
            .iter()
            .map(|b| b.peak_bytes)
            .fold(1.0_f64, f64::max);
        let bar_px = (w as i32 - LABEL_PX - 330).max(100) as f64;
        let left = Pos::new(HPos::Left, VPos::Center);
        let right = Pos::new(HPos::Right, VPos::Center);
        for (i, b) in self.bars.iter().enumerate() {
            let y = 10 + i as i32 * ROW_PX as i32;
            let mid = y + ROW_PX as i32 / 2 - 4;
            let star = if b.validated { " *" } else { "" };
            area.draw(&Text::new(
                format!("{}{star}", b.server),
                (LABEL_PX - 8, mid),
                text(14.0, style::BLACK).pos(right),
            ))?;
            if !b.not_applicable.is_empty() {
                let mut reason = format!("n/a: {}", b.not_applicable);
                if reason.chars().count() > 110 {
                    reason = reason.chars().take(107).collect::<String>() + "...";
                }
                area.draw(&Text::new(
                    reason,
                    (LABEL_PX, mid),
                    text(12.0, style::GREY).pos(left),
                ))?;
                continue;
            }
            let len = ((b.peak_bytes / max) * bar_px).round().max(2.0) as i32;
            area.draw(&Rectangle::new(
                [(LABEL_PX, y + 4), (LABEL_PX + len, y + ROW_PX as i32 - 12)],
                style::outcome_colour(&b.outcome).filled(),
            ))?;
            let cob = if b.t_cob_s.is_empty() {
                "no COB disconnect".to_string()
            } else {
                format!("COB disconnect at {} s", b.t_cob_s)
            };
            area.draw(&Text::new(
                format!("{}  {}  ({cob})", format::bytes(b.peak_bytes), b.outcome),
                (LABEL_PX + len + 8, mid),
                text(12.0, style::BLACK).pos(left),
            ))?;
        }
        Ok(())
    }
}

/// Draws `versions.svg` and `versions.png` from `<dir>/versions.csv`; returns the files.
pub fn draw(dir: &Path, title: &str) -> Result<Vec<PathBuf>, ReportError> {
    let path = dir.join("versions.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| ReportError::read(&path, e))?;
    let headers = reader
        .headers()
        .map_err(|e| ReportError::parse(&path, e))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(server), Some(validated), Some(na), Some(outcome), Some(t_cob), Some(peak)) = (
        col("server"),
        col("validated"),
        col("not_applicable"),
        col("outcome"),
        col("t_cob_overflow_s"),
        col("peak_output_memory_bytes"),
    ) else {
        return Err(ReportError::parse(&path, "missing columns"));
    };
    let mut bars = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| ReportError::parse(&path, e))?;
        let get = |i: usize| r.get(i).unwrap_or("").to_string();
        bars.push(Bar {
            server: get(server),
            validated: get(validated) == "true",
            not_applicable: get(na),
            outcome: get(outcome),
            t_cob_s: get(t_cob),
            peak_bytes: get(peak).parse().unwrap_or(0.0),
        });
    }
    render(
        &VersionsChart {
            bars,
            title: title.to_string(),
        },
        dir,
        "versions",
    )
}
