//! Output directories: replsim never deletes what it did not write, one writer per sweep
//! directory, and tables with duplicated run ids are refused. Every refusal is exit 2 with a
//! message that says how to proceed, and leaves the user's files as they were.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replsim::staging::{DirLock, MARKER, OutputKind};

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    crate::scratch::dir("outputs", name)
}

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// Runs replsim in `cwd`.
fn replsim_in(cwd: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    crate::checked::replsim()
        .current_dir(cwd)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        stderr(out)
    );
    stdout
}

/// Exit 2, no panic, every needle in stderr, nothing on stdout (no simulation reported).
fn refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A small experiment on the classic worked example: 3 rates × 2 seeds, most runs surprising.
fn experiment(dir: &Path, max_bundles: u32) -> PathBuf {
    let text = format!(
        "[experiment]\nname = \"small\"\nmodel = {:?}\nseeds = 2\nhorizon = \"30s\"\n\
         max-bundles = {max_bundles}\n\n[[axes]]\npath = \"workloads.writer.ops-per-sec\"\n\
         values = [2000, 10000, 20000]\n",
        model("worked-example-classic.toml").display().to_string()
    );
    let path = dir.join("small.toml");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_users_directory_survives_run_replay_sweep_and_merge_even_with_force() {
    let dir = scratch("user-dir");
    let user = dir.join("thesis");
    fs::create_dir(&user).unwrap();
    fs::write(user.join("thesis.tex"), "\\documentclass{book}").unwrap();
    let m = model("default.toml");
    let needles = [
        "thesis",
        "was not written by replsim",
        "new or empty directory",
    ];
    refused(&replsim_in(&dir, &[&"run", &m, &"--out", &user]), &needles);
    refused(
        &replsim_in(&dir, &[&"run", &m, &"--out", &user, &"--force"]),
        &needles,
    );
    let bundle = dir.join("b.json");
    ok(&replsim_in(
        &dir,
        &[&"run", &m, &"--out", &dir.join("r"), &"--bundle", &bundle],
    ));
    refused(
        &replsim_in(&dir, &[&"replay", &bundle, &"--out", &user, &"--force"]),
        &needles,
    );
    let exp = experiment(&dir, 20);
    refused(
        &replsim_in(&dir, &[&"sweep", &exp, &"-q", &"--out", &user, &"--force"]),
        &needles,
    );
    ok(&replsim_in(
        &dir,
        &[
            &"sweep",
            &exp,
            &"-q",
            &"--shard",
            &"1/1",
            &"--out",
            &dir.join("s"),
        ],
    ));
    refused(
        &replsim_in(
            &dir,
            &[&"merge", &dir.join("s"), &"--out", &user, &"--force"],
        ),
        &needles,
    );
    assert_eq!(listing(&user), ["thesis.tex"]);
    assert_eq!(
        fs::read_to_string(user.join("thesis.tex")).unwrap(),
        "\\documentclass{book}"
    );
    // No staging folder is left beside it either.
    assert!(
        listing(&dir).iter().all(|n| !n.contains(".partial-")),
        "{:?}",
        listing(&dir)
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn out_dot_and_an_existing_file_are_refused_before_simulating() {
    let dir = scratch("dot");
    fs::copy(model("default.toml"), dir.join("m.toml")).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let before = listing(&dir);
    refused(
        &replsim_in(&dir, &[&"run", &"m.toml", &"--out", &"."]),
        &["current directory", "--out"],
    );
    refused(
        &replsim_in(&dir, &[&"run", &"m.toml", &"--out", &"./", &"--force"]),
        &["current directory"],
    );
    // An empty current directory is refused too (replacing it would pull it from under the
    // shell); so is any directory that holds the current one.
    let inner = dir.join("empty");
    fs::create_dir(&inner).unwrap();
    refused(
        &replsim_in(&inner, &[&"run", &"../m.toml", &"--out", &"."]),
        &["current directory"],
    );
    refused(
        &replsim_in(&inner, &[&"run", &"../m.toml", &"--out", &".."]),
        &["current directory"],
    );
    assert!(listing(&inner).is_empty());
    fs::remove_dir(&inner).unwrap();
    // --out naming a file.
    refused(
        &replsim_in(&dir, &[&"run", &"m.toml", &"--out", &"notes.txt"]),
        &["notes.txt", "is a file"],
    );
    let bundle = dir.join("b.json");
    ok(&replsim_in(
        &dir,
        &[&"run", &"m.toml", &"--out", &"r", &"--bundle", &bundle],
    ));
    refused(
        &replsim_in(&dir, &[&"replay", &bundle, &"--out", &"notes.txt"]),
        &["notes.txt", "is a file"],
    );
    // --bundle naming a file of the user's (an earlier bundle is replaced).
    refused(
        &replsim_in(
            &dir,
            &[&"run", &"m.toml", &"--out", &"r", &"--bundle", &"notes.txt"],
        ),
        &["notes.txt", "not a repro bundle"],
    );
    ok(&replsim_in(
        &dir,
        &[&"run", &"m.toml", &"--out", &"r", &"--bundle", &bundle],
    ));
    fs::remove_dir_all(dir.join("r")).unwrap();
    fs::remove_file(&bundle).unwrap();
    assert_eq!(listing(&dir), before);
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_model_name_cannot_lead_a_run_outside_output() {
    let dir = scratch("names");
    let work = dir.join("work");
    fs::create_dir(&work).unwrap();
    let text = fs::read_to_string(model("default.toml")).unwrap();
    assert!(text.contains("name = \"default\""));
    let outside = dir.join("escaped");
    for (i, name) in [
        "../../escaped".to_string(),
        "..".to_string(),
        outside.display().to_string(),
        "a/b".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let file = work.join(format!("m{i}.toml"));
        fs::write(
            &file,
            text.replacen("name = \"default\"", &format!("name = {name:?}"), 1),
        )
        .unwrap();
        let printed = ok(&replsim_in(&work, &[&"run", &file]));
        let out_line = printed
            .lines()
            .find_map(|l| l.trim().strip_prefix("output: "))
            .unwrap_or_else(|| panic!("no output line in {printed}"));
        let out = work.join(out_line);
        assert_eq!(
            out.parent(),
            Some(work.join("output").as_path()),
            "{name} -> {out_line}"
        );
        assert!(out.join("summary.json").is_file(), "{name} -> {out_line}");
    }
    assert_eq!(listing(&dir), ["work"]);
    assert_eq!(listing(&work.join("output")).len(), 4);
    let _ = fs::remove_dir_all(&dir);
}

/// A PID that is not running (a child that has exited and been reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn staging_folders_of_killed_runs_are_cleaned_and_nothing_else() {
    let dir = scratch("leftovers");
    let m = model("default.toml");
    ok(&replsim_in(&dir, &[&"run", &m, &"--out", &"first"]));
    let marker = fs::read_to_string(dir.join("first").join(MARKER)).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&marker).unwrap();
    assert_eq!(json["kind"], "run");
    // A staging folder as a killed replsim leaves it: its marker names its (dead) PID.
    let dead = dead_pid();
    json["pid"] = dead.into();
    let left = dir.join(format!(".first.partial-{dead}"));
    fs::create_dir(&left).unwrap();
    fs::write(left.join(MARKER), json.to_string()).unwrap();
    fs::write(left.join("summary.json"), "{}").unwrap();
    // Look-alikes that replsim must not touch: no marker, or an owner that is still running.
    let no_marker = dir.join(format!(".mine.partial-{dead}"));
    fs::create_dir(&no_marker).unwrap();
    fs::write(no_marker.join("keep.txt"), "mine").unwrap();
    let me = std::process::id();
    let alive = dir.join(format!(".other.partial-{me}"));
    fs::create_dir(&alive).unwrap();
    json["pid"] = me.into();
    fs::write(alive.join(MARKER), json.to_string()).unwrap();
    ok(&replsim_in(&dir, &[&"run", &m, &"--out", &"second"]));
    assert!(!left.exists(), "the killed run's staging folder is removed");
    assert!(no_marker.join("keep.txt").is_file());
    assert!(alive.join(MARKER).is_file());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn replsims_own_output_is_replaced_and_another_kind_only_with_force() {
    let dir = scratch("own");
    let m = model("default.toml");
    let out = dir.join("run");
    ok(&replsim_in(&dir, &[&"run", &m, &"--out", &out]));
    fs::write(out.join("stale.txt"), "from an earlier run").unwrap();
    let again = ok(&replsim_in(&dir, &[&"run", &m, &"--out", &out]));
    assert!(again.contains("output: "), "{again}");
    assert!(out.join("summary.json").is_file());
    assert!(!out.join("stale.txt").exists(), "replaced whole");
    // An empty directory is used as is, by a run and by a sweep (even with --resume).
    let empty = dir.join("empty");
    fs::create_dir(&empty).unwrap();
    ok(&replsim_in(&dir, &[&"run", &m, &"--out", &empty]));
    assert!(empty.join("summary.json").is_file());
    let exp = experiment(&dir, 20);
    let empty = dir.join("empty-for-sweep");
    fs::create_dir(&empty).unwrap();
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--resume", &"--out", &empty],
    ));
    assert!(empty.join("results.csv").is_file());
    // A sweep directory is not a run's to replace without --force; a sweep is not replaced by
    // another sweep without --force (or continued with --resume).
    let sweep = dir.join("sweep");
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--out", &sweep],
    ));
    refused(
        &replsim_in(&dir, &[&"run", &m, &"--out", &sweep]),
        &["sweep", "--force"],
    );
    refused(
        &replsim_in(&dir, &[&"sweep", &exp, &"-q", &"--out", &sweep]),
        &["--resume", "--force"],
    );
    assert!(sweep.join("results.csv").is_file());
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--out", &sweep, &"--force"],
    ));
    ok(&replsim_in(
        &dir,
        &[&"run", &m, &"--out", &sweep, &"--force"],
    ));
    assert!(sweep.join("summary.json").is_file() && !sweep.join("results.csv").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_second_writer_of_a_sweep_directory_is_refused_with_the_holders_pid() {
    let dir = scratch("lock");
    let exp = experiment(&dir, 20);
    let sweep = dir.join("sweep");
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--out", &sweep],
    ));
    let rows = fs::read(sweep.join("results.jsonl")).unwrap();
    {
        // This test process now holds the directory, as a running sweep would.
        let _held = DirLock::acquire(&sweep, OutputKind::Sweep).unwrap();
        let pid = std::process::id().to_string();
        let host = replsim::staging::host_name();
        for extra in [&["--resume"][..], &["--force"][..]] {
            let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
                vec![&"sweep", &exp, &"-q", &"--out", &sweep];
            for e in extra {
                args.push(e);
            }
            refused(
                &replsim_in(&dir, &args),
                &["being written by another replsim", &pid, &host],
            );
        }
        refused(
            &replsim_in(
                &dir,
                &[&"run", &model("default.toml"), &"--out", &sweep, &"--force"],
            ),
            &["being written by another replsim", &pid],
        );
        assert_eq!(fs::read(sweep.join("results.jsonl")).unwrap(), rows);
    }
    // Released: the sweep can be continued (it is finished: nothing changes).
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--out", &sweep, &"--resume"],
    ));
    assert_eq!(fs::read(sweep.join("results.jsonl")).unwrap(), rows);
    let _ = fs::remove_dir_all(&dir);
}

/// Appends a copy of the table's second row to both tables (as two concurrent writers do).
fn duplicate_a_row(dir: &Path) -> String {
    let mut run = String::new();
    for name in ["results.csv", "results.jsonl"] {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        let skip = usize::from(name.ends_with(".csv"));
        let line = text.lines().nth(skip + 1).unwrap().to_string();
        run = line
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .to_string();
        fs::write(dir.join(name), format!("{text}{line}\n")).unwrap();
    }
    run
}

#[test]
fn plot_and_merge_refuse_a_table_with_a_duplicated_run_id() {
    let dir = scratch("dups");
    let exp = experiment(&dir, 20);
    let sweep = dir.join("sweep");
    ok(&replsim_in(
        &dir,
        &[&"sweep", &exp, &"-q", &"--out", &sweep],
    ));
    ok(&replsim_in(&dir, &[&"plot", &sweep]));
    let run = duplicate_a_row(&sweep);
    refused(
        &replsim_in(&dir, &[&"plot", &sweep]),
        &["results.csv", &format!("run {run} appears more than once")],
    );
    for shard in ["1/2", "2/2"] {
        let out = dir.join(format!("s{}", &shard[..1]));
        ok(&replsim_in(
            &dir,
            &[&"sweep", &exp, &"-q", &"--shard", &shard, &"--out", &out],
        ));
    }
    let run = duplicate_a_row(&dir.join("s2"));
    let merged = dir.join("merged");
    refused(
        &replsim_in(
            &dir,
            &[
                &"merge",
                &dir.join("s1"),
                &dir.join("s2"),
                &"--out",
                &merged,
            ],
        ),
        &[
            "s2",
            "results.",
            &format!("run {run} appears more than once"),
        ],
    );
    assert!(!merged.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn merge_keeps_max_bundles_of_the_whole_sweep() {
    let dir = scratch("bundles");
    let exp = experiment(&dir, 2);
    let all = dir.join("all");
    ok(&replsim_in(&dir, &[&"sweep", &exp, &"-q", &"--out", &all]));
    let whole = listing(&all.join("bundles"));
    assert_eq!(whole.len(), 2, "the grid has more than 2 surprising runs");
    let mut shard_bundles = 0;
    for shard in ["1/3", "2/3", "3/3"] {
        let out = dir.join(format!("s{}", &shard[..1]));
        ok(&replsim_in(
            &dir,
            &[&"sweep", &exp, &"-q", &"--shard", &shard, &"--out", &out],
        ));
        shard_bundles += listing(&out.join("bundles")).len();
    }
    assert!(shard_bundles > 2, "each shard keeps its own max-bundles");
    let merged = dir.join("merged");
    let printed = ok(&replsim_in(
        &dir,
        &[
            &"merge",
            &dir.join("s1"),
            &dir.join("s2"),
            &dir.join("s3"),
            &"--out",
            &merged,
        ],
    ));
    assert!(printed.contains(", 2 bundles"), "{printed}");
    assert_eq!(listing(&merged.join("bundles")), whole);
    for b in &whole {
        assert_eq!(
            fs::read(all.join("bundles").join(b)).unwrap(),
            fs::read(merged.join("bundles").join(b)).unwrap(),
            "{b}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_names_its_first_surprising_run_once_and_replay_names_a_single_run() {
    let dir = scratch("once");
    let exp = experiment(&dir, 20);
    let sweep = dir.join("sweep");
    let out = replsim_in(&dir, &[&"sweep", &exp, &"--plain", &"--out", &sweep]);
    let stdout = ok(&out);
    let all = format!("{stdout}{}", stderr(&out));
    let first = listing(&sweep.join("bundles"))
        .into_iter()
        .map(|n| {
            n.trim_start_matches("run-")
                .trim_end_matches(".json")
                .parse::<u64>()
                .unwrap()
        })
        .min()
        .unwrap();
    let bundle = format!("run-{first}.json");
    assert_eq!(all.matches(&bundle).count(), 1, "{all}");
    assert!(
        stdout.contains(&format!("first surprising run: {first}")),
        "{stdout}"
    );
    let replayed = ok(&replsim_in(
        &dir,
        &[&"replay", &sweep.join("bundles").join(&bundle)],
    ));
    assert!(
        replayed.contains(&format!("run {first} of sweep small")),
        "{replayed}"
    );
    let single = dir.join("single.json");
    ok(&replsim_in(
        &dir,
        &[
            &"run",
            &model("default.toml"),
            &"--out",
            &dir.join("r"),
            &"--bundle",
            &single,
        ],
    ));
    let replayed = ok(&replsim_in(&dir, &[&"replay", &single]));
    assert!(
        replayed.contains("replsim run of model default"),
        "{replayed}"
    );
    assert!(!replayed.contains("of run"), "{replayed}");
    let _ = fs::remove_dir_all(&dir);
}

/// Every file of a run directory except `run-info.json` (wall-clock figures) and the marker
/// (its writer's PID and host), by name.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n != "run-info.json" && n != MARKER)
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The same model and seed give byte-identical outputs wherever `--out` points: a scripted
/// model (its replica is made by `replicaof`, so it has no closed-form parameters) used to
/// print the output directory's path on its charts and take its title from the folder's name.
#[test]
fn outputs_do_not_depend_on_where_the_output_directory_lies() {
    let root = scratch("path-free");
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/replication");
    for model in [
        conformance.join("link-status-up.toml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.toml"),
    ] {
        let (a, b) = (root.join("first"), root.join("deeper/other-name"));
        for out in [&a, &b] {
            let _ = fs::remove_dir_all(out);
            let o = replsim_in(&root, &[&"run", &model, &"--out", out]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let (fa, fb) = (files_of(&a), files_of(&b));
        assert!(fa.iter().any(|(n, _)| n == "timeline.svg"), "{fa:?}");
        for ((na, ca), (nb, cb)) in fa.iter().zip(&fb) {
            assert_eq!(na, nb);
            assert!(
                ca == cb,
                "{na} differs between {} and {}",
                a.display(),
                b.display()
            );
        }
        assert_eq!(fa.len(), fb.len());
        let html = String::from_utf8_lossy(&fa.iter().find(|(n, _)| n == "index.html").unwrap().1)
            .into_owned();
        assert!(!html.contains("<title>first"), "titled by its folder");
    }
}
