//! A sweep directory: every chart its table allows, and `index.html` around them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::axis::Axis;
use super::boundary::{self, Overlay};
use super::cdf::{CdfChart, CdfData};
use super::experiment::Experiment;
use super::html::{self, Cell};
use super::phase::{Colouring, PhaseChart, PhaseData};
use super::probability::{ProbabilityChart, ProbabilityData};
use super::render::{render, write_file};
use super::table::ResultTable;
use super::{ReportError, style};

/// One section of the page: a chart (by file stem) or a note saying why it is missing.
#[derive(Debug)]
struct Section {
    heading: String,
    html: String,
}

/// What the page is built from.
#[derive(Debug)]
struct Sweep {
    table: ResultTable,
    exp: Experiment,
    model_name: Option<String>,
}

/// Draws the charts and `index.html` of a sweep directory.
pub(crate) fn draw(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let table = ResultTable::read(dir)?;
    let exp = Experiment::read(dir, &table);
    let model_name = exp.base_model.as_ref().and_then(|b| {
        let v: toml::Value = toml::from_str(&b.toml).ok()?;
        Some(v.get("model")?.get("name")?.as_str()?.to_string())
    });
    let sweep = Sweep {
        table,
        exp,
        model_name,
    };
    let mut written = Vec::new();
    let mut sections = Vec::new();
    sections.extend(sweep.phase(dir, &mut written)?);
    sections.extend(sweep.probability(dir, &mut written)?);
    sections.push(sweep.cdf(dir, &mut written)?);
    let index = dir.join("index.html");
    write_file(&index, sweep.page(&sections).as_bytes())?;
    written.push(index);
    Ok(written)
}

impl Sweep {
    /// "model — experiment".
    fn label(&self) -> String {
        match &self.model_name {
            Some(m) => format!("{m} — {}", self.exp.name),
            None => self.exp.name.clone(),
        }
    }

    /// The parameters a chart over `shown` axes holds fixed or pools, and the seeds per point.
    fn fixed(&self, shown: &[&str]) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.model_name {
            parts.push(format!("base model {m}"));
        }
        for path in self
            .exp
            .axes
            .iter()
            .filter(|a| !shown.contains(&a.as_str()))
        {
            let axis = Axis::from_rows(path, &self.table.rows);
            match axis.labels.as_slice() {
                [only] => parts.push(format!("{path} = {only}")),
                values => parts.push(format!("pooled over {path} ({} values)", values.len())),
            }
        }
        parts.push(format!(
            "{} runs, {} seeds per point",
            self.table.rows.len(),
            self.seeds_per_point()
        ));
        parts.join(" · ")
    }

    /// The largest number of runs sharing all axis values.
    fn seeds_per_point(&self) -> usize {
        let mut counts: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
        for row in &self.table.rows {
            let key: Vec<&str> = self
                .exp
                .axes
                .iter()
                .map(|a| row.get(a).unwrap_or(""))
                .collect();
            *counts.entry(key).or_default() += 1;
        }
        counts.values().copied().max().unwrap_or(0)
    }

    fn phase(&self, dir: &Path, written: &mut Vec<PathBuf>) -> Result<Vec<Section>, ReportError> {
        let heading = "Phase diagram".to_string();
        let Some((x, y)) = &self.exp.plot.phase else {
            let why = "no phase diagram: it needs two axes ([plot] phase = { x, y } or two swept columns)";
            return Ok(vec![note_section(heading, why)]);
        };
        let data = match PhaseData::build(&self.table, x, y) {
            Ok(d) => d,
            Err(why) => return Ok(vec![note_section(heading, &why)]),
        };
        let overlay = boundary::overlay(self.exp.base_model.as_ref(), &data.x, &data.y);
        let subtitle = self.fixed(&[x, y]);
        let mut sections = Vec::new();
        let mut colourings = vec![
            (Colouring::Outcome, "phase-outcome", "outcome"),
            (
                Colouring::CobFirst,
                "phase-cob-first",
                "P(COB overflow before backlog runs out)",
            ),
        ];
        if has_script(&self.table) {
            colourings.push((
                Colouring::Passed,
                "phase-passed",
                "P(the scripted test passed)",
            ));
        }
        for (colouring, stem, what) in colourings {
            if colouring == Colouring::CobFirst && !self.table.has("cob_before_backlog") {
                sections.push(note_section(
                    format!("Phase diagram: {what}"),
                    "no column `cob_before_backlog` in the result table",
                ));
                continue;
            }
            let chart = PhaseChart {
                data: &data,
                colouring,
                title: format!("{} — {what}", self.label()),
                subtitle: subtitle.clone(),
                overlay: &overlay,
                layers: None,
            };
            written.extend(render(&chart, dir, stem)?);
            let mut html = html::figure(stem, &chart.title, &format!("{what} over {x} × {y}"));
            if let Overlay::Skipped(why) = &overlay {
                html.push_str(&html::note(&format!("No closed-form overlay: {why}.")));
            }
            sections.push(Section {
                heading: format!("Phase diagram: {what}"),
                html,
            });
        }
        Ok(sections)
    }

    fn probability(
        &self,
        dir: &Path,
        written: &mut Vec<PathBuf>,
    ) -> Result<Vec<Section>, ReportError> {
        let heading = "Outcome probability".to_string();
        let Some(x) = &self.exp.plot.probability else {
            return Ok(vec![note_section(
                heading,
                "no probability chart: the sweep has no axis",
            )]);
        };
        let data = match ProbabilityData::build(&self.table, x) {
            Ok(d) => d,
            Err(why) => return Ok(vec![note_section(heading, &why)]),
        };
        let chart = ProbabilityChart {
            data: &data,
            title: format!("{} — outcome probability along {x}", self.label()),
            subtitle: self.fixed(&[x]),
        };
        written.extend(render(&chart, dir, "probability")?);
        Ok(vec![Section {
            heading,
            html: html::figure(
                "probability",
                &chart.title,
                "outcome probabilities with 95 % Wilson intervals over seeds",
            ),
        }])
    }

    fn cdf(&self, dir: &Path, written: &mut Vec<PathBuf>) -> Result<Section, ReportError> {
        let heading = "Time to COB overflow".to_string();
        let by = self.exp.plot.probability.as_deref();
        let data = match CdfData::build(&self.table, by) {
            Ok(d) => d,
            Err(why) => return Ok(note_section(heading, &why)),
        };
        let shown: Vec<&str> = by.into_iter().collect();
        let chart = CdfChart {
            data: &data,
            title: format!("{} — time to the first COB disconnect", self.label()),
            subtitle: self.fixed(&shown),
        };
        written.extend(render(&chart, dir, "cdf-cob-overflow")?);
        Ok(Section {
            heading,
            html: html::figure(
                "cdf-cob-overflow",
                &chart.title,
                "empirical CDF of t_cob_overflow_s over runs",
            ),
        })
    }

    fn page(&self, sections: &[Section]) -> String {
        let mut body = format!(
            "<h1>Sweep: {}</h1>\n<p>{} runs from <code>{}</code>.</p>\n",
            html::escape(&self.label()),
            self.table.rows.len(),
            html::escape(&file_name(&self.table.source)),
        );
        body.push_str("<h2>Parameters</h2>\n");
        body.push_str(&self.parameters_table());
        if let Some(text) = &self.exp.text {
            body.push_str(&format!(
                "<details><summary><a href=\"experiment.resolved.toml\">experiment.resolved.toml</a></summary>\n<pre>{}</pre></details>\n",
                html::escape(text)
            ));
        }
        body.push_str("<h2>Outcomes</h2>\n");
        body.push_str(&counts_table(&self.table, "outcome", true));
        if self.table.has("first_limit") {
            body.push_str("<h3>First limit crossed</h3>\n");
            body.push_str(&counts_table(&self.table, "first_limit", false));
        }
        for s in sections {
            body.push_str(&format!(
                "<h2>{}</h2>\n{}",
                html::escape(&s.heading),
                s.html
            ));
        }
        body.push_str(&self.bundles_section());
        html::page(&format!("Sweep {}", self.label()), &body)
    }

    fn parameters_table(&self) -> String {
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        if let Some(m) = &self.exp.base_model {
            let name = self.model_name.clone().unwrap_or_else(|| "?".into());
            rows.push(vec![
                Cell::Text("base model".into()),
                Cell::Text(format!("{name} ({})", m.origin)),
            ]);
        }
        for path in &self.exp.axes {
            let axis = Axis::from_rows(path, &self.table.rows);
            rows.push(vec![
                Cell::Text(path.clone()),
                Cell::Text(axis.labels.join(", ")),
            ]);
        }
        rows.push(vec![
            Cell::Text("seeds per point".into()),
            Cell::Num(self.seeds_per_point().to_string()),
        ]);
        html::table(&["parameter", "values"], &rows)
    }

    fn bundles_section(&self) -> String {
        let mut out = String::from("<h2>Surprising runs</h2>\n");
        if self.exp.bundles.is_empty() {
            out.push_str("<p>No repro bundles in <code>bundles/</code>.</p>\n");
            return out;
        }
        let rows: Vec<Vec<Cell>> = self
            .exp
            .bundles
            .iter()
            .map(|b| {
                let link = format!("<a href=\"{0}\">{0}</a>", html::escape(&b.rel_path));
                vec![
                    Cell::Html(link),
                    Cell::Text(b.outcome.clone().unwrap_or_else(|| "-".into())),
                    Cell::Text(b.seed.clone().unwrap_or_else(|| "-".into())),
                    Cell::Html(format!(
                        "<code>replsim replay {}</code>",
                        html::escape(&b.rel_path)
                    )),
                    Cell::Html(format!(
                        "<code>replsim explain {}</code>",
                        html::escape(&b.rel_path)
                    )),
                ]
            })
            .collect();
        out.push_str(&html::table(
            &["bundle", "outcome", "seed", "replay", "why (in words)"],
            &rows,
        ));
        out
    }
}

fn note_section(heading: String, why: &str) -> Section {
    Section {
        heading,
        html: html::note(why),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Runs per value of `column`, most frequent first (ties by name), with shares.
fn counts_table(table: &ResultTable, column: &str, swatches: bool) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for row in &table.rows {
        *counts
            .entry(row.get(column).unwrap_or("(missing)").to_string())
            .or_default() += 1;
    }
    let total = table.rows.len().max(1) as f64;
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<Cell>> = sorted
        .into_iter()
        .map(|(value, n)| {
            let name = if swatches {
                Cell::Html(html::swatch(
                    &style::hex(style::outcome_colour(&value)),
                    &value,
                ))
            } else {
                Cell::Text(value)
            };
            vec![
                name,
                Cell::Num(n.to_string()),
                Cell::Num(format!("{:.1} %", n as f64 * 100.0 / total)),
            ]
        })
        .collect();
    html::table(&[column, "runs", "share"], &rows)
}

/// Whether the runs played an action script (some row has marks), so `passed` means something.
pub(crate) fn has_script(table: &ResultTable) -> bool {
    table
        .rows
        .iter()
        .any(|r| r.get("marks").is_some_and(|m| !m.is_empty() && m != "{}"))
}
