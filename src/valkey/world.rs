//! The simulated world: the message type, the actor type, and the environment they share
//! (the network, the logs, the journal, the INFO samples).

use crate::engine::{Actor, ActorId, Ctx, Message};
use crate::net::{ConnOptions, HostId, Network, Notification};

use super::info::InfoSample;
use super::journal::Journal;
use super::log::LogBook;
use super::proto::Proto;
use super::script::{Script, ScriptTick};
use super::server::Server;
use super::transport::{self, WakeState};
use super::workload_client::LoadClient;

/// Every message of the Valkey world.
#[derive(Clone, Debug)]
pub enum Msg {
    /// Start a server's crons (sent once at t = 0).
    Boot,
    /// Wake the network driver.
    NetWake,
    /// A network notification for its owner.
    Net(Notification),
    /// `serverCron` (every 1/hz).
    Cron,
    /// `replicationCron` (1 Hz).
    ReplCron,
    /// Take an INFO sample.
    Sample,
    /// A server's own timer.
    Timer(Timer),
    /// A load client's new rate.
    WriteRate {
        /// The client's index.
        client: u32,
        /// Replication-stream bytes per second.
        bytes_per_sec: u64,
        /// New keys per second (grows the next RDB).
        new_keys_per_sec: f64,
    },
    /// A load client's next phase.
    LoadTick,
    /// An action on a node (from a script or the cluster setup).
    Control(Control),
    /// A watched log line appeared (the watch's token).
    LogMatched(u64),
    /// A script's own timer.
    ScriptTick(ScriptTick),
}

/// A server's timers; each carries the generation it was armed under, so stale ones are
/// ignored after the state they belonged to is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Fork for replication now.
    Fork,
    /// The fork child finished writing; noticed at the next `serverCron`.
    ChildExited(u64),
    /// The replica noticed the end of the RDB download.
    DownloadNoticed(u64),
    /// The replica finished loading the RDB.
    LoadDone(u64),
    /// The replica finished applying its local buffer.
    ApplyDone(u64),
    /// A COB limit check point for a client (client id, generation).
    CobCheck(u64, u64),
    /// The soft limit's time ran out for a client (client id, generation).
    SoftCheck(u64, u64),
    /// The grace period of a protected RDB client ended (client id).
    Grace(u64),
    /// Check whether the watched replica's resume offset left the PSYNC window.
    BacklogCheck(u64),
    /// A loading replica's keepalive newline.
    LoadKeepalive(u64),
    /// Reconnect to the primary.
    Reconnect,
    /// The replica's handshake steps are done: send the sync request (attempt).
    HandshakeDone(u64),
    /// Valkey 9.2 write throttling's 100 ms tick (generation).
    Throttle(u64),
    /// The throttle's queue of delayed writes is empty (generation).
    ThrottleDrain(u64),
    /// A replica blocked in a load processes events (`processEventsWhileBlocked`) now: it
    /// notices a main channel that was closed meanwhile (attempt).
    EventsWhileBlocked(u64),
}

/// Actions on a node, mirroring what Valkey's tests do to servers.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// SIGSTOP: nothing is processed and no socket is read until resumed.
    Pause,
    /// SIGCONT.
    Resume,
    /// `REPLICAOF <node>`.
    ReplicaOf(usize),
    /// `REPLICAOF NO ONE`.
    ReplicaOfNoOne,
    /// `CONFIG SET <key> <value>`.
    ConfigSet(String, String),
    /// `DEBUG pause-after-fork <0|1>`.
    PauseAfterFork(bool),
    /// Kill every replication connection of this node (`CLIENT KILL TYPE replica` / a
    /// primary-side kill), or with a kind only the primary-side clients of that kind
    /// (`CLIENT KILL ID` of the RDB channel, the main channel or a classic replica).
    KillReplicationLinks(Option<super::journal::ClientKind>),
    /// Kill only this node's link to its primary (`CLIENT KILL TYPE MASTER`).
    KillPrimaryLink,
    /// Start or stop a load client.
    SetLoad(bool),
    /// `DEBUG POPULATE <keys> <prefix> <value_bytes>`.
    Populate {
        /// Keys added.
        keys: u64,
        /// Size of each value.
        value_bytes: u64,
    },
}

impl Message for Msg {
    const KIND_NAMES: &'static [&'static str] = &[
        "boot",
        "net_wake",
        "net",
        "cron",
        "repl_cron",
        "sample",
        "timer",
        "write_rate",
        "load_tick",
        "control",
        "log_matched",
        "script_tick",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::Boot => 0,
            Msg::NetWake => 1,
            Msg::Net(_) => 2,
            Msg::Cron => 3,
            Msg::ReplCron => 4,
            Msg::Sample => 5,
            Msg::Timer(_) => 6,
            Msg::WriteRate { .. } => 7,
            Msg::LoadTick => 8,
            Msg::Control(_) => 9,
            Msg::LogMatched(_) => 10,
            Msg::ScriptTick(_) => 11,
        }
    }
}

/// Where a node lives, for names and connections.
#[derive(Clone, Debug)]
pub struct NodeAddr {
    /// The node's name in the model.
    pub name: String,
    /// Its actor.
    pub actor: ActorId,
    /// Its host.
    pub host: HostId,
    /// `ip:port` as Valkey logs name it.
    pub addr: String,
}

/// The state every actor shares.
#[derive(Debug)]
pub struct World {
    /// The network.
    pub net: Network,
    /// The network driver's wake-up timer.
    pub(crate) wake: WakeState,
    /// Control-message payloads in transit, by tag.
    pub(crate) payloads: Vec<Option<Proto>>,
    pub(crate) free_tags: Vec<u64>,
    /// Every node's log.
    pub logs: LogBook,
    /// Outcome-relevant events.
    pub journal: Journal,
    /// INFO samples of every node.
    pub samples: Vec<InfoSample>,
    /// The nodes, by index.
    pub nodes: Vec<NodeAddr>,
    /// For each replica node: the offset it would resume from (its PSYNC offset), if known.
    pub(crate) resume_offsets: super::resume::ResumeOffsets,
    /// Log-watch tokens and the actors to tell.
    pub(crate) log_watchers: Vec<(u64, ActorId)>,
    /// Socket settings of connections between two hosts (from the link that joins them).
    pub(crate) conn_options: Vec<(HostId, HostId, ConnOptions)>,
    /// Script waits that timed out, as messages.
    pub assertions_failed: Vec<String>,
    /// Named timestamps from scripts (seconds).
    pub marks: std::collections::BTreeMap<String, f64>,
    /// The invariant checker, when the run is checked (`RunOptions::check`).
    pub checker: Option<Box<super::invariants::Checker>>,
}

impl World {
    /// A world around a network.
    pub fn new(net: Network) -> Self {
        World {
            net,
            wake: WakeState::default(),
            payloads: Vec::new(),
            free_tags: Vec::new(),
            logs: LogBook::default(),
            journal: Journal::default(),
            samples: Vec::new(),
            nodes: Vec::new(),
            resume_offsets: super::resume::ResumeOffsets::default(),
            log_watchers: Vec::new(),
            conn_options: Vec::new(),
            assertions_failed: Vec::new(),
            marks: std::collections::BTreeMap::new(),
            checker: None,
        }
    }
}

/// Every actor of the Valkey world.
#[derive(Debug)]
pub enum Node {
    /// A Valkey server.
    Server(Box<Server>),
    /// A write-load client.
    Client(Box<LoadClient>),
    /// Turns network wake-ups into notifications for their owners.
    NetDriver,
    /// Runs the model's action script.
    Script(Box<Script>),
}

impl Actor for Node {
    type Msg = Msg;
    type Env = World;

    fn handle(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        match self {
            Node::Server(server) => server.handle(msg, ctx),
            Node::Client(client) => client.handle(msg, ctx),
            Node::NetDriver => transport::drive(ctx),
            Node::Script(script) => script.handle(msg, ctx),
        }
    }
}
