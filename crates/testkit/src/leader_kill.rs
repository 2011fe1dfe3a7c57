//! The `failover` workload's process control: find the process that
//! listens on a node's port (Linux `/proc`), kill it with SIGKILL, and
//! start the node again from the config `boxoffice up` wrote for it.

use std::path::Path;

use anyhow::{Context, bail};

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

/// Starts node `id` again from `<data_dir>/node<id>.toml`, detached, its
/// output appended to `<data_dir>/node<id>.restarted.log`.
pub fn restart(data_dir: &Path, id: u64) -> anyhow::Result<()> {
    let config = data_dir.join(format!("node{id}.toml"));
    anyhow::ensure!(
        config.exists(),
        "{} not found: pass the --data-dir of `boxoffice up`",
        config.display()
    );
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(format!("node{id}.restarted.log")))?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["node", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BOXOFFICE_") {
            command.env_remove(key);
        }
    }
    command.spawn().context("restarting the node")?;
    Ok(())
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
