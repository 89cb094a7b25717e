//! Script features the conformance translations need: `kill-connection` of one client type,
//! `never` (with `until`), and the INFO fields of the replica clients' states, the fork count
//! and the replica's handshake; and the translated sets of dual-channel-replication.tcl and
//! replication.tcl passing over seeds.

use std::path::Path;

use crate::run_logs::{line_times, log_of};
use replsim::scenario::{load_model, parse_model};
use replsim::valkey::{Cluster, InfoSample, RunResult};

fn run_text(text: &str) -> RunResult {
    crate::checked::run_text(text, "inline.toml")
}

fn run_file(path: &Path, seed: u64) -> RunResult {
    let m = load_model(path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut options = crate::checked::options(&m);
    options.seed = seed;
    Cluster::build(&m.cluster(), &options)
        .unwrap()
        .run()
        .unwrap()
}

fn samples<'a>(r: &'a RunResult, node: &str) -> Vec<&'a InfoSample> {
    r.samples.iter().filter(|s| s.node == node).collect()
}

/// A dual-channel (or classic) pair whose sync takes 100 s (10 000 keys at 10 ms a key), with
/// `actions` appended.
fn slow_sync(dual: &str, actions: &str) -> String {
    format!(
        r#"
[model]
name = "script-actions"
seed = 1
horizon = "20s"

[dataset]
keys = 10000
value-size = "1"

[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync-delay = 0
dual-channel-replication-enabled = "{dual}"
rdb-key-save-delay = 10000

[[nodes]]
name = "replica"
role = "replica"
replicaof-at = "1s"
[nodes.config]
dual-channel-replication-enabled = "{dual}"

[[links]]
a = "primary"
b = "replica"
bandwidth = "10gbit"
latency = "20us"

[[workloads]]
name = "writes"
pattern = "constant"
ops-per-sec = 1000
value-size = {{ dist = "fixed", size = "10" }}
{actions}
"#
    )
}

#[test]
fn info_shows_each_replica_clients_state_and_type_during_a_sync() {
    let r = run_text(&slow_sync("yes", ""));
    let at5 = samples(&r, "primary")
        .into_iter()
        .find(|s| s.t_s >= 5.0)
        .unwrap()
        .clone();
    assert_eq!(at5.slaves_wait_bgsave_rdb_channel, 1);
    assert_eq!(at5.slaves_bg_transfer_main_channel, 1);
    assert_eq!(
        at5.slaves_wait_bgsave, 1,
        "the main channel is not in wait_bgsave"
    );
    assert_eq!(at5.slaves_wait_bgsave_replica, 0);
    assert_eq!(at5.total_forks, 1);
    let replica5 = samples(&r, "replica")
        .into_iter()
        .find(|s| s.t_s >= 5.0)
        .unwrap()
        .clone();
    assert!(
        !replica5.master_handshake,
        "the main channel's PSYNC was answered: not in handshake"
    );

    let classic = run_text(&slow_sync("no", ""));
    let at5 = samples(&classic, "primary")
        .into_iter()
        .find(|s| s.t_s >= 5.0)
        .unwrap()
        .clone();
    assert_eq!(at5.slaves_wait_bgsave_replica, 1);
    assert_eq!(at5.slaves_wait_bgsave_rdb_channel, 0);
    assert_eq!(at5.slaves_bg_transfer_main_channel, 0);
    // Before REPLICAOF nothing is listed and nothing forked.
    let at0 = samples(&classic, "primary")[0].clone();
    assert_eq!((at0.slaves_wait_bgsave, at0.total_forks), (0, 0));
}

#[test]
fn a_replica_waiting_for_a_delayed_fork_is_in_handshake() {
    let text = slow_sync("yes", "").replace(
        "repl-diskless-sync-delay = 0",
        "repl-diskless-sync-delay = 1000",
    );
    let r = run_text(&text);
    let replica = samples(&r, "replica");
    assert!(
        replica
            .iter()
            .filter(|s| s.t_s > 1.5)
            .all(|s| s.master_handshake)
    );
    assert!(
        replica
            .iter()
            .filter(|s| s.t_s < 0.9)
            .all(|s| !s.master_handshake)
    );
    assert!(samples(&r, "primary").iter().all(|s| s.total_forks == 0));
}

#[test]
fn killing_the_rdb_channel_leaves_the_main_channel_and_fails_the_child() {
    let kill = r#"
[[actions]]
name = "kill"
do = "kill-connection"
node = "primary"
value = "rdb-channel"
at = "5s"
"#;
    let r = run_text(&slow_sync("yes", kill));
    let primary = log_of(&r, "primary");
    let rdb_gone = line_times(&r, "primary", "rdb channel disconnected.");
    assert_eq!(rdb_gone.first().copied(), Some(5.0), "{primary}");
    let error = line_times(&r, "primary", "Background RDB transfer error");
    assert_eq!(error.first().copied(), Some(5.0));
    // The replica gave up that sync and started another (no sync delay): a second fork.
    let last = samples(&r, "primary").last().copied().unwrap().clone();
    assert_eq!(last.total_forks, 2, "{primary}");
    assert_eq!(last.slaves_wait_bgsave_rdb_channel, 1);
}

#[test]
fn killing_the_main_channel_makes_the_replica_drop_its_rdb_channel() {
    let kill = r#"
[[actions]]
name = "kill"
do = "kill-connection"
node = "primary"
value = "main-channel"
at = "5s"
"#;
    let r = run_text(&slow_sync("yes", kill));
    let lost = line_times(&r, "primary", "Connection with replica");
    assert_eq!(lost.first().copied(), Some(5.0));
    let error = line_times(&r, "primary", "Background RDB transfer error");
    assert!(
        error.first().is_some_and(|&t| t >= 5.0),
        "{}",
        log_of(&r, "primary")
    );
}

#[test]
fn kill_connection_of_a_type_the_primary_lacks_kills_nothing() {
    let kill = r#"
[[actions]]
name = "kill"
do = "kill-connection"
node = "primary"
value = "replica"
at = "5s"
"#;
    let r = run_text(&slow_sync("yes", kill));
    assert!(line_times(&r, "primary", "disconnected").is_empty());
    assert!(line_times(&r, "primary", "transfer error").is_empty());
}

#[test]
fn kill_connection_with_an_unknown_type_is_bad_input() {
    let kill = r#"
[[actions]]
do = "kill-connection"
node = "primary"
value = "rdb"
at = "5s"
"#;
    let e = parse_model(&slow_sync("yes", kill), "inline.toml", &[]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("value") && text.contains("rdb-channel"),
        "{text}"
    );
}

#[test]
fn never_fails_when_its_condition_holds_and_passes_at_its_timeout_otherwise() {
    let never = |value: u64, extra: &str| {
        format!(
            r#"
[[actions]]
name = "no-fork"
do = "never"
when = {{ node = "primary", info = "total_forks", op = ">=", value = {value} }}
timeout = "10s"
{extra}
[[actions]]
name = "after-never"
do = "mark"
after = "no-fork"
"#
        )
    };
    // The fork comes at 1 s: "never a fork" fails there, and what follows never runs.
    let r = run_text(&slow_sync("yes", &never(1, "")));
    assert!(!r.record.passed);
    assert_eq!(r.record.assertions_failed.len(), 1);
    assert!(r.record.assertions_failed[0].starts_with("no-fork:"));
    assert!(!r.record.marks.contains_key("after-never"));
    // "Never two forks" holds for its 10 s: it passes then, and its chain goes on.
    let r = run_text(&slow_sync("yes", &never(2, "")));
    assert!(r.record.passed, "{:?}", r.record.assertions_failed);
    assert_eq!(r.record.marks.get("after-never").copied(), Some(10.0));
    // With until, it ends when that action runs.
    let until = r#"
[[actions]]
name = "no-fork"
do = "never"
until = "stop"
when = { node = "primary", info = "total_forks", op = ">=", value = 2 }
timeout = "10s"

[[actions]]
name = "stop"
do = "mark"
at = "3s"
"#;
    let r = run_text(&slow_sync("yes", until));
    assert!(r.record.passed, "{:?}", r.record.assertions_failed);
    assert_eq!(r.record.marks.get("no-fork").copied(), Some(3.0));
}

#[test]
fn never_without_a_timeout_is_bad_input() {
    let bad = r#"
[[actions]]
do = "never"
when = { node = "primary", info = "total_forks", op = ">=", value = 1 }
"#;
    let e = parse_model(&slow_sync("yes", bad), "inline.toml", &[]).unwrap_err();
    assert!(e.to_string().contains("timeout"), "{e}");
}

/// Every translated test of these two Tcl files passes, over three seeds.
#[test]
fn the_translated_dual_channel_and_replication_tests_pass() {
    for dir in [
        "conformance/dual-channel-replication",
        "conformance/replication",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{dir}");
        for f in files {
            for seed in 1..=3 {
                let r = run_file(&f, seed);
                assert!(
                    r.record.passed,
                    "{} seed {seed}: {:?}",
                    f.display(),
                    r.record.assertions_failed
                );
            }
        }
    }
}

/// `kill-primary-link` is `CLIENT KILL TYPE MASTER` on the replica: during a sync (classic or
/// dual channel) the replica has no primary client yet — Valkey creates it only once the RDB is
/// loaded — so nothing is killed and the sync goes on (seen on Valkey 9.1.2). The simulator used
/// to cancel the sync and start another.
#[test]
fn killing_the_primary_link_during_a_sync_kills_nothing() {
    let kill = r#"
[[actions]]
name = "kill"
do = "kill-primary-link"
node = "replica"
at = "5s"
"#;
    for dual in ["no", "yes"] {
        let r = run_text(&slow_sync(dual, kill));
        let replica = log_of(&r, "replica");
        assert_eq!(
            line_times(&r, "replica", "Connecting to PRIMARY").len(),
            1,
            "dual {dual}: {replica}"
        );
        assert_eq!(
            line_times(&r, "primary", "Starting BGSAVE").len(),
            1,
            "dual {dual}"
        );
        assert!(line_times(&r, "primary", "lost").is_empty(), "dual {dual}");
    }
}
