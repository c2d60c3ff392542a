//! The checkpoint every update passes before anything acts on it.
//!
//! Why it exists: identification, authorization and rate limiting must happen once, in order,
//! for every kind of update (messages, edits, button presses) — a check living in a command
//! handler is a check some other handler forgets. The order is: sent by a bot → lockout → user
//! allowed (or offered a pairing code) → chat enabled → logged in (token auth) → rate limit →
//! role. An update whose sender is a bot (`from.is_bot`, in any kind of update: messages, edits,
//! button presses, channel posts…) is dropped first, whatever the bot's id.
//! Rejected traffic is dropped without a reply (the bot does not confirm it exists to
//! strangers) and written to the audit log. The gate never runs Claude; when it answers
//! itself (pairing code, login result, slow-down notice) it returns the reply as data.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};

use crate::audit::Event;
use crate::auth::{self, Auth, PairingOutcome};
use crate::config::Config;
use crate::policy::roles::Role;
use crate::store::Store;
use crate::telegram::html::escape;
use crate::telegram::update::{parse_command, ChatRef, Incoming, IncomingKind, Update};

/// An update that passed every check, with the sender's role.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub incoming: Incoming,
    pub role: Role,
}

/// What the gate decided about one update.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Hand it to the chat.
    Pass(Admitted),
    /// Answered here: send `html` to `chat` (and delete `delete_message`, e.g. a login token).
    Reply {
        chat: ChatRef,
        html: String,
        delete_message: Option<i64>,
    },
    /// Nothing to do; `reason` is for logs.
    Drop { reason: &'static str },
}

pub struct Gate {
    config: Arc<Config>,
    store: Store,
    auth: Option<Auth>,
    limiter: DefaultKeyedRateLimiter<i64>,
    /// When each user was last told to slow down (one notice per window, not one per message).
    slow_down_notices: Mutex<HashMap<i64, Instant>>,
}

impl Gate {
    /// With the configured secrets only (no rotations).
    pub fn new(config: Arc<Config>, store: Store) -> Self {
        let secrets = Arc::new(crate::secrets::Secrets::configured(&config));
        Gate::with_secrets(config, store, secrets)
    }

    /// With the live secrets (`crate::secrets`): a rotated `AUTH_TOKEN_SECRET` counts.
    pub fn with_secrets(
        config: Arc<Config>,
        store: Store,
        secrets: Arc<crate::secrets::Secrets>,
    ) -> Self {
        let auth = match (&config.enable_token_auth, &config.auth_token_secret) {
            (true, Some(_)) => Some(Auth::with_secrets(
                store.clone(),
                secrets,
                config.session_timeout,
            )),
            _ => None,
        };
        let period = config.rate_limit_window / config.rate_limit_requests.max(1);
        let quota = Quota::with_period(period.max(Duration::from_millis(1)))
            .expect("nonzero period")
            .allow_burst(NonZeroU32::new(config.rate_limit_burst.max(1)).expect("nonzero"));
        Gate {
            config,
            store,
            auth,
            limiter: RateLimiter::keyed(quota),
            slow_down_notices: Mutex::new(HashMap::new()),
        }
    }

    async fn audit(&self, user: Option<i64>, chat: Option<i64>, event: Event, details: Value) {
        crate::audit::record(&self.store, user, chat, event, &details).await;
    }

    async fn allowed_users(&self) -> HashSet<i64> {
        auth::allowed_users(&self.config.allowed_users, &self.store).await
    }

    /// Decide about an update (parsed once, at intake).
    pub async fn check(&self, update: &Update) -> Verdict {
        // Bots never talk to ccgate, whatever their id (a bot may share an allowed user's id in
        // a forged or relayed update, or be added to an enabled group): checked before anything
        // else reads the update.
        if let Some(bot) = &update.bot_sender {
            tracing::warn!(bot = bot.id, kind = bot.kind, "update from a bot dropped");
            self.audit(
                bot.id,
                bot.chat,
                Event::BotSenderDropped,
                json!({"kind": bot.kind, "update_id": update.id, "username": bot.username}),
            )
            .await;
            return Verdict::Drop {
                reason: "sent by a bot",
            };
        }
        let Some(incoming) = update.incoming.clone() else {
            self.audit(
                None,
                None,
                Event::UpdateUnparsed,
                json!({"update_id": update.id}),
            )
            .await;
            return Verdict::Drop {
                reason: "unparseable or unsupported update",
            };
        };
        let user = incoming.user_id;
        let chat = incoming.chat;
        let kind = kind_label(&incoming.kind);

        match self.store.lockout_of(user).await {
            Ok(Some(reason)) => {
                self.audit(
                    Some(user),
                    Some(chat.chat_id),
                    Event::LockoutBlocked,
                    json!({"kind": kind, "reason": reason}),
                )
                .await;
                return Verdict::Drop {
                    reason: "user locked out",
                };
            }
            Ok(None) => {}
            Err(e) => {
                // Fail closed: if we cannot tell, we do not let it through.
                tracing::error!(error = %e, "lockout check failed");
                return Verdict::Drop {
                    reason: "lockout check failed",
                };
            }
        }

        // Fail closed: an empty allowlist (and no paired users) admits nobody.
        if !self.allowed_users().await.contains(&user) {
            return self.stranger(&incoming, kind).await;
        }

        match incoming.chat_kind.as_str() {
            "private" => {}
            "group" | "supergroup" if self.config.allowed_groups.contains(&chat.chat_id) => {}
            other => {
                self.audit(
                    Some(user),
                    Some(chat.chat_id),
                    Event::GroupNotEnabled,
                    json!({"kind": kind, "chat_kind": other}),
                )
                .await;
                return Verdict::Drop {
                    reason: "chat not enabled",
                };
            }
        }

        if let IncomingKind::Edited { .. } = incoming.kind {
            // Editing a sent prompt never re-runs it: the original already ran.
            return Verdict::Drop {
                reason: "edited message",
            };
        }

        if let Some(auth) = &self.auth {
            if let Some(v) = self.token_auth(auth, &incoming).await {
                return v;
            }
        }

        // Files and photos are prompts too: they count like text.
        if incoming.kind.is_prompt() && self.limiter.check_key(&user).is_err() {
            self.audit(
                Some(user),
                Some(chat.chat_id),
                Event::RateLimited,
                json!({"kind": kind}),
            )
            .await;
            let mut notices = self
                .slow_down_notices
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let recent = notices
                .get(&user)
                .is_some_and(|t| now.duration_since(*t) < self.config.rate_limit_window);
            if recent {
                return Verdict::Drop {
                    reason: "rate limited (already told)",
                };
            }
            notices.insert(user, now);
            return Verdict::Reply {
                chat,
                html: format!(
                    "🐢 Too many messages: at most {} per {}s (bursts of {}). This one was not run; send it again in a moment.",
                    self.config.rate_limit_requests,
                    self.config.rate_limit_window.as_secs(),
                    self.config.rate_limit_burst
                ),
                delete_message: None,
            };
        }

        Verdict::Pass(Admitted {
            role: self.config.role_of(user),
            incoming,
        })
    }

    /// An unknown sender: a pairing code in a private chat (if enabled), silence otherwise.
    async fn stranger(&self, incoming: &Incoming, kind: &str) -> Verdict {
        let user = incoming.user_id;
        let chat = incoming.chat;
        tracing::warn!(
            user,
            chat = chat.chat_id,
            kind,
            "unauthorized update dropped"
        );
        self.audit(
            Some(user),
            Some(chat.chat_id),
            Event::AuthRejected,
            json!({"kind": kind, "username": incoming.username, "chat_kind": incoming.chat_kind}),
        )
        .await;
        let eligible = self.config.pairing
            && incoming.chat_kind == "private"
            && matches!(incoming.kind, IncomingKind::Text { .. });
        if !eligible {
            return Verdict::Drop {
                reason: "user not allowed",
            };
        }
        match auth::request_pairing(&self.store, user, incoming.username.as_deref()).await {
            Ok(PairingOutcome::Code(code)) => {
                self.audit(
                    Some(user),
                    Some(chat.chat_id),
                    Event::PairingRequested,
                    json!({"username": incoming.username}),
                )
                .await;
                Verdict::Reply {
                    chat,
                    html: format!(
                        "🔐 This bot is private. To request access, give this code to its operator:\n\n<code>{}</code>\n\nThey approve it on their machine with <code>ccgate pair approve {}</code>. The code expires in 1 hour.",
                        escape(&code),
                        escape(&code)
                    ),
                    delete_message: None,
                }
            }
            Ok(outcome) => {
                self.audit(
                    Some(user),
                    Some(chat.chat_id),
                    Event::PairingRefused,
                    json!({"outcome": format!("{outcome:?}")}),
                )
                .await;
                Verdict::Drop {
                    reason: "pairing limit reached",
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "pairing failed");
                Verdict::Drop {
                    reason: "pairing failed",
                }
            }
        }
    }

    /// `/login`, `/logout`, and the session requirement. `None` means "go on".
    async fn token_auth(&self, auth: &Auth, incoming: &Incoming) -> Option<Verdict> {
        let user = incoming.user_id;
        let chat = incoming.chat;
        let bot = self.config.telegram_bot_username.as_deref();
        if let IncomingKind::Text { message_id, text } = &incoming.kind {
            match parse_command(text, bot) {
                Some((cmd, args)) if cmd == "login" => {
                    let outcome = match auth.login(user, args).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(error = %e, "login failed");
                            Err(auth::LoginError::Unknown)
                        }
                    };
                    let html = match outcome {
                        Ok(()) => {
                            self.audit(Some(user), Some(chat.chat_id), Event::Login, json!({}))
                                .await;
                            format!(
                                "🔓 Logged in. The session ends after {}h without activity; /logout ends it now.",
                                self.config.session_timeout.as_secs() / 3600
                            )
                        }
                        Err(e) => {
                            self.audit(
                                Some(user),
                                Some(chat.chat_id),
                                e.event(),
                                json!({"reason": format!("{e:?}")}),
                            )
                            .await;
                            "🔒 That token is not valid (unknown, expired, already used or not yours). Ask the operator for a new one.".to_string()
                        }
                    };
                    // The token was typed into the chat: remove it whatever the outcome.
                    return Some(Verdict::Reply {
                        chat,
                        html,
                        delete_message: Some(*message_id),
                    });
                }
                Some((cmd, _)) if cmd == "logout" => {
                    let _ = auth.logout(user).await;
                    self.audit(Some(user), Some(chat.chat_id), Event::Logout, json!({}))
                        .await;
                    return Some(Verdict::Reply {
                        chat,
                        html: "🔒 Logged out.".into(),
                        delete_message: None,
                    });
                }
                _ => {}
            }
        }
        match auth.check_session(user).await {
            Ok(true) => None,
            Ok(false) => {
                self.audit(
                    Some(user),
                    Some(chat.chat_id),
                    Event::AuthRequired,
                    json!({"kind": kind_label(&incoming.kind)}),
                )
                .await;
                Some(match incoming.kind {
                    IncomingKind::Text { .. }
                    | IncomingKind::Document(_)
                    | IncomingKind::Photo(_)
                    | IncomingKind::Voice(_) => Verdict::Reply {
                        chat,
                        html: "🔒 Please log in first: <code>/login &lt;token&gt;</code> (the operator issues tokens with <code>ccgate token issue</code>).".into(),
                        delete_message: None,
                    },
                    _ => Verdict::Drop {
                        reason: "not logged in",
                    },
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "session check failed");
                Some(Verdict::Drop {
                    reason: "session check failed",
                })
            }
        }
    }
}

fn kind_label(kind: &IncomingKind) -> &'static str {
    match kind {
        IncomingKind::Text { .. } => "message",
        IncomingKind::Callback { .. } => "callback",
        IncomingKind::Edited { .. } => "edited_message",
        IncomingKind::Document(_) => "document",
        IncomingKind::Photo(_) => "photo",
        IncomingKind::Voice(v) if v.audio => "audio",
        IncomingKind::Voice(_) => "voice",
        IncomingKind::Unsupported { .. } => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Gate {
        /// Parse like intake does, then check.
        async fn check_value(&self, raw: &Value) -> Verdict {
            self.check(&Update::parse(raw).expect("an update_id")).await
        }
    }
    use std::collections::HashMap as Map;

    fn config(extra: &[(&str, &str)]) -> (tempfile::TempDir, Arc<Config>) {
        let dir = tempfile::tempdir().unwrap();
        let mut m: Map<String, String> = Map::from([
            (
                "TELEGRAM_BOT_TOKEN".into(),
                "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".into(),
            ),
            (
                "APPROVED_DIRECTORY".into(),
                dir.path().display().to_string(),
            ),
            ("ALLOWED_USERS".into(), "10".into()),
        ]);
        for (k, v) in extra {
            m.insert(k.to_string(), v.to_string());
        }
        let c = Config::from_map(&m).unwrap();
        (dir, Arc::new(c))
    }

    fn msg(user: i64, chat: i64, text: &str) -> Value {
        json!({"update_id": 1, "message": {"message_id": 1, "from": {"id": user},
            "chat": {"id": chat, "type": if chat > 0 {"private"} else {"supergroup"}}, "text": text}})
    }

    #[tokio::test]
    async fn empty_allowlist_admits_nobody() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[("ALLOWED_USERS", ""), ("PAIRING", "off")]);
        let g = Gate::new(c, store.clone());
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Drop { .. }
        ));
        assert_eq!(store.audit_count("auth_rejected").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn every_update_kind_is_checked() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[("PAIRING", "off")]);
        let g = Gate::new(c, store.clone());
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Pass(_)
        ));
        assert!(matches!(
            g.check_value(&msg(11, 11, "hi")).await,
            Verdict::Drop { .. }
        ));
        let cb = json!({"update_id": 2, "callback_query": {"id": "c", "from": {"id": 11},
            "message": {"message_id": 4, "chat": {"id": 10, "type": "private"}}, "data": "stop:1"}});
        assert!(matches!(g.check_value(&cb).await, Verdict::Drop { .. }));
        let edit = json!({"update_id": 3, "edited_message": {"message_id": 1, "from": {"id": 11}, "chat": {"id": 11, "type": "private"}, "text": "x"}});
        assert!(matches!(g.check_value(&edit).await, Verdict::Drop { .. }));
        assert_eq!(store.audit_count("auth_rejected").await.unwrap(), 3);
    }

    #[tokio::test]
    async fn groups_must_be_enabled_even_for_allowed_users() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[("ALLOWED_GROUPS", "-100")]);
        let g = Gate::new(c, store.clone());
        assert!(matches!(
            g.check_value(&msg(10, -100, "hi")).await,
            Verdict::Pass(_)
        ));
        assert!(matches!(
            g.check_value(&msg(10, -200, "hi")).await,
            Verdict::Drop { .. }
        ));
        // A stranger in an enabled group gets no pairing code and no reply.
        assert!(matches!(
            g.check_value(&msg(11, -100, "hi")).await,
            Verdict::Drop { .. }
        ));
        assert_eq!(store.audit_count("group_not_enabled").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn rate_limit_is_one_token_per_message_and_notices_once() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[
            ("RATE_LIMIT_REQUESTS", "1"),
            ("RATE_LIMIT_WINDOW", "3600"),
            ("RATE_LIMIT_BURST", "3"),
        ]);
        let g = Gate::new(c, store.clone());
        for _ in 0..3 {
            assert!(matches!(
                g.check_value(&msg(10, 10, "hi")).await,
                Verdict::Pass(_)
            ));
        }
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Reply { .. }
        ));
        assert!(
            matches!(
                g.check_value(&msg(10, 10, "hi")).await,
                Verdict::Drop { .. }
            ),
            "told once"
        );
        assert_eq!(store.audit_count("rate_limited").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn strangers_get_at_most_two_pairing_codes() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[]);
        let g = Gate::new(c, store.clone());
        let mut replies = 0;
        for _ in 0..5 {
            if matches!(
                g.check_value(&msg(77, 77, "let me in")).await,
                Verdict::Reply { .. }
            ) {
                replies += 1;
            }
        }
        assert_eq!(replies, 2);
        let code = auth::pending_pairings(&store).await.unwrap()[0]
            .code
            .clone();
        auth::approve_pairing(&store, &code).await.unwrap().unwrap();
        assert!(matches!(
            g.check_value(&msg(77, 77, "now?")).await,
            Verdict::Pass(_)
        ));
    }

    #[tokio::test]
    async fn token_auth_requires_login_and_deletes_the_token_message() {
        let store = Store::open_in_memory().unwrap();
        let secret = "s".repeat(40);
        let (_d, c) = config(&[
            ("ENABLE_TOKEN_AUTH", "true"),
            ("AUTH_TOKEN_SECRET", &secret),
        ]);
        let g = Gate::new(c.clone(), store.clone());
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Reply {
                delete_message: None,
                ..
            }
        ));
        let a = Auth::new(
            store.clone(),
            c.auth_token_secret.clone().unwrap(),
            c.session_timeout,
        );
        let t = a.issue(10, Duration::from_secs(60)).await.unwrap();
        let Verdict::Reply {
            html,
            delete_message,
            ..
        } = g.check_value(&msg(10, 10, &format!("/login {t}"))).await
        else {
            panic!()
        };
        assert!(html.contains("Logged in"));
        assert_eq!(delete_message, Some(1));
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Pass(_)
        ));
        // Replay after logout fails.
        g.check_value(&msg(10, 10, "/logout")).await;
        let Verdict::Reply { html, .. } = g.check_value(&msg(10, 10, &format!("/login {t}"))).await
        else {
            panic!()
        };
        assert!(html.contains("not valid"));
        assert_eq!(store.audit_count("token_replay").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn bot_senders_are_dropped_whatever_their_id() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[("ALLOWED_GROUPS", "-100")]);
        let g = Gate::new(c, store.clone());
        let human = json!({"id": 10, "is_bot": false, "first_name": "A"});
        let bot = json!({"id": 10, "is_bot": true, "first_name": "B", "username": "evil_bot"});
        let chat = json!({"id": 10, "type": "private"});
        let group = json!({"id": -100, "type": "supergroup"});
        let message = |from: &Value, chat: &Value| json!({"update_id": 1, "message": {"message_id": 1, "from": from, "chat": chat, "text": "hi"}});
        // Refused: a bot with an allowed user's id, in every kind of update.
        let refused = [
            message(&bot, &chat),
            message(&bot, &group),
            json!({"update_id": 2, "edited_message": {"message_id": 1, "from": bot, "chat": chat, "text": "x"}}),
            json!({"update_id": 3, "callback_query": {"id": "c", "from": bot,
                "message": {"message_id": 4, "from": human, "chat": chat}, "data": "ap:x:once"}}),
            json!({"update_id": 4, "channel_post": {"message_id": 1, "from": bot,
                "chat": {"id": -100, "type": "channel"}, "text": "x"}}),
            json!({"update_id": 5, "edited_channel_post": {"message_id": 1, "from": bot,
                "chat": {"id": -100, "type": "channel"}, "text": "x"}}),
            json!({"update_id": 6, "business_message": {"message_id": 1, "from": bot, "chat": chat, "text": "x"}}),
            json!({"update_id": 7, "inline_query": {"id": "q", "from": bot, "query": "x", "offset": ""}}),
            json!({"update_id": 8, "poll_answer": {"poll_id": "p", "user": bot, "option_ids": [0]}}),
            json!({"update_id": 9, "some_future_update": {"from": bot}}),
            // Not a boolean is not a human.
            message(&json!({"id": 10, "is_bot": "true"}), &chat),
            message(&json!({"id": 10, "is_bot": 1}), &chat),
            message(&json!({"id": 10, "is_bot": null}), &chat),
            // No id at all: still a bot, still dropped.
            message(&json!({"is_bot": true}), &chat),
        ];
        for u in &refused {
            assert_eq!(
                g.check_value(u).await,
                Verdict::Drop {
                    reason: "sent by a bot"
                },
                "{u}"
            );
        }
        assert_eq!(
            store.audit_count("bot_sender_dropped").await.unwrap(),
            refused.len() as i64
        );
        assert_eq!(store.audit_count("auth_rejected").await.unwrap(), 0);
        // Allowed: the human with that id, with or without the field; a button under the bot's
        // own message; a reply quoting a bot.
        let allowed = [
            message(&human, &chat),
            message(&json!({"id": 10}), &chat),
            message(&human, &group),
            json!({"update_id": 10, "callback_query": {"id": "c", "from": human,
                "message": {"message_id": 4, "from": bot, "chat": chat}, "data": "stop:1"}}),
            json!({"update_id": 11, "message": {"message_id": 2, "from": human, "chat": chat, "text": "hi",
                "reply_to_message": {"message_id": 1, "from": bot, "chat": chat, "text": "x"}}}),
        ];
        for u in &allowed {
            assert!(matches!(g.check_value(u).await, Verdict::Pass(_)), "{u}");
        }
        assert_eq!(
            store.audit_count("bot_sender_dropped").await.unwrap(),
            refused.len() as i64
        );
    }

    #[tokio::test]
    async fn a_bot_row_names_the_bot_and_its_chat() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[]);
        let g = Gate::new(c, store.clone());
        let u = json!({"update_id": 1, "message": {"message_id": 1,
            "from": {"id": 55, "is_bot": true, "username": "evil_bot"},
            "chat": {"id": 10, "type": "private"}, "text": "hi"}});
        assert!(matches!(g.check_value(&u).await, Verdict::Drop { .. }));
        let row = store.audit_tail(1).await.unwrap().pop().unwrap();
        assert_eq!(row.event, "bot_sender_dropped");
        assert_eq!((row.user_id, row.chat_id), (Some(55), Some(10)));
        assert!(
            row.details.contains("evil_bot") && row.details.contains("\"kind\":\"message\""),
            "{}",
            row.details
        );
    }

    #[tokio::test]
    async fn locked_out_users_are_dropped() {
        let store = Store::open_in_memory().unwrap();
        let (_d, c) = config(&[]);
        let g = Gate::new(c, store.clone());
        store.lock_out(10, "test", None).await.unwrap();
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Drop { .. }
        ));
        store.unlock(10).await.unwrap();
        assert!(matches!(
            g.check_value(&msg(10, 10, "hi")).await,
            Verdict::Pass(_)
        ));
    }
}
