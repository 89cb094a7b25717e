//! Reading a real server's log: each line's time, and the replication events of the journal
//! (the same [`Event`]s the simulator records), so that one classifier judges both runs.
//!
//! The texts matched are Valkey 9.1's (valkey-model.md §5 and §10), and where Redis 6.2/7.0 word
//! them otherwise (`master` for `primary`: "Full resync from master", "Connection with master
//! lost.", "MASTER timeout"), theirs too; a Valkey 9.0 or 9.1 log never says `master` there. Which kind of client a COB
//! disconnect closed is not in the line (every replica-side client has flag `S`); it is
//! inferred from the sync in progress: between a dual-channel fork and the main channel's
//! PSYNC the closed client is the protected RDB client, after it the main channel, and in a
//! classic sync the replica.

use super::release::RealRelease;
use crate::engine::SimTime;
use crate::valkey::{ClientKind, Event, Limit, ValkeyConfig};

/// A log line split into its time (ms since the Unix epoch, UTC) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealLine {
    /// Milliseconds since the Unix epoch.
    pub unix_ms: i64,
    /// The message after the level marker.
    pub text: String,
}

/// Parses `<pid>:<role> <day> <Mon> <year> <hh:mm:ss.mmm> <level> <text>` (Valkey's default
/// log format, the server running with `TZ=UTC`). Lines of another shape give `None`.
pub fn parse_line(line: &str) -> Option<RealLine> {
    let mut parts = line.splitn(7, ' ');
    let _pid_role = parts.next()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = month_number(parts.next()?)?;
    let year: i32 = parts.next()?.parse().ok()?;
    let clock = parts.next()?;
    let _level = parts.next()?;
    let text = parts.next()?.to_string();
    let (hms, ms) = clock.split_once('.')?;
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let ms: i64 = ms.parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(RealLine {
        unix_ms: ((days * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms,
        text,
    })
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|&m| m == name).map(|i| i as u32 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which server a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The primary.
    Primary,
    /// The watched replica.
    Replica,
}

/// Turns log lines into journal events, keeping the little state the inference needs.
#[derive(Debug)]
pub struct EventReader {
    replica: usize,
    hard: Option<u64>,
    /// A dual-channel sync forked and its main channel has not PSYNCed yet.
    dual_waiting_psync: bool,
    /// A dual-channel sync is in progress (its main channel may have PSYNCed).
    dual_in_progress: bool,
    /// Client ids already reported as COB disconnects (Valkey logs "scheduled" then "closed").
    cob_clients: Vec<String>,
    /// The offset a replica in a full sync would resume from (`RDB offset + 1`), once known.
    pub sync_resume_offset: Option<u64>,
}

impl EventReader {
    /// A reader for the replica node `replica` of a primary configured with `primary`, running
    /// `release` (which decides whether a hard limit below the backlog acts as the backlog).
    pub fn new(replica: usize, primary: &ValkeyConfig, release: RealRelease) -> Self {
        let (hard, _soft) = release.model().effective_cob_limits(
            primary.client_output_buffer_limit,
            primary.repl_backlog_size.bytes(),
        );
        EventReader {
            replica,
            hard,
            dual_waiting_psync: false,
            dual_in_progress: false,
            cob_clients: Vec::new(),
            sync_resume_offset: None,
        }
    }

    /// Whether a dual-channel sync forked and its main channel has not PSYNCed yet (the
    /// replica-side client with output is then the protected RDB client).
    pub fn dual_waiting_psync(&self) -> bool {
        self.dual_waiting_psync
    }

    /// Whether a dual-channel replica is loading with its main channel established: it then
    /// reads the stream into its local buffer at a cadence nobody reports (it answers no INFO
    /// while loading), so the offset it would resume from is not observable.
    pub fn resume_unknown(&self) -> bool {
        self.dual_in_progress && !self.dual_waiting_psync
    }

    /// The events one line means (usually none).
    pub fn read(&mut self, side: Side, text: &str) -> Vec<Event> {
        let replica = self.replica;
        let mut out = Vec::new();
        match side {
            Side::Primary => {
                if text.starts_with("Starting BGSAVE for SYNC") {
                    let dual = text.contains("dual-channel");
                    self.dual_waiting_psync = dual;
                    self.dual_in_progress = dual;
                    out.push(Event::FullSyncStarted { replica });
                    out.push(Event::Fork { offset: 0 });
                } else if text.contains("for lack of backlog") {
                    out.push(Event::PsyncRefusedBacklog { replica });
                } else if text.starts_with("Partial resynchronization request from")
                    && text.contains("accepted")
                {
                    let dual_main = std::mem::take(&mut self.dual_waiting_psync);
                    out.push(Event::PsyncAccepted { replica, dual_main });
                } else if text.contains("for overcoming of output buffer limits") {
                    if let Some(event) = self.cob(text) {
                        out.push(event);
                    }
                } else if text.starts_with("Disconnecting timedout replica") {
                    out.push(Event::Timeout { replica });
                } else if text.starts_with("Synchronization with replica")
                    && text.ends_with("succeeded")
                {
                    out.push(Event::Online { replica });
                } else if text.contains("failed to establish PSYNC within the grace period") {
                    out.push(Event::GraceExpired { replica });
                } else if text.starts_with("Background RDB transfer terminated with success") {
                    out.push(Event::RdbTransferred { replica });
                } else if let Some(rest) = text
                    .strip_prefix("Dual channel replication: ")
                    .unwrap_or(text)
                    .strip_prefix("Sending to replica ")
                    && let Some(offset) = number_after(rest, "RDB end offset ")
                {
                    self.sync_resume_offset = Some(offset + 1);
                }
            }
            Side::Replica => {
                if let Some(rest) = text
                    .strip_prefix("Full resync from primary: ")
                    .or_else(|| text.strip_prefix("Full resync from master: "))
                {
                    self.sync_resume_offset = rest
                        .rsplit(':')
                        .next()
                        .and_then(|o| o.trim().parse::<u64>().ok())
                        .map(|o| o + 1);
                } else if text.starts_with("Done loading RDB") {
                    out.push(Event::LoadDone { replica });
                } else if text.contains("Replication buffer limit reached") {
                    out.push(Event::ReplicaBufferFull { replica });
                } else if text.ends_with("sync: Finished with success")
                    || text.starts_with("Successful partial resynchronization with primary")
                    || text.starts_with("Successful partial resynchronization with master")
                {
                    self.dual_in_progress = false;
                    self.sync_resume_offset = None;
                    out.push(Event::ReplicaSynced { replica });
                } else if text.starts_with("Connection with primary lost")
                    || text.starts_with("Connection with master lost")
                {
                    out.push(Event::LinkLost { replica });
                } else if text.contains("PRIMARY timeout")
                    || text.contains("MASTER timeout")
                    || text.starts_with("Timeout connecting to the PRIMARY")
                    || text.starts_with("Timeout connecting to the MASTER")
                    || text.starts_with("Timeout receiving bulk data from PRIMARY")
                    || text.starts_with("Timeout receiving bulk data from MASTER")
                {
                    out.push(Event::Timeout { replica });
                }
            }
        }
        out
    }

    fn cob(&mut self, text: &str) -> Option<Event> {
        let id = client_field(text, "id=").unwrap_or_default().to_string();
        if self.cob_clients.contains(&id) {
            return None;
        }
        self.cob_clients.push(id);
        let omem = client_field(text, "omem=")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (kind, limit) = if self.dual_waiting_psync {
            (ClientKind::RdbChannel, Limit::RdbChannelCob)
        } else {
            let kind = if self.dual_in_progress {
                ClientKind::MainChannel
            } else {
                ClientKind::Replica
            };
            let hard = self.hard.is_some_and(|h| omem >= h);
            (
                kind,
                if hard {
                    Limit::PrimaryCobHard
                } else {
                    Limit::PrimaryCobSoft
                },
            )
        };
        Some(Event::CobDisconnect {
            replica: self.replica,
            kind,
            limit,
            omem,
        })
    }
}

/// The value of `key` (`omem=`) in a client-info string (a log line, a `CLIENT LIST` line): up
/// to the next space.
pub fn client_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text
        .find(&format!(" {key}"))
        .map(|i| i + 1)
        .or_else(|| text.starts_with(key).then_some(0))?;
    text[start + key.len()..].split(' ').next()
}

fn number_after(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Milliseconds since the start of a run as simulated time.
pub fn sim_time(unix_ms: i64, t0_unix_ms: i64) -> SimTime {
    SimTime::from_nanos(u64::try_from(unix_ms - t0_unix_ms).unwrap_or(0) * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_valkey_log_line() {
        let l = parse_line(
            "1234:M 25 Nov 2026 00:20:11.123 # Client id=7 addr=127.0.0.1:5 omem=1 closed",
        )
        .unwrap();
        assert_eq!(l.text, "Client id=7 addr=127.0.0.1:5 omem=1 closed");
        // 2026-11-25T00:20:11.123Z
        assert_eq!(l.unix_ms, 1_795_566_011_123);
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn classifies_cob_disconnects_by_the_sync_in_progress() {
        let config = ValkeyConfig {
            repl_backlog_size: crate::units::ByteSize::new(1 << 20),
            ..ValkeyConfig::default()
        };
        let mut r = EventReader::new(1, &config, RealRelease::Valkey91);
        let fork = r.read(
            Side::Primary,
            "Starting BGSAVE for SYNC with target: replicas sockets using: dual-channel",
        );
        assert!(matches!(fork[0], Event::FullSyncStarted { replica: 1 }));
        let line = "Client id=11 addr=127.0.0.1:1 laddr=x fd=9 name= flags=S omem=1200000 tot-mem=1 scheduled to be closed ASAP for overcoming of output buffer limits.";
        let ev = r.read(Side::Primary, line);
        assert_eq!(
            ev,
            vec![Event::CobDisconnect {
                replica: 1,
                kind: ClientKind::RdbChannel,
                limit: Limit::RdbChannelCob,
                omem: 1_200_000
            }]
        );
        // The "closed" line of the same client is not a second disconnect.
        assert!(
            r.read(
                Side::Primary,
                &line.replace("scheduled to be closed ASAP", "closed")
            )
            .is_empty()
        );
        let accepted = r.read(
            Side::Primary,
            "Partial resynchronization request from 127.0.0.1:7 accepted. Sending 0 bytes of backlog starting from offset 5.",
        );
        assert_eq!(
            accepted,
            vec![Event::PsyncAccepted {
                replica: 1,
                dual_main: true
            }]
        );
        r.read(Side::Replica, "Full resync from primary: abc:12345");
        assert_eq!(r.sync_resume_offset, Some(12_346));
        // 9.1 prefixes the primary's dual-channel lines.
        r.read(
            Side::Primary,
            "Dual channel replication: Sending to replica 10.213.1.2:6379 RDB end offset 777 and client-id 8",
        );
        assert_eq!(r.sync_resume_offset, Some(778));
    }

    #[test]
    fn redis_words_give_the_same_events_and_6_2_does_not_clamp_the_hard_limit() {
        // hard 2 MB, backlog 10 MB: 7.0+ enforce 10 MB, 6.2 the 2 MB configured.
        let config = ValkeyConfig {
            client_output_buffer_limit: "2mb 0 0".parse().unwrap(),
            repl_backlog_size: "10mb".parse().unwrap(),
            ..ValkeyConfig::default()
        };
        let cob = "Client id=9 addr=127.0.0.1:1 laddr=x fd=9 name= flags=S omem=2100000 tot-mem=1 scheduled to be closed ASAP for overcoming of output buffer limits.";
        let limit = |release| {
            let mut r = EventReader::new(1, &config, release);
            r.read(
                Side::Primary,
                "Starting BGSAVE for SYNC with target: replicas sockets",
            );
            match r.read(Side::Primary, cob).first() {
                Some(Event::CobDisconnect { limit, .. }) => *limit,
                other => panic!("no COB disconnect: {other:?}"),
            }
        };
        assert_eq!(limit(RealRelease::Redis62), Limit::PrimaryCobHard);
        assert_eq!(limit(RealRelease::Redis70), Limit::PrimaryCobSoft);

        let mut r = EventReader::new(1, &config, RealRelease::Redis62);
        r.read(Side::Replica, "Full resync from master: 7f3a:4242");
        assert_eq!(r.sync_resume_offset, Some(4243));
        assert_eq!(
            r.read(Side::Replica, "Connection with master lost."),
            vec![Event::LinkLost { replica: 1 }]
        );
        assert_eq!(
            r.read(
                Side::Replica,
                "Successful partial resynchronization with master."
            ),
            vec![Event::ReplicaSynced { replica: 1 }]
        );
        assert_eq!(
            r.read(
                Side::Replica,
                "MASTER timeout: no data nor PING received..."
            ),
            vec![Event::Timeout { replica: 1 }]
        );
        assert_eq!(
            r.read(
                Side::Replica,
                "MASTER <-> REPLICA sync: Finished with success"
            ),
            vec![Event::ReplicaSynced { replica: 1 }]
        );
    }
}
