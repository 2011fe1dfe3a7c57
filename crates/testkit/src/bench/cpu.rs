//! What a run cost in CPU time, read from `/proc` before and after it: the
//! bench's own process, the cluster's processes on this machine (those
//! `boxoffice up` started: nodes, auth, payment, assistant, gateway, and
//! `up` itself), and the whole machine. Dividing by the
//! bookings made gives the CPU cost of one booking, measured rather than
//! guessed.
//!
//! A process that exits during the run (a node the `failover` workload
//! killed) takes its CPU time with it; one started during the run counts
//! from its start. Off Linux (no `/proc`) there is no figure.

use std::collections::BTreeMap;

use serde::Serialize;

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`, 100 on every
/// Linux architecture the project builds for; it is part of the kernel's
/// ABI, unlike the kernel's internal tick rate).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU times at one moment.
pub struct Sample {
    /// The cluster's processes: pid → (role, ticks).
    others: BTreeMap<u32, (String, u64)>,
    /// This process's ticks.
    own: u64,
    /// Busy ticks of the whole machine, all CPUs.
    machine: u64,
}

/// CPU seconds spent during a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CpuReport {
    /// The cluster's processes, in all.
    pub cluster_s: f64,
    /// The cluster's processes by role (`node`, `payment`, `auth`, …).
    pub by_role: BTreeMap<String, f64>,
    /// This bench (the load generator).
    pub bench_s: f64,
    /// Every process on the machine (busy time of all CPUs).
    pub machine_s: f64,
    /// Microseconds of CPU (cluster and bench) per booking made.
    pub per_booking_us: Option<f64>,
    /// Microseconds of the machine's busy time per booking made (adds the
    /// kernel's work outside the processes, and anything else running).
    pub machine_per_booking_us: Option<f64>,
}

impl Sample {
    /// The CPU times now, or `None` without `/proc`.
    pub fn take() -> Option<Self> {
        let own_pid = std::process::id();
        let mut others = BTreeMap::new();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == own_pid {
                continue;
            }
            let Some(role) = boxoffice_role(pid) else {
                continue;
            };
            if let Some(ticks) = process_ticks(pid) {
                others.insert(pid, (role, ticks));
            }
        }
        Some(Self {
            others,
            own: process_ticks(own_pid)?,
            machine: machine_ticks()?,
        })
    }

    /// What was spent from `self` to `later`, for `bookings` bookings.
    pub fn until(&self, later: &Sample, bookings: u64) -> CpuReport {
        let seconds = |ticks: u64| ticks as f64 / TICKS_PER_SECOND;
        let mut by_role: BTreeMap<String, f64> = BTreeMap::new();
        for (pid, (role, ticks)) in &later.others {
            // A pid seen before with more ticks than now is another
            // process that reused it: count it from its start.
            let before = self
                .others
                .get(pid)
                .filter(|(r, t)| r == role && t <= ticks)
                .map_or(0, |(_, t)| *t);
            *by_role.entry(role.clone()).or_default() += seconds(ticks - before);
        }
        let cluster_s = by_role.values().sum();
        let bench_s = seconds(later.own.saturating_sub(self.own));
        let machine_s = seconds(later.machine.saturating_sub(self.machine));
        let per_booking = |s: f64| (bookings > 0).then(|| s * 1e6 / bookings as f64);
        CpuReport {
            cluster_s,
            by_role,
            bench_s,
            machine_s,
            per_booking_us: per_booking(cluster_s + bench_s),
            machine_per_booking_us: per_booking(machine_s),
        }
    }
}

/// What `boxoffice up` starts, by subcommand (and `up` itself).
const ROLES: [&str; 6] = ["up", "node", "auth", "payment", "chatbot", "gateway"];

/// The role of a process of the cluster: its first argument after the
/// global options is one of [`ROLES`], whatever the binary is called (`up`
/// starts its processes as `<its own binary> --log-format=F <role> --config
/// <file>`); `None` for any other.
fn boxoffice_role(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    role_of(&cmdline)
}

/// [`boxoffice_role`] of a NUL-separated command line.
fn role_of(cmdline: &[u8]) -> Option<String> {
    let mut args = cmdline.split(|&b| b == 0);
    args.next()?;
    // `up` puts the global options before the role, each as one
    // `--name=value` argument (`--log-format=text`).
    let first = args.find(|a| !a.starts_with(b"-"))?;
    let first = std::str::from_utf8(first).ok()?;
    let flagged = args.any(|a| a.starts_with(b"--"));
    (ROLES.contains(&first) && flagged).then(|| first.to_owned())
}

/// User and system ticks of a process (all its threads).
fn process_ticks(pid: u32) -> Option<u64> {
    parse_process_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (in
/// parentheses) may hold spaces and parentheses, so fields are counted
/// from the last `)`: state is the first after it, utime the 12th.
fn parse_process_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of all CPUs from `/proc/stat`.
fn machine_ticks() -> Option<u64> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `cpu` line's times, less idle and iowait (guest time is already
/// inside user time).
fn parse_machine_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let times: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = times[..] else {
        return None;
    };
    Some(user + nice + system + irq + softirq + steal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_times_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 269 0 0 20 0 9 0 5 0";
        assert_eq!(parse_process_ticks(stat), Some(1000));
        assert_eq!(parse_process_ticks("4242 (x) S 1 2"), None);
    }

    #[test]
    fn the_clusters_processes_are_known_by_their_subcommand() {
        let line = |args: &[&str]| args.join("\0").into_bytes();
        assert_eq!(
            role_of(&line(&["/tmp/bo-A", "node", "--config", "n1.toml"])),
            Some("node".into())
        );
        assert_eq!(
            role_of(&line(&["boxoffice", "up", "--data-dir", "d"])),
            Some("up".into())
        );
        assert_eq!(
            role_of(&line(&[
                "/tmp/bo-A",
                "--log-format=json",
                "payment",
                "--config",
                "p.toml"
            ])),
            Some("payment".into())
        );
        assert_eq!(
            role_of(&line(&["boxoffice", "--log-format", "text", "node"])),
            None
        );
        assert_eq!(role_of(&line(&["node", "server.js"])), None);
        assert_eq!(role_of(&line(&["boxoffice", "bench", "--json"])), None);
        assert_eq!(role_of(&line(&["boxoffice", "node"])), None);
        assert_eq!(role_of(b""), None);
    }

    #[test]
    fn machine_time_is_the_busy_time_of_the_cpu_line() {
        let stat = "cpu  100 5 50 9000 40 1 2 3 0 0\ncpu0 50 2 25 4500 20 0 1 1 0 0\n";
        assert_eq!(parse_machine_ticks(stat), Some(161));
        assert_eq!(parse_machine_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn cost_is_counted_per_role_and_per_booking() {
        let before = Sample {
            others: BTreeMap::from([
                (10, ("node".to_owned(), 100)),
                (11, ("payment".to_owned(), 50)),
                // Exits during the run: its time is lost, not negative.
                (12, ("node".to_owned(), 70)),
                // Its pid is reused by a process with fewer ticks.
                (13, ("node".to_owned(), 500)),
            ]),
            own: 20,
            machine: 1_000,
        };
        let after = Sample {
            others: BTreeMap::from([
                (10, ("node".to_owned(), 300)),
                (11, ("payment".to_owned(), 90)),
                (13, ("node".to_owned(), 10)),
                // Started during the run.
                (14, ("node".to_owned(), 40)),
            ]),
            own: 80,
            machine: 2_000,
        };
        let report = before.until(&after, 1_000);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
        close(report.by_role["node"], 2.5);
        close(report.by_role["payment"], 0.4);
        close(report.cluster_s, 2.9);
        close(report.bench_s, 0.6);
        close(report.machine_s, 10.0);
        close(report.per_booking_us.unwrap(), 3_500.0);
        close(report.machine_per_booking_us.unwrap(), 10_000.0);
        assert_eq!(before.until(&after, 0).per_booking_us, None);
    }
}
