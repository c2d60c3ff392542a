//! ccgate's own MCP server (`ccgate`), hosted in-process: the tools ccgate offers Claude.
//!
//! Why it exists: Claude can only hand something to the chat through a tool. The CLI supports
//! SDK-hosted servers (`{"type":"sdk"}` in `--mcp-config`): it carries the server's JSON-RPC in
//! `mcp_message` control requests on the stream it already shares with ccgate, so there is no
//! extra process, socket or mount into the jail. This module is the JSON-RPC side only:
//! `initialize`, `tools/list`, `tools/call` (handed back to the caller, who runs it through the
//! policy), notifications ignored, anything else `-32601`. What a call may do is decided in
//! `policy::send_out`, not here.
//!
//! Measured with CLI 2.1.330: after the first user message the CLI sends `initialize`,
//! `notifications/initialized` and `tools/list`; the model sees `mcp__ccgate__send_file` (in
//! the prompt's tools, thanks to `_meta["anthropic/alwaysLoad"]`; otherwise it is deferred
//! behind ToolSearch); the CLI asks `can_use_tool` for it, then sends `tools/call`.

use serde_json::{json, Value};

/// The server's name; its tools are `mcp__ccgate__<tool>`.
pub const SERVER_NAME: &str = "ccgate";

/// The server's `--mcp-config` entry. In-process: the CLI carries its JSON-RPC over the
/// control protocol on stdin/stdout, so no extra process runs and nothing is mounted into the
/// jail.
pub fn config_entry() -> Value {
    json!({"type": "sdk", "name": SERVER_NAME})
}

/// The MCP protocol version answered when the client names none.
const DEFAULT_PROTOCOL: &str = "2025-06-18";

/// What to do with one `mcp_message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Answer at once with this JSON-RPC reply.
    Reply(Value),
    /// A `send_file` call: the caller runs it and answers with [`tool_result`].
    SendFile {
        id: Value,
        path: String,
        caption: Option<String>,
    },
}

/// The JSON-RPC side of one message from the CLI to the server `server`.
pub fn handle(server: &str, msg: &Value) -> Handled {
    let id = msg.get("id").cloned();
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(id) = id.filter(|i| !i.is_null()) else {
        // A notification (`notifications/initialized`, `notifications/cancelled`): nothing to
        // do; the CLI still waits for a control response.
        return Handled::Reply(json!({"jsonrpc": "2.0", "result": {}}));
    };
    if server != SERVER_NAME {
        return Handled::Reply(error(id, -32601, &format!("no MCP server {server:?} here")));
    }
    match method {
        "initialize" => {
            let version = msg
                .pointer("/params/protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_PROTOCOL);
            Handled::Reply(ok(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION")},
                }),
            ))
        }
        "ping" => Handled::Reply(ok(id, json!({}))),
        "tools/list" => Handled::Reply(ok(id, json!({"tools": [send_file_tool()]}))),
        "tools/call" => {
            let name = msg.pointer("/params/name").and_then(Value::as_str);
            let args = msg
                .pointer("/params/arguments")
                .cloned()
                .unwrap_or(Value::Null);
            if name != Some("send_file") {
                return Handled::Reply(error(
                    id,
                    -32602,
                    &format!("unknown tool {:?}", name.unwrap_or("")),
                ));
            }
            let Some(path) = args.get("path").and_then(Value::as_str) else {
                return Handled::Reply(tool_result(id, "refused: `path` must be a string", true));
            };
            let caption = match args.get("caption") {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) => Some(c.clone()),
                Some(_) => {
                    return Handled::Reply(tool_result(
                        id,
                        "refused: `caption` must be a string",
                        true,
                    ))
                }
            };
            Handled::SendFile {
                id,
                path: path.to_string(),
                caption,
            }
        }
        other => Handled::Reply(error(id, -32601, &format!("method not found: {other}"))),
    }
}

/// The `tools/call` reply: one text block, `isError` when it did not happen.
pub fn tool_result(id: Value, text: &str, is_error: bool) -> Value {
    ok(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    )
}

fn send_file_tool() -> Value {
    json!({
        "name": "send_file",
        "description": "Send a file from the project to the user's Telegram chat: images (PNG, JPEG, WebP) as photos, anything else as a document. Use it when the user asks for a file, or to show a result (a chart, a report, a build artifact). The path is relative to the working directory or absolute inside the project; secret files (.env, keys…) and files outside the project are refused.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the file to send"},
                "caption": {"type": "string", "description": "optional text shown under the file (at most 1024 characters)"},
            },
            "required": ["path"],
            "additionalProperties": false,
        },
        // Always in the prompt's tool list, not deferred behind ToolSearch.
        "_meta": {"anthropic/alwaysLoad": true},
    })
}

fn ok(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(msg: Value) -> Value {
        match handle(SERVER_NAME, &msg) {
            Handled::Reply(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handshake_list_and_unknown_methods() {
        let r = reply(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}),
        );
        assert_eq!(r["id"], 0);
        assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
        assert_eq!(r["result"]["serverInfo"]["name"], "ccgate");
        assert!(r["result"]["capabilities"]["tools"].is_object());
        let r = reply(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert!(r.get("id").is_none() && r.get("error").is_none(), "{r}");
        let r = reply(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        let tools = r["result"]["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0]["name"], "send_file");
        assert_eq!(tools[0]["inputSchema"]["required"], json!(["path"]));
        let r = reply(json!({"jsonrpc":"2.0","id":"x","method":"resources/list"}));
        assert_eq!(r["error"]["code"], -32601);
        assert_eq!(r["id"], "x");
        match handle(
            "other",
            &json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}),
        ) {
            Handled::Reply(r) => assert_eq!(r["error"]["code"], -32601),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tool_calls_are_handed_back_with_checked_arguments() {
        let call = |args: Value| {
            handle(
                SERVER_NAME,
                &json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"send_file","arguments":args}}),
            )
        };
        assert_eq!(
            call(json!({"path": "a.txt", "caption": "hi"})),
            Handled::SendFile {
                id: json!(2),
                path: "a.txt".into(),
                caption: Some("hi".into())
            }
        );
        assert!(matches!(
            call(json!({"path": "a"})),
            Handled::SendFile { caption: None, .. }
        ));
        for bad in [
            json!({}),
            json!({"path": 3}),
            json!({"path": "a", "caption": 1}),
        ] {
            let Handled::Reply(r) = call(bad.clone()) else {
                panic!("{bad}")
            };
            assert_eq!(r["result"]["isError"], true, "{bad}");
        }
        let Handled::Reply(r) = handle(
            SERVER_NAME,
            &json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"rm","arguments":{}}}),
        ) else {
            panic!()
        };
        assert_eq!(r["error"]["code"], -32602);
        let r = tool_result(json!(9), "sent", false);
        assert_eq!(r["result"]["content"][0]["text"], "sent");
        assert_eq!(r["result"]["isError"], false);
    }
}
