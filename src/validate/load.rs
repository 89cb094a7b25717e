//! The model's write loads driven against a real primary: one thread and one connection per
//! load, following the same rate schedule as the simulated client (the same pattern and, for a
//! Poisson load, the same per-interval counts from the load's random stream), sending the
//! commands due every millisecond as one pipeline of `SET key value`.
//!
//! Keys are `key_bytes` long; a `new-key-fraction` of them are new, the rest overwrite one of
//! the load's [`OVERWRITTEN_KEYS`] keys, which are written once before time 0 so that
//! overwrites do not grow the dataset (the simulator's overwrites do not grow the RDB either).
//! Values are random printable bytes of the load's size distribution.
//!
//! A load with `start = "on-action"` sends nothing until the script's `start-load` enables it;
//! a load with `max-bytes` stops for good before the command that would take its stream bytes
//! (the RESP size of its `SET`s, as the simulator counts them) past the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngExt;

use super::netns::Place;
use super::server::connect_to;
use crate::engine::{ActorRng, actor_rng};
use crate::valkey::{LoadSchedule, SizeDist, WorkloadSpec};

/// Largest pipeline sent at once (a load that fell behind catches up in several).
const MAX_BATCH: u64 = 2_000;

/// Keys a load overwrites (created before time 0).
pub const OVERWRITTEN_KEYS: u64 = 100;

/// Counters and switches shared with a load thread.
#[derive(Debug, Default)]
pub struct LoadShared {
    /// Scripted `start-load` / `stop-load`, and the load's own start and stop times.
    pub enabled: AtomicBool,
    /// Set at the end of the run.
    pub quit: AtomicBool,
    /// Commands the server acknowledged.
    pub ops: AtomicU64,
    /// Replication-stream bytes those commands make (RESP size of each SET).
    pub stream_bytes: AtomicU64,
    /// Commands that failed (paused or busy server, timeouts).
    pub errors: AtomicU64,
}

/// A running load.
#[derive(Debug)]
pub struct LoadThread {
    /// The load's name.
    pub name: String,
    /// What it did so far.
    pub shared: Arc<LoadShared>,
    handle: Option<JoinHandle<()>>,
}

impl LoadThread {
    /// Starts the load `spec` against the server on `port` of `place`; its time 0 is `t0`.
    pub fn start(
        spec: &WorkloadSpec,
        place: &Place,
        port: u16,
        t0: Instant,
        seed: u64,
    ) -> Result<Self, String> {
        let pattern = spec.load_pattern()?;
        let mut conn = connect_to(place, port, Duration::from_secs(2))
            .map_err(|e| format!("workload {}: cannot connect: {e}", spec.name))?;
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = conn.set_write_timeout(Some(Duration::from_millis(500)));
        prefill(spec, &mut conn).map_err(|e| format!("workload {}: {e}", spec.name))?;
        let shared = Arc::new(LoadShared::default());
        let thread_shared = Arc::clone(&shared);
        let spec = spec.clone();
        let name = spec.name.clone();
        let mut rng = actor_rng(seed, &name);
        let handle = std::thread::Builder::new()
            .name(format!("load-{name}"))
            .spawn(move || {
                let mut schedule = LoadSchedule::new(pattern);
                drive(
                    &spec,
                    &mut schedule,
                    &mut rng,
                    &mut conn,
                    t0,
                    &thread_shared,
                );
            })
            .map_err(|e| format!("workload {name}: cannot start a thread: {e}"))?;
        Ok(LoadThread {
            name,
            shared,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for LoadThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn drive(
    spec: &WorkloadSpec,
    schedule: &mut LoadSchedule,
    rng: &mut ActorRng,
    conn: &mut redis::Connection,
    t0: Instant,
    shared: &LoadShared,
) {
    let stop = spec.stop.map(|s| t0 + Duration::from_nanos(s.as_nanos()));
    // An `on-action` load waits for the script's start-load to set `enabled`.
    if let Some(at) = spec.start.at() {
        let start = t0 + Duration::from_nanos(at.as_nanos());
        while Instant::now() < start {
            if shared.quit.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        shared.enabled.store(true, Ordering::Relaxed);
    }
    let budget = spec.max_bytes.map_or(u64::MAX, |b| b.bytes());
    let mut spent: u64 = 0;
    let values = random_printable(rng, max_value_bytes(&spec.value_size));
    let mut next_key: u64 = 0;
    loop {
        let phase = schedule.next_phase(rng);
        let phase_start = Instant::now();
        let phase_end = phase
            .hold
            .map(|h| phase_start + Duration::from_nanos(h.as_nanos()));
        let mut sent_in_phase: u64 = 0;
        loop {
            if shared.quit.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            if stop.is_some_and(|s| now >= s) {
                shared.enabled.store(false, Ordering::Relaxed);
                return;
            }
            if phase_end.is_some_and(|e| now >= e) {
                break;
            }
            let due = (phase.ops_per_sec * (now - phase_start).as_secs_f64()) as u64;
            let batch = due.saturating_sub(sent_in_phase).min(MAX_BATCH);
            if batch == 0 || !shared.enabled.load(Ordering::Relaxed) {
                // Keep the schedule's clock while disabled: a stopped load sends nothing.
                sent_in_phase = sent_in_phase.max(due);
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            let mut pipe = redis::pipe();
            let mut bytes = 0u64;
            let mut sent = 0u64;
            for _ in 0..batch {
                let key = key_of(spec, rng, &mut next_key);
                let size = value_size(&spec.value_size, rng).min(values.len());
                let value = &values[..size];
                let cost = resp_set_bytes(key.len(), size);
                if spent + bytes + cost > budget {
                    break;
                }
                bytes += cost;
                sent += 1;
                pipe.cmd("SET").arg(key.as_bytes()).arg(value).ignore();
            }
            if sent < batch {
                // `max-bytes`: the budget is spent (a command that would pass it is not sent),
                // and the load never writes again.
                if sent > 0 && pipe.query::<()>(conn).is_ok() {
                    shared.ops.fetch_add(sent, Ordering::Relaxed);
                    shared.stream_bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                shared.enabled.store(false, Ordering::Relaxed);
                return;
            }
            spent += bytes;
            sent_in_phase += batch;
            match pipe.query::<()>(conn) {
                Ok(()) => {
                    shared.ops.fetch_add(batch, Ordering::Relaxed);
                    shared.stream_bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                Err(_) => {
                    shared.errors.fetch_add(batch, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Writes the keys the load will overwrite, at the mean value size.
fn prefill(spec: &WorkloadSpec, conn: &mut redis::Connection) -> redis::RedisResult<()> {
    let value = vec![b'x'; spec.value_size.typical_bytes() as usize];
    let mut pipe = redis::pipe();
    for id in 0..OVERWRITTEN_KEYS {
        pipe.cmd("SET")
            .arg(key_name(spec, id).as_bytes())
            .arg(&value)
            .ignore();
    }
    pipe.query::<()>(conn)
}

fn key_name(spec: &WorkloadSpec, id: u64) -> String {
    let base = format!("{}:{id}", spec.name);
    let width = usize::try_from(spec.key_bytes)
        .unwrap_or(16)
        .max(base.len());
    format!("{base:x<width$}")
}

/// RESP bytes of `SET key value` as the replication stream carries it.
fn resp_set_bytes(key: usize, value: usize) -> u64 {
    let digits = |n: usize| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    (23 + digits(key) + key + digits(value) + value) as u64
}

fn key_of(spec: &WorkloadSpec, rng: &mut ActorRng, next_key: &mut u64) -> String {
    let id = if rng.random::<f64>() < spec.new_key_fraction {
        *next_key += 1;
        1_000_000_000 + *next_key
    } else {
        rng.random_range(0..OVERWRITTEN_KEYS)
    };
    let base = format!("{}:{id}", spec.name);
    let width = usize::try_from(spec.key_bytes)
        .unwrap_or(16)
        .max(base.len());
    format!("{base:x<width$}")
}

fn max_value_bytes(dist: &SizeDist) -> usize {
    let b = match dist {
        SizeDist::Fixed { size } => size.bytes(),
        SizeDist::Uniform { max, .. } => max.bytes(),
        SizeDist::Exponential { mean } => mean.bytes().saturating_mul(8),
    };
    usize::try_from(b).unwrap_or(usize::MAX).min(64 << 20)
}

fn value_size(dist: &SizeDist, rng: &mut ActorRng) -> usize {
    let b = match dist {
        SizeDist::Fixed { size } => size.bytes(),
        SizeDist::Uniform { min, max } => rng.random_range(min.bytes()..=max.bytes()),
        SizeDist::Exponential { mean } => {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            (-u.ln() * mean.bytes() as f64) as u64
        }
    };
    usize::try_from(b).unwrap_or(usize::MAX)
}

fn random_printable(rng: &mut ActorRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random_range(b'!'..=b'~')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_size_matches_the_simulators_formula() {
        // `*3\r\n$3\r\nSET\r\n$16\r\n<16>\r\n$1000\r\n<1000>\r\n`
        assert_eq!(resp_set_bytes(16, 1000), 23 + 2 + 16 + 4 + 1000);
    }

    #[test]
    fn overwrites_stay_within_the_prefilled_keys() {
        // Without new keys the real dataset must not grow (the simulator's overwrites do not
        // grow its RDB): every key written is one that `prefill` created.
        let spec = WorkloadSpec::constant("w1", 1000.0, crate::units::ByteSize::new(100), 12);
        let prefilled: Vec<String> = (0..OVERWRITTEN_KEYS).map(|i| key_name(&spec, i)).collect();
        let mut rng = actor_rng(1, "w1");
        let mut next = 0;
        for _ in 0..10_000 {
            let key = key_of(&spec, &mut rng, &mut next);
            assert!(prefilled.contains(&key), "{key} was never prefilled");
        }
    }
}
