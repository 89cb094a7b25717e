//! `--set path.to.key=value`: overrides applied to the parsed TOML tree.
//!
//! Paths use dots between keys and `[i]` (or a bare number, `links.0.bandwidth`) for array
//! elements; an array of tables whose elements have a `name` can also be indexed by name: `nodes.replica.config.repl-backlog-size=20mb` is
//! `nodes[1].config.repl-backlog-size` when node 1 is called `replica`. A value is read as TOML
//! when it is a TOML number, boolean, array or inline table, else as a string.

use toml::Value;

use super::ScenarioError;

/// One `path=value` override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The path as given.
    pub path: String,
    /// The raw value.
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = ScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((path, value)) if !path.trim().is_empty() => Ok(Override {
                path: path.trim().to_string(),
                value: value.trim().to_string(),
            }),
            _ => Err(ScenarioError::BadOverride {
                assignment: s.to_string(),
                reason:
                    "expected path.to.key=value (e.g. nodes.replica.config.repl-backlog-size=20mb)"
                        .into(),
            }),
        }
    }
}

/// Parses a value as TOML if it is one, else keeps it as a string.
fn parse_value(raw: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !matches!(v, Value::String(_)))
        .unwrap_or_else(|| Value::String(raw.trim_matches('"').to_string()))
}

/// Splits `a.b[2].c` into `["a", "b", "[2]", "c"]`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(open) = rest.find('[') {
            if open > 0 {
                out.push(rest[..open].to_string());
            }
            let close = rest[open..].find(']').map_or(rest.len(), |c| open + c + 1);
            out.push(rest[open..close].to_string());
            rest = &rest[close..];
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// Applies every override to `root`, in order.
pub fn apply_overrides(root: &mut Value, overrides: &[Override]) -> Result<(), ScenarioError> {
    for o in overrides {
        let fail = |reason: String| ScenarioError::BadOverride {
            assignment: format!("{}={}", o.path, o.value),
            reason,
        };
        let segs = segments(&o.path);
        let (last, parents) = segs.split_last().ok_or_else(|| fail("empty path".into()))?;
        let mut here = &mut *root;
        for (depth, seg) in parents.iter().enumerate() {
            here = step(here, seg)
                .map_err(|r| fail(format!("at {}: {r}", segs[..=depth].join("."))))?;
        }
        let value = parse_value(&o.value);
        match here {
            Value::Table(t) => {
                t.insert(last.clone(), value);
            }
            Value::Array(items) => {
                let i = index_of(items, last).map_err(&fail)?;
                items[i] = value;
            }
            _ => return Err(fail(format!("{} is not a table", parents.join(".")))),
        }
    }
    Ok(())
}

/// The value at `path` in `root` (same path syntax as an override), or why there is none.
/// Unlike [`apply_overrides`] it creates nothing: a missing key is an error.
pub fn lookup<'v>(root: &'v Value, path: &str) -> Result<&'v Value, String> {
    let segs = segments(path);
    if segs.is_empty() {
        return Err("empty path".into());
    }
    let mut here = root;
    for (depth, seg) in segs.iter().enumerate() {
        let at = || segs[..=depth].join(".");
        here = match here {
            Value::Table(t) => t.get(seg.as_str()).ok_or_else(|| {
                let keys: Vec<&str> = t.keys().map(String::as_str).collect();
                format!("no key {} (keys there: {})", at(), keys.join(", "))
            })?,
            Value::Array(items) => {
                let i = index_of(items, seg).map_err(|r| format!("at {}: {r}", at()))?;
                &items[i]
            }
            _ => return Err(format!("{} is not a table", segs[..depth].join("."))),
        };
    }
    Ok(here)
}

fn step<'v>(here: &'v mut Value, seg: &str) -> Result<&'v mut Value, String> {
    match here {
        Value::Table(t) => {
            if !t.contains_key(seg) {
                t.insert(seg.to_string(), Value::Table(toml::Table::new()));
            }
            t.get_mut(seg).ok_or_else(|| format!("no key {seg}"))
        }
        Value::Array(items) => {
            let i = index_of(items, seg)?;
            Ok(&mut items[i])
        }
        _ => Err(format!("cannot descend into a value with \"{seg}\"")),
    }
}

/// `[2]`, `2`, or a `name` of one of the array's tables (a name wins over a bare number).
fn index_of(items: &[Value], seg: &str) -> Result<usize, String> {
    let by_name = items
        .iter()
        .position(|v| v.get("name").and_then(Value::as_str) == Some(seg));
    let bare_number = seg.bytes().all(|b| b.is_ascii_digit()) && !seg.is_empty();
    let bracketed = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    let index = bracketed.or((by_name.is_none() && bare_number).then_some(seg));
    if let Some(inner) = index {
        let i: usize = inner
            .parse()
            .map_err(|_| format!("\"{inner}\" is not an index"))?;
        return if i < items.len() {
            Ok(i)
        } else {
            Err(format!(
                "index {i} is out of range (there are {})",
                items.len()
            ))
        };
    }
    let names: Vec<&str> = items
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    by_name.ok_or_else(|| format!("no element named \"{seg}\" (names: {})", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_by_index_and_by_name() {
        let mut v: Value =
            toml::from_str("[[nodes]]\nname = \"p\"\n[[nodes]]\nname = \"r\"\n").unwrap();
        let o: Vec<Override> = ["nodes.r.config.hz=20", "nodes[0].role=primary"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        apply_overrides(&mut v, &o).unwrap();
        assert_eq!(v["nodes"][1]["config"]["hz"].as_integer(), Some(20));
        assert_eq!(v["nodes"][0]["role"].as_str(), Some("primary"));
        let bare: Override = "nodes.1.role=replica".parse().unwrap();
        apply_overrides(&mut v, &[bare]).unwrap();
        assert_eq!(v["nodes"][1]["role"].as_str(), Some("replica"));
        let out: Override = "nodes.2.role=replica".parse().unwrap();
        let e = apply_overrides(&mut v, &[out]).unwrap_err().to_string();
        assert!(e.contains("index 2 is out of range (there are 2)"), "{e}");
        let bad: Override = "nodes.x.role=primary".parse().unwrap();
        assert!(
            apply_overrides(&mut v, &[bad])
                .unwrap_err()
                .to_string()
                .contains("no element named")
        );
    }
}
