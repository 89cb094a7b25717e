//! Chained replication and promotion (issue #14, valkey/chain.rs): a replica serving its own
//! replicas from the stream it applies, PSYNC to a replica after a link drop, `REPLICAOF NO
//! ONE` keeping the old history as `replid2` up to `second_repl_offset`, and the topology
//! errors of a chain that does not end at a primary.

use crate::run_logs::log_of;
use replsim::valkey::{InfoSample, RunResult};

fn run_text(text: &str) -> RunResult {
    crate::checked::run_text(text, "inline.toml")
}

fn last<'a>(r: &'a RunResult, node: &str) -> &'a InfoSample {
    r.samples
        .iter()
        .rev()
        .find(|s| s.node == node)
        .unwrap_or_else(|| panic!("no sample of {node}"))
}

/// `primary`, `r1` (its replica) and `r2`, which replicates from `r2_of`; links
/// primary–r1, primary–r2 and r1–r2 so any of them can be pointed at another. Writes at 2000/s
/// of 1 KB until `stop`, then quiet to the 60 s horizon.
fn three(r2_of: &str, stop: &str, actions: &str) -> String {
    format!(
        r#"
[model]
name = "chain"
seed = 1
horizon = "60s"

[dataset]
keys = 20000
value-size = "1kb"

[[nodes]]
name = "primary"
role = "primary"

[[nodes]]
name = "r1"
role = "replica"

[[nodes]]
name = "r2"
role = "replica"
replicaof = "{r2_of}"

[[links]]
a = "primary"
b = "r1"
bandwidth = "1gbit"
latency = "100us"

[[links]]
a = "primary"
b = "r2"
bandwidth = "1gbit"
latency = "100us"

[[links]]
a = "r1"
b = "r2"
bandwidth = "1gbit"
latency = "100us"

[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 2000
value-size = {{ dist = "fixed", size = "1kb" }}
stop = "{stop}"
{actions}
"#
    )
}

/// The sub-replica gets every byte its replica applied: at quiescence the three offsets are
/// equal, everyone holds the primary's replid, the sub-replica's full sync was served by its
/// replica (a fork of its own, at the replica's offset) and not by the primary.
#[test]
fn the_chained_stream_reaches_the_sub_replica_byte_for_byte() {
    let r = run_text(&three("r1", "40s", ""));
    let (p, r1, r2) = (last(&r, "primary"), last(&r, "r1"), last(&r, "r2"));
    assert!(
        p.master_repl_offset > 40_000_000,
        "{}",
        p.master_repl_offset
    );
    assert_eq!(r1.slave_repl_offset, p.master_repl_offset);
    assert_eq!(r2.slave_repl_offset, p.master_repl_offset);
    // The replica's own backlog follows what it applied.
    assert_eq!(r1.master_repl_offset, r1.slave_repl_offset);
    assert_eq!(r1.master_replid, p.master_replid);
    assert_eq!(r2.master_replid, p.master_replid);
    assert!(r2.master_link_up);
    assert_eq!((p.sync_full, r1.sync_full, r2.sync_full), (1, 1, 0));
    assert_eq!(p.connected_slaves, 1, "the primary serves r1 only");
    assert_eq!(r1.connected_slaves, 1, "r1 serves r2");
    // r2 asked before r1 had a link: refused with -NOMASTERLINK, retried, then synced from r1.
    let l2 = log_of(&r, "r2");
    assert!(l2.contains("-NOMASTERLINK Can't SYNC while not connected with my master"));
    let l1 = log_of(&r, "r1");
    assert!(l1.contains("Starting BGSAVE for SYNC with target: replicas sockets"));
    // The replica does not PING its sub-replica: the only PINGs are the primary's, relayed.
    // (A PING of its own would put r2 ahead of the primary.)
    assert!(r2.slave_repl_offset <= p.master_repl_offset);
}

/// `CLIENT KILL TYPE replica` on the primary: r1 PSYNCs to it with the same replid and its
/// sub-replica stays connected (psync2-pingoff.tcl, "Chained replicas disconnect when replica
/// re-connect with the same master"); a kill of r2's link makes r2 PSYNC to r1, served from
/// r1's own backlog.
#[test]
fn a_sub_replica_psyncs_to_its_replica_and_survives_its_replicas_reconnect() {
    let actions = r#"
[[actions]]
name = "kill-primary-side"
do = "kill-connection"
node = "primary"
at = "20s"

[[actions]]
name = "kill-r2"
do = "kill-connection"
node = "r2"
at = "30s"
"#;
    let r = run_text(&three("r1", "40s", actions));
    let (p, r1, r2) = (last(&r, "primary"), last(&r, "r1"), last(&r, "r2"));
    assert_eq!(
        (p.sync_full, p.sync_partial_ok),
        (1, 1),
        "r1 came back by PSYNC"
    );
    assert_eq!(
        (r1.sync_full, r1.sync_partial_ok),
        (1, 1),
        "r2: one full sync, one PSYNC"
    );
    let l1 = log_of(&r, "r1");
    assert_eq!(
        l1.matches("Partial resynchronization request from 10.0.0.3:6381 accepted")
            .count(),
        1
    );
    // r2 was not dropped when r1 reconnected with the same replid: the only link loss in its
    // log is the one at 30 s.
    assert_eq!(
        log_of(&r, "r2")
            .matches("Connection with primary lost")
            .count(),
        1
    );
    assert_eq!(r1.slave_repl_offset, p.master_repl_offset);
    assert_eq!(r2.slave_repl_offset, p.master_repl_offset);
}

const FAILOVER: &str = r#"
[[actions]]
name = "promote"
do = "replicaof-no-one"
node = "r1"
at = "25s"

[[actions]]
name = "r2-to-r1"
do = "replicaof"
node = "r2"
target = "r1"
at = "25.1s"

[[actions]]
name = "primary-to-r1"
do = "replicaof"
node = "primary"
target = "r1"
at = "25.2s"
"#;

/// A failover after the writes stopped: r1 shifts its replid into replid2 valid up to its
/// offset + 1, and both its sibling and the old primary PSYNC to it with the old replid —
/// accepted, no full sync. They learn the new replid from `+CONTINUE`.
#[test]
fn after_a_promotion_the_siblings_psync_with_the_old_replid() {
    let before = run_text(&three("primary", "20s", ""));
    let old_replid = last(&before, "primary").master_replid.clone();
    let r = run_text(&three("primary", "20s", FAILOVER));
    let (p, r1, r2) = (last(&r, "primary"), last(&r, "r1"), last(&r, "r2"));
    let l1 = log_of(&r, "r1");
    let second = r1.second_repl_offset as u64;
    assert!(
        l1.contains(&format!(
            "Setting secondary replication ID to {old_replid}, valid up to offset: {second}."
        )),
        "{l1}"
    );
    // The old primary asks for exactly the first byte r1 did not have: accepted at the limit.
    assert!(l1.contains(&format!(
        "Partial resynchronization request from 10.0.0.1:6379 accepted. Sending 0 bytes of backlog starting from offset {second}."
    )));
    assert_eq!(r1.second_repl_offset, second as i64);
    assert_eq!(r1.master_replid2, old_replid);
    assert_eq!(
        (r1.sync_full, r1.sync_partial_ok, r1.sync_partial_err),
        (0, 2, 0)
    );
    assert_eq!(
        l1.matches("Partial resynchronization request from").count(),
        2,
        "{l1}"
    );
    for (node, s) in [("primary", p), ("r2", r2)] {
        assert_eq!(
            s.master_replid, r1.master_replid,
            "{node} took the new replid"
        );
        assert_eq!(s.second_repl_offset, second as i64, "{node}'s replid2");
        assert!(log_of(&r, node).contains("Primary replication ID changed to"));
        assert_eq!(s.slave_repl_offset, r1.master_repl_offset);
        assert!(s.master_link_up);
    }
    assert!(log_of(&r, "primary").contains("using my own primary parameters"));
}

/// The old primary kept writing after r1 was promoted (and streaming to r2 until r2 moved): both
/// PSYNCs ask for more than r1 can vouch for under the old replid (`psync_offset >
/// second_replid_offset`), so both are refused and full-sync.
#[test]
fn a_psync_beyond_second_repl_offset_is_refused() {
    let r = run_text(&three("primary", "40s", FAILOVER));
    let r1 = last(&r, "r1");
    let l1 = log_of(&r, "r1");
    let refused = l1
        .lines()
        .find(|l| l.contains("Requested offset for second ID was"))
        .unwrap_or_else(|| panic!("{l1}"));
    let asked: u64 = refused
        .split("second ID was ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(asked > r1.second_repl_offset as u64, "{refused}");
    assert!(refused.ends_with(&format!("I can reply up to {}", r1.second_repl_offset)));
    assert_eq!(l1.matches("Requested offset for second ID was").count(), 2);
    assert_eq!(
        (r1.sync_full, r1.sync_partial_ok, r1.sync_partial_err),
        (2, 0, 2)
    );
    assert!(log_of(&r, "primary").contains("Full resync from primary"));
    assert_eq!(last(&r, "primary").slave_repl_offset, r1.master_repl_offset);
}

/// A chain that never reaches a primary, or names a node that does not exist, is an impossible
/// topology: exit 2, the key and the reason, nothing written.
#[test]
fn a_cycle_or_an_unknown_upstream_exits_2() {
    let dir = crate::scratch::dir("chain", "topology");
    let cases = [
        (
            "cycle",
            three("r1", "40s", "").replace(
                "name = \"r1\"\nrole = \"replica\"\n",
                "name = \"r1\"\nrole = \"replica\"\nreplicaof = \"r2\"\n",
            ),
            "an impossible topology: the replication chain r1 -> r2 -> r1 is a cycle",
        ),
        (
            "unknown",
            three("r9", "40s", ""),
            "nodes[2].replicaof: no node is called \"r9\"",
        ),
    ];
    for (name, text, expected) in cases {
        let model = dir.join(format!("{name}.toml"));
        std::fs::write(&model, text).unwrap();
        let out_dir = dir.join(format!("out-{name}"));
        let out = crate::checked::replsim()
            .arg("run")
            .arg(&model)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!out_dir.exists(), "{name}: nothing written");
    }
}
