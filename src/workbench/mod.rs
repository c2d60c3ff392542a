//! The chat's workbench: a read-only look at the project's git state (`/git`) and the
//! session's history as a file (`/export`).
//!
//! Why it exists apart from `chat`: both are more than a reply string. `/git` runs a program
//! on an untrusted repository — inside the OS boundary, with the repository's configuration
//! disarmed (`policy::git_config`), a timeout and an output cap — and has to keep secret files'
//! content out of what it prints; `/export` renders stored turns as Markdown, HTML or JSON
//! and sends them as a document. The chat actor only parses the command and hands over; the
//! decisions stay in `policy`, the formatting and running here.

pub mod export;
pub mod git;
