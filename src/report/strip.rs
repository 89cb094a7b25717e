//! Where the event labels above the run timeline go: a pure layout, tested on its own.
//!
//! Each marker has a vertical leader from its label down to the plots. A label sits in a row
//! (row 0 at the top), starting at its marker (or ending there when it would run past the right
//! edge), and no label overlaps another label or crosses another marker's leader.
//!
//! A run that repeats the same events cycle after cycle (a full-resync loop makes dozens) cannot
//! label every cycle in words: when the labels do not all fit in [`FULL_ROWS`] rows, a marker is
//! labelled only if it shows an event of a kind not seen before (cycle numbers aside), the
//! others are left as ticks, and each repeated kind gets a count ("×33 full sync (fork)") next
//! to the strip. A label that still finds no room is left as a tick too and counted as
//! unlabelled; labels are never drawn over each other.

use plotters::style::RGBColor;

use super::markers::{Marker, severity};

/// When every label fits in this many rows, every marker is labelled.
pub(crate) const FULL_ROWS: usize = 4;
/// Rows available to first-of-a-kind labels when repeats are summarised.
pub(crate) const MAX_ROWS: usize = 6;
/// Clearance between a label and its neighbours or a leader, in pixels.
const GAP_PX: f64 = 4.0;
/// Markers closer than this many pixels share one marker (and one label): a label could not
/// clear the leader just before it.
pub(crate) const MERGE_PX: f64 = GAP_PX + 2.0;

/// A label's place: its row (0 at the top) and its horizontal extent in plot pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Placed {
    /// Row, 0 at the top.
    pub row: usize,
    /// Left edge of the text box.
    pub left: f64,
    /// Right edge of the text box.
    pub right: f64,
    /// The text ends at its marker (it would have run past the right edge) instead of starting
    /// there.
    pub ends_at_marker: bool,
}

/// Kinds of event that occur more than once, the same number of times.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Repeat {
    /// The kinds, without cycle numbers ("COB hard limit, backlog out, full sync (fork)").
    pub label: String,
    /// The colour of the most severe.
    pub colour: RGBColor,
    /// How many times each occurs.
    pub count: usize,
}

/// The layout of the label strip.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StripLayout {
    /// Per marker: where its label goes, or `None` for a tick without a label.
    pub placed: Vec<Option<Placed>>,
    /// Number of label rows.
    pub rows: usize,
    /// Repeated kinds whose later markers are ticks (empty when every marker is labelled).
    pub repeats: Vec<Repeat>,
    /// First-of-a-kind markers left without a label for lack of room.
    pub unlabelled: usize,
}

/// A label with its cycle numbers removed ("full sync #12 (fork)" → "full sync (fork)"): markers
/// with the same key are the same kind of event.
pub(crate) fn kind_key(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut chars = label.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            if out.ends_with(' ') && chars.peek() == Some(&' ') {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// Lays out the labels of `markers`, given each marker's x in plot pixels (ascending), a way to
/// measure a label's width in pixels, and the plot's width in pixels.
pub(crate) fn layout(
    markers: &[Marker],
    xs: &[f64],
    width: impl Fn(&str) -> f64,
    plot_px: f64,
) -> StripLayout {
    let widths: Vec<f64> = markers.iter().map(|m| width(&m.label)).collect();
    let all: Vec<bool> = vec![true; markers.len()];
    let (placed, rows) = place(xs, &widths, &all, plot_px, FULL_ROWS);
    if placed.iter().all(Option::is_some) {
        return StripLayout {
            placed,
            rows,
            repeats: Vec::new(),
            unlabelled: 0,
        };
    }
    // Each kind of event: its key, colour and count, in order of first appearance.
    let mut kinds: Vec<(String, RGBColor, usize)> = Vec::new();
    let mut first = Vec::with_capacity(markers.len());
    for m in markers {
        let mut new = false;
        for (label, colour) in &m.parts {
            let key = kind_key(label);
            match kinds.iter_mut().find(|(k, _, _)| *k == key) {
                Some(kind) => kind.2 += 1,
                None => {
                    kinds.push((key, *colour, 1));
                    new = true;
                }
            }
        }
        first.push(new);
    }
    let mut repeats: Vec<Repeat> = Vec::new();
    for (key, colour, count) in kinds.into_iter().filter(|k| k.2 > 1) {
        match repeats.iter_mut().find(|r| r.count == count) {
            Some(r) => {
                r.label = format!("{}, {key}", r.label);
                if severity(colour) > severity(r.colour) {
                    r.colour = colour;
                }
            }
            None => repeats.push(Repeat {
                label: key,
                colour,
                count,
            }),
        }
    }
    let (placed, rows) = place(xs, &widths, &first, plot_px, MAX_ROWS);
    let unlabelled = first
        .iter()
        .zip(&placed)
        .filter(|(f, p)| **f && p.is_none())
        .count();
    StripLayout {
        placed,
        rows,
        repeats,
        unlabelled,
    }
}

/// Places the labels marked `wanted` (x and width in pixels, x ascending) in at most `max_rows`
/// rows; returns each label's place (`None`: not wanted or no room) and the number of rows used.
///
/// A label starts at its marker, or ends there when it would run past `plot_px`; it takes the
/// topmost row where its box is clear of the labels and leaders already there and its own leader
/// (down through every row below) crosses no label; a new row is opened at the bottom when no
/// row is free.
pub(crate) fn place(
    xs: &[f64],
    widths: &[f64],
    wanted: &[bool],
    plot_px: f64,
    max_rows: usize,
) -> (Vec<Option<Placed>>, usize) {
    let mut placed: Vec<(f64, Placed)> = Vec::new();
    let mut out = Vec::with_capacity(xs.len());
    let mut rows = 0;
    for ((&x, &w), &want) in xs.iter().zip(widths).zip(wanted) {
        if !want {
            out.push(None);
            continue;
        }
        let ends_at_marker = x + w > plot_px && x - w >= 0.0;
        let (left, right) = if ends_at_marker {
            (x - w, x)
        } else {
            (x, x + w)
        };
        let fits = |row: usize| {
            placed.iter().all(|&(px, p)| {
                if p.row == row {
                    right + GAP_PX <= p.left || p.right + GAP_PX <= left
                } else if p.row < row {
                    // Its leader runs down through this row.
                    px + GAP_PX <= left || right + GAP_PX <= px
                } else {
                    // Our leader runs down through its row.
                    x + GAP_PX <= p.left || p.right + GAP_PX <= x
                }
            })
        };
        let row = (0..rows)
            .find(|&r| fits(r))
            .or_else(|| (rows < max_rows && fits(rows)).then_some(rows));
        match row {
            Some(row) => {
                rows = rows.max(row + 1);
                let p = Placed {
                    row,
                    left,
                    right,
                    ends_at_marker,
                };
                placed.push((x, p));
                out.push(Some(p));
            }
            None => out.push(None),
        }
    }
    (out, rows)
}

/// Every overlap in a layout: pairs of labels whose boxes meet in a row, and labels crossed by
/// another marker's leader. Empty for every layout [`place`] makes.
#[cfg(test)]
pub(crate) fn overlaps(xs: &[f64], placed: &[Option<Placed>]) -> Vec<(usize, usize)> {
    let mut bad = Vec::new();
    for (i, a) in placed.iter().enumerate() {
        let Some(a) = a else { continue };
        for (j, b) in placed.iter().enumerate() {
            let Some(b) = b else { continue };
            if i == j {
                continue;
            }
            let boxes_meet = a.row == b.row && i < j && a.left < b.right && b.left < a.right;
            // j's leader goes from j's row down to the plots; does it cross a's box?
            let leader_crosses = b.row < a.row && a.left < xs[j] && xs[j] < a.right;
            if boxes_meet || leader_crosses {
                bad.push((i, j));
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markers::label_width_px;
    use crate::report::style;

    fn marker(t_s: f64, label: &str) -> Marker {
        Marker {
            t_s,
            label: label.to_string(),
            colour: style::VERMILLION,
            parts: label
                .split(", ")
                .map(|p| (p.to_string(), style::VERMILLION))
                .collect(),
        }
    }

    /// The default model's loop: a fork, then 33 cycles of the same merged label, 1 000 px wide.
    fn loop_markers(cycles: usize, period_px: f64) -> (Vec<Marker>, Vec<f64>) {
        let mut markers = vec![marker(0.0, "fork")];
        let mut xs = vec![0.0];
        for k in 1..cycles {
            markers.push(marker(
                k as f64,
                &format!("COB hard limit, backlog out, full sync #{} (fork)", k + 1),
            ));
            xs.push(12.0 + k as f64 * period_px);
        }
        (markers, xs)
    }

    #[test]
    fn cycle_numbers_are_not_part_of_the_kind() {
        assert_eq!(
            kind_key("COB hard limit, backlog out, full sync #12 (fork)"),
            "COB hard limit, backlog out, full sync (fork)"
        );
        assert_eq!(
            kind_key("PSYNC refused, full sync #2"),
            "PSYNC refused, full sync"
        );
        assert_eq!(kind_key("mark #a"), "mark #a");
    }

    #[test]
    fn few_markers_are_all_labelled_in_words() {
        let markers = vec![
            marker(0.0, "fork, $ENDOFF, PSYNC ok"),
            marker(1.0, "RDB sent"),
            marker(2.0, "backlog out"),
            marker(3.0, "buffer full"),
            marker(4.0, "loaded"),
        ];
        let xs = [0.0, 122.0, 131.0, 183.0, 233.0];
        let l = layout(&markers, &xs, label_width_px, 1000.0);
        assert!(l.placed.iter().all(Option::is_some), "{l:?}");
        assert!(l.repeats.is_empty());
        // The dual worked example's labels stack in a staircase of five rows.
        assert!(l.rows <= MAX_ROWS);
        assert_eq!(overlaps(&xs, &l.placed), vec![]);
    }

    #[test]
    fn thirty_four_cycles_label_the_first_and_count_the_rest_without_overlaps() {
        let (markers, xs) = loop_markers(34, 29.0);
        let l = layout(&markers, &xs, label_width_px, 1000.0);
        assert_eq!(overlaps(&xs, &l.placed), vec![]);
        assert!(l.placed[0].is_some() && l.placed[1].is_some(), "{l:?}");
        assert!(l.placed[2..].iter().all(Option::is_none));
        assert_eq!(
            l.repeats,
            vec![Repeat {
                label: "COB hard limit, backlog out, full sync (fork)".into(),
                colour: style::VERMILLION,
                count: 33,
            }]
        );
        assert_eq!(l.unlabelled, 0);
        assert!(l.rows <= MAX_ROWS);
    }

    #[test]
    fn no_layout_overlaps_at_any_number_of_cycles_or_width() {
        for cycles in [1, 2, 3, 5, 8, 13, 34, 200, 2000] {
            for plot_px in [300.0, 985.0, 3000.0] {
                let (markers, xs) = loop_markers(cycles, (plot_px - 12.0) / cycles as f64);
                let l = layout(&markers, &xs, label_width_px, plot_px);
                assert_eq!(overlaps(&xs, &l.placed), vec![], "{cycles} at {plot_px}");
                assert!(l.rows <= MAX_ROWS);
                for p in l.placed.iter().flatten() {
                    assert!(p.left >= 0.0, "{p:?}");
                }
                // A marker without a label is counted, or shows only repeated kinds.
                let unplaced: Vec<&Marker> = markers
                    .iter()
                    .zip(&l.placed)
                    .filter(|(_, p)| p.is_none())
                    .map(|(m, _)| m)
                    .collect();
                let repeated = |m: &Marker| {
                    m.parts.iter().all(|(p, _)| {
                        let key = kind_key(p);
                        l.repeats
                            .iter()
                            .any(|r| r.label.split(", ").any(|k| k == key))
                    })
                };
                let silent = unplaced.iter().filter(|m| !repeated(m)).count();
                assert!(silent <= l.unlabelled, "{cycles}: {l:?}");
            }
        }
    }

    #[test]
    fn a_label_at_the_right_edge_ends_at_its_marker() {
        let (placed, rows) = place(&[990.0], &[100.0], &[true], 1000.0, 4);
        assert_eq!(rows, 1);
        assert_eq!(
            placed,
            vec![Some(Placed {
                row: 0,
                left: 890.0,
                right: 990.0,
                ends_at_marker: true,
            })]
        );
    }

    #[test]
    fn a_leader_never_crosses_a_label_below_it() {
        // Each later label starts inside the boxes before it, so each needs a row of its own
        // below them (where the earlier leaders pass left of it).
        let xs = [0.0, 50.0, 60.0];
        let (placed, rows) = place(&xs, &[200.0, 30.0, 30.0], &[true; 3], 1000.0, 6);
        assert_eq!(overlaps(&xs, &placed), vec![]);
        assert_eq!(rows, 3);
        // With one row only, the later labels find no room and stay ticks.
        let (placed, rows) = place(&xs, &[200.0, 30.0, 30.0], &[true; 3], 1000.0, 1);
        assert_eq!(rows, 1);
        assert_eq!(placed[1], None);
        assert_eq!(placed[2], None);
    }

    #[test]
    fn overlaps_finds_crossings() {
        let a = Some(Placed {
            row: 1,
            left: 0.0,
            right: 100.0,
            ends_at_marker: false,
        });
        let b = Some(Placed {
            row: 0,
            left: 50.0,
            right: 80.0,
            ends_at_marker: false,
        });
        assert_eq!(overlaps(&[0.0, 50.0], &[a, b]), vec![(0, 1)]);
        let c = Some(Placed {
            row: 1,
            left: 90.0,
            right: 120.0,
            ends_at_marker: false,
        });
        assert_eq!(overlaps(&[0.0, 90.0], &[a, c]), vec![(0, 1)]);
    }
}
