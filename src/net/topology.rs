//! Hosts and links as a petgraph graph, with a Graphviz DOT export.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::graph::{NodeIndex, UnGraph};

use super::{HostId, LinkId, LinkSpec, NetError};

/// The hosts and the direct links between them. At most one link joins two hosts; a link is
/// named `"<a>-<b>"` after its hosts, and that name keys its random stream (`"link:<a>-<b>"`).
///
/// ```
/// use replsim::engine::SimDuration;
/// use replsim::net::{LinkSpec, Topology};
/// let mut topo = Topology::new();
/// let p = topo.add_host("primary").unwrap();
/// let r = topo.add_host("replica").unwrap();
/// let spec = LinkSpec::new("1gbit".parse().unwrap(), SimDuration::from_millis(1));
/// let link = topo.add_link(p, r, spec).unwrap();
/// assert_eq!(topo.link_between(r, p), Some(link));
/// assert!(topo.add_link(p, r, spec).is_err()); // one direct link per pair
/// assert!(topo.add_host("primary").is_err());
/// assert!(topo.to_dot().contains("\"primary\" -- \"replica\""));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Topology {
    graph: UnGraph<String, LinkId>,
    links: Vec<TopoLink>,
    /// Hosts by name, and links by their two hosts (the smaller id first): lookups in
    /// O(log n), so that building a topology of thousands of hosts is not quadratic.
    host_ids: BTreeMap<String, HostId>,
    link_ids: BTreeMap<(HostId, HostId), LinkId>,
}

/// One link as the topology records it.
#[derive(Clone, Debug)]
struct TopoLink {
    a: HostId,
    b: HostId,
    name: String,
    spec: LinkSpec,
}

impl Topology {
    /// No hosts, no links.
    pub fn new() -> Self {
        Topology::default()
    }

    /// Adds a host with a unique name.
    pub fn add_host(&mut self, name: &str) -> Result<HostId, NetError> {
        if self.host_id(name).is_some() {
            return Err(NetError::DuplicateHost(name.to_string()));
        }
        let index = self.graph.add_node(name.to_string());
        let id = HostId(index.index() as u32);
        self.host_ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// Adds the direct link between two different hosts.
    pub fn add_link(&mut self, a: HostId, b: HostId, spec: LinkSpec) -> Result<LinkId, NetError> {
        let (name_a, name_b) = (
            self.host_name(a)?.to_string(),
            self.host_name(b)?.to_string(),
        );
        if a == b {
            return Err(NetError::SelfLink(name_a));
        }
        if self.link_between(a, b).is_some() {
            return Err(NetError::DuplicateLink {
                a: name_a,
                b: name_b,
            });
        }
        spec.validate()?;
        let id = LinkId(self.links.len() as u32);
        self.graph.add_edge(node(a), node(b), id);
        self.link_ids.insert((a.min(b), a.max(b)), id);
        let name = format!("{name_a}-{name_b}");
        self.links.push(TopoLink { a, b, name, spec });
        Ok(id)
    }

    /// The host called `name`.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.host_ids.get(name).copied()
    }

    /// The name of a host.
    pub fn host_name(&self, host: HostId) -> Result<&str, NetError> {
        self.graph
            .node_weight(node(host))
            .map(String::as_str)
            .ok_or(NetError::UnknownHost(host))
    }

    /// The direct link between two hosts, in either order.
    pub fn link_between(&self, a: HostId, b: HostId) -> Option<LinkId> {
        self.link_ids.get(&(a.min(b), a.max(b))).copied()
    }

    /// The two hosts a link joins, as `(a, b)` in the order given to [`Topology::add_link`].
    pub fn link_hosts(&self, link: LinkId) -> Result<(HostId, HostId), NetError> {
        self.link(link).map(|l| (l.a, l.b))
    }

    /// The link's name, `"<a>-<b>"`.
    pub fn link_name(&self, link: LinkId) -> Result<&str, NetError> {
        self.link(link).map(|l| l.name.as_str())
    }

    /// The specification the link was created with (faults change the live values, not this).
    pub fn link_spec(&self, link: LinkId) -> Result<LinkSpec, NetError> {
        self.link(link).map(|l| l.spec)
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// The underlying graph: host names on nodes, link ids on edges.
    pub fn graph(&self) -> &UnGraph<String, LinkId> {
        &self.graph
    }

    /// Graphviz DOT, hosts and links in creation order, each link labelled with its line rate
    /// and latency.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("graph topology {\n");
        for i in self.graph.node_indices() {
            let _ = writeln!(out, "  {:?};", self.graph[i]);
        }
        for link in &self.links {
            let (a, b) = (&self.graph[node(link.a)], &self.graph[node(link.b)]);
            let _ = writeln!(
                out,
                "  {a:?} -- {b:?} [label=\"{} {}\"];",
                link.spec.bandwidth, link.spec.latency
            );
        }
        out.push_str("}\n");
        out
    }

    fn link(&self, link: LinkId) -> Result<&TopoLink, NetError> {
        self.links
            .get(link.index())
            .ok_or(NetError::UnknownLink(link))
    }
}

fn node(host: HostId) -> NodeIndex {
    NodeIndex::new(host.index())
}
