//! The projects registry (`PROJECTS_PATH`): which projects exist, under which names, where.
//!
//! Why it exists: project topics bind a forum topic to a project folder, so the folder list
//! must be explicit, stable (the slug survives renames) and checked before any topic is
//! created: every path goes through `policy::workdir::project_dir` (relative, inside the
//! approved directory after symlinks, existing, not a secret folder). A bad file stops ccgate
//! at start with the file, the project and the rule named; `/sync_topics` reports it instead.
//!
//! ```toml
//! [[project]]
//! slug = "webapp"          # [a-z0-9-]{1,32}, unique; the topic's identity
//! name = "Web app"         # the topic's title (1–128 characters)
//! path = "webapp"          # relative to APPROVED_DIRECTORY
//! enabled = true           # false closes the topic (default true)
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::policy::secret_files::SecretFiles;
use crate::policy::workdir;

/// Telegram's limit on a forum topic's name.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest slug (it travels in callback data, 64 bytes at most).
pub const MAX_SLUG_LEN: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    project: Vec<RawProject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    slug: String,
    name: String,
    path: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// One validated project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub slug: String,
    pub name: String,
    /// As written in the file (relative).
    pub path: String,
    /// Canonical, inside the approved directory.
    pub dir: PathBuf,
    pub enabled: bool,
}

/// The registry, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub projects: Vec<Project>,
}

impl Registry {
    /// Read and validate `file`; errors name the file, the project and the rule broken.
    pub fn load(file: &Path, root: &Path, secrets: &SecretFiles) -> Result<Registry, String> {
        let shown = file.display();
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("{shown}: cannot read: {e}"))?;
        Registry::parse(&text, root, secrets).map_err(|e| format!("{shown}: {e}"))
    }

    /// Validate the registry `text` (see [`Registry::load`]).
    pub fn parse(text: &str, root: &Path, secrets: &SecretFiles) -> Result<Registry, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
        let mut seen = HashSet::new();
        let mut projects = Vec::new();
        for (i, p) in file.project.into_iter().enumerate() {
            let which = if p.slug.is_empty() {
                format!("project #{}", i + 1)
            } else {
                format!("project {:?}", p.slug)
            };
            if !valid_slug(&p.slug) {
                return Err(format!(
                    "{which}: slug must be 1–{MAX_SLUG_LEN} of a-z, 0-9 and -"
                ));
            }
            if !seen.insert(p.slug.clone()) {
                return Err(format!("{which}: slug is used twice"));
            }
            let name = p.name.trim().to_string();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(format!(
                    "{which}: name must be 1–{MAX_NAME_CHARS} characters (Telegram's topic name limit)"
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(format!("{which}: name must not contain control characters"));
            }
            let dir = workdir::project_dir(root, secrets, &p.path)
                .map_err(|e| format!("{which}: {e}"))?;
            projects.push(Project {
                slug: p.slug,
                name,
                path: p.path,
                dir,
                enabled: p.enabled,
            });
        }
        Ok(Registry { projects })
    }

    pub fn get(&self, slug: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.slug == slug)
    }
}

/// `[a-z0-9-]{1,32}`.
pub fn valid_slug(s: &str) -> bool {
    (1..=MAX_SLUG_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        for d in ["web", "infra/tf", "web/.ssh"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        (t, root)
    }

    fn parse(text: &str, root: &Path) -> Result<Registry, String> {
        Registry::parse(text, root, &SecretFiles::defaults().unwrap())
    }

    #[test]
    fn a_valid_registry_resolves_its_folders() {
        let (_t, root) = tree();
        let r = parse(
            "[[project]]\nslug = \"web\"\nname = \"Web app\"\npath = \"web\"\n\
             [[project]]\nslug = \"tf-2\"\nname = \" Infra \"\npath = \"infra/tf\"\nenabled = false\n",
            &root,
        )
        .unwrap();
        assert_eq!(r.projects.len(), 2);
        assert_eq!(r.projects[0].dir, root.join("web"));
        assert!(r.projects[0].enabled);
        assert_eq!(r.get("tf-2").unwrap().name, "Infra");
        assert!(!r.get("tf-2").unwrap().enabled);
        assert_eq!(parse("", &root).unwrap(), Registry::default());
    }

    #[test]
    fn every_rule_is_named_in_the_error() {
        let (_t, root) = tree();
        let one = |slug: &str, name: &str, path: &str| {
            format!("[[project]]\nslug = {slug:?}\nname = {name:?}\npath = {path:?}\n")
        };
        let long = "x".repeat(129);
        for (text, want) in [
            (one("Web", "W", "web"), "project \"Web\": slug must be"),
            (one("", "W", "web"), "project #1: slug must be"),
            (one(&"a".repeat(33), "W", "web"), "slug must be"),
            (one("a/b", "W", "web"), "slug must be"),
            (one("web", "", "web"), "project \"web\": name must be"),
            (one("web", &long, "web"), "name must be"),
            (one("web", "W", "/etc"), "relative to APPROVED_DIRECTORY"),
            (one("web", "W", "../x"), "leaves APPROVED_DIRECTORY"),
            (one("web", "W", "web/.ssh"), "secret folder"),
            (one("web", "W", "missing"), "does not exist"),
            (
                format!("{}{}", one("web", "A", "web"), one("web", "B", "infra")),
                "project \"web\": slug is used twice",
            ),
            ("[[project]]\nslug = \"x\"\n".to_string(), "not valid TOML"),
            (
                format!("{}colour = \"red\"\n", one("web", "W", "web")),
                "not valid TOML",
            ),
        ] {
            let e = parse(&text, &root).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = Registry::load(
            Path::new("/nonexistent/p.toml"),
            &root,
            &SecretFiles::defaults().unwrap(),
        )
        .unwrap_err();
        assert!(e.starts_with("/nonexistent/p.toml: cannot read"), "{e}");
    }

    #[test]
    fn slugs() {
        assert!(valid_slug("a"));
        assert!(valid_slug("web-app-2"));
        assert!(!valid_slug(""));
        assert!(!valid_slug("Web"));
        assert!(!valid_slug("a_b"));
        assert!(!valid_slug("ä"));
        assert!(valid_slug(&"a".repeat(32)));
        assert!(!valid_slug(&"a".repeat(33)));
    }
}
