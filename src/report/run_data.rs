//! Reading a run directory: `timeline.csv` (INFO samples, `valkey::InfoSample`), `journal.json`,
//! `summary.json` and `model.resolved.toml`.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::ReportError;
use super::params::{self, ModelParams};
use crate::scenario::ModelFile;
use crate::valkey::NodeRole;

/// The columns of `timeline.csv` a chart uses; a missing column reads as 0.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Sample {
    pub t_s: f64,
    pub node: String,
    pub master_repl_offset: u64,
    pub repl_backlog_first_byte_offset: u64,
    pub repl_backlog_histlen: u64,
    pub replica_omem: u64,
    pub rdb_channel_omem: u64,
    pub resume_offset: u64,
    pub replicas_repl_buffer_size: u64,
    pub rdb_bytes_read: u64,
    pub stream_bytes_read: u64,
}

/// One journal event: its time, its kind (`fork`, `cob_disconnect`, …) and its fields.
#[derive(Clone, Debug)]
pub(crate) struct JournalEvent {
    pub t_s: f64,
    pub kind: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl JournalEvent {
    /// The replica node index the event is about, if it names one.
    pub fn replica(&self) -> Option<u64> {
        self.fields
            .get("replica")
            .and_then(serde_json::Value::as_u64)
    }

    /// A string field.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(serde_json::Value::as_str)
    }
}

/// Everything the run timeline draws.
#[derive(Debug)]
pub(crate) struct RunData {
    /// The model's name (or the directory's when the model is unreadable).
    pub name: String,
    /// The master seed, if known.
    pub seed: Option<u64>,
    /// `summary.json`, as read.
    pub summary: serde_json::Map<String, serde_json::Value>,
    /// The primary's samples, in time order.
    pub primary: Vec<Sample>,
    /// The watched replica's samples, in time order.
    pub replica: Vec<Sample>,
    /// The watched replica's node name.
    pub replica_name: String,
    /// Journal events about the watched replica (and those about no replica, like `fork`).
    pub events: Vec<JournalEvent>,
    /// Limits and rates from the resolved model; `None` when it could not be read.
    pub model: Option<ModelParams>,
    /// Why `model` is missing.
    pub model_note: Option<String>,
}

impl RunData {
    /// Reads a run directory.
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let summary = read_summary(dir)?;
        // The model file names the run even when it has no closed-form parameters (a model
        // whose replicas a script makes has no `role = "replica"` node at the start).
        let (file, model, model_note) = match read_model(dir) {
            Ok((file, Ok(params))) => (None, Some((file, params)), None),
            Ok((file, Err(e))) => (Some(file), None, Some(e)),
            Err(e) => (None, None, Some(e)),
        };
        let samples = read_samples(&dir.join("timeline.csv"))?;
        let (primary_name, replica_name, replica_index) = watched_nodes(model.as_ref(), &samples);
        let events = read_journal(&dir.join("journal.json"))?
            .into_iter()
            .filter(|e| e.replica().is_none() || e.replica() == replica_index)
            .collect();
        let pick = |name: &str| -> Vec<Sample> {
            samples.iter().filter(|s| s.node == name).cloned().collect()
        };
        let file = model.as_ref().map(|m| &m.0).or(file.as_ref());
        let name = file.map_or_else(|| dir_name(dir), |f| f.model.name.clone());
        let seed = summary
            .get("seed")
            .and_then(serde_json::Value::as_u64)
            .or(file.map(|f| f.model.seed));
        Ok(RunData {
            name,
            seed,
            summary,
            primary: pick(&primary_name),
            replica: pick(&replica_name),
            replica_name,
            events,
            model: model.map(|m| m.1),
            model_note,
        })
    }

    /// A summary field as text (`-` when missing or null).
    pub fn summary_str(&self, key: &str) -> String {
        match self.summary.get(key) {
            None | Some(serde_json::Value::Null) => "-".into(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        }
    }
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned())
}

fn read_summary(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>, ReportError> {
    let path = dir.join("summary.json");
    if !path.is_file() {
        return Ok(serde_json::Map::new());
    }
    let text = fs::read_to_string(&path).map_err(|e| ReportError::read(&path, e))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ReportError::parse(&path, "expected a JSON object")),
        Err(e) => Err(ReportError::parse(&path, e)),
    }
}

/// The resolved model and its closed-form parameters, or why they are not available.
///
/// The reasons name the file only as `model.resolved.toml`: they are printed on the charts, and
/// the charts must not depend on where the output directory lies.
fn read_model(dir: &Path) -> Result<(ModelFile, Result<ModelParams, String>), String> {
    const FILE: &str = "model.resolved.toml";
    let text = fs::read_to_string(dir.join(FILE)).map_err(|e| format!("{FILE}: {e}"))?;
    let model: ModelFile = toml::from_str(&text).map_err(|e| format!("{FILE}: {e}"))?;
    let params = params::from_model(&model).map_err(|e| format!("{FILE}: {e}"));
    Ok((model, params))
}

fn read_samples(path: &Path) -> Result<Vec<Sample>, ReportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| ReportError::read(path, e))?;
    let mut samples = Vec::new();
    for (i, row) in reader.deserialize::<Sample>().enumerate() {
        let sample = row.map_err(|e| ReportError::parse(path, format!("row {}: {e}", i + 2)))?;
        samples.push(sample);
    }
    samples.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    Ok(samples)
}

/// `(primary name, watched replica name, watched replica's node index)`: from the model when it
/// was read, else the first node that reports a primary offset and the first one that does not.
fn watched_nodes(
    model: Option<&(ModelFile, ModelParams)>,
    samples: &[Sample],
) -> (String, String, Option<u64>) {
    if let Some((m, _)) = model {
        let find = |role: NodeRole| m.nodes.iter().position(|n| n.role == role);
        if let (Some(p), Some(r)) = (find(NodeRole::Primary), find(NodeRole::Replica)) {
            return (
                m.nodes[p].name.clone(),
                m.nodes[r].name.clone(),
                Some(r as u64),
            );
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for s in samples {
        if !names.contains(&s.node.as_str()) {
            names.push(&s.node);
        }
    }
    let is_primary = |name: &str| {
        samples
            .iter()
            .any(|s| s.node == name && s.master_repl_offset > 0)
    };
    let primary = names.iter().find(|n| is_primary(n)).copied();
    let replica = names.iter().find(|n| Some(**n) != primary).copied();
    (
        primary.unwrap_or("primary").to_string(),
        replica.unwrap_or("replica").to_string(),
        None,
    )
}

fn read_journal(path: &Path) -> Result<Vec<JournalEvent>, ReportError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).map_err(|e| ReportError::read(path, e))?;
    let entries = parse_journal_entries(&text).map_err(|e| ReportError::parse(path, e))?;
    Ok(entries
        .into_iter()
        .map(|(t_ns, kind, fields)| JournalEvent {
            t_s: t_ns as f64 / 1e9,
            kind,
            fields,
        })
        .collect())
}

/// One raw journal entry: time (ns), kind and fields.
pub(crate) type JournalEntry = (u64, String, serde_json::Map<String, serde_json::Value>);

/// The entries of a `journal.json` text (`{"events": [[t_ns, {"event": kind, ...}], ...]}`):
/// time in nanoseconds, kind and fields, in file order; the error names the bad entry.
pub(crate) fn parse_journal_entries(text: &str) -> Result<Vec<JournalEntry>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = value
        .get("events")
        .and_then(serde_json::Value::as_array)
        .ok_or("expected {\"events\": [[t_ns, {...}], ...]}")?;
    let mut entries = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let bad = || format!("events[{i}] is not [t_ns, {{\"event\": ...}}]");
        let t_ns = item
            .get(0)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(bad)?;
        let fields = item
            .get(1)
            .and_then(serde_json::Value::as_object)
            .ok_or_else(bad)?
            .clone();
        let kind = fields
            .get("event")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(bad)?
            .to_string();
        entries.push((t_ns, kind, fields));
    }
    Ok(entries)
}
