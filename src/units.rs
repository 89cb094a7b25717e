//! Byte sizes and byte rates with human units.
//!
//! Sizes follow **valkey.conf** so a user can paste values from a Valkey config: `1k` = 1000,
//! `1kb` = 1024, `1m` = 10⁶, `1mb` = 2²⁰, `1g` = 10⁹, `1gb` = 2³⁰, case-insensitive. The IEC
//! suffixes `KiB`, `MiB`, `GiB`, `TiB` are binary too, `b` or no suffix means bytes, and a
//! decimal point is allowed when the result is a whole number of bytes (`1.5mb`).
//!
//! Rates are a size per second (`20mb/s` = 20 × 2²⁰ B/s, `20m/s` = 20 × 10⁶ B/s) or a line rate
//! in bits, decimal as network people mean it (`1gbit`, `100mbit`, `10kbit`; `gbps`/`mbps` are
//! bits too, whatever their case — write `/s` for bytes).
//!
//! Both are `u64` newtypes: byte counts are exact integers everywhere in replsim.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::{DecimalError, parse_scaled_decimal};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Size suffixes, as valkey.conf reads them (plus IEC names). Matched case-insensitively.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1_000),
    ("kb", KIB),
    ("kib", KIB),
    ("m", 1_000_000),
    ("mb", MIB),
    ("mib", MIB),
    ("g", 1_000_000_000),
    ("gb", GIB),
    ("gib", GIB),
    ("t", 1_000_000_000_000),
    ("tb", TIB),
    ("tib", TIB),
];

/// Bit-rate suffixes (decimal), in bits per second.
const BIT_UNITS: &[(&str, u64)] = &[
    ("bit", 1),
    ("bps", 1),
    ("kbit", 1_000),
    ("kbps", 1_000),
    ("mbit", 1_000_000),
    ("mbps", 1_000_000),
    ("gbit", 1_000_000_000),
    ("gbps", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
];

/// A number of bytes.
///
/// ```
/// use replsim::units::ByteSize;
/// assert_eq!("10mb".parse::<ByteSize>().unwrap().bytes(), 10 * 1024 * 1024);
/// assert_eq!("1100k".parse::<ByteSize>().unwrap().bytes(), 1_100_000);
/// assert_eq!("256MiB".parse::<ByteSize>().unwrap().to_string(), "256mb");
/// assert_eq!("256m".parse::<ByteSize>().unwrap().to_string(), "256m");
/// assert!("-1mb".parse::<ByteSize>().is_err());
/// assert!("10 furlongs".parse::<ByteSize>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

/// A rate in bytes per second.
///
/// ```
/// use replsim::units::Rate;
/// assert_eq!("1gbit".parse::<Rate>().unwrap().bytes_per_sec(), 125_000_000);
/// assert_eq!("20mb/s".parse::<Rate>().unwrap().bytes_per_sec(), 20 * 1024 * 1024);
/// assert_eq!("100m/s".parse::<Rate>().unwrap().bytes_per_sec(), 100_000_000);
/// assert!("fast".parse::<Rate>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(u64);

impl ByteSize {
    /// Zero bytes.
    pub const ZERO: ByteSize = ByteSize(0);
    /// `n` bytes.
    pub const fn new(bytes: u64) -> Self {
        ByteSize(bytes)
    }
    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
    /// A short human form for logs and charts (`1.5 GiB`, `20.0 KiB`, `512 B`); not exact.
    pub fn human(self) -> String {
        human_binary(self.0 as f64, "B")
    }
}

impl Rate {
    /// Nothing moves.
    pub const ZERO: Rate = Rate(0);
    /// `n` bytes per second.
    pub const fn new(bytes_per_sec: u64) -> Self {
        Rate(bytes_per_sec)
    }
    /// Bytes per second.
    pub const fn bytes_per_sec(self) -> u64 {
        self.0
    }
    /// A short human form (`125.0 MB/s`, decimal as rates usually are); not exact.
    pub fn human(self) -> String {
        human_decimal(self.0 as f64, "B/s")
    }
}

/// Why a size or a rate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseUnitError {
    /// Nothing to parse.
    #[error("empty value (expected e.g. {0})")]
    Empty(&'static str),
    /// A leading minus sign.
    #[error("negative value \"{0}\" (sizes and rates are >= 0)")]
    Negative(String),
    /// The number part is not a decimal number.
    #[error("\"{input}\" is not a number followed by a unit (e.g. {examples})")]
    BadNumber {
        /// The whole input.
        input: String,
        /// Examples of valid input.
        examples: &'static str,
    },
    /// An unknown suffix.
    #[error("unknown unit \"{unit}\" in \"{input}\" (valid: {valid})")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unrecognised suffix.
        unit: String,
        /// The valid suffixes.
        valid: &'static str,
    },
    /// Not a whole number of bytes.
    #[error("\"{0}\" is not a whole number of bytes")]
    Fractional(String),
    /// Larger than 2⁶⁴ − 1.
    #[error("\"{0}\" is too large")]
    Overflow(String),
}

const SIZE_EXAMPLES: &str = "\"10mb\", \"1100k\", \"256MiB\", \"16384\"";
const SIZE_VALID: &str =
    "b, k, kb, m, mb, g, gb, t, tb (valkey.conf: k=1000, kb=1024), KiB, MiB, GiB, TiB";
const RATE_EXAMPLES: &str = "\"1gbit\", \"100mbit\", \"20mb/s\", \"125m/s\"";
const RATE_VALID: &str =
    "a size per second (\"20mb/s\") or bits: bit, kbit, mbit, gbit (also kbps, mbps, gbps)";

/// Splits `"1.5 mb"` into `("1.5", "mb")`, rejecting empty and negative input.
fn split_number<'a>(
    s: &'a str,
    examples: &'static str,
) -> Result<(&'a str, &'a str), ParseUnitError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseUnitError::Empty(examples));
    }
    if s.starts_with('-') {
        return Err(ParseUnitError::Negative(s.to_string()));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    if split == 0 {
        return Err(ParseUnitError::BadNumber {
            input: s.to_string(),
            examples,
        });
    }
    Ok((&s[..split], s[split..].trim()))
}

fn scaled(
    input: &str,
    number: &str,
    scale: u64,
    examples: &'static str,
) -> Result<u64, ParseUnitError> {
    parse_scaled_decimal(number, scale).map_err(|e| match e {
        DecimalError::Syntax => ParseUnitError::BadNumber {
            input: input.trim().to_string(),
            examples,
        },
        DecimalError::Inexact => ParseUnitError::Fractional(input.trim().to_string()),
        DecimalError::Overflow => ParseUnitError::Overflow(input.trim().to_string()),
    })
}

fn lookup(table: &[(&str, u64)], unit: &str) -> Option<u64> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, scale)| scale)
}

impl FromStr for ByteSize {
    type Err = ParseUnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (number, unit) = split_number(input, SIZE_EXAMPLES)?;
        let scale = lookup(SIZE_UNITS, unit).ok_or_else(|| ParseUnitError::UnknownUnit {
            input: input.trim().to_string(),
            unit: unit.to_string(),
            valid: SIZE_VALID,
        })?;
        scaled(input, number, scale, SIZE_EXAMPLES).map(ByteSize)
    }
}

impl FromStr for Rate {
    type Err = ParseUnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (number, unit) = split_number(input, RATE_EXAMPLES)?;
        let unknown = || ParseUnitError::UnknownUnit {
            input: input.trim().to_string(),
            unit: unit.to_string(),
            valid: RATE_VALID,
        };
        if let Some(per_sec) = unit.strip_suffix("/s").or_else(|| unit.strip_suffix("/S")) {
            let scale = lookup(SIZE_UNITS, per_sec.trim()).ok_or_else(unknown)?;
            return scaled(input, number, scale, RATE_EXAMPLES).map(Rate);
        }
        let bits_scale = lookup(BIT_UNITS, unit).ok_or_else(unknown)?;
        let bits = u128::from(scaled(input, number, bits_scale, RATE_EXAMPLES)?);
        if bits % 8 != 0 {
            return Err(ParseUnitError::Fractional(input.trim().to_string()));
        }
        u64::try_from(bits / 8)
            .map(Rate)
            .map_err(|_| ParseUnitError::Overflow(input.trim().to_string()))
    }
}

impl fmt::Display for ByteSize {
    /// The exact value in the valkey.conf unit that writes it shortest (`10mb`, `256m`,
    /// `1100k`, `12345`), so that parsing the output gives the same size back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let units = [
            (TIB, "tb"),
            (1_000_000_000_000, "t"),
            (GIB, "gb"),
            (1_000_000_000, "g"),
            (MIB, "mb"),
            (1_000_000, "m"),
            (KIB, "kb"),
            (1_000, "k"),
        ];
        let best = units
            .iter()
            .filter(|&&(scale, _)| b >= scale && b.is_multiple_of(scale))
            .min_by_key(|&&(scale, _)| b / scale);
        match best {
            Some(&(scale, unit)) => write!(f, "{}{unit}", b / scale),
            None => write!(f, "{b}"),
        }
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({} B)", self.0)
    }
}

impl fmt::Display for Rate {
    /// Exact and re-parseable: `1gbit` when a whole number of megabits, else bytes per second.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = u128::from(self.0) * 8;
        if bits >= 1_000_000_000 && bits % 1_000_000_000 == 0 {
            return write!(f, "{}gbit", bits / 1_000_000_000);
        }
        if bits >= 1_000_000 && bits % 1_000_000 == 0 {
            return write!(f, "{}mbit", bits / 1_000_000);
        }
        write!(f, "{}", ByteSize(self.0))?;
        f.write_str("/s")
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({} B/s)", self.0)
    }
}

fn human_binary(value: f64, unit: &str) -> String {
    let prefixes = ["", "Ki", "Mi", "Gi", "Ti"];
    let mut v = value;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < prefixes.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {}{unit}", prefixes[i])
    }
}

fn human_decimal(value: f64, unit: &str) -> String {
    let prefixes = ["", "k", "M", "G", "T"];
    let mut v = value;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < prefixes.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}{unit}", prefixes[i])
}

/// Serialises as the exact, re-parseable string form.
macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(ByteSize);
string_serde!(Rate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_valkey_conf() {
        let cases = [
            ("0", 0),
            ("16384", 16_384),
            ("1k", 1_000),
            ("1kb", 1_024),
            ("1100k", 1_100_000),
            ("1mb", MIB),
            ("1MB", MIB),
            ("256MiB", 256 * MIB),
            ("1m", 1_000_000),
            ("1.5mb", 3 * MIB / 2),
            ("5gb", 5 * GIB),
            ("64 mb", 64 * MIB),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>().unwrap().bytes(), bytes, "{text}");
        }
    }

    #[test]
    fn rates_accept_bits_and_sizes_per_second() {
        let cases = [
            ("1gbit", 125_000_000),
            ("100mbit", 12_500_000),
            ("10gbps", 1_250_000_000),
            ("20mb/s", 20 * MIB),
            ("100m/s", 100_000_000),
            ("10MiB/s", 10 * MIB),
        ];
        for (text, bps) in cases {
            assert_eq!(text.parse::<Rate>().unwrap().bytes_per_sec(), bps, "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "mb",
            "-5mb",
            "1.2.3mb",
            "10 furlongs",
            "0.5b",
            "99999999999tb",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?}");
        }
        for bad in ["", "fast", "-1gbit", "1bit", "10mb"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for b in [
            0,
            1,
            1_000,
            1_024,
            1_100_000,
            MIB,
            10 * MIB,
            5 * GIB,
            123_456_789,
        ] {
            let s = ByteSize(b);
            assert_eq!(s.to_string().parse::<ByteSize>().unwrap(), s);
        }
        for r in [1, 125_000_000, 12_500_000, 20 * MIB, 3] {
            let rate = Rate(r);
            assert_eq!(rate.to_string().parse::<Rate>().unwrap(), rate, "{rate}");
        }
    }
}
