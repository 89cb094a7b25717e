//! Bounded memory and checked arithmetic: a run or sweep whose estimate exceeds the memory cap is
//! refused before anything runs, with the numbers and the key to change; numbers that would
//! overflow the model's arithmetic are bad input naming the key; `--jobs` never exceeds the runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use replsim::experiment::{Plan, ROW_BYTES};
use replsim::scenario::{DEFAULT_MAX_MEMORY, Footprint, SAMPLE_BYTES, load_model, parse_model};

fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("limits", name)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn replsim(args: &[&str]) -> Output {
    crate::checked::replsim().args(args).output().unwrap()
}

/// `replsim run models/default.toml --out <dir>/out <args>`: (exit code, stderr).
fn run_default(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let model = root().join("models/default.toml");
    let out = dir.join("out");
    let mut all = vec![
        "run",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let o = replsim(&all);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_long_horizon_or_a_fine_interval_is_refused_with_the_numbers() {
    let dir = scratch("horizon");
    let (code, err) = run_default(&dir, &["--set", "model.horizon=\"10d\""]);
    assert_eq!(code, Some(2), "{err}");
    // 2 nodes × (864 000 s / 100 ms + 2) samples.
    assert!(err.contains("17280004 INFO samples"), "{err}");
    assert!(err.contains("model.sample-interval"), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    assert!(!dir.join("out").exists(), "nothing written");

    // The interval it suggests fits the cap.
    let suggested = err
        .split("sample-interval = \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no suggestion in {err}"));
    let text = fs::read_to_string(root().join("models/default.toml")).unwrap();
    let sets: Vec<replsim::scenario::Override> = [
        "model.horizon=\"10d\"".to_string(),
        format!("model.sample-interval=\"{suggested}\""),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let model = parse_model(&text, "default.toml", &sets).unwrap();
    assert!(Footprint::check(&model, "m", DEFAULT_MAX_MEMORY, "--max-memory").is_ok());

    let (code, err) = run_default(&dir, &["--set", "model.sample-interval=\"1ns\""]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("model.max-events = 50000000"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_event_budget_bounds_the_samples_and_the_cap_is_a_flag() {
    let dir = scratch("budget");
    // One sample per event at most: a fine interval with a small budget is not refused for
    // memory; the run stops at the work budget instead (exit 1, naming the budget).
    let (code, err) = run_default(
        &dir,
        &[
            "--set",
            "model.sample-interval=\"1ns\"",
            "--set",
            "model.max-events=1000",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("work budget of 1000 units"), "{err}");
    assert!(!err.contains("--max-memory"), "{err}");
    let _ = fs::remove_dir_all(dir.join("out"));
    let (code, err) = run_default(&dir, &["--max-memory", "10mb"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("above the 10.0 MiB cap (--max-memory)"),
        "{err}"
    );
    let (code, err) = run_default(&dir, &["--max-memory", "lots"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_estimate_is_samples_times_a_fixed_cost() {
    let model = load_model(&root().join("models/default.toml"), &[]).unwrap();
    let f = Footprint::of(&model);
    assert_eq!(f.samples, 2 * (600_000 / 100 + 2));
    assert_eq!(
        f.bytes,
        f.samples * SAMPLE_BYTES + replsim::scenario::BASE_BYTES
    );
    let e = Footprint::check(&model, "m.toml", f.bytes - 1, "--max-memory").unwrap_err();
    assert!(e.to_string().starts_with("m.toml: model.sample-interval: "));
    assert!(Footprint::check(&model, "m.toml", f.bytes, "--max-memory").is_ok());
}

#[test]
fn every_bundled_model_and_experiment_fits_the_default_cap() {
    for dir in ["models", "validation", "validation/shaped"] {
        for entry in fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let model = load_model(&path, &[]).unwrap();
            let f = Footprint::check(&model, "m", DEFAULT_MAX_MEMORY, "--max-memory");
            assert!(f.is_ok(), "{}: {}", path.display(), f.unwrap_err());
        }
    }
    for entry in fs::read_dir(root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        let plan = Plan::load(&path).unwrap();
        let largest = plan.validate_footprint().unwrap();
        // Eight workers, the whole table.
        let need = 8 * largest.bytes + plan.runs() * ROW_BYTES;
        assert!(need <= DEFAULT_MAX_MEMORY, "{}: {need}", path.display());
    }
}

#[test]
fn numbers_that_would_overflow_are_bad_input_naming_the_key() {
    let text = fs::read_to_string(root().join("models/default.toml")).unwrap();
    let cases = [
        ("dataset.keys=9223372036854775807", "dataset.keys"),
        ("dataset.value-size=\"600mb\"", "dataset.value-size"),
        ("workloads.app.ops-per-sec=1e12", "workloads[0].ops-per-sec"),
        (
            "nodes.primary.config.repl-backlog-size=\"2000tb\"",
            "nodes[0].config.repl-backlog-size",
        ),
        (
            "nodes.primary.config.rdb-key-save-delay=9223372036854775807",
            "nodes[0].config.rdb-key-save-delay",
        ),
        ("model.horizon=\"40000d\"", "model.horizon"),
    ];
    for (set, key) in cases {
        let o: replsim::scenario::Override = set.parse().unwrap();
        let e = parse_model(&text, "default.toml", &[o])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("default.toml: {key}: ")), "{set}: {e}");
    }
    // At the bounds, the model runs (and the RDB is what the numbers say, not a wrapped 199 B).
    let keys: replsim::scenario::Override = "dataset.keys=100000000000".parse().unwrap();
    let model = parse_model(&text, "default.toml", &[keys]).unwrap();
    assert!(model.dataset.rdb_bytes_for(model.dataset.keys) > 100_000_000_000_000);
}

fn experiment(dir: &Path, body: &str) -> PathBuf {
    let model = root().join("models/worked-example-classic.toml");
    let path = dir.join("exp.toml");
    fs::write(
        &path,
        format!(
            "[experiment]\nname = \"x\"\nmodel = \"{}\"\nhorizon = \"5s\"\n{body}",
            model.display()
        ),
    )
    .unwrap();
    path
}

fn sweep(exp: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec![
        "sweep",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plain",
    ];
    args.extend_from_slice(extra);
    let o = replsim(&args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn huge_grids_are_counted_before_they_are_expanded() {
    let dir = scratch("grid");
    let out = dir.join("out");
    let axis = |steps: u64| {
        format!(
            "[[axes]]\npath = \"workloads.writer.ops-per-sec\"\nlinear = {{ from = 1, to = 100000, steps = {steps} }}\n"
        )
    };
    // One axis of four billion values: refused at once (expanding it would need ~400 GB).
    let exp = experiment(&dir, &format!("seeds = 1\n{}", axis(4_000_000_000)));
    let (code, _, err) = sweep(&exp, &out, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("axes[0]") && err.contains("4000000000 values"),
        "{err}"
    );
    // A product that overflows u64.
    let paths = [
        "workloads.writer.ops-per-sec",
        "nodes.primary.config.repl-backlog-size",
        "nodes.primary.config.hz",
        "dataset.keys",
        "nodes.replica.config.repl-backlog-size",
    ];
    let axes: String = paths
        .iter()
        .map(|p| {
            format!(
                "[[axes]]\npath = \"{p}\"\nlinear = {{ from = 1, to = 400, steps = 9000000 }}\n"
            )
        })
        .collect();
    let exp = experiment(&dir, &format!("seeds = 4000000000\n{axes}"));
    let (code, _, err) = sweep(&exp, &out, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("more than 100000000 runs"), "{err}");
    // Within the run cap but over the memory cap: refused before any point is checked.
    let exp = experiment(&dir, &format!("seeds = 1000\n{}", axis(10_000)));
    let (code, _, err) = sweep(&exp, &out, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("(10000000 runs × 1024 B of results)") && err.contains("--max-memory"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn jobs_are_capped_at_the_number_of_runs() {
    let dir = scratch("jobs");
    let exp = experiment(
        &dir,
        "seeds = 2\n[[axes]]\npath = \"workloads.writer.ops-per-sec\"\nvalues = [1000, 2000, 4000, 8000]\n",
    );
    let out = dir.join("out");
    let (code, stdout, err) = sweep(&exp, &out, &["--jobs", "5000"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        stdout.contains("8 runs") && stdout.contains("with 8 jobs"),
        "{stdout}"
    );
    let (code, _, err) = sweep(&exp, &dir.join("tight"), &["--max-memory", "100mb"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("above the 100.0 MiB cap (--max-memory)"),
        "{err}"
    );
    let _ = fs::remove_dir_all(&dir);
}
