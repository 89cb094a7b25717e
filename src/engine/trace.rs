//! The trace digest and the optional JSON-lines trace.
//!
//! Every processed event folds `(time, actor, message kind)` into a 64-bit digest with a fixed,
//! documented function, so two runs of the same model and seed give the same digest on any
//! machine, thread count and Rust release.

use std::io::Write;

use super::SimTime;

/// A running 64-bit digest of processed events.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TraceDigest(u64);

const DIGEST_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for TraceDigest {
    fn default() -> Self {
        TraceDigest(0x6a09_e667_f3bc_c908)
    }
}

impl TraceDigest {
    /// Folds one event in. Two multiply-rotate rounds per event: cheap enough for the hot loop,
    /// and every bit of time, actor and kind reaches every bit of the state.
    #[inline]
    pub fn fold(&mut self, time: SimTime, actor: u32, kind: u32) {
        let word = (u64::from(actor) << 32) | u64::from(kind);
        let h = (self.0 ^ time.as_nanos())
            .wrapping_mul(DIGEST_MUL)
            .rotate_left(29);
        self.0 = (h ^ word).wrapping_mul(DIGEST_MUL).rotate_left(31);
    }

    /// The digest value, finalised so that nearby states give unrelated outputs.
    pub fn value(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }

    /// The digest as the 16-hex-digit string used in run records.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }
}

/// Where the JSON-lines trace goes when enabled: any writer (a file opened by the caller, a
/// buffer in a test). The engine itself never opens files.
pub(crate) struct TraceSink {
    out: Box<dyn Write>,
    pub(crate) error: Option<std::io::Error>,
}

impl TraceSink {
    pub(crate) fn new(out: Box<dyn Write>) -> Self {
        TraceSink { out, error: None }
    }

    /// One processed event: `{"t_ns":…,"actor":"…","kind":"…"}`.
    pub(crate) fn event(&mut self, time: SimTime, actor: &str, kind: &str) {
        let line = serde_json::json!({"t_ns": time.as_nanos(), "actor": actor, "kind": kind});
        self.write_line(&line);
    }

    /// A note an actor attached with `Ctx::trace`.
    pub(crate) fn note(&mut self, time: SimTime, actor: &str, note: &str) {
        let line = serde_json::json!({"t_ns": time.as_nanos(), "actor": actor, "note": note});
        self.write_line(&line);
    }

    fn write_line(&mut self, line: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error = Some(e);
        }
    }

    pub(crate) fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
    }
}
