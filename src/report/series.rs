//! Series derived from INFO samples for the run timeline: how far the replica is behind, the
//! PSYNC window, read rates.

use std::collections::BTreeMap;

use super::run_data::Sample;

/// A time series: `(seconds, value)`.
pub(crate) type Series = Vec<(f64, f64)>;

/// A sample time as an integer key (microseconds), to join the primary's and the replica's
/// samples taken at the same instant.
fn time_key(t_s: f64) -> i64 {
    (t_s * 1e6).round() as i64
}

/// One column of the samples.
pub(crate) fn column(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> Series {
    samples.iter().map(|s| (s.t_s, f(s) as f64)).collect()
}

/// The PSYNC window: how many bytes behind `master_repl_offset` a replica may be and still get
/// a partial resync (`repl_backlog_histlen`, as `master_repl_offset + 1 −
/// repl_backlog_first_byte_offset` when a backlog exists).
pub(crate) fn psync_window(primary: &[Sample]) -> Series {
    column(primary, |s| s.repl_backlog_histlen)
}

/// How many bytes the replica is behind the primary: `master_repl_offset + 1 − resume_offset`,
/// where `resume_offset` is the offset a PSYNC would ask for. Instants where the replica has no
/// offset yet (`resume_offset` 0) or no primary sample was taken at the same time are left out.
pub(crate) fn replica_behind(primary: &[Sample], replica: &[Sample]) -> Series {
    let master: BTreeMap<i64, u64> = primary
        .iter()
        .map(|s| (time_key(s.t_s), s.master_repl_offset))
        .collect();
    replica
        .iter()
        .filter(|s| s.resume_offset > 0)
        .filter_map(|s| {
            let m = master.get(&time_key(s.t_s))?;
            Some((s.t_s, (m + 1).saturating_sub(s.resume_offset) as f64))
        })
        .collect()
}

/// Bytes per second of a cumulative counter, between consecutive samples, at the later sample's
/// time. A counter that went down was reset (a new sync): the rate counts from 0.
pub(crate) fn rate(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> Series {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].t_s - w[0].t_s;
            if dt <= 0.0 {
                return None;
            }
            let (a, b) = (f(&w[0]), f(&w[1]));
            let delta = if b >= a { b - a } else { b };
            Some((w[1].t_s, delta as f64 / dt))
        })
        .collect()
}

/// Splits a series where the time between points is larger than `gap`, so a line is not drawn
/// across instants that have no value.
pub(crate) fn split_gaps(series: &Series, gap: f64) -> Vec<Series> {
    let mut parts: Vec<Series> = Vec::new();
    for &p in series {
        match parts.last_mut() {
            Some(last) if last.last().is_some_and(|q| p.0 - q.0 <= gap) => last.push(p),
            _ => parts.push(vec![p]),
        }
    }
    parts
}

/// The largest value (0 for an empty series).
pub(crate) fn max(series: &Series) -> f64 {
    series.iter().map(|p| p.1).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t_s: f64, node: &str) -> Sample {
        Sample {
            t_s,
            node: node.into(),
            ..Sample::default()
        }
    }

    #[test]
    fn behind_joins_on_time_and_skips_unset_offsets() {
        let primary = vec![
            Sample {
                master_repl_offset: 100,
                ..s(0.1, "p")
            },
            Sample {
                master_repl_offset: 200,
                ..s(0.2, "p")
            },
        ];
        let replica = vec![
            Sample {
                resume_offset: 0,
                ..s(0.1, "r")
            },
            Sample {
                resume_offset: 51,
                ..s(0.2, "r")
            },
        ];
        assert_eq!(replica_behind(&primary, &replica), vec![(0.2, 150.0)]);
    }

    #[test]
    fn rate_restarts_after_a_reset() {
        let v = [0, 100, 300, 50];
        let samples: Vec<Sample> = v
            .iter()
            .enumerate()
            .map(|(i, &b)| Sample {
                rdb_bytes_read: b,
                ..s(i as f64, "r")
            })
            .collect();
        let r = rate(&samples, |s| s.rdb_bytes_read);
        assert_eq!(r, vec![(1.0, 100.0), (2.0, 200.0), (3.0, 50.0)]);
    }

    #[test]
    fn gaps_split_lines() {
        let parts = split_gaps(&vec![(0.0, 1.0), (0.1, 1.0), (5.0, 1.0)], 0.5);
        assert_eq!(parts.len(), 2);
    }
}
