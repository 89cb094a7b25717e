//! Dual-channel full sync where the link or the load is the bottleneck: how the RDB channel
//! ends, what a replica blocked in a load notices and when, a diskless load that outlives its
//! RDB channel, and the bio thread's download lines (valkey-model.md §4.5–§4.8, §10, §11).
//!
//! Each scenario checks the logs and offsets of its run as well as its outcome: how many full
//! syncs (were bytes sent twice?), which limit fired, and when.

use std::path::Path;

use crate::run_logs::{line_times, log_of};
use replsim::engine::SimTime;
use replsim::scenario::{Override, load_model, parse_model};
use replsim::valkey::{Cluster, Event, InfoSample, Limit, Outcome, RunResult};

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.to_string(),
        value: value.to_string(),
    }
}

fn run_file(rel: &str, overrides: &[Override]) -> RunResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let m = load_model(&path, overrides).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Cluster::build(&m.cluster(), &crate::checked::options(&m))
        .unwrap()
        .run()
        .unwrap()
}

fn run_text(text: &str) -> RunResult {
    let m = parse_model(text, "inline.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    Cluster::build(&m.cluster(), &crate::checked::options(&m))
        .unwrap()
        .run()
        .unwrap()
}

fn first_line(r: &RunResult, node: &str, text: &str) -> f64 {
    *line_times(r, node, text)
        .first()
        .unwrap_or_else(|| panic!("no {node} line with {text:?}"))
}

fn first(r: &RunResult, pred: impl Fn(&Event) -> bool) -> Option<f64> {
    r.journal.first(pred).map(SimTime::as_secs_f64)
}

fn samples<'a>(r: &'a RunResult, node: &str) -> Vec<&'a InfoSample> {
    r.samples.iter().filter(|s| s.node == node).collect()
}

/// Slope (bytes/s) of `field` between the samples nearest to `t0` and `t1`.
fn slope(s: &[&InfoSample], t0: f64, t1: f64, field: impl Fn(&InfoSample) -> u64) -> f64 {
    let at = |t: f64| {
        s.iter()
            .min_by(|a, b| (a.t_s - t).abs().total_cmp(&(b.t_s - t).abs()))
            .copied()
            .expect("samples")
    };
    let (a, b) = (at(t0), at(t1));
    (field(b) as f64 - field(a) as f64) / (b.t_s - a.t_s)
}

/// TCP payload of a line rate on 1500-byte Ethernet (the model's framing overhead).
fn payload_bps(line_bits: f64) -> f64 {
    line_bits / 8.0 * 1448.0 / 1514.0
}

const DUAL_ON: [(&str, &str); 2] = [
    (
        "nodes.primary.config.dual-channel-replication-enabled",
        "yes",
    ),
    (
        "nodes.replica.config.dual-channel-replication-enabled",
        "yes",
    ),
];

fn dual_default(extra: &[(&str, &str)]) -> RunResult {
    let overrides: Vec<Override> = DUAL_ON
        .iter()
        .chain(extra)
        .map(|(p, v)| set(p, v))
        .collect();
    run_file("models/default.toml", &overrides)
}

// ---------------------------------------------------------------- the RDB channel's end

/// Issue #13: the default model (5 GiB, 20 MB/s, 1 GbE) with dual-channel on and a COB that
/// holds completes its first sync. The replica's local buffer fills (its limit is the first
/// one crossed) and the primary holds the rest of the stream; the RDB channel is closed by the
/// primary while RDB bytes are still in the socket, and the replica reads them all.
#[test]
fn default_model_with_dual_channel_completes_on_1gbe_when_the_cob_holds() {
    let r = dual_default(&[
        (
            "nodes.primary.config.client-output-buffer-limit",
            "2gb 512mb 60",
        ),
        ("model.horizon", "100s"),
    ]);
    assert_eq!(r.record.outcome, Outcome::CleanSync);
    assert_eq!(r.record.full_syncs, 1, "the RDB went out once");
    assert_eq!(r.record.cob_disconnections, 0);
    assert_eq!(r.record.first_limit, Limit::ReplicaBuffer);
    assert!(r.record.in_sync_at_end);
    let replica = log_of(&r, "replica");
    assert!(!replica.contains("I/O error"), "{replica}");
    assert!(!replica.contains("Reconnecting"));
    // The primary closed the RDB channel before the replica had read its last byte.
    let closed = first_line(&r, "primary", "rdb channel disconnected");
    let arrived = first(&r, |e| matches!(e, Event::RdbTransferred { .. })).unwrap();
    assert!(arrived > closed, "closed {closed} arrived {arrived}");
    // Every RDB byte was read: the RDB is 5M keys of ~1 KiB.
    let rdb_read = samples(&r, "replica")
        .iter()
        .map(|s| s.rdb_bytes_read)
        .max()
        .unwrap();
    assert!(rdb_read > 5_000_000 * 1024, "read {rdb_read}");
}

/// 100 mbit, 3 MB/s of writes, a ~210 MB RDB: the main channel carries the write stream and
/// the RDB channel the rest of the link (max-min sharing, the main channel is sender-limited),
/// and the sync completes cleanly — as a real dual-channel sync over a shaped link does.
#[test]
fn dual_channel_on_100mbit_shares_the_link_and_completes() {
    let r = dual_default(&[
        ("dataset.keys", "200000"),
        ("links[0].bandwidth", "100mbit"),
        ("workloads.app.ops-per-sec", "2780"),
        ("model.horizon", "60s"),
    ]);
    assert_eq!(r.record.outcome, Outcome::CleanSync);
    assert_eq!(r.record.first_limit, Limit::None);
    assert_eq!(r.record.full_syncs, 1);
    assert!(r.record.in_sync_at_end);
    let fork = first(&r, |e| matches!(e, Event::Fork { .. })).unwrap();
    let arrived = first(&r, |e| matches!(e, Event::RdbTransferred { .. })).unwrap();
    let (t0, t1) = (fork + 2.0, arrived - 2.0);
    assert!(t1 - t0 > 10.0, "a long transfer: {fork} .. {arrived}");
    let w = slope(&samples(&r, "primary"), t0, t1, |s| s.master_repl_offset);
    let replica = samples(&r, "replica");
    let main = slope(&replica, t0, t1, |s| s.replicas_repl_buffer_size);
    let rdb = slope(&replica, t0, t1, |s| s.rdb_bytes_read);
    let b = payload_bps(100e6);
    assert!((w - 3.0e6).abs() < 0.1e6, "W = {w}");
    assert!((main - w).abs() < 0.03 * w, "main channel {main} vs W {w}");
    assert!(
        (rdb - (b - w)).abs() < 0.03 * (b - w),
        "RDB channel {rdb} vs B - W {}",
        b - w
    );
    // The RDB took S / (B - W) on the wire.
    let rdb_bytes = replica.iter().map(|s| s.rdb_bytes_read).max().unwrap() as f64;
    let expected = rdb_bytes / (b - w);
    assert!(
        ((arrived - fork) - expected).abs() < 0.03 * expected,
        "transfer {} s vs S/(B-W) {expected} s",
        arrived - fork
    );
}

/// The bytes in the RDB channel's socket buffers when the primary closes it reach the replica:
/// the replica reads on after the close for (unread bytes) / (its share of the link), at most
/// the send buffer plus the receive window (4 MiB + 3 MiB by default).
#[test]
fn a_closed_rdb_channel_delivers_what_is_still_in_its_socket_buffers() {
    let r = dual_default(&[
        ("dataset.keys", "200000"),
        ("links[0].bandwidth", "100mbit"),
        ("workloads.app.ops-per-sec", "2780"),
        ("model.horizon", "40s"),
    ]);
    let closed = first_line(&r, "primary", "rdb channel disconnected");
    let arrived = first(&r, |e| matches!(e, Event::RdbTransferred { .. })).unwrap();
    let w = slope(&samples(&r, "primary"), 10.0, 20.0, |s| {
        s.master_repl_offset
    });
    let after_close = (arrived - closed) * (payload_bps(100e6) - w);
    assert!(
        after_close > 1e6 && after_close <= (7 << 20) as f64 * 1.01,
        "read {after_close} bytes after the close ({closed} .. {arrived})"
    );
    assert!(!log_of(&r, "replica").contains("I/O error"));
    assert_eq!(r.record.full_syncs, 1);
}

// ---------------------------------------------------------------- diskless load

/// A dual-channel pair on a fast link whose replica loads slowly: `extra_replica` adds replica
/// config lines, `actions` a script.
fn slow_load_pair(keys: u64, load_rate: &str, extra_replica: &str, actions: &str) -> String {
    format!(
        r#"
[model]
name = "slow-load"
seed = 1
horizon = "30s"

[dataset]
keys = {keys}
value-size = "1kb"
compression-ratio = 1.0

[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync-delay = 0
dual-channel-replication-enabled = "yes"

[[nodes]]
name = "replica"
role = "replica"
replicaof-at = "100ms"
[nodes.config]
dual-channel-replication-enabled = "yes"
{extra_replica}
[nodes.perf]
rdb-load-rate = "{load_rate}"

[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"
latency = "100us"

[[workloads]]
name = "writes"
pattern = "constant"
ops-per-sec = 1000
value-size = {{ dist = "fixed", size = "100" }}
{actions}
"#
    )
}

/// `repl-diskless-load swapdb`: the replica parses the RDB straight from the RDB channel at its
/// load rate (20 MiB/s, far below the link). The child finishes once the rest of the RDB fits
/// in the socket buffers, the primary closes the channel, and the load still runs to its end:
/// a peer that closed after writing the whole payload does not stop a socket load.
#[test]
fn a_diskless_load_outlives_its_closed_rdb_channel() {
    let text = slow_load_pair(40_000, "20mb/s", "repl-diskless-load = \"swapdb\"", "");
    let r = run_text(&text);
    assert_eq!(r.record.outcome, Outcome::CleanSync);
    assert_eq!(r.record.full_syncs, 1);
    let replica = log_of(&r, "replica");
    assert!(replica.contains("with EOF to parser"));
    assert!(!replica.contains("I/O error"), "{replica}");
    let closed = first_line(&r, "primary", "rdb channel disconnected");
    let loaded = first(&r, |e| matches!(e, Event::LoadDone { .. })).unwrap();
    // What was still in the socket when the child ended (≤ 7 MiB) is parsed at 20 MiB/s after
    // the close (the close waits for the next serverCron, up to 100 ms after the child).
    let parse_after = loaded - closed;
    let bound = (7 << 20) as f64 / (20 << 20) as f64;
    assert!(
        parse_after > 0.1 && parse_after <= bound + 1e-3,
        "loaded {parse_after} s after the close (≤ {bound})"
    );
}

// ---------------------------------------------------------------- the main channel during a load

const KILL_AT_LOAD: &str = r#"
[[actions]]
name = "kill-main-channel"
do = "kill-connection"
node = "primary"
when = { node = "replica", log = "*Loading DB in memory*", poll = "1ms" }
timeout = "20s"
"#;

/// A small RDB (~1 MiB, less than one `loading-process-events-interval-bytes`): the replica
/// never processes events during its load, so the main channel the primary dropped meanwhile
/// is noticed only after the load and the apply ("Connection with primary lost" after "Done
/// loading RDB", as Valkey 9.1.2 logs it); the PSYNC that follows is partial.
#[test]
fn a_main_channel_dropped_during_a_small_load_is_noticed_after_it() {
    let r = run_text(&slow_load_pair(1_000, "500kb/s", "", KILL_AT_LOAD));
    let load_start = first_line(&r, "replica", "Loading DB in memory");
    let loaded = first_line(&r, "replica", "Done loading RDB");
    let lost = first_line(&r, "replica", "Connection with primary lost.");
    assert!(
        loaded - load_start > 1.5,
        "a slow load: {load_start} .. {loaded}"
    );
    assert!(lost >= loaded, "noticed at {lost}, load done at {loaded}");
    assert!(
        line_times(&r, "replica", "Provisional primary closed connection").is_empty(),
        "not noticed during the load"
    );
    let replica = log_of(&r, "replica");
    assert!(
        replica.contains("Reconnecting to PRIMARY 10.0.0.1:6379\n") || {
            replica
                .lines()
                .any(|l| l.ends_with("Reconnecting to PRIMARY 10.0.0.1:6379"))
        }
    );
    assert!(replica.contains("Successful partial resynchronization with primary."));
    assert_eq!(r.record.full_syncs, 1, "no second RDB");
    assert_eq!(
        r.record.partial_syncs_ok, 2,
        "main-channel PSYNC, then the resume"
    );
    assert!(r.record.in_sync_at_end);
}

/// A ~21 MiB RDB loaded at 5 MiB/s: `processEventsWhileBlocked` runs when the load crosses
/// 2 MiB, 0.4 s after it started, and only then does the replica notice that its main channel
/// was dropped ("Provisional primary closed connection"), abort the sync and its load, and
/// reconnect for a new full sync. (A real 9.1.2 noticed it at the same point — its error named
/// RDB offset 2 096 932 — and then exited; the model reconnects instead.)
#[test]
fn a_main_channel_dropped_during_a_large_load_is_noticed_at_the_next_events_point() {
    let r = run_text(&slow_load_pair(20_000, "5mb/s", "", KILL_AT_LOAD));
    let load_start = first_line(&r, "replica", "Loading DB in memory");
    let noticed = first_line(&r, "replica", "Provisional primary closed connection");
    let interval = 2.0 * 1024.0 * 1024.0;
    let expected = load_start + interval / (5.0 * 1024.0 * 1024.0);
    assert!(
        (noticed - expected).abs() <= 0.0015,
        "noticed at {noticed}, events point at {expected}"
    );
    assert!(first_line(&r, "replica", "Aborting dual channel sync") >= noticed);
    // The first load never finished; the second full sync did.
    let loads = line_times(&r, "replica", "Done loading RDB");
    assert!(loads.first().is_some_and(|&t| t > noticed));
    assert_eq!(r.record.full_syncs, 2);
    // A smaller interval moves the events point earlier, in proportion.
    let r2 = run_text(&slow_load_pair(
        20_000,
        "5mb/s",
        "loading-process-events-interval-bytes = \"512kb\"",
        KILL_AT_LOAD,
    ));
    let start2 = first_line(&r2, "replica", "Loading DB in memory");
    let noticed2 = first_line(&r2, "replica", "Provisional primary closed connection");
    assert!(
        ((noticed2 - start2) - 0.1).abs() <= 0.0015,
        "512 KiB at 5 MiB/s: {} s",
        noticed2 - start2
    );
}

// ---------------------------------------------------------------- the bio thread

/// Valkey 9.1 downloads a disk-load RDB in a bio thread: "Replica bio thread: Done downloading
/// RDB" when the last byte is written, and "Replica main thread detected RDB download
/// completion in Bio thread" at the main thread's next replication cron, right before the load
/// (`perf.download-polled`; the 9.1.2 strings).
#[test]
fn the_bio_thread_logs_the_download_end_and_the_main_thread_notices_it_later() {
    for case in [
        "validation/03-dual-clean.toml",
        "validation/02-classic-disk-clean.toml",
    ] {
        let r = run_file(case, &[]);
        let done = first_line(&r, "replica", "Replica bio thread: Done downloading RDB");
        let detected = first_line(
            &r,
            "replica",
            "Replica main thread detected RDB download completion in Bio thread",
        );
        let load = first_line(&r, "replica", "Loading DB in memory");
        let arrived = first(&r, |e| matches!(e, Event::RdbTransferred { .. })).unwrap();
        assert!((done - arrived).abs() < 1e-3, "{case}: {done} vs {arrived}");
        assert!(
            detected > done && detected - done <= 1.0 + 1e-3,
            "{case}: done {done} detected {detected}"
        );
        assert!((load - detected).abs() < 1e-3, "{case}");
        assert!(
            log_of(&r, "replica").contains(
                "Replica bio thread: PRIMARY <-> REPLICA sync: receiving streamed RDB from primary with EOF to disk"
            ),
            "{case}"
        );
    }
}
