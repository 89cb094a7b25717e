//! `replsim bench`: the engine benchmarks of `BENCHMARKS.md`.

use clap::Args;

use super::CliError;
use crate::bench::{BenchResult, engine_suite};

/// Arguments of `replsim bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim bench\n  replsim bench --json > bench.json\n  replsim bench --scale 0.1   # a quick look"
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
}

fn positive_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number in (0, 100]")),
    }
}

/// Runs the benchmark suite and prints it.
pub fn run(args: BenchArgs) -> Result<(), CliError> {
    let results = engine_suite(args.seed, args.scale);
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|r| {
                (
                    r.workload.clone(),
                    serde_json::to_value(r).unwrap_or_default(),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(map));
        return Ok(());
    }
    print_table(&results);
    Ok(())
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
