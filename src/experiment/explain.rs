//! `replsim explain`'s check: one rerun of the model with the suggested change.
//!
//! The account itself is read from the run's files by `report::explain`; this module adds what
//! needs a simulation: it reruns the resolved model (same seed) with the suggestion's `--set`s
//! and records whether the goal was reached — a clean sync, or for a backlog change a partial
//! resync (or a clean sync). A bundle is replayed here too, so that a sweep's bundle can be
//! explained without writing its run directory.

use super::{Bundle, ExperimentError};
use crate::report::explain::{self, Explanation, RunFiles};
use crate::scenario::{ModelFile, Override, parse_model};
use crate::valkey::{Cluster, Outcome, RunResult};

/// The files of an in-memory run, serialised as `replsim run` writes them.
pub fn files_of(
    origin: &str,
    model: &ModelFile,
    result: &RunResult,
) -> Result<RunFiles, ExperimentError> {
    let rt =
        |what: &str, e: String| ExperimentError::Runtime(format!("cannot serialise {what}: {e}"));
    let mut summary =
        serde_json::to_value(&result.record).map_err(|e| rt("the record", e.to_string()))?;
    if let Some(map) = summary.as_object_mut() {
        map.remove("wall_seconds");
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    for s in &result.samples {
        csv.serialize(s)
            .map_err(|e| rt("the samples", e.to_string()))?;
    }
    let timeline = csv
        .into_inner()
        .map_err(|e| rt("the samples", e.to_string()))
        .and_then(|b| String::from_utf8(b).map_err(|e| rt("the samples", e.to_string())))?;
    Ok(RunFiles {
        model_path: None,
        origin: origin.to_string(),
        summary: summary.to_string(),
        journal: serde_json::to_string(&result.journal)
            .map_err(|e| rt("the journal", e.to_string()))?,
        timeline,
        model: model.to_toml(),
        logs: result.logs.clone(),
    })
}

/// Replays a bundle and returns its run's files.
pub fn bundle_files(path: &std::path::Path) -> Result<RunFiles, ExperimentError> {
    let file = path.display().to_string();
    let bundle = Bundle::load(path)?;
    let model = bundle.resolve(&file)?;
    let replay = bundle.replay_model(&file, model)?;
    files_of(&file, &replay.model, &replay.result)
}

/// Explains a run and checks its suggestion by one rerun of `files.model` (unless `rerun` is
/// false).
pub fn explain_and_check(files: &RunFiles, rerun: bool) -> Result<Explanation, ExperimentError> {
    let mut e = explain::explain(files).map_err(|e| ExperimentError::BadInput(e.to_string()))?;
    if rerun && let Some(s) = e.suggestion.as_mut() {
        let overrides: Vec<Override> = s
            .sets
            .iter()
            .map(|set| set.parse())
            .collect::<Result<_, _>>()
            .map_err(|err: crate::scenario::ScenarioError| {
                ExperimentError::Runtime(err.to_string())
            })?;
        let origin = format!("{} (model.resolved.toml)", files.origin);
        match parse_model(&files.model, &origin, &overrides) {
            Ok(model) => {
                let result = Cluster::build(&model.cluster(), &model.run_options())
                    .map_err(|err| ExperimentError::Runtime(format!("rerun: {err}")))?
                    .run()
                    .map_err(|err| ExperimentError::Runtime(format!("rerun failed: {err}")))?;
                let o = result.record.outcome;
                let ok = match s.goal.as_str() {
                    "partial_resync" => {
                        matches!(o, Outcome::CleanSync | Outcome::OverflowPartialResync)
                    }
                    _ => o == Outcome::CleanSync,
                };
                s.confirmed = Some(ok);
                s.rerun_outcome = Some(o.as_str().to_string());
            }
            Err(err) => {
                s.confirmed = Some(false);
                s.rerun_outcome = Some(format!("the model refused the change: {err}"));
            }
        }
    }
    Ok(e)
}
