//! A loaded experiment: the axes expanded into a grid of points, each point run with `seeds`
//! seeds. Run `i` is repetition `i % seeds` of point `i / seeds`; points are numbered
//! row-major over the axes in file order (the last axis varies fastest).
//!
//! A run's seed is `derive_seed(experiment seed, [point key, repetition])`, where the point key
//! is a hash of the point's `path=value` assignments, not its position in the grid: adding a
//! value to an axis, or reordering axes, leaves every other point's seeds (and results) as they
//! were.

use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use toml::Value;

use super::file::{ExperimentFile, ExperimentMeta, OUTCOMES};
use super::{Axis, ExperimentError, value_text};
use crate::engine::{SimDuration, derive_seed};
use crate::scenario::{Footprint, ModelFile, Override, ScenarioError, parse_model};

/// At most this many runs in one experiment (checked before any axis is expanded; the memory
/// cap of `replsim sweep`, see [`crate::experiment::SweepOptions::max_memory`], usually binds
/// first).
const MAX_RUNS: u64 = 100_000_000;

/// At most this many values on one axis (expanded values cost about 100 bytes each).
const MAX_AXIS_VALUES: u64 = 10_000_000;

/// An experiment ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The experiment file, as given.
    pub file: PathBuf,
    /// The experiment's name (output directory).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The base model as written in the experiment file.
    pub model_ref: String,
    /// The base model's path (relative to the working directory, or absolute).
    pub model_path: PathBuf,
    /// The base model's text.
    pub model_text: String,
    /// The base model, parsed.
    pub base: ModelFile,
    /// The expanded axes.
    pub axes: Vec<Axis>,
    /// The experiment seed.
    pub seed: u64,
    /// Runs per point.
    pub seeds: u32,
    /// The horizon override.
    pub horizon: Option<SimDuration>,
    /// Outcomes that write a repro bundle.
    pub bundle_outcomes: Vec<String>,
    /// At most this many bundles.
    pub max_bundles: u32,
    /// Check the model's invariants in every run (`[experiment] check`, `sweep --check`).
    pub check: bool,
    /// `[plot]`, as written.
    pub plot: toml::Table,
    resolved: String,
    hash: String,
}

/// One run of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Run index in `0..plan.runs()`.
    pub index: u64,
    /// Point index.
    pub point: u64,
    /// Repetition within the point, `0..seeds`.
    pub rep: u64,
    /// The run's master seed (below 2⁶³, so that it fits a TOML integer).
    pub seed: u64,
}

impl Plan {
    /// Reads and checks an experiment file (not yet every point: see [`Plan::validate`]).
    pub fn load(path: &Path) -> Result<Plan, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::Unreadable {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Plan::parse(&text, path)
    }

    /// Parses experiment text; `path` locates the base model and names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Plan, ExperimentError> {
        let file = path.display().to_string();
        let parsed: ExperimentFile =
            toml::from_str(text).map_err(|e| ExperimentError::Invalid {
                file: file.clone(),
                message: e.to_string(),
            })?;
        let meta = &parsed.experiment;
        let name = experiment_name(meta.name.as_deref(), path)
            .map_err(|r| ExperimentError::semantic(&file, "experiment.name", r))?;
        if meta.seeds == 0 {
            return Err(ExperimentError::semantic(
                &file,
                "experiment.seeds",
                "must be at least 1 (runs per point)",
            ));
        }
        let bundle_outcomes = bundle_outcomes(meta.bundle.as_deref())
            .map_err(|r| ExperimentError::semantic(&file, "experiment.bundle", r))?;
        check_grid_size(&parsed, &file)?;
        let axes = expand_axes(&parsed, &file)?;
        check_plot(&parsed.plot, &axes)
            .map_err(|(k, r)| ExperimentError::semantic(&file, format!("plot.{k}"), r))?;
        let (model_path, model_text, base) = read_base_model(meta, path, &file)?;
        let mut plan = Plan {
            file: path.to_path_buf(),
            name,
            description: meta.description.clone(),
            model_ref: meta.model.clone(),
            model_path,
            model_text,
            base,
            axes,
            seed: meta.seed,
            seeds: meta.seeds,
            horizon: meta.horizon,
            bundle_outcomes,
            max_bundles: meta.max_bundles,
            check: meta.check,
            plot: parsed.plot.clone(),
            resolved: String::new(),
            hash: String::new(),
        };
        plan.resolve();
        Ok(plan)
    }

    /// Number of points (the product of the axes' lengths; 1 without axes).
    pub fn points(&self) -> u64 {
        self.axes.iter().map(|a| a.values.len() as u64).product()
    }

    /// Number of runs: points × seeds.
    pub fn runs(&self) -> u64 {
        self.points() * u64::from(self.seeds)
    }

    /// Run `index`'s point, repetition and seed.
    pub fn run(&self, index: u64) -> RunSpec {
        let seeds = u64::from(self.seeds);
        let (point, rep) = (index / seeds, index % seeds);
        RunSpec {
            index,
            point,
            rep,
            seed: self.seed_of(point, rep),
        }
    }

    /// The value of every axis at `point`, in axis order.
    pub fn point_values(&self, point: u64) -> Vec<(&str, &Value)> {
        let mut rest = point;
        let mut out: Vec<(&str, &Value)> = self
            .axes
            .iter()
            .rev()
            .map(|a| {
                let n = a.values.len() as u64;
                let v = &a.values[(rest % n) as usize];
                rest /= n;
                (a.path.as_str(), v)
            })
            .collect();
        out.reverse();
        out
    }

    /// The overrides that make `point`'s model from the base model (horizon first).
    pub fn point_overrides(&self, point: u64) -> Vec<Override> {
        self.horizon_override()
            .into_iter()
            .chain(
                self.point_values(point)
                    .into_iter()
                    .map(|(path, v)| Override {
                        path: path.to_string(),
                        value: value_text(v),
                    }),
            )
            .collect()
    }

    fn horizon_override(&self) -> Option<Override> {
        self.horizon.map(|h| Override {
            path: "model.horizon".into(),
            value: format!("\"{h}\""),
        })
    }

    /// A hash of `point`'s assignments, independent of the rest of the grid.
    pub fn point_key(&self, point: u64) -> u64 {
        let mut lines: Vec<String> = self
            .point_values(point)
            .into_iter()
            .map(|(path, v)| format!("{path}={}\n", value_text(v)))
            .collect();
        lines.sort();
        fnv1a(lines.concat().as_bytes(), FNV_OFFSET)
    }

    /// The seed of repetition `rep` of `point`.
    pub fn seed_of(&self, point: u64, rep: u64) -> u64 {
        derive_seed(self.seed, &[self.point_key(point), rep]) & (i64::MAX as u64)
    }

    /// The resolved model of `run`: the base model, the point's overrides, the run's seed.
    pub fn model_for(&self, run: &RunSpec) -> Result<ModelFile, ScenarioError> {
        let mut overrides = self.point_overrides(run.point);
        overrides.push(Override {
            path: "model.seed".into(),
            value: run.seed.to_string(),
        });
        if self.check {
            overrides.push(Override {
                path: "model.check".into(),
                value: "true".into(),
            });
        }
        parse_model(
            &self.model_text,
            &self.model_path.display().to_string(),
            &overrides,
        )
    }

    /// Checks every axis value, then every point's model, before anything runs (in parallel on
    /// the current rayon pool). The error names the axis or the point.
    pub fn validate(&self) -> Result<(), ExperimentError> {
        self.validate_footprint().map(|_| ())
    }

    /// [`Plan::validate`], returning the largest memory estimate of one run over the points.
    pub fn validate_footprint(&self) -> Result<Footprint, ExperimentError> {
        self.validate_axes()?;
        let checked = (0..self.points()).into_par_iter().map(|point| {
            parse_model(
                &self.model_text,
                &self.model_path.display().to_string(),
                &self.point_overrides(point),
            )
            .map(|m| (Footprint::of(&m), point))
            .map_err(|e| (point, e))
        });
        let largest = checked.try_reduce_with(|a, b| Ok(if b.0.bytes > a.0.bytes { b } else { a }));
        match largest {
            None => Ok(Footprint::of(&self.base)),
            Some(Ok((f, _))) => Ok(f),
            Some(Err((point, e))) => Err(ExperimentError::semantic(
                self.file.display().to_string(),
                "axes",
                format!("point {point} ({}): {e}", self.describe_point(point)),
            )),
        }
    }

    /// Each axis value alone on the base model, so that an error names its axis.
    fn validate_axes(&self) -> Result<(), ExperimentError> {
        let model_file = self.model_path.display().to_string();
        for (i, axis) in self.axes.iter().enumerate() {
            for value in &axis.values {
                let mut overrides: Vec<Override> = self.horizon_override().into_iter().collect();
                overrides.push(Override {
                    path: axis.path.clone(),
                    value: value_text(value),
                });
                if let Err(e) = parse_model(&self.model_text, &model_file, &overrides) {
                    return Err(ExperimentError::semantic(
                        self.file.display().to_string(),
                        format!("axes[{i}]"),
                        format!(
                            "axis \"{}\" = {}: the model rejects it: {e}",
                            axis.path,
                            value_text(value)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `path=value, path=value` of a point.
    pub fn describe_point(&self, point: u64) -> String {
        self.point_values(point)
            .iter()
            .map(|(p, v)| format!("{p}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether a run with this outcome writes a repro bundle.
    pub fn bundles(&self, outcome: &str) -> bool {
        self.bundle_outcomes.iter().any(|o| o == outcome)
    }

    /// `experiment.resolved.toml`: the experiment with its axes expanded.
    pub fn resolved_toml(&self) -> &str {
        &self.resolved
    }

    /// A hash of the resolved experiment, the base model and replsim's version: two sweep
    /// directories with the same hash hold runs of the same experiment.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `replsim run` command line that reproduces `run`.
    pub fn reproduce_command(&self, run: &RunSpec) -> String {
        let sets: String = self
            .point_overrides(run.point)
            .iter()
            .map(|o| format!(" --set {}", shell_set_arg(o)))
            .collect();
        let check = if self.check { " --check" } else { "" };
        format!(
            "replsim run {} --seed {}{sets}{check}",
            self.model_path.display(),
            run.seed
        )
    }

    fn resolve(&mut self) {
        let resolved = Resolved {
            experiment: ResolvedMeta {
                name: &self.name,
                description: &self.description,
                model: &self.model_ref,
                model_name: &self.base.model.name,
                seed: self.seed,
                seeds: self.seeds,
                horizon: self.horizon.map(|h| h.to_string()),
                points: self.points(),
                runs: self.runs(),
                bundle: &self.bundle_outcomes,
                max_bundles: self.max_bundles,
                replsim_version: env!("CARGO_PKG_VERSION"),
            },
            axes: &self.axes,
            plot: &self.plot,
        };
        self.resolved = toml::to_string_pretty(&resolved).unwrap_or_default();
        let hashed = format!("{}\0{}", self.resolved, self.base.to_toml());
        self.hash = format!(
            "{:016x}{:016x}",
            fnv1a(hashed.as_bytes(), FNV_OFFSET),
            fnv1a(hashed.as_bytes(), FNV_OFFSET ^ 0x5bd1_e995)
        );
    }
}

#[derive(Serialize)]
struct Resolved<'a> {
    experiment: ResolvedMeta<'a>,
    axes: &'a [Axis],
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    plot: &'a toml::Table,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ResolvedMeta<'a> {
    name: &'a str,
    description: &'a str,
    model: &'a str,
    model_name: &'a str,
    seed: u64,
    seeds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    horizon: Option<String>,
    points: u64,
    runs: u64,
    bundle: &'a [String],
    max_bundles: u32,
    replsim_version: &'a str,
}

/// The base model: its path, its text, and the model with the experiment's horizon applied.
fn read_base_model(
    meta: &ExperimentMeta,
    path: &Path,
    file: &str,
) -> Result<(PathBuf, String, ModelFile), ExperimentError> {
    let model_path = normalize(&path.parent().unwrap_or(Path::new("")).join(&meta.model));
    let model_name = model_path.display().to_string();
    let text = std::fs::read_to_string(&model_path).map_err(|e| {
        ExperimentError::semantic(
            file,
            "experiment.model",
            format!("cannot read {model_name}: {e}"),
        )
    })?;
    let first = parse_model(&text, &model_name, &[])
        .map_err(|e| ExperimentError::semantic(file, "experiment.model", e.to_string()))?;
    // A model that includes another file is read once: every run parses its resolved form.
    let includes = toml::from_str::<toml::Table>(&text)
        .is_ok_and(|t| t.contains_key("include") || t.contains_key("base"));
    let text = if includes { first.to_toml() } else { text };
    let horizon: Vec<Override> = meta
        .horizon
        .map(|h| Override {
            path: "model.horizon".into(),
            value: format!("\"{h}\""),
        })
        .into_iter()
        .collect();
    let base = parse_model(&text, &model_name, &horizon)
        .map_err(|e| ExperimentError::semantic(file, "experiment.horizon", e.to_string()))?;
    Ok((model_path, text, base))
}

fn experiment_name(name: Option<&str>, path: &Path) -> Result<String, String> {
    let name = match name {
        Some(n) => n.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default(),
    };
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "\"{name}\" cannot name an output directory (letters, digits, '-', '_', '.')"
        ))
    }
}

fn bundle_outcomes(list: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(list) = list else {
        return Ok(OUTCOMES[1..].iter().map(|s| s.to_string()).collect());
    };
    for o in list {
        if !OUTCOMES.contains(&o.as_str()) {
            return Err(format!(
                "\"{o}\" is not an outcome (valid: {})",
                OUTCOMES.join(", ")
            ));
        }
    }
    Ok(list.to_vec())
}

/// Refuses a grid of more than [`MAX_RUNS`] runs from the axes' lengths alone, with checked
/// multiplication, before any axis is expanded (a `steps = 4000000000` must not be materialised
/// to be counted).
fn check_grid_size(parsed: &ExperimentFile, file: &str) -> Result<(), ExperimentError> {
    let mut runs = Some(u64::from(parsed.experiment.seeds));
    for (i, spec) in parsed.axes.iter().enumerate() {
        let len = spec.len();
        if len > MAX_AXIS_VALUES {
            return Err(ExperimentError::semantic(
                file,
                format!("axes[{i}]"),
                format!(
                    "axis \"{}\" has {len} values, more than the {MAX_AXIS_VALUES} an axis may \
                     have; use fewer steps",
                    spec.path
                ),
            ));
        }
        runs = runs.and_then(|n| n.checked_mul(len));
    }
    match runs {
        Some(n) if n <= MAX_RUNS => Ok(()),
        _ => {
            let sizes: Vec<String> = parsed.axes.iter().map(|a| a.len().to_string()).collect();
            Err(ExperimentError::semantic(
                file,
                "axes",
                format!(
                    "the grid ({} values × {} seeds) has more than {MAX_RUNS} runs; use fewer \
                     steps or seeds, or split it into several experiments",
                    sizes.join(" × "),
                    parsed.experiment.seeds
                ),
            ))
        }
    }
}

fn expand_axes(parsed: &ExperimentFile, file: &str) -> Result<Vec<Axis>, ExperimentError> {
    let mut axes: Vec<Axis> = Vec::new();
    for (i, spec) in parsed.axes.iter().enumerate() {
        let axis = Axis::expand(spec, file, i)?;
        if let Some(j) = axes.iter().position(|a| a.path == axis.path) {
            return Err(ExperimentError::semantic(
                file,
                format!("axes[{i}].path"),
                format!("\"{}\" is already axes[{j}]; merge their values", axis.path),
            ));
        }
        axes.push(axis);
    }
    Ok(axes)
}

/// Every `x` and `y` in `[plot]` must name an axis.
fn check_plot(plot: &toml::Table, axes: &[Axis]) -> Result<(), (String, String)> {
    let paths: Vec<&str> = axes.iter().map(|a| a.path.as_str()).collect();
    for (chart, spec) in plot {
        let Some(spec) = spec.as_table() else {
            return Err((
                chart.clone(),
                "expected a table, e.g. phase = { x = \"<axis path>\", y = \"<axis path>\" }"
                    .into(),
            ));
        };
        for key in ["x", "y"] {
            let Some(v) = spec.get(key) else { continue };
            match v.as_str() {
                Some(p) if paths.contains(&p) => {}
                _ => {
                    return Err((
                        format!("{chart}.{key}"),
                        format!("{v} is not an axis path (axes: {})", paths.join(", ")),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `a/b/../c` → `a/c`, lexically (so that messages show short paths).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// `path=value` for a shell: bare when `--set` reads it back the same, else single-quoted.
pub(crate) fn shell_set_arg(o: &Override) -> String {
    let bare = o.value.trim_matches('"');
    let reads_back_as_string = toml::from_str::<toml::Table>(&format!("v = {bare}")).is_err();
    let plain = bare
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if o.value.starts_with('"') && reads_back_as_string && plain {
        format!("{}={bare}", o.path)
    } else if !o.value.starts_with('"') && plain {
        format!("{}={}", o.path, o.value)
    } else {
        format!("'{}={}'", o.path, o.value.replace('\'', "'\\''"))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a, fully specified (stable across Rust releases and machines).
pub(crate) fn fnv1a(bytes: &[u8], offset: u64) -> u64 {
    bytes.iter().fold(offset, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
