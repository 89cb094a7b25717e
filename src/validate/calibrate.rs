//! `replsim calibrate`: measures, on this machine's loopback, the numbers a model needs to mirror
//! two real servers (what `models/loopback-calibrated.toml` holds): RDB save and load costs per
//! key and per byte, the sleep overhead of `rdb-key-save-delay` / `key-load-delay`, fork time,
//! the 9.1 replica's end-of-download gap, and the bytes the kernel holds for a stalled replica.
//!
//! Each figure is the median over `runs` repetitions; times come from the servers' own log
//! lines (millisecond stamps) and INFO.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::events::{client_field, parse_line};
use super::load::LoadThread;
use super::locate::ServerBinary;
use super::netns::Place;
use super::run::parse_info;
use super::server::RealServer;
use crate::units::ByteSize;
use crate::valkey::WorkloadSpec;

/// What to measure with.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// Keys of the main dataset.
    pub keys: u64,
    /// Value size of the main dataset (bytes); a second dataset uses 1/10 of it.
    pub value: u64,
    /// Repetitions of each measurement.
    pub runs: usize,
}

/// The measured figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Calibration {
    /// Fork child: fixed cost per key (µs), besides the bytes.
    pub save_us_per_key: f64,
    /// Fork child: bytes per second of RDB, besides the per-key cost.
    pub save_bytes_per_sec: f64,
    /// Fork time per GiB of `used_memory` (ms).
    pub fork_ms_per_gib: f64,
    /// Replica load: fixed cost per key (µs).
    pub load_us_per_key: f64,
    /// Replica load: bytes per second besides the per-key cost.
    pub load_bytes_per_sec: f64,
    /// Extra cost of one `rdb-key-save-delay` sleep beyond its microseconds.
    pub save_delay_overhead_us: f64,
    /// Extra cost of one `key-load-delay` sleep.
    pub load_delay_overhead_us: f64,
    /// Last RDB byte downloaded → the main thread notices (s).
    pub download_end_gap_s: f64,
    /// Diskless transfer of the main dataset, fork to "done reading from pipe" (s).
    pub transfer_s: f64,
    /// RDB bytes of the main dataset (`rdbcompression no`).
    pub rdb_bytes: u64,
    /// Bytes the kernel absorbs (send buffer + receive window) for a stopped streaming replica.
    pub stalled_kernel_bytes: u64,
}

/// Runs every measurement; servers live in `work` and are gone when it returns.
pub fn calibrate(
    binary: &ServerBinary,
    work: &Path,
    o: &CalibrateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Calibration, String> {
    let mut c = Calibration::default();
    let small_value = (o.value / 10).max(10);
    // Save: two datasets of the same key count, different value sizes → per key and per byte.
    let mut saves = Vec::new();
    for (i, value) in [o.value, small_value].into_iter().enumerate() {
        progress(&format!("BGSAVE of {} keys x {value} B", o.keys));
        let mut p = start(binary, &work.join(format!("save{i}")), &[])?;
        populate(&p, o.keys, value)?;
        let mut secs = Vec::new();
        let mut bytes = 0;
        for _ in 0..o.runs {
            secs.push(bgsave(&mut p)?);
            bytes = std::fs::metadata(p.dir.join("dump.rdb")).map_or(0, |m| m.len());
        }
        if i == 0 {
            let info = info(&p)?;
            let fork_us = num(&info, "latest_fork_usec");
            let mem = num(&info, "used_memory").max(1.0);
            c.fork_ms_per_gib = fork_us / 1e3 / (mem / f64::from(1u32 << 30));
            c.rdb_bytes = bytes;
        }
        saves.push((bytes as f64, median(secs)));
    }
    (c.save_us_per_key, c.save_bytes_per_sec) = split(o.keys as f64, saves[0], saves[1]);
    // Load: a replica syncs each dataset; the gap and the transfer come from the first.
    let mut loads = Vec::new();
    for (i, value) in [o.value, small_value].into_iter().enumerate() {
        progress(&format!("full syncs of {} keys x {value} B", o.keys));
        let mut p = start(binary, &work.join(format!("primary{i}")), &[])?;
        populate(&p, o.keys, value)?;
        let bytes = if i == 0 {
            c.rdb_bytes as f64
        } else {
            saves[1].0
        };
        let mut load = Vec::new();
        let mut gap = Vec::new();
        let mut transfer = Vec::new();
        for r in 0..o.runs {
            let mut replica = start(binary, &work.join(format!("replica{i}-{r}")), &[])?;
            let mut primary_log = LogTimes::new(&mut p);
            let t = sync(&mut replica, &p)?;
            primary_log.read(&mut p);
            load.push(t.load_s);
            gap.extend(t.gap_s);
            if let (Some(a), Some(b)) = (
                primary_log.first("Starting BGSAVE for SYNC"),
                primary_log.first("done reading from pipe"),
            ) {
                transfer.push(b - a);
            }
        }
        if i == 0 {
            c.download_end_gap_s = median(gap);
            c.transfer_s = median(transfer);
        }
        loads.push((bytes, median(load)));
    }
    (c.load_us_per_key, c.load_bytes_per_sec) = split(o.keys as f64, loads[0], loads[1]);
    // Sleep overheads: 100 µs per key on a small dataset.
    progress("rdb-key-save-delay 100 and key-load-delay 100 on 5000 keys");
    let delay_keys = 5_000u64;
    let mut p = start(binary, &work.join("delay"), &[])?;
    populate(&p, delay_keys, 100)?;
    let base = bgsave(&mut p)?;
    config_set(&p, "rdb-key-save-delay", "100")?;
    let slow = bgsave(&mut p)?;
    c.save_delay_overhead_us = (slow - base) / delay_keys as f64 * 1e6 - 100.0;
    config_set(&p, "rdb-key-save-delay", "0")?;
    let mut replica = start(
        binary,
        &work.join("delay-replica"),
        &[("key-load-delay".into(), "100".into())],
    )?;
    let t = sync(&mut replica, &p)?;
    let per_key_no_delay = c.load_us_per_key + 100.0 * 1e6 / c.load_bytes_per_sec.max(1.0);
    c.load_delay_overhead_us = t.load_s / delay_keys as f64 * 1e6 - 100.0 - per_key_no_delay;
    // The kernel's share of a stalled stream: stop the replica under 10 MB/s of writes.
    progress("stalled replica under 10 MB/s of writes");
    c.stalled_kernel_bytes = stalled_bytes(&p, &mut replica)?;
    Ok(c)
}

/// `(per-key µs, bytes/s)` from two `(bytes, secs)` runs over the same number of keys:
/// `secs = keys · a + bytes / g`.
fn split(keys: f64, (b1, t1): (f64, f64), (b2, t2): (f64, f64)) -> (f64, f64) {
    let g = if t1 > t2 && b1 > b2 {
        (b1 - b2) / (t1 - t2)
    } else {
        f64::INFINITY
    };
    let a = ((t1 - b1 / g) / keys).max(0.0);
    (a * 1e6, g)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn start(
    binary: &ServerBinary,
    dir: &Path,
    extra: &[(String, String)],
) -> Result<RealServer, String> {
    let mut d = vec![
        ("rdbcompression".to_string(), "no".to_string()),
        ("repl-diskless-sync-delay".to_string(), "0".to_string()),
    ];
    d.extend(extra.iter().cloned());
    RealServer::start(binary, "calibrate", dir, &d, &Place::Loopback)
}

/// Calibration steps may take minutes (DEBUG POPULATE of a large dataset).
fn command<T: redis::FromRedisValue>(s: &RealServer, cmd: &redis::Cmd) -> Result<T, String> {
    s.command(cmd, Duration::from_secs(600))
}

fn populate(s: &RealServer, keys: u64, value: u64) -> Result<(), String> {
    command(
        s,
        redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(keys)
            .arg("key")
            .arg(value),
    )
}

fn config_set(s: &RealServer, k: &str, v: &str) -> Result<(), String> {
    command(s, redis::cmd("CONFIG").arg("SET").arg(k).arg(v))
}

fn info(s: &RealServer) -> Result<std::collections::BTreeMap<String, String>, String> {
    let text: String = command(s, &redis::cmd("INFO"))?;
    Ok(parse_info(&text))
}

fn num(info: &std::collections::BTreeMap<String, String>, k: &str) -> f64 {
    super::run::num(info, k) as f64
}

/// One BGSAVE: "Background saving started" → "DB saved on disk", from the log (s).
fn bgsave(p: &mut RealServer) -> Result<f64, String> {
    let mut log = LogTimes::new(p);
    command::<String>(p, &redis::cmd("BGSAVE"))?;
    let (a, b) = log.wait_for(p, "Background saving started", "DB saved on disk", "BGSAVE")?;
    // Let the parent reap the child before the next BGSAVE.
    std::thread::sleep(Duration::from_millis(1_200));
    Ok(b - a)
}

struct SyncTimes {
    load_s: f64,
    gap_s: Option<f64>,
}

/// `REPLICAOF` the primary and wait for the load to end.
fn sync(replica: &mut RealServer, primary: &RealServer) -> Result<SyncTimes, String> {
    let mut log = LogTimes::new(replica);
    command::<()>(
        replica,
        redis::cmd("REPLICAOF").arg("127.0.0.1").arg(primary.port),
    )?;
    let (a, b) = log.wait_for(
        replica,
        "Loading DB in memory",
        "Done loading RDB",
        "the replica's load",
    )?;
    Ok(SyncTimes {
        load_s: b - a,
        gap_s: log.first("Done downloading RDB").map(|d| a - d),
    })
}

/// Stops a streaming replica under a 10 MB/s load: what left the primary's output buffer for
/// the kernel after the stop (sent minus the replica's offset at the stop minus `omem`).
fn stalled_bytes(primary: &RealServer, replica: &mut RealServer) -> Result<u64, String> {
    let spec = WorkloadSpec::constant("calibrate", 1_000.0, ByteSize::new(10_000), 16);
    let mut load = LoadThread::start(&spec, &primary.place, primary.port, Instant::now(), 1)?;
    std::thread::sleep(Duration::from_secs(2));
    let before = num(&info(replica)?, "slave_repl_offset");
    replica.set_paused(true);
    std::thread::sleep(Duration::from_secs(3));
    let sent = num(&info(primary)?, "master_repl_offset");
    let clients: String = command(
        primary,
        redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("replica"),
    )?;
    let omem: f64 = client_field(&clients, "omem=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    load.stop();
    replica.set_paused(false);
    Ok((sent - before - omem).max(0.0) as u64)
}

/// The times (s since the epoch) of a server's log lines written since this was made.
struct LogTimes {
    lines: Vec<(f64, String)>,
}

impl LogTimes {
    /// Follows `s`'s log from now on.
    fn new(s: &mut RealServer) -> Self {
        s.new_log_lines();
        LogTimes { lines: Vec::new() }
    }

    /// Takes in the lines written since the last read.
    fn read(&mut self, s: &mut RealServer) {
        let new = s.new_log_lines();
        self.lines.extend(
            new.iter()
                .filter_map(|l| parse_line(l))
                .map(|l| (l.unix_ms as f64 / 1e3, l.text)),
        );
    }

    fn first(&self, text: &str) -> Option<f64> {
        self.lines
            .iter()
            .find(|(_, t)| t.contains(text))
            .map(|(t, _)| *t)
    }

    /// Reads until lines containing `a` and `b` have both been written (10 minutes at most);
    /// their times.
    fn wait_for(
        &mut self,
        s: &mut RealServer,
        a: &str,
        b: &str,
        what: &str,
    ) -> Result<(f64, f64), String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            self.read(s);
            if let (Some(ta), Some(tb)) = (self.first(a), self.first(b)) {
                return Ok((ta, tb));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{what} did not finish within 10 minutes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_datasets_split_into_a_per_key_cost_and_a_byte_rate() {
        // 100 000 keys at 2 µs each, plus bytes at 400 MB/s.
        let keys = 100_000.0;
        let run = |bytes: f64| (bytes, keys * 2e-6 + bytes / 400e6);
        let (us, g) = split(keys, run(100e6), run(10e6));
        assert!((us - 2.0).abs() < 1e-9, "{us}");
        assert!((g - 400e6).abs() < 1e-3, "{g}");
        // No byte dependence measurable: all per key.
        let (us, g) = split(keys, (10e6, 0.5), (1e6, 0.5));
        assert!(g.is_infinite() && (us - 5.0).abs() < 1e-9);
        assert_eq!(median(vec![3.0, f64::NAN, 1.0, 2.0]), 2.0);
    }
}
