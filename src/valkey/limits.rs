//! Magnitude limits on the numbers of a model, checked before anything is built.
//!
//! The model multiplies user numbers together (RDB bytes = keys × per-key bytes, a load's byte
//! rate = commands/s × command bytes, times from sizes and rates). Rather than let a typo such as
//! `keys = 9223372036854775807` wrap around into a 199-byte RDB and a "clean sync", every such
//! number is held to a bound far above any real system but far enough below `u64::MAX` that the
//! products the model forms cannot overflow. A number beyond its bound is bad input naming the
//! key, the bound and why.

use super::cluster::BuildError;
use super::spec::ClusterSpec;
use super::workload::{LoadPattern, SizeDist, WorkloadSpec};
use crate::engine::SimDuration;
use crate::units::{ByteSize, Rate};

/// Most keys a dataset may hold (10¹²: a thousand times a large production instance).
pub const MAX_KEYS: u64 = 1_000_000_000_000;
/// Largest single value, key or per-key overhead: Valkey's default `proto-max-bulk-len`.
pub const MAX_ITEM_BYTES: u64 = 512 << 20;
/// Largest RDB (1 PiB).
pub const MAX_DATASET_BYTES: u64 = 1 << 50;
/// Largest buffer or limit of any kind (1 PiB): backlog, output-buffer limits, socket buffers.
pub const MAX_BUFFER_BYTES: u64 = 1 << 50;
/// Fastest rate of any kind, bytes per second (1 PiB/s).
pub const MAX_RATE_BYTES_PER_SEC: u64 = 1 << 50;
/// Most commands per second a write load may send (10⁸: a hundred times what one Valkey
/// primary serves).
pub const MAX_OPS_PER_SEC: f64 = 1e8;
/// Longest horizon (100 years), so that times built from it stay far from `u64::MAX` ns.
pub const MAX_HORIZON: SimDuration = SimDuration::from_secs(100 * 365 * 24 * 3600);

fn bad(key: impl Into<String>, reason: impl Into<String>) -> BuildError {
    BuildError {
        key: key.into(),
        reason: reason.into(),
    }
}

fn size_at_most(key: &str, size: u64, max: u64, why: &str) -> Result<(), BuildError> {
    if size > max {
        return Err(bad(
            key,
            format!(
                "{} is above the largest supported, {} ({why})",
                ByteSize::new(size).human(),
                ByteSize::new(max).human()
            ),
        ));
    }
    Ok(())
}

fn rate_at_most(key: &str, rate: Rate) -> Result<(), BuildError> {
    if rate.bytes_per_sec() > MAX_RATE_BYTES_PER_SEC {
        return Err(bad(
            key,
            format!(
                "{} is above the fastest supported rate, 1 PiB/s",
                rate.human()
            ),
        ));
    }
    Ok(())
}

/// Checks the magnitudes of every number of `spec` that the model multiplies.
pub(crate) fn check(spec: &ClusterSpec, horizon: SimDuration) -> Result<(), BuildError> {
    if horizon > MAX_HORIZON {
        return Err(bad(
            "model.horizon",
            format!("{horizon} is longer than the longest supported horizon, 100 years"),
        ));
    }
    let d = &spec.dataset;
    if d.keys > MAX_KEYS {
        return Err(bad(
            "dataset.keys",
            format!(
                "{} is above the most keys supported, {MAX_KEYS} (10^12)",
                d.keys
            ),
        ));
    }
    let item = "Valkey's default proto-max-bulk-len";
    size_at_most(
        "dataset.value-size",
        d.value_size.bytes(),
        MAX_ITEM_BYTES,
        item,
    )?;
    size_at_most("dataset.key-bytes", d.key_bytes, MAX_ITEM_BYTES, item)?;
    size_at_most(
        "dataset.per-key-overhead",
        d.per_key_overhead,
        MAX_ITEM_BYTES,
        item,
    )?;
    let per_key = (d.per_key_overhead + d.key_bytes) as f64
        + d.value_size.bytes() as f64 * d.compression_ratio;
    let rdb = d.keys as f64 * per_key;
    if rdb > MAX_DATASET_BYTES as f64 {
        return Err(bad(
            "dataset.keys",
            format!(
                "{} keys of about {} make an RDB of {}, above the largest supported, {} (1 PiB)",
                d.keys,
                ByteSize::new(per_key as u64).human(),
                ByteSize::new(rdb as u64).human(),
                ByteSize::new(MAX_DATASET_BYTES).human()
            ),
        ));
    }
    for (i, node) in spec.nodes.iter().enumerate() {
        let c = &node.config;
        let cob = c.client_output_buffer_limit;
        for (k, size) in [
            ("config.repl-backlog-size", c.repl_backlog_size),
            ("config.client-output-buffer-limit", cob.hard),
            ("config.client-output-buffer-limit", cob.soft),
            (
                "config.loading-process-events-interval-bytes",
                c.loading_process_events_interval_bytes,
            ),
        ] {
            size_at_most(
                &format!("nodes[{i}].{k}"),
                size.bytes(),
                MAX_BUFFER_BYTES,
                "1 PiB",
            )?;
        }
        for (k, delay) in [
            ("config.rdb-key-save-delay", c.rdb_key_save_delay),
            ("config.key-load-delay", c.key_load_delay),
        ] {
            if i32::try_from(delay.0).is_err() {
                return Err(bad(
                    format!("nodes[{i}].{k}"),
                    format!(
                        "{} is outside Valkey's range for it, {}..={} (microseconds per key)",
                        delay.0,
                        i32::MIN,
                        i32::MAX
                    ),
                ));
            }
        }
        let p = &node.perf;
        for (k, rate) in [
            ("perf.rdb-save-rate", p.rdb_save_rate),
            ("perf.rdb-load-rate", p.rdb_load_rate),
            ("perf.apply-rate", p.apply_rate),
            ("perf.disk-write-rate", p.disk_write_rate),
        ] {
            rate_at_most(&format!("nodes[{i}].{k}"), rate)?;
        }
    }
    for (i, l) in spec.links.iter().enumerate() {
        rate_at_most(&format!("links[{i}].bandwidth"), l.bandwidth)?;
        for (k, size) in [
            ("send-buffer", l.send_buffer),
            ("receive-buffer", l.receive_buffer),
        ] {
            if let Some(size) = size {
                size_at_most(
                    &format!("links[{i}].{k}"),
                    size.bytes(),
                    MAX_BUFFER_BYTES,
                    "1 PiB",
                )?;
            }
        }
    }
    for (i, w) in spec.workloads.iter().enumerate() {
        check_workload(w, &format!("workloads[{i}]"))?;
    }
    Ok(())
}

fn check_workload(w: &WorkloadSpec, key: &str) -> Result<(), BuildError> {
    let item = "Valkey's default proto-max-bulk-len";
    let sizes: Vec<(&str, ByteSize)> = match w.value_size {
        SizeDist::Fixed { size } => vec![("value-size.size", size)],
        SizeDist::Uniform { min, max } => vec![("value-size.min", min), ("value-size.max", max)],
        SizeDist::Exponential { mean } => vec![("value-size.mean", mean)],
    };
    for (k, size) in sizes {
        size_at_most(&format!("{key}.{k}"), size.bytes(), MAX_ITEM_BYTES, item)?;
    }
    size_at_most(
        &format!("{key}.key-bytes"),
        w.key_bytes,
        MAX_ITEM_BYTES,
        item,
    )?;
    let rates: Vec<(&str, f64)> = match w.load_pattern() {
        Ok(LoadPattern::Ramp {
            from_ops_per_sec,
            to_ops_per_sec,
            ..
        }) => vec![
            ("from-ops-per-sec", from_ops_per_sec),
            ("to-ops-per-sec", to_ops_per_sec),
        ],
        Ok(
            LoadPattern::Constant { ops_per_sec }
            | LoadPattern::Poisson { ops_per_sec, .. }
            | LoadPattern::Bursts { ops_per_sec, .. },
        ) => vec![("ops-per-sec", ops_per_sec)],
        Ok(LoadPattern::Trace(play)) => {
            let peak = play.points.iter().map(|p| p.1).fold(0.0, f64::max);
            vec![("series (its peak, scaled)", peak)]
        }
        // The workload's own check names what is missing.
        Err(_) => Vec::new(),
    };
    for (k, ops) in rates {
        if ops > MAX_OPS_PER_SEC {
            return Err(bad(
                format!("{key}.{k}"),
                format!(
                    "{ops} commands/s is above the most supported, 10^8 (a hundred times what \
                     one Valkey primary serves)"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_bound_is_far_below_the_clock_limit() {
        assert!(MAX_HORIZON.as_nanos() < u64::MAX / 4);
    }
}
