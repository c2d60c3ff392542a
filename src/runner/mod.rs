//! Running Claude Code: one long-lived `claude` process per chat session.
//!
//! Why it exists: the CLI is the agent; ccgate only drives it. This module owns everything about
//! the child process — the exact flags, the scrubbed environment, the process group, reading
//! its stream-json stdout, writing user messages and control answers to its stdin, interrupting
//! and reaping — and nothing about Telegram. Events are handed to a callback so the chat actor
//! can consume them in its own loop.

pub mod env;
pub mod protocol;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

pub use protocol::{ClaudeEvent, PermissionAnswer, PermissionRequest, TurnResult};

/// Settings that make the CLI ask the host (us) before every tool call.
pub const ASK_EVERY_TOOL: &str = r#"{"permissions":{"ask":["*"]}}"#;

/// How to start one `claude` process.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub cli_path: PathBuf,
    pub cwd: PathBuf,
    pub resume: Option<String>,
    pub model: Option<String>,
    pub max_turns: u32,
    /// `--max-budget-usd` for each request.
    pub max_budget_usd: Option<f64>,
    /// Tools removed from the session entirely (`--disallowedTools`), e.g. writes for viewers.
    pub disallowed_tools: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl SpawnSpec {
    /// The argument list; public so tests and `doctor` can show it.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Without this the CLI auto-allows reads and "safe" commands and ccgate's policy never
        // sees them: an `ask` rule for every tool routes every call through `can_use_tool`.
        a.push("--settings".into());
        a.push(ASK_EVERY_TOOL.into());
        a.push("--max-turns".into());
        a.push(self.max_turns.to_string());
        if let Some(m) = &self.model {
            a.push("--model".into());
            a.push(m.clone());
        }
        if let Some(b) = self.max_budget_usd {
            a.push("--max-budget-usd".into());
            a.push(format!("{b}"));
        }
        if !self.disallowed_tools.is_empty() {
            a.push("--disallowedTools".into());
            a.push(self.disallowed_tools.join(","));
        }
        if let Some(r) = &self.resume {
            a.push("--resume".into());
            a.push(r.clone());
        }
        a
    }
}

/// What the process reports to its owner.
#[derive(Debug, Clone)]
pub enum ProcessEvent {
    Claude(ClaudeEvent),
    /// stdout closed and the process ended. `stderr_tail` holds its last lines for diagnostics.
    Exited {
        stderr_tail: String,
    },
}

/// A running `claude` process.
pub struct ClaudeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pgid: Option<Pid>,
    next_request: u64,
}

const STDERR_TAIL_LINES: usize = 20;

impl ClaudeProcess {
    /// Start the CLI. `on_event` is called from a reader task for every event, then once with
    /// [`ProcessEvent::Exited`].
    pub fn spawn(
        spec: &SpawnSpec,
        on_event: impl Fn(ProcessEvent) + Send + Sync + 'static,
    ) -> std::io::Result<ClaudeProcess> {
        let mut cmd = Command::new(&spec.cli_path);
        cmd.args(spec.args())
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: signals reach Claude and every tool it started, and a Ctrl-C on
            // ccgate's terminal does not hit Claude directly.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let pgid = child.id().map(|id| Pid::from_raw(id as i32));
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let stdin = child.stdin.take();

        let tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
        let tail_writer = tail.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = tail_writer.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });

        let on_event = Arc::new(on_event);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        for ev in protocol::parse_line(&line) {
                            if ev != ClaudeEvent::Other {
                                on_event(ProcessEvent::Claude(ev));
                            }
                        }
                    }
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
            let stderr_tail = tail
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            on_event(ProcessEvent::Exited { stderr_tail });
        });

        Ok(ClaudeProcess {
            child,
            stdin,
            pgid,
            next_request: 1,
        })
    }

    async fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin closed"))?;
        stdin.write_all(line.as_bytes()).await?;
        stdin.write_all(b"\n").await?;
        stdin.flush().await
    }

    /// Send a user prompt; the CLI starts a turn (or queues it if one is running).
    pub async fn send_user(&mut self, text: &str) -> std::io::Result<()> {
        self.write_line(&protocol::user_message_line(text)).await
    }

    /// Answer a `can_use_tool` request.
    pub async fn answer_permission(
        &mut self,
        request_id: &str,
        answer: &PermissionAnswer,
    ) -> std::io::Result<()> {
        self.write_line(&protocol::permission_response_line(request_id, answer))
            .await
    }

    /// Ask the CLI to stop the current turn (it answers with a `result`). Returns the request id.
    pub async fn interrupt(&mut self) -> std::io::Result<String> {
        let id = format!("ccgate_interrupt_{}", self.next_request);
        self.next_request += 1;
        self.write_line(&protocol::interrupt_line(&id)).await?;
        Ok(id)
    }

    /// Fallback when the control request is not answered: SIGINT to the whole group.
    pub fn signal_interrupt(&self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGINT);
        }
    }

    /// The OS process id, if still known.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// End the process: close stdin (a clean exit), then SIGTERM, then SIGKILL the group.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stdin.take();
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            self.kill_group(Signal::SIGKILL);
            return;
        }
        self.kill_group(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            self.kill_group(Signal::SIGKILL);
            return;
        }
        self.kill_group(Signal::SIGKILL);
        let _ = self.child.kill().await;
    }

    fn kill_group(&self, sig: Signal) {
        if let Some(pgid) = self.pgid {
            // The group may already be gone; that is the goal.
            let _ = killpg(pgid, sig);
        }
    }
}

impl Drop for ClaudeProcess {
    fn drop(&mut self) {
        // Tools Claude started live in the same group; never leave them behind.
        self.kill_group(Signal::SIGKILL);
    }
}
