//! Every run the test suite makes is checked by the invariant checker (`valkey::invariants`):
//! in-process runs take their options from [`options`], and every spawned `replsim` comes from
//! [`replsim`], which sets `REPLSIM_CHECK=1`. The last test keeps it so.

use std::process::Command;

use replsim::scenario::ModelFile;
use replsim::valkey::RunOptions;

/// The `replsim` binary, with the invariant checker on for every run it makes.
pub fn replsim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_replsim"));
    cmd.env("REPLSIM_CHECK", "1");
    cmd
}

/// Runs `cmd` (made by [`replsim`]) to its end: (exit code, stdout, stderr); -1 when a signal
/// ended it.
pub fn outcome(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run options of `model`, checked.
pub fn options(model: &ModelFile) -> RunOptions {
    let mut o = model.run_options();
    o.check = true;
    o
}

#[test]
fn every_run_of_the_suite_goes_through_the_checked_helpers() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let spawn = ["Command::new(env!(\"CARGO_BIN_EXE_", "replsim\"))"].concat();
    let unchecked = [".run", "_options())"].concat();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "checked.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.contains(&spawn) && !line.contains(&unchecked),
                "{}:{}: spawn replsim with checked::replsim() and build runs with \
                 checked::options(&model), so that the invariant checker sees every run",
                path.display(),
                i + 1
            );
        }
    }
}

#[test]
fn the_environment_switch_reaches_the_binary() {
    let dir = std::env::temp_dir().join(format!("replsim-checked-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/loopback-calibrated.toml"
    );
    let out = replsim()
        .args(["run", model, "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = std::fs::read_to_string(dir.join("run-info.json")).unwrap();
    assert!(info.contains("\"invariants_checked\": true"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parses a model text (named `name` in errors) and runs it, checked; panics on any error.
pub fn run_text(text: &str, name: &str) -> replsim::valkey::RunResult {
    let m = replsim::scenario::parse_model(text, name, &[]).unwrap_or_else(|e| panic!("{e}"));
    replsim::valkey::Cluster::build(&m.cluster(), &options(&m))
        .unwrap()
        .run()
        .unwrap()
}
