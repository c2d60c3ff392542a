//! Asking humans: approvals of tool calls and step-up authentication.
//!
//! Why it exists: deciding *what* is dangerous belongs to `policy`; *getting a human's answer*
//! — inline buttons, a fresh TOTP code, timeouts — is a separate concern with its own state.
//! For now it holds the TOTP primitives the step-up flow is built on.

pub mod questions;
pub mod registry;
pub mod totp;
