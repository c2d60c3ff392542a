//! The tools Claude may call, parsed once from the tool name.
//!
//! Why it exists: which tools write files, which name paths (and under which input keys), which
//! are harmless bookkeeping and which only read are facts about the tool, needed by the engine
//! (decide), by grants and by the audit (risk levels). Kept as one enum here, they cannot drift
//! apart into lists in each module; a name this table does not know is [`Tool::Other`] (or
//! [`Tool::Mcp`] for a tool of an MCP server), which the engine decides from the operator's
//! `[tools]` rules.

use std::borrow::Cow;

/// One tool, by the name the `claude` CLI uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    Bash,
    /// Reads the output of a background shell.
    BashOutput,
    Read,
    Write,
    Edit,
    MultiEdit,
    NotebookRead,
    NotebookEdit,
    Glob,
    Grep,
    /// Lists a folder (older CLIs).
    LS,
    TodoRead,
    TodoWrite,
    Task,
    Agent,
    ToolSearch,
    ExitPlanMode,
    EnterPlanMode,
    AskUserQuestion,
    WebFetch,
    WebSearch,
    /// `mcp__<server>__<tool>`.
    Mcp {
        server: String,
        tool: String,
    },
    /// Any other name, as given.
    Other(String),
}

/// Names of the tools that change files ([`Tool::writes_files`]), e.g. to disallow them for a
/// read-only role when the CLI starts.
pub const WRITE_TOOLS: &[&str] = &["Write", "Edit", "MultiEdit", "NotebookEdit"];

impl Tool {
    /// The tool called `name` (exact, case-sensitive: the CLI's names).
    pub fn parse(name: &str) -> Tool {
        match name {
            "Bash" => Tool::Bash,
            "BashOutput" => Tool::BashOutput,
            "Read" => Tool::Read,
            "Write" => Tool::Write,
            "Edit" => Tool::Edit,
            "MultiEdit" => Tool::MultiEdit,
            "NotebookRead" => Tool::NotebookRead,
            "NotebookEdit" => Tool::NotebookEdit,
            "Glob" => Tool::Glob,
            "Grep" => Tool::Grep,
            "LS" => Tool::LS,
            "TodoRead" => Tool::TodoRead,
            "TodoWrite" => Tool::TodoWrite,
            "Task" => Tool::Task,
            "Agent" => Tool::Agent,
            "ToolSearch" => Tool::ToolSearch,
            "ExitPlanMode" => Tool::ExitPlanMode,
            "EnterPlanMode" => Tool::EnterPlanMode,
            "AskUserQuestion" => Tool::AskUserQuestion,
            "WebFetch" => Tool::WebFetch,
            "WebSearch" => Tool::WebSearch,
            other => match other
                .strip_prefix("mcp__")
                .and_then(|rest| rest.split_once("__"))
            {
                Some((server, tool)) if !server.is_empty() && !tool.is_empty() => Tool::Mcp {
                    server: server.to_string(),
                    tool: tool.to_string(),
                },
                _ => Tool::Other(other.to_string()),
            },
        }
    }

    /// The tool's name, as [`Tool::parse`] reads it.
    pub fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            Tool::Bash => "Bash",
            Tool::BashOutput => "BashOutput",
            Tool::Read => "Read",
            Tool::Write => "Write",
            Tool::Edit => "Edit",
            Tool::MultiEdit => "MultiEdit",
            Tool::NotebookRead => "NotebookRead",
            Tool::NotebookEdit => "NotebookEdit",
            Tool::Glob => "Glob",
            Tool::Grep => "Grep",
            Tool::LS => "LS",
            Tool::TodoRead => "TodoRead",
            Tool::TodoWrite => "TodoWrite",
            Tool::Task => "Task",
            Tool::Agent => "Agent",
            Tool::ToolSearch => "ToolSearch",
            Tool::ExitPlanMode => "ExitPlanMode",
            Tool::EnterPlanMode => "EnterPlanMode",
            Tool::AskUserQuestion => "AskUserQuestion",
            Tool::WebFetch => "WebFetch",
            Tool::WebSearch => "WebSearch",
            Tool::Mcp { server, tool } => return Cow::Owned(format!("mcp__{server}__{tool}")),
            Tool::Other(name) => name,
        })
    }

    /// Changes files (named by [`Tool::path_keys`]). Viewers never get these tools.
    pub fn writes_files(&self) -> bool {
        matches!(
            self,
            Tool::Write | Tool::Edit | Tool::MultiEdit | Tool::NotebookEdit
        )
    }

    /// For a tool whose input names files: the input keys that hold the paths.
    pub fn path_keys(&self) -> Option<&'static [&'static str]> {
        match self {
            Tool::Read | Tool::Write | Tool::Edit | Tool::MultiEdit => Some(&["file_path"]),
            Tool::NotebookRead | Tool::NotebookEdit => Some(&["notebook_path"]),
            Tool::Glob | Tool::Grep | Tool::LS => Some(&["path"]),
            _ => None,
        }
    }

    /// No side effects outside the conversation itself: the engine allows it as is.
    pub fn is_harmless(&self) -> bool {
        matches!(
            self,
            Tool::TodoWrite
                | Tool::TodoRead
                | Tool::Task
                | Tool::Agent
                | Tool::ToolSearch
                | Tool::ExitPlanMode
                | Tool::EnterPlanMode
        )
    }

    /// Only reads (files, a shell's output) or only touches Claude's own bookkeeping: an
    /// allowed call of it is routine in the audit log. Subagents (`Task`, `Agent`) are not:
    /// they make tool calls of their own.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Tool::Read
                | Tool::Glob
                | Tool::Grep
                | Tool::LS
                | Tool::NotebookRead
                | Tool::TodoRead
                | Tool::TodoWrite
                | Tool::BashOutput
                | Tool::ExitPlanMode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_stay_as_given() {
        for name in [
            "Bash",
            "BashOutput",
            "Read",
            "Write",
            "Edit",
            "MultiEdit",
            "NotebookRead",
            "NotebookEdit",
            "Glob",
            "Grep",
            "LS",
            "TodoRead",
            "TodoWrite",
            "Task",
            "Agent",
            "ToolSearch",
            "ExitPlanMode",
            "EnterPlanMode",
            "AskUserQuestion",
            "WebFetch",
            "WebSearch",
            "mcp__github__create_issue",
            "mcp__a__b__c",
            "Frobnicate",
            "mcp__",
            "mcp__x",
            "mcp____y",
            "",
        ] {
            assert_eq!(Tool::parse(name).name(), name);
        }
        assert_eq!(
            Tool::parse("mcp__github__create_issue"),
            Tool::Mcp {
                server: "github".into(),
                tool: "create_issue".into()
            }
        );
        assert_eq!(Tool::parse("mcp__x"), Tool::Other("mcp__x".into()));
        // Names are the CLI's, exactly: no case folding.
        assert_eq!(Tool::parse("bash"), Tool::Other("bash".into()));
    }

    #[test]
    fn write_tools_are_the_tools_that_write() {
        for name in WRITE_TOOLS {
            let t = Tool::parse(name);
            assert!(t.writes_files(), "{name}");
            assert!(t.path_keys().is_some(), "{name}");
            assert!(!t.only_reads() && !t.is_harmless(), "{name}");
        }
        for name in ["Read", "Glob", "Grep", "LS", "NotebookRead", "Bash", "Task"] {
            assert!(!Tool::parse(name).writes_files(), "{name}");
        }
        assert_eq!(Tool::Read.path_keys(), Some(&["file_path"][..]));
        assert_eq!(Tool::NotebookEdit.path_keys(), Some(&["notebook_path"][..]));
        assert_eq!(Tool::Bash.path_keys(), None);
        assert!(!Tool::Bash.only_reads() && !Tool::Bash.is_harmless());
        assert!(Tool::Task.is_harmless() && !Tool::Task.only_reads());
        assert!(Tool::BashOutput.only_reads() && !Tool::BashOutput.is_harmless());
    }
}
