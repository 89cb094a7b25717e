//! `pattern = "trace"`: a write rate recorded in production, replayed as a load. The primary's
//! replication stream follows the recording; bad files are refused naming the file and line;
//! a bundle carries the series and replays without the CSV.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use replsim::scenario::{Footprint, load_model};
use replsim::valkey::Cluster;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("trace", name)
}

fn replsim(args: &[&str]) -> Output {
    crate::checked::replsim().args(args).output().unwrap()
}

/// The bundled daily trace's rows (bytes/s), read here independently of replsim's parser.
fn daily_rows() -> Vec<f64> {
    let text = fs::read_to_string(root().join("models/traces/daily-peak.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_primary_writes_what_the_trace_recorded() {
    // The bundled model from 03:00: linear between one-minute rows, so the bytes fed to the
    // replication stream over minute k are the trapezoid between rows 180 + k and 181 + k.
    let sets = vec!["workloads.prod.trace-start=\"3h\"".parse().unwrap()];
    let model = load_model(&root().join("models/production-trace.toml"), &sets).unwrap();
    let result = Cluster::build(&model.cluster(), &crate::checked::options(&model))
        .unwrap()
        .run()
        .unwrap();
    let offset_at = |t: f64| {
        result
            .samples
            .iter()
            .find(|s| s.node == "primary" && (s.t_s - t).abs() < 1e-6)
            .unwrap_or_else(|| panic!("no primary sample at {t} s"))
            .master_repl_offset as f64
    };
    let rows = daily_rows();
    assert_eq!(rows.len(), 1440);
    for k in 1..5 {
        let (a, b) = (rows[180 + k], rows[181 + k]);
        let want = (a + b) / 2.0 * 60.0;
        let start = 60.0 * k as f64;
        let got = offset_at(start + 60.0) - offset_at(start);
        // Noise: PINGs (14 B / 10 s) and the rounding of each one-second sub-step's rate.
        assert!(
            (got - want).abs() < want * 0.002,
            "minute {k}: fed {got} B, the trace says {want} B"
        );
    }
    // Over shorter windows inside one row the rate moves along the line, not in steps.
    let r1 = offset_at(61.0) - offset_at(60.0);
    let r2 = offset_at(119.0) - offset_at(118.0);
    let (a, b) = (rows[181], rows[182]);
    assert!((r1 - (a + (b - a) * 0.5 / 60.0)).abs() < a * 0.005, "{r1}");
    assert!((r2 - (a + (b - a) * 58.5 / 60.0)).abs() < a * 0.005, "{r2}");
}

#[test]
fn the_evening_peak_overflows_the_cob_and_the_night_does_not() {
    let run = |start: &str| {
        let sets = vec![
            format!("workloads.prod.trace-start=\"{start}\"")
                .parse()
                .unwrap(),
        ];
        let model = load_model(&root().join("models/production-trace.toml"), &sets).unwrap();
        Cluster::build(&model.cluster(), &crate::checked::options(&model))
            .unwrap()
            .run()
            .unwrap()
            .record
    };
    let peak = run("20h");
    assert_eq!(peak.outcome.as_str(), "full_resync_loop");
    assert!(peak.cob_disconnections > 0);
    let night = run("3h");
    assert_eq!(night.outcome.as_str(), "clean_sync");
    assert_eq!(night.cob_disconnections, 0);
}

#[test]
fn the_footprint_counts_the_trace_rows() {
    let model = load_model(&root().join("models/production-trace.toml"), &[]).unwrap();
    let f = Footprint::of(&model);
    assert_eq!(f.trace_rows, 1440);
    assert_eq!(
        f.bytes,
        f.samples * replsim::scenario::SAMPLE_BYTES
            + replsim::scenario::BASE_BYTES
            + 1440 * replsim::scenario::TRACE_ROW_BYTES
    );
}

const MODEL: &str = r#"
[model]
name = "trace-bad"
horizon = "5s"

[dataset]
keys = 1000
value-size = "100"

[[nodes]]
name = "primary"
role = "primary"

[[nodes]]
name = "replica"
role = "replica"

[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"

[[workloads]]
name = "app"
pattern = "trace"
file = "rates.csv"
quantity = "QUANTITY"
"#;

#[test]
fn every_bad_trace_file_exits_2_naming_the_file_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (name, quantity, csv, expected reason) — the bad row is always line 4.
        (
            "unsorted",
            "bytes-per-sec",
            "t,v\n0,1\n2,1\n1,1\n",
            "unsorted",
        ),
        (
            "duplicate",
            "bytes-per-sec",
            "t,v\n0,1\n1,1\n1,1\n",
            "duplicate",
        ),
        (
            "negative",
            "ops-per-sec",
            "t,v\n0,1\n1,1\n2,-5\n",
            "negative rate",
        ),
        ("gap", "bytes-per-sec", "t,v\n0,1\n1,1\n900,1\n", "a gap of"),
        (
            "unparsable-value",
            "bytes-per-sec",
            "t,v\n0,1\n1,1\n2,lots\n",
            "not a number",
        ),
        (
            "unparsable-time",
            "bytes-per-sec",
            "t,v\n0,1\n1,1\nnoon,1\n",
            "does not parse",
        ),
        (
            "offset-reset",
            "offset",
            "t,v\n0,100\n1,200\n2,50\n",
            "decreases",
        ),
    ];
    for (name, quantity, csv, reason) in cases {
        let dir = scratch(name);
        fs::write(dir.join("rates.csv"), csv).unwrap();
        let model = dir.join("m.toml");
        fs::write(&model, MODEL.replace("QUANTITY", quantity)).unwrap();
        let out = dir.join("out");
        let o = replsim(&[
            "run",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("rates.csv: line 4: "), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!out.exists(), "{name}: nothing written");
        let _ = fs::remove_dir_all(&dir);
    }
    // A missing file and a missing quantity name what is missing.
    let dir = scratch("missing");
    let model = dir.join("m.toml");
    fs::write(&model, MODEL.replace("QUANTITY", "bytes-per-sec")).unwrap();
    let o = replsim(&["run", model.to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("rates.csv: cannot read"), "{err}");
    fs::write(dir.join("rates.csv"), "0,1\n1,1\n").unwrap();
    fs::write(
        &model,
        MODEL.replace("quantity = \"QUANTITY\"\n", "").as_bytes(),
    )
    .unwrap();
    let o = replsim(&["run", model.to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("workloads.app.quantity"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_bundle_of_a_trace_run_replays_without_the_csv() {
    let dir = scratch("bundle");
    let bundle = dir.join("b.json");
    let out = dir.join("out");
    let model = root().join("models/production-trace.toml");
    let o = replsim(&[
        "run",
        model.to_str().unwrap(),
        "--set",
        "model.horizon=\"60s\"",
        "--out",
        out.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(
        text.contains("[workloads.series]"),
        "the bundle embeds the series"
    );
    // Away from the model's folder: the CSV path resolves to nothing there.
    let away = scratch("bundle-away");
    let moved = away.join("b.json");
    fs::copy(&bundle, &moved).unwrap();
    assert!(!away.join("traces/daily-peak.csv").exists());
    let o = replsim(&["replay", moved.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("matches the bundle"), "{stdout}");
    // The bundle's footprint counts its rows too.
    let o = replsim(&["replay", moved.to_str().unwrap(), "--max-memory", "1mb"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&away);
}

#[test]
fn replay_and_validate_apply_max_memory_before_running() {
    let dir = scratch("max-memory");
    let bundle = dir.join("b.json");
    let out = dir.join("out");
    let model = root().join("models/default.toml");
    let o = replsim(&[
        "run",
        model.to_str().unwrap(),
        "--set",
        "model.horizon=\"2s\"",
        "--out",
        out.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let replay_out = dir.join("replayed");
    let o = replsim(&[
        "replay",
        bundle.to_str().unwrap(),
        "--max-memory",
        "10mb",
        "--out",
        replay_out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("above the 10.0 MiB cap (--max-memory)"),
        "{err}"
    );
    assert!(!replay_out.exists(), "nothing written");
    assert!(o.stdout.is_empty(), "nothing run");
    let o = replsim(&["replay", bundle.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let validate_out = dir.join("validate");
    let o = replsim(&[
        "validate",
        model.to_str().unwrap(),
        "--max-memory",
        "10mb",
        "--out",
        validate_out.to_str().unwrap(),
        "--valkey-server",
        "/nonexistent/valkey-server",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("above the 10.0 MiB cap (--max-memory)"),
        "{err}"
    );
    assert!(!validate_out.exists(), "nothing written");
    let _ = fs::remove_dir_all(&dir);
}
