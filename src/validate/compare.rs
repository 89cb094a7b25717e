//! Real vs simulated, one row a case: the agreement table `replsim validate` prints and writes
//! (CSV and markdown).

use serde::Serialize;

use crate::valkey::OutcomeRecord;

/// How close the first COB disconnect must be, relative to the real one, to agree.
pub const T_COB_TOLERANCE: f64 = 0.15;

/// One validated model.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The model's name.
    pub case: String,
    /// The simulator's record.
    pub sim: OutcomeRecord,
    /// The real run's record.
    pub real: OutcomeRecord,
}

/// A model that cannot run on the release being validated (a directive or command it lacks):
/// reported "n/a on this release", never run.
#[derive(Clone, Debug, Serialize)]
pub struct NotRun {
    /// The model's name.
    pub case: String,
    /// The release (`redis-6.2`).
    pub release: String,
    /// Why not.
    pub reason: String,
}

/// What agreed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Same outcome class.
    pub outcome: bool,
    /// Same first limit.
    pub first_limit: bool,
    /// Relative error of the time of the first COB disconnect (`None` when a side has none).
    pub t_cob_error: Option<f64>,
    /// Both or neither side had a COB disconnect, and the times agree within 15 %.
    pub t_cob: bool,
    /// Same number of full syncs.
    pub full_syncs: bool,
    /// Same in-sync-at-end.
    pub in_sync: bool,
}

impl Agreement {
    /// The goal for a case: outcome matches and the first COB disconnect is on time.
    pub fn passes(&self) -> bool {
        self.outcome && self.t_cob
    }
}

impl CaseResult {
    /// Compares the two records.
    pub fn agreement(&self) -> Agreement {
        let (s, r) = (&self.sim, &self.real);
        let t_cob_error = match (s.t_cob_overflow_s, r.t_cob_overflow_s) {
            (Some(a), Some(b)) if b > 0.0 => Some((a - b) / b),
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        let t_cob = match (s.t_cob_overflow_s, r.t_cob_overflow_s) {
            (None, None) => true,
            (Some(_), Some(_)) => t_cob_error.is_some_and(|e| e.abs() <= T_COB_TOLERANCE),
            _ => false,
        };
        Agreement {
            outcome: s.outcome == r.outcome,
            first_limit: s.first_limit == r.first_limit,
            t_cob_error,
            t_cob,
            full_syncs: s.full_syncs == r.full_syncs,
            in_sync: s.in_sync_at_end == r.in_sync_at_end,
        }
    }
}

fn limit_name(r: &OutcomeRecord) -> String {
    serde_json::to_value(r.first_limit)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn secs(t: Option<f64>) -> String {
    t.map_or_else(|| "-".to_string(), |t| format!("{t:.2}"))
}

/// The table as CSV (a model not run has `n/a on <release>: <reason>` as its real outcome and
/// empty cells).
pub fn to_csv(cases: &[CaseResult], not_run: &[NotRun]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "case",
        "real_outcome",
        "sim_outcome",
        "real_first_limit",
        "sim_first_limit",
        "real_t_cob_s",
        "sim_t_cob_s",
        "t_cob_error",
        "real_full_syncs",
        "sim_full_syncs",
        "real_in_sync",
        "sim_in_sync",
        "real_cob_disconnections",
        "sim_cob_disconnections",
        "agrees",
    ])?;
    for c in cases {
        let a = c.agreement();
        w.write_record([
            c.case.clone(),
            c.real.outcome.as_str().to_string(),
            c.sim.outcome.as_str().to_string(),
            limit_name(&c.real),
            limit_name(&c.sim),
            opt(c.real.t_cob_overflow_s),
            opt(c.sim.t_cob_overflow_s),
            a.t_cob_error.map_or(String::new(), |e| format!("{e:.4}")),
            c.real.full_syncs.to_string(),
            c.sim.full_syncs.to_string(),
            c.real.in_sync_at_end.to_string(),
            c.sim.in_sync_at_end.to_string(),
            c.real.cob_disconnections.to_string(),
            c.sim.cob_disconnections.to_string(),
            a.passes().to_string(),
        ])?;
    }
    for n in not_run {
        let mut row = vec![String::new(); 15];
        row[0] = n.case.clone();
        row[1] = format!("n/a on {}: {}", n.release, n.reason);
        row[14] = "n/a".to_string();
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn opt(t: Option<f64>) -> String {
    t.map_or(String::new(), |t| format!("{t:.3}"))
}

/// The table as markdown (real / sim in each cell; `yes` or **no** for the case; a model not
/// run says why).
pub fn to_markdown(cases: &[CaseResult], not_run: &[NotRun]) -> String {
    let mut out = String::from(
        "| case | outcome (real / sim) | first limit (real / sim) | first COB disconnect, s (real / sim, error) | full syncs | in sync at end | agrees |\n|---|---|---|---|---|---|---|\n",
    );
    for c in cases {
        let a = c.agreement();
        let mark = |ok: bool| if ok { "" } else { " ≠" };
        out.push_str(&format!(
            "| {} | {} / {}{} | {} / {}{} | {} / {}{} | {} / {}{} | {} / {}{} | {} |\n",
            c.case,
            c.real.outcome.as_str(),
            c.sim.outcome.as_str(),
            mark(a.outcome),
            limit_name(&c.real),
            limit_name(&c.sim),
            mark(a.first_limit),
            secs(c.real.t_cob_overflow_s),
            secs(c.sim.t_cob_overflow_s),
            a.t_cob_error
                .map_or(String::new(), |e| format!(" ({:+.0} %)", e * 100.0)),
            c.real.full_syncs,
            c.sim.full_syncs,
            mark(a.full_syncs),
            c.real.in_sync_at_end,
            c.sim.in_sync_at_end,
            mark(a.in_sync),
            if a.passes() { "yes" } else { "**no**" },
        ));
    }
    for n in not_run {
        out.push_str(&format!(
            "| {} | n/a on {}: {} | | | | | n/a |\n",
            n.case, n.release, n.reason
        ));
    }
    out
}
