//! Reading a sweep's result table: `results.csv`, or `results.jsonl` when there is no CSV. One
//! row per run: every axis value in a column named by its path, and the outcome record's fields.
//! Cells are kept as text; empty cells and `null` read as missing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::ReportError;

/// One run's row.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Row(pub BTreeMap<String, String>);

impl Row {
    /// A cell, `None` when the column is missing, empty or `null`.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.0
            .get(column)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "null")
    }

    /// A numeric cell.
    pub fn f64(&self, column: &str) -> Option<f64> {
        self.get(column)?
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
    }

    /// A boolean cell (`true` / `false`, any case).
    pub fn bool(&self, column: &str) -> Option<bool> {
        match self.get(column)?.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// A whole result table.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResultTable {
    /// The file it came from.
    pub source: PathBuf,
    /// Column names, in the file's order (JSONL: sorted).
    pub columns: Vec<String>,
    /// The rows, in the file's order.
    pub rows: Vec<Row>,
}

impl ResultTable {
    /// Reads `results.csv`, else `results.jsonl`, from a sweep directory; refuses a table in
    /// which a run id appears twice (two writers appended to it at once).
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let csv_path = dir.join("results.csv");
        let table = if csv_path.is_file() {
            read_csv(&csv_path)?
        } else {
            read_jsonl(&dir.join("results.jsonl"))?
        };
        table.check_unique_runs()?;
        Ok(table)
    }

    /// Every `run` cell appears once.
    fn check_unique_runs(&self) -> Result<(), ReportError> {
        let mut seen = BTreeMap::new();
        for (i, row) in self.rows.iter().enumerate() {
            let Some(run) = row.get("run") else {
                continue;
            };
            if let Some(first) = seen.insert(run.to_string(), i) {
                return Err(ReportError::parse(
                    &self.source,
                    format!(
                        "run {run} appears more than once (rows {} and {} of the table): two \
                         sweeps wrote into this directory at once; run the sweep again into a \
                         new directory (or with --force)",
                        first + 1,
                        i + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether a column exists.
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

fn read_csv(path: &Path) -> Result<ResultTable, ReportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| ReportError::read(path, e))?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| ReportError::parse(path, e))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ReportError::parse(path, format!("row {}: {e}", i + 2)))?;
        let cells = columns
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_string))
            .collect();
        rows.push(Row(cells));
    }
    Ok(ResultTable {
        source: path.to_path_buf(),
        columns,
        rows,
    })
}

fn read_jsonl(path: &Path) -> Result<ResultTable, ReportError> {
    let text = fs::read_to_string(path).map_err(|e| ReportError::read(path, e))?;
    let mut rows = Vec::new();
    let mut columns = std::collections::BTreeSet::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| ReportError::parse(path, format!("line {}: {e}", i + 1)))?;
        let Some(object) = value.as_object() else {
            return Err(ReportError::parse(
                path,
                format!("line {}: expected a JSON object", i + 1),
            ));
        };
        let cells: BTreeMap<String, String> = object
            .iter()
            .map(|(k, v)| (k.clone(), cell_text(v)))
            .collect();
        columns.extend(cells.keys().cloned());
        rows.push(Row(cells));
    }
    Ok(ResultTable {
        source: path.to_path_buf(),
        columns: columns.into_iter().collect(),
        rows,
    })
}

fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicated_run_id_is_refused_with_the_file_and_id() {
        let dir = std::env::temp_dir().join(format!("replsim-table-dup-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("results.csv"),
            "run,outcome\n0,clean_sync\n1,clean_sync\n",
        )
        .unwrap();
        assert_eq!(ResultTable::read(&dir).unwrap().rows.len(), 2);
        fs::write(
            dir.join("results.csv"),
            "run,outcome\n0,clean_sync\n1,clean_sync\n1,clean_sync\n",
        )
        .unwrap();
        let e = ResultTable::read(&dir).unwrap_err().to_string();
        assert!(
            e.contains("results.csv") && e.contains("run 1 appears more than once"),
            "{e}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cells_read_as_missing_when_empty_or_null() {
        let row = Row(BTreeMap::from([
            ("a".to_string(), "".to_string()),
            ("b".to_string(), "null".to_string()),
            ("c".to_string(), "True".to_string()),
            ("d".to_string(), "2.5".to_string()),
        ]));
        assert_eq!(row.get("a"), None);
        assert_eq!(row.get("b"), None);
        assert_eq!(row.get("zz"), None);
        assert_eq!(row.bool("c"), Some(true));
        assert_eq!(row.f64("d"), Some(2.5));
    }
}
