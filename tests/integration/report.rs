//! Charts and HTML reports: every chart kind renders from a small fixture, as well-formed SVG and
//! a PNG of the same size; titles, legends and phase-diagram cells say what the fixture holds;
//! drawing twice (or from rows in another order) gives the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use replsim::cli::plot::{PlotArgs, run as plot};
use replsim::report::{self, DirKind, style};

/// A fresh, empty directory for one test, removed when the test ends.
fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("replsim-report-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    Scratch(dir)
}

struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Parses an SVG file, checks it is well-formed XML, returns (width, height, all text).
fn read_svg(path: &Path) -> (u32, u32, String) {
    let text = fs::read_to_string(path).expect("read svg");
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let dim = |a: &str| -> u32 {
        root.attribute(a)
            .and_then(|v| v.parse().ok())
            .expect("svg size")
    };
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    // Wrapped lines are separate <text> elements: join them with single spaces.
    let joined = texts
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (dim("width"), dim("height"), joined)
}

/// Decodes a PNG, returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        fs::File::open(path).expect("open png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png buffer size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    (info.width, info.height)
}

/// SVG and PNG of `stem` exist, parse, have the same size; returns the SVG's text.
fn check_chart(dir: &Path, stem: &str) -> String {
    let (w, h, text) = read_svg(&dir.join(format!("{stem}.svg")));
    assert_eq!(png_size(&dir.join(format!("{stem}.png"))), (w, h), "{stem}");
    assert!(w >= 800 && h >= 500, "{stem}: {w}x{h}");
    text
}

// ---------------------------------------------------------------- run directory fixture

/// A run directory: the dual worked example as model, 12 s of samples in which the COB ramps
/// to the hard limit at 8 s, and a journal with the key events.
fn run_fixture(name: &str) -> Scratch {
    let dir = scratch(name);
    let model = fs::read_to_string(repo_file("models/worked-example-dual.toml")).expect("model");
    fs::write(dir.join("model.resolved.toml"), model).expect("write model");
    let mut csv = String::from(
        "t_s,node,role,master_repl_offset,repl_backlog_first_byte_offset,repl_backlog_histlen,\
         mem_total_replication_buffers,replica_omem,rdb_channel_omem,replicas_waiting_psync,\
         connected_slaves,sync_full,sync_partial_ok,sync_partial_err,\
         client_output_buffer_limit_disconnections,master_link_up,master_sync_in_progress,loading,\
         slave_repl_offset,resume_offset,replicas_repl_buffer_size,rdb_bytes_read,stream_bytes_read\n",
    );
    for k in 0..=24u64 {
        let t = k as f64 * 0.5;
        let master = k * 16_000_000;
        let omem = if k <= 16 { k * 16_000_000 } else { 0 };
        let histlen = omem.max(10_000_000).min(master);
        let first = master + 1 - histlen;
        csv.push_str(&format!(
            "{t},primary,master,{master},{first},{histlen},{omem},{omem},{},0,1,1,0,0,0,false,false,false,0,0,0,0,0\n",
            omem / 10
        ));
        let rdb = (k * 50_000_000).min(600_000_000);
        csv.push_str(&format!(
            "{t},replica,slave,0,0,0,0,0,0,0,0,0,0,0,0,false,true,false,0,1,{},{rdb},{}\n",
            k * 8_000_000,
            k * 1_000_000
        ));
    }
    fs::write(dir.join("timeline.csv"), csv).expect("write csv");
    let ev = |t_s: f64, body: &str| format!("[{}, {body}]", (t_s * 1e9) as u64);
    let events = [
        ev(0.0, r#"{"event": "full_sync_started", "replica": 1}"#),
        ev(0.0, r#"{"event": "fork", "offset": 0}"#),
        ev(
            0.001,
            r#"{"event": "psync_accepted", "replica": 1, "dual_main": true}"#,
        ),
        ev(6.0, r#"{"event": "rdb_transferred", "replica": 1}"#),
        ev(
            8.0,
            r#"{"event": "cob_disconnect", "replica": 1, "kind": "main_channel", "limit": "primary_cob_hard", "omem": 256000000}"#,
        ),
        ev(8.0, r#"{"event": "backlog_exhausted", "replica": 1}"#),
        ev(10.0, r#"{"event": "full_sync_started", "replica": 1}"#),
        ev(10.0, r#"{"event": "fork", "offset": 160000000}"#),
    ];
    fs::write(
        dir.join("journal.json"),
        format!("{{\"events\": [{}]}}", events.join(",\n")),
    )
    .expect("write journal");
    fs::write(
        dir.join("summary.json"),
        r#"{"outcome": "full_resync_loop", "first_limit": "primary_cob_hard", "seed": 7,
            "t_cob_overflow_s": 8.0, "cob_before_backlog": true, "full_syncs": 2}"#,
    )
    .expect("write summary");
    dir
}

#[test]
fn run_timeline_renders_with_titles_limits_and_event_labels() {
    let dir = run_fixture("timeline");
    assert_eq!(report::detect(&dir), Some(DirKind::Run));
    let written = report::draw_run(&dir).expect("draw run");
    assert_eq!(written.len(), 3);
    let text = check_chart(&dir, "timeline");
    for expected in [
        "worked-example-dual — seed 7 — run timeline",
        "dual-channel full sync",
        "outcome full_resync_loop",
        "Primary: client output buffer (COB) per replica client",
        "Backlog: PSYNC window vs how far the replica is behind",
        "Replica: local replication buffer (dual channel)",
        "Replica: bytes read per channel",
        "hard limit 244 MiB",
        "soft limit 61 MiB for 60 s",
        "PSYNC window (repl_backlog_histlen)",
        "COB hard limit",
        "backlog out",
        "RDB sent",
        "$ENDOFF, PSYNC ok",
        "full sync #2 (fork)",
        "seconds since REPLICAOF",
    ] {
        assert!(
            text.contains(expected),
            "timeline lacks {expected:?}:\n{text}"
        );
    }
    let html = fs::read_to_string(dir.join("index.html")).expect("index");
    assert!(html.contains("<img src=\"timeline.svg\""));
    assert!(html.contains("full_resync_loop"));
}

/// A full-resync loop of 34 cycles (the default model makes as many in 10 minutes): the first
/// cycle is labelled in words, the later ones are ticks counted next to the strip, so no label is
/// printed over another.
#[test]
fn a_long_resync_loop_labels_its_first_cycle_and_counts_the_rest() {
    let dir = run_fixture("timeline-loop");
    let ev = |t_s: f64, body: &str| format!("[{}, {body}]", (t_s * 1e9) as u64);
    let mut events = vec![
        ev(0.0, r#"{"event": "full_sync_started", "replica": 1}"#),
        ev(0.0, r#"{"event": "fork", "offset": 0}"#),
    ];
    for k in 1..34 {
        let t = 0.3 + 0.35 * f64::from(k);
        events.push(ev(
            t,
            r#"{"event": "cob_disconnect", "replica": 1, "kind": "replica", "limit": "primary_cob_hard", "omem": 256000000}"#,
        ));
        events.push(ev(t, r#"{"event": "backlog_exhausted", "replica": 1}"#));
        events.push(ev(t, r#"{"event": "full_sync_started", "replica": 1}"#));
        events.push(ev(t, r#"{"event": "fork", "offset": 0}"#));
    }
    fs::write(
        dir.join("journal.json"),
        format!("{{\"events\": [{}]}}", events.join(",\n")),
    )
    .expect("write journal");
    report::draw_run(&dir).expect("draw run");
    let text = check_chart(&dir, "timeline");
    assert!(
        text.contains("COB hard limit, backlog out, full sync #2 (fork)"),
        "{text}"
    );
    assert_eq!(text.matches("full sync #").count(), 1, "{text}");
    assert!(
        text.contains("×33 COB hard limit, backlog out, full sync (fork)"),
        "{text}"
    );
    assert!(!text.contains("unlabelled"), "{text}");
}

#[test]
fn plot_regenerates_a_run_directory_byte_for_byte() {
    let dir = run_fixture("replot");
    let args = || PlotArgs {
        inputs: vec![dir.clone()],
    };
    plot(args()).expect("first plot");
    let first: Vec<Vec<u8>> = ["timeline.svg", "timeline.png", "index.html"]
        .iter()
        .map(|f| fs::read(dir.join(f)).expect("read"))
        .collect();
    plot(args()).expect("second plot");
    for (f, bytes) in ["timeline.svg", "timeline.png", "index.html"]
        .iter()
        .zip(first)
    {
        assert_eq!(fs::read(dir.join(f)).expect("read"), bytes, "{f} changed");
    }
}

#[test]
fn plot_refuses_a_directory_without_results() {
    let dir = scratch("empty");
    let err = plot(PlotArgs {
        inputs: vec![dir.clone()],
    })
    .expect_err("empty dir");
    assert_eq!(err.code, replsim::cli::EXIT_BAD_INPUT);
    assert!(
        err.message.contains("not a run directory"),
        "{}",
        err.message
    );
}

// ---------------------------------------------------------------- sweep directory fixture

const X: &str = "workloads.writer.ops-per-sec";
const Y: &str = "nodes.primary.config.client-output-buffer-limit";
const XS: [&str; 5] = ["2000", "4000", "8000", "16000", "32000"];
const YS: [&str; 4] = ["64m 0 0", "128m 0 0", "256m 0 0", "512m 0 0"];

/// The fixture's outcome for cell (i, j), seed s: overflow above the diagonal; cell (2, 2)
/// disagrees over seeds (2 of 3 loop); cell (0, 3) times out once.
fn outcome(i: usize, j: usize, s: usize) -> &'static str {
    match (i, j, s) {
        (2, 2, 0) => "clean_sync",
        (2, 2, _) => "full_resync_loop",
        (0, 3, 1) => "timeout",
        _ if i > j => "full_resync_loop",
        _ if i == j => "overflow_partial_resync",
        _ => "clean_sync",
    }
}

/// The most common outcome of a cell in the fixture.
fn dominant(i: usize, j: usize) -> &'static str {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in 0..3 {
        *counts.entry(outcome(i, j, s)).or_default() += 1;
    }
    let best = counts.values().copied().max().unwrap_or(0);
    style::OUTCOMES
        .iter()
        .copied()
        .find(|o| counts.get(o) == Some(&best))
        .unwrap_or("")
}

/// A 5 × 4 grid × 3 seeds results.csv, rows in the given order.
fn results_csv(reverse: bool) -> String {
    let mut rows = Vec::new();
    for (i, x) in XS.iter().enumerate() {
        for (j, y) in YS.iter().enumerate() {
            for s in 0..3 {
                let o = outcome(i, j, s);
                let overflow = o != "clean_sync" && o != "timeout";
                let t = if overflow {
                    format!("{}", 5.0 + (j * 10 + s) as f64 / (i + 1) as f64)
                } else {
                    String::new()
                };
                rows.push(format!(
                    "{x},{y},{o},{},{},{t},{overflow},{},180.0",
                    if overflow { "primary_cob_hard" } else { "none" },
                    !overflow,
                    s + 1
                ));
            }
        }
    }
    if reverse {
        rows.reverse();
    }
    format!(
        "{X},{Y},outcome,first_limit,in_sync_at_end,t_cob_overflow_s,cob_before_backlog,seed,sim_seconds\n{}\n",
        rows.join("\n")
    )
}

fn sweep_fixture(name: &str, reverse: bool) -> Scratch {
    let dir = scratch(name);
    fs::write(dir.join("results.csv"), results_csv(reverse)).expect("write results");
    let model = repo_file("models/worked-example-classic.toml");
    fs::write(
        dir.join("experiment.resolved.toml"),
        format!(
            "name = \"fixture-grid\"\nmodel = {:?}\n\n[plot]\nphase = {{ x = \"{X}\", y = \"{Y}\" }}\n\
             probability = {{ x = \"{X}\" }}\n",
            model.display().to_string()
        ),
    )
    .expect("write experiment");
    fs::create_dir_all(dir.join("bundles")).expect("bundles dir");
    fs::write(
        dir.join("bundles/run-10.json"),
        r#"{"outcome": "timeout", "seed": 2}"#,
    )
    .expect("write bundle");
    fs::write(
        dir.join("bundles/run-9.json"),
        r#"{"outcome": "full_resync_loop", "seed": 1}"#,
    )
    .expect("write bundle");
    dir
}

/// The phase diagram's cells: filled rects wider than the legend swatches, by (x, y) position.
fn phase_cells(svg: &str) -> BTreeMap<(usize, usize), String> {
    let doc = roxmltree::Document::parse(svg).expect("svg");
    let num = |n: &roxmltree::Node, a: &str| -> i64 {
        n.attribute(a).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let rects: Vec<(i64, i64, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| num(n, "width") >= 30 && num(n, "width") < 1000)
        .filter_map(|n| {
            let fill = n.attribute("fill")?;
            (fill != "none" && fill != "#FFFFFF")
                .then(|| (num(&n, "x"), num(&n, "y"), fill.to_string()))
        })
        .collect();
    let mut xs: Vec<i64> = rects.iter().map(|r| r.0).collect();
    let mut ys: Vec<i64> = rects.iter().map(|r| r.1).collect();
    xs.sort();
    xs.dedup();
    ys.sort();
    ys.dedup();
    ys.reverse(); // the first y value is drawn at the bottom
    rects
        .into_iter()
        .map(|(x, y, fill)| {
            let i = xs.iter().position(|v| *v == x).unwrap_or(usize::MAX);
            let j = ys.iter().position(|v| *v == y).unwrap_or(usize::MAX);
            ((i, j), fill)
        })
        .collect()
}

#[test]
fn sweep_report_draws_every_chart_and_the_page() {
    let dir = sweep_fixture("sweep", false);
    assert_eq!(report::detect(&dir), Some(DirKind::Sweep));
    let written = report::draw_sweep(&dir).expect("draw sweep");
    assert_eq!(written.len(), 9, "{written:?}");

    let phase = check_chart(&dir, "phase-outcome");
    for expected in [
        "worked-example-classic — fixture-grid — outcome",
        "Outcome (most common over seeds)",
        "clean_sync (",
        "full_resync_loop (",
        "overflow_partial_resync (",
        "closed form (classic, §7.4)",
        X,
        Y,
        "2/3",
    ] {
        assert!(
            phase.contains(expected),
            "phase diagram lacks {expected:?}:\n{phase}"
        );
    }
    let probability = check_chart(&dir, "phase-cob-first");
    assert!(probability.contains("Fraction of seeds where the COB"));
    let prob = check_chart(&dir, "probability");
    for expected in [
        "P(clean_sync)",
        "P(full_resync_loop)",
        "P(timeout)",
        "P(cob_before_backlog)",
    ] {
        assert!(
            prob.contains(expected),
            "probability chart lacks {expected:?}"
        );
    }
    let cdf = check_chart(&dir, "cdf-cob-overflow");
    assert!(cdf.contains("time to the first COB disconnect"));
    assert!(
        cdf.contains(&format!("{X} = 32000 (12 of 12 runs)")),
        "{cdf}"
    );

    let html = fs::read_to_string(dir.join("index.html")).expect("index");
    for expected in [
        "<img src=\"phase-outcome.svg\"",
        "<img src=\"phase-cob-first.svg\"",
        "<img src=\"probability.svg\"",
        "<img src=\"cdf-cob-overflow.svg\"",
        "<a href=\"bundles/run-9.json\">",
        "replsim replay bundles/run-10.json",
        "replsim explain bundles/run-10.json",
        "fixture-grid",
    ] {
        assert!(html.contains(expected), "index.html lacks {expected:?}");
    }
    assert!(
        html.find("run-9.json").unwrap_or(usize::MAX) < html.find("run-10.json").unwrap_or(0),
        "bundles sort naturally"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "page fetches nothing"
    );
}

#[test]
fn phase_diagram_cells_have_the_colour_of_their_outcome() {
    let dir = sweep_fixture("cells", false);
    report::draw_sweep(&dir).expect("draw sweep");
    let svg = fs::read_to_string(dir.join("phase-outcome.svg")).expect("svg");
    let cells = phase_cells(&svg);
    assert_eq!(cells.len(), XS.len() * YS.len());
    for i in 0..XS.len() {
        for j in 0..YS.len() {
            let want = style::hex(style::outcome_colour(dominant(i, j)));
            assert_eq!(cells.get(&(i, j)), Some(&want), "cell ({i}, {j})");
        }
    }
}

#[test]
fn charts_do_not_depend_on_row_order_or_on_being_drawn_twice() {
    let a = sweep_fixture("order-a", false);
    let b = sweep_fixture("order-b", true);
    report::draw_sweep(&a).expect("draw a");
    report::draw_sweep(&b).expect("draw b");
    let first: Vec<Vec<u8>> = [
        "phase-outcome.svg",
        "phase-outcome.png",
        "probability.svg",
        "cdf-cob-overflow.png",
    ]
    .iter()
    .map(|f| fs::read(a.join(f)).expect("read"))
    .collect();
    plot(PlotArgs {
        inputs: vec![a.clone()],
    })
    .expect("replot");
    for (f, bytes) in [
        "phase-outcome.svg",
        "phase-outcome.png",
        "probability.svg",
        "cdf-cob-overflow.png",
    ]
    .iter()
    .zip(first)
    {
        assert_eq!(
            fs::read(a.join(f)).expect("read"),
            bytes,
            "{f} changed on replot"
        );
        assert_eq!(
            fs::read(b.join(f)).expect("read"),
            bytes,
            "{f} depends on row order"
        );
    }
}

#[test]
fn a_sweep_with_missing_columns_skips_charts_with_notes() {
    let dir = scratch("sparse");
    fs::write(
        dir.join("results.jsonl"),
        "{\"links[0].latency\": \"1ms\", \"outcome\": \"clean_sync\"}\n\
         {\"links[0].latency\": \"5ms\", \"outcome\": \"timeout\"}\n",
    )
    .expect("write jsonl");
    let written = report::draw_sweep(&dir).expect("draw sparse sweep");
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(names.contains(&"probability.svg".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("phase")), "{names:?}");
    let html = fs::read_to_string(dir.join("index.html")).expect("index");
    assert!(html.contains("no phase diagram"), "{html}");
    assert!(html.contains("no column `t_cob_overflow_s`"), "{html}");
}

#[test]
fn overlay_is_skipped_with_a_note_when_an_axis_does_not_map() {
    let dir = sweep_fixture("nomap", false);
    let csv = results_csv(false).replacen(X, "model.max-events", 1);
    fs::write(dir.join("results.csv"), csv).expect("write results");
    fs::write(
        dir.join("experiment.resolved.toml"),
        format!(
            "name = \"nomap\"\nmodel = {:?}\n[plot]\nphase = {{ x = \"model.max-events\", y = \"{Y}\" }}\n",
            repo_file("models/worked-example-classic.toml").display().to_string()
        ),
    )
    .expect("write experiment");
    report::draw_sweep(&dir).expect("draw");
    let text = check_chart(&dir, "phase-outcome");
    assert!(
        text.contains("axis `model.max-events` changes no closed-form parameter"),
        "{text}"
    );
}
