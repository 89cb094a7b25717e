//! What a simulated system is: nodes with their Valkey configs and performance, hosts and links,
//! the dataset, the write loads. The model-file reader (`scenario/`) deserialises straight into
//! these types, so their field names are the model file's keys.

use serde::{Deserialize, Serialize};

use super::config::ValkeyConfig;
use super::script::ActionSpec;
use super::workload::WorkloadSpec;
use crate::engine::SimDuration;
use crate::units::{ByteSize, Rate};

/// The dataset the primary holds when the run starts (what the RDB is made of): one or more
/// key populations (a `DEBUG POPULATE` of one size plus an application keyspace of another),
/// each with its own count, key and value sizes and compressibility.
///
/// In a model file either the flat form (one population: `keys`, `value-size`, `key-bytes`,
/// `compression-ratio` in `[dataset]`) or `[[dataset.populations]]` tables with those keys
/// each (and an optional `name`, the key prefix `replsim validate` gives `DEBUG POPULATE`;
/// default `key`, then `key2`, `key3`, …). `per-key-overhead` is the dataset's.
///
/// The flat fields hold the totals and the first population's sizes: `keys` is the total key
/// count; `value_size`, `key_bytes` and `compression_ratio` are the first population's (the
/// sizes of keys that loads and `populate` add).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DatasetFile", into = "DatasetFile")]
pub struct DatasetSpec {
    /// Number of keys (all populations).
    pub keys: u64,
    /// The first population's mean value size.
    pub value_size: ByteSize,
    /// The first population's mean key length (default 16).
    pub key_bytes: u64,
    /// The first population's RDB bytes per value byte after LZF (`rdbcompression yes`); 1.0
    /// for incompressible values. `DEBUG POPULATE`'s zero padding compresses to about 0.012.
    /// Default 1.0.
    pub compression_ratio: f64,
    /// Fixed RDB bytes per key besides key and value (type, lengths, expiry); default 12.
    pub per_key_overhead: u64,
    /// The populations, in file order (one for the flat form).
    pub populations: Vec<Population>,
}

/// One key population of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Population {
    /// The key prefix (`DEBUG POPULATE <keys> <name> <value-size>` on a real server); default
    /// `key` for the first population, `key<i>` (1-based) for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of keys.
    pub keys: u64,
    /// Mean value size.
    pub value_size: ByteSize,
    /// Mean key length (default 16).
    #[serde(default = "default_key_bytes")]
    pub key_bytes: u64,
    /// RDB bytes per value byte after LZF (default 1.0).
    #[serde(default = "one")]
    pub compression_ratio: f64,
}

impl Population {
    /// RDB bytes of one key of this population (besides the fixed per-key overhead).
    fn rdb_bytes_per_key(&self, per_key_overhead: u64) -> f64 {
        per_key_overhead as f64
            + self.key_bytes as f64
            + self.value_size.bytes() as f64 * self.compression_ratio
    }
}

/// `[dataset]` as written: the flat form or populations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DatasetFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compression_ratio: Option<f64>,
    #[serde(default = "default_per_key")]
    per_key_overhead: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    populations: Option<Vec<Population>>,
}

impl TryFrom<DatasetFile> for DatasetSpec {
    type Error = String;

    fn try_from(f: DatasetFile) -> Result<Self, String> {
        let flat_form = f.populations.is_none();
        let populations = match f.populations {
            None => {
                let (Some(keys), Some(value_size)) = (f.keys, f.value_size) else {
                    return Err(format!(
                        "[dataset] needs `keys` and `value-size` (missing: {}), or \
                         [[dataset.populations]] tables",
                        [
                            ("keys", f.keys.is_none()),
                            ("value-size", f.value_size.is_none())
                        ]
                        .iter()
                        .filter(|(_, missing)| *missing)
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                    ));
                };
                vec![Population {
                    name: None,
                    keys,
                    value_size,
                    key_bytes: f.key_bytes.unwrap_or_else(default_key_bytes),
                    compression_ratio: f.compression_ratio.unwrap_or_else(one),
                }]
            }
            Some(pops) => {
                let flat: Vec<&str> = [
                    ("keys", f.keys.is_some()),
                    ("value-size", f.value_size.is_some()),
                    ("key-bytes", f.key_bytes.is_some()),
                    ("compression-ratio", f.compression_ratio.is_some()),
                ]
                .iter()
                .filter(|(_, given)| *given)
                .map(|(k, _)| *k)
                .collect();
                if !flat.is_empty() {
                    return Err(format!(
                        "[dataset] has both {} and [[dataset.populations]]: give the sizes in \
                         each population (the flat form is one population)",
                        flat.join(", ")
                    ));
                }
                if pops.is_empty() {
                    return Err(
                        "[[dataset.populations]] is empty: give at least one population".into(),
                    );
                }
                pops
            }
        };
        let mut total: u64 = 0;
        let mut names: Vec<String> = Vec::new();
        for (i, p) in populations.iter().enumerate() {
            let at = if flat_form {
                "dataset.".to_string()
            } else {
                format!("dataset.populations[{i}].")
            };
            let r = p.compression_ratio;
            if !(r.is_finite() && r > 0.0 && r <= 1.5) {
                return Err(format!("{at}compression-ratio {r} is outside (0, 1.5]"));
            }
            total = total
                .checked_add(p.keys)
                .ok_or_else(|| format!("{at}keys: the total key count overflows"))?;
            let name = population_name(p, i);
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!(
                    "{at}name \"{name}\" is not a key prefix (no spaces)"
                ));
            }
            if names.contains(&name) {
                return Err(format!(
                    "{at}name \"{name}\" is used by two populations (it is their key prefix)"
                ));
            }
            names.push(name);
        }
        let first = &populations[0];
        Ok(DatasetSpec {
            keys: total,
            value_size: first.value_size,
            key_bytes: first.key_bytes,
            compression_ratio: first.compression_ratio,
            per_key_overhead: f.per_key_overhead,
            populations,
        })
    }
}

impl From<DatasetSpec> for DatasetFile {
    fn from(d: DatasetSpec) -> Self {
        match &d.populations[..] {
            [only] if only.name.is_none() => DatasetFile {
                keys: Some(only.keys),
                value_size: Some(only.value_size),
                key_bytes: Some(only.key_bytes),
                compression_ratio: Some(only.compression_ratio),
                per_key_overhead: d.per_key_overhead,
                populations: None,
            },
            _ => DatasetFile {
                keys: None,
                value_size: None,
                key_bytes: None,
                compression_ratio: None,
                per_key_overhead: d.per_key_overhead,
                populations: Some(d.populations),
            },
        }
    }
}

/// The key prefix of population `i`.
pub fn population_name(p: &Population, i: usize) -> String {
    match &p.name {
        Some(n) => n.clone(),
        None if i == 0 => "key".to_string(),
        None => format!("key{}", i + 1),
    }
}

fn default_key_bytes() -> u64 {
    16
}
fn one() -> f64 {
    1.0
}
fn default_per_key() -> u64 {
    12
}

impl DatasetSpec {
    /// A one-population dataset.
    pub fn single(keys: u64, value_size: ByteSize, compression_ratio: f64) -> Self {
        DatasetSpec {
            keys,
            value_size,
            key_bytes: default_key_bytes(),
            compression_ratio,
            per_key_overhead: default_per_key(),
            populations: vec![Population {
                name: None,
                keys,
                value_size,
                key_bytes: default_key_bytes(),
                compression_ratio,
            }],
        }
    }

    /// RDB bytes of one key of the first population (the size of keys loads add).
    fn first_key_rdb_bytes(&self) -> f64 {
        self.per_key_overhead as f64
            + self.key_bytes as f64
            + self.value_size.bytes() as f64 * self.compression_ratio
    }

    /// The mean RDB bytes of one key over the populations (weighted by their key counts).
    pub fn mean_key_rdb_bytes(&self) -> f64 {
        if self.populations.len() <= 1 || self.keys == 0 {
            return self.first_key_rdb_bytes();
        }
        self.populations_rdb_bytes() / self.keys as f64
    }

    /// RDB bytes of every population's keys (no fixed part).
    fn populations_rdb_bytes(&self) -> f64 {
        self.populations
            .iter()
            .map(|p| p.keys as f64 * p.rdb_bytes_per_key(self.per_key_overhead))
            .sum()
    }

    /// RDB wire bytes S for `keys` keys: the populations' keys at their own sizes, keys beyond
    /// them (written by loads) at the first population's, fewer keys at the mean size.
    pub fn rdb_bytes_for(&self, keys: u64) -> u64 {
        if self.populations.len() <= 1 {
            return (keys as f64 * self.first_key_rdb_bytes()).round() as u64 + RDB_FIXED_BYTES;
        }
        let bytes = if keys >= self.keys {
            self.populations_rdb_bytes() + (keys - self.keys) as f64 * self.first_key_rdb_bytes()
        } else {
            keys as f64 * self.mean_key_rdb_bytes()
        };
        bytes.round() as u64 + RDB_FIXED_BYTES
    }

    /// Keys in an RDB of `rdb_bytes`, at the mean per-key size (exact for the dataset's own
    /// RDB; a replica uses it to count what it loaded).
    pub fn keys_in(&self, rdb_bytes: u64) -> u64 {
        let per_key = self.mean_key_rdb_bytes();
        if per_key <= 0.0 {
            return 0;
        }
        (rdb_bytes.saturating_sub(RDB_FIXED_BYTES) as f64 / per_key).round() as u64
    }
}

/// Header, aux fields and trailer of an RDB file.
const RDB_FIXED_BYTES: u64 = 200;

/// Rates and delays of one node that Valkey's configs do not set: how fast its machine does the
/// work (valkey-model.md §7.2's G, L, A, and the fork and flush costs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PerfSpec {
    /// RDB bytes per second the fork child produces with no `rdb-key-save-delay` (G).
    pub rdb_save_rate: Rate,
    /// RDB bytes per second a replica loads with no `key-load-delay` (L).
    pub rdb_load_rate: Rate,
    /// Fixed cost of saving one key in the fork child, besides its bytes at `rdb-save-rate`
    /// (encoding, dict iteration; about 1.2 µs on a 2020s x86 core). Default 0.
    pub rdb_save_per_key: SimDuration,
    /// Fixed cost of loading one key on a replica, besides its bytes at `rdb-load-rate`
    /// (allocation, dict insert; about 1.5 µs). Default 0.
    pub rdb_load_per_key: SimDuration,
    /// Time a replica spends on its handshake before the sync request (connect, PING, REPLCONF
    /// round trips and their processing): about 1–10 ms on loopback, more on a slow or loaded
    /// machine. Default 0 (one message round trip only).
    pub handshake_time: SimDuration,
    /// Bytes per second of buffered stream a dual-channel replica applies after loading (A).
    pub apply_rate: Rate,
    /// Disk write speed (disk-based RDB on the primary, RDB download to disk on a replica).
    pub disk_write_rate: Rate,
    /// Time to fork, per GiB of dataset (page-table copy).
    pub fork_time_per_gib: SimDuration,
    /// Extra cost of each per-key sleep beyond the configured microseconds (the sleep call's own
    /// overhead, valkey-model.md §10.5).
    pub key_delay_overhead: SimDuration,
    /// The allocator Valkey was built with (jemalloc or libc): sets the real size of the
    /// replication buffer blocks that output-buffer usage counts (§2.1, §2.5).
    pub allocator: super::repl_buffer::Allocator,
    /// Longest gap between the last RDB byte arriving and the replica noticing the end of the
    /// download (§10.7); the gap is drawn uniformly in `[0, this]` from the node's stream.
    pub download_end_detect_max: SimDuration,
    /// Shortest such gap (default 0): the gap is drawn in `[min, max]`. Valkey 9.1's replica
    /// downloads in a bio thread and its main thread notices the end on a roughly 1 Hz poll,
    /// so on loopback the gap is rarely below 0.7 s.
    pub download_end_detect_min: SimDuration,
    /// Valkey 9.1: a disk-load replica downloads in a bio thread whose end and failure its main
    /// thread notices on its next 1 Hz replication cron (seen on 9.1.2: "Replica main thread
    /// detected RDB download completion / failure in Bio thread"). When true, the download's end
    /// and a lost connection during it wait for that tick (instead of the
    /// `download-end-detect-*` draw), and only then does the replica load or reconnect. The
    /// bio thread's own lines ("Replica bio thread: Done downloading RDB", …) are logged when
    /// the last byte is written, for classic and dual-channel downloads alike; a dual-channel
    /// download cut by the primary is still noticed at once (simplification: only the classic
    /// failure waits for the tick). Default false.
    pub download_polled: bool,
}

impl Default for PerfSpec {
    fn default() -> Self {
        PerfSpec {
            rdb_save_rate: Rate::new(300_000_000),
            rdb_load_rate: Rate::new(200_000_000),
            rdb_save_per_key: SimDuration::ZERO,
            handshake_time: SimDuration::ZERO,
            rdb_load_per_key: SimDuration::ZERO,
            apply_rate: Rate::new(200_000_000),
            disk_write_rate: Rate::new(1_000_000_000),
            fork_time_per_gib: SimDuration::from_millis(10),
            key_delay_overhead: SimDuration::ZERO,
            allocator: super::repl_buffer::Allocator::Jemalloc,
            download_end_detect_max: SimDuration::ZERO,
            download_end_detect_min: SimDuration::ZERO,
            download_polled: false,
        }
    }
}

/// A node's role at the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Holds the dataset and serves replicas.
    Primary,
    /// Will replicate from `replicaof`.
    Replica,
}

/// One Valkey server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name (also the log file's name).
    pub name: String,
    /// Primary or replica.
    pub role: NodeRole,
    /// The host it runs on (default: a host named like the node).
    #[serde(default)]
    pub host: Option<String>,
    /// For a replica: the node it replicates from (default: the first primary). It may be another
    /// replica (chained replication); the chain must end at a primary.
    #[serde(default)]
    pub replicaof: Option<String>,
    /// When the replica is told `REPLICAOF` (default 0, the start of the run).
    #[serde(default)]
    pub replicaof_at: SimDuration,
    /// `loglevel` (debug, verbose, notice, warning); default notice.
    #[serde(default)]
    pub loglevel: Option<String>,
    /// The Valkey configuration.
    #[serde(default)]
    pub config: ValkeyConfig,
    /// Machine performance.
    #[serde(default)]
    pub perf: PerfSpec,
    /// Real valkey.conf directives of this node's `config` that the model has no knob for
    /// (`save`, `appendonly`, `port`, …), as `(name, valkey.conf value)`: they change nothing
    /// in the simulation (each is a warning), and `replsim validate` passes them on to the real
    /// server. Set by the model-file reader.
    #[serde(skip)]
    pub ignored_directives: Vec<(String, String)>,
}

impl NodeSpec {
    /// The host this node runs on.
    pub fn host_name(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.name)
    }
}

/// A network link between two hosts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LinkSpecFile {
    /// One end (a host name).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Line rate, per direction (`1gbit`, `10gbit`, `100mb/s`).
    pub bandwidth: Rate,
    /// One-way propagation latency (default 100us).
    #[serde(default = "default_latency")]
    pub latency: SimDuration,
    /// Whether `bandwidth` is a line rate that loses Ethernet framing (1448/1514, the default)
    /// or already the payload rate a TCP stream gets (`false`).
    #[serde(default = "yes")]
    pub framing_overhead: bool,
    /// TCP send buffer of connections over this link (default: the network's default).
    #[serde(default)]
    pub send_buffer: Option<ByteSize>,
    /// TCP receive buffer (window) of connections over this link.
    #[serde(default)]
    pub receive_buffer: Option<ByteSize>,
}

fn yes() -> bool {
    true
}

fn default_latency() -> SimDuration {
    SimDuration::from_micros(100)
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClusterSpec {
    /// The server release every node runs (`[model] server`).
    #[serde(default)]
    pub server: super::release::Release,
    /// The servers.
    pub nodes: Vec<NodeSpec>,
    /// The links between hosts.
    #[serde(default)]
    pub links: Vec<LinkSpecFile>,
    /// The primary's dataset.
    pub dataset: DatasetSpec,
    /// Write loads.
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    /// The action script.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
}

impl ClusterSpec {
    /// The node that starts as the primary (the first with role primary).
    pub fn primary_index(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.role == NodeRole::Primary)
            .unwrap_or(0)
    }

    /// What the model says that is allowed but will not do what it seems to, one sentence
    /// each, in model order: real valkey.conf directives the model ignores; actions that can
    /// never fire (`at` or `at` + `delay` beyond the `horizon`, an `after` chain that is a cycle
    /// or hangs from such an action); write loads aimed at a node that starts as a replica.
    pub fn warnings(&self, horizon: SimDuration) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            for (k, _) in &n.ignored_directives {
                out.push(format!(
                    "nodes.{}.config.{k}: a valkey.conf directive the model has no knob for; \
                     ignored by the simulation (replsim validate passes it to the real server)",
                    n.name
                ));
            }
        }
        out.extend(self.action_warnings(horizon));
        for w in &self.workloads {
            let Some(target) = &w.target else { continue };
            if self
                .nodes
                .iter()
                .any(|n| &n.name == target && n.role == NodeRole::Replica)
            {
                out.push(format!(
                    "workloads.{}: writes to {target}, which starts as a replica: a replica \
                     refuses writes (READONLY), so the load reaches no replication stream \
                     unless {target} is made a primary",
                    w.name
                ));
            }
        }
        out
    }

    fn action_warnings(&self, horizon: SimDuration) -> Vec<String> {
        let labels: Vec<String> = (0..self.actions.len())
            .map(|i| self.actions[i].label(i))
            .collect();
        let parent: Vec<Option<usize>> = self
            .actions
            .iter()
            .map(|a| {
                a.after
                    .as_ref()
                    .and_then(|name| labels.iter().position(|l| l == name))
            })
            .collect();
        let mut out = Vec::new();
        // Why each action never fires, if it never does: decided along its `after` chain.
        let mut dead: Vec<Option<String>> = vec![None; self.actions.len()];
        for (i, a) in self.actions.iter().enumerate() {
            let acts_at = a.at.map(|at| {
                SimDuration::from_nanos(
                    at.as_nanos()
                        .saturating_add(a.delay.map_or(0, SimDuration::as_nanos)),
                )
            });
            if let Some(t) = acts_at.filter(|&t| t > horizon) {
                let reason = format!("acts at {t}, after the horizon ({horizon})");
                out.push(format!("actions.{}: {reason}; it never runs", labels[i]));
                dead[i] = Some(reason);
            }
        }
        for i in 0..self.actions.len() {
            if dead[i].is_some() {
                continue;
            }
            let mut path = vec![i];
            let mut at = i;
            while let Some(p) = parent[at] {
                if let Some(start) = path.iter().position(|&x| x == p) {
                    if start == 0 {
                        let cycle: Vec<&str> = path
                            .iter()
                            .chain(std::iter::once(&p))
                            .map(|&x| labels[x].as_str())
                            .collect();
                        out.push(format!(
                            "actions.{}: its `after` chain is a cycle ({}); it is never armed",
                            labels[i],
                            cycle.join(" -> ")
                        ));
                    } else {
                        out.push(format!(
                            "actions.{}: its `after` chain reaches {}, which is in an `after` \
                             cycle; it is never armed",
                            labels[i], labels[p]
                        ));
                    }
                    break;
                }
                if dead[p].is_some() {
                    out.push(format!(
                        "actions.{}: its `after` chain reaches {}, which never runs; it is never \
                         armed",
                        labels[i], labels[p]
                    ));
                    break;
                }
                path.push(p);
                at = p;
            }
        }
        out
    }

    /// The replica whose sync the outcome record describes (the first with role replica).
    pub fn watched_replica_index(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.role == NodeRole::Replica)
            .unwrap_or_else(|| self.primary_index())
    }
}
