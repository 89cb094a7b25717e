//! Numbers for people: byte sizes in binary units, rates, seconds.

/// Binary byte units, smallest first.
const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// A byte unit to scale an axis by: bytes are divided by `divisor` and the axis says `name`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ByteUnit {
    /// 1, 1024, 1024², …
    pub divisor: f64,
    /// "B", "KiB", "MiB", …
    pub name: &'static str,
}

impl ByteUnit {
    /// The largest unit in which `max_bytes` is at least 1 (B for anything below 1 KiB).
    pub fn for_max(max_bytes: f64) -> Self {
        let mut divisor = 1.0;
        let mut i = 0;
        while i + 1 < UNITS.len() && max_bytes >= divisor * 1024.0 {
            divisor *= 1024.0;
            i += 1;
        }
        ByteUnit {
            divisor,
            name: UNITS[i],
        }
    }
}

/// A byte count with three significant digits in a binary unit: `512 B`, `9.54 MiB`, `244 MiB`.
pub(crate) fn bytes(b: f64) -> String {
    if !b.is_finite() {
        return "∞".into();
    }
    let unit = ByteUnit::for_max(b.abs());
    format!("{} {}", sig3(b / unit.divisor), unit.name)
}

/// A rate in bytes per second, as [`bytes`] with `/s`.
pub(crate) fn rate(bps: f64) -> String {
    format!("{}/s", bytes(bps))
}

/// A number with about three significant digits, trailing zeros trimmed.
pub(crate) fn sig3(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    trim(s)
}

/// A tick label: integers without decimals, others with as few as needed (at most 3).
pub(crate) fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        trim(format!("{v:.3}"))
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units_with_three_digits() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(10_000_000.0), "9.54 MiB");
        assert_eq!(bytes(256_000_000.0), "244 MiB");
        assert_eq!(bytes(2.0 * 1024.0 * 1024.0 * 1024.0), "2 GiB");
        assert_eq!(bytes(f64::INFINITY), "∞");
    }

    #[test]
    fn ticks_trim_zeros() {
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(ByteUnit::for_max(300e6).name, "MiB");
        assert_eq!(ByteUnit::for_max(10.0).name, "B");
    }
}
