//! A node's [`ValkeyConfig`] as the `valkey-server` command-line directives that set it on a
//! real server (valkey.conf names, plain byte counts and whole seconds).

use crate::valkey::{DisklessLoad, ValkeyConfig};

/// The directives for `config` (every knob, defaults included, so the real server runs with
/// exactly what the simulator assumed), and `loglevel`.
///
/// `rdb-client-grace-period` is not a config in Valkey 9.1; the harness sets it with
/// `DEBUG delay-rdb-client-free-seconds` after the start
/// ([`super::release::RealRelease::grace_period_command`]). A release that lacks some of these
/// directives drops them or refuses the model ([`super::release::RealRelease::adapt`]).
pub fn directives(config: &ValkeyConfig, loglevel: &str) -> Vec<(String, String)> {
    let secs = |d: crate::engine::SimDuration| (d.as_nanos() / 1_000_000_000).to_string();
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let cob = config.client_output_buffer_limit;
    let pairs: Vec<(&str, String)> = vec![
        ("loglevel", loglevel.to_string()),
        (
            "repl-backlog-size",
            config.repl_backlog_size.bytes().to_string(),
        ),
        ("repl-backlog-ttl", secs(config.repl_backlog_ttl)),
        (
            "client-output-buffer-limit",
            format!(
                "replica {} {} {}",
                cob.hard.bytes(),
                cob.soft.bytes(),
                cob.soft_seconds
            ),
        ),
        (
            "dual-channel-replication-enabled",
            yes_no(config.dual_channel_replication_enabled),
        ),
        ("repl-diskless-sync", yes_no(config.repl_diskless_sync)),
        (
            "repl-diskless-sync-delay",
            secs(config.repl_diskless_sync_delay),
        ),
        (
            "repl-diskless-sync-max-replicas",
            config.repl_diskless_sync_max_replicas.to_string(),
        ),
        (
            "repl-diskless-load",
            match config.repl_diskless_load {
                DisklessLoad::Disabled => "disabled",
                DisklessLoad::OnEmptyDb => "on-empty-db",
                DisklessLoad::Swapdb => "swapdb",
                DisklessLoad::FlushBeforeLoad => "flush-before-load",
            }
            .to_string(),
        ),
        (
            "rdb-key-save-delay",
            config.rdb_key_save_delay.0.to_string(),
        ),
        ("key-load-delay", config.key_load_delay.0.to_string()),
        ("repl-timeout", secs(config.repl_timeout)),
        (
            "repl-ping-replica-period",
            secs(config.repl_ping_replica_period),
        ),
        (
            "loading-process-events-interval-bytes",
            config
                .loading_process_events_interval_bytes
                .bytes()
                .to_string(),
        ),
        ("hz", config.hz.to_string()),
        ("rdbcompression", yes_no(config.rdbcompression)),
        ("save", config.save.clone()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Directives the harness sets itself (where the server listens, writes and logs, that it
/// answers DEBUG, who it replicates from): a model's own values for them are not passed on.
pub const HARNESS_OWNED: &[&str] = &[
    "port",
    "bind",
    "unixsocket",
    "unixsocketperm",
    "unixsocketgroup",
    "dir",
    "dbfilename",
    "logfile",
    "pidfile",
    "daemonize",
    "supervised",
    "protected-mode",
    "enable-debug-command",
    "loglevel",
    "replicaof",
    "slaveof",
    "include",
    "tls-port",
    "tls-replication",
    "cluster-enabled",
    "aclfile",
    "requirepass",
    "masterauth",
    "primaryauth",
    "masteruser",
    "primaryuser",
    "user",
    "rename-command",
    "loadmodule",
];

/// The valkey.conf directives the model ignores (`NodeSpec::ignored_directives`) that the real
/// server gets too: they are real configuration of the system the model describes (`save`,
/// `appendonly`, `maxmemory-policy` all change what a real server does), except the
/// [`HARNESS_OWNED`] ones.
pub fn passed_through(ignored: &[(String, String)]) -> Vec<(String, String)> {
    ignored
        .iter()
        .filter(|(k, _)| !HARNESS_OWNED.contains(&k.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_become_valkey_directives() {
        let d = directives(&ValkeyConfig::default(), "notice");
        let get = |k: &str| d.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("repl-backlog-size"), Some("10485760"));
        assert_eq!(
            get("client-output-buffer-limit"),
            Some("replica 268435456 67108864 60")
        );
        assert_eq!(get("repl-diskless-sync-delay"), Some("5"));
        assert_eq!(get("dual-channel-replication-enabled"), Some("no"));
        assert_eq!(get("repl-diskless-load"), Some("disabled"));
    }

    #[test]
    fn ignored_directives_reach_the_real_server_unless_the_harness_owns_them() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ignored = pairs(&[
            ("appendonly", "yes"),
            ("port", "6380"),
            ("save", ""),
            ("dir", "/var/lib/valkey"),
        ]);
        assert_eq!(
            passed_through(&ignored),
            pairs(&[("appendonly", "yes"), ("save", "")])
        );
    }
}
