//! The process's own figures, read from `/proc/self` when scraped (Linux;
//! elsewhere nothing is reported): resident memory and its peak, threads,
//! open file descriptors. The names are Prometheus's usual ones.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::gauge;

/// Reports this process's figures; register it in a registry without prefix.
#[derive(Debug)]
pub struct ProcessCollector;

/// The number after `key` (such as `VmRSS:`, in kB, or `Threads:`) in a
/// `/proc/*/status` text.
fn status_value(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for (key, name, help, scale) in [
                (
                    "VmRSS:",
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes",
                    1024,
                ),
                (
                    "VmHWM:",
                    "process_resident_memory_peak_bytes",
                    "Peak resident memory size in bytes",
                    1024,
                ),
                ("Threads:", "process_threads", "Threads in the process", 1),
            ] {
                if let Some(value) = status_value(&status, key) {
                    gauge(&mut encoder, name, help, value * scale)?;
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // Less the descriptor reading the directory.
            let open = (fds.count() as u64).saturating_sub(1);
            gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                open,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n";
        assert_eq!(status_value(status, "VmRSS:"), Some(1024));
        assert_eq!(status_value(status, "VmHWM:"), Some(2048));
        assert_eq!(status_value(status, "Threads:"), Some(7));
        assert_eq!(status_value(status, "VmSwap:"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reports_this_process() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let text = crate::render(&registry);
        let rss: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no resident memory in\n{text}"));
        assert!(rss > 1024 * 1024, "{rss}");
        assert!(text.contains("process_open_fds "), "{text}");
    }
}
