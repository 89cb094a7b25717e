//! `replsim advise`: what should I set? The boundary of one knob for a goal, by search.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::CliError;
use super::output::OutputDir;
use crate::experiment::advise::{
    Advice, AdviseOptions, Goal, Knob, KnobKind, TraceOptions, advise, trace,
};
use crate::report::{ChartProbe, LineChart, TraceChart, TraceColumn, ValueUnit};
use crate::scenario::{ModelFile, Override, parse_model};
use crate::staging::{OutputKind, path_component};

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
(the replica is online and caught up at the horizon).\n\n\
With two knobs (--knob A --knob B) it traces B's boundary along A: B is searched as above at 5 \
values of A spread over A's range (default x1/4 .. x4; --min/--max apply to the knobs in order), \
each search starting from the nearest column's boundary, then columns are added one at a time \
between the neighbours where the curve turns most (or leaves B's range), up to --columns. It \
reports the runs it took against a grid at the same resolution (A at the finest spacing used, B \
at 1 %, every seed at every point).",
    after_help = "Examples:\n  replsim advise models/default.toml --knob workloads.app.ops-per-sec\n  \
replsim advise models/default.toml --knob nodes.primary.config.client-output-buffer-limit --set 'nodes.primary.config.client-output-buffer-limit=256mb 0 0'\n  \
replsim advise models/default.toml --knob links.0.bandwidth --goal in_sync_at_end --json\n\n\
Prints the recommended value (the passing end of the final bracket, rounded to two significant \
digits toward the safe side and checked on the full seed count), the boundary with its bracket, \
the closed-form estimate where analytic.rs has one, and the runs and wall time; writes \
output/<model>-advise-<knob>/ (or --out DIR): advice.json, probes.csv and the chart advise.svg/png \
(P(goal) along the knob, probes marked) or, for two knobs, trace.svg/png (the curve over a phase \
diagram). Exit 0 also when the goal holds nowhere or everywhere in range (then `recommended` is \
null and the text says which); 2 for bad input (unknown knob, goal or option value), nothing \
written."
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
    /// Low end of the range, written like the field (64mb, 100mbit, 30s, 5000); with two
    /// knobs, once per knob in order.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub min: Vec<String>,
    /// High end of the range (once per knob, like --min).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub max: Vec<String>,
    /// Two knobs: the most values of the first knob at which the second is searched.
    #[arg(long, default_value_t = 9, value_name = "N")]
    pub columns: usize,
    /// Output directory (default output/<model>-advise-<knob>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out.
    #[arg(long)]
    pub force: bool,
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
    if args.knob.len() > 2 {
        return Err(CliError::bad_input(format!(
            "--knob given {} times ({}): advise searches one knob, or traces a boundary over two",
            args.knob.len(),
            args.knob.join(", ")
        )));
    }
    for (what, v) in [("--min", &args.min), ("--max", &args.max)] {
        if v.len() > args.knob.len() {
            return Err(CliError::bad_input(format!(
                "{what} given {} times for {} knob(s): at most once per --knob, in the same order",
                v.len(),
                args.knob.len()
            )));
        }
    }
    let knob = args.knob[0].clone();
    let goal = Goal::parse(&args.goal).ok_or_else(|| {
        CliError::bad_input(format!(
            "--goal {}: unknown goal for --knob {knob} (one of: {})",
            args.goal,
            Goal::NAMES.join(", ")
        ))
    })?;
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(CliError::bad_input(format!(
            "--confidence {}: must be between 0 and 1 exclusive (e.g. 0.99)",
            args.confidence
        )));
    }
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
        min: args.min.first().cloned(),
        max: args.max.first().cloned(),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let model = parse_model(&options.text, &file, &options.base)
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    let short = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
    let stem = args
        .knob
        .iter()
        .map(|k| short(k))
        .collect::<Vec<_>>()
        .join("-");
    let out_dir = args.out.clone().unwrap_or_else(|| {
        Path::new("output").join(path_component(&format!(
            "{}-advise-{stem}",
            model.model.name
        )))
    });
    let to_cli = |e: crate::experiment::ExperimentError| {
        if e.is_bad_input() {
            CliError::bad_input(e.to_string())
        } else {
            CliError::runtime(e.to_string())
        }
    };
    // Check the knobs before creating anything.
    for (i, k) in args.knob.iter().enumerate() {
        crate::experiment::advise::resolve_knob(
            &options,
            k,
            args.min.get(i).map(String::as_str),
            args.max.get(i).map(String::as_str),
            crate::experiment::advise::RANGE,
        )
        .map_err(to_cli)?;
    }
    if args.knob.len() == 2 {
        let t = TraceOptions {
            knob_b: args.knob[1].clone(),
            min_b: args.min.get(1).cloned(),
            max_b: args.max.get(1).cloned(),
            columns: args.columns,
        };
        return run_trace(&args, &options, &t, &model, &out_dir, to_cli);
    }
    let staging = OutputDir::create(&out_dir, OutputKind::Advise, args.force)?;
    let started = Instant::now();
    let advice = advise(&options).map_err(to_cli)?;
    let wall = started.elapsed().as_secs_f64();
    let closed = closed_form(&options, &advice.knob, &options.base, advice.range);
    let mut v = serde_json::to_value(&advice).map_err(|e| CliError::runtime(e.to_string()))?;
    v["wall_seconds"] = json!(wall);
    v["closed_form"] = json!(closed.as_ref().map(|c| c.0));
    v["closed_form_formula"] = json!(closed.as_ref().map(|c| c.1.clone()));
    v["out"] = json!(out_dir.display().to_string());
    v["chart"] = json!(out_dir.join("advise.png").display().to_string());
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
    staging.write("advice.json", format!("{pretty}\n").as_bytes())?;
    staging.write(
        "probes.csv",
        probes_csv(&advice.knob, &advice.probes, None).as_bytes(),
    )?;
    let _lock = staging.commit()?;
    let chart = LineChart {
        title: format!(
            "{}: P({}) along {}",
            model.model.name,
            goal.as_str(),
            advice.knob.path
        ),
        subtitle: format!(
            "{} runs in {} probes; a probe passes when every seed (up to {}) reaches the goal",
            advice.runs,
            advice.probes.len(),
            args.seeds
        ),
        knob: advice.knob.path.clone(),
        unit: unit_of(&advice.knob),
        goal: goal.as_str().to_string(),
        confidence: args.confidence,
        probes: advice
            .probes
            .iter()
            .map(|p| ChartProbe {
                value: p.value,
                seeds: p.seeds,
                successes: p.successes,
                passed: p.passed,
            })
            .collect(),
        boundary: advice.boundary,
        interval: advice.interval,
        closed_form: closed.as_ref().map(|c| c.0),
        recommended: advice.recommended,
    };
    if let Err(e) = crate::report::draw_advise_line(&out_dir, "advise", &chart) {
        eprintln!("replsim: warning: chart not drawn: {e}");
    }
    if args.json {
        println!("{pretty}");
    } else {
        print_text(&advice, &file, closed.as_ref(), wall);
        println!("  output: {} (chart: advise.png)", out_dir.display());
    }
    Ok(())
}

/// The closed form of `knob` for the goal with `fixed` applied, where analytic.rs has one.
fn closed_form(
    o: &AdviseOptions,
    knob: &Knob,
    fixed: &[Override],
    range: [f64; 2],
) -> Option<(f64, String)> {
    let model_at = |x: f64| -> Option<ModelFile> {
        let mut set = fixed.to_vec();
        set.push(Override {
            path: knob.path.clone(),
            value: knob.set_value(x),
        });
        parse_model(&o.text, &o.file, &set).ok()
    };
    crate::report::closed_form_for_goal(o.goal.as_str(), &knob.path, knob.current, range, &model_at)
}

fn unit_of(k: &Knob) -> ValueUnit {
    match k.kind {
        KnobKind::Integer | KnobKind::Float => ValueUnit::Plain,
        KnobKind::Size | KnobKind::CobHard { .. } => ValueUnit::Bytes,
        KnobKind::Rate => ValueUnit::Rate,
        KnobKind::Duration => ValueUnit::Nanos,
    }
}

fn probes_csv(k: &Knob, probes: &[crate::experiment::advise::Probe], a: Option<&str>) -> String {
    let mut out = String::new();
    if a.is_none() {
        out.push_str("value,set,passed,seeds,successes,decided,screened\n");
    }
    for p in probes {
        if let Some(a) = a {
            out.push_str(&format!("{a},"));
        }
        out.push_str(&format!(
            "{},\"{}\",{},{},{},{},{}\n",
            p.value,
            k.set_value(p.value),
            p.passed,
            p.seeds,
            p.successes,
            p.decided,
            p.screened
        ));
    }
    out
}

fn run_trace(
    args: &AdviseArgs,
    o: &AdviseOptions,
    t: &TraceOptions,
    model: &ModelFile,
    out_dir: &Path,
    to_cli: impl Fn(crate::experiment::ExperimentError) -> CliError,
) -> Result<(), CliError> {
    let staging = OutputDir::create(out_dir, OutputKind::Advise, args.force)?;
    let started = Instant::now();
    let tr = trace(o, t).map_err(to_cli)?;
    let wall = started.elapsed().as_secs_f64();
    let (ka, kb) = (&tr.knob_a, &tr.knob_b);
    let closed: Vec<Option<(f64, String)>> = tr
        .columns
        .iter()
        .map(|c| {
            let mut fixed = o.base.clone();
            fixed.push(Override {
                path: ka.path.clone(),
                value: c.a_set.clone(),
            });
            closed_form(o, kb, &fixed, tr.range_b)
        })
        .collect();
    let mut v = serde_json::to_value(&tr).map_err(|e| CliError::runtime(e.to_string()))?;
    for (i, c) in closed.iter().enumerate() {
        v["columns"][i]["closed_form"] = json!(c.as_ref().map(|c| c.0));
    }
    v["closed_form_formula"] = json!(closed.iter().flatten().next().map(|c| c.1.clone()));
    v["wall_seconds"] = json!(wall);
    v["out"] = json!(out_dir.display().to_string());
    v["chart"] = json!(out_dir.join("trace.png").display().to_string());
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
    staging.write("advice.json", format!("{pretty}\n").as_bytes())?;
    let mut csv = String::from("a,b,set,passed,seeds,successes,decided,screened\n");
    for c in &tr.columns {
        csv.push_str(&probes_csv(kb, &c.probes, Some(&c.a.to_string())));
    }
    staging.write("probes.csv", csv.as_bytes())?;
    let _lock = staging.commit()?;
    // Background rows: B's range in 24 steps (log-spaced for a positive range), plus the
    // brackets' ends so each column's cells change side where its probes did.
    let [lo, hi] = tr.range_b;
    let mut rows: Vec<f64> = (0..=24)
        .map(|k| {
            let f = f64::from(k) / 24.0;
            if lo > 0.0 {
                lo * (hi / lo).powf(f)
            } else {
                lo + (hi - lo) * f
            }
        })
        .map(|x| x.round())
        .collect();
    rows.sort_by(f64::total_cmp);
    rows.dedup();
    let chart = TraceChart {
        title: format!(
            "{}: where {} holds over {} × {}",
            model.model.name,
            tr.goal.as_str(),
            ka.path,
            kb.path
        ),
        subtitle: format!(
            "{} runs at {} values of the first knob; a grid at the same resolution: {} runs ({:.2} %)",
            tr.runs,
            tr.columns.len(),
            tr.grid.runs,
            100.0 * tr.fraction_of_grid
        ),
        knob_a: ka.path.clone(),
        knob_b: kb.path.clone(),
        columns: tr
            .columns
            .iter()
            .map(|c| TraceColumn {
                a_set: c.a_set.clone(),
                a_show: ka.show(c.a),
                interval: c.interval,
                more_is_better: c.direction.map(|d| d == "more_is_better"),
                everywhere: c.verdict == "everywhere",
                probes: c.probes.iter().map(|p| (p.value, p.passed)).collect(),
            })
            .collect(),
        rows: rows
            .iter()
            .map(|&b| (b, kb.set_value(b), kb.show(b)))
            .collect(),
        base_toml: Some(model.to_toml()),
        notes: vec![format!(
            "Cells: the side each column's probes put them on (the goal is taken as monotone in {}).",
            kb.path
        )],
    };
    if let Err(e) = crate::report::draw_advise_trace(out_dir, "trace", &chart) {
        eprintln!("replsim: warning: chart not drawn: {e}");
    }
    if args.json {
        println!("{pretty}");
        return Ok(());
    }
    println!(
        "{}: boundary of {} along {} for goal {}",
        o.file,
        kb.path,
        ka.path,
        tr.goal.as_str()
    );
    println!(
        "  {} searched {} .. {}; {} searched {} .. {}",
        ka.path,
        ka.show(tr.range_a[0]),
        ka.show(tr.range_a[1]),
        kb.path,
        kb.show(lo),
        kb.show(hi)
    );
    println!(
        "  {:>14}  {:>14}  {:>27}  {:>14}  {:>5}  round",
        "A", "boundary B", "bracket", "closed form", "runs"
    );
    for (c, cf) in tr.columns.iter().zip(&closed) {
        let (b, bracket) = match (c.boundary, c.interval) {
            (Some(b), Some([l, h])) => (kb.show(b), format!("{} .. {}", kb.show(l), kb.show(h))),
            _ => (format!("({})", c.verdict), String::new()),
        };
        println!(
            "  {:>14}  {:>14}  {:>27}  {:>14}  {:>5}  {}",
            ka.show(c.a),
            b,
            bracket,
            cf.as_ref().map_or("-".to_string(), |c| kb.show(c.0)),
            c.runs,
            c.round
        );
    }
    if let Some(f) = closed.iter().flatten().next() {
        println!("  closed form: {}", f.1);
    }
    println!(
        "  {} runs in {wall:.1} s wall; a grid at the same resolution ({} values of A × {} of B \
         × {} seeds) needs {} runs: advise used {:.2} % of it ({} runs with only these {} columns: {:.1} %)",
        tr.runs,
        tr.grid.columns,
        tr.grid.rows,
        tr.grid.seeds,
        tr.grid.runs,
        100.0 * tr.fraction_of_grid,
        tr.grid.runs_same_columns,
        tr.columns.len(),
        100.0 * tr.runs as f64 / tr.grid.runs_same_columns.max(1) as f64
    );
    println!("  output: {} (chart: trace.png)", out_dir.display());
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
            if !p.decided {
                " (undecided at the seed cap)"
            } else if p.screened {
                " (screened: first batch only)"
            } else {
                ""
            }
        );
    }
    println!(
        "  {} runs in {wall:.1} s wall ({} probes)",
        a.runs,
        a.probes.len()
    );
}
