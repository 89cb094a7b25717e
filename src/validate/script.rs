//! The model's action script played against real servers: the same triggers (`at`, `after`,
//! `when` a log line or an INFO comparison), `delay` and `timeout` as the simulator's
//! [`crate::valkey::Script`], acting with real commands and signals.
//!
//! Differences, on purpose: `jitter` is ignored (the real machine brings its own scheduling
//! noise), a log condition's `poll` is ignored (lines are seen within the harness's 2 ms loop),
//! and `link-down` / `link-up` cannot be played on loopback (refused before the run starts).

use std::time::Duration;

use crate::engine::SimDuration;
use crate::valkey::{ActionKind, ActionSpec, InfoSample, compare_with, glob_match, info_field};

/// What the script asks the harness to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// SIGSTOP or SIGCONT a node.
    Pause(usize, bool),
    /// `CONFIG SET key value`.
    ConfigSet(usize, String, String),
    /// `REPLICAOF` the target node.
    Replicaof(usize, usize),
    /// `REPLICAOF NO ONE`.
    ReplicaofNoOne(usize),
    /// Kill the node's replication connections.
    KillConnection(usize),
    /// `CLIENT KILL TYPE MASTER` on the node.
    KillPrimaryLink(usize),
    /// `DEBUG pause-after-fork 0|1`.
    PauseAfterFork(usize, bool),
    /// `DEBUG POPULATE count prefix size`.
    Populate(usize, u64, u64),
    /// Enable or disable a write load (by index).
    SetLoad(usize, bool),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Waiting,
    Armed {
        since: Duration,
        baseline: f64,
        next_poll: Duration,
    },
    Triggered {
        act_at: Duration,
    },
    Done,
    Failed,
}

/// The script runner for a real run.
#[derive(Debug)]
pub struct RealScript {
    specs: Vec<ActionSpec>,
    labels: Vec<String>,
    after: Vec<Option<usize>>,
    states: Vec<State>,
    nodes: Vec<String>,
    loads: Vec<String>,
    /// Named timestamps (seconds since t0).
    pub marks: std::collections::BTreeMap<String, f64>,
    /// Waits that timed out.
    pub assertions_failed: Vec<String>,
}

/// Access to the live servers the script needs each tick.
pub trait Probe {
    /// A fresh INFO sample of `node` (None if it does not answer now).
    fn info(&mut self, node: usize) -> Option<InfoSample>;
    /// Whether `node`'s process is stopped (the `ps` state a test reads).
    fn stopped(&mut self, node: usize) -> bool;
    /// A condition's field now: `process_paused` from the process state, the rest from INFO.
    fn field(&mut self, node: usize, field: &str) -> Option<f64> {
        if field == "process_paused" {
            return Some(f64::from(u8::from(self.stopped(node))));
        }
        info_field(&self.info(node)?, field)
    }
}

impl RealScript {
    /// Resolves names; `nodes` and `loads` are the model's node and workload names.
    pub fn new(specs: &[ActionSpec], nodes: &[String], loads: &[String]) -> Result<Self, String> {
        let labels: Vec<String> = specs.iter().enumerate().map(|(i, a)| a.label(i)).collect();
        let mut after = Vec::new();
        for (i, a) in specs.iter().enumerate() {
            if matches!(a.kind, ActionKind::LinkDown | ActionKind::LinkUp) {
                return Err(format!(
                    "actions[{i}] ({}): link-down/link-up cannot be played against real servers on loopback",
                    labels[i]
                ));
            }
            after.push(match &a.after {
                Some(name) => Some(
                    labels
                        .iter()
                        .position(|l| l == name)
                        .ok_or_else(|| format!("actions[{i}].after: no action named {name:?}"))?,
                ),
                None => None,
            });
        }
        Ok(RealScript {
            specs: specs.to_vec(),
            labels,
            after,
            states: vec![State::Waiting; specs.len()],
            nodes: nodes.to_vec(),
            loads: loads.to_vec(),
            marks: Default::default(),
            assertions_failed: Vec::new(),
        })
    }

    fn node(&self, name: Option<&String>) -> Option<usize> {
        name.and_then(|n| self.nodes.iter().position(|x| x == n))
    }

    /// Arms the actions that wait for no other.
    pub fn start(&mut self, now: Duration, probe: &mut dyn Probe) {
        for i in 0..self.specs.len() {
            if self.after[i].is_none() {
                self.arm(i, now, probe);
            }
        }
    }

    fn arm(&mut self, i: usize, now: Duration, probe: &mut dyn Probe) {
        let baseline = self.specs[i]
            .when
            .as_ref()
            .and_then(|c| {
                let field = c.info.as_deref()?;
                let node = self.node(Some(&c.node))?;
                probe.field(node, field)
            })
            .unwrap_or(0.0);
        let first = self.specs[i]
            .when
            .as_ref()
            .and_then(|c| c.first_poll)
            .map_or(Duration::ZERO, to_std);
        self.states[i] = State::Armed {
            since: now,
            baseline,
            next_poll: now + first,
        };
    }

    /// One step: `lines` are the log lines seen since the last step, as (node, text). Returns
    /// what to do now.
    pub fn tick(
        &mut self,
        now: Duration,
        lines: &[(usize, String)],
        probe: &mut dyn Probe,
    ) -> Vec<Command> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.specs.len() {
            match self.states[i] {
                State::Armed {
                    since,
                    baseline,
                    next_poll,
                } => {
                    let never = self.specs[i].kind == ActionKind::Never;
                    if let Some(act_at) =
                        self.trigger(i, now, since, baseline, next_poll, lines, probe)
                    {
                        if never {
                            // `never`: the condition held, the assertion failed.
                            self.states[i] = State::Failed;
                            let text = self.specs[i].condition_text();
                            let msg = format!("{}: {text}", self.labels[i]);
                            self.assertions_failed.push(msg);
                        } else {
                            self.states[i] = State::Triggered { act_at };
                        }
                        continue;
                    }
                    let timeout = self.specs[i].timeout.map(to_std);
                    if timeout.is_some_and(|t| now >= since + t) {
                        if never {
                            self.act(i, now, &mut out, probe);
                        } else {
                            self.fail(i, now);
                        }
                    }
                }
                State::Triggered { act_at } if now >= act_at => {
                    self.act(i, now, &mut out, probe);
                }
                _ => {}
            }
            i += 1;
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn trigger(
        &mut self,
        i: usize,
        now: Duration,
        since: Duration,
        baseline: f64,
        next_poll: Duration,
        lines: &[(usize, String)],
        probe: &mut dyn Probe,
    ) -> Option<Duration> {
        let spec = &self.specs[i];
        let delay = spec.delay.map(to_std).unwrap_or_default();
        if let Some(at) = spec.at {
            return (now >= to_std(at)).then_some(now + delay);
        }
        let Some(cond) = &spec.when else {
            return Some(now + delay);
        };
        let node = self.node(Some(&cond.node))?;
        if let Some(pattern) = &cond.log {
            let seen = lines
                .iter()
                .any(|(n, text)| *n == node && glob_match(pattern, text));
            return seen.then_some(now + delay);
        }
        if now < next_poll {
            return None;
        }
        let every = cond.poll.map_or(Duration::from_millis(100), to_std);
        self.states[i] = State::Armed {
            since,
            baseline,
            next_poll: now + every,
        };
        let field = cond.info.as_deref()?;
        let value = probe.field(node, field)?;
        let target = match &cond.value_of {
            Some(r) => probe.field(self.node(Some(&r.node))?, &r.info)?,
            None => cond.value.unwrap_or(0.0),
        };
        compare_with(cond, value, target, baseline).then_some(now + delay)
    }

    fn fail(&mut self, i: usize, now: Duration) {
        self.states[i] = State::Failed;
        let label = &self.labels[i];
        self.assertions_failed
            .push(self.specs[i].timeout_message(label));
        self.marks
            .insert(format!("{label}:timeout"), now.as_secs_f64());
    }

    fn act(&mut self, i: usize, now: Duration, out: &mut Vec<Command>, probe: &mut dyn Probe) {
        self.states[i] = State::Done;
        self.marks.insert(self.labels[i].clone(), now.as_secs_f64());
        let spec = self.specs[i].clone();
        let node = self.node(spec.node.as_ref());
        let load = spec
            .load
            .as_ref()
            .and_then(|l| self.loads.iter().position(|x| x == l));
        let value = spec.value.clone().unwrap_or_default();
        let on = matches!(value.as_str(), "1" | "yes" | "true");
        let command = match (spec.kind, node) {
            (ActionKind::Pause, Some(n)) => Some(Command::Pause(n, true)),
            (ActionKind::Resume, Some(n)) => Some(Command::Pause(n, false)),
            (ActionKind::ConfigSet, Some(n)) => Some(Command::ConfigSet(
                n,
                spec.key.clone().unwrap_or_default(),
                value,
            )),
            (ActionKind::Replicaof, Some(n)) => self
                .node(spec.target.as_ref())
                .map(|t| Command::Replicaof(n, t)),
            (ActionKind::ReplicaofNoOne, Some(n)) => Some(Command::ReplicaofNoOne(n)),
            // A kill of one client type has no CLIENT KILL TYPE in Valkey: not played.
            (ActionKind::KillConnection, Some(n)) if spec.value.is_none() => {
                Some(Command::KillConnection(n))
            }
            (ActionKind::KillPrimaryLink, Some(n)) => Some(Command::KillPrimaryLink(n)),
            (ActionKind::PauseAfterFork, Some(n)) => Some(Command::PauseAfterFork(n, on)),
            (ActionKind::Populate, Some(n)) => {
                let mut it = value.split_whitespace().filter_map(|w| w.parse().ok());
                match (it.next(), it.next()) {
                    (Some(keys), Some(size)) => Some(Command::Populate(n, keys, size)),
                    _ => None,
                }
            }
            (ActionKind::StartLoad, _) => load.map(|l| Command::SetLoad(l, true)),
            (ActionKind::StopLoad, _) => load.map(|l| Command::SetLoad(l, false)),
            _ => None,
        };
        out.extend(command);
        for j in 0..self.specs.len() {
            if self.after[j] == Some(i) && self.states[j] == State::Waiting {
                self.arm(j, now, probe);
            }
        }
    }
}

fn to_std(d: SimDuration) -> Duration {
    Duration::from_nanos(d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake pair of servers: INFO `client_output_buffer_limit_disconnections` per node, and
    /// whether each is stopped.
    struct Fake {
        cob: [u64; 2],
        stopped: [bool; 2],
    }

    impl Probe for Fake {
        fn info(&mut self, node: usize) -> Option<InfoSample> {
            Some(InfoSample {
                client_output_buffer_limit_disconnections: self.cob[node],
                ..InfoSample::default()
            })
        }
        fn stopped(&mut self, node: usize) -> bool {
            self.stopped[node]
        }
    }

    fn spec(toml_text: &str) -> Vec<ActionSpec> {
        #[derive(serde::Deserialize)]
        struct File {
            actions: Vec<ActionSpec>,
        }
        toml::from_str::<File>(toml_text).unwrap().actions
    }

    const SCRIPT: &str = r#"
        [[actions]]
        name = "loaded"
        do = "pause"
        node = "replica"
        when = { node = "replica", log = "*Done loading RDB*" }
        [[actions]]
        name = "counter"
        do = "expect"
        after = "loaded"
        when = { node = "primary", info = "client_output_buffer_limit_disconnections", op = "increased", poll = "1s", first-poll = "5ms" }
        timeout = "3s"
        [[actions]]
        name = "resume"
        do = "resume"
        node = "replica"
        after = "counter"
        when = { node = "replica", info = "process_paused", op = "==", value = 1 }
        delay = "10ms"
    "#;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn plays_log_info_and_process_conditions_with_delays() {
        let nodes = ["primary".to_string(), "replica".to_string()];
        let mut s = RealScript::new(&spec(SCRIPT), &nodes, &[]).unwrap();
        let mut p = Fake {
            cob: [0, 0],
            stopped: [false, false],
        };
        s.start(ms(0), &mut p);
        assert!(
            s.tick(ms(1), &[(0, "Done loading RDB".into())], &mut p)
                .is_empty()
        );
        let line = [(1, "Done loading RDB, keys loaded: 10".to_string())];
        assert_eq!(s.tick(ms(2), &line, &mut p), vec![Command::Pause(1, true)]);
        // The counter is read at arming (0), first polled 5 ms later.
        p.cob[0] = 1;
        p.stopped[1] = true;
        assert!(
            s.tick(ms(6), &[], &mut p).is_empty(),
            "first poll not yet due"
        );
        assert!(
            s.tick(ms(7), &[], &mut p).is_empty(),
            "polled: the resume waits 10 ms"
        );
        assert!(s.tick(ms(16), &[], &mut p).is_empty());
        assert_eq!(s.tick(ms(17), &[], &mut p), vec![Command::Pause(1, false)]);
        assert!(s.assertions_failed.is_empty());
        assert_eq!(s.marks["loaded"], 0.002);
        assert_eq!(s.marks["counter"], 0.007);
    }

    #[test]
    fn a_wait_that_never_holds_fails_after_its_timeout_and_stops_the_chain() {
        let nodes = ["primary".to_string(), "replica".to_string()];
        let mut s = RealScript::new(&spec(SCRIPT), &nodes, &[]).unwrap();
        let mut p = Fake {
            cob: [0, 0],
            stopped: [true, true],
        };
        s.start(ms(0), &mut p);
        let line = [(1, "Done loading RDB".to_string())];
        s.tick(ms(1), &line, &mut p);
        for t in (2..4000).step_by(50) {
            assert!(s.tick(ms(t), &[], &mut p).is_empty());
        }
        assert_eq!(s.assertions_failed.len(), 1, "{:?}", s.assertions_failed);
        assert!(s.assertions_failed[0].starts_with("counter: timed out after 3s"));
        assert!(!s.marks.contains_key("resume"));
    }

    #[test]
    fn link_faults_cannot_be_played_on_loopback() {
        let a = spec("[[actions]]\ndo = \"link-down\"\na = \"x\"\nb = \"y\"\nat = \"1s\"\n");
        let err = RealScript::new(&a, &[], &[]).unwrap_err();
        assert!(err.contains("link-down"), "{err}");
    }
}
