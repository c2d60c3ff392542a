//! A thin client over the Bot API methods ccgate uses, with errors sorted by what to do next.
//!
//! Why it exists: callers need to know "wait N seconds", "retry later" or "Telegram refused
//! this for good" — not a transport-specific error enum. Requests are built with frankenstein's
//! typed parameter structs and sent by its reqwest client; responses are read as loose JSON so a
//! new field or enum variant in Telegram's answer can never break ccgate. The URL (which embeds
//! the bot token) is never printed: `Debug` is written by hand and frankenstein strips URLs from
//! transport errors.

use std::time::Duration;

use frankenstein::client_reqwest::Bot;
use frankenstein::methods::{
    AnswerCallbackQueryParams, DeleteMessageParams, DeleteWebhookParams, EditMessageTextParams,
    GetUpdatesParams, SendChatActionParams, SendMessageParams, SetMyCommandsParams,
};
use frankenstein::response::MethodResponse;
use frankenstein::types::{
    AllowedUpdate, BotCommand, ChatAction, InlineKeyboardButton, InlineKeyboardMarkup,
    LinkPreviewOptions, ReplyMarkup, ReplyParameters,
};
use frankenstein::{AsyncTelegramApi, ParseMode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// What went wrong, sorted by the caller's next move.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 429: wait this long, then retry.
    RetryAfter(Duration),
    /// Network trouble or a 5xx: retry with backoff.
    Transient(String),
    /// Telegram refused the request (4xx); retrying the same request will not help.
    Rejected { code: u64, description: String },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::RetryAfter(d) => write!(f, "rate limited, retry after {}s", d.as_secs()),
            ApiError::Transient(m) => write!(f, "transient error: {m}"),
            ApiError::Rejected { code, description } => write!(f, "{code}: {description}"),
        }
    }
}

impl ApiError {
    pub fn is_parse_error(&self) -> bool {
        matches!(self, ApiError::Rejected { description, .. } if description.contains("can't parse entities"))
    }
    pub fn is_not_modified(&self) -> bool {
        matches!(self, ApiError::Rejected { description, .. } if description.contains("message is not modified"))
    }
    /// A topic edit, close or reopen that changes nothing (it is already so).
    pub fn is_topic_not_modified(&self) -> bool {
        matches!(self, ApiError::Rejected { description, .. } if description.contains("TOPIC_NOT_MODIFIED"))
    }
    /// A topic call naming a topic Telegram no longer has (deleted by hand).
    pub fn is_topic_gone(&self) -> bool {
        matches!(self, ApiError::Rejected { description, .. }
            if description.contains("TOPIC_ID_INVALID") || description.contains("message thread not found"))
    }
    pub fn is_message_gone(&self) -> bool {
        matches!(self, ApiError::Rejected { description, .. }
            if description.contains("message to edit not found") || description.contains("message to delete not found"))
    }
}

fn classify(e: frankenstein::Error) -> ApiError {
    match e {
        frankenstein::Error::Api(resp) => {
            if let Some(secs) = resp.parameters.as_ref().and_then(|p| p.retry_after) {
                return ApiError::RetryAfter(Duration::from_secs(u64::from(secs).max(1)));
            }
            if resp.error_code == 429 {
                return ApiError::RetryAfter(Duration::from_secs(1));
            }
            if resp.error_code >= 500 {
                return ApiError::Transient(format!("{} {}", resp.error_code, resp.description));
            }
            ApiError::Rejected {
                code: resp.error_code,
                description: resp.description,
            }
        }
        // A non-JSON body (proxy error page, truncated response) is a server-side problem.
        frankenstein::Error::JsonDecode { source, .. } => {
            ApiError::Transient(format!("unreadable response: {source}"))
        }
        other => ApiError::Transient(other.to_string()),
    }
}

/// One inline button: label and callback data.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub text: String,
    pub data: String,
}

fn keyboard(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::builder()
        .inline_keyboard(
            rows.iter()
                .map(|r| {
                    r.iter()
                        .map(|b| {
                            InlineKeyboardButton::builder()
                                .text(b.text.clone())
                                .callback_data(b.data.clone())
                                .build()
                        })
                        .collect()
                })
                .collect(),
        )
        .build()
}

/// The Bot API client. Cheap to clone.
#[derive(Clone)]
pub struct TelegramApi {
    /// For long polling: its HTTP timeout exceeds the poll timeout.
    poll_bot: Bot,
    /// For everything else: a short timeout so a stuck request cannot stall a chat.
    bot: Bot,
    /// File downloads (`getFile` paths), see [`super::files`].
    pub(super) files: super::files::FileClient,
}

impl std::fmt::Debug for TelegramApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramApi { .. }")
    }
}

impl TelegramApi {
    pub fn new(
        base_url: &str,
        token: &SecretString,
        poll_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let url = format!(
            "{}/bot{}",
            base_url.trim_end_matches('/'),
            token.expose_secret()
        );
        let client = |timeout: Duration| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(timeout)
                .build()
        };
        Ok(TelegramApi {
            files: super::files::FileClient::new(base_url, token)?,
            poll_bot: Bot::builder()
                .api_url(url.clone())
                .client(client(poll_timeout + Duration::from_secs(15))?)
                .build(),
            bot: Bot::builder()
                .api_url(url)
                .client(client(Duration::from_secs(30))?)
                .build(),
        })
    }

    pub(super) async fn call<P>(
        &self,
        bot: &Bot,
        method: &str,
        params: Option<&P>,
    ) -> Result<Value, ApiError>
    where
        P: serde::Serialize + std::fmt::Debug + Send + Sync,
    {
        bot.request::<&P, MethodResponse<Value>>(method, params)
            .await
            .map(|r| r.result)
            .map_err(classify)
    }

    pub(super) fn bot(&self) -> &Bot {
        &self.bot
    }

    /// `getMe`: proves the token works.
    pub async fn get_me(&self) -> Result<Value, ApiError> {
        self.call::<()>(&self.bot, "getMe", None).await
    }

    /// `getUpdates`, returning each update as raw JSON.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<Vec<Value>, ApiError> {
        let params = GetUpdatesParams::builder()
            .offset(offset)
            .timeout(timeout.as_secs() as u32)
            .allowed_updates(vec![
                AllowedUpdate::Message,
                AllowedUpdate::EditedMessage,
                AllowedUpdate::CallbackQuery,
            ])
            .build();
        match self
            .call(&self.poll_bot, "getUpdates", Some(&params))
            .await?
        {
            Value::Array(items) => Ok(items),
            other => Err(ApiError::Transient(format!(
                "getUpdates returned {} instead of a list",
                short_type(&other)
            ))),
        }
    }

    /// Stop any webhook so long polling is allowed (Telegram refuses both at once).
    pub async fn delete_webhook(&self) -> Result<(), ApiError> {
        let params = DeleteWebhookParams::builder()
            .drop_pending_updates(false)
            .build();
        self.call(&self.bot, "deleteWebhook", Some(&params))
            .await
            .map(|_| ())
    }

    /// `setWebhook`: Telegram will POST updates to `url` with `secret_token` in the
    /// `X-Telegram-Bot-Api-Secret-Token` header. Pending updates are kept.
    pub async fn set_webhook(&self, url: &str, secret_token: &str) -> Result<(), ApiError> {
        let params = frankenstein::methods::SetWebhookParams::builder()
            .url(url.to_string())
            .secret_token(secret_token.to_string())
            .drop_pending_updates(false)
            .build();
        self.call(&self.bot, "setWebhook", Some(&params))
            .await
            .map(|_| ())
    }

    /// `sendMessage`; returns the new message id.
    pub async fn send_message(
        &self,
        chat_id: i64,
        thread_id: i64,
        text: &str,
        html: bool,
        buttons: Option<&[Vec<Button>]>,
        reply_to: Option<i64>,
    ) -> Result<i64, ApiError> {
        let params = SendMessageParams::builder()
            .chat_id(chat_id)
            .text(text)
            .maybe_message_thread_id(thread(thread_id))
            .maybe_parse_mode(html.then_some(ParseMode::Html))
            .maybe_reply_markup(buttons.map(|b| ReplyMarkup::InlineKeyboardMarkup(keyboard(b))))
            .maybe_reply_parameters(reply_to.map(|id| {
                ReplyParameters::builder()
                    .message_id(id as i32)
                    .allow_sending_without_reply(true)
                    .build()
            }))
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .build();
        let msg = self.call(&self.bot, "sendMessage", Some(&params)).await?;
        msg.get("message_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::Transient("sendMessage answer without message_id".into()))
    }

    /// `editMessageText`. "Message is not modified" counts as success.
    pub async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
        html: bool,
        buttons: Option<&[Vec<Button>]>,
    ) -> Result<(), ApiError> {
        let params = EditMessageTextParams::builder()
            .chat_id(chat_id)
            .message_id(message_id as i32)
            .text(text)
            .maybe_parse_mode(html.then_some(ParseMode::Html))
            .maybe_reply_markup(buttons.map(keyboard))
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .build();
        match self.call(&self.bot, "editMessageText", Some(&params)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_modified() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_message(&self, chat_id: i64, message_id: i64) -> Result<(), ApiError> {
        let params = DeleteMessageParams::builder()
            .chat_id(chat_id)
            .message_id(message_id as i32)
            .build();
        self.call(&self.bot, "deleteMessage", Some(&params))
            .await
            .map(|_| ())
    }

    pub async fn send_typing(&self, chat_id: i64, thread_id: i64) -> Result<(), ApiError> {
        let params = SendChatActionParams::builder()
            .chat_id(chat_id)
            .maybe_message_thread_id(thread(thread_id))
            .action(ChatAction::Typing)
            .build();
        self.call(&self.bot, "sendChatAction", Some(&params))
            .await
            .map(|_| ())
    }

    pub async fn answer_callback_query(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<(), ApiError> {
        let params = AnswerCallbackQueryParams::builder()
            .callback_query_id(id)
            .maybe_text(text.map(str::to_string))
            .build();
        self.call(&self.bot, "answerCallbackQuery", Some(&params))
            .await
            .map(|_| ())
    }

    /// `sendDocument` with `bytes` uploaded as the file `filename` (multipart, from memory:
    /// nothing is written to disk); `caption` is HTML. Returns the new message id.
    pub async fn send_document(
        &self,
        chat_id: i64,
        thread_id: i64,
        filename: &str,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<i64, ApiError> {
        self.send_file(chat_id, thread_id, false, filename, bytes, caption)
            .await
    }

    /// `sendPhoto` (`photo`) or `sendDocument`, uploaded like [`TelegramApi::send_document`].
    pub async fn send_file(
        &self,
        chat_id: i64,
        thread_id: i64,
        photo: bool,
        filename: &str,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<i64, ApiError> {
        use reqwest::multipart::{Form, Part};
        let (method, field) = if photo {
            ("sendPhoto", "photo")
        } else {
            ("sendDocument", "document")
        };
        let part = Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str("application/octet-stream")
            .map_err(|e| ApiError::Transient(e.without_url().to_string()))?;
        let mut form = Form::new()
            .text("chat_id", chat_id.to_string())
            .part(field, part);
        if let Some(t) = thread(thread_id) {
            form = form.text("message_thread_id", t.to_string());
        }
        if let Some(c) = caption {
            form = form
                .text("caption", c.to_string())
                .text("parse_mode", "HTML");
        }
        // frankenstein uploads only from a path; the in-memory form goes through its client.
        self.post_multipart(method, form).await
    }

    /// `sendMessageDraft`: show `text` as the message being written in a private chat (a draft
    /// with the same non-zero `draft_id` is replaced; the next real message replaces it).
    pub async fn send_message_draft(
        &self,
        chat_id: i64,
        thread_id: i64,
        draft_id: i64,
        text: &str,
        html: bool,
    ) -> Result<(), ApiError> {
        #[derive(serde::Serialize, Debug)]
        struct Params<'a> {
            chat_id: i64,
            #[serde(skip_serializing_if = "Option::is_none")]
            message_thread_id: Option<i32>,
            draft_id: i64,
            text: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            parse_mode: Option<&'static str>,
        }
        let params = Params {
            chat_id,
            message_thread_id: thread(thread_id),
            draft_id,
            text,
            parse_mode: html.then_some("HTML"),
        };
        self.call(&self.bot, "sendMessageDraft", Some(&params))
            .await
            .map(|_| ())
    }

    /// POST a multipart form to `method` and read the new message's id from the answer.
    async fn post_multipart(
        &self,
        method: &str,
        form: reqwest::multipart::Form,
    ) -> Result<i64, ApiError> {
        let url = format!("{}/{method}", self.bot.api_url);
        let response = self
            .bot
            .client
            .post(url)
            .multipart(form)
            .send()
            .await
            .map_err(|e| ApiError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| ApiError::Transient(e.without_url().to_string()))?;
        let parsed: Value = serde_json::from_str(&body).map_err(|e| {
            ApiError::Transient(format!("unreadable {method} response ({status}): {e}"))
        })?;
        if parsed.get("ok").and_then(Value::as_bool) == Some(true) {
            return parsed["result"]
                .get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiError::Transient(format!("{method} answer without message_id")));
        }
        match serde_json::from_value::<frankenstein::response::ErrorResponse>(parsed) {
            Ok(resp) => Err(classify(frankenstein::Error::Api(resp))),
            Err(_) => Err(ApiError::Transient(format!(
                "{method} failed with {status}"
            ))),
        }
    }

    pub async fn set_my_commands(&self, commands: &[(&str, &str)]) -> Result<(), ApiError> {
        let params = SetMyCommandsParams::builder()
            .commands(
                commands
                    .iter()
                    .map(|(c, d)| BotCommand::builder().command(*c).description(*d).build())
                    .collect::<Vec<_>>(),
            )
            .build();
        self.call(&self.bot, "setMyCommands", Some(&params))
            .await
            .map(|_| ())
    }
}

/// A forum-topic call of the project topic sync (see [`super::topics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicCall {
    Create { name: String },
    Rename { thread_id: i64, name: String },
    Close { thread_id: i64 },
    Reopen { thread_id: i64 },
}

impl TelegramApi {
    /// `createForumTopic`, `editForumTopic`, `closeForumTopic` or `reopenForumTopic` in
    /// `chat_id`. Returns the topic's `message_thread_id` for a create, else 0.
    /// "TOPIC_NOT_MODIFIED" (already named so, already closed or open) counts as success.
    pub async fn forum_topic(&self, chat_id: i64, call: &TopicCall) -> Result<i64, ApiError> {
        let (method, params) = match call {
            TopicCall::Create { name } => (
                "createForumTopic",
                serde_json::json!({"chat_id": chat_id, "name": name}),
            ),
            TopicCall::Rename { thread_id, name } => (
                "editForumTopic",
                serde_json::json!({"chat_id": chat_id, "message_thread_id": thread_id, "name": name}),
            ),
            TopicCall::Close { thread_id } => (
                "closeForumTopic",
                serde_json::json!({"chat_id": chat_id, "message_thread_id": thread_id}),
            ),
            TopicCall::Reopen { thread_id } => (
                "reopenForumTopic",
                serde_json::json!({"chat_id": chat_id, "message_thread_id": thread_id}),
            ),
        };
        match self.call(&self.bot, method, Some(&params)).await {
            Ok(v) => match call {
                TopicCall::Create { .. } => v
                    .get("message_thread_id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        ApiError::Transient(
                            "createForumTopic answer without message_thread_id".into(),
                        )
                    }),
                _ => Ok(0),
            },
            Err(e) if e.is_topic_not_modified() && !matches!(call, TopicCall::Create { .. }) => {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

fn thread(thread_id: i64) -> Option<i32> {
    (thread_id != 0).then_some(thread_id as i32)
}

fn short_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
