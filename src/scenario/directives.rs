//! Real valkey.conf directives the model has no knob for (`save`, `appendonly`, `port`,
//! `maxmemory-policy`, …): a `[nodes.config]` table may carry them, so that a real server's
//! configuration can be pasted as it is. They are set aside before the table is read, noted in
//! the run's `warnings`, kept in the resolved model, and passed on to the real server by
//! `replsim validate`. A name that is not a Valkey directive at all stays an error (with a
//! "did you mean").

use std::collections::BTreeSet;
use std::sync::OnceLock;

use toml::Value;

use crate::valkey::ValkeyConfig;

/// The names, as data: `valkey_directives.txt`, one a line.
const DIRECTIVES: &str = include_str!("valkey_directives.txt");

/// Every directive name, for suggestions.
pub(crate) fn all_directives() -> impl Iterator<Item = &'static str> {
    DIRECTIVES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Whether `name` is a directive Valkey 9.1 accepts in valkey.conf (aliases included).
///
/// ```
/// use replsim::scenario::is_valkey_directive;
/// assert!(is_valkey_directive("appendonly"));
/// assert!(is_valkey_directive("log-timestamp-format"));
/// assert!(!is_valkey_directive("repl-backlog-sise"));
/// ```
pub fn is_valkey_directive(name: &str) -> bool {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| all_directives().collect())
        .contains(name)
}

/// The keys `[nodes.config]` maps to model knobs (`repl-backlog-size`, …, and the model's own
/// `rdb-client-grace-period`).
fn model_knobs() -> &'static BTreeSet<String> {
    static SET: OnceLock<BTreeSet<String>> = OnceLock::new();
    SET.get_or_init(|| match Value::try_from(ValkeyConfig::default()) {
        Ok(Value::Table(t)) => t.keys().cloned().collect(),
        _ => BTreeSet::new(),
    })
}

/// A directive's value as valkey.conf text: strings as written, booleans as yes/no, arrays
/// joined by spaces. `None` for a table (not a directive value).
fn conf_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(items) => items
            .iter()
            .map(conf_text)
            .collect::<Option<Vec<_>>>()?
            .join(" "),
        Value::Table(_) => return None,
    })
}

/// Moves every real directive without a model knob out of each node's `config` table. Returns,
/// per node (in file order), the `(name, valkey.conf value)` pairs set aside.
pub(crate) fn set_aside(root: &mut Value) -> Vec<Vec<(String, String)>> {
    let Some(Value::Array(nodes)) = root.get_mut("nodes") else {
        return Vec::new();
    };
    nodes
        .iter_mut()
        .map(|node| {
            let Some(Value::Table(config)) = node.get_mut("config") else {
                return Vec::new();
            };
            let names: Vec<String> = config
                .iter()
                .filter(|(k, v)| {
                    !model_knobs().contains(*k) && is_valkey_directive(k) && conf_text(v).is_some()
                })
                .map(|(k, _)| k.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|k| {
                    let v = config.remove(&k)?;
                    Some((k, conf_text(&v)?))
                })
                .collect()
        })
        .collect()
}

/// Puts the set-aside directives back into the `config` tables of a serialised model (for the
/// resolved model, which must read back to the same model).
pub(crate) fn put_back(root: &mut Value, per_node: &[Vec<(String, String)>]) {
    let Some(Value::Array(nodes)) = root.get_mut("nodes") else {
        return;
    };
    for (node, directives) in nodes.iter_mut().zip(per_node) {
        let Value::Table(node) = node else {
            continue;
        };
        if directives.is_empty() {
            continue;
        }
        let config = node
            .entry("config")
            .or_insert_with(|| Value::Table(toml::Table::new()));
        if let Value::Table(config) = config {
            for (k, v) in directives {
                config.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_directives_without_a_knob_are_set_aside_and_the_rest_stay() {
        let mut v: Value = toml::from_str(
            "[[nodes]]\nname = \"p\"\n[nodes.config]\nsave = \"\"\nport = 6380\nappendonly = false\n\
             repl-backlog-size = \"1mb\"\nrepl-backlog-sise = 3\n",
        )
        .unwrap();
        let aside = set_aside(&mut v);
        assert_eq!(
            aside,
            vec![vec![
                ("appendonly".to_string(), "no".to_string()),
                ("port".to_string(), "6380".to_string()),
            ]]
        );
        // `save` is a model knob (it decides whether a replication-only save is killed).
        let config = v["nodes"][0]["config"].as_table().unwrap();
        let left: Vec<&String> = config.keys().collect();
        assert_eq!(left, ["repl-backlog-sise", "repl-backlog-size", "save"]);
        put_back(&mut v, &aside);
        assert_eq!(v["nodes"][0]["config"]["port"].as_str(), Some("6380"));
    }

    #[test]
    fn every_model_knob_but_the_grace_period_is_a_valkey_directive() {
        for k in model_knobs() {
            assert!(
                is_valkey_directive(k) || k == "rdb-client-grace-period",
                "{k} is not in valkey_directives.txt"
            );
        }
        assert!(model_knobs().len() > 10);
    }
}
