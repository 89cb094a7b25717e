//! Axes: which model field a sweep varies, and over which values.
//!
//! An axis is written as exactly one of
//!
//! - `values = [a, b, c]`: explicit values, written into the model as given (numbers get `unit`
//!   appended when there is one);
//! - `linear = { from, to, steps }`: `steps` evenly spaced values, both ends included;
//! - `log = { from, to, steps }`: `steps` values evenly spaced on a log scale (`from`, `to` > 0).
//!
//! Range ends are numbers or numbers with a unit (`"1mb"`, `"250ms"`); both ends must use the same
//! unit, or give the numbers bare and the unit separately (`unit = "mb"`). A range whose ends are
//! both integers produces integers (rounded), so an integer-valued field always receives an
//! integer; `integer = false` keeps fractional values, `integer = true` forces rounding. The
//! arithmetic uses `libm`, so the values are the same on every machine.

use serde::{Deserialize, Serialize};
use toml::Value;

use super::ExperimentError;

/// `[[axes]]` as written in an experiment file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AxisSpec {
    /// The model field, as for `--set` (`nodes.primary.config.repl-backlog-size`).
    pub path: String,
    /// Explicit values.
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    /// A linear range.
    #[serde(default)]
    pub linear: Option<RangeSpec>,
    /// A log range.
    #[serde(default)]
    pub log: Option<RangeSpec>,
    /// A unit appended to every generated number (`"mb"`, `"ms"`, `"mb/s"`).
    #[serde(default)]
    pub unit: Option<String>,
    /// Round range values to integers (default: when both ends are integers).
    #[serde(default)]
    pub integer: Option<bool>,
}

/// `{ from, to, steps }` of a linear or log range.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// The first value (included).
    pub from: Value,
    /// The last value (included).
    pub to: Value,
    /// How many values, at least 2.
    pub steps: u32,
}

/// An expanded axis: the values written into the model, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axis {
    /// The model field.
    pub path: String,
    /// The values, as written into the model (a number, or a string with its unit).
    pub values: Vec<Value>,
}

impl AxisSpec {
    /// How many values the axis would expand to, without expanding it (0 when it does not say
    /// exactly one of `values`, `linear`, `log`: [`Axis::expand`] then names the fault).
    pub fn len(&self) -> u64 {
        match (&self.values, &self.linear, &self.log) {
            (Some(values), None, None) => values.len() as u64,
            (None, Some(r), None) | (None, None, Some(r)) => u64::from(r.steps),
            _ => 0,
        }
    }

    /// Whether the axis has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Axis {
    /// Expands `spec`, the `index`-th axis of `file`.
    ///
    /// ```
    /// use replsim::experiment::{Axis, AxisSpec};
    /// let spec: AxisSpec = toml::from_str(
    ///     "path = \"nodes.primary.config.repl-backlog-size\"\nlog = { from = \"1mb\", to = \"1024mb\", steps = 3 }",
    /// ).unwrap();
    /// let axis = Axis::expand(&spec, "x.toml", 0).unwrap();
    /// let shown: Vec<String> = axis.values.iter().map(|v| v.to_string()).collect();
    /// assert_eq!(shown, ["\"1mb\"", "\"32mb\"", "\"1024mb\""]);
    ///
    /// let bad: AxisSpec = toml::from_str("path = \"a\"\nlog = { from = 0, to = 8, steps = 3 }").unwrap();
    /// assert!(Axis::expand(&bad, "x.toml", 0).unwrap_err().to_string().contains("axes[0].log.from"));
    /// ```
    pub fn expand(spec: &AxisSpec, file: &str, index: usize) -> Result<Axis, ExperimentError> {
        let fail = |sub: &str, reason: String| {
            let key = if sub.is_empty() {
                format!("axes[{index}]")
            } else {
                format!("axes[{index}].{sub}")
            };
            ExperimentError::semantic(file, key, format!("axis \"{}\": {reason}", spec.path))
        };
        check_path(&spec.path).map_err(|r| fail("path", r))?;
        if let Some(unit) = &spec.unit {
            check_unit(unit).map_err(|r| fail("unit", r))?;
        }
        let values = match (&spec.values, &spec.linear, &spec.log) {
            (Some(values), None, None) => {
                if spec.integer.is_some() {
                    return Err(fail(
                        "integer",
                        "applies to linear and log ranges only".into(),
                    ));
                }
                list_values(values, spec.unit.as_deref()).map_err(|(i, r)| {
                    fail(&i.map_or("values".into(), |i| format!("values[{i}]")), r)
                })?
            }
            (None, Some(range), None) => range_values(range, spec, Scale::Linear)
                .map_err(|(sub, r)| fail(&format!("linear{sub}"), r))?,
            (None, None, Some(range)) => range_values(range, spec, Scale::Log)
                .map_err(|(sub, r)| fail(&format!("log{sub}"), r))?,
            _ => {
                return Err(fail(
                    "",
                    "give exactly one of values = [...], linear = { from, to, steps } or \
                     log = { from, to, steps }"
                        .into(),
                ));
            }
        };
        if let Some(dup) = first_duplicate(&values) {
            return Err(fail(
                "",
                format!(
                    "the value {dup} appears twice (after rounding); remove it, use fewer steps, \
                     or set integer = false"
                ),
            ));
        }
        Ok(Axis {
            path: spec.path.clone(),
            values,
        })
    }
}

/// The text of `value` as an override (`--set path=<text>`), TOML inline syntax.
///
/// ```
/// use replsim::experiment::value_text;
/// assert_eq!(value_text(&toml::Value::String("3mb".into())), "\"3mb\"");
/// assert_eq!(value_text(&toml::Value::Integer(7)), "7");
/// ```
pub fn value_text(value: &Value) -> String {
    value.to_string()
}

fn check_path(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("the path is empty (e.g. nodes.primary.config.repl-backlog-size)".into());
    }
    if path.contains(['=', ' ', '\t', '\n']) {
        return Err("a path has no spaces or '=' (e.g. workloads.writer.ops-per-sec)".into());
    }
    if path == "model.seed" {
        return Err(
            "the seed is not an axis: runs get seeds from [experiment] seed and seeds".into(),
        );
    }
    Ok(())
}

fn check_unit(unit: &str) -> Result<(), String> {
    if unit.is_empty() || !unit.chars().all(|c| c.is_ascii_alphanumeric() || c == '/') {
        return Err(format!(
            "\"{unit}\" is not a unit (letters and '/', e.g. \"mb\", \"ms\", \"mb/s\")"
        ));
    }
    Ok(())
}

/// Explicit values; the error carries the index of the value at fault.
fn list_values(
    values: &[Value],
    unit: Option<&str>,
) -> Result<Vec<Value>, (Option<usize>, String)> {
    if values.is_empty() {
        return Err((None, "empty axis: give at least one value".into()));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| list_value(v, unit).map_err(|r| (Some(i), r)))
        .collect()
}

fn list_value(value: &Value, unit: Option<&str>) -> Result<Value, String> {
    match (value, unit) {
        (Value::Integer(i), Some(u)) => Ok(Value::String(format!("{i}{u}"))),
        (Value::Float(f), Some(u)) if f.is_finite() => Ok(Value::String(format!("{f}{u}"))),
        (Value::Float(f), _) if !f.is_finite() => Err(format!("{f} is not a finite number")),
        (Value::String(s), _) => {
            check_string(s)?;
            Ok(value.clone())
        }
        _ => Ok(value.clone()),
    }
}

/// Strings travel as `--set` values, which cannot carry quotes, backslashes or newlines.
fn check_string(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(format!(
            "{s:?} contains a quote, a backslash or a control character"
        ));
    }
    Ok(())
}

/// The first value seen twice, in O(n log n) (an axis may have millions of values).
fn first_duplicate(values: &[Value]) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    values
        .iter()
        .map(Value::to_string)
        .find(|text| !seen.insert(text.clone()))
}

#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

/// A range end: its number, whether it was written as an integer, and its unit.
#[derive(Debug, PartialEq)]
struct End {
    number: f64,
    integer: bool,
    unit: Option<String>,
}

fn parse_end(value: &Value) -> Result<End, String> {
    match value {
        Value::Integer(i) => Ok(End {
            number: *i as f64,
            integer: true,
            unit: None,
        }),
        Value::Float(f) if f.is_finite() => Ok(End {
            number: *f,
            integer: false,
            unit: None,
        }),
        Value::String(s) => parse_end_text(s),
        other => Err(format!(
            "{other} is not a number or a number with a unit (e.g. 10, 0.5, \"1mb\", \"250ms\")"
        )),
    }
}

fn parse_end_text(text: &str) -> Result<End, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '+')))
        .unwrap_or(t.len());
    let (num, unit) = (t[..split].replace('_', ""), t[split..].trim());
    let number: f64 = num.parse().map_err(|_| {
        format!("\"{text}\" is not a number followed by a unit (e.g. \"1mb\", \"250ms\")")
    })?;
    if !unit.is_empty() {
        check_unit(unit)?;
    }
    Ok(End {
        number,
        integer: !num.contains('.'),
        unit: (!unit.is_empty()).then(|| unit.to_string()),
    })
}

/// The range's values; the error carries the sub-key at fault (`.from`, `.steps`, …).
fn range_values(
    range: &RangeSpec,
    spec: &AxisSpec,
    scale: Scale,
) -> Result<Vec<Value>, (String, String)> {
    let from = parse_end(&range.from).map_err(|r| (".from".to_string(), r))?;
    let to = parse_end(&range.to).map_err(|r| (".to".to_string(), r))?;
    let unit = common_unit(&from, &to, spec.unit.as_deref()).map_err(|r| (String::new(), r))?;
    if range.steps < 2 {
        let what = if range.steps == 0 { "empty axis: " } else { "" };
        return Err((
            ".steps".into(),
            format!("{what}steps must be at least 2 (for one value write values = [x])"),
        ));
    }
    if scale == Scale::Log {
        for (end, key) in [(&from, ".from"), (&to, ".to")] {
            if end.number <= 0.0 {
                return Err((
                    key.into(),
                    format!(
                        "a log range needs from > 0 and to > 0 (got {}); use linear for ranges \
                         that start at 0",
                        end.number
                    ),
                ));
            }
        }
    }
    let integer = spec.integer.unwrap_or(from.integer && to.integer);
    (0..range.steps)
        .map(|k| {
            let x = interpolate(from.number, to.number, k, range.steps, scale);
            make_value(x, integer, unit.as_deref()).map_err(|r| (String::new(), r))
        })
        .collect()
}

fn common_unit(from: &End, to: &End, unit: Option<&str>) -> Result<Option<String>, String> {
    if from.unit != to.unit {
        return Err(format!(
            "from and to use different units ({} and {}); write both in one unit (from = \
             \"1mb\", to = \"1024mb\") or give bare numbers and unit = \"mb\"",
            from.unit.as_deref().unwrap_or("none"),
            to.unit.as_deref().unwrap_or("none")
        ));
    }
    match (from.unit.as_deref(), unit) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "the ends carry unit \"{a}\" but unit = \"{b}\"; give the unit once"
        )),
        (Some(a), _) => Ok(Some(a.to_string())),
        (None, b) => Ok(b.map(str::to_string)),
    }
}

/// The `k`-th of `steps` values from `from` to `to`, both ends exact.
fn interpolate(from: f64, to: f64, k: u32, steps: u32, scale: Scale) -> f64 {
    if k == 0 {
        return from;
    }
    if k + 1 == steps {
        return to;
    }
    let t = f64::from(k) / f64::from(steps - 1);
    match scale {
        Scale::Linear => from + (to - from) * t,
        Scale::Log => libm::exp(libm::log(from) + (libm::log(to) - libm::log(from)) * t),
    }
}

fn make_value(x: f64, integer: bool, unit: Option<&str>) -> Result<Value, String> {
    if integer {
        let r = x.round();
        if r.abs() >= 9.0e18 {
            return Err(format!("{x} is too large for an integer"));
        }
        let i = r as i64;
        return Ok(unit.map_or(Value::Integer(i), |u| Value::String(format!("{i}{u}"))));
    }
    let f = round_significant(x);
    Ok(unit.map_or(Value::Float(f), |u| Value::String(format!("{f}{u}"))))
}

/// Rounds to 10 significant digits, so that `0.1 + 0.2` is written `0.3`.
fn round_significant(x: f64) -> f64 {
    format!("{x:.9e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(text: &str) -> Result<Axis, ExperimentError> {
        let spec: AxisSpec = toml::from_str(text).unwrap();
        Axis::expand(&spec, "t.toml", 0)
    }

    #[test]
    fn linear_ranges_round_when_ends_are_integers() {
        let a = axis("path = \"a\"\nlinear = { from = 0, to = 10, steps = 4 }").unwrap();
        assert_eq!(a.values, [0, 3, 7, 10].map(Value::Integer));
        let a = axis("path = \"a\"\nlinear = { from = 0.1, to = 0.3, steps = 3 }").unwrap();
        assert_eq!(a.values, [0.1, 0.2, 0.3].map(Value::Float));
    }

    #[test]
    fn duplicates_are_found_after_rounding_and_types_stay_apart() {
        let e = axis("path = \"a\"\nlinear = { from = 0, to = 2, steps = 4 }").unwrap_err();
        assert!(e.to_string().contains("the value 1 appears twice"), "{e}");
        let a = axis("path = \"a\"\nvalues = [1, 1.0, \"1\"]").unwrap();
        assert_eq!(a.values.len(), 3);
    }

    #[test]
    fn an_axis_is_counted_without_expanding_it() {
        let spec: AxisSpec =
            toml::from_str("path = \"a\"\nlinear = { from = 0, to = 1, steps = 4000000000 }")
                .unwrap();
        assert_eq!(spec.len(), 4_000_000_000);
        let both: AxisSpec =
            toml::from_str("path = \"a\"\nvalues = [1]\nlinear = { from = 0, to = 1, steps = 2 }")
                .unwrap();
        assert!(both.is_empty());
    }

    #[test]
    fn ends_with_different_units_are_refused() {
        let e = axis("path = \"a\"\nlog = { from = \"1mb\", to = \"1gb\", steps = 3 }");
        assert!(e.unwrap_err().to_string().contains("different units"));
    }
}
