//! One model run on real servers: start them, fill the dataset, drive the loads and the script,
//! follow logs and INFO, stop everything, and reduce it to the simulator's outcome record.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::directives::{directives, grace_period_command};
use super::events::{EventReader, Side, parse_line, sim_time};
use super::load::LoadThread;
use super::locate::ServerBinary;
use super::script::{Command, Probe, RealScript};
use super::server::RealServer;
use crate::engine::SimTime;
use crate::valkey::{
    CAUGHT_UP_BYTES, ClusterSpec, Event, InfoSample, Journal, NodeRole, OutcomeRecord, RunOptions,
};

/// How often the primary's backlog window is polled (for `t_backlog_exhausted_s`).
const BACKLOG_POLL: Duration = Duration::from_millis(10);
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

/// Runs `spec` on real servers for `options.horizon`, in `work` (one folder per node).
pub fn run_real(
    spec: &ClusterSpec,
    options: &RunOptions,
    binary: &ServerBinary,
    work: &Path,
) -> Result<RealRun, String> {
    super::server::install_interrupt_handler();
    let primary = spec
        .nodes
        .iter()
        .position(|n| n.role == NodeRole::Primary)
        .unwrap_or(0);
    let watched = spec
        .nodes
        .iter()
        .position(|n| n.role == NodeRole::Replica)
        .unwrap_or(primary);
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let load_names: Vec<String> = spec.workloads.iter().map(|w| w.name.clone()).collect();
    let mut script = RealScript::new(&spec.actions, &names, &load_names)?;

    let mut servers = Vec::new();
    for node in &spec.nodes {
        let level = node.loglevel.as_deref().unwrap_or("notice");
        let server = RealServer::start(
            &binary.path,
            &node.name,
            &work.join(&node.name),
            &directives(&node.config, level),
        )?;
        if let Some(secs) = grace_period_command(&node.config) {
            command(&server, |c| {
                redis::cmd("DEBUG")
                    .arg("delay-rdb-client-free-seconds")
                    .arg(secs)
                    .query::<()>(c)
            })?;
        }
        servers.push(server);
    }
    let d = &spec.dataset;
    if d.keys > 0 {
        let mut conn = servers[primary]
            .connect(Duration::from_secs(600))
            .map_err(|e| format!("cannot connect to the primary: {e}"))?;
        redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(d.keys)
            .arg("key")
            .arg(d.value_size.bytes())
            .query::<()>(&mut conn)
            .map_err(|e| format!("DEBUG POPULATE on the primary failed: {e}"))?;
    }

    let mut run = Live {
        servers,
        paused: vec![false; spec.nodes.len()],
        conns: (0..spec.nodes.len()).map(|_| None).collect(),
        samples: Vec::new(),
        t0: Instant::now(),
        t0_unix_ms: unix_ms(),
        sample_names: names.clone(),
    };
    for s in &mut run.servers {
        s.new_log_lines(); // the start and the populate are before time 0
    }
    let mut loads = Vec::new();
    for w in &spec.workloads {
        let target = w
            .target
            .as_ref()
            .and_then(|t| names.iter().position(|n| n == t))
            .unwrap_or(primary);
        loads.push(LoadThread::start(
            w,
            run.servers[target].port,
            run.t0,
            options.seed,
        )?);
    }
    let mut replicaof: Vec<(Duration, usize, usize)> = spec
        .nodes
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
        .collect();

    let horizon = Duration::from_nanos(options.horizon.as_nanos());
    let sample_every = Duration::from_nanos(options.sample_interval.as_nanos()).max(BACKLOG_POLL);
    let mut reader = EventReader::new(watched, &spec.nodes[primary].config);
    let mut journal = Journal::default();
    let mut next_sample = Duration::ZERO;
    let mut next_backlog = Duration::ZERO;
    let mut exhausted = false;
    let mut streaming_resume: Option<u64> = None;
    let mut log_lines = 0u64;
    script.start(run.t0.elapsed(), &mut run);
    loop {
        let now = run.t0.elapsed();
        if now >= horizon {
            break;
        }
        replicaof.retain(|&(at, r, t)| {
            if now < at {
                return true;
            }
            let port = run.servers[t].port;
            let _ = command(&run.servers[r], |c| {
                redis::cmd("REPLICAOF")
                    .arg("127.0.0.1")
                    .arg(port)
                    .query::<()>(c)
            });
            false
        });
        let mut fresh = Vec::new();
        for i in 0..run.servers.len() {
            for line in run.servers[i].new_log_lines() {
                let Some(parsed) = parse_line(&line) else {
                    continue;
                };
                if parsed.unix_ms < run.t0_unix_ms {
                    continue;
                }
                log_lines += 1;
                let t = sim_time(parsed.unix_ms, run.t0_unix_ms);
                let side = if i == primary {
                    Some(Side::Primary)
                } else if i == watched {
                    Some(Side::Replica)
                } else {
                    None
                };
                if let Some(side) = side {
                    for e in reader.read(side, &parsed.text) {
                        if matches!(
                            e,
                            Event::ReplicaSynced { .. } | Event::FullSyncStarted { .. }
                        ) {
                            streaming_resume = None;
                        }
                        journal.push(t, e);
                    }
                }
                fresh.push((i, parsed.text));
            }
        }
        if now >= next_backlog {
            next_backlog = now + BACKLOG_POLL;
            let resume = reader.sync_resume_offset.or(streaming_resume);
            if let (Some(resume), Some(first)) = (resume, run.backlog_first(primary)) {
                let out = resume < first;
                if out && !exhausted {
                    journal.push(
                        SimTime::ZERO.saturating_add(crate::engine::SimDuration::from_nanos(
                            now.as_nanos() as u64,
                        )),
                        Event::BacklogExhausted { replica: watched },
                    );
                }
                exhausted = out;
            }
        }
        if now >= next_sample {
            next_sample = now + sample_every;
            for i in 0..run.servers.len() {
                if let Some(s) = run.sample(i, now, reader.dual_waiting_psync()) {
                    if i == watched && s.master_link_up && !s.master_sync_in_progress {
                        streaming_resume = Some(s.slave_repl_offset + 1);
                    }
                    run.samples.push(s);
                }
            }
        }
        for c in script.tick(now, &fresh, &mut run) {
            run.perform(c, &mut loads);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let end = run.t0.elapsed();
    let p_end = run.sample(primary, end, false);
    let r_end = run.sample(watched, end, false);
    let in_sync = match (&p_end, &r_end) {
        (Some(p), Some(r)) => {
            r.master_link_up
                && p.master_repl_offset.saturating_sub(r.slave_repl_offset) <= CAUGHT_UP_BYTES
        }
        _ => false,
    };
    run.samples.extend(p_end);
    run.samples.extend(r_end);
    let mut reports = Vec::new();
    for mut l in loads {
        l.stop();
        reports.push(LoadReport {
            name: l.name.clone(),
            ops: l.shared.ops.load(std::sync::atomic::Ordering::Relaxed),
            errors: l.shared.errors.load(std::sync::atomic::Ordering::Relaxed),
            stream_bytes: l
                .shared
                .stream_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        });
    }
    let logs = run
        .servers
        .iter()
        .map(|s| (s.name.clone(), s.log_text()))
        .collect();
    for s in &mut run.servers {
        s.stop();
    }
    let mut record = OutcomeRecord::reduce(
        &journal,
        &run.samples,
        &names[primary],
        (watched, &names[watched]),
        in_sync,
    );
    record.seed = options.seed;
    record.trace_hash = "real".to_string();
    record.events = log_lines;
    record.sim_seconds = end.as_secs_f64();
    record.wall_seconds = end.as_secs_f64();
    record.assertions_failed = script.assertions_failed.clone();
    record.passed = record.assertions_failed.is_empty();
    record.marks = script.marks.clone();
    Ok(RealRun {
        record,
        journal,
        logs,
        samples: std::mem::take(&mut run.samples),
        loads: reports,
    })
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
}

impl Live {
    /// A command on node `i`'s polling connection; a failed one drops the connection (a reply
    /// that comes after a timeout would otherwise answer the next command).
    fn query<T: redis::FromRedisValue>(&mut self, i: usize, cmd: &redis::Cmd) -> Option<T> {
        if self.paused[i] {
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
        s.mem_total_replication_buffers = num(&info, "mem_total_replication_buffers");
        s.replicas_waiting_psync = num(&info, "replicas_waiting_psync");
        s.connected_slaves = num(&info, "connected_slaves");
        s.sync_full = num(&info, "sync_full");
        s.sync_partial_ok = num(&info, "sync_partial_ok");
        s.sync_partial_err = num(&info, "sync_partial_err");
        s.client_output_buffer_limit_disconnections =
            num(&info, "client_output_buffer_limit_disconnections");
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
                .filter_map(|l| {
                    l.split(' ')
                        .find_map(|f| f.strip_prefix("omem="))
                        .and_then(|v| v.parse::<u64>().ok())
                })
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
            Command::ConfigSet(n, k, v) => command(&self.servers[n], |c| {
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg(&k)
                    .arg(&v)
                    .query::<()>(c)
            }),
            Command::Replicaof(n, t) => {
                let port = self.servers[t].port;
                command(&self.servers[n], |c| {
                    redis::cmd("REPLICAOF")
                        .arg("127.0.0.1")
                        .arg(port)
                        .query::<()>(c)
                })
            }
            Command::ReplicaofNoOne(n) => command(&self.servers[n], |c| {
                redis::cmd("REPLICAOF").arg("NO").arg("ONE").query::<()>(c)
            }),
            Command::KillConnection(n) => command(&self.servers[n], |c| {
                let _ = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("replica")
                    .query::<i64>(c);
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("master")
                    .query::<i64>(c)
                    .map(|_| ())
            }),
            Command::PauseAfterFork(n, on) => command(&self.servers[n], |c| {
                redis::cmd("DEBUG")
                    .arg("pause-after-fork")
                    .arg(u8::from(on))
                    .query::<()>(c)
            }),
            Command::Populate(n, keys, size) => command(&self.servers[n], |c| {
                redis::cmd("DEBUG")
                    .arg("POPULATE")
                    .arg(keys)
                    .arg("populate")
                    .arg(size)
                    .query::<()>(c)
            }),
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

/// Runs `f` on a new connection to `server` (commands of the script and the set-up).
fn command<T>(
    server: &RealServer,
    f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
) -> Result<T, String> {
    let mut conn = server
        .connect(Duration::from_secs(5))
        .map_err(|e| format!("node {}: cannot connect: {e}", server.name))?;
    f(&mut conn).map_err(|e| format!("node {}: {e}", server.name))
}

/// `INFO` text as a map of `field → value`.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn num(info: &BTreeMap<String, String>, key: &str) -> u64 {
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
