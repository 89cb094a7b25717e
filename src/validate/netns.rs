//! Where a real server runs: on 127.0.0.1 ([`Place::Loopback`]), or alone in a network namespace
//! behind a bandwidth-shaped link ([`ShapedNet`], `replsim validate --shaped`).
//!
//! # The shaped layout
//!
//! ```text
//!   netns rsim-<pid>-n0 (primary)                 netns rsim-<pid>-n1 (replica 1)
//!   lo 127.0.0.1  ◀── harness (setns)             lo 127.0.0.1  ◀── harness (setns)
//!   rs<pid>a1 10.213.1.1/24 ═══ veth, HTB on both ends ═══ rs<pid>b1 10.213.1.2/24
//!   rs<pid>a2 10.213.2.1/24 ═══ …                          (replica 2 in rsim-<pid>-n2)
//! ```
//!
//! * One namespace per node; the primary's namespace holds one veth end per replica (a star:
//!   every replica replicates from the primary, as the model says).
//! * Each veth end's egress has an HTB root qdisc with one class at the model link's line rate,
//!   so both directions are shaped. HTB counts whole Ethernet frames (1514 bytes for 1448 of TCP
//!   payload), which is what the model's `framing-overhead` stands for.
//! * The servers bind `127.0.0.1` and their veth addresses, on port 6379 (every namespace has its
//!   own ports). The harness never gets an address: it opens its sockets from a thread that has
//!   entered the server's namespace (`setns(2)`), and reaches the server on that namespace's
//!   loopback — unshaped, and outside the measured link. A replica's `REPLICAOF` names the
//!   primary's address on their veth.
//! * The 10.213.0.0/16 addresses exist only inside these namespaces; nothing in the root
//!   namespace changes except the transient veth pair between `ip link add` and the move.
//! * No latency: `netem` is not available everywhere (not in the kernel this was built on), so a
//!   model's link latency is left to the simulator; at microseconds it changes nothing here.
//!
//! Everything is named `rsim-<pid>-…` / `rs<pid>a…`, removed by [`ShapedNet`]'s `Drop` (success,
//! error, panic) and by the Ctrl-C handler; a run killed with SIGKILL leaves them, and the next
//! run removes those whose pid is dead ([`clean_leftovers`]).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Mutex;

use crate::units::Rate;
use crate::valkey::ClusterSpec;

/// The prefix of every namespace a run creates: `rsim-<pid>-n<node>`.
pub const NETNS_PREFIX: &str = "rsim-";
/// The port every namespaced server listens on.
pub const NETNS_PORT: u16 = 6379;
/// The HTB quantum (bytes): one class, so it only silences `tc`'s "quantum is big" warning.
const HTB_QUANTUM: u32 = 60_000;

/// Namespaces alive now, for the Ctrl-C handler.
static LIVE_NETNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Where one server runs, and how the harness and the other servers reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// On this machine's 127.0.0.1, on a free port.
    Loopback,
    /// In network namespace `netns`, bound to 127.0.0.1 and `addrs`, on [`NETNS_PORT`].
    Netns {
        /// The namespace's name (`ip netns`).
        netns: String,
        /// Its veth addresses.
        addrs: Vec<String>,
    },
}

impl Place {
    /// The namespace, if any.
    pub fn netns(&self) -> Option<&str> {
        match self {
            Place::Loopback => None,
            Place::Netns { netns, .. } => Some(netns),
        }
    }

    /// The `bind` directive's value.
    pub fn bind(&self) -> String {
        match self {
            Place::Loopback => "127.0.0.1".to_string(),
            Place::Netns { addrs, .. } => std::iter::once("127.0.0.1".to_string())
                .chain(addrs.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Where the servers of one real run live: the "real cluster" placement the harness asks where
/// node `i` runs and how node `a` reaches node `b`.
#[derive(Debug)]
pub enum Hosting {
    /// Every server on 127.0.0.1.
    Loopback,
    /// Every server in its own namespace, replicas joined to the primary by shaped links.
    Shaped(ShapedNet),
}

impl Hosting {
    /// Where node `i` runs.
    pub fn place(&self, i: usize) -> Place {
        match self {
            Hosting::Loopback => Place::Loopback,
            Hosting::Shaped(net) => net.place(i),
        }
    }

    /// The address node `from` gives to `REPLICAOF` to reach node `to`.
    pub fn address(&self, from: usize, to: usize) -> Result<String, String> {
        match self {
            Hosting::Loopback => Ok("127.0.0.1".to_string()),
            Hosting::Shaped(net) => net.address(from, to).ok_or_else(|| {
                format!("node {from} and node {to} share no shaped link (only replica ↔ primary links are wired)")
            }),
        }
    }

    /// The shaped layout of `spec`: every replica of the primary joined to it at the rate of
    /// the model's link between them (`spec`'s primary is the hub).
    pub fn shaped_for(spec: &ClusterSpec) -> Result<Hosting, ShapedError> {
        let links = shaped_links(spec).map_err(ShapedError::Failed)?;
        let net = ShapedNet::create(spec.nodes.len(), spec.primary_index(), links)?;
        Ok(Hosting::Shaped(net))
    }
}

/// The shaped links of `spec` (a star around its primary), or why it cannot be laid out.
pub fn shaped_links(spec: &ClusterSpec) -> Result<Vec<ShapedLink>, String> {
    let hub = spec.primary_index();
    let primary = &spec.nodes[hub].name;
    let primary_host = spec.nodes[hub].host_name();
    let mut out = Vec::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        if i == hub {
            continue;
        }
        if node.replicaof.as_ref().is_some_and(|t| t != primary) {
            return Err(format!(
                "node {}: replicates from {} — a shaped run wires only replicas of the primary {primary}",
                node.name,
                node.replicaof.as_deref().unwrap_or_default()
            ));
        }
        let host = node.host_name();
        let link = spec
            .links
            .iter()
            .find(|l| {
                (l.a == primary_host && l.b == host) || (l.b == primary_host && l.a == host)
            })
            .ok_or_else(|| {
                format!(
                    "node {}: no [[links]] entry between its host {host} and the primary's host {primary_host} (a shaped run puts every node in a namespace of its own and needs that link's rate)",
                    node.name
                )
            })?;
        out.push(ShapedLink {
            node: i,
            rate: link.bandwidth,
        });
    }
    Ok(out)
}

/// Runs `f` on a thread that has entered namespace `netns` (sockets it opens stay in that
/// namespace wherever they are used later); on the calling thread when `netns` is `None`.
pub fn in_netns<T: Send>(netns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    let Some(name) = netns else {
        return Ok(f());
    };
    let file = open_netns(name)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns(2) on this thread only, with a descriptor we own.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(format!(
                    "cannot enter network namespace {name}: {}",
                    std::io::Error::last_os_error()
                ));
            }
            Ok(f())
        })
        .join()
        .map_err(|_| format!("a thread in network namespace {name} panicked"))?
    })
}

/// The namespace's handle (`/run/netns/<name>`, as `ip netns add` makes it).
pub fn open_netns(name: &str) -> Result<File, String> {
    File::open(format!("/run/netns/{name}"))
        .map_err(|e| format!("cannot open network namespace {name}: {e}"))
}

/// Why a shaped run cannot happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapedError {
    /// This machine cannot do it (not root, no `ip`/`tc`, no namespaces, no HTB): skip.
    Unavailable(String),
    /// A step failed on a machine that can do it.
    Failed(String),
}

impl std::fmt::Display for ShapedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShapedError::Unavailable(m) | ShapedError::Failed(m) => f.write_str(m),
        }
    }
}

/// One shaped link of the layout: between the primary (node `hub`) and node `node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapedLink {
    /// The non-primary node's index.
    pub node: usize,
    /// Line rate per direction.
    pub rate: Rate,
}

/// The namespaces, veth pairs and qdiscs of one run; removed when dropped.
#[derive(Debug)]
pub struct ShapedNet {
    pid: u32,
    hub: usize,
    nodes: usize,
    links: Vec<ShapedLink>,
    created: Vec<String>,
}

impl ShapedNet {
    /// Builds the layout: `nodes` namespaces, node `hub` (the primary) joined to every node of
    /// `links` by a veth pair shaped to its rate. Removes what earlier killed runs left first.
    pub fn create(nodes: usize, hub: usize, links: Vec<ShapedLink>) -> Result<Self, ShapedError> {
        check_available()?;
        for note in clean_leftovers() {
            eprintln!("replsim: {note}");
        }
        let mut net = ShapedNet {
            pid: std::process::id(),
            hub,
            nodes,
            links,
            created: Vec::new(),
        };
        for step in net.setup_commands() {
            let argv: Vec<&str> = step.iter().map(String::as_str).collect();
            if let Some(ns) = step.get(3).filter(|_| argv[..3] == ["ip", "netns", "add"]) {
                // Registered before it exists, so that an interrupt now still removes it.
                net.created.push(ns.clone());
                if let Ok(mut live) = LIVE_NETNS.lock() {
                    live.push(ns.clone());
                }
            }
            if let Err(e) = run(&argv) {
                let htb = argv.first() == Some(&"tc");
                return Err(if htb && e.contains("qdisc kind is unknown") {
                    ShapedError::Unavailable(format!("the kernel has no HTB qdisc (sch_htb): {e}"))
                } else {
                    ShapedError::Failed(format!("setting up the shaped link failed: {e}"))
                });
            }
        }
        Ok(net)
    }

    /// The namespace of node `i`.
    pub fn netns(&self, i: usize) -> String {
        netns_name(self.pid, i)
    }

    /// Where node `i` runs.
    pub fn place(&self, i: usize) -> Place {
        let addrs = self
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| i == self.hub || l.node == i)
            .map(|(k, _)| link_addr(k, i == self.hub))
            .collect();
        Place::Netns {
            netns: self.netns(i),
            addrs,
        }
    }

    /// The address node `from` uses to reach node `to`: the far end of their veth (`None` when
    /// they share no link: only replica ↔ primary is wired).
    pub fn address(&self, from: usize, to: usize) -> Option<String> {
        let k = self.links.iter().position(|l| {
            (from == self.hub && l.node == to) || (to == self.hub && l.node == from)
        })?;
        Some(link_addr(k, to == self.hub))
    }

    /// The `ip` / `tc` commands that build the layout, in order.
    pub fn setup_commands(&self) -> Vec<Vec<String>> {
        setup_commands(self.pid, self.nodes, self.hub, &self.links)
    }

    /// The veth end of link `k` on the primary's side and its namespace (for `tc -s` and
    /// calibration).
    pub fn hub_dev(&self, k: usize) -> (String, String) {
        (self.netns(self.hub), veth_name(self.pid, 'a', k))
    }

    /// Changes every link's rate (both ends) to `rate`.
    pub fn set_rate(&mut self, rate: Rate) -> Result<(), String> {
        for k in 0..self.links.len() {
            self.links[k].rate = rate;
            let ends = [
                (self.netns(self.hub), veth_name(self.pid, 'a', k)),
                (self.netns(self.links[k].node), veth_name(self.pid, 'b', k)),
            ];
            for (ns, dev) in ends {
                let cmd = htb_class("change", &ns, &dev, rate);
                let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
                run(&argv)?;
            }
        }
        Ok(())
    }
}

impl Drop for ShapedNet {
    fn drop(&mut self) {
        remove_netns(&self.created);
        // A veth that failed to move still sits in the root namespace.
        for k in 0..self.links.len() {
            let dev = veth_name(self.pid, 'a', k);
            if link_exists(&dev) {
                let _ = run(&["ip", "link", "del", &dev]);
            }
        }
        if let Ok(mut live) = LIVE_NETNS.lock() {
            live.retain(|n| !self.created.contains(n));
        }
    }
}

/// Removes every namespace still registered (the Ctrl-C handler, after the servers are killed).
pub fn remove_all_live() {
    let live = LIVE_NETNS.lock().map(|v| v.clone()).unwrap_or_default();
    remove_netns(&live);
}

fn remove_netns(names: &[String]) {
    for ns in names {
        let _ = run(&["ip", "netns", "del", ns]);
    }
}

fn netns_name(pid: u32, node: usize) -> String {
    format!("{NETNS_PREFIX}{pid}-n{node}")
}

/// `rs<pid>a<k>` (primary side) / `rs<pid>b<k>`: at most 15 characters for pids below 10⁸.
fn veth_name(pid: u32, side: char, k: usize) -> String {
    format!("rs{pid}{side}{k}")
}

/// The address of link `k`'s primary end (`10.213.<k+1>.1`) or its other end (`….2`).
fn link_addr(k: usize, hub_side: bool) -> String {
    format!("10.213.{}.{}", k + 1, if hub_side { 1 } else { 2 })
}

fn htb_class(verb: &str, ns: &str, dev: &str, rate: Rate) -> Vec<String> {
    let bits = format!("{}bit", rate.bytes_per_sec().saturating_mul(8));
    [
        "tc", "-n", ns, "class", verb, "dev", dev, "parent", "1:", "classid", "1:10", "htb",
        "rate", &bits, "ceil", &bits, "quantum",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(HTB_QUANTUM.to_string()))
    .collect()
}

/// The commands that build the layout (see the module doc).
pub fn setup_commands(
    pid: u32,
    nodes: usize,
    hub: usize,
    links: &[ShapedLink],
) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut push = |v: &[&str]| out.push(v.iter().map(|s| s.to_string()).collect());
    for i in 0..nodes {
        push(&["ip", "netns", "add", &netns_name(pid, i)]);
        push(&["ip", "-n", &netns_name(pid, i), "link", "set", "lo", "up"]);
    }
    let mut shaping = Vec::new();
    for (k, l) in links.iter().enumerate() {
        let (a, b) = (veth_name(pid, 'a', k), veth_name(pid, 'b', k));
        let (na, nb) = (netns_name(pid, hub), netns_name(pid, l.node));
        push(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
        for (dev, ns, hub_side) in [(&a, &na, true), (&b, &nb, false)] {
            push(&["ip", "link", "set", dev, "netns", ns]);
            let addr = format!("{}/24", link_addr(k, hub_side));
            push(&["ip", "-n", ns, "addr", "add", &addr, "dev", dev]);
            push(&["ip", "-n", ns, "link", "set", dev, "up"]);
            shaping.push((ns.clone(), dev.clone(), l.rate));
        }
    }
    for (ns, dev, rate) in shaping {
        out.push(
            [
                "tc", "-n", &ns, "qdisc", "add", "dev", &dev, "root", "handle", "1:", "htb",
                "default", "10",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        out.push(htb_class("add", &ns, &dev, rate));
    }
    out
}

/// Root, `ip` and `tc` present; namespaces and HTB are found out by trying.
pub fn check_available() -> Result<(), ShapedError> {
    check_root(effective_uid())?;
    for tool in ["ip", "tc"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Err(ShapedError::Unavailable(format!(
                "`{tool}` is not installed (Debian: apt-get install iproute2)"
            )));
        }
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Shaped links need root (network namespaces, veth, qdiscs).
pub fn check_root(euid: u32) -> Result<(), ShapedError> {
    if euid == 0 {
        Ok(())
    } else {
        Err(ShapedError::Unavailable(format!(
            "shaped links need root (network namespaces, veth pairs and HTB qdiscs); running as uid {euid}"
        )))
    }
}

fn run(argv: &[&str]) -> Result<(), String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn link_exists(dev: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(dev).exists()
}

/// The pid in a name this module makes (`rsim-<pid>-n<i>` or `rs<pid>a<k>` / `rs<pid>b<k>`).
pub fn owner_pid(name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(NETNS_PREFIX) {
        let (pid, tail) = rest.split_once("-n")?;
        tail.parse::<usize>().ok()?;
        return pid.parse().ok();
    }
    let rest = name.strip_prefix("rs")?;
    let split = rest.find(['a', 'b'])?;
    let (pid, tail) = rest.split_at(split);
    tail[1..].parse::<usize>().ok()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Names among `names` made by a replsim run whose process `alive` says is gone.
pub fn stale<'a>(names: &'a [String], alive: &dyn Fn(u32) -> bool) -> Vec<&'a String> {
    names
        .iter()
        .filter(|n| owner_pid(n).is_some_and(|pid| !alive(pid)))
        .collect()
}

/// A replsim process with this pid is running.
fn replsim_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim_end().starts_with("replsim"))
}

/// Removes the namespaces and root-namespace veths of earlier runs whose process is gone (a
/// SIGKILL leaves them); one note per removal or failure.
pub fn clean_leftovers() -> Vec<String> {
    let mut notes = Vec::new();
    let namespaces: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(NETNS_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    for ns in stale(&namespaces, &replsim_alive) {
        notes.push(match run(&["ip", "netns", "del", ns]) {
            Ok(()) => format!("removed network namespace {ns} left by a killed replsim run"),
            Err(e) => format!("warning: network namespace {ns} of a killed run remains: {e}"),
        });
    }
    let links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    for dev in stale(&links, &replsim_alive) {
        notes.push(match run(&["ip", "link", "del", dev]) {
            Ok(()) => format!("removed veth {dev} left by a killed replsim run"),
            Err(e) => format!("warning: veth {dev} of a killed run remains: {e}"),
        });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Vec<ShapedLink> {
        let rate = "100mbit".parse().unwrap();
        vec![ShapedLink { node: 1, rate }, ShapedLink { node: 2, rate }]
    }

    #[test]
    fn the_layout_is_a_star_of_shaped_veths_around_the_primary() {
        let cmds = setup_commands(4242, 3, 0, &links());
        let text: Vec<String> = cmds.iter().map(|c| c.join(" ")).collect();
        assert!(text.contains(&"ip netns add rsim-4242-n0".to_string()));
        assert!(text.contains(&"ip netns add rsim-4242-n2".to_string()));
        assert!(text.contains(&"ip link add rs4242a1 type veth peer name rs4242b1".to_string()));
        assert!(text.contains(&"ip link set rs4242b1 netns rsim-4242-n2".to_string()));
        assert!(
            text.contains(&"ip -n rsim-4242-n0 addr add 10.213.2.1/24 dev rs4242a1".to_string())
        );
        // Both ends shaped at 100 mbit = 12.5 MB/s of line rate.
        let classes: Vec<&String> = text.iter().filter(|t| t.contains("class add")).collect();
        assert_eq!(classes.len(), 4);
        assert!(
            classes
                .iter()
                .all(|c| c.contains("rate 100000000bit ceil 100000000bit"))
        );
        // Namespaces exist before anything is moved into them; qdiscs come after the links.
        let pos = |s: &str| text.iter().position(|t| t == s).unwrap();
        assert!(pos("ip netns add rsim-4242-n2") < pos("ip link set rs4242b1 netns rsim-4242-n2"));
        let first_tc = text.iter().position(|t| t.starts_with("tc ")).unwrap();
        assert!(text[first_tc..].iter().all(|t| t.starts_with("tc ")));
        // Interface names fit IFNAMSIZ even for the largest pid.
        assert!(veth_name(4_194_304, 'a', 99).len() <= 15);
    }

    #[test]
    fn places_and_addresses_follow_the_links() {
        let net = ShapedNet {
            pid: 7,
            hub: 0,
            nodes: 3,
            links: links(),
            created: Vec::new(),
        };
        assert_eq!(
            net.place(0),
            Place::Netns {
                netns: "rsim-7-n0".into(),
                addrs: vec!["10.213.1.1".into(), "10.213.2.1".into()]
            }
        );
        assert_eq!(net.place(2).bind(), "127.0.0.1 10.213.2.2");
        assert_eq!(net.address(2, 0).as_deref(), Some("10.213.2.1"));
        assert_eq!(net.address(0, 1).as_deref(), Some("10.213.1.2"));
        assert_eq!(net.address(1, 2), None);
        assert_eq!(Place::Loopback.bind(), "127.0.0.1");
        std::mem::forget(net); // nothing was created; Drop would only run harmless commands
    }

    #[test]
    fn leftovers_are_the_names_of_dead_runs_only() {
        let names: Vec<String> = [
            "rsim-100-n0",
            "rsim-100-n1",
            "rsim-200-n0",
            "rs100a0",
            "rs200b3",
            "rsim-x-n0",
            "rsim-100-nx",
            "rsync0",
            "rs100c0",
            "eth0",
            "rsa0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let alive = |pid: u32| pid == 200;
        let dead: Vec<&str> = stale(&names, &alive)
            .into_iter()
            .map(String::as_str)
            .collect();
        assert_eq!(dead, ["rsim-100-n0", "rsim-100-n1", "rs100a0"]);
        assert_eq!(owner_pid("rs4242b12"), Some(4242));
        assert_eq!(owner_pid("rsim-9-n3"), Some(9));
    }

    #[test]
    fn a_model_gives_each_replica_its_links_rate_or_is_refused() {
        let text = r#"
[model]
name = "m"
horizon = "5s"
[dataset]
keys = 10
value-size = "100"
[[nodes]]
name = "p"
role = "primary"
[[nodes]]
name = "r"
role = "replica"
host = "rack2"
[[links]]
a = "rack2"
b = "p"
bandwidth = "200mbit"
"#;
        let mut spec = crate::scenario::parse_model(text, "m.toml", &[])
            .unwrap()
            .cluster();
        let links = shaped_links(&spec).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].node, 1);
        assert_eq!(links[0].rate.bytes_per_sec(), 25_000_000);
        spec.links.clear();
        let err = shaped_links(&spec).unwrap_err();
        assert!(err.contains("node r") && err.contains("rack2"), "{err}");
    }

    #[test]
    fn without_root_the_shaped_mode_is_refused_with_a_reason() {
        let err = check_root(1000).unwrap_err();
        assert!(matches!(err, ShapedError::Unavailable(_)));
        assert!(err.to_string().contains("need root"), "{err}");
        assert!(err.to_string().contains("uid 1000"), "{err}");
        assert_eq!(check_root(0), Ok(()));
    }
}
