//! Repro bundles: everything needed to re-run one surprising run, in one small JSON file fit to
//! paste into a bug report: the resolved model text (the point's overrides and the seed applied),
//! the seed, replsim's version, the trace hash and the outcome. `replsim replay` re-runs it and
//! checks that the trace hash and the outcome are the same.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ExperimentError, Plan, RunSpec};
use crate::scenario::{ModelFile, parse_model};
use crate::valkey::{Cluster, OutcomeRecord, RunResult};

/// A repro bundle (`bundles/run-<index>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The replsim version that wrote it.
    pub replsim_version: String,
    /// The experiment's name.
    pub experiment: String,
    /// The run index in the sweep.
    pub run: u64,
    /// The point index.
    pub point: u64,
    /// The repetition.
    pub rep: u64,
    /// The point's assignments, as `--set` arguments for a shell.
    pub overrides: Vec<String>,
    /// The run's master seed (also in the model text).
    pub seed: u64,
    /// The outcome the run had.
    pub outcome: String,
    /// The trace digest the run had.
    pub trace_hash: String,
    /// The resolved model file (TOML).
    pub model: String,
}

impl Bundle {
    /// The bundle of `run`, whose resolved model is `model` and record `record`.
    pub fn new(plan: &Plan, run: &RunSpec, model: &ModelFile, record: &OutcomeRecord) -> Bundle {
        Bundle {
            replsim_version: env!("CARGO_PKG_VERSION").to_string(),
            experiment: plan.name.clone(),
            run: run.index,
            point: run.point,
            rep: run.rep,
            overrides: plan
                .point_overrides(run.point)
                .iter()
                .map(super::plan::shell_set_arg)
                .collect(),
            seed: run.seed,
            outcome: record.outcome.as_str().to_string(),
            trace_hash: record.trace_hash.clone(),
            model: model.to_toml(),
        }
    }

    /// The bundle of a single `replsim run` (experiment `run`, indices 0), with the `--set`
    /// arguments it was given.
    pub fn of_single_run(model: &ModelFile, sets: &[String], record: &OutcomeRecord) -> Bundle {
        Bundle {
            replsim_version: env!("CARGO_PKG_VERSION").to_string(),
            experiment: "run".to_string(),
            run: 0,
            point: 0,
            rep: 0,
            overrides: sets.iter().map(|s| format!("--set '{s}'")).collect(),
            seed: model.model.seed,
            outcome: record.outcome.as_str().to_string(),
            trace_hash: record.trace_hash.clone(),
            model: model.to_toml(),
        }
    }

    /// Whether this is the bundle of a single `replsim run --bundle` (not a sweep's run).
    pub fn is_single_run(&self) -> bool {
        self.experiment == "run" && self.run == 0 && self.point == 0 && self.rep == 0
    }

    /// The file name of a run's bundle.
    pub fn file_name(run: u64) -> String {
        format!("run-{run}.json")
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a bundle file.
    pub fn load(path: &Path) -> Result<Bundle, ExperimentError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::Unreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ExperimentError::Invalid {
            file,
            message: format!("not a repro bundle: {e}"),
        })
    }

    /// Re-runs the bundle's model. `file` names the bundle in errors.
    pub fn replay(&self, file: &str) -> Result<Replay, ExperimentError> {
        let model = self.resolve(file)?;
        self.replay_model(file, model)
    }

    /// The bundle's model, parsed and checked (nothing run yet), so that a caller can check its
    /// footprint first. `file` names the bundle in errors.
    pub fn resolve(&self, file: &str) -> Result<ModelFile, ExperimentError> {
        parse_model(&self.model, &format!("{file} (model)"), &[])
            .map_err(|e| ExperimentError::BadInput(e.to_string()))
    }

    /// Runs `model`, the bundle's model from [`Bundle::resolve`].
    pub fn replay_model(&self, file: &str, model: ModelFile) -> Result<Replay, ExperimentError> {
        if model.model.seed != self.seed {
            return Err(ExperimentError::semantic(
                file,
                "seed",
                format!(
                    "{} but the model's seed is {}; the bundle was edited",
                    self.seed, model.model.seed
                ),
            ));
        }
        let result = Cluster::build(&model.cluster(), &model.run_options())
            .map_err(|e| ExperimentError::BadInput(format!("{file} (model): {e}")))?
            .run()
            .map_err(|e| ExperimentError::Runtime(format!("{file}: simulation failed: {e}")))?;
        Ok(Replay { model, result })
    }
}

/// A replayed bundle.
#[derive(Debug)]
pub struct Replay {
    /// The model that ran.
    pub model: ModelFile,
    /// What it produced.
    pub result: RunResult,
}

impl Replay {
    /// Differences from the bundle, one line each (empty when the replay matches).
    pub fn differences(&self, bundle: &Bundle) -> Vec<String> {
        let r = &self.result.record;
        let mut out = Vec::new();
        if r.trace_hash != bundle.trace_hash {
            out.push(format!(
                "trace hash {} differs from the bundle's {}",
                r.trace_hash, bundle.trace_hash
            ));
        }
        if r.outcome.as_str() != bundle.outcome {
            out.push(format!(
                "outcome {} differs from the bundle's {}",
                r.outcome.as_str(),
                bundle.outcome
            ));
        }
        out
    }
}
