//! Which server release a model runs (`[model] server`), and what that release does differently
//! (`/work/shared/valkey-versions.md`, "Mechanisms by release").
//!
//! A [`Release`] is asked a question where its mechanism lives ("is the soft limit clamped?",
//! "how long is the RDB client's grace?", "one shared buffer or a private list per replica?",
//! "the default of this config?", "does this config exist?"); nothing else in the simulator
//! compares versions. Every answer names its source (a Redis or Valkey PR) in its doc comment.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::config::{CobLimit, ValkeyConfig};
use crate::engine::SimDuration;
use crate::units::ByteSize;

/// A Redis or Valkey release whose full-sync replication the simulator models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// Redis 6.2 (6.2.14).
    Redis62,
    /// Redis 7.0 (7.0.15).
    Redis70,
    /// Redis 7.4 (7.4.1).
    Redis74,
    /// Redis 8.0.
    Redis80,
    /// Valkey 7.2 (7.2.7).
    Valkey72,
    /// Valkey 8.0 (8.0.1).
    Valkey80,
    /// Valkey 8.1.
    Valkey81,
    /// Valkey 9.0.
    Valkey90,
    /// Valkey 9.1 (the default).
    #[default]
    Valkey91,
    /// Valkey 9.2 (modelled from its PRs; no registry ships it).
    Valkey92,
}

/// How a release syncs a replica that can take the RDB on a second connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwoChannel {
    /// Only the classic sync (one connection; the stream waits in the primary's COB).
    None,
    /// Valkey ≥ 8.0 dual-channel replication: off by default, both sides opt in, the primary
    /// must sync diskless (valkey PR #60).
    DualChannel,
    /// Redis 8 rdb-channel replication: on whenever the primary syncs diskless (redis #13732).
    RdbChannel,
}

/// Whether a replica's output buffer is a private reply list or a reference into the shared
/// replication buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaOutput {
    /// Redis ≤ 6.2: every replica holds its own copy of the stream (N replicas, N copies), and
    /// the backlog is a separate circular buffer.
    PrivateLists,
    /// Redis ≥ 7.0 / Valkey: one list of blocks shared by the backlog and every replica
    /// (redis PR #9166); a replica's COB is the bytes from its block to the tail.
    SharedBlocks,
}

impl Release {
    /// Every release, oldest first within each product.
    pub const ALL: [Release; 10] = [
        Release::Redis62,
        Release::Redis70,
        Release::Redis74,
        Release::Redis80,
        Release::Valkey72,
        Release::Valkey80,
        Release::Valkey81,
        Release::Valkey90,
        Release::Valkey91,
        Release::Valkey92,
    ];

    /// The name used in model files and outputs (`valkey-9.1`).
    pub fn name(self) -> &'static str {
        match self {
            Release::Redis62 => "redis-6.2",
            Release::Redis70 => "redis-7.0",
            Release::Redis74 => "redis-7.4",
            Release::Redis80 => "redis-8.0",
            Release::Valkey72 => "valkey-7.2",
            Release::Valkey80 => "valkey-8.0",
            Release::Valkey81 => "valkey-8.1",
            Release::Valkey90 => "valkey-9.0",
            Release::Valkey91 => "valkey-9.1",
            Release::Valkey92 => "valkey-9.2",
        }
    }

    /// Whether this is a Redis release (else Valkey).
    pub fn is_redis(self) -> bool {
        matches!(
            self,
            Release::Redis62 | Release::Redis70 | Release::Redis74 | Release::Redis80
        )
    }

    /// Whether the simulator's model of this release was checked against a real server of it
    /// (`replsim validate`: Redis 6.2 and 7.0, Valkey 9.0 and 9.1 ship in a package registry
    /// here). The others are modelled from their code and PRs only.
    pub fn validated_on_real_server(self) -> bool {
        matches!(
            self,
            Release::Redis62 | Release::Redis70 | Release::Valkey90 | Release::Valkey91
        )
    }

    /// Private reply lists (Redis ≤ 6.2) or the shared block list (redis PR #9166, 7.0 on).
    pub fn replica_output(self) -> ReplicaOutput {
        match self {
            Release::Redis62 => ReplicaOutput::PrivateLists,
            _ => ReplicaOutput::SharedBlocks,
        }
    }

    /// Whether a replica's hard COB limit below `repl-backlog-size` is raised to it (redis PR
    /// #9166, with the shared buffer: dropping a replica would not free the backlog's blocks).
    pub fn hard_limit_clamped(self) -> bool {
        self.replica_output() == ReplicaOutput::SharedBlocks
    }

    /// Whether the soft COB limit is raised to the backlog size too (valkey PR #2866, 9.1).
    pub fn soft_limit_clamped(self) -> bool {
        matches!(self, Release::Valkey91 | Release::Valkey92)
    }

    /// The `(hard, soft)` replica COB limits this release enforces for `limit` with a backlog of
    /// `backlog_bytes` (`None` = off): each raised to the backlog size where the release clamps
    /// it ([`Release::hard_limit_clamped`], [`Release::soft_limit_clamped`]).
    ///
    /// ```
    /// use replsim::valkey::{CobLimit, Release};
    /// let l: CobLimit = "256mb 1mb 60".parse().unwrap();
    /// let k = 10 << 20;
    /// assert_eq!(Release::Valkey91.effective_cob_limits(l, k), (Some(256 << 20), Some(k)));
    /// assert_eq!(Release::Valkey90.effective_cob_limits(l, k), (Some(256 << 20), Some(1 << 20)));
    /// ```
    pub fn effective_cob_limits(
        self,
        limit: CobLimit,
        backlog_bytes: u64,
    ) -> (Option<u64>, Option<u64>) {
        let clamp = |bytes: u64, clamped: bool| {
            (bytes > 0).then_some(if clamped {
                bytes.max(backlog_bytes)
            } else {
                bytes
            })
        };
        (
            clamp(limit.hard.bytes(), self.hard_limit_clamped()),
            clamp(limit.soft.bytes(), self.soft_limit_clamped()),
        )
    }

    /// The two-connection full sync this release offers, if any.
    pub fn two_channel(self) -> TwoChannel {
        match self {
            Release::Redis80 => TwoChannel::RdbChannel,
            Release::Valkey80
            | Release::Valkey81
            | Release::Valkey90
            | Release::Valkey91
            | Release::Valkey92 => TwoChannel::DualChannel,
            _ => TwoChannel::None,
        }
    }

    /// The cap of a two-channel replica's local buffer (0 = unbounded): Redis 8's
    /// `replica-full-sync-buffer-limit` (0 = the replica's own COB hard limit), else the
    /// replica's own `client-output-buffer-limit replica` hard limit.
    pub fn replica_buffer_cap(self, replica: &ValkeyConfig) -> u64 {
        let own = replica.client_output_buffer_limit.hard.bytes();
        match self.two_channel() {
            TwoChannel::RdbChannel if replica.replica_full_sync_buffer_limit.bytes() > 0 => {
                replica.replica_full_sync_buffer_limit.bytes()
            }
            _ => own,
        }
    }

    /// While a two-channel replica applies its local buffer: `None` when it reads nothing from
    /// the main channel (Valkey), `Some(f)` when it keeps reading at most `f` of what it applies
    /// (Redis 8: half, redis #13904).
    pub fn reads_while_applying(self) -> Option<f64> {
        (self.two_channel() == TwoChannel::RdbChannel).then_some(0.5)
    }

    /// How long a primary keeps an RDB-channel client whose main channel has not PSYNCed yet
    /// (`DEFAULT_WAIT_BEFORE_RDB_CLIENT_FREE`): 60 s in Valkey 8.0–9.0, 5 s from 9.1 (valkey
    /// PR #2829). `None` for releases without dual-channel replication.
    pub fn rdb_client_grace(self) -> Option<SimDuration> {
        match self {
            Release::Valkey80 | Release::Valkey81 | Release::Valkey90 => {
                Some(SimDuration::from_secs(60))
            }
            Release::Valkey91 | Release::Valkey92 => Some(SimDuration::from_secs(5)),
            _ => None,
        }
    }

    /// The configuration a node of this release starts with (each knob at this release's
    /// default): `repl-backlog-size` 1mb before Valkey 8.0 (valkey PR #911),
    /// `repl-diskless-sync` off on Redis 6.2 (redis #10092 turned it on in 7.0), the RDB
    /// client's grace as [`Release::rdb_client_grace`].
    pub fn defaults(self) -> ValkeyConfig {
        let mut c = ValkeyConfig::default();
        if matches!(
            self,
            Release::Redis62
                | Release::Redis70
                | Release::Redis74
                | Release::Redis80
                | Release::Valkey72
        ) {
            c.repl_backlog_size = ByteSize::new(1 << 20);
        }
        if self == Release::Redis62 {
            c.repl_diskless_sync = false;
        }
        if self.two_channel() == TwoChannel::RdbChannel {
            // Redis 8 asks for and serves an rdb channel whenever the primary syncs diskless:
            // the two-channel machinery's switch is on, and not a config a user can set.
            c.dual_channel_replication_enabled = true;
        }
        if let Some(grace) = self.rdb_client_grace() {
            c.rdb_client_grace_period = grace;
        }
        c
    }

    /// Whether a `[nodes.config]` key (valkey.conf spelling) exists in this release; `Err`
    /// says why not. Keys the model has no knob for are not asked.
    pub fn has_config(self, key: &str) -> Result<(), String> {
        match key {
            "dual-channel-replication-enabled" if self.two_channel() != TwoChannel::DualChannel => {
                Err(format!(
                    "{self} has no dual-channel replication (Valkey 8.0 added it{})",
                    if self == Release::Redis80 {
                        "; Redis 8 syncs over an rdb channel on its own when the primary syncs \
                         diskless"
                    } else {
                        ""
                    }
                ))
            }
            "replica-full-sync-buffer-limit" if self.two_channel() != TwoChannel::RdbChannel => {
                Err(format!(
                    "{self} has no replica-full-sync-buffer-limit (a Redis 8 config; {})",
                    if self.is_redis() {
                        "no rdb-channel replication before Redis 8"
                    } else {
                        "a Valkey dual-channel replica caps its buffer with its own \
                         client-output-buffer-limit replica hard limit"
                    }
                ))
            }
            "repl-throttling-enabled"
            | "repl-compression"
            | "repl-compression-ratio"
            | "forkless-infrastructure-enabled"
                if self != Release::Valkey92 =>
            {
                Err(format!(
                    "{self} has no {key} (added in Valkey 9.2{})",
                    if key == "repl-compression" && self == Release::Redis80 {
                        "; Redis 8.10's repl-compression 0..22 is not modelled"
                    } else {
                        ""
                    }
                ))
            }
            "rdb-client-grace-period" if self.two_channel() == TwoChannel::None => Err(format!(
                "{self} has no RDB-channel client (no two-connection full sync)"
            )),
            _ => Ok(()),
        }
    }
}

const THROTTLING: &str = "write throttling";
const COMPRESSION: &str = "replication compression";

/// One mechanism as a release applies it to a model: its name and this release's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    /// What is asked ("soft COB limit enforced").
    pub name: &'static str,
    /// This release's answer for the model ("1mb (as configured)").
    pub answer: String,
}

impl Release {
    /// This release's answers for a model whose primary has `primary`, whose watched replica has
    /// `replica` (both with this release's defaults filled in) and which has `replicas` replicas,
    /// in the order a user should read them: the first that differs between two releases is
    /// the first reason their runs can differ (`replsim versions`).
    pub fn mechanisms(
        self,
        primary: &ValkeyConfig,
        replica: &ValkeyConfig,
        replicas: usize,
    ) -> Vec<Mechanism> {
        let k = primary.repl_backlog_size.bytes();
        let (hard, soft) = self.effective_cob_limits(primary.client_output_buffer_limit, k);
        let limit = |v: Option<u64>, configured: ByteSize| match v {
            None => "off".to_string(),
            Some(b) if b == configured.bytes() => format!("{configured} (as configured)"),
            Some(b) => format!("{} (raised to repl-backlog-size)", ByteSize::new(b)),
        };
        let two = match self.two_channel() {
            TwoChannel::DualChannel
                if primary.serves_dual_channel() && replica.dual_channel_replication_enabled =>
            {
                "dual-channel (RDB on its own connection)"
            }
            TwoChannel::RdbChannel if primary.repl_diskless_sync => {
                "rdb-channel (RDB on its own connection)"
            }
            _ => "classic (one connection)",
        };
        let output = match self.replica_output() {
            ReplicaOutput::PrivateLists => format!(
                "a private reply list per replica ({replicas} cop{})",
                if replicas == 1 { "y" } else { "ies" }
            ),
            ReplicaOutput::SharedBlocks => "one shared block list".to_string(),
        };
        let mut out = vec![
            Mechanism {
                name: "replica output buffers",
                answer: output,
            },
            Mechanism {
                name: "hard COB limit enforced",
                answer: limit(hard, primary.client_output_buffer_limit.hard),
            },
            Mechanism {
                name: "soft COB limit enforced",
                answer: limit(soft, primary.client_output_buffer_limit.soft),
            },
            Mechanism {
                name: "full sync",
                answer: two.to_string(),
            },
            Mechanism {
                name: "repl-diskless-sync",
                answer: if primary.repl_diskless_sync {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
            },
            Mechanism {
                name: "repl-backlog-size",
                answer: primary.repl_backlog_size.to_string(),
            },
        ];
        if !two.starts_with("classic") {
            out.push(Mechanism {
                name: "RDB-client grace before the main channel's PSYNC",
                answer: primary.rdb_client_grace_period.to_string(),
            });
        }
        // Valkey 9.2's switches, listed only where on: a release without them behaves as
        // "off" ([`Release::OFF_BEFORE_9_2`]).
        if self == Release::Valkey92 && primary.repl_throttling_enabled {
            out.push(Mechanism {
                name: THROTTLING,
                answer: "on (writers delayed while an online replica's buffer grows; soft \
                         limit exempt up to 120 s)"
                    .to_string(),
            });
        }
        if self == Release::Valkey92
            && let Some(ppm) = primary.wire_ppm()
            && replica.repl_compression != super::config::ReplCompression::No
        {
            out.push(Mechanism {
                name: COMPRESSION,
                answer: format!(
                    "{} ({:.3} wire bytes per replication byte)",
                    serde_json::to_value(primary.repl_compression)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    f64::from(ppm) / 1e6
                ),
            });
        }
        out
    }

    /// The answer of a release that lacks a mechanism `mechanisms` lists only where it is on.
    pub const OFF_BEFORE_9_2: &'static str = "off (no such mechanism before Valkey 9.2)";

    /// Names of the mechanisms `mechanisms` lists only where they are on.
    pub const OPTIONAL_MECHANISMS: [&'static str; 2] = [THROTTLING, COMPRESSION];

    /// Valkey 9.2 configs whose absence is that mechanism off: `replsim versions` runs a model
    /// that sets them under an older release without them (the older release's behaviour).
    pub const SWITCHES_9_2: [&'static str; 3] = [
        "repl-throttling-enabled",
        "repl-compression",
        "repl-compression-ratio",
    ];
}

/// Log wording (each string checked in the release's source: Redis `6.2.14`, `7.0.15`,
/// `7.4.1` and Valkey `7.2.7`, `8.0.1` tags of `src/replication.c`).
impl Release {
    /// Whether the logs say "primary" (Valkey 8.0 renamed master to primary in its log
    /// strings); Redis and Valkey 7.2 say "MASTER", "master", "Master".
    pub fn says_primary(self) -> bool {
        !self.is_redis() && self != Release::Valkey72
    }

    /// Whether a refused PSYNC's log line gives the backlog's offset range (valkey PR #2877,
    /// 9.1); before, it gives only the requested offset.
    pub fn psync_range_in_log(self) -> bool {
        matches!(self, Release::Valkey91 | Release::Valkey92)
    }

    /// A log line's text as this release words it, from the simulator's Valkey 9.1 wording.
    ///
    /// ```
    /// use replsim::valkey::Release;
    /// let t = "Connection with primary lost.".to_string();
    /// assert_eq!(Release::Redis70.log_text(t.clone()), "Connection with master lost.");
    /// assert_eq!(Release::Valkey80.log_text(t.clone()), t);
    /// let t = "Unable to partial resync with replica 10.0.0.2:6380 for lack of backlog \
    ///          (Replica request was 8f3a:1001, and I can only reply with the range [2000, 9000]).";
    /// assert!(Release::Valkey90.log_text(t.to_string()).ends_with("(Replica request was: 1001)."));
    /// ```
    pub fn log_text(self, text: String) -> String {
        let mut t = text;
        if !self.says_primary() {
            t = t
                .replace("PRIMARY", "MASTER")
                .replace("Primary", "Master")
                .replace("primary", "master");
            // "Starting BGSAVE for SYNC with target: %s" without the "using:" part, "Background
            // RDB transfer started by pid %ld" without the "to %s" part (both added in 8.0).
            for (prefix, cut) in [
                ("Starting BGSAVE for SYNC with target: ", " using: "),
                ("Background RDB transfer started by pid ", " to "),
            ] {
                if t.starts_with(prefix)
                    && let Some(at) = t[prefix.len()..].find(cut)
                {
                    t.truncate(prefix.len() + at);
                }
            }
        }
        if matches!(self, Release::Redis62 | Release::Redis70) {
            t = t.replace(
                "REPLCONF ACK from replica to enable",
                "REPLCONF ACK from slave to enable",
            );
        }
        if !self.psync_range_in_log()
            && let Some(at) = t.find("(Replica request was ")
            && t.contains("for lack of backlog")
        {
            let rest = &t[at + "(Replica request was ".len()..];
            let offset = rest
                .split_once(':')
                .map(|(_, o)| o.split(|c: char| !c.is_ascii_digit()).next().unwrap_or(""))
                .unwrap_or("")
                .to_string();
            t.truncate(at);
            t.push_str(&format!("(Replica request was: {offset})."));
        }
        t
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Release {
    type Err = String;

    /// ```
    /// use replsim::valkey::Release;
    /// assert_eq!("valkey-9.1".parse::<Release>(), Ok(Release::Valkey91));
    /// assert_eq!("Redis-6.2".parse::<Release>(), Ok(Release::Redis62));
    /// assert!("valkey-9.3".parse::<Release>().unwrap_err().contains("redis-6.2"));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Release::ALL
            .into_iter()
            .find(|r| r.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "\"{s}\" is not a modelled release (one of {})",
                    Release::ALL.map(Release::name).join(", ")
                )
            })
    }
}

impl Serialize for Release {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Release {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Release::ALL {
            assert_eq!(r.name().parse::<Release>(), Ok(r));
        }
        assert_eq!(Release::default(), Release::Valkey91);
    }

    #[test]
    fn defaults_follow_the_release() {
        assert_eq!(Release::Valkey91.defaults(), ValkeyConfig::default());
        assert_eq!(
            Release::Redis70.defaults().repl_backlog_size.bytes(),
            1 << 20
        );
        assert!(!Release::Redis62.defaults().repl_diskless_sync);
        assert_eq!(
            Release::Valkey90.defaults().rdb_client_grace_period,
            SimDuration::from_secs(60)
        );
    }

    #[test]
    fn configs_a_release_lacks_are_refused() {
        let e = Release::Redis80
            .has_config("dual-channel-replication-enabled")
            .unwrap_err();
        assert!(e.contains("redis-8.0"));
        assert!(
            Release::Valkey80
                .has_config("dual-channel-replication-enabled")
                .is_ok()
        );
        assert!(
            Release::Valkey72
                .has_config("rdb-client-grace-period")
                .is_err()
        );
    }
}
