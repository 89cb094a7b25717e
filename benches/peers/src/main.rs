//! `replsim-peers`: replsim's ping-pong benchmark next to the same workload on simcore 0.1 and
//! NeXosim 1.0, in one process, single-threaded, plus the bare-heap ceiling.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- [--json] [--scale X] [--seed N]
//! ```
//!
//! For 1, 1 000 and 100 000 pairs it runs, in order: `replsim::bench::pingpong`, the simcore
//! version ([`simcore_pingpong`]), the NeXosim version ([`nexosim_pingpong`]) and
//! `replsim::bench::heap_hold`, each for the same number of ball deliveries (10 M, 10 M and 5 M,
//! times `--scale`). Before timing anything, [`check_agreement`] runs a short version on each
//! engine and checks that they all end at the same simulated instant, i.e. that they simulate
//! the same thing. See `README.md` for what counts as an event in each engine.

mod nexosim_pingpong;
mod simcore_pingpong;
mod workload;

use std::process::ExitCode;

use replsim::bench::{BenchResult, heap_hold, pingpong, pingpong_sim};
use replsim::engine::{SimTime, StopAt};
use serde_json::{Map, Value};

use workload::PeerRun;

/// The recorded configuration: pairs and ball deliveries per workload, before `--scale`
/// (the same as `replsim::bench::engine_suite`).
const WORKLOADS: [(u32, u64); 3] = [(1, 10_000_000), (1_000, 10_000_000), (100_000, 5_000_000)];

const USAGE: &str = "\
usage: replsim-peers [--json] [--scale X] [--seed N]

  --json      print one JSON object keyed by workload instead of a table
  --scale X   multiply every workload's event count, X in (0, 100] (default 1.0)
  --seed N    master seed of the workloads (default 1, as `replsim bench`)";

/// Command-line options.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Args {
    json: bool,
    scale: f64,
    seed: u64,
}

impl Args {
    /// Parses the options; `Ok(None)` means `--help` was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut out = Args {
            json: false,
            scale: 1.0,
            seed: 1,
        };
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--json" => out.json = true,
                "--scale" => out.scale = parse_scale(&value()?)?,
                "--seed" => {
                    let v = value()?;
                    out.seed = v
                        .parse()
                        .map_err(|_| format!("--seed {v:?} is not an integer"))?;
                }
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(out))
    }
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
        _ => Err(format!("--scale {s:?} is not a number in (0, 100]")),
    }
}

/// One workload measured on every engine.
#[derive(Debug)]
struct Comparison {
    /// `pingpong_{pairs}`.
    workload: String,
    replsim: BenchResult,
    simcore: BenchResult,
    nexosim: BenchResult,
    /// The bare-heap ceiling with as many pending events as there are pairs.
    heap: BenchResult,
}

impl Comparison {
    /// The engines in the order they are printed, with their JSON keys.
    fn engines(&self) -> [(&'static str, &BenchResult); 4] {
        [
            ("replsim", &self.replsim),
            ("simcore", &self.simcore),
            ("nexosim", &self.nexosim),
            ("heap", &self.heap),
        ]
    }
}

/// A peer's run in replsim's result type, so every engine reports the same fields.
fn peer_result(workload: &str, run: PeerRun) -> BenchResult {
    BenchResult::new(workload.to_owned(), run.events, run.wall_seconds, None)
}

/// Runs every workload on every engine.
fn run_suite(args: Args) -> Result<Vec<Comparison>, String> {
    let mut out = Vec::new();
    for (pairs, base) in WORKLOADS {
        let events = ((base as f64 * args.scale).round() as u64).max(1_000);
        let workload = format!("pingpong_{pairs}");
        eprintln!("{workload}: {events} events on replsim, simcore, nexosim, heap");
        let replsim = pingpong(pairs, events, args.seed);
        let simcore = simcore_pingpong::pingpong(pairs, events, args.seed);
        let nexosim = nexosim_pingpong::pingpong(pairs, events, args.seed)
            .map_err(|e| format!("{workload} on nexosim: {e}"))?;
        let heap = heap_hold(pairs, events, args.seed);
        out.push(Comparison {
            simcore: peer_result(&workload, simcore),
            nexosim: peer_result(&workload, nexosim),
            workload,
            replsim,
            heap,
        });
    }
    Ok(out)
}

/// Runs a short ping-pong on each engine and checks that all three stop at the same simulated
/// instant after the same number of deliveries, which they must if they draw the same delays
/// for the same players (see [`workload`]). simcore's `f64` seconds are rounded to the
/// nanosecond, so a difference of 1 ns is tolerated for it.
fn check_agreement(seed: u64) -> Result<(), String> {
    const EVENTS: u64 = 50_000;
    for pairs in [1u32, 1_000] {
        let mut sim = pingpong_sim(pairs, seed);
        let stats = sim
            .run(StopAt {
                horizon: SimTime::MAX,
                max_events: EVENTS,
            })
            .map_err(|e| format!("replsim check run: {e}"))?;
        let replsim_ns = stats.end_time.as_nanos();
        let simcore_ns = simcore_pingpong::pingpong(pairs, EVENTS, seed).end_time_ns;
        let nexosim_ns = nexosim_pingpong::pingpong(pairs, EVENTS, seed)
            .map_err(|e| format!("nexosim check run: {e}"))?
            .end_time_ns;
        if simcore_ns.abs_diff(replsim_ns) > 1 || nexosim_ns != replsim_ns {
            return Err(format!(
                "engines disagree after {EVENTS} deliveries with {pairs} pairs: simulated end \
                 time replsim {replsim_ns} ns, simcore {simcore_ns} ns, nexosim {nexosim_ns} ns"
            ));
        }
    }
    Ok(())
}

fn print_table(rows: &[Comparison]) {
    println!(
        "{:<18} {:<8} {:>12} {:>9} {:>14}",
        "workload", "engine", "events", "wall s", "events/s"
    );
    for row in rows {
        for (i, (engine, r)) in row.engines().into_iter().enumerate() {
            let workload = if i == 0 { row.workload.as_str() } else { "" };
            println!(
                "{:<18} {:<8} {:>12} {:>9.3} {:>14.0}",
                workload, engine, r.events, r.wall_seconds, r.events_per_sec
            );
        }
    }
    println!();
    println!(
        "{:<18} {:>16} {:>16} {:>13}",
        "workload", "replsim/simcore", "replsim/nexosim", "replsim/heap"
    );
    for row in rows {
        let rate = row.replsim.events_per_sec;
        println!(
            "{:<18} {:>16.2} {:>16.2} {:>13.2}",
            row.workload,
            rate / row.simcore.events_per_sec,
            rate / row.nexosim.events_per_sec,
            rate / row.heap.events_per_sec
        );
    }
}

fn to_json(rows: &[Comparison]) -> Value {
    let mut out = Map::new();
    for row in rows {
        let engines = row
            .engines()
            .into_iter()
            .map(|(engine, r)| {
                (
                    engine.to_owned(),
                    serde_json::to_value(r).unwrap_or_default(),
                )
            })
            .collect();
        out.insert(row.workload.clone(), Value::Object(engines));
    }
    Value::Object(out)
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = check_agreement(args.seed).and_then(|()| run_suite(args));
    let rows = match outcome {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", to_json(&rows));
    } else {
        print_table(&rows);
    }
    ExitCode::SUCCESS
}
