//! The experiment file (`experiments/*.toml`) as written: `[experiment]`, `[[axes]]`, `[plot]`.
//! Unknown keys are errors.

use serde::Deserialize;

use super::AxisSpec;
use crate::engine::SimDuration;

/// The outcome names of DESIGN.md "Outcome of a run", in its order.
pub const OUTCOMES: &[&str] = &crate::valkey::Outcome::NAMES;

/// A whole experiment file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExperimentFile {
    /// `[experiment]`.
    pub experiment: ExperimentMeta,
    /// `[[axes]]`, outermost first: the last axis varies fastest in run order.
    #[serde(default)]
    pub axes: Vec<AxisSpec>,
    /// `[plot]`: which charts the report draws (read by `report`, copied as is).
    #[serde(default)]
    pub plot: toml::Table,
}

/// `[experiment]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExperimentMeta {
    /// A short name for the output directory (default: the file name without `.toml`).
    #[serde(default)]
    pub name: Option<String>,
    /// What the experiment shows.
    #[serde(default)]
    pub description: String,
    /// The base model file, relative to the experiment file.
    pub model: String,
    /// The experiment seed that every run's seed is derived from (default 1).
    #[serde(default = "one")]
    pub seed: u64,
    /// Runs (seeds) per point, at least 1.
    #[serde(default = "one_u32")]
    pub seeds: u32,
    /// Overrides `model.horizon` of the base model.
    #[serde(default)]
    pub horizon: Option<SimDuration>,
    /// Outcomes that write a repro bundle (default: every outcome but `clean_sync`).
    #[serde(default)]
    pub bundle: Option<Vec<String>>,
    /// At most this many bundles per sweep, the first in run order (default 20); a shard keeps
    /// as many, and `replsim merge` keeps the first `max-bundles` of the merged sweep.
    #[serde(default = "default_max_bundles")]
    pub max_bundles: u32,
    /// Check the model's invariants in every run (as `sweep --check`; default false).
    #[serde(default)]
    pub check: bool,
}

fn one() -> u64 {
    1
}
fn one_u32() -> u32 {
    1
}
fn default_max_bundles() -> u32 {
    20
}
