//! One model run on real servers: start them, fill the dataset, drive the loads and the script,
//! follow logs and INFO, stop everything, and reduce it to the simulator's outcome record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::directives::{directives, passed_through};
use super::events::{EventReader, Side, client_field, parse_line, sim_time};
use super::load::LoadThread;
use super::locate::ServerBinary;
use super::netns::Hosting;
use super::script::{Command, Probe, RealScript};
use super::server::RealServer;
use crate::engine::SimTime;
use crate::valkey::{
    ClusterSpec, Event, InfoSample, Journal, NodeRole, OutcomeRecord, RunOptions, caught_up,
    population_name,
};

/// How often the primary's backlog window is polled (for `t_backlog_exhausted_s`).
const BACKLOG_POLL: Duration = Duration::from_millis(10);
/// How long a scripted command or a set-up step waits for its reply.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `DEBUG POPULATE` of the model's dataset may take.
const POPULATE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a poll waits for a server that may be busy loading.
const POLL_TIMEOUT: Duration = Duration::from_millis(150);

/// What a write load achieved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadReport {
    /// The load's name.
    pub name: String,
    /// Commands acknowledged.
    pub ops: u64,
    /// Commands that failed.
    pub errors: u64,
    /// Replication-stream bytes sent.
    pub stream_bytes: u64,
}

/// Everything a real run produced.
#[derive(Debug)]
pub struct RealRun {
    /// The outcome record (`trace_hash` is `real`, `events` the log lines read).
    pub record: OutcomeRecord,
    /// Replication events read from the logs.
    pub journal: Journal,
    /// Each node's log, by node name.
    pub logs: Vec<(String, String)>,
    /// INFO samples.
    pub samples: Vec<InfoSample>,
    /// What each write load did.
    pub loads: Vec<LoadReport>,
}

/// Runs `spec` on real servers for `options.horizon`, in `work` (one folder per node), placed
/// by `hosting` (which the run keeps, and drops after its servers).
pub fn run_real(
    spec: &ClusterSpec,
    options: &RunOptions,
    binary: &ServerBinary,
    work: &Path,
    hosting: Hosting,
) -> Result<RealRun, String> {
    let roles = Roles::of(spec);
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let load_names: Vec<String> = spec.workloads.iter().map(|w| w.name.clone()).collect();
    let mut script = RealScript::new(&spec.actions, &names, &load_names)?;
    let servers = start_servers(spec, binary, work, roles.primary, &hosting)?;
    let release = binary.release;
    let mut run = Live::new(servers, names.clone(), hosting);
    let mut loads = Vec::new();
    for w in &spec.workloads {
        let target = w
            .target
            .as_ref()
            .and_then(|t| names.iter().position(|n| n == t))
            .unwrap_or(roles.primary);
        let server = &run.servers[target];
        loads.push(LoadThread::start(
            w,
            &server.place,
            server.port,
            run.t0,
            options.seed,
        )?);
    }
    let mut replicaof = replicaof_schedule(spec, &names, roles.primary);
    let horizon = Duration::from_nanos(options.horizon.as_nanos());
    let sample_every = Duration::from_nanos(options.sample_interval.as_nanos()).max(BACKLOG_POLL);
    let mut follow = Follow::new(roles, &spec.nodes[roles.primary].config, release);
    let (mut next_sample, mut next_backlog) = (Duration::ZERO, Duration::ZERO);
    script.start(run.t0.elapsed(), &mut run);
    loop {
        let now = run.t0.elapsed();
        if now >= horizon {
            break;
        }
        replicaof.retain(|&(at, r, t)| {
            if now >= at {
                run.perform(Command::Replicaof(r, t), &mut loads);
            }
            now < at
        });
        let fresh = follow.read_logs(&mut run);
        if now >= next_backlog {
            next_backlog = now + BACKLOG_POLL;
            follow.check_backlog(&mut run, now);
        }
        if now >= next_sample {
            next_sample = now + sample_every;
            follow.sample_all(&mut run, now);
        }
        for c in script.tick(now, &fresh, &mut run) {
            run.perform(c, &mut loads);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let end = run.t0.elapsed();
    let in_sync = follow.in_sync_at_end(&mut run, end);
    let loads = loads.into_iter().map(LoadReport::finish).collect();
    let logs = run
        .servers
        .iter()
        .map(|s| (s.name.clone(), s.log_text()))
        .collect();
    for s in &mut run.servers {
        s.stop();
    }
    let (primary, watched) = (roles.primary, roles.watched);
    let mut record = OutcomeRecord::reduce(
        &follow.journal,
        &run.samples,
        &names[primary],
        (watched, &names[watched]),
        in_sync,
    );
    record.seed = options.seed;
    record.trace_hash = "real".to_string();
    record.events = follow.log_lines;
    record.sim_seconds = end.as_secs_f64();
    record.wall_seconds = end.as_secs_f64();
    record.assertions_failed = script.assertions_failed.clone();
    record.warnings = spec.warnings(options.horizon);
    record.passed = record.assertions_failed.is_empty();
    record.marks = script.marks.clone();
    Ok(RealRun {
        record,
        journal: follow.journal,
        logs,
        samples: std::mem::take(&mut run.samples),
        loads,
    })
}

impl LoadReport {
    /// Stops a load and reports what it did.
    fn finish(mut l: LoadThread) -> LoadReport {
        l.stop();
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        LoadReport {
            name: l.name.clone(),
            ops: get(&l.shared.ops),
            errors: get(&l.shared.errors),
            stream_bytes: get(&l.shared.stream_bytes),
        }
    }
}

/// Which node is the primary and which replica the record watches (as the simulator picks).
#[derive(Clone, Copy, Debug)]
struct Roles {
    primary: usize,
    watched: usize,
}

impl Roles {
    fn of(spec: &ClusterSpec) -> Self {
        Roles {
            primary: spec.primary_index(),
            watched: spec.watched_replica_index(),
        }
    }
}

/// The directives of every node as `binary`'s release takes them, or why the model cannot run on
/// that release (checked before any server starts): a directive it lacks, or a scripted
/// `DEBUG pause-after-fork` (Valkey only).
pub fn release_directives(
    spec: &ClusterSpec,
    binary: &ServerBinary,
) -> Result<Vec<Vec<(String, String)>>, super::release::NotApplicable> {
    if binary.release.is_redis()
        && let Some(a) = spec
            .actions
            .iter()
            .find(|a| a.kind == crate::valkey::ActionKind::PauseAfterFork)
    {
        return Err(super::release::NotApplicable(format!(
            "action {}: DEBUG pause-after-fork is Valkey's, {} has no such command",
            a.name.as_deref().unwrap_or("pause-after-fork"),
            binary.release.pretty()
        )));
    }
    spec.nodes
        .iter()
        .map(|node| {
            let level = node.loglevel.as_deref().unwrap_or("notice");
            let own = binary
                .release
                .adapt(&node.config, directives(&node.config, level))
                .map_err(|e| super::release::NotApplicable(format!("node {}: {e}", node.name)))?;
            Ok([own, passed_through(&node.ignored_directives)].concat())
        })
        .collect()
}

/// Starts every node with its configs and grace period, and fills the primary's dataset.
fn start_servers(
    spec: &ClusterSpec,
    binary: &ServerBinary,
    work: &Path,
    primary: usize,
    hosting: &Hosting,
) -> Result<Vec<RealServer>, String> {
    let mut servers = Vec::new();
    let all = release_directives(spec, binary).map_err(|e| e.to_string())?;
    for ((i, node), directives) in spec.nodes.iter().enumerate().zip(&all) {
        let server = RealServer::start(
            binary,
            &node.name,
            &work.join(&node.name),
            directives,
            &hosting.place(i),
        )?;
        if let Some(secs) = binary.release.grace_period_command(&node.config) {
            let cmd = redis::cmd("DEBUG")
                .arg("delay-rdb-client-free-seconds")
                .arg(secs)
                .clone();
            server.command::<()>(&cmd, COMMAND_TIMEOUT)?;
        }
        servers.push(server);
    }
    // One DEBUG POPULATE per population, with its key prefix and value size.
    for (i, p) in spec.dataset.populations.iter().enumerate() {
        if p.keys == 0 {
            continue;
        }
        let populate = redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(p.keys)
            .arg(population_name(p, i))
            .arg(p.value_size.bytes())
            .clone();
        servers[primary]
            .command::<()>(&populate, POPULATE_TIMEOUT)
            .map_err(|e| format!("DEBUG POPULATE of population {i} on the primary failed: {e}"))?;
    }
    Ok(servers)
}

/// `(when, replica, its primary)` for every replica's `REPLICAOF`.
fn replicaof_schedule(
    spec: &ClusterSpec,
    names: &[String],
    primary: usize,
) -> Vec<(Duration, usize, usize)> {
    spec.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.role == NodeRole::Replica)
        .map(|(i, n)| {
            let target = n
                .replicaof
                .as_ref()
                .and_then(|t| names.iter().position(|x| x == t))
                .unwrap_or(primary);
            (Duration::from_nanos(n.replicaof_at.as_nanos()), i, target)
        })
        .collect()
}

/// What the harness learns from logs and INFO as the run goes: the journal, and the offset the
/// watched replica would resume from (for `t_backlog_exhausted_s`).
///
/// The resume offset is the RDB's offset + 1 during a full sync (from the log lines that state
/// it), and `slave_repl_offset + 1` while the replica streams (from its INFO). A dual-channel
/// replica loading with its main channel established reads the stream at a cadence nobody
/// reports, so no exhaustion is recorded then (the simulator, which knows what was read, can
/// record one; `first_limit` may then say `backlog` on the simulated side only — the agreement
/// goal does not use it).
struct Follow {
    roles: Roles,
    reader: EventReader,
    journal: Journal,
    exhausted: bool,
    streaming_resume: Option<u64>,
    log_lines: u64,
}

impl Follow {
    fn new(
        roles: Roles,
        primary_config: &crate::valkey::ValkeyConfig,
        release: super::release::RealRelease,
    ) -> Self {
        Follow {
            roles,
            reader: EventReader::new(roles.watched, primary_config, release),
            journal: Journal::default(),
            exhausted: false,
            streaming_resume: None,
            log_lines: 0,
        }
    }

    /// New log lines of every server since time 0, as `(node, text)`; replication events go to
    /// the journal.
    fn read_logs(&mut self, run: &mut Live) -> Vec<(usize, String)> {
        let mut fresh = Vec::new();
        for i in 0..run.servers.len() {
            for line in run.servers[i].new_log_lines() {
                let Some(parsed) = parse_line(&line) else {
                    continue;
                };
                if parsed.unix_ms < run.t0_unix_ms {
                    continue;
                }
                self.log_lines += 1;
                if parsed
                    .text
                    .contains("for overcoming of output buffer limits")
                {
                    let id = client_field(&parsed.text, "id=").unwrap_or_default();
                    run.cob_closed[i].insert(id.to_string());
                }
                let t = sim_time(parsed.unix_ms, run.t0_unix_ms);
                let side = if i == self.roles.primary {
                    Some(Side::Primary)
                } else if i == self.roles.watched {
                    Some(Side::Replica)
                } else {
                    None
                };
                for e in side.map_or_else(Vec::new, |s| self.reader.read(s, &parsed.text)) {
                    if matches!(
                        e,
                        Event::ReplicaSynced { .. } | Event::FullSyncStarted { .. }
                    ) {
                        self.streaming_resume = None;
                    }
                    self.journal.push(t, e);
                }
                fresh.push((i, parsed.text));
            }
        }
        fresh
    }

    /// Records the first time the resume offset leaves the primary's PSYNC window.
    fn check_backlog(&mut self, run: &mut Live, now: Duration) {
        if self.reader.resume_unknown() {
            return;
        }
        let resume = self.reader.sync_resume_offset.or(self.streaming_resume);
        let (Some(resume), Some(first)) = (resume, run.backlog_first(self.roles.primary)) else {
            return;
        };
        let out = resume < first;
        if out && !self.exhausted {
            let replica = self.roles.watched;
            self.journal
                .push(at(now), Event::BacklogExhausted { replica });
        }
        self.exhausted = out;
    }

    /// An INFO sample of every node that answers.
    fn sample_all(&mut self, run: &mut Live, now: Duration) {
        for i in 0..run.servers.len() {
            let Some(mut s) = run.sample(i, now, self.reader.dual_waiting_psync()) else {
                continue;
            };
            if i == self.roles.watched {
                if s.master_link_up && !s.master_sync_in_progress {
                    self.streaming_resume = Some(s.slave_repl_offset + 1);
                }
                // During a sync the replica would resume from the RDB's offset + 1 (the
                // timeline's "replica behind" line), not from its empty dataset's offset.
                if let Some(r) = self.reader.sync_resume_offset.or(self.streaming_resume) {
                    s.resume_offset = r;
                }
            }
            run.samples.push(s);
        }
    }

    /// The replica's link is up and it is within `CAUGHT_UP_BYTES` of the primary.
    fn in_sync_at_end(&self, run: &mut Live, end: Duration) -> bool {
        let p = run.sample(self.roles.primary, end, false);
        let r = run.sample(self.roles.watched, end, false);
        let in_sync = matches!((&p, &r), (Some(p), Some(r)) if caught_up(p, r));
        run.samples.extend(p);
        run.samples.extend(r);
        in_sync
    }
}

/// Wall time since time 0 as simulated time.
fn at(d: Duration) -> SimTime {
    SimTime::ZERO.saturating_add(crate::engine::SimDuration::from_nanos(
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
    ))
}

/// The servers during a run.
struct Live {
    servers: Vec<RealServer>,
    paused: Vec<bool>,
    conns: Vec<Option<redis::Connection>>,
    samples: Vec<InfoSample>,
    t0: Instant,
    t0_unix_ms: i64,
    sample_names: Vec<String>,
    /// Per node, the ids of the clients its log says it closed for overcoming output buffer
    /// limits: INFO's `client_output_buffer_limit_disconnections` where the release lacks
    /// that field (Redis before 7.4).
    cob_closed: Vec<BTreeSet<String>>,
    /// Last, so that it is dropped after the servers (a namespace goes after its server).
    hosting: Hosting,
}

impl Live {
    /// The servers at time 0 (now): what their logs hold so far is before it.
    fn new(mut servers: Vec<RealServer>, names: Vec<String>, hosting: Hosting) -> Self {
        for s in &mut servers {
            s.new_log_lines();
        }
        let n = servers.len();
        Live {
            servers,
            paused: vec![false; n],
            conns: (0..n).map(|_| None).collect(),
            samples: Vec::new(),
            t0: Instant::now(),
            t0_unix_ms: unix_ms(),
            sample_names: names,
            cob_closed: vec![BTreeSet::new(); n],
            hosting,
        }
    }

    /// A command on node `i`'s polling connection; a failed one drops the connection (a reply
    /// that comes after a timeout would otherwise answer the next command).
    fn query<T: redis::FromRedisValue>(&mut self, i: usize, cmd: &redis::Cmd) -> Option<T> {
        // A stopped server (ours, or its own `DEBUG pause-after-fork`) would only cost a
        // timeout, and the harness's loop would react late to everything else.
        if self.paused[i] || self.servers[i].is_stopped() {
            return None;
        }
        if self.conns[i].is_none() {
            self.conns[i] = self.servers[i].connect(POLL_TIMEOUT).ok();
        }
        let conn = self.conns[i].as_mut()?;
        match cmd.query::<T>(conn) {
            Ok(v) => Some(v),
            Err(_) => {
                self.conns[i] = None;
                None
            }
        }
    }

    fn backlog_first(&mut self, i: usize) -> Option<u64> {
        let text: String = self.query(i, redis::cmd("INFO").arg("replication"))?;
        let info = parse_info(&text);
        (info.get("repl_backlog_active").map(String::as_str) == Some("1"))
            .then(|| num(&info, "repl_backlog_first_byte_offset"))
    }

    fn sample(&mut self, i: usize, now: Duration, rdb_pinned: bool) -> Option<InfoSample> {
        let text: String = self.query(i, &redis::cmd("INFO"))?;
        let info = parse_info(&text);
        let role = if info.get("role").map(String::as_str) == Some("slave") {
            "slave"
        } else {
            "master"
        };
        let mut s = InfoSample::at(
            SimTime::ZERO
                .saturating_add(crate::engine::SimDuration::from_nanos(now.as_nanos() as u64)),
            &self.sample_names[i],
            role,
        );
        s.master_repl_offset = num(&info, "master_repl_offset");
        s.repl_backlog_first_byte_offset = num(&info, "repl_backlog_first_byte_offset");
        s.repl_backlog_histlen = num(&info, "repl_backlog_histlen");
        // Redis 6.2 has no shared buffer: its backlog and every replica's own list (the
        // simulator's Redis 6.2 reports their sum under this name).
        s.mem_total_replication_buffers = if info.contains_key("mem_total_replication_buffers") {
            num(&info, "mem_total_replication_buffers")
        } else {
            num(&info, "mem_replication_backlog") + num(&info, "mem_clients_slaves")
        };
        s.replicas_waiting_psync = num(&info, "replicas_waiting_psync");
        s.connected_slaves = num(&info, "connected_slaves");
        s.replicas_online = info
            .iter()
            .filter(|(k, v)| k.starts_with("slave") && v.contains("state=online"))
            .count() as u64;
        s.dbsize = info
            .iter()
            .filter(|(k, _)| k.starts_with("db"))
            .filter_map(|(_, v)| {
                v.strip_prefix("keys=")?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        s.sync_full = num(&info, "sync_full");
        s.sync_partial_ok = num(&info, "sync_partial_ok");
        s.sync_partial_err = num(&info, "sync_partial_err");
        s.client_output_buffer_limit_disconnections =
            if info.contains_key("client_output_buffer_limit_disconnections") {
                num(&info, "client_output_buffer_limit_disconnections")
            } else {
                self.cob_closed[i].len() as u64
            };
        s.rdb_bgsave_in_progress = num(&info, "rdb_bgsave_in_progress") == 1;
        s.master_link_up = info.get("master_link_status").map(String::as_str) == Some("up");
        s.master_sync_in_progress = num(&info, "master_sync_in_progress") == 1;
        s.loading = num(&info, "loading") == 1;
        s.slave_repl_offset = num(&info, "slave_repl_offset");
        s.resume_offset = s.slave_repl_offset + 1;
        s.replicas_repl_buffer_size = num(&info, "replicas_repl_buffer_size");
        s.rdb_bytes_read = num(&info, "master_sync_read_bytes");
        if role == "master" && s.connected_slaves > 0 {
            let list: String = self
                .query(
                    i,
                    redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("replica"),
                )
                .unwrap_or_default();
            let omem = list
                .lines()
                .filter_map(|l| client_field(l, "omem=")?.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            if rdb_pinned {
                s.rdb_channel_omem = omem;
            } else {
                s.replica_omem = omem;
            }
        }
        Some(s)
    }

    /// A scripted command that answers `+OK`.
    fn command(&self, node: usize, cmd: &redis::Cmd) -> Result<(), String> {
        self.servers[node].command::<()>(cmd, COMMAND_TIMEOUT)
    }

    fn perform(&mut self, c: Command, loads: &mut [LoadThread]) {
        let result = match c {
            Command::Pause(n, on) => {
                self.servers[n].set_paused(on);
                self.paused[n] = on;
                if on {
                    self.conns[n] = None;
                }
                Ok(())
            }
            Command::ConfigSet(n, k, v) => {
                self.command(n, redis::cmd("CONFIG").arg("SET").arg(&k).arg(&v))
            }
            Command::Replicaof(n, t) => {
                let port = self.servers[t].port;
                self.hosting
                    .address(n, t)
                    .and_then(|addr| self.command(n, redis::cmd("REPLICAOF").arg(addr).arg(port)))
            }
            Command::ReplicaofNoOne(n) => {
                self.command(n, redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
            }
            Command::KillPrimaryLink(n) => {
                let kill = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("master")
                    .clone();
                self.servers[n]
                    .command::<i64>(&kill, COMMAND_TIMEOUT)
                    .map(|_| ())
            }
            Command::KillConnection(n) => {
                let kill = |kind: &str| {
                    redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("TYPE")
                        .arg(kind)
                        .clone()
                };
                // A node kills what it has: its replicas' links, and its link to a primary.
                let _ = self.servers[n].command::<i64>(&kill("replica"), COMMAND_TIMEOUT);
                self.servers[n]
                    .command::<i64>(&kill("master"), COMMAND_TIMEOUT)
                    .map(|_| ())
            }
            Command::PauseAfterFork(n, on) => self.command(
                n,
                redis::cmd("DEBUG")
                    .arg("pause-after-fork")
                    .arg(u8::from(on)),
            ),
            Command::Populate(n, keys, size) => self.command(
                n,
                redis::cmd("DEBUG")
                    .arg("POPULATE")
                    .arg(keys)
                    .arg("populate")
                    .arg(size),
            ),
            Command::SetLoad(l, on) => {
                if let Some(load) = loads.get(l) {
                    load.shared
                        .enabled
                        .store(on, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            eprintln!("replsim: validate: a scripted command failed: {e}");
        }
    }
}

impl Probe for Live {
    fn info(&mut self, node: usize) -> Option<InfoSample> {
        let now = self.t0.elapsed();
        self.sample(node, now, false)
    }

    fn stopped(&mut self, node: usize) -> bool {
        self.paused[node] || self.servers[node].is_stopped()
    }
}

/// `INFO` text as a map of `field → value`.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A numeric INFO field (0 when missing).
pub(super) fn num(info: &BTreeMap<String, String>, key: &str) -> u64 {
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
