//! From a model file to the closed-form parameters of `analytic.rs` (valkey-model.md §7.2), for
//! the limits drawn on a timeline and the boundary drawn on a phase diagram.
//!
//! Simplified: the write rate W is the mean of every workload (a burst pattern counts at its
//! duty cycle, a ramp at its final rate); the link is the first one between the primary's and
//! the replica's hosts (else the first link); socket slack Q is that link's send + receive
//! buffer (the network's defaults when the model leaves them out).

use crate::analytic::{self, Params};
use crate::net::{DEFAULT_RECV_BUFFER, DEFAULT_SEND_BUFFER};
use crate::scenario::ModelFile;
use crate::valkey::{LinkSpecFile, NodeRole, NodeSpec, PatternKind, WorkloadSpec};

/// Payload bytes per Ethernet frame on a 1500-byte MTU (`net::link`).
const FRAME_PAYLOAD: f64 = 1448.0;
/// Wire bytes per full-size Ethernet frame.
const FRAME_WIRE: f64 = 1514.0;

/// What a chart needs to know about a model besides the samples.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ModelParams {
    /// The closed-form inputs.
    pub params: Params,
    /// Dual-channel replication on both primary and replica.
    pub dual: bool,
    /// The primary's `client-output-buffer-limit replica` as written.
    pub cob_text: String,
}

impl ModelParams {
    /// The hard limit as Valkey enforces it (clamped up to the backlog), if any.
    pub fn hard_limit(&self) -> Option<f64> {
        Some(self.params.h_eff_bytes()).filter(|h| h.is_finite())
    }

    /// The soft limit as Valkey 9.1 enforces it, if any.
    pub fn soft_limit(&self) -> Option<f64> {
        self.params.soft_eff_bytes()
    }

    /// The replica's local-buffer cap (its own hard limit), if any.
    pub fn replica_cap(&self) -> Option<f64> {
        Some(self.params.replica_cap_bytes()).filter(|h| h.is_finite())
    }

    /// Does a COB limit trip according to the closed form?
    pub fn predicts_overflow(&self) -> bool {
        if self.dual {
            analytic::dual(&self.params).first_limit != analytic::FirstLimit::None
        } else {
            analytic::classic(&self.params).first_limit != analytic::FirstLimit::None
        }
    }
}

/// The closed-form parameters of a model, or why there are none.
pub(crate) fn from_model(m: &ModelFile) -> Result<ModelParams, String> {
    from_model_for(m, None)
}

/// [`from_model`] for the replica node named `replica` (the first replica when `None`): its
/// link, its load rate and its own limits.
pub(crate) fn from_model_for(m: &ModelFile, replica: Option<&str>) -> Result<ModelParams, String> {
    let node = |role: NodeRole, what: &str| {
        m.nodes
            .iter()
            .find(|n| {
                n.role == role && (role != NodeRole::Replica || replica.is_none_or(|r| n.name == r))
            })
            .ok_or_else(|| format!("the model has no {what} node"))
    };
    let primary = node(NodeRole::Primary, "primary")?;
    let replica = node(NodeRole::Replica, "replica")?;
    let link = pick_link(m, primary, replica).ok_or("the model has no link")?;
    let rdb_bytes = m.dataset.rdb_bytes_for(m.dataset.keys) as f64;
    let keys = m.dataset.keys.max(1) as f64;
    let per_key_bytes = rdb_bytes / keys;
    let slack = link.send_buffer.unwrap_or(DEFAULT_SEND_BUFFER).bytes()
        + link.receive_buffer.unwrap_or(DEFAULT_RECV_BUFFER).bytes();
    let rtt_secs = 2.0 * link.latency.as_secs_f64();
    let (pc, rc) = (&primary.config, &replica.config);
    let params = Params {
        write_rate_bps: m.workloads.iter().map(write_rate_bps).sum(),
        rdb_bytes,
        link_bps: payload_bps(link),
        gen_bps: with_key_delay(
            primary.perf.rdb_save_rate.bytes_per_sec() as f64,
            pc.rdb_key_save_delay.mean_ns_per_key(),
            per_key_bytes,
        ),
        load_bps: with_key_delay(
            replica.perf.rdb_load_rate.bytes_per_sec() as f64,
            rc.key_load_delay.mean_ns_per_key(),
            per_key_bytes,
        ),
        apply_bps: replica.perf.apply_rate.bytes_per_sec() as f64,
        backlog_bytes: pc.repl_backlog_size.bytes() as f64,
        cob_hard_bytes: pc.client_output_buffer_limit.hard.bytes() as f64,
        cob_soft_bytes: pc.client_output_buffer_limit.soft.bytes() as f64,
        cob_soft_secs: pc.client_output_buffer_limit.soft_seconds as f64,
        replica_cob_hard_bytes: rc.client_output_buffer_limit.hard.bytes() as f64,
        socket_slack_bytes: slack as f64,
        events_interval_bytes: rc.loading_process_events_interval_bytes.bytes() as f64,
        diskless_load: rc.repl_diskless_load.parses_from_socket(true),
        disk_based_primary: !pc.repl_diskless_sync,
        rtt_secs,
        psync_delay_secs: 3.0 * rtt_secs,
    };
    params.validate().map_err(|e| e.to_string())?;
    Ok(ModelParams {
        params,
        dual: pc.dual_channel_replication_enabled && rc.dual_channel_replication_enabled,
        cob_text: pc.client_output_buffer_limit.to_string(),
    })
}

fn pick_link<'a>(m: &'a ModelFile, a: &NodeSpec, b: &NodeSpec) -> Option<&'a LinkSpecFile> {
    let (ha, hb) = (a.host_name(), b.host_name());
    m.links
        .iter()
        .find(|l| (l.a == ha && l.b == hb) || (l.a == hb && l.b == ha))
        .or_else(|| m.links.first())
}

fn payload_bps(link: &LinkSpecFile) -> f64 {
    let line = link.bandwidth.bytes_per_sec() as f64;
    if link.framing_overhead {
        line * FRAME_PAYLOAD / FRAME_WIRE
    } else {
        line
    }
}

/// A per-key delay (`rdb-key-save-delay`, `key-load-delay`) slows a byte rate: each key costs its
/// bytes at `rate` plus the delay.
fn with_key_delay(rate_bps: f64, delay_ns: f64, per_key_bytes: f64) -> f64 {
    if delay_ns <= 0.0 || rate_bps <= 0.0 {
        return rate_bps;
    }
    per_key_bytes / (per_key_bytes / rate_bps + delay_ns * 1e-9)
}

/// The mean replication-stream rate of one workload.
fn write_rate_bps(w: &WorkloadSpec) -> f64 {
    let ops = match w.pattern {
        PatternKind::Constant | PatternKind::Poisson => w.ops_per_sec.unwrap_or(0.0),
        PatternKind::Bursts => {
            let on = w.on.map_or(0.0, |d| d.as_secs_f64());
            let off = w.off.map_or(0.0, |d| d.as_secs_f64());
            let duty = if on + off > 0.0 { on / (on + off) } else { 1.0 };
            w.ops_per_sec.unwrap_or(0.0) * duty
        }
        PatternKind::Ramp => w.to_ops_per_sec.unwrap_or(0.0),
        PatternKind::Trace => {
            let Ok(crate::valkey::LoadPattern::Trace(play)) = w.load_pattern() else {
                return 0.0;
            };
            // The mean over one length of the recording, in commands/s.
            let series = crate::valkey::TraceSeries {
                quantity: crate::valkey::TraceQuantity::OpsPerSec,
                length_ns: play.length_ns,
                points: play.points,
            };
            series.mean(play.interpolation, play.looping)
        }
    };
    ops * w.bytes_per_op()
}

/// The closed-form value of a `replsim advise` knob for a clean sync, and the formula it comes
/// from, where `analytic.rs` has one: the primary's replica COB hard limit (the peak COB of the
/// sync, `W × (T_x + T_l + RTT)` for a classic sync) and the ops/s of the model's only workload
/// (the boundary write rate W*, scaled from bytes to commands by the workload's own ratio).
pub fn closed_form_for(m: &ModelFile, path: &str, current: f64) -> Option<(f64, String)> {
    let mp = from_model(m).ok()?;
    let p = &mp.params;
    let segs: Vec<&str> = path.split('.').collect();
    if segs.len() == 4
        && segs[0] == "nodes"
        && segs[2] == "config"
        && segs[3] == "client-output-buffer-limit"
    {
        let (i, primary) = m
            .nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.role == NodeRole::Primary)?;
        if segs[1] != primary.name && segs[1] != i.to_string() && segs[1] != format!("[{i}]") {
            return None;
        }
        let (need, how) = if mp.dual {
            (
                analytic::dual(p).peak_primary_cob,
                "the dual-channel main-channel COB peak (§7.5)",
            )
        } else {
            (
                analytic::classic(p).peak_cob,
                "W × (T_x + T_l + RTT), the COB at the end of the sync (§7.4)",
            )
        };
        return Some((need.max(p.backlog_bytes), how.to_string()));
    }
    if segs.len() == 3
        && segs[0] == "workloads"
        && segs[2] == "ops-per-sec"
        && m.workloads.len() == 1
    {
        let w = p.write_rate_bps;
        if w <= 0.0 || current <= 0.0 {
            return None;
        }
        let (star, how) = if mp.dual {
            (analytic::dual_boundary_write_rate(p), "W*_dual (§7.5)")
        } else {
            (
                analytic::classic_boundary_write_rate(p),
                "W* = H_eff / (T_x + T_l + RTT) (§7.4)",
            )
        };
        return star
            .is_finite()
            .then(|| (current * star / w, how.to_string()));
    }
    None
}

/// A scripted outage of the replication link: a `link-down` at a fixed time and the
/// `link-up` of the same two hosts after it, longer than both ends' `repl-timeout` (shorter ones
/// heal without a reconnect). Its length in seconds.
pub(crate) fn scripted_outage(m: &ModelFile) -> Option<f64> {
    use crate::valkey::ActionKind;
    let down = m
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::LinkDown && a.at.is_some())?;
    let same = |x: &crate::valkey::ActionSpec| {
        (x.a == down.a && x.b == down.b) || (x.a == down.b && x.b == down.a)
    };
    let t_down = down.at?.as_secs_f64();
    let up = m
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::LinkUp && same(a))
        .filter_map(|a| a.at.map(|t| t.as_secs_f64()))
        .filter(|t| *t > t_down)
        .fold(f64::INFINITY, f64::min);
    let outage = up - t_down;
    let timeout = m
        .nodes
        .iter()
        .map(|n| n.config.repl_timeout.as_secs_f64())
        .fold(0.0, f64::max);
    (outage.is_finite() && outage > timeout).then_some(outage)
}

/// The closed-form boundary of a `replsim advise` knob for a goal (by name), where `analytic.rs`
/// gives one; `model_at(x)` is the model with the knob set to `x`, `range` the range searched.
///
/// - `clean_sync`: the exact forms of [`closed_form_for`] (the primary's COB hard limit, the
///   only workload's ops/s); for any other knob that changes a closed-form parameter (bandwidth,
///   backlog size, dataset, value size, ...), the value where §7.4/§7.5 start to predict a COB
///   limit trip, solved by bisection over `range` (when the prediction differs at its ends).
/// - `partial_resync_after_drop` with a scripted outage ([`scripted_outage`]): the backlog size
///   `W × outage` ([`analytic::backlog_for_outage`]), or the ops/s of the only workload at which
///   `W × outage` equals the backlog.
/// - other goals: none.
pub fn closed_form_for_goal(
    goal: &str,
    path: &str,
    current: f64,
    range: [f64; 2],
    model_at: &dyn Fn(f64) -> Option<ModelFile>,
) -> Option<(f64, String)> {
    let here = model_at(current)?;
    match goal {
        "clean_sync" => {
            if let Some(c) = closed_form_for(&here, path, current) {
                return Some(c);
            }
            let overflows = |x: f64| -> Option<bool> {
                Some(from_model(&model_at(x)?).ok()?.predicts_overflow())
            };
            let (mut lo, mut hi) = (range[0], range[1]);
            let (at_lo, at_hi) = (overflows(lo)?, overflows(hi)?);
            if at_lo == at_hi {
                return None;
            }
            for _ in 0..60 {
                let m = if lo > 0.0 {
                    (lo * hi).sqrt()
                } else {
                    0.5 * (lo + hi)
                };
                if overflows(m)? == at_lo {
                    lo = m;
                } else {
                    hi = m;
                }
            }
            let mode = if from_model(&here).ok()?.dual {
                "§7.5, dual-channel"
            } else {
                "§7.4, classic"
            };
            Some((
                if lo > 0.0 {
                    (lo * hi).sqrt()
                } else {
                    0.5 * (lo + hi)
                },
                format!(
                    "where the closed form ({mode}) starts to predict a COB limit trip, solved by bisection"
                ),
            ))
        }
        "partial_resync_after_drop" => {
            let outage = scripted_outage(&here)?;
            let p = from_model(&here).ok()?.params;
            let segs: Vec<&str> = path.split('.').collect();
            if path.ends_with(".config.repl-backlog-size") {
                let primary = here.nodes.iter().find(|n| n.role == NodeRole::Primary)?;
                if segs.get(1) != Some(&primary.name.as_str()) && segs.get(1) != Some(&"0") {
                    return None;
                }
                let need = analytic::backlog_for_outage(p.write_rate_bps, outage);
                (need > 0.0).then(|| {
                    (
                        need,
                        format!("W × outage = the writes of the {outage:.3} s link outage (§7.3)"),
                    )
                })
            } else if segs.len() == 3
                && segs[0] == "workloads"
                && segs[2] == "ops-per-sec"
                && here.workloads.len() == 1
                && p.write_rate_bps > 0.0
                && current > 0.0
            {
                let w_star = p.backlog_bytes / outage;
                Some((
                    current * w_star / p.write_rate_bps,
                    format!("W = backlog / outage ({outage:.3} s link outage, §7.3)"),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_delay_slows_the_rate() {
        assert_eq!(with_key_delay(100.0, 0.0, 10.0), 100.0);
        // 10 bytes at 100 B/s = 0.1 s, plus 0.1 s of delay: half the rate.
        assert!((with_key_delay(100.0, 1e8, 10.0) - 50.0).abs() < 1e-9);
    }
}
