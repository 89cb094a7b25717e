//! The Valkey configuration knobs that shape full-sync timing (valkey-model.md §1), with
//! Valkey 9.1's defaults, valkey.conf's names and valkey.conf's units.
//!
//! Durations accept a number in the knob's own valkey.conf unit (seconds for `repl-timeout`,
//! microseconds for `rdb-key-save-delay`) or a string with a unit (`"60s"`, `"10ms"`), so a
//! value can be pasted from a real config or written in human units.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::SimDuration;
use crate::units::ByteSize;

/// `CONFIG_REPL_BACKLOG_MIN_SIZE`: the floor `CONFIG SET repl-backlog-size` raises a smaller
/// value to (`resizeReplicationBacklog`); a value read from the config file is used as is.
pub const BACKLOG_MIN_BYTES: u64 = 16 * 1024;
/// Minimum of `loading-process-events-interval-bytes`.
pub const EVENTS_INTERVAL_MIN_BYTES: u64 = 1024;

/// `client-output-buffer-limit replica <hard> <soft> <soft-seconds>`.
///
/// ```
/// use replsim::valkey::CobLimit;
/// let l: CobLimit = "replica 256mb 64mb 60".parse().unwrap();
/// assert_eq!(l.hard.bytes(), 256 << 20);
/// assert_eq!(l.to_string(), "256mb 64mb 60");
/// assert_eq!("1100k 0 0".parse::<CobLimit>().unwrap().hard.bytes(), 1_100_000);
/// assert!("256mb 64mb".parse::<CobLimit>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CobLimit {
    /// Disconnect as soon as usage reaches this (0 = no hard limit).
    pub hard: ByteSize,
    /// Disconnect when usage stays at or above this for more than `soft_seconds` (0 = off).
    pub soft: ByteSize,
    /// How long the soft limit may be exceeded, in whole seconds as Valkey counts them.
    pub soft_seconds: u64,
}

impl Default for CobLimit {
    /// Valkey's replica class default: `256mb 64mb 60`.
    fn default() -> Self {
        CobLimit {
            hard: ByteSize::new(256 << 20),
            soft: ByteSize::new(64 << 20),
            soft_seconds: 60,
        }
    }
}

impl CobLimit {
    /// The hard limit as Valkey enforces it for replicas: raised to the backlog size when it is
    /// smaller (`networking.c:checkClientOutputBufferLimits`); `None` when there is no hard limit.
    pub fn effective_hard(&self, backlog_bytes: u64) -> Option<u64> {
        clamp_to_backlog(self.hard.bytes(), backlog_bytes)
    }

    /// The soft limit as Valkey 9.1 enforces it: clamped to the backlog size like the hard
    /// limit since Valkey PR #2866 (valkey-model.md §10.1); `None` when off.
    pub fn effective_soft(&self, backlog_bytes: u64) -> Option<u64> {
        clamp_to_backlog(self.soft.bytes(), backlog_bytes)
    }
}

fn clamp_to_backlog(limit: u64, backlog_bytes: u64) -> Option<u64> {
    (limit > 0).then_some(limit.max(backlog_bytes))
}

impl FromStr for CobLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut words: Vec<&str> = s.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("replica") || w.eq_ignore_ascii_case("slave"))
        {
            words.remove(0);
        }
        let [hard, soft, secs] = words[..] else {
            return Err(format!(
                "\"{s}\" is not \"<hard> <soft> <soft-seconds>\" (e.g. \"256mb 64mb 60\", \"1100k 0 0\")"
            ));
        };
        let hard: ByteSize = hard.parse().map_err(|e| format!("hard limit: {e}"))?;
        let soft: ByteSize = soft.parse().map_err(|e| format!("soft limit: {e}"))?;
        let soft_seconds: u64 = secs
            .parse()
            .map_err(|_| format!("soft-seconds \"{secs}\" is not a whole number of seconds"))?;
        Ok(CobLimit {
            hard,
            soft,
            soft_seconds,
        })
    }
}

impl fmt::Display for CobLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.hard, self.soft, self.soft_seconds)
    }
}

/// `repl-diskless-load`: where a replica puts the RDB it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisklessLoad {
    /// Download to a temporary file (event loop free), then a blocking load.
    #[default]
    Disabled,
    /// Parse straight from the socket when the dataset is empty.
    OnEmptyDb,
    /// Parse straight from the socket into a new dataset, swapped in at the end.
    Swapdb,
    /// Flush, then parse straight from the socket.
    FlushBeforeLoad,
}

impl DisklessLoad {
    /// Whether the RDB is parsed from the socket (download and load overlap, blocking).
    pub fn parses_from_socket(self, dataset_empty: bool) -> bool {
        match self {
            DisklessLoad::Disabled => false,
            DisklessLoad::OnEmptyDb => dataset_empty,
            DisklessLoad::Swapdb | DisklessLoad::FlushBeforeLoad => true,
        }
    }
}

/// A per-key delay knob (`rdb-key-save-delay`, `key-load-delay`): microseconds per key; a
/// negative value `-n` means "sleep 1 µs with probability 1/n" (`debug.c:debugDelay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyDelayMicros(pub i64);

impl KeyDelayMicros {
    /// Expected delay per key in nanoseconds (the negative form averages to 1000/n ns).
    pub fn mean_ns_per_key(self) -> f64 {
        match self.0 {
            0 => 0.0,
            v if v > 0 => v as f64 * 1_000.0,
            v => 1_000.0 / v.unsigned_abs() as f64,
        }
    }
}

/// The knobs of valkey-model.md §1 for one node. Unknown keys are rejected by the model-file
/// reader; every omitted key takes Valkey 9.1's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ValkeyConfig {
    /// `repl-backlog-size` (10mb): the PSYNC window K, lower bound of the effective hard limit.
    pub repl_backlog_size: ByteSize,
    /// `repl-backlog-ttl` (3600 s): backlog freed after this long without replicas.
    #[serde(with = "secs")]
    pub repl_backlog_ttl: SimDuration,
    /// `client-output-buffer-limit replica` (256mb 64mb 60). On a replica, its hard value caps
    /// the dual-channel local buffer (0 = unbounded).
    pub client_output_buffer_limit: CobLimit,
    /// `dual-channel-replication-enabled` (no).
    #[serde(with = "yes_no")]
    pub dual_channel_replication_enabled: bool,
    /// `repl-diskless-sync` (yes): stream the RDB to sockets instead of writing dump.rdb.
    #[serde(with = "yes_no")]
    pub repl_diskless_sync: bool,
    /// `repl-diskless-sync-delay` (5 s): wait before forking so more replicas can join.
    #[serde(with = "secs")]
    pub repl_diskless_sync_delay: SimDuration,
    /// `repl-diskless-sync-max-replicas` (0 = off): fork early once this many replicas wait.
    pub repl_diskless_sync_max_replicas: u32,
    /// `repl-diskless-load` (disabled).
    pub repl_diskless_load: DisklessLoad,
    /// `rdb-key-save-delay` (0 µs per key, hidden): slows the fork child.
    pub rdb_key_save_delay: KeyDelayMicros,
    /// `key-load-delay` (0 µs per key, hidden): slows RDB loading on a replica.
    pub key_load_delay: KeyDelayMicros,
    /// `repl-timeout` (60 s).
    #[serde(with = "secs")]
    pub repl_timeout: SimDuration,
    /// `repl-ping-replica-period` (10 s): PINGs fed into the replication stream.
    #[serde(with = "secs")]
    pub repl_ping_replica_period: SimDuration,
    /// `loading-process-events-interval-bytes` (2 MiB, hidden): during a blocking load the event
    /// loop runs once per this many RDB bytes.
    pub loading_process_events_interval_bytes: ByteSize,
    /// `hz` (10): frequency of `serverCron` and so of `clientsCron`'s COB re-checks.
    pub hz: u32,
    /// `rdbcompression` (yes): LZF on strings longer than 20 bytes.
    #[serde(with = "yes_no")]
    pub rdbcompression: bool,
    /// Grace period of a protected RDB-channel client whose main channel has not PSYNCed yet
    /// (`DEFAULT_WAIT_BEFORE_RDB_CLIENT_FREE`, 5 s in 9.1; `DEBUG delay-rdb-client-free-seconds`).
    #[serde(with = "secs")]
    pub rdb_client_grace_period: SimDuration,
    /// `save` ("" here; Valkey's own default has save points): replsim writes no snapshots, so
    /// this only decides whether a disk save started for replicas is killed when no replica
    /// waits for it any more (`freeClient`: only with no save points, as in Valkey's test "Kill
    /// rdb child process if its dumping RDB is not useful").
    pub save: String,
    /// Redis 8 `replica-full-sync-buffer-limit` (0 = the replica's COB hard limit): the cap of
    /// an rdb-channel replica's local buffer. Refused on other releases.
    #[serde(skip_serializing_if = "is_zero_bytes")]
    pub replica_full_sync_buffer_limit: ByteSize,
    /// Valkey 9.2 `repl-throttling-enabled` (no): slow the writers down when an online
    /// replica's output buffer grows (`throttle.rs`). Refused on other releases.
    #[serde(with = "yes_no", skip_serializing_if = "is_false")]
    pub repl_throttling_enabled: bool,
    /// Valkey 9.2 `repl-compression` (no): compress the replication stream and the diskless
    /// full sync on the wire. Refused on other releases.
    #[serde(skip_serializing_if = "ReplCompression::is_no")]
    pub repl_compression: ReplCompression,
    /// Simulator knob, not a valkey.conf key (Valkey 9.2 only): wire bytes per replication
    /// byte when `repl-compression` is on (default: [`ReplCompression::default_ratio`]). How
    /// well the stream compresses depends on the values written, which the model does not
    /// see; measure it on real data where it matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repl_compression_ratio: Option<f64>,
    /// Valkey 9.2 `forkless-infrastructure-enabled` (no). Not modelled: `yes` is refused
    /// (see [`FORKLESS_UNKNOWN`]).
    #[serde(with = "yes_no", skip_serializing_if = "is_false")]
    pub forkless_infrastructure_enabled: bool,
}

/// Why `forkless-infrastructure-enabled yes` is refused: what the documents the model is built
/// from (valkey-versions.md: "optional forkless save and full sync", PRs #4460, #4797) leave
/// unknown.
pub const FORKLESS_UNKNOWN: &str = "Valkey 9.2's forkless full sync is not modelled: its \
    documents name it only (\"optional forkless save and full sync\", PRs #4460, #4797) and do \
    not say how the snapshot is produced without a fork (which thread, at what rate, whether \
    writes are blocked or copied while it runs), where the writes made during it are buffered \
    and whether they count against the replica's output-buffer limits, or when the replica \
    becomes online; leave it at its default (no)";

/// Valkey 9.2 `repl-compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplCompression {
    /// No compression (the default).
    #[default]
    No,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl ReplCompression {
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
    fn is_no(&self) -> bool {
        *self == ReplCompression::No
    }

    /// The default wire bytes per replication byte: the inverse of each compressor's ratio on
    /// the Silesia corpus in the zstd project's benchmark table (lz4 2.101:1, zstd -1
    /// 2.896:1), a general-purpose mix of text and binary. `None` for no compression.
    /// Random or already-compressed values compress far less: set `repl-compression-ratio`.
    pub fn default_ratio(self) -> Option<f64> {
        match self {
            ReplCompression::No => None,
            ReplCompression::Lz4 => Some(0.476),
            ReplCompression::Zstd => Some(0.345),
        }
    }
}

fn is_zero_bytes(b: &ByteSize) -> bool {
    b.bytes() == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for ValkeyConfig {
    fn default() -> Self {
        ValkeyConfig {
            repl_backlog_size: ByteSize::new(10 << 20),
            repl_backlog_ttl: SimDuration::from_secs(3600),
            client_output_buffer_limit: CobLimit::default(),
            dual_channel_replication_enabled: false,
            repl_diskless_sync: true,
            repl_diskless_sync_delay: SimDuration::from_secs(5),
            repl_diskless_sync_max_replicas: 0,
            repl_diskless_load: DisklessLoad::Disabled,
            rdb_key_save_delay: KeyDelayMicros(0),
            key_load_delay: KeyDelayMicros(0),
            repl_timeout: SimDuration::from_secs(60),
            repl_ping_replica_period: SimDuration::from_secs(10),
            loading_process_events_interval_bytes: ByteSize::new(2 << 20),
            hz: 10,
            rdbcompression: true,
            rdb_client_grace_period: SimDuration::from_secs(5),
            save: String::new(),
            replica_full_sync_buffer_limit: ByteSize::new(0),
            repl_throttling_enabled: false,
            repl_compression: ReplCompression::No,
            repl_compression_ratio: None,
            forkless_infrastructure_enabled: false,
        }
    }
}

/// A knob whose value Valkey would refuse, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// The valkey.conf name of the knob.
    pub key: &'static str,
    /// What is wrong and what would be valid.
    pub reason: String,
}

impl ValkeyConfig {
    /// Checks the ranges Valkey itself enforces (and the ones the model needs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, reason: String| Err(ConfigError { key, reason });
        if self.repl_backlog_size.bytes() == 0 {
            return err(
                "repl-backlog-size",
                "must be at least 1 byte (Valkey's range starts at 1)".to_string(),
            );
        }
        if self.loading_process_events_interval_bytes.bytes() < EVENTS_INTERVAL_MIN_BYTES {
            return err(
                "loading-process-events-interval-bytes",
                "must be at least 1024".to_string(),
            );
        }
        if !(1..=500).contains(&self.hz) {
            return err(
                "hz",
                format!("{} is outside Valkey's range 1..=500", self.hz),
            );
        }
        if self.repl_timeout == SimDuration::ZERO {
            return err("repl-timeout", "must be at least 1 second".to_string());
        }
        if self.repl_ping_replica_period == SimDuration::ZERO {
            return err(
                "repl-ping-replica-period",
                "must be at least 1 second".to_string(),
            );
        }
        let words: Vec<&str> = self.save.split_whitespace().collect();
        if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
            return err(
                "save",
                format!(
                    "\"{}\" is not \"\" or pairs of \"<seconds> <changes>\" (e.g. \"900 1\")",
                    self.save
                ),
            );
        }
        if let Some(r) = self.repl_compression_ratio
            && !(r.is_finite() && r > 0.0 && r <= 1.0)
        {
            return err(
                "repl-compression-ratio",
                format!("{r} is outside (0, 1] (wire bytes per replication byte)"),
            );
        }
        if self.forkless_infrastructure_enabled {
            return err(
                "forkless-infrastructure-enabled",
                FORKLESS_UNKNOWN.to_string(),
            );
        }
        let cob = self.client_output_buffer_limit;
        if cob.hard.bytes() > 0 && cob.soft.bytes() > cob.hard.bytes() {
            return err(
                "client-output-buffer-limit",
                format!(
                    "soft limit {} is above the hard limit {}",
                    cob.soft, cob.hard
                ),
            );
        }
        Ok(())
    }

    /// Whether this primary honours a replica's `capa dual-channel`: only with its own flag on
    /// **and** diskless sync (valkey-model.md §4 preconditions).
    pub fn serves_dual_channel(&self) -> bool {
        self.dual_channel_replication_enabled && self.repl_diskless_sync
    }

    /// Whether `save` has save points (`server.saveparamslen > 0`).
    pub fn has_save_points(&self) -> bool {
        !self.save.trim().is_empty()
    }

    /// Wire bytes per replication byte, in millionths, of a stream this primary compresses
    /// (`None` without `repl-compression`).
    pub fn wire_ppm(&self) -> Option<u32> {
        let ratio = self
            .repl_compression_ratio
            .or(self.repl_compression.default_ratio())?;
        (self.repl_compression != ReplCompression::No)
            .then(|| ((ratio * 1e6).round() as u32).clamp(1, 1_000_000))
    }

    /// The `serverCron` period (1/hz).
    pub fn cron_period(&self) -> SimDuration {
        SimDuration::from_nanos(1_000_000_000 / u64::from(self.hz.max(1)))
    }
}

impl Serialize for CobLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CobLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// valkey.conf booleans: `yes`/`no` (TOML `true`/`false` accepted too).
mod yes_no {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *v { "yes" } else { "no" })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(b),
            Raw::Text(t) if t.eq_ignore_ascii_case("yes") => Ok(true),
            Raw::Text(t) if t.eq_ignore_ascii_case("no") => Ok(false),
            Raw::Text(t) => Err(D::Error::custom(format!("\"{t}\" is not yes or no"))),
        }
    }
}

/// valkey.conf second counts: a whole number means seconds; a string may carry any unit.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::engine::SimDuration;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &SimDuration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SimDuration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(n) if n < 0 => Err(D::Error::custom(format!("{n} is negative"))),
            Raw::Int(n) => Ok(SimDuration::from_secs(n as u64)),
            Raw::Text(t) => t.parse().map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valkey_9_1() {
        let c = ValkeyConfig::default();
        assert_eq!(c.repl_backlog_size.bytes(), 10 << 20);
        assert_eq!(c.client_output_buffer_limit.to_string(), "256mb 64mb 60");
        assert!(!c.dual_channel_replication_enabled);
        assert!(c.repl_diskless_sync);
        assert_eq!(c.repl_diskless_sync_delay, SimDuration::from_secs(5));
        assert_eq!(c.cron_period(), SimDuration::from_millis(100));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn limits_are_clamped_to_the_backlog() {
        let l: CobLimit = "1mb 512kb 10".parse().unwrap();
        let backlog = 10 << 20;
        assert_eq!(l.effective_hard(backlog), Some(backlog));
        assert_eq!(l.effective_soft(backlog), Some(backlog));
        let off: CobLimit = "0 0 0".parse().unwrap();
        assert_eq!(off.effective_hard(backlog), None);
        assert_eq!(off.effective_soft(backlog), None);
    }

    #[test]
    fn validation_names_the_knob() {
        let c = ValkeyConfig {
            repl_backlog_size: ByteSize::new(0),
            ..ValkeyConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "repl-backlog-size");
        let c = ValkeyConfig {
            client_output_buffer_limit: "1mb 2mb 60".parse().unwrap(),
            ..ValkeyConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .reason
                .contains("above the hard limit")
        );
    }
}
