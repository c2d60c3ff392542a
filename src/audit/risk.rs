//! Risk levels (placeholder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}
impl Risk {
    pub fn as_str(&self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Risk> {
        match s {
            "low" => Some(Risk::Low),
            "medium" => Some(Risk::Medium),
            "high" => Some(Risk::High),
            "critical" => Some(Risk::Critical),
            _ => None,
        }
    }
}
pub fn assess(event: &str, _details: &serde_json::Value) -> Risk {
    match event {
        "command" | "login" | "logout" => Risk::Low,
        "lockout" => Risk::Critical,
        _ => Risk::Medium,
    }
}
pub fn assess_command(_command: &str) -> Risk {
    Risk::Medium
}
