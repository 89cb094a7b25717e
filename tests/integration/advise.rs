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
    let out = crate::checked::replsim()
        .arg("advise")
        .arg(model)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
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
        v.as_object_mut().unwrap().remove("wall_seconds");
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
            &[
                "--knob",
                "workloads.app.ops-per-sec",
                "--knob",
                "links.0.bandwidth",
            ],
            &["not implemented yet"],
        ),
    ];
    for (args, expect) in cases {
        let (code, out, err) = advise(&m, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        for e in *expect {
            assert!(err.contains(e), "{args:?}: {err:?} does not mention {e:?}");
        }
    }
}
