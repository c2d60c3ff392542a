//! Wiring: builds every component from a [`Config`] and runs until asked to stop.
//!
//! Why it exists: the data flow (intake → gate → chat actor → runner → renderer → outbox) is
//! assembled in exactly one place, so each module can stay ignorant of the others' setup.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::api::{self, ApiState, TelegramHook};
use crate::audit::anomaly::{Detector, Thresholds};
use crate::audit::Redactor;
use crate::automation;
use crate::automation::triggers::Triggers;
use crate::chat::{Router, COMMANDS};
use crate::config::Config;
use crate::egress::{Egress, EgressConfig};
use crate::events::{Bus, Event};
use crate::gate::{Gate, Verdict};
use crate::jail::{Jail, JailSettings};
use crate::runner::env::child_env;
use crate::runner::launch::{Launcher, StoreSink};
use crate::scheduler::{Scheduler, SystemClock};
use crate::services::Ctx;
use crate::store::{NewOutbox, Store};
use crate::telegram::api::{ApiError, TelegramApi};
use crate::telegram::instance_lock;
use crate::telegram::intake::{self, UpdateSink};
use crate::telegram::outbox::{Limits, Outbox, OutboxOptions};
use crate::telegram::update::Update;

/// Connects intake to the gate and the chat router.
struct Dispatcher {
    gate: Gate,
    router: Router,
    store: Store,
    outbox: Outbox,
}

impl UpdateSink for Dispatcher {
    fn dispatch<'a>(&'a self, update: Update) -> intake::Dispatched<'a> {
        Box::pin(self.dispatch_now(update))
    }
}

impl Dispatcher {
    async fn dispatch_now(&self, update: Update) {
        let id = update.id;
        let callback = update.callback_id().map(str::to_string);
        let verdict = self.gate.check(&update).await;
        if let (Some(id), true) = (&callback, matches!(verdict, Verdict::Reply { .. })) {
            // A button pressed by someone the gate answers (rate-limited, login required):
            // stop their spinner too. Strangers (dropped) stay unanswered: silence tells them
            // nothing.
            self.outbox
                .answer_callback(id.clone(), Some("Not available to you.".into()));
        }
        match verdict {
            Verdict::Pass(admitted) => self.router.route(admitted),
            Verdict::Reply {
                chat,
                html,
                delete_message,
            } => {
                let row = NewOutbox {
                    chat_id: chat.chat_id,
                    thread_id: chat.thread_id,
                    html,
                    reply_to: None,
                };
                if let Err(e) = self.store.complete_updates(&[id], &[row]).await {
                    tracing::error!(error = %e, "could not answer at the gate");
                }
                self.outbox.kick();
                if let Some(mid) = delete_message {
                    self.outbox.delete(chat, mid);
                }
            }
            Verdict::Drop { reason } => {
                tracing::debug!(update_id = id, reason, "update dropped");
                if let Err(e) = self.store.complete_updates(&[id], &[]).await {
                    tracing::error!(error = %e, "could not mark a dropped update done");
                }
            }
        }
    }
}

/// The boundary, the model gateway and the launcher, from the settings.
///
/// `init_exe` is the ccgate binary that runs as the sandbox's init (default: this one).
pub fn build_launcher(
    config: &Config,
    store: &Store,
    secrets: &crate::policy::secret_files::SecretFiles,
    init_exe: Option<std::path::PathBuf>,
) -> anyhow::Result<Launcher> {
    let jail = build_jail(config, init_exe)?;
    let s = &config.sandbox;
    let egress = match &config.anthropic.credential {
        Some(cred) => {
            let mut ec = EgressConfig::new(cred.clone());
            if let Some(u) = &config.anthropic.base_url {
                ec.upstream_base = reqwest::Url::parse(u)?;
            }
            ec.allow = s.egress_allow.clone();
            Some(Egress::new(ec, Arc::new(StoreSink::new(config, store)))?)
        }
        None => None,
    };
    let env = child_env(
        std::env::vars(),
        &config.claude_env_passthrough,
        &config.secret_values(),
    );
    Ok(Launcher::new(
        Arc::new(jail),
        egress,
        config.anthropic.credential.as_ref(),
        config.anthropic.base_url.as_deref(),
        &std::path::absolute(&s.home_dir)?,
        env,
        secrets.clone(),
    )?)
}

/// The OS boundary from the settings (probed: a missing mechanism is recorded in it).
pub fn build_jail(config: &Config, init_exe: Option<std::path::PathBuf>) -> anyhow::Result<Jail> {
    let s = &config.sandbox;
    let data_dir = config
        .database_path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut hidden = vec![
        std::path::absolute(&data_dir)?,
        std::path::absolute(&config.database_path)?,
        std::path::absolute(instance_lock::lock_path(
            &config.lock_dir,
            config.telegram_bot_token.expose_secret(),
        ))?,
        std::path::absolute(&s.home_dir)?,
    ];
    if let Some(f) = &config.env_file {
        hidden.push(std::path::absolute(f)?);
    }
    Ok(Jail::new(
        &JailSettings {
            enabled: s.enabled,
            bwrap: s.bwrap.clone(),
            read_only: s.read_only.clone(),
            hidden,
            scan_limit: s.scan_limit,
            init_exe,
        },
        runtime_dir()?,
    )?)
}

/// ccgate's private runtime folder for this process: `$XDG_RUNTIME_DIR/ccgate/<pid>` or
/// `<tmp>/ccgate-<uid>/<pid>` (short: Unix socket paths live in it). Folders of earlier runs
/// whose process is gone are removed.
fn runtime_dir() -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = nix::unistd::getuid().as_raw();
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d).join("ccgate"),
        _ => std::env::temp_dir().join(format!("ccgate-{uid}")),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)?;
    let meta = std::fs::symlink_metadata(&base)?;
    if !meta.is_dir() || meta.uid() != uid {
        anyhow::bail!(
            "{} is not a directory owned by us (uid {uid}); refusing to use it",
            base.display()
        );
    }
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))?;
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if !alive {
                crate::jail::remove_runtime(&e.path());
            }
        }
    }
    Ok(base.join(std::process::id().to_string()))
}

/// Run the bot until SIGINT/SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let _lock =
        instance_lock::acquire(&config.lock_dir, config.telegram_bot_token.expose_secret())?;
    // Rotated-in secret values live in the database and are secrets too: read them before the
    // redactor is made, so it masks them as well as the configured ones (values rotated in
    // later are masked from the next start; they never reach Claude either way).
    let store = Store::open(&config.database_path)?;
    let rotations = crate::secrets::Secrets::load(&config, &store).await?;
    let mut redacted = config.redacted_values();
    redacted.extend(rotations.rotated_values());
    let redactor = Redactor::new(redacted);
    // Normally installed by `main` already (before logging starts); the first one counts.
    crate::audit::redact::install(redactor.clone());
    let store = store.with_redactor(redactor.clone());
    rotations.spawn_refresh(store.clone());
    tracing::info!(
        path = %std::fs::canonicalize(&config.database_path).unwrap_or_else(|_| config.database_path.clone()).display(),
        "database opened"
    );
    let checkpointer = start_checkpointer(&config, &store).await?;
    let api = TelegramApi::new(
        &config.telegram_api_url,
        &config.telegram_bot_token,
        config.telegram_poll_timeout,
    )?;

    match api.get_me().await {
        Ok(me) => {
            let username = me.get("username").and_then(|u| u.as_str()).unwrap_or("?");
            tracing::info!(username, "connected to Telegram")
        }
        Err(ApiError::Rejected { code, description }) => {
            anyhow::bail!(
                "Telegram refused the bot token ({code}: {description}); check TELEGRAM_BOT_TOKEN"
            )
        }
        Err(e) => tracing::warn!(error = %e, "Telegram not reachable yet; will keep trying"),
    }
    if let Err(e) = api.set_my_commands(COMMANDS).await {
        tracing::warn!(error = %e, "could not register the command menu");
    }
    if config.allowed_users.is_empty() {
        tracing::warn!("ALLOWED_USERS is empty: nobody can use this bot (fail closed)");
    }

    let outbox = Outbox::start_with(
        api.clone(),
        store.clone(),
        Limits::default(),
        redactor,
        OutboxOptions {
            stream_drafts: config.stream_drafts,
        },
    );
    if let Some(cp) = &checkpointer {
        if config.audit.checkpoint_notify {
            notify_checkpoints(cp, &config, &store, &outbox).await;
        }
    }
    let secrets = config.secret_files()?;
    // MCP servers: validated once, before anything runs (a bad file stops the start).
    let mcp = config.mcp_servers()?;
    for s in &mcp.servers {
        tracing::info!(server = %s.describe(), "MCP server configured");
    }
    if !mcp.servers.is_empty() && !config.sandbox.enabled {
        tracing::warn!(
            "SANDBOX=off: the MCP servers run WITHOUT an OS boundary, with ccgate's own rights"
        );
    }
    let mcp_names = mcp.names();
    let launcher = build_launcher(&config, &store, &secrets, None)?.with_mcp(mcp);
    let jail = launcher.jail();
    if jail.is_contained() {
        tracing::info!(boundary = %jail.summary(), "OS boundary active");
    } else if let Some(why) = jail.unavailable() {
        tracing::error!(%why, "the OS boundary is NOT available: Claude will not be started (fail closed); install bubblewrap or set SANDBOX=off");
    } else {
        tracing::warn!("SANDBOX=off: Claude runs WITHOUT an OS boundary — any script it runs can read your files, ccgate's secrets and the network");
    }
    if let Some(b) = launcher.blocker() {
        tracing::error!(problem = %b, "Claude cannot be started");
    }
    let rules = config.rules()?.with_mcp_servers(mcp_names);
    let triggers = match &config.server.triggers_file {
        Some(path) => Triggers::load(path, &config.approved_directory)
            .map_err(|e| anyhow::anyhow!("TRIGGERS_FILE: {e}"))?,
        None => Triggers::default(),
    };
    // Project topics: a bad registry stops the start, naming the file, project and rule.
    let projects = match &config.projects {
        Some(p) => Some((
            p.chat_id,
            crate::config::projects::Registry::load(&p.path, &config.approved_directory, &secrets)
                .map_err(|e| anyhow::anyhow!("PROJECTS_PATH: {e}"))?,
        )),
        None => None,
    };
    // Events: webhooks, jobs, notifications, finished runs and security alerts share one bus,
    // created before anything that publishes on it.
    let (bus, events) = Bus::new();
    report_exposures(&config, &bus);
    let ctx = Arc::new(Ctx::new(
        config.clone(),
        store.clone(),
        outbox.clone(),
        launcher,
        secrets,
        rules,
        bus.clone(),
    ));
    let runtime = ctx.launcher.jail().runtime().to_path_buf();
    let outbox_for_retire = outbox.clone();
    let dispatcher = Arc::new(Dispatcher {
        gate: Gate::with_secrets(config.clone(), store.clone(), rotations.clone()),
        router: Router::new(ctx.clone()),
        store: store.clone(),
        outbox,
    });

    // Buttons an earlier run left behind (Stop, Allow…) mean nothing now: say so, remove them.
    let rerun = store.chats_with_pending_updates().await?;
    match outbox_for_retire.retire_live_messages(&store, &rerun).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "retiring messages left with live buttons by the last run"
        ),
        Err(e) => tracing::error!(error = %e, "could not read the messages left by the last run"),
    }
    let replayed = intake::replay_pending(&store, dispatcher.as_ref()).await?;
    if replayed > 0 {
        tracing::info!(
            count = replayed,
            "re-dispatching updates left unfinished by the last run"
        );
    }

    let pool = ctx.pool.clone();
    automation::start(ctx, events, Arc::new(triggers));
    install_anomaly_alerts(&config, &store, &bus);
    for d in store.pending_deliveries().await? {
        tracing::info!(provider = %d.provider, event = %d.event, "re-running a webhook delivery left unfinished by the last run");
        bus.publish(Event::Webhook(d));
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // A task that cannot go on (Telegram refused the token) stops ccgate with its reason.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(1);
    let mut tasks = Vec::new();
    if let Some(cp) = &checkpointer {
        tasks.push(tokio::spawn(cp.clone().run(shutdown_rx.clone())));
    }
    if config.scheduler.enabled {
        let scheduler = Scheduler::new(store.clone(), bus.clone(), Arc::new(SystemClock));
        tasks.push(tokio::spawn(scheduler.run(shutdown_rx.clone())));
    }

    // Telegram: webhook mode (updates POSTed to our server) or long polling.
    let telegram_hook = match &config.server.telegram_webhook_url {
        Some(url) => {
            let secret = random_token(48);
            let path = webhook_path(url);
            api.set_webhook(url, &secret)
                .await
                .map_err(|e| anyhow::anyhow!("setWebhook failed for TELEGRAM_WEBHOOK_URL: {e}"))?;
            tracing::info!(%url, %path, "Telegram webhook mode");
            Some(TelegramHook {
                path,
                secret,
                sink: dispatcher.clone(),
            })
        }
        None => {
            if let Err(e) = api.delete_webhook().await {
                tracing::warn!(error = %e, "could not clear a webhook; polling may conflict with it");
            }
            tasks.push(tokio::spawn(intake::poll(
                api.clone(),
                store.clone(),
                dispatcher.clone(),
                config.telegram_poll_timeout,
                shutdown_rx.clone(),
                fatal_tx.clone(),
            )));
            None
        }
    };
    if config.server.enabled || telegram_hook.is_some() {
        let bind = config.server.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on API_SERVER_BIND={bind}: {e}"))?;
        tracing::info!(addr = %listener.local_addr()?, "HTTP server listening");
        let state = ApiState::new(
            config.clone(),
            store.clone(),
            bus.clone(),
            api.clone(),
            telegram_hook,
        )
        .with_pool(pool)
        .with_secrets(rotations.clone());
        let rx = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = api::serve(state, listener, rx).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }));
    }
    tracing::info!(dir = %config.approved_directory.display(), "ccgate is running");
    if let Some((chat_id, registry)) = projects {
        // The bot is up: bring the topics in line (each call waits for the group's rate limit).
        let (outbox, store) = (outbox_for_retire.clone(), store.clone());
        tokio::spawn(async move {
            match crate::telegram::topics::sync(&outbox, &store, chat_id, &registry, false).await {
                Ok(summary) => tracing::info!(%summary, "project topics synced"),
                Err(e) => tracing::error!(error = %e, "project topic sync failed"),
            }
        });
    }

    drop(fatal_tx);
    let fatal = tokio::select! {
        _ = wait_for_signal() => None,
        Some(why) = fatal_rx.recv() => Some(why),
    };
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    dispatcher.router.shutdown_all();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    // Give actors a moment to stop their Claude processes (whatever is left ends with us: see
    // `jail::lifeline`).
    tokio::time::sleep(Duration::from_millis(300)).await;
    crate::jail::remove_runtime(&runtime);
    // The last rows of this run, signed once nothing writes any more.
    if let Some(cp) = &checkpointer {
        if let Err(e) = cp
            .checkpoint(crate::audit::checkpoint::reason::SHUTDOWN)
            .await
        {
            tracing::error!(error = %format!("{e:#}"), "could not sign the final audit checkpoint");
        }
    }
    match fatal {
        Some(why) => Err(anyhow::anyhow!(why)),
        None => Ok(()),
    }
}

/// Send each checkpoint's seq and digest to the admins' private chats (durable outbox rows): a
/// copy kept off this machine, which `audit verify --checkpoint` compares with.
async fn notify_checkpoints(
    cp: &crate::audit::checkpointer::Checkpointer,
    config: &Config,
    store: &Store,
    outbox: &Outbox,
) {
    let admins = config.admins();
    if admins.is_empty() {
        tracing::warn!("AUDIT_CHECKPOINT_NOTIFY is on but USER_ROLES names no admin");
        return;
    }
    let (store, outbox) = (store.clone(), outbox.clone());
    cp.on_signed(Box::new(move |c, digest| {
        let html = crate::audit::checkpointer::notice_html(c, digest);
        let rows: Vec<NewOutbox> = admins
            .iter()
            .map(|&a| NewOutbox {
                chat_id: a,
                thread_id: 0,
                html: html.clone(),
                reply_to: None,
            })
            .collect();
        // Called by the checkpointer as it signs: the notice is queued on its own task.
        let (store, outbox) = (store.clone(), outbox.clone());
        tokio::spawn(async move {
            match store.complete_updates(&[], &rows).await {
                Ok(()) => outbox.kick(),
                Err(e) => tracing::error!(error = %e, "could not queue the checkpoint notice"),
            }
        });
    }));
}

/// The audit checkpointer, when a signing key is configured. A configured key that cannot be
/// opened stops the start: the operator asked for signed checkpoints.
async fn start_checkpointer(
    config: &Config,
    store: &Store,
) -> anyhow::Result<Option<Arc<crate::audit::checkpointer::Checkpointer>>> {
    let Some(source) = &config.audit.signing_key else {
        tracing::warn!("no audit signing key (AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE): the audit chain's tail can be cut or rewritten unseen");
        return Ok(None);
    };
    let signer = source
        .open()
        .map_err(|e| anyhow::anyhow!("the audit signing key ({}): {e:#}", source.describe()))?;
    let public = hex::encode(signer.public_key().as_bytes());
    let cp = crate::audit::checkpointer::Checkpointer::new(
        store.clone(),
        signer,
        config.audit.checkpoint_rows,
        config.audit.checkpoint_interval,
    )
    .await?;
    tracing::info!(key = %source.describe(), public_key = %public, "signing audit checkpoints");
    Ok(Some(Arc::new(cp)))
}

/// The path part of the webhook URL (where our server receives updates).
fn webhook_path(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if u.path() != "/" => u.path().to_string(),
        _ => "/telegram".into(),
    }
}

/// A random token of `[A-Za-z0-9]` (Telegram's secret_token alphabet allows more; this is safe).
fn random_token(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// ccgate's own files readable by other users or inside the approved directory
/// (`policy::exposure`): said loudly in the log, and once to the admins.
fn report_exposures(config: &Config, bus: &Bus) {
    let found = crate::policy::exposure::of_config(config);
    if found.is_empty() {
        return;
    }
    let lines: Vec<String> = found.iter().map(|e| e.describe()).collect();
    for l in &lines {
        tracing::warn!("{l}");
    }
    bus.publish(Event::SecurityAlert {
        kind: "exposed_files".into(),
        html: format!(
            "🚨 <b>Check this installation</b> (found at start)\n{}",
            lines
                .iter()
                .map(|l| format!("• {}", crate::telegram::html::escape(l)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    });
}

/// Watch the audit stream; tell admins about anomalies in their private chats and apply the
/// lockouts the detector asks for.
fn install_anomaly_alerts(config: &Arc<Config>, store: &Store, bus: &Bus) {
    let admins = config.admins();
    if admins.is_empty() {
        tracing::warn!("no admin in USER_ROLES: security alerts go to the log only");
    }
    let detector = std::sync::Mutex::new(Detector::new(Thresholds::default()));
    let (store2, bus) = (store.clone(), bus.clone());
    store.set_audit_observer(Box::new(move |user, _chat, event, details| {
        // Collect under the lock, act after releasing it: acting writes audit rows, which come
        // back here.
        if let Some(layer) = crate::metrics::rejection_layer(event, details) {
            crate::metrics::rejected(layer);
        }
        let alerts = detector.lock().unwrap_or_else(|p| p.into_inner()).observe(
            event,
            user,
            details,
            std::time::Instant::now(),
        );
        if alerts.is_empty() {
            return None;
        }
        let (store2, bus) = (store2.clone(), bus.clone());
        Some(Box::pin(async move {
            for alert in alerts {
                tracing::warn!(kind = alert.kind, user = ?alert.user_id, "{}", alert.message);
                if let Some((locked, for_how_long)) = alert.lockout {
                    let until = chrono::Utc::now()
                        + chrono::Duration::from_std(for_how_long).unwrap_or_default();
                    let until = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                    if let Err(e) = store2.lock_out(locked, alert.kind, Some(&until)).await {
                        tracing::error!(error = %e, "could not apply a lockout");
                    }
                    crate::audit::record(
                        &store2,
                        Some(locked),
                        None,
                        crate::audit::Event::Lockout,
                        &serde_json::json!({"reason": alert.kind, "until": until}),
                    )
                    .await;
                }
                crate::audit::record(
                    &store2,
                    alert.user_id,
                    None,
                    crate::audit::Event::Anomaly,
                    &serde_json::json!({"kind": alert.kind, "message": alert.message}),
                )
                .await;
                bus.publish(Event::SecurityAlert {
                    kind: alert.kind.to_string(),
                    html: format!(
                        "🚨 <b>Security alert</b> ({})\n{}",
                        alert.kind,
                        crate::telegram::html::escape(&alert.message)
                    ),
                });
            }
        }))
    }));
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
