//! `replsim calibrate`: measure this machine's loopback for `models/loopback-calibrated.toml`.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::validate::calibrate::{CalibrateOptions, Calibration, calibrate};
use crate::validate::find_server;

/// Arguments of `replsim calibrate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim calibrate\n  replsim calibrate --keys 500000 --value 1000 --runs 5 --json\n\nStarts real valkey-server processes on 127.0.0.1 (found like `replsim validate` finds them) and measures: the fork child's cost per key and per byte (BGSAVE of two datasets), fork time, a replica's load cost per key and per byte, the extra cost of an rdb-key-save-delay / key-load-delay sleep, the gap before a 9.1 replica notices the end of its download, and the bytes the kernel holds for a stopped streaming replica. Prints them and the [nodes.perf] / [[links]] values to put in models/loopback-calibrated.toml and validation/*.toml. Takes a few minutes; run it on an idle machine."
)]
pub struct CalibrateArgs {
    /// The valkey-server binary to run.
    #[arg(long, value_name = "PATH")]
    pub valkey_server: Option<PathBuf>,
    /// Keys of the datasets.
    #[arg(long, default_value_t = 200_000)]
    pub keys: u64,
    /// Value size of the main dataset (bytes); the second uses a tenth.
    #[arg(long, default_value_t = 1_000)]
    pub value: u64,
    /// Repetitions of each measurement (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Print the measurements as JSON only.
    #[arg(long)]
    pub json: bool,
    /// Measure the HTB-shaped veth link of `validate --shaped` instead of loopback: one TCP
    /// stream's payload, two streams' shares, and what a stopped replica absorbs, at each rate
    /// of --rates. Needs root and iproute2 (exit 3 otherwise).
    #[arg(long)]
    pub shaped: bool,
    /// Line rates for --shaped, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100mbit,200mbit")]
    pub rates: Vec<crate::units::Rate>,
}

/// Runs the calibration.
pub fn run(args: CalibrateArgs) -> Result<(), CliError> {
    if args.keys == 0 || args.value == 0 || args.runs == 0 {
        return Err(CliError::bad_input(
            "--keys, --value and --runs must be at least 1",
        ));
    }
    let binary = find_server(args.valkey_server.as_deref(), None).map_err(CliError::runtime)?;
    crate::validate::server::install_interrupt_handler();
    if args.shaped {
        return run_shaped(&args, &binary);
    }
    let work = std::env::temp_dir().join(format!("replsim-calibrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    crate::validate::server::remove_on_interrupt(&work);
    let options = CalibrateOptions {
        keys: args.keys,
        value: args.value,
        runs: args.runs,
    };
    let json = args.json;
    let mut progress = |what: &str| {
        if !json {
            eprintln!("replsim: calibrate: {what}");
        }
    };
    let result = calibrate(&binary, &work, &options, &mut progress);
    let _ = std::fs::remove_dir_all(&work);
    let c = result.map_err(|e| CliError::runtime(format!("calibration failed: {e}")))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
        return Ok(());
    }
    print_report(&c, &binary.version_line);
    Ok(())
}

fn run_shaped(
    args: &CalibrateArgs,
    binary: &crate::validate::ServerBinary,
) -> Result<(), CliError> {
    use crate::validate::netns::{ShapedError, check_available};
    if args.rates.is_empty() || args.rates.iter().any(|r| r.bytes_per_sec() == 0) {
        return Err(CliError::bad_input("--rates must list rates above 0"));
    }
    match check_available() {
        Err(ShapedError::Unavailable(why)) => {
            return Err(CliError::skipped(format!(
                "calibrate --shaped skipped: {why}"
            )));
        }
        Err(ShapedError::Failed(why)) => return Err(CliError::runtime(why)),
        Ok(()) => {}
    }
    let work = std::env::temp_dir().join(format!("replsim-calibrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    crate::validate::server::remove_on_interrupt(&work);
    let json = args.json;
    let mut progress = |what: &str| {
        if !json {
            eprintln!("replsim: calibrate --shaped: {what}");
        }
    };
    let result = crate::validate::shaped_calibrate::calibrate_shaped(
        binary,
        &work,
        &args.rates,
        &mut progress,
    );
    let _ = std::fs::remove_dir_all(&work);
    let rates = result.map_err(|e| CliError::runtime(format!("calibration failed: {e}")))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rates).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "Shaped-link calibration (HTB on veth between network namespaces) against {}",
        binary.version_line
    );
    for r in &rates {
        let mb = |b: f64| b / 1e6;
        println!("  {} mbit line rate", r.line_bits_per_sec / 1_000_000);
        println!(
            "    one stream        {:.3} MB/s payload = {:.4} of the line rate (1448/1514 = 0.9564)",
            mb(r.one_stream_bytes_per_sec),
            r.payload_fraction
        );
        println!(
            "    two greedy        {:.3} + {:.3} MB/s",
            mb(r.two_greedy_bytes_per_sec[0]),
            mb(r.two_greedy_bytes_per_sec[1])
        );
        println!(
            "    limited + greedy  {:.3} MB/s (asked {:.3}) + {:.3} MB/s",
            mb(r.limited_got_bytes_per_sec),
            mb(r.limited_target_bytes_per_sec),
            mb(r.greedy_beside_limited_bytes_per_sec)
        );
        println!(
            "    stopped replica   {} bytes absorbed: primary Send-Q {}, replica Recv-Q {}, HTB queue {}",
            r.stalled_absorbed_bytes,
            r.stalled_send_q_bytes,
            r.stalled_recv_q_bytes,
            r.stalled_qdisc_bytes
        );
    }
    Ok(())
}

fn print_report(c: &Calibration, version: &str) {
    println!("Loopback calibration against {version}");
    println!(
        "  fork child      {:.2} µs/key + {:.0} MB/s   (RDB {} bytes, fork {:.1} ms/GiB)",
        c.save_us_per_key,
        c.save_bytes_per_sec / 1e6,
        c.rdb_bytes,
        c.fork_ms_per_gib
    );
    println!(
        "  replica load    {:.2} µs/key + {:.0} MB/s",
        c.load_us_per_key,
        c.load_bytes_per_sec / 1e6
    );
    println!(
        "  sleep overhead  rdb-key-save-delay +{:.0} µs, key-load-delay +{:.0} µs",
        c.save_delay_overhead_us, c.load_delay_overhead_us
    );
    println!(
        "  download end    noticed {:.2} s after the last byte; diskless transfer {:.2} s",
        c.download_end_gap_s, c.transfer_s
    );
    println!(
        "  stalled replica {} bytes held by the kernel",
        c.stalled_kernel_bytes
    );
    let mb = |b: f64| format!("{}", (b / 1e6).round().max(1.0) as u64);
    let us = |v: f64| format!("{:.1}us", v.max(0.0));
    println!("\n[nodes.perf]");
    println!(
        "rdb-save-rate = \"{}mb/s\"",
        mb(c.save_bytes_per_sec.min(1e12))
    );
    println!("rdb-save-per-key = \"{}\"", us(c.save_us_per_key));
    println!(
        "rdb-load-rate = \"{}mb/s\"",
        mb(c.load_bytes_per_sec.min(1e12))
    );
    println!("rdb-load-per-key = \"{}\"", us(c.load_us_per_key));
    println!(
        "key-delay-overhead = \"{}\"",
        us((c.save_delay_overhead_us + c.load_delay_overhead_us) / 2.0)
    );
    println!("fork-time-per-gib = \"{:.0}ms\"", c.fork_ms_per_gib);
    println!("allocator = \"libc\"            # or jemalloc: see `valkey-server --version`");
    println!("download-polled = true");
    let send = 4u64 << 20;
    let receive = c.stalled_kernel_bytes.saturating_sub(send).max(64 << 10);
    println!(
        "\n[[links]]   # the kernel held {} bytes: a 4 MiB send buffer + the rest as the window",
        c.stalled_kernel_bytes
    );
    println!("send-buffer = \"{}\"", crate::units::ByteSize::new(send));
    println!(
        "receive-buffer = \"{}\"",
        crate::units::ByteSize::new(receive)
    );
}
