//! `replsim advise`: the boundary of one knob against the closed forms where they are exact (a
//! constant load, no soft limit), the direction it reports, the nowhere/everywhere answers, the
//! independence from the thread count, and bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A small classic sync with a constant load and no soft limit: the hard COB limit needed is
/// W × (T_x + T_l + RTT) exactly (valkey-model.md §7.4).
const EXACT: &str = r#"
[model]
name = "advise-exact"
seed = 3
horizon = "120s"

[dataset]
keys = 100000
value-size = "1kb"
compression-ratio = 1.0

[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync-delay = 0
client-output-buffer-limit = "64mb 0 0"

[[nodes]]
name = "replica"
role = "replica"

[[links]]
a = "primary"
b = "replica"
bandwidth = "100mbit"
latency = "1ms"

[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 3000
value-size = { dist = "fixed", size = "1kb" }
"#;

fn model(name: &str) -> PathBuf {
    let dir = crate::scratch::dir("advise", name);
    let path = dir.join("model.toml");
    std::fs::write(&path, EXACT).unwrap();
    path
}

/// Runs `replsim advise <model> <args>`: (exit code, stdout, stderr).
fn advise(model: &Path, args: &[&str]) -> (i32, String, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut cmd = crate::checked::replsim();
    cmd.arg("advise").arg(model).args(args);
    if !args.contains(&"--out") {
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        cmd.arg("--out")
            .arg(model.parent().unwrap().join(format!("advise-out-{n}")));
    }
    crate::checked::outcome(&mut cmd)
}

fn advise_json(model: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--seeds", "3"];
    all.extend_from_slice(args);
    let (code, out, err) = advise(model, &all);
    assert_eq!(code, 0, "advise failed: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The outcome of `replsim run <model> --seed S --set knob=value`.
fn outcome(model: &Path, seed: u64, knob: &str, value: &str) -> String {
    let dir = model
        .parent()
        .unwrap()
        .join(format!("run-{seed}-{}", value.len()));
    let out = crate::checked::replsim()
        .args([
            "run",
            "--json",
            "--force",
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(&dir)
        .arg(model)
        .arg("--set")
        .arg(format!("{knob}={value}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["outcome"].as_str().unwrap().to_string()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The closed form lies in the final bracket, widened by 2 % (the bracket itself is 1 % wide).
fn assert_matches_closed_form(v: &Value) {
    let cf = f(v, "closed_form");
    let (lo, hi) = (
        v["interval"][0].as_f64().unwrap(),
        v["interval"][1].as_f64().unwrap(),
    );
    assert!(
        hi / lo <= 1.0101,
        "bracket not refined to 1 %: {lo} .. {hi}"
    );
    assert!(
        cf >= lo * 0.98 && cf <= hi * 1.02,
        "closed form {cf} is not near the bracket {lo} .. {hi}"
    );
}

#[test]
fn the_cob_hard_limit_boundary_is_the_closed_form_and_more_is_better() {
    let m = model("cob");
    let knob = "nodes.primary.config.client-output-buffer-limit";
    let v = advise_json(&m, &["--knob", knob]);
    assert_eq!(v["direction"], "more_is_better");
    assert_eq!(v["goal"], "clean_sync");
    assert_eq!(v["verdict"], "found");
    assert_matches_closed_form(&v);
    let rec = f(&v, "recommended");
    let boundary = f(&v, "boundary");
    assert!(rec >= v["interval"][1].as_f64().unwrap());
    // Every probe above the bracket passed, every one below failed: monotone, as assumed.
    let hi = v["interval"][1].as_f64().unwrap();
    for p in v["probes"].as_array().unwrap() {
        assert_eq!(p["passed"].as_bool().unwrap(), f(p, "value") >= hi, "{p}");
    }
    assert_eq!(
        f(&v, "runs") as u64,
        v["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["seeds"].as_u64().unwrap())
            .sum::<u64>()
    );
    // Rerun by hand: the recommendation syncs cleanly, 25 % below the boundary does not.
    let set = v["recommended_set"].as_str().unwrap();
    let below = format!("{}b 0 0", (boundary * 0.75) as u64);
    for seed in [3, 11] {
        assert_eq!(outcome(&m, seed, knob, set), "clean_sync");
        assert_ne!(outcome(&m, seed, knob, &below), "clean_sync");
    }
}

#[test]
fn the_write_rate_boundary_is_the_closed_form_and_more_is_worse() {
    let m = model("ops");
    let knob = "workloads.app.ops-per-sec";
    let v = advise_json(&m, &["--knob", knob]);
    assert_eq!(v["direction"], "more_is_worse");
    assert_matches_closed_form(&v);
    let rec = f(&v, "recommended");
    assert!(rec <= v["interval"][0].as_f64().unwrap());
    let boundary = f(&v, "boundary");
    assert_eq!(outcome(&m, 5, knob, &format!("{rec:?}")), "clean_sync");
    assert_ne!(
        outcome(&m, 5, knob, &format!("{:?}", (boundary * 1.25).round())),
        "clean_sync"
    );
}

#[test]
fn a_knob_without_a_prior_finds_its_direction_from_the_probes() {
    // A knob with no built-in expectation: the key count (more data, a longer sync).
    let m = model("keys");
    let v = advise_json(&m, &["--knob", "dataset.keys"]);
    assert_eq!(v["direction"], "more_is_worse");
    assert!(f(&v, "recommended") <= v["interval"][0].as_f64().unwrap());
    assert_eq!(v["knob"]["current"].as_f64(), Some(100000.0));
}

#[test]
fn nowhere_and_everywhere_are_answers_not_errors() {
    let m = model("edges");
    // No drop is scripted, so no PSYNC ever heals one: the goal holds nowhere.
    let v = advise_json(
        &m,
        &[
            "--knob",
            "nodes.primary.config.repl-backlog-size",
            "--goal",
            "partial_resync_after_drop",
        ],
    );
    assert_eq!(v["verdict"], "nowhere");
    assert!(v["recommended"].is_null());
    assert!(v["direction"].is_null());
    // The backlog does not decide whether this replica ends in sync: everywhere.
    let v = advise_json(
        &m,
        &[
            "--knob",
            "nodes.primary.config.repl-backlog-size",
            "--goal",
            "in_sync_at_end",
        ],
    );
    assert_eq!(v["verdict"], "everywhere");
    assert!(v["recommended"].is_null());
    let (code, out, _) = advise(
        &m,
        &[
            "--knob",
            "nodes.primary.config.repl-backlog-size",
            "--goal",
            "in_sync_at_end",
            "--seeds",
            "2",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("everywhere"), "{out}");
}

#[test]
fn the_answer_does_not_depend_on_the_thread_count() {
    let m = model("jobs");
    let strip = |mut v: Value| {
        for key in ["wall_seconds", "out", "chart"] {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    };
    let knob = ["--knob", "links.0.bandwidth"];
    let one = strip(advise_json(&m, &[knob[0], knob[1], "--jobs", "1"]));
    let two = strip(advise_json(&m, &[knob[0], knob[1], "--jobs", "2"]));
    assert_eq!(one, two);
    assert_eq!(one["direction"], "more_is_better");
}

#[test]
fn bad_input_exits_2_naming_the_knob() {
    let m = model("bad");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--knob", "nodes.primary.config.no-such-thing"],
            &["no-such-thing", "no key"],
        ),
        (
            &["--knob", "nodes.nobody.config.repl-timeout"],
            &["nodes.nobody", "no element"],
        ),
        (
            &["--knob", "nodes.primary.role"],
            &["nodes.primary.role", "not a number"],
        ),
        (
            &[
                "--knob",
                "links.0.bandwidth",
                "--min",
                "1gbit",
                "--max",
                "10mbit",
            ],
            &["links.0.bandwidth", "--min"],
        ),
        (
            &["--knob", "links.0.bandwidth", "--min", "fast"],
            &["links.0.bandwidth", "fast"],
        ),
        (
            &["--knob", "workloads.app.ops-per-sec", "--goal", "happiness"],
            &["happiness", "workloads.app.ops-per-sec", "clean_sync"],
        ),
        (
            &["--knob", "workloads.app.ops-per-sec", "--confidence", "1.5"],
            &["--confidence"],
        ),
        (
            &["--knob", "workloads.app.ops-per-sec", "--confidence", "0"],
            &["--confidence", "between 0 and 1"],
        ),
        (
            &["--knob", "workloads.app.ops-per-sec", "--confidence", "1"],
            &["--confidence", "between 0 and 1"],
        ),
        (
            &[
                "--knob",
                "workloads.app.ops-per-sec",
                "--knob",
                "workloads.app.ops-per-sec",
            ],
            &["given twice"],
        ),
        (
            &[
                "--knob",
                "workloads.app.ops-per-sec",
                "--knob",
                "links.0.bandwidth",
                "--knob",
                "dataset.keys",
            ],
            &["--knob given 3 times"],
        ),
        (
            &[
                "--knob",
                "workloads.app.ops-per-sec",
                "--knob",
                "nodes.primary.config.repl-diskless-sync",
            ],
            &["repl-diskless-sync", "not a number"],
        ),
        (
            &[
                "--knob",
                "links.0.bandwidth",
                "--min",
                "1mbit",
                "--min",
                "2mbit",
            ],
            &["--min given 2 times"],
        ),
        (
            &[
                "--knob",
                "workloads.app.ops-per-sec",
                "--knob",
                "links.0.bandwidth",
                "--columns",
                "2",
            ],
            &["--columns 2"],
        ),
    ];
    let out_dir = m.parent().unwrap().join("never-written");
    for (args, expect) in cases {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--out", out_dir.to_str().unwrap()]);
        let (code, out, err) = advise(&m, &all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(!out_dir.exists(), "{args:?} created {}", out_dir.display());
        for e in *expect {
            assert!(err.contains(e), "{args:?}: {err:?} does not mention {e:?}");
        }
    }
}

/// The closed form of each column lies in (or within 2 % of) its bracket.
fn assert_column_matches(c: &Value) {
    let cf = f(c, "closed_form");
    let (lo, hi) = (
        c["interval"][0].as_f64().unwrap(),
        c["interval"][1].as_f64().unwrap(),
    );
    assert!(
        cf >= lo * 0.98 && cf <= hi * 1.02,
        "column {}: closed form {cf} is not near the bracket {lo} .. {hi}",
        c["a"]
    );
}

#[test]
fn two_knobs_trace_the_closed_form_curve_with_fewer_runs_than_a_grid() {
    let m = model("trace");
    let out = m.parent().unwrap().join("out-trace");
    let v = advise_json(
        &m,
        &[
            "--knob",
            "workloads.app.ops-per-sec",
            "--knob",
            "nodes.primary.config.client-output-buffer-limit",
            "--columns",
            "7",
            // Above 1500 ops/s the COB needed exceeds the 10 MB backlog (below, the hard limit
            // is clamped up to the backlog and the goal holds everywhere along B); near the
            // link's 12.5 MB/s (11 700 ops/s) the stream cannot drain and the closed form no
            // longer holds.
            "--min",
            "1500",
            "--max",
            "6000",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let columns = v["columns"].as_array().unwrap();
    assert!(
        columns.len() >= 5 && columns.len() <= 7,
        "{}",
        columns.len()
    );
    // Sorted along A; B's boundary (the COB needed) grows with the write rate.
    let mut last = (0.0, 0.0);
    for c in columns {
        assert_eq!(c["verdict"], "found", "{c}");
        assert_eq!(c["direction"], "more_is_better");
        assert_column_matches(c);
        let (a, b) = (f(c, "a"), f(c, "boundary"));
        assert!(a > last.0 && b > last.1, "not increasing at {a}: {b}");
        last = (a, b);
    }
    let runs: u64 = columns.iter().map(|c| c["runs"].as_u64().unwrap()).sum();
    assert_eq!(v["runs"].as_u64(), Some(runs));
    let grid = v["grid"]["runs"].as_u64().unwrap();
    assert_eq!(
        grid,
        v["grid"]["columns"].as_u64().unwrap()
            * v["grid"]["rows"].as_u64().unwrap()
            * v["grid"]["seeds"].as_u64().unwrap()
    );
    assert!((f(&v, "fraction_of_grid") - runs as f64 / grid as f64).abs() < 1e-12);
    assert!(runs < grid);
    let png = std::fs::read(out.join("trace.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(out.join("probes.csv").is_file() && out.join("advice.json").is_file());
}

#[test]
fn the_chart_and_the_answer_are_written_to_the_output_directory() {
    let m = model("chart");
    let out = m.parent().unwrap().join("out-chart");
    let v = advise_json(
        &m,
        &[
            "--knob",
            "workloads.app.ops-per-sec",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(v["out"].as_str(), Some(out.to_str().unwrap()));
    let chart = PathBuf::from(v["chart"].as_str().unwrap());
    assert_eq!(chart, out.join("advise.png"));
    let png = std::fs::read(&chart).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("advice.json")).unwrap()).unwrap();
    assert_eq!(saved["boundary"], v["boundary"]);
    let csv = std::fs::read_to_string(out.join("probes.csv")).unwrap();
    assert_eq!(
        csv.lines().count() - 1,
        v["probes"].as_array().unwrap().len()
    );
}

#[test]
fn the_bandwidth_boundary_is_the_closed_form_solved_for_the_link() {
    // No exact formula for B itself, but T_x = S / B in W × (T_x + T_l + RTT) = H: the closed
    // form is solved by bisection and the simulation's boundary matches it.
    let m = model("bandwidth");
    let v = advise_json(&m, &["--knob", "links.0.bandwidth"]);
    assert_eq!(v["direction"], "more_is_better");
    assert!(
        v["closed_form_formula"]
            .as_str()
            .unwrap()
            .contains("bisection")
    );
    assert_matches_closed_form(&v);
}

/// A link outage of 10 s (longer than repl-timeout = 5 s) after the sync: the replica comes back
/// by PSYNC when the backlog holds the 10 s of writes.
const DROP: &str = r#"
[model]
name = "advise-drop"
seed = 3
horizon = "40s"

[dataset]
keys = 10000
value-size = "1kb"
compression-ratio = 1.0

[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync-delay = 0
repl-backlog-size = "1mb"
repl-timeout = "5s"

[[nodes]]
name = "replica"
role = "replica"
[nodes.config]
repl-timeout = "5s"

[[links]]
a = "primary"
b = "replica"
bandwidth = "100mbit"
latency = "1ms"

[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 1000
value-size = { dist = "fixed", size = "1kb" }

[[actions]]
name = "down"
do = "link-down"
a = "primary"
b = "replica"
at = "10s"

[[actions]]
name = "up"
do = "link-up"
a = "primary"
b = "replica"
at = "20s"
"#;

#[test]
fn the_backlog_boundary_after_an_outage_is_write_rate_times_outage() {
    // Exact up to the writes of the reconnect's round trips (a few ms of 10 s) and Valkey's
    // block-wise backlog trimming (≤ 16 KiB of ~10 MB): 2 % covers both with room.
    let dir = crate::scratch::dir("advise", "drop");
    let m = dir.join("model.toml");
    std::fs::write(&m, DROP).unwrap();
    let knob = "nodes.primary.config.repl-backlog-size";
    let v = advise_json(&m, &["--knob", knob, "--goal", "partial_resync_after_drop"]);
    assert_eq!(v["direction"], "more_is_better");
    assert!(
        v["closed_form_formula"]
            .as_str()
            .unwrap()
            .contains("outage")
    );
    assert_matches_closed_form(&v);
    // And for the write rate at the model's 1 MB backlog: W = backlog / outage.
    let v = advise_json(
        &m,
        &[
            "--knob",
            "workloads.app.ops-per-sec",
            "--goal",
            "partial_resync_after_drop",
            "--min",
            "10",
        ],
    );
    assert_eq!(v["direction"], "more_is_worse");
    assert_matches_closed_form(&v);
}

#[test]
fn the_default_models_write_rate_recommendation_holds_and_25_percent_past_fails() {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default.toml");
    let knob = "workloads.app.ops-per-sec";
    let dir = crate::scratch::dir("advise", "default");
    let out_dir = dir.join("advise-out");
    let (code, out, err) = advise(
        &m,
        &[
            "--knob",
            knob,
            "--seeds",
            "4",
            "--json",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["direction"], "more_is_worse");
    let rec = f(&v, "recommended");
    let past = (f(&v, "boundary") * 1.25).round();
    // Seeds the search never ran (it used 1..=4).
    let copy = dir.join("model.toml");
    std::fs::copy(&m, &copy).unwrap();
    for seed in [100, 101, 102] {
        assert_eq!(
            outcome(&copy, seed, knob, &format!("{rec:?}")),
            "clean_sync"
        );
        assert_ne!(
            outcome(&copy, seed, knob, &format!("{past:?}")),
            "clean_sync"
        );
    }
}

#[test]
fn two_knobs_add_columns_where_the_curve_enters_the_range() {
    // The backlog only matters once the COB needed passes the 64 MiB hard limit (H_eff =
    // max(H, K)): at low write rates the goal holds for any backlog, so the curve enters B's
    // range somewhere in A's; the added columns close in on that point.
    let m = model("enter");
    let v = advise_json(
        &m,
        &[
            "--knob",
            "workloads.app.ops-per-sec",
            "--knob",
            "nodes.primary.config.repl-backlog-size",
            "--min",
            "1000",
            "--max",
            "8000",
            "--min",
            "1mb",
            "--max",
            "4gb",
        ],
    );
    let columns = v["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 9);
    let entry = columns
        .iter()
        .position(|c| c["verdict"] == "found")
        .expect("the curve enters the range");
    assert!(entry > 0);
    for c in &columns[..entry] {
        assert_eq!(c["verdict"], "everywhere", "{c}");
    }
    for c in &columns[entry..] {
        assert_eq!(c["verdict"], "found", "{c}");
        assert_column_matches(c);
    }
    // The last "everywhere" and the first "found" column are closer than the first spacing
    // (×2 on 1000 .. 8000 with five columns ~ ×1.68) and were added after it.
    let (a0, a1) = (f(&columns[entry - 1], "a"), f(&columns[entry], "a"));
    assert!(a1 / a0 < 1.2, "{a0} .. {a1}");
    assert!(columns.iter().any(|c| c["round"].as_u64().unwrap() >= 2));
}
