//! Sweeps: axis expansion, seeds independent of the grid, determinism across thread counts,
//! resume after a torn write and after `kill -9`, shards and merge, repro bundles, bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use replsim::experiment::{Plan, Shard};
use toml::Value;

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("sweeps", name)
}

fn model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
        .display()
        .to_string()
}

/// Writes an experiment on the classic worked example with `rest` after `[experiment]`'s keys.
fn experiment(dir: &Path, file: &str, meta: &str, rest: &str) -> PathBuf {
    let text = format!(
        "[experiment]\nmodel = \"{}\"\n{meta}\n{rest}",
        model("worked-example-classic.toml")
    );
    let path = dir.join(file);
    fs::write(&path, text).unwrap();
    path
}

/// 3 write rates × 2 backlog sizes × 2 seeds = 12 runs of 30 s.
const SMALL_AXES: &str = r#"
[[axes]]
path = "workloads.writer.ops-per-sec"
values = [2000, 10000, 20000]

[[axes]]
path = "nodes.primary.config.repl-backlog-size"
log = { from = "1mb", to = "256mb", steps = 2 }
"#;

fn small(dir: &Path) -> PathBuf {
    experiment(
        dir,
        "small.toml",
        "seeds = 2\nhorizon = \"30s\"",
        SMALL_AXES,
    )
}

fn replsim(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    crate::checked::replsim()
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a sweep and returns its output directory.
fn sweep(exp: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"sweep", &exp, &"--out", &out, &"-q"];
    for e in extra {
        args.push(e);
    }
    ok(&replsim(&args))
}

fn tables(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(dir.join("results.csv")).unwrap(),
        fs::read(dir.join("results.jsonl")).unwrap(),
    )
}

fn assert_same_tables(a: &Path, b: &Path) {
    let (ta, tb) = (tables(a), tables(b));
    assert!(
        ta.0 == tb.0,
        "results.csv of {} and {} differ",
        a.display(),
        b.display()
    );
    assert!(
        ta.1 == tb.1,
        "results.jsonl of {} and {} differ",
        a.display(),
        b.display()
    );
}

fn values(plan: &Plan, axis: usize) -> Vec<String> {
    plan.axes[axis]
        .values
        .iter()
        .map(Value::to_string)
        .collect()
}

#[test]
fn axes_expand_lists_linear_and_log_ranges_with_units() {
    let dir = scratch("axes");
    let exp = experiment(
        &dir,
        "axes.toml",
        "",
        r#"
[[axes]]
path = "workloads.writer.ops-per-sec"
linear = { from = 1000, to = 2000, steps = 3 }

[[axes]]
path = "nodes.primary.config.repl-backlog-size"
log = { from = "1mb", to = "1024mb", steps = 3 }

[[axes]]
path = "nodes.replica.perf.rdb-load-rate"
values = [50, 100]
unit = "m/s"

[[axes]]
path = "dataset.keys"
log = { from = 1000, to = 100000, steps = 3 }

[[axes]]
path = "dataset.compression-ratio"
linear = { from = 0.5, to = 1.0, steps = 3 }

[[axes]]
path = "nodes.primary.config.repl-timeout"
log = { from = 10, to = 1000, steps = 3 }
unit = "s"
"#,
    );
    let plan = Plan::load(&exp).unwrap();
    plan.validate().unwrap();
    assert_eq!(values(&plan, 0), ["1000", "1500", "2000"]);
    assert_eq!(values(&plan, 1), ["\"1mb\"", "\"32mb\"", "\"1024mb\""]);
    assert_eq!(values(&plan, 2), ["\"50m/s\"", "\"100m/s\""]);
    // An integer-valued field receives integers.
    assert_eq!(
        plan.axes[3].values,
        [1000, 10000, 100000].map(Value::Integer)
    );
    assert_eq!(plan.axes[4].values, [0.5, 0.75, 1.0].map(Value::Float));
    assert_eq!(values(&plan, 5), ["\"10s\"", "\"100s\"", "\"1000s\""]);
    assert_eq!(plan.points(), 3 * 3 * 2 * 3 * 3 * 3);
    // Run order: the last axis varies fastest.
    let p1 = plan.point_values(1);
    assert_eq!(p1[5].1.to_string(), "\"100s\"");
    assert_eq!(p1[0].1.to_string(), "1000");
    // A log range of sizes from 1mb to 1gb in 8 steps: 8 distinct whole numbers of megabytes.
    let eight = experiment(
        &dir,
        "eight.toml",
        "",
        "[[axes]]\npath = \"nodes.primary.config.repl-backlog-size\"\nlog = { from = 1, to = 1024, steps = 8 }\nunit = \"mb\"\n",
    );
    let plan = Plan::load(&eight).unwrap();
    assert_eq!(
        values(&plan, 0),
        [
            "1mb", "3mb", "7mb", "20mb", "53mb", "141mb", "380mb", "1024mb"
        ]
        .map(|s| format!("\"{s}\""))
    );
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

#[test]
fn a_points_seeds_do_not_depend_on_the_rest_of_the_grid() {
    let dir = scratch("seeds");
    let axes = |rates: &str, sizes: &str| {
        format!(
            "[[axes]]\npath = \"workloads.writer.ops-per-sec\"\nvalues = {rates}\n\
             [[axes]]\npath = \"nodes.primary.config.repl-backlog-size\"\nvalues = {sizes}\n"
        )
    };
    let a = Plan::load(&experiment(
        &dir,
        "a.toml",
        "seeds = 3",
        &axes("[1000, 2000]", "[\"1mb\"]"),
    ))
    .unwrap();
    let b = Plan::load(&experiment(
        &dir,
        "b.toml",
        "seeds = 3",
        &axes("[500, 1000, 2000]", "[\"10mb\", \"1mb\"]"),
    ))
    .unwrap();
    let seeds_of = |plan: &Plan, rate: i64, size: &str| -> Vec<u64> {
        let point = (0..plan.points())
            .find(|&p| {
                let v = plan.point_values(p);
                v[0].1.as_integer() == Some(rate) && v[1].1.as_str() == Some(size)
            })
            .unwrap();
        (0..3).map(|rep| plan.seed_of(point, rep)).collect()
    };
    for rate in [1000, 2000] {
        assert_eq!(seeds_of(&a, rate, "1mb"), seeds_of(&b, rate, "1mb"));
    }
    let s = seeds_of(&a, 1000, "1mb");
    assert!(
        s[0] != s[1] && s[1] != s[2],
        "repetitions get different seeds: {s:?}"
    );
    assert_ne!(s, seeds_of(&a, 2000, "1mb"));
    assert!(s.iter().all(|&x| x <= i64::MAX as u64));
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

#[test]
fn jobs_1_and_jobs_2_write_byte_identical_tables() {
    let dir = scratch("jobs");
    let exp = small(&dir);
    sweep(&exp, &dir.join("j1"), &["--jobs", "1"]);
    sweep(&exp, &dir.join("j2"), &["--jobs", "2"]);
    assert_same_tables(&dir.join("j1"), &dir.join("j2"));
    let (csv, jsonl) = tables(&dir.join("j1"));
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 13);
    assert!(csv.starts_with(
        "run,point,rep,workloads.writer.ops-per-sec,nodes.primary.config.repl-backlog-size,outcome,"
    ));
    assert!(!csv.contains("wall_seconds"));
    assert_eq!(String::from_utf8(jsonl).unwrap().lines().count(), 12);
    assert_eq!(
        fs::read(dir.join("j1/sweep.json")).unwrap(),
        fs::read(dir.join("j2/sweep.json")).unwrap()
    );
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

/// Cuts a finished sweep back to `k` rows as a kill could leave it: a torn JSON line after
/// `k` rows, the CSV holding `csv_rows` whole rows.
fn tear(dir: &Path, k: usize, csv_rows: usize) {
    let jsonl = fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let lines: Vec<&str> = jsonl.split_inclusive('\n').collect();
    let mut torn: String = lines[..k].concat();
    torn.push_str(&lines[k][..lines[k].len() / 2]);
    fs::write(dir.join("results.jsonl"), torn).unwrap();
    let csv = fs::read_to_string(dir.join("results.csv")).unwrap();
    let kept: String = csv.split_inclusive('\n').take(1 + csv_rows).collect();
    fs::write(dir.join("results.csv"), kept).unwrap();
}

#[test]
fn resume_after_a_torn_write_gives_the_uninterrupted_tables() {
    let dir = scratch("resume");
    let exp = small(&dir);
    let reference = dir.join("reference");
    sweep(&exp, &reference, &[]);
    for (k, csv_rows) in [(5, 5), (5, 6), (0, 0), (0, 1), (11, 11), (7, 3)] {
        let out = dir.join(format!("cut-{k}-{csv_rows}"));
        sweep(&exp, &out, &[]);
        tear(&out, k, csv_rows);
        let printed = sweep(&exp, &out, &["--resume"]);
        assert!(printed.contains("12 runs"), "{printed}");
        assert_same_tables(&reference, &out);
    }
    // Resuming a finished sweep changes nothing.
    sweep(&exp, &reference, &["--resume"]);
    assert_same_tables(&reference, &dir.join("cut-5-5"));
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

#[test]
fn resume_after_kill_9_gives_the_uninterrupted_tables() {
    let dir = scratch("kill");
    let exp = experiment(
        &dir,
        "kill.toml",
        "seeds = 10",
        "[[axes]]\npath = \"workloads.writer.ops-per-sec\"\nlinear = { from = 2000, to = 20000, steps = 12 }\n",
    );
    let reference = dir.join("reference");
    sweep(&exp, &reference, &["--jobs", "2"]);
    let out = dir.join("killed");
    let mut child = crate::checked::replsim()
        .args(["sweep", "-q", "--jobs", "2", "--out"])
        .arg(&out)
        .arg(&exp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has written something (or when it is done: the assertions hold either way).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let written = fs::metadata(out.join("results.jsonl")).is_ok_and(|m| m.len() > 0);
        if written || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap_or(()); // SIGKILL on Unix
    child.wait().unwrap();
    let rows = fs::read_to_string(out.join("results.jsonl")).map_or(0, |t| t.lines().count());
    eprintln!("killed after {rows} of 120 rows");
    sweep(&exp, &out, &["--resume", "--jobs", "1"]);
    assert_same_tables(&reference, &out);
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

#[test]
fn shards_merge_into_the_unsharded_table() {
    let dir = scratch("shards");
    let exp = small(&dir);
    sweep(&exp, &dir.join("all"), &[]);
    sweep(&exp, &dir.join("s1"), &["--shard", "1/2"]);
    sweep(&exp, &dir.join("s2"), &["--shard", "2/2", "--jobs", "1"]);
    let s1 = fs::read_to_string(dir.join("s1/results.jsonl")).unwrap();
    assert_eq!(s1.lines().count(), 6);
    // Either order of the arguments.
    ok(&replsim(&[
        &"merge",
        &dir.join("s2"),
        &dir.join("s1"),
        &"--out",
        &dir.join("merged"),
    ]));
    assert_same_tables(&dir.join("all"), &dir.join("merged"));
    for f in [
        "sweep.json",
        "experiment.resolved.toml",
        "model.resolved.toml",
    ] {
        assert_eq!(
            fs::read(dir.join("all").join(f)).unwrap(),
            fs::read(dir.join("merged").join(f)).unwrap(),
            "{f}"
        );
    }
    // A shard of another experiment (another seed) is refused, and nothing is written.
    let other = experiment(
        &dir,
        "other.toml",
        "seed = 2\nseeds = 2\nhorizon = \"30s\"",
        SMALL_AXES,
    );
    sweep(&other, &dir.join("o2"), &["--shard", "2/2"]);
    let refused = replsim(&[
        &"merge",
        &dir.join("s1"),
        &dir.join("o2"),
        &"--out",
        &dir.join("bad"),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("different experiments"));
    assert!(!dir.join("bad").exists());
    // Overlapping and missing shards are refused.
    let overlap = replsim(&[
        &"merge",
        &dir.join("s1"),
        &dir.join("s1"),
        &"--out",
        &dir.join("bad"),
    ]);
    assert_eq!(overlap.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&overlap.stderr).contains("overlapping"));
    let missing = replsim(&[&"merge", &dir.join("s1"), &"--out", &dir.join("bad")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing shard(s) 2/2"));
    assert!(!dir.join("bad").exists());
    assert_eq!("2/2".parse::<Shard>().unwrap().len(12), 6);
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

#[test]
fn a_bundle_replays_and_a_tampered_one_fails() {
    let dir = scratch("bundle");
    let exp = small(&dir);
    let printed = sweep(&exp, &dir.join("out"), &[]);
    let bundles: Vec<PathBuf> = fs::read_dir(dir.join("out/bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!bundles.is_empty(), "the small grid has surprising runs");
    assert!(printed.contains("replay: replsim replay "), "{printed}");
    let bundle = &bundles[0];
    let replayed = ok(&replsim(&[&"replay", bundle]));
    assert!(replayed.contains("matches the bundle"), "{replayed}");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(bundle).unwrap()).unwrap();
    assert!(json["model"].as_str().unwrap().contains("[model]"));
    json["trace_hash"] = "0000000000000000".into();
    let tampered = dir.join("tampered.json");
    fs::write(&tampered, json.to_string()).unwrap();
    let out = replsim(&[&"replay", &tampered]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace hash"));
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}

/// Runs a sweep that must be refused: exit 2, a message with every `needle`, nothing written.
fn refused(dir: &Path, exp: &Path, needles: &[&str]) {
    let parent = dir.join("outputs");
    fs::create_dir_all(&parent).unwrap();
    let out = replsim(&[&"sweep", &exp, &"--out", &parent.join("sweep")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        fs::read_dir(&parent).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn bad_experiment_files_are_refused_with_the_file_and_key() {
    let dir = scratch("bad");
    let axis = |body: &str| format!("[[axes]]\npath = \"workloads.writer.ops-per-sec\"\n{body}\n");
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        (
            "unknown-key.toml",
            "sedes = 3".into(),
            String::new(),
            vec!["unknown-key.toml", "sedes"],
        ),
        (
            "unknown-axis-key.toml",
            String::new(),
            axis("values = [1]\nstep = 2"),
            vec!["unknown-axis-key.toml", "step"],
        ),
        (
            "no-such-field.toml",
            String::new(),
            "[[axes]]\npath = \"nodes.primary.config.repl-backlog-sise\"\nvalues = [\"1mb\"]\n"
                .into(),
            vec!["no-such-field.toml", "axes[0]", "repl-backlog-sise"],
        ),
        (
            "empty-axis.toml",
            String::new(),
            axis("values = []"),
            vec!["empty-axis.toml", "axes[0]", "empty axis"],
        ),
        (
            "zero-seeds.toml",
            "seeds = 0".into(),
            String::new(),
            vec!["zero-seeds.toml", "experiment.seeds"],
        ),
        (
            "log-zero.toml",
            String::new(),
            axis("log = { from = 0, to = 100, steps = 3 }"),
            vec!["log-zero.toml", "axes[0].log.from"],
        ),
        (
            "wrong-type.toml",
            String::new(),
            axis("values = [\"fast\"]"),
            vec!["wrong-type.toml", "axes[0]", "ops-per-sec"],
        ),
        (
            "bad-plot.toml",
            String::new(),
            axis("values = [1000]") + "[plot]\nphase = { x = \"nope\" }\n",
            vec!["bad-plot.toml", "plot.phase.x"],
        ),
    ];
    for (file, meta, rest, needles) in cases {
        let exp = experiment(&dir, file, &meta, &rest);
        refused(&dir, &exp, &needles);
    }
    refused(
        &dir,
        &dir.join("missing.toml"),
        &["missing.toml", "cannot read"],
    );
    // An output directory that cannot be created.
    let exp = small(&dir);
    fs::write(dir.join("a-file"), "").unwrap();
    let out = replsim(&[&"sweep", &exp, &"--out", &dir.join("a-file/sweep")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a-file"));
    // An existing sweep is neither overwritten nor appended to without --resume or --force.
    sweep(&exp, &dir.join("done"), &[]);
    let again = replsim(&[&"sweep", &exp, &"--out", &dir.join("done")]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let bad_shard = replsim(&[&"sweep", &exp, &"--shard", &"3/2"]);
    assert_eq!(bad_shard.status.code(), Some(2));
    let _ = fs::remove_dir_all(&dir); // kept when an assertion fails, for a look
}
