//! From a [`ClusterSpec`] to a finished run: builds the network and the actors, runs them, and
//! reduces the journal, the logs and the INFO samples to the outcome record of DESIGN.md.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{
    ActorId, RunStats, SimDuration, SimError, SimTime, Simulation, StopAt, StopReason,
};
use crate::net::{ConnOptions, HostId, LinkSpec, Network, Overhead, Topology};

use super::info::InfoSample;
use super::journal::{EndState, Journal, Limit, Outcome};
use super::log::Level;
use super::release::Release;
use super::script::{Action, ActionKind, Script, ScriptTick, info_field_names};
use super::server::Server;
use super::spec::{ClusterSpec, NodeRole};
use super::workload_client::LoadClient;
use super::world::{Control, Msg, Node, NodeAddr, World};

/// How to run a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunOptions {
    /// The master seed.
    pub seed: u64,
    /// Simulated time to run.
    pub horizon: SimDuration,
    /// INFO sampling interval.
    pub sample_interval: SimDuration,
    /// Work budget: events plus the work done inside them (the network's inner loop, cancelled
    /// timers). A run that needs more fails with [`SimError::WorkBudget`] rather than return a
    /// record of a shorter run.
    pub max_events: u64,
    /// Run the invariant checker ([`super::invariants`]): a broken invariant ends the run with
    /// [`SimError::Invariant`]. Always on in the crate's own unit tests.
    pub check: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: 1,
            horizon: SimDuration::from_secs(600),
            sample_interval: SimDuration::from_millis(100),
            max_events: 50_000_000,
            check: cfg!(test),
        }
    }
}

/// A model that cannot be built, with the key at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct BuildError {
    /// Where in the model (`nodes[1].replicaof`, `links[0].bandwidth`, …).
    pub key: String,
    /// What is wrong and what would be valid.
    pub reason: String,
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> BuildError {
    BuildError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The outcome record of one run (DESIGN.md "Outcome of a run").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutcomeRecord {
    /// How the run ended.
    pub outcome: Outcome,
    /// The first limit crossed.
    pub first_limit: Limit,
    /// The replica is online and caught up at the horizon.
    pub in_sync_at_end: bool,
    /// Time of the first COB disconnect (s).
    pub t_cob_overflow_s: Option<f64>,
    /// First time the replica's resume offset fell out of the PSYNC window (s).
    pub t_backlog_exhausted_s: Option<f64>,
    /// Which came first.
    pub cob_before_backlog: Option<bool>,
    /// `sync_full`.
    pub full_syncs: u64,
    /// `sync_partial_ok`.
    pub partial_syncs_ok: u64,
    /// `sync_partial_err`.
    pub partial_syncs_err: u64,
    /// `client_output_buffer_limit_disconnections`.
    pub cob_disconnections: u64,
    /// Largest `omem` of a replica-side client.
    pub peak_cob_bytes: u64,
    /// Largest `repl_backlog_histlen`.
    pub peak_backlog_bytes: u64,
    /// Largest dual-channel local buffer.
    pub peak_replica_buffer_bytes: u64,
    /// The master seed.
    pub seed: u64,
    /// The trace digest.
    pub trace_hash: String,
    /// Events processed.
    pub events: u64,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall-clock seconds (provenance only).
    pub wall_seconds: f64,
    /// replsim's version.
    pub replsim_version: &'static str,
    /// The server release the run modelled (`[model] server`).
    pub server: Release,
    /// Every scripted wait held in time (`assertions_failed` is empty): the modelled test
    /// passed. True for a model without a script.
    pub passed: bool,
    /// Scripted waits that timed out (a failed test assertion; the run itself succeeded).
    pub assertions_failed: Vec<String>,
    /// Named timestamps from the script (seconds), by name.
    pub marks: std::collections::BTreeMap<String, f64>,
    /// What the model says that will not do what it seems to ([`ClusterSpec::warnings`]):
    /// ignored valkey.conf directives, actions that never fire, loads aimed at a replica.
    pub warnings: Vec<String>,
}

impl OutcomeRecord {
    /// The record of a run from its journal and INFO samples (the primary's last sample gives
    /// the counters, peaks come from every sample), with the watched replica `(index, name)`.
    /// Provenance fields (seed, trace hash, event count, times, assertions, marks) are left
    /// empty for the caller — the simulator and `replsim validate`'s real runs both use this.
    pub fn reduce(
        journal: &Journal,
        samples: &[InfoSample],
        primary: &str,
        (replica, replica_name): (usize, &str),
        in_sync_at_end: bool,
    ) -> OutcomeRecord {
        let class = journal.classify(EndState {
            replica,
            in_sync_at_end,
        });
        let of = |name: &str| {
            let name = name.to_string();
            samples.iter().filter(move |s| s.node == name)
        };
        let last_primary = of(primary).next_back().cloned().unwrap_or_default();
        let journal_omem = journal
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                super::journal::Event::CobDisconnect { omem, .. } => Some(*omem),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        OutcomeRecord {
            outcome: class.outcome,
            first_limit: class.first_limit,
            in_sync_at_end,
            t_cob_overflow_s: class.t_cob_overflow_s,
            t_backlog_exhausted_s: class.t_backlog_exhausted_s,
            cob_before_backlog: class.cob_before_backlog,
            full_syncs: last_primary.sync_full,
            partial_syncs_ok: last_primary.sync_partial_ok,
            partial_syncs_err: last_primary.sync_partial_err,
            cob_disconnections: last_primary.client_output_buffer_limit_disconnections,
            peak_cob_bytes: of(primary)
                .map(|s| s.replica_omem.max(s.rdb_channel_omem))
                .max()
                .unwrap_or(0)
                .max(journal_omem),
            peak_backlog_bytes: of(primary)
                .map(|s| s.repl_backlog_histlen)
                .max()
                .unwrap_or(0),
            peak_replica_buffer_bytes: of(replica_name)
                .map(|s| s.replicas_repl_buffer_size)
                .max()
                .unwrap_or(0),
            seed: 0,
            trace_hash: String::new(),
            events: 0,
            sim_seconds: 0.0,
            wall_seconds: 0.0,
            replsim_version: env!("CARGO_PKG_VERSION"),
            server: Release::default(),
            passed: true,
            assertions_failed: Vec::new(),
            marks: std::collections::BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The outcome record.
    pub record: OutcomeRecord,
    /// The journal of replication events.
    pub journal: Journal,
    /// Every node's log, rendered, by node name (in model order).
    pub logs: Vec<(String, String)>,
    /// INFO samples of every node.
    pub samples: Vec<InfoSample>,
    /// Engine statistics.
    pub stats: RunStats,
    /// What the network did (its share of the work).
    pub network: NetworkCost,
}

/// The network's cost over a run: what grows with simulated time and connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkCost {
    /// Instants the network processed (its wake-ups).
    pub wakeups: u64,
    /// Units of work (see [`crate::net::Network::work`]), included in [`RunStats::work`].
    pub work: u64,
    /// The most threshold watches pending on one direction of one connection at once.
    pub peak_watches: usize,
}

/// A built, not yet run, simulation of a cluster.
#[derive(Debug)]
pub struct Cluster {
    sim: Simulation<Node>,
    servers: Vec<ActorId>,
    watched_replica: usize,
    primary: usize,
    options: RunOptions,
    warnings: Vec<String>,
    server: Release,
}

/// A replica is "caught up" when the primary is at most this far ahead of it (more than the
/// default socket buffers and flight can hold, so a healthy stream always qualifies).
pub const CAUGHT_UP_BYTES: u64 = 8 << 20;

/// Whether a replica is in sync with its primary, from one INFO sample of each: its link is up
/// and it is at most [`CAUGHT_UP_BYTES`] behind.
pub fn caught_up(primary: &InfoSample, replica: &InfoSample) -> bool {
    replica.master_link_up
        && primary
            .master_repl_offset
            .saturating_sub(replica.slave_repl_offset)
            <= CAUGHT_UP_BYTES
}

impl Cluster {
    /// Builds the simulation for `spec`.
    pub fn build(spec: &ClusterSpec, options: &RunOptions) -> Result<Self, BuildError> {
        validate(spec)?;
        super::limits::check(spec, options.horizon)?;
        let (topology, hosts, conn_options) = build_topology(spec)?;
        let net = Network::new(topology, options.seed);
        let mut world = World::new(net);
        world.conn_options = conn_options;
        if options.check {
            world.checker = Some(Box::default());
        }
        let mut sim = Simulation::new(options.seed, world);
        let sim_err = |e: SimError| bad("nodes", e.to_string());
        let driver = sim.add_actor("net", Node::NetDriver).map_err(sim_err)?;
        sim.env_mut().wake.set_driver(driver);
        let primary = spec.primary_index();
        let mut servers = Vec::new();
        for (i, node) in spec.nodes.iter().enumerate() {
            let keys = if i == primary {
                spec.dataset.keys as f64
            } else {
                0.0
            };
            let mut server = Server::new(
                i,
                &node.name,
                node.config.clone(),
                node.perf.clone(),
                spec.dataset.clone(),
                keys,
                options.sample_interval,
            );
            server.release = spec.server;
            server.primary.typical_command_bytes = spec
                .workloads
                .iter()
                .filter(|w| w.target.as_deref().is_none_or(|t| t == node.name))
                .map(|w| w.typical_command_bytes())
                .max()
                .unwrap_or(100);
            let actor = sim
                .add_actor(&node.name, Node::Server(Box::new(server)))
                .map_err(sim_err)?;
            servers.push(actor);
            let level = parse_level(node.loglevel.as_deref())
                .map_err(|r| bad(format!("nodes[{i}].loglevel"), r))?;
            let world = sim.env_mut();
            world.logs.set_level(i, level);
            world.nodes.push(NodeAddr {
                name: node.name.clone(),
                actor,
                host: hosts[i],
                addr: format!(
                    "10.0.{}.{}:{}",
                    hosts[i].index() / 250,
                    hosts[i].index() % 250 + 1,
                    6379 + i
                ),
            });
            world.resume_offsets.push();
        }
        for (i, &actor) in servers.iter().enumerate() {
            schedule(&mut sim, actor, Msg::Boot, SimTime::ZERO)?;
            let node = &spec.nodes[i];
            if node.role == NodeRole::Replica {
                let target = node
                    .replicaof
                    .as_deref()
                    .and_then(|name| spec.nodes.iter().position(|n| n.name == name))
                    .unwrap_or(primary);
                let at = SimTime::ZERO.saturating_add(node.replicaof_at);
                schedule(
                    &mut sim,
                    actor,
                    Msg::Control(Control::ReplicaOf(target)),
                    at,
                )?;
            }
            let horizon = SimTime::ZERO.saturating_add(options.horizon);
            schedule(&mut sim, actor, Msg::Sample, horizon)?;
        }
        let mut clients = Vec::new();
        for (i, w) in spec.workloads.iter().enumerate() {
            let target = w
                .target
                .as_deref()
                .and_then(|name| spec.nodes.iter().position(|n| n.name == name))
                .unwrap_or(primary);
            let client = LoadClient::new(i as u32, w.clone(), servers[target]);
            let (start, stop) = client.start_stop();
            let actor = sim
                .add_actor(
                    &format!("client:{}", w.name),
                    Node::Client(Box::new(client)),
                )
                .map_err(sim_err)?;
            clients.push(actor);
            if let Some(start) = start {
                schedule(
                    &mut sim,
                    actor,
                    Msg::Control(Control::SetLoad(true)),
                    SimTime::ZERO.saturating_add(start),
                )?;
            }
            if let Some(stop) = stop {
                schedule(
                    &mut sim,
                    actor,
                    Msg::Control(Control::SetLoad(false)),
                    SimTime::ZERO.saturating_add(stop),
                )?;
            }
        }
        let actions = resolve_actions(spec, &servers, &clients, &sim)?;
        if !actions.is_empty() {
            let script = Box::new(Script::new(actions, servers.clone()));
            let actor = sim
                .add_actor("script", Node::Script(script))
                .map_err(sim_err)?;
            schedule(
                &mut sim,
                actor,
                Msg::ScriptTick(ScriptTick::Start),
                SimTime::ZERO,
            )?;
        }
        let watched_replica = spec.watched_replica_index();
        Ok(Cluster {
            sim,
            servers,
            watched_replica,
            primary,
            options: options.clone(),
            warnings: spec.warnings(options.horizon),
            server: spec.server,
        })
    }

    /// Schedules an action on the node called `node` at `at` (for scripts and tests).
    pub fn control_at(
        &mut self,
        node: &str,
        control: Control,
        at: SimTime,
    ) -> Result<(), BuildError> {
        let Some(i) = self.sim.env().nodes.iter().position(|n| n.name == node) else {
            return Err(bad("actions", format!("unknown node \"{node}\"")));
        };
        let actor = self.servers[i];
        schedule(&mut self.sim, actor, Msg::Control(control), at)
    }

    /// The index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.sim.env().nodes.iter().position(|n| n.name == name)
    }

    /// Enables the JSON-lines event trace.
    pub fn set_trace_writer(&mut self, out: Box<dyn std::io::Write>) {
        self.sim.set_trace_writer(out);
    }

    /// Runs to the horizon and reduces the run to its record.
    pub fn run(mut self) -> Result<RunResult, SimError> {
        let horizon = SimTime::ZERO.saturating_add(self.options.horizon);
        let stats = self.sim.run(StopAt {
            horizon,
            max_events: self.options.max_events,
        })?;
        if let Some(v) = self.sim.env().checker.as_ref().and_then(|c| c.violation()) {
            return Err(SimError::Invariant {
                at: v.at,
                node: v.node.clone(),
                invariant: v.invariant.to_string(),
                detail: v.detail.clone(),
            });
        }
        // A record cut short by the budget would describe a shorter run than the model asks for.
        if stats.stop == StopReason::EventBudget {
            return Err(SimError::WorkBudget {
                budget: self.options.max_events,
                at: stats.end_time,
                horizon,
            });
        }
        let world = self.sim.env();
        let in_sync = self.in_sync_at_end(world);
        let mut record = OutcomeRecord::reduce(
            &world.journal,
            &world.samples,
            &world.nodes[self.primary].name,
            (
                self.watched_replica,
                &world.nodes[self.watched_replica].name,
            ),
            in_sync,
        );
        record.server = self.server;
        record.seed = self.options.seed;
        record.trace_hash = stats.trace_hash.clone();
        record.events = stats.events;
        record.sim_seconds = stats.end_time.as_secs_f64();
        record.wall_seconds = stats.wall_seconds;
        record.assertions_failed = world.assertions_failed.clone();
        record.passed = record.assertions_failed.is_empty();
        record.marks = world.marks.clone();
        record.warnings = self.warnings.clone();
        let world = self.sim.env_mut();
        let network = NetworkCost {
            wakeups: world.net.events(),
            work: world.net.work(),
            peak_watches: world.net.peak_watches(),
        };
        let rendered = world.logs.render_nodes(world.nodes.len());
        let logs = world
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .zip(rendered)
            .collect();
        Ok(RunResult {
            record,
            journal: std::mem::take(&mut world.journal),
            logs,
            samples: std::mem::take(&mut world.samples),
            stats,
            network,
        })
    }

    fn in_sync_at_end(&self, world: &World) -> bool {
        let (p, r) = (
            &world.nodes[self.primary].name,
            &world.nodes[self.watched_replica].name,
        );
        let last = |name: &String| world.samples.iter().rev().find(|s| &s.node == name);
        match (last(p), last(r)) {
            (Some(p), Some(r)) => caught_up(p, r),
            _ => false,
        }
    }
}

fn schedule(
    sim: &mut Simulation<Node>,
    actor: ActorId,
    msg: Msg,
    at: SimTime,
) -> Result<(), BuildError> {
    sim.send_at(actor, msg, at)
        .map_err(|e| bad("actions", e.to_string()))
}

fn parse_level(level: Option<&str>) -> Result<Level, String> {
    match level.unwrap_or("notice") {
        "debug" => Ok(Level::Debug),
        "verbose" => Ok(Level::Verbose),
        "notice" => Ok(Level::Notice),
        "warning" => Ok(Level::Warning),
        other => Err(format!(
            "\"{other}\" is not one of debug, verbose, notice, warning"
        )),
    }
}

/// Checks what serde cannot: references between parts, ranges, uniqueness.
fn validate(spec: &ClusterSpec) -> Result<(), BuildError> {
    if spec.nodes.is_empty() {
        return Err(bad("nodes", "a model needs at least one node"));
    }
    let primaries = spec
        .nodes
        .iter()
        .filter(|n| n.role == NodeRole::Primary)
        .count();
    if primaries == 0 {
        return Err(bad("nodes", "no node has role = \"primary\""));
    }
    // Nodes by name (the first of a name): lookups without a scan, so that checking a model of
    // thousands of nodes is not quadratic.
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        by_name.entry(node.name.as_str()).or_insert(i);
    }
    for (i, node) in spec.nodes.iter().enumerate() {
        let key = |k: &str| format!("nodes[{i}].{k}");
        if node.name.is_empty() {
            return Err(bad(key("name"), "must not be empty"));
        }
        if by_name
            .get(node.name.as_str())
            .is_some_and(|&first| first < i)
        {
            return Err(bad(
                key("name"),
                format!("\"{}\" is used by two nodes", node.name),
            ));
        }
        node.config
            .validate()
            .map_err(|e| bad(format!("nodes[{i}].config.{}", e.key), e.reason))?;
        if let Some(target) = &node.replicaof {
            match by_name.get(target.as_str()).map(|&k| &spec.nodes[k]) {
                None => {
                    return Err(bad(
                        key("replicaof"),
                        format!("no node is called \"{target}\""),
                    ));
                }
                Some(n) if n.name == node.name => {
                    return Err(bad(key("replicaof"), "a node cannot replicate from itself"));
                }
                _ => {}
            }
            if node.role == NodeRole::Replica {
                check_chain(spec, i)?;
            }
        }
        for (k, rate) in [
            ("perf.rdb-save-rate", node.perf.rdb_save_rate),
            ("perf.rdb-load-rate", node.perf.rdb_load_rate),
            ("perf.apply-rate", node.perf.apply_rate),
            ("perf.disk-write-rate", node.perf.disk_write_rate),
        ] {
            if rate.bytes_per_sec() == 0 {
                return Err(bad(key(k), "must be greater than zero"));
            }
        }
    }
    let d = &spec.dataset;
    if !(d.compression_ratio.is_finite() && d.compression_ratio > 0.0 && d.compression_ratio <= 1.5)
    {
        return Err(bad(
            "dataset.compression-ratio",
            format!("{} is outside (0, 1.5]", d.compression_ratio),
        ));
    }
    for (i, w) in spec.workloads.iter().enumerate() {
        w.validate()
            .map_err(|r| bad(format!("workloads[{i}]"), r))?;
        if let Some(t) = &w.target
            && !by_name.contains_key(t.as_str())
        {
            return Err(bad(
                format!("workloads[{i}].target"),
                format!("no node is called \"{t}\""),
            ));
        }
        if spec.workloads[..i].iter().any(|o| o.name == w.name) {
            return Err(bad(
                format!("workloads[{i}].name"),
                format!("\"{}\" is used by two workloads", w.name),
            ));
        }
    }
    Ok(())
}

/// A replica's chain of primaries (`replicaof`, chained replication) must end at a node with
/// `role = "primary"`: a cycle is an impossible topology.
fn check_chain(spec: &ClusterSpec, start: usize) -> Result<(), BuildError> {
    let mut seen = vec![start];
    let mut at = start;
    while let Some(up) = primary_of(spec, at) {
        if seen.contains(&up) {
            let names: Vec<&str> = seen
                .iter()
                .chain(std::iter::once(&up))
                .map(|&j| spec.nodes[j].name.as_str())
                .collect();
            return Err(bad(
                format!("nodes[{start}].replicaof"),
                format!(
                    "an impossible topology: the replication chain {} is a cycle (every chain must end at a node with role = \"primary\")",
                    names.join(" -> ")
                ),
            ));
        }
        seen.push(up);
        at = up;
    }
    Ok(())
}

/// The topology, each node's host, and the socket options of each link's connections.
type TopologyParts = (Topology, Vec<HostId>, Vec<(HostId, HostId, ConnOptions)>);

/// Hosts (one per distinct host name, in node order) and links.
fn build_topology(spec: &ClusterSpec) -> Result<TopologyParts, BuildError> {
    let mut topology = Topology::new();
    let mut names: Vec<String> = Vec::new();
    let mut hosts = Vec::new();
    for node in &spec.nodes {
        let host = node.host_name().to_string();
        let id = match topology.host_id(&host) {
            Some(id) => id,
            None => {
                let id = topology
                    .add_host(&host)
                    .map_err(|e| bad("nodes", e.to_string()))?;
                names.push(host);
                id
            }
        };
        hosts.push(id);
    }
    for (i, node) in spec.nodes.iter().enumerate() {
        let Some(target) = primary_of(spec, i) else {
            continue;
        };
        if hosts[i] == hosts[target] {
            return Err(bad(
                format!("nodes[{i}].host"),
                format!(
                    "\"{}\" shares host \"{}\" with its primary; give each node its own host and a link between them",
                    node.name,
                    node.host_name()
                ),
            ));
        }
    }
    let mut options = Vec::new();
    for (i, l) in spec.links.iter().enumerate() {
        let host = |name: &String, k: &str| {
            topology.host_id(name).ok_or_else(|| {
                bad(
                    format!("links[{i}].{k}"),
                    format!("no node runs on host \"{name}\""),
                )
            })
        };
        let (a, b) = (host(&l.a, "a")?, host(&l.b, "b")?);
        let mut link = LinkSpec::new(l.bandwidth, l.latency);
        if !l.framing_overhead {
            link = link.with_overhead(Overhead {
                payload: 1,
                frame: 1,
            });
        }
        topology
            .add_link(a, b, link)
            .map_err(|e| bad(format!("links[{i}]"), e.to_string()))?;
        let mut o = ConnOptions::default();
        if let Some(s) = l.send_buffer {
            o.send_buffer = s;
        }
        if let Some(r) = l.receive_buffer {
            o.recv_buffer = r;
        }
        options.push((a, b, o));
    }
    for (i, node) in spec.nodes.iter().enumerate() {
        let Some(target) = primary_of(spec, i) else {
            continue;
        };
        if topology.link_between(hosts[i], hosts[target]).is_none() {
            return Err(bad(
                "links",
                format!(
                    "no link between host \"{}\" (node {}) and host \"{}\" (its primary)",
                    node.host_name(),
                    node.name,
                    spec.nodes[target].host_name()
                ),
            ));
        }
    }
    Ok((topology, hosts, options))
}

/// Resolves the script's names (nodes, loads, hosts, other actions) to ids, checking each
/// action has what its kind needs.
fn resolve_actions(
    spec: &ClusterSpec,
    _servers: &[ActorId],
    clients: &[ActorId],
    sim: &Simulation<Node>,
) -> Result<Vec<Action>, BuildError> {
    let node_index = |name: &str| spec.nodes.iter().position(|n| n.name == name);
    let labels: Vec<String> = spec
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| a.label(i))
        .collect();
    let info_names = info_field_names();
    let mut out = Vec::new();
    for (i, a) in spec.actions.iter().enumerate() {
        let key = |k: &str| format!("actions[{i}].{k}");
        if labels[..i].contains(&labels[i]) {
            return Err(bad(
                key("name"),
                format!("\"{}\" names two actions", labels[i]),
            ));
        }
        let node = match &a.node {
            Some(n) => Some(
                node_index(n)
                    .ok_or_else(|| bad(key("node"), format!("no node is called \"{n}\"")))?,
            ),
            None => None,
        };
        let needs_node = !matches!(
            a.kind,
            ActionKind::LinkDown
                | ActionKind::LinkUp
                | ActionKind::StartLoad
                | ActionKind::StopLoad
                | ActionKind::Mark
                | ActionKind::Expect
                | ActionKind::Never
        );
        if a.kind == ActionKind::Never && (a.when.is_none() || a.timeout.is_none()) {
            return Err(bad(
                key("when"),
                "never needs when = {...} (what must not happen) and timeout (for how long)",
            ));
        }
        if needs_node && node.is_none() {
            return Err(bad(
                key("node"),
                format!("{:?} needs node = \"<name>\"", a.kind),
            ));
        }
        let target = match (&a.target, a.kind) {
            (Some(t), _) => Some(
                node_index(t)
                    .ok_or_else(|| bad(key("target"), format!("no node is called \"{t}\"")))?,
            ),
            (None, ActionKind::Replicaof) => {
                return Err(bad(key("target"), "replicaof needs target = \"<primary>\""));
            }
            _ => None,
        };
        let populate_ok = a.value.as_deref().is_some_and(|v| {
            let nums: Vec<&str> = v.split_whitespace().collect();
            nums.len() == 2 && nums.iter().all(|n| n.parse::<u64>().is_ok())
        });
        if a.kind == ActionKind::Populate && !populate_ok {
            return Err(bad(
                key("value"),
                "populate needs value = \"<count> <value-size>\" (e.g. \"1000 100000\")",
            ));
        }
        if a.kind == ActionKind::KillConnection
            && a.value
                .as_deref()
                .is_some_and(|v| !super::script::KILL_KINDS.contains(&v))
        {
            return Err(bad(
                key("value"),
                format!(
                    "kill-connection kills every replication connection, or with value one of {:?} only the primary's clients of that type",
                    super::script::KILL_KINDS
                ),
            ));
        }
        if a.kind == ActionKind::ConfigSet && (a.key.is_none() || a.value.is_none()) {
            return Err(bad(key("key"), "config-set needs key and value"));
        }
        let load =
            match (&a.load, a.kind) {
                (Some(l), _) => {
                    let j = spec.workloads.iter().position(|w| &w.name == l);
                    Some(j.map(|j| clients[j]).ok_or_else(|| {
                        bad(key("load"), format!("no workload is called \"{l}\""))
                    })?)
                }
                (None, ActionKind::StartLoad | ActionKind::StopLoad) => {
                    return Err(bad(
                        key("load"),
                        "start-load and stop-load need load = \"<workload>\"",
                    ));
                }
                _ => None,
            };
        let link = match (a.kind, &a.a, &a.b) {
            (ActionKind::LinkDown | ActionKind::LinkUp, Some(x), Some(y)) => {
                let topo = sim.env().net.topology();
                let host = |h: &String, k: &str| {
                    topo.host_id(h)
                        .ok_or_else(|| bad(key(k), format!("no host is called \"{h}\"")))
                };
                let (hx, hy) = (host(x, "a")?, host(y, "b")?);
                if topo.link_between(hx, hy).is_none() {
                    return Err(bad(
                        key("a"),
                        format!("no link between \"{x}\" and \"{y}\""),
                    ));
                }
                Some((hx, hy))
            }
            (ActionKind::LinkDown | ActionKind::LinkUp, _, _) => {
                return Err(bad(
                    key("a"),
                    "link-down and link-up need a = \"<host>\" and b = \"<host>\"",
                ));
            }
            _ => None,
        };
        let after = match &a.after {
            Some(name) => Some(
                labels
                    .iter()
                    .position(|l| l == name)
                    .filter(|&j| j != i)
                    .ok_or_else(|| {
                        bad(
                            key("after"),
                            format!("no other action is called \"{name}\""),
                        )
                    })?,
            ),
            None => None,
        };
        let until = match &a.until {
            Some(name) if a.kind == ActionKind::Never => Some(
                labels
                    .iter()
                    .position(|l| l == name)
                    .filter(|&j| j != i)
                    .ok_or_else(|| {
                        bad(
                            key("until"),
                            format!("no other action is called \"{name}\""),
                        )
                    })?,
            ),
            Some(_) => return Err(bad(key("until"), "only a never action takes until")),
            None => None,
        };
        let watch_node = match &a.when {
            Some(c) => {
                let n = node_index(&c.node).ok_or_else(|| {
                    bad(
                        key("when.node"),
                        format!("no node is called \"{}\"", c.node),
                    )
                })?;
                match (&c.log, &c.info) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(bad(
                            key("when"),
                            "give exactly one of log = \"<glob>\" or info = \"<field>\"",
                        ));
                    }
                    (None, Some(f)) if !info_names.contains(f) => {
                        return Err(bad(
                            key("when.info"),
                            format!(
                                "unknown INFO field \"{f}\" (valid: {})",
                                info_names.join(", ")
                            ),
                        ));
                    }
                    _ => {}
                }
                if let Some(op) = &c.op
                    && !matches!(
                        op.as_str(),
                        ">" | ">=" | "<" | "<=" | "==" | "!=" | "increased"
                    )
                {
                    return Err(bad(
                        key("when.op"),
                        format!("\"{op}\" is not one of >, >=, <, <=, ==, !="),
                    ));
                }
                Some(n)
            }
            None => None,
        };
        let other_node = match a.when.as_ref().and_then(|c| c.value_of.as_ref()) {
            Some(r) => {
                if !info_names.contains(&r.info) {
                    return Err(bad(
                        key("when.value-of.info"),
                        format!(
                            "unknown INFO field \"{}\" (valid: {})",
                            r.info,
                            info_names.join(", ")
                        ),
                    ));
                }
                if a.when.as_ref().is_some_and(|c| c.info.is_none()) {
                    return Err(bad(
                        key("when.value-of"),
                        "value-of compares an INFO field: give info = \"<field>\" too",
                    ));
                }
                Some(node_index(&r.node).ok_or_else(|| {
                    bad(
                        key("when.value-of.node"),
                        format!("no node is called \"{}\"", r.node),
                    )
                })?)
            }
            None => None,
        };
        if a.at.is_some() && a.when.is_some() {
            return Err(bad(key("at"), "give either at or when, not both"));
        }
        out.push(Action {
            label: labels[i].clone(),
            spec: a.clone(),
            after,
            until,
            node,
            watch_node,
            other_node,
            target,
            load,
            link,
        });
    }
    Ok(out)
}

/// The primary a replica node replicates from (its `replicaof`, else the first primary).
fn primary_of(spec: &ClusterSpec, i: usize) -> Option<usize> {
    let node = &spec.nodes[i];
    if node.role != NodeRole::Replica {
        return None;
    }
    node.replicaof
        .as_deref()
        .and_then(|t| spec.nodes.iter().position(|n| n.name == t))
        .or_else(|| spec.nodes.iter().position(|n| n.role == NodeRole::Primary))
}
