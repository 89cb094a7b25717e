//! Links: their specification, jitter, statistics and per-direction runtime state.

use std::collections::BTreeMap;

use rand::Rng;

use super::{ConnId, Dir, NetError};
use crate::engine::{ActorRng, SimDuration, SimTime};
use crate::units::Rate;

/// Payload bytes per frame of a full-size TCP segment on 1500-MTU Ethernet with timestamps
/// (1500 − 20 IP − 20 TCP − 12 options).
pub const DEFAULT_PAYLOAD_PER_FRAME: u32 = 1448;
/// Line bytes per such frame (1500 + 14 Ethernet header; preamble and gap are left out, as
/// most "line rate" figures do).
pub const DEFAULT_LINE_PER_FRAME: u32 = 1514;

/// How much of the line rate a TCP stream can use: `payload / frame`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overhead {
    /// Payload bytes carried per frame.
    pub payload: u32,
    /// Bytes on the line per frame.
    pub frame: u32,
}

impl Default for Overhead {
    /// 1448/1514: a full-size segment on 1500-MTU Ethernet.
    fn default() -> Self {
        Overhead {
            payload: DEFAULT_PAYLOAD_PER_FRAME,
            frame: DEFAULT_LINE_PER_FRAME,
        }
    }
}

impl Overhead {
    /// No framing overhead (payload rate = line rate).
    pub const NONE: Overhead = Overhead {
        payload: 1,
        frame: 1,
    };
}

/// Extra one-way delay drawn per control message from the link's own random stream.
///
/// Samples use integer arithmetic only (no floating point), so they are identical on every
/// machine. Bulk flows are fluid and do not jitter (their rate is an average anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No jitter.
    #[default]
    None,
    /// Uniform in `[0, max]`.
    Uniform {
        /// The largest extra delay.
        max: SimDuration,
    },
    /// Normal with this mean and standard deviation, truncated at zero. Drawn as an Irwin–Hall
    /// sum of 12 uniforms, so it is also bounded at mean ± 6 σ.
    Normal {
        /// Mean extra delay.
        mean: SimDuration,
        /// Standard deviation.
        std_dev: SimDuration,
    },
    /// Exponential with this mean.
    Exponential {
        /// Mean extra delay.
        mean: SimDuration,
    },
}

/// ln 2 in 32.32 fixed point.
const LN2_Q32: u128 = 0xB172_17F8;
const ONE_Q32: i128 = 1 << 32;

impl Jitter {
    /// One extra delay in nanoseconds.
    pub(crate) fn sample(&self, rng: &mut ActorRng) -> u64 {
        match *self {
            Jitter::None => 0,
            Jitter::Uniform { max } => uniform_inclusive(rng, max.as_nanos()),
            Jitter::Exponential { mean } => exponential(rng, mean.as_nanos()),
            Jitter::Normal { mean, std_dev } => normal(rng, mean.as_nanos(), std_dev.as_nanos()),
        }
    }
}

/// Uniform in `[0, max]` by multiply-shift (bias below 2⁻⁶⁴·max, and deterministic).
fn uniform_inclusive(rng: &mut ActorRng, max: u64) -> u64 {
    let span = u128::from(max) + 1;
    ((u128::from(rng.next_u64()) * span) >> 64) as u64
}

/// `mean · (−ln U)` with `U` uniform in (0, 1], by a fixed-point binary logarithm.
fn exponential(rng: &mut ActorRng, mean: u64) -> u64 {
    let x = u128::from(rng.next_u64()) + 1; // U = x / 2⁶⁴
    let neg_log2_u = (64u128 << 32) - log2_q32(x);
    let neg_ln_u = (neg_log2_u * LN2_Q32) >> 32;
    u64::try_from((neg_ln_u * u128::from(mean)) >> 32).unwrap_or(u64::MAX)
}

/// `log2(x)` in 32.32 fixed point for `x >= 1`, by repeated squaring of the mantissa.
fn log2_q32(x: u128) -> u128 {
    let int = 127 - u128::from(x.leading_zeros());
    // Mantissa in [1, 2) with 62 fractional bits.
    let mut m = if int >= 62 {
        x >> (int - 62)
    } else {
        x << (62 - int)
    };
    let mut frac: u128 = 0;
    for bit in (0..32).rev() {
        m = (m * m) >> 62;
        if m >= 2 << 62 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << 32) | frac
}

/// Truncated normal by Irwin–Hall: the sum of 12 uniforms minus 6 is close to N(0, 1).
fn normal(rng: &mut ActorRng, mean: u64, std_dev: u64) -> u64 {
    for _ in 0..16 {
        let sum: i128 = (0..12).map(|_| i128::from(rng.next_u64() >> 32)).sum();
        let z_q32 = sum - 6 * ONE_Q32;
        let value = i128::from(mean) + ((i128::from(std_dev) * z_q32) >> 32);
        if value >= 0 {
            return u64::try_from(value).unwrap_or(u64::MAX);
        }
    }
    0
}

/// What a link is: line rate, latency, jitter and framing overhead. Full duplex: each direction
/// has the whole bandwidth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// Line rate per direction (`"1gbit"`); TCP payload gets `bandwidth × overhead`.
    pub bandwidth: Rate,
    /// One-way propagation latency.
    pub latency: SimDuration,
    /// Extra per-message delay.
    pub jitter: Jitter,
    /// Framing overhead.
    pub overhead: Overhead,
}

impl LinkSpec {
    /// A link with the default 1448/1514 overhead and no jitter.
    ///
    /// ```
    /// use replsim::engine::SimDuration;
    /// use replsim::net::LinkSpec;
    /// let spec = LinkSpec::new("100mbit".parse().unwrap(), SimDuration::from_millis(1));
    /// assert_eq!(spec.payload_rate().bytes_per_sec(), 12_500_000 * 1448 / 1514);
    /// ```
    pub fn new(bandwidth: Rate, latency: SimDuration) -> Self {
        LinkSpec {
            bandwidth,
            latency,
            jitter: Jitter::None,
            overhead: Overhead::default(),
        }
    }

    /// The same link with this jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same link with this framing overhead.
    pub fn with_overhead(mut self, overhead: Overhead) -> Self {
        self.overhead = overhead;
        self
    }

    /// The rate a TCP stream can carry: `floor(line rate × payload / frame)`.
    pub fn payload_rate(&self) -> Rate {
        Rate::new(payload_rate(self.bandwidth.bytes_per_sec(), self.overhead))
    }

    /// Checks that the link can carry anything and that the overhead is a fraction.
    pub fn validate(&self) -> Result<(), NetError> {
        let Overhead { payload, frame } = self.overhead;
        if payload == 0 || payload > frame {
            return Err(NetError::BadOverhead { payload, frame });
        }
        if self.payload_rate().bytes_per_sec() == 0 {
            return Err(NetError::ZeroBandwidth(self.bandwidth.bytes_per_sec()));
        }
        if let Jitter::Uniform { max: d } | Jitter::Exponential { mean: d } = self.jitter
            && d.as_nanos() > u64::MAX / 64
        {
            return Err(NetError::BadJitter(format!("{d} is too large")));
        }
        Ok(())
    }
}

fn payload_rate(line: u64, overhead: Overhead) -> u64 {
    if overhead.frame == 0 {
        return 0;
    }
    let rate = u128::from(line) * u128::from(overhead.payload) / u128::from(overhead.frame);
    u64::try_from(rate).unwrap_or(u64::MAX)
}

/// Traffic statistics of one direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct LinkStats {
    /// Bulk (stream) payload bytes put on the wire.
    pub bulk_bytes: u64,
    /// Control-message payload bytes.
    pub message_bytes: u64,
    /// Control messages sent.
    pub messages: u64,
    /// Time during which bulk data was moving, plus message serialization time (the two travel
    /// out of band of each other, so they may overlap).
    pub busy: SimDuration,
    /// Sum over messages of the time spent waiting behind earlier messages.
    pub queueing_total: SimDuration,
    /// The longest such wait.
    pub queueing_max: SimDuration,
    /// Time from the creation of the link to the query.
    pub elapsed: SimDuration,
    /// `∫ payload rate dt` over `elapsed`, in bytes: what the link could have carried.
    pub capacity_bytes: u128,
}

impl LinkStats {
    /// Bulk plus message bytes.
    pub fn bytes(&self) -> u64 {
        self.bulk_bytes.saturating_add(self.message_bytes)
    }
    /// Carried bytes over what could have been carried, in [0, 1]; for reports only.
    pub fn utilisation(&self) -> f64 {
        if self.capacity_bytes == 0 {
            return 0.0;
        }
        self.bytes() as f64 / self.capacity_bytes as f64
    }
}

/// Something travelling as a discrete unit on a link direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parcel {
    /// A control message with the caller's tag.
    Message {
        tag: u64,
        bytes: u64,
        sent_at: SimTime,
    },
    /// A connection reset on its way to the far end.
    Reset,
}

/// A parcel in flight or held.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    pub(crate) conn: ConnId,
    pub(crate) dir: Dir,
    pub(crate) parcel: Parcel,
}

/// Runtime state of one direction of a link.
#[derive(Debug)]
pub(crate) struct Way {
    /// Streams on this way, in connection order: `(conn, dir)`.
    pub(crate) members: Vec<(ConnId, Dir)>,
    /// Until when the message serializer is busy.
    pub(crate) busy_until: u64,
    /// In flight, by arrival time then send order.
    pub(crate) in_flight: BTreeMap<(u64, u64), Delivery>,
    /// Sent while the link was down, in order.
    pub(crate) held: Vec<Delivery>,
    pub(crate) stats: LinkStats,
    /// Since when bulk data has been moving (if it is).
    pub(crate) bulk_active_since: Option<u64>,
    /// Since when `capacity_bytes` was last brought up to date.
    pub(crate) capacity_since: u64,
    /// Bulk bytes sent by streams that were reset and left `members`.
    pub(crate) retired_bulk_bytes: u64,
    /// The arrival time under which this way is filed in the network's agenda.
    pub(crate) due: Option<u64>,
}

impl Way {
    fn new(now: u64) -> Self {
        Way {
            members: Vec::new(),
            busy_until: 0,
            in_flight: BTreeMap::new(),
            held: Vec::new(),
            stats: LinkStats::default(),
            bulk_active_since: None,
            capacity_since: now,
            retired_bulk_bytes: 0,
            due: None,
        }
    }
}

/// Runtime state of one link.
#[derive(Debug)]
pub(crate) struct LinkState {
    /// The live specification (faults change it).
    pub(crate) spec: LinkSpec,
    /// Since when the link is down, if it is.
    pub(crate) down_since: Option<u64>,
    pub(crate) ways: [Way; 2],
    pub(crate) rng: ActorRng,
    pub(crate) created: u64,
}

impl LinkState {
    pub(crate) fn new(spec: LinkSpec, rng: ActorRng, now: u64) -> Self {
        LinkState {
            spec,
            down_since: None,
            ways: [Way::new(now), Way::new(now)],
            rng,
            created: now,
        }
    }

    /// The payload rate available to bulk flows now.
    pub(crate) fn capacity(&self) -> u64 {
        if self.down_since.is_some() {
            0
        } else {
            self.spec.payload_rate().bytes_per_sec()
        }
    }

    pub(crate) fn latency_ns(&self) -> u64 {
        self.spec.latency.as_nanos()
    }

    /// Brings the capacity integral of both ways up to `now` (before a bandwidth or up/down
    /// change).
    pub(crate) fn account_capacity(&mut self, now: u64) {
        let cap = u128::from(self.capacity());
        for way in &mut self.ways {
            let span = u128::from(now.saturating_sub(way.capacity_since));
            way.stats.capacity_bytes = way
                .stats
                .capacity_bytes
                .saturating_add(cap * span / 1_000_000_000);
            way.capacity_since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::actor_rng;

    #[test]
    fn overhead_default_matches_ethernet() {
        let spec = LinkSpec::new(Rate::new(125_000_000), SimDuration::ZERO);
        assert_eq!(spec.payload_rate().bytes_per_sec(), 119_550_858);
        assert!(spec.validate().is_ok());
        let bad = spec.with_overhead(Overhead {
            payload: 2,
            frame: 1,
        });
        assert!(bad.validate().is_err());
        assert!(
            LinkSpec::new(Rate::new(1), SimDuration::ZERO)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn log2_is_accurate() {
        assert_eq!(log2_q32(1), 0);
        assert_eq!(log2_q32(2), 1 << 32);
        assert_eq!(log2_q32(1 << 64), 64 << 32);
        let three = log2_q32(3) as f64 / (1u64 << 32) as f64;
        assert!((three - 3f64.log2()).abs() < 1e-8, "{three}");
    }

    #[test]
    fn samples_have_the_right_means() {
        let mut rng = actor_rng(1, "link:test");
        let n = 20_000u64;
        for (jitter, mean) in [
            (
                Jitter::Uniform {
                    max: SimDuration::from_micros(100),
                },
                50_000.0,
            ),
            (
                Jitter::Exponential {
                    mean: SimDuration::from_micros(100),
                },
                100_000.0,
            ),
            (
                Jitter::Normal {
                    mean: SimDuration::from_micros(100),
                    std_dev: SimDuration::from_micros(10),
                },
                100_000.0,
            ),
        ] {
            let total: u64 = (0..n).map(|_| jitter.sample(&mut rng)).sum();
            let got = total as f64 / n as f64;
            assert!((got - mean).abs() / mean < 0.03, "{jitter:?}: {got}");
        }
        assert_eq!(Jitter::None.sample(&mut rng), 0);
    }
}
