//! The `claude` CLI's stream-json wire format, parsed tolerantly.
//!
//! Why it exists: the CLI ships almost daily and keeps adding fields and line types. We read
//! each line as loose JSON, pick out the handful of things ccgate acts on, and map everything
//! else to [`ClaudeEvent::Other`], so a new CLI version degrades to "ignored" instead of
//! "crashed". Outgoing lines (user messages, control responses, interrupts) are built here too,
//! so the wire format lives in one file.

use serde_json::{json, Value};

/// One thing the CLI told us.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaudeEvent {
    /// `system/init`: emitted at the start of every turn.
    Init {
        session_id: String,
        model: Option<String>,
    },
    /// A text block from the assistant.
    Text { text: String },
    /// The assistant started a tool call.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// A tool finished.
    ToolResult {
        tool_use_id: String,
        is_error: bool,
        content: String,
    },
    /// The CLI asks whether a tool may run (`control_request` / `can_use_tool`).
    PermissionRequest(PermissionRequest),
    /// A JSON-RPC message for an SDK-hosted MCP server (`control_request` / `mcp_message`):
    /// the CLI talks to ccgate's own tools this way, and waits for [`mcp_response_line`].
    McpMessage {
        request_id: String,
        server_name: String,
        message: Value,
    },
    /// The CLI withdrew a pending request (e.g. after an interrupt).
    ControlCancel { request_id: String },
    /// An answer to one of our control requests (e.g. the interrupt acknowledgement).
    ControlResponse { request_id: String, ok: bool },
    /// The API call is being retried after an error.
    ApiRetry {
        attempt: u64,
        error_status: Option<u64>,
    },
    /// The end of a turn.
    Result(TurnResult),
    /// Anything else: ignored on purpose.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PermissionRequest {
    pub request_id: String,
    pub tool_name: String,
    pub input: Value,
    pub tool_use_id: Option<String>,
    pub blocked_path: Option<String>,
    pub description: Option<String>,
}

/// The `result` line, the only reliable verdict on a turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnResult {
    pub session_id: Option<String>,
    pub subtype: String,
    /// Decide success on this, never on `subtype` (API errors come as subtype "success").
    pub is_error: bool,
    pub result: Option<String>,
    /// The CLI's running total for the whole *session* (it carries over into `--resume`d
    /// processes): never charge it as such.
    pub total_cost_usd: f64,
    /// This turn's cost: the sum of `model_usage_since_last_result[*].costUSD` when the CLI
    /// reports it, else set by the caller from the running total (see [`TurnResult::charge`]).
    pub cost_usd: f64,
    /// Whether `cost_usd` came from the CLI's per-result usage.
    pub cost_is_per_turn: bool,
    pub num_turns: i64,
    pub duration_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub permission_denials: Vec<Value>,
    pub errors: Vec<String>,
    pub terminal_reason: Option<String>,
    pub api_error_status: Option<i64>,
}

impl TurnResult {
    /// Settle this turn's cost. `previous_total` is the session's running total after the
    /// previous turn this process (or the resumed session) saw; it is used only when the CLI did
    /// not report the turn's own usage. Returns the running total to remember.
    pub fn charge(&mut self, previous_total: f64) -> f64 {
        if !self.cost_is_per_turn {
            self.cost_usd = (self.total_cost_usd - previous_total).max(0.0);
        }
        self.total_cost_usd.max(previous_total)
    }

    /// A short human label for an error result.
    pub fn error_label(&self) -> String {
        if let Some(status) = self.api_error_status {
            return format!("API error {status}");
        }
        match (self.subtype.as_str(), self.terminal_reason.as_deref()) {
            ("error_max_turns", _) => "maximum number of turns reached".into(),
            ("error_max_budget_usd", _) => "cost budget for this request reached".into(),
            (_, Some("aborted_streaming" | "aborted_tools")) => "stopped".into(),
            ("error_during_execution", _) => "error during execution".into(),
            (s, _) if s != "success" => s.replace('_', " "),
            _ => "error".into(),
        }
    }
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parse one stdout line into zero or more events. Malformed lines yield nothing.
pub fn parse_line(line: &str) -> Vec<ClaudeEvent> {
    let line = line.trim();
    if line.is_empty() {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let typ = v.get("type").and_then(Value::as_str).unwrap_or("");
    match typ {
        "system" => match v.get("subtype").and_then(Value::as_str) {
            Some("init") => match s(&v, "session_id") {
                Some(session_id) => vec![ClaudeEvent::Init {
                    session_id,
                    model: s(&v, "model"),
                }],
                None => vec![ClaudeEvent::Other],
            },
            Some("api_retry") => vec![ClaudeEvent::ApiRetry {
                attempt: v.get("attempt").and_then(Value::as_u64).unwrap_or(0),
                error_status: v.get("error_status").and_then(Value::as_u64),
            }],
            _ => vec![ClaudeEvent::Other],
        },
        "assistant" => {
            let blocks = v
                .pointer("/message/content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let out: Vec<_> = blocks
                .iter()
                .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                    Some("text") => Some(ClaudeEvent::Text {
                        text: s(b, "text").unwrap_or_default(),
                    }),
                    Some("tool_use") => Some(ClaudeEvent::ToolUse {
                        id: s(b, "id").unwrap_or_default(),
                        name: s(b, "name").unwrap_or_default(),
                        input: b.get("input").cloned().unwrap_or(Value::Null),
                    }),
                    _ => None,
                })
                .collect();
            if out.is_empty() {
                vec![ClaudeEvent::Other]
            } else {
                out
            }
        }
        "user" => {
            let blocks = v
                .pointer("/message/content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let out: Vec<_> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| ClaudeEvent::ToolResult {
                    tool_use_id: s(b, "tool_use_id").unwrap_or_default(),
                    is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                    content: content_text(b.get("content").unwrap_or(&Value::Null)),
                })
                .collect();
            if out.is_empty() {
                vec![ClaudeEvent::Other]
            } else {
                out
            }
        }
        "control_request" => {
            let req = v.get("request").cloned().unwrap_or(Value::Null);
            match (
                s(&v, "request_id"),
                req.get("subtype").and_then(Value::as_str),
            ) {
                (Some(request_id), Some("can_use_tool")) => {
                    vec![ClaudeEvent::PermissionRequest(PermissionRequest {
                        request_id,
                        tool_name: s(&req, "tool_name").unwrap_or_default(),
                        input: req.get("input").cloned().unwrap_or(Value::Null),
                        tool_use_id: s(&req, "tool_use_id"),
                        blocked_path: s(&req, "blocked_path"),
                        description: s(&req, "description"),
                    })]
                }
                (Some(request_id), Some("mcp_message")) => vec![ClaudeEvent::McpMessage {
                    request_id,
                    server_name: s(&req, "server_name").unwrap_or_default(),
                    message: req.get("message").cloned().unwrap_or(Value::Null),
                }],
                _ => vec![ClaudeEvent::Other],
            }
        }
        "control_cancel_request" => match s(&v, "request_id") {
            Some(request_id) => vec![ClaudeEvent::ControlCancel { request_id }],
            None => vec![ClaudeEvent::Other],
        },
        "control_response" => {
            let resp = v.get("response").cloned().unwrap_or(Value::Null);
            match s(&resp, "request_id") {
                Some(request_id) => vec![ClaudeEvent::ControlResponse {
                    request_id,
                    ok: resp.get("subtype").and_then(Value::as_str) == Some("success"),
                }],
                None => vec![ClaudeEvent::Other],
            }
        }
        "result" => vec![ClaudeEvent::Result(parse_result(&v))],
        _ => vec![ClaudeEvent::Other],
    }
}

fn parse_result(v: &Value) -> TurnResult {
    let i = |key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
    let since_last = v
        .get("model_usage_since_last_result")
        .and_then(Value::as_object)
        .map(|models| {
            models
                .values()
                .filter_map(|m| m.get("costUSD").and_then(Value::as_f64))
                .filter(|c| c.is_finite() && *c >= 0.0)
                // fold, not sum: an empty f64 sum is -0.0, shown as "$-0.0000".
                .fold(0.0, |a, c| a + c)
        });
    TurnResult {
        session_id: s(v, "session_id"),
        subtype: s(v, "subtype").unwrap_or_default(),
        // An absent is_error on a non-success subtype still counts as an error.
        is_error: v
            .get("is_error")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| s(v, "subtype").as_deref() != Some("success")),
        result: s(v, "result"),
        total_cost_usd: v
            .get("total_cost_usd")
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0)
            .unwrap_or(0.0),
        cost_usd: since_last.unwrap_or(0.0),
        cost_is_per_turn: since_last.is_some(),
        num_turns: i("num_turns"),
        duration_ms: i("duration_ms"),
        input_tokens: v
            .pointer("/usage/input_tokens")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        output_tokens: v
            .pointer("/usage/output_tokens")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        permission_denials: v
            .get("permission_denials")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        errors: v
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        e.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        terminal_reason: s(v, "terminal_reason"),
        api_error_status: v.get("api_error_status").and_then(Value::as_i64),
    }
}

/// A user message line for `--input-format stream-json`.
pub fn user_message_line(text: &str) -> String {
    json!({
        "type": "user",
        "message": {"role": "user", "content": text},
        "parent_tool_use_id": null,
        "session_id": "",
    })
    .to_string()
}

/// A user message line whose content is blocks: `images` (Messages API image blocks) first,
/// then the text, as the API recommends. With no images it is [`user_message_line`].
pub fn user_message_blocks_line(text: &str, images: &[Value]) -> String {
    if images.is_empty() {
        return user_message_line(text);
    }
    let mut content: Vec<Value> = images.to_vec();
    content.push(json!({"type": "text", "text": text}));
    json!({
        "type": "user",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": null,
        "session_id": "",
    })
    .to_string()
}

/// The host's answer to a `can_use_tool` request.
#[derive(Debug, Clone, PartialEq)]
pub enum PermissionAnswer {
    Allow { updated_input: Value },
    Deny { message: String, interrupt: bool },
}

pub fn permission_response_line(request_id: &str, answer: &PermissionAnswer) -> String {
    let response = match answer {
        PermissionAnswer::Allow { updated_input } => {
            json!({"behavior": "allow", "updatedInput": updated_input})
        }
        PermissionAnswer::Deny { message, interrupt } => {
            let mut r = json!({"behavior": "deny", "message": message});
            if *interrupt {
                r["interrupt"] = Value::Bool(true);
            }
            r
        }
    };
    json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": response},
    })
    .to_string()
}

/// The host's answer to an `mcp_message` request: `reply` is the server's JSON-RPC reply
/// (measured with CLI 2.1.330: `response.mcp_response`, also for notifications).
pub fn mcp_response_line(request_id: &str, reply: &Value) -> String {
    json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": {"mcp_response": reply}},
    })
    .to_string()
}

pub fn interrupt_line(request_id: &str) -> String {
    json!({"type": "control_request", "request_id": request_id, "request": {"subtype": "interrupt"}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> ClaudeEvent {
        let mut v = parse_line(line);
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    #[test]
    fn parses_init_text_tool_and_result() {
        let init = r#"{"type":"system","subtype":"init","cwd":"/x","session_id":"abc","model":"m","new_field":[1,2]}"#;
        assert_eq!(
            parse_line(init),
            vec![ClaudeEvent::Init {
                session_id: "abc".into(),
                model: Some("m".into())
            }]
        );
        let asst = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}"#;
        let ev = parse_line(asst);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0], ClaudeEvent::Text { text: "hi".into() });
        assert!(matches!(&ev[1], ClaudeEvent::ToolUse { name, .. } if name == "Bash"));
        let user = r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"t1","type":"tool_result","content":[{"type":"text","text":"out"}],"is_error":true}]}}"#;
        assert_eq!(
            parse_line(user),
            vec![ClaudeEvent::ToolResult {
                tool_use_id: "t1".into(),
                is_error: true,
                content: "out".into()
            }]
        );
    }

    #[test]
    fn api_error_with_success_subtype_is_an_error() {
        let line = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"terminal_reason":"api_error","total_cost_usd":0,"num_turns":1,"result":"Failed to authenticate"}"#;
        let ClaudeEvent::Result(r) = one(line) else {
            panic!()
        };
        assert!(r.is_error);
        assert_eq!(r.error_label(), "API error 401");
    }

    #[test]
    fn max_turns_result() {
        let line = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":2,"result":null,"errors":["Reached maximum number of turns (1)"],"total_cost_usd":0.02,"session_id":"s","permission_denials":[{"tool_name":"Write"}]}"#;
        let ClaudeEvent::Result(r) = one(line) else {
            panic!()
        };
        assert!(r.is_error);
        assert_eq!(r.result, None);
        assert_eq!(r.errors, vec!["Reached maximum number of turns (1)"]);
        assert_eq!(r.error_label(), "maximum number of turns reached");
        assert_eq!(r.permission_denials.len(), 1);
        assert!((r.total_cost_usd - 0.02).abs() < 1e-12);
    }

    #[test]
    fn control_messages() {
        let req = r#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Write","input":{"file_path":"/a"},"blocked_path":"/a","tool_use_id":"tu"}}"#;
        let ClaudeEvent::PermissionRequest(p) = one(req) else {
            panic!()
        };
        assert_eq!(p.request_id, "r1");
        assert_eq!(p.tool_name, "Write");
        assert_eq!(p.blocked_path.as_deref(), Some("/a"));
        assert_eq!(
            parse_line(r#"{"type":"control_cancel_request","request_id":"r1"}"#),
            vec![ClaudeEvent::ControlCancel {
                request_id: "r1".into()
            }]
        );
        assert_eq!(
            parse_line(
                r#"{"type":"control_response","response":{"subtype":"success","request_id":"i1","response":{}}}"#
            ),
            vec![ClaudeEvent::ControlResponse {
                request_id: "i1".into(),
                ok: true
            }]
        );
    }

    #[test]
    fn mcp_messages_and_their_answers() {
        // As CLI 2.1.330 sends it for an `"type":"sdk"` server named in --mcp-config.
        let line = r#"{"type":"control_request","request_id":"r7","request":{"subtype":"mcp_message","server_name":"ccgate","message":{"method":"tools/call","params":{"name":"send_file","arguments":{"path":"a.txt"}},"jsonrpc":"2.0","id":2}}}"#;
        let ClaudeEvent::McpMessage {
            request_id,
            server_name,
            message,
        } = one(line)
        else {
            panic!()
        };
        assert_eq!(
            (request_id.as_str(), server_name.as_str()),
            ("r7", "ccgate")
        );
        assert_eq!(message["params"]["arguments"]["path"], "a.txt");
        let v: Value = serde_json::from_str(&mcp_response_line(
            "r7",
            &json!({"jsonrpc": "2.0", "id": 2, "result": {}}),
        ))
        .unwrap();
        assert_eq!(v["type"], "control_response");
        assert_eq!(v["response"]["request_id"], "r7");
        assert_eq!(v["response"]["subtype"], "success");
        assert_eq!(v["response"]["response"]["mcp_response"]["id"], 2);
    }

    #[test]
    fn tolerant_of_garbage_and_unknown_types() {
        assert!(parse_line("not json").is_empty());
        assert!(parse_line("").is_empty());
        assert_eq!(
            parse_line(r#"{"type":"brand_new"}"#),
            vec![ClaudeEvent::Other]
        );
        assert_eq!(parse_line(r#"[1,2]"#), vec![ClaudeEvent::Other]);
        // A result missing everything still parses, as an error.
        let ClaudeEvent::Result(r) = one(r#"{"type":"result"}"#) else {
            panic!()
        };
        assert!(r.is_error);
    }

    #[test]
    fn a_turn_is_charged_its_own_cost_not_the_sessions_running_total() {
        // Measured with CLI 2.1.330: the running total carries over into a resumed process;
        // model_usage_since_last_result holds the turn's own cost.
        let line = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.032932,"num_turns":1,"result":"x","model_usage_since_last_result":{"claude-opus-5-5":{"costUSD":0.011116},"claude-haiku-5-5":{"costUSD":0.000884}}}"#;
        let mut r = match parse_line(line).pop() {
            Some(ClaudeEvent::Result(r)) => r,
            other => panic!("{other:?}"),
        };
        assert!((r.cost_usd - 0.012).abs() < 1e-9, "{}", r.cost_usd);
        assert_eq!(r.charge(0.021816), 0.032932);
        assert!(
            (r.cost_usd - 0.012).abs() < 1e-9,
            "the per-turn figure wins"
        );
        // Without the per-turn field: the delta from the previous running total.
        let line = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.05,"num_turns":1,"result":"x"}"#;
        let mut r = match parse_line(line).pop() {
            Some(ClaudeEvent::Result(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.charge(0.03), 0.05);
        assert!((r.cost_usd - 0.02).abs() < 1e-9);
        // A smaller total than seen before (another process of the session) never goes negative.
        assert_eq!(r.charge(0.08), 0.08);
        assert_eq!(r.cost_usd, 0.0);
    }

    #[test]
    fn outgoing_lines_roundtrip() {
        let v: Value = serde_json::from_str(&user_message_line("hé \"x\"\nnew")).unwrap();
        assert_eq!(v["message"]["content"], "hé \"x\"\nnew");
        let img = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}});
        let v: Value = serde_json::from_str(&user_message_blocks_line(
            "look",
            std::slice::from_ref(&img),
        ))
        .unwrap();
        assert_eq!(
            v["message"]["content"],
            json!([img, {"type": "text", "text": "look"}])
        );
        assert_eq!(user_message_blocks_line("x", &[]), user_message_line("x"));
        let v: Value = serde_json::from_str(&permission_response_line(
            "r",
            &PermissionAnswer::Deny {
                message: "no".into(),
                interrupt: false,
            },
        ))
        .unwrap();
        assert_eq!(v["response"]["response"]["behavior"], "deny");
        assert_eq!(v["response"]["request_id"], "r");
        assert!(v["response"]["response"].get("interrupt").is_none());
        let v: Value = serde_json::from_str(&interrupt_line("i9")).unwrap();
        assert_eq!(v["request"]["subtype"], "interrupt");
    }
}
