//! `replsim explain`: what decided a run, in words, from its output (journal.json, timeline.csv,
//! the node logs, summary.json and model.resolved.toml). Reads files only; the rerun that checks
//! the suggestion lives in `experiment::explain`.
//!
//! For every replica: the first limit crossed and when (the journal's time), the rates behind it
//! (the COB's growth from the fork, measured; the RDB's time on the link and the sync's length,
//! from the closed forms of `analytic.rs`), what the replica asked for at its next PSYNC and what
//! the primary's backlog held then (both from the logs; the INFO samples when the primary's reply
//! names no range), and what followed. Then the smallest single change that the closed forms say
//! would have avoided it, for the replica whose limit fired first.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ReportError;
use super::format::{bytes, rate};
use super::params::{ModelParams, from_model_for};
use crate::analytic;
use crate::scenario::ModelFile;
use crate::valkey::NodeRole;

/// The files of one run, as text: a run directory's, or an in-memory run serialised the same way.
#[derive(Clone, Debug, Default)]
pub struct RunFiles {
    /// Where they come from (a directory or a bundle), for messages.
    pub origin: String,
    /// summary.json.
    pub summary: String,
    /// journal.json.
    pub journal: String,
    /// timeline.csv.
    pub timeline: String,
    /// model.resolved.toml.
    pub model: String,
    /// `(node name, log text)`.
    pub logs: Vec<(String, String)>,
    /// A model file that reruns the run (`DIR/model.resolved.toml`), when there is one.
    pub model_path: Option<String>,
}

impl RunFiles {
    /// Reads a run directory; a missing or unreadable required file is an error naming it.
    pub fn read_dir(dir: &Path) -> Result<Self, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::Read {
                path: dir.to_path_buf(),
                reason: "no such directory (give a run directory written by `replsim run \
                         --out DIR` or `replsim replay --out DIR`, or a bundle .json)"
                    .into(),
            });
        }
        let need = [
            "summary.json",
            "journal.json",
            "timeline.csv",
            "model.resolved.toml",
        ];
        if let Some(missing) = need.iter().find(|n| !dir.join(n).is_file()) {
            return Err(ReportError::Parse {
                path: dir.to_path_buf(),
                reason: format!(
                    "not a run directory: {missing} is missing (a run directory has {})",
                    need.join(", ")
                ),
            });
        }
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| ReportError::read(&path, e))
        };
        let model = read("model.resolved.toml")?;
        let parsed: ModelFile = toml::from_str(&model)
            .map_err(|e| ReportError::parse(dir.join("model.resolved.toml"), e))?;
        let mut logs = Vec::new();
        for n in &parsed.nodes {
            let path = dir.join(format!("{}.log", n.name));
            if path.is_file() {
                logs.push((n.name.clone(), read(&format!("{}.log", n.name))?));
            }
        }
        Ok(RunFiles {
            model_path: Some(dir.join("model.resolved.toml").display().to_string()),
            origin: dir.display().to_string(),
            summary: read("summary.json")?,
            journal: read("journal.json")?,
            timeline: read("timeline.csv")?,
            model,
            logs,
        })
    }
}

/// The rates behind a limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rates {
    /// The fork that started the sync the limit ended (seconds).
    pub fork_at_s: Option<f64>,
    /// The primary's replication offset growth between the fork and the limit (bytes/s, INFO).
    pub write_rate_bps: Option<f64>,
    /// The client's `omem` at the disconnect over the time since the fork (bytes/s).
    pub cob_growth_bps: Option<f64>,
    /// S: the RDB's size (bytes, from the model).
    pub rdb_bytes: f64,
    /// B: the link's payload rate (bytes/s).
    pub link_bps: f64,
    /// T_x: the RDB's time on the link, closed form (seconds).
    pub rdb_on_link_s: f64,
    /// T_x + T_l + RTT: from the fork to the replica being online, closed form (seconds).
    pub sync_needs_s: f64,
    /// When the transfer could have ended: fork + T_x (seconds).
    pub transfer_end_s: Option<f64>,
    /// When the sync could have ended: fork + T_x + T_l + RTT (seconds).
    pub sync_end_s: Option<f64>,
}

/// The replica's next PSYNC after its first limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Psync {
    /// When the primary answered (seconds, log resolution: 1 ms).
    pub at_s: f64,
    /// What the replica asked for, `<replid>:<offset>` as in its log.
    pub requested: String,
    /// The offset it asked for.
    pub requested_offset: Option<u64>,
    /// The first offset the primary's backlog could serve then.
    pub backlog_from: Option<u64>,
    /// The primary's offset then (the last byte it could serve).
    pub backlog_to: Option<u64>,
    /// Where the range comes from: `log` (the primary's reply) or `info` (the last INFO sample).
    pub backlog_source: String,
    /// The PSYNC was accepted.
    pub served: bool,
    /// The primary's answer in a few words.
    pub answer: String,
    /// Backlog bytes sent, when accepted.
    pub bytes_sent: Option<u64>,
    /// The PSYNC of a dual-channel main channel (part of a dual-channel full sync).
    pub main_channel: bool,
}

/// The smallest single change the closed forms point at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// The model field (a `--set` path).
    pub knob: String,
    /// The value to set.
    pub value: String,
    /// The `--set PATH=VALUE` arguments that make the change (one per node for per-node knobs).
    pub sets: Vec<String>,
    /// Why that value, in words.
    pub why: String,
    /// What the rerun must show: `clean_sync`, or `partial_resync` for a backlog change.
    pub goal: String,
    /// Whether one rerun with the change reached the goal (`None`: not rerun).
    pub confirmed: Option<bool>,
    /// The rerun's outcome.
    pub rerun_outcome: Option<String>,
}

/// What decided the run for one replica.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaStory {
    /// The replica's node name.
    pub replica: String,
    /// Its node index.
    pub node: usize,
    /// The replica the outcome record (summary.json) follows.
    pub watched: bool,
    /// The first limit crossed (`none`, `primary_cob_hard`, `primary_cob_soft`,
    /// `rdb_channel_cob`, `replica_buffer`, `backlog`, `repl_timeout`).
    pub first_limit: String,
    /// When, in ns (the journal's time).
    pub at_ns: Option<u64>,
    /// When, in seconds.
    pub at_s: Option<f64>,
    /// The client closed, for a COB disconnect (`replica`, `rdb_channel`, `main_channel`).
    pub client: Option<String>,
    /// `omem` at the disconnect.
    pub omem_bytes: Option<u64>,
    /// The limit as enforced (bytes), when known.
    pub limit_bytes: Option<f64>,
    /// The rates behind it.
    pub rates: Option<Rates>,
    /// The next PSYNC after the limit.
    pub psync: Option<Psync>,
    /// The outcome for this replica (DESIGN.md's vocabulary).
    pub outcome: String,
    /// Full syncs the primary started for it.
    pub full_syncs: usize,
    /// COB disconnects of its clients.
    pub cob_disconnects: usize,
    /// PSYNCs accepted outside a dual-channel sync.
    pub partial_accepted: usize,
    /// When it last finished a sync (seconds).
    pub synced_at_s: Option<f64>,
    /// Online and caught up at the horizon.
    pub in_sync_at_end: bool,
    /// The account in sentences.
    pub sentences: Vec<String>,
}

/// What decided a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The model's name.
    pub model: String,
    /// The master seed.
    pub seed: Option<u64>,
    /// Where the run came from.
    pub origin: String,
    /// A model file that reruns it, when there is one.
    pub model_file: Option<String>,
    /// The model drives its servers with an action script (a scripted test).
    pub scripted: bool,
    /// The outcome record's outcome (summary.json, the watched replica).
    pub outcome: String,
    /// The replica the top-level fields are about: the one whose first limit fired first (the
    /// watched one when none fired).
    pub replica: String,
    /// Its first limit.
    pub first_limit: String,
    /// When (seconds).
    pub at_s: Option<f64>,
    /// Its rates.
    pub rates: Option<Rates>,
    /// Its next PSYNC.
    pub psync: Option<Psync>,
    /// The smallest single change for it.
    pub suggestion: Option<Suggestion>,
    /// Every replica's account.
    pub replicas: Vec<ReplicaStory>,
}

/// A journal event.
#[derive(Clone, Debug)]
struct Ev {
    t_ns: u64,
    kind: String,
    replica: Option<usize>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Ev {
    fn t_s(&self) -> f64 {
        self.t_ns as f64 / 1e9
    }
    fn about(&self, r: usize) -> bool {
        self.replica == Some(r)
    }
    fn str(&self, k: &str) -> Option<&str> {
        self.fields.get(k).and_then(serde_json::Value::as_str)
    }
    fn u64(&self, k: &str) -> Option<u64> {
        self.fields.get(k).and_then(serde_json::Value::as_u64)
    }
}

/// The INFO columns this module reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct Sample {
    t_s: f64,
    node: String,
    master_repl_offset: u64,
    repl_backlog_first_byte_offset: u64,
    repl_backlog_histlen: u64,
    master_link_up: bool,
    master_sync_in_progress: bool,
    loading: bool,
}

/// One log line: time (ms) and text.
#[derive(Clone, Debug)]
struct Line {
    t_ms: u64,
    text: String,
}

/// Explains a run from its files.
pub fn explain(files: &RunFiles) -> Result<Explanation, ReportError> {
    let o = files.origin.as_str();
    let at = |name: &str| Path::new(o).join(name);
    let summary: serde_json::Value = serde_json::from_str(&files.summary)
        .map_err(|e| ReportError::parse(at("summary.json"), e))?;
    let outcome = summary
        .get("outcome")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ReportError::parse(at("summary.json"), "no \"outcome\" field"))?
        .to_string();
    let model: ModelFile = toml::from_str(&files.model)
        .map_err(|e| ReportError::parse(at("model.resolved.toml"), e))?;
    let events =
        parse_journal(&files.journal).map_err(|e| ReportError::parse(at("journal.json"), e))?;
    let samples =
        parse_samples(&files.timeline).map_err(|e| ReportError::parse(at("timeline.csv"), e))?;
    let logs: Vec<(String, Vec<Line>)> = files
        .logs
        .iter()
        .map(|(n, t)| (n.clone(), parse_log(t)))
        .collect();
    let horizon_s = model.model.horizon.as_secs_f64();
    let watched = model.nodes.iter().position(|n| n.role == NodeRole::Replica);
    let ctx = Ctx {
        model: &model,
        events: &events,
        samples: &samples,
        logs: &logs,
        horizon_s,
    };
    let mut replicas = Vec::new();
    for (i, n) in model.nodes.iter().enumerate() {
        if n.role != NodeRole::Replica {
            continue;
        }
        let mut story = ctx.story(i, Some(i) == watched);
        if story.watched {
            // The record's classification is the reference for the watched replica.
            story.outcome = outcome.clone();
        }
        story.sentences = ctx.sentences(&story);
        replicas.push(story);
    }
    let deciding = replicas
        .iter()
        .filter(|s| s.at_ns.is_some() && failed(&s.outcome))
        .min_by_key(|s| s.at_ns)
        .or_else(|| {
            replicas
                .iter()
                .filter(|s| s.at_ns.is_some())
                .min_by_key(|s| s.at_ns)
        })
        .or_else(|| replicas.iter().find(|s| s.watched))
        .or(replicas.first())
        .cloned();
    let suggestion = deciding
        .as_ref()
        .filter(|s| failed(&s.outcome))
        .and_then(|s| ctx.suggest(s));
    Ok(Explanation {
        model: model.model.name.clone(),
        seed: summary.get("seed").and_then(serde_json::Value::as_u64),
        origin: files.origin.clone(),
        model_file: files.model_path.clone(),
        scripted: !model.actions.is_empty(),
        outcome,
        replica: deciding
            .as_ref()
            .map_or_else(String::new, |s| s.replica.clone()),
        first_limit: deciding
            .as_ref()
            .map_or_else(|| "none".into(), |s| s.first_limit.clone()),
        at_s: deciding.as_ref().and_then(|s| s.at_s),
        rates: deciding.as_ref().and_then(|s| s.rates.clone()),
        psync: deciding.as_ref().and_then(|s| s.psync.clone()),
        suggestion,
        replicas,
    })
}

struct Ctx<'a> {
    model: &'a ModelFile,
    events: &'a [Ev],
    samples: &'a [Sample],
    logs: &'a [(String, Vec<Line>)],
    horizon_s: f64,
}

impl Ctx<'_> {
    /// The model drives its servers with actions: its dataset and timing come from the script,
    /// so the closed forms (one sync of the configured dataset) do not describe it.
    fn scripted(&self) -> bool {
        !self.model.actions.is_empty()
    }

    fn node_name(&self, i: usize) -> String {
        self.model
            .nodes
            .get(i)
            .map_or_else(|| format!("node {i}"), |n| n.name.clone())
    }

    fn log(&self, name: &str) -> &[Line] {
        self.logs
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, l)| l.as_slice())
    }

    /// The node a replica replicates from: the port of its last "Connecting to PRIMARY" line
    /// before `t_ms` (node i listens on 6379 + i), else the first primary.
    fn primary_of(&self, r: usize, t_ms: u64) -> usize {
        let name = self.node_name(r);
        self.log(&name)
            .iter()
            .filter(|l| l.t_ms <= t_ms)
            .filter_map(|l| l.text.strip_prefix("Connecting to PRIMARY "))
            .filter_map(|a| a.rsplit(':').next()?.trim().parse::<usize>().ok())
            .filter_map(|port| port.checked_sub(6379))
            .rfind(|&i| i < self.model.nodes.len() && i != r)
            .or_else(|| {
                self.model
                    .nodes
                    .iter()
                    .position(|n| n.role == NodeRole::Primary)
            })
            .unwrap_or(0)
    }

    fn params(&self, r: usize) -> Option<ModelParams> {
        from_model_for(self.model, Some(&self.node_name(r))).ok()
    }

    fn story(&self, r: usize, watched: bool) -> ReplicaStory {
        let mine: Vec<&Ev> = self.events.iter().filter(|e| e.about(r)).collect();
        let first = |kind: &str| mine.iter().find(|e| e.kind == kind).copied();
        let cob = first("cob_disconnect");
        let mut candidates: Vec<(u64, String)> = Vec::new();
        if let Some(e) = cob {
            candidates.push((
                e.t_ns,
                e.str("limit").unwrap_or("primary_cob_hard").to_string(),
            ));
        }
        for (kind, limit) in [
            ("backlog_exhausted", "backlog"),
            ("timeout", "repl_timeout"),
            ("replica_buffer_full", "replica_buffer"),
        ] {
            if let Some(e) = first(kind) {
                candidates.push((e.t_ns, limit.to_string()));
            }
        }
        candidates.sort_by_key(|c| c.0);
        let (at_ns, first_limit) = candidates
            .first()
            .map_or((None, "none".to_string()), |(t, l)| (Some(*t), l.clone()));
        let at_s = at_ns.map(|t| t as f64 / 1e9);
        let from_cob = cob.filter(|e| Some(e.t_ns) == at_ns);
        let mp = self.params(r);
        let limit_bytes = mp.as_ref().and_then(|m| match first_limit.as_str() {
            "primary_cob_hard" | "rdb_channel_cob" => m.hard_limit(),
            "primary_cob_soft" => m.soft_limit(),
            "replica_buffer" => m.replica_cap(),
            "backlog" => Some(m.params.backlog_bytes),
            _ => None,
        });
        let omem = from_cob.and_then(|e| e.u64("omem"));
        let rates = self.rates(r, at_ns, omem, mp.as_ref());
        let psync = at_ns.and_then(|t| self.next_psync(r, t));
        let in_sync_at_end = self.in_sync_at_end(r);
        let outcome = self.classify(r, cob.map(|e| e.t_ns), in_sync_at_end);
        ReplicaStory {
            replica: self.node_name(r),
            node: r,
            watched,
            first_limit,
            at_ns,
            at_s,
            client: from_cob.and_then(|e| e.str("kind")).map(str::to_string),
            omem_bytes: omem,
            limit_bytes,
            rates,
            psync,
            outcome,
            full_syncs: mine
                .iter()
                .filter(|e| e.kind == "full_sync_started")
                .count(),
            cob_disconnects: mine.iter().filter(|e| e.kind == "cob_disconnect").count(),
            partial_accepted: mine
                .iter()
                .filter(|e| {
                    e.kind == "psync_accepted"
                        && !e
                            .fields
                            .get("dual_main")
                            .and_then(serde_json::Value::as_bool)
                            .unwrap_or(false)
                })
                .count(),
            synced_at_s: mine
                .iter()
                .rfind(|e| e.kind == "replica_synced")
                .map(|e| e.t_s()),
            in_sync_at_end,
            sentences: Vec::new(),
        }
    }

    /// The classifier of `valkey::Journal::classify`, on the journal as written.
    fn classify(&self, r: usize, cob: Option<u64>, in_sync: bool) -> String {
        let mine = || self.events.iter().filter(move |e| e.about(r));
        let synced_after = |t: u64| mine().any(|e| e.t_ns > t && e.kind == "replica_synced");
        let Some(t_cob) = cob else {
            if let Some(t) = mine().find(|e| e.kind == "timeout").map(|e| e.t_ns)
                && !synced_after(t)
            {
                return "timeout".into();
            }
            return if mine().any(|e| e.kind == "replica_synced") {
                "clean_sync".into()
            } else {
                "unfinished".into()
            };
        };
        let next = mine()
            .filter(|e| e.t_ns > t_cob)
            .find_map(|e| match e.kind.as_str() {
                "psync_accepted"
                    if !e
                        .fields
                        .get("dual_main")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false) =>
                {
                    Some(true)
                }
                "psync_refused_backlog" | "full_sync_started" => Some(false),
                _ => None,
            });
        match next {
            Some(true) => "overflow_partial_resync",
            Some(false) if in_sync && synced_after(t_cob) => "overflow_full_resync",
            None if in_sync => "overflow_full_resync",
            _ => "full_resync_loop",
        }
        .into()
    }

    fn in_sync_at_end(&self, r: usize) -> bool {
        let name = self.node_name(r);
        self.samples
            .iter()
            .rfind(|s| s.node == name)
            .is_some_and(|s| s.master_link_up && !s.master_sync_in_progress && !s.loading)
    }

    fn rates(
        &self,
        r: usize,
        at_ns: Option<u64>,
        omem: Option<u64>,
        mp: Option<&ModelParams>,
    ) -> Option<Rates> {
        let mp = mp?;
        let p = &mp.params;
        let (t_x, t_end) = if mp.dual {
            let d = analytic::dual(p);
            (d.t_download, d.t_apply_end + p.rtt_secs)
        } else {
            let c = analytic::classic(p);
            (c.t_transfer, c.t_sync_end)
        };
        // The fork of the sync the limit ended (or of the first sync when no limit fired).
        let limit_or_end = at_ns.unwrap_or(u64::MAX);
        let fork = self
            .events
            .iter()
            .filter(|e| e.kind == "fork" && e.t_ns <= limit_or_end)
            .rfind(|e| {
                // A fork after this replica's last full-sync request before the limit.
                let started = self
                    .events
                    .iter()
                    .filter(|s| s.about(r) && s.kind == "full_sync_started" && s.t_ns <= e.t_ns)
                    .count();
                started > 0
            })
            .map(|e| e.t_ns);
        let fork_s = fork.map(|t| t as f64 / 1e9);
        let cob_growth_bps = match (fork, at_ns, omem) {
            (Some(f), Some(t), Some(m)) if t > f => Some(m as f64 / ((t - f) as f64 / 1e9)),
            _ => None,
        };
        let primary = self.node_name(self.primary_of(r, at_ns.map_or(0, |t| t / 1_000_000)));
        let write_rate_bps = match (fork_s, at_ns) {
            (Some(f), Some(t)) => self.offset_slope(&primary, f, t as f64 / 1e9),
            (Some(f), None) => self.offset_slope(&primary, f, self.horizon_s),
            _ => None,
        };
        Some(Rates {
            fork_at_s: fork_s,
            write_rate_bps,
            cob_growth_bps,
            rdb_bytes: p.rdb_bytes,
            link_bps: p.link_bps,
            rdb_on_link_s: t_x,
            sync_needs_s: t_end,
            transfer_end_s: fork_s.map(|f| f + t_x),
            sync_end_s: fork_s.map(|f| f + t_end),
        })
    }

    /// The growth of a node's `master_repl_offset` between the samples nearest `from` and `to`.
    fn offset_slope(&self, node: &str, from: f64, to: f64) -> Option<f64> {
        let mine: Vec<&Sample> = self.samples.iter().filter(|s| s.node == node).collect();
        let a = mine.iter().find(|s| s.t_s >= from)?;
        let b = mine.iter().rfind(|s| s.t_s <= to)?;
        (b.t_s > a.t_s + 1e-9 && b.master_repl_offset >= a.master_repl_offset)
            .then(|| (b.master_repl_offset - a.master_repl_offset) as f64 / (b.t_s - a.t_s))
    }

    /// The replica's first PSYNC at or after `t_ns` and the primary's answer.
    fn next_psync(&self, r: usize, t_ns: u64) -> Option<Psync> {
        let t_ms = t_ns / 1_000_000;
        let name = self.node_name(r);
        let ask = self
            .log(&name)
            .iter()
            .find(|l| l.t_ms >= t_ms && l.text.contains("Trying a partial resynchronization"))?;
        let requested = ask
            .text
            .split("(request ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or("?")
            .to_string();
        let requested_offset = requested.rsplit(':').next().and_then(|s| s.parse().ok());
        let p = self.primary_of(r, ask.t_ms);
        let port = format!(":{} ", 6379 + r);
        let plog = self.log(&self.node_name(p));
        let start = plog.iter().position(|l| {
            l.t_ms >= ask.t_ms
                && l.text.starts_with("Replica ")
                && l.text.ends_with("asks for synchronization")
                && l.text.contains(&port)
        })?;
        let reply = plog[start + 1..].iter().take(8).find(|l| {
            l.text.starts_with("Partial resynchronization")
                || l.text.starts_with("Unable to partial resync")
                || l.text.starts_with("Full resync requested")
        })?;
        let mut out = Psync {
            at_s: reply.t_ms as f64 / 1e3,
            requested,
            requested_offset,
            backlog_from: None,
            backlog_to: None,
            backlog_source: "info".into(),
            served: false,
            answer: String::new(),
            bytes_sent: None,
            main_channel: false,
        };
        let main_channel = ask.text.contains("using main channel");
        let text = &reply.text;
        if text.contains("accepted. Sending ") {
            out.served = true;
            out.bytes_sent = text
                .split("Sending ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok());
            out.answer = "accepted".into();
        } else if text.contains("for lack of backlog") {
            out.answer = "refused for lack of backlog".into();
            if let Some(range) = text.split("reply with the range [").nth(1) {
                let nums: Vec<u64> = range
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .collect();
                if let [a, b] = nums[..] {
                    out.backlog_from = Some(a);
                    out.backlog_to = Some(b);
                    out.backlog_source = "log".into();
                }
            }
        } else if text.contains("Replication ID mismatch") {
            out.answer = "refused: replication ID mismatch".into();
        } else if text.contains("not accepted") {
            out.answer = "refused".into();
        } else {
            out.answer = "a full resync (the replica asked for one)".into();
        }
        out.main_channel = main_channel;
        if out.backlog_from.is_none() {
            let pname = self.node_name(p);
            if let Some(s) = self
                .samples
                .iter()
                .rfind(|s| s.node == pname && s.t_s <= out.at_s + 1e-9)
                .filter(|s| s.repl_backlog_histlen > 0)
            {
                out.backlog_from = Some(s.repl_backlog_first_byte_offset);
                out.backlog_to = Some(s.master_repl_offset);
                out.backlog_source = format!("info at {:.1} s", s.t_s);
            }
        }
        Some(out)
    }

    fn sentences(&self, s: &ReplicaStory) -> Vec<String> {
        let mut out = Vec::new();
        let Some(at) = s.at_s else {
            let fork = s.rates.as_ref().and_then(|r| r.fork_at_s);
            let mut first = "No limit was crossed".to_string();
            if let Some(f) = fork {
                first.push_str(&format!(": the primary forked at {f:.3} s"));
                if let Some(r) = &s.rates
                    && let Some(w) = r.write_rate_bps
                {
                    first.push_str(&format!(" and took writes at {}", mbps(w)));
                }
            }
            out.push(format!("{first}."));
            out.push(self.milestones(s.node));
            out.push(self.followed(s));
            return out.into_iter().filter(|x| !x.is_empty()).collect();
        };
        // The limit and its rates.
        let mut limit = String::new();
        if let Some(r) = &s.rates {
            if let (Some(f), Some(g)) = (r.fork_at_s, r.cob_growth_bps) {
                let what = match s.client.as_deref() {
                    Some("rdb_channel") => "the RDB-channel client's output buffer",
                    Some("main_channel") => "the main channel's output buffer",
                    _ => "the replica's output buffer (COB)",
                };
                limit.push_str(&format!(
                    "From the fork at {f:.3} s {what} grew at {}",
                    mbps(g)
                ));
                if let Some(w) = r.write_rate_bps {
                    limit.push_str(&format!(" (the primary took writes at {})", mbps(w)));
                }
                limit.push_str(". ");
            } else if let Some(f) = r.fork_at_s {
                limit.push_str(&format!("The primary forked at {f:.3} s. "));
            }
            if !self.scripted() {
                limit.push_str(&format!(
                    "The RDB ({}) needed {:.1} s on the {} link, and the replica could be online {:.1} s after the fork (closed form). ",
                    bytes(r.rdb_bytes),
                    r.rdb_on_link_s,
                    mbps(r.link_bps),
                    r.sync_needs_s
                ));
            }
        }
        let size = s
            .limit_bytes
            .map(|b| format!("{} ", bytes(b)))
            .unwrap_or_default();
        let omem = s
            .omem_bytes
            .map(|m| format!(" (omem {m} B)"))
            .unwrap_or_default();
        match s.first_limit.as_str() {
            "backlog" => limit.push_str(&format!(
                "First, at {at:.3} s, the replica's resume offset left the primary's {size}backlog: from then a dropped link would need a new full sync"
            )),
            "replica_buffer" => limit.push_str(&format!(
                "First, at {at:.3} s, the replica's {size}local buffer filled: from then it stopped reading the main channel and the primary's COB grew instead"
            )),
            "repl_timeout" => limit.push_str(&format!(
                "First, at {at:.3} s, a replication timeout dropped the link"
            )),
            "rdb_channel_cob" => limit.push_str(&format!(
                "The {size}COB hard limit of the RDB-channel client was reached first, at {at:.3} s{omem}"
            )),
            "primary_cob_soft" => limit.push_str(&format!(
                "The primary's {size}COB soft limit was crossed for too long first, at {at:.3} s{omem}"
            )),
            _ => limit.push_str(&format!(
                "The primary's {size}COB hard limit was reached first, at {at:.3} s{omem}"
            )),
        }
        let ends_a_sync = !matches!(s.first_limit.as_str(), "backlog" | "replica_buffer");
        if let Some(r) = s.rates.as_ref().filter(|_| ends_a_sync && !self.scripted()) {
            match (r.transfer_end_s, r.sync_end_s) {
                (Some(x), _) if x > at => {
                    limit.push_str(&format!(", {:.1} s before the transfer could end", x - at))
                }
                (_, Some(e)) if e > at => {
                    limit.push_str(&format!(", {:.1} s before the sync could end", e - at))
                }
                _ => {}
            }
        }
        if s.outcome == "clean_sync" {
            limit.push_str(" — harmless here: no link dropped after it");
        }
        limit.push('.');
        out.push(limit);
        if let Some(p) = &s.psync {
            let range = match (p.backlog_from, p.backlog_to) {
                (Some(a), Some(b)) => {
                    format!("the backlog held offsets {a}–{b} ({})", p.backlog_source)
                }
                _ => "the primary had no backlog".into(),
            };
            let mut t = format!(
                "At its next PSYNC ({:.3} s{}) the replica asked for {}; {range}: {}",
                p.at_s,
                if p.main_channel {
                    ", on its dual-channel main channel"
                } else {
                    ""
                },
                p.requested,
                p.answer
            );
            if let Some(n) = p.bytes_sent {
                t.push_str(&format!(", {n} bytes sent"));
            }
            if p.answer.contains("ID mismatch") {
                t.push_str(" (the replica had not loaded an RDB of this primary, so it still asked with its old ID)");
            } else if !p.served
                && let (Some(o), Some(a)) = (p.requested_offset, p.backlog_from)
                && o < a
            {
                t.push_str(&format!(" ({} bytes too far back)", a - o));
            }
            t.push('.');
            out.push(t);
        }
        out.push(self.followed(s));
        out
    }

    /// Fork, transfer, load and online times of the first sync.
    fn milestones(&self, r: usize) -> String {
        let when = |kind: &str| {
            self.events
                .iter()
                .find(|e| e.kind == kind && (e.replica.is_none() || e.about(r)))
                .map(|e| e.t_s())
        };
        let mut parts: Vec<(f64, String)> = [
            ("rdb_transferred", "the RDB reached the replica at"),
            ("load_done", "the replica had loaded it at"),
            ("online", "the primary marked the replica online at"),
        ]
        .iter()
        .filter_map(|(kind, words)| when(kind).map(|t| (t, format!("{words} {t:.3} s"))))
        .collect();
        if parts.is_empty() {
            return String::new();
        }
        parts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut s = parts
            .into_iter()
            .map(|p| p.1)
            .collect::<Vec<_>>()
            .join(", ");
        s[..1].make_ascii_uppercase();
        s.push('.');
        s
    }

    fn followed(&self, s: &ReplicaStory) -> String {
        let end = if s.in_sync_at_end {
            "in sync at the end".to_string()
        } else {
            format!("not in sync at the horizon ({:.0} s)", self.horizon_s)
        };
        match s.outcome.as_str() {
            "clean_sync" => format!(
                "Outcome: clean_sync — the first full sync completed{}; {end}.",
                s.synced_at_s
                    .map_or(String::new(), |t| format!(" (synced at {t:.3} s)"))
            ),
            "overflow_partial_resync" => format!(
                "Outcome: overflow_partial_resync — the PSYNC was served from the backlog, no new full sync; {} full sync(s) in all; {end}.",
                s.full_syncs
            ),
            "overflow_full_resync" => format!(
                "Outcome: overflow_full_resync — a new full sync followed and completed ({} full syncs in all, synced at {}); {end}.",
                s.full_syncs,
                s.synced_at_s.map_or("-".into(), |t| format!("{t:.3} s"))
            ),
            "full_resync_loop" => format!(
                "Outcome: full_resync_loop — full syncs kept failing: {} full syncs, {} COB disconnections; {end}.",
                s.full_syncs, s.cob_disconnects
            ),
            "timeout" => format!("Outcome: timeout — a replication timeout ended the sync; {end}."),
            "unfinished" => format!(
                "Outcome: unfinished — the horizon came mid-sync, with no COB disconnect or timeout; {end}."
            ),
            other => format!("Outcome: {other}; {end}."),
        }
    }

    /// The smallest single change for a replica, from the closed forms.
    fn suggest(&self, s: &ReplicaStory) -> Option<Suggestion> {
        s.at_s?;
        let mp = self.params(s.node)?;
        let p = mp.params;
        let primary = self.node_name(self.primary_of(s.node, s.at_ns.unwrap_or(0) / 1_000_000));
        let cob_path = |node: &str| format!("nodes.{node}.config.client-output-buffer-limit");
        let primary_cob = self
            .model
            .nodes
            .iter()
            .find(|n| n.name == primary)
            .map(|n| n.config.client_output_buffer_limit);
        let peak = if mp.dual {
            analytic::dual(&p).peak_primary_cob
        } else {
            analytic::classic(&p).peak_cob
        };
        let one = |knob: String, value: String, why: String, goal: &str| Suggestion {
            sets: vec![format!("{knob}={value}")],
            knob,
            value,
            why,
            goal: goal.into(),
            confirmed: None,
            rerun_outcome: None,
        };
        // The limit that ended a sync: a COB disconnect or a timeout after a mere transition
        // (backlog window left, local buffer full) is the one to change.
        let ending = self
            .events
            .iter()
            .filter(|e| e.about(s.node))
            .find_map(|e| match e.kind.as_str() {
                "cob_disconnect" => e.str("limit").map(|l| (l.to_string(), e.u64("omem"))),
                "timeout" => Some(("repl_timeout".to_string(), None)),
                _ => None,
            });
        let (ending, ending_omem) = ending.unwrap_or_else(|| (s.first_limit.clone(), s.omem_bytes));
        match ending.as_str() {
            "primary_cob_hard" | "primary_cob_soft" | "rdb_channel_cob" => {
                let cob = primary_cob?;
                let measured = match &s.rates {
                    Some(r) => r.cob_growth_bps.map_or(0.0, |g| g * r.sync_needs_s),
                    None => 0.0,
                };
                let omem = ending_omem.unwrap_or(0) as f64;
                let (need, how) = if ending == "rdb_channel_cob" {
                    (
                        (2.0 * omem).max(peak),
                        "no closed form covers a pinned RDB-channel client: twice its omem at the disconnect".to_string(),
                    )
                } else if measured > peak {
                    (
                        measured,
                        format!(
                            "the COB's measured growth × the {:.1} s the sync needs = {}",
                            s.rates.as_ref().map_or(0.0, |r| r.sync_needs_s),
                            bytes(measured)
                        ),
                    )
                } else {
                    (
                        peak,
                        if mp.dual {
                            format!("the closed-form main-channel COB peak is {}", bytes(peak))
                        } else {
                            format!(
                                "the closed-form COB peak W × (T_x + T_l + RTT) is {}",
                                bytes(peak)
                            )
                        },
                    )
                };
                let hard_mb = friendly_mb((need * 1.25).max(cob.hard.bytes() as f64 * 1.25));
                let hard = hard_mb * MIB;
                let soft_b = cob.soft.bytes() as f64;
                let mut q = p;
                q.cob_hard_bytes = hard;
                // Keep the soft limit unless it would trip on its own.
                let soft_trips = |q: &analytic::Params| {
                    if mp.dual {
                        analytic::dual(q).t_soft.is_some()
                    } else {
                        analytic::classic(q).t_soft.is_some()
                    }
                };
                let soft_text = if soft_b > 0.0 && (soft_trips(&q) || ending == "primary_cob_soft")
                {
                    format!("{hard_mb}mb")
                } else {
                    cob.soft.to_string()
                };
                let value = format!("{hard_mb}mb {soft_text} {}", cob.soft_seconds);
                let mut why = format!("{how}; with 25 % margin the hard limit is {hard_mb}mb");
                if soft_text != cob.soft.to_string() {
                    why.push_str(
                        " and the soft limit must rise with it (it would trip on its own)",
                    );
                }
                if !mp.dual && ending != "rdb_channel_cob" {
                    let w_star = analytic::classic_boundary_write_rate(&p);
                    if w_star.is_finite() {
                        why.push_str(&format!(
                            "; or keep writes below {} (W* = H_eff / (T_x + T_l + RTT))",
                            mbps(w_star)
                        ));
                    }
                }
                Some(one(cob_path(&primary), value, why, "clean_sync"))
            }
            "replica_buffer" => {
                let d = analytic::dual(&p);
                let need = d
                    .local_buffer_at_load_end
                    .max(2.0 * p.replica_cob_hard_bytes);
                let v = friendly_mb(need * 1.25);
                let rc = self
                    .model
                    .nodes
                    .get(s.node)?
                    .config
                    .client_output_buffer_limit;
                Some(one(
                    cob_path(&s.replica),
                    format!("{v}mb {} {}", rc.soft, rc.soft_seconds),
                    format!(
                        "the replica's local buffer holds what arrives during the load: {} (closed form), at least twice the current cap",
                        bytes(d.local_buffer_at_load_end)
                    ),
                    "clean_sync",
                ))
            }
            "backlog" => {
                let ps = s.psync.as_ref();
                let need = ps
                    .and_then(|ps| {
                        Some((ps.backlog_to? + 1).saturating_sub(ps.requested_offset?) as f64)
                    })
                    .unwrap_or(2.0 * p.backlog_bytes);
                let v = friendly_mb(need.max(p.backlog_bytes) * 1.25);
                Some(one(
                    format!("nodes.{primary}.config.repl-backlog-size"),
                    format!("{v}mb"),
                    format!("the replica's resume offset fell {} behind", bytes(need)),
                    "partial_resync",
                ))
            }
            "repl_timeout" => {
                let c = analytic::classic(&p);
                let secs = ((c.t_load.max(c.t_transfer)) * 1.25 + 1.0).ceil().max(
                    2.0 * self
                        .model
                        .nodes
                        .first()
                        .map_or(60.0, |n| n.config.repl_timeout.as_secs_f64()),
                );
                let value = format!("{secs:.0}s");
                let sets = self
                    .model
                    .nodes
                    .iter()
                    .map(|n| format!("nodes.{}.config.repl-timeout={value}", n.name))
                    .collect();
                Some(Suggestion {
                    knob: "nodes.*.config.repl-timeout".into(),
                    value,
                    sets,
                    why: format!(
                        "the longest silent phase (the RDB load, {:.1} s closed form) must fit, with margin, and at least twice the current timeout",
                        c.t_load
                    ),
                    goal: "clean_sync".into(),
                    confirmed: None,
                    rerun_outcome: None,
                })
            }
            _ => None,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// An outcome worth a change: a limit ended a sync (not a clean sync, not a run cut short by
/// its horizon).
fn failed(outcome: &str) -> bool {
    matches!(
        outcome,
        "overflow_partial_resync" | "overflow_full_resync" | "full_resync_loop" | "timeout"
    )
}

/// Bytes up to a round number of MiB: a multiple of 16 below 256, of 64 below 1024, of 256 above.
fn friendly_mb(b: f64) -> f64 {
    let mb = (b / MIB).max(1.0);
    let step = if mb <= 256.0 {
        16.0
    } else if mb <= 1024.0 {
        64.0
    } else {
        256.0
    };
    (mb / step).ceil() * step
}

/// A rate in decimal MB/s, as the closed forms and `INFO` users quote them.
fn mbps(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.1} MB/s", bps / 1e6)
    } else {
        rate(bps)
    }
}

fn parse_journal(text: &str) -> Result<Vec<Ev>, String> {
    let entries = super::run_data::parse_journal_entries(text)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut last = 0;
    for (i, (t_ns, kind, fields)) in entries.into_iter().enumerate() {
        if t_ns < last {
            return Err(format!(
                "events[{i}] goes back in time ({t_ns} ns after {last} ns)"
            ));
        }
        last = t_ns;
        let replica = fields
            .get("replica")
            .and_then(serde_json::Value::as_u64)
            .map(|r| r as usize);
        out.push(Ev {
            t_ns,
            kind,
            replica,
            fields,
        });
    }
    Ok(out)
}

fn parse_samples(text: &str) -> Result<Vec<Sample>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<Sample>().enumerate() {
        out.push(row.map_err(|e| format!("row {}: {e}", i + 2))?);
    }
    Ok(out)
}

/// Days before each month in a non-leap year (2026).
const MONTH_DAYS: [(&str, u64); 12] = [
    ("Jan", 0),
    ("Feb", 31),
    ("Mar", 59),
    ("Apr", 90),
    ("May", 120),
    ("Jun", 151),
    ("Jul", 181),
    ("Aug", 212),
    ("Sep", 243),
    ("Oct", 273),
    ("Nov", 304),
    ("Dec", 334),
];

/// `pid:R DD Mon YYYY HH:MM:SS.mmm L text` → (ms since 1 Jan 2026, text); other lines skipped.
fn parse_log(text: &str) -> Vec<Line> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(7, ' ');
            let _pid = it.next()?;
            let day: u64 = it.next()?.parse().ok()?;
            let mon = it.next()?;
            let year: u64 = it.next()?.parse().ok()?;
            let clock = it.next()?;
            let _level = it.next()?;
            let text = it.next()?.to_string();
            let before = MONTH_DAYS.iter().find(|(m, _)| *m == mon)?.1;
            let mut hms = clock.split(':');
            let h: u64 = hms.next()?.parse().ok()?;
            let m: u64 = hms.next()?.parse().ok()?;
            let sec = hms.next()?;
            let (s, ms) = sec.split_once('.')?;
            let (s, ms): (u64, u64) = (s.parse().ok()?, ms.parse().ok()?);
            let days = (year.checked_sub(2026)?) * 365 + before + day.checked_sub(1)?;
            let t_ms = ((days * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms;
            Some(Line { t_ms, text })
        })
        .collect()
}

/// The explanation as plain text.
pub fn to_text(e: &Explanation) -> String {
    let mut out = format!(
        "{} (seed {}): {}\n",
        e.model,
        e.seed.map_or("?".into(), |s| s.to_string()),
        e.outcome
    );
    let many = e.replicas.len() > 1;
    for s in &e.replicas {
        if many {
            out.push_str(&format!(
                "\n{}{}:\n",
                s.replica,
                if s.watched {
                    " (the replica the outcome record follows)"
                } else {
                    ""
                }
            ));
        }
        for line in &s.sentences {
            out.push_str(&wrap(line, if many { "  " } else { "" }));
        }
    }
    out.push('\n');
    match &e.suggestion {
        Some(sg) => {
            let sets: String = sg.sets.iter().map(|s| format!(" --set '{s}'")).collect();
            let mut t = format!(
                "Smallest single change{}: {} = \"{}\" ({}).",
                if many {
                    format!(" (for {})", e.replica)
                } else {
                    String::new()
                },
                sg.knob,
                sg.value,
                sg.why
            );
            match (sg.confirmed, &sg.rerun_outcome) {
                (Some(true), Some(o)) => t.push_str(&format!(" One rerun with it (same seed) confirmed: {o}.")),
                (Some(false), Some(o)) => t.push_str(&format!(
                    " One rerun with it (same seed) did NOT confirm it: {o}; try `replsim advise` on this knob."
                )),
                _ => t.push_str(" (not rerun)"),
            }
            if e.scripted {
                t.push_str(" Note: the model runs an action script; in a scripted test the limit may be the point of the test.");
            }
            out.push_str(&wrap(&t, ""));
            let model = e.model_file.clone().unwrap_or_else(|| "<the bundle's model>".into());
            out.push_str(&format!("  rerun: replsim run {model}{sets}\n"));
        }
        None if e.first_limit == "none" => {
            out.push_str("Nothing to change: no limit was crossed.\n")
        }
        None if e.replicas.iter().all(|s| s.outcome == "clean_sync") => {
            out.push_str("Nothing to change: every replica synced cleanly.\n")
        }
        None if e.replicas.iter().any(|s| s.outcome == "unfinished") => out.push_str(
            "Nothing to suggest: the horizon ended the run mid-sync; a longer model.horizon would tell how it ends.\n",
        ),
        None => out.push_str("No single change to suggest from the closed forms for this limit.\n"),
    }
    out
}

/// Wraps a sentence at 100 columns with an indent.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split(' ') {
        if line.len() > indent.len() && line.len() + 1 + word.len() > 100 {
            out.push_str(&line);
            out.push('\n');
            line = format!("{indent}  ");
        } else if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_parse_to_ms() {
        let l = parse_log(
            "1000:M 02 Jan 2026 00:01:17.971 * Replica 10.0.0.2:6380 asks for synchronization\nnoise",
        );
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].t_ms, 86_400_000 + 77_971);
        assert_eq!(l[0].text, "Replica 10.0.0.2:6380 asks for synchronization");
    }

    #[test]
    fn friendly_sizes_round_up() {
        assert_eq!(friendly_mb(300.0 * MIB), 320.0);
        assert_eq!(friendly_mb(1.0), 16.0);
        assert_eq!(friendly_mb(1500.0 * MIB), 1536.0);
    }

    #[test]
    fn journals_must_be_in_time_order() {
        let j = r#"{"events": [[5, {"event": "fork", "offset": 1}], [3, {"event": "fork", "offset": 2}]]}"#;
        assert!(parse_journal(j).unwrap_err().contains("back in time"));
        assert!(parse_journal("{}").is_err());
    }
}
