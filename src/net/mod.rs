//! The network substrate: hosts, links, TCP-like connections, faults. It knows nothing of Valkey.
//!
//! # Model
//!
//! * **Links** ([`LinkSpec`]) have a line rate per direction (full duplex), a one-way latency,
//!   optional per-message jitter drawn from the link's own random stream, and a framing
//!   overhead (default 1448/1514, a full TCP segment on 1500-MTU Ethernet), so that the payload
//!   rate of `"100mbit"` is what a real TCP stream gets.
//! * **Connections** carry two ordered byte streams. Each direction is a pipeline of five
//!   monotone integer counters — written, accepted into the send buffer, sent, arrived in the
//!   receive buffer, read — and every level is a difference of two of them, so bytes are
//!   conserved exactly. Bulk data is a **fluid** with piecewise-constant rates: an event happens
//!   only when a rate changes or a level reaches a bound, at an instant computed from the rates.
//!   Moving 10 GiB costs a handful of events.
//! * **Back-pressure**: a reader that stops lets its receive buffer (the window) fill, then the
//!   sender's socket buffer, then the writer is blocked: a buffered writer keeps the bytes in its
//!   application queue, a blocking producer slows to what the socket accepts.
//! * **Fair share**: concurrent flows on one link direction get a max-min fair share
//!   ([`max_min_share`]); a flow limited by its sender, its reader or its window leaves the rest
//!   to the others.
//! * **Arrivals** are the sends delayed by the latency: each change of a flow's send rate pushes
//!   a breakpoint onto that flow's delay line.
//! * **Control messages** are discrete: serialized behind earlier messages on the link
//!   direction, then latency plus jitter. They travel out of band of the bulk streams.
//! * **Faults**: link down/up (a partition freezes everything on the link: nothing is sent,
//!   nothing in flight arrives, and on healing the flight resumes shifted by the outage —
//!   retransmission without backoff), latency and bandwidth changes, connection resets. The
//!   applications learn of a partition only through their own timeouts.
//!
//! # Socket buffers and queues for a real link
//!
//! A connection's `send-buffer` + `receive-buffer` (per link in a model file) are the bytes a
//! receiver that stops reading lets its sender write before the sender's application buffer (a
//! primary's COB) starts to grow. Measured with `replsim calibrate --shaped` on Linux 6.x
//! (default sysctls, a 100–200 mbit HTB-shaped veth; see `models/shaped-100mbit-calibrated.toml`):
//!
//! * **send buffer**: the sender's Send-Q reached ~3.0 MB, the usable part of the autotuned
//!   `net.ipv4.tcp_wmem` maximum (4 MiB by default; about 3/4 of it holds payload). Give
//!   `send-buffer = 3/4 × tcp_wmem[2]` (`"3000k"` for the default), or 3/4 of `SO_SNDBUF` where an
//!   application fixes it (Valkey does not).
//! * **receive buffer**: the stopped receiver's Recv-Q held 1.5–4.2 MB: what autotuning had grown
//!   the window to, which depends on the bandwidth-delay product and the traffic before the stall,
//!   capped near half to 3/4 of `net.ipv4.tcp_rmem[2]` (6 MiB by default). Within a datacentre
//!   (RTT well under 1 ms) give `receive-buffer = "1500k"`..`"4m"` (the low end to predict an
//!   early COB overflow, the high end a late one); across sites, where the BDP exceeds a few MB,
//!   give 3/4 of `tcp_rmem[2]`.
//! * **queues**: a qdisc or switch queue in the path holds almost nothing when the receiver
//!   stalls (its window closes first; the HTB queue was empty at the end of every stall). Only a
//!   queue that fills on its own — a slower hop with a deep buffer under a sender faster than it —
//!   adds its size; add it to `receive-buffer`.
//! * **rate**: give the line rate (`"10gbit"`) and keep `framing-overhead` on: a measured TCP
//!   stream on a 1500-byte-MTU link carries 0.952–0.954 of it, 1448/1514 = 0.956 predicts it.
//!
//! # Driving it
//!
//! [`Network`] is passive: it lives in the simulation's environment, every mutator takes `now`
//! and first advances to it, and [`Network::next_event_time`] says when it next needs to run.
//! One actor keeps a single engine timer there with [`NetWake`] and forwards the
//! [`Notification`]s, each addressed to an endpoint owner given at connect time.
//!
//! # Rounding
//!
//! Counters are `c0 + floor(rate·(t − t0)/10⁹)` from their segment's anchor. A crossing happens
//! at the first nanosecond at which the exact fluid level reaches the bound (ceiling division);
//! the overshoot of that last nanosecond is clamped back to the bound. So one flow of `S` bytes
//! on an idle link with payload rate `B` and latency `L` is read completely at
//! `L + ceil(S·10⁹/B)` ns.
//!
//! # Simplifications
//!
//! * No slow start, no congestion control beyond fair sharing, no losses; the connection is
//!   usable at once (no handshake).
//! * Window updates reach the sender instantly; [`ConnOptions::window_limits_rate`] caps a flow at
//!   window / RTT instead.
//! * Bulk flows do not jitter; messages do, but stay in order per connection direction.

mod conn;
mod driver;
mod error;
mod fair_share;
mod fluid;
mod ids;
mod link;
mod network;
mod notification;
mod topology;
mod watch;

pub use conn::{
    ConnOptions, ConnState, DEFAULT_RECV_BUFFER, DEFAULT_SEND_BUFFER, DirState, Production,
    ProductionMode, ReadMode, StreamState, WIRE_UNCOMPRESSED,
};
pub use driver::NetWake;
pub use error::NetError;
pub use fair_share::{UNLIMITED, max_min_share};
pub use ids::{ChangeListId, ConnId, Dir, HostId, LinkId, MarkId, Side, WatchId};
pub use link::{
    DEFAULT_LINE_PER_FRAME, DEFAULT_PAYLOAD_PER_FRAME, Jitter, LinkSpec, LinkStats, Overhead,
};
pub use network::{Fault, Network};
pub use notification::Notification;
pub use topology::Topology;
pub use watch::{Quantity, Threshold};
