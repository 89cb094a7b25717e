//! Action scripts: what Valkey's own tests do to servers, on a schedule or when a condition
//! holds (`wait_for_log_messages`, `wait_for_condition`), with timeouts that fail the run like a
//! test would.
//!
//! An action is armed at the start, or when the action it comes `after` has run. Once armed it
//! fires `at` an absolute time, or `when` a log line matching a glob appears on a node (lines
//! written after arming), or when an INFO field compares true (polled, like the tests'
//! `wait_for_condition`), then waits its `delay` and does its thing. If it has a `timeout` and
//! has not fired that long after arming, the run records a failed assertion and the action (and
//! everything after it) never runs — a failed wait ends a Tcl test the same way.

use serde::{Deserialize, Serialize};

use rand::RngExt;

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};

use super::info::InfoSample;
use super::journal::ClientKind;
use super::transport;
use super::world::{Control, Msg, World};

/// When an action fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Condition {
    /// The node whose log or INFO is watched.
    pub node: String,
    /// A Tcl glob on the node's log lines (`*lack of backlog*`).
    #[serde(default)]
    pub log: Option<String>,
    /// An INFO field (a column of timeline.csv, e.g. `client_output_buffer_limit_disconnections`).
    #[serde(default)]
    pub info: Option<String>,
    /// The comparison: `>`, `>=`, `<`, `<=`, `==`, `!=` (default `>=`), or `increased`: the
    /// field exceeds its value when the action was armed (`value` is ignored), like a test that
    /// records a counter and waits for it to grow.
    #[serde(default)]
    pub op: Option<String>,
    /// The value compared with.
    #[serde(default)]
    pub value: Option<f64>,
    /// How often the condition is polled (default 100ms for INFO). For a log condition it is
    /// the test's poll delay: the line is noticed a uniform random time within one poll after
    /// it is written (default 0: at once).
    #[serde(default)]
    pub poll: Option<SimDuration>,
    /// INFO conditions: how long after arming the first check comes (default 0: at once, like
    /// `wait_for_condition`). The value for `increased` is read at arming, so a test that reads
    /// a counter, sends a command and then starts polling is `first-poll` = that command's
    /// latency.
    #[serde(default)]
    pub first_poll: Option<SimDuration>,
    /// INFO conditions: compare with another node's INFO field instead of `value`, read at the
    /// same poll (`wait_for_ofs_sync`: the primary's `master_repl_offset` `==` the replica's
    /// `slave_repl_offset`).
    #[serde(default)]
    pub value_of: Option<InfoRef>,
    /// `==` holds within this much (default 0): with `value-of` on stream offsets, the byte by
    /// which the fluid stream's rounding may leave a replica's offset and its primary's apart.
    #[serde(default)]
    pub slack: Option<f64>,
}

/// Another node's INFO field, as the right-hand side of a condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InfoRef {
    /// The node.
    pub node: String,
    /// The INFO field (a column of timeline.csv).
    pub info: String,
}

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// SIGSTOP `node`.
    Pause,
    /// SIGCONT `node`.
    Resume,
    /// `CONFIG SET key value` on `node`.
    ConfigSet,
    /// `REPLICAOF target` on `node`.
    Replicaof,
    /// `REPLICAOF NO ONE` on `node`.
    ReplicaofNoOne,
    /// Kill `node`'s replication connections; with `value` = `rdb-channel`, `main-channel` or
    /// `replica`, only its replica-side clients of that type (`CLIENT KILL ID` of each).
    KillConnection,
    /// `CLIENT KILL TYPE MASTER` on `node`: only its link to its primary (its own replicas
    /// stay connected).
    KillPrimaryLink,
    /// Take the link between hosts `a` and `b` down.
    LinkDown,
    /// Bring it back.
    LinkUp,
    /// Start the load called `load`.
    StartLoad,
    /// Stop the load called `load`.
    StopLoad,
    /// `DEBUG pause-after-fork <value>` on `node` (value 1 or 0).
    PauseAfterFork,
    /// `DEBUG POPULATE <count> <prefix> <size>` on `node` (value `"<count> <size>"`).
    Populate,
    /// Record a named timestamp in the outcome record.
    Mark,
    /// Nothing but the wait: an assertion that the condition happens within the timeout.
    Expect,
    /// The opposite assertion: the condition must not hold at any poll (or log line) until
    /// the timeout, which it needs; then the action runs (a test's `assert` on a value it
    /// watches through a whole phase, like `used_memory` during a sync).
    Never,
}

/// One scripted action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ActionSpec {
    /// A name (for `after`, marks and failure messages; default `action-<i>`).
    #[serde(default)]
    pub name: Option<String>,
    /// What it does.
    #[serde(rename = "do")]
    pub kind: ActionKind,
    /// Fire at this absolute time.
    #[serde(default)]
    pub at: Option<SimDuration>,
    /// Fire when this holds.
    #[serde(default)]
    pub when: Option<Condition>,
    /// Armed only after this action ran.
    #[serde(default)]
    pub after: Option<String>,
    /// `never` only: the assertion ends (passed) when this action runs, before its timeout
    /// (a test's polling loop that watches a value until the replica is online).
    #[serde(default)]
    pub until: Option<String>,
    /// Wait this long after the trigger before acting.
    #[serde(default)]
    pub delay: Option<SimDuration>,
    /// Fail the run if not triggered this long after arming.
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// Scheduling noise: a further delay drawn uniformly from `[0, jitter]` (the script's own
    /// random stream) before the action acts — a test process's command latency.
    #[serde(default)]
    pub jitter: Option<SimDuration>,
    /// The node acted on.
    #[serde(default)]
    pub node: Option<String>,
    /// `replicaof`: the new primary.
    #[serde(default)]
    pub target: Option<String>,
    /// `config-set`: the key (valkey.conf name).
    #[serde(default)]
    pub key: Option<String>,
    /// `config-set` / `pause-after-fork`: the value.
    #[serde(default)]
    pub value: Option<String>,
    /// `start-load` / `stop-load`: the workload's name.
    #[serde(default)]
    pub load: Option<String>,
    /// `link-down` / `link-up`: one host.
    #[serde(default)]
    pub a: Option<String>,
    /// `link-down` / `link-up`: the other host.
    #[serde(default)]
    pub b: Option<String>,
}

impl ActionSpec {
    /// The condition in words (for `never`'s failure).
    pub fn condition_text(&self) -> String {
        match &self.when {
            Some(c) if c.log.is_some() => format!(
                "log line \"{}\" appeared on {}",
                c.log.clone().unwrap_or_default(),
                c.node
            ),
            Some(c) => format!(
                "{} {} {} held on {}",
                c.info.clone().unwrap_or_default(),
                c.op.clone().unwrap_or_else(|| ">=".into()),
                c.value_of.as_ref().map_or_else(
                    || c.value.unwrap_or(0.0).to_string(),
                    |r| format!("{}'s {}", r.node, r.info)
                ),
                c.node
            ),
            None => "its trigger fired".to_string(),
        }
    }

    /// The failed assertion recorded when its wait times out: what it waited for, and how long.
    pub fn timeout_message(&self, label: &str) -> String {
        let what = match &self.when {
            Some(c) if c.log.is_some() => format!(
                "log line \"{}\" on {}",
                c.log.clone().unwrap_or_default(),
                c.node
            ),
            Some(c) => format!(
                "{} {} {} on {}",
                c.info.clone().unwrap_or_default(),
                c.op.clone().unwrap_or_else(|| ">=".into()),
                match &c.value_of {
                    Some(r) => format!("{}'s {}", r.node, r.info),
                    None => c.value.unwrap_or(0.0).to_string(),
                },
                c.node
            ),
            None => "its trigger".to_string(),
        };
        let timeout = self.timeout.unwrap_or(SimDuration::ZERO);
        format!("{label}: timed out after {timeout} waiting for {what}")
    }

    /// The action's name.
    pub fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("action-{index}"))
    }
}

/// An action resolved against the cluster: nodes, loads and links as ids.
#[derive(Clone, Debug)]
pub(crate) struct Action {
    pub(crate) label: String,
    pub(crate) spec: ActionSpec,
    pub(crate) after: Option<usize>,
    pub(crate) until: Option<usize>,
    pub(crate) node: Option<usize>,
    pub(crate) watch_node: Option<usize>,
    /// The node of `when.value-of`.
    pub(crate) other_node: Option<usize>,
    pub(crate) target: Option<usize>,
    pub(crate) load: Option<ActorId>,
    pub(crate) link: Option<(crate::net::HostId, crate::net::HostId)>,
}

/// Where an action is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Waiting,
    Armed { epoch: u64, baseline: f64 },
    Done,
    Failed,
}

/// The script runner.
#[derive(Debug)]
pub struct Script {
    actions: Vec<Action>,
    states: Vec<State>,
    servers: Vec<ActorId>,
    epoch: u64,
}

/// The script's own messages travel inside `Msg::Timer`-free variants: it reuses `LogMatched`
/// for log watches and these codes (packed in `Msg::ScriptTick`) for its timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptTick {
    /// Arm the actions that wait for nothing.
    Start,
    /// An `at` time, or the end of a `delay`: act now (action, epoch).
    Fire(usize, u64),
    /// Poll an INFO condition (action, epoch): asks the node for a fresh sample, then reads it.
    Poll(usize, u64),
    /// Read the fresh sample a poll asked for (action, epoch).
    PollRead(usize, u64),
    /// Read the fresh sample taken at arming, for `increased` (action, epoch).
    Baseline(usize, u64),
    /// A timeout (action, epoch).
    Timeout(usize, u64),
    /// A watched log line was noticed by the polling test (action, epoch).
    Noticed(usize, u64),
}

impl Script {
    pub(crate) fn new(actions: Vec<Action>, servers: Vec<ActorId>) -> Self {
        let n = actions.len();
        Script {
            actions,
            states: vec![State::Waiting; n],
            servers,
            epoch: 0,
        }
    }

    pub(crate) fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        match msg {
            Msg::ScriptTick(ScriptTick::Start) => {
                for i in 0..self.actions.len() {
                    if self.actions[i].after.is_none() {
                        self.arm(i, ctx);
                    }
                }
            }
            Msg::ScriptTick(ScriptTick::Fire(i, e)) if self.armed(i, e) => self.act(i, ctx),
            Msg::ScriptTick(ScriptTick::Poll(i, e)) if self.armed(i, e) => {
                self.request_sample(i, ctx, ScriptTick::PollRead(i, e))
            }
            Msg::ScriptTick(ScriptTick::PollRead(i, e)) if self.armed(i, e) => self.poll(i, ctx),
            Msg::ScriptTick(ScriptTick::Baseline(i, e)) if self.armed(i, e) => {
                self.baseline(i, e, ctx)
            }
            Msg::ScriptTick(ScriptTick::Timeout(i, e)) if self.armed(i, e) => self.time_out(i, ctx),
            Msg::LogMatched(token) => {
                let (i, e) = ((token >> 32) as usize, token & 0xffff_ffff);
                if !self.armed(i, e) {
                    return;
                }
                // The test notices the line at its next poll.
                let poll = self.actions[i].spec.when.as_ref().and_then(|c| c.poll);
                match poll.map(SimDuration::as_nanos).filter(|&p| p > 0) {
                    Some(p) => {
                        let wait = ctx.rng().random_range(0..p);
                        let msg = Msg::ScriptTick(ScriptTick::Noticed(i, e));
                        ctx.schedule(msg, SimDuration::from_nanos(wait));
                    }
                    None => self.triggered(i, ctx),
                }
            }
            Msg::ScriptTick(ScriptTick::Noticed(i, e)) if self.armed(i, e) => {
                self.triggered(i, ctx)
            }
            _ => {}
        }
    }

    fn armed(&self, i: usize, epoch: u64) -> bool {
        matches!(self.states.get(i), Some(State::Armed { epoch: e, .. }) if *e == epoch)
    }

    fn arm(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        self.epoch += 1;
        let epoch = self.epoch & 0xffff_ffff;
        let a = self.actions[i].clone();
        self.states[i] = State::Armed {
            epoch,
            baseline: 0.0,
        };
        let now = ctx.now();
        if let Some(timeout) = a.spec.timeout {
            ctx.schedule(Msg::ScriptTick(ScriptTick::Timeout(i, epoch)), timeout);
        }
        if let Some(at) = a.spec.at {
            let at = SimTime::ZERO.saturating_add(at).max(now);
            ctx.schedule_at(Msg::ScriptTick(ScriptTick::Fire(i, epoch)), at);
            return;
        }
        match (&a.spec.when, a.watch_node) {
            (Some(cond), Some(node)) if cond.log.is_some() => {
                let token = ((i as u64) << 32) | epoch;
                let me = ctx.me();
                let world = ctx.env();
                world.log_watchers.push((token, me));
                let pattern = cond.log.clone().unwrap_or_default();
                world.logs.watch(node, &pattern, false, token);
            }
            (Some(_), Some(_)) => self.request_sample(i, ctx, ScriptTick::Baseline(i, epoch)),
            _ => self.triggered(i, ctx),
        }
    }

    /// Asks the watched node for an INFO sample now, then reads it with `then` at the same
    /// instant (the node's sample is queued first, so it is there): a test's INFO call sees the
    /// server's state at that moment, not the last periodic sample.
    fn request_sample(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>, then: ScriptTick) {
        if let Some(node) = self.actions[i].watch_node {
            ctx.send(self.servers[node], Msg::Sample, SimDuration::ZERO);
        }
        if let Some(other) = self.actions[i].other_node {
            ctx.send(self.servers[other], Msg::Sample, SimDuration::ZERO);
        }
        ctx.schedule(Msg::ScriptTick(then), SimDuration::ZERO);
    }

    /// The value at arming (for `increased`), then the first poll after `first-poll`.
    fn baseline(&mut self, i: usize, epoch: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let a = self.actions[i].clone();
        let baseline = self.current_value(&a, ctx).unwrap_or(0.0);
        self.states[i] = State::Armed { epoch, baseline };
        let first = a
            .spec
            .when
            .as_ref()
            .and_then(|c| c.first_poll)
            .unwrap_or(SimDuration::ZERO);
        ctx.schedule(Msg::ScriptTick(ScriptTick::Poll(i, epoch)), first);
    }

    fn poll(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let a = &self.actions[i];
        let (Some(cond), Some(node)) = (&a.spec.when, a.watch_node) else {
            return;
        };
        let State::Armed { baseline, .. } = self.states[i] else {
            return;
        };
        let world = ctx.env();
        let latest = |n: usize| {
            let name = &world.nodes[n].name;
            world.samples.iter().rev().find(|s| &s.node == name)
        };
        let target = match (&cond.value_of, a.other_node) {
            (Some(r), Some(other)) => latest(other).and_then(|s| info_field(s, &r.info)),
            _ => Some(cond.value.unwrap_or(0.0)),
        };
        let holds = match (latest(node), target) {
            (Some(s), Some(target)) => info_holds(s, cond, target, baseline),
            _ => false,
        };
        if holds {
            self.triggered(i, ctx);
            return;
        }
        let every = cond.poll.unwrap_or(SimDuration::from_millis(100));
        let State::Armed { epoch, .. } = self.states[i] else {
            return;
        };
        ctx.schedule(Msg::ScriptTick(ScriptTick::Poll(i, epoch)), every);
    }

    fn triggered(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let State::Armed { epoch, baseline } = self.states[i] else {
            return;
        };
        if self.actions[i].spec.kind == ActionKind::Never {
            self.states[i] = State::Failed;
            let a = &self.actions[i];
            let now = ctx.now();
            let msg = format!(
                "{}: {} at {:.3} s",
                a.label,
                a.spec.condition_text(),
                now.as_secs_f64()
            );
            let world = ctx.env();
            world.assertions_failed.push(msg);
            world
                .marks
                .insert(format!("{}:held", a.label), now.as_secs_f64());
            return;
        }
        let jitter = self.actions[i]
            .spec
            .jitter
            .map(SimDuration::as_nanos)
            .filter(|&j| j > 0)
            .map_or(0, |j| ctx.rng().random_range(0..=j));
        let delay = self.actions[i].spec.delay.unwrap_or(SimDuration::ZERO);
        let delay = delay.checked_add(SimDuration::from_nanos(jitter));
        match delay {
            Some(d) if d > SimDuration::ZERO => {
                // Still armed; a timeout during the delay does not count: the wait succeeded.
                self.epoch += 1;
                let fire = self.epoch & 0xffff_ffff;
                self.states[i] = State::Armed {
                    epoch: fire,
                    baseline,
                };
                let _ = epoch;
                ctx.schedule(Msg::ScriptTick(ScriptTick::Fire(i, fire)), d);
            }
            _ => self.act(i, ctx),
        }
    }

    /// The watched INFO field's latest value (for `increased`).
    fn current_value(&self, a: &Action, ctx: &mut Ctx<'_, Msg, World>) -> Option<f64> {
        let (cond, node) = (a.spec.when.as_ref()?, a.watch_node?);
        let field = cond.info.as_deref()?;
        let world = ctx.env();
        let name = &world.nodes[node].name;
        let sample = world.samples.iter().rev().find(|s| &s.node == name)?;
        info_field(sample, field)
    }

    fn time_out(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        if self.actions[i].spec.kind == ActionKind::Never {
            // The condition never held: the assertion passed.
            self.act(i, ctx);
            return;
        }
        self.states[i] = State::Failed;
        let a = &self.actions[i];
        let msg = a.spec.timeout_message(&a.label);
        let now = ctx.now();
        let world = ctx.env();
        world.assertions_failed.push(msg);
        world
            .marks
            .insert(format!("{}:timeout", a.label), now.as_secs_f64());
    }

    fn act(&mut self, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        self.states[i] = State::Done;
        let a = self.actions[i].clone();
        let now = ctx.now();
        ctx.env().marks.insert(a.label.clone(), now.as_secs_f64());
        let to_node = |ctx: &mut Ctx<'_, Msg, World>, c: Control| {
            if let Some(n) = a.node {
                ctx.send(self.servers[n], Msg::Control(c), SimDuration::ZERO);
            }
        };
        match a.spec.kind {
            ActionKind::Pause => to_node(ctx, Control::Pause),
            ActionKind::Resume => to_node(ctx, Control::Resume),
            ActionKind::ConfigSet => to_node(
                ctx,
                Control::ConfigSet(
                    a.spec.key.clone().unwrap_or_default(),
                    a.spec.value.clone().unwrap_or_default(),
                ),
            ),
            ActionKind::Replicaof => {
                if let Some(t) = a.target {
                    to_node(ctx, Control::ReplicaOf(t));
                }
            }
            ActionKind::ReplicaofNoOne => to_node(ctx, Control::ReplicaOfNoOne),
            ActionKind::KillConnection => to_node(
                ctx,
                Control::KillReplicationLinks(kill_kind(a.spec.value.as_deref())),
            ),
            ActionKind::KillPrimaryLink => to_node(ctx, Control::KillPrimaryLink),
            ActionKind::PauseAfterFork => {
                let on = matches!(a.spec.value.as_deref(), Some("1" | "yes" | "true"));
                to_node(ctx, Control::PauseAfterFork(on));
            }
            ActionKind::StartLoad | ActionKind::StopLoad => {
                if let Some(load) = a.load {
                    let on = a.spec.kind == ActionKind::StartLoad;
                    ctx.send(load, Msg::Control(Control::SetLoad(on)), SimDuration::ZERO);
                }
            }
            ActionKind::LinkDown | ActionKind::LinkUp => {
                if let Some((x, y)) = a.link {
                    let world = ctx.env();
                    if let Some(link) = world.net.topology().link_between(x, y) {
                        let _ = if a.spec.kind == ActionKind::LinkDown {
                            world.net.link_down(now, link)
                        } else {
                            world.net.link_up(now, link)
                        };
                    }
                    transport::rearm(ctx);
                }
            }
            ActionKind::Populate => {
                let v = a.spec.value.clone().unwrap_or_default();
                let mut it = v.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
                if let (Some(keys), Some(value_bytes)) = (it.next(), it.next()) {
                    to_node(ctx, Control::Populate { keys, value_bytes });
                }
            }
            ActionKind::Mark | ActionKind::Expect | ActionKind::Never => {}
        }
        for j in 0..self.actions.len() {
            if self.actions[j].after == Some(i) && self.states[j] == State::Waiting {
                self.arm(j, ctx);
            }
        }
        for j in 0..self.actions.len() {
            if self.actions[j].until == Some(i) && matches!(self.states[j], State::Armed { .. }) {
                self.act(j, ctx);
            }
        }
    }
}

/// The client type a `kill-connection` names in its `value` (`None`: every connection).
pub fn kill_kind(value: Option<&str>) -> Option<ClientKind> {
    match value? {
        "rdb-channel" => Some(ClientKind::RdbChannel),
        "main-channel" => Some(ClientKind::MainChannel),
        "replica" => Some(ClientKind::Replica),
        _ => None,
    }
}

/// The `value`s a `kill-connection` accepts.
pub const KILL_KINDS: [&str; 3] = ["rdb-channel", "main-channel", "replica"];

/// Whether an INFO sample satisfies a condition against `target` (`baseline`: the value when
/// armed).
fn info_holds(s: &InfoSample, cond: &Condition, target: f64, baseline: f64) -> bool {
    cond.info
        .as_deref()
        .and_then(|field| info_field(s, field))
        .is_some_and(|v| compare_with(cond, v, target, baseline))
}

/// Whether `value` satisfies the condition's comparison with its `value` (`baseline`: the value
/// when armed, for `increased`).
pub fn compare(cond: &Condition, value: f64, baseline: f64) -> bool {
    compare_with(cond, value, cond.value.unwrap_or(0.0), baseline)
}

/// Whether `value` compares true with `target` by the condition's `op`.
pub fn compare_with(cond: &Condition, value: f64, target: f64, baseline: f64) -> bool {
    match cond.op.as_deref().unwrap_or(">=") {
        ">" => value > target,
        ">=" => value >= target,
        "<" => value < target,
        "<=" => value <= target,
        "==" => (value - target).abs() <= cond.slack.unwrap_or(0.0),
        "!=" => value != target,
        "increased" => value > baseline,
        _ => false,
    }
}

/// The numeric value of an INFO field by its `timeline.csv` name.
pub fn info_field(s: &InfoSample, field: &str) -> Option<f64> {
    let value = serde_json::to_value(s).ok()?;
    match value.get(field)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// The INFO field names a condition may use.
pub fn info_field_names() -> Vec<String> {
    match serde_json::to_value(InfoSample::default()) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| v.is_number() || v.is_boolean())
            .map(|(k, _)| k)
            // Valkey 9.2's fields, absent from samples of other releases.
            .chain(
                [
                    "repl_throttle_rate",
                    "repl_throttle_activation_events",
                    "repl_throttle_below_guardrail_secs",
                    "repl_throttle_total_commands",
                ]
                .map(String::from),
            )
            .collect(),
        _ => Vec::new(),
    }
}
