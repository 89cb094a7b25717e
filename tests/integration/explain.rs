//! `replsim explain`: every number it states about the limit and the PSYNC is checked against the
//! run's own journal, logs and INFO samples; its suggestion is rerun independently and must sync
//! cleanly; a clean sync says so; several replicas get one account each; a repro bundle is
//! explained by replaying it; bad input exits 2.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `replsim run <model> --out <scratch>/run <args>`, which must succeed; returns the run dir.
fn run(name: &str, model: &str, args: &[&str]) -> PathBuf {
    let out = crate::scratch::dir("explain", name).join("run");
    let o = crate::checked::replsim()
        .arg("run")
        .arg(root().join(model))
        .arg("--out")
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// `replsim explain <args>`: (exit code, stdout, stderr).
fn explain(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    crate::checked::outcome(crate::checked::replsim().arg("explain").args(args))
}

fn explain_json(target: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> = vec![target.as_os_str(), "--json".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let (code, out, err) = explain(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn journal(dir: &Path) -> Vec<(u64, Value)> {
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("journal.json")).unwrap()).unwrap();
    j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_u64().unwrap(), e[1].clone()))
        .collect()
}

/// Log lines of a node as (ms since the start, text).
fn log(dir: &Path, node: &str) -> Vec<(u64, String)> {
    std::fs::read_to_string(dir.join(format!("{node}.log")))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(7, ' ').collect();
            let hms: Vec<&str> = f[4].split(':').collect();
            let (s, ms) = hms[2].split_once('.').unwrap();
            let day: u64 = f[1].parse().unwrap();
            let t = (((day - 1) * 24 + hms[0].parse::<u64>().unwrap()) * 60
                + hms[1].parse::<u64>().unwrap())
                * 60_000
                + s.parse::<u64>().unwrap() * 1000
                + ms.parse::<u64>().unwrap();
            (t, f[6].to_string())
        })
        .collect()
}

/// The primary's INFO rows of timeline.csv: (t_s, master_repl_offset, first byte, histlen).
fn primary_info(dir: &Path) -> Vec<(f64, u64, u64, u64)> {
    let mut r = csv::Reader::from_path(dir.join("timeline.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (t, node, off, first, hist) = (
        col("t_s"),
        col("node"),
        col("master_repl_offset"),
        col("repl_backlog_first_byte_offset"),
        col("repl_backlog_histlen"),
    );
    r.records()
        .map(|x| x.unwrap())
        .filter(|x| &x[node] == "primary")
        .map(|x| {
            (
                x[t].parse().unwrap(),
                x[off].parse().unwrap(),
                x[first].parse().unwrap(),
                x[hist].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_default_models_account_matches_its_journal_logs_and_samples() {
    let dir = run(
        "default",
        "models/default.toml",
        &["--set", "model.horizon=120s"],
    );
    let e = explain_json(&dir, &[]);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(e["outcome"], summary["outcome"]);
    assert_eq!(e["outcome"], "full_resync_loop");
    let events = journal(&dir);
    // The limit: the journal's first COB disconnect, its time to the nanosecond, its omem.
    let (t_cob, cob) = events
        .iter()
        .find(|(_, v)| v["event"] == "cob_disconnect")
        .unwrap();
    let r = &e["replicas"][0];
    assert_eq!(e["first_limit"], cob["limit"]);
    assert_eq!(e["first_limit"], summary["first_limit"]);
    assert_eq!(r["at_ns"].as_u64(), Some(*t_cob));
    assert_eq!(e["at_s"].as_f64(), Some(*t_cob as f64 / 1e9));
    assert_eq!(r["omem_bytes"], cob["omem"]);
    // The rates: from the fork the journal names, the growth that reached omem by then.
    let (t_fork, _) = events
        .iter()
        .rfind(|(t, v)| v["event"] == "fork" && t <= t_cob)
        .unwrap();
    let rates = &e["rates"];
    assert_eq!(rates["fork_at_s"].as_f64(), Some(*t_fork as f64 / 1e9));
    let growth = cob["omem"].as_f64().unwrap() / ((t_cob - t_fork) as f64 / 1e9);
    assert!((rates["cob_growth_bps"].as_f64().unwrap() - growth).abs() < 1e-6 * growth);
    // The PSYNC: the request the replica's log shows, the answer and range the primary had.
    let t_ms = t_cob / 1_000_000;
    let ask = log(&dir, "replica")
        .into_iter()
        .find(|(t, l)| *t >= t_ms && l.starts_with("Trying a partial resynchronization"))
        .unwrap();
    let requested = ask
        .1
        .split("(request ")
        .nth(1)
        .unwrap()
        .trim_end_matches(").");
    let p = &e["psync"];
    assert_eq!(p["requested"], requested);
    assert_eq!(
        p["requested_offset"].as_u64(),
        requested.rsplit(':').next().unwrap().parse::<u64>().ok()
    );
    assert_eq!(p["served"], false);
    assert!(p["answer"].as_str().unwrap().contains("ID mismatch"));
    let plog = log(&dir, "primary");
    let asks = plog
        .iter()
        .position(|(t, l)| *t >= ask.0 && l.ends_with("asks for synchronization"))
        .unwrap();
    assert!(plog[asks + 1].1.contains("Replication ID mismatch"));
    // No range in that reply: the backlog comes from the last INFO sample before it.
    let at = p["at_s"].as_f64().unwrap();
    let info = primary_info(&dir)
        .into_iter()
        .rfind(|s| s.0 <= at + 1e-9)
        .unwrap();
    assert_eq!(p["backlog_from"].as_u64(), Some(info.2));
    assert_eq!(p["backlog_to"].as_u64(), Some(info.1));
    // The suggestion, confirmed by explain's rerun and again here by an independent run.
    let s = &e["suggestion"];
    assert_eq!(s["knob"], "nodes.primary.config.client-output-buffer-limit");
    assert_eq!(s["confirmed"], true, "{s}");
    assert_eq!(s["rerun_outcome"], "clean_sync");
    let mut args = vec![
        "run".to_string(),
        dir.join("model.resolved.toml").display().to_string(),
    ];
    for set in s["sets"].as_array().unwrap() {
        args.push("--set".into());
        args.push(set.as_str().unwrap().into());
    }
    args.push("--json".into());
    args.push("--out".into());
    args.push(dir.with_file_name("rerun").display().to_string());
    let o = crate::checked::replsim().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rerun: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rerun["outcome"], "clean_sync");
    // The value is the closed form's: the current hard limit does not suffice, the new one does.
    let hard_mb: f64 = s["value"]
        .as_str()
        .unwrap()
        .split("mb")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(hard_mb * 1048576.0 > cob["omem"].as_f64().unwrap());
}

#[test]
fn a_refused_psync_quotes_the_primarys_range_and_the_replicas_request() {
    let dir = run("lack", "models/worked-example-classic.toml", &[]);
    let e = explain_json(&dir, &["--no-rerun"]);
    let p = &e["psync"];
    assert_eq!(p["answer"], "refused for lack of backlog");
    assert_eq!(p["backlog_source"], "log");
    let line = log(&dir, "primary")
        .into_iter()
        .map(|l| l.1)
        .find(|l| l.contains("for lack of backlog"))
        .unwrap();
    let asked = line
        .split("request was ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(p["requested"], asked);
    let range = line.split('[').nth(1).unwrap().trim_end_matches("]).");
    let (a, b) = range.split_once(", ").unwrap();
    assert_eq!(p["backlog_from"].as_u64(), a.parse().ok());
    assert_eq!(p["backlog_to"].as_u64(), b.parse().ok());
    assert!(p["requested_offset"].as_u64().unwrap() < p["backlog_from"].as_u64().unwrap());
    assert!(e["suggestion"]["confirmed"].is_null());
}

#[test]
fn a_clean_sync_says_so_and_suggests_nothing() {
    let dir = run(
        "clean",
        "models/default.toml",
        &[
            "--set",
            "workloads.app.ops-per-sec=1000",
            "--set",
            "model.horizon=120s",
            "--set",
            "nodes.primary.config.repl-backlog-size=1gb",
        ],
    );
    let e = explain_json(&dir, &[]);
    assert_eq!(e["outcome"], "clean_sync");
    assert_eq!(e["first_limit"], "none");
    assert!(e["suggestion"].is_null());
    let events = journal(&dir);
    let synced = events
        .iter()
        .find(|(_, v)| v["event"] == "replica_synced")
        .unwrap();
    assert_eq!(
        e["replicas"][0]["synced_at_s"].as_f64(),
        Some(synced.0 as f64 / 1e9)
    );
    let (code, text, _) = explain(&[dir.as_os_str()]);
    assert_eq!(code, 0);
    assert!(text.contains("No limit was crossed"), "{text}");
    assert!(text.contains("Outcome: clean_sync"), "{text}");
    assert!(text.contains("Nothing to change"), "{text}");
}

#[test]
fn every_replica_gets_its_own_account() {
    let dir = run("multi", "models/multi-replica.toml", &[]);
    let e = explain_json(&dir, &["--no-rerun"]);
    let reps = e["replicas"].as_array().unwrap();
    assert_eq!(reps.len(), 2);
    assert_eq!(reps[0]["replica"], "replica-a");
    assert_eq!(reps[0]["watched"], true);
    assert_eq!(reps[1]["replica"], "replica-b");
    let events = journal(&dir);
    for r in reps {
        let node = r["node"].as_u64().unwrap();
        let first = events
            .iter()
            .filter(|(_, v)| v["replica"].as_u64() == Some(node))
            .find(|(_, v)| {
                matches!(
                    v["event"].as_str().unwrap(),
                    "cob_disconnect" | "backlog_exhausted" | "timeout" | "replica_buffer_full"
                )
            })
            .map(|(t, _)| *t);
        assert_eq!(r["at_ns"].as_u64(), first, "{}", r["replica"]);
        let full = events
            .iter()
            .filter(|(_, v)| {
                v["event"] == "full_sync_started" && v["replica"].as_u64() == Some(node)
            })
            .count();
        assert_eq!(r["full_syncs"].as_u64(), Some(full as u64));
    }
}

#[test]
fn run_explain_writes_the_account_and_a_bundle_is_replayed_then_explained() {
    let dir = run(
        "run-explain",
        "models/worked-example-dual.toml",
        &["--explain"],
    );
    let text = std::fs::read_to_string(dir.join("explanation.txt")).unwrap();
    assert!(text.starts_with("worked-example-dual (seed 1): "), "{text}");
    let (code, again, _) = explain(&[dir.as_os_str()]);
    assert_eq!(code, 0);
    assert_eq!(again, text, "explain DIR repeats run --explain");
    // The case-study bundle: the replay's outcome and the record's agree.
    let bundle = root().join("bundles/flaky-test-old-seed23.json");
    let b: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let e = explain_json(&bundle, &["--no-rerun"]);
    assert_eq!(e["seed"], 23);
    assert_eq!(e["model"], "valkey-test-cob-overrun-old");
    let outcome = b["outcome"].as_str().or(b["record"]["outcome"].as_str());
    if let Some(o) = outcome {
        assert_eq!(e["outcome"], o);
    }
    assert_eq!(e["first_limit"], "rdb_channel_cob");
}

#[test]
fn bad_input_exits_2_with_the_reason() {
    let scratch = crate::scratch::dir("explain", "bad");
    let missing = scratch.join("nope");
    let (code, _, err) = explain(&[missing.as_os_str()]);
    assert_eq!(code, 2);
    assert!(err.contains("no such directory"), "{err}");
    let (code, _, err) = explain(&[scratch.as_os_str()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a run directory"), "{err}");
    let dir = run("bad-journal", "models/worked-example-classic.toml", &[]);
    std::fs::write(dir.join("journal.json"), "{\"events\": [[1, {}]]}").unwrap();
    let (code, _, err) = explain(&[dir.as_os_str()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("journal.json") && err.contains("events[0]"),
        "{err}"
    );
    let not_bundle = scratch.join("x.json");
    std::fs::write(&not_bundle, "[]").unwrap();
    let (code, _, err) = explain(&[not_bundle.as_os_str()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn help_has_an_example() {
    let o = crate::checked::replsim()
        .args(["explain", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("replsim explain output/default"), "{text}");
}
