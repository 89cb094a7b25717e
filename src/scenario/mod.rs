//! Model files (`models/*.toml`) → a runnable simulation.
//!
//! A model file says what the system is: `[model]` (name, seed, horizon, sampling interval),
//! `[dataset]`, `[[nodes]]` with their `config` (valkey.conf names and units) and `perf`,
//! `[[links]]`, `[[workloads]]`. Unknown keys are errors, except real valkey.conf directives
//! the model has no knob for, which are set aside with a warning. `include = "base.toml"`
//! starts the model from another file. `--set path.to.key=value` overrides any
//! field before the file is checked, so an override is validated exactly like the file.

mod budget;
mod directives;
mod error;
mod include;
mod model;
mod overrides;
mod release;
mod trace;

pub use budget::{BASE_BYTES, DEFAULT_MAX_MEMORY, Footprint, SAMPLE_BYTES, TRACE_ROW_BYTES};
pub use directives::is_valkey_directive;
pub use error::ScenarioError;
pub use model::{ConformanceMeta, ModelFile, ModelMeta, load_model, parse_model};
pub use overrides::{Override, apply_overrides, lookup};
