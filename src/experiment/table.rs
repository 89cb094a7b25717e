//! One row of the result tables: `run`, `point`, `rep`, every axis value (a column named by the
//! axis path) and every field of the outcome record except `wall_seconds`, in the record's
//! order. The same row is written as a CSV line and as a JSON line; both are deterministic
//! (no wall time), so the tables are byte-identical on any machine and thread count.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::{Plan, RunSpec};
use crate::valkey::OutcomeRecord;

/// Outcome fields left out of the tables: wall time differs between machines; warnings are the
/// model's (printed once by `sweep`), not the run's.
const NOT_IN_TABLES: &[&str] = &["wall_seconds", "warnings"];

/// A finished run, formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The run index.
    pub run: u64,
    /// The outcome (`clean_sync`, …).
    pub outcome: String,
    /// The CSV header line (the same for every row of a sweep).
    pub csv_header: Vec<u8>,
    /// The CSV line, with its newline.
    pub csv: Vec<u8>,
    /// The JSON line, with its newline.
    pub json: Vec<u8>,
}

impl Row {
    /// Formats `record`, the result of `run` of `plan`.
    pub fn new(plan: &Plan, run: &RunSpec, record: &OutcomeRecord) -> Row {
        let mut cells: Vec<(String, Value)> = vec![
            ("run".into(), Value::from(run.index)),
            ("point".into(), Value::from(run.point)),
            ("rep".into(), Value::from(run.rep)),
        ];
        for (path, v) in plan.point_values(run.point) {
            cells.push((
                path.to_string(),
                serde_json::to_value(v).unwrap_or(Value::Null),
            ));
        }
        cells.extend(record_fields(record));
        Row {
            run: run.index,
            outcome: record.outcome.as_str().to_string(),
            csv_header: csv_line(cells.iter().map(|(k, _)| k.clone())),
            csv: csv_line(cells.iter().map(|(_, v)| csv_cell(v))),
            json: json_line(&cells),
        }
    }
}

/// The record's fields in declaration order, without those left out of the tables.
fn record_fields(record: &OutcomeRecord) -> Vec<(String, Value)> {
    let order = serde_json::to_string(record)
        .ok()
        .and_then(|text| serde_json::from_str::<KeyOrder>(&text).ok())
        .map(|k| k.0)
        .unwrap_or_default();
    let Ok(Value::Object(mut map)) = serde_json::to_value(record) else {
        return Vec::new();
    };
    order
        .into_iter()
        .filter(|k| !NOT_IN_TABLES.contains(&k.as_str()))
        .filter_map(|k| map.remove(&k).map(|v| (k, v)))
        .collect()
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_line(cells: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let cells: Vec<String> = cells.into_iter().collect();
    if w.write_record(&cells).is_err() {
        return b"\n".to_vec();
    }
    w.into_inner().unwrap_or_else(|_| b"\n".to_vec())
}

fn json_line(cells: &[(String, Value)]) -> Vec<u8> {
    let body: Vec<String> = cells
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}\n", body.join(",")).into_bytes()
}

/// The keys of a JSON object, in the order they appear.
struct KeyOrder(Vec<String>);

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyOrder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
        let mut keys = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(k);
        }
        Ok(KeyOrder(keys))
    }
}

/// The head of a JSON row: enough to check its place and tally its outcome.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RowHead {
    /// The run index.
    pub run: u64,
    /// The outcome.
    pub outcome: String,
}
