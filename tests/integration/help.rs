//! Every `--help` example names files that exist: bundled models, experiments and validation
//! cases in the repository, and the smoke sweep's bundle that `replay --help` replays.

use std::fs;
use std::path::Path;

const SUBCOMMANDS: &[&str] = &[
    "run",
    "sweep",
    "merge",
    "replay",
    "plot",
    "completions",
    "bench",
    "validate",
    "calibrate",
];

fn help(sub: &str) -> String {
    let out = crate::checked::replsim()
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "replsim {sub} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The words of a help text that look like a path with a file extension (not a pattern such
/// as `models/*.toml` or `bundles/run-<i>.json`).
fn file_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '`' | '\''))
        .filter(|w| w.contains('/') && (w.ends_with(".toml") || w.ends_with(".json")))
        .filter(|w| !w.contains(['*', '<', '{']))
        .map(str::to_string)
        .collect()
}

#[test]
fn help_examples_name_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut bundles = Vec::new();
    for sub in SUBCOMMANDS {
        for path in file_paths(&help(sub)) {
            if let Some(rest) = path.strip_prefix("output/smoke/") {
                bundles.push(rest.to_string());
                continue;
            }
            if ["models/", "experiments/", "validation/"]
                .iter()
                .any(|d| path.starts_with(d))
            {
                assert!(
                    root.join(&path).is_file(),
                    "replsim {sub} --help names {path}, which does not exist"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} example files found");
    assert!(!bundles.is_empty(), "replay --help names a smoke bundle");
    // The smoke sweep writes the bundles the help replays.
    let dir = std::env::temp_dir().join(format!("replsim-help-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let out = crate::checked::replsim()
        .arg("sweep")
        .arg(root.join("experiments/smoke.toml"))
        .arg("-q")
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for b in bundles {
        assert!(
            dir.join(&b).is_file(),
            "output/smoke/{b} is not written by the smoke sweep"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
