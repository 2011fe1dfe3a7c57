//! `boxoffice up` as an operator runs it: a process that is killed
//! (SIGKILL, not counted) or crashes (SIGABRT, counted as a quick death) is
//! said to have died and is started again, and Ctrl-C (SIGTERM here) stops
//! every process `up` started, the restarted one too, freeing its ports;
//! `--log-format json` reaches every process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boxoffice_testkit::leader_kill::{kill, listener_pid};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// A free loopback port, found now.
fn free_port() -> u16 {
    boxoffice_launch::free_addr()
        .expect("a spare loopback port")
        .port()
}

/// Waits up to `within` for `condition`, polling; panics with `what`.
fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the node's `/readyz` answers 200.
fn ready(metrics_port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", metrics_port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[test]
fn up_restarts_a_process_that_died_and_stops_every_process_it_started() {
    let data = tempfile::tempdir().unwrap();
    let (node, peer, metrics) = (free_port(), free_port(), free_port());
    let ports = [
        ("--base-port", node),
        ("--peer-base-port", peer),
        ("--metrics-base-port", metrics),
        ("--auth-port", free_port()),
        ("--auth-gateway-port", free_port()),
        ("--payment-port", free_port()),
        ("--payment-peer-port", free_port()),
        ("--chatbot-port", free_port()),
        ("--gateway-port", free_port()),
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    command
        .args(["--log-format", "json", "up", "--nodes", "1", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (flag, port) in ports {
        command.arg(flag).arg(port.to_string());
    }
    let mut up = command.spawn().expect("start boxoffice up");
    // Everything `up` and its processes say, kept for the checks below.
    let said = Arc::new(Mutex::new(String::new()));
    let stderr = up.stderr.take().unwrap();
    let copy = Arc::clone(&said);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut said = copy.lock().unwrap();
            said.push_str(&line);
            said.push('\n');
        }
    });
    let says = |text: &str| said.lock().unwrap().contains(text);

    wait_for("the node to be ready", Duration::from_secs(120), || {
        ready(metrics)
    });
    let first = listener_pid(node).expect("the node's pid");
    kill(first).unwrap();

    // `up` says so, starts it again, and the node serves again.
    wait_for("up to report the death", Duration::from_secs(30), || {
        says("node1 was killed")
    });
    wait_for(
        "up to start the node again",
        Duration::from_secs(30),
        || says("node1 started again"),
    );
    wait_for(
        "the restarted node to be ready",
        Duration::from_secs(60),
        || ready(metrics) && listener_pid(node).is_ok_and(|pid| pid != first),
    );
    let second = listener_pid(node).unwrap();
    // `up --log-format json`: its processes log JSON too, one object a line.
    let node_line = said
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("node1 | ").map(str::to_owned))
        .expect("a line of node1");
    let parsed: serde_json::Value = serde_json::from_str(&node_line)
        .unwrap_or_else(|e| panic!("node1 logged {node_line:?}, not JSON: {e}"));
    assert!(parsed["level"].is_string(), "{parsed}");
    // A SIGKILL is someone's doing, not a failure: not counted.
    assert!(says("starting it again in 1s"), "{}", said.lock().unwrap());
    assert!(!says("restart 1 of at most 3"), "{}", said.lock().unwrap());

    // A crash (SIGABRT, as a panic that aborts) is the process failing:
    // counted, and started again all the same.
    nix::sys::signal::kill(Pid::from_raw(second), Signal::SIGABRT).unwrap();
    wait_for("up to report the crash", Duration::from_secs(30), || {
        says("node1 exited on its own") && says("restart 1 of at most 3")
    });
    wait_for(
        "the node to be ready after its crash",
        Duration::from_secs(60),
        || ready(metrics) && listener_pid(node).is_ok_and(|pid| pid != second),
    );
    let second = listener_pid(node).unwrap();

    // Ctrl-C: `up` stops everything, the restarted node too.
    nix::sys::signal::kill(Pid::from_raw(up.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    assert!(status.success(), "up: {status}\n{}", said.lock().unwrap());
    assert!(
        listener_pid(node).is_err(),
        "the restarted node still holds its port"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{second}")).exists()
            || std::fs::read_to_string(format!("/proc/{second}/stat"))
                .is_ok_and(|stat| stat.contains(") Z ")),
        "the restarted node (pid {second}) still runs"
    );
}
