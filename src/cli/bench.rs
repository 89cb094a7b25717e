//! `replsim bench`: the engine benchmarks of `BENCHMARKS.md`.

use clap::Args;

use super::CliError;
use crate::bench::{BenchResult, ScalingResult, engine_suite, scaling_suite};

/// Arguments of `replsim bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim bench\n  replsim bench --json > bench.json\n  replsim bench --scale 0.1   # a quick look\n  replsim bench --only model_streaming   # cost vs simulated time\n  replsim bench --only replicas          # cost vs replicas (10, 100, 1 000)\n  replsim bench --only replicas_10000    # 10 000 replicas (only when named exactly)"
)]
pub struct BenchArgs {
    /// Print one JSON object keyed by workload instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Multiply every workload's event count (1.0 is what BENCHMARKS.md records).
    #[arg(long, default_value_t = 1.0, value_parser = positive_scale)]
    pub scale: f64,
    /// Master seed of the workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only the workloads whose name contains this (e.g. `model_streaming`, `replicas`,
    /// `pingpong`).
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
}

fn positive_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number in (0, 100]")),
    }
}

/// Runs the benchmark suite and prints it.
pub fn run(args: BenchArgs) -> Result<(), CliError> {
    let only = args.only.as_deref();
    let engine = only.is_none_or(|o| {
        ["pingpong", "heap", "model_default"]
            .iter()
            .any(|w| w.contains(o) || o.contains(w))
    });
    let results = if engine {
        let mut results = engine_suite(args.seed, args.scale);
        results.retain(|r| only.is_none_or(|o| r.workload.contains(o)));
        results
    } else {
        Vec::new()
    };
    let scaling = scaling_suite(only);
    if results.is_empty() && scaling.is_empty() {
        return Err(CliError::bad_input(format!(
            "--only {:?} matches no workload (pingpong_N, heap_N, model_default, \
             model_streaming_10m|1h|24h, replicas_10|100|1000, replicas_10000)",
            only.unwrap_or_default()
        )));
    }
    if args.json {
        let mut map = serde_json::Map::new();
        for r in &results {
            map.insert(
                r.workload.clone(),
                serde_json::to_value(r).unwrap_or_default(),
            );
        }
        for r in &scaling {
            map.insert(
                r.workload.clone(),
                serde_json::to_value(r).unwrap_or_default(),
            );
        }
        println!("{}", serde_json::Value::Object(map));
        return Ok(());
    }
    if !results.is_empty() {
        print_table(&results);
    }
    if !scaling.is_empty() {
        print_scaling(&scaling);
    }
    Ok(())
}

fn print_scaling(results: &[ScalingResult]) {
    println!(
        "{:<22} {:>9} {:>9} {:>11} {:>11} {:>9} {:>12}",
        "workload", "sim s", "replicas", "events", "work", "wall s", "wall µs/sim s"
    );
    for r in results {
        println!(
            "{:<22} {:>9.0} {:>9} {:>11} {:>11} {:>9.3} {:>12.1}",
            r.workload,
            r.sim_seconds,
            r.replicas,
            r.events,
            r.work,
            r.wall_seconds,
            r.wall_us_per_sim_second
        );
    }
}

fn print_table(results: &[BenchResult]) {
    println!(
        "{:<18} {:>12} {:>10} {:>14}",
        "workload", "events", "wall s", "events/s"
    );
    for r in results {
        println!(
            "{:<18} {:>12} {:>10.3} {:>14.0}",
            r.workload, r.events, r.wall_seconds, r.events_per_sec
        );
    }
    for r in results {
        let Some(runs_per_sec) = r.runs_per_sec else {
            continue;
        };
        let runs = (runs_per_sec * r.wall_seconds).round().max(1.0);
        println!(
            "{}: {:.0} events per run, {:.1} runs/s",
            r.workload,
            r.events as f64 / runs,
            runs_per_sec
        );
    }
    for pair in results
        .chunks(2)
        .filter(|p| p.iter().all(|r| r.runs_per_sec.is_none()))
    {
        if let [engine, heap] = pair {
            println!(
                "{} reaches {:.0}% of the bare-heap ceiling",
                engine.workload,
                100.0 * engine.events_per_sec / heap.events_per_sec
            );
        }
    }
}
