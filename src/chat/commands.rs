//! The classic slash commands of a chat.
//!
//! Why a file of its own: commands are many small, independent handlers over the actor's state;
//! keeping them apart from the turn machinery in `actor.rs` keeps both readable. Every reply is
//! HTML with dynamic text escaped; every path goes through `policy::sandbox`.

use std::path::Path;

use serde_json::json;

use super::actor::Actor;
use crate::policy::roles::Role;
use crate::policy::secret_files::SecretFiles;
use crate::policy::{authority, sandbox, workdir};
use crate::render::Ending;
use crate::telegram::html::escape;
use crate::telegram::update::Incoming;

/// The command menu registered with `setMyCommands`, and the `/help` text.
pub const COMMANDS: &[(&str, &str)] = &[
    ("new", "Start a fresh Claude session"),
    ("stop", "Stop the running request"),
    ("status", "Directory, session and today's cost"),
    (
        "cd",
        "Change directory: /cd <path> (no path: project buttons)",
    ),
    ("ls", "List the current directory"),
    ("pwd", "Show the current directory"),
    ("projects", "Switch project (buttons)"),
    (
        "sync_topics",
        "Admins: sync the project topics with the registry",
    ),
    ("sessions", "List this chat's sessions"),
    ("resume", "Switch to a session: /resume <id>"),
    ("verbose", "Progress detail: /verbose 0|1|2"),
    ("git", "Git panel: branch, changes, diff, log"),
    ("export", "Export this session: /export md|html|json"),
    ("get", "Send a project file here: /get <path>"),
    ("usage", "Cost per day and project, last 30 days"),
    ("grants", "List tool grants in this chat"),
    ("revoke", "Revoke a grant: /revoke <id>"),
    (
        "schedule",
        "Scheduled jobs: /schedule add|list|pause|resume|remove",
    ),
    ("help", "Show help"),
    ("start", "Welcome"),
];

const LIST_LIMIT: usize = 60;

impl Actor {
    pub(super) async fn on_command(&mut self, i: &Incoming, role: Role, cmd: &str, args: &str) {
        crate::audit::record(
            &self.ctx.store,
            Some(i.user_id),
            Some(self.chat.chat_id),
            crate::audit::Event::Command,
            &json!({"command": cmd}),
        )
        .await;
        let reply = match cmd {
            "start" => self.cmd_start(),
            "help" => help_text(),
            "new" => self.cmd_new(i.user_id).await,
            "stop" => self.cmd_stop().await,
            "status" => self.cmd_status(i.user_id).await,
            "verbose" => self.cmd_verbose(args).await,
            "pwd" => format!("📂 <code>{}</code>", escape(&self.rel(&self.cwd.clone()))),
            "cd" if args.trim().is_empty() => return self.cmd_picker(i.update_id).await,
            "cd" => self.cmd_cd(i.user_id, role, args).await,
            "ls" => self.cmd_ls(i.user_id, role).await,
            "projects" => return self.cmd_picker(i.update_id).await,
            "sync_topics" => return self.cmd_sync_topics(i.user_id, role, i.update_id).await,
            "sessions" => self.cmd_sessions(i.user_id).await,
            "resume" => self.cmd_resume(i.user_id, role, args).await,
            "git" => {
                return self.cmd_git(
                    i.user_id,
                    role,
                    crate::workbench::git::View::Panel,
                    Some(i.update_id),
                ).await
            }
            "export" => return self.cmd_export(i.user_id, role, args, i.update_id).await,
            "get" => return self.cmd_get(i.user_id, role, args, i.update_id).await,
            "usage" => return self.cmd_usage(i.user_id, role, i.update_id).await,
            "grants" => self.cmd_grants().await,
            "revoke" => self.cmd_revoke(i.user_id, role, args).await,
            "schedule" => crate::scheduler::commands::handle_chat(
                &self.ctx.store,
                &self.ctx.config,
                i.user_id,
                role,
                self.chat,
                &self.cwd,
                args,
                chrono::Utc::now(),
            ).await,
            other if is_claude_command(other) => {
                // Claude Code's own command: a prompt like any other, in this chat's session.
                let text = if args.trim().is_empty() {
                    format!("/{other}")
                } else {
                    format!("/{other} {}", args.trim())
                };
                self.on_prompt(super::actor::Queued {
                    update_id: i.update_id,
                    user_id: i.user_id,
                    role,
                    message_id: match &i.kind {
                        crate::telegram::update::IncomingKind::Text { message_id, .. } => {
                            *message_id
                        }
                        _ => 0,
                    },
                    text,
                    images: Vec::new(),
                    also: Vec::new(),
                })
                .await;
                return;
            }
            other => format!(
                "❓ Unknown command /{}: neither a ccgate command nor one of Claude Code's that work here ({}). See /help.",
                escape(other),
                crate::runner::CLAUDE_SLASH_COMMANDS
                    .iter()
                    .map(|(c, _)| format!("/{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.reply(i.update_id, reply).await;
    }

    pub(super) fn busy(&self) -> Option<String> {
        (self.state.turn().is_some() || self.waiting.is_some())
            .then(|| "⏳ A request is running. Wait for it or /stop it first.".to_string())
    }

    fn cmd_start(&self) -> String {
        format!(
            "👋 <b>ccgate</b> connects this chat to Claude Code on your machine.\n\n\
             Send a message and Claude works in <code>{}</code>. Progress shows live; \
             ⏹ Stop or /stop interrupts.\n\n{}",
            escape(&self.rel(&self.cwd)),
            help_text()
        )
    }

    async fn cmd_new(&mut self, user_id: i64) -> String {
        if let Some(b) = self.busy() {
            return b;
        }
        let dir = self.cwd.to_string_lossy().into_owned();
        if let Err(e) = self
            .ctx
            .store
            .deactivate_sessions(user_id, self.chat.chat_id, self.chat.thread_id, &dir)
            .await
        {
            return format!("❌ {}", escape(&e.to_string()));
        }
        self.stop_process();
        "🆕 New session: your next message starts a fresh conversation.".into()
    }

    async fn cmd_stop(&mut self) -> String {
        if self.cancel_waiting().await {
            return "⏹ Stopped waiting for a Claude slot.".into();
        }
        if self.state.turn().is_none() {
            return "Nothing is running.".into();
        }
        self.stop_turn(Ending::StoppedByUser).await;
        "⏹ Stopping…".into()
    }

    async fn cmd_status(&self, user_id: i64) -> String {
        let dir = self.cwd.to_string_lossy().into_owned();
        let session = self
            .ctx
            .store
            .active_session(user_id, self.chat.chat_id, self.chat.thread_id, &dir)
            .await
            .ok()
            .flatten();
        let (cost, runs) = self.ctx.store.cost_today(user_id).await.unwrap_or((0.0, 0));
        let mut s = String::new();
        let jail = self.ctx.launcher.jail();
        if !jail.is_contained() {
            s.push_str(&format!("🚨 <b>{}</b>\n", escape(&jail.summary())));
        }
        if let Some(b) = self.ctx.launcher.blocker() {
            s.push_str(&format!("❌ {}\n", escape(&b)));
        }
        s.push_str(&format!(
            "📂 Directory: <code>{}</code>\n",
            escape(&self.rel(&self.cwd))
        ));
        match &session {
            Some(sess) => s.push_str(&format!(
                "🧵 Session: <code>{}</code> ({} turn{}, ${:.4})\n",
                escape(&sess.claude_session_id),
                sess.turns,
                if sess.turns == 1 { "" } else { "s" },
                sess.total_cost_usd
            )),
            None => s.push_str("🧵 Session: none yet (the next message starts one)\n"),
        }
        let waiting = self
            .waiting
            .as_ref()
            .and_then(|w| self.ctx.pool.position(w.ticket));
        s.push_str(&match (self.state.turn(), self.state.proc(), waiting) {
            (Some(_), _, _) => "⚙️ Claude: working".to_string(),
            (None, Some(_), _) => "⚙️ Claude: idle (process warm)".to_string(),
            (None, None, Some(n)) => format!("⏳ Claude: waiting for a free slot (position {n})"),
            (None, None, None) => "⚙️ Claude: not running".to_string(),
        });
        if let Some(t) = self.state.turn() {
            s.push_str(&format!(" for {}s", t.started.elapsed().as_secs()));
        }
        if !self.queue.is_empty() {
            s.push_str(&format!(", {} queued", self.queue.len()));
        }
        s.push_str(&format!(
            "\n💰 Today: ${cost:.4} over {runs} request{}\n🔊 Verbose: {}",
            if runs == 1 { "" } else { "s" },
            self.verbose()
        ));
        s
    }

    async fn cmd_verbose(&mut self, args: &str) -> String {
        let explain = "0 = only the answer, 1 = tool names, 2 = tool inputs and Claude's notes";
        if args.is_empty() {
            return format!("🔊 Verbose level is {}. ({explain})", self.verbose());
        }
        match args.parse::<u8>() {
            Ok(n @ 0..=2) => {
                crate::audit::record(
                    &self.ctx.store,
                    None,
                    Some(self.chat.chat_id),
                    crate::audit::Event::ConfigChange,
                    &json!({"setting": "verbose", "from": self.verbose(), "to": n}),
                )
                .await;
                self.settings.verbose = Some(n);
                if let Err(e) = self.save_settings().await {
                    return format!("❌ {}", escape(&e.to_string()));
                }
                format!("🔊 Verbose level set to {n}.")
            }
            _ => format!("❌ Use /verbose 0, 1 or 2 ({explain})."),
        }
    }

    pub(super) async fn save_settings(&self) -> crate::store::Result<()> {
        self.ctx
            .store
            .save_chat_settings(
                self.chat.chat_id,
                self.chat.thread_id,
                &self.chat_kind,
                &self.settings,
            )
            .await
    }

    /// Who asks, for the working-directory decisions of `policy::workdir`.
    pub(super) fn who(&self, user_id: i64, role: Role) -> workdir::Who<'_> {
        workdir::Who {
            root: &self.ctx.config.approved_directory,
            secrets: &self.ctx.secrets,
            access: &self.ctx.config.project_access,
            role,
            user_id,
        }
    }

    /// Audit a working-directory refusal and word it for the chat.
    pub(super) async fn refused_dir(
        &self,
        user_id: i64,
        command: &str,
        input: &str,
        r: &workdir::Refusal,
    ) -> String {
        crate::audit::record(
            &self.ctx.store,
            Some(user_id),
            Some(self.chat.chat_id),
            r.audit_event(),
            &r.audit_details(command, input),
        )
        .await;
        let what = match command {
            "cd" => "Cannot change directory",
            "ls" => "Cannot list the directory",
            "git" => "Cannot show git here",
            "export" => "Cannot export here",
            _ => "Cannot use that directory",
        };
        format!("🚫 {what}: {}.", escape(&r.to_string()))
    }

    async fn cmd_cd(&mut self, user_id: i64, role: Role, args: &str) -> String {
        match self.go_to(user_id, role, args).await {
            Ok(html) | Err(html) => html,
        }
    }

    async fn cmd_ls(&self, user_id: i64, role: Role) -> String {
        // A directory stored before it became secret is not listed either.
        if let Err(r) = workdir::check(&self.who(user_id, role), &self.cwd) {
            return self
                .refused_dir(user_id, "ls", &self.rel(&self.cwd), &r)
                .await;
        }
        match list_dir(&self.cwd, false, &self.ctx.secrets) {
            Ok(entries) if entries.is_empty() => {
                format!("📂 <code>{}</code> is empty.", escape(&self.rel(&self.cwd)))
            }
            Ok(entries) => format!(
                "📂 <code>{}</code>\n{}",
                escape(&self.rel(&self.cwd)),
                entries.join("\n")
            ),
            Err(e) => format!("❌ Cannot list the directory: {}", escape(&e.to_string())),
        }
    }

    async fn cmd_sessions(&self, user_id: i64) -> String {
        match self
            .ctx
            .store
            .list_sessions(user_id, self.chat.chat_id, self.chat.thread_id, 10)
            .await
        {
            Ok(list) if list.is_empty() => "No sessions yet in this chat.".into(),
            Ok(list) => {
                let mut s = String::from("🧵 Sessions (newest first; /resume <i>id</i>):\n");
                for sess in list {
                    s.push_str(&format!(
                        "{} <code>{}</code> · {} · {} turn{} · ${:.4} · {}\n",
                        if sess.active { "▶️" } else { "•" },
                        escape(&sess.claude_session_id),
                        escape(&self.rel(Path::new(&sess.directory))),
                        sess.turns,
                        if sess.turns == 1 { "" } else { "s" },
                        sess.total_cost_usd,
                        escape(sess.last_used_at.get(..16).unwrap_or(&sess.last_used_at))
                            .replace('T', " ")
                    ));
                }
                s
            }
            Err(e) => format!("❌ {}", escape(&e.to_string())),
        }
    }

    async fn cmd_resume(&mut self, user_id: i64, role: Role, args: &str) -> String {
        if let Some(b) = self.busy() {
            return b;
        }
        if args.is_empty() {
            return "Usage: /resume <i>session id</i> (see /sessions). A unique prefix is enough."
                .into();
        }
        let candidates = match self
            .ctx
            .store
            .list_sessions(user_id, self.chat.chat_id, self.chat.thread_id, 1000)
            .await
        {
            Ok(c) => c,
            Err(e) => return format!("❌ {}", escape(&e.to_string())),
        };
        let matching: Vec<_> = candidates
            .iter()
            .filter(|s| s.claude_session_id.starts_with(args))
            .collect();
        let sess = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return "❌ No session of yours in this chat matches that id. See /sessions.".into()
            }
            _ => return "❌ That prefix matches several sessions; give more characters.".into(),
        };
        let root = self.ctx.config.approved_directory.clone();
        let dir = match sandbox::resolve_dir_within(&root, &root, &sess.directory) {
            Ok(d) => d,
            Err(e) => {
                return format!(
                    "❌ That session's directory is no longer usable: {}",
                    escape(&e.to_string())
                )
            }
        };
        if let Err(r) =
            workdir::check(&self.who(user_id, role), &dir).and_then(|()| match self.bound_dir() {
                Some(project) => workdir::within_project(&root, project, &dir),
                None => Ok(()),
            })
        {
            return self
                .refused_dir(user_id, "resume", &sess.directory, &r)
                .await;
        }
        match self
            .ctx
            .store
            .activate_session(
                user_id,
                self.chat.chat_id,
                self.chat.thread_id,
                &sess.claude_session_id,
            )
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return "❌ Session not found.".into(),
            Err(e) => return format!("❌ {}", escape(&e.to_string())),
        }
        self.cwd = dir.clone();
        self.settings.current_dir = Some(dir.to_string_lossy().into_owned());
        let _ = self.save_settings().await;
        self.stop_process();
        format!(
            "▶️ Resumed <code>{}</code> in <code>{}</code>. Your next message continues it.",
            escape(&sess.claude_session_id),
            escape(&self.rel(&dir))
        )
    }
}

impl Actor {
    async fn cmd_grants(&self) -> String {
        match self.ctx.store.list_grants(self.chat.chat_id, self.chat.thread_id).await {
            Ok(g) if g.is_empty() => "No active grants. Approving with “Allow for session” or “Allow 15 min” creates one.".into(),
            Ok(g) => {
                let mut s = String::from("🎫 Active grants (/revoke <i>id</i>):\n");
                for g in g {
                    let lasts = match (&g.session_id, &g.expires_at) {
                        (_, Some(until)) => format!("until {} UTC", escape(until.get(11..16).unwrap_or(until))),
                        (Some(sid), None) => format!("this session ({})", escape(sid.get(..8).unwrap_or(sid))),
                        (None, None) => "until revoked".into(),
                    };
                    let covers = g
                        .footprint
                        .as_deref()
                        .and_then(crate::policy::engine::grants::Footprint::from_json)
                        .map(|f| f.describe())
                        .unwrap_or_else(|| "nothing (from an older version)".into());
                    s.push_str(&format!("#{} <code>{}</code> for user {} · {}\n   covers: {}\n", g.id, escape(&g.scope), g.user_id, lasts, escape(&covers)));
                }
                s
            }
            Err(e) => format!("❌ {}", escape(&e.to_string())),
        }
    }

    async fn cmd_revoke(&self, user_id: i64, role: Role, args: &str) -> String {
        let Ok(id) = args.trim().trim_start_matches('#').parse::<i64>() else {
            return "Usage: /revoke <i>id</i> (see /grants).".into();
        };
        let owned = self
            .ctx
            .store
            .list_grants(self.chat.chat_id, self.chat.thread_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .any(|g| g.id == id && authority::may_revoke_grant(user_id, role, g.user_id));
        if !owned {
            return format!("❌ No active grant #{id} of yours in this chat.");
        }
        match self
            .ctx
            .store
            .revoke_grant(self.chat.chat_id, self.chat.thread_id, id)
            .await
        {
            Ok(true) => {
                crate::audit::record(
                    &self.ctx.store,
                    Some(user_id),
                    Some(self.chat.chat_id),
                    crate::audit::Event::GrantRevoked,
                    &json!({"id": id}),
                )
                .await;
                format!("🗑 Grant #{id} revoked.")
            }
            Ok(false) => format!("❌ No active grant #{id}."),
            Err(e) => format!("❌ {}", escape(&e.to_string())),
        }
    }
}

pub fn help_text() -> String {
    let mut s = String::from("<b>Commands</b>\n");
    for (c, d) in COMMANDS {
        s.push_str(&format!("/{c} — {}\n", escape(d)));
    }
    s.push_str("\n<b>Claude Code's own commands</b> (passed to Claude)\n");
    for (c, d) in crate::runner::CLAUDE_SLASH_COMMANDS {
        s.push_str(&format!("/{c} — {}\n", escape(d)));
    }
    s.push_str(
        "\nOther Claude Code commands need its terminal or change its configuration and are refused. Anything else you send goes to Claude. Messages sent while Claude works are queued.",
    );
    s
}

/// Is `/name` one of Claude Code's own commands that ccgate passes through?
fn is_claude_command(name: &str) -> bool {
    crate::runner::CLAUDE_SLASH_COMMANDS
        .iter()
        .any(|(c, _)| *c == name)
}

/// Directory entries as display lines: folders first, then files; secrets and (for projects)
/// hidden folders left out.
fn list_dir(dir: &Path, dirs_only: bool, secrets: &SecretFiles) -> std::io::Result<Vec<String>> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if secrets.is_secret(&path) || (dirs_only && name.starts_with('.')) {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            dirs.push(format!("📁 {}/", escape(&name)));
        } else if !dirs_only {
            files.push(format!("📄 {}", escape(&name)));
        }
    }
    dirs.sort();
    files.sort();
    let total = dirs.len() + files.len();
    let mut out: Vec<String> = dirs.into_iter().chain(files).take(LIST_LIMIT).collect();
    if total > LIST_LIMIT {
        out.push(format!("… and {} more", total - LIST_LIMIT));
    }
    Ok(out)
}
