//! The faults a torture run injects, and how each is undone.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;

use super::cluster::Cluster;
use super::proxy::LinkMode;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `kill -9` of the leader; restarted at heal.
    KillLeader,
    /// `kill -9` of a follower; restarted at heal.
    KillFollower,
    /// SIGSTOP of the leader; SIGCONT at heal.
    PauseLeader,
    /// SIGSTOP of a follower; SIGCONT at heal.
    PauseFollower,
    /// The leader cut off from every other node, both ways.
    IsolateLeader,
    /// A minority (a follower with 3 nodes; the leader and a follower with
    /// 5) cut off from the majority.
    SplitMinority,
    /// The leader's outgoing links dropped; the others still reach it.
    OneWay,
    /// Two sides that cannot reach each other, and one node that reaches
    /// both.
    Bridge,
    /// Every node-to-node link delayed.
    Delay,
    /// Every node-to-node link loses connections.
    Loss,
    /// Every node killed at once; all restarted at heal (cold restart).
    CrashAll,
    /// The payment service killed; restarted at heal.
    PaymentDown,
    /// Every call to the payment service delayed by 400 ms each way.
    PaymentSlow,
    /// The payment service acts on calls but its replies are lost.
    PaymentTimeout,
    /// A node restarted with a crash point between hold and charge
    /// (debug builds); it dies at its first checkout.
    CrashAfterHold,
    /// The same between charge and confirm.
    CrashAfterCharge,
    /// A node restarted to die just before its next log flush.
    CrashBeforeFlush,
    /// A node restarted to die just after a log flush, before anyone
    /// learns it is durable.
    CrashAfterFlush,
    /// A node restarted to die after a proposal is applied, before the
    /// outcome goes back to the caller.
    CrashAfterApply,
}

impl Fault {
    /// The crash point a node is restarted with for this fault, if any.
    pub fn crash_point(self) -> Option<&'static str> {
        use boxoffice_node::crash as node;
        use boxoffice_raft::crash as raft;
        match self {
            Fault::CrashAfterHold => Some(node::AFTER_HOLD),
            Fault::CrashAfterCharge => Some(node::AFTER_CHARGE),
            Fault::CrashBeforeFlush => Some(raft::BEFORE_LOG_FLUSH),
            Fault::CrashAfterFlush => Some(raft::AFTER_LOG_FLUSH),
            Fault::CrashAfterApply => Some(raft::AFTER_APPLY),
            _ => None,
        }
    }
}

impl Fault {
    /// Every fault kind this build can inject, in schedule order (crash
    /// points exist only in debug builds).
    pub fn all() -> Vec<Fault> {
        use clap::ValueEnum;
        Fault::value_variants()
            .iter()
            .copied()
            .filter(|f| cfg!(debug_assertions) || f.crash_point().is_none())
            .collect()
    }
}

/// What an injected fault changed, to undo at heal.
#[derive(Default, Debug)]
pub struct Injected {
    /// What was done, for the report.
    pub description: String,
    killed: Vec<String>,
    paused: Vec<String>,
    crash_point_node: Option<u64>,
}

impl Injected {
    /// The node restarted with a crash point, if this fault did that.
    pub fn crash_point_node(&self) -> Option<u64> {
        self.crash_point_node
    }
}

/// A tiny deterministic generator for the schedule's choices.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn node(id: u64) -> String {
    format!("node{id}")
}

/// Blackholes every link between `a` and `b`, both ways.
fn cut(cluster: &Cluster, a: &BTreeSet<u64>, b: &BTreeSet<u64>) {
    for ((from, to), link) in &cluster.links {
        if (a.contains(from) && b.contains(to)) || (b.contains(from) && a.contains(to)) {
            link.set(LinkMode::Blackhole);
        }
    }
}

/// Injects `fault`; `leader` is the current leader.
pub fn inject(
    cluster: &Cluster,
    fault: Fault,
    leader: u64,
    rng: &mut Rng,
) -> anyhow::Result<Injected> {
    let ids = cluster.ids();
    let followers: Vec<u64> = ids.iter().copied().filter(|id| *id != leader).collect();
    let follower = rng.pick(&followers);
    let mut injected = Injected::default();
    match fault {
        Fault::KillLeader | Fault::KillFollower => {
            let victim = if fault == Fault::KillLeader {
                leader
            } else {
                follower
            };
            cluster.kill(&node(victim));
            injected.killed.push(node(victim));
            injected.description = format!("kill -9 node {victim}");
        }
        Fault::PauseLeader | Fault::PauseFollower => {
            let victim = if fault == Fault::PauseLeader {
                leader
            } else {
                follower
            };
            cluster.signal(&node(victim), Signal::SIGSTOP)?;
            injected.paused.push(node(victim));
            injected.description = format!("SIGSTOP node {victim}");
        }
        Fault::IsolateLeader => {
            cut(
                cluster,
                &BTreeSet::from([leader]),
                &followers.iter().copied().collect(),
            );
            injected.description = format!("node {leader} (leader) isolated");
        }
        Fault::SplitMinority => {
            let minority: BTreeSet<u64> = if ids.len() >= 5 {
                BTreeSet::from([leader, follower])
            } else {
                BTreeSet::from([follower])
            };
            let majority: BTreeSet<u64> = ids
                .iter()
                .copied()
                .filter(|id| !minority.contains(id))
                .collect();
            cut(cluster, &minority, &majority);
            injected.description = format!("minority {minority:?} | majority {majority:?}");
        }
        Fault::OneWay => {
            for ((from, _), link) in &cluster.links {
                if *from == leader {
                    link.set(LinkMode::Blackhole);
                }
            }
            injected.description = format!("node {leader} (leader) cannot send to the others");
        }
        Fault::Bridge => {
            // The bridge is a follower; the leader is on one side.
            let bridge = follower;
            let rest: Vec<u64> = ids.iter().copied().filter(|id| *id != bridge).collect();
            let half = rest.len() / 2;
            let side_a: BTreeSet<u64> = rest[..half].iter().copied().collect();
            let side_b: BTreeSet<u64> = rest[half..].iter().copied().collect();
            cut(cluster, &side_a, &side_b);
            injected.description = format!("{side_a:?} | bridge {bridge} | {side_b:?}");
        }
        Fault::Delay => {
            let ms = 20 + rng.below(30);
            for link in cluster.links.values() {
                link.set(LinkMode::Delay(Duration::from_millis(ms)));
            }
            injected.description = format!("every node link delayed {ms} ms per chunk");
        }
        Fault::Loss => {
            for link in cluster.links.values() {
                link.set(LinkMode::Lossy(0.02));
            }
            injected.description =
                "every node link drops 2 % of chunks (closing the connection)".into();
        }
        Fault::CrashAll => {
            for id in &ids {
                cluster.kill(&node(*id));
                injected.killed.push(node(*id));
            }
            injected.description = "every node killed".into();
        }
        Fault::PaymentDown => {
            cluster.kill("payment");
            injected.killed.push("payment".into());
            injected.description = "payment service killed".into();
        }
        Fault::PaymentSlow => {
            for link in cluster.payment_links.values() {
                link.set(LinkMode::Delay(Duration::from_millis(400)));
            }
            injected.description = "payment calls delayed 400 ms each way".into();
        }
        Fault::PaymentTimeout => {
            for link in cluster.payment_links.values() {
                link.set(LinkMode::DropReplies);
            }
            injected.description = "payment replies lost (timeout after charge)".into();
        }
        Fault::CrashAfterHold
        | Fault::CrashAfterCharge
        | Fault::CrashBeforeFlush
        | Fault::CrashAfterFlush
        | Fault::CrashAfterApply => {
            let point = fault.crash_point().unwrap_or_default();
            let victim = rng.pick(&ids);
            cluster.kill(&node(victim));
            // Relaying off: a follower would hand its checkouts to the
            // leader (which has no crash point) and never reach its own.
            cluster.spawn_node_with(
                victim,
                &[
                    (
                        boxoffice_node::crash::CRASH_AT_VAR.to_owned(),
                        point.to_owned(),
                    ),
                    (
                        "BOXOFFICE_PAYMENT__RELAY_CHECKOUTS".to_owned(),
                        "false".to_owned(),
                    ),
                ],
            )?;
            injected.crash_point_node = Some(victim);
            injected.description = format!("node {victim} restarted with crash point {point}");
        }
    }
    Ok(injected)
}

/// Undoes `injected`: links up, paused processes resumed, killed ones
/// restarted, a crash-point node restarted without its crash point.
/// Returns what happened to a crash-point node, for the report.
pub fn heal(cluster: &Cluster, injected: &Injected) -> anyhow::Result<Option<String>> {
    cluster.heal_links();
    for name in &injected.paused {
        cluster.signal(name, Signal::SIGCONT)?;
    }
    for name in &injected.killed {
        if name == "payment" {
            cluster.spawn_payment()?;
        } else if let Some(id) = name.strip_prefix("node").and_then(|n| n.parse().ok()) {
            cluster.spawn_node(id)?;
        }
    }
    let mut note = None;
    if let Some(id) = injected.crash_point_node {
        let crashed = !cluster.running(&node(id));
        note = Some(if crashed {
            format!("node {id} died at its crash point")
        } else {
            format!(
                "node {id} did not reach its crash point (no checkout there, or a release build)"
            )
        });
        cluster.kill(&node(id));
        cluster.spawn_node(id)?;
    }
    Ok(note)
}
