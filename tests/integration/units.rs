//! Human units: durations, sizes and rates parse, print and round-trip; garbage is rejected.

use proptest::prelude::*;
use replsim::engine::SimDuration;
use replsim::units::{ByteSize, Rate};

#[test]
fn documented_examples_parse() {
    assert_eq!(
        "250ms".parse::<SimDuration>().unwrap(),
        SimDuration::from_millis(250)
    );
    assert_eq!(
        "2m".parse::<SimDuration>().unwrap(),
        SimDuration::from_secs(120)
    );
    assert_eq!(
        "3h".parse::<SimDuration>().unwrap(),
        SimDuration::from_secs(3 * 3600)
    );
    assert_eq!("10mb".parse::<ByteSize>().unwrap().bytes(), 10 << 20);
    assert_eq!("256MiB".parse::<ByteSize>().unwrap().bytes(), 256 << 20);
    assert_eq!(
        "1gbit".parse::<Rate>().unwrap().bytes_per_sec(),
        125_000_000
    );
    assert_eq!("10MiB/s".parse::<Rate>().unwrap().bytes_per_sec(), 10 << 20);
}

#[test]
fn garbage_is_rejected_with_a_reason() {
    let err = "5 parsecs".parse::<SimDuration>().unwrap_err().to_string();
    assert!(err.contains("unknown time unit"), "{err}");
    let err = "-3mb".parse::<ByteSize>().unwrap_err().to_string();
    assert!(err.contains("negative"), "{err}");
    let err = "12 furlongs".parse::<ByteSize>().unwrap_err().to_string();
    assert!(err.contains("valid:"), "{err}");
}

proptest! {
    #[test]
    fn durations_round_trip(ns in any::<u64>()) {
        let d = SimDuration::from_nanos(ns);
        prop_assert_eq!(d.to_string().parse::<SimDuration>().unwrap(), d);
    }

    #[test]
    fn sizes_round_trip(b in any::<u64>()) {
        let s = ByteSize::new(b);
        prop_assert_eq!(s.to_string().parse::<ByteSize>().unwrap(), s);
    }

    #[test]
    fn rates_round_trip(b in 0u64..(u64::MAX / 8)) {
        let r = Rate::new(b);
        prop_assert_eq!(r.to_string().parse::<Rate>().unwrap(), r);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,20}") {
        let _ = s.parse::<SimDuration>();
        let _ = s.parse::<ByteSize>();
        let _ = s.parse::<Rate>();
    }
}
