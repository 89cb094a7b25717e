//! Closed-form estimates of one full sync under write load (`valkey-model.md` §7).
//!
//! These are the fluid ("bytes flow at constant rates between events") formulas of §7.4 (classic)
//! and §7.5 (dual-channel), written as plain functions over [`Params`]. They serve two purposes:
//! drawing the closed-form boundary on top of a phase diagram produced by the simulator, and
//! acting as a test oracle for it. Everything here is `f64` in bytes, bytes per second and
//! seconds since the fork (t = 0, §7.2); nothing in this module feeds the simulation itself.
//!
//! ```text
//!  classic:  fork ──T_x── RDB sent ──T_l── loaded ─RTT─ ACK ── COB drains at B−W
//!            COB grows at W ──────────────────────────────────┘
//!  dual:     fork ─t_p─ PSYNC ──T_x'── downloaded ──T_l── loaded ──T_a── applied ── drains
//!            main-channel COB = max(0, U − Q), U grows at W − (what the replica reads)
//! ```
//!
//! Each primary-side COB is walked piecewise-linearly ([`classic`], [`dual`]); the hard limit
//! trips when the walk first reaches `H_eff`, the soft one when it stays at or above the
//! (clamped) soft limit long enough. Assumptions that are not read from Valkey's sources are
//! marked **\[derived\]** in the doc comments, as in `valkey-model.md`.
//!
//! ```
//! use replsim::analytic::{self, FirstLimit, OutcomeHint, Params};
//!
//! let p = Params::worked_example(); // §7.6
//! let c = analytic::classic(&p);
//! assert_eq!(c.first_limit, FirstLimit::Hard);
//! assert!((c.t_hard.unwrap() - 25.6).abs() < 1e-9);
//! let d = analytic::dual(&p);
//! assert_eq!(d.first_limit, FirstLimit::None);
//! assert_eq!(d.outcome_hint, OutcomeHint::SyncCompletes);
//! ```

use serde::{Deserialize, Serialize};

/// Bytes the replica can read from the main channel per `processEventsWhileBlocked` call during
/// a blocking load: ≤ 4 polling iterations × one 16 KiB read each (§4.6).
const READ_PER_EVENTS_CALL_BYTES: f64 = 4.0 * 16.0 * 1024.0;

/// How long after the soft-limit timer expires the disconnect is assumed to happen: the timer
/// has whole-second resolution and elapsed must be *strictly* greater than `Ts` (§1.2), so the
/// disconnect lands in `(t_up + Ts, t_up + Ts + 1]`; §7.4 takes the upper end.
pub const SOFT_CHECK_LAG_SECS: f64 = 1.0;

/// Inputs of the closed forms: the symbols of §7.2, in bytes, bytes per second and seconds.
///
/// "bps" in a field name means **bytes** per second here, not bits. A zero limit means
/// "unlimited" / "off" exactly where Valkey's configuration does (`cob_hard_bytes`,
/// `cob_soft_bytes`, `replica_cob_hard_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// W: replication-stream bytes per second fed to the shared buffer (protocol bytes).
    pub write_rate_bps: f64,
    /// S: RDB payload on the wire, bytes.
    pub rdb_bytes: f64,
    /// B: link bytes per second (shared by both channels in dual-channel mode).
    pub link_bps: f64,
    /// G: RDB generation rate of the fork child, bytes per second (`rdb-key-save-delay` lowers it).
    pub gen_bps: f64,
    /// L: replica RDB load rate, bytes per second (`key-load-delay` lowers it).
    pub load_bps: f64,
    /// A: rate at which a dual-channel replica applies its buffered stream, bytes per second.
    pub apply_bps: f64,
    /// K: `repl-backlog-size`, bytes.
    pub backlog_bytes: f64,
    /// H: primary's replica-class COB hard limit, bytes; 0 = unlimited.
    pub cob_hard_bytes: f64,
    /// Hs: primary's replica-class COB soft limit, bytes; 0 = off.
    pub cob_soft_bytes: f64,
    /// Ts: soft-limit seconds.
    pub cob_soft_secs: f64,
    /// R: the replica's own replica-class hard limit, the cap of its local buffer in
    /// dual-channel mode (§1.3), bytes; 0 = unlimited.
    pub replica_cob_hard_bytes: f64,
    /// Q: socket slack on one channel (sender SO_SNDBUF + receiver SO_RCVBUF), bytes.
    pub socket_slack_bytes: f64,
    /// I: `loading-process-events-interval-bytes`, bytes.
    pub events_interval_bytes: f64,
    /// `repl-diskless-load` enabled: the replica parses the RDB straight from the socket.
    pub diskless_load: bool,
    /// `repl-diskless-sync no`: the primary writes the RDB to disk, then sends the file.
    /// Classic only (dual-channel requires a diskless primary; [`dual`] ignores this flag).
    pub disk_based_primary: bool,
    /// Round-trip time of the link, seconds.
    pub rtt_secs: f64,
    /// t_p: when the dual-channel main-channel PSYNC is established, seconds after the fork
    /// (≈ 2–3 RTT plus replica event-loop delay, §7.5).
    pub psync_delay_secs: f64,
}

/// A [`Params`] field that cannot be used by the closed forms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// A field is negative, NaN or infinite.
    #[error("`{field}` must be a finite number >= 0, got {value}")]
    NotFiniteNonNegative {
        /// The field's name in [`Params`].
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A rate or interval that divides a byte count is zero.
    #[error("`{field}` must be > 0 (a byte count is divided by it), got {value}")]
    NotPositive {
        /// The field's name in [`Params`].
        field: &'static str,
        /// The offending value.
        value: f64,
    },
}

impl Params {
    /// The values of the §7.6 worked example (MB = 10⁶ bytes there): W = 10 MB/s, S = 2000 MB,
    /// B = 100 MB/s, G = 200 MB/s, L = 100 MB/s, A = 200 MB/s, K = 10 MB, H = 256 MB,
    /// Hs = 64 MB, Ts = 60 s, R = 256 MB, Q = 4 MB, I = 2 MiB, RTT = 1 ms and t_p = 3 ms
    /// (3 RTT, §7.5), disk-load replica, diskless primary.
    pub fn worked_example() -> Self {
        const MB: f64 = 1e6;
        Self {
            write_rate_bps: 10.0 * MB,
            rdb_bytes: 2000.0 * MB,
            link_bps: 100.0 * MB,
            gen_bps: 200.0 * MB,
            load_bps: 100.0 * MB,
            apply_bps: 200.0 * MB,
            backlog_bytes: 10.0 * MB,
            cob_hard_bytes: 256.0 * MB,
            cob_soft_bytes: 64.0 * MB,
            cob_soft_secs: 60.0,
            replica_cob_hard_bytes: 256.0 * MB,
            socket_slack_bytes: 4.0 * MB,
            events_interval_bytes: 2.0 * 1024.0 * 1024.0,
            diskless_load: false,
            disk_based_primary: false,
            rtt_secs: 0.001,
            psync_delay_secs: 0.003,
        }
    }

    /// The same parameters with another write rate W (bytes per second).
    pub fn with_write_rate(self, write_rate_bps: f64) -> Self {
        Self {
            write_rate_bps,
            ..self
        }
    }

    /// Checks that every field is usable: all finite and ≥ 0, and the rates and the events
    /// interval that divide byte counts > 0. [`classic`] and [`dual`] do not check; with
    /// invalid parameters their results may contain NaN or ∞.
    ///
    /// ```
    /// use replsim::analytic::{Params, ParamsError};
    /// assert!(Params::worked_example().validate().is_ok());
    /// let p = Params { link_bps: 0.0, ..Params::worked_example() };
    /// assert!(matches!(p.validate(), Err(ParamsError::NotPositive { field: "link_bps", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ParamsError> {
        let all = [
            ("write_rate_bps", self.write_rate_bps),
            ("rdb_bytes", self.rdb_bytes),
            ("link_bps", self.link_bps),
            ("gen_bps", self.gen_bps),
            ("load_bps", self.load_bps),
            ("apply_bps", self.apply_bps),
            ("backlog_bytes", self.backlog_bytes),
            ("cob_hard_bytes", self.cob_hard_bytes),
            ("cob_soft_bytes", self.cob_soft_bytes),
            ("cob_soft_secs", self.cob_soft_secs),
            ("replica_cob_hard_bytes", self.replica_cob_hard_bytes),
            ("socket_slack_bytes", self.socket_slack_bytes),
            ("events_interval_bytes", self.events_interval_bytes),
            ("rtt_secs", self.rtt_secs),
            ("psync_delay_secs", self.psync_delay_secs),
        ];
        if let Some(&(field, value)) = all.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(ParamsError::NotFiniteNonNegative { field, value });
        }
        let divisors = [
            ("link_bps", self.link_bps),
            ("gen_bps", self.gen_bps),
            ("load_bps", self.load_bps),
            ("apply_bps", self.apply_bps),
            ("events_interval_bytes", self.events_interval_bytes),
        ];
        match divisors.iter().find(|(_, v)| *v <= 0.0) {
            Some(&(field, value)) => Err(ParamsError::NotPositive { field, value }),
            None => Ok(()),
        }
    }

    /// `H_eff` (§1.2, §7.2): the hard limit clamped up to the backlog size, `max(H, K)` when
    /// `H > 0`, `f64::INFINITY` when `H = 0` (unlimited).
    pub fn h_eff_bytes(&self) -> f64 {
        if self.cob_hard_bytes > 0.0 {
            self.cob_hard_bytes.max(self.backlog_bytes)
        } else {
            f64::INFINITY
        }
    }

    /// The effective soft limit: `max(Hs, K)` when `Hs > 0`, `None` when the soft limit is off.
    /// Valkey 9.1 clamps the soft limit like the hard one (§10.1, PR #2866); §1.2 (older
    /// sources) says it is not clamped — this module follows 9.1.
    pub fn soft_eff_bytes(&self) -> Option<f64> {
        (self.cob_soft_bytes > 0.0).then(|| self.cob_soft_bytes.max(self.backlog_bytes))
    }

    /// R as a cap: `replica_cob_hard_bytes`, or `f64::INFINITY` when it is 0 (§1.3: no backlog
    /// clamp here).
    pub fn replica_cap_bytes(&self) -> f64 {
        if self.replica_cob_hard_bytes > 0.0 {
            self.replica_cob_hard_bytes
        } else {
            f64::INFINITY
        }
    }

    /// c: the main-channel read cap of a replica in a blocking load from disk,
    /// `4 · 16 KiB · L / I` (§4.6, §7.2, **\[derived\]**). With the defaults it is L/32.
    pub fn load_read_cap_bps(&self) -> f64 {
        read_cap_bps(self.load_bps, self.events_interval_bytes)
    }
}

/// c for a blocking load that processes RDB bytes at `load_rate_bps` (§4.6 **\[derived\]**).
fn read_cap_bps(load_rate_bps: f64, events_interval_bytes: f64) -> f64 {
    if events_interval_bytes > 0.0 {
        READ_PER_EVENTS_CALL_BYTES * load_rate_bps / events_interval_bytes
    } else {
        f64::INFINITY
    }
}

/// Which primary-side limit ends the sync attempt first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FirstLimit {
    /// No limit trips.
    None,
    /// A COB hard limit (`H_eff`) trips: main channel, classic replica, or (O6) the dual-channel
    /// RDB-channel client.
    Hard,
    /// The COB soft limit trips (O4).
    Soft,
}

/// The §7.1 outcome class the estimate points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutcomeHint {
    /// O1: the sync completes and the replica catches up.
    SyncCompletes,
    /// O2: hard COB overflow, PSYNC refused for lack of backlog, a new full sync (the loop).
    HardOverflowFullSync,
    /// O3: COB overflow, then the PSYNC is accepted (the lag fits the backlog window, §7.3).
    OverflowPartialResync,
    /// O4: soft COB overflow, then as O2.
    SoftOverflowFullSync,
    /// O6: the dual-channel RDB-channel client overflows before the main-channel PSYNC.
    RdbChannelOverflow,
    /// O9: the sync completes but the replica never catches up (B ≤ W); with a finite limit it
    /// is dropped later while online.
    NeverConverges,
}

impl OutcomeHint {
    /// The outcome's number in the §7.1 table, `"O1"` … `"O9"`.
    pub fn code(self) -> &'static str {
        match self {
            Self::SyncCompletes => "O1",
            Self::HardOverflowFullSync => "O2",
            Self::OverflowPartialResync => "O3",
            Self::SoftOverflowFullSync => "O4",
            Self::RdbChannelOverflow => "O6",
            Self::NeverConverges => "O9",
        }
    }
}

/// §7.3: after a COB disconnect, the PSYNC is partial only if the replica's lag fits the
/// primary's backlog window (≈ K once the trimmer has run; more if another consumer pins older
/// data).
///
/// ```
/// use replsim::analytic::psync_after_overflow_possible;
/// assert!(psync_after_overflow_possible(5e6, 10e6));
/// // A hard-limit disconnect lags by at least H_eff ≥ K, plus W × the time to reconnect.
/// assert!(!psync_after_overflow_possible(256e6 + 10e6 * 0.001, 10e6));
/// ```
pub fn psync_after_overflow_possible(lag_bytes: f64, backlog_window_bytes: f64) -> bool {
    lag_bytes <= backlog_window_bytes
}

/// §7.3 for a replica cut off for `outage_secs` (a link down that long, longer than
/// `repl-timeout`, so both ends drop the connection, and back up): its PSYNC asks for every byte
/// written since the cut, `W × outage`, and is partial when the backlog holds that many. The
/// smallest `repl-backlog-size` that lets it through is therefore `W × outage`; Valkey trims the
/// backlog in whole blocks (16 KiB), so the window is up to one block larger than the size, and
/// the reconnect adds a round trip of writes: both are below 1 % for lags of a few MB.
///
/// ```
/// use replsim::analytic::backlog_for_outage;
/// assert_eq!(backlog_for_outage(1e6, 10.0), 1e7);
/// ```
pub fn backlog_for_outage(write_rate_bps: f64, outage_secs: f64) -> f64 {
    write_rate_bps * outage_secs.max(0.0)
}

/// Classic (single-channel) full sync, §7.4. Times are seconds since the fork.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassicEstimate {
    /// T_x, duration: `S / min(B, G)`; disk-based primary `S/G + S/B`. With diskless load the
    /// transfer and the load overlap, and this is the whole `S / min(B, G, L)`
    /// (disk-based primary: `S/G + S/min(B, L)`).
    pub t_transfer: f64,
    /// T_l, duration: `S / L`; 0 with diskless load (already inside [`Self::t_transfer`]).
    /// The flush time of the old dataset is not modelled.
    pub t_load: f64,
    /// True when [`Self::t_transfer`] includes the load (diskless load).
    pub load_overlaps_transfer: bool,
    /// When the primary sees the replica online and starts draining: `T_x + T_l + RTT`.
    pub t_sync_end: f64,
    /// The COB at [`Self::t_sync_end`]: `W · t_sync_end`, minus Q for a disk-based primary.
    pub cob_at_sync_end: f64,
    /// When the COB reaches `H_eff`, if it does: `H_eff / W` iff `W · t_sync_end ≥ H_eff`
    /// (disk-based primary: `(H_eff + Q) / W` once the transfer is over); otherwise, when
    /// B < W, after the sync at `t_sync_end + (H_eff − cob_at_sync_end) / (W − B)`.
    pub t_hard: Option<f64>,
    /// When the soft limit trips, if it does: `t_up + Ts + 1 s` when the COB is still ≥ Hs
    /// then (§7.4; see [`SOFT_CHECK_LAG_SECS`]). Computed as if there were no hard limit.
    pub t_soft: Option<f64>,
    /// The earlier of [`Self::t_hard`] and [`Self::t_soft`].
    pub first_limit: FirstLimit,
    /// When [`Self::first_limit`] trips.
    pub first_limit_at: Option<f64>,
    /// W*: the largest write rate without a hard trip, [`classic_boundary_write_rate`].
    pub max_sustainable_write_rate: f64,
    /// The largest COB before the drain starts (= [`Self::cob_at_sync_end`] for a diskless
    /// primary). If the sync does not converge, the COB keeps growing after it.
    pub peak_cob: f64,
    /// `W < B`: after the sync the COB drains and the replica catches up.
    pub converges: bool,
    /// The §7.1 outcome the estimate points at.
    pub outcome_hint: OutcomeHint,
}

/// Dual-channel full sync, §7.5. Times are seconds since the fork.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DualEstimate {
    /// t_p: when the main-channel PSYNC is established.
    pub t_psync: f64,
    /// O6: the RDB-channel client, which pins the stream until t_p, reaches `H_eff`:
    /// `W · t_p ≥ H_eff`.
    pub o6_rdb_client_overflow: bool,
    /// When the RDB-channel client trips (`H_eff / W`), if O6.
    pub t_rdb_client_hard: Option<f64>,
    /// T_x': the end of the RDB download, ≈ `S / min(B − W, G)`; the RDB gets the whole link
    /// before t_p and after the local buffer is full (§4.6). With diskless load there is no
    /// separate download (everything is a blocking load, §7.7) and this is 0.
    pub t_download: f64,
    /// True with diskless load: the download is part of the blocking load.
    pub load_overlaps_transfer: bool,
    /// The replica's local buffer at [`Self::t_download`], bytes (`W · (T_x' − t_p)` when R is
    /// not reached).
    pub local_buffer_at_download_end: f64,
    /// c: the main-channel read cap during the blocking load (§4.6 **\[derived\]**).
    pub load_read_cap_bps: f64,
    /// O5, t_R: when the local buffer reaches R and the replica stops reading the main channel,
    /// if it does. A transition, not a failure: it is not a [`FirstLimit`].
    pub t_local_limit: Option<f64>,
    /// Lb_end: the local buffer when the load ends, `min(R, W·(T_x' − t_p) + min(W, c)·T_l)`.
    pub local_buffer_at_load_end: f64,
    /// When the RDB load ends (`T_x' + S/L`; diskless load: the blocking load's end).
    pub t_load_end: f64,
    /// T_a, duration: `Lb_end / A`, applying the local buffer (no main-channel reads meanwhile).
    pub t_apply: f64,
    /// When the apply ends (`t_load_end + T_a`); afterwards the COB drains at B − W.
    pub t_apply_end: f64,
    /// The largest main-channel COB, `max(0, U − Q)`, reached at the end of the apply phase
    /// (§7.5). If the sync does not converge, it keeps growing after it.
    pub peak_primary_cob: f64,
    /// When the main-channel COB reaches `H_eff`, if it does (walked piecewise, not just
    /// `peak ≥ H_eff`).
    pub t_hard: Option<f64>,
    /// When the soft limit trips on the main-channel COB (rule of [`ClassicEstimate::t_soft`]).
    pub t_soft: Option<f64>,
    /// The first *failure* limit: O6 or the main channel's hard limit (both [`FirstLimit::Hard`])
    /// or its soft limit. O5 is reported in [`Self::t_local_limit`] only.
    pub first_limit: FirstLimit,
    /// When [`Self::first_limit`] trips.
    pub first_limit_at: Option<f64>,
    /// `W < B`: after the apply the COB drains and the replica catches up.
    pub converges: bool,
    /// The §7.1 outcome the estimate points at.
    pub outcome_hint: OutcomeHint,
}

/// The §7.4 closed form for a classic full sync.
///
/// The COB grows at W from the fork until `T_x + T_l + RTT` (the stream is held back while the
/// RDB has the link and while the replica loads), then drains at B − W. For a disk-based
/// primary the stream goes into the socket right after SEND_BULK, so from T_x on the COB is
/// `max(0, W·t − Q)`.
///
/// ```
/// use replsim::analytic::{classic, FirstLimit, Params};
/// let p = Params::worked_example();
/// let e = classic(&p);
/// assert_eq!((e.t_transfer, e.t_load), (20.0, 20.0));
/// assert_eq!(e.first_limit, FirstLimit::Hard);
/// // Unlimited COB: never trips.
/// let e = classic(&Params { cob_hard_bytes: 0.0, cob_soft_bytes: 0.0, ..p });
/// assert_eq!((e.t_hard, e.first_limit), (None, FirstLimit::None));
/// ```
pub fn classic(p: &Params) -> ClassicEstimate {
    let w = p.write_rate_bps;
    let (t_transfer, t_load) = classic_phases(p);
    let t_sync_end = t_transfer + t_load + p.rtt_secs;

    let mut walk = HeldWalk::new(0.0);
    walk.advance_to(t_transfer, w);
    if p.disk_based_primary {
        walk.set_slack(p.socket_slack_bytes);
    }
    walk.advance_to(t_sync_end, w);
    let cob_at_sync_end = walk.cob();
    let cob = walk.finish(w - p.link_bps);

    let h_eff = p.h_eff_bytes();
    let t_hard = cob.first_reach(h_eff);
    let t_soft = soft_trip(&cob, p.soft_eff_bytes(), p.cob_soft_secs);
    let (first_limit, first_limit_at) =
        earliest(&[(t_hard, FirstLimit::Hard), (t_soft, FirstLimit::Soft)]);
    let converges = w < p.link_bps;
    let outcome_hint = match first_limit_at {
        None if converges => OutcomeHint::SyncCompletes,
        None => OutcomeHint::NeverConverges,
        Some(t) if t > t_sync_end && !converges => OutcomeHint::NeverConverges,
        Some(t) => {
            // §7.3: the replica has no stream bytes yet; after the sync it lags by the COB
            // plus what sat in the sockets (§10.2).
            let at_limit = if first_limit == FirstLimit::Hard {
                h_eff
            } else {
                p.soft_eff_bytes().unwrap_or(0.0)
            };
            let lag = if t <= t_sync_end {
                w * (t + p.rtt_secs)
            } else {
                at_limit + p.socket_slack_bytes + w * p.rtt_secs
            };
            overflow_outcome(first_limit, lag, p.backlog_bytes)
        }
    };

    ClassicEstimate {
        t_transfer,
        t_load,
        load_overlaps_transfer: p.diskless_load,
        t_sync_end,
        cob_at_sync_end,
        t_hard,
        t_soft,
        first_limit,
        first_limit_at,
        max_sustainable_write_rate: classic_boundary_write_rate(p),
        peak_cob: cob.peak(),
        converges,
        outcome_hint,
    }
}

/// (T_x, T_l) of §7.4, with the diskless-load and disk-based-primary variants.
fn classic_phases(p: &Params) -> (f64, f64) {
    let s = p.rdb_bytes;
    // With diskless load the replica parses as it receives, so the socket drains at ≤ L.
    let send_bps = if p.diskless_load {
        p.link_bps.min(p.load_bps)
    } else {
        p.link_bps
    };
    let t_transfer = if p.disk_based_primary {
        s / p.gen_bps + s / send_bps
    } else {
        s / p.gen_bps.min(send_bps)
    };
    let t_load = if p.diskless_load { 0.0 } else { s / p.load_bps };
    (t_transfer, t_load)
}

/// The write rate at which a classic sync starts to hit the hard limit (§7.4), for drawing the
/// boundary on a phase diagram: `H_eff / (T_x + T_l + RTT)`, and no more than B, above which
/// it trips after the sync. A disk-based primary gets Q back once the RDB is sent:
/// `min(H_eff / T_x, (H_eff + Q) / (T_x + T_l + RTT))`. `f64::INFINITY` when H = 0.
///
/// ```
/// use replsim::analytic::{classic_boundary_write_rate, Params};
/// let w = classic_boundary_write_rate(&Params::worked_example());
/// assert!((w - 256e6 / 40.001).abs() < 1.0); // W*_classic ≈ 6.4 MB/s (§7.6)
/// ```
pub fn classic_boundary_write_rate(p: &Params) -> f64 {
    let h_eff = p.h_eff_bytes();
    if h_eff.is_infinite() {
        return f64::INFINITY;
    }
    let (t_transfer, t_load) = classic_phases(p);
    let t_sync_end = t_transfer + t_load + p.rtt_secs;
    let in_sync = if p.disk_based_primary {
        (h_eff / t_transfer).min((h_eff + p.socket_slack_bytes) / t_sync_end)
    } else {
        h_eff / t_sync_end
    };
    in_sync.min(p.link_bps)
}

/// The §7.5 closed form for a dual-channel full sync, walked phase by phase.
///
/// Phases (t = 0 at the fork): until t_p the main channel does not exist (the RDB-channel
/// client pins the stream, O6). Download: the replica reads the main channel as fast as it
/// comes (local buffer grows at W) while the RDB gets the rest of the link. Blocking load:
/// the replica reads at most c = 4·16 KiB·L/I. From O5 (local buffer = R) on it reads nothing.
/// Apply: no reads for `Lb_end / A`. Then it reads at B. The primary holds
/// `U(t) = W·(t − t_p) − (bytes read)` and its main-channel COB is `max(0, U − Q)`.
///
/// Assumptions **\[derived\]**:
/// * the link is shared max-min fairly between the two channels, which gives the §7.5
///   `T_x' = S / min(B − W, G)` whenever W ≤ B/2 or W + G ≤ B, and caps the stream at B/2
///   (or B − G) beyond;
/// * before t_p and after O5 the RDB gets the whole link (§4.6);
/// * as in §7.5, the W·t_p bytes written before t_p are counted on the RDB-channel client (O6)
///   and not on the main channel;
/// * with diskless load (§7.7) there is no download window: the blocking load runs at
///   `min(G, L, B − stream)` and c uses that rate instead of L.
///
/// ```
/// use replsim::analytic::{dual, FirstLimit, Params};
/// let e = dual(&Params::worked_example());
/// assert!((e.t_local_limit.unwrap() - 33.0).abs() < 0.3); // O5, a transition
/// assert_eq!(e.first_limit, FirstLimit::None);
/// // A faster writer fills the local buffer during the download and then trips the primary.
/// let e = dual(&Params::worked_example().with_write_rate(20e6));
/// assert_eq!(e.first_limit, FirstLimit::Hard);
/// ```
pub fn dual(p: &Params) -> DualEstimate {
    let w = p.write_rate_bps;
    let t_p = p.psync_delay_secs;
    let h_eff = p.h_eff_bytes();
    let walk = dual_walk(p);
    let cob = &walk.cob;

    let o6_rdb_client_overflow = w > 0.0 && w * t_p >= h_eff;
    let t_rdb_client_hard = o6_rdb_client_overflow.then(|| h_eff / w);
    let t_hard = cob.first_reach(h_eff);
    let t_soft = soft_trip(cob, p.soft_eff_bytes(), p.cob_soft_secs);
    let (first_limit, first_limit_at) = earliest(&[
        (t_rdb_client_hard, FirstLimit::Hard),
        (t_hard, FirstLimit::Hard),
        (t_soft, FirstLimit::Soft),
    ]);
    let converges = w < p.link_bps;
    let outcome_hint = match first_limit_at {
        _ if o6_rdb_client_overflow && first_limit_at == t_rdb_client_hard => {
            OutcomeHint::RdbChannelOverflow
        }
        None if converges => OutcomeHint::SyncCompletes,
        None => OutcomeHint::NeverConverges,
        Some(t) if t > walk.t_apply_end && !converges => OutcomeHint::NeverConverges,
        Some(t) => {
            // §7.3: the replica misses the COB and the socket contents (§10.2), and falls
            // further behind until its PSYNC arrives after its load and apply.
            let at_limit = if first_limit == FirstLimit::Hard {
                h_eff
            } else {
                p.soft_eff_bytes().unwrap_or(0.0)
            };
            let lag = at_limit
                + p.socket_slack_bytes
                + w * ((walk.t_apply_end - t).max(0.0) + p.rtt_secs);
            overflow_outcome(first_limit, lag, p.backlog_bytes)
        }
    };

    DualEstimate {
        t_psync: t_p,
        o6_rdb_client_overflow,
        t_rdb_client_hard,
        t_download: walk.t_download,
        load_overlaps_transfer: p.diskless_load,
        local_buffer_at_download_end: walk.lb_at_download_end,
        load_read_cap_bps: walk.read_cap_bps,
        t_local_limit: walk.t_local_limit,
        local_buffer_at_load_end: walk.lb_at_load_end,
        t_load_end: walk.t_load_end,
        t_apply: walk.t_apply_end - walk.t_load_end,
        t_apply_end: walk.t_apply_end,
        peak_primary_cob: cob.peak(),
        t_hard,
        t_soft,
        first_limit,
        first_limit_at,
        converges,
        outcome_hint,
    }
}

/// The write rate at which a dual-channel sync starts to hit a hard limit (main channel or
/// O6), for drawing the boundary on a phase diagram. Found by bisection on W over [`dual`]
/// (relative precision 1e-9), assuming that whether it trips is monotone in W (a property test
/// checks it; the trip *time* is not monotone, see [`dual`]). `f64::INFINITY` when H = 0.
///
/// ```
/// use replsim::analytic::{classic_boundary_write_rate, dual_boundary_write_rate, Params};
/// let p = Params::worked_example();
/// // Dual-channel buys R + Q of budget during the download (§7.5).
/// assert!(dual_boundary_write_rate(&p) > classic_boundary_write_rate(&p));
/// ```
pub fn dual_boundary_write_rate(p: &Params) -> f64 {
    if p.h_eff_bytes().is_infinite() {
        return f64::INFINITY;
    }
    let trips = |w: f64| {
        let e = dual(&p.with_write_rate(w));
        e.t_hard.is_some() || e.o6_rdb_client_overflow
    };
    // Above B the COB grows without bound after the sync, so 2B always trips.
    let mut hi = 2.0 * p.link_bps;
    if !trips(hi) {
        return f64::INFINITY;
    }
    let mut lo = 0.0;
    while hi - lo > 1e-9 * hi {
        let mid = 0.5 * (lo + hi);
        if trips(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// O2/O3/O4 from the tripped limit and the replica's lag at its PSYNC (§7.3).
fn overflow_outcome(limit: FirstLimit, lag_bytes: f64, backlog_bytes: f64) -> OutcomeHint {
    if psync_after_overflow_possible(lag_bytes, backlog_bytes) {
        OutcomeHint::OverflowPartialResync
    } else if limit == FirstLimit::Soft {
        OutcomeHint::SoftOverflowFullSync
    } else {
        OutcomeHint::HardOverflowFullSync
    }
}

/// The earliest of some optional trip times, first listed wins a tie.
fn earliest(candidates: &[(Option<f64>, FirstLimit)]) -> (FirstLimit, Option<f64>) {
    candidates
        .iter()
        .filter_map(|&(t, limit)| t.map(|t| (t, limit)))
        .fold((FirstLimit::None, None), |best, (t, limit)| match best.1 {
            Some(b) if b <= t => best,
            _ => (limit, Some(t)),
        })
}

/// The soft-limit rule of §1.2/§7.4: the first interval at or above `level` that lasts until
/// `t_up + Ts + 1 s` trips there. Each dip below the level resets the timer.
fn soft_trip(cob: &Trajectory, level: Option<f64>, soft_secs: f64) -> Option<f64> {
    let level = level?;
    cob.intervals_at_or_above(level)
        .into_iter()
        .find_map(|(up, down)| {
            let at = up + soft_secs + SOFT_CHECK_LAG_SECS;
            down.is_none_or(|down| down >= at).then_some(at)
        })
}

/// Max-min fair split of `link` between the RDB channel and the main channel,
/// `(rdb, stream)` **\[derived\]** (two TCP flows on one bottleneck).
fn fair_share(rdb_demand: f64, stream_demand: f64, link: f64) -> (f64, f64) {
    if rdb_demand + stream_demand <= link {
        return (rdb_demand, stream_demand);
    }
    let half = link / 2.0;
    if rdb_demand <= half {
        (rdb_demand, link - rdb_demand)
    } else if stream_demand <= half {
        (link - stream_demand, stream_demand)
    } else {
        (half, half)
    }
}

/// The phase of a dual-channel replica in [`dual_walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Download,
    Load,
    Apply,
}

/// What ends a constant-rate segment of [`dual_walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Psync,
    PhaseDone,
    BufferFull,
    HeldEmpty,
}

/// The timeline of [`dual_walk`].
#[derive(Debug)]
struct DualWalk {
    cob: Trajectory,
    t_download: f64,
    lb_at_download_end: f64,
    read_cap_bps: f64,
    t_local_limit: Option<f64>,
    lb_at_load_end: f64,
    t_load_end: f64,
    t_apply_end: f64,
}

/// Walks the dual-channel phases of [`dual`] from event to event at constant rates.
fn dual_walk(p: &Params) -> DualWalk {
    let w = p.write_rate_bps;
    let t_p = p.psync_delay_secs;
    let cap = p.replica_cap_bytes();
    let diskless_rdb_bps = p.gen_bps.min(p.load_bps);
    let read_cap = if p.diskless_load {
        read_cap_bps(diskless_rdb_bps.min(p.link_bps), p.events_interval_bytes)
    } else {
        p.load_read_cap_bps()
    };

    let mut held = HeldWalk::new(p.socket_slack_bytes);
    let mut phase = if p.diskless_load {
        Phase::Load
    } else {
        Phase::Download
    };
    let mut work_left = p.rdb_bytes;
    let mut lb = 0.0;
    let mut out = DualWalk {
        cob: Trajectory::default(),
        t_download: 0.0,
        lb_at_download_end: 0.0,
        read_cap_bps: read_cap,
        t_local_limit: None,
        lb_at_load_end: 0.0,
        t_load_end: 0.0,
        t_apply_end: 0.0,
    };

    loop {
        let t = held.t;
        let active = t >= t_p;
        let buffering = active && lb < cap && phase != Phase::Apply;
        // A backlogged main channel takes whatever the link gives it.
        let demand = if held.held > 0.0 { f64::INFINITY } else { w };
        let (work_bps, read_bps) = match (phase, buffering) {
            (Phase::Download, true) => fair_share(p.gen_bps, demand, p.link_bps),
            (Phase::Download, false) => (p.gen_bps.min(p.link_bps), 0.0),
            (Phase::Load, true) if p.diskless_load => {
                let (rdb, stream) = fair_share(diskless_rdb_bps, demand.min(read_cap), p.link_bps);
                (rdb, stream.min(read_cap_bps(rdb, p.events_interval_bytes)))
            }
            (Phase::Load, false) if p.diskless_load => (diskless_rdb_bps.min(p.link_bps), 0.0),
            (Phase::Load, true) => (p.load_bps, demand.min(read_cap).min(p.link_bps)),
            (Phase::Load, false) => (p.load_bps, 0.0),
            (Phase::Apply, _) => (p.apply_bps, 0.0),
        };
        let held_bps = if active { w - read_bps } else { 0.0 };

        let mut next = (t + work_left / work_bps, Event::PhaseDone);
        let mut consider = |at: f64, ev: Event| {
            if at < next.0 {
                next = (at, ev);
            }
        };
        if !active {
            consider(t_p, Event::Psync);
        }
        if buffering && read_bps > 0.0 {
            consider(t + (cap - lb) / read_bps, Event::BufferFull);
        }
        if held_bps < 0.0 && held.held > 0.0 {
            consider(t + held.held / -held_bps, Event::HeldEmpty);
        }
        let (t_next, event) = next;
        let dt = t_next - t;
        work_left = (work_left - work_bps * dt).max(0.0);
        lb = (lb + read_bps * dt).min(cap);
        held.advance_to(t_next, held_bps);

        match event {
            Event::Psync => {}
            Event::BufferFull => {
                lb = cap;
                out.t_local_limit = Some(t_next);
            }
            Event::HeldEmpty => held.held = 0.0,
            Event::PhaseDone => match phase {
                Phase::Download => {
                    out.t_download = t_next;
                    out.lb_at_download_end = lb;
                    phase = Phase::Load;
                    work_left = p.rdb_bytes;
                }
                Phase::Load => {
                    out.t_load_end = t_next;
                    out.lb_at_load_end = lb;
                    phase = Phase::Apply;
                    work_left = lb;
                }
                Phase::Apply => {
                    out.t_apply_end = t_next;
                    break;
                }
            },
        }
    }
    // Online: the replica reads at B, so U changes at W − B.
    out.cob = held.finish(w - p.link_bps);
    out
}

/// Builds the COB trajectory `max(0, held − slack)` from the bytes the primary holds for a
/// replica (`held`, which includes what sits in the sockets) at piecewise-constant rates.
#[derive(Debug)]
struct HeldWalk {
    t: f64,
    held: f64,
    slack: f64,
    knots: Vec<(f64, f64)>,
}

impl HeldWalk {
    fn new(slack: f64) -> Self {
        Self {
            t: 0.0,
            held: 0.0,
            slack,
            knots: vec![(0.0, 0.0)],
        }
    }

    fn cob(&self) -> f64 {
        (self.held - self.slack).max(0.0)
    }

    /// Moves to `t_end` with `held` changing at `rate` (never below 0).
    fn advance_to(&mut self, t_end: f64, rate: f64) {
        let dt = t_end - self.t;
        if dt.is_nan() || dt <= 0.0 {
            return;
        }
        if rate != 0.0 {
            // The COB has a kink where `held` crosses the slack.
            let cross = (self.slack - self.held) / rate;
            if cross > 0.0 && cross < dt {
                self.knots.push((self.t + cross, 0.0));
            }
        }
        self.t = t_end;
        self.held = (self.held + rate * dt).max(0.0);
        self.knots.push((t_end, self.cob()));
    }

    /// Changes the slack now: a vertical step in the COB.
    fn set_slack(&mut self, slack: f64) {
        self.slack = slack;
        self.knots.push((self.t, self.cob()));
    }

    /// Ends with `held` changing at `rate` forever; a draining tail is made explicit down to a
    /// COB of 0 so that the trajectory's tail never decreases.
    fn finish(mut self, rate: f64) -> Trajectory {
        let tail_slope = if rate > 0.0 {
            if self.held < self.slack {
                self.advance_to(self.t + (self.slack - self.held) / rate, rate);
            }
            rate
        } else {
            if rate < 0.0 && self.held > self.slack {
                self.advance_to(self.t + (self.held - self.slack) / -rate, rate);
            }
            0.0
        };
        Trajectory {
            knots: self.knots,
            tail_slope,
        }
    }
}

/// A piecewise-linear COB over time: straight between knots (two knots at the same time make
/// a step), then `tail_slope ≥ 0` forever after the last knot.
#[derive(Debug, Clone, Default)]
struct Trajectory {
    knots: Vec<(f64, f64)>,
    tail_slope: f64,
}

/// When the segment `a → b` crosses `level` (which lies between the two values).
fn crossing(a: (f64, f64), b: (f64, f64), level: f64) -> f64 {
    if b.0 <= a.0 || b.1 == a.1 {
        b.0
    } else {
        a.0 + (level - a.1) / (b.1 - a.1) * (b.0 - a.0)
    }
}

impl Trajectory {
    /// The first time the COB is `>= level` (Valkey's hard-limit comparison, §1.2).
    fn first_reach(&self, level: f64) -> Option<f64> {
        if level.is_nan() || level.is_infinite() {
            return None;
        }
        let &first = self.knots.first()?;
        if first.1 >= level {
            return Some(first.0);
        }
        for pair in self.knots.windows(2) {
            if pair[1].1 >= level {
                return Some(crossing(pair[0], pair[1], level));
            }
        }
        let &(t, v) = self.knots.last()?;
        (self.tail_slope > 0.0).then(|| t + (level - v) / self.tail_slope)
    }

    /// The maximal intervals `[up, down)` during which the COB is `>= level`; `down` is `None`
    /// when it stays there forever.
    fn intervals_at_or_above(&self, level: f64) -> Vec<(f64, Option<f64>)> {
        let mut out = Vec::new();
        let Some(&first) = self.knots.first() else {
            return out;
        };
        let mut up = (first.1 >= level).then_some(first.0);
        for pair in self.knots.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            match up {
                None if b.1 >= level => up = Some(crossing(a, b, level)),
                Some(start) if b.1 < level => {
                    out.push((start, Some(crossing(a, b, level))));
                    up = None;
                }
                _ => {}
            }
        }
        let &(t, v) = self.knots.last().expect("not empty");
        match up {
            Some(start) => out.push((start, None)),
            None if self.tail_slope > 0.0 => out.push((t + (level - v) / self.tail_slope, None)),
            None => {}
        }
        out
    }

    /// The largest COB over the knots (the tail, if growing, is excluded).
    fn peak(&self) -> f64 {
        self.knots.iter().map(|k| k.1).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traj(knots: &[(f64, f64)], tail_slope: f64) -> Trajectory {
        Trajectory {
            knots: knots.to_vec(),
            tail_slope,
        }
    }

    #[test]
    fn first_reach_interpolates_steps_and_tails() {
        let t = traj(
            &[(0.0, 0.0), (10.0, 100.0), (10.0, 50.0), (20.0, 50.0)],
            5.0,
        );
        assert_eq!(t.first_reach(40.0), Some(4.0));
        assert_eq!(t.first_reach(100.0), Some(10.0));
        assert_eq!(t.first_reach(150.0), Some(40.0));
        assert_eq!(t.first_reach(f64::INFINITY), None);
        assert_eq!(traj(&[(0.0, 0.0), (1.0, 1.0)], 0.0).first_reach(2.0), None);
    }

    #[test]
    fn intervals_split_on_dips_and_stay_open_on_growing_tails() {
        let t = traj(
            &[
                (0.0, 0.0),
                (10.0, 100.0),
                (10.0, 0.0),
                (20.0, 100.0),
                (30.0, 0.0),
            ],
            0.0,
        );
        assert_eq!(
            t.intervals_at_or_above(50.0),
            vec![(5.0, Some(10.0)), (15.0, Some(25.0))]
        );
        let t = traj(&[(0.0, 0.0), (10.0, 10.0)], 1.0);
        assert_eq!(t.intervals_at_or_above(20.0), vec![(20.0, None)]);
        assert_eq!(t.intervals_at_or_above(5.0), vec![(5.0, None)]);
    }

    #[test]
    fn soft_trip_needs_the_level_held_for_ts_plus_one_second() {
        let t = traj(
            &[(0.0, 0.0), (10.0, 100.0), (100.0, 100.0), (110.0, 0.0)],
            0.0,
        );
        assert_eq!(soft_trip(&t, Some(50.0), 60.0), Some(66.0));
        assert_eq!(soft_trip(&t, Some(50.0), 99.0), Some(105.0));
        assert_eq!(soft_trip(&t, Some(50.0), 99.5), None);
        assert_eq!(soft_trip(&t, None, 1.0), None);
    }

    #[test]
    fn held_walk_subtracts_the_slack_with_kinks() {
        let mut h = HeldWalk::new(4.0);
        h.advance_to(10.0, 1.0); // held 10, crosses 4 at t = 4
        h.advance_to(20.0, -2.0); // held → 0 at t = 15, COB 0 from t = 13
        let t = h.finish(1.0); // back above the slack at t = 24
        assert_eq!(
            t.knots,
            vec![
                (0.0, 0.0),
                (4.0, 0.0),
                (10.0, 6.0),
                (13.0, 0.0),
                (20.0, 0.0),
                (24.0, 0.0)
            ]
        );
        assert_eq!(t.tail_slope, 1.0);
        assert_eq!(t.first_reach(6.0), Some(10.0));
        assert_eq!(t.first_reach(7.0), Some(31.0));
    }

    #[test]
    fn held_walk_finish_makes_the_drain_explicit() {
        let mut h = HeldWalk::new(0.0);
        h.advance_to(10.0, 10.0);
        let t = h.finish(-20.0);
        assert_eq!(t.knots.last(), Some(&(15.0, 0.0)));
        assert_eq!(t.tail_slope, 0.0);
        assert_eq!(t.peak(), 100.0);
    }

    #[test]
    fn fair_share_is_max_min() {
        assert_eq!(fair_share(200.0, 10.0, 100.0), (90.0, 10.0));
        assert_eq!(fair_share(30.0, 10.0, 100.0), (30.0, 10.0));
        assert_eq!(fair_share(30.0, f64::INFINITY, 100.0), (30.0, 70.0));
        assert_eq!(fair_share(200.0, f64::INFINITY, 100.0), (50.0, 50.0));
    }

    #[test]
    fn earliest_prefers_the_first_listed_on_ties() {
        let r = earliest(&[(Some(2.0), FirstLimit::Hard), (Some(2.0), FirstLimit::Soft)]);
        assert_eq!(r, (FirstLimit::Hard, Some(2.0)));
        let r = earliest(&[(None, FirstLimit::Hard), (Some(3.0), FirstLimit::Soft)]);
        assert_eq!(r, (FirstLimit::Soft, Some(3.0)));
        assert_eq!(
            earliest(&[(None, FirstLimit::Hard)]),
            (FirstLimit::None, None)
        );
    }
}
