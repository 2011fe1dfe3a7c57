//! The `failover` workload's process control: find the process that
//! listens on a node's port (Linux `/proc`), kill it with SIGKILL, and
//! wait for `boxoffice up` to start it again (the bench starts no process,
//! so it leaves none running); `kill_leaders` does that to the leader at even intervals over a run,
//! and `gaps_after` measures what each kill cost.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use boxoffice_client::Client;
use serde::Serialize;

use crate::bench::Shared;

/// How long a killed node may take to come back (`boxoffice up` waits up
/// to 4 s before its third restart in a row, then the node starts).
const NODE_BACK_WITHIN: Duration = Duration::from_secs(30);

/// The pid of the process listening on TCP `port` (IPv4 or IPv6).
pub fn listener_pid(port: u16) -> anyhow::Result<i32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening = *state == "0A";
            let on_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                == Some(port);
            if listening && on_port {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        bail!("no process listens on port {port}");
    }
    for entry in std::fs::read_dir("/proc")
        .context("reading /proc")?
        .flatten()
    {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.to_string_lossy() == *i)
            {
                return Ok(pid);
            }
        }
    }
    bail!("the process listening on port {port} was not found (another user's?)")
}

/// SIGKILL to `pid`.
pub fn kill(pid: i32) -> anyhow::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .with_context(|| format!("killing process {pid}"))
}

/// The cost of the leader kills.
#[derive(Serialize)]
pub(crate) struct FailoverReport {
    /// The node killed each time.
    pub(crate) killed: Vec<u64>,
    /// After each kill, the longest time with no successful booking, ms.
    pub(crate) gaps_ms: Vec<f64>,
    /// Their median, ms.
    pub(crate) median_gap_ms: f64,
    /// Their maximum, ms.
    pub(crate) max_gap_ms: f64,
    /// Acknowledged bookings missing (or not confirmed) at the end: must be 0.
    pub(crate) lost: u64,
}

/// Kills the leader `kills` times at even intervals over the run,
/// waiting after each for a new leader and for `boxoffice up` to bring
/// the killed node back. Returns the kill
/// times (since the start) and the nodes killed.
pub(crate) async fn kill_leaders(
    admin: &Client,
    kills: u32,
    shared: &Shared,
) -> anyhow::Result<(Vec<Duration>, Vec<u64>)> {
    let run = shared.deadline - shared.started;
    let period = run / (kills + 1);
    let (mut times, mut killed) = (Vec::new(), Vec::new());
    for k in 1..=kills {
        tokio::time::sleep_until((shared.started + period * k).into()).await;
        let status = admin.status().await.map_err(boxoffice_cli::output::api)?;
        let leader = status
            .nodes
            .iter()
            .find(|n| n.node_id == status.leader_id)
            .context("no leader to kill")?;
        let port: u16 = leader
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("the leader's address has no port")?;
        let pid = crate::leader_kill::listener_pid(port)?;
        crate::leader_kill::kill(pid)?;
        times.push(shared.started.elapsed());
        killed.push(leader.node_id);
        // Wait for a new leader, then bring the node back.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = admin.status().await
                && s.leader_id != 0
                && s.leader_id != leader.node_id
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "no new leader within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // `boxoffice up` starts the killed node again; wait for it, so that
        // the next kill finds a full cluster. The bench starts no process
        // of its own, so it leaves none behind.
        let deadline = Instant::now() + NODE_BACK_WITHIN;
        loop {
            if let Ok(s) = admin.status().await
                && s.nodes
                    .iter()
                    .any(|n| n.node_id == leader.node_id && n.reachable)
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "node {} did not come back within {NODE_BACK_WITHIN:?} of its kill: the failover \
                 workload runs against `boxoffice up`, which starts a killed node again",
                leader.node_id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok((times, killed))
}

/// The longest gap between successful bookings in each window that starts
/// at a kill (and ends at the next kill, or the end of the run), ms.
pub(crate) fn gaps_after(kills: &[Duration], completed: &[Duration], end: Duration) -> Vec<f64> {
    kills
        .iter()
        .enumerate()
        .map(|(i, &from)| {
            let to = kills.get(i + 1).copied().unwrap_or(end);
            let before = completed
                .iter()
                .rev()
                .find(|t| **t <= from)
                .copied()
                .unwrap_or(from);
            let mut last = before;
            let mut longest = Duration::ZERO;
            for &t in completed.iter().filter(|t| **t > from && **t <= to) {
                longest = longest.max(t - last);
                last = t;
            }
            longest = longest.max(to.saturating_sub(last).min(to - from));
            longest.as_secs_f64() * 1000.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listener_pid(port).unwrap(), std::process::id() as i32);
        drop(listener);
        assert!(listener_pid(port).is_err());
    }
}
