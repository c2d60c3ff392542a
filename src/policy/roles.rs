//! Roles (RBAC): what a user may do, as one small ordered type.
//!
//! Why it exists: "may this user edit files / approve others / change settings" must have one
//! answer, from one place, instead of ad-hoc user-id checks spread over handlers. Roles are
//! ordered: every admin is also a developer, every developer also a viewer.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// May ask questions; Claude is limited to read-only tools.
    Viewer,
    /// May have Claude edit files and run commands in the project.
    Developer,
    /// May also change settings and approve others' dangerous actions.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" | "read" | "readonly" | "read-only" => Some(Role::Viewer),
            "developer" | "dev" => Some(Role::Developer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// May Claude write files or run non-read-only commands on this user's behalf?
    pub fn can_write(&self) -> bool {
        *self >= Role::Developer
    }

    /// May this user change bot-wide settings and approve others' actions?
    pub fn is_admin(&self) -> bool {
        *self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert_eq!(Role::parse("root"), None);
        assert!(
            Role::Admin.can_write() && Role::Developer.can_write() && !Role::Viewer.can_write()
        );
        assert!(Role::Admin.is_admin() && !Role::Developer.is_admin());
    }
}
