//! Validation of the names of files users upload through chat.
//!
//! Why it exists: an uploaded file's name comes from a Telegram client, i.e. from whoever sent
//! it. A name can smuggle a path (`../x`), hide its real type (`invoice.pdf.exe`, or
//! `"\u{202E}gpj.exe"` which *displays* as `exe.jpg`), land as a hidden dotfile (`.bashrc`) or
//! be unusable on another OS (`CON`). This module decides, from the name alone, whether to keep it.

use std::collections::BTreeSet;

/// Longest accepted name in bytes of UTF-8 (ext4, APFS and most others allow 255).
pub const MAX_FILENAME_BYTES: usize = 255;

/// Why a file name was refused. The messages are shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("the file name is empty; give the file a name")]
    Empty,
    #[error("the file name is longer than {MAX_FILENAME_BYTES} bytes; use a shorter name")]
    TooLong,
    #[error("the file name contains / or \\; send a plain file name, not a path")]
    Separator,
    #[error("the file name contains control characters; rename the file")]
    Control,
    #[error(
        "the file name contains invisible or text-direction characters that can disguise its real \
         name; rename the file"
    )]
    Bidi,
    #[error("that file name is reserved by the operating system; rename the file")]
    Reserved,
    #[error("file names starting with a dot (hidden files such as .env) are not accepted")]
    Hidden,
    #[error("the file name ends with a dot or a space; remove it")]
    TrailingDotOrSpace,
    #[error("{}", extension_message(.0))]
    ExtensionNotAllowed(String),
    #[error(
        "the file name has a double extension (.{0}): it is really a file of the last type, which \
         is not accepted"
    )]
    DoubleExtension(String),
    #[error("percent-encoded file names are not accepted; send the plain name")]
    Encoded,
}

fn extension_message(ext: &str) -> String {
    if ext.is_empty() {
        "files without an extension are not accepted".to_string()
    } else {
        format!("files of type .{ext} are not accepted")
    }
}

/// Which last extensions are accepted. Extensions are stored lowercase, without dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionPolicy {
    /// Accepted extensions; empty means "anything not denied".
    allow: BTreeSet<String>,
    /// Refused extensions; wins over `allow`.
    deny: BTreeSet<String>,
    /// Whether a name without any extension (`Makefile`, `LICENSE`) is accepted.
    allow_no_extension: bool,
}

/// Text, code, documents, images and archives: what people send to a coding assistant.
const DEFAULT_ALLOW: &[&str] = &[
    // text and docs
    "txt",
    "md",
    "markdown",
    "rst",
    "adoc",
    "tex",
    "log",
    "csv",
    "tsv",
    "pdf",
    "rtf",
    "docx",
    "xlsx",
    "pptx",
    "odt",
    "ods",
    "odp",
    "epub",
    // data and config
    "json",
    "jsonl",
    "ndjson",
    "toml",
    "yaml",
    "yml",
    "xml",
    "ini",
    "cfg",
    "conf",
    "properties",
    "lock",
    "sql",
    "proto",
    "graphql",
    "gql",
    "ipynb",
    "tf",
    "hcl",
    "nix",
    // code
    "rs",
    "py",
    "pyi",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "vue",
    "svelte",
    "html",
    "htm",
    "css",
    "scss",
    "sass",
    "less",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "swift",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "m",
    "mm",
    "cs",
    "fs",
    "rb",
    "php",
    "pl",
    "lua",
    "r",
    "dart",
    "ex",
    "exs",
    "erl",
    "hrl",
    "hs",
    "ml",
    "mli",
    "clj",
    "zig",
    "sh",
    "bash",
    "zsh",
    "fish",
    "mk",
    "cmake",
    "gradle",
    "patch",
    "diff",
    // images
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "svg",
    "bmp",
    "ico",
    "tif",
    "tiff",
    "heic",
    // archives
    "zip",
    "tar",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "zst",
    "7z",
];

/// Executables, installers and anything Windows or macOS runs (or mounts) on a double click.
const DEFAULT_DENY: &[&str] = &[
    "exe", "dll", "bat", "cmd", "com", "msi", "msp", "mst", "scr", "cpl", "pif", "ps1", "psm1",
    "psd1", "vbs", "vbe", "jse", "wsf", "wsh", "hta", "jar", "app", "dmg", "pkg", "deb", "rpm",
    "apk", "lnk", "reg", "url", "scf", "inf", "command", "scpt", "iso", "img", "vhd", "vhdx",
    "docm", "xlsm", "pptm", "appimage",
];

fn normalize_ext(e: &str) -> String {
    e.trim().trim_start_matches('.').to_lowercase()
}

impl ExtensionPolicy {
    /// Secure default: common text, code, document, image and archive types are accepted;
    /// executables, installers and scripts that Windows or macOS run on a double click are
    /// refused; so is every other extension. Names without an extension (`Makefile`,
    /// `Dockerfile`, `LICENSE`) are accepted.
    pub fn default_policy() -> Self {
        Self::new(DEFAULT_ALLOW, DEFAULT_DENY)
    }

    /// Deny wins over allow; an empty `allow` accepts anything not denied. Entries are
    /// compared case-insensitively, with or without a leading dot. Names without an extension
    /// are accepted (see [`ExtensionPolicy::with_no_extension`]).
    pub fn new(allow: &[&str], deny: &[&str]) -> Self {
        let clean = |list: &[&str]| -> BTreeSet<String> {
            list.iter()
                .map(|e| normalize_ext(e))
                .filter(|e| !e.is_empty())
                .collect()
        };
        ExtensionPolicy {
            allow: clean(allow),
            deny: clean(deny),
            allow_no_extension: true,
        }
    }

    /// Whether names without any extension are accepted (default: yes).
    pub fn with_no_extension(mut self, accept: bool) -> Self {
        self.allow_no_extension = accept;
        self
    }

    /// Is `ext` (any case, with or without a leading dot) denied outright?
    pub fn is_denied(&self, ext: &str) -> bool {
        self.deny.contains(&normalize_ext(ext))
    }

    /// Is `ext` (any case, with or without a leading dot) accepted as a last extension?
    pub fn is_allowed(&self, ext: &str) -> bool {
        let ext = normalize_ext(ext);
        if ext.is_empty() || self.deny.contains(&ext) {
            return false;
        }
        self.allow.is_empty() || self.allow.contains(&ext)
    }
}

impl Default for ExtensionPolicy {
    fn default() -> Self {
        Self::default_policy()
    }
}

/// Characters that are not "control" characters but change how a name is displayed or hide
/// parts of it: bidi embeddings/overrides/isolates/marks, zero-width characters, the BOM, the
/// soft hyphen, invisible operators, Hangul fillers and tag characters.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}'..='\u{200D}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Windows device names, reserved with any extension (`con.txt`, `con.tar.gz`), any case.
const WINDOWS_DEVICES: &[&str] = &[
    "con", "prn", "aux", "nul", "conin$", "conout$", "clock$", "com0", "com1", "com2", "com3",
    "com4", "com5", "com6", "com7", "com8", "com9", "com¹", "com²", "com³", "lpt0", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "lpt¹", "lpt²", "lpt³",
];

fn is_windows_device(name: &str) -> bool {
    // Windows looks at the part before the first dot, ignoring trailing spaces ("CON .txt").
    let base = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let base = base.to_lowercase();
    WINDOWS_DEVICES.contains(&base.as_str())
}

/// Validate a user-supplied file name (not a path). Returns the name unchanged when valid.
///
/// Checks, in order: empty or whitespace-only; longer than 255 bytes; control characters
/// (C0, DEL, C1, and the Unicode line/paragraph separators); bidi and invisible characters;
/// `/` or `\`; percent-encoded `.`, `/`, `\`, NUL or `%` (double encoding); `.` and `..`;
/// a leading dot; a trailing dot or whitespace; Windows device names (with or without an
/// extension); and finally the extension policy on the LAST extension only.
///
/// Double extensions: only the last extension decides, so `x.exe.txt` is fine. When the last
/// extension is explicitly *denied* and the one before it is an accepted type
/// (`report.pdf.exe`), the error is [`FilenameError::DoubleExtension`] carrying both
/// (`"pdf.exe"`), because that shape is a disguise; every other refusal of the last extension
/// is [`FilenameError::ExtensionNotAllowed`] carrying the last extension, lowercased.
pub fn validate_filename(name: &str, policy: &ExtensionPolicy) -> Result<String, FilenameError> {
    if name.trim().is_empty() {
        return Err(FilenameError::Empty);
    }
    if name.len() > MAX_FILENAME_BYTES {
        return Err(FilenameError::TooLong);
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(FilenameError::Control);
    }
    if name.chars().any(is_invisible_or_bidi) {
        return Err(FilenameError::Bidi);
    }
    if name.contains(['/', '\\']) {
        return Err(FilenameError::Separator);
    }
    let lower = name.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|enc| lower.contains(enc))
    {
        return Err(FilenameError::Encoded);
    }
    if name == "." || name == ".." {
        return Err(FilenameError::Reserved);
    }
    if name.starts_with('.') {
        return Err(FilenameError::Hidden);
    }
    if name.ends_with('.') || name.ends_with(char::is_whitespace) {
        return Err(FilenameError::TrailingDotOrSpace);
    }
    if is_windows_device(name) {
        return Err(FilenameError::Reserved);
    }
    check_extension(name, policy)?;
    Ok(name.to_string())
}

fn check_extension(name: &str, policy: &ExtensionPolicy) -> Result<(), FilenameError> {
    // No leading dot and no trailing dot by now, so every part after a dot is non-empty-ish
    // and the first part is the stem, never an extension.
    let mut parts = name.split('.').skip(1).collect::<Vec<_>>();
    let Some(last) = parts.pop() else {
        return if policy.allow_no_extension {
            Ok(())
        } else {
            Err(FilenameError::ExtensionNotAllowed(String::new()))
        };
    };
    if policy.is_allowed(last) {
        return Ok(());
    }
    let last = normalize_ext(last);
    if policy.is_denied(&last) {
        if let Some(prev) = parts.last() {
            let prev = normalize_ext(prev);
            if prev != last && policy.is_allowed(&prev) {
                return Err(FilenameError::DoubleExtension(format!("{prev}.{last}")));
            }
        }
    }
    Err(FilenameError::ExtensionNotAllowed(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use FilenameError as E;

    fn check(name: &str) -> Result<String, FilenameError> {
        validate_filename(name, &ExtensionPolicy::default_policy())
    }

    #[test]
    fn table() {
        let ext = |e: &str| E::ExtensionNotAllowed(e.to_string());
        let dbl = |e: &str| E::DoubleExtension(e.to_string());
        let cases: Vec<(&str, Result<(), FilenameError>)> = vec![
            // accepted
            ("ok-name_1.rs", Ok(())),
            ("日本語.md", Ok(())),
            ("emoji😀.txt", Ok(())),
            ("archive.tar.gz", Ok(())),
            ("x.exe.txt", Ok(())),
            ("Makefile", Ok(())),
            ("README", Ok(())),
            ("photo.JPG", Ok(())),
            ("notes v2 (final).md", Ok(())),
            ("console.log", Ok(())),
            ("CONTRIBUTING.md", Ok(())),
            ("com10.txt", Ok(())),
            ("auxiliary.rs", Ok(())),
            ("my.env.txt", Ok(())),
            ("100%.txt", Ok(())),
            (" leading-space.txt", Ok(())),
            ("a..b.txt", Ok(())),
            // empty
            ("", Err(E::Empty)),
            ("   ", Err(E::Empty)),
            ("\t", Err(E::Empty)),
            // separators / traversal
            ("../x", Err(E::Separator)),
            ("..\\x", Err(E::Separator)),
            ("a/b.txt", Err(E::Separator)),
            ("/etc/passwd", Err(E::Separator)),
            ("C:\\x.txt", Err(E::Separator)),
            // control
            ("a\u{0}b.txt", Err(E::Control)),
            ("a\nb.txt", Err(E::Control)),
            ("a\u{7f}.txt", Err(E::Control)),
            ("a\u{85}.txt", Err(E::Control)),
            ("a\u{9b}.txt", Err(E::Control)),
            ("a\u{2028}.txt", Err(E::Control)),
            // bidi and invisible
            ("\u{202E}gpj.exe", Err(E::Bidi)),
            ("invoice\u{202E}fdp.exe", Err(E::Bidi)),
            ("a\u{2066}b.txt", Err(E::Bidi)),
            ("a\u{200F}.txt", Err(E::Bidi)),
            ("a\u{061C}.txt", Err(E::Bidi)),
            ("a\u{200B}.txt", Err(E::Bidi)),
            ("\u{FEFF}a.txt", Err(E::Bidi)),
            ("a\u{E0041}.txt", Err(E::Bidi)),
            // encoded
            ("%2e%2e%2fpasswd", Err(E::Encoded)),
            ("%2E%2E", Err(E::Encoded)),
            ("a%5cb.txt", Err(E::Encoded)),
            ("a%00.txt", Err(E::Encoded)),
            ("%252e%252e", Err(E::Encoded)),
            // reserved
            (".", Err(E::Reserved)),
            ("..", Err(E::Reserved)),
            ("CON", Err(E::Reserved)),
            ("con.txt", Err(E::Reserved)),
            ("Nul.tar.gz", Err(E::Reserved)),
            ("aux", Err(E::Reserved)),
            ("prn.md", Err(E::Reserved)),
            ("COM1", Err(E::Reserved)),
            ("com9.rs", Err(E::Reserved)),
            ("LPT1.txt", Err(E::Reserved)),
            ("lpt²", Err(E::Reserved)),
            ("CON .txt", Err(E::Reserved)),
            // hidden
            (".env", Err(E::Hidden)),
            (".bashrc", Err(E::Hidden)),
            ("...", Err(E::Hidden)),
            (".hidden.txt", Err(E::Hidden)),
            // trailing
            ("x.txt ", Err(E::TrailingDotOrSpace)),
            ("x.txt.", Err(E::TrailingDotOrSpace)),
            ("x.exe.", Err(E::TrailingDotOrSpace)),
            ("x.txt\u{a0}", Err(E::TrailingDotOrSpace)),
            // extension policy
            ("setup.exe", Err(ext("exe"))),
            ("SETUP.EXE", Err(ext("exe"))),
            ("run.ps1", Err(ext("ps1"))),
            ("payload.dll", Err(ext("dll"))),
            ("installer.dmg", Err(ext("dmg"))),
            ("shortcut.lnk", Err(ext("lnk"))),
            ("x.unknownext", Err(ext("unknownext"))),
            ("x.ｅｘｅ", Err(ext("ｅｘｅ"))),
            ("x.exe.exe", Err(ext("exe"))),
            ("x.weird.exe", Err(ext("exe"))),
            ("report.pdf.exe", Err(dbl("pdf.exe"))),
            ("invoice.PDF.Scr", Err(dbl("pdf.scr"))),
            ("photo.jpg.bat", Err(dbl("jpg.bat"))),
        ];
        assert!(cases.len() >= 40);
        for (input, want) in cases {
            let got = check(input);
            match want {
                Ok(()) => assert_eq!(got, Ok(input.to_string()), "{input:?}"),
                Err(e) => assert_eq!(got, Err(e), "{input:?}"),
            }
        }
    }

    #[test]
    fn byte_length_limit_counts_utf8_bytes() {
        // 'あ' is 3 bytes: 84 * 3 + ".md" = 255 bytes, but only 87 chars.
        let ok = format!("{}.md", "あ".repeat(84));
        assert_eq!(ok.len(), 255);
        assert_eq!(check(&ok), Ok(ok.clone()));
        let long = format!("{}x.md", "あ".repeat(84));
        assert_eq!(long.len(), 256);
        assert_eq!(check(&long), Err(E::TooLong));
        // 2-byte chars too: 'é' * 125 + ".txt" = 254; + "ab" = 256.
        let ok2 = format!("{}a.txt", "é".repeat(125));
        assert_eq!(ok2.len(), 255);
        assert!(check(&ok2).is_ok());
        let long2 = format!("{}ab.txt", "é".repeat(125));
        assert_eq!(long2.len(), 256);
        assert_eq!(check(&long2), Err(E::TooLong));
        assert_eq!(check(&"a".repeat(10_000)), Err(E::TooLong));
    }

    #[test]
    fn custom_policies() {
        let any = ExtensionPolicy::new(&[], &["exe"]);
        assert!(validate_filename("x.whatever", &any).is_ok());
        assert_eq!(
            validate_filename("x.EXE", &any),
            Err(E::ExtensionNotAllowed("exe".into()))
        );
        // Deny wins over allow; entries are normalised.
        let both = ExtensionPolicy::new(&[".TXT", "exe"], &["EXE"]);
        assert!(validate_filename("a.txt", &both).is_ok());
        assert_eq!(
            validate_filename("a.exe", &both),
            Err(E::ExtensionNotAllowed("exe".into()))
        );
        assert_eq!(
            validate_filename("a.txt.exe", &both),
            Err(E::DoubleExtension("txt.exe".into()))
        );
        let strict = ExtensionPolicy::default_policy().with_no_extension(false);
        assert_eq!(
            validate_filename("Makefile", &strict),
            Err(E::ExtensionNotAllowed(String::new()))
        );
        assert!(validate_filename("Makefile", &ExtensionPolicy::default()).is_ok());
        let p = ExtensionPolicy::default_policy();
        assert!(p.is_allowed(".RS") && !p.is_allowed("exe") && p.is_denied("Exe"));
        assert!(!p.is_allowed(""));
    }

    #[test]
    fn messages_are_user_facing() {
        for e in [
            E::Empty,
            E::TooLong,
            E::Separator,
            E::Control,
            E::Bidi,
            E::Reserved,
            E::Hidden,
            E::TrailingDotOrSpace,
            E::ExtensionNotAllowed("exe".into()),
            E::DoubleExtension("pdf.exe".into()),
            E::Encoded,
        ] {
            let msg = e.to_string();
            assert!(msg.len() > 20, "{msg}");
        }
        assert!(E::DoubleExtension("pdf.exe".into())
            .to_string()
            .contains(".pdf.exe"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let samples = [
            "\u{10FFFF}",
            "\u{FFFD}.txt",
            "a.",
            ".a.",
            "..a",
            "a..",
            "\u{0}",
            "%",
            "%2",
            "%%2e",
            "ǅ.TXT",
            "İ.txt",
            "ß.MD",
            ". ",
            " .",
            "a. b",
            "com",
            "lpt",
            "con$",
        ];
        for s in samples {
            let _ = check(s);
            let _ = validate_filename(s, &ExtensionPolicy::new(&[], &[]));
        }
    }
}
