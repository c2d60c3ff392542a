//! The secret-file denylist: files that are never read, written, listed or sent from chat.
//!
//! Why it exists: containment keeps Claude inside the approved directory, but secrets live
//! inside projects too (`.env`, `deploy.pem`, a copied `.aws/`). Operators may add patterns of
//! their own, yet a typo or a "temporary" `!**/.env` in the config must never switch off the
//! built-in protection, so defaults are structurally impossible to exempt.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Built-in secret patterns, always active. Matched case-insensitively against the whole
/// (absolute) path and against each of its ancestors.
pub const DEFAULT_SECRET_GLOBS: &[&str] = &[
    // Environment files: dotenv and direnv (`.envrc` exports credentials the same way).
    "**/.env",
    "**/.env.*",
    "**/.envrc",
    "**/.envrc.*",
    // Keys and key stores.
    "**/.ssh",
    "**/.ssh/**",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/ssh_host_*_key",
    "**/*.pem",
    "**/*.key",
    "**/*.p8",
    "**/*.p12",
    "**/*.pfx",
    "**/*.ppk",
    "**/*.jks",
    "**/*.keystore",
    "**/*.kdbx",
    "**/.gnupg",
    "**/.gnupg/**",
    "**/.password-store",
    "**/.password-store/**",
    // Cloud and platform CLIs: their whole configuration folder, or the file that holds tokens.
    "**/.aws",
    "**/.aws/**",
    "**/.azure",
    "**/.azure/**",
    "**/.config/gcloud",
    "**/.config/gcloud/**",
    "**/application_default_credentials.json",
    "**/.oci",
    "**/.oci/**",
    "**/.boto",
    "**/.s3cfg",
    "**/rclone.conf",
    "**/.databrickscfg",
    "**/.snowsql/config",
    "**/.config/doctl",
    "**/.config/doctl/**",
    "**/.config/hub",
    "**/.config/gh/hosts.yml",
    "**/.config/glab-cli/config.yml",
    "**/.fly/config.yml",
    "**/.vercel/auth.json",
    "**/com.vercel.cli/auth.json",
    "**/.netlify/config.json",
    "**/.config/netlify/config.json",
    "**/.wrangler/config",
    "**/.wrangler/config/**",
    "**/ngrok.yml",
    "**/.sentryclirc",
    "**/.terraform.d/credentials.tfrc.json",
    "**/*.tfstate",
    "**/*.tfstate.*",
    "**/*.tfvars",
    "**/*.tfvars.json",
    "**/.vault-token",
    // Containers and clusters.
    "**/.docker/config.json",
    "**/.dockercfg",
    "**/containers/auth.json",
    "**/.kube/config",
    "**/.kube/config.*",
    "**/kubeconfig",
    "**/*.kubeconfig",
    "**/helm/repositories.yaml",
    "**/helm/registry/config.json",
    // netrc and database client credentials.
    "**/.netrc",
    "**/_netrc",
    "**/.pgpass",
    "**/.my.cnf",
    "**/.mylogin.cnf",
    "**/.htpasswd",
    "**/.msmtprc",
    "**/.fetchmailrc",
    // VCS and package-manager credential stores (the user-level files that exist to hold tokens).
    "**/.git-credentials",
    "**/.config/git/credentials",
    "**/.pypirc",
    "**/.gem/credentials",
    "**/.cargo/credentials",
    "**/.cargo/credentials.toml",
    "**/.composer/auth.json",
    "**/.config/composer/auth.json",
    "**/.config/pypoetry/auth.toml",
    "**/.m2/settings.xml",
    "**/.m2/settings-security.xml",
    "**/.gradle/gradle.properties",
    "**/.nuget/nuget/nuget.config",
    "**/.config/nuget/nuget.config",
    // Service accounts, OAuth clients and application secret stores.
    "**/credentials.json",
    "**/*service-account*.json",
    "**/*service_account*.json",
    "**/client_secret*.json",
    "**/.secrets",
    "**/.secrets/**",
    "**/secrets.yml",
    "**/secrets.yaml",
    "**/secrets.json",
    "**/secrets.toml",
];

/// Configuration files that are ordinary — read for everyday work — unless they hold a
/// credential inline: a remote URL with a token (`https://ghp_…@github.com/…` in `.git/config`),
/// an `_authToken=` line in `.npmrc`, a `<password>` in a Maven `settings.xml`. Such a file is
/// secret while its content holds one (see [`holds_credential`]); otherwise it stays readable.
///
/// Why not simply secret by name: `.git/config` (remotes, branches) and a project's `.npmrc`
/// or `gradle.properties` are read in ordinary work, and an unreadable `.git/config` stops
/// every git command (`fatal: unable to access '.git/config'`). Detecting the credential keeps
/// ordinary repositories working and still hides the token where there is one.
pub const DEFAULT_CREDENTIAL_CARRIERS: &[&str] = &[
    "**/.git/config",
    "**/.git/modules/**/config",
    "**/.gitmodules",
    "**/.npmrc",
    "**/.yarnrc",
    "**/.yarnrc.yml",
    "**/.condarc",
    "**/pip.conf",
    "**/pip.ini",
    "**/gradle.properties",
    "**/settings.xml",
    "**/nuget.config",
    "**/.bundle/config",
    "**/auth.json",
    "**/.terraformrc",
    "**/terraform.rc",
];

/// Globs that are NOT secrets despite matching a default: example env files and public keys.
///
/// `*.pub` only exempts names that do not start with a dot, so `.env.pub` stays secret while
/// `id_rsa.pub` does not. These exemptions never lift a secret *ancestor*: everything under
/// `.ssh/` (including `.ssh/id_rsa.pub`) stays secret.
pub const DEFAULT_NOT_SECRET_GLOBS: &[&str] = &[
    "**/.env.example",
    "**/.env.sample",
    "**/.env.template",
    "**/.envrc.example",
    "**/.envrc.sample",
    "**/.envrc.template",
    "**/*.tfvars.example",
    "**/[!.]*.pub",
];

/// Canonical paths that the defaults make secret. An operator's `!glob` that matches any of
/// these is refused with [`SecretGlobError::RemovesDefault`]; a test checks that every default
/// glob matches at least one of them.
const DEFAULT_SECRET_SAMPLES: &[&str] = &[
    "/home/user/project/.env",
    "/p/.env",
    "/p/.env.local",
    "/p/.env.production",
    "/p/.envrc",
    "/p/.envrc.local",
    "/home/user/.ssh",
    "/p/.ssh",
    "/home/user/.ssh/id_rsa",
    "/home/user/.ssh/config",
    "/home/user/.ssh/authorized_keys",
    "/p/.ssh/id_rsa",
    "/p/id_rsa",
    "/p/id_dsa",
    "/p/id_ecdsa",
    "/p/id_ed25519",
    "/p/id_ed25519_sk",
    "/etc/ssh/ssh_host_ed25519_key",
    "/p/key.pem",
    "/p/certs/server.pem",
    "/p/server.key",
    "/p/config/master.key",
    "/p/config/credentials/production.key",
    "/p/AuthKey_ABC123.p8",
    "/p/cert.p12",
    "/p/cert.pfx",
    "/p/putty.ppk",
    "/p/release.jks",
    "/p/release.keystore",
    "/p/passwords.kdbx",
    "/home/user/.gnupg",
    "/home/user/.gnupg/private-keys-v1.d/x.key",
    "/home/user/.gnupg/secring.gpg",
    "/home/user/.password-store",
    "/home/user/.password-store/mail.gpg",
    "/home/user/.aws",
    "/home/user/.aws/credentials",
    "/p/.aws/config",
    "/home/user/.azure",
    "/home/user/.azure/accessTokens.json",
    "/home/user/.config/gcloud",
    "/home/user/.config/gcloud/credentials.db",
    "/p/application_default_credentials.json",
    "/home/user/.oci",
    "/home/user/.oci/config",
    "/home/user/.boto",
    "/home/user/.s3cfg",
    "/home/user/.config/rclone/rclone.conf",
    "/home/user/.databrickscfg",
    "/home/user/.snowsql/config",
    "/home/user/.config/doctl",
    "/home/user/.config/doctl/config.yaml",
    "/home/user/.config/hub",
    "/home/user/.config/gh/hosts.yml",
    "/home/user/.config/glab-cli/config.yml",
    "/home/user/.fly/config.yml",
    "/home/user/.vercel/auth.json",
    "/home/user/.local/share/com.vercel.cli/auth.json",
    "/home/user/.netlify/config.json",
    "/home/user/.config/netlify/config.json",
    "/home/user/.wrangler/config",
    "/home/user/.wrangler/config/default.toml",
    "/home/user/.config/ngrok/ngrok.yml",
    "/p/.sentryclirc",
    "/home/user/.terraform.d/credentials.tfrc.json",
    "/p/terraform.tfstate",
    "/p/terraform.tfstate.backup",
    "/p/prod.tfvars",
    "/p/terraform.tfvars.json",
    "/home/user/.vault-token",
    "/home/user/.docker/config.json",
    "/home/user/.dockercfg",
    "/home/user/.config/containers/auth.json",
    "/run/user/1000/containers/auth.json",
    "/home/user/.kube/config",
    "/home/user/.kube/config.prod",
    "/p/kubeconfig",
    "/p/prod.kubeconfig",
    "/home/user/.config/helm/repositories.yaml",
    "/home/user/.config/helm/registry/config.json",
    "/home/user/.netrc",
    "/p/_netrc",
    "/home/user/.pgpass",
    "/home/user/.my.cnf",
    "/home/user/.mylogin.cnf",
    "/p/.htpasswd",
    "/home/user/.msmtprc",
    "/home/user/.fetchmailrc",
    "/home/user/.git-credentials",
    "/home/user/.config/git/credentials",
    "/home/user/.pypirc",
    "/home/user/.gem/credentials",
    "/home/user/.cargo/credentials",
    "/home/user/.cargo/credentials.toml",
    "/home/user/.composer/auth.json",
    "/home/user/.config/composer/auth.json",
    "/home/user/.config/pypoetry/auth.toml",
    "/home/user/.m2/settings.xml",
    "/home/user/.m2/settings-security.xml",
    "/home/user/.gradle/gradle.properties",
    "/home/user/.nuget/NuGet/NuGet.Config",
    "/home/user/.config/NuGet/NuGet.Config",
    "/p/credentials.json",
    "/p/gcp-service-account.json",
    "/p/my_service_account_key.json",
    "/p/client_secret_123.apps.googleusercontent.com.json",
    "/p/.secrets",
    "/p/.secrets/db",
    "/p/config/secrets.yml",
    "/p/config/secrets.yaml",
    "/p/secrets.json",
    "/p/.streamlit/secrets.toml",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretGlobError {
    #[error("invalid glob {0:?}: {1}")]
    Invalid(String, String),
    #[error("{0:?} would remove a built-in secret pattern; built-ins cannot be disabled")]
    RemovesDefault(String),
}

/// The compiled secret-file policy. Build with [`SecretFiles::new`].
#[derive(Debug, Clone)]
pub struct SecretFiles {
    defaults: GlobSet,
    default_exempt: GlobSet,
    extra: GlobSet,
    /// Operator `!` exemptions; they only ever cancel matches of `extra`.
    extra_exempt: GlobSet,
    /// Exact secret paths, lowercased (see [`SecretFiles::with_exact_paths`]).
    exact: BTreeSet<String>,
    /// [`DEFAULT_CREDENTIAL_CARRIERS`]: secret while their content holds a credential.
    carriers: GlobSet,
    /// Identifies these rules (operator globs and exact paths), for caches of their results.
    id: u64,
}

/// Compile one glob with the module's semantics: case-insensitive, `*` does not cross `/`.
fn compile(glob: &str, shown_as: &str) -> Result<globset::Glob, SecretGlobError> {
    GlobBuilder::new(glob)
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map_err(|e| SecretGlobError::Invalid(shown_as.to_string(), e.to_string()))
}

fn build_set(globs: &[(String, String)]) -> Result<GlobSet, SecretGlobError> {
    let mut b = GlobSetBuilder::new();
    for (glob, shown_as) in globs {
        b.add(compile(glob, shown_as)?);
    }
    b.build()
        .map_err(|e| SecretGlobError::Invalid(String::new(), e.to_string()))
}

fn builtin(globs: &[&str]) -> Vec<(String, String)> {
    globs
        .iter()
        .map(|g| (g.to_string(), g.to_string()))
        .collect()
}

/// Make an operator glob match anywhere, like a `.gitignore` line: a relative glob
/// (`*.secret`, `vault/`) gets a `**/` prefix; a trailing `/` is dropped (the directory and
/// hence, by the ancestor rule, everything under it is secret).
fn anchor(glob: &str) -> String {
    let g = glob.trim();
    let g = if g.len() > 1 {
        g.trim_end_matches('/')
    } else {
        g
    };
    if g.starts_with('/') || g.starts_with("**/") || g == "**" {
        g.to_string()
    } else {
        format!("**/{g}")
    }
}

/// The path with `.` components and repeated or trailing separators removed, so that
/// `/p/.env/` and `/p//./.env` are checked as `/p/.env`.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn rules_id(extra: &[String], exact: &BTreeSet<String>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    extra.hash(&mut h);
    exact.hash(&mut h);
    h.finish()
}

fn exact_key(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

impl SecretFiles {
    /// Defaults plus `extra` globs (from config, e.g.
    /// `SECRET_FILE_PATTERNS="**/*.secret,**/vault/**"`). Entries are trimmed; empty entries
    /// are ignored; relative globs match anywhere (`*.secret` means `**/*.secret`).
    ///
    /// An entry starting with `!` is an exemption. It is refused with
    /// [`SecretGlobError::RemovesDefault`] if it matches any canonical sample path of a
    /// default (`/p/.env`, `/home/user/.ssh/id_rsa`, `/p/key.pem`, ...). Independently of that
    /// check, exemptions are only ever applied to matches of the operator's own extra globs,
    /// so no exemption can lift a default, even one the samples do not anticipate.
    pub fn new(extra: &[String]) -> Result<SecretFiles, SecretGlobError> {
        let defaults = build_set(&builtin(DEFAULT_SECRET_GLOBS))?;
        let default_exempt = build_set(&builtin(DEFAULT_NOT_SECRET_GLOBS))?;
        let mut add = Vec::new();
        let mut exempt = Vec::new();
        for entry in extra {
            let trimmed = entry.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(neg) = trimmed.strip_prefix('!') {
                if neg.trim().is_empty() {
                    return Err(SecretGlobError::Invalid(
                        entry.clone(),
                        "an exemption needs a pattern after !".into(),
                    ));
                }
                let glob = anchor(neg);
                let matcher = compile(&glob, entry)?.compile_matcher();
                if DEFAULT_SECRET_SAMPLES.iter().any(|s| matcher.is_match(s)) {
                    return Err(SecretGlobError::RemovesDefault(entry.clone()));
                }
                exempt.push((glob, entry.clone()));
            } else {
                add.push((anchor(trimmed), entry.clone()));
            }
        }
        Ok(SecretFiles {
            defaults,
            default_exempt,
            extra: build_set(&add)?,
            extra_exempt: build_set(&exempt)?,
            exact: BTreeSet::new(),
            carriers: build_set(&builtin(DEFAULT_CREDENTIAL_CARRIERS))?,
            id: rules_id(extra, &BTreeSet::new()),
        })
    }

    /// Only the built-in patterns.
    pub fn defaults() -> Result<SecretFiles, SecretGlobError> {
        Self::new(&[])
    }

    /// Is this (absolute, already resolved) path a secret? Also true when any ancestor
    /// directory is secret (anything under `.ssh/`). All glob matching is case-insensitive
    /// (`KEY.PEM`, and `.SSH` on a case-insensitive file system), as is the comparison with
    /// exact paths.
    pub fn is_secret(&self, path: &Path) -> bool {
        let path = clean(path);
        path.ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .any(|p| self.is_secret_itself(p))
    }

    /// Is this path itself secret, ignoring its ancestors? For walks that never descend into
    /// a secret directory, where the ancestors were already checked on the way down.
    pub fn is_secret_entry(&self, path: &Path) -> bool {
        self.is_secret_itself(&clean(path))
    }

    fn is_secret_itself(&self, p: &Path) -> bool {
        let c = Candidate::new(p);
        self.is_secret_name(&c, p)
            || (self.carriers.is_match_candidate(&c) && file_holds_credential(p))
    }

    /// Secret by its name (globs and exact paths), whatever it holds.
    fn is_secret_name(&self, c: &Candidate<'_>, p: &Path) -> bool {
        (self.defaults.is_match_candidate(c) && !self.default_exempt.is_match_candidate(c))
            || (self.extra.is_match_candidate(c) && !self.extra_exempt.is_match_candidate(c))
            || (!self.exact.is_empty() && self.exact.contains(&exact_key(p)))
    }

    /// Is a file at this path secret by its name alone (it or an ancestor), not looking at any
    /// content? For paths that are not files here — entries of a git history, whose content
    /// the caller checks itself.
    pub fn is_secret_path_name(&self, path: &Path) -> bool {
        let path = clean(path);
        path.ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .any(|p| self.is_secret_name(&Candidate::new(p), p))
    }

    /// Is this path a credential carrier ([`DEFAULT_CREDENTIAL_CARRIERS`]): secret whenever the
    /// content it holds (in the worktree or any revision) holds a credential?
    pub fn is_carrier(&self, path: &Path) -> bool {
        self.carriers.is_match(clean(path))
    }

    /// Add exact files (ccgate's database, its `.env`) that are always secret, as is anything
    /// under them. For each path, its SQLite companions `-wal`, `-shm` and `-journal` are
    /// added too, and so is the path with its parent canonicalized (so a relative or
    /// symlinked config value still matches the resolved paths `is_secret` receives).
    pub fn with_exact_paths(mut self, paths: Vec<PathBuf>) -> Self {
        for p in paths {
            if p.as_os_str().is_empty() {
                continue;
            }
            let mut forms = vec![clean(&p)];
            if let Ok(real) = std::fs::canonicalize(&p) {
                forms.push(real);
            }
            if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                if let Ok(real_parent) = std::fs::canonicalize(parent) {
                    forms.push(real_parent.join(name));
                }
            }
            for form in forms {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut s = form.clone().into_os_string();
                    s.push(suffix);
                    self.exact.insert(exact_key(Path::new(&s)));
                }
            }
        }
        self.id = rules_id(&[self.id.to_string()], &self.exact);
        self
    }

    /// Identifies these rules: equal for rules built from the same operator globs and exact
    /// paths (the built-ins are the same for all). For caches of what the rules found.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Ordinary names a pattern written to find secrets does not match (see
/// [`targets_secret_names`]).
const ORDINARY_NAMES: &[&str] = &[
    "main.rs",
    "src/lib.rs",
    "README.md",
    "package.json",
    "index.js",
    "a.txt",
    "x",
    ".gitignore",
    ".github/workflows/ci.yml",
    "docs/guide/intro.md",
];

/// Is `matches` (a file-name pattern as a predicate over relative paths) written to find
/// secret files: it matches the name of a built-in secret sample (`id_rsa`, `.ssh/config`,
/// `.env.local`, `key.pem`) but none of a few ordinary names? `**/*` matches both and is
/// not; `**/.env*`, `**/*.pem` and `**/id_rsa` are.
pub fn targets_secret_names(matches: impl Fn(&Path) -> bool) -> bool {
    let secret = DEFAULT_SECRET_SAMPLES.iter().any(|s| {
        let p = Path::new(s);
        let parts: Vec<_> = p.components().collect();
        (1..=3.min(parts.len().saturating_sub(1))).any(|n| {
            let tail: PathBuf = parts[parts.len() - n..].iter().collect();
            matches(&tail)
        })
    });
    secret && !ORDINARY_NAMES.iter().any(|o| matches(Path::new(o)))
}

/// Most bytes of a credential carrier read to look for a credential.
const CARRIER_READ_LIMIT: u64 = 256 * 1024;

/// Whether the regular file at `p` holds a credential ([`holds_credential`]). Reads at most
/// [`CARRIER_READ_LIMIT`] bytes; never opens anything but a regular file (a FIFO named `.npmrc`
/// must not block the policy). A file that cannot be read holds nothing ccgate could show.
fn file_holds_credential(p: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => {}
        _ => return false,
    }
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(p)
    else {
        return false;
    };
    let mut buf = Vec::new();
    if f.take(CARRIER_READ_LIMIT).read_to_end(&mut buf).is_err() {
        return false;
    }
    let json = p
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    holds_credential(&String::from_utf8_lossy(&buf), json)
}

/// Whether configuration text holds a credential written out (not a `${VAR}` reference):
///
/// - a URL with a password or, for http(s)/ftp, any user part (`https://ghp_x@github.com`,
///   `https://user:pass@pypi.example/simple`); `ssh://git@host` names a login, not a secret;
/// - an HTTP `Authorization:` header value (git's `http.extraheader`);
/// - a key whose last segment names a credential (`_authToken`, `_auth`, `npmAuthToken`,
///   `npmAuthIdent`, `…password`, `…token`, `…secret`, `api_key`, `access_key`) with a literal
///   value, in INI, properties, YAML, TOML or JSON form (`//registry/:_authToken=…`,
///   `"password": "…"`, `signing.password=…`);
/// - XML credential elements and attributes (Maven `<password>`, NuGet `ClearTextPassword`);
/// - the credential sections of Composer's `auth.json` (`github-oauth`, `http-basic`, …) and
///   Bundler's `BUNDLE_<HOST>: "user:password"`.
///
/// In JSON (`json`) the key-value shape is no evidence — an i18n `auth.json` says
/// `"password": "Password"` — so only URLs, headers and Composer's sections count there.
pub fn holds_credential(text: &str, json: bool) -> bool {
    use regex::Regex;
    use std::sync::OnceLock;
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            // scheme://user:password@ (any scheme), scheme://user@ (web schemes).
            r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@:'"$<>{}]+:[^\s/@'"$<>{}]+@"#,
            r#"(?i)\b(?:https?|ftps?|git\+https?)://[^\s/@:'"$<>{}]+@"#,
            r#"(?i)authorization\s*:\s*(?:basic|bearer|token)\s+[^\s$'"]"#,
            r#"(?im)^\s*["']?(?:[\w.\-/:@]*[.:/_-])?(?:_?auth|_authtoken|_password|npmauth(?:token|ident)|[\w-]*password|passwd|[\w-]*token|[\w-]*secret|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key)["']?\s*[=:]\s*["']?(?:[^\s"'$%{<#,]|%[^(])"#,
            r#"(?i)<(?:password|passphrase|privatekey)>\s*[^\s<$]"#,
            r#"(?i)key\s*=\s*"(?:cleartextpassword|password|apikey)"\s+value\s*=\s*"[^"$%\s]"#,
            r#"(?i)"(?:github-oauth|gitlab-oauth|gitlab-token|bitbucket-oauth|http-basic|bearer|auths)"\s*:\s*\{\s*""#,
            r#"(?im)^\s*bundle_[a-z0-9_]+__[a-z0-9_]+\s*:\s*["']?[^\s"':]+:[^\s"']+"#,
        ]
        .iter()
        .map(|r| Regex::new(r).expect("credential pattern"))
        .collect()
    });
    text.lines().any(|line| {
        let switch = |l: &str| {
            // `always-auth=true`, `strict-ssl: false`: switches, not credentials.
            let v = l.split_once('=').or_else(|| l.split_once(':'));
            let v = v.map(|(_, v)| v.trim().trim_matches(['"', '\'', ',']).to_ascii_lowercase());
            matches!(
                v.as_deref(),
                Some("true" | "false" | "yes" | "no" | "null" | "none" | "0" | "1" | "")
            )
        };
        res.iter()
            .enumerate()
            .any(|(i, re)| !(i == 3 && (json || switch(line))) && re.is_match(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SecretFiles {
        SecretFiles::new(&[]).unwrap()
    }

    fn extra(list: &[&str]) -> Result<SecretFiles, SecretGlobError> {
        SecretFiles::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn every_default_matches_its_samples() {
        let s = defaults();
        for sample in DEFAULT_SECRET_SAMPLES {
            assert!(s.is_secret(Path::new(sample)), "{sample}");
        }
        for glob in DEFAULT_SECRET_GLOBS {
            let m = compile(glob, glob).unwrap().compile_matcher();
            assert!(
                DEFAULT_SECRET_SAMPLES.iter().any(|p| m.is_match(p)),
                "no sample for {glob}"
            );
        }
        for glob in DEFAULT_NOT_SECRET_GLOBS {
            compile(glob, glob).unwrap();
        }
    }

    #[test]
    fn secrets_and_non_secrets() {
        let s = defaults();
        for p in [
            "/a/.env",
            "/a/.ENV",
            "/a/.env.local",
            "/h/.ssh/known_hosts",
            "/a/.ssh/sub/x",
            "/a/.ssh/id_rsa.pub",
            "/k/id_ed25519",
            "/x/tls.PEM",
            "/x/KEY.PEM",
            "/x/Server.Key",
            "/x/.aws/credentials",
            "/x/.git-credentials",
            "/a/.env/",
            "/a//./.env",
            "/a/.env.pub",
            "/a/certs.pem/inner.txt",
            "relative/.env",
            ".env",
            // Credential stores beyond the obvious (issue 10).
            "/p/.envrc",
            "/p/.ENVRC",
            "/h/.config/git/credentials",
            "/h/.pypirc",
            "/h/.gem/credentials",
            "/h/.cargo/credentials.toml",
            "/h/.composer/auth.json",
            "/h/.m2/settings.xml",
            "/h/.gradle/gradle.properties",
            "/h/.nuget/NuGet/NuGet.Config",
            "/h/.oci/oci_api_key",
            "/h/.boto",
            "/h/.s3cfg",
            "/h/.terraform.d/credentials.tfrc.json",
            "/p/infra/terraform.tfstate",
            "/p/infra/terraform.tfstate.1712345.backup",
            "/p/infra/prod.auto.tfvars",
            "/h/.config/doctl/config.yaml",
            "/h/.config/hub",
            "/h/.fly/config.yml",
            "/h/.docker/config.json",
            "/h/.kube/config",
            "/p/deploy/staging.kubeconfig",
            "/h/.config/containers/auth.json",
            "/h/.my.cnf",
            "/h/.mylogin.cnf",
            "/p/keys/ci-service-account.json",
            "/p/GCP_Service_Account.JSON",
            "/p/client_secret_42.apps.googleusercontent.com.json",
            "/p/config/master.key",
            "/p/config/secrets.yml",
            "/p/.streamlit/secrets.toml",
            "/p/.secrets/token",
            "/p/android/app/upload.keystore",
        ] {
            assert!(s.is_secret(Path::new(p)), "{p}");
        }
        for p in [
            "/a/env.rs",
            "/a/.env.example",
            "/a/.ENV.Example",
            "/a/.env.sample",
            "/a/.env.template",
            "/a/keyboard.rs",
            "/a/README.md",
            "/a/monkey.pem.md",
            "/a/key.pem.txt",
            "/a/keys/id_rsa.pub",
            "/a/id_ed25519.PUB",
            "/a/.environment/x.txt",
            "/a/ssh/config",
            "/a/src/key.rs",
            "/",
            "",
            // Ordinary project files stay readable.
            "/p/package.json",
            "/p/package-lock.json",
            "/p/Cargo.toml",
            "/p/tsconfig.json",
            "/p/src/i18n/en/auth.json",
            "/p/locales/ar-SA.json",
            "/p/.envrc.example",
            "/p/infra/variables.tf",
            "/p/infra/terraform.tfvars.example",
            "/p/docs/kubeconfig.md",
            "/p/src/secrets.rs",
            "/p/src/secret_files.rs",
            "/p/credentials.yml.enc",
            "/p/.gitignore",
            "/p/gradle.properties",
            "/p/.npmrc",
            "/p/.git/config",
            "/p/.kube.md",
        ] {
            assert!(!s.is_secret(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn credential_carriers_are_secret_only_while_they_hold_one() {
        // Credentials written out: secret.
        for (text, json) in [
            (
                "[remote \"origin\"]\n\turl = https://ghp_abc123@github.com/o/r.git\n",
                false,
            ),
            (
                "[remote \"o\"]\n\turl = https://x-access-token:ghs_1@github.com/o/r\n",
                false,
            ),
            (
                "[http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic eHg=\n",
                false,
            ),
            (
                "[submodule \"s\"]\n\turl = https://oauth2:glpat-x@gitlab.com/s.git\n",
                false,
            ),
            ("//registry.npmjs.org/:_authToken=npm_abcdef\n", false),
            ("_auth = dXNlcjpwYXNz\nemail=a@b.c\n", false),
            ("//npm.pkg.github.com/:_password=c2VjcmV0\n", false),
            ("npmAuthToken: \"npm_abc\"\n", false),
            (
                "npmRegistries:\n  \"https://r\":\n    npmAuthIdent: \"u:p\"\n",
                false,
            ),
            (
                "[global]\nindex-url = https://user:pw@pypi.corp/simple\n",
                false,
            ),
            ("signing.password=hunter2\nsonar.token=squ_123\n", false),
            ("systemProp.https.proxyPassword=pw\n", false),
            (
                "<settings><servers><server><password>pw</password></server></servers></settings>",
                false,
            ),
            ("<add key=\"ClearTextPassword\" value=\"pw\" />", false),
            ("BUNDLE_GEMS__CONTRIBSYS__COM: \"user:pass\"\n", false),
            (
                "credentials \"app.terraform.io\" {\n  token = \"abc.atlasv1.x\"\n}\n",
                false,
            ),
            ("{\"github-oauth\": {\"github.com\": \"ghp_x\"}}", true),
            (
                "{\"http-basic\": {\"repo.example\": {\"username\": \"u\"}}}",
                true,
            ),
            ("{\"auths\": {\"ghcr.io\": {\"auth\": \"eA==\"}}}", true),
        ] {
            assert!(holds_credential(text, json), "{text}");
        }
        // Ordinary configuration: not secret.
        for (text, json) in [
            (
                "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.com:o/r.git\n",
                false,
            ),
            (
                "[remote \"origin\"]\n\turl = https://github.com/o/r.git\n",
                false,
            ),
            (
                "[remote \"o\"]\n\turl = ssh://git@host.example/r.git\n",
                false,
            ),
            ("[credential]\n\thelper = store\n", false),
            ("//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", false),
            (
                "registry=https://registry.npmjs.org/\nalways-auth=true\nsave-exact=true\n",
                false,
            ),
            ("//host/:always-auth=true\n", false),
            (
                "npmAuthToken: \"${NPM_TOKEN}\"\nnodeLinker: node-modules\n",
                false,
            ),
            (
                "org.gradle.jvmargs=-Xmx2g\nkotlin.code.style=official\nmax_tokens=100\n",
                false,
            ),
            ("signing.password=\ntoken_file=/run/x\n", false),
            ("<server><password>${env.MVN_PW}</password></server>", false),
            ("<string name=\"password\">Password</string>", false),
            ("{\"password\": \"Password\", \"login\": \"Log in\"}", true),
            ("{\"name\": \"x\", \"scripts\": {\"test\": \"jest\"}}", true),
        ] {
            assert!(!holds_credential(text, json), "{text}");
        }
        // On disk: the same file name is secret or not by what it holds; names alone never are.
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let s = defaults();
        let git = base.join("repo/.git");
        std::fs::create_dir_all(&git).unwrap();
        let cfg = git.join("config");
        std::fs::write(
            &cfg,
            "[remote \"origin\"]\n\turl = git@github.com:o/r.git\n",
        )
        .unwrap();
        assert!(!s.is_secret(&cfg));
        std::fs::write(
            &cfg,
            "[remote \"origin\"]\n\turl = https://ghp_x@github.com/o/r\n",
        )
        .unwrap();
        assert!(s.is_secret(&cfg));
        assert!(s.is_carrier(&cfg) && !s.is_secret_path_name(&cfg));
        let npmrc = base.join("repo/.npmrc");
        std::fs::write(&npmrc, "save-exact=true\n").unwrap();
        assert!(!s.is_secret(&npmrc));
        std::fs::write(&npmrc, "//registry.npmjs.org/:_authToken=npm_x\n").unwrap();
        assert!(s.is_secret(&npmrc));
        let i18n = base.join("repo/src/i18n/auth.json");
        std::fs::create_dir_all(i18n.parent().unwrap()).unwrap();
        std::fs::write(&i18n, "{\"password\": \"Passwort\"}").unwrap();
        assert!(!s.is_secret(&i18n));
        let composer = base.join("repo/auth.json");
        std::fs::write(&composer, "{\"gitlab-token\": {\"gitlab.com\": \"glpat\"}}").unwrap();
        assert!(s.is_secret(&composer));
        // Not a regular file: never opened (a FIFO would block).
        let fifo = base.join("repo/pip.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(!s.is_secret(&fifo));
        // Not there: nothing to hide.
        assert!(!s.is_secret(&base.join("repo/nope/.npmrc")));
        // A carrier with a credential cannot be exempted either.
        let ex = extra(&["!**/.npmrc"]).unwrap();
        assert!(ex.is_secret(&npmrc));
    }

    #[test]
    fn exemptions_of_defaults_are_refused() {
        for bad in [
            "!**/.env",
            "!**/*.pem",
            "!*.pem",
            "!.env",
            "!**/.ssh",
            "!**/.ssh/**",
            "!**",
            "!/home/user/.aws/credentials",
            "!**/.ENV.local",
            "! **/id_rsa",
            "!**/.envrc",
            "!**/*.tfstate",
            "!.kube/**",
            "!**/*service-account*.json",
            "!**/.m2/settings.xml",
            "!secrets.yml",
        ] {
            assert_eq!(
                extra(&[bad]).unwrap_err(),
                SecretGlobError::RemovesDefault(bad.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn exemptions_never_lift_defaults_even_when_unanticipated() {
        // Not matching any sample, so accepted, but it still cannot exempt a default.
        let s = extra(&["!**/prod/**"]).unwrap();
        assert!(s.is_secret(Path::new("/srv/prod/.env")));
        assert!(s.is_secret(Path::new("/srv/prod/tls.pem")));
    }

    #[test]
    fn extra_globs_and_their_exemptions() {
        let s = extra(&[
            "**/*.secret",
            "!**/public.secret",
            " vault/ ",
            "",
            "*.token",
        ])
        .unwrap();
        assert!(s.is_secret(Path::new("/p/db.secret")));
        assert!(s.is_secret(Path::new("/p/DB.SECRET")));
        assert!(!s.is_secret(Path::new("/p/public.secret")));
        assert!(s.is_secret(Path::new("/p/.ssh/public.secret")));
        assert!(s.is_secret(Path::new("/p/vault")));
        assert!(s.is_secret(Path::new("/p/vault/a/b.txt")));
        assert!(s.is_secret(Path::new("/p/x/api.token")));
        assert!(!s.is_secret(Path::new("/p/vaults/a.txt")));
        assert!(!s.is_secret(Path::new("/p/x.secrets")));
        // Defaults still on.
        assert!(s.is_secret(Path::new("/p/.env")));
        // Without the extra glob, *.secret is not a secret.
        assert!(!defaults().is_secret(Path::new("/p/db.secret")));
    }

    #[test]
    fn invalid_globs() {
        for bad in ["**/[abc", "!**/[abc", "!", "! ", "**/{a,b"] {
            assert!(
                matches!(extra(&[bad]), Err(SecretGlobError::Invalid(ref g, _)) if g == bad),
                "{bad}"
            );
        }
        let msg = extra(&["**/[abc"]).unwrap_err().to_string();
        assert!(msg.starts_with("invalid glob \"**/[abc\""), "{msg}");
        let msg = extra(&["!**/.env"]).unwrap_err().to_string();
        assert!(msg.contains("built-ins cannot be disabled"), "{msg}");
    }

    #[test]
    fn exact_paths() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let db = base.join("ccgate.db");
        std::fs::write(&db, "").unwrap();
        let env = base.join("conf/ccgate.env");
        let s = defaults().with_exact_paths(vec![db.clone(), env.clone(), PathBuf::new()]);
        for p in [
            db.clone(),
            base.join("ccgate.db-wal"),
            base.join("ccgate.db-shm"),
            base.join("ccgate.db-journal"),
            base.join("CCGATE.DB"),
            env.clone(),
        ] {
            assert!(s.is_secret(&p), "{}", p.display());
        }
        for p in [
            base.join("ccgate.db.bak"),
            base.join("other.db"),
            base.clone(),
        ] {
            assert!(!s.is_secret(&p), "{}", p.display());
        }
        // A symlinked directory in the configured path still matches the resolved path.
        let link = base.join("link");
        std::os::unix::fs::symlink(&base, &link).unwrap();
        let s = defaults().with_exact_paths(vec![link.join("ccgate.db")]);
        assert!(s.is_secret(&db));
        assert!(s.is_secret(&base.join("ccgate.db-wal")));
    }

    #[test]
    fn odd_paths_do_not_panic() {
        use std::os::unix::ffi::OsStrExt;
        let s = extra(&["**/*.secret"])
            .unwrap()
            .with_exact_paths(vec!["x".into()]);
        for raw in [
            &b"/p/\xff\xfe.env"[..],
            b"/p/\xff/.ssh/x",
            b"..",
            b"/../..",
            b"\0",
        ] {
            let _ = s.is_secret(Path::new(std::ffi::OsStr::from_bytes(raw)));
        }
        assert!(s.is_secret(Path::new(std::ffi::OsStr::from_bytes(b"/p/\xff/.ssh/x"))));
    }
}
