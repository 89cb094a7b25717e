//! `replsim versions`: one model under each server release, side by side. A release that
//! refuses the model's configs is a row with its reason, not an error.

use serde::Serialize;

use crate::scenario::{ModelFile, Override, parse_model};
use crate::valkey::{Cluster, NodeRole, Release, RunResult};

/// One release's row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionRow {
    /// The release.
    pub server: Release,
    /// Checked against a real server of this release (else modelled from its code and PRs).
    pub validated: bool,
    /// Why the release cannot run the model (a config it lacks, …); `None` when it ran.
    pub not_applicable: Option<String>,
    /// The first seed's outcome.
    pub outcome: String,
    /// Seeds (of `seeds`) whose outcome is `outcome`.
    pub same_outcome_seeds: u64,
    /// Seeds run.
    pub seeds: u64,
    /// The first seed's first limit crossed.
    pub first_limit: String,
    /// The first seed's first COB disconnect (s).
    pub t_cob_overflow_s: Option<f64>,
    /// The first seed's full syncs.
    pub full_syncs: u64,
    /// Largest replication output memory of the primary over the first seed's run
    /// (`mem_total_replication_buffers`; on Redis ≤ 6.2 the backlog plus every replica's own
    /// list), in bytes.
    pub peak_output_memory_bytes: u64,
    /// Seeds whose replica was in sync at the end.
    pub in_sync_seeds: u64,
    /// The first mechanism whose answer differs from the model's own release, when the outcome
    /// differs: `name: this release's answer (model's release: its answer)`.
    pub first_difference: Option<String>,
    /// The first seed's trace hash.
    pub trace_hash: String,
}

/// Runs `text` (model file `file`, with `overrides`) under each of `releases`, `seeds` seeds
/// each (the model's seed, then the next ones). Returns the rows in `releases` order and the
/// model's own release. `Err` only when the model itself (under its own release) is invalid.
pub fn compare(
    text: &str,
    file: &str,
    overrides: &[Override],
    releases: &[Release],
    seeds: u64,
) -> Result<(Release, Vec<VersionRow>), String> {
    let own = parse_model(text, file, overrides).map_err(|e| e.to_string())?;
    let own_release = own.model.server;
    let own_answers = answers(&own);
    let mut rows = Vec::new();
    let mut own_outcome: Option<String> = None;
    for &release in releases {
        let mut with = overrides.to_vec();
        with.push(Override {
            path: "model.server".into(),
            value: release.name().into(),
        });
        // A Valkey 9.2 switch runs as "off" on a release without it (its own behaviour).
        let stripped = (release != Release::Valkey92)
            .then(|| without_9_2_switches(text))
            .flatten();
        let model = match parse_model(stripped.as_deref().unwrap_or(text), file, &with) {
            Ok(m) => m,
            Err(e) => {
                rows.push(not_applicable(release, seeds, e.to_string()));
                continue;
            }
        };
        let mut row = not_applicable(release, seeds, String::new());
        row.not_applicable = None;
        for k in 0..seeds.max(1) {
            let mut m = model.clone();
            m.model.seed = model.model.seed.wrapping_add(k);
            let result = match run(&m) {
                Ok(r) => r,
                Err(e) => {
                    row.not_applicable = Some(e);
                    break;
                }
            };
            let r = &result.record;
            if k == 0 {
                row.outcome = r.outcome.as_str().to_string();
                row.first_limit = serde_json::to_value(r.first_limit)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                row.t_cob_overflow_s = r.t_cob_overflow_s;
                row.full_syncs = r.full_syncs;
                row.trace_hash = r.trace_hash.clone();
                let primary = &m.nodes[m.cluster().primary_index()].name;
                row.peak_output_memory_bytes = result
                    .samples
                    .iter()
                    .filter(|s| &s.node == primary)
                    .map(|s| s.mem_total_replication_buffers)
                    .max()
                    .unwrap_or(0);
            }
            if r.outcome.as_str() == row.outcome {
                row.same_outcome_seeds += 1;
            }
            if r.in_sync_at_end {
                row.in_sync_seeds += 1;
            }
        }
        if release == own_release {
            own_outcome = Some(row.outcome.clone());
        }
        let mine = answers(&model);
        row.first_difference = mine
            .iter()
            .zip(&own_answers)
            .find(|(a, b)| a.answer != b.answer)
            .map(|(a, b)| format!("{}: {} ({own_release}: {})", a.name, a.answer, b.answer))
            .or_else(|| optional_difference(&mine, &own_answers, own_release));
        rows.push(row);
    }
    // A difference explains an outcome only where the outcome differs; under the same outcome
    // it is noise. Without a row of the model's own release, compare to its own run.
    let own_outcome = match own_outcome {
        Some(o) => o,
        None => run(&own)
            .map(|r| r.record.outcome.as_str().to_string())
            .unwrap_or_default(),
    };
    for row in &mut rows {
        if row.not_applicable.is_some() || row.outcome == own_outcome {
            row.first_difference = None;
        }
    }
    Ok((own_release, rows))
}

fn not_applicable(server: Release, seeds: u64, reason: String) -> VersionRow {
    VersionRow {
        server,
        validated: server.validated_on_real_server(),
        not_applicable: Some(reason),
        outcome: String::new(),
        same_outcome_seeds: 0,
        seeds: seeds.max(1),
        first_limit: String::new(),
        t_cob_overflow_s: None,
        full_syncs: 0,
        peak_output_memory_bytes: 0,
        in_sync_seeds: 0,
        first_difference: None,
        trace_hash: String::new(),
    }
}

fn run(model: &ModelFile) -> Result<RunResult, String> {
    Cluster::build(&model.cluster(), &model.run_options())
        .map_err(|e| e.to_string())?
        .run()
        .map_err(|e| format!("simulation failed: {e}"))
}

/// The first mechanism listed only where on ([`Release::OPTIONAL_MECHANISMS`]) whose answer
/// differs, a missing one reading as off.
fn optional_difference(
    mine: &[crate::valkey::Mechanism],
    own: &[crate::valkey::Mechanism],
    own_release: Release,
) -> Option<String> {
    let answer = |list: &[crate::valkey::Mechanism], name: &str| {
        list.iter()
            .find(|m| m.name == name)
            .map_or(Release::OFF_BEFORE_9_2.to_string(), |m| m.answer.clone())
    };
    Release::OPTIONAL_MECHANISMS.into_iter().find_map(|name| {
        let (a, b) = (answer(mine, name), answer(own, name));
        (a != b).then(|| format!("{name}: {a} ({own_release}: {b})"))
    })
}

/// The model's text without the Valkey 9.2 switches in its nodes' `config` tables, when it has
/// any ([`Release::SWITCHES_9_2`]); `None` when there is nothing to drop (or the text does not
/// parse, which the run then reports).
fn without_9_2_switches(text: &str) -> Option<String> {
    let mut root: toml::Value = toml::from_str(text).ok()?;
    let mut dropped = false;
    if let Some(toml::Value::Array(nodes)) = root.get_mut("nodes") {
        for node in nodes {
            if let Some(toml::Value::Table(config)) = node.get_mut("config") {
                for key in Release::SWITCHES_9_2 {
                    dropped |= config.remove(key).is_some();
                }
            }
        }
    }
    dropped.then(|| toml::to_string(&root).ok()).flatten()
}

/// The release's answers for a resolved model (its primary and first replica).
fn answers(model: &ModelFile) -> Vec<crate::valkey::Mechanism> {
    let spec = model.cluster();
    let primary = &spec.nodes[spec.primary_index()].config;
    let replica = &spec.nodes[spec.watched_replica_index()].config;
    let replicas = spec
        .nodes
        .iter()
        .filter(|n| n.role == NodeRole::Replica)
        .count();
    model.model.server.mechanisms(primary, replica, replicas)
}

/// The rows as CSV (one header line, one line per release).
pub fn to_csv(rows: &[VersionRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "server",
        "validated",
        "not_applicable",
        "outcome",
        "same_outcome_seeds",
        "seeds",
        "first_limit",
        "t_cob_overflow_s",
        "full_syncs",
        "peak_output_memory_bytes",
        "in_sync_seeds",
        "first_difference",
        "trace_hash",
    ]);
    for r in rows {
        let _ = w.write_record([
            r.server.name().to_string(),
            r.validated.to_string(),
            r.not_applicable.clone().unwrap_or_default(),
            r.outcome.clone(),
            r.same_outcome_seeds.to_string(),
            r.seeds.to_string(),
            r.first_limit.clone(),
            r.t_cob_overflow_s
                .map_or(String::new(), |t| format!("{t:.3}")),
            r.full_syncs.to_string(),
            r.peak_output_memory_bytes.to_string(),
            r.in_sync_seeds.to_string(),
            r.first_difference.clone().unwrap_or_default(),
            r.trace_hash.clone(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
