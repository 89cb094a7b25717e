//! `replsim calibrate --shaped`: measures the HTB-shaped veth link that `validate --shaped`
//! runs on (what `models/shaped-100mbit-calibrated.toml` holds): the payload one TCP stream gets
//! at each line rate, how two streams share the link when one is sender-limited and when both
//! are greedy, and the bytes a stopped replica lets its primary write before the primary's
//! output buffer grows (socket buffers + the qdisc queue).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::events::client_field;
use super::load::LoadThread;
use super::locate::ServerBinary;
use super::netns::{ShapedLink, ShapedNet, in_netns};
use super::run::{num, parse_info};
use super::server::RealServer;
use crate::units::{ByteSize, Rate};
use crate::valkey::WorkloadSpec;

/// The port of the raw TCP measurements (inside the replica's namespace).
const PROBE_PORT: u16 = 5201;
/// How long each stream measurement lasts; the first second is left out (slow start, window
/// growth).
const STREAM_SECS: f64 = 4.0;

/// The figures of one line rate.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ShapedRate {
    /// The HTB rate (line, bits/s).
    pub line_bits_per_sec: u64,
    /// Payload of one greedy TCP stream (bytes/s).
    pub one_stream_bytes_per_sec: f64,
    /// Payload / line rate (1448/1514 = 0.9564 expected).
    pub payload_fraction: f64,
    /// Two greedy streams: each one's payload (bytes/s).
    pub two_greedy_bytes_per_sec: [f64; 2],
    /// A stream limited by its sender to `limited_target`, and a greedy one beside it.
    pub limited_target_bytes_per_sec: f64,
    /// What the limited stream got.
    pub limited_got_bytes_per_sec: f64,
    /// What the greedy stream beside it got (max-min: the rest of the link).
    pub greedy_beside_limited_bytes_per_sec: f64,
    /// Bytes a stopped streaming replica absorbed: written by the primary after the stop
    /// minus its output buffer (socket buffers + qdisc queue).
    pub stalled_absorbed_bytes: u64,
    /// Of which, in the HTB queue at the end of the stall.
    pub stalled_qdisc_bytes: u64,
    /// Of which, unsent in the primary's socket (`ss` Send-Q of the replication connection).
    pub stalled_send_q_bytes: u64,
    /// Of which, unread in the stopped replica's socket (`ss` Recv-Q).
    pub stalled_recv_q_bytes: u64,
}

/// Measures each rate of `rates`; servers live in `work`; every namespace is gone when it
/// returns.
pub fn calibrate_shaped(
    binary: &ServerBinary,
    work: &Path,
    rates: &[Rate],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ShapedRate>, String> {
    let mut out = Vec::new();
    for (i, &rate) in rates.iter().enumerate() {
        let net = ShapedNet::create(2, 0, vec![ShapedLink { node: 1, rate }])
            .map_err(|e| e.to_string())?;
        let mut r = ShapedRate {
            line_bits_per_sec: rate.bytes_per_sec() * 8,
            ..ShapedRate::default()
        };
        progress(&format!("{}: one TCP stream", rate.human()));
        r.one_stream_bytes_per_sec = streams(&net, &[None])?[0];
        r.payload_fraction = r.one_stream_bytes_per_sec / rate.bytes_per_sec() as f64;
        progress(&format!("{}: two greedy streams", rate.human()));
        let two = streams(&net, &[None, None])?;
        r.two_greedy_bytes_per_sec = [two[0], two[1]];
        r.limited_target_bytes_per_sec = (r.one_stream_bytes_per_sec * 0.3).round();
        progress(&format!(
            "{}: one stream limited to {:.1} MB/s beside a greedy one",
            rate.human(),
            r.limited_target_bytes_per_sec / 1e6
        ));
        let mixed = streams(&net, &[Some(r.limited_target_bytes_per_sec), None])?;
        r.limited_got_bytes_per_sec = mixed[0];
        r.greedy_beside_limited_bytes_per_sec = mixed[1];
        progress(&format!("{}: a stopped replica under writes", rate.human()));
        let s = stalled(binary, &work.join(format!("rate{i}")), &net, rate)?;
        r.stalled_absorbed_bytes = s[0];
        r.stalled_qdisc_bytes = s[1];
        r.stalled_send_q_bytes = s[2];
        r.stalled_recv_q_bytes = s[3];
        out.push(r);
    }
    Ok(out)
}

/// Runs one TCP stream per entry of `limits` (a sender-side rate limit in bytes/s, or greedy)
/// from the primary's namespace to the replica's, and returns each stream's payload rate over
/// the last `STREAM_SECS - 1` seconds.
fn streams(net: &ShapedNet, limits: &[Option<f64>]) -> Result<Vec<f64>, String> {
    let rx_ns = net.netns(1);
    let tx_ns = net.netns(0);
    let addr = net
        .address(0, 1)
        .ok_or("the calibration link has no address")?;
    let listener = in_netns(Some(&rx_ns), || {
        TcpListener::bind(format!("{addr}:{PROBE_PORT}"))
    })?
    .map_err(|e| format!("cannot listen in {rx_ns}: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicU64>> = limits.iter().map(|_| Arc::default()).collect();
    let mut threads = Vec::new();
    for (k, limit) in limits.iter().enumerate() {
        let target = format!("{addr}:{PROBE_PORT}");
        let mut tx = in_netns(Some(&tx_ns), || TcpStream::connect(&target))?
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        let (mut rx, _) = listener
            .accept()
            .map_err(|e| format!("accept in {rx_ns}: {e}"))?;
        let count = Arc::clone(&counters[k]);
        let stop_rx = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let _ = rx.set_read_timeout(Some(Duration::from_millis(200)));
            while !stop_rx.load(Ordering::Relaxed) {
                match rx.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        count.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(_) => continue,
                }
            }
        }));
        let stop_tx = Arc::clone(&stop);
        let limit = *limit;
        threads.push(std::thread::spawn(move || {
            let chunk = vec![0u8; 16 << 10];
            let start = Instant::now();
            let mut sent = 0u64;
            let _ = tx.set_write_timeout(Some(Duration::from_millis(200)));
            while !stop_tx.load(Ordering::Relaxed) {
                if let Some(rate) = limit {
                    let due = start.elapsed().as_secs_f64() * rate;
                    if (sent as f64) >= due {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                }
                match tx.write(&chunk) {
                    Ok(n) => sent += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                    Err(_) => break,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(1));
    let first: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(STREAM_SECS - 1.0));
    let secs = t1.elapsed().as_secs_f64();
    let last: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(first
        .iter()
        .zip(&last)
        .map(|(a, b)| (b - a) as f64 / secs)
        .collect())
}

/// A replica streaming from its primary over the shaped link under writes at 40 % of the
/// link's payload is stopped for 4 s: the primary's writes after the stop minus its output
/// buffer are what the socket buffers and the queue absorbed; the HTB queue's backlog is read
/// at the end of the stall.
fn stalled(
    binary: &ServerBinary,
    work: &Path,
    net: &ShapedNet,
    rate: Rate,
) -> Result<[u64; 4], String> {
    let d = vec![("repl-diskless-sync-delay".to_string(), "0".to_string())];
    let primary = RealServer::start(binary, "primary", &work.join("primary"), &d, &net.place(0))?;
    let replica = RealServer::start(binary, "replica", &work.join("replica"), &d, &net.place(1))?;
    let long = Duration::from_secs(60);
    let addr = net.address(1, 0).ok_or("no address")?;
    replica.command::<()>(redis::cmd("REPLICAOF").arg(&addr).arg(primary.port), long)?;
    let deadline = Instant::now() + long;
    loop {
        let info: String = replica.command(redis::cmd("INFO").arg("replication"), long)?;
        if parse_info(&info)
            .get("master_link_status")
            .map(String::as_str)
            == Some("up")
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the calibration replica did not sync within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let value = 10_000u64;
    let ops = (rate.bytes_per_sec() as f64 * 0.4 / value as f64).round();
    let spec = WorkloadSpec::constant("calibrate", ops, ByteSize::new(value), 16);
    let mut load = LoadThread::start(&spec, &primary.place, primary.port, Instant::now(), 1)?;
    std::thread::sleep(Duration::from_secs(2));
    let offset = |s: &RealServer, field: &str| -> Result<u64, String> {
        let text: String = s.command(redis::cmd("INFO").arg("replication"), long)?;
        Ok(num(&parse_info(&text), field))
    };
    let before = offset(&replica, "slave_repl_offset")?;
    replica.set_paused(true);
    std::thread::sleep(Duration::from_secs(4));
    let sent = offset(&primary, "master_repl_offset")?;
    let clients: String = primary.command(
        redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("replica"),
        long,
    )?;
    let omem: u64 = client_field(&clients, "omem=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (ns, dev) = net.hub_dev(0);
    let qdisc = qdisc_backlog(&ns, &dev);
    // The replication connection: the primary's socket has local port 6379, the replica's
    // has it as its peer port.
    let send_q = socket_queue(&net.netns(0), true, primary.port);
    let recv_q = socket_queue(&net.netns(1), false, primary.port);
    load.stop();
    replica.set_paused(false);
    Ok([
        sent.saturating_sub(before).saturating_sub(omem),
        qdisc,
        send_q,
        recv_q,
    ])
}

/// The largest Send-Q (`local`: of sockets whose local port is `port`) or Recv-Q (of sockets
/// whose peer port is `port`) that `ss -tn` shows in namespace `ns`.
fn socket_queue(ns: &str, local: bool, port: u16) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-tn"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    parse_ss(&out, local, port)
}

fn parse_ss(text: &str, local: bool, port: u16) -> u64 {
    let suffix = format!(":{port}");
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // State Recv-Q Send-Q Local Peer
            if w.len() < 5 || w[0] != "ESTAB" {
                return None;
            }
            let (addr, q) = if local { (w[3], w[2]) } else { (w[4], w[1]) };
            addr.ends_with(&suffix)
                .then(|| q.parse::<u64>().ok())
                .flatten()
        })
        .max()
        .unwrap_or(0)
}

/// The bytes queued in `dev`'s root qdisc (`tc -s`'s "backlog <n>b").
fn qdisc_backlog(ns: &str, dev: &str) -> u64 {
    let out = std::process::Command::new("tc")
        .args(["-n", ns, "-s", "qdisc", "show", "dev", dev])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    parse_backlog(&out)
}

fn parse_backlog(text: &str) -> u64 {
    text.split_whitespace()
        .skip_while(|w| *w != "backlog")
        .nth(1)
        .and_then(|w| w.strip_suffix('b'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qdisc_backlog_is_read_from_tc_s() {
        let text = "qdisc htb 1: root refcnt 3 r2q 10 default 0x10 direct_packets_stat 0 direct_qlen 1000\n Sent 123 bytes 4 pkt (dropped 0, overlimits 0 requeues 0)\n backlog 183456b 12p requeues 0\n";
        assert_eq!(parse_backlog(text), 183_456);
        assert_eq!(parse_backlog("nothing here"), 0);
    }

    #[test]
    fn socket_queues_are_read_from_ss() {
        let text = "State Recv-Q Send-Q Local Address:Port Peer Address:Port\nESTAB 0 2097152 10.213.1.1:6379 10.213.1.2:41000\nESTAB 0 0 127.0.0.1:6379 127.0.0.1:5000\nESTAB 912 0 10.213.1.2:41000 10.213.1.1:6379\n";
        assert_eq!(parse_ss(text, true, 6379), 2_097_152);
        assert_eq!(parse_ss(text, false, 6379), 912);
    }
}
