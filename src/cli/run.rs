//! `replsim run`: one model, one seed, a timeline.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use super::output::{OutputDir, write_run};
use crate::scenario::{Footprint, Override, load_model};
use crate::staging::{OutputKind, path_component};
use crate::units::ByteSize;
use crate::valkey::{Cluster, RunResult};

/// Arguments of `replsim run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim run models/default.toml\n  replsim run models/default.toml --json\n  replsim run models/default.toml --explain\n  replsim run models/worked-example-classic.toml --seed 7 --set workloads.writer.ops-per-sec=5000\n  replsim run models/valkey-test-cob-overrun-old.toml --seed 23 --bundle flaky.json\n\nWrites output/<model>-<seed>/ (or --out DIR, which must be new, empty or an earlier run's output): summary.json, <node>.log for every node, timeline.csv (INFO samples), journal.json, model.resolved.toml (and explanation.txt with --explain; `replsim explain DIR` explains any run directory later)."
)]
pub struct RunArgs {
    /// The model file (models/*.toml).
    pub model: PathBuf,
    /// Override any model field: path.to.key=value (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The master seed (overrides model.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory (default `output/<model>-<seed>`). It must be new, empty, or an earlier
    /// run's output: replsim never replaces a directory it did not write.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also replace replsim's output of another kind at --out (a sweep or validate directory).
    /// Never reaches a directory replsim did not write.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome record as JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
    /// Also write every processed event to trace.jsonl.
    #[arg(long)]
    pub trace: bool,
    /// Also write a repro bundle of this run to FILE (for a bug report; `replsim replay FILE`
    /// re-runs it and checks the trace hash).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Refuse, before running, a model whose estimated memory exceeds SIZE: its INFO samples
    /// (nodes × horizon / sample-interval, at most model.max-events) × 512 B, plus 64 MiB. Logs
    /// and the journal grow with events and are bounded by model.max-events.
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub max_memory: ByteSize,
    /// Check the model's invariants on every event (as `[model] check = true`): a broken one
    /// stops the run with exit 1 and a report naming the time, node, invariant and values.
    #[arg(long)]
    pub check: bool,
    /// After the run, explain it (as `replsim explain DIR`: the first limit, its rates, the next
    /// PSYNC, what followed, and one rerun checking the smallest change) and write the account
    /// to explanation.txt in the output directory.
    #[arg(long, conflicts_with = "json")]
    pub explain: bool,
}

/// Runs one model.
pub fn run(args: RunArgs) -> Result<(), CliError> {
    let mut overrides = parse_overrides(&args.set)?;
    if let Some(seed) = args.seed {
        if seed > i64::MAX as u64 {
            return Err(CliError::bad_input(format!(
                "--seed {seed}: seeds are 0..={} (so the resolved model can store them in TOML)",
                i64::MAX
            )));
        }
        overrides.push(Override {
            path: "model.seed".into(),
            value: seed.to_string(),
        });
    }
    if args.check {
        overrides.push(Override {
            path: "model.check".into(),
            value: "true".into(),
        });
    }
    let model =
        load_model(&args.model, &overrides).map_err(|e| CliError::bad_input(e.to_string()))?;
    Footprint::check(
        &model,
        &args.model.display().to_string(),
        args.max_memory.bytes(),
        "--max-memory",
    )
    .map_err(|e| CliError::bad_input(e.to_string()))?;
    for w in model.warnings() {
        eprintln!("replsim: warning: {w}");
    }
    let seed = model.model.seed;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        Path::new("output").join(path_component(&format!("{}-{seed}", model.model.name)))
    });
    if let Some(path) = &args.bundle {
        check_bundle_path(path)?;
    }
    let staging = OutputDir::create(&out_dir, OutputKind::Run, args.force)?;
    let mut cluster = Cluster::build(&model.cluster(), &model.run_options())
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.model.display())))?;
    if args.trace {
        cluster.set_trace_writer(staging.writer("trace.jsonl")?);
    }
    let result = cluster
        .run()
        .map_err(|e| CliError::runtime(format!("simulation failed: {e}")))?;
    write_run(&staging, &model, &result)?;
    let explanation = if args.explain {
        let files =
            crate::experiment::explain::files_of(&out_dir.display().to_string(), &model, &result)
                .and_then(|mut f| {
                    f.model_path = Some(out_dir.join("model.resolved.toml").display().to_string());
                    crate::experiment::explain::explain_and_check(&f, true)
                })
                .map_err(super::sweep::to_cli)?;
        let text = crate::report::explain::to_text(&files);
        staging.write("explanation.txt", text.as_bytes())?;
        Some(text)
    } else {
        None
    };
    let _lock = staging.commit()?;
    if let Some(path) = &args.bundle {
        let bundle = crate::experiment::Bundle::of_single_run(&model, &args.set, &result.record);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(path, bundle.to_json()).map_err(|e| {
            CliError::runtime(format!("cannot write the bundle {}: {e}", path.display()))
        })?;
    }
    if let Err(e) = crate::report::draw_run(&out_dir) {
        eprintln!("replsim: warning: charts not drawn: {e}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result.record).unwrap_or_default()
        );
        return Ok(());
    }
    print_summary(&args, &model.model.name, &out_dir, &result);
    if let Some(text) = explanation {
        println!();
        print!("{text}");
    }
    Ok(())
}

/// `--bundle FILE` may be new or an earlier bundle, never another file of the user's.
fn check_bundle_path(path: &Path) -> Result<(), CliError> {
    if path.is_dir() {
        return Err(CliError::bad_input(format!(
            "--bundle {} is a directory; give a file name, e.g. --bundle {}",
            path.display(),
            path.join("bundle.json").display()
        )));
    }
    if path.exists() && crate::experiment::Bundle::load(path).is_err() {
        return Err(CliError::bad_input(format!(
            "--bundle {} exists and is not a repro bundle; replsim only replaces its own \
             bundles: choose another file name",
            path.display()
        )));
    }
    Ok(())
}

/// Parses `--set` arguments.
pub fn parse_overrides(set: &[String]) -> Result<Vec<Override>, CliError> {
    set.iter()
        .map(|s| {
            s.parse()
                .map_err(|e: crate::scenario::ScenarioError| CliError::bad_input(e.to_string()))
        })
        .collect()
}

fn print_summary(args: &RunArgs, name: &str, out: &Path, result: &RunResult) {
    let r = &result.record;
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |t| format!("{t:.3} s"));
    println!("{name}: {}", r.outcome.as_str());
    println!(
        "  first limit           {}",
        serde_json::to_value(r.first_limit)
            .unwrap_or_default()
            .as_str()
            .unwrap_or("?")
    );
    println!("  first COB disconnect  {}", opt(r.t_cob_overflow_s));
    println!("  backlog exhausted     {}", opt(r.t_backlog_exhausted_s));
    println!(
        "  cob before backlog    {}",
        r.cob_before_backlog
            .map_or("-".to_string(), |b| b.to_string())
    );
    println!("  in sync at end        {}", r.in_sync_at_end);
    if !r.marks.is_empty() || !r.assertions_failed.is_empty() {
        if r.passed {
            println!("  scripted test         passed");
        } else {
            println!("  scripted test         FAILED");
            for a in &r.assertions_failed {
                println!("    {a}");
            }
        }
    }
    println!(
        "  full syncs {}, partial ok {}, partial err {}, COB disconnections {}",
        r.full_syncs, r.partial_syncs_ok, r.partial_syncs_err, r.cob_disconnections
    );
    println!(
        "  {} events, {:.0} s simulated in {:.3} s, trace hash {}",
        r.events, r.sim_seconds, r.wall_seconds, r.trace_hash
    );
    println!("  output: {}", out.display());
    let sets: String = args.set.iter().map(|s| format!(" --set {s}")).collect();
    println!(
        "  reproduce: replsim run {} --seed {}{sets}",
        args.model.display(),
        r.seed
    );
}
