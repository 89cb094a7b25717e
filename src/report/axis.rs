//! A sweep axis as a chart sees it: its distinct values in order, as cells at integer positions
//! 0, 1, 2, …, and, when every value is a number (plain, a byte size, a rate or a duration), the
//! numbers behind them so that positions between cells can be read as values.

use std::str::FromStr;

use super::table::Row;
use crate::engine::SimDuration;
use crate::units::{ByteSize, Rate};
use crate::valkey::CobLimit;

/// One axis of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The model path (`workloads.writer.ops-per-sec`), also the result table's column.
    pub path: String,
    /// The distinct values as written, in order (numeric when all are numbers, else text).
    pub labels: Vec<String>,
    /// The values as numbers, when all of them are.
    pub numbers: Option<Vec<f64>>,
    /// Values more than linearly spaced (a log range): positions interpolate geometrically.
    geometric: bool,
    /// Tick labels to show instead of `labels` (same length), when the values as written are
    /// not for people (`1390215168b`).
    pub display: Option<Vec<String>>,
}

/// A value as a number: plain (`10000`, `1e6`), then a byte size (`10mb`), a rate (`1gbit`,
/// bytes per second), a duration (`250ms`, seconds), or a `client-output-buffer-limit` value
/// (`"128mb 32mb 60"`: its hard limit, in bytes).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let s = s.trim_matches('"');
    ByteSize::from_str(s)
        .map(|b| b.bytes() as f64)
        .or_else(|_| Rate::from_str(s).map(|r| r.bytes_per_sec() as f64))
        .ok()
        .or_else(|| SimDuration::from_str(s).ok().map(|d| d.as_secs_f64()))
        .or_else(|| CobLimit::from_str(s).ok().map(|l| l.hard.bytes() as f64))
}

impl Axis {
    /// The axis `path` over the rows that have a value for it.
    pub fn from_rows(path: &str, rows: &[Row]) -> Self {
        let mut labels: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get(path))
            .map(str::to_string)
            .collect();
        labels.sort();
        labels.dedup();
        let numbers: Option<Vec<f64>> = labels.iter().map(|l| parse_number(l)).collect();
        let (labels, numbers) = match numbers {
            Some(nums) => {
                let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(labels).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                let (n, l): (Vec<f64>, Vec<String>) = pairs.into_iter().unzip();
                (l, Some(n))
            }
            None => (labels, None),
        };
        let geometric = numbers.as_deref().is_some_and(is_geometric);
        Axis {
            path: path.to_string(),
            labels,
            numbers,
            geometric,
            display: None,
        }
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The position of a value.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label.trim())
    }

    /// The label at an integer position near `pos`, for tick labels ("" between cells).
    pub fn tick_label(&self, pos: f64) -> String {
        let i = pos.round();
        if (pos - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        let shown = self.display.as_ref().unwrap_or(&self.labels);
        shown.get(i as usize).cloned().unwrap_or_default()
    }

    /// The position (cell coordinate) of a value, inverting [`Axis::neighbours`]; clamped to
    /// half a cell beyond the ends. `None` for a non-numeric axis.
    pub fn position_of(&self, value: f64) -> Option<f64> {
        let v = self.numbers.as_ref()?;
        if v.len() < 2 {
            return (!v.is_empty()).then_some(0.0);
        }
        let i = v
            .windows(2)
            .position(|w| value < w[1])
            .unwrap_or(v.len() - 2);
        let (a, b) = (v[i], v[i + 1]);
        let f = if self.geometric && a > 0.0 && b > a && value > 0.0 {
            (value / a).ln() / (b / a).ln()
        } else if b > a {
            (value - a) / (b - a)
        } else {
            0.0
        };
        Some((i as f64 + f).clamp(-0.5, v.len() as f64 - 0.5))
    }

    /// For a position between cells (or up to half a cell beyond the ends), the two neighbouring
    /// cells and the weight of the second in value space: the value there is
    /// `v[i] + w · (v[j] − v[i])`. `None` for a non-numeric axis.
    pub fn neighbours(&self, pos: f64) -> Option<(usize, usize, f64)> {
        let v = self.numbers.as_ref()?;
        if v.len() < 2 {
            return (!v.is_empty()).then_some((0, 0, 0.0));
        }
        let i = (pos.floor().max(0.0) as usize).min(v.len() - 2);
        let f = pos - i as f64;
        let (a, b) = (v[i], v[i + 1]);
        let w = if self.geometric && a > 0.0 && b > a {
            let r = b / a;
            (r.powf(f) - 1.0) / (r - 1.0)
        } else {
            f
        };
        Some((i, i + 1, w))
    }
}

/// Positive values whose gaps grow (ratio spacing rather than equal differences).
fn is_geometric(v: &[f64]) -> bool {
    if v.len() < 3 || v.iter().any(|x| *x <= 0.0) {
        return false;
    }
    let diffs: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    let (lo, hi) = diffs.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), d| {
        (lo.min(*d), hi.max(*d))
    });
    hi > lo * 1.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rows(path: &str, values: &[&str]) -> Vec<Row> {
        values
            .iter()
            .map(|v| Row(BTreeMap::from([(path.to_string(), v.to_string())])))
            .collect()
    }

    #[test]
    fn numeric_values_sort_by_number_and_units_parse() {
        let a = Axis::from_rows("k", &rows("k", &["10mb", "1mb", "100kb", "1mb"]));
        assert_eq!(a.labels, vec!["100kb", "1mb", "10mb"]);
        assert_eq!(parse_number("1gbit"), Some(125_000_000.0));
        assert_eq!(parse_number("250ms"), Some(0.25));
        assert_eq!(parse_number("yes"), None);
        assert_eq!(parse_number("128mb 32mb 60"), Some(134_217_728.0));
        let t = Axis::from_rows("k", &rows("k", &["yes", "no"]));
        assert_eq!((t.labels.len(), t.numbers.is_none()), (2, true));
    }

    #[test]
    fn neighbours_interpolate_linearly_or_geometrically() {
        let lin = Axis::from_rows("x", &rows("x", &["1", "2", "3"]));
        assert_eq!(lin.neighbours(1.5), Some((1, 2, 0.5)));
        assert_eq!(lin.neighbours(-0.5), Some((0, 1, -0.5)));
        let geo = Axis::from_rows("x", &rows("x", &["1", "10", "100"]));
        let (i, j, w) = geo.neighbours(0.5).unwrap();
        let v = 1.0 + w * 9.0;
        assert_eq!((i, j), (0, 1));
        assert!((v - 10f64.sqrt()).abs() < 1e-9);
        assert_eq!(lin.tick_label(2.0), "3");
        assert!((geo.position_of(10f64.sqrt()).unwrap() - 0.5).abs() < 1e-9);
        assert!((lin.position_of(2.5).unwrap() - 1.5).abs() < 1e-9);
        assert_eq!(lin.tick_label(1.5), "");
    }
}
