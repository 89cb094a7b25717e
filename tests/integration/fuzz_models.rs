//! Damaged bundled models through the `replsim` binary: whatever the damage (a deleted or
//! repeated line, a number swapped for a huge, negative or zero one, a truncated file, a stray
//! character), `replsim run` exits 0, 1 or 2, never panics or aborts, says why on stderr when it
//! fails, stays within its event budget, and stays within a memory bound.
//!
//! 200 cases by default; `REPLSIM_FUZZ_CASES=5000 cargo test --release --test integration
//! fuzz_models` runs more. Each case runs with an event budget (`model.max-events`) and a memory
//! cap (`--max-memory`), so its cost is bounded by work, not by the clock; a CPU-time limit on
//! the child only turns a hang into a failure instead of a stuck test.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use proptest::prelude::*;

/// The event budget every case runs with.
const EVENTS: u64 = 200_000;
/// The memory cap passed to `--max-memory`.
const MAX_MEMORY: &str = "512MiB";
/// The largest resident set a case may reach (generous: the cap above is an estimate).
const MAX_RSS_BYTES: u64 = 1 << 30;
/// Address-space limit of the child, so that a runaway case fails instead of swapping.
const ADDRESS_SPACE_BYTES: u64 = 4 << 30;
/// CPU seconds after which the child is killed: a hang detector far above any case's cost.
const CPU_SECONDS: u64 = 300;

/// Numbers that break arithmetic: zero, negative, the integer limits, tiny and huge floats.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "9223372036854775807",
    "18446744073709551615",
    "4294967296",
    "1e308",
    "0.0000001",
    "99999999999999",
    "-0.5",
];

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["models", "validation"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        names.sort();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap();
            files.push((p, text));
        }
    }
    files
}

/// One kind of damage, with the random numbers that place it.
#[derive(Clone, Debug)]
enum Damage {
    DeleteLine(usize),
    RepeatLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
    Number(usize, usize),
    Char(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        1 => any::<usize>().prop_map(Damage::DeleteLine),
        1 => any::<usize>().prop_map(Damage::RepeatLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Damage::Truncate),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::Number(a, b)),
        1 => (any::<usize>(), 32u8..127).prop_map(|(a, c)| Damage::Char(a, c)),
    ]
}

/// The runs of ASCII digits (with a fraction) in `text`, as byte ranges.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            found.push((start, i));
        } else {
            i += 1;
        }
    }
    found
}

fn apply(text: &str, d: &Damage) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len().max(1);
    match *d {
        Damage::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
            lines.join("\n")
        }
        Damage::RepeatLine(i) if !lines.is_empty() => {
            lines.insert(i % n, lines[i % n]);
            lines.join("\n")
        }
        Damage::SwapLines(a, b) if !lines.is_empty() => {
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
        Damage::Truncate(i) => {
            let mut cut = i % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        Damage::Number(i, k) => match numbers(text).get(i % numbers(text).len().max(1)) {
            Some(&(a, b)) => format!("{}{}{}", &text[..a], NUMBERS[k % NUMBERS.len()], &text[b..]),
            None => text.to_string(),
        },
        Damage::Char(i, c) if !text.is_empty() => {
            let mut at = i % text.len();
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut s = text.to_string();
            let end = at + s[at..].chars().next().map_or(0, char::len_utf8);
            s.replace_range(at..end, &char::from(c).to_string());
            s
        }
        _ => text.to_string(),
    }
}

/// What one run of the binary did.
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    max_rss_bytes: u64,
    stdout: String,
    stderr: String,
}

/// Runs `replsim run <model> --json` with the event budget, the memory cap and the child
/// limits, and reaps it with `wait4` to read its own peak resident set.
#[allow(clippy::zombie_processes)] // `wait4` reaps the child (and `Child::wait` cannot give rusage)
fn run_limited(dir: &Path, model: &Path) -> Outcome {
    use std::os::unix::process::CommandExt;
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let mut cmd = crate::checked::replsim();
    cmd.arg("run")
        .arg(model)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--json")
        .arg("--max-memory")
        .arg(MAX_MEMORY)
        .arg("--set")
        .arg(format!("model.max-events={EVENTS}"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let limit = |resource, value: u64| {
                let l = libc::rlimit {
                    rlim_cur: value as libc::rlim_t,
                    rlim_max: value as libc::rlim_t,
                };
                libc::setrlimit(resource, &l)
            };
            limit(libc::RLIMIT_AS, ADDRESS_SPACE_BYTES);
            limit(libc::RLIMIT_CPU, CPU_SECONDS);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value to be overwritten by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (
            None,
            libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        )
    };
    Outcome {
        code,
        signal,
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
        stdout: std::fs::read_to_string(stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(stderr_path).unwrap_or_default(),
    }
}

/// Checks one damaged model; the error says what went wrong.
fn check(dir: &Path, text: &str) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let model = dir.join("damaged.toml");
    std::fs::write(&model, text).unwrap();
    let o = run_limited(dir, &model);
    let what = || {
        format!(
            "exit {:?}, signal {:?}, rss {} MiB\nstderr: {}",
            o.code,
            o.signal,
            o.max_rss_bytes >> 20,
            o.stderr
        )
    };
    match o.code {
        Some(0) => {
            let record: serde_json::Value = serde_json::from_str(&o.stdout)
                .map_err(|e| format!("exit 0 but stdout is not the outcome record: {e}"))?;
            let events = record["events"].as_u64().unwrap_or(u64::MAX);
            if events > EVENTS {
                return Err(format!("{events} events, over the budget of {EVENTS}"));
            }
        }
        Some(1 | 2) if !o.stderr.trim().is_empty() => {
            if o.stderr.contains("panicked") {
                return Err(format!("a panic reported as an error: {}", what()));
            }
        }
        _ => return Err(format!("not exit 0/1/2 with a message: {}", what())),
    }
    if o.max_rss_bytes > MAX_RSS_BYTES {
        return Err(format!("used too much memory: {}", what()));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("REPLSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn damaged_bundled_models_exit_cleanly(
        file in any::<usize>(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let files = corpus();
        let (path, original) = &files[file % files.len()];
        let text = damages.iter().fold(original.clone(), |t, d| apply(&t, d));
        let dir = std::env::temp_dir()
            .join(format!("replsim-fuzz-{}", std::process::id()));
        let result = check(&dir, &text);
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert!(
            result.is_ok(),
            "{} damaged by {damages:?}:\n{}\n--- model ---\n{text}",
            path.display(),
            result.unwrap_err()
        );
    }
}

#[test]
fn the_damage_is_applied() {
    let text = "a = 10\nb = \"5mb\"\nc = 2.5\n";
    assert_eq!(numbers(text), [(4, 6), (12, 13), (21, 24)]);
    let swapped = apply(text, &Damage::Number(1, 3));
    assert_eq!(swapped, "a = 10\nb = \"9223372036854775807mb\"\nc = 2.5\n");
    assert_eq!(apply(text, &Damage::DeleteLine(0)), "b = \"5mb\"\nc = 2.5");
    assert_eq!(apply(text, &Damage::Truncate(3)), "a =");
}
