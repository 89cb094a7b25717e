//! A legend drawn in its own column beside a chart, so that it never hides data.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::{ChartResult, text, wrap};
use super::style;

/// How an entry's key looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Key {
    /// A filled square.
    Swatch,
    /// A solid line.
    Line,
    /// A line with a dot (a series with points).
    LinePoint,
}

/// One legend entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The key's look.
    pub key: Key,
    /// The key's colour.
    pub colour: RGBColor,
    /// The text.
    pub label: String,
}

/// Draws a heading, the entries and grey notes from the top of `area`; returns the y below them.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    entries: &[Entry],
    notes: &[String],
    top: i32,
) -> ChartResult<i32> {
    let (w, _) = area.dim_in_pixel();
    let chars = (w as usize).saturating_sub(40) / 8;
    let mut y = top;
    for line in wrap(heading, chars + 4) {
        area.draw(&Text::new(
            line,
            (0, y),
            text(style::LABEL_SIZE, style::BLACK),
        ))?;
        y += 19;
    }
    y += 6;
    for e in entries {
        draw_key(area, e, y + 8)?;
        for line in wrap(&e.label, chars) {
            area.draw(&Text::new(
                line,
                (32, y),
                text(style::TICK_SIZE, style::BLACK),
            ))?;
            y += 17;
        }
        y += 6;
    }
    y += 6;
    for note in notes {
        for line in wrap(note, chars + 4) {
            area.draw(&Text::new(
                line,
                (0, y),
                text(style::TICK_SIZE, RGBColor(90, 90, 90)),
            ))?;
            y += 17;
        }
        y += 6;
    }
    Ok(y)
}

fn draw_key<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, e: &Entry, cy: i32) -> ChartResult {
    match e.key {
        Key::Swatch => {
            area.draw(&Rectangle::new(
                [(2, cy - 8), (22, cy + 8)],
                e.colour.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(2, cy - 8), (22, cy + 8)],
                RGBColor(120, 120, 120).stroke_width(1),
            ))?;
        }
        Key::Line | Key::LinePoint => {
            area.draw(&PathElement::new(
                vec![(0, cy), (26, cy)],
                e.colour.stroke_width(3),
            ))?;
            if e.key == Key::LinePoint {
                area.draw(&Circle::new((13, cy), 4, e.colour.filled()))?;
            }
        }
    }
    Ok(())
}
