//! Closed-form estimates (`valkey-model.md` §7): the §7.6 worked example, monotonicity in the
//! write rate and the limits, the backlog clamps, and the edge cases.

use proptest::prelude::*;
use replsim::analytic::{
    FirstLimit, OutcomeHint, Params, classic, classic_boundary_write_rate, dual,
    dual_boundary_write_rate, psync_after_overflow_possible,
};

const MB: f64 = 1e6;

fn close(actual: f64, expected: f64, tol: f64) -> bool {
    (actual - expected).abs() <= tol
}

fn assert_close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        close(actual, expected, tol),
        "{what}: {actual} is not within {tol} of {expected}"
    );
}

#[test]
fn worked_example_parameters_are_the_documented_ones() {
    let p = Params::worked_example();
    assert!(p.validate().is_ok());
    assert_eq!(p.write_rate_bps, 10.0 * MB);
    assert_eq!(p.rdb_bytes, 2000.0 * MB);
    assert_eq!(p.h_eff_bytes(), 256.0 * MB);
    assert_eq!(p.soft_eff_bytes(), Some(64.0 * MB));
    assert_eq!(p.events_interval_bytes, 2.0 * 1024.0 * 1024.0);
    // c = 4 · 16 KiB · 100 MB/s / 2 MiB = L/32.
    assert_eq!(p.load_read_cap_bps(), 3.125 * MB);
}

#[test]
fn worked_example_classic() {
    let e = classic(&Params::worked_example());
    assert_eq!(e.t_transfer, 20.0);
    assert_eq!(e.t_load, 20.0);
    assert!(!e.load_overlaps_transfer);
    assert_close(e.t_sync_end, 40.001, 1e-9, "t_sync_end");
    assert_close(e.cob_at_sync_end, 400.01 * MB, 1.0, "COB at sync end");
    assert_close(e.t_hard.unwrap(), 25.6, 1e-9, "hard trip");
    // Above 64 MB from 6.4 s to 40 + 336/90 ≈ 43.7 s: 37 s < 61 s, no soft trip.
    assert_eq!(e.t_soft, None);
    assert_eq!(e.first_limit, FirstLimit::Hard);
    assert_eq!(e.first_limit_at, e.t_hard);
    assert_close(e.max_sustainable_write_rate, 6.4 * MB, 0.001 * MB, "W*");
    assert_eq!(e.outcome_hint, OutcomeHint::HardOverflowFullSync);
    assert_eq!(e.outcome_hint.code(), "O2");
    assert!(e.converges);
}

#[test]
fn classic_soft_trip_is_t_up_plus_ts_plus_one_second() {
    // Ts = 30 s: up at 6.4 s, still above at 37.4 s (down at ≈ 43.7 s).
    let p = Params {
        cob_soft_secs: 30.0,
        cob_hard_bytes: 0.0,
        ..Params::worked_example()
    };
    let e = classic(&p);
    assert_close(e.t_soft.unwrap(), 6.4 + 30.0 + 1.0, 1e-9, "soft trip");
    assert_eq!(e.first_limit, FirstLimit::Soft);
    assert_eq!(e.outcome_hint, OutcomeHint::SoftOverflowFullSync);
    // Ts = 37 s: the high period (≈ 37.3 s) is shorter than Ts + 1 s.
    let e = classic(&Params {
        cob_soft_secs: 37.0,
        ..p
    });
    assert_eq!(e.t_soft, None);
    assert_eq!(e.first_limit, FirstLimit::None);
}

#[test]
fn worked_example_dual() {
    let e = dual(&Params::worked_example());
    assert_eq!(e.t_psync, 0.003);
    assert!(!e.o6_rdb_client_overflow);
    assert_close(e.t_download, 22.2, 0.05, "T_x'");
    assert_close(
        e.local_buffer_at_download_end,
        222.0 * MB,
        1.0 * MB,
        "local buffer at download end",
    );
    assert!((3.1 * MB..=3.3 * MB).contains(&e.load_read_cap_bps));
    assert_eq!(e.load_read_cap_bps, 3.125 * MB);
    assert_close(e.t_local_limit.unwrap(), 33.0, 0.3, "O5");
    assert_eq!(e.local_buffer_at_load_end, 256.0 * MB);
    assert_close(e.t_load_end, 42.2, 0.05, "load end");
    assert_close(e.t_apply, 1.28, 1e-9, "T_a");
    // §7.6 rounds to ≈ 176 MB; the unrounded walk gives ≈ 175 MB.
    assert_close(e.peak_primary_cob, 176.0 * MB, 0.03 * 176.0 * MB, "peak");
    assert_eq!(e.t_hard, None);
    assert_eq!(e.t_soft, None);
    assert_eq!(e.first_limit, FirstLimit::None);
    assert_eq!(e.outcome_hint, OutcomeHint::SyncCompletes);
    assert_eq!(e.outcome_hint.code(), "O1");
}

#[test]
fn worked_example_dual_peak_matches_the_section_7_5_formula() {
    // Peak ≈ W·(T_x' + T_l + T_a − t_p) − Lb_end − Q.
    let p = Params::worked_example();
    let e = dual(&p);
    let w = p.write_rate_bps;
    let formula =
        w * (e.t_apply_end - e.t_psync) - e.local_buffer_at_load_end - p.socket_slack_bytes;
    assert_close(e.peak_primary_cob, formula, 1.0, "peak vs §7.5 formula");
}

#[test]
fn dual_soft_interval_matches_the_worked_example() {
    // §7.6: ≥ 64 MB from ≈ 32 s to ≈ 45 s. With Ts = 11 s (needs 12 s) it trips at ≈ 44 s,
    // with Ts = 13 s it does not.
    let p = Params {
        cob_soft_secs: 11.0,
        ..Params::worked_example()
    };
    let e = dual(&p);
    let up = e.t_soft.unwrap() - 12.0;
    assert_close(up, 32.0, 0.2, "main-channel COB reaches 64 MB");
    assert_eq!(e.first_limit, FirstLimit::Soft);
    assert_eq!(e.outcome_hint, OutcomeHint::SoftOverflowFullSync);
    let e = dual(&Params {
        cob_soft_secs: 13.0,
        ..p
    });
    assert_eq!(e.t_soft, None);
}

#[test]
fn worked_example_dual_with_c_ignored_does_not_trip() {
    // A tiny events interval makes c ≫ W: the replica keeps reading during the load.
    let p = Params {
        events_interval_bytes: 1024.0,
        ..Params::worked_example()
    };
    let e = dual(&p);
    assert!(e.load_read_cap_bps > p.write_rate_bps);
    // §7.5 simple case: trip iff W·(T_x' + T_l) ≥ R + Q + H_eff; 10·42.2 = 422 < 516.
    let budget = p.replica_cob_hard_bytes + p.socket_slack_bytes + p.h_eff_bytes();
    assert!(p.write_rate_bps * e.t_load_end < budget);
    assert_close(
        e.t_local_limit.unwrap(),
        p.psync_delay_secs + 25.6,
        1e-6,
        "O5 inside the download",
    );
    assert_eq!(e.t_hard, None);
    assert_eq!(e.first_limit, FirstLimit::None);
    assert_eq!(e.outcome_hint, OutcomeHint::SyncCompletes);
}

#[test]
fn dual_trips_once_the_local_buffer_is_full_and_q_plus_h_eff_more_is_written() {
    // §7.5: with the replica stopped after t_R, the primary trips at t_R + (Q + H_eff)/W.
    let p = Params::worked_example().with_write_rate(20.0 * MB);
    let e = dual(&p);
    let t_r = e.t_local_limit.unwrap();
    assert_close(t_r, p.psync_delay_secs + 256.0 / 20.0, 1e-6, "t_R");
    assert!(t_r < e.t_download);
    assert_close(e.t_hard.unwrap(), t_r + 260.0 / 20.0, 1e-6, "hard trip");
    assert_eq!(e.first_limit, FirstLimit::Hard);
    assert_eq!(e.outcome_hint, OutcomeHint::HardOverflowFullSync);
}

#[test]
fn dual_with_unbounded_local_buffer_still_trips_during_a_throttled_load() {
    // R = 0 (unbounded) but W > c: the primary accumulates (W − c) during the load
    // (§7.5 [derived]).
    let p = Params {
        replica_cob_hard_bytes: 0.0,
        ..Params::worked_example().with_write_rate(40.0 * MB)
    };
    let e = dual(&p);
    assert_eq!(e.t_local_limit, None);
    let expected = e.t_download + (256.0 + 4.0) * MB / (40.0 * MB - 3.125 * MB);
    assert_close(e.t_hard.unwrap(), expected, 1e-6, "hard trip in the load");
}

#[test]
fn dual_trip_time_is_not_monotone_in_w() {
    // A counterexample to "raising W never delays t_hard" in dual-channel mode: with R
    // unbounded and W > c the trip is in the load, which starts at S/(B − W); raising W
    // lengthens the download more than it speeds up the load-time growth.
    let p = Params {
        replica_cob_hard_bytes: 0.0,
        ..Params::worked_example()
    };
    let t40 = dual(&p.with_write_rate(40.0 * MB)).t_hard.unwrap();
    let t41 = dual(&p.with_write_rate(41.0 * MB)).t_hard.unwrap();
    assert!(t41 > t40, "{t41} vs {t40}");
    // Classic has no such effect.
    let c40 = classic(&p.with_write_rate(40.0 * MB)).t_hard.unwrap();
    let c41 = classic(&p.with_write_rate(41.0 * MB)).t_hard.unwrap();
    assert!(c41 <= c40);
}

#[test]
fn dual_diskless_load_has_no_download_window() {
    let p = Params {
        diskless_load: true,
        ..Params::worked_example()
    };
    let e = dual(&p);
    assert!(e.load_overlaps_transfer);
    assert_eq!(e.t_download, 0.0);
    // The blocking load runs at min(G, L, B − stream) = 100 MB/s minus c.
    assert_close(e.t_load_end, 2000.0 / (100.0 - 3.125), 0.05, "load end");
    // The replica reads at c from t_p: O5 at t_p + R/c ≈ 82 s, after the load.
    assert_eq!(e.t_local_limit, None);
    // (W − c) for ≈ 20.6 s then W for T_a: ≈ 142 + ≈ 3 − Q.
    assert!(e.peak_primary_cob < e.t_load_end * 10.0 * MB);
    // Classic diskless load: T_x + T_l → S / min(B, G, L), reported as a transfer.
    let c = classic(&p);
    assert!(c.load_overlaps_transfer);
    assert_eq!((c.t_transfer, c.t_load), (20.0, 0.0));
}

#[test]
fn classic_disk_based_primary_gets_q_back_after_send_bulk() {
    let p = Params {
        disk_based_primary: true,
        ..Params::worked_example().with_write_rate(5.0 * MB)
    };
    let e = classic(&p);
    // S/G + S/B = 10 + 20 s, then T_l = 20 s.
    assert_eq!(e.t_transfer, 30.0);
    assert_close(
        e.cob_at_sync_end,
        5.0 * 50.001 * MB - 4.0 * MB,
        1.0,
        "COB at sync end",
    );
    assert_eq!(e.t_hard, None);
    let w_star = classic_boundary_write_rate(&p);
    assert_close(w_star, 260.0 * MB / 50.001, 1.0, "boundary");
    assert!(
        classic(&p.with_write_rate(w_star * 1.0001))
            .t_hard
            .is_some()
    );
    assert!(
        classic(&p.with_write_rate(w_star * 0.9999))
            .t_hard
            .is_none()
    );
}

#[test]
fn hard_limit_below_the_backlog_is_clamped() {
    let p = Params {
        cob_hard_bytes: 1.0 * MB,
        backlog_bytes: 100.0 * MB,
        ..Params::worked_example()
    };
    assert_eq!(p.h_eff_bytes(), 100.0 * MB);
    assert_close(classic(&p).t_hard.unwrap(), 10.0, 1e-9, "trip at K/W");
    // H above K is used as is.
    let p = Params {
        backlog_bytes: 1.0 * MB,
        ..Params::worked_example()
    };
    assert_eq!(p.h_eff_bytes(), 256.0 * MB);
}

#[test]
fn soft_limit_below_the_backlog_is_clamped_as_in_valkey_9_1() {
    let p = Params {
        cob_hard_bytes: 0.0,
        cob_soft_bytes: 5.0 * MB,
        cob_soft_secs: 10.0,
        backlog_bytes: 100.0 * MB,
        ..Params::worked_example()
    };
    assert_eq!(p.soft_eff_bytes(), Some(100.0 * MB));
    // The COB reaches K (not Hs) at 10 s; trip at 10 + 10 + 1 s.
    assert_close(classic(&p).t_soft.unwrap(), 21.0, 1e-9, "soft trip");
    // Soft limit off stays off.
    let p = Params {
        cob_soft_bytes: 0.0,
        ..p
    };
    assert_eq!(p.soft_eff_bytes(), None);
    assert_eq!(classic(&p).t_soft, None);
}

#[test]
fn hard_overflow_with_continuous_writes_never_allows_a_partial_resync() {
    // §7.3: the lag is ≥ H_eff ≥ K, so a hard trip is O2 even when H < K.
    let p = Params {
        cob_hard_bytes: 1.0 * MB,
        ..Params::worked_example()
    };
    assert_eq!(classic(&p).outcome_hint, OutcomeHint::HardOverflowFullSync);
    let p = p.with_write_rate(30.0 * MB);
    assert_eq!(dual(&p).outcome_hint, OutcomeHint::HardOverflowFullSync);
    assert!(psync_after_overflow_possible(10.0 * MB, 10.0 * MB));
    assert!(!psync_after_overflow_possible(10.0 * MB + 1.0, 10.0 * MB));
}

#[test]
fn unlimited_hard_limit_never_trips() {
    for w in [1.0, 10.0, 99.0, 150.0] {
        let p = Params {
            cob_hard_bytes: 0.0,
            cob_soft_bytes: 0.0,
            ..Params::worked_example().with_write_rate(w * MB)
        };
        let (c, d) = (classic(&p), dual(&p));
        assert_eq!((c.t_hard, c.first_limit), (None, FirstLimit::None));
        assert_eq!((d.t_hard, d.first_limit), (None, FirstLimit::None));
        assert!(!d.o6_rdb_client_overflow);
        let expected = if w < 100.0 {
            OutcomeHint::SyncCompletes
        } else {
            OutcomeHint::NeverConverges
        };
        assert_eq!((c.outcome_hint, d.outcome_hint), (expected, expected));
        assert_eq!(classic_boundary_write_rate(&p), f64::INFINITY);
        assert_eq!(dual_boundary_write_rate(&p), f64::INFINITY);
    }
}

#[test]
fn no_writes_never_trip() {
    let p = Params::worked_example().with_write_rate(0.0);
    let (c, d) = (classic(&p), dual(&p));
    assert_eq!(
        (c.t_hard, c.t_soft, c.first_limit),
        (None, None, FirstLimit::None)
    );
    assert_eq!(
        (d.t_hard, d.t_soft, d.first_limit),
        (None, None, FirstLimit::None)
    );
    assert_eq!(c.peak_cob, 0.0);
    assert_eq!(d.peak_primary_cob, 0.0);
    assert_eq!(d.t_local_limit, None);
    // The RDB gets the whole link: S / min(B, G).
    assert_close(d.t_download, 20.0, 1e-9, "T_x' without writes");
    assert_eq!(c.outcome_hint, OutcomeHint::SyncCompletes);
    assert_eq!(d.outcome_hint, OutcomeHint::SyncCompletes);
}

#[test]
fn classic_with_a_link_slower_than_the_writes_trips_after_the_sync() {
    // §7.4 / O9: B ≤ W never converges; the COB keeps growing at W − B once online.
    let p = Params {
        cob_hard_bytes: 10_000.0 * MB,
        cob_soft_bytes: 0.0,
        ..Params::worked_example()
    };
    let p = Params {
        link_bps: 8.0 * MB,
        ..p
    };
    let e = classic(&p);
    assert!(!e.converges);
    let t_hard = e.t_hard.unwrap();
    assert!(t_hard > e.t_sync_end);
    let expected = e.t_sync_end + (10_000.0 * MB - e.cob_at_sync_end) / (2.0 * MB);
    assert_close(t_hard, expected, 1e-6, "trip after the sync");
    assert_eq!(e.outcome_hint, OutcomeHint::NeverConverges);
    assert_eq!(e.outcome_hint.code(), "O9");
    // The boundary is then B itself.
    assert_eq!(classic_boundary_write_rate(&p), 8.0 * MB);
    // W = B exactly: the COB stays at its peak, no finite-time hard trip, still O9.
    let e = classic(&p.with_write_rate(8.0 * MB));
    assert_eq!(e.t_hard, None);
    assert_eq!(e.outcome_hint, OutcomeHint::NeverConverges);
}

#[test]
fn o6_when_the_psync_is_slow() {
    let p = Params {
        psync_delay_secs: 30.0,
        ..Params::worked_example()
    };
    let e = dual(&p);
    assert!(e.o6_rdb_client_overflow);
    assert_close(e.t_rdb_client_hard.unwrap(), 25.6, 1e-9, "O6 trip");
    assert_eq!(e.first_limit, FirstLimit::Hard);
    assert_eq!(e.first_limit_at, e.t_rdb_client_hard);
    assert_eq!(e.outcome_hint, OutcomeHint::RdbChannelOverflow);
    assert_eq!(e.outcome_hint.code(), "O6");
}

#[test]
fn classic_boundary_is_h_eff_over_the_sync_time() {
    let p = Params {
        rtt_secs: 0.0,
        ..Params::worked_example()
    };
    let e = classic(&p);
    assert_eq!(
        classic_boundary_write_rate(&p),
        p.h_eff_bytes() / (e.t_transfer + e.t_load)
    );
    let p = Params::worked_example();
    let e = classic(&p);
    assert_eq!(
        classic_boundary_write_rate(&p),
        p.h_eff_bytes() / (e.t_transfer + e.t_load + p.rtt_secs)
    );
    assert_eq!(
        e.max_sustainable_write_rate,
        classic_boundary_write_rate(&p)
    );
}

#[test]
fn dual_boundary_separates_trips_from_no_trips() {
    let p = Params::worked_example();
    let w = dual_boundary_write_rate(&p);
    assert!(dual(&p.with_write_rate(w * 1.000_01)).t_hard.is_some());
    assert!(dual(&p.with_write_rate(w * 0.999_99)).t_hard.is_none());
    // Above the worked example's W, and above the classic boundary (§7.5: budget R + Q).
    assert!(w > 10.0 * MB && w > classic_boundary_write_rate(&p));
}

fn arb_params() -> impl Strategy<Value = Params> {
    (
        (
            1.0..50.0f64,
            100.0..5000.0f64,
            20.0..200.0f64,
            20.0..400.0f64,
        ),
        (20.0..200.0f64, 20.0..400.0f64, 1.0..100.0f64, 0.0..500.0f64),
        (0.0..200.0f64, 0.0..120.0f64, 0.0..500.0f64, 0.0..8.0f64),
        (
            prop::sample::select(vec![1024.0, 65536.0, 2097152.0]),
            any::<bool>(),
            any::<bool>(),
            0.0..0.01f64,
        ),
    )
        .prop_map(
            |((w, s, b, g), (l, a, k, h), (hs, ts, r, q), (i, dl, dp, rtt))| Params {
                write_rate_bps: w * MB,
                rdb_bytes: s * MB,
                link_bps: b * MB,
                gen_bps: g * MB,
                load_bps: l * MB,
                apply_bps: a * MB,
                backlog_bytes: k * MB,
                cob_hard_bytes: h * MB,
                cob_soft_bytes: hs * MB,
                cob_soft_secs: ts,
                replica_cob_hard_bytes: r * MB,
                socket_slack_bytes: q * MB,
                events_interval_bytes: i,
                diskless_load: dl,
                disk_based_primary: dp,
                rtt_secs: rtt,
                psync_delay_secs: 3.0 * rtt,
            },
        )
}

/// `later` is no earlier than `earlier`, counting `None` (never) as +∞.
fn not_earlier(later: Option<f64>, earlier: Option<f64>) -> bool {
    match (later, earlier) {
        (_, None) => later.is_none(),
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a >= b * (1.0 - 1e-12),
    }
}

proptest! {
    #[test]
    fn classic_raising_w_never_delays_the_hard_trip(p in arb_params(), factor in 1.0..3.0f64) {
        let slow = classic(&p);
        let fast = classic(&p.with_write_rate(p.write_rate_bps * factor));
        prop_assert!(not_earlier(slow.t_hard, fast.t_hard), "{:?} vs {:?}", slow.t_hard, fast.t_hard);
    }

    #[test]
    fn dual_raising_w_never_removes_a_hard_trip(p in arb_params(), factor in 1.0..3.0f64) {
        let slow = dual(&p);
        let fast = dual(&p.with_write_rate(p.write_rate_bps * factor));
        prop_assert!(slow.t_hard.is_none() || fast.t_hard.is_some());
    }

    #[test]
    fn raising_h_never_brings_the_hard_trip_earlier(p in arb_params(), extra in 0.0..500.0f64) {
        prop_assume!(p.cob_hard_bytes > 0.0);
        let higher = Params { cob_hard_bytes: p.cob_hard_bytes + extra * MB, ..p };
        prop_assert!(not_earlier(classic(&higher).t_hard, classic(&p).t_hard));
        prop_assert!(not_earlier(dual(&higher).t_hard, dual(&p).t_hard));
    }

    #[test]
    fn first_limit_is_the_earliest_trip(p in arb_params()) {
        let c = classic(&p);
        let earliest = [c.t_hard, c.t_soft].into_iter().flatten().fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))));
        prop_assert_eq!(c.first_limit_at, earliest);
        prop_assert_eq!(c.first_limit == FirstLimit::None, earliest.is_none());
        let d = dual(&p);
        let earliest = [d.t_rdb_client_hard, d.t_hard, d.t_soft].into_iter().flatten().fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))));
        prop_assert_eq!(d.first_limit_at, earliest);
    }

    #[test]
    fn classic_boundary_separates_trips(p in arb_params()) {
        prop_assume!(p.cob_hard_bytes > 0.0);
        let w = classic_boundary_write_rate(&p);
        prop_assert!(classic(&p.with_write_rate(w * 0.999)).t_hard.is_none());
        prop_assert!(classic(&p.with_write_rate(w * 1.001)).t_hard.is_some());
    }

    #[test]
    fn dual_timeline_is_ordered_and_finite(p in arb_params()) {
        prop_assume!(p.validate().is_ok());
        let d = dual(&p);
        prop_assert!(d.t_download <= d.t_load_end);
        prop_assert!(d.t_load_end <= d.t_apply_end);
        prop_assert!(d.peak_primary_cob.is_finite() && d.peak_primary_cob >= 0.0);
        prop_assert!(d.local_buffer_at_load_end <= p.replica_cap_bytes());
        prop_assert!(d.local_buffer_at_download_end <= d.local_buffer_at_load_end);
        if let Some(t_r) = d.t_local_limit {
            prop_assert!(t_r >= d.t_psync && t_r <= d.t_load_end);
        }
    }
}
