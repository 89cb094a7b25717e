//! `replsim swarm`: random valid models run with the invariant checker, and the models the
//! swarm found broken before their bugs were fixed.

use replsim::experiment::swarm::{generate, run_seed};
use replsim::scenario::load_model;
use replsim::valkey::Cluster;

use crate::checked::replsim;

/// Seeds `from..from + 250`, each a random model run with the checker: none may fail.
fn seeds(from: u64) {
    let failed: Vec<String> = (from..from + 250)
        .filter_map(|seed| {
            run_seed(seed).err().map(|(kind, message)| {
                format!("seed {seed} ({kind}): {message}\n  replay: replsim swarm --from-seed {seed} --seeds 1")
            })
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn swarm_seeds_1_to_250() {
    seeds(1);
}
#[test]
fn swarm_seeds_251_to_500() {
    seeds(251);
}
#[test]
fn swarm_seeds_501_to_750() {
    seeds(501);
}
#[test]
fn swarm_seeds_751_to_1000() {
    seeds(751);
}
#[test]
fn swarm_seeds_1001_to_1250() {
    seeds(1001);
}
#[test]
fn swarm_seeds_1251_to_1500() {
    seeds(1251);
}
#[test]
fn swarm_seeds_1501_to_1750() {
    seeds(1501);
}
/// With chained topologies: seed 1799 held a sub-replica to its upstream's new history after
/// the upstream resynced and dropped it.
#[test]
fn swarm_seeds_1751_to_2000() {
    seeds(1751);
}
#[test]
fn swarm_seeds_2001_to_2250() {
    seeds(2001);
}

#[test]
fn a_seed_is_always_the_same_model_and_a_valid_one() {
    assert_eq!(generate(42), generate(42));
    assert_ne!(generate(42), generate(43));
    let text = generate(7);
    assert!(text.contains("check = true"), "{text}");
    assert!(replsim::scenario::parse_model(&text, "seed 7", &[]).is_ok());
}

/// Models the swarm broke before the fixes (tests/swarm-regressions/): each ran into an
/// invariant. seed-23: a paused primary kept streaming to its replica (`replica-offset-bound`);
/// seed-24, seed-25: `REPLICAOF` of the current primary reconnected and offered a stale offset
/// (`psync-offset`); seed-29, seed-234, seed-911: the primary's offset lost the fraction of a byte
/// at each rate change and a finished RDB production left its fraction to the stream, so a
/// replica read a byte ahead of its primary (`replica-offset-bound`). seed-5489: the checker
/// kept a resumed primary's paused (rate 0) stream clock, resuming not being a checked event,
/// and found its replica 120 bytes ahead; seed-499: the same resume, checked without the
/// `beforeSleep` trim that follows every event-loop iteration (`backlog-size`). seed-283,
/// seed-1207 (chained): a relayed stream overran a waiting sub-replica's limit inside
/// `advance` and freed it under its caller's client index (a panic).
#[test]
fn the_models_the_swarm_broke_keep_every_invariant() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let m = load_model(&path, &[]).unwrap();
        let r = Cluster::build(&m.cluster(), &crate::checked::options(&m))
            .unwrap()
            .run();
        assert!(r.is_ok(), "{}: {}", path.display(), r.err().unwrap());
        n += 1;
    }
    assert!(n >= 10, "only {n} regression models");
}

#[test]
fn replicaof_the_current_primary_is_a_no_op() {
    let m = load_model(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/swarm-regressions/seed-24.toml"
        )),
        &[],
    )
    .unwrap();
    let r = Cluster::build(&m.cluster(), &crate::checked::options(&m))
        .unwrap()
        .run()
        .unwrap();
    let log = &r.logs.iter().find(|(n, _)| n == "replica-1").unwrap().1;
    let line = "REPLICAOF would result into synchronization with the primary we are already connected with. No operation performed.";
    let at = log.find(line).expect("the no-op line");
    // Nothing reconnects at that instant: the next line is not a new connection.
    let after = &log[at..];
    let next = after.lines().nth(1).unwrap_or("");
    assert!(!next.contains("Connecting to PRIMARY"), "{next}");
}

#[test]
fn the_cli_writes_its_directory_and_exits_0_without_failures() {
    let s = crate::scratch::dir("swarm", "cli");
    let out = s.join("sw");
    let o = replsim()
        .args(["swarm", "--seeds", "6", "--jobs", "2", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("swarm: 6 seeds from 1, 0 failed"),
        "{stdout}"
    );
    let tsv = std::fs::read_to_string(out.join("failures.tsv")).unwrap();
    assert!(
        tsv.starts_with("# replsim swarm: seeds 1..7, 0 failed"),
        "{tsv}"
    );
    assert!(out.join(replsim::staging::MARKER).exists());
    // A directory of the user's is refused, with nothing written.
    let mine = s.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let o = replsim()
        .args(["swarm", "--seeds", "1", "-q", "--out"])
        .arg(&mine)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    let o = replsim().args(["swarm", "--seeds", "0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
