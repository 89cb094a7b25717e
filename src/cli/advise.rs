//! `replsim advise`: what should I set? The boundary of one knob for a goal, by search.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::CliError;
use crate::experiment::advise::{Advice, AdviseOptions, Goal, advise};

/// Arguments of `replsim advise`.
#[derive(Debug, Args)]
#[command(
    before_help = "Find the value of one knob at which a goal starts to hold, by search: probe the model's \
current value, step x4 toward the other side until the answer flips (within --min/--max, default \
x1/64 .. x64 of the current value), then bisect (geometrically) until the knob is known to 1 % or \
one unit. At each probe seeds run until the side is known: with the default rule every seed must \
reach the goal (a probe fails at its first failing seed and passes when min(--seeds, \
ceil(ln(1-P)/ln(0.8))) seeds all pass: a goal failing on 20 % of seeds would have shown with \
confidence P); with --threshold T a Wilson score interval at confidence P must lie above or below T. \
Seed i of every probe is the model's seed + i, so the search is reproducible.\n\n\
The knob is any numeric field --set can write: a number, a size, a rate or a duration. For \
nodes.<n>.config.client-output-buffer-limit the hard limit varies and the soft limit and its \
seconds stay as the model has them.\n\n\
Goals: clean_sync (outcome clean_sync), no_full_resync_loop (outcome is not full_resync_loop), \
partial_resync_after_drop (a PSYNC was accepted and at most one full sync ran), in_sync_at_end \
(the replica is online and caught up at the horizon).",
    after_help = "Examples:\n  replsim advise models/default.toml --knob workloads.app.ops-per-sec\n  \
replsim advise models/default.toml --knob nodes.primary.config.client-output-buffer-limit --set 'nodes.primary.config.client-output-buffer-limit=256mb 0 0'\n  \
replsim advise models/default.toml --knob links.0.bandwidth --goal in_sync_at_end --json\n\n\
Prints the recommended value (the passing end of the final bracket, rounded to two significant \
digits toward the safe side and checked on the full seed count), the boundary with its bracket, \
the closed-form estimate where analytic.rs has one, and the runs and wall time. Exit 0 also when \
the goal holds nowhere or everywhere in range (then `recommended` is null); 2 for bad input."
)]
pub struct AdviseArgs {
    /// The model file.
    pub model: PathBuf,
    /// The field to vary, as for --set (e.g. nodes.primary.config.repl-backlog-size).
    #[arg(long, value_name = "PATH", required = true)]
    pub knob: Vec<String>,
    /// What must hold: clean_sync, no_full_resync_loop, partial_resync_after_drop, in_sync_at_end.
    #[arg(long, default_value = "clean_sync", value_name = "GOAL")]
    pub goal: String,
    /// Confidence with which each probe's side is decided.
    #[arg(long, default_value_t = 0.99, value_name = "P")]
    pub confidence: f64,
    /// Most seeds per probe.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub seeds: u64,
    /// Ask for P(goal) >= T instead of "every seed".
    #[arg(long, value_name = "T")]
    pub threshold: Option<f64>,
    /// Low end of the range, written like the field (64mb, 100mbit, 30s, 5000).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub min: Option<String>,
    /// High end of the range.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub max: Option<String>,
    /// Worker threads (default: all cores); the answer does not depend on it.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Set a model field before searching, as for `replsim run --set` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `replsim advise`.
pub fn run(args: AdviseArgs) -> Result<(), CliError> {
    if args.knob.len() > 1 {
        return Err(CliError::bad_input(format!(
            "--knob given {} times ({}): advise searches one knob; tracing a boundary in two \
             dimensions is not implemented yet",
            args.knob.len(),
            args.knob.join(", ")
        )));
    }
    let knob = args.knob[0].clone();
    let goal = Goal::parse(&args.goal).ok_or_else(|| {
        CliError::bad_input(format!(
            "--goal {}: unknown goal for --knob {knob} (one of: {})",
            args.goal,
            Goal::NAMES.join(", ")
        ))
    })?;
    let file = args.model.display().to_string();
    let text = std::fs::read_to_string(&args.model)
        .map_err(|e| CliError::bad_input(format!("{file}: cannot read: {e}")))?;
    let options = AdviseOptions {
        text,
        file: file.clone(),
        base: super::run::parse_overrides(&args.set)?,
        knob,
        goal,
        confidence: args.confidence,
        seeds: args.seeds,
        threshold: args.threshold,
        min: args.min.clone(),
        max: args.max.clone(),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let started = Instant::now();
    let advice = advise(&options).map_err(|e| {
        if e.is_bad_input() {
            CliError::bad_input(e.to_string())
        } else {
            CliError::runtime(e.to_string())
        }
    })?;
    let wall = started.elapsed().as_secs_f64();
    let model = crate::scenario::parse_model(&options.text, &file, &options.base)
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    let closed = crate::report::closed_form_for(&model, &advice.knob.path, advice.knob.current);
    if args.json {
        let mut v = serde_json::to_value(&advice).map_err(|e| CliError::runtime(e.to_string()))?;
        v["wall_seconds"] = serde_json::json!(wall);
        v["closed_form"] = serde_json::json!(closed.as_ref().map(|c| c.0));
        v["closed_form_formula"] = serde_json::json!(closed.as_ref().map(|c| c.1.clone()));
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_text(&advice, &file, closed.as_ref(), wall);
    }
    Ok(())
}

fn print_text(a: &Advice, file: &str, closed: Option<&(f64, String)>, wall: f64) {
    let k = &a.knob;
    println!("{file}: {} for goal {}", k.path, a.goal.as_str());
    println!(
        "  model's value {}; searched {} .. {}",
        k.show(k.current),
        k.show(a.range[0]),
        k.show(a.range[1])
    );
    if let crate::experiment::advise::KnobKind::CobHard { soft, secs } = &k.kind {
        if soft == "0" || *secs == 0 {
            println!("  (the hard limit varies; the soft limit is off)");
        } else {
            println!("  (the hard limit varies; the soft limit stays {soft} for {secs} s)");
        }
    }
    match (a.recommended, a.boundary, a.interval) {
        (Some(rec), Some(b), Some([lo, hi])) => {
            let more = a.direction == Some("more_is_better");
            println!(
                "  direction: {}",
                if more {
                    "more is better (the goal holds above the boundary)"
                } else {
                    "more is worse (the goal holds below the boundary)"
                }
            );
            println!(
                "  boundary:    {} (between {} and {})",
                k.show(b),
                k.show(lo),
                k.show(hi)
            );
            println!(
                "  recommended: {}   --set {}={:?}",
                k.show(rec),
                k.path,
                k.pretty_set(rec)
            );
        }
        _ => {
            let everywhere = a.verdict == "everywhere";
            println!(
                "  the goal holds {} in this range: no boundary to recommend{}",
                if everywhere { "everywhere" } else { "nowhere" },
                if everywhere {
                    " (the model's value already works)"
                } else {
                    " (widen it with --min/--max, or change something else)"
                }
            );
        }
    }
    match closed {
        Some((v, how)) => println!("  closed form: {} ({how})", k.show(*v)),
        None => println!("  closed form: none for this knob in analytic.rs"),
    }
    println!("  probes (value: seeds reaching the goal / seeds run):");
    for p in &a.probes {
        println!(
            "    {:>14}  {}/{} {}{}",
            k.show(p.value),
            p.successes,
            p.seeds,
            if p.passed { "pass" } else { "fail" },
            if p.decided {
                ""
            } else {
                " (undecided at the seed cap)"
            }
        );
    }
    println!(
        "  {} runs in {wall:.1} s wall ({} probes)",
        a.runs,
        a.probes.len()
    );
}
