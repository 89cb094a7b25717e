//! `replsim swarm`: random but valid models, each run with the invariant checker.
//!
//! [`generate`] turns a seed into an ordinary model file (TOML text), so every failure is a file
//! anyone can `replsim run`: 1–4 replicas of one primary, classic or dual-channel, disk or
//! diskless sync and load, configs drawn across their ranges (backlog size, COB hard and soft
//! limits, `repl-timeout`, the diskless delay, `rdb-key-save-delay`, `key-load-delay`, …), a
//! write load, and a random schedule of actions and faults from the model's own action
//! vocabulary (pause/resume, kill-connection, link down/up, config-set, replicaof and
//! replicaof-no-one). Each model sets `[model] check = true` and a work budget
//! (`max-events`) and a horizon of at most 90 s, so no run hangs.
//!
//! [`run_swarm`] runs the seeds on a rayon pool (as the sweep runner does, a panic caught per
//! run); a failure — a broken invariant, a panic, a spent budget, any other error — is written
//! under `failures/` as the model (`seed-N.toml`) and a repro bundle (`seed-N.json`), with the
//! one-line command that replays it.

use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::{Rng, RngExt};

use super::{Bundle, ExperimentError};
use crate::engine::actor_rng;
use crate::scenario::parse_model;
use crate::staging::{OutputKind, StagedDir};
use crate::valkey::Cluster;

/// Whether the generator may make a replica replicate from another replica: [`generate`] then
/// picks an earlier node as a replica's primary (`upstream_of`), links it to that node and to
/// the primary (so a later `replicaof primary` can connect), and a link fault hits the link to
/// its own primary.
pub const CHAINED: bool = true;

/// The work budget of one swarm run (events plus the work inside them): far above what a
/// model of this size needs (seed 1728, four replicas on slow links, needs about 10⁷), so a run
/// that spends it is looping, not busy.
pub const RUN_BUDGET: u64 = 20_000_000;

/// How to run a swarm.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// The first seed.
    pub from_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Worker threads.
    pub jobs: usize,
    /// The output directory.
    pub out: PathBuf,
    /// Replace an earlier swarm's directory there.
    pub force: bool,
    /// Print progress on stderr.
    pub progress: bool,
}

/// One failed seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmFailure {
    /// The seed.
    pub seed: u64,
    /// `invariant`, `panic`, `budget` or `error`.
    pub kind: &'static str,
    /// What happened.
    pub message: String,
    /// The model file written for it (in the final directory).
    pub model: PathBuf,
}

impl SwarmFailure {
    /// The one-line command that replays it.
    pub fn replay_command(&self) -> String {
        format!("replsim run {}", self.model.display())
    }
}

/// What a swarm did.
#[derive(Clone, Debug)]
pub struct SwarmReport {
    /// Seeds run.
    pub runs: u64,
    /// The failures, by seed.
    pub failures: Vec<SwarmFailure>,
    /// Events over all runs.
    pub events: u64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// The output directory.
    pub dir: PathBuf,
}

fn pick<'a, T>(rng: &mut impl Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// A size between `lo` and `hi` bytes, log-uniform.
fn log_size(rng: &mut impl Rng, lo: u64, hi: u64) -> u64 {
    let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(lo + 1) as f64).ln());
    rng.random_range(a..b).exp().round() as u64
}

/// The node a replica of index `i` (1-based among nodes) replicates from: the primary, or with
/// [`CHAINED`] any earlier node.
fn upstream_of(rng: &mut impl Rng, i: usize, names: &[String]) -> String {
    if CHAINED && i > 1 && rng.random_bool(0.3) {
        return names[rng.random_range(1..i)].clone();
    }
    names[0].clone()
}

/// The model file of `seed`: random, valid, checked, bounded.
pub fn generate(seed: u64) -> String {
    let mut rng = actor_rng(seed, "swarm");
    let rng = &mut rng;
    let replicas = rng.random_range(1..=4usize);
    let horizon = rng.random_range(10..=90u64);
    let mut names = vec!["primary".to_string()];
    names.extend((1..=replicas).map(|i| format!("replica-{i}")));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# replsim swarm, seed {seed}: a random model (replsim swarm --from-seed {seed} --seeds 1)\n"
    );
    let _ = writeln!(
        t,
        "[model]\nname = \"swarm-{seed}\"\nseed = {}",
        seed & (i64::MAX as u64)
    );
    let _ = writeln!(
        t,
        "horizon = \"{horizon}s\"\nsample-interval = \"500ms\"\nmax-events = {RUN_BUDGET}\ncheck = true\n"
    );
    let value = log_size(rng, 16, 16 * 1024);
    let max_keys = (256 << 20) / value.max(1);
    let keys = log_size(rng, 100, max_keys.clamp(101, 2_000_000));
    let _ = writeln!(t, "[dataset]\nkeys = {keys}\nvalue-size = \"{value}\"");
    let _ = writeln!(
        t,
        "compression-ratio = {:.2}\n",
        rng.random_range(0.05..1.0)
    );
    let mut ups = vec![names[0].clone()];
    for (i, name) in names.iter().enumerate() {
        let _ = writeln!(t, "[[nodes]]\nname = \"{name}\"");
        if i == 0 {
            let _ = writeln!(t, "role = \"primary\"");
        } else {
            let up = upstream_of(rng, i, &names);
            ups.push(up.clone());
            let at = rng.random_range(0..3000u64);
            let _ = writeln!(
                t,
                "role = \"replica\"\nreplicaof = \"{up}\"\nreplicaof-at = \"{at}ms\""
            );
        }
        let _ = writeln!(t, "[nodes.config]");
        node_config(rng, &mut t);
        t.push('\n');
    }
    for (i, name) in names.iter().enumerate().skip(1) {
        let mut ends = vec![names[0].as_str()];
        if ups[i] != names[0] {
            ends.insert(0, ups[i].as_str());
        }
        for a in ends {
            let bw = *pick(rng, &["10mbit", "100mbit", "1gbit", "10gbit"]);
            let lat = *pick(rng, &["50us", "200us", "2ms", "20ms"]);
            let _ = writeln!(
                t,
                "[[links]]\na = \"{a}\"\nb = \"{name}\"\nbandwidth = \"{bw}\"\nlatency = \"{lat}\"\n"
            );
        }
    }
    let ops = log_size(rng, 10, 50_000);
    let wsize = log_size(rng, 10, 16 * 1024);
    let pattern = *pick(rng, &["constant", "poisson"]);
    let _ = writeln!(
        t,
        "[[workloads]]\nname = \"app\"\npattern = \"{pattern}\"\nops-per-sec = {ops}\nvalue-size = {{ dist = \"fixed\", size = \"{wsize}\" }}"
    );
    let mut start = 0;
    if rng.random_bool(0.3) {
        start = rng.random_range(0..horizon);
        let _ = writeln!(t, "start = \"{start}s\"");
    }
    if rng.random_bool(0.3) {
        let _ = writeln!(t, "stop = \"{}s\"", rng.random_range(start + 1..=horizon));
    }
    t.push('\n');
    actions(rng, &mut t, &names, &ups, horizon);
    t
}

/// One node's `[nodes.config]` lines.
fn node_config(rng: &mut impl Rng, t: &mut String) {
    let backlog = log_size(rng, 1024, 256 << 20);
    let _ = writeln!(t, "repl-backlog-size = \"{backlog}\"");
    let hard = if rng.random_bool(0.15) {
        0
    } else {
        log_size(rng, 64 << 10, 1 << 30)
    };
    let soft = if rng.random_bool(0.5) {
        0
    } else {
        log_size(rng, 16 << 10, hard.max(32 << 10))
    };
    let secs = rng.random_range(0..=60u64);
    let _ = writeln!(t, "client-output-buffer-limit = \"{hard} {soft} {secs}\"");
    let _ = writeln!(
        t,
        "dual-channel-replication-enabled = \"{}\"",
        yes(rng, 0.5)
    );
    let _ = writeln!(t, "repl-diskless-sync = \"{}\"", yes(rng, 0.6));
    let _ = writeln!(
        t,
        "repl-diskless-sync-delay = {}",
        *pick(rng, &[0u64, 0, 1, 5])
    );
    let _ = writeln!(
        t,
        "repl-diskless-load = \"{}\"",
        *pick(rng, &["disabled", "on-empty-db", "swapdb"])
    );
    let _ = writeln!(t, "repl-timeout = {}", rng.random_range(2..=60u64));
    let _ = writeln!(
        t,
        "rdb-key-save-delay = {}",
        *pick(rng, &[0i64, 0, 0, 1, 10, 100, -10])
    );
    let _ = writeln!(
        t,
        "key-load-delay = {}",
        *pick(rng, &[0i64, 0, 0, 1, 10, -10])
    );
}

fn yes(rng: &mut impl Rng, p: f64) -> &'static str {
    if rng.random_bool(p) { "yes" } else { "no" }
}

/// A random schedule of actions and faults.
/// `ups[i]` is node `i`'s primary (a link fault hits that link).
fn actions(rng: &mut impl Rng, t: &mut String, names: &[String], ups: &[String], horizon: u64) {
    let n = rng.random_range(0..=6usize);
    let horizon_ms = horizon * 1000;
    for k in 0..n {
        let at = rng.random_range(0..horizon_ms);
        let later = (at + rng.random_range(1..=10_000u64)).min(horizon_ms);
        let node = pick(rng, names).clone();
        let r = rng.random_range(1..names.len());
        let (replica, up) = (names[r].clone(), ups[r].clone());
        let _ = writeln!(t, "[[actions]]\nname = \"a{k}\"\nat = \"{at}ms\"");
        match rng.random_range(0..8u32) {
            0 => {
                let _ = writeln!(t, "do = \"pause\"\nnode = \"{node}\"\n");
                let _ = writeln!(
                    t,
                    "[[actions]]\nname = \"a{k}-resume\"\nat = \"{later}ms\"\ndo = \"resume\"\nnode = \"{node}\""
                );
            }
            1 => {
                let _ = writeln!(t, "do = \"kill-connection\"\nnode = \"{node}\"");
            }
            2 => {
                let _ = writeln!(t, "do = \"link-down\"\na = \"{up}\"\nb = \"{replica}\"\n");
                let _ = writeln!(
                    t,
                    "[[actions]]\nname = \"a{k}-up\"\nat = \"{later}ms\"\ndo = \"link-up\"\na = \"{up}\"\nb = \"{replica}\""
                );
            }
            3 => {
                let backlog = log_size(rng, 1024, 256 << 20);
                let _ = writeln!(
                    t,
                    "do = \"config-set\"\nnode = \"{node}\"\nkey = \"repl-backlog-size\"\nvalue = \"{backlog}\""
                );
            }
            4 => {
                let hard = log_size(rng, 64 << 10, 1 << 30);
                let _ = writeln!(
                    t,
                    "do = \"config-set\"\nnode = \"{node}\"\nkey = \"client-output-buffer-limit\"\nvalue = \"replica {hard} 0 0\""
                );
            }
            5 => {
                let timeout = rng.random_range(1..=60u64);
                let _ = writeln!(
                    t,
                    "do = \"config-set\"\nnode = \"{node}\"\nkey = \"repl-timeout\"\nvalue = \"{timeout}\""
                );
            }
            6 => {
                let _ = writeln!(
                    t,
                    "do = \"replicaof\"\nnode = \"{replica}\"\ntarget = \"primary\""
                );
            }
            _ => {
                let _ = writeln!(t, "do = \"replicaof-no-one\"\nnode = \"{replica}\"\n");
                let _ = writeln!(
                    t,
                    "[[actions]]\nname = \"a{k}-back\"\nat = \"{later}ms\"\ndo = \"replicaof\"\nnode = \"{replica}\"\ntarget = \"primary\""
                );
            }
        }
        t.push('\n');
    }
}

/// Runs one seed: its event count, or a failure (`invariant`, `budget`, `error`; a panic is not
/// caught here, see [`run_swarm`]) with its message.
pub fn run_seed(seed: u64) -> Result<u64, (&'static str, String)> {
    let text = generate(seed);
    let file = format!("swarm seed {seed}");
    let model = parse_model(&text, &file, &[])
        .map_err(|e| ("error", format!("the generated model was rejected: {e}")))?;
    let cluster = Cluster::build(&model.cluster(), &model.run_options()).map_err(|e| {
        (
            "error",
            format!("the generated model could not be built: {e}"),
        )
    })?;
    match cluster.run() {
        Ok(r) => Ok(r.record.events),
        Err(e @ crate::engine::SimError::Invariant { .. }) => Err(("invariant", e.to_string())),
        Err(e @ crate::engine::SimError::WorkBudget { .. }) => Err(("budget", e.to_string())),
        Err(e) => Err(("error", e.to_string())),
    }
}

/// [`run_seed`] with a panic caught.
fn run_seed_guarded(seed: u64) -> Result<u64, (&'static str, String)> {
    std::panic::catch_unwind(AssertUnwindSafe(|| run_seed(seed))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(("panic", msg))
    })
}

/// Writes a failure's model and bundle into the staging directory.
fn write_failure(
    staged: &StagedDir,
    seed: u64,
    kind: &'static str,
    message: &str,
) -> Result<(), ExperimentError> {
    let text = generate(seed);
    let io = |e: std::io::Error| ExperimentError::Runtime(format!("cannot write a failure: {e}"));
    std::fs::create_dir_all(staged.path("failures")).map_err(io)?;
    let header = format!("# failed: {kind}: {}\n", message.replace('\n', " "));
    std::fs::write(
        staged.path(&format!("failures/seed-{seed}.toml")),
        header + &text,
    )
    .map_err(io)?;
    let bundle = Bundle {
        replsim_version: env!("CARGO_PKG_VERSION").to_string(),
        experiment: "swarm".into(),
        run: seed,
        point: 0,
        rep: 0,
        overrides: Vec::new(),
        seed: seed & (i64::MAX as u64),
        outcome: format!("failed: {kind}"),
        trace_hash: String::new(),
        model: text,
    };
    std::fs::write(
        staged.path(&format!("failures/seed-{seed}.json")),
        bundle.to_json(),
    )
    .map_err(io)
}

/// Runs `options.seeds` seeds from `options.from_seed` and writes `options.out`.
pub fn run_swarm(options: &SwarmOptions) -> Result<SwarmReport, ExperimentError> {
    let staged =
        StagedDir::create(&options.out, OutputKind::Swarm, options.force).map_err(|e| {
            if e.is_bad_input() {
                ExperimentError::BadInput(e.to_string())
            } else {
                ExperimentError::Runtime(e.to_string())
            }
        })?;
    let jobs = options.jobs.clamp(1, 1024);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("replsim-swarm-{i}"))
        .build()
        .map_err(|e| ExperimentError::Runtime(format!("cannot start {jobs} threads: {e}")))?;
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let events = AtomicU64::new(0);
    let failures: Mutex<Vec<(u64, &'static str, String)>> = Mutex::new(Vec::new());
    let total = options.seeds;
    let step = (total / 100).max(1);
    pool.scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|_| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return;
                    }
                    let seed = options.from_seed.wrapping_add(i);
                    match run_seed_guarded(seed) {
                        Ok(n) => {
                            events.fetch_add(n, Ordering::Relaxed);
                        }
                        Err((kind, message)) => {
                            if options.progress {
                                eprintln!("swarm: seed {seed} failed ({kind}): {message}");
                            }
                            if let Ok(mut f) = failures.lock() {
                                f.push((seed, kind, message));
                            }
                        }
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if options.progress && (d.is_multiple_of(step) || d == total) {
                        let failed = failures.lock().map_or(0, |f| f.len());
                        eprintln!(
                            "swarm: {d}/{total} seeds, {failed} failed, {:.0} s",
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let mut failed = failures.into_inner().unwrap_or_default();
    failed.sort_by_key(|f| f.0);
    let mut report = SwarmReport {
        runs: total,
        failures: Vec::new(),
        events: events.into_inner(),
        wall_seconds: started.elapsed().as_secs_f64(),
        dir: options.out.clone(),
    };
    let mut summary = String::new();
    for (seed, kind, message) in failed {
        write_failure(&staged, seed, kind, &message)?;
        let f = SwarmFailure {
            seed,
            kind,
            message,
            model: options.out.join(format!("failures/seed-{seed}.toml")),
        };
        let _ = writeln!(
            summary,
            "{seed}\t{kind}\t{}\t{}",
            f.replay_command(),
            f.message
        );
        report.failures.push(f);
    }
    let head = format!(
        "# replsim swarm: seeds {}..{}, {} failed\n# seed\tkind\treplay\tmessage\n",
        options.from_seed,
        options.from_seed.wrapping_add(total),
        report.failures.len()
    );
    std::fs::write(staged.path("failures.tsv"), head + &summary)
        .map_err(|e| ExperimentError::Runtime(format!("cannot write failures.tsv: {e}")))?;
    staged
        .commit()
        .map_err(|e| ExperimentError::Runtime(e.to_string()))?;
    Ok(report)
}

/// The default output directory.
pub fn default_dir() -> PathBuf {
    Path::new("output").join("swarm")
}
