//! Benchmark workloads shared by `replsim bench`, `cargo bench` and the peer comparison in
//! `benches/peers/`, so every number in `BENCHMARKS.md` measures the same thing.
//!
//! * **ping-pong**: `pairs` pairs of actors; at t = 0 each `a_i` sends a ping to `b_i`; every
//!   receiver answers its partner after a delay drawn uniformly from 1 µs … 1 ms from its *own*
//!   random stream. The queue holds `pairs` events at all times.
//! * **heap hold model** (the ceiling): the same number of pending events in a bare
//!   `std::collections::BinaryHeap` of `(time, seq)` keys, each pop followed by one push at
//!   `time + U(1 µs, 1 ms)` from one ChaCha8 stream. No dispatch, no actors, no trace: what the
//!   engine's loop would cost if it did nothing else.
//!
//! Both stop after a fixed number of events; the result reports events per wall-clock second.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rand::RngExt;

use crate::engine::{Actor, ActorId, Ctx, Message, SimDuration, SimTime, Simulation, StopAt};

/// Smallest and largest delay drawn by the workloads, in nanoseconds.
const DELAY_NS: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;

/// The outcome of one benchmark workload.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchResult {
    /// Workload name, e.g. `pingpong_1000`.
    pub workload: String,
    /// Events processed.
    pub events: u64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Events per wall-clock second.
    pub events_per_sec: f64,
    /// The trace digest of the run (ping-pong only), showing the run is deterministic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_hash: Option<String>,
    /// Whole model runs per wall-clock second (model workloads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_per_sec: Option<f64>,
}

impl BenchResult {
    /// A result from its measurements (the rate is derived; `runs_per_sec` is left empty).
    /// Peer benchmarks (`benches/peers`) build theirs with it, so a new field cannot break them.
    pub fn new(
        workload: String,
        events: u64,
        wall_seconds: f64,
        trace_hash: Option<String>,
    ) -> Self {
        BenchResult {
            workload,
            events,
            wall_seconds,
            events_per_sec: events as f64 / wall_seconds.max(1e-9),
            trace_hash,
            runs_per_sec: None,
        }
    }
}

/// The ping-pong message: a ball carrying nothing.
#[derive(Clone, Copy, Debug)]
pub struct Ball;

impl Message for Ball {
    const KIND_NAMES: &'static [&'static str] = &["ball"];
    #[inline]
    fn kind(&self) -> usize {
        0
    }
}

/// One ping-pong player: it knows its partner and returns every ball after a random delay.
#[derive(Debug)]
pub struct Player {
    partner: ActorId,
}

impl Actor for Player {
    type Msg = Ball;
    type Env = ();

    #[inline]
    fn handle(&mut self, ball: Ball, ctx: &mut Ctx<'_, Ball, ()>) {
        let delay = SimDuration::from_nanos(ctx.rng().random_range(DELAY_NS));
        ctx.send(self.partner, ball, delay);
    }
}

/// Builds the ping-pong simulation with `pairs` pairs and the first serves queued.
pub fn pingpong_sim(pairs: u32, seed: u64) -> Simulation<Player> {
    let mut sim = Simulation::new(seed, ());
    for i in 0..pairs {
        let a = ActorId::from_index(2 * i);
        let b = ActorId::from_index(2 * i + 1);
        // Ids are assigned in insertion order and names are unique, so these cannot fail.
        let added_a = sim.add_actor(&format!("a{i}"), Player { partner: b });
        let added_b = sim.add_actor(&format!("b{i}"), Player { partner: a });
        debug_assert_eq!((added_a, added_b), (Ok(a), Ok(b)));
        let _ = sim.send_at(b, Ball, SimTime::ZERO);
    }
    sim
}

/// Runs ping-pong with `pairs` pairs for `events` events.
pub fn pingpong(pairs: u32, events: u64, seed: u64) -> BenchResult {
    let mut sim = pingpong_sim(pairs, seed);
    let started = Instant::now();
    let stats = sim.run(StopAt {
        horizon: SimTime::MAX,
        max_events: events,
    });
    let wall = started.elapsed().as_secs_f64();
    let (done, hash) = match stats {
        Ok(s) => (s.events, Some(s.trace_hash)),
        Err(_) => (sim.events(), None),
    };
    BenchResult::new(format!("pingpong_{pairs}"), done, wall, hash)
}

/// The bare-heap hold model with `pending` events in the queue, for `events` events.
pub fn heap_hold(pending: u32, events: u64, seed: u64) -> BenchResult {
    let mut rng = crate::engine::actor_rng(seed, "heap");
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(pending as usize);
    let mut seq = 0u64;
    for _ in 0..pending {
        heap.push(Reverse((0, seq)));
        seq += 1;
    }
    let started = Instant::now();
    let mut done = 0u64;
    while done < events {
        let Some(Reverse((time, _))) = heap.pop() else {
            break;
        };
        let next = time + rng.random_range(DELAY_NS);
        heap.push(Reverse((next, seq)));
        seq += 1;
        done += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    std::hint::black_box(&heap);
    BenchResult::new(format!("heap_{pending}"), done, wall, None)
}

/// The bundled default model (5 GiB, 20 MB/s, 1 GbE, 10 minutes), embedded so the benchmark
/// does not depend on the working directory.
const DEFAULT_MODEL: &str = include_str!("../models/default.toml");

/// Runs `models/default.toml` `runs` times (seeds 1..=runs) and reports events per second and
/// runs per second over the whole loop (model building included).
pub fn model_default(runs: u32) -> BenchResult {
    let started = Instant::now();
    let mut events = 0;
    let mut hash = None;
    for seed in 1..=u64::from(runs.max(1)) {
        let set = [crate::scenario::Override {
            path: "model.seed".into(),
            value: seed.to_string(),
        }];
        let Ok(model) = crate::scenario::parse_model(DEFAULT_MODEL, "models/default.toml", &set)
        else {
            break;
        };
        let Ok(cluster) = crate::valkey::Cluster::build(&model.cluster(), &model.run_options())
        else {
            break;
        };
        if let Ok(result) = cluster.run() {
            events += result.record.events;
            hash.get_or_insert(result.record.trace_hash);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let mut r = BenchResult::new("model_default".into(), events, wall, hash);
    r.runs_per_sec = Some(f64::from(runs.max(1)) / wall.max(1e-9));
    r
}

/// One whole-model run of a scaling workload: how its cost grows with simulated time or with
/// the number of replicas.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScalingResult {
    /// Workload name, e.g. `model_streaming_1h` or `replicas_100`.
    pub workload: String,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Replicas in the model.
    pub replicas: u32,
    /// Events processed.
    pub events: u64,
    /// Units of work counted against `max-events` (events plus the work inside them).
    pub work: u64,
    /// Wall-clock seconds of the simulation (model building and outputs excluded).
    pub wall_seconds: f64,
    /// Wall-clock microseconds per simulated second.
    pub wall_us_per_sim_second: f64,
    /// The run's outcome.
    pub outcome: String,
    /// The trace digest (the run is deterministic).
    pub trace_hash: String,
}

/// Streaming horizons: the default model with a COB large enough for the first sync to
/// succeed, so the replica syncs in about a minute and then streams for the rest.
pub const STREAMING_HORIZONS: [(&str, &str); 3] = [("10m", "10m"), ("1h", "1h"), ("24h", "24h")];

/// Replica counts of the scaling workloads.
pub const REPLICA_COUNTS: [u32; 3] = [10, 100, 1_000];

/// Replica counts run only when named exactly (`replsim bench --only replicas_10000`): too slow
/// for the default suite.
pub const LARGE_REPLICA_COUNTS: [u32; 1] = [10_000];

/// The overrides that turn the default model into the streaming workload.
fn streaming_overrides(horizon: &str) -> Vec<crate::scenario::Override> {
    let set = |path: &str, value: &str| crate::scenario::Override {
        path: path.into(),
        value: value.into(),
    };
    vec![
        set(
            "nodes.primary.config.client-output-buffer-limit",
            "2gb 512mb 60",
        ),
        set("model.horizon", horizon),
        // One INFO sample a minute: the samples are output, not simulation work.
        set("model.sample-interval", "1m"),
    ]
}

/// A model of `replicas` replicas of one primary, each on its own 1 Gbit/s, 200 µs link: the
/// default model's write load (20 MB/s, Poisson) on a 1 GB dataset with a COB large enough to
/// sync, for 60 s, so every replica forks, transfers, loads and then streams.
pub fn replicas_model(replicas: u32) -> String {
    let mut text = String::from(
        "[model]\nname = \"replicas\"\nseed = 1\nhorizon = \"60s\"\nsample-interval = \"1m\"\n\n\
         [dataset]\nkeys = 1000000\nvalue-size = \"1kb\"\ncompression-ratio = 1.0\n\n\
         [[nodes]]\nname = \"primary\"\nrole = \"primary\"\n[nodes.config]\n\
         client-output-buffer-limit = \"2gb 512mb 60\"\n\n\
         [[workloads]]\nname = \"app\"\npattern = \"poisson\"\nops-per-sec = 18500\n\
         value-size = { dist = \"fixed\", size = \"1kb\" }\n",
    );
    for i in 1..=replicas {
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"r{i}\"\nrole = \"replica\"\n\n\
             [[links]]\na = \"primary\"\nb = \"r{i}\"\nbandwidth = \"1gbit\"\nlatency = \"200us\"\n"
        ));
    }
    text
}

/// Runs one model text and reduces it to a [`ScalingResult`]; `None` if it does not build or
/// run (the workloads are fixed, so that is a bug the caller reports).
fn scaling_run(
    workload: String,
    text: &str,
    set: &[crate::scenario::Override],
    replicas: u32,
) -> Option<ScalingResult> {
    let model = crate::scenario::parse_model(text, "bench", set).ok()?;
    let cluster = crate::valkey::Cluster::build(&model.cluster(), &model.run_options()).ok()?;
    let result = cluster.run().ok()?;
    let sim_seconds = result.record.sim_seconds;
    Some(ScalingResult {
        workload,
        sim_seconds,
        replicas,
        events: result.stats.events,
        work: result.stats.work,
        wall_seconds: result.stats.wall_seconds,
        wall_us_per_sim_second: result.stats.wall_seconds * 1e6 / sim_seconds.max(1e-9),
        outcome: serde_json::to_value(result.record.outcome)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        trace_hash: result.record.trace_hash,
    })
}

/// `model_streaming_<horizon>`: the default model, large COB, for `horizon` (`"10m"`, `"1h"`,
/// `"24h"`, …).
pub fn model_streaming(label: &str, horizon: &str) -> Option<ScalingResult> {
    scaling_run(
        format!("model_streaming_{label}"),
        DEFAULT_MODEL,
        &streaming_overrides(horizon),
        1,
    )
}

/// `replicas_<n>`: [`replicas_model`] with `n` replicas.
pub fn replicas(n: u32) -> Option<ScalingResult> {
    scaling_run(format!("replicas_{n}"), &replicas_model(n), &[], n)
}

/// The scaling suite: streaming over 10 min, 1 h and 24 h, then 10, 100 and 1 000 replicas.
/// `only` keeps the workloads whose name contains it; `replicas_10000` runs only when `only` is
/// exactly its name.
pub fn scaling_suite(only: Option<&str>) -> Vec<ScalingResult> {
    let wanted = |name: &str| only.is_none_or(|o| name.contains(o));
    let mut out = Vec::new();
    for (label, horizon) in STREAMING_HORIZONS {
        if wanted(&format!("model_streaming_{label}")) {
            out.extend(model_streaming(label, horizon));
        }
    }
    for n in REPLICA_COUNTS {
        if wanted(&format!("replicas_{n}")) {
            out.extend(replicas(n));
        }
    }
    for n in LARGE_REPLICA_COUNTS {
        let name = format!("replicas_{n}");
        if only == Some(name.as_str()) {
            out.extend(replicas(n));
        }
    }
    out
}

/// The standard engine suite: ping-pong and the heap ceiling at 1, 1 000 and 100 000.
/// `scale` multiplies the event counts (1.0 is the recorded configuration).
pub fn engine_suite(seed: u64, scale: f64) -> Vec<BenchResult> {
    let events = |base: u64| ((base as f64 * scale).round() as u64).max(1_000);
    let mut out = Vec::new();
    for (pairs, base) in [
        (1u32, 10_000_000u64),
        (1_000, 10_000_000),
        (100_000, 5_000_000),
    ] {
        out.push(pingpong(pairs, events(base), seed));
        out.push(heap_hold(pairs, events(base), seed));
    }
    out.push(model_default(((50.0 * scale).round() as u32).max(1)));
    out
}
