//! Tests of the node's configuration: defaults, layering, validation.

use super::*;

fn three() -> NodeConfig {
    NodeConfig {
        initial_members: (1..=3)
            .map(|i| Member {
                id: i,
                addr: format!("127.0.0.1:5007{i}"),
            })
            .collect(),
        ..NodeConfig::default()
    }
}

#[test]
fn defaults_are_valid() {
    NodeConfig::default().validate().unwrap();
    three().validate().unwrap();
}

#[test]
fn bad_payment_settings_are_named() {
    let with = |payment: PaymentSettings| NodeConfig { payment, ..three() };
    let cases = [
        (
            with(PaymentSettings {
                endpoint: Some("127.0.0.1:6000".into()),
                ..PaymentSettings::default()
            }),
            "payment.endpoint",
        ),
        (
            with(PaymentSettings {
                currency: "euro".into(),
                ..PaymentSettings::default()
            }),
            "payment.currency",
        ),
        (
            with(PaymentSettings {
                hold_ms: 0,
                ..PaymentSettings::default()
            }),
            "payment.hold_ms",
        ),
        (
            with(PaymentSettings {
                checkout_hold_ms: boxoffice_core::MAX_HOLD_TTL_MS + 1,
                ..PaymentSettings::default()
            }),
            "payment.checkout_hold_ms",
        ),
        (
            with(PaymentSettings {
                sweep_interval_ms: 0,
                ..PaymentSettings::default()
            }),
            "payment.sweep_interval_ms",
        ),
    ];
    for (config, needle) in cases {
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    with(PaymentSettings {
        endpoint: Some("https://127.0.0.1:6001".into()),
        ..PaymentSettings::default()
    })
    .validate()
    .unwrap();
    let plaintext = with(PaymentSettings {
        endpoint: Some("http://127.0.0.1:6001".into()),
        ..PaymentSettings::default()
    });
    assert!(plaintext.validate().is_err());
}

#[test]
fn bad_values_are_named() {
    let cases: Vec<(NodeConfig, &str)> = vec![
        (NodeConfig { id: 0, ..three() }, "id must be at least 1"),
        (
            NodeConfig {
                listen: "nowhere".into(),
                ..three()
            },
            "listen",
        ),
        (
            NodeConfig {
                advertise: Some("host".into()),
                ..three()
            },
            "advertise",
        ),
        (
            NodeConfig {
                http_listen: Some("localhost".into()),
                ..three()
            },
            "http_listen = \"localhost\" is not an ip:port",
        ),
        (
            NodeConfig {
                http_listen: Some("127.0.0.1:50051".into()),
                ..three()
            },
            "also a gRPC listen address",
        ),
        (
            NodeConfig {
                peer_listen: "127.0.0.1:50051".into(),
                ..three()
            },
            "peer_listen = \"127.0.0.1:50051\" is also the client listen address",
        ),
        (
            NodeConfig {
                peer_advertise: Some("host".into()),
                ..three()
            },
            "peer_advertise",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    max_watch_streams: 0,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.max_watch_streams",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    max_watch_streams_per_client: 0,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.max_watch_streams_per_client",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    max_room_waits: 0,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.max_room_waits",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    waitlist_offer_ms: 1_000,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.waitlist_offer_ms",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    writes_per_user_per_second: 50,
                    write_burst_per_user: 10,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.write_burst_per_user",
        ),
        (
            NodeConfig {
                booking: BookingSettings {
                    watch_send_timeout_ms: 5,
                    ..BookingSettings::default()
                },
                ..three()
            },
            "booking.watch_send_timeout_ms",
        ),
        (
            NodeConfig {
                data_dir: PathBuf::new(),
                ..three()
            },
            "data_dir",
        ),
        (NodeConfig { id: 9, ..three() }, "must include this node"),
        (
            NodeConfig {
                peer_listen: "127.0.0.1:6000".into(),
                ..three()
            },
            "advertises",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    heartbeat_ms: 500,
                    ..RaftTuning::default()
                },
                ..three()
            },
            "election_timeout_min_ms",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    commit_only_delay_ms: 200,
                    ..RaftTuning::default()
                },
                ..three()
            },
            "raft.commit_only_delay_ms (200) must stay below raft.heartbeat_ms (100)",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    heartbeat_ms: 100,
                    commit_only_delay_ms: 90,
                    election_timeout_min_ms: 150,
                    election_timeout_max_ms: 300,
                    ..RaftTuning::default()
                },
                ..three()
            },
            "raft.heartbeat_ms (100) plus raft.commit_only_delay_ms (90) must stay below",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    election_timeout_max_ms: 100,
                    ..RaftTuning::default()
                },
                ..three()
            },
            "election_timeout_max_ms",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    snapshot_every_entries: 0,
                    ..RaftTuning::default()
                },
                ..three()
            },
            "snapshot_every_entries",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    dial: vec![Member {
                        id: 1,
                        addr: "127.0.0.1:1".into(),
                    }],
                    ..RaftTuning::default()
                },
                ..three()
            },
            "raft.dial: node 1 must be another node",
        ),
        (
            NodeConfig {
                raft: RaftTuning {
                    dial: vec![Member {
                        id: 2,
                        addr: "proxy".into(),
                    }],
                    ..RaftTuning::default()
                },
                ..three()
            },
            "raft.dial: address \"proxy\"",
        ),
    ];
    for (config, expected) in cases {
        let err = config.validate().expect_err(expected).to_string();
        assert!(
            err.contains(expected),
            "{err:?} should mention {expected:?}"
        );
    }
    let mut dup = three();
    dup.initial_members.push(Member {
        id: 2,
        addr: "127.0.0.1:1".into(),
    });
    assert!(
        dup.validate()
            .unwrap_err()
            .to_string()
            .contains("appears twice")
    );
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
fn file_then_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "node.toml",
            r#"
                id = 2
                listen = "127.0.0.1:50052"
                data_dir = "/tmp/n2"
                [raft]
                heartbeat_ms = 40
            "#,
        )?;
        jail.set_env("BOXOFFICE_RAFT__HEARTBEAT_MS", "30");
        jail.set_env("BOXOFFICE_UNRELATED", "ignored");
        let config = NodeConfig::load(Some(Path::new("node.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(config.id, 2);
        assert_eq!(config.raft.heartbeat_ms, 30);
        assert_eq!(config.raft.election_timeout_min_ms, ELECTION_TIMEOUT_MIN_MS);

        jail.create_file("typo.toml", "idd = 2")?;
        let err = NodeConfig::load(Some(Path::new("typo.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("idd"), "{err}");
        Ok(())
    });
}

#[test]
fn a_shared_key_is_made_private_kept_and_refused_when_others_may_read_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("admission.key");
    let made = SecretKey::load_or_create(&path).unwrap();
    assert!(made.bytes().is_some());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(SecretKey::load_or_create(&path).unwrap(), made, "kept");
    assert_eq!(format!("{made:?}"), "SecretKey(…)");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SecretKey::load_or_create(&path).unwrap_err().to_string();
    assert!(err.contains("may be read by others (mode 644)"), "{err}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, "not hex").unwrap();
    let err = SecretKey::load_or_create(&path).unwrap_err().to_string();
    assert!(err.contains("does not hold 64 hex digits"), "{err}");
}

#[test]
fn an_admission_key_that_is_not_64_hex_digits_is_refused() {
    let mut config = NodeConfig::default();
    config.booking.admission_key = Some(SecretKey("abc".into()));
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("booking.admission_key must be 64 hex digits"),
        "{err}"
    );
}
