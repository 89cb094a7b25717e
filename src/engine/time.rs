//! Simulated time: integer nanoseconds, never floating point in the ordering key.
//!
//! [`SimTime`] is an instant (nanoseconds since the start of the run), [`SimDuration`] a span.
//! Both parse and print human units (`250ms`, `1.5s`, `2m`, `3h`), and every arithmetic
//! operation that could overflow is checked: an overflow is an error, never a wrap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MIN: u64 = 60 * NS_PER_S;
const NS_PER_H: u64 = 60 * NS_PER_MIN;
const NS_PER_DAY: u64 = 24 * NS_PER_H;

/// Unit suffixes accepted by the parser, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", NS_PER_US),
    ("µs", NS_PER_US),
    ("ms", NS_PER_MS),
    ("s", NS_PER_S),
    ("sec", NS_PER_S),
    ("m", NS_PER_MIN),
    ("min", NS_PER_MIN),
    ("h", NS_PER_H),
    ("d", NS_PER_DAY),
];

/// A span of simulated time, in whole nanoseconds.
///
/// ```
/// use replsim::engine::SimDuration;
/// let d: SimDuration = "1.5s".parse().unwrap();
/// assert_eq!(d.as_nanos(), 1_500_000_000);
/// assert_eq!(d.to_string(), "1.5s");
/// assert!("1.5 parsecs".parse::<SimDuration>().is_err());
/// assert!("-2s".parse::<SimDuration>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

/// An instant of simulated time: nanoseconds since the start of the run.
///
/// ```
/// use replsim::engine::{SimDuration, SimTime};
/// let t = SimTime::ZERO.checked_add("250ms".parse().unwrap()).unwrap();
/// assert_eq!(t.as_nanos(), 250_000_000);
/// assert!(SimTime::MAX.checked_add(SimDuration::from_nanos(1)).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span (about 584 years).
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A span of `us` microseconds, saturating at [`SimDuration::MAX`].
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(NS_PER_US))
    }
    /// A span of `ms` milliseconds, saturating at [`SimDuration::MAX`].
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(NS_PER_MS))
    }
    /// A span of `s` seconds, saturating at [`SimDuration::MAX`].
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(NS_PER_S))
    }
    /// A span from fractional seconds, rounded to the nearest nanosecond; `None` when negative,
    /// not finite or too large.
    pub fn from_secs_f64(s: f64) -> Option<Self> {
        let ns = (s * NS_PER_S as f64).round();
        (ns.is_finite() && ns >= 0.0 && ns < u64::MAX as f64).then_some(SimDuration(ns as u64))
    }
    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span in seconds, for display and charts only (never for ordering).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: SimDuration) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(ns) => Some(SimDuration(ns)),
            None => None,
        }
    }
    /// `self × k`, or `None` on overflow.
    pub const fn checked_mul(self, k: u64) -> Option<Self> {
        match self.0.checked_mul(k) {
            Some(ns) => Some(SimDuration(ns)),
            None => None,
        }
    }
    /// `self − other`, floored at zero.
    pub const fn saturating_sub(self, other: SimDuration) -> Self {
        SimDuration(self.0.saturating_sub(other.0))
    }
}

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The end of representable time; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// The instant `s` seconds after the start, saturating at [`SimTime::MAX`].
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s.saturating_mul(NS_PER_S))
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds since the start, for display and charts only (never for ordering).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// Time elapsed since the start, as a duration.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
    /// `self + d`, or `None` on overflow.
    pub const fn checked_add(self, d: SimDuration) -> Option<Self> {
        match self.0.checked_add(d.0) {
            Some(ns) => Some(SimTime(ns)),
            None => None,
        }
    }
    /// `self + d`, saturating at [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimDuration) -> Self {
        SimTime(self.0.saturating_add(d.0))
    }
    /// The span from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_since(self, earlier: SimTime) -> Option<SimDuration> {
        match self.0.checked_sub(earlier.0) {
            Some(ns) => Some(SimDuration(ns)),
            None => None,
        }
    }
    /// The span from `earlier` to `self`, floored at zero.
    pub const fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// Nothing to parse.
    #[error("empty duration (expected a number with a unit, e.g. \"250ms\", \"1.5s\", \"2m\")")]
    Empty,
    /// A leading minus sign.
    #[error("negative duration \"{0}\" (durations are >= 0)")]
    Negative(String),
    /// The number part is not a decimal number.
    #[error(
        "\"{0}\" is not a number followed by a unit (e.g. \"250ms\", \"1.5s\", \"2m\", \"3h\")"
    )]
    BadNumber(String),
    /// The number has no unit.
    #[error("\"{0}\" has no unit (write e.g. \"{0}s\" or \"{0}ms\")")]
    MissingUnit(String),
    /// The unit is not one of the known ones.
    #[error("unknown time unit \"{unit}\" in \"{input}\" (valid: ns, us, ms, s, m, h, d)")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unrecognised suffix.
        unit: String,
    },
    /// More precision than one nanosecond.
    #[error("\"{0}\" is finer than one nanosecond")]
    TooPrecise(String),
    /// Larger than the representable range.
    #[error("\"{0}\" is too long (the limit is about 584 years)")]
    Overflow(String),
}

impl FromStr for SimDuration {
    type Err = ParseDurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ParseDurationError::Empty);
        }
        if s.starts_with('-') {
            return Err(ParseDurationError::Negative(s.to_string()));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(s.len());
        let (number, unit) = (&s[..split], s[split..].trim());
        if number.is_empty() {
            return Err(ParseDurationError::BadNumber(s.to_string()));
        }
        if unit.is_empty() {
            return if number == "0" {
                Ok(SimDuration::ZERO)
            } else {
                Err(ParseDurationError::MissingUnit(s.to_string()))
            };
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, ns)| ns)
            .ok_or_else(|| ParseDurationError::UnknownUnit {
                input: s.to_string(),
                unit: unit.to_string(),
            })?;
        parse_scaled_decimal(number, scale)
            .map(SimDuration)
            .map_err(|e| match e {
                DecimalError::Syntax => ParseDurationError::BadNumber(s.to_string()),
                DecimalError::Inexact => ParseDurationError::TooPrecise(s.to_string()),
                DecimalError::Overflow => ParseDurationError::Overflow(s.to_string()),
            })
    }
}

/// Why a decimal number could not be scaled to an exact integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    Syntax,
    Inexact,
    Overflow,
}

/// Parses `digits[.digits]` (underscores allowed as separators) and multiplies it by `scale`
/// exactly, in integers: `"1.5"` × 10⁹ is 1 500 000 000 with no rounding anywhere.
pub(crate) fn parse_scaled_decimal(number: &str, scale: u64) -> Result<u64, DecimalError> {
    let cleaned: String = number.chars().filter(|&c| c != '_').collect();
    let (int_part, frac_part) = match cleaned.split_once('.') {
        Some((i, f)) => (i, f),
        None => (cleaned.as_str(), ""),
    };
    let all_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(DecimalError::Syntax);
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| DecimalError::Overflow)?
    };
    let frac_digits = frac_part.trim_end_matches('0');
    let mut value = int
        .checked_mul(u128::from(scale))
        .ok_or(DecimalError::Overflow)?;
    if !frac_digits.is_empty() {
        if frac_digits.len() > 30 {
            return Err(DecimalError::Inexact);
        }
        let numerator: u128 = frac_digits.parse().map_err(|_| DecimalError::Syntax)?;
        let denominator = 10u128.pow(frac_digits.len() as u32);
        let scaled = numerator
            .checked_mul(u128::from(scale))
            .ok_or(DecimalError::Overflow)?;
        if scaled % denominator != 0 {
            return Err(DecimalError::Inexact);
        }
        value = value
            .checked_add(scaled / denominator)
            .ok_or(DecimalError::Overflow)?;
    }
    u64::try_from(value).map_err(|_| DecimalError::Overflow)
}

/// Writes `value / scale` as an exact decimal with trailing zeros trimmed, then `unit`.
pub(crate) fn write_scaled(
    f: &mut fmt::Formatter<'_>,
    value: u64,
    scale: u64,
    unit: &str,
) -> fmt::Result {
    let (int, rem) = (value / scale, value % scale);
    if rem == 0 {
        return write!(f, "{int}{unit}");
    }
    let width = scale.ilog10() as usize;
    let frac = format!("{rem:0width$}");
    write!(f, "{int}.{}{unit}", frac.trim_end_matches('0'))
}

impl fmt::Display for SimDuration {
    /// Prints the largest unit that keeps the value exact, so that parsing the output gives the
    /// same duration back: `1h`, `90s` (not `1.5m`), `1.5s`, `250ms`, `7ns`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        match ns {
            0 => f.write_str("0s"),
            _ if ns.is_multiple_of(NS_PER_H) => write!(f, "{}h", ns / NS_PER_H),
            _ if ns.is_multiple_of(NS_PER_MIN) => write!(f, "{}m", ns / NS_PER_MIN),
            _ if ns >= NS_PER_S => write_scaled(f, ns, NS_PER_S, "s"),
            _ if ns >= NS_PER_MS => write_scaled(f, ns, NS_PER_MS, "ms"),
            _ if ns >= NS_PER_US => write_scaled(f, ns, NS_PER_US, "us"),
            _ => write!(f, "{ns}ns"),
        }
    }
}

impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SimTime {
    /// Seconds since the start with nanosecond precision, e.g. `t=12.5s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("t=")?;
        write_scaled(f, self.0, NS_PER_S, "s")
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for SimTime {
    /// An instant serialises as integer nanoseconds since the start (exact, sortable).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        let cases = [
            ("7ns", 7),
            ("3us", 3_000),
            ("250ms", 250_000_000),
            ("1.5s", 1_500_000_000),
            ("2m", 120 * NS_PER_S),
            ("3h", 3 * NS_PER_H),
            ("1d", NS_PER_DAY),
            ("0", 0),
            (" 10 s ", 10 * NS_PER_S),
            ("1_000ms", NS_PER_S),
            (".5s", 500_000_000),
        ];
        for (text, ns) in cases {
            assert_eq!(
                text.parse::<SimDuration>().unwrap().as_nanos(),
                ns,
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "5",
            "-1s",
            "1.5.2s",
            "5 parsecs",
            "1.5ns",
            "1e3s",
            "99999999999h",
        ] {
            assert!(
                bad.parse::<SimDuration>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn display_is_exact_and_round_trips() {
        for ns in [
            0,
            1,
            999,
            1_000,
            1_500,
            NS_PER_MS,
            1_500_000_000,
            90 * NS_PER_S,
            NS_PER_H,
        ] {
            let d = SimDuration::from_nanos(ns);
            assert_eq!(d.to_string().parse::<SimDuration>().unwrap(), d, "{d}");
        }
        assert_eq!(SimDuration::from_nanos(90 * NS_PER_S).to_string(), "90s");
        assert_eq!(SimDuration::from_millis(250).to_string(), "250ms");
    }
}
