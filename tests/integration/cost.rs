//! Cost grows with simulated time and with replicas linearly: asserted on *work* (events, the
//! network's work units, pending watches and timers), never on wall-clock time.

use std::path::Path;

use replsim::engine::{Actor, Ctx, Message, SimDuration, SimError, SimTime, Simulation, StopAt};
use replsim::scenario::{Override, load_model};
use replsim::valkey::{Cluster, RunResult};

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.into(),
        value: value.into(),
    }
}

fn run_default(extra: &[Override]) -> Result<RunResult, SimError> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.toml");
    let mut overrides = vec![
        set(
            "nodes.primary.config.client-output-buffer-limit",
            "2gb 512mb 60",
        ),
        set("model.sample-interval", "1m"),
    ];
    overrides.extend_from_slice(extra);
    let model = load_model(&file, &overrides).unwrap();
    Cluster::build(&model.cluster(), &crate::checked::options(&model))
        .unwrap()
        .run()
}

fn streaming(horizon: &str) -> RunResult {
    run_default(&[set("model.horizon", horizon)]).unwrap()
}

#[test]
fn streaming_work_grows_linearly_with_the_horizon_and_watches_stay_bounded() {
    let short = streaming("20m");
    let long = streaming("3h");
    for r in [&short, &long] {
        assert_eq!(
            r.record.outcome,
            replsim::valkey::Outcome::CleanSync,
            "the big COB lets the first sync succeed, then the replica streams"
        );
    }
    let ratio = |a: u64, b: u64| a as f64 / b as f64 / 9.0;
    let events = ratio(long.stats.events, short.stats.events);
    let work = ratio(long.stats.work, short.stats.work);
    let net = ratio(long.network.work, short.network.work);
    for (what, r) in [("events", events), ("work", work), ("network work", net)] {
        assert!(
            (0.8..1.25).contains(&r),
            "{what} of 3 h / 20 min is {r:.3} × 9: cost must grow linearly with simulated time"
        );
    }
    // Every rate change of the Poisson load re-arms the COB watches; they are replaced, not
    // accumulated (one hard and one soft watch, plus at most a transient one).
    assert!(
        long.network.peak_watches <= 4,
        "peak watches on one connection: {}",
        long.network.peak_watches
    );
    assert!(long.stats.work >= long.stats.events + long.network.work);
}

#[test]
fn a_huge_write_rate_stops_at_the_work_budget_with_an_error() {
    let budget = 20_000u64;
    let Err(err) = run_default(&[
        set("workloads.app.ops-per-sec", "100000000"),
        set("model.horizon", "1h"),
        set("model.max-events", &budget.to_string()),
    ]) else {
        panic!("the run needs far more than the budget");
    };
    match err {
        SimError::WorkBudget {
            budget: b,
            at,
            horizon,
        } => {
            assert_eq!(b, budget);
            assert!(at < horizon, "stopped at {at}, before {horizon}");
        }
        other => panic!("expected the work budget error, got {other}"),
    }
    assert!(err_text(budget).contains("raise max-events"));
}

fn err_text(budget: u64) -> String {
    SimError::WorkBudget {
        budget,
        at: SimTime::ZERO,
        horizon: SimTime::ZERO,
    }
    .to_string()
}

#[test]
fn the_budget_counts_the_networks_work_not_only_events() {
    let full = streaming("5m");
    assert!(full.stats.work > full.stats.events);
    // Enough for every event, not for the work inside them.
    let budget = full.stats.events.to_string();
    let cut = run_default(&[set("model.horizon", "5m"), set("model.max-events", &budget)]);
    assert!(
        matches!(cut, Err(SimError::WorkBudget { .. })),
        "a budget of {budget} (< {} units of work) must stop the run",
        full.stats.work
    );
    let enough = full.stats.work.to_string();
    let same = run_default(&[set("model.horizon", "5m"), set("model.max-events", &enough)])
        .expect("a budget equal to the work done is enough");
    assert_eq!(same.record.trace_hash, full.record.trace_hash);
}

/// An actor that re-arms one far-future timer on every tick, the way a prediction is re-armed
/// on every rate change.
#[derive(Debug, Default)]
struct Rearmer {
    timer: Option<replsim::engine::TimerId>,
    ticks: u64,
    max_pending: usize,
}

#[derive(Clone, Debug)]
enum Tick {
    Tick,
    Far,
}

impl Message for Tick {
    const KIND_NAMES: &'static [&'static str] = &["tick", "far"];
    fn kind(&self) -> usize {
        match self {
            Tick::Tick => 0,
            Tick::Far => 1,
        }
    }
}

impl Actor for Rearmer {
    type Msg = Tick;
    type Env = ();
    fn handle(&mut self, msg: Tick, ctx: &mut Ctx<'_, Tick, ()>) {
        if let Tick::Far = msg {
            return;
        }
        self.ticks += 1;
        if let Some(t) = self.timer.take() {
            assert!(ctx.cancel(t));
        }
        self.timer = Some(ctx.schedule(Tick::Far, SimDuration::from_secs(1_000_000)));
        ctx.schedule(Tick::Tick, SimDuration::from_millis(1));
    }
}

#[test]
fn cancelled_timers_do_not_pile_up_in_the_queue() {
    let mut sim = Simulation::new(1, ());
    let id = sim.add_actor("rearmer", Rearmer::default()).unwrap();
    sim.send_at(id, Tick::Tick, SimTime::ZERO).unwrap();
    let mut max_pending = 0;
    for s in 1..=100u64 {
        sim.run(StopAt::horizon(SimTime::from_secs(s))).unwrap();
        max_pending = max_pending.max(sim.pending());
    }
    sim.actor_mut(id).max_pending = max_pending;
    assert_eq!(sim.actor(id).ticks, 100_001);
    // 100 000 cancelled far-future timers; the queue keeps O(live) of them.
    assert!(
        max_pending < 5_000,
        "pending entries peaked at {max_pending}"
    );
    let stats = sim.run(StopAt::horizon(SimTime::from_secs(100))).unwrap();
    assert!(
        stats.work >= stats.events + 100_000,
        "cancels count as work"
    );
}
