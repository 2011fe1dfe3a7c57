//! How a process logs: to stderr, for people or for a collector.
//!
//! - The filter is `RUST_LOG` (tracing-subscriber's `EnvFilter` syntax),
//!   or [`DEFAULT_FILTER`] when it is unset, empty or invalid (an invalid
//!   one is reported in the first line). openraft stays at `warn` unless
//!   `RUST_LOG` names it: `RUST_LOG=info` (what the systemd units set)
//!   does not turn on openraft's own INFO account of every vote and
//!   snapshot; `RUST_LOG=info,openraft=info` does.
//! - The format is [`LogFormat`]: `text` (one line an event, timestamp,
//!   level, message, then the event's fields; coloured only for a person
//!   at a terminal without `NO_COLOR`) or `json` (one object a line:
//!   `timestamp`, `level`, `target`, `fields` with the `message`, and the
//!   current `span` if any). The binary's global `--log-format` flag
//!   chooses it before the service starts.
//! - openraft's chatter is quiet: a few of its events are written at WARN
//!   or ERROR for every failed RPC to a peer (about five lines of ~500
//!   characters every 500 ms for a dead follower) or at every normal start
//!   ("A message will be ignored because vote changed"). The network layer
//!   says what they mean in one line per peer (`peer 2 unreachable since
//!   …`, a summary at most every 10 s, `peer 2 reachable again after …`),
//!   so they are treated as DEBUG: written only when the filter enables
//!   DEBUG for their target (`RUST_LOG=info,openraft=debug` shows them,
//!   still labelled with their own level). See [`OPENRAFT_CHATTER`].
//!
//! The format is process-wide state ([`set_log_format`]) because the
//! subscriber is: the services' entry points ([`crate::process`]) take no
//! logging settings of their own.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// The filter when `RUST_LOG` is unset: our own INFO, openraft's WARN
/// (less its chatter, see [`OPENRAFT_CHATTER`]).
pub const DEFAULT_FILTER: &str = "info,openraft=warn";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line an event, for people.
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Chooses the format of this process's logs; call it before
/// [`init_tracing`] (or [`crate::process`]). The first call wins.
pub fn set_log_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// The format chosen for this process's logs (text unless set).
pub fn log_format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

impl LogFormat {
    /// The flag that chooses this format for a child process of the binary.
    pub fn flag(self) -> &'static str {
        match self {
            LogFormat::Text => "--log-format=text",
            LogFormat::Json => "--log-format=json",
        }
    }
}

/// Sets up logging to stderr for a process: `RUST_LOG` or
/// [`DEFAULT_FILTER`], in the format of [`set_log_format`] (text by
/// default), with openraft's chatter quiet.
pub fn init_tracing() {
    let format = FORMAT.get().copied().unwrap_or_default();
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (directives, invalid) = match std::env::var("RUST_LOG") {
        Ok(set) if set.trim().is_empty() => (DEFAULT_FILTER.to_owned(), None),
        Ok(set) => match EnvFilter::try_new(&set) {
            Ok(_) => (set, None),
            Err(e) => (DEFAULT_FILTER.to_owned(), Some((set, e))),
        },
        Err(_) => (DEFAULT_FILTER.to_owned(), None),
    };
    subscriber(format, &directives, ansi, std::io::stderr).init();
    if let Some((set, error)) = invalid {
        tracing::warn!(rust_log = %set, %error, "RUST_LOG is not a valid filter; using {DEFAULT_FILTER}");
    }
}

/// `directives`, with openraft at WARN unless they name it.
fn openraft_at_warn_unless_named(directives: &str) -> String {
    if directives
        .split(',')
        .any(|directive| directive.trim().starts_with("openraft"))
    {
        directives.to_owned()
    } else {
        format!("{directives},openraft=warn")
    }
}

/// The subscriber [`init_tracing`] installs, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    directives: &str,
    ansi: bool,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let directives = openraft_at_warn_unless_named(directives);
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let layer = match format {
        // Targets are left out for people: the message says what happened.
        LogFormat::Text => fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter.and(Quiet::new(&directives))))
}

/// A kind of openraft event that repeats for every failed RPC to a peer,
/// or at every normal start, and means nothing the nodes do not say better
/// themselves.
pub struct Chatter {
    /// Its target (openraft's module).
    pub target: &'static str,
    /// Its levels.
    pub levels: &'static [Level],
    /// A field it must carry, when its module also writes events that are
    /// not chatter.
    pub with_field: Option<&'static str>,
    /// What it is and why it can go.
    pub why: &'static str,
}

impl Chatter {
    fn matches(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event()
            && meta.target() == self.target
            && self.levels.contains(meta.level())
            && self
                .with_field
                .is_none_or(|field| meta.fields().field(field).is_some())
    }
}

const WARN_AND_ERROR: &[Level] = &[Level::WARN, Level::ERROR];

/// openraft 0.9.25's chatter, written only when the filter enables DEBUG
/// for its target.
pub const OPENRAFT_CHATTER: &[Chatter] = &[
    Chatter {
        target: "openraft::replication",
        levels: WARN_AND_ERROR,
        with_field: None,
        why: "a replication stream's failed RPC (three lines, each with the whole error \
              chain) and its 500 ms back-off; the network layer reports the peer",
    },
    Chatter {
        target: "openraft::network::snapshot_transport",
        levels: WARN_AND_ERROR,
        with_field: None,
        why: "a failed or timed-out snapshot chunk, retried; the network layer reports the peer",
    },
    Chatter {
        target: "openraft::engine::handler::replication_handler",
        levels: &[Level::WARN],
        with_field: None,
        why: "the same failed RPC again, as progress and heartbeat errors \
              (its ERROR precedes a panic and stays)",
    },
    Chatter {
        target: "openraft::core::raft_core",
        levels: &[Level::WARN],
        with_field: None,
        why: "a reply ignored because the vote or membership changed since it was sent \
              (every election, every start), a removed replication target",
    },
    Chatter {
        target: "openraft::core::raft_core",
        levels: &[Level::ERROR],
        with_field: Some("target"),
        why: "one peer's vote or leadership-confirmation RPC failed or timed out \
              (a line per peer per election); the network layer reports the peer",
    },
    Chatter {
        target: "openraft::engine::engine_impl",
        levels: &[Level::ERROR],
        with_field: Some("vote"),
        why: "\"Can not initialize\" at every start of a formed cluster's member: the node \
              initialises every time and carries on when openraft answers NotAllowed",
    },
];

/// Hides [`OPENRAFT_CHATTER`] unless the filter enables DEBUG for its
/// target.
struct Quiet {
    /// Per rule of [`OPENRAFT_CHATTER`]: whether it is shown.
    shown: Vec<bool>,
}

impl Quiet {
    fn new(directives: &str) -> Self {
        // Targets reads the plain `target=level` directives; a filter with
        // span or field directives keeps the chatter quiet.
        let targets = directives.parse::<Targets>().ok();
        let shown = OPENRAFT_CHATTER
            .iter()
            .map(|rule| {
                targets
                    .as_ref()
                    .is_some_and(|t| t.would_enable(rule.target, &Level::DEBUG))
            })
            .collect();
        Self { shown }
    }

    fn hides(&self, meta: &Metadata<'_>) -> bool {
        OPENRAFT_CHATTER
            .iter()
            .zip(&self.shown)
            .any(|(rule, shown)| !shown && rule.matches(meta))
    }
}

impl<S> Filter<S> for Quiet {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        !self.hides(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.hides(meta) {
            Interest::never()
        } else {
            Interest::always()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written to memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// What `format` under `directives` writes for a few events: ours, and
    /// openraft's chatter and non-chatter.
    fn log(format: LogFormat, directives: &str) -> Vec<String> {
        let out = Captured::default();
        let subscriber = subscriber(format, directives, false, out.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("serve", node = 3);
            let _entered = span.enter();
            tracing::warn!(
                peer = 2,
                cause = "Connection refused",
                "peer 2 unreachable since 18:34:20 UTC, retrying"
            );
            tracing::info!(
                quote = "say \"hi\"\n",
                "a message with \"quotes\" and a\nnewline"
            );
            tracing::warn!(target: "openraft::replication", error = "a long chain", "error replication to target=2");
            tracing::error!(target: "openraft::core::raft_core", target = 2, error = "timeout", "while requesting vote");
            tracing::warn!(target: "openraft::core::raft_core", "A message will be ignored because vote changed");
            tracing::error!(target: "openraft::core::raft_core", error = "storage", "quit RaftCore::main on error");
            tracing::error!(target: "openraft::engine::handler::replication_handler", error = "x", "update_matching");
            tracing::info!(target: "openraft::engine::engine_impl", "Engine::handle_vote_req");
            tracing::debug!("not at INFO");
        });
        out.lines()
    }

    #[test]
    fn json_lines_are_objects_with_timestamp_level_target_fields_and_message() {
        let lines = log(LogFormat::Json, DEFAULT_FILTER);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        let objects: Vec<serde_json::Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let first = &objects[0];
        assert!(
            first["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{first}"
        );
        assert_eq!(first["level"], "WARN");
        assert_eq!(first["target"], module_path!());
        assert_eq!(
            first["fields"]["message"],
            "peer 2 unreachable since 18:34:20 UTC, retrying"
        );
        assert_eq!(first["fields"]["peer"], 2);
        assert_eq!(first["fields"]["cause"], "Connection refused");
        assert_eq!(first["span"]["name"], "serve");
        assert_eq!(first["span"]["node"], 3);
        // Quotes and newlines stay inside the one line's strings.
        assert_eq!(
            objects[1]["fields"]["message"],
            "a message with \"quotes\" and a\nnewline"
        );
        assert_eq!(objects[1]["fields"]["quote"], "say \"hi\"\n");
        // openraft's real errors stay.
        assert_eq!(
            objects[2]["fields"]["message"],
            "quit RaftCore::main on error"
        );
        assert_eq!(objects[2]["target"], "openraft::core::raft_core");
        assert_eq!(objects[3]["fields"]["message"], "update_matching");
    }

    #[test]
    fn openraft_chatter_is_written_only_when_debug_is_enabled_for_it() {
        for directives in [
            DEFAULT_FILTER,
            "info",
            "warn",
            "info,openraft=info",
            "info,openraft::core[x]=debug",
        ] {
            let lines = log(LogFormat::Text, directives);
            assert!(
                lines.iter().all(|l| !l.contains("error replication")
                    && !l.contains("while requesting vote")
                    && !l.contains("vote changed")),
                "{directives}: {lines:#?}"
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("quit RaftCore::main on error")),
                "{directives}: {lines:#?}"
            );
        }
        // Everything but the DEBUG event (one JSON line each).
        let lines = log(LogFormat::Json, "info,openraft=debug");
        assert_eq!(lines.len(), 8, "{lines:#?}");
        // One module at DEBUG shows that module's chatter only.
        let lines = log(LogFormat::Text, "info,openraft::replication=debug");
        assert!(
            lines.iter().any(|l| l.contains("error replication")),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("vote changed")),
            "{lines:#?}"
        );
    }

    #[test]
    fn openraft_stays_at_warn_unless_rust_log_names_it() {
        for directives in ["info", "debug,boxoffice=info"] {
            let lines = log(LogFormat::Text, directives);
            assert!(
                !lines.iter().any(|l| l.contains("handle_vote_req")),
                "{directives}: {lines:#?}"
            );
            assert!(
                lines.iter().any(|l| l.contains("quit RaftCore")),
                "{lines:#?}"
            );
        }
        let lines = log(LogFormat::Text, "info,openraft=info");
        assert!(
            lines.iter().any(|l| l.contains("handle_vote_req")),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("vote changed")),
            "{lines:#?}"
        );
    }

    #[test]
    fn text_lines_have_no_targets_and_no_colours_when_asked() {
        let lines = log(LogFormat::Text, DEFAULT_FILTER);
        assert!(lines[0].contains(" WARN serve{node=3}: peer 2 unreachable since 18:34:20 UTC, retrying peer=2 cause=\"Connection refused\""), "{lines:#?}");
        assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:#?}");
        assert!(
            lines.iter().all(|l| !l.contains("openraft::")),
            "{lines:#?}"
        );
    }
}
