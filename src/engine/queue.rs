//! The event queue: a binary heap with a total order on `(time, seq)`.
//!
//! `seq` is a global insertion counter, so events at the same instant run in the order they
//! were scheduled. Timers carry a slot and a generation; cancelling bumps the slot's generation
//! and the stale entry is dropped when it reaches the top (lazy cancellation).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::SimTime;

/// "Not a timer": the entry cannot be cancelled.
pub(crate) const NO_TIMER: u32 = u32::MAX;

/// One scheduled delivery.
pub(crate) struct Entry<M> {
    pub(crate) time: SimTime,
    pub(crate) seq: u64,
    pub(crate) to: u32,
    pub(crate) timer: u32,
    pub(crate) generation: u32,
    pub(crate) msg: M,
}

impl<M> PartialEq for Entry<M> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<M> Eq for Entry<M> {}
impl<M> PartialOrd for Entry<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Entry<M> {
    /// Reversed, so that std's max-heap pops the earliest `(time, seq)` first.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// The pending events of one simulation.
pub(crate) struct EventQueue<M> {
    heap: BinaryHeap<Entry<M>>,
    next_seq: u64,
}

impl<M> EventQueue<M> {
    pub(crate) fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Inserts an entry and returns its sequence number.
    #[inline]
    pub(crate) fn push(&mut self, time: SimTime, to: u32, timer: u32, generation: u32, msg: M) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            time,
            seq,
            to,
            timer,
            generation,
            msg,
        });
    }

    #[inline]
    pub(crate) fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Entry<M>> {
        self.heap.pop()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every entry for which `keep` is false (the heap is rebuilt in O(n)). Removing
    /// entries never changes the order in which the others pop: that is the total order on
    /// `(time, seq)`.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Entry<M>) -> bool) {
        self.heap.retain(keep);
    }
}

/// One timer slot: its current generation and, for periodic timers, the period in ns.
#[derive(Clone, Copy)]
pub(crate) struct TimerSlot {
    pub(crate) generation: u32,
    pub(crate) period_ns: u64,
}

/// Timer slots with a free list; a slot is reused with a new generation after it fires or is
/// cancelled, so an old `TimerId` can never cancel a newer timer.
pub(crate) struct Timers {
    slots: Vec<TimerSlot>,
    free: Vec<u32>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Takes a slot; returns `(slot, generation)`.
    pub(crate) fn acquire(&mut self, period_ns: u64) -> (u32, u32) {
        if let Some(slot) = self.free.pop() {
            let s = &mut self.slots[slot as usize];
            s.period_ns = period_ns;
            return (slot, s.generation);
        }
        self.slots.push(TimerSlot {
            generation: 0,
            period_ns,
        });
        ((self.slots.len() - 1) as u32, 0)
    }

    /// The live slot for `(slot, generation)`, if that timer was neither cancelled nor spent.
    #[inline]
    pub(crate) fn live(&self, slot: u32, generation: u32) -> Option<TimerSlot> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.generation == generation)
            .copied()
    }

    /// Ends the timer in `slot` if its generation still matches; returns whether it did.
    pub(crate) fn release(&mut self, slot: u32, generation: u32) -> bool {
        match self.slots.get_mut(slot as usize) {
            Some(s) if s.generation == generation => {
                s.generation = s.generation.wrapping_add(1);
                self.free.push(slot);
                true
            }
            _ => false,
        }
    }
}
