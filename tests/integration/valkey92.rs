//! Valkey 9.2's mechanisms (modelled from valkey-versions.md, not validated on a real server):
//! write throttling, replication compression, and the refusal of what is not modelled. Each
//! shows the same model under two releases (or two settings) with two outcomes, for the reason
//! the mechanism gives.

use replsim::experiment::compare;
use replsim::scenario::{Override, parse_model};
use replsim::valkey::{Cluster, Event, InfoSample, Limit, Release, RunResult, info_field};

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.into(),
        value: value.into(),
    }
}

fn run(text: &str, overrides: &[Override]) -> RunResult {
    let m = parse_model(text, "test.toml", overrides).unwrap_or_else(|e| panic!("{e}"));
    Cluster::build(&m.cluster(), &crate::checked::options(&m))
        .expect("build")
        .run()
        .expect("run")
}

fn primary_samples(r: &RunResult) -> Vec<&InfoSample> {
    r.samples.iter().filter(|s| s.node == "primary").collect()
}

fn field(s: &InfoSample, name: &str) -> f64 {
    info_field(s, name).unwrap_or_else(|| panic!("no INFO field {name}"))
}

/// The bundled throttling model without its `repl-throttling-enabled` line, so that every
/// release reads it; the tests switch throttling on with an override.
fn throttling_base() -> String {
    std::fs::read_to_string("models/valkey92-throttling.toml")
        .unwrap()
        .replace("repl-throttling-enabled = \"yes\"", "")
}

const THROTTLE_ON: &str = "nodes.primary.config.repl-throttling-enabled";
/// The bundled model's writer: 14000 SETs/s from 30 s to 150 s.
const WRITES_FROM_S: f64 = 30.0;
const WRITES_UNTIL_S: f64 = 150.0;

#[test]
fn valkey_9_1_drops_the_online_replica_on_the_soft_limit_where_9_2_throttles_the_writers() {
    let text = throttling_base();
    let old = run(&text, &[set("model.server", "valkey-9.1")]);
    let new = run(
        &text,
        &[set("model.server", "valkey-9.2"), set(THROTTLE_ON, "yes")],
    );
    // 9.1: the replica was online, then its buffer stayed above the 64mb soft limit for 60 s.
    let online = old
        .journal
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::Online { .. }))
        .map(|(t, _)| *t)
        .expect("online");
    let (t_drop, limit, omem) = old
        .journal
        .events
        .iter()
        .find_map(|(t, e)| match e {
            Event::CobDisconnect { limit, omem, .. } => Some((*t, *limit, *omem)),
            _ => None,
        })
        .expect("9.1 drops the replica");
    assert!(t_drop > online);
    assert_eq!(limit, Limit::PrimaryCobSoft);
    assert!(omem >= 64 << 20, "{omem}");
    assert!(old.record.full_syncs >= 2);
    // 9.2: no disconnect, one full sync, in sync at the end, the buffer kept under the soft
    // limit (near the 32mb target).
    let r = &new.record;
    assert_eq!(r.cob_disconnections, 0);
    assert_eq!(r.full_syncs, 1);
    assert!(r.in_sync_at_end);
    assert_eq!(r.server, Release::Valkey92);
    let peak = primary_samples(&new)
        .iter()
        .map(|s| s.replica_omem)
        .max()
        .unwrap();
    assert!(peak < 64 << 20 && peak > 16 << 20, "{peak}");
    // Delayed, not refused: every byte the writer offered reached the stream in both runs.
    let last = |r: &RunResult| primary_samples(r).last().unwrap().master_repl_offset;
    assert!(
        last(&old).abs_diff(last(&new)) < 1024,
        "{} vs {}",
        last(&old),
        last(&new)
    );
}

#[test]
fn the_throttle_info_fields_move_as_specified() {
    let new = run(
        &throttling_base(),
        &[set("model.server", "valkey-9.2"), set(THROTTLE_ON, "yes")],
    );
    let samples = primary_samples(&new);
    let offered = {
        // The stream rate before throttling starts: the writer's bytes per second.
        let a = samples
            .iter()
            .find(|s| s.t_s >= WRITES_FROM_S + 1.0)
            .unwrap();
        let b = samples
            .iter()
            .find(|s| s.t_s >= WRITES_FROM_S + 3.0)
            .unwrap();
        (b.master_repl_offset - a.master_repl_offset) as f64 / (b.t_s - a.t_s)
    };
    let before = samples.iter().find(|s| s.t_s >= WRITES_FROM_S).unwrap();
    assert_eq!(field(before, "repl_throttle_activation_events"), 0.0);
    assert_eq!(field(before, "repl_throttle_rate"), 0.0);
    let during: Vec<&&InfoSample> = samples
        .iter()
        .filter(|s| s.t_s > WRITES_FROM_S + 10.0 && s.t_s < WRITES_UNTIL_S)
        .collect();
    // Throttled all along: a finite rate, on average the link's payload rate (below the offer).
    assert!(during.iter().all(|s| field(s, "repl_throttle_rate") > 0.0));
    let mean = during
        .iter()
        .map(|s| field(s, "repl_throttle_rate"))
        .sum::<f64>()
        / during.len() as f64;
    let link = 12_500_000.0 * 1448.0 / 1514.0;
    assert!(mean < offered, "{mean} vs {offered}");
    assert!((mean - link).abs() < 0.15 * link, "{mean} vs {link}");
    // The counters only grow; one activation.
    for w in samples.windows(2) {
        for f in [
            "repl_throttle_activation_events",
            "repl_throttle_below_guardrail_secs",
            "repl_throttle_total_commands",
        ] {
            assert!(field(w[1], f) >= field(w[0], f), "{f}");
        }
    }
    let end = samples.last().unwrap();
    assert_eq!(field(end, "repl_throttle_activation_events"), 1.0);
    // Writes were delayed for most of the throttled span (and past the writer's stop, while
    // the queue drained), and throttling is over at the end.
    let delayed = field(end, "repl_throttle_below_guardrail_secs");
    assert!(delayed > 60.0 && delayed < 200.0, "{delayed}");
    assert!(field(end, "repl_throttle_total_commands") > 0.0);
    assert_eq!(field(end, "repl_throttle_rate"), 0.0);
    // The fields are Valkey 9.2's: absent from another release's samples.
    let old = run(&throttling_base(), &[set("model.server", "valkey-9.1")]);
    assert!(info_field(&old.samples[0], "repl_throttle_rate").is_none());
}

#[test]
fn throttling_off_on_valkey_9_2_behaves_as_valkey_9_1() {
    let text = throttling_base();
    let a = run(&text, &[set("model.server", "valkey-9.1")]).record;
    let b = run(&text, &[set("model.server", "valkey-9.2")]).record;
    assert_eq!(a.outcome, b.outcome);
    assert_eq!(a.cob_disconnections, b.cob_disconnections);
    assert_eq!(a.t_cob_overflow_s, b.t_cob_overflow_s);
}

#[test]
fn compression_lets_a_sync_complete_that_loops_without_it_and_the_cob_counts_uncompressed_bytes() {
    let text = std::fs::read_to_string("models/valkey92-compression.toml").unwrap();
    let plain = run(&text, &[set("nodes.primary.config.repl-compression", "no")]);
    let lz4 = run(&text, &[]);
    assert_eq!(plain.record.outcome.as_str(), "full_resync_loop");
    assert_eq!(
        serde_json::to_value(plain.record.first_limit).unwrap(),
        "primary_cob_hard"
    );
    assert_eq!(lz4.record.outcome.as_str(), "clean_sync");
    assert_eq!(lz4.record.cob_disconnections, 0);
    // The RDB went on the wire at lz4's default ratio: its transfer took ~0.476 of the
    // uncompressed time on the same link.
    let (fork_t, fork_offset) = lz4
        .journal
        .events
        .iter()
        .find_map(|(t, e)| match e {
            Event::Fork { offset } => Some((t.as_secs_f64(), *offset)),
            _ => None,
        })
        .unwrap();
    let online_t = lz4
        .journal
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Online { .. }).then(|| t.as_secs_f64()))
        .unwrap();
    let m = parse_model(&text, "c", &[]).unwrap();
    let spec = m.cluster();
    let rdb = spec.dataset.rdb_bytes_for(spec.dataset.keys) as f64;
    let link = 12_500_000.0 * 1448.0 / 1514.0;
    let expected = rdb * 0.476 / link;
    let took = online_t - fork_t;
    assert!(
        (took - expected).abs() < 0.1 * expected,
        "{took} vs {expected}"
    );
    // The output buffer still counts uncompressed replication bytes: at its peak it holds all
    // the stream written since the fork, not 0.476 of it.
    let samples = primary_samples(&lz4);
    let offset_at = |t: f64| {
        samples
            .iter()
            .rfind(|s| s.t_s <= t)
            .map(|s| s.master_repl_offset)
            .unwrap()
    };
    let written = (offset_at(online_t) - fork_offset) as f64;
    let peak = samples.iter().map(|s| s.replica_omem).max().unwrap() as f64;
    assert!(peak > 0.9 * written, "{peak} vs {written}");
    assert!(peak < 256.0 * 1024.0 * 1024.0);
}

#[test]
fn compression_needs_both_sides_and_a_ratio_knob_changes_the_wire() {
    let text = std::fs::read_to_string("models/valkey92-compression.toml").unwrap();
    // The replica does not ask for it: the primary sends uncompressed, as without it.
    let one_side = run(&text, &[set("nodes.replica.config.repl-compression", "no")]).record;
    assert_eq!(one_side.outcome.as_str(), "full_resync_loop");
    // Data that does not compress: no gain.
    let incompressible = run(
        &text,
        &[set("nodes.primary.config.repl-compression-ratio", "1.0")],
    )
    .record;
    assert_eq!(incompressible.outcome.as_str(), "full_resync_loop");
}

#[test]
fn releases_without_the_configs_refuse_them_and_forkless_sync_stays_refused() {
    let text = throttling_base();
    let err = |overrides: &[Override]| {
        parse_model(&text, "m.toml", overrides)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{overrides:?} was accepted"))
    };
    let e = err(&[set("model.server", "valkey-9.1"), set(THROTTLE_ON, "yes")]);
    assert!(
        e.contains("valkey-9.1 has no repl-throttling-enabled") && e.contains("9.2"),
        "{e}"
    );
    let e = err(&[
        set("model.server", "redis-8.0"),
        set("nodes.primary.config.repl-compression", "zstd"),
    ]);
    assert!(e.contains("redis-8.0 has no repl-compression"), "{e}");
    assert!(e.contains("Redis 8.10"), "{e}");
    let e = err(&[
        set("model.server", "valkey-9.2"),
        set(
            "nodes.primary.config.forkless-infrastructure-enabled",
            "yes",
        ),
    ]);
    assert!(
        e.contains("forkless-infrastructure-enabled") && e.contains("not modelled"),
        "{e}"
    );
    assert!(e.contains("without a fork"), "{e}");
    let e = err(&[
        set("model.server", "valkey-9.2"),
        set("nodes.primary.config.repl-compression", "gzip"),
    ]);
    assert!(e.contains("repl-compression"), "{e}");
    let e = err(&[
        set("model.server", "valkey-9.2"),
        set("nodes.primary.config.repl-compression-ratio", "1.5"),
    ]);
    assert!(e.contains("outside (0, 1]"), "{e}");
    // On the command line: exit 2, the key named.
    let out = crate::checked::replsim()
        .args([
            "run",
            "models/valkey92-throttling.toml",
            "--set",
            "model.server=valkey-9.0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("repl-throttling-enabled"), "{stderr}");
}

#[test]
fn versions_shows_throttling_as_the_difference() {
    let text = std::fs::read_to_string("models/valkey92-throttling.toml").unwrap();
    let (own, rows) = compare(
        &text,
        "models/valkey92-throttling.toml",
        &[],
        &[Release::Valkey91, Release::Valkey92],
        1,
    )
    .unwrap();
    assert_eq!(own, Release::Valkey92);
    let (old, new) = (&rows[0], &rows[1]);
    assert!(old.not_applicable.is_none(), "{:?}", old.not_applicable);
    assert_eq!(old.outcome, "overflow_full_resync");
    assert_eq!(new.outcome, "clean_sync");
    assert!(!new.validated);
    let why = old.first_difference.as_deref().unwrap_or_default();
    assert!(why.starts_with("write throttling: off"), "{why}");
}

/// A replica that stops reading (SIGSTOP) at 40 s, while 15 MB/s of writes run over 1 GbE, with
/// a 20mb/10 s soft limit and a repl-timeout long enough to stay out of the way.
const STALL: &str = r#"
[model]
name = "stall"
horizon = "4m"
[dataset]
keys = 100000
value-size = "1kb"
[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
client-output-buffer-limit = "256mb 20mb 10"
repl-timeout = 300
[[nodes]]
name = "replica"
role = "replica"
[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"
latency = "200us"
[[workloads]]
name = "writer"
pattern = "constant"
ops-per-sec = 14000
value-size = { dist = "fixed", size = "1kb" }
start = "30s"
stop = "200s"
[[actions]]
name = "stop-replica"
do = "pause"
node = "replica"
at = "40s"
[[actions]]
name = "go-on"
do = "resume"
node = "replica"
at = "RESUME"
"#;

#[test]
fn a_throttled_replica_is_exempt_from_the_soft_limit_for_120_s_only() {
    let stall = |resume: &str, server: &str| {
        let mut o = vec![set("model.server", server)];
        if server == "valkey-9.2" {
            o.push(set(THROTTLE_ON, "yes"));
        }
        run(&STALL.replace("RESUME", resume), &o)
    };
    let soft_drop = |r: &RunResult| {
        r.journal.events.iter().find_map(|(t, e)| match e {
            Event::CobDisconnect { limit, .. } => {
                assert_eq!(*limit, Limit::PrimaryCobSoft);
                Some(t.as_secs_f64())
            }
            _ => None,
        })
    };
    let over_soft = |r: &RunResult| {
        primary_samples(r)
            .iter()
            .find(|s| s.replica_omem >= 20 << 20)
            .map(|s| s.t_s)
            .expect("the buffer passes the soft limit")
    };
    // Valkey 9.1: dropped once the soft limit has been exceeded for 10 s.
    let old = stall("100s", "valkey-9.1");
    let after = soft_drop(&old).expect("9.1 drops the stalled replica") - over_soft(&old);
    assert!((9.0..=12.0).contains(&after), "{after}");
    // Valkey 9.2: throttled and above target, exempt; a 60 s stall costs nothing.
    let short = stall("100s", "valkey-9.2");
    assert_eq!(soft_drop(&short), None);
    assert!(short.record.in_sync_at_end);
    // A 180 s stall: the exemption ends 120 s after the soft limit was exceeded.
    let long = stall("220s", "valkey-9.2");
    let after = soft_drop(&long).expect("the exemption ends") - over_soft(&long);
    assert!((119.0..=122.0).contains(&after), "{after}");
}
