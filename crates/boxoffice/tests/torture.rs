//! The short fault-injection profile that CI runs (docs/testing.md): every
//! fault kind once against 3 nodes, the partition and crash faults against
//! 5 nodes, and the check of the checker: with linearizable reads made
//! stale on purpose, the same suite must report violations.
//!
//! One test, run in sequence: three clusters at once would starve a
//! 2-core machine and make the recovery rule (writes within 5 s) flaky.

use std::path::Path;
use std::process::{Command, Output};

fn torture(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .arg("torture")
        .arg("--out")
        .arg(out)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run boxoffice torture")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The run's output and, for a failed run, the last lines of every
/// process log in its directory, so a failure in CI can be read from CI's
/// own output.
fn explain(out: &Path, output: &Output) -> String {
    let mut explained = text(output);
    if output.status.success() {
        return explained;
    }
    let mut logs: Vec<_> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    for path in logs {
        let content = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = content.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        explained.push_str(&format!(
            "\n--- last {} lines of {} ---\n{}",
            tail.len(),
            path.display(),
            tail.join("\n")
        ));
    }
    explained
}

/// Keeps the temporary directory of a test that panics, and says where,
/// so the whole history and every log can be read after a failure.
struct KeepOnFailure(Option<tempfile::TempDir>);

impl KeepOnFailure {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("present until drop").path()
    }
}

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!("torture output kept in {}", dir.keep().display());
        }
    }
}

fn report(out: &Path) -> serde_json::Value {
    let raw = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    serde_json::from_str(&raw).expect("report is JSON")
}

#[test]
fn faults_break_no_rule_and_the_unsafe_build_is_caught() {
    let dir = KeepOnFailure(Some(tempfile::tempdir().unwrap()));

    // 3 nodes, every fault kind once.
    let three = dir.path().join("three");
    let output = torture(&three, &["--nodes", "3", "--duration", "0", "--seed", "3"]);
    let log = explain(&three, &output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("verdict: no violations of rules 1-7"), "{log}");
    let r = report(&three);
    assert_eq!(r["faults"].as_array().unwrap().len(), 19, "{log}");
    assert!(r["operations"].as_u64().unwrap() > 500, "{log}");
    assert!(r["bookings_confirmed"].as_u64().unwrap() > 100, "{log}");
    // Kills, pauses and partitions of the leader moved the leadership.
    assert!(r["leader_changes"].as_u64().unwrap() >= 3, "{log}");
    assert!(r["final_term"].as_u64().unwrap() >= 4, "{log}");
    // The history is on disk, one operation per line.
    let history = std::fs::read_to_string(three.join("history.jsonl")).unwrap();
    assert_eq!(
        history.lines().count() as u64,
        r["operations"].as_u64().unwrap(),
        "{log}"
    );

    // 5 nodes: partitions, kills and pauses.
    let five = dir.path().join("five");
    let faults =
        "kill-leader,isolate-leader,split-minority,bridge,one-way,pause-follower,crash-all";
    let output = torture(
        &five,
        &[
            "--nodes",
            "5",
            "--duration",
            "0",
            "--seed",
            "5",
            "--faults",
            faults,
        ],
    );
    let log = explain(&five, &output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("verdict: no violations of rules 1-7"), "{log}");

    // The check of the checker: stale "linearizable" reads are caught.
    let unsafe_run = dir.path().join("unsafe");
    let output = torture(
        &unsafe_run,
        &[
            "--nodes",
            "3",
            "--duration",
            "20",
            "--seed",
            "7",
            "--faults",
            "isolate-leader,split-minority",
            "--unsafe-stale-reads",
        ],
    );
    let log = text(&output);
    assert!(!output.status.success(), "the unsafe build passed: {log}");
    assert!(log.contains("VIOLATION of rule 4"), "{log}");
}
