//! Per-actor random streams derived from one master seed.
//!
//! Each actor's stream is a ChaCha8 generator keyed by `(master seed, actor name)`. Adding an
//! actor, or one more draw in one actor, never shifts the draws of any other actor: that is what
//! lets a sweep change one part of a model and compare like with like.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator every actor gets.
pub type ActorRng = ChaCha8Rng;

/// The 32-byte ChaCha key for an actor: the master seed and the actor's name, spread by a
/// stable mixing function (not std's hasher, whose output may change between Rust releases).
pub fn stream_seed(master_seed: u64, name: &str) -> [u8; 32] {
    let mut state = fnv1a(name.as_bytes()) ^ master_seed.rotate_left(17);
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
        state ^= master_seed.wrapping_add(i as u64);
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    key
}

/// A fresh generator for the actor called `name` under `master_seed`.
///
/// ```
/// use rand::Rng;
/// use replsim::engine::actor_rng;
/// let a = actor_rng(7, "primary").next_u64();
/// assert_eq!(a, actor_rng(7, "primary").next_u64());
/// assert_ne!(a, actor_rng(7, "replica").next_u64());
/// assert_ne!(a, actor_rng(8, "primary").next_u64());
/// ```
pub fn actor_rng(master_seed: u64, name: &str) -> ActorRng {
    ActorRng::from_seed(stream_seed(master_seed, name))
}

/// Derives a child seed from a parent seed and a list of integers (for example a sweep's
/// experiment seed, a point index and a repetition), stably and without correlation.
///
/// ```
/// use replsim::engine::derive_seed;
/// assert_eq!(derive_seed(1, &[2, 3]), derive_seed(1, &[2, 3]));
/// assert_ne!(derive_seed(1, &[2, 3]), derive_seed(1, &[3, 2]));
/// ```
pub fn derive_seed(parent: u64, path: &[u64]) -> u64 {
    let mut state = parent;
    let mut out = splitmix64(&mut state);
    for &part in path {
        state ^= part.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ out;
        out = splitmix64(&mut state);
    }
    out
}

/// 64-bit FNV-1a: a tiny, fully specified hash of bytes.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The SplitMix64 step: advances `state` and returns a well-mixed output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
