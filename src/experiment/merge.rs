//! Joining shard directories into one sweep directory whose tables are byte-identical to those
//! of an unsharded sweep. Refuses shards of different experiments (their `sweep.json` hashes
//! differ), overlapping, missing or unfinished shards.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ExperimentError;
use super::store::{
    BUNDLES, EXPERIMENT_TOML, INFO_JSON, MANIFEST, MODEL_TOML, Manifest, RESULTS_CSV,
    RESULTS_JSONL, Staging,
};
use super::table::RowHead;
use crate::staging::path_component;

/// What a merge did.
#[derive(Debug)]
pub struct MergeReport {
    /// The merged directory.
    pub out: PathBuf,
    /// The experiment's name.
    pub experiment: String,
    /// Runs in the merged tables.
    pub runs: u64,
    /// How many shards were joined.
    pub shards: u64,
    /// Bundles copied.
    pub bundles: u64,
}

/// One input directory and its manifest.
struct Input {
    dir: PathBuf,
    manifest: Manifest,
}

/// Merges the shard directories `dirs` into `out` (default: `<parent of the first>/<name>`).
pub fn merge(
    dirs: &[PathBuf],
    out: Option<&Path>,
    force: bool,
) -> Result<MergeReport, ExperimentError> {
    let inputs = load_inputs(dirs)?;
    let ordered = check_shards(&inputs)?;
    let first = &ordered[0].manifest;
    for input in &ordered {
        check_complete(input)?;
    }
    let out = out.map_or_else(
        || default_out(&ordered[0].dir, &first.experiment),
        Path::to_path_buf,
    );
    check_out(&out, &ordered)?;
    let staging = Staging::create(&out, force)?;
    let source = &ordered[0].dir;
    for name in [EXPERIMENT_TOML, MODEL_TOML] {
        let bytes = fs::read(source.join(name))
            .map_err(|e| ExperimentError::io(&source.join(name), "read", e))?;
        staging.write(name, &bytes)?;
    }
    let merged = Manifest {
        shard: None,
        ..first.clone()
    };
    let manifest = serde_json::to_string_pretty(&merged).unwrap_or_default() + "\n";
    staging.write(MANIFEST, manifest.as_bytes())?;
    join_tables(&ordered, first.runs, &staging)?;
    let bundles = copy_bundles(&ordered, &staging)?;
    let info = serde_json::json!({
        "merged_from": ordered.iter().map(|i| i.dir.display().to_string()).collect::<Vec<_>>(),
    });
    let info = serde_json::to_string_pretty(&info).unwrap_or_default() + "\n";
    staging.write(INFO_JSON, info.as_bytes())?;
    staging.commit()?;
    Ok(MergeReport {
        out,
        experiment: first.experiment.clone(),
        runs: first.runs,
        shards: ordered.len() as u64,
        bundles,
    })
}

fn load_inputs(dirs: &[PathBuf]) -> Result<Vec<Input>, ExperimentError> {
    if dirs.is_empty() {
        return Err(ExperimentError::BadInput(
            "give the shard directories to merge (e.g. replsim merge output/smoke-shard-*)".into(),
        ));
    }
    dirs.iter()
        .map(|d| {
            Ok(Input {
                dir: d.clone(),
                manifest: Manifest::load(d)?,
            })
        })
        .collect()
}

/// Same experiment, same shard count, every shard exactly once; returns them in shard order.
fn check_shards(inputs: &[Input]) -> Result<Vec<&Input>, ExperimentError> {
    let first = &inputs[0];
    for other in &inputs[1..] {
        if other.manifest.hash != first.manifest.hash {
            return Err(ExperimentError::BadInput(format!(
                "{} and {} hold different experiments ({} {} vs {} {}): merge only shards of one \
                 experiment, run with the same experiment file, model and replsim version",
                first.dir.display(),
                other.dir.display(),
                first.manifest.experiment,
                first.manifest.hash,
                other.manifest.experiment,
                other.manifest.hash
            )));
        }
    }
    let count = first.manifest.shard().count;
    let mut slots: Vec<Option<&Input>> = vec![None; count as usize];
    for input in inputs {
        let shard = input.manifest.shard();
        if shard.count != count {
            return Err(ExperimentError::BadInput(format!(
                "{} is shard {shard} but {} is shard {}: all shards must come from one --shard i/N",
                input.dir.display(),
                first.dir.display(),
                first.manifest.shard()
            )));
        }
        let slot = &mut slots[(shard.index - 1) as usize];
        if let Some(seen) = slot {
            return Err(ExperimentError::BadInput(format!(
                "overlapping shards: {} and {} are both shard {shard}",
                seen.dir.display(),
                input.dir.display()
            )));
        }
        *slot = Some(input);
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| slots[(*i - 1) as usize].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(ExperimentError::BadInput(format!(
            "missing shard(s) {} of experiment {}",
            missing.join(", "),
            first.manifest.experiment
        )));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Every run of the shard is in both tables, once.
fn check_complete(input: &Input) -> Result<(), ExperimentError> {
    check_unique_runs(&input.dir.join(RESULTS_JSONL), false)?;
    check_unique_runs(&input.dir.join(RESULTS_CSV), true)?;
    let shard = input.manifest.shard();
    let want = shard.len(input.manifest.runs);
    let json = count_lines(&input.dir.join(RESULTS_JSONL))?;
    let csv = count_lines(&input.dir.join(RESULTS_CSV))?.saturating_sub(1);
    if json == want && csv == want {
        return Ok(());
    }
    Err(ExperimentError::BadInput(format!(
        "{} (shard {shard}) is unfinished: {} of {want} runs; finish it with replsim sweep \
         <experiment> --shard {shard} --resume --out {}",
        input.dir.display(),
        json.min(csv),
        input.dir.display()
    )))
}

/// Refuses a table in which a run id appears twice (two writers appended to the shard at once).
fn check_unique_runs(path: &Path, csv: bool) -> Result<(), ExperimentError> {
    let mut lines = Lines::open(path)?;
    if csv {
        lines.next()?;
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut line_no = if csv { 1 } else { 0 };
    while let Some(line) = lines.next()? {
        line_no += 1;
        let Some(run) = run_of(&line, csv) else {
            continue;
        };
        if let Some(first) = seen.insert(run, line_no) {
            return Err(ExperimentError::BadInput(format!(
                "{}: run {run} appears more than once (lines {first} and {line_no}): two sweeps \
                 wrote into this shard at once; run the shard again into a new directory",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The run id of a CSV or JSON row.
fn run_of(line: &[u8], csv: bool) -> Option<u64> {
    if csv {
        let end = line.iter().position(|&b| b == b',')?;
        return std::str::from_utf8(&line[..end]).ok()?.parse().ok();
    }
    serde_json::from_slice::<RowHead>(line).ok().map(|h| h.run)
}

/// Whole (newline-terminated) lines of a file.
fn count_lines(path: &Path) -> Result<u64, ExperimentError> {
    let mut lines = Lines::open(path)?;
    let mut n = 0;
    while lines.next()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn default_out(first: &Path, experiment: &str) -> PathBuf {
    first
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(path_component(experiment))
}

/// `out` must not be one of the shards (the rest is [`Staging::create`]'s to check).
fn check_out(out: &Path, inputs: &[&Input]) -> Result<(), ExperimentError> {
    let same = |d: &Path| match (fs::canonicalize(d), fs::canonicalize(out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if inputs.iter().any(|i| same(&i.dir)) {
        return Err(ExperimentError::BadInput(format!(
            "--out {} is one of the shards; choose another directory",
            out.display()
        )));
    }
    Ok(())
}

/// Both tables, run by run: run `r` is the next line of shard `r % N`.
fn join_tables(inputs: &[&Input], runs: u64, staging: &Staging) -> Result<(), ExperimentError> {
    for (name, header) in [(RESULTS_CSV, true), (RESULTS_JSONL, false)] {
        let mut readers = Vec::new();
        let mut head: Option<Vec<u8>> = None;
        for input in inputs {
            let path = input.dir.join(name);
            let mut r = Lines::open(&path)?;
            if header && let Some(h) = r.next()? {
                check_header(&mut head, h, &path)?;
            }
            readers.push(r);
        }
        let out_path = staging.path(name);
        let file =
            File::create(&out_path).map_err(|e| ExperimentError::io(&out_path, "write", e))?;
        let mut w = BufWriter::new(file);
        let io = |e| ExperimentError::io(&out_path, "write", e);
        if let Some(h) = &head {
            w.write_all(h).map_err(io)?;
        }
        for run in 0..runs {
            let r = &mut readers[(run % inputs.len() as u64) as usize];
            let line = r.next()?.ok_or_else(|| {
                ExperimentError::BadInput(format!("{} ends before run {run}", r.path.display()))
            })?;
            if !holds_run(&line, run, header) {
                return Err(ExperimentError::BadInput(format!(
                    "{}: the row where run {run} belongs holds another run; the shard was edited",
                    r.path.display()
                )));
            }
            w.write_all(&line).map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    Ok(())
}

/// Whether a CSV (`csv`) or JSON line is the row of `run`.
fn holds_run(line: &[u8], run: u64, csv: bool) -> bool {
    if csv {
        return line.starts_with(format!("{run},").as_bytes());
    }
    serde_json::from_slice::<RowHead>(line).is_ok_and(|h| h.run == run)
}

fn check_header(
    head: &mut Option<Vec<u8>>,
    h: Vec<u8>,
    path: &Path,
) -> Result<(), ExperimentError> {
    match head {
        Some(seen) if *seen != h => Err(ExperimentError::BadInput(format!(
            "{}: its columns differ from the other shards'",
            path.display()
        ))),
        Some(_) => Ok(()),
        None => {
            *head = Some(h);
            Ok(())
        }
    }
}

/// Whole lines of a file, newline included.
struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, ExperimentError> {
        let file = File::open(path).map_err(|e| ExperimentError::io(path, "read", e))?;
        Ok(Lines {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
        })
    }

    fn next(&mut self) -> Result<Option<Vec<u8>>, ExperimentError> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ExperimentError::io(&self.path, "read", e))?;
        Ok((n > 0 && line.ends_with(b"\n")).then_some(line))
    }
}

/// Copies the bundles an unsharded sweep would have written: the first `max-bundles` in run
/// order over all shards (each shard kept its own first `max-bundles`, which include these).
fn copy_bundles(inputs: &[&Input], staging: &Staging) -> Result<u64, ExperimentError> {
    staging.mkdir(BUNDLES)?;
    let mut found = std::collections::BTreeMap::new();
    for input in inputs {
        let dir = input.dir.join(BUNDLES);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let run = name
                .strip_prefix("run-")
                .and_then(|r| r.strip_suffix(".json"))
                .and_then(|r| r.parse::<u64>().ok());
            if let Some(run) = run {
                found.insert(run, (entry.path(), name));
            }
        }
    }
    let max = max_bundles(&inputs[0].dir)?;
    let mut copied = 0;
    for (from, name) in found.into_values().take(max) {
        let to = staging.path(BUNDLES).join(&name);
        fs::copy(&from, &to).map_err(|e| ExperimentError::io(&to, "write", e))?;
        copied += 1;
    }
    Ok(copied as u64)
}

/// `experiment.max-bundles` of the resolved experiment a shard was run with.
fn max_bundles(dir: &Path) -> Result<usize, ExperimentError> {
    let path = dir.join(EXPERIMENT_TOML);
    let text = fs::read_to_string(&path).map_err(|e| ExperimentError::Unreadable {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| ExperimentError::Invalid {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    value
        .get("experiment")
        .and_then(|e| e.get("max-bundles"))
        .and_then(toml::Value::as_integer)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            ExperimentError::semantic(
                path.display().to_string(),
                "experiment.max-bundles",
                "missing or not a count (the file is written by replsim sweep)",
            )
        })
}
