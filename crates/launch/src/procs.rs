//! The process table: every process of a cluster is `boxoffice
//! <subcommand> --config <dir>/<name>.toml`, started, signalled, killed,
//! restarted and stopped here by its name (`node3`, `payment`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

/// How often waits look at the children.
const POLL: Duration = Duration::from_millis(20);

/// Where a child's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Appended to `<dir>/<name>.log` (tests, torture).
    LogFile,
    /// Copied to our stderr, each line prefixed with the process's name,
    /// so that interleaved logs stay readable (`boxoffice up`).
    Prefixed,
}

/// What one start of a process adds to the table's defaults.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// Environment variables (after the table's own).
    pub env: Vec<(String, String)>,
    /// A command that runs the binary, as `ip netns exec NS`: the child is
    /// `prefix… <binary> <subcommand> --config <file>`. It must exec the
    /// binary, so that signals reach it.
    pub prefix: Vec<OsString>,
}

/// Child processes of one `boxoffice` binary, by name.
///
/// Invariants: every child's config is the file this table wrote, and no
/// `BOXOFFICE_*` variable of ours overrides it; a child that was killed or
/// seen exiting is reaped and forgotten; dropping the table kills (-9)
/// every child still running.
pub struct Processes {
    exe: PathBuf,
    dir: PathBuf,
    output: Output,
    own_groups: bool,
    env: Vec<(String, String)>,
    /// Arguments given to the binary before the subcommand.
    global_args: Vec<String>,
    /// In start order (a restarted process keeps its place).
    children: Mutex<Vec<(String, Child)>>,
    /// How each process was last started (its subcommand and extras), kept
    /// after it exits so that [`Processes::relaunch`] can start it again.
    launched: Mutex<BTreeMap<String, (String, Extra)>>,
}

impl Processes {
    /// Processes of the binary `exe` (`std::env::current_exe()`, or
    /// `env!("CARGO_BIN_EXE_boxoffice")` in tests), with configs and logs
    /// in `dir`, logging to files, in our process group.
    pub fn new(exe: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        Self {
            exe: exe.into(),
            dir: dir.into(),
            output: Output::LogFile,
            own_groups: false,
            env: Vec::new(),
            global_args: Vec::new(),
            children: Mutex::default(),
            launched: Mutex::default(),
        }
    }

    /// Sends the children's output to `output`.
    pub fn output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// Starts every child in a process group of its own, so that a Ctrl-C
    /// at the terminal reaches us alone (and we stop them in order).
    pub fn own_process_groups(mut self) -> Self {
        self.own_groups = true;
        self
    }

    /// Gives every child `arg` before its subcommand (a global flag of the
    /// binary, such as `--log-format=json`).
    pub fn global_arg(mut self, arg: &str) -> Self {
        self.global_args.push(arg.to_owned());
        self
    }

    /// Sets `key=value` in every child's environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The directory of configs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where process `name`'s config is written.
    pub fn config_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    /// Writes `config` to `<dir>/<name>.toml` (owner-only: some hold
    /// passwords or tokens) and starts `boxoffice <subcommand> --config`
    /// on it as process `name`, replacing any earlier child of that name.
    pub fn start(
        &self,
        name: &str,
        subcommand: &str,
        config: &impl Serialize,
    ) -> anyhow::Result<()> {
        self.start_with(name, subcommand, config, &Extra::default())
    }

    /// [`Processes::start`] with `extra` environment or a command prefix.
    pub fn start_with(
        &self,
        name: &str,
        subcommand: &str,
        config: &impl Serialize,
        extra: &Extra,
    ) -> anyhow::Result<()> {
        let path = self.config_path(name);
        let text = toml::to_string(config).with_context(|| format!("{name}'s config"))?;
        boxoffice_config::write_file(&path, text.as_bytes(), true)
            .with_context(|| format!("writing {}", path.display()))?;
        self.spawn(name, subcommand, extra)?;
        self.launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), (subcommand.to_owned(), extra.clone()));
        Ok(())
    }

    /// Starts process `name` again as it was last started, on the config
    /// file written then (a process that died on its own, say).
    pub fn relaunch(&self, name: &str) -> anyhow::Result<()> {
        let (subcommand, extra) = self
            .launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .with_context(|| format!("{name} was never started"))?;
        self.spawn(name, &subcommand, &extra)
    }

    /// Spawns `boxoffice <subcommand> --config <name>.toml` as process
    /// `name`, replacing any earlier child of that name.
    fn spawn(&self, name: &str, subcommand: &str, extra: &Extra) -> anyhow::Result<()> {
        let path = self.config_path(name);
        let mut command = match extra.prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.exe);
                command
            }
            None => Command::new(&self.exe),
        };
        command
            .args(&self.global_args)
            .arg(subcommand)
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null());
        // The generated file is the whole truth: our own BOXOFFICE_*
        // variables (endpoints, say) must not override it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BOXOFFICE_") {
                command.env_remove(key);
            }
        }
        command.envs(self.env.iter().chain(&extra.env).map(|(k, v)| (k, v)));
        if self.own_groups {
            command.process_group(0);
        }
        match self.output {
            Output::LogFile => {
                let log = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(format!("{name}.log")))?;
                command
                    .stdout(Stdio::from(log.try_clone()?))
                    .stderr(Stdio::from(log));
            }
            Output::Prefixed => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        if self.output == Output::Prefixed {
            prefix_lines(name, child.stdout.take());
            prefix_lines(name, child.stderr.take());
        }
        let mut children = self.lock();
        match children.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => {
                let _ = old.kill();
                let _ = old.wait();
                *old = child;
            }
            None => children.push((name.to_owned(), child)),
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Child)>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes process `name` out of the table.
    fn take(&self, name: &str) -> Option<Child> {
        let mut children = self.lock();
        let at = children.iter().position(|(n, _)| n == name)?;
        Some(children.remove(at).1)
    }

    /// The names of the children started and not seen to exit, in start
    /// order.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|(n, _)| n.clone()).collect()
    }

    /// Whether any child is left.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Process `name`'s pid, if it is in the table.
    pub fn pid(&self, name: &str) -> Option<Pid> {
        self.lock()
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| i32::try_from(c.id()).ok())
            .map(Pid::from_raw)
    }

    /// Sends `signal` to process `name`.
    pub fn signal(&self, name: &str, signal: Signal) -> anyhow::Result<()> {
        let pid = self
            .pid(name)
            .with_context(|| format!("{name} is not running"))?;
        kill(pid, signal).with_context(|| format!("signalling {name}"))?;
        Ok(())
    }

    /// `kill -9` of process `name`, reaped and forgotten (nothing if it is
    /// not in the table).
    pub fn kill(&self, name: &str) {
        if let Some(mut child) = self.take(name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether process `name` is running (forgets it if it exited).
    pub fn running(&self, name: &str) -> bool {
        let state = self
            .lock()
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.try_wait());
        match state {
            Some(Ok(None)) => true,
            Some(_) => {
                self.take(name);
                false
            }
            None => false,
        }
    }

    /// A child that has exited, with its status, if any: reaped and
    /// forgotten.
    pub fn exited(&self) -> Option<(String, ExitStatus)> {
        self.exited_of(|_| true)
    }

    /// [`Processes::exited`] among the children whose name `which` accepts.
    pub fn exited_of(&self, which: impl Fn(&str) -> bool) -> Option<(String, ExitStatus)> {
        let found = self
            .lock()
            .iter_mut()
            .filter(|(name, _)| which(name))
            .find_map(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => Some((name.clone(), status)),
                _ => None,
            });
        if let Some((name, _)) = &found {
            self.take(name);
        }
        found
    }

    /// Waits until some child exits (forever if none does); forgets it.
    pub async fn any_exit(&self) -> (String, ExitStatus) {
        loop {
            if let Some(exited) = self.exited() {
                return exited;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits up to `within` for process `name` to exit on its own (a crash
    /// point, say); its status, and it is forgotten. `None` if it is still
    /// running then, or was not in the table.
    pub async fn wait_exit(&self, name: &str, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let status = self
                .lock()
                .iter_mut()
                .find(|(n, _)| n == name)?
                .1
                .try_wait()
                .ok()
                .flatten();
            if let Some(status) = status {
                self.take(name);
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM to process `name`, then up to `within` for it to exit;
    /// `Err` (and `kill -9`) if it did not. `Ok(None)` if it was not in
    /// the table. Forgotten either way.
    pub async fn terminate(
        &self,
        name: &str,
        within: Duration,
    ) -> anyhow::Result<Option<ExitStatus>> {
        if self.pid(name).is_none() {
            return Ok(None);
        }
        let _ = self.signal(name, Signal::SIGTERM);
        match self.wait_exit(name, within).await {
            Some(status) => Ok(Some(status)),
            None => {
                self.kill(name);
                anyhow::bail!("{name} did not stop within {within:?} of SIGTERM")
            }
        }
    }

    /// Stops every child: SIGTERM to all (in name order), then waits for
    /// each up to `within`, killing (-9) one that has not stopped by then.
    pub async fn stop_all(&self, within: Duration) {
        let names = self.names();
        for name in &names {
            tracing::info!(process = %name, "stopping");
            let _ = self.signal(name, Signal::SIGTERM);
        }
        for name in &names {
            if self.wait_exit(name, within).await.is_some() {
                tracing::info!(process = %name, "stopped");
            } else {
                tracing::warn!(process = %name, "did not stop in time; killing it");
                self.kill(name);
            }
        }
    }

    /// `kill -9` of every child, each resumed first (a paused process must
    /// be resumed to die cleanly).
    pub fn kill_all(&self) {
        for name in self.names() {
            let _ = self.signal(&name, Signal::SIGCONT);
            self.kill(&name);
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Copies `stream` to our stderr line by line, each prefixed with `name`.
fn prefix_lines(name: &str, stream: Option<impl Read + Send + 'static>) {
    let Some(stream) = stream else { return };
    let name = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            eprintln!("{name:>5} | {line}");
        }
    });
}
