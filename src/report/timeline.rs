//! The run timeline: stacked panels over one time axis.
//!
//! 1. the primary's COB per replica client (`replica_omem`, `rdb_channel_omem`) against the hard
//!    and soft limits as Valkey enforces them (clamped up to `repl-backlog-size`);
//! 2. the PSYNC window (`repl_backlog_histlen`) against how far the replica is behind the
//!    primary (`master_repl_offset + 1 − resume_offset`), on a log scale: where the line leaves
//!    the shaded window, a PSYNC would be refused;
//! 3. the replica's local buffer (`replicas_repl_buffer_size`) against its cap (dual channel);
//! 4. what the replica reads per channel (rates of `rdb_bytes_read`, `stream_bytes_read`);
//!
//! with the journal's key events as labelled dashed verticals.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format::{self, ByteUnit};
use super::markers::{self, Marker};
use super::panel::{self, Limit, Panel, Scale, Trace};
use super::render::{Chart, ChartResult, text, titled, wrap};
use super::run_data::RunData;
use super::series;
use super::strip::{self, StripLayout};
use super::style;

/// Width of the timeline image.
const WIDTH: u32 = 1400;
/// Height of one panel.
const PANEL_HEIGHT: u32 = 260;
/// Height of one row of event labels.
const ROW_HEIGHT: u32 = 19;
/// Space above the first row of event labels.
const STRIP_TOP: u32 = 4;
/// Height of the band of ticks (one per marker) under the event labels.
const BAND_HEIGHT: u32 = 14;
/// Height of one line of the repeated-events summary.
const SUMMARY_LINE: u32 = 17;
/// Characters per line of the repeated-events summary.
const SUMMARY_WRAP: usize = 36;
/// Space for the title and two lines of subtitle.
const TITLE_HEIGHT: u32 = 92;

/// The run timeline of one run directory.
#[derive(Debug)]
pub(crate) struct Timeline {
    title: String,
    subtitle: String,
    x_end: f64,
    panels: Vec<Panel>,
    markers: Vec<Marker>,
    strip: StripLayout,
}

impl Timeline {
    /// Lays out the timeline of a run.
    pub fn new(run: &RunData) -> Self {
        let x_end = run
            .primary
            .iter()
            .chain(&run.replica)
            .map(|s| s.t_s)
            .fold(0.0, f64::max)
            .max(1e-3);
        let gap_s = sample_gap(run);
        let panels = [
            cob_panel(run),
            backlog_panel(run),
            buffer_panel(run),
            rate_panel(run),
        ]
        .into_iter()
        .flatten()
        .map(|p| Panel { gap_s, ..p })
        .collect();
        let plot_px = f64::from(
            WIDTH
                - panel::LEGEND_WIDTH
                - panel::MARGIN_LEFT
                - panel::Y_LABEL_AREA
                - panel::MARGIN_RIGHT,
        );
        let markers = markers::markers(&run.events, strip::MERGE_PX / plot_px * x_end);
        let xs: Vec<f64> = markers.iter().map(|m| m.t_s / x_end * plot_px).collect();
        let strip = strip::layout(&markers, &xs, label_width, plot_px);
        Timeline {
            title: title(run),
            subtitle: subtitle(run),
            x_end,
            panels,
            markers,
            strip,
        }
    }

    /// The lines of the repeated-events summary: text, the colour of a tick before it (first
    /// line of an entry), and whether it is an entry (indented, black) or a note (grey).
    fn summary(&self) -> Vec<(String, Option<RGBColor>, bool)> {
        let mut lines = Vec::new();
        if !self.strip.repeats.is_empty() {
            let head = "repeats (first labelled, then ticks):";
            lines.extend(
                wrap(head, SUMMARY_WRAP + 4)
                    .into_iter()
                    .map(|l| (l, None, false)),
            );
        }
        for r in &self.strip.repeats {
            let entry = format!("×{} {}", r.count, r.label);
            for (k, line) in wrap(&entry, SUMMARY_WRAP).into_iter().enumerate() {
                lines.push((line, (k == 0).then_some(r.colour), true));
            }
        }
        if self.strip.unlabelled > 0 {
            let note = format!(
                "{} more marker(s) left unlabelled for lack of room (journal.json lists every event)",
                self.strip.unlabelled
            );
            lines.extend(
                wrap(&note, SUMMARY_WRAP + 4)
                    .into_iter()
                    .map(|l| (l, None, false)),
            );
        }
        lines
    }

    fn strip_height(&self) -> u32 {
        let labels = self.strip.rows.max(1) as u32 * ROW_HEIGHT;
        let summary = self.summary().len() as u32 * SUMMARY_LINE;
        STRIP_TOP + labels.max(summary) + BAND_HEIGHT
    }

    fn draw_strip<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> ChartResult {
        let (w, h) = area.dim_in_pixel();
        let (left, right) = area.split_horizontally(w.saturating_sub(panel::LEGEND_WIDTH));
        let h = f64::from(h);
        let mut chart = ChartBuilder::on(&left)
            .margin_left(panel::MARGIN_LEFT)
            .margin_right(panel::MARGIN_RIGHT)
            .y_label_area_size(panel::Y_LABEL_AREA)
            .build_cartesian_2d(0.0..self.x_end, 0.0..h)?;
        let band = f64::from(BAND_HEIGHT);
        for (m, placed) in self.markers.iter().zip(&self.strip.placed) {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(m.t_s, 2.0), (m.t_s, band - 2.0)],
                m.colour.stroke_width(2),
            )))?;
            let Some(p) = placed else { continue };
            let y = h - f64::from(STRIP_TOP) - (p.row as f64 + 0.5) * f64::from(ROW_HEIGHT);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(m.t_s, y + 0.4 * f64::from(ROW_HEIGHT)), (m.t_s, band)],
                m.colour.mix(0.6).stroke_width(1),
            )))?;
            let (label, hpos) = if p.ends_at_marker {
                (format!("{} ", m.label), HPos::Right)
            } else {
                (format!(" {}", m.label), HPos::Left)
            };
            let style = text(style::TICK_SIZE, m.colour).pos(Pos::new(hpos, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(label, (m.t_s, y), style)))?;
        }
        let mut y = STRIP_TOP as i32 + 2;
        for (line, tick, entry) in self.summary() {
            if let Some(c) = tick {
                right.draw(&PathElement::new(
                    vec![(4, y + 2), (4, y + 13)],
                    c.stroke_width(2),
                ))?;
            }
            let (indent, colour) = if entry {
                (12, style::BLACK)
            } else {
                (0, RGBColor(90, 90, 90))
            };
            right.draw(&Text::new(
                line,
                (indent, y),
                text(style::TICK_SIZE, colour),
            ))?;
            y += SUMMARY_LINE as i32;
        }
        Ok(())
    }
}

/// A label's width in pixels as the embedded font sets it (with the space before it and some
/// room after), or an estimate when the font cannot measure.
fn label_width(label: &str) -> f64 {
    let font = text(style::TICK_SIZE, style::BLACK).font;
    style::ensure_font()
        .ok()
        .and_then(|()| font.box_size(&format!(" {label}")).ok())
        .map_or_else(
            || markers::label_width_px(label),
            |(w, _)| f64::from(w) + 6.0,
        )
}

impl Chart for Timeline {
    fn size(&self) -> (u32, u32) {
        let panels = self.panels.len().max(1) as u32;
        (
            WIDTH,
            TITLE_HEIGHT + self.strip_height() + panels * PANEL_HEIGHT + 24,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult {
        let body = titled(root, &self.title, &self.subtitle)?;
        let (strip, mut rest) = body.split_vertically(self.strip_height());
        self.draw_strip(&strip)?;
        let last = self.panels.len().saturating_sub(1);
        for (i, p) in self.panels.iter().enumerate() {
            let height = if i == last {
                PANEL_HEIGHT + 24
            } else {
                PANEL_HEIGHT
            };
            let (area, below) = rest.split_vertically(height);
            let desc = (i == last).then_some("seconds since REPLICAOF");
            p.draw(&area, self.x_end, &self.markers, desc)?;
            rest = below;
        }
        Ok(())
    }
}

/// The INFO sampling interval, times 2.5: points further apart belong to different stretches.
fn sample_gap(run: &RunData) -> f64 {
    let dt = run
        .primary
        .windows(2)
        .map(|w| w[1].t_s - w[0].t_s)
        .find(|d| *d > 0.0)
        .unwrap_or(1.0);
    dt * 2.5
}

fn title(run: &RunData) -> String {
    match run.seed {
        Some(seed) => format!("{} — seed {seed} — run timeline", run.name),
        None => format!("{} — run timeline", run.name),
    }
}

fn subtitle(run: &RunData) -> String {
    let outcome = format!(
        "outcome {} (first limit {})",
        run.summary_str("outcome"),
        run.summary_str("first_limit")
    );
    let Some(m) = &run.model else {
        return format!(
            "{outcome} · model parameters unavailable: {}",
            run.model_note
                .as_deref()
                .unwrap_or("no model.resolved.toml")
        );
    };
    let p = &m.params;
    let mode = if m.dual { "dual-channel" } else { "classic" };
    format!(
        "{mode} full sync · {outcome} · client-output-buffer-limit replica {} · repl-backlog-size {} · \
         link payload {} · writes {} · RDB {} · replica {}",
        m.cob_text,
        format::bytes(p.backlog_bytes),
        format::rate(p.link_bps),
        format::rate(p.write_rate_bps),
        format::bytes(p.rdb_bytes),
        run.replica_name,
    )
}

fn cob_panel(run: &RunData) -> Option<Panel> {
    let omem = series::column(&run.primary, |s| s.replica_omem);
    let rdb = series::column(&run.primary, |s| s.rdb_channel_omem);
    let mut traces = vec![Trace {
        label: "omem of the replica (classic) or main-channel client".into(),
        colour: style::BLUE,
        points: omem,
        filled: false,
    }];
    if series::max(&rdb) > 0.0 || run.model.as_ref().is_some_and(|m| m.dual) {
        traces.push(Trace {
            label: "omem of the dual-channel RDB client".into(),
            colour: style::ORANGE,
            points: rdb,
            filled: false,
        });
    }
    let mut limits = Vec::new();
    if let Some(m) = &run.model {
        if let Some(h) = m.hard_limit() {
            limits.push(Limit {
                label: format!("hard limit {} (as enforced: ≥ backlog)", format::bytes(h)),
                colour: style::VERMILLION,
                value: h,
                dashed: false,
            });
        }
        if let Some(s) = m.soft_limit() {
            limits.push(Limit {
                label: format!(
                    "soft limit {} for {} s",
                    format::bytes(s),
                    m.params.cob_soft_secs
                ),
                colour: style::REDDISH_PURPLE,
                value: s,
                dashed: true,
            });
        }
    }
    let top = traces
        .iter()
        .map(|t| series::max(&t.points))
        .chain(limits.iter().map(|l| l.value))
        .fold(0.0, f64::max);
    Some(Panel {
        caption: "Primary: client output buffer (COB) per replica client".into(),
        y_name: "COB",
        scale: Scale::Bytes(ByteUnit::for_max(top)),
        traces,
        limits,
        note: run.model_note.clone(),
        gap_s: 0.0,
    })
}

fn backlog_panel(run: &RunData) -> Option<Panel> {
    let window = series::psync_window(&run.primary);
    let behind = series::replica_behind(&run.primary, &run.replica);
    let mut limits = Vec::new();
    if let Some(m) = &run.model {
        limits.push(Limit {
            label: format!(
                "repl-backlog-size {}",
                format::bytes(m.params.backlog_bytes)
            ),
            colour: style::GREY,
            value: m.params.backlog_bytes,
            dashed: true,
        });
    }
    let floor = window
        .iter()
        .chain(&behind)
        .map(|p| p.1)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = if floor.is_finite() {
        (floor / 2.0).max(1024.0)
    } else {
        1024.0
    };
    Some(Panel {
        caption: "Backlog: PSYNC window vs how far the replica is behind".into(),
        y_name: "bytes behind",
        scale: Scale::LogBytes { floor },
        traces: vec![
            Trace {
                label: "PSYNC window (repl_backlog_histlen)".into(),
                colour: style::SKY_BLUE,
                points: window,
                filled: true,
            },
            Trace {
                label: "replica behind: master_repl_offset + 1 − resume_offset (above the window: PSYNC refused)".into(),
                colour: style::BLACK,
                points: behind,
                filled: false,
            },
        ],
        limits,
        note: None,
        gap_s: 0.0,
    })
}

fn buffer_panel(run: &RunData) -> Option<Panel> {
    let buffer = series::column(&run.replica, |s| s.replicas_repl_buffer_size);
    let dual = run.model.as_ref().is_some_and(|m| m.dual);
    if !dual && series::max(&buffer) == 0.0 {
        return None;
    }
    let cap = run.model.as_ref().and_then(|m| m.replica_cap());
    let limits = cap
        .map(|c| Limit {
            label: format!("cap: the replica's own hard limit {}", format::bytes(c)),
            colour: style::VERMILLION,
            value: c,
            dashed: false,
        })
        .into_iter()
        .collect();
    let top = series::max(&buffer).max(cap.unwrap_or(0.0));
    Some(Panel {
        caption: "Replica: local replication buffer (dual channel)".into(),
        y_name: "local buffer",
        scale: Scale::Bytes(ByteUnit::for_max(top)),
        traces: vec![Trace {
            label: "replicas_repl_buffer_size".into(),
            colour: style::BLUISH_GREEN,
            points: buffer,
            filled: false,
        }],
        limits,
        note: None,
        gap_s: 0.0,
    })
}

fn rate_panel(run: &RunData) -> Option<Panel> {
    let rdb = series::rate(&run.replica, |s| s.rdb_bytes_read);
    let stream = series::rate(&run.replica, |s| s.stream_bytes_read);
    let link = run.model.as_ref().map(|m| m.params.link_bps);
    let limits = link
        .map(|b| Limit {
            label: format!("link payload rate {}", format::rate(b)),
            colour: style::GREY,
            value: b,
            dashed: true,
        })
        .into_iter()
        .collect();
    let top = series::max(&rdb)
        .max(series::max(&stream))
        .max(link.unwrap_or(0.0));
    Some(Panel {
        caption: "Replica: bytes read per channel".into(),
        y_name: "read rate",
        scale: Scale::Rate(ByteUnit::for_max(top)),
        traces: vec![
            Trace {
                label: "RDB (rate of rdb_bytes_read)".into(),
                colour: style::BLUE,
                points: rdb,
                filled: false,
            },
            Trace {
                label: "replication stream (rate of stream_bytes_read)".into(),
                colour: style::ORANGE,
                points: stream,
                filled: false,
            },
        ],
        limits,
        note: None,
        gap_s: 0.0,
    })
}
