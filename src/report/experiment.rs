//! What a sweep directory says about its experiment: `experiment.resolved.toml` (name, axes, the
//! `[plot]` table), the base model the closed-form overlay starts from, and the repro bundles.
//! Everything is optional; what is missing becomes a note on the page.

use std::fs;
use std::path::{Path, PathBuf};

use super::table::ResultTable;

/// The `[plot]` choices, defaulted from the axes when absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PlotSpec {
    /// Phase diagram axes `(x, y)`.
    pub phase: Option<(String, String)>,
    /// Outcome probability axis.
    pub probability: Option<String>,
}

/// A base model text and where it was found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BaseModel {
    /// The model as TOML.
    pub toml: String,
    /// Where it came from (for notes).
    pub origin: String,
}

/// A repro bundle of a surprising run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bundle {
    /// Path relative to the sweep directory (`bundles/run-7.json`).
    pub rel_path: String,
    /// Its outcome, seed and the command that replays it, when it says.
    pub outcome: Option<String>,
    /// The seed.
    pub seed: Option<String>,
}

/// The experiment of a sweep directory.
#[derive(Clone, Debug)]
pub(crate) struct Experiment {
    /// Its name (the directory's when the file does not say).
    pub name: String,
    /// `experiment.resolved.toml` as written, if present.
    pub text: Option<String>,
    /// Axis paths that are columns of the result table, experiment order first.
    pub axes: Vec<String>,
    /// What to plot.
    pub plot: PlotSpec,
    /// The base model for the closed-form overlay.
    pub base_model: Option<BaseModel>,
    /// Repro bundles, sorted by name.
    pub bundles: Vec<Bundle>,
}

impl Experiment {
    /// Reads what there is.
    pub fn read(dir: &Path, table: &ResultTable) -> Self {
        let text = fs::read_to_string(dir.join("experiment.resolved.toml")).ok();
        let value: Option<toml::Value> = text.as_deref().and_then(|t| toml::from_str(t).ok());
        let get = |key: &str| lookup(value.as_ref(), key);
        let name = get("name")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| {
                dir.file_name()
                    .map_or_else(|| "sweep".into(), |n| n.to_string_lossy().into_owned())
            });
        let axes = axes(value.as_ref(), table);
        let plot = plot_spec(get("plot"), &axes);
        let bundles = bundles(dir);
        let base_model = base_model(dir, value.as_ref(), &bundles);
        Experiment {
            name,
            text,
            axes,
            plot,
            base_model,
            bundles,
        }
    }
}

/// A key at the top level or under `[experiment]`.
fn lookup<'a>(value: Option<&'a toml::Value>, key: &str) -> Option<&'a toml::Value> {
    let v = value?;
    v.get(key)
        .or_else(|| v.get("experiment").and_then(|e| e.get(key)))
}

/// Axis paths: those the experiment file lists (an `axes` array of tables with `path`, or a
/// table keyed by path), then every other column whose name is a dotted model path.
fn axes(value: Option<&toml::Value>, table: &ResultTable) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match lookup(value, "axes") {
        Some(toml::Value::Array(items)) => {
            for item in items {
                let path = item
                    .get("path")
                    .or_else(|| item.get("name"))
                    .and_then(toml::Value::as_str)
                    .or_else(|| item.as_str());
                out.extend(path.map(str::to_string));
            }
        }
        Some(toml::Value::Table(t)) => out.extend(t.keys().cloned()),
        _ => {}
    }
    out.retain(|p| table.has(p));
    let mut rest: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.contains('.') && !c.starts_with("marks.") && !out.contains(c))
        .cloned()
        .collect();
    rest.sort();
    out.extend(rest);
    out.dedup();
    out
}

fn plot_spec(plot: Option<&toml::Value>, axes: &[String]) -> PlotSpec {
    let field = |chart: &str, key: &str| -> Option<String> {
        plot?.get(chart)?.get(key)?.as_str().map(str::to_string)
    };
    let phase = match (field("phase", "x"), field("phase", "y")) {
        (Some(x), Some(y)) => Some((x, y)),
        _ if axes.len() >= 2 => Some((axes[0].clone(), axes[1].clone())),
        _ => None,
    };
    let probability = field("probability", "x").or_else(|| axes.first().cloned());
    PlotSpec { phase, probability }
}

fn bundles(dir: &Path) -> Vec<Bundle> {
    let Ok(entries) = fs::read_dir(dir.join("bundles")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort_by_key(|n| natural_key(n));
    names
        .into_iter()
        .map(|n| {
            let json: Option<serde_json::Value> = fs::read_to_string(dir.join("bundles").join(&n))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            let field = |keys: &[&str]| -> Option<String> {
                let j = json.as_ref()?;
                keys.iter().find_map(|k| {
                    let v = j
                        .get(*k)
                        .or_else(|| j.get("record").and_then(|r| r.get(*k)))?;
                    Some(v.as_str().map_or_else(|| v.to_string(), str::to_string))
                })
            };
            Bundle {
                rel_path: format!("bundles/{n}"),
                outcome: field(&["outcome"]),
                seed: field(&["seed"]),
            }
        })
        .collect()
}

/// Sorts `run-9.json` before `run-10.json`.
fn natural_key(name: &str) -> (String, u64, String) {
    let digits_at = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (head, tail) = name.split_at(digits_at);
    let end = tail
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(tail.len());
    let n = tail[..end].parse().unwrap_or(0);
    (head.to_string(), n, tail[end..].to_string())
}

/// The base model: a resolved model saved in the sweep directory, else the file the experiment
/// names (`model`, `base`, `base-model`; relative to the directory, the working directory or
/// the directory's parents), else the model inside the first bundle.
fn base_model(dir: &Path, value: Option<&toml::Value>, bundles: &[Bundle]) -> Option<BaseModel> {
    for name in [
        "model.resolved.toml",
        "base-model.resolved.toml",
        "base.resolved.toml",
    ] {
        if let Ok(toml) = fs::read_to_string(dir.join(name)) {
            return Some(BaseModel {
                toml,
                origin: name.into(),
            });
        }
    }
    for key in ["model", "base", "base-model", "base_model"] {
        match lookup(value, key) {
            Some(toml::Value::String(path)) => {
                if let Some(found) = find_file(dir, path) {
                    let toml = fs::read_to_string(&found).ok()?;
                    return Some(BaseModel {
                        toml,
                        origin: found.display().to_string(),
                    });
                }
            }
            Some(t @ toml::Value::Table(_)) => {
                return Some(BaseModel {
                    toml: toml::to_string(t).ok()?,
                    origin: format!("experiment.resolved.toml [{key}]"),
                });
            }
            _ => {}
        }
    }
    bundles.first().and_then(|b| bundle_model(dir, b))
}

fn find_file(dir: &Path, path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates = vec![dir.join(p), p.to_path_buf()];
    candidates.extend(dir.ancestors().skip(1).map(|a| a.join(p)));
    candidates.into_iter().find(|c| c.is_file())
}

fn bundle_model(dir: &Path, bundle: &Bundle) -> Option<BaseModel> {
    let text = fs::read_to_string(dir.join(&bundle.rel_path)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let model = ["model", "resolved_model", "model_toml"]
        .iter()
        .find_map(|k| json.get(*k))?;
    let toml = match model {
        serde_json::Value::String(s) => s.clone(),
        other => toml::to_string(other).ok()?,
    };
    Some(BaseModel {
        toml,
        origin: bundle.rel_path.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_spec_reads_the_table_and_defaults_from_axes() {
        let v: toml::Value = toml::from_str(
            "[plot]\nphase = { x = \"a.b\", y = \"c.d\" }\nprobability = { x = \"c.d\" }",
        )
        .unwrap();
        let spec = plot_spec(v.get("plot"), &[]);
        assert_eq!(spec.phase, Some(("a.b".into(), "c.d".into())));
        assert_eq!(spec.probability.as_deref(), Some("c.d"));
        let spec = plot_spec(None, &["x.y".to_string(), "z.w".to_string()]);
        assert_eq!(spec.phase, Some(("x.y".into(), "z.w".into())));
        assert_eq!(spec.probability.as_deref(), Some("x.y"));
    }

    #[test]
    fn bundles_sort_naturally() {
        let mut v = vec!["run-10.json", "run-9.json", "run-100.json"];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v, vec!["run-9.json", "run-10.json", "run-100.json"]);
    }
}
