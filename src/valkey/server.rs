//! A Valkey server: one actor with a primary half (`primary.rs`, serving replicas) and a replica
//! half (`replica.rs`, replicating from a primary), the crons that drive both, pausing, logging
//! and INFO sampling.

use crate::engine::{Ctx, SimDuration, SimTime};
use crate::net::Notification;

use super::config::ValkeyConfig;
use super::info::InfoSample;
use super::log::{Level, LogLine, Role};
use super::primary::PrimaryState;
use super::release::Release;
use super::replica::ReplicaState;
use super::spec::{DatasetSpec, PerfSpec};
use super::world::{Control, Msg, Timer, World};

pub(crate) type C<'a, 'b> = &'a mut Ctx<'b, Msg, World>;

/// One Valkey server.
#[derive(Debug)]
pub struct Server {
    pub(crate) node: usize,
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) cfg: ValkeyConfig,
    /// The release whose semantics this server has (asked where a mechanism differs).
    pub(crate) release: Release,
    pub(crate) perf: PerfSpec,
    pub(crate) dataset: DatasetSpec,
    /// Keys held now (a fraction accumulates from new-key writes).
    pub(crate) keys: f64,
    /// Keys and RDB bytes added by `DEBUG POPULATE` (their own size, not the dataset's).
    pub(crate) populated: (u64, u64),
    pub(crate) paused: bool,
    /// Messages that arrived while paused, replayed in order on resume.
    deferred: Vec<Msg>,
    /// `DEBUG pause-after-fork`.
    pub(crate) pause_after_fork: bool,
    /// Sub-second phase of this node's wall clock, so whole-second checks (`server.unixtime`)
    /// do not all line up with simulated second boundaries.
    clock_phase_ns: u64,
    pub(crate) sample_every: SimDuration,
    /// A counter for timer generations.
    next_gen: u64,
    pub(crate) primary: PrimaryState,
    pub(crate) replica: ReplicaState,
}

impl Server {
    /// A server that holds `keys` keys of `dataset`.
    pub(crate) fn new(
        node: usize,
        name: &str,
        cfg: ValkeyConfig,
        perf: PerfSpec,
        dataset: DatasetSpec,
        keys: f64,
        sample_every: SimDuration,
    ) -> Self {
        Server {
            node,
            name: name.to_string(),
            pid: 1000 + node as u32 * 111,
            cfg,
            release: Release::default(),
            perf,
            dataset,
            keys,
            populated: (0, 0),
            paused: false,
            deferred: Vec::new(),
            pause_after_fork: false,
            clock_phase_ns: 0,
            sample_every,
            next_gen: 1,
            primary: PrimaryState::new(node as u64),
            replica: ReplicaState::default(),
        }
    }

    /// Starts the crons and the sampler; called once at t = 0 by the cluster builder.
    pub(crate) fn start(&mut self, ctx: C<'_, '_>) {
        use rand::RngExt;
        self.clock_phase_ns = ctx.rng().random_range(0..1_000_000_000);
        let cron = self.cfg.cron_period();
        ctx.schedule_periodic(Msg::Cron, cron, cron);
        let second = SimDuration::from_secs(1);
        let first_repl_cron = SimDuration::from_nanos(1_000_000_000 - self.clock_phase_ns);
        ctx.schedule_periodic(Msg::ReplCron, first_repl_cron, second);
        ctx.schedule_periodic(Msg::Sample, SimDuration::ZERO, self.sample_every);
    }

    /// A fresh generation number for a timer.
    pub(crate) fn next_epoch(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    /// `server.unixtime` at `t`: whole seconds of this node's clock.
    pub(crate) fn unixtime(&self, t: SimTime) -> u64 {
        (t.as_nanos() + self.clock_phase_ns) / 1_000_000_000
    }

    /// The first instant at which `server.unixtime` reads `secs`.
    pub(crate) fn time_of_unixtime(&self, secs: u64) -> SimTime {
        SimTime::from_nanos((secs * 1_000_000_000).saturating_sub(self.clock_phase_ns))
    }

    /// This node's `ip:port`.
    pub(crate) fn addr<'w>(&self, world: &'w World) -> &'w str {
        &world.nodes[self.node].addr
    }

    /// Writes a log line with Valkey's text.
    pub(crate) fn log(&self, ctx: C<'_, '_>, level: Level, text: String) {
        let role = if self.replica.primary_node.is_some() {
            Role::Replica
        } else {
            Role::Primary
        };
        self.log_as(ctx, role, level, text);
    }

    /// Writes a log line as a given process role (the fork child logs as `C`).
    pub(crate) fn log_as(&self, ctx: C<'_, '_>, role: Role, level: Level, text: String) {
        let line = LogLine {
            time: ctx.now(),
            node: self.node,
            pid: if role == Role::Child {
                self.pid + 1
            } else {
                self.pid
            },
            role,
            level,
            text: self.release.log_text(text),
        };
        let world = ctx.env();
        let fired = world.logs.write(line);
        let watchers: Vec<(u64, crate::engine::ActorId)> = fired
            .into_iter()
            .filter_map(|token| {
                world
                    .log_watchers
                    .iter()
                    .find(|(t, _)| *t == token)
                    .map(|&(_, a)| (token, a))
            })
            .collect();
        for (token, actor) in watchers {
            ctx.send(actor, Msg::LogMatched(token), SimDuration::ZERO);
        }
    }

    /// The actor entry point: defers everything while paused, except resuming.
    pub(crate) fn handle(&mut self, msg: Msg, ctx: C<'_, '_>) {
        if self.paused {
            match msg {
                Msg::Control(Control::Resume) => {
                    self.resume(ctx);
                    // Resuming is an event-loop iteration too, and it restarts the stream
                    // clock: the checker must see its new rate even with no deferred message.
                    self.end_of_iteration(ctx);
                }
                Msg::Sample => self.sample(ctx),
                // A paused process still has its periodic timers "due"; they run after resume,
                // once (the kernel does not queue missed ticks).
                Msg::Cron | Msg::ReplCron => {}
                other => self.deferred.push(other),
            }
            return;
        }
        self.dispatch(msg, ctx);
    }

    fn dispatch(&mut self, msg: Msg, ctx: C<'_, '_>) {
        match msg {
            Msg::Boot => self.start(ctx),
            Msg::Net(n) => self.on_net(n, ctx),
            Msg::Cron => self.on_cron(ctx),
            Msg::ReplCron => self.on_repl_cron(ctx),
            Msg::Sample => self.sample(ctx),
            Msg::Timer(t) => self.on_timer(t, ctx),
            Msg::WriteRate {
                client,
                bytes_per_sec,
                new_keys_per_sec,
            } => self.set_client_rate(ctx, client, bytes_per_sec, new_keys_per_sec),
            Msg::Control(c) => self.on_control(c, ctx),
            Msg::NetWake | Msg::LoadTick | Msg::LogMatched(_) | Msg::ScriptTick(_) => {}
        }
        self.end_of_iteration(ctx);
    }

    /// Every handled event is an event-loop iteration, and `beforeSleep` follows it (as it
    /// follows every write command, folded in here); then the invariants are checked.
    pub(crate) fn end_of_iteration(&mut self, ctx: C<'_, '_>) {
        self.primary_before_sleep(ctx);
        super::invariants::after_event(self, ctx);
    }

    fn on_net(&mut self, n: Notification, ctx: C<'_, '_>) {
        if self.primary.owns_conn(&n) {
            self.primary_on_net(n, ctx);
        } else {
            self.replica_on_net(n, ctx);
        }
    }

    fn on_timer(&mut self, t: Timer, ctx: C<'_, '_>) {
        match t {
            Timer::Fork
            | Timer::ChildExited(_)
            | Timer::CobCheck(..)
            | Timer::SoftCheck(..)
            | Timer::Grace(_)
            | Timer::BacklogCheck(_)
            | Timer::Throttle(_)
            | Timer::ThrottleDrain(_) => self.primary_on_timer(t, ctx),
            Timer::DownloadNoticed(_)
            | Timer::LoadDone(_)
            | Timer::ApplyDone(_)
            | Timer::LoadKeepalive(_)
            | Timer::Reconnect
            | Timer::HandshakeDone(_)
            | Timer::EventsWhileBlocked(_) => self.replica_on_timer(t, ctx),
        }
    }

    fn on_cron(&mut self, ctx: C<'_, '_>) {
        self.primary_cron(ctx);
    }

    fn on_repl_cron(&mut self, ctx: C<'_, '_>) {
        self.primary_repl_cron(ctx);
        self.replica_repl_cron(ctx);
    }

    fn on_control(&mut self, c: Control, ctx: C<'_, '_>) {
        match c {
            Control::Pause => self.pause(ctx),
            Control::Resume => {}
            Control::ReplicaOf(target) => self.replicaof(ctx, Some(target)),
            Control::ReplicaOfNoOne => self.replicaof(ctx, None),
            Control::ConfigSet(key, value) => self.config_set(ctx, &key, &value),
            Control::PauseAfterFork(on) => self.pause_after_fork = on,
            Control::Populate { keys, value_bytes } => {
                // DEBUG POPULATE: new keys whose values compress like the dataset's.
                let d = &self.dataset;
                let per_key = d.per_key_overhead as f64
                    + d.key_bytes as f64
                    + value_bytes as f64 * d.compression_ratio;
                self.populated.0 += keys;
                self.populated.1 += (keys as f64 * per_key).round() as u64;
            }
            Control::KillReplicationLinks(None) => {
                self.primary_kill_replicas(ctx);
                self.replica_kill_link(ctx);
            }
            Control::KillReplicationLinks(kind) => self.primary_kill_clients(ctx, kind),
            Control::KillPrimaryLink => self.replica_kill_link(ctx),
            Control::SetLoad(_) => {}
        }
    }

    /// `DEBUG pause-after-fork`'s self-stop (`debugPauseProcess`): logs, then SIGSTOP.
    pub(crate) fn pause_self(&mut self, ctx: C<'_, '_>) {
        self.log(ctx, Level::Notice, "Process is about to stop.".to_string());
        self.pause(ctx);
    }

    /// SIGSTOP: stop reading every socket; timers and messages wait.
    pub(crate) fn pause(&mut self, ctx: C<'_, '_>) {
        if self.paused {
            return;
        }
        self.primary_pause(ctx);
        self.replica_pause(ctx);
        self.paused = true;
    }

    fn resume(&mut self, ctx: C<'_, '_>) {
        self.paused = false;
        self.primary_resume(ctx);
        self.replica_resume(ctx);
        for msg in std::mem::take(&mut self.deferred) {
            if self.paused {
                self.deferred.push(msg);
                continue;
            }
            self.dispatch(msg, ctx);
        }
    }

    fn config_set(&mut self, ctx: C<'_, '_>, key: &str, value: &str) {
        let Ok(serde_json::Value::Object(current)) = serde_json::to_value(&self.cfg) else {
            return;
        };
        // A bare number is a number for integer knobs and a plain byte count for sizes
        // (`CONFIG SET repl-backlog-size 1000`): try it as a number, then as text.
        let parsed = toml_free_value(key, value).into_iter().find_map(|v| {
            let mut map = current.clone();
            map.insert(key.to_string(), v);
            serde_json::from_value::<ValkeyConfig>(serde_json::Value::Object(map)).ok()
        });
        let Some(mut cfg) = parsed.filter(|c| c.validate().is_ok()) else {
            return;
        };
        // `updateReplBacklogSize` -> `resizeReplicationBacklog`: CONFIG SET raises a backlog
        // below 16 KB to 16 KB.
        if key == "repl-backlog-size" {
            let floor = crate::valkey::config::BACKLOG_MIN_BYTES;
            if cfg.repl_backlog_size.bytes() < floor {
                cfg.repl_backlog_size = crate::units::ByteSize::new(floor);
            }
        }
        self.cfg = cfg;
        self.primary_config_changed(ctx);
    }

    fn sample(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now();
        let role = if self.replica.primary_node.is_some() {
            "slave"
        } else {
            "master"
        };
        let mut s = InfoSample::at(now, &self.name, role);
        s.process_paused = self.paused;
        s.dbsize = self.keys.max(0.0).round() as u64 + self.populated.0;
        self.primary_info(ctx, &mut s);
        self.chain_info(&mut s);
        self.replica_info(ctx, &mut s);
        ctx.env().samples.push(s);
    }
}

/// A `CONFIG SET` value as JSON for the config's serde: a number first when it is one, then the
/// text.
fn toml_free_value(_key: &str, value: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    if let Ok(n) = value.parse::<i64>() {
        out.push(serde_json::Value::from(n));
    }
    out.push(serde_json::Value::from(value));
    out
}
