//! The mechanisms that differ between releases (valkey-versions.md), each shown by one model run
//! under two or three releases: two outcomes, and the reason in the logs or INFO. Each test fails
//! if its mechanism were removed from `valkey/release.rs` (the releases would then agree). The
//! hard-limit clamp of Redis 7.0 is in `versions.rs`.

use replsim::scenario::{Override, parse_model};
use replsim::valkey::{Event, Release, RunResult};

use crate::checked;
use crate::run_logs::{line_times, log_of};

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.into(),
        value: value.into(),
    }
}

/// `text` run under `server`, with `extra` overrides, checked.
fn run(text: &str, server: &str, extra: &[Override]) -> RunResult {
    let mut o = extra.to_vec();
    o.push(set("model.server", server));
    let m = parse_model(text, "test.toml", &o).unwrap_or_else(|e| panic!("{server}: {e}"));
    replsim::valkey::Cluster::build(&m.cluster(), &checked::options(&m))
        .expect("build")
        .run()
        .expect("run")
}

fn has_line(r: &RunResult, node: &str, part: &str) -> bool {
    log_of(r, node).contains(part)
}

fn limit(r: &RunResult) -> String {
    serde_json::to_value(r.record.first_limit)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// 150 MB over a 10 mbit link (~2 min of transfer) with 50 KB/s of writes: the classic sync's
/// COB passes 1 MB after ~20 s and stays below 10 MB to the end of the transfer.
const SOFT: &str = r#"
[model]
name = "soft-clamp"
horizon = "200s"
[dataset]
keys = 150000
value-size = "1kb"
[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync = "yes"
repl-backlog-size = "10mb"
client-output-buffer-limit = "256mb 1mb 60"
[[nodes]]
name = "replica"
role = "replica"
[[links]]
a = "primary"
b = "replica"
bandwidth = "10mbit"
[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 50
value-size = { dist = "fixed", size = "1kb" }
"#;

#[test]
fn a_soft_limit_below_the_backlog_trips_until_valkey_9_1_raises_it() {
    for server in ["redis-7.0", "valkey-9.0"] {
        let r = run(SOFT, server, &[]);
        assert_eq!(limit(&r), "primary_cob_soft", "{server}");
        assert_ne!(r.record.outcome.as_str(), "clean_sync", "{server}");
        // Dropped by the 1 MB soft limit held for 60 s: well below the 10 MB backlog.
        let line = log_of(&r, "primary")
            .lines()
            .find(|l| l.contains("for overcoming of output buffer limits"))
            .unwrap_or_else(|| panic!("{server}: no COB disconnect line"));
        let omem: u64 = line
            .split(" omem=")
            .nth(1)
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!((1 << 20..10 << 20).contains(&omem), "{server}: {line}");
        let t = r.record.t_cob_overflow_s.unwrap();
        assert!(
            t > 60.0,
            "{server}: tripped at {t} s, before 60 s above the soft limit"
        );
    }
    let r = run(SOFT, "valkey-9.1", &[]);
    assert_eq!(r.record.outcome.as_str(), "clean_sync");
    assert_eq!(r.record.t_cob_overflow_s, None);
    // Not because the COB stayed small: it was above the configured 1 MB for over 60 s.
    let above: Vec<f64> = r
        .samples
        .iter()
        .filter(|s| s.node == "primary" && s.replica_omem > 1 << 20)
        .map(|s| s.t_s)
        .collect();
    assert!(
        above.last().unwrap() - above.first().unwrap() > 60.0,
        "{above:?}"
    );
    assert!(
        r.samples
            .iter()
            .all(|s| s.replica_omem < 10 << 20 && s.rdb_channel_omem == 0)
    );
}

/// Three replicas of one diskless fork on 1 GbE, 5 MB/s of writes: each COB grows to ~15 MB.
const THREE: &str = r#"
[model]
name = "three-replicas"
horizon = "30s"
[dataset]
keys = 200000
value-size = "1kb"
[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync = "yes"
repl-backlog-size = "1mb"
[[nodes]]
name = "r1"
role = "replica"
[[nodes]]
name = "r2"
role = "replica"
[[nodes]]
name = "r3"
role = "replica"
[[links]]
a = "primary"
b = "r1"
bandwidth = "1gbit"
[[links]]
a = "primary"
b = "r2"
bandwidth = "1gbit"
[[links]]
a = "primary"
b = "r3"
bandwidth = "1gbit"
[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 5000
value-size = { dist = "fixed", size = "1kb" }
"#;

#[test]
fn redis_6_2_holds_one_copy_of_the_stream_per_replica() {
    // (peak mem_total_replication_buffers, the largest replica COB at that sample)
    let peak = |r: &RunResult| {
        r.samples
            .iter()
            .filter(|s| s.node == "primary")
            .max_by_key(|s| s.mem_total_replication_buffers)
            .map(|s| (s.mem_total_replication_buffers, s.replica_omem))
            .unwrap()
    };
    let old = run(THREE, "redis-6.2", &[]);
    let new = run(THREE, "redis-7.0", &[]);
    for r in [&old, &new] {
        assert_eq!(r.record.outcome.as_str(), "clean_sync");
        assert_eq!(r.record.full_syncs, 3);
    }
    let (mem62, omem62) = peak(&old);
    let (mem70, omem70) = peak(&new);
    assert!(omem62 > 10 << 20, "{omem62}");
    // 6.2: the 1 MB ring plus three private lists of the same stream (the replicas move in
    // lockstep through one fork); 7.0: one shared list that every replica references.
    let lists = mem62 - (1 << 20);
    assert!(
        lists.abs_diff(3 * omem62) <= 3 * omem62 / 20,
        "{mem62} vs 3 x {omem62}"
    );
    assert!(
        mem70 <= omem70 + omem70 / 10 + (1 << 20),
        "{mem70} vs {omem70}"
    );
    assert!(mem62 > 5 * mem70 / 2, "6.2 {mem62}, 7.0 {mem70}");
}

/// The bundled "beyond grace" translation without its grace override: the replica, stopped
/// after its load, PSYNCs its main channel 20 s after the primary's RDB child ends, with a
/// 512 KB backlog that the 1 MB of writes since the fork overflow.
fn grace_model() -> String {
    let text =
        std::fs::read_to_string("models/valkey-test-psync-after-load-beyond-grace.toml").unwrap();
    let text = text
        .replace("rdb-client-grace-period = \"2s\"\n", "")
        .replace(
            "repl-diskless-sync-delay = 0\n",
            "repl-diskless-sync-delay = 0\nrepl-backlog-size = \"512kb\"\n",
        )
        .replace("horizon = \"30s\"", "horizon = \"40s\"");
    let cut = text.find("[[actions]]\nname = \"grace-expired\"").unwrap();
    format!(
        "{}[[actions]]\nname = \"replica-back\"\ndo = \"resume\"\nnode = \"replica\"\n\
         after = \"primary-no-pause-after-fork\"\ndelay = \"20s\"\n",
        &text[..cut]
    )
}

#[test]
fn the_rdb_client_grace_is_60_s_until_valkey_9_1_makes_it_5_s() {
    let text = grace_model();
    let old = run(&text, "valkey-9.0", &[]);
    // Within the 60 s grace the RDB client still pins the stream since the fork: accepted.
    assert_eq!(old.record.full_syncs, 1);
    assert!(!has_line(&old, "primary", "within the grace period"));
    assert!(has_line(
        &old,
        "primary",
        "Partial resynchronization request from 10.0.0.2:6380 accepted. Sending 10"
    ));
    let new = run(&text, "valkey-9.1", &[]);
    assert!(has_line(
        &new,
        "primary",
        "failed to establish PSYNC within the grace period (5 seconds)"
    ));
    assert!(has_line(&new, "primary", "for lack of backlog"));
    assert_eq!(new.record.full_syncs, 2);
    // The grace line comes 5 s after the RDB child ended, not 60.
    let grace_at = line_times(&new, "primary", "within the grace period")[0];
    assert!((4.9..6.0).contains(&grace_at), "{grace_at}");
}

#[test]
fn a_config_a_release_lacks_is_refused_naming_the_release() {
    let dir = std::env::temp_dir().join(format!("replsim-releases-{}", std::process::id()));
    let cases = [
        (
            "models/worked-example-dual.toml",
            vec!["model.server=redis-8.0"],
            ["redis-8.0", "dual-channel-replication-enabled"],
        ),
        (
            "models/worked-example-dual.toml",
            vec!["model.server=valkey-7.2"],
            ["valkey-7.2", "dual-channel"],
        ),
        (
            "models/worked-example-classic.toml",
            vec!["nodes.replica.config.replica-full-sync-buffer-limit=8mb"],
            ["valkey-9.1", "replica-full-sync-buffer-limit"],
        ),
    ];
    for (model, sets, wanted) in cases {
        let mut cmd = checked::replsim();
        cmd.args(["run", model, "--out"]).arg(&dir);
        for s in &sets {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{model} {sets:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{model} {sets:?}: {err}");
        }
        assert!(!dir.exists(), "{model} {sets:?}: output written");
    }
}

#[test]
fn dual_channel_replication_exists_from_valkey_8_0() {
    let text = std::fs::read_to_string("models/worked-example-dual.toml").unwrap();
    for server in ["redis-7.4", "valkey-7.2"] {
        let err = parse_model(&text, "dual", &[set("model.server", server)]).unwrap_err();
        assert!(err.to_string().contains(server), "{err}");
    }
    for server in ["valkey-8.0", "valkey-9.0"] {
        let r = run(&text, server, &[]);
        assert!(
            has_line(&r, "primary", "using: dual-channel"),
            "{server}: no dual-channel fork"
        );
        assert!(has_line(
            &r,
            "primary",
            "Dual channel replication: Sending to replica"
        ));
    }
}

/// 500 MB on 1 GbE with 10 MB/s of writes against a 32 MB hard limit: a classic sync's COB
/// overflows within seconds, a two-channel sync keeps the stream on the replica's side.
const BUSY: &str = r#"
[model]
name = "rdb-channel-default"
horizon = "60s"
[dataset]
keys = 500000
value-size = "1kb"
[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
client-output-buffer-limit = "32mb 0 0"
[[nodes]]
name = "replica"
role = "replica"
[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"
[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 10000
value-size = { dist = "fixed", size = "1kb" }
"#;

#[test]
fn redis_8_syncs_over_an_rdb_channel_by_default_when_diskless() {
    let classic = run(BUSY, "redis-7.4", &[]);
    assert_eq!(limit(&classic), "primary_cob_hard");
    assert_eq!(classic.record.outcome.as_str(), "full_resync_loop");
    // The same defaults on Redis 8: the RDB on its own connection, the stream read by the
    // replica into its local buffer; nothing overflows on the primary.
    let r8 = run(BUSY, "redis-8.0", &[]);
    assert_eq!(r8.record.outcome.as_str(), "clean_sync");
    assert_eq!(r8.record.t_cob_overflow_s, None);
    let two_channel = |r: &RunResult| {
        r.journal.count(|e| {
            matches!(
                e,
                Event::PsyncAccepted {
                    dual_main: true,
                    ..
                }
            )
        })
    };
    assert_eq!(two_channel(&r8), 1);
    assert!(r8.samples.iter().any(|s| s.replicas_repl_buffer_size > 0));
    // Disk-based on Redis 8: no rdb channel, the classic overflow again.
    let disk = run(
        BUSY,
        "redis-8.0",
        &[set("nodes.primary.config.repl-diskless-sync", "no")],
    );
    assert_eq!(limit(&disk), "primary_cob_hard");
    assert_eq!(two_channel(&disk), 0);
    assert_eq!(two_channel(&classic), 0);
}

/// 1 MB/s of writes; the replica stops at 10 s while the primary drops its link, and comes back
/// at 14 s asking for the 4 MB written since.
const GAP: &str = r#"
[model]
name = "backlog-default"
horizon = "30s"
[dataset]
keys = 10000
value-size = "1kb"
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
pattern = "constant"
ops-per-sec = 1000
value-size = { dist = "fixed", size = "1kb" }
[[actions]]
name = "stop-replica"
do = "pause"
node = "replica"
at = "10s"
[[actions]]
name = "drop-link"
do = "kill-connection"
node = "primary"
at = "10s"
[[actions]]
name = "resume-replica"
do = "resume"
node = "replica"
at = "14s"
"#;

#[test]
fn the_backlog_default_is_1mb_until_valkey_8_0_makes_it_10mb() {
    for (server, bytes) in [
        ("redis-6.2", 1 << 20),
        ("redis-8.0", 1 << 20),
        ("valkey-7.2", 1 << 20),
        ("valkey-8.0", 10 << 20),
        ("valkey-9.1", 10 << 20),
    ] {
        let m = parse_model(GAP, "gap", &[set("model.server", server)]).unwrap();
        assert_eq!(
            m.nodes[0].config.repl_backlog_size.bytes(),
            bytes,
            "{server}"
        );
    }
    for server in ["valkey-7.2", "redis-7.4"] {
        let r = run(GAP, server, &[]);
        assert_eq!(r.record.full_syncs, 2, "{server}");
        assert!(has_line(&r, "primary", "for lack of backlog"), "{server}");
    }
    let r = run(GAP, "valkey-8.0", &[]);
    assert_eq!(r.record.full_syncs, 1);
    assert!(has_line(&r, "primary", "Partial resynchronization request"));
    assert_eq!(r.record.server, Release::Valkey80);
}

#[test]
fn redis_6_2_serves_a_psync_only_from_its_ring_and_counts_no_static_buffer() {
    // The validation case whose replica, dropped by a 256 KB hard limit (= the backlog) during
    // its load, PSYNCs after it: from 7.0 the stream it still needs is in the shared buffer
    // (trimmed incrementally), on 6.2 the ring holds only the last 256 KB (as the real 6.2.14
    // and 7.0.15 servers do, README "Other releases").
    let text = std::fs::read_to_string("validation/07-classic-cob-psync-accepted.toml")
        .unwrap()
        .replace("../models/", "models/");
    let old = run(&text, "redis-6.2", &[]);
    assert!(has_line(&old, "primary", "for lack of backlog"));
    assert_eq!(old.record.full_syncs, 2);
    let ring = old
        .samples
        .iter()
        .filter(|s| s.node == "primary")
        .map(|s| s.repl_backlog_histlen)
        .max()
        .unwrap();
    assert_eq!(ring, 256 << 10);
    let new = run(&text, "redis-7.0", &[]);
    assert!(!has_line(&new, "primary", "for lack of backlog"));
    assert_eq!(new.record.outcome.as_str(), "overflow_partial_resync");
    // 6.2's first 16 KiB sit in the client's static reply buffer, which its limit does not
    // count: at 49 KB/s of writes it trips ~0.33 s later (6.35 s vs 6.01 s on the real servers).
    let (t62, t70) = (
        old.record.t_cob_overflow_s.unwrap(),
        new.record.t_cob_overflow_s.unwrap(),
    );
    assert!(
        (0.25..0.45).contains(&(t62 - t70)),
        "6.2 {t62} s, 7.0 {t70} s"
    );
}
