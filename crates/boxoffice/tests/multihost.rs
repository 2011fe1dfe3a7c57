//! A cluster spread over three hosts: each booking node runs in a network
//! namespace of its own that this test creates (a veth pair to a bridge in
//! the root namespace, a /24 of the documentation ranges), binds its client,
//! peer and HTTP ports on its own address, and serves clients over TLS with
//! a certificate naming that address. Nodes reach each other only across
//! the bridge, with mutual TLS; the auth service runs beside node 1, in its
//! namespace, and the clients run in this process, in the root namespace,
//! and reach the nodes and the auth service at their addresses.
//! Users book, the leader is killed with -9, they book again through the
//! survivors, and every acknowledged booking is still there, once.
//!
//! It is also the check of the deployment guide (docs/deployment.md): each
//! node is started from the guide's `deploy/config/node.toml`, with only
//! the lines the guide says to change per host changed (and the paths and
//! addresses made this test's), the auth service from
//! `deploy/config/auth.toml` on host 1 as the guide places it, and the
//! guide's firewall (`deploy/nftables/boxoffice.nft`, this test's
//! addresses in its `define`s) is loaded into every node's namespace. The
//! root namespace plays a client machine, and, from a second address on
//! the bridge, the monitoring host: a client reaches each node's client
//! port but neither its peer port nor its HTTP port, the monitoring host
//! reads `/readyz`, and the nodes replicate through the peer ports all the
//! same.
//!
//! Making namespaces needs root, iproute2's `ip` and nftables' `nft`.
//! Without them the test is skipped with a message, unless
//! `BOXOFFICE_REQUIRE_NETNS` is set (as CI sets it), in which case it
//! fails. Everything it creates is named `bxt<pid>…` and removed when the
//! test ends, passes or panics (the firewall goes with the namespaces); a
//! run that was killed outright leaves names whose pid is dead, and the
//! next run removes those first.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use boxoffice_auth::config::{AdminCredentials, AuthConfig};
use boxoffice_client::Client;
use boxoffice_client::proto::{Booking, BookingStatus, GetStatusResponse, SeatState};
use boxoffice_launch::{Extra, Layout, Processes};
use boxoffice_node::config::{ClientTls, Member, NodeConfig};
use boxoffice_tls::Identity;
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, FAR_FUTURE_MS, log_in, node, steady_booker, wait_count};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tonic::transport::ClientTlsConfig;

/// Set (to anything) to fail instead of skipping where namespaces cannot be made.
const REQUIRE_VAR: &str = "BOXOFFICE_REQUIRE_NETNS";
/// Prefix of every namespace and link this test creates: `bxt<pid>n1`
/// (namespaces), `bxt<pid>b` (the bridge), `bxt<pid>h1` (the root
/// namespace's end of a veth pair). At most 3 + 7 + 2 characters, within
/// the 15 an interface name may have.
const PREFIX: &str = "bxt";
/// The candidate /24s, all reserved for documentation (RFC 5737), so none
/// can be a real network this machine needs; the first one this machine
/// does not use already is taken.
const SUBNETS: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
/// The bridge's host number in the /24 (the root namespace's address):
/// a client machine, as the firewall sees it.
const BRIDGE_HOST: u8 = 254;
/// A second address of the root namespace on the bridge: the monitoring
/// host, as the firewall sees it (connections bound to it come from it).
const MONITOR_HOST: u8 = 253;
/// Each node's ports on its own address, as the guide's example config and
/// firewall have them (checked when they are read). Every node has a fresh
/// network namespace of its own, so these ports are free there by
/// construction.
const CLIENT_PORT: u16 = 50051;
const HTTP_PORT: u16 = 50061;
const PEER_PORT: u16 = 50071;
/// How long a connection to a port the firewall closes is given before it
/// counts as refused: the firewall drops it without an answer. The same
/// machine's connections to an open port take milliseconds.
const BLOCKED_AFTER: Duration = Duration::from_secs(3);
const NODES: u64 = 3;
const PASSWORD: &str = "correct horse battery staple";
const SHOW: &str = "hosts";
/// Clients booking steadily across the leader's death.
const STEADY_BOOKERS: u32 = 3;
/// Seats each steady booker may use.
const SEATS_PER_BOOKER: u32 = 1_000;
/// Seats `alice` books before the kill (1..=5) and after it (6..=10).
const ALICE_SEATS: u32 = 5;

/// Runs `ip` with `args`; its output, or why it failed.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The effective user id of this process, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The names of the network namespaces (`ip netns list`).
fn namespaces() -> Vec<String> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The names of the root namespace's links (`ip -o link show`), without
/// the `@peer` suffix of a veth.
fn links() -> Vec<String> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect()
}

/// The pid in a name this test makes (`bxt<pid>` then a letter and
/// digits), or `None` for any other name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (pid, tail) = rest.split_at(digits);
    let mut tail = tail.chars();
    let kind_ok = matches!(tail.next(), Some('n' | 'b' | 'h'));
    (kind_ok && tail.all(|c| c.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes what runs of this test that died without cleaning up (killed
/// outright) left behind: names of ours whose process is gone.
fn sweep_leftovers() {
    let dead = |name: &str| {
        owner_pid(name).is_some_and(|pid| {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        })
    };
    for link in links().into_iter().filter(|l| dead(l)) {
        eprintln!("removing link {link} left by an earlier run");
        let _ = ip(&["link", "del", &link]);
    }
    for ns in namespaces().into_iter().filter(|n| dead(n)) {
        eprintln!("removing namespace {ns} left by an earlier run");
        let _ = ip(&["netns", "del", &ns]);
    }
}

/// Whether this machine already has an address or a route in `net`/24.
fn subnet_in_use(net: [u8; 3]) -> Result<bool, String> {
    let cidr = format!("{}.{}.{}.0/24", net[0], net[1], net[2]);
    let addrs = ip(&["-4", "-o", "addr", "show", "to", &cidr])?;
    let routes = ip(&["-4", "route", "show", "table", "all", "root", &cidr])?;
    Ok(!addrs.trim().is_empty() || !routes.trim().is_empty())
}

/// The namespaces, veth pairs and bridge of one run; removed when dropped
/// (also when it was built only in part).
struct Network {
    /// `bxt<pid>`: what every name starts with.
    tag: String,
    /// The first three octets of the /24.
    subnet: [u8; 3],
    /// Namespaces made, to delete.
    namespaces: Vec<String>,
    /// Links made in the root namespace, to delete (the bridge first).
    links: Vec<String>,
}

impl Network {
    /// Makes the bridge and one namespace per node, or says why it cannot.
    fn create() -> Result<Self, String> {
        match effective_uid() {
            Some(0) => {}
            Some(uid) => return Err(format!("not running as root (uid {uid})")),
            None => return Err("cannot tell this process's uid".into()),
        }
        ip(&["-V"]).map_err(|e| format!("iproute2's `ip` is not usable: {e}"))?;
        let nft = Command::new("nft")
            .arg("--version")
            .stdin(Stdio::null())
            .output();
        if !nft.is_ok_and(|out| out.status.success()) {
            return Err("nftables' `nft` is not usable (apt-get install nftables)".into());
        }
        sweep_leftovers();
        let pid = std::process::id();
        let start = pid as usize % SUBNETS.len();
        let mut subnet = None;
        for i in 0..SUBNETS.len() {
            let candidate = SUBNETS[(start + i) % SUBNETS.len()];
            if !subnet_in_use(candidate)? {
                subnet = Some(candidate);
                break;
            }
        }
        let subnet = subnet.ok_or_else(|| {
            format!("this machine already uses every documentation /24 ({SUBNETS:?})")
        })?;
        let mut net = Network {
            tag: format!("{PREFIX}{pid}"),
            subnet,
            namespaces: Vec::new(),
            links: Vec::new(),
        };
        net.build()?;
        Ok(net)
    }

    fn build(&mut self) -> Result<(), String> {
        let bridge = format!("{}b", self.tag);
        ip(&["link", "add", "name", &bridge, "type", "bridge"])?;
        self.links.push(bridge.clone());
        let bridge_addr = format!("{}/24", self.addr(BRIDGE_HOST));
        ip(&["addr", "add", &bridge_addr, "dev", &bridge])?;
        // Added second, so it is a secondary address: the root namespace's
        // connections come from the client's address unless bound to it.
        let monitor_addr = format!("{}/24", self.addr(MONITOR_HOST));
        ip(&["addr", "add", &monitor_addr, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for id in 1..=NODES {
            let ns = self.namespace(id);
            ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            // The namespace's end is made inside it, where `eth0` is free.
            let host_end = format!("{}h{id}", self.tag);
            ip(&[
                "link", "add", "name", &host_end, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            self.links.push(host_end.clone());
            ip(&["link", "set", &host_end, "master", &bridge])?;
            ip(&["link", "set", &host_end, "up"])?;
            let addr = format!("{}/24", self.host(id));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn addr(&self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, host)
    }

    /// Node `id`'s address.
    fn host(&self, id: u64) -> Ipv4Addr {
        self.addr(u8::try_from(id).expect("a small node id"))
    }

    /// Node `id`'s namespace.
    fn namespace(&self, id: u64) -> String {
        format!("{}n{id}", self.tag)
    }

    /// How the launcher runs a process on host `id`: `ip netns exec` enters
    /// the namespace and then execs it, so the child's pid is the
    /// process's own and `kill` is a real kill -9.
    fn on_host(&self, id: u64) -> Extra {
        Extra {
            prefix: ["ip", "netns", "exec", &self.namespace(id)]
                .map(Into::into)
                .into(),
            ..Extra::default()
        }
    }

    /// Loads the firewall `rules` (a file) on every node's host.
    fn load_firewall(&self, rules: &Path) -> Result<(), String> {
        let rules = rules.to_str().ok_or("a firewall path that is UTF-8")?;
        for id in 1..=NODES {
            ip(&["netns", "exec", &self.namespace(id), "nft", "-f", rules])?;
        }
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting the root end of a veth pair deletes both ends at once;
        // deleting a namespace only unlinks its name (it lives on while a
        // process is in it), so the processes were killed before this.
        for link in self.links.iter().rev() {
            if let Err(e) = ip(&["link", "del", link]) {
                eprintln!("teardown: {e}");
            }
        }
        for ns in &self.namespaces {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("teardown: {e}");
            }
        }
    }
}

/// Fails if anything named `tag…` is left: namespaces or root links.
fn assert_torn_down(tag: &str) {
    let left: Vec<String> = namespaces()
        .into_iter()
        .chain(links())
        .filter(|name| name.starts_with(tag))
        .collect();
    assert!(left.is_empty(), "left behind after teardown: {left:?}");
}

/// A file of the deployment guide's (docs/deployment.md), under `deploy/`.
fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

/// `addr` (ip:port, from an example config) with its address replaced by
/// `ip`, its port kept.
fn at(addr: &str, ip: Ipv4Addr) -> String {
    let port = addr
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{addr:?} in an example config is not ip:port: {e}"))
        .port();
    SocketAddr::from((ip, port)).to_string()
}

/// The port of `addr` (ip:port).
fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{addr:?} is not ip:port: {e}"))
        .port()
}

/// The guide's node config (host 1's), read and validated as `boxoffice
/// node` reads it, after checking it is what the guide says it is: node 1
/// of the members 1, 2, 3, listening on host 1's address at the guide's
/// ports, serving clients with node 1's certificate.
fn example_node() -> NodeConfig {
    let path = deploy("config/node.toml");
    let example =
        NodeConfig::load(Some(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = path.display();
    assert_eq!(example.id, 1, "{file} is node 1's");
    let ids: Vec<u64> = example.initial_members.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1, 2, 3], "{file}: initial_members");
    for m in &example.initial_members {
        assert_eq!(
            port_of(&m.addr),
            PEER_PORT,
            "{file}: node {}'s peer port",
            m.id
        );
    }
    let host1 = example.initial_members[0]
        .addr
        .parse::<SocketAddr>()
        .expect("ip:port")
        .ip();
    for (key, addr, port) in [
        ("listen", Some(&example.listen), CLIENT_PORT),
        ("peer_listen", Some(&example.peer_listen), PEER_PORT),
        ("http_listen", example.http_listen.as_ref(), HTTP_PORT),
    ] {
        let addr = addr.unwrap_or_else(|| panic!("{file} sets no {key}"));
        assert_eq!(
            addr.parse::<SocketAddr>().ok(),
            Some(SocketAddr::new(host1, port)),
            "{file}: {key} is host 1's address and the guide's port"
        );
    }
    assert_eq!(
        example.client_tls,
        Some(ClientTls::in_dir(&example.certs_dir, Identity::Node(1))),
        "{file}: client_tls is node 1's certificate and key in certs_dir"
    );
    example
}

/// The guide's firewall with this test's addresses: the `define`s of the
/// cluster's hosts and of the monitoring hosts replaced, the ports checked
/// against the example config's and kept.
fn firewall_rules(net: &Network) -> String {
    let path = deploy("nftables/boxoffice.nft");
    let file = path.display();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let set = |ips: Vec<Ipv4Addr>| {
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        format!("{{ {} }}", ips.join(", "))
    };
    let replaced = BTreeMap::from([
        (
            "CLUSTER_HOSTS",
            set((1..=NODES).map(|id| net.host(id)).collect()),
        ),
        ("MONITORING_HOSTS", set(vec![net.addr(MONITOR_HOST)])),
    ]);
    let ports = BTreeMap::from([
        ("CLIENT_PORT", CLIENT_PORT),
        ("PEER_PORT", PEER_PORT),
        ("HTTP_PORT", HTTP_PORT),
    ]);
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for line in text.lines() {
        let define = line
            .strip_prefix("define ")
            .and_then(|d| d.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim()));
        match define {
            Some((name, value)) => {
                seen.insert(name.to_owned());
                if let Some(port) = ports.get(name) {
                    assert_eq!(value, port.to_string(), "{file}: {name}");
                }
                match replaced.get(name) {
                    Some(ours) => out.push_str(&format!("define {name} = {ours}")),
                    None => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for name in replaced.keys().chain(ports.keys()) {
        assert!(seen.contains(*name), "{file} defines no {name}");
    }
    out
}

/// A TCP connection to `to`, from `from` (an address of this namespace)
/// or the default source; an error if it is refused or not answered
/// within [`BLOCKED_AFTER`].
async fn connect(from: Option<Ipv4Addr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = from {
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    tokio::time::timeout(BLOCKED_AFTER, socket.connect(to))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

/// `GET path` over plain HTTP from `from`; the status line.
async fn http_get(from: Ipv4Addr, to: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = connect(Some(from), to).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no response"))??;
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

/// Three node processes, one per namespace, and the auth service in the
/// first (started by the shared launcher behind `ip netns exec`), each
/// from the guide's example config.
struct MultiHost {
    dir: TempDir,
    layout: Layout,
    /// Each node's client address (`<its address>:50051`).
    addrs: BTreeMap<u64, String>,
    /// Running processes, `node<id>` and `auth` (killed ones are removed).
    processes: Processes,
    /// The guide's node config, host 1's (see [`example_node`]).
    example: NodeConfig,
    /// How clients check the nodes: the cluster CA, the node's address as
    /// the name its certificate must carry.
    tls: ClientTlsConfig,
    /// The auth service's client address, on host 1.
    auth_addr: String,
    /// Access tokens by user name.
    tokens: Mutex<BTreeMap<String, String>>,
    /// Dropped after the processes are gone (see `Drop`).
    net: Network,
}

impl MultiHost {
    async fn start(net: Network) -> Self {
        let example = example_node();
        let dir = TempDir::new().expect("temp dir");
        let layout = Layout::new(dir.path());
        let certs = layout.certs_dir();
        // What the guide's "Certificates" does with `boxoffice certs`.
        boxoffice_tls::init_ca(&certs).expect("cluster CA");
        for id in 1..=NODES {
            // The client port is dialled by address: the certificate names it.
            boxoffice_tls::issue(&certs, Identity::Node(id), &[net.host(id).to_string()])
                .expect("node certificate");
        }
        // The auth service serves its clients on host 1, over TLS.
        boxoffice_tls::issue(&certs, Identity::Auth, &[net.host(1).to_string()])
            .expect("auth certificate");
        boxoffice_auth::keys::generate(&layout.keys_dir()).expect("signing key");
        let ca = std::fs::read(certs.join(boxoffice_tls::CA_CERT_FILE)).expect("CA");
        let tls = boxoffice_tls::client_trusting(&ca, None);

        // The guide's firewall goes up on every host before anything runs.
        let rules = dir.path().join("boxoffice.nft");
        std::fs::write(&rules, firewall_rules(&net)).expect("write the firewall rules");
        if let Err(e) = net.load_firewall(&rules) {
            panic!(
                "loading {}: {e}",
                deploy("nftables/boxoffice.nft").display()
            );
        }

        let addrs = (1..=NODES)
            .map(|id| (id, format!("{}:{CLIENT_PORT}", net.host(id))))
            .collect();
        let auth = Self::auth_config(&example, &layout, &net);
        let auth_addr = auth.listen.clone();
        let processes = Processes::new(env!("CARGO_BIN_EXE_boxoffice"), dir.path())
            .env("RUST_LOG", "info,openraft=warn")
            .env("NO_COLOR", "1");
        let cluster = Self {
            dir,
            layout,
            addrs,
            processes,
            example,
            tls,
            auth_addr,
            tokens: Mutex::default(),
            net,
        };
        for id in 1..=NODES {
            cluster.spawn(id);
        }
        // The auth service reaches the nodes' peer ports from host 1, which
        // the firewall lets in. The nodes never call it: they verify tokens
        // with the public keys in `keys`.
        cluster
            .processes
            .start_with("auth", "auth", &auth, &cluster.net.on_host(1))
            .expect("spawn ip netns exec boxoffice auth");
        cluster
    }

    /// The guide's `deploy/config/auth.toml` (host 1's) with this test's
    /// addresses and paths, and the administrator this test logs in as
    /// (the guide makes it with `boxoffice admin bootstrap`).
    fn auth_config(example: &NodeConfig, layout: &Layout, net: &Network) -> AuthConfig {
        let path = deploy("config/auth.toml");
        let mut auth =
            AuthConfig::load(Some(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The guide's address of each node's host → this test's.
        let host_of = |addr: &str| -> Ipv4Addr {
            let ip = addr.parse::<SocketAddr>().expect("ip:port").ip();
            let id = example
                .initial_members
                .iter()
                .find(|m| m.addr.parse::<SocketAddr>().is_ok_and(|a| a.ip() == ip))
                .unwrap_or_else(|| {
                    panic!("{}: {addr} is on none of the guide's hosts", path.display())
                })
                .id;
            net.host(id)
        };
        auth.listen = at(&auth.listen, host_of(&auth.listen));
        auth.gateway_listen = auth.gateway_listen.map(|a| at(&a, host_of(&a)));
        auth.nodes = auth.nodes.iter().map(|a| at(a, host_of(a))).collect();
        auth.certs_dir = layout.certs_dir();
        auth.keys_dir = layout.keys_dir();
        auth.client_tls = auth
            .client_tls
            .map(|_| ClientTls::in_dir(&layout.certs_dir(), Identity::Auth));
        auth.bootstrap_admin = Some(AdminCredentials {
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        });
        auth.validate().expect("valid auth config");
        assert_eq!(
            auth.listen,
            format!("{}:{}", net.host(1), port_of(&auth.listen)),
            "the guide runs the auth service on host 1"
        );
        assert!(
            auth.client_tls.is_some(),
            "the guide's auth service serves TLS"
        );
        auth
    }

    /// The guide's node config on host `id`: the lines it marks "per host"
    /// changed as it says (the id, this host's address in the listen
    /// addresses, the certificate's file names), the members at this test's
    /// addresses, the files under this test's directory.
    fn node_config(&self, id: u64) -> NodeConfig {
        let host = self.net.host(id);
        let example = &self.example;
        let mut config = example.clone();
        config.id = id;
        config.listen = at(&example.listen, host);
        config.peer_listen = at(&example.peer_listen, host);
        config.http_listen = example.http_listen.as_deref().map(|a| at(a, host));
        config.client_tls = Some(ClientTls::in_dir(
            &self.layout.certs_dir(),
            Identity::Node(id),
        ));
        config.initial_members = example
            .initial_members
            .iter()
            .map(|m| Member {
                id: m.id,
                addr: at(&m.addr, self.net.host(m.id)),
            })
            .collect();
        config.certs_dir = self.layout.certs_dir();
        config.data_dir = self.layout.dir().join(format!("node{id}"));
        config.auth.keys_dir = self.layout.keys_dir();
        // No payment service here: bookings are confirmed at once.
        config.payment.endpoint = None;
        // The steady bookers book many seats each, fast.
        config.booking = config.booking.without_customer_caps();
        config.validate().expect("valid node config");
        config
    }

    /// Starts node `id` in its namespace, on its own address.
    fn spawn(&self, id: u64) {
        let config = self.node_config(id);
        self.processes
            .start_with(&format!("node{id}"), "node", &config, &self.net.on_host(id))
            .expect("spawn ip netns exec boxoffice node");
    }

    /// What a client machine and the monitoring host reach through the
    /// guide's firewall, on every node: a client, the client port and
    /// nothing else; the monitoring host, `/readyz` (200: the node knows
    /// a leader) and not the peer port.
    async fn check_firewall(&self) {
        let client = self.net.addr(BRIDGE_HOST);
        let monitor = self.net.addr(MONITOR_HOST);
        let checks = (1..=NODES).map(|id| async move {
            let host = self.net.host(id);
            let port = |p: u16| SocketAddr::from((host, p));
            let (client_port, peer, http, monitor_peer, readyz) = tokio::join!(
                connect(None, port(CLIENT_PORT)),
                connect(None, port(PEER_PORT)),
                connect(None, port(HTTP_PORT)),
                connect(Some(monitor), port(PEER_PORT)),
                http_get(monitor, port(HTTP_PORT), "/readyz"),
            );
            if let Err(e) = client_port {
                panic!("a client ({client}) cannot connect to node {id}'s client port: {e}");
            }
            for (who, what, result) in [
                (client, "peer", peer),
                (client, "HTTP", http),
                (monitor, "peer", monitor_peer),
            ] {
                assert!(
                    result.is_err(),
                    "{who} connected to node {id}'s {what} port through the firewall"
                );
            }
            let readyz = readyz.unwrap_or_else(|e| {
                panic!("the monitoring host ({monitor}) cannot read node {id}'s /readyz: {e}")
            });
            assert!(
                readyz.starts_with("HTTP/1.1 200"),
                "node {id}'s /readyz answered {readyz:?}"
            );
        });
        futures::future::join_all(checks).await;
    }

    /// `kill -9` of node `id`.
    fn kill(&self, id: u64) {
        self.processes.kill(&format!("node{id}"));
    }

    /// Ids of the running nodes, ascending.
    fn live(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .processes
            .names()
            .iter()
            .filter_map(|n| n.strip_prefix("node")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Panics if a node we did not kill has exited.
    fn assert_alive(&self) {
        if let Some((name, status)) = self.processes.exited() {
            panic!(
                "{} exited unexpectedly with {status}",
                name.replace("node", "node ")
            );
        }
    }

    /// A client of the nodes `ids` (in that order), over TLS, as `token`'s holder.
    fn client(&self, ids: &[u64], token: Option<&str>) -> Client {
        let addrs: Vec<&str> = ids.iter().map(|id| self.addrs[id].as_str()).collect();
        Client::with_tls(&addrs, Some(self.tls.clone()))
            .expect("client")
            .with_optional_token(token)
    }

    /// An access token for `user` (`"admin"`: the administrator),
    /// registering them first. Retries while the cluster settles.
    async fn token(&self, user: &str) -> String {
        if let Some(token) = self.tokens.lock().unwrap().get(user) {
            return token.clone();
        }
        let (email, password) = if user == "admin" {
            (ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD)
        } else {
            (format!("{user}@example.com"), PASSWORD)
        };
        let auth = Client::with_tls(&[self.auth_addr.as_str()], Some(self.tls.clone()))
            .expect("auth client");
        let token = log_in(&auth, &email, password, user != "admin").await;
        self.tokens
            .lock()
            .unwrap()
            .insert(user.to_owned(), token.clone());
        token
    }

    /// Polls the cluster status (from the live nodes, over TLS) until
    /// `done` holds.
    async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&GetStatusResponse) -> bool,
    ) -> GetStatusResponse {
        let deadline = Instant::now() + timeout;
        let client = self
            .client(&self.live(), None)
            .with_deadline(Duration::from_secs(5));
        let mut last = None;
        while Instant::now() < deadline {
            self.assert_alive();
            match client.status().await {
                Ok(s) if done(&s) => return s,
                Ok(s) => last = Some(Ok(s)),
                Err(e) => last = Some(Err(e)),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}; last status: {last:#?}\n\
             (if the nodes cannot reach each other across the bridge {}b, look for a \
             firewall: net.bridge.bridge-nf-call-iptables=1 sends bridged traffic \
             through the FORWARD chain)",
            self.net.tag
        );
    }

    /// Waits for a leader that every live node agrees on; returns the status.
    async fn leader(&self) -> GetStatusResponse {
        let live = self.live();
        self.wait_for("a leader", Duration::from_secs(60), |s| {
            s.leader_id != 0
                && live.contains(&s.leader_id)
                && live.iter().all(|id| {
                    node(s, *id).is_some_and(|n| n.reachable && n.leader_id == s.leader_id)
                })
        })
        .await
    }

    /// Waits until every node in `ids` has applied the same index, at
    /// least `min_index`.
    async fn wait_converged(&self, ids: &[u64], min_index: u64) {
        self.wait_for("replicas to converge", Duration::from_secs(60), |s| {
            let applied: Vec<Option<u64>> = ids
                .iter()
                .map(|id| {
                    node(s, *id)
                        .filter(|n| n.reachable)
                        .map(|n| n.applied_index)
                })
                .collect();
            applied
                .iter()
                .all(|a| a.is_some_and(|a| a >= min_index && Some(a) == applied[0]))
        })
        .await;
    }

    fn print_logs(&self) {
        let names = self.addrs.keys().map(|id| format!("node{id}"));
        common::print_log_tails(self.dir.path(), names.chain(["auth".to_owned()]));
    }
}

impl Drop for MultiHost {
    fn drop(&mut self) {
        self.processes.kill_all();
        if std::thread::panicking() {
            self.print_logs();
        }
        // Then `net` is dropped: the links and namespaces go.
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hosts_over_tls_lose_no_booking_when_the_leader_dies() {
    let net = match Network::create() {
        Ok(net) => net,
        Err(why) if std::env::var_os(REQUIRE_VAR).is_some() => {
            panic!("{REQUIRE_VAR} is set, but network namespaces cannot be made: {why}")
        }
        Err(why) => {
            eprintln!(
                "skipped: network namespaces cannot be made here ({why}); \
                 run as root with iproute2, or set {REQUIRE_VAR} to make this a failure"
            );
            return;
        }
    };
    let tag = net.tag.clone();
    let subnet = net.addr(0);
    let began = Instant::now();
    println!("network {tag}: {subnet}/24, bridge at .{BRIDGE_HOST}, nodes at .1-.{NODES}");
    let cluster = MultiHost::start(net).await;
    let status = cluster.leader().await;
    println!(
        "a leader (node {}) after {:?}",
        status.leader_id,
        began.elapsed()
    );
    for id in 1..=NODES {
        let n = node(&status, id).expect("every node in the status");
        let own = cluster.net.host(id).to_string();
        assert!(
            n.addr.starts_with(&format!("{own}:")),
            "node {id} is known at {}, not its own address {own}: {status:#?}",
            n.addr
        );
    }

    // Through the guide's firewall: clients reach the client ports only,
    // the monitoring host the HTTP ports; yet the nodes just elected a
    // leader over their peer ports.
    cluster.check_firewall().await;
    println!("the firewall lets clients reach the client ports and no other");

    // The client ports speak TLS only: a plaintext client gets nowhere.
    let plaintext = Client::new(&[cluster.addrs[&1].as_str()])
        .expect("client")
        .with_deadline(Duration::from_secs(2));
    assert!(
        plaintext.status().await.is_err(),
        "node 1 answered a plaintext client"
    );

    let admin = cluster.client(&[1, 2, 3], Some(&cluster.token("admin").await));
    admin
        .create_show(
            SHOW,
            "Three hosts",
            SEATS_PER_BOOKER * (STEADY_BOOKERS + 1),
            900,
            FAR_FUTURE_MS,
        )
        .await
        .expect("create show");
    // Everyone logs in now: after the kill, no one depends on the auth
    // service reaching a particular node.
    let mut tokens = BTreeMap::new();
    for user in (0..STEADY_BOOKERS)
        .map(|b| format!("steady-{b}"))
        .chain(["alice".to_owned()])
    {
        let token = cluster.token(&user).await;
        tokens.insert(user, token);
    }

    // Alice's writes go to the leader first: its death makes her client
    // fail over.
    let old = cluster.leader().await;
    let old_leader = old.leader_id;
    let order: Vec<u64> = std::iter::once(old_leader)
        .chain((1..=NODES).filter(|id| *id != old_leader))
        .collect();
    let alice = cluster.client(&order, Some(&tokens["alice"]));
    let mut alice_booked = Vec::new();
    for seat in 1..=ALICE_SEATS {
        alice_booked.push(
            alice
                .book(SHOW, &[seat])
                .await
                .expect("book before the kill"),
        );
    }
    assert_eq!(alice.current_endpoint(), cluster.addrs[&old_leader]);
    let _ = alice.take_failover();

    // Steady bookers, over all three nodes, keep booking across the kill.
    let progress = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let bookers: Vec<_> = (0..STEADY_BOOKERS)
        .map(|b| {
            let user = format!("steady-{b}");
            let client = cluster.client(&[1, 2, 3], Some(&tokens[&user]));
            let first = (b + 1) * SEATS_PER_BOOKER + 1;
            let seats = first..first + SEATS_PER_BOOKER;
            steady_booker(client, user, SHOW, seats, progress.clone(), stopped.clone())
        })
        .collect();
    wait_count(&progress, 15, "bookings before the kill").await;

    cluster.kill(old_leader);
    let killed_at = Instant::now();
    let before_kill = progress.load(Ordering::Relaxed) + ALICE_SEATS as usize;
    println!("killed the leader, node {old_leader} (kill -9)");
    for seat in ALICE_SEATS + 1..=2 * ALICE_SEATS {
        alice_booked.push(
            alice
                .book(SHOW, &[seat])
                .await
                .expect("booking after the leader died"),
        );
        if seat == ALICE_SEATS + 1 {
            println!(
                "the first booking after the kill completed {:?} after it",
                killed_at.elapsed()
            );
        }
    }
    let (failed, answered) = alice.take_failover().expect("alice's client failed over");
    assert_eq!(failed, cluster.addrs[&old_leader]);
    assert_ne!(answered, failed);

    let new = cluster.leader().await;
    assert_ne!(new.leader_id, old_leader);
    assert!(
        new.term > old.term,
        "a new leader needs a new term: {old:#?} then {new:#?}"
    );
    println!(
        "node {} leads in term {} ({:?} after the kill)",
        new.leader_id,
        new.term,
        killed_at.elapsed()
    );
    let after = progress.load(Ordering::Relaxed);
    wait_count(&progress, after + 15, "bookings after the kill").await;
    stop.send(true).expect("stop bookers");

    // Every acknowledged booking, by user.
    let mut acknowledged: BTreeMap<String, Vec<Booking>> = BTreeMap::new();
    acknowledged.insert("alice".into(), alice_booked);
    for (b, booker) in bookers.into_iter().enumerate() {
        acknowledged.insert(format!("steady-{b}"), booker.await.expect("booker"));
    }
    let mut seats: Vec<u32> = acknowledged
        .values()
        .flatten()
        .flat_map(|b| b.seat_nos.iter().copied())
        .collect();
    seats.sort_unstable();
    let distinct: BTreeSet<u32> = seats.iter().copied().collect();
    assert_eq!(distinct.len(), seats.len(), "a seat acknowledged twice");
    let total: usize = acknowledged.values().map(Vec::len).sum();
    println!(
        "{total} bookings acknowledged, about {} of them after the kill",
        total - before_kill
    );

    // On each survivor, its own replica (stale reads) and through it the
    // leader (linearizable reads) hold every acknowledged booking, once,
    // confirmed, and no other seat is booked.
    let survivors: Vec<u64> = (1..=NODES).filter(|id| *id != old_leader).collect();
    let applied = node(&cluster.leader().await, new.leader_id)
        .expect("the leader")
        .applied_index;
    cluster.wait_converged(&survivors, applied).await;
    for &id in &survivors {
        for stale in [true, false] {
            let (_, map) = cluster
                .client(&[id], None)
                .seat_map(SHOW, stale)
                .await
                .expect("seat map");
            let booked: Vec<u32> = map
                .iter()
                .filter(|s| s.state == SeatState::Booked as i32)
                .map(|s| s.seat_no)
                .collect();
            assert_eq!(booked, seats, "node {id}'s booked seats (stale: {stale})");
            for (user, theirs) in &acknowledged {
                let listed = cluster
                    .client(&[id], Some(&tokens[user]))
                    .list_bookings(stale)
                    .await
                    .expect("list bookings");
                assert!(
                    listed
                        .iter()
                        .all(|b| b.status == BookingStatus::Confirmed as i32),
                    "node {id}: {user}'s bookings are not all confirmed: {listed:#?}"
                );
                let listed: BTreeSet<(&str, &[u32])> = listed
                    .iter()
                    .map(|b| (b.booking_id.as_str(), b.seat_nos.as_slice()))
                    .collect();
                let expected: BTreeSet<(&str, &[u32])> = theirs
                    .iter()
                    .map(|b| (b.booking_id.as_str(), b.seat_nos.as_slice()))
                    .collect();
                assert_eq!(
                    listed, expected,
                    "node {id} (stale: {stale}): {user}'s bookings are exactly the acknowledged ones"
                );
            }
        }
    }
    println!(
        "checked on nodes {survivors:?}; {:?} in all",
        began.elapsed()
    );

    drop(cluster);
    assert_torn_down(&tag);
}

#[test]
fn only_names_this_test_makes_are_swept() {
    assert_eq!(owner_pid("bxt4194304n3"), Some(4_194_304));
    assert_eq!(owner_pid("bxt12b"), Some(12));
    assert_eq!(owner_pid("bxt12h1"), Some(12));
    for other in ["bxt", "bxt12", "bxt12x1", "bxt12n1x", "br-bxt12n1", "eth0"] {
        assert_eq!(owner_pid(other), None, "{other}");
    }
}

/// Every example config of the guide (deploy/config) reads and validates
/// as its process reads it; the node's is also what the guide says it is.
#[test]
fn the_guides_example_configs_are_valid() {
    example_node();
    let file = |name: &str| deploy(&format!("config/{name}.toml"));
    let fail =
        |name: &str, e: &dyn std::fmt::Display| -> ! { panic!("{}: {e}", file(name).display()) };
    AuthConfig::load(Some(&file("auth"))).unwrap_or_else(|e| fail("auth", &e));
    boxoffice_payment::config::PaymentConfig::load(Some(&file("payment")))
        .unwrap_or_else(|e| fail("payment", &e));
    boxoffice_chatbot::config::ChatbotConfig::load(Some(&file("chatbot")))
        .unwrap_or_else(|e| fail("chatbot", &e));
    boxoffice_gateway::config::GatewayConfig::load(Some(&file("gateway")))
        .unwrap_or_else(|e| fail("gateway", &e));
}
