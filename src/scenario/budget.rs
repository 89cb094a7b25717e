//! What a run will need before it runs: its INFO samples are the only output that grows with
//! simulated time alone (horizon / sample-interval × nodes), so a long horizon or a fine
//! interval is refused up front, with the numbers, instead of growing until allocation fails.
//!
//! Everything else a run keeps grows with its events and is bounded by `model.max-events`: each
//! event writes at most a few log lines and journal entries (a full-sync cycle writes a few lines
//! and takes hundreds of events), and a run that reaches the budget stops there.

use super::{ModelFile, ScenarioError};
use crate::engine::SimDuration;
use crate::units::ByteSize;

/// The default cap on what one run (or a whole sweep) may need: 4 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;

/// Bytes one INFO sample costs over its life: the sample in memory, its `timeline.csv` row, and
/// its share of the timeline chart that reads the CSV back (a generous round figure).
pub const SAMPLE_BYTES: u64 = 512;

/// What a run needs besides its samples: the engine, the network, the logs and journal of a
/// run of ordinary length (a round figure).
pub const BASE_BYTES: u64 = 64 << 20;

/// Bytes one row of a `trace` load's recorded rate costs: the row in memory (the series and the
/// load's playing copy) and in the resolved model and repro bundle that carry it as text.
pub const TRACE_ROW_BYTES: u64 = 128;

/// The estimate of one run's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// INFO samples the run will take (every node, every interval; at most one per event).
    pub samples: u64,
    /// Rows of the recorded rates of its `trace` loads.
    pub trace_rows: u64,
    /// The estimated bytes: [`BASE_BYTES`] + samples × [`SAMPLE_BYTES`] + trace rows ×
    /// [`TRACE_ROW_BYTES`].
    pub bytes: u64,
}

impl Footprint {
    /// The estimate for `model` as it stands (overrides applied).
    ///
    /// ```
    /// let text = std::fs::read_to_string("models/default.toml").unwrap();
    /// let model = replsim::scenario::parse_model(&text, "default.toml", &[]).unwrap();
    /// let f = replsim::scenario::Footprint::of(&model);
    /// assert_eq!(f.samples, 2 * (6000 + 2)); // 2 nodes × (10 min / 100 ms + 2)
    /// ```
    pub fn of(model: &ModelFile) -> Footprint {
        let m = &model.model;
        let per_node = samples_per_node(m.horizon, m.sample_interval);
        let samples = per_node
            .saturating_mul(model.nodes.len() as u64)
            .min(m.max_events);
        let trace_rows = model
            .workloads
            .iter()
            .filter_map(|w| w.series.as_ref())
            .map(|s| s.points.len() as u64)
            .fold(0u64, u64::saturating_add);
        Footprint {
            samples,
            trace_rows,
            bytes: samples
                .saturating_mul(SAMPLE_BYTES)
                .saturating_add(BASE_BYTES)
                .saturating_add(trace_rows.saturating_mul(TRACE_ROW_BYTES)),
        }
    }

    /// Refuses `model` (read from `file`) when this estimate exceeds `max_memory` bytes, with
    /// the numbers and the keys to change.
    pub fn check(
        model: &ModelFile,
        file: &str,
        max_memory: u64,
        flag: &str,
    ) -> Result<Footprint, ScenarioError> {
        let f = Footprint::of(model);
        if f.bytes <= max_memory {
            return Ok(f);
        }
        let m = &model.model;
        let nodes = model.nodes.len().max(1) as u64;
        let capped = if f.samples == m.max_events {
            format!(
                ", at most one per event of model.max-events = {}",
                m.max_events
            )
        } else {
            String::new()
        };
        // The interval that would fit, rounded up to a whole millisecond.
        let per_node_room = max_memory.saturating_sub(BASE_BYTES) / SAMPLE_BYTES / nodes;
        let fits = if per_node_room > 2 {
            let ns = (m.horizon.as_nanos() / (per_node_room - 2)).saturating_add(1);
            let ms = SimDuration::from_nanos(ns.div_ceil(1_000_000).saturating_mul(1_000_000));
            format!(" (sample-interval = \"{ms}\" fits)")
        } else {
            String::new()
        };
        Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "model.sample-interval".into(),
            reason: format!(
                "the run would take {} INFO samples ({} nodes × (horizon {} / sample-interval {} \
                 + 2){capped}){} and need about {}, above the {} cap ({flag}); sample less \
                 often{fits}, shorten model.horizon, lower model.max-events, or raise the cap \
                 ({flag} {})",
                f.samples,
                model.nodes.len(),
                m.horizon,
                m.sample_interval,
                if f.trace_rows > 0 {
                    format!(" and hold {} rows of recorded rates", f.trace_rows)
                } else {
                    String::new()
                },
                ByteSize::new(f.bytes).human(),
                ByteSize::new(max_memory).human(),
                ByteSize::new(f.bytes.next_multiple_of(1 << 30)),
            ),
        })
    }
}

/// Samples one node takes (at most): one at t = 0, one per interval, and one at the horizon.
fn samples_per_node(horizon: SimDuration, interval: SimDuration) -> u64 {
    let interval = interval.as_nanos().max(1);
    (horizon.as_nanos() / interval).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_horizon_over_interval() {
        let s = |h: u64, i: u64| {
            samples_per_node(SimDuration::from_millis(h), SimDuration::from_millis(i))
        };
        assert_eq!(s(1000, 100), 12);
        assert_eq!(s(999, 100), 11);
        assert_eq!(s(1, 1000), 2);
    }
}
