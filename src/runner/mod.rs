//! Running Claude Code: one long-lived `claude` process per chat session.
//!
//! Why it exists: the CLI is the agent; ccgate only drives it. This module owns everything about
//! the child process — the exact flags, the scrubbed environment, the process group, reading
//! its stream-json stdout, writing user messages and control answers to its stdin, interrupting
//! and reaping — and nothing about Telegram. Events are handed to a callback so the chat actor
//! can consume them in its own loop. How many such processes may live at once is [`pool`]'s.

pub mod env;
pub mod launch;
pub mod pool;
pub mod protocol;

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::jail::Lifeline;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

pub use protocol::{ClaudeEvent, PermissionAnswer, PermissionRequest, TurnResult};

/// The only settings the CLI gets: ask the host (us) before every tool call, and no hooks.
/// Together with `--setting-sources ""` (no user, project or local settings files) and
/// `--strict-mcp-config` (no `.mcp.json`), nothing a repository ships configures the CLI.
pub const CCGATE_SETTINGS: &str = r#"{"permissions":{"ask":["*"]},"disableAllHooks":true}"#;

/// Claude Code's own slash commands that work through ccgate (`-p`, stream-json), measured
/// with CLI 2.1.330: each was sent as a user message and answered in the stream — `/cost`,
/// `/context`, `/model` with text, `/compact` and `/clear` by doing it, the rest by running
/// their prompt. Left out on purpose: those the CLI refuses without a terminal (`/help`,
/// `/status`: "isn't available in this environment"), those that change the CLI's settings,
/// permissions, plugins or MCP servers (`/config`, `/update-config`, `/mcp`, `/agents`,
/// `/fewer-permission-prompts`, `/reload-plugins`, `/auto-mode-setup`, `/output-style`,
/// `/color`, `/focus`, `/fast`, `/effort`), and `/heapdump` (writes a dump of the process).
pub const CLAUDE_SLASH_COMMANDS: &[(&str, &str)] = &[
    ("compact", "summarise the conversation to free context"),
    ("context", "show context usage"),
    ("cost", "show this session's cost"),
    ("model", "show or switch the model: /model sonnet"),
    ("clear", "clear the conversation"),
    ("init", "write a CLAUDE.md for the project"),
    ("review", "review the current changes"),
    ("code-review", "review the current changes"),
    ("security-review", "security review of the changes"),
    ("simplify", "simplify recent code"),
    ("recap", "recap the session"),
];

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
    /// Offer ccgate's own tools (`send_file`) as an SDK-hosted MCP server: the owner must then
    /// answer every [`ClaudeEvent::McpMessage`] (see [`crate::mcp`]).
    pub ccgate_tools: bool,
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
        // Project and local settings (hooks, permissions, env, apiKeyHelper, status line) and
        // project MCP servers are never loaded: a checked-out repository must not configure
        // the agent that works on it.
        a.push("--setting-sources".into());
        a.push(String::new());
        a.push("--settings".into());
        a.push(CCGATE_SETTINGS.into());
        // The only MCP servers are the ones `--mcp-config` names (added by the launcher:
        // ccgate's own when `ccgate_tools`, and the operator's).
        a.push("--strict-mcp-config".into());
        // Project settings are off, and with them the project's CLAUDE.md; bring the
        // instructions back (not the settings) by naming the project as an extra directory
        // whose CLAUDE.md the CLI reads (CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD=1, set by
        // the launcher). Its @imports are read by the CLI without asking ccgate: inside the
        // boundary, secret files are unreadable and nothing outside the project exists.
        a.push("--add-dir".into());
        a.push(self.cwd.display().to_string());
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

/// A command ready to run: built by [`launch::Launcher`] (boundary, environment, private
/// HOME, egress lease), spawned by [`ClaudeProcess::spawn`].
pub struct Prepared {
    pub command: std::process::Command,
    /// ccgate's end of the pipe to the sandbox's init (see `jail::lifeline`).
    pub lifeline: Lifeline,
    /// Lives exactly as long as the process: the egress lease, the private temp dir.
    pub guard: Box<dyn Send + Sync>,
}

/// A running `claude` process.
pub struct ClaudeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Dropping it ends the sandbox and everything in it.
    lifeline: Option<Lifeline>,
    _guard: Box<dyn Send + Sync>,
    next_request: u64,
}

const STDERR_TAIL_LINES: usize = 20;

impl ClaudeProcess {
    /// Start the CLI. `on_event` is called from a reader task for every event, then once with
    /// [`ProcessEvent::Exited`].
    pub fn spawn(
        prepared: Prepared,
        on_event: impl Fn(ProcessEvent) + Send + Sync + 'static,
    ) -> std::io::Result<ClaudeProcess> {
        let Prepared {
            command,
            lifeline,
            guard,
        } = prepared;
        let mut cmd = Command::from(command);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: a Ctrl-C on ccgate's terminal does not hit Claude directly.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        // The read end of the lifeline now lives only in the child.
        drop(cmd);
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
            lifeline: Some(lifeline),
            _guard: guard,
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

    /// Send a prompt with image blocks before its text (see
    /// [`protocol::user_message_blocks_line`]).
    pub async fn send_user_blocks(
        &mut self,
        text: &str,
        images: &[serde_json::Value],
    ) -> std::io::Result<()> {
        self.write_line(&protocol::user_message_blocks_line(text, images))
            .await
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

    /// Answer an `mcp_message` request with the server's JSON-RPC `reply`.
    pub async fn answer_mcp(
        &mut self,
        request_id: &str,
        reply: &serde_json::Value,
    ) -> std::io::Result<()> {
        self.write_line(&protocol::mcp_response_line(request_id, reply))
            .await
    }

    /// Ask the CLI to stop the current turn (it answers with a `result`). Returns the request id.
    pub async fn interrupt(&mut self) -> std::io::Result<String> {
        let id = format!("ccgate_interrupt_{}", self.next_request);
        self.next_request += 1;
        self.write_line(&protocol::interrupt_line(&id)).await?;
        Ok(id)
    }

    /// Fallback when the control request is not answered: SIGINT to Claude's process group,
    /// delivered by the sandbox's init (ccgate cannot see inside the PID namespace).
    pub fn signal_interrupt(&mut self) {
        if let Some(l) = self.lifeline.as_mut() {
            l.interrupt();
        }
    }

    /// The OS process id (of the sandbox's outer process), if still known.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// End the process: close stdin (a clean exit), then SIGTERM to Claude's group, then cut
    /// the lifeline (init exits and the kernel kills everything inside).
    pub async fn shutdown(mut self, grace: Duration) {
        self.stdin.take();
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            self.lifeline.take();
            return;
        }
        if let Some(l) = self.lifeline.as_mut() {
            l.terminate();
        }
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            self.lifeline.take();
            return;
        }
        self.lifeline.take();
        let _ = self.child.kill().await;
    }
}
// Dropping a ClaudeProcess cuts the lifeline (the sandbox ends) and kills the outer process.
