//! What ccgate understands of a Telegram update.
//!
//! Why it exists: the Bot API's update objects are huge and grow every month. The rest of
//! ccgate works on [`Incoming`], a small, stable summary: who, where (chat and forum topic),
//! and what (text, button press, or something we do not handle). Parsing is tolerant: a field
//! we do not know is ignored; an update we cannot place is reported, not fatal. It happens once,
//! at intake ([`Update::parse`]); the typed [`Update`] travels on to the inbox, the gate and the
//! router, so no later layer reads the JSON again.

use serde_json::Value;

/// A chat, or a forum topic inside a chat (`thread_id` 0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatRef {
    pub chat_id: i64,
    pub thread_id: i64,
}

impl ChatRef {
    pub fn is_group(&self) -> bool {
        self.chat_id < 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IncomingKind {
    /// A text message (commands included).
    Text { message_id: i64, text: String },
    /// An inline-button press.
    Callback {
        callback_id: String,
        message_id: Option<i64>,
        data: String,
    },
    /// A document (any file sent as a file), with its caption.
    Document(Upload),
    /// A photo (Telegram's recompressed JPEG), in its largest size.
    Photo(Upload),
    /// A voice note or an audio file: transcribed, then run as a prompt.
    Voice(VoiceNote),
    /// An edit of an earlier message: never re-run as a prompt.
    Edited { message_id: i64 },
    /// Something we do not handle yet (photo, sticker, …), with a short label.
    Unsupported {
        message_id: Option<i64>,
        what: String,
    },
}

/// A file sent into the chat, as Telegram describes it (nothing downloaded yet). Every field
/// but `file_id` comes from the sender's client and is only a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub message_id: i64,
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    /// Telegram's size, checked against `MAX_UPLOAD_BYTES` before any download.
    pub file_size: Option<u64>,
    pub caption: Option<String>,
    /// Set for the parts of an album (sent together, one update each).
    pub media_group_id: Option<String>,
}

/// A voice note (`voice`, recorded in Telegram) or an audio file (`audio`), as Telegram
/// describes it; nothing downloaded yet.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceNote {
    /// The file (`file_name` is set for audio files only).
    pub upload: Upload,
    /// Telegram's duration in seconds, checked against `MAX_VOICE_SECONDS` before any download.
    pub duration: Option<u64>,
    /// An `audio` message (a music or audio file) rather than a recorded `voice` note.
    pub audio: bool,
}

impl IncomingKind {
    /// Whether this is something to run as a prompt (what the rate limit counts).
    pub fn is_prompt(&self) -> bool {
        matches!(
            self,
            IncomingKind::Text { .. }
                | IncomingKind::Document(_)
                | IncomingKind::Photo(_)
                | IncomingKind::Voice(_)
        )
    }
}

/// One update, reduced to what ccgate needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub update_id: i64,
    pub chat: ChatRef,
    /// Telegram's chat type: private, group, supergroup, channel.
    pub chat_kind: String,
    /// The sender (for callbacks: the user who pressed the button).
    pub user_id: i64,
    pub username: Option<String>,
    pub kind: IncomingKind,
}

/// An update as it travels from intake on: parsed once, here, into everything later layers
/// read (the gate, the inbox, the router); nobody downstream looks at the JSON again.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: i64,
    /// The update as Telegram sent it, for the inbox (replayed after a restart).
    pub raw: String,
    /// Where it belongs (indexes the inbox), even when it is not [`Incoming`].
    pub chat: Option<i64>,
    pub thread: i64,
    /// Set when a bot sent it (the gate drops those first).
    pub bot_sender: Option<BotSender>,
    /// `None` when it has no sender or chat we could answer to.
    pub incoming: Option<Incoming>,
}

impl Update {
    /// `None` without an `update_id` (nothing can be confirmed or stored for it).
    pub fn parse(value: &Value) -> Option<Update> {
        let id = value.get("update_id").and_then(Value::as_i64)?;
        let (chat, thread) = locate(value);
        Some(Update {
            id,
            raw: value.to_string(),
            chat,
            thread,
            bot_sender: bot_sender(value),
            incoming: parse(value),
        })
    }

    /// An update read back from the inbox.
    pub fn from_stored(json: &str) -> Result<Update, String> {
        let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Update::parse(&value).ok_or_else(|| "no update_id".to_string())
    }

    /// The id to answer when this is a button press.
    pub fn callback_id(&self) -> Option<&str> {
        match &self.incoming.as_ref()?.kind {
            IncomingKind::Callback { callback_id, .. } => Some(callback_id),
            _ => None,
        }
    }
}

/// Where an update belongs, without interpreting it further (used to index the inbox).
pub fn locate(update: &Value) -> (Option<i64>, i64) {
    let msg = message_of(update);
    let chat = msg
        .and_then(|m| m.pointer("/chat/id"))
        .and_then(Value::as_i64);
    let thread = msg.map(thread_of).unwrap_or(0);
    (chat, thread)
}

fn message_of(update: &Value) -> Option<&Value> {
    update
        .get("message")
        .or_else(|| update.get("edited_message"))
        .or_else(|| update.pointer("/callback_query/message"))
}

fn thread_of(msg: &Value) -> i64 {
    // Only forum topics carry a meaningful thread; a reply chain in a plain group also sets
    // message_thread_id, which must not split the conversation.
    if msg.get("is_topic_message").and_then(Value::as_bool) == Some(true) {
        msg.get("message_thread_id")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    } else {
        0
    }
}

/// Reduce a raw update. `None` when it has no sender or chat we could answer to.
pub fn parse(update: &Value) -> Option<Incoming> {
    let update_id = update.get("update_id").and_then(Value::as_i64)?;
    if let Some(cb) = update.get("callback_query") {
        let msg = cb.get("message")?;
        let from = cb.get("from")?;
        return Some(Incoming {
            update_id,
            chat: ChatRef {
                chat_id: msg.pointer("/chat/id").and_then(Value::as_i64)?,
                thread_id: thread_of(msg),
            },
            chat_kind: chat_kind(msg),
            user_id: from.get("id").and_then(Value::as_i64)?,
            username: from
                .get("username")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind: IncomingKind::Callback {
                callback_id: cb.get("id").and_then(Value::as_str)?.to_string(),
                message_id: msg.get("message_id").and_then(Value::as_i64),
                data: cb
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            },
        });
    }
    let (msg, edited) = match (update.get("message"), update.get("edited_message")) {
        (Some(m), _) => (m, false),
        (None, Some(m)) => (m, true),
        _ => return None,
    };
    let from = msg.get("from")?;
    let message_id = msg.get("message_id").and_then(Value::as_i64);
    let kind = if edited {
        IncomingKind::Edited {
            message_id: message_id?,
        }
    } else if let Some(text) = msg.get("text").and_then(Value::as_str) {
        IncomingKind::Text {
            message_id: message_id?,
            text: text.to_string(),
        }
    } else if let Some(doc) = msg.get("document") {
        IncomingKind::Document(upload(msg, doc, message_id?)?)
    } else if let Some(sizes) = msg.get("photo").and_then(Value::as_array) {
        // Sizes come smallest first; take the largest by pixels (the last, normally).
        let largest = sizes.iter().max_by_key(|p| {
            let d = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
            d("width") * d("height")
        });
        match largest {
            Some(p) => IncomingKind::Photo(upload(msg, p, message_id?)?),
            None => IncomingKind::Unsupported {
                message_id,
                what: "photo".into(),
            },
        }
    } else if let Some((file, audio)) = msg
        .get("voice")
        .map(|v| (v, false))
        .or_else(|| msg.get("audio").map(|a| (a, true)))
    {
        IncomingKind::Voice(VoiceNote {
            upload: upload(msg, file, message_id?)?,
            duration: file.get("duration").and_then(Value::as_u64),
            audio,
        })
    } else {
        let what = [
            "photo", "document", "video", "sticker", "location", "contact",
        ]
        .into_iter()
        .find(|k| msg.get(*k).is_some())
        .unwrap_or("this kind of message");
        IncomingKind::Unsupported {
            message_id,
            what: what.to_string(),
        }
    };
    Some(Incoming {
        update_id,
        chat: ChatRef {
            chat_id: msg.pointer("/chat/id").and_then(Value::as_i64)?,
            thread_id: thread_of(msg),
        },
        chat_kind: chat_kind(msg),
        user_id: from.get("id").and_then(Value::as_i64)?,
        username: from
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_string),
        kind,
    })
}

/// The [`Upload`] of `file` (a `Document`, `PhotoSize`, `Voice` or `Audio`) in `msg`; `None` without a file id.
fn upload(msg: &Value, file: &Value, message_id: i64) -> Option<Upload> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Upload {
        message_id,
        file_id: text(file, "file_id").filter(|f| !f.is_empty())?,
        file_name: text(file, "file_name"),
        mime_type: text(file, "mime_type"),
        file_size: file.get("file_size").and_then(Value::as_u64),
        caption: text(msg, "caption"),
        media_group_id: text(msg, "media_group_id"),
    })
}

fn chat_kind(msg: &Value) -> String {
    msg.pointer("/chat/type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}

/// Split `/cmd@bot args` into (`cmd`, `args`) when the text is a command for us.
///
/// In groups, `/cmd@otherbot` is someone else's command and yields `None`.
pub fn parse_command<'a>(text: &'a str, bot_username: Option<&str>) -> Option<(String, &'a str)> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (cmd, target) = match head.split_once('@') {
        Some((c, t)) => (c, Some(t)),
        None => (head, None),
    };
    if let (Some(target), Some(me)) = (target, bot_username) {
        if !target.eq_ignore_ascii_case(me) {
            return None;
        }
    }
    if cmd.is_empty() || !cmd.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((cmd.to_ascii_lowercase(), args))
}

/// The bot that sent an update, if its sender is one.
#[derive(Debug, Clone, PartialEq)]
pub struct BotSender {
    pub id: Option<i64>,
    pub chat: Option<i64>,
    /// The update's kind (`message`, `callback_query`, `channel_post`, …).
    pub kind: String,
    pub username: Option<String>,
}

/// Whether the sender of `raw` is a bot. Every kind of update is looked at, known or not: the
/// update's payload (`message`, `edited_message`, `channel_post`, `callback_query`,
/// `inline_query`, `poll_answer`, `message_reaction`, …) names its sender in `from` (or `user`).
/// A sender whose `is_bot` is present and anything but `false` is a bot (Telegram always sends
/// the field; `true`, or a value that is not a boolean, is not a human). Only the sender
/// counts: the bot's own message under a button (`callback_query.message.from`) or a quoted
/// one (`reply_to_message`) does not.
fn bot_sender(raw: &Value) -> Option<BotSender> {
    let update = raw.as_object()?;
    for (kind, payload) in update {
        if kind == "update_id" {
            continue;
        }
        for key in ["from", "user"] {
            let Some(sender) = payload.get(key) else {
                continue;
            };
            let is_bot = match sender.get("is_bot") {
                None | Some(Value::Bool(false)) => false,
                Some(_) => true,
            };
            if is_bot {
                return Some(BotSender {
                    id: sender.get("id").and_then(Value::as_i64),
                    chat: payload
                        .pointer("/chat/id")
                        .or_else(|| payload.pointer("/message/chat/id"))
                        .and_then(Value::as_i64),
                    kind: kind.chars().take(40).collect(),
                    username: sender
                        .get("username")
                        .and_then(Value::as_str)
                        .map(|u| u.chars().take(64).collect()),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_is_parsed_once_into_everything_later_layers_read() {
        let cb = json!({"update_id": 7, "callback_query": {"id": "cb1", "data": "x",
            "from": {"id": 5, "is_bot": false},
            "message": {"message_id": 3, "chat": {"id": -100, "type": "supergroup"},
                "is_topic_message": true, "message_thread_id": 9}}});
        let u = Update::parse(&cb).unwrap();
        assert_eq!((u.id, u.chat, u.thread), (7, Some(-100), 9));
        assert_eq!(u.callback_id(), Some("cb1"));
        assert!(u.bot_sender.is_none());
        assert_eq!(u.incoming.as_ref().unwrap().user_id, 5);
        assert_eq!(Update::from_stored(&u.raw).unwrap(), u);

        let from_bot = json!({"update_id": 8, "message": {"message_id": 1, "text": "hi",
            "from": {"id": 5, "is_bot": true, "username": "b"}, "chat": {"id": 5, "type": "private"}}});
        let u = Update::parse(&from_bot).unwrap();
        assert_eq!(u.bot_sender.as_ref().unwrap().id, Some(5));
        assert_eq!(u.callback_id(), None);

        assert!(Update::parse(&json!({"message": {}})).is_none());
        assert!(Update::from_stored("{not json").is_err());
    }

    #[test]
    fn text_message_in_topic() {
        let u = json!({"update_id": 5, "message": {"message_id": 9, "message_thread_id": 3, "is_topic_message": true,
            "from": {"id": 42, "is_bot": false, "first_name": "A", "username": "al"},
            "chat": {"id": -100, "type": "supergroup"}, "date": 0, "text": "hi", "brand_new_field": {"x": 1}}});
        let i = parse(&u).unwrap();
        assert_eq!(
            i.chat,
            ChatRef {
                chat_id: -100,
                thread_id: 3
            }
        );
        assert_eq!(i.user_id, 42);
        assert_eq!(
            i.kind,
            IncomingKind::Text {
                message_id: 9,
                text: "hi".into()
            }
        );
        assert_eq!(locate(&u), (Some(-100), 3));
    }

    #[test]
    fn reply_thread_without_topic_is_not_a_topic() {
        let u = json!({"update_id": 5, "message": {"message_id": 9, "message_thread_id": 3,
            "from": {"id": 42}, "chat": {"id": -100, "type": "group"}, "text": "hi"}});
        assert_eq!(parse(&u).unwrap().chat.thread_id, 0);
    }

    #[test]
    fn callback_uses_presser_identity() {
        let u = json!({"update_id": 6, "callback_query": {"id": "cb1", "from": {"id": 77},
            "message": {"message_id": 3, "chat": {"id": 42, "type": "private"}}, "data": "stop:1", "chat_instance": "x"}});
        let i = parse(&u).unwrap();
        assert_eq!(i.user_id, 77);
        assert!(matches!(i.kind, IncomingKind::Callback { ref data, .. } if data == "stop:1"));
    }

    #[test]
    fn unplaceable_updates() {
        assert!(parse(&json!({"update_id": 1, "poll": {}})).is_none());
        assert!(parse(&json!({"message": {"text": "x"}})).is_none());
        let photo = json!({"update_id": 2, "message": {"message_id": 1, "from": {"id": 1}, "chat": {"id": 1, "type": "private"}, "photo": []}});
        assert!(
            matches!(parse(&photo).unwrap().kind, IncomingKind::Unsupported { ref what, .. } if what == "photo")
        );
        let sticker = json!({"update_id": 3, "message": {"message_id": 1, "from": {"id": 1}, "chat": {"id": 1, "type": "private"}, "sticker": {}}});
        assert!(!parse(&sticker).unwrap().kind.is_prompt());
    }

    #[test]
    fn documents_and_photos() {
        let doc = json!({"update_id": 4, "message": {"message_id": 7, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"}, "caption": "look", "media_group_id": "g1",
            "document": {"file_id": "F1", "file_unique_id": "U1", "file_name": "a.txt",
                "mime_type": "text/plain", "file_size": 12}}});
        let u = Upload {
            message_id: 7,
            file_id: "F1".into(),
            file_name: Some("a.txt".into()),
            mime_type: Some("text/plain".into()),
            file_size: Some(12),
            caption: Some("look".into()),
            media_group_id: Some("g1".into()),
        };
        assert_eq!(parse(&doc).unwrap().kind, IncomingKind::Document(u));
        let photo = json!({"update_id": 5, "message": {"message_id": 8, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"},
            "photo": [{"file_id": "small", "width": 90, "height": 60, "file_size": 10},
                      {"file_id": "big", "width": 1280, "height": 853, "file_size": 9000},
                      {"file_id": "mid", "width": 320, "height": 213}]}});
        let IncomingKind::Photo(p) = parse(&photo).unwrap().kind else {
            panic!("not a photo")
        };
        assert_eq!(
            (p.file_id.as_str(), p.file_size, p.caption.as_deref()),
            ("big", Some(9000), None)
        );
        assert!(IncomingKind::Photo(p).is_prompt());
        // A document without a file id cannot be fetched: not placeable.
        let bad = json!({"update_id": 6, "message": {"message_id": 9, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"}, "document": {"file_name": "a.txt"}}});
        assert!(parse(&bad).is_none());
    }

    #[test]
    fn voice_notes_and_audio_files() {
        let voice = json!({"update_id": 7, "message": {"message_id": 3, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"}, "caption": "and fix it",
            "voice": {"file_id": "V1", "file_unique_id": "u", "duration": 12,
                "mime_type": "audio/ogg", "file_size": 4096}}});
        let v = VoiceNote {
            upload: Upload {
                message_id: 3,
                file_id: "V1".into(),
                file_name: None,
                mime_type: Some("audio/ogg".into()),
                file_size: Some(4096),
                caption: Some("and fix it".into()),
                media_group_id: None,
            },
            duration: Some(12),
            audio: false,
        };
        let kind = parse(&voice).unwrap().kind;
        assert_eq!(kind, IncomingKind::Voice(v));
        assert!(kind.is_prompt());
        let audio = json!({"update_id": 8, "message": {"message_id": 4, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"}, "media_group_id": "g",
            "audio": {"file_id": "A1", "duration": 300, "file_name": "talk.mp3",
                "mime_type": "audio/mpeg"}}});
        let IncomingKind::Voice(a) = parse(&audio).unwrap().kind else {
            panic!("not audio")
        };
        assert!(a.audio);
        assert_eq!(a.duration, Some(300));
        assert_eq!(a.upload.file_name.as_deref(), Some("talk.mp3"));
        assert_eq!(a.upload.media_group_id.as_deref(), Some("g"));
        assert_eq!(a.upload.file_size, None);
        // Without a file id there is nothing to transcribe: not placeable.
        let bad = json!({"update_id": 9, "message": {"message_id": 5, "from": {"id": 1},
            "chat": {"id": 1, "type": "private"}, "voice": {"duration": 3}}});
        assert!(parse(&bad).is_none());
    }

    #[test]
    fn commands() {
        assert_eq!(parse_command("/start", None), Some(("start".into(), "")));
        assert_eq!(
            parse_command("/cd  src/x ", None),
            Some(("cd".into(), "src/x"))
        );
        assert_eq!(
            parse_command("/help@my_bot", Some("my_bot")),
            Some(("help".into(), ""))
        );
        assert_eq!(parse_command("/help@other_bot", Some("my_bot")), None);
        assert_eq!(parse_command("hello /start", None), None);
        assert_eq!(parse_command("/", None), None);
        assert_eq!(parse_command("/../etc", None), None);
        assert_eq!(parse_command("/STOP", None), Some(("stop".into(), "")));
    }
}
