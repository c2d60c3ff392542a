//! Redaction (placeholder).
use std::borrow::Cow;
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}
impl Redactor {
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        Redactor {
            secrets: secrets.into_iter().filter(|s| s.len() >= 8).collect(),
        }
    }
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), "[REDACTED]"));
            }
        }
        out
    }
}
