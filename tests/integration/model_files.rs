//! What a model file can say: real valkey.conf directives the model ignores, warnings, loads
//! that start on an action or stop after a byte budget, datasets of several populations,
//! `include`, and `--set` paths with numeric segments — each with its bad inputs.

use std::path::{Path, PathBuf};

use replsim::engine::SimTime;
use replsim::scenario::{ModelFile, Override, load_model, parse_model};
use replsim::valkey::{Cluster, Event, RunResult};

/// A small valid model every test starts from.
const BASE: &str = r#"
[model]
name = "mf"
horizon = "20s"

[dataset]
keys = 1000
value-size = "100"

[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync-delay = 0

[[nodes]]
name = "replica"
role = "replica"

[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"
"#;

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.to_string(),
        value: value.to_string(),
    }
}

fn parse(text: &str, overrides: &[Override]) -> ModelFile {
    parse_model(text, "mf.toml", overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(m: &ModelFile) -> RunResult {
    Cluster::build(&m.cluster(), &crate::checked::options(m))
        .unwrap()
        .run()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("mf", name)
}

/// `replsim run <model> --out <dir>/out <extra>`: (exit code, stdout, stderr).
fn cli(dir: &Path, model: &Path, extra: &[&str]) -> (i32, String, String) {
    crate::checked::outcome(
        crate::checked::replsim()
            .arg("run")
            .arg(model)
            .arg("--out")
            .arg(dir.join("out"))
            .args(extra),
    )
}

/// The primary's `master_repl_offset` samples `(t, offset)`.
fn offsets(r: &RunResult) -> Vec<(f64, u64)> {
    r.samples
        .iter()
        .filter(|s| s.node == "primary")
        .map(|s| (s.t_s, s.master_repl_offset))
        .collect()
}

fn at(r: &RunResult, pred: impl Fn(&Event) -> bool) -> f64 {
    r.journal
        .first(pred)
        .map(SimTime::as_secs_f64)
        .expect("the event")
}

// ------------------------------------------------------------ valkey.conf directives

#[test]
fn real_directives_without_a_knob_are_ignored_with_a_warning_and_change_nothing() {
    let plain = parse(BASE, &[]);
    let with = parse(
        BASE,
        &[
            set("nodes.primary.config.activerehashing", "no"),
            set("nodes.primary.config.appendonly", "yes"),
            set("nodes.primary.config.maxmemory-policy", "allkeys-lru"),
            set("nodes.replica.config.log-timestamp-format", "iso8601"),
            set("nodes.replica.config.port", "6380"),
        ],
    );
    let ignored: Vec<&str> = with.nodes[0]
        .ignored_directives
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        ignored,
        ["activerehashing", "appendonly", "maxmemory-policy"]
    );
    let (a, b) = (run(&plain), run(&with));
    assert_eq!(a.record.trace_hash, b.record.trace_hash);
    assert!(a.record.warnings.is_empty(), "{:?}", a.record.warnings);
    assert_eq!(b.record.warnings.len(), 5, "{:?}", b.record.warnings);
    assert!(
        b.record
            .warnings
            .iter()
            .any(|w| w.starts_with("nodes.replica.config.port:"))
    );
    // The resolved model keeps them and reads back to the same model.
    let again = parse(&with.to_toml(), &[]);
    assert_eq!(again, with);
}

#[test]
fn a_name_that_is_no_valkey_directive_is_still_an_error_with_a_suggestion() {
    let dir = scratch("not-a-directive");
    let model = dir.join("m.toml");
    std::fs::write(
        &model,
        BASE.replace(
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nappendonlx = \"no\"",
        ),
    )
    .unwrap();
    let (code, _, err) = cli(&dir, &model, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("m.toml"), "{err}");
    assert!(err.contains("appendonlx"), "{err}");
    assert!(err.contains("did you mean `appendonly`"), "{err}");
    assert!(!dir.join("out").exists());
}

// ------------------------------------------------------------------------ warnings

#[test]
fn actions_that_never_fire_and_loads_at_a_replica_are_warnings_not_errors() {
    let text = format!(
        "{BASE}
[[workloads]]
name = \"misdirected\"
target = \"replica\"
pattern = \"constant\"
ops-per-sec = 10

[[actions]]
name = \"late\"
do = \"mark\"
at = \"30s\"

[[actions]]
name = \"after-late\"
do = \"mark\"
after = \"late\"

[[actions]]
name = \"a\"
do = \"mark\"
after = \"b\"

[[actions]]
name = \"b\"
do = \"mark\"
after = \"a\"

[[actions]]
name = \"hangs-on-cycle\"
do = \"mark\"
after = \"a\"

[[actions]]
name = \"fine\"
do = \"mark\"
at = \"19s\"
"
    );
    let m = parse(&text, &[]);
    let w = m.warnings();
    let about = |prefix: &str| w.iter().filter(|s| s.starts_with(prefix)).count();
    assert_eq!(about("actions.late:"), 1, "{w:#?}");
    assert!(
        w.iter()
            .any(|s| s.starts_with("actions.late:") && s.contains("after the horizon"))
    );
    assert_eq!(about("actions.after-late:"), 1, "{w:#?}");
    assert!(
        w.iter()
            .any(|s| s.starts_with("actions.a:") && s.contains("a -> b -> a"))
    );
    assert!(
        w.iter()
            .any(|s| s.starts_with("actions.b:") && s.contains("b -> a -> b"))
    );
    assert_eq!(about("actions.hangs-on-cycle:"), 1, "{w:#?}");
    assert_eq!(about("actions.fine:"), 0, "{w:#?}");
    assert_eq!(about("workloads.misdirected:"), 1, "{w:#?}");
    assert_eq!(w.len(), 6, "{w:#?}");
    let r = run(&m);
    assert_eq!(r.record.warnings, w);
    assert!(r.record.marks.contains_key("fine"));
    assert!(!r.record.marks.contains_key("late"));

    // On the command line: exit 0, each on stderr, and in --json.
    let dir = scratch("warnings");
    let model = dir.join("w.toml");
    std::fs::write(&model, &text).unwrap();
    let (code, out, err) = cli(&dir, &model, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let warned = err
        .lines()
        .filter(|l| {
            l.starts_with("replsim: warning: actions.")
                || l.starts_with("replsim: warning: workloads.")
        })
        .count();
    assert_eq!(warned, 6, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 6);
    let summary = std::fs::read_to_string(dir.join("out/summary.json")).unwrap();
    assert!(summary.contains("a -> b -> a"));
}

// ------------------------------------------------------ load start and byte budget

/// A constant load of `ops` SETs of 100-byte values with 16-byte keys: 144 stream bytes each.
fn load(extra: &str) -> String {
    format!(
        "{BASE}
[[workloads]]
name = \"app\"
pattern = \"constant\"
ops-per-sec = 1000
value-size = {{ dist = \"fixed\", size = \"100\" }}
{extra}
"
    )
}

const BYTES_PER_OP: f64 = 144.0;

#[test]
fn a_load_with_a_byte_budget_stops_at_budget_over_rate() {
    let m = parse(&load("start = \"1s\"\nmax-bytes = \"1mb\""), &[]);
    let budget = m.workloads[0].max_bytes.unwrap().bytes() as f64;
    let rate = 1000.0 * BYTES_PER_OP;
    assert_eq!(m.workloads[0].bytes_per_op(), BYTES_PER_OP);
    let stop = 1.0 + budget / rate;
    let r = run(&m);
    let series = offsets(&r);
    let (_, end) = *series.last().unwrap();
    // Everything else in the stream is a few PINGs.
    assert!(
        (end as f64) >= budget && (end as f64) < budget + 200.0,
        "{end} vs {budget}"
    );
    for &(t, off) in &series {
        if t <= stop - 0.1 {
            assert!((off as f64) < budget - 0.09 * rate, "t={t}: {off}");
        }
        if t >= stop + 0.1 {
            assert!((off as f64) >= budget, "t={t}: {off}");
        }
    }
    // A start-load after the budget is spent does not restart it.
    let text = load("start = \"1s\"\nmax-bytes = \"1mb\"")
        + "\n[[actions]]\ndo = \"start-load\"\nload = \"app\"\nat = \"15s\"\n";
    let again = run(&parse(&text, &[]));
    let (_, end2) = *offsets(&again).last().unwrap();
    assert!((end2 as f64) < budget + 200.0, "{end2}");
}

#[test]
fn an_on_action_load_writes_nothing_before_its_start_load() {
    let idle = run(&parse(&load("start = \"on-action\""), &[]));
    let (_, end) = *offsets(&idle).last().unwrap();
    assert!(end < 200, "no start-load, yet the stream grew to {end}");
    let text = load("start = \"on-action\"")
        + "\n[[actions]]\ndo = \"start-load\"\nload = \"app\"\nat = \"5s\"\n";
    let r = run(&parse(&text, &[]));
    let series = offsets(&r);
    let rate = 1000.0 * BYTES_PER_OP;
    for &(t, off) in &series {
        if t < 5.0 {
            assert!(off < 200, "t={t}: {off}");
        }
    }
    let (t_end, end) = *series.last().unwrap();
    let expected = rate * (t_end - 5.0);
    assert!(
        ((end as f64) - expected).abs() < 0.01 * expected,
        "{end} vs {expected}"
    );
}

#[test]
fn bad_load_starts_and_budgets_exit_2_naming_file_and_key() {
    let dir = scratch("bad-load");
    for (extra, needle) in [
        ("start = \"soon\"", "on-action"),
        ("max-bytes = \"0\"", "max-bytes 0"),
        ("max-bytes = \"lots\"", "max-bytes"),
        ("start = \"5s\"\nstop = \"2s\"", "before start"),
    ] {
        let model = dir.join("load.toml");
        std::fs::write(&model, load(extra)).unwrap();
        let (code, _, err) = cli(&dir, &model, &[]);
        assert_eq!(code, 2, "{extra}: {err}");
        assert!(err.contains("load.toml"), "{extra}: {err}");
        assert!(err.contains(needle), "{extra}: {err}");
    }
}

// -------------------------------------------------------------- key populations

/// Two populations: 100 000 DEBUG POPULATE keys of 1000 B (compressing to 0.012) and 50 000
/// application keys of 200 B with 20-byte keys (incompressible).
const POPULATIONS: &str = r#"
[[dataset.populations]]
name = "debug"
keys = 100000
value-size = "1000"
compression-ratio = 0.012

[[dataset.populations]]
name = "app"
keys = 50000
value-size = "200"
key-bytes = 20
"#;

fn populations_model(perf: &str) -> String {
    BASE.replace(
        "[dataset]\nkeys = 1000\nvalue-size = \"100\"\n",
        POPULATIONS,
    )
    .replace(
        "[[nodes]]\nname = \"replica\"",
        &format!("[nodes.perf]\n{perf}\n\n[[nodes]]\nname = \"replica\""),
    )
    .replace("[[links]]", &format!("[nodes.perf]\n{perf}\n\n[[links]]"))
}

/// RDB bytes of the two populations by the model's formula (12 bytes of overhead a key, 200
/// fixed), computed here independently.
const EXPECTED_RDB: f64 =
    100_000.0 * (12.0 + 16.0 + 1000.0 * 0.012) + 50_000.0 * (12.0 + 20.0 + 200.0) + 200.0;

#[test]
fn rdb_size_and_key_count_sum_over_the_populations() {
    let m = parse(&populations_model(""), &[]);
    assert_eq!(m.dataset.keys, 150_000);
    assert_eq!(
        m.dataset.rdb_bytes_for(m.dataset.keys) as f64,
        EXPECTED_RDB.round()
    );
    assert_eq!(m.dataset.keys_in(EXPECTED_RDB as u64), 150_000);
    // The flat form is one population and reads back unchanged; the populations form too.
    let flat = parse(BASE, &[]);
    assert_eq!(flat.dataset.populations.len(), 1);
    assert!(
        flat.to_toml()
            .contains("keys = 1000\nvalue-size = \"100\"\n"),
        "{}",
        flat.to_toml()
    );
    assert_eq!(parse(&m.to_toml(), &[]), m);
    // Through a link of exactly 1 MB/s of payload, the transfer takes S / 1 MB/s.
    let slow = parse(
        &populations_model("rdb-save-rate = \"100gb/s\""),
        &[
            set("links.0.bandwidth", "8mbit"),
            set("links.0.framing-overhead", "false"),
            set("model.horizon", "60s"),
        ],
    );
    let r = run(&slow);
    let fork = at(&r, |e| matches!(e, Event::Fork { .. }));
    let done = at(&r, |e| matches!(e, Event::RdbTransferred { .. }));
    let expected = EXPECTED_RDB / 1e6;
    assert!(
        ((done - fork) - expected).abs() < 0.03 * expected,
        "{} vs {expected}",
        done - fork
    );
    let log = &r.logs.iter().find(|(n, _)| n == "replica").unwrap().1;
    assert!(log.contains("keys loaded: 150000"), "{log}");
}

#[test]
fn per_key_save_and_load_costs_count_every_population_and_populate() {
    let perf = "rdb-save-rate = \"100gb/s\"\nrdb-load-rate = \"100gb/s\"\n\
                rdb-save-per-key = \"10us\"\nrdb-load-per-key = \"20us\"";
    let m = parse(
        &populations_model(perf),
        &[
            set("links.0.bandwidth", "100gbit"),
            set("model.horizon", "30s"),
        ],
    );
    let r = run(&m);
    let fork = at(&r, |e| matches!(e, Event::Fork { .. }));
    let sent = at(&r, |e| matches!(e, Event::RdbTransferred { .. }));
    let loaded = at(&r, |e| matches!(e, Event::LoadDone { .. }));
    // 150 000 keys × 10 µs to save, × 20 µs to load (one population alone would be 1 s / 2 s).
    assert!(((sent - fork) - 1.5).abs() < 0.05, "save {}", sent - fork);
    assert!(
        ((loaded - sent) - 3.0).abs() < 0.1,
        "load {}",
        loaded - sent
    );

    // A populate before the replica connects adds its keys to the same count.
    let text = populations_model(perf)
        + "\n[[actions]]\ndo = \"populate\"\nnode = \"primary\"\nvalue = \"50000 100\"\nat = \"0s\"\n";
    let m = parse(
        &text,
        &[
            set("links.0.bandwidth", "100gbit"),
            set("model.horizon", "30s"),
            set("nodes.replica.replicaof-at", "1s"),
        ],
    );
    let r = run(&m);
    let fork = at(&r, |e| matches!(e, Event::Fork { .. }));
    let sent = at(&r, |e| matches!(e, Event::RdbTransferred { .. }));
    assert!(((sent - fork) - 2.0).abs() < 0.05, "save {}", sent - fork);
}

#[test]
fn bad_populations_exit_2_naming_file_and_key() {
    let dir = scratch("bad-populations");
    let both = BASE.replace(
        "[dataset]\nkeys = 1000\nvalue-size = \"100\"\n",
        &format!("[dataset]\nkeys = 1000\n{POPULATIONS}"),
    );
    let dup = BASE.replace(
        "[dataset]\nkeys = 1000\nvalue-size = \"100\"\n",
        &POPULATIONS.replace("\"app\"", "\"debug\""),
    );
    let ratio = BASE.replace(
        "[dataset]\nkeys = 1000\nvalue-size = \"100\"\n",
        &POPULATIONS.replace("0.012", "3.0"),
    );
    let missing = BASE.replace("value-size = \"100\"\n", "");
    let unknown = BASE.replace(
        "[dataset]\nkeys = 1000\nvalue-size = \"100\"\n",
        &POPULATIONS.replace("key-bytes = 20", "key-bytez = 20"),
    );
    for (text, needle) in [
        (both, "both keys and [[dataset.populations]]"),
        (dup, "\"debug\" is used by two populations"),
        (ratio, "populations[0].compression-ratio 3 is outside"),
        (missing, "missing: value-size"),
        (unknown, "did you mean `key-bytes`"),
    ] {
        let model = dir.join("pop.toml");
        std::fs::write(&model, &text).unwrap();
        let (code, _, err) = cli(&dir, &model, &[]);
        assert_eq!(code, 2, "{needle}: {err}");
        assert!(err.contains("pop.toml"), "{needle}: {err}");
        assert!(
            err.contains("dataset") || err.contains("key-bytez"),
            "{needle}: {err}"
        );
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

// ------------------------------------------------------------------------ include

#[test]
fn include_starts_from_another_file_and_overrides_it() {
    let dir = scratch("include");
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::write(dir.join("base/machine.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("case.toml"),
        "include = \"base/machine.toml\"\n[model]\nname = \"case\"\n\
         [[nodes]]\nname = \"replica\"\n[nodes.config]\nrepl-timeout = 5\n",
    )
    .unwrap();
    let m = load_model(&dir.join("case.toml"), &[]).unwrap();
    let direct = parse(
        BASE,
        &[
            set("model.name", "case"),
            set("nodes.replica.config.repl-timeout", "5"),
        ],
    );
    assert_eq!(m, direct);
    assert_eq!(m.nodes[1].role, replsim::valkey::NodeRole::Replica);
    // The resolved model is the merged one, with no include left.
    let resolved = m.to_toml();
    assert!(!resolved.contains("include"));
    assert_eq!(parse(&resolved, &[]), m);
    // Chains work, relative to each including file; `base` is the same key.
    std::fs::write(
        dir.join("base/chained.toml"),
        "base = \"machine.toml\"\n[model]\nseed = 9\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("top.toml"),
        "include = \"base/chained.toml\"\n[model]\nhorizon = \"7s\"\n",
    )
    .unwrap();
    let top = load_model(&dir.join("top.toml"), &[]).unwrap();
    assert_eq!(
        (top.model.seed, top.model.horizon.as_nanos()),
        (9, 7_000_000_000)
    );
}

#[test]
fn include_cycles_missing_files_and_bad_values_exit_2_naming_the_chain() {
    let dir = scratch("bad-include");
    std::fs::write(dir.join("a.toml"), "include = \"b.toml\"\n").unwrap();
    std::fs::write(dir.join("b.toml"), "include = \"a.toml\"\n").unwrap();
    std::fs::write(dir.join("m.toml"), "include = \"nowhere.toml\"\n").unwrap();
    std::fs::write(dir.join("n.toml"), "include = 3\n").unwrap();
    std::fs::write(
        dir.join("o.toml"),
        "include = \"a.toml\"\nbase = \"b.toml\"\n",
    )
    .unwrap();
    let cases = [
        (
            "a.toml",
            vec!["include cycle", "a.toml -> ", "b.toml -> ", "a.toml"],
        ),
        (
            "m.toml",
            vec!["m.toml: include: cannot read", "nowhere.toml"],
        ),
        ("n.toml", vec!["n.toml: include:", "not a file name"]),
        ("o.toml", vec!["o.toml: include:", "not both"]),
    ];
    for (file, needles) in cases {
        let (code, _, err) = cli(&dir, &dir.join(file), &[]);
        assert_eq!(code, 2, "{file}: {err}");
        for n in needles {
            assert!(err.contains(n), "{file}: {n}: {err}");
        }
    }
}

// ----------------------------------------------------------------- --set paths

#[test]
fn a_numeric_path_segment_indexes_an_array_like_brackets() {
    let a = parse(BASE, &[set("links.0.bandwidth", "10gbit")]);
    let b = parse(BASE, &[set("links[0].bandwidth", "10gbit")]);
    assert_eq!(a, b);
    assert_eq!(a.links[0].bandwidth.bytes_per_sec(), 1_250_000_000);
    let e = parse_model(BASE, "mf.toml", &[set("links.1.bandwidth", "10gbit")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("links.1") && e.contains("out of range"), "{e}");
}

#[test]
fn an_experiment_on_an_including_model_with_a_numeric_axis_path() {
    let dir = scratch("experiment");
    std::fs::write(dir.join("machine.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("case.toml"),
        "include = \"machine.toml\"\n[model]\nname = \"case\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("exp.toml"),
        "[experiment]\nmodel = \"case.toml\"\nseeds = 1\n\
         [[axes]]\npath = \"links.0.bandwidth\"\nvalues = [\"100mbit\", \"10gbit\"]\n",
    )
    .unwrap();
    let plan = replsim::experiment::Plan::load(&dir.join("exp.toml")).unwrap();
    plan.validate().unwrap();
    let rates: Vec<u64> = (0..plan.runs())
        .map(|i| {
            plan.model_for(&plan.run(i)).unwrap().links[0]
                .bandwidth
                .bytes_per_sec()
        })
        .collect();
    assert_eq!(rates, [12_500_000, 1_250_000_000]);
    assert_eq!(plan.model_for(&plan.run(0)).unwrap().model.name, "case");
}

#[test]
fn an_including_dataset_in_the_other_form_replaces_the_base_sizes() {
    let dir = scratch("include-dataset");
    std::fs::write(dir.join("machine.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("case.toml"),
        format!("include = \"machine.toml\"\n{POPULATIONS}"),
    )
    .unwrap();
    let m = load_model(&dir.join("case.toml"), &[]).unwrap();
    assert_eq!(m.dataset.populations.len(), 2);
    assert_eq!(m.dataset.keys, 150_000);
    std::fs::write(
        dir.join("back.toml"),
        "include = \"case.toml\"\n[dataset]\nkeys = 7\nvalue-size = \"10\"\n",
    )
    .unwrap();
    let back = load_model(&dir.join("back.toml"), &[]).unwrap();
    assert_eq!((back.dataset.populations.len(), back.dataset.keys), (1, 7));
}
