//! `replsim conformance`: the translated Valkey tests in conformance/ all pass, the set only
//! grows, and bad input is refused with exit 2 naming the file.

use std::path::Path;
use std::process::Output;

use crate::scratch;

fn replsim(args: &[&str]) -> Output {
    crate::checked::replsim()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// Models with a `[conformance]` table under `dir`.
fn conformance_models(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += conformance_models(&path);
        } else if path.extension().is_some_and(|e| e == "toml")
            && std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .any(|l| l.trim() == "[conformance]")
        {
            n += 1;
        }
    }
    n
}

#[test]
fn every_translated_test_passes() {
    let present = conformance_models(&Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance"));
    assert!(present >= 40, "the set only grows: {present} models");
    let out = replsim(&["conformance", "conformance", "--quiet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        last,
        format!("{present}/{present} passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    // One row per instance, each with 3/3 seeds.
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" 3/3 ")).count(),
        present
    );
}

#[test]
fn json_rows_name_the_source_test() {
    let out = replsim(&[
        "conformance",
        "conformance",
        "--quiet",
        "--seeds",
        "1",
        "--filter",
        "ok-psync-mdl-yes-sdl-disabled-dual-yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["instances"], 1);
    assert_eq!(v["passed"], 1);
    let row = &v["rows"][0];
    assert_eq!(row["file"], "tests/integration/replication-psync.tcl");
    assert_eq!(
        row["source_test"],
        "Test replication partial resync: ok psync (diskless: yes, disabled, dual-channel: yes, reconnect: 1)"
    );
    assert_eq!(row["seeds_passed"], 1);
}

const FAILING: &str = r#"
[model]
name = "never"
horizon = "2s"

[conformance]
file = "tests/integration/replication.tcl"
test = "a wait that cannot hold"

[dataset]
keys = 10
value-size = "10"

[[nodes]]
name = "primary"
role = "primary"

[[actions]]
name = "impossible"
do = "expect"
when = { node = "primary", info = "sync_full", op = ">", value = 0 }
timeout = "1s"
"#;

#[test]
fn a_failing_instance_exits_1_and_writes_its_bundles() {
    let dir = scratch::dir("conformance", "failing");
    std::fs::write(dir.join("never.toml"), FAILING).unwrap();
    // A model without [conformance] is not part of the set.
    std::fs::write(
        dir.join("plain.toml"),
        FAILING.replace(
            "[conformance]\nfile = \"tests/integration/replication.tcl\"\ntest = \"a wait that cannot hold\"\n",
            "",
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = replsim(&[
        "conformance",
        dir.to_str().unwrap(),
        "--quiet",
        "--seeds",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("0/1 passed"), "{stdout}");
    assert!(stdout.contains("0/2"), "{stdout}");
    assert!(
        stdout.contains("seed 1: impossible: timed out after 1s waiting for sync_full > 0"),
        "{stdout}"
    );
    let bundles = out_dir.join("bundles");
    assert_eq!(std::fs::read_dir(&bundles).unwrap().count(), 2);
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = scratch::dir("conformance", "bad");
    std::fs::write(dir.join("broken.toml"), "[model]\nname = 3\n").unwrap();
    let out = replsim(&["conformance", dir.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml"));
    assert!(out.stdout.is_empty(), "nothing printed before the error");

    // A conformance model that asserts nothing.
    let lax = scratch::dir("conformance", "lax");
    let text = FAILING.replace("timeout = \"1s\"\n", "");
    std::fs::write(lax.join("lax.toml"), text).unwrap();
    let out = replsim(&["conformance", lax.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lax.toml") && err.contains("assert"), "{err}");

    for args in [
        &["conformance", "no-such-folder"][..],
        &["conformance", "conformance", "--seeds", "0"][..],
        &["conformance", "conformance", "--jobs", "0"][..],
        &[
            "conformance",
            "conformance",
            "--filter",
            "matches-nothing-at-all",
        ][..],
    ] {
        let out = replsim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }

    // value-of names a node and a field that exist.
    for (i, (bad, key)) in [
        (
            "value-of = { node = \"nobody\", info = \"sync_full\" }",
            "when.value-of.node",
        ),
        (
            "value-of = { node = \"primary\", info = \"no_such\" }",
            "when.value-of.info",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = scratch::dir("conformance", &format!("value-of-{i}"));
        let text = FAILING.replace("value = 0 }", &format!("{bad} }}"));
        assert!(text.contains(bad));
        std::fs::write(dir.join("m.toml"), text).unwrap();
        let out = replsim(&["run", dir.join("m.toml").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("m.toml") && err.contains(key), "{err}");
    }
}
