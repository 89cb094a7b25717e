//! A run directory: the timeline chart and a small `index.html` around it.

use std::path::{Path, PathBuf};

use super::html::{self, Cell};
use super::render::{render, write_file};
use super::run_data::RunData;
use super::timeline::Timeline;
use super::{ReportError, style};

/// The outcome-record fields the run page lists, in order.
const SUMMARY_FIELDS: [&str; 15] = [
    "server",
    "outcome",
    "first_limit",
    "in_sync_at_end",
    "t_cob_overflow_s",
    "t_backlog_exhausted_s",
    "cob_before_backlog",
    "full_syncs",
    "partial_syncs_ok",
    "partial_syncs_err",
    "cob_disconnections",
    "peak_cob_bytes",
    "peak_backlog_bytes",
    "peak_replica_buffer_bytes",
    "trace_hash",
];

/// Draws `timeline.svg`, `timeline.png` and `index.html` into a run directory.
pub(crate) fn draw(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let data = RunData::read(dir)?;
    let mut written = render(&Timeline::new(&data), dir, "timeline")?;
    let index = dir.join("index.html");
    write_file(&index, page(&data).as_bytes())?;
    written.push(index);
    Ok(written)
}

fn page(run: &RunData) -> String {
    let mut title = run.name.clone();
    // The release the run modelled (`[model] server`), where the summary names it.
    if run.summary.contains_key("server") {
        title = format!("{title} — {}", run.summary_str("server"));
    }
    if let Some(seed) = run.seed {
        title = format!("{title} — seed {seed}");
    }
    let outcome = run.summary_str("outcome");
    let rows: Vec<Vec<Cell>> = SUMMARY_FIELDS
        .iter()
        .filter(|f| run.summary.contains_key(**f))
        .map(|f| {
            let value = run.summary_str(f);
            let cell = if *f == "outcome" {
                Cell::Html(html::swatch(
                    &style::hex(style::outcome_colour(&value)),
                    &value,
                ))
            } else {
                Cell::Text(value)
            };
            vec![Cell::Text((*f).to_string()), cell]
        })
        .collect();
    let mut body = format!(
        "<h1>{}</h1>\n<p>Outcome: <strong>{}</strong>. Files: <a href=\"summary.json\">summary.json</a>, \
         <a href=\"journal.json\">journal.json</a>, <a href=\"timeline.csv\">timeline.csv</a>, \
         <a href=\"model.resolved.toml\">model.resolved.toml</a>.</p>\n",
        html::escape(&title),
        html::escape(&outcome)
    );
    body.push_str(&html::figure(
        "timeline",
        "run timeline",
        "COB vs its limits, PSYNC window vs how far the replica is behind, the replica's local \
         buffer, bytes read per channel; dashed lines mark the journal's events",
    ));
    body.push_str("<h2>Outcome record</h2>\n");
    body.push_str(&html::table(&["field", "value"], &rows));
    html::page(&title, &body)
}
