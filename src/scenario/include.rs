//! `include = "other.toml"` (or `base = "other.toml"`) at the top of a model file: the model
//! starts from the other file (a path relative to the including file, itself possibly
//! including another) and the including file's fields override it.
//!
//! The merge: tables merge key by key, recursively; `[[nodes]]` merges node by node by `name`
//! (a node of the including file with a base node's name overrides its fields, so a base file
//! can describe the machines — `perf`, `config` — and a case only what differs; a new name is
//! appended); every other array (`[[workloads]]`, `[[actions]]`, `[[links]]`,
//! `[[dataset.populations]]`, lists of values) and every other value replaces the base's whole:
//! a case that gives write loads or actions gives all of them. A `[dataset]` in the other form
//! than the base's (`[[dataset.populations]]` over flat sizes, or the reverse) replaces the
//! base's sizes.

use std::path::{Path, PathBuf};

use toml::Value;

use super::ScenarioError;
use super::model::with_suggestion;

/// The model's TOML tree with every `include` resolved, and whether there was one.
pub(crate) fn resolve(text: &str, file: &str) -> Result<(Value, bool), ScenarioError> {
    let mut chain = vec![identity(Path::new(file))];
    let value = parse(text, file)?;
    let included = include_of(&value, file)?.is_some();
    Ok((resolve_value(value, file, &mut chain)?, included))
}

fn parse(text: &str, file: &str) -> Result<Value, ScenarioError> {
    toml::from_str(text).map_err(|e| ScenarioError::Invalid {
        file: file.to_string(),
        message: with_suggestion(e.to_string()),
    })
}

/// A file's identity for cycle detection: its canonical path when it exists.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The file named by `include` or `base`, if any.
fn include_of(value: &Value, file: &str) -> Result<Option<String>, ScenarioError> {
    let semantic = |key: &str, reason: String| ScenarioError::Semantic {
        file: file.to_string(),
        key: key.to_string(),
        reason,
    };
    let get = |key: &str| match value.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(semantic(
            key,
            format!("{other} is not a file name (e.g. include = \"loopback-calibrated.toml\")"),
        )),
    };
    match (get("include")?, get("base")?) {
        (Some(_), Some(_)) => Err(semantic(
            "include",
            "give include or base, not both (they are the same thing)".into(),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn resolve_value(
    mut value: Value,
    file: &str,
    chain: &mut Vec<PathBuf>,
) -> Result<Value, ScenarioError> {
    let Some(name) = include_of(&value, file)? else {
        return Ok(value);
    };
    if let Value::Table(t) = &mut value {
        t.remove("include");
        t.remove("base");
    }
    let path = Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(&name);
    let shown = |chain: &[PathBuf], last: &Path| {
        chain
            .iter()
            .map(|p| p.display().to_string())
            .chain(std::iter::once(last.display().to_string()))
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    let id = identity(&path);
    if chain.contains(&id) {
        return Err(ScenarioError::Semantic {
            file: file.to_string(),
            key: "include".into(),
            reason: format!("include cycle: {}", shown(chain, &id)),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError::Semantic {
        file: file.to_string(),
        key: "include".into(),
        reason: format!("cannot read {} ({e}); include chain: {}", path.display(), {
            shown(chain, &path)
        }),
    })?;
    let base_file = path.display().to_string();
    chain.push(id);
    let base = resolve_value(parse(&text, &base_file)?, &base_file, chain)?;
    chain.pop();
    let mut merged = base;
    merge_model(&mut merged, value);
    Ok(merged)
}

/// Merges a model's top-level table `over` into `base`: `nodes` by name, the rest by [`merge`].
pub(crate) fn merge_model(base: &mut Value, over: Value) {
    let (Value::Table(b), Value::Table(o)) = (&mut *base, over) else {
        return;
    };
    for (k, v) in o {
        match (k.as_str(), b.get_mut(&k)) {
            ("nodes", Some(existing)) => merge_named(existing, v),
            ("dataset", Some(existing)) => {
                drop_other_dataset_form(existing, &v);
                merge(existing, v);
            }
            (_, Some(existing)) => merge(existing, v),
            (_, None) => {
                b.insert(k, v);
            }
        }
    }
}

/// The sizes of a dataset in the flat form (one population).
const FLAT_DATASET: &[&str] = &["keys", "value-size", "key-bytes", "compression-ratio"];

/// A `[dataset]` given in the other form than the base's (populations over flat sizes, or the
/// reverse) replaces the base's form instead of mixing with it.
fn drop_other_dataset_form(base: &mut Value, over: &Value) {
    let Value::Table(b) = base else { return };
    let has = |v: &Value, k: &str| v.get(k).is_some();
    if has(over, "populations") {
        for k in FLAT_DATASET {
            b.remove(*k);
        }
    } else if FLAT_DATASET.iter().any(|k| has(over, k)) {
        b.remove("populations");
    }
}

/// Merges an array of named tables element by element by name (falls back to [`merge`] when
/// either side is not such an array).
fn merge_named(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Array(b), Value::Array(o)) if !o.is_empty() && all_named(b) && all_named(&o) => {
            for v in o {
                let name = v.get("name").and_then(Value::as_str).map(str::to_string);
                match b
                    .iter_mut()
                    .find(|e| e.get("name").and_then(Value::as_str) == name.as_deref())
                {
                    Some(existing) => merge(existing, v),
                    None => b.push(v),
                }
            }
        }
        (b, o) => merge(b, o),
    }
}

/// Whether every element of `items` is a table with a string `name`.
fn all_named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|v| v.get("name").and_then(Value::as_str).is_some())
}

/// Merges `over` into `base`: tables key by key, anything else replaced whole.
pub(crate) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Table(b), Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn tables_merge_nodes_merge_by_name_other_arrays_replace() {
        let mut base = v("[model]\nname = \"a\"\nseed = 1\n\
             [[nodes]]\nname = \"p\"\nrole = \"primary\"\n[nodes.config]\nhz = 10\n\
             [[nodes]]\nname = \"r\"\nrole = \"replica\"\n\
             [[links]]\na = \"p\"\nb = \"r\"\n[[links]]\na = \"r\"\nb = \"x\"\n\
             [[workloads]]\nname = \"w\"\n[[workloads]]\nname = \"v\"\n");
        merge_model(
            &mut base,
            v(
                "[model]\nseed = 2\n[[nodes]]\nname = \"p\"\n[nodes.config]\nrepl-timeout = 5\n\
               [[nodes]]\nname = \"r2\"\nrole = \"replica\"\n[[links]]\na = \"p\"\nb = \"r2\"\n\
               [[workloads]]\nname = \"w\"\n",
            ),
        );
        assert_eq!(base["model"]["name"].as_str(), Some("a"));
        assert_eq!(base["model"]["seed"].as_integer(), Some(2));
        let nodes = base["nodes"].as_array().unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["p", "r", "r2"]);
        assert_eq!(nodes[0]["role"].as_str(), Some("primary"));
        assert_eq!(nodes[0]["config"]["hz"].as_integer(), Some(10));
        assert_eq!(nodes[0]["config"]["repl-timeout"].as_integer(), Some(5));
        assert_eq!(base["links"].as_array().unwrap().len(), 1);
        assert_eq!(base["workloads"].as_array().unwrap().len(), 1);
        merge_model(&mut base, v("nodes = []"));
        assert!(base["nodes"].as_array().unwrap().is_empty());
    }
}
