//! `pattern = "trace"` loads: reading the recorded rate from a CSV file into a
//! [`TraceSeries`] (the `valkey` layer only ever sees the series).
//!
//! Accepted as exports come: an optional header row (any row whose time does not parse is taken
//! as the header when it is the first), quoted fields, `#` comments, a time column (the first)
//! in unix seconds or milliseconds (numbers of 10^11 and more are milliseconds), seconds from
//! any origin (`0, 60, 120`), or RFC 3339 / `YYYY-MM-DD HH:MM:SS` (UTC unless an offset is
//! given); times become nanoseconds from the first row, in integers. The value column (by
//! `column`: a header name or a 1-based number; the second column by default) holds bytes/s,
//! ops/s, or a cumulative replication offset (whose slope between two rows is the rate).
//!
//! Refused, naming the file, the line and the reason: a row that does not parse (a missing,
//! empty, `NaN` or non-numeric field), a time not after the row before (unsorted or duplicate),
//! a negative rate, an offset that decreases (a restart or failover resets it), a gap between
//! rows above `max-gap` (default five times the median spacing), and fewer than two rows.

use std::path::{Path, PathBuf};

use super::{ModelFile, ScenarioError};
use crate::valkey::{Interpolation, PatternKind, TraceQuantity, TraceSeries, WorkloadSpec};

/// Reads the CSV of every trace load of `model` (whose file is `file`) that does not carry its
/// series yet (a resolved model or a bundle does: it replays without the CSV).
pub(crate) fn load_traces(model: &mut ModelFile, file: &str) -> Result<(), ScenarioError> {
    for (i, w) in model.workloads.iter_mut().enumerate() {
        if w.pattern != PatternKind::Trace || w.series.is_some() {
            continue;
        }
        let key = format!("workloads.{}", w.name);
        let semantic = |k: &str, reason: String| ScenarioError::Semantic {
            file: file.to_string(),
            key: format!("{key}.{k}"),
            reason,
        };
        let Some(csv) = w.file.clone() else {
            return Err(semantic(
                "file",
                format!(
                    "pattern \"trace\" needs file, a CSV of the recorded rate relative to the \
                     model file (workload {i})"
                ),
            ));
        };
        let Some(quantity) = w.quantity else {
            return Err(semantic(
                "quantity",
                "pattern \"trace\" needs quantity: \"bytes-per-sec\", \"ops-per-sec\" or \
                 \"offset\" (a cumulative replication offset such as master_repl_offset)"
                    .into(),
            ));
        };
        if quantity == TraceQuantity::Offset && w.interpolation == Some(Interpolation::Linear) {
            return Err(semantic(
                "interpolation",
                "\"linear\" does not apply to an offset column: the rate between two samples is \
                 their slope, constant between them (use \"step\", the default)"
                    .into(),
            ));
        }
        let path = relative_to(file, &csv);
        let shown = path.display().to_string();
        let text = std::fs::read(&path).map_err(|e| ScenarioError::Unreadable {
            file: shown.clone(),
            reason: format!("{e} (file of workload {} in {file})", w.name),
        })?;
        w.series = Some(parse_trace(&text, &shown, w, quantity)?);
    }
    Ok(())
}

/// `csv` relative to the directory of the model file `file`.
fn relative_to(file: &str, csv: &str) -> PathBuf {
    let csv = Path::new(csv);
    if csv.is_absolute() {
        return csv.to_path_buf();
    }
    match Path::new(file).parent() {
        Some(dir) => dir.join(csv),
        None => csv.to_path_buf(),
    }
}

/// A time as read: unix or relative seconds (in ns, times the unit decided from the first row),
/// or an absolute date (ns since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stamp {
    /// A number of seconds with up to nine decimals, in ns.
    Number(i128),
    /// A date, in ns since the epoch.
    Date(i128),
}

/// Parses the CSV `text` (named `file` in errors) for workload `w`.
pub(crate) fn parse_trace(
    text: &[u8],
    file: &str,
    w: &WorkloadSpec,
    quantity: TraceQuantity,
) -> Result<TraceSeries, ScenarioError> {
    let at = |line: u64, reason: String| ScenarioError::Semantic {
        file: file.to_string(),
        key: format!("line {line}"),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text);
    let mut header: Option<Vec<String>> = None;
    let mut column: Option<usize> = None;
    // (line, time, value)
    let mut rows: Vec<(u64, Stamp, f64)> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line_before = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(line_before, |p| p.line());
                return Err(at(line, format!("not CSV: {e}")));
            }
        }
        let line = record.position().map_or(line_before, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let time_text = record.get(0).unwrap_or("");
        let stamp = parse_stamp(time_text);
        if stamp.is_none() && rows.is_empty() && header.is_none() {
            header = Some(record.iter().map(str::to_string).collect());
            continue;
        }
        let Some(stamp) = stamp else {
            return Err(at(
                line,
                format!(
                    "time {time_text:?} does not parse (unix seconds or milliseconds, seconds \
                     from the first row, or an RFC 3339 date such as 2024-05-01T00:00:00Z)"
                ),
            ));
        };
        let col = match column {
            Some(c) => c,
            None => {
                let c = pick_column(w, header.as_deref(), record.len())
                    .map_err(|reason| at(line, reason))?;
                column = Some(c);
                c
            }
        };
        let Some(value_text) = record.get(col) else {
            return Err(at(
                line,
                format!(
                    "has {} fields, no column {} (the value column)",
                    record.len(),
                    col + 1
                ),
            ));
        };
        let value = value_text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                at(
                    line,
                    format!("value {value_text:?} in column {} is not a number", col + 1),
                )
            })?;
        if value < 0.0 {
            let what = if quantity == TraceQuantity::Offset {
                "offset"
            } else {
                "rate"
            };
            return Err(at(
                line,
                format!("negative {what} {value} (a rate is >= 0)"),
            ));
        }
        if let (Some(&(_, Stamp::Number(_), _)), Stamp::Date(_))
        | (Some(&(_, Stamp::Date(_), _)), Stamp::Number(_)) = (rows.last(), stamp)
        {
            return Err(at(
                line,
                format!("time {time_text:?} mixes dates and numbers with the rows before"),
            ));
        }
        rows.push((line, stamp, value));
    }
    if rows.len() < 2 {
        return Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "rows".into(),
            reason: format!(
                "{} data row(s); a trace needs at least two (a time column and a value column)",
                rows.len()
            ),
        });
    }
    // Numbers of 10^11 and more are unix milliseconds (10^11 s is the year 5138).
    let ms = matches!(rows[0].1, Stamp::Number(n) if n >= 100_000_000_000 * NS);
    let ns_of = |s: Stamp| match s {
        Stamp::Number(n) if ms => n / 1_000,
        Stamp::Number(n) | Stamp::Date(n) => n,
    };
    let t0 = ns_of(rows[0].1);
    let mut times: Vec<u64> = Vec::with_capacity(rows.len());
    for (k, &(line, stamp, _)) in rows.iter().enumerate() {
        let t = ns_of(stamp) - t0;
        if k > 0 {
            let (prev_line, prev) = (rows[k - 1].0, i128::from(times[k - 1]));
            if t == prev {
                return Err(at(
                    line,
                    format!("duplicate time: the same as line {prev_line}'s"),
                ));
            }
            if t < prev {
                return Err(at(
                    line,
                    format!(
                        "unsorted: its time is before line {prev_line}'s (sort the file by time)"
                    ),
                ));
            }
        }
        let t = u64::try_from(t).map_err(|_| at(line, "time out of range".into()))?;
        times.push(t);
    }
    let mut spacings: Vec<u64> = times.windows(2).map(|p| p[1] - p[0]).collect();
    let max_gap = match w.max_gap {
        Some(g) => g.as_nanos(),
        None => {
            // The lower median: with two spacings, the smaller (one long gap is still a gap).
            spacings.sort_unstable();
            spacings[(spacings.len() - 1) / 2].saturating_mul(5)
        }
    };
    for (pair, row) in times.windows(2).zip(rows.windows(2)) {
        let gap = pair[1] - pair[0];
        if gap > max_gap {
            return Err(at(
                row[1].0,
                format!(
                    "a gap of {} after line {} (max-gap = {}{}); fill the gap, cut the file, or \
                     raise the workload's max-gap",
                    crate::engine::SimDuration::from_nanos(gap),
                    row[0].0,
                    crate::engine::SimDuration::from_nanos(max_gap),
                    if w.max_gap.is_none() {
                        ", five times the median spacing"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    let n = rows.len();
    let series = if quantity == TraceQuantity::Offset {
        let mut points = Vec::with_capacity(n - 1);
        for (pair, row) in times.windows(2).zip(rows.windows(2)) {
            let (o0, o1) = (row[0].2, row[1].2);
            if o1 < o0 {
                return Err(at(
                    row[1].0,
                    format!(
                        "the offset decreases from {o0} to {o1} (a restart or failover resets \
                         it; cut the file there)"
                    ),
                ));
            }
            let dt = (pair[1] - pair[0]) as f64 / 1e9;
            points.push((pair[0], (o1 - o0) / dt));
        }
        TraceSeries {
            quantity: TraceQuantity::BytesPerSec,
            length_ns: times[n - 1],
            points,
        }
    } else {
        TraceSeries {
            quantity,
            length_ns: times[n - 1] + (times[n - 1] - times[n - 2]),
            points: times.iter().zip(&rows).map(|(&t, r)| (t, r.2)).collect(),
        }
    };
    Ok(series)
}

const NS: i128 = 1_000_000_000;

/// The value column: `column` by header name or 1-based number, else the second column.
fn pick_column(
    w: &WorkloadSpec,
    header: Option<&[String]>,
    fields: usize,
) -> Result<usize, String> {
    let Some(want) = w.column.as_deref() else {
        if fields == 2 {
            return Ok(1);
        }
        return Err(format!(
            "{fields} columns; say which holds the values with the workload's column (a header \
             name or a number from 1){}",
            header.map_or(String::new(), |h| format!(": {}", h.join(", ")))
        ));
    };
    if let Some(h) = header
        && let Some(i) = h.iter().position(|name| name == want)
    {
        return Ok(i);
    }
    match want.parse::<usize>() {
        Ok(k) if (2..=fields).contains(&k) => Ok(k - 1),
        Ok(_) => Err(format!(
            "column = {want}: the value column is a number from 2 to {fields} (column 1 is the time)"
        )),
        Err(_) => Err(format!(
            "column = {want:?} names no column{}",
            header.map_or(" (the file has no header row)".into(), |h| format!(
                "; the header has {}",
                h.join(", ")
            ))
        )),
    }
}

/// A time field: a decimal number of seconds, or a date.
fn parse_stamp(text: &str) -> Option<Stamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(ns) = decimal_ns(text) {
        return Some(Stamp::Number(ns));
    }
    date_ns(text).map(Stamp::Date)
}

/// `123`, `123.456` or `1.7e9` seconds → ns, exactly for plain decimals (up to 9 places).
fn decimal_ns(text: &str) -> Option<i128> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if plain {
        let whole: i128 = int.parse().ok()?;
        let mut frac9 = frac.chars().take(9).collect::<String>();
        while frac9.len() < 9 {
            frac9.push('0');
        }
        let part: i128 = frac9.parse().ok()?;
        return whole.checked_mul(NS)?.checked_add(part);
    }
    // Scientific notation (some exporters): rounded to the nanosecond.
    let v: f64 = text.parse().ok()?;
    (0.0..1e18).contains(&v).then(|| (v * 1e9).round() as i128)
}

/// RFC 3339 (`2024-05-01T00:00:00Z`, `…+02:00`, fractions) or Grafana's `2024-05-01 00:00:00`
/// (UTC) → ns since the epoch.
fn date_ns(text: &str) -> Option<i128> {
    // humantime reads UTC dates; a numeric offset is applied here.
    let (base, offset_s) = split_offset(text);
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i128 - offset_s * NS)
}

/// `2024-05-01T02:00:00+02:00` → (`2024-05-01T02:00:00`, 7200).
fn split_offset(text: &str) -> (&str, i128) {
    let b = text.as_bytes();
    if b.len() > 6 {
        let at = b.len() - 6;
        let tail = &text[at..];
        let sign = match b[at] {
            b'+' => 1,
            b'-' => -1,
            _ => return (text, 0),
        };
        let (h, m) = (tail.get(1..3), tail.get(4..6));
        if tail.as_bytes()[3] == b':'
            && let (Some(Ok(h)), Some(Ok(m))) =
                (h.map(str::parse::<i128>), m.map(str::parse::<i128>))
        {
            return (&text[..at], sign * (h * 3600 + m * 60));
        }
    }
    (text, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;

    fn load(quantity: TraceQuantity) -> WorkloadSpec {
        let mut w = WorkloadSpec::constant("w", 0.0, ByteSize::new(100), 16);
        w.pattern = PatternKind::Trace;
        w.quantity = Some(quantity);
        w
    }

    fn parse(text: &str, w: &WorkloadSpec) -> Result<TraceSeries, String> {
        parse_trace(text.as_bytes(), "t.csv", w, w.quantity.unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn grafana_export_with_header_quotes_and_dates() {
        let text = "\"Time\",\"rate(master_repl_offset[1m])\"\n\
                    \"2024-05-01 00:00:00\",\"1000\"\n\
                    \"2024-05-01 00:01:00\",\"2000.5\"\n";
        let s = parse(text, &load(TraceQuantity::BytesPerSec)).unwrap();
        assert_eq!(s.points, vec![(0, 1000.0), (60 * 1_000_000_000, 2000.5)]);
        assert_eq!(s.length_ns, 120 * 1_000_000_000);
    }

    #[test]
    fn unix_ms_rfc3339_offsets_and_relative_seconds_agree() {
        let w = load(TraceQuantity::OpsPerSec);
        let a = parse("1714521600000,5\n1714521601500,6\n", &w).unwrap();
        let b = parse(
            "t,v\n2024-05-01T02:00:00+02:00,5\n2024-05-01T00:00:01.5Z,6\n",
            &w,
        )
        .unwrap();
        let c = parse("0,5\n1.5,6\n", &w).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.points[1].0, 1_500_000_000);
    }

    #[test]
    fn offsets_become_slopes() {
        let s = parse("0,1000\n10,21000\n20,21000\n", &load(TraceQuantity::Offset)).unwrap();
        assert_eq!(s.quantity, TraceQuantity::BytesPerSec);
        assert_eq!(s.points, vec![(0, 2000.0), (10_000_000_000, 0.0)]);
        assert_eq!(s.length_ns, 20_000_000_000);
    }

    #[test]
    fn columns_by_name_or_number() {
        let mut w = load(TraceQuantity::BytesPerSec);
        let text = "time,a,b\n0,1,10\n1,2,20\n";
        assert!(parse(text, &w).unwrap_err().contains("3 columns"));
        w.column = Some("b".into());
        assert_eq!(parse(text, &w).unwrap().points[1].1, 20.0);
        w.column = Some("2".into());
        assert_eq!(parse(text, &w).unwrap().points[1].1, 2.0);
        w.column = Some("c".into());
        assert!(parse(text, &w).unwrap_err().contains("names no column"));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let w = load(TraceQuantity::BytesPerSec);
        let cases = [
            ("t,v\n0,1\n2,1\n1,1\n", "line 4", "unsorted"),
            ("t,v\n0,1\n1,1\n1,2\n", "line 4", "duplicate"),
            ("t,v\n0,1\n1,-3\n", "line 3", "negative"),
            ("t,v\n0,1\n1,NaN\n", "line 3", "not a number"),
            ("t,v\n0,1\n1,\n", "line 3", "not a number"),
            ("t,v\n0,1\nsoon,1\n", "line 3", "does not parse"),
            ("t,v\n0,1\n1,1\n2,1\n60,1\n", "line 5", "gap"),
            ("t,v\n0,1\n", "rows", "at least two"),
        ];
        for (text, line, why) in cases {
            let e = parse(text, &w).unwrap_err();
            assert!(e.contains(&format!("t.csv: {line}")), "{text:?}: {e}");
            assert!(e.contains(why), "{text:?}: {e}");
        }
        let e = parse("0,5\n1,4\n", &load(TraceQuantity::Offset)).unwrap_err();
        assert!(e.contains("line 2") && e.contains("decreases"), "{e}");
    }

    #[test]
    fn max_gap_is_configurable() {
        let mut w = load(TraceQuantity::BytesPerSec);
        w.max_gap = Some(crate::engine::SimDuration::from_secs(100));
        assert!(parse("0,1\n1,1\n2,1\n60,1\n", &w).is_ok());
    }
}
