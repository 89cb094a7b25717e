//! Reading a run's Valkey-style logs in tests: one node's log, and the times of its lines.

use replsim::valkey::RunResult;

/// The whole log of `node`.
pub fn log_of<'a>(r: &'a RunResult, node: &str) -> &'a str {
    &r.logs.iter().find(|(n, _)| n == node).expect("node log").1
}

/// Times (s) of the log lines of `node` that contain `text`.
pub fn line_times(r: &RunResult, node: &str, text: &str) -> Vec<f64> {
    log_of(r, node)
        .lines()
        .filter(|l| l.contains(text))
        .filter_map(|l| {
            // `pid:R 01 Jan 2026 hh:mm:ss.mmm …`
            let clock = l.split(' ').nth(4)?;
            let mut p = clock.split(':');
            let (h, m, s): (f64, f64, f64) = (
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
            );
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .collect()
}
