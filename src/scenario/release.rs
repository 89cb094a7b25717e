//! `[model] server`: the release's defaults go into every node's `config` table before it is
//! read (an unset knob takes that release's default), and a knob the release does not have is an
//! error naming the release. The answers come from [`Release`]; this file only applies them to
//! the model's TOML.

use toml::Value;

use super::ScenarioError;
use crate::valkey::{Release, ValkeyConfig};

/// The release a model's `[model] server` names (the default when absent).
pub(crate) fn release_of(root: &Value, file: &str) -> Result<Release, ScenarioError> {
    let Some(v) = root.get("model").and_then(|m| m.get("server")) else {
        return Ok(Release::default());
    };
    let semantic = |reason: String| ScenarioError::Semantic {
        file: file.to_string(),
        key: "model.server".into(),
        reason,
    };
    let Value::String(name) = v else {
        return Err(semantic(format!(
            "{v} is not a release name (e.g. \"valkey-9.1\")"
        )));
    };
    name.parse().map_err(semantic)
}

/// Checks every node's `config` keys against `release` and fills in the knobs the node leaves
/// unset where the release's default differs from Valkey 9.1's. Returns whether a table changed.
pub(crate) fn apply(root: &mut Value, release: Release, file: &str) -> Result<bool, ScenarioError> {
    let defaults = table_of(&release.defaults());
    let base = table_of(&ValkeyConfig::default());
    let Some(Value::Array(nodes)) = root.get_mut("nodes") else {
        return Ok(false);
    };
    let mut changed = false;
    for (i, node) in nodes.iter_mut().enumerate() {
        let Value::Table(node) = node else { continue };
        let name = match node.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => format!("[{i}]"),
        };
        if let Some(Value::Table(config)) = node.get("config") {
            for key in config.keys() {
                // Knobs left out of the serialized defaults (off unless set) count too.
                let known = base.contains_key(key) || UNSERIALIZED_DEFAULTS.contains(&key.as_str());
                if known && let Err(reason) = release.has_config(key) {
                    return Err(ScenarioError::Semantic {
                        file: file.to_string(),
                        key: format!("nodes.{name}.config.{key}"),
                        reason,
                    });
                }
            }
        }
        for (key, value) in &defaults {
            if base.get(key) == Some(value) {
                continue;
            }
            let config = node
                .entry("config")
                .or_insert_with(|| Value::Table(toml::Table::new()));
            if let Value::Table(config) = config
                && !config.contains_key(key)
            {
                config.insert(key.clone(), value.clone());
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// Removes from every node's `config` table the knobs `release` does not have (the resolved
/// model of a Redis 6.2 run has no `dual-channel-replication-enabled`), so that it reads back.
pub(crate) fn strip_missing(root: &mut Value, release: Release) {
    let Some(Value::Array(nodes)) = root.get_mut("nodes") else {
        return;
    };
    for node in nodes {
        if let Some(Value::Table(config)) = node.get_mut("config") {
            config.retain(|key, _| release.has_config(key).is_ok());
        }
    }
}

/// The `ValkeyConfig` keys its serialization skips at their default value (so they are not in
/// the defaults table), which a release may still lack.
const UNSERIALIZED_DEFAULTS: [&str; 5] = [
    "replica-full-sync-buffer-limit",
    "repl-throttling-enabled",
    "repl-compression",
    "repl-compression-ratio",
    "forkless-infrastructure-enabled",
];

fn table_of(config: &ValkeyConfig) -> toml::Table {
    match Value::try_from(config) {
        Ok(Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}
