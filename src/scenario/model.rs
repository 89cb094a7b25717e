//! The model file: what one system is, and how long and how finely to watch it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Override, ScenarioError, apply_overrides};
use crate::engine::SimDuration;
use crate::units::Rate;
use crate::valkey::{
    ActionSpec, ClusterSpec, DatasetSpec, LinkSpecFile, NodeSpec, Release, RunOptions, WorkloadSpec,
};

/// `[model]`: the run's identity and clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelMeta {
    /// A short name (used for output directories).
    pub name: String,
    /// What the model shows.
    #[serde(default)]
    pub description: String,
    /// The server release whose semantics and defaults every node has (default `valkey-9.1`).
    #[serde(default)]
    pub server: Release,
    /// The master seed (default 1).
    #[serde(default = "one")]
    pub seed: u64,
    /// How much simulated time to run.
    pub horizon: SimDuration,
    /// INFO sampling interval (default 100ms).
    #[serde(default = "default_sample")]
    pub sample_interval: SimDuration,
    /// Work budget (default 50 000 000): events plus the work inside them (the network's inner
    /// loop, cancelled timers). A run that needs more stops there with an error (exit 1).
    #[serde(default = "default_budget")]
    pub max_events: u64,
    /// How much slower than the machine the perf values describe everything runs (default 1):
    /// a loaded CI runner, or valgrind (PR #904's 10–50×). See [`ModelFile::cluster`].
    #[serde(default = "one_f64")]
    pub slowdown: f64,
    /// Check the model's invariants on every event (`valkey::invariants`; default false): a
    /// broken one ends the run with exit 1 and a report. `replsim run --check`, `sweep --check`
    /// and `REPLSIM_CHECK=1` turn it on too; `replsim swarm` writes it into its models.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn one_f64() -> f64 {
    1.0
}

fn one() -> u64 {
    1
}
fn default_sample() -> SimDuration {
    SimDuration::from_millis(100)
}
fn default_budget() -> u64 {
    50_000_000
}

/// A whole model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelFile {
    /// `[model]`.
    pub model: ModelMeta,
    /// `[dataset]`.
    pub dataset: DatasetSpec,
    /// `[[nodes]]`.
    pub nodes: Vec<NodeSpec>,
    /// `[[links]]`.
    #[serde(default)]
    pub links: Vec<LinkSpecFile>,
    /// `[[workloads]]`.
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    /// `[[actions]]`: the action script.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
    /// `[conformance]`: which of Valkey's own tests this model translates (conformance/ only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance: Option<ConformanceMeta>,
}

/// `[conformance]`: the Valkey test a model translates, step by step. It changes nothing in the
/// run; `replsim conformance` reads it to name the source of each row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConformanceMeta {
    /// The Tcl file in Valkey's repository, e.g. `tests/integration/replication-buffer.tcl`.
    pub file: String,
    /// The test's name as the Tcl prints it, with its parameters expanded
    /// (e.g. `All replicas share one global replication buffer dualchannel yes`).
    pub test: String,
    /// What the translation leaves out or simplifies, if anything.
    #[serde(default)]
    pub notes: String,
}

impl ModelFile {
    /// The system part, with `model.slowdown` applied: every node's CPU work takes that many
    /// times longer (save, load, apply and disk rates divided; per-key costs, the key-delay
    /// overhead, fork and handshake times multiplied) and so does the test process's own work
    /// (each action's `delay`, `jitter` and `first-poll`). Not scaled: configured sleeps
    /// (`rdb-key-save-delay`, poll intervals, timeouts, the 1 Hz download poll), the network,
    /// and the write loads' rates (an axis of their own).
    pub fn cluster(&self) -> ClusterSpec {
        let f = self.model.slowdown;
        let mut nodes = self.nodes.clone();
        let mut actions = self.actions.clone();
        if f != 1.0 {
            let slow = |d: SimDuration| SimDuration::from_nanos((d.as_nanos() as f64 * f) as u64);
            let rate = |r: Rate| Rate::new(((r.bytes_per_sec() as f64 / f) as u64).max(1));
            for n in &mut nodes {
                let p = &mut n.perf;
                p.rdb_save_rate = rate(p.rdb_save_rate);
                p.rdb_load_rate = rate(p.rdb_load_rate);
                p.apply_rate = rate(p.apply_rate);
                p.disk_write_rate = rate(p.disk_write_rate);
                p.rdb_save_per_key = slow(p.rdb_save_per_key);
                p.rdb_load_per_key = slow(p.rdb_load_per_key);
                p.key_delay_overhead = slow(p.key_delay_overhead);
                p.fork_time_per_gib = slow(p.fork_time_per_gib);
                p.handshake_time = slow(p.handshake_time);
            }
            for a in &mut actions {
                a.delay = a.delay.map(slow);
                a.jitter = a.jitter.map(slow);
                if let Some(c) = a.when.as_mut() {
                    c.first_poll = c.first_poll.map(slow);
                }
            }
        }
        ClusterSpec {
            server: self.model.server,
            nodes,
            links: self.links.clone(),
            dataset: self.dataset.clone(),
            workloads: self.workloads.clone(),
            actions,
        }
    }

    /// How to run it.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            seed: self.model.seed,
            horizon: self.model.horizon,
            sample_interval: self.model.sample_interval,
            max_events: self.model.max_events,
            check: self.model.check || cfg!(test) || checks_forced(),
        }
    }

    /// The resolved model as TOML (what was really run, includes and overrides applied, the
    /// ignored valkey.conf directives kept in their `config` tables).
    pub fn to_toml(&self) -> String {
        let aside: Vec<Vec<(String, String)>> = self
            .nodes
            .iter()
            .map(|n| n.ignored_directives.clone())
            .collect();
        if aside.iter().all(Vec::is_empty) && self.model.server == Release::default() {
            return toml::to_string_pretty(self).unwrap_or_default();
        }
        let Ok(mut value) = toml::Value::try_from(self) else {
            return String::new();
        };
        super::release::strip_missing(&mut value, self.model.server);
        super::directives::put_back(&mut value, &aside);
        toml::to_string_pretty(&value).unwrap_or_default()
    }

    /// What the model says that will not do what it seems to (see
    /// [`ClusterSpec::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        self.cluster().warnings(self.model.horizon)
    }
}

/// Whether the environment asks for the invariant checker on every run of this process:
/// `REPLSIM_CHECK` set to anything but `0` or empty (the test suite sets it for every binary it
/// spawns). Read once.
pub fn checks_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var_os("REPLSIM_CHECK").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`" messages.
pub(crate) fn with_suggestion(message: String) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message;
    };
    let Some((unknown, tail)) = rest.split_once('`') else {
        return message;
    };
    let mut candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    // A `[nodes.config]` key: any real valkey.conf directive is a candidate too.
    if candidates.contains(&"repl-backlog-size") {
        for d in super::directives::all_directives() {
            candidates.push(d);
        }
    }
    let best = candidates
        .iter()
        .map(|c| (edit_distance(unknown, c), *c))
        .filter(|&(d, c)| d <= (c.len() / 3).max(2))
        .min();
    match best {
        Some((_, c)) => format!("{} (did you mean `{c}`?)", message.trim_end()),
        None => message,
    }
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Parses model text (`file` names it in errors) with overrides applied first.
pub fn parse_model(
    text: &str,
    file: &str,
    overrides: &[Override],
) -> Result<ModelFile, ScenarioError> {
    let invalid = |message: String| ScenarioError::Invalid {
        file: file.to_string(),
        message: with_suggestion(message),
    };
    let (mut value, included) = super::include::resolve(text, file)?;
    apply_overrides(&mut value, overrides)?;
    let aside = super::directives::set_aside(&mut value);
    let release = super::release::release_of(&value, file)?;
    let defaulted = super::release::apply(&mut value, release, file)?;
    let rewritten =
        included || defaulted || !overrides.is_empty() || aside.iter().any(|d| !d.is_empty());
    let mut model: ModelFile = if rewritten {
        let context = if !overrides.is_empty() {
            "after --set: "
        } else if included {
            "after include: "
        } else {
            ""
        };
        let resolved = toml::to_string(&value).map_err(|e| invalid(e.to_string()))?;
        toml::from_str(&resolved).map_err(|e| invalid(format!("{context}{e}")))?
    } else {
        toml::from_str(text).map_err(|e| invalid(e.to_string()))?
    };
    for (node, directives) in model.nodes.iter_mut().zip(aside) {
        node.ignored_directives = directives;
    }
    if model.model.horizon == SimDuration::ZERO {
        return Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "model.horizon".into(),
            reason: "must be greater than zero (e.g. \"10m\")".into(),
        });
    }
    if !(model.model.slowdown.is_finite() && model.model.slowdown > 0.0) {
        return Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "model.slowdown".into(),
            reason: format!(
                "{} is not a positive factor (1 = as fast as the perf values say, 10 = ten times slower)",
                model.model.slowdown
            ),
        });
    }
    if model.model.sample_interval == SimDuration::ZERO {
        return Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "model.sample-interval".into(),
            reason: "must be greater than zero (e.g. \"100ms\")".into(),
        });
    }
    super::trace::load_traces(&mut model, file)?;
    crate::valkey::Cluster::build(&model.cluster(), &model.run_options()).map_err(|e| {
        ScenarioError::Semantic {
            file: file.to_string(),
            key: e.key,
            reason: e.reason,
        }
    })?;
    Ok(model)
}

/// Reads and parses a model file.
pub fn load_model(path: &Path, overrides: &[Override]) -> Result<ModelFile, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Unreadable {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    parse_model(&text, &file, overrides)
}
