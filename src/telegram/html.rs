//! Markdown → Telegram HTML conversion, escaping and message splitting.
//!
//! Claude answers in Markdown, but Telegram renders only a small HTML subset
//! (`parse_mode=HTML`), rejects the whole message with 400 "can't parse entities"
//! when that HTML is malformed, and caps a message at 4096 characters. This module
//! turns Claude's Markdown into safe Telegram HTML, splits long HTML into chunks that
//! are each well-formed on their own, and offers a plain-text fallback for resends.

use pulldown_cmark::{Alignment, CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

/// Maximum length of one Telegram message.
pub const TELEGRAM_MAX_MESSAGE_LEN: usize = 4096;

/// URL schemes that may become a clickable `<a href>`; anything else is shown as text.
const ALLOWED_SCHEMES: [&str; 4] = ["http", "https", "tg", "mailto"];

/// The longest text atom `split_html` ever emits (`&amp;`). Every chunk keeps room for
/// at least one atom, which is what guarantees progress; it is also the smallest
/// limit `split_html` works with.
const MAX_ATOM_LEN: usize = 5;

/// The smallest limit `split_plain` works with: one surrogate pair.
const MIN_PLAIN_LIMIT: usize = 2;

/// Escape text for use in Telegram HTML text or attribute values: & < > " (as &amp; &lt; &gt; &quot;).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

// ---------------------------------------------------------------------------
// Markdown → HTML
// ---------------------------------------------------------------------------

/// Convert CommonMark (+ strikethrough, tables) as written by Claude into Telegram HTML.
pub fn markdown_to_html(md: &str) -> String {
    let mut r = Renderer::default();
    for event in Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES) {
        r.event(event);
    }
    r.out.trim().to_string()
}

/// Is `url` safe to put into an `href`? Only the allowed schemes pass; relative URLs
/// (no scheme) and `javascript:` and friends are rejected.
fn url_allowed(url: &str) -> bool {
    if url.chars().any(char::is_control) {
        return false;
    }
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    ALLOWED_SCHEMES
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(scheme))
}

/// First word of a fenced code block's info string, reduced to `[A-Za-z0-9_+-]`.
fn sanitize_language(info: &str) -> Option<String> {
    let word = info.split(|c: char| c.is_whitespace() || c == ',').next()?;
    let lang: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
        .collect();
    (!lang.is_empty()).then_some(lang)
}

/// Inline/container elements that become a pair of HTML tags.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bold,
    Italic,
    Strike,
    Link,
    Quote,
}

/// Renderer state captured just before an opening tag was written, so that an element
/// that ends up empty can be removed again without a trace (no `<b></b>`).
struct Saved {
    len: usize,
    pending_nl: usize,
    marker: Option<String>,
    in_flow: bool,
}

struct Frame {
    kind: Kind,
    /// Closing tag, or `None` when the element was not rendered as a tag (nested
    /// duplicate such as `<b>` inside `<b>`, nested blockquote, disallowed link).
    close: Option<&'static str>,
    /// For links: the URL, used as the label when the label is empty.
    href: String,
    saved: Saved,
    len_after_open: usize,
}

struct CodeBuf {
    lang: Option<String>,
    text: String,
}

struct TableBuf {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<String>>,
}

struct ImageBuf {
    /// Nested images inside the alt text (rare, but the events must balance).
    depth: usize,
    alt: String,
    url: String,
}

/// Streaming renderer. Block layout is done lazily: ending a block only *requests*
/// newlines (`pending_nl`), and they are written when the next content arrives. That
/// way nothing trails the output, and a container start (`<blockquote>`, the first
/// item of the output) swallows separators that would otherwise lead.
#[derive(Default)]
struct Renderer {
    out: String,
    pending_nl: usize,
    /// List item marker ("• ", "  2. ") waiting for the item's first content.
    marker: Option<String>,
    /// False at the very start and right after `<blockquote>`: there, pending newlines
    /// are dropped instead of written.
    in_flow: bool,
    frames: Vec<Frame>,
    /// One entry per open list: the next number for ordered lists, `None` for bullets.
    lists: Vec<Option<u64>>,
    code: Option<CodeBuf>,
    table: Option<TableBuf>,
    image: Option<ImageBuf>,
}

impl Renderer {
    /// Request at least `n` newlines before the next content.
    fn sep(&mut self, n: usize) {
        self.pending_nl = self.pending_nl.max(n);
    }

    /// Write pending newlines, indentation and list marker; call before any content.
    fn flush(&mut self) {
        let nl = std::mem::take(&mut self.pending_nl);
        let marker = self.marker.take();
        let mut wrote = false;
        let newline = nl > 0 && self.in_flow;
        if newline {
            for _ in 0..nl {
                self.out.push('\n');
            }
            wrote = true;
        }
        if let Some(m) = marker {
            self.out.push_str(&m);
            wrote = true;
        } else if newline {
            // Continuation line inside a list item: align under the item text.
            for _ in 0..self.lists.len() {
                self.out.push_str("  ");
            }
        }
        if wrote {
            self.in_flow = true;
        }
    }

    /// Write already-safe HTML as content.
    fn content(&mut self, html: &str) {
        if html.is_empty() {
            return;
        }
        self.flush();
        self.out.push_str(html);
        self.in_flow = true;
    }

    /// Write text (escaped); newlines inside it become line breaks.
    fn text(&mut self, s: &str) {
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.pending_nl += 1;
            }
            self.content(&escape(line));
        }
    }

    fn event(&mut self, event: Event<'_>) {
        if self.table.is_some() {
            self.table_event(event);
        } else if self.image.is_some() {
            self.image_event(event);
        } else if self.code.is_some() {
            self.code_event(event);
        } else {
            self.normal_event(event);
        }
    }

    fn normal_event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            // Raw HTML is never passed through: it is shown as the text it is.
            Event::Text(s)
            | Event::Html(s)
            | Event::InlineHtml(s)
            | Event::InlineMath(s)
            | Event::DisplayMath(s) => self.text(&s),
            Event::Code(s) => {
                if !s.is_empty() {
                    self.content(&format!("<code>{}</code>", escape(&s)));
                }
            }
            Event::FootnoteReference(s) => self.text(&format!("[^{s}]")),
            Event::SoftBreak | Event::HardBreak => self.pending_nl += 1,
            Event::Rule => {
                self.sep(2);
                self.content("———");
                self.sep(2);
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => self.sep(2),
            Tag::Heading { .. } => {
                self.sep(2);
                self.open(Kind::Bold, "<b>".into(), "</b>", String::new());
            }
            Tag::BlockQuote(_) => {
                self.sep(2);
                self.open(
                    Kind::Quote,
                    "<blockquote>".into(),
                    "</blockquote>",
                    String::new(),
                );
            }
            Tag::CodeBlock(kind) => {
                self.sep(2);
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => sanitize_language(&info),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some(CodeBuf {
                    lang,
                    text: String::new(),
                });
            }
            Tag::List(first) => {
                self.sep(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(first);
            }
            Tag::Item => self.item_start(),
            Tag::Table(aligns) => {
                self.table = Some(TableBuf {
                    aligns,
                    rows: Vec::new(),
                })
            }
            Tag::Emphasis => self.open(Kind::Italic, "<i>".into(), "</i>", String::new()),
            Tag::Strong => self.open(Kind::Bold, "<b>".into(), "</b>", String::new()),
            Tag::Strikethrough => self.open(Kind::Strike, "<s>".into(), "</s>", String::new()),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let href = if link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    // `[x](<https://a b>)` is legal Markdown but not a valid URL.
                    dest_url.replace(' ', "%20")
                };
                if url_allowed(&href) {
                    let open = format!("<a href=\"{}\">", escape(&href));
                    self.open(Kind::Link, open, "</a>", href);
                } else {
                    // Keep the frame so the matching End pops correctly; label stays text.
                    self.push_inert(Kind::Link);
                }
            }
            Tag::Image { dest_url, .. } => {
                self.image = Some(ImageBuf {
                    depth: 0,
                    alt: String::new(),
                    url: dest_url.to_string(),
                })
            }
            // Table parts are handled in table mode; the remaining tags belong to
            // extensions that are not enabled. Their text still comes through.
            _ => {}
        }
    }

    fn end(&mut self, end: TagEnd) {
        match end {
            TagEnd::Paragraph | TagEnd::HtmlBlock => self.sep(2),
            TagEnd::Heading(_) | TagEnd::BlockQuote(_) => {
                self.close();
                self.sep(2);
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.sep(if self.lists.is_empty() { 2 } else { 1 });
            }
            TagEnd::Item => {
                // An item that never got content: drop its marker instead of letting
                // it attach to whatever comes next.
                self.marker = None;
                self.sep(1);
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.close()
            }
            _ => {}
        }
    }

    fn item_start(&mut self) {
        if self.marker.is_some() {
            // The previous item's content starts with a nested list: keep its marker.
            self.flush();
        }
        self.sep(1);
        let indent = "  ".repeat(self.lists.len().saturating_sub(1));
        let bullet = match self.lists.last_mut() {
            Some(Some(n)) => {
                let b = format!("{n}. ");
                *n = n.saturating_add(1);
                b
            }
            _ => "• ".to_string(),
        };
        self.marker = Some(indent + &bullet);
    }

    fn push_inert(&mut self, kind: Kind) {
        self.frames.push(Frame {
            kind,
            close: None,
            href: String::new(),
            saved: self.save(),
            len_after_open: self.out.len(),
        });
    }

    fn save(&self) -> Saved {
        Saved {
            len: self.out.len(),
            pending_nl: self.pending_nl,
            marker: self.marker.clone(),
            in_flow: self.in_flow,
        }
    }

    fn open(&mut self, kind: Kind, open: String, close: &'static str, href: String) {
        // Telegram cannot nest blockquotes, and `<b><b>` is pointless: render the
        // inner element without tags.
        if self
            .frames
            .iter()
            .any(|f| f.kind == kind && f.close.is_some())
        {
            self.push_inert(kind);
            return;
        }
        let saved = self.save();
        self.content(&open);
        self.in_flow = kind != Kind::Quote;
        self.frames.push(Frame {
            kind,
            close: Some(close),
            href,
            saved,
            len_after_open: self.out.len(),
        });
    }

    fn close(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        let Some(close) = frame.close else {
            return;
        };
        if self.out.len() != frame.len_after_open {
            self.out.push_str(close);
        } else if frame.kind == Kind::Link {
            // `[](https://x)`: show the URL rather than an invisible link.
            self.out.push_str(&escape(&frame.href));
            self.out.push_str(close);
        } else {
            // Empty element: undo the opening tag and whatever flush() wrote for it.
            let s = frame.saved;
            self.out.truncate(s.len);
            self.pending_nl = self.pending_nl.max(s.pending_nl);
            self.marker = s.marker;
            self.in_flow = s.in_flow;
        }
    }

    fn code_event(&mut self, event: Event<'_>) {
        match event {
            Event::Text(s) => {
                if let Some(code) = self.code.as_mut() {
                    code.text.push_str(&s);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                let Some(code) = self.code.take() else {
                    return;
                };
                let body = code.text.trim_end();
                if !body.trim().is_empty() {
                    let html = match code.lang {
                        Some(lang) => format!(
                            "<pre><code class=\"language-{lang}\">{}</code></pre>",
                            escape(body)
                        ),
                        None => format!("<pre>{}</pre>", escape(body)),
                    };
                    self.content(&html);
                }
                self.sep(2);
            }
            _ => {}
        }
    }

    fn image_event(&mut self, event: Event<'_>) {
        let Some(img) = self.image.as_mut() else {
            return;
        };
        match event {
            Event::Start(Tag::Image { .. }) => img.depth += 1,
            Event::End(TagEnd::Image) if img.depth > 0 => img.depth -= 1,
            Event::End(TagEnd::Image) => {
                let Some(img) = self.image.take() else {
                    return;
                };
                let alt = img.alt.trim();
                self.text(alt);
                let in_link = self
                    .frames
                    .iter()
                    .any(|f| f.kind == Kind::Link && f.close.is_some());
                if url_allowed(&img.url) && !in_link {
                    if !alt.is_empty() {
                        self.text(" ");
                    }
                    let url = escape(&img.url);
                    self.content(&format!("<a href=\"{url}\">{url}</a>"));
                }
            }
            Event::Text(s)
            | Event::Code(s)
            | Event::Html(s)
            | Event::InlineHtml(s)
            | Event::InlineMath(s)
            | Event::DisplayMath(s) => img.alt.push_str(&s),
            Event::SoftBreak | Event::HardBreak => img.alt.push(' '),
            _ => {}
        }
    }

    fn table_event(&mut self, event: Event<'_>) {
        let Some(table) = self.table.as_mut() else {
            return;
        };
        match event {
            Event::End(TagEnd::Table) => {
                let Some(table) = self.table.take() else {
                    return;
                };
                let text = render_table(&table);
                if !text.trim().is_empty() {
                    self.sep(2);
                    self.content(&format!("<pre>{}</pre>", escape(&text)));
                }
                self.sep(2);
            }
            Event::Start(Tag::TableHead | Tag::TableRow) => table.rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => {
                if let Some(row) = table.rows.last_mut() {
                    row.push(String::new());
                }
            }
            // Cells are plain text: formatting cannot live inside <pre>.
            Event::Text(s)
            | Event::Code(s)
            | Event::Html(s)
            | Event::InlineHtml(s)
            | Event::InlineMath(s)
            | Event::DisplayMath(s) => {
                if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                    cell.push_str(&s);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                    cell.push(' ');
                }
            }
            _ => {}
        }
    }
}

/// Lay a table out as aligned monospace text, with a rule under the header row.
fn render_table(table: &TableBuf) -> String {
    let columns = table
        .rows
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(table.aligns.len());
    let cell = |row: &[String], c: usize| row.get(c).map_or("", |s| s.trim()).to_string();
    let mut widths = vec![1; columns];
    for row in &table.rows {
        for (c, w) in widths.iter_mut().enumerate() {
            *w = (*w).max(cell(row, c).chars().count());
        }
    }
    let mut lines = Vec::with_capacity(table.rows.len() + 1);
    for (r, row) in table.rows.iter().enumerate() {
        let padded: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(c, &w)| {
                let text = cell(row, c);
                let gap = w.saturating_sub(text.chars().count());
                let (left, right) = match table.aligns.get(c) {
                    Some(Alignment::Right) => (gap, 0),
                    Some(Alignment::Center) => (gap / 2, gap - gap / 2),
                    _ => (0, gap),
                };
                format!("{}{text}{}", " ".repeat(left), " ".repeat(right))
            })
            .collect();
        lines.push(padded.join(" | ").trim_end().to_string());
        if r == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            lines.push(rule.join("-+-"));
        }
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------
// HTML tokenizer (shared by html_to_plain and split_html)
// ---------------------------------------------------------------------------

/// One lexical piece of Telegram HTML. Text is decoded to single chars so that a split
/// can never land inside an entity or a surrogate pair.
enum Tok<'a> {
    Text(char),
    Open {
        name: &'a str,
        raw: &'a str,
    },
    Close {
        name: &'a str,
    },
    /// `<br/>` and the like: Telegram has no such tags; they carry no text.
    SelfClosing,
}

fn tokenize(html: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<') {
            if let Some((tok, len)) = parse_tag(rest) {
                toks.push(tok);
                i += len;
                continue;
            }
        } else if rest.starts_with('&') {
            if let Some((c, len)) = parse_entity(rest) {
                toks.push(Tok::Text(c));
                i += len;
                continue;
            }
        }
        // Plain character (including a '<' or '&' that starts no tag or entity).
        let Some(c) = rest.chars().next() else { break };
        toks.push(Tok::Text(c));
        i += c.len_utf8();
    }
    toks
}

/// Parse `<name ...>` or `</name>` at the start of `s`; `None` if it is not a tag.
fn parse_tag(s: &str) -> Option<(Tok<'_>, usize)> {
    let body = s.strip_prefix('<')?;
    let (closing, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let name_len = body
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || c == '-'))))
        .map_or(body.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &body[..name_len];
    match body[name_len..].chars().next() {
        Some('>' | '/') => {}
        Some(c) if c.is_ascii_whitespace() => {}
        _ => return None,
    }
    // Find the closing '>' outside quoted attribute values.
    let offset = s.len() - body.len() + name_len;
    let mut quote = None;
    for (i, c) in s[offset..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => {
                let end = offset + i + 1;
                let raw = &s[..end];
                let tok = if closing {
                    Tok::Close { name }
                } else if raw.ends_with("/>") {
                    Tok::SelfClosing
                } else {
                    Tok::Open { name, raw }
                };
                return Some((tok, end));
            }
            _ => {}
        }
    }
    None
}

/// Decode `&amp; &lt; &gt; &quot;` and numeric entities at the start of `s` — the
/// entities Telegram understands. Anything else is not an entity.
fn parse_entity(s: &str) -> Option<(char, usize)> {
    // The longest meaningful entity is short; bounding the search keeps this O(1).
    let semi = s.bytes().take(32).position(|b| b == b';')?;
    let body = &s[1..semi];
    let c = match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        _ => {
            let num = body.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => {
                    num.parse().ok()?
                }
                _ => return None,
            };
            if code == 0 {
                return None;
            }
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

/// Remove tags and decode entities: the text Telegram would display, for a plain-text resend.
pub fn html_to_plain(html: &str) -> String {
    tokenize(html)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Text(c) => Some(c),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------

/// Do `a` and `b` belong to one visible glyph, so that a hard split between them
/// should be avoided (ZWJ sequences, variation selectors, skin tones, combining marks)?
fn is_glued(a: char, b: char) -> bool {
    a == '\u{200D}'
        || matches!(b,
            '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}'
            | '\u{0300}'..='\u{036F}' | '\u{20D0}'..='\u{20FF}' | '\u{E0020}'..='\u{E007F}')
}

/// Split plain text into chunks of <= limit UTF-16 code units, preferring newline, then space boundaries; never splits a char or a surrogate pair.
pub fn split_plain(text: &str, limit: usize) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    if utf16_len(text) <= limit {
        return vec![text.to_string()];
    }
    let limit = limit.max(MIN_PLAIN_LIMIT);
    let half = limit / 2;
    let chars: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        // A chunk never starts with line breaks: the split already acts as one.
        while pos < chars.len() && matches!(chars[pos], '\n' | '\r') {
            pos += 1;
        }
        let mut units = 0;
        let mut end = pos;
        let (mut newline, mut space, mut hard) = (None, None, None);
        while end < chars.len() {
            let c = chars[end];
            if units + c.len_utf16() > limit {
                break;
            }
            units += c.len_utf16();
            end += 1;
            if units >= half {
                match c {
                    '\n' => newline = Some(end - 1),
                    ' ' | '\t' => space = Some(end - 1),
                    _ => {}
                }
            }
            if chars.get(end).is_some_and(|&next| !is_glued(c, next)) {
                hard = Some(end);
            }
        }
        // (end of chunk text, where the next chunk starts)
        let (cut, next) = if end >= chars.len() {
            (end, end)
        } else if let Some(i) = newline.or(space) {
            (i, i + 1) // the separator itself is dropped
        } else {
            let h = hard.unwrap_or(end);
            (h, h)
        };
        let chunk: String = chars[pos..cut].iter().collect();
        let chunk = chunk.trim_end();
        if !chunk.is_empty() {
            chunks.push(chunk.to_string());
        }
        pos = next.max(pos + 1);
    }
    chunks
}

/// A token of well-formed HTML: every `Close` closes the innermost open element.
enum Item<'a> {
    Text(char),
    Open {
        raw: &'a str,
        close: String,
        /// UTF-16 length of `raw` plus that of `close`: the price of the element.
        cost: usize,
    },
    Close,
}

/// How long `c` is once written back out (`&`, `<`, `>` must be escaped).
fn atom_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        c => c.len_utf16(),
    }
}

fn push_atom(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Turn tokens into a balanced sequence: a stray closing tag is dropped, a closing
/// tag that skips open elements closes them too, unclosed elements close at the end.
fn balance<'a>(toks: Vec<Tok<'a>>) -> Vec<Item<'a>> {
    let mut items = Vec::with_capacity(toks.len());
    let mut open: Vec<&str> = Vec::new();
    for tok in toks {
        match tok {
            Tok::Text(c) => items.push(Item::Text(c)),
            Tok::Open { name, raw } => {
                let close = format!("</{name}>");
                let cost = utf16_len(raw) + close.len();
                open.push(name);
                items.push(Item::Open { raw, close, cost });
            }
            Tok::Close { name } => {
                if let Some(at) = open.iter().rposition(|n| n.eq_ignore_ascii_case(name)) {
                    items.extend((at..open.len()).map(|_| Item::Close));
                    open.truncate(at);
                }
            }
            Tok::SelfClosing => {}
        }
    }
    items.extend(open.iter().map(|_| Item::Close));
    items
}

/// An element open at the current position of the split.
struct OpenFrame {
    /// Index of its `Item::Open`.
    item: usize,
    /// Whether its tags are written in the current chunk. Elements whose tags do not
    /// fit (very long href, very deep nesting) are rendered without them.
    active: bool,
}

/// Split Telegram HTML into chunks whose length (in UTF-16 code units of the HTML source) is <= limit.
///
/// Each chunk is well-formed: elements open at a split are closed at the end of the
/// chunk and re-opened (with their original attributes) at the start of the next one.
/// Limits below 5 (the longest escaped character, `&amp;`) are treated as 5. When the
/// input has to be split, text is re-serialized with minimal escaping (`&quot;` → `"`,
/// numeric entities → the character, stray `&`/`<`/`>` escaped), and malformed
/// markup is balanced; the displayed text stays the same.
pub fn split_html(html: &str, limit: usize) -> Vec<String> {
    if html_to_plain(html).trim().is_empty() {
        return Vec::new();
    }
    if utf16_len(html) <= limit {
        return vec![html.to_string()];
    }
    let limit = limit.max(MAX_ATOM_LEN);
    let half = limit / 2;
    let items = balance(tokenize(html));
    let n = items.len();
    // Items that are not written at all: leading line breaks of a chunk, and the
    // opening tags of elements that cannot fit where they start.
    let mut skip = vec![false; n];
    let mut frames: Vec<OpenFrame> = Vec::new();
    let mut chunks = Vec::new();
    let mut pos = 0;

    while pos < n {
        // 1. Re-open the elements still open here, outermost first, as long as
        //    their tags leave room for at least one character.
        let mut cost = 0;
        for frame in &mut frames {
            let need = match &items[frame.item] {
                Item::Open { cost, .. } => *cost,
                _ => 0,
            };
            frame.active = cost + need + MAX_ATOM_LEN <= limit;
            if frame.active {
                cost += need;
            }
        }

        // 2. Scan forward while the chunk fits. `cost` is what the chunk would be if
        //    cut right here, closing tags included; it never decreases (a closing
        //    tag moves from "to close" to "written"), so the first overflow ends it.
        //    Cut candidates are just after a text character (plus any closing tags
        //    following it, so no element is left empty on either side).
        let mut has_text = false;
        let (mut newline, mut space, mut hard, mut any) = (None, None, None, None);
        let mut j = pos;
        while j < n {
            match &items[j] {
                Item::Text(c) => {
                    if !has_text && *c == '\n' {
                        skip[j] = true;
                        j += 1;
                        continue;
                    }
                    let len = atom_len(*c);
                    if cost + len > limit {
                        break;
                    }
                    cost += len;
                    has_text = true;
                    if cost >= half {
                        match c {
                            '\n' => newline = Some(j),
                            ' ' | '\t' => space = Some(j),
                            _ => {}
                        }
                    }
                    let glued =
                        matches!(items.get(j + 1), Some(Item::Text(next)) if is_glued(*c, *next));
                    if !glued {
                        hard = Some(j);
                    }
                    any = Some(j);
                }
                Item::Open { cost: need, .. } => {
                    if has_text {
                        if cost + need > limit {
                            break;
                        }
                        cost += need;
                    } else if cost + need + MAX_ATOM_LEN <= limit {
                        cost += need;
                    } else {
                        // Cannot fit with even one character inside: drop the tags.
                        skip[j] = true;
                    }
                }
                Item::Close => {}
            }
            j += 1;
        }

        // 3. Choose the cut: newline, then space (both in the second half), then
        //    between two glyphs, then between any two characters.
        let past_closes = |mut k: usize| {
            while k < n && matches!(items[k], Item::Close) {
                k += 1;
            }
            k
        };
        let (cut, dropped_sep) = if j >= n {
            (n, None)
        } else if let Some(k) = newline.or(space) {
            (past_closes(k + 1), Some(k))
        } else if let Some(k) = hard.or(any) {
            (past_closes(k + 1), None)
        } else {
            // Unreachable by construction (a chunk always has room for one atom);
            // still make progress without ever exceeding the limit.
            if j == pos {
                skip[pos] = true;
            }
            (j.max(pos + 1), None)
        };

        // A split inside a blank-line run would leave the chunk ending in whitespace:
        // drop the whitespace right before the separator as well.
        if let Some(k) = dropped_sep {
            let mut t = k;
            while t > pos && matches!(items[t - 1], Item::Text(c) if c.is_whitespace()) {
                skip[t - 1] = true;
                t -= 1;
            }
        }

        // 4. Write the chunk.
        let mut out = String::new();
        let mut visible = false;
        for frame in frames.iter().filter(|f| f.active) {
            if let Item::Open { raw, .. } = &items[frame.item] {
                out.push_str(raw);
            }
        }
        for (k, item) in items.iter().enumerate().take(cut).skip(pos) {
            match item {
                Item::Text(c) => {
                    if !skip[k] && dropped_sep != Some(k) {
                        push_atom(&mut out, *c);
                        visible |= !c.is_whitespace();
                    }
                }
                Item::Open { raw, .. } => {
                    let active = !skip[k];
                    if active {
                        out.push_str(raw);
                    }
                    frames.push(OpenFrame { item: k, active });
                }
                Item::Close => {
                    if let Some(frame) = frames.pop() {
                        if let (true, Item::Open { close, .. }) = (frame.active, &items[frame.item])
                        {
                            out.push_str(close);
                        }
                    }
                }
            }
        }
        for frame in frames.iter().rev().filter(|f| f.active) {
            if let Item::Open { close, .. } = &items[frame.item] {
                out.push_str(close);
            }
        }
        if visible {
            chunks.push(out);
        }
        pos = cut;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- helpers ------------------------------------------------------------

    const ALLOWED_TAGS: [&str; 9] = [
        "b",
        "i",
        "u",
        "s",
        "code",
        "pre",
        "a",
        "blockquote",
        "tg-spoiler",
    ];

    /// Independent validator of Telegram HTML as this module must produce it: only the
    /// allowed tags with the allowed attributes, properly nested, nothing inside
    /// `<code>`, only `<code>` inside `<pre>`, no nested blockquotes, no raw `<`/`>`,
    /// and `&` only in the entities Telegram knows.
    fn validate(html: &str) -> Result<(), String> {
        let mut stack: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < html.len() {
            let rest = &html[i..];
            if rest.starts_with('<') {
                let end = rest
                    .find('>')
                    .ok_or_else(|| format!("unterminated tag at {i}"))?;
                let inner = &rest[1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let top = stack.pop().ok_or_else(|| format!("stray </{name}>"))?;
                    if top != name {
                        return Err(format!("</{name}> closes <{top}>"));
                    }
                } else {
                    let (name, attrs) = inner.split_once(' ').unwrap_or((inner, ""));
                    if !ALLOWED_TAGS.contains(&name) {
                        return Err(format!("tag <{name}> not allowed"));
                    }
                    match name {
                        "a" => {
                            let value = attrs
                                .strip_prefix("href=\"")
                                .and_then(|v| v.strip_suffix('"'))
                                .ok_or_else(|| format!("bad <a> attributes: {attrs}"))?;
                            if value.contains(['"', '<', '>']) {
                                return Err(format!("bad href {value}"));
                            }
                            check_entities(value)?;
                        }
                        "code" if !attrs.is_empty() => {
                            let lang = attrs
                                .strip_prefix("class=\"language-")
                                .and_then(|v| v.strip_suffix('"'))
                                .ok_or_else(|| format!("bad <code> attributes: {attrs}"))?;
                            if lang.is_empty()
                                || !lang
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                            {
                                return Err(format!("bad language {lang}"));
                            }
                        }
                        _ if !attrs.is_empty() => {
                            return Err(format!("unexpected attributes on <{name}>"))
                        }
                        _ => {}
                    }
                    match stack.last() {
                        Some(&"code") => return Err(format!("<{name}> inside <code>")),
                        Some(&"pre") if name != "code" => {
                            return Err(format!("<{name}> inside <pre>"))
                        }
                        _ => {}
                    }
                    if name == "blockquote" && stack.contains(&"blockquote") {
                        return Err("nested blockquote".into());
                    }
                    if name == "pre" && stack.iter().any(|t| *t != "blockquote") {
                        return Err("<pre> inside inline formatting".into());
                    }
                    stack.push(name);
                }
                i += end + 1;
            } else if rest.starts_with('>') {
                return Err(format!("raw > at {i}"));
            } else if rest.starts_with('&') {
                let semi = rest.find(';').ok_or("bare &")?;
                check_entities(&rest[..=semi])?;
                i += semi + 1;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        match stack.last() {
            Some(open) => Err(format!("unclosed <{open}>")),
            None => Ok(()),
        }
    }

    fn check_entities(s: &str) -> Result<(), String> {
        let mut rest = s;
        while let Some(at) = rest.find('&') {
            let semi = rest[at..].find(';').ok_or("bare &")? + at;
            let ent = &rest[at + 1..semi];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot")
                || ent
                    .strip_prefix('#')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!("bad entity &{ent};"));
            }
            rest = &rest[semi + 1..];
        }
        Ok(())
    }

    fn md(s: &str) -> String {
        let html = markdown_to_html(s);
        if let Err(e) = validate(&html) {
            panic!("invalid HTML ({e}) for {s:?}:\n{html}");
        }
        assert_eq!(html.trim(), html, "leading/trailing whitespace");
        for tag in ALLOWED_TAGS {
            assert!(
                !html.contains(&format!("<{tag}></{tag}>")),
                "empty tag: {html}"
            );
        }
        html
    }

    /// Check everything `split_html` promises for one input.
    fn check_split(html: &str, limit: usize) -> Vec<String> {
        let chunks = split_html(html, limit);
        for chunk in &chunks {
            let len = chunk.encode_utf16().count();
            assert!(
                len <= limit,
                "chunk of {len} > {limit}: {chunk:?}\ninput: {html:?}"
            );
            if let Err(e) = validate(chunk) {
                panic!("chunk invalid ({e}): {chunk:?}\ninput: {html:?} limit {limit}");
            }
            assert!(
                !html_to_plain(chunk).trim().is_empty(),
                "blank chunk {chunk:?}"
            );
        }
        assert_text_preserved(html, &chunks, limit);
        chunks
    }

    /// The displayed text survives splitting, except for whitespace at the split points.
    fn assert_text_preserved(html: &str, chunks: &[String], limit: usize) {
        let expected = html_to_plain(html);
        let mut rest = expected.as_str();
        for chunk in chunks {
            let plain = html_to_plain(chunk);
            let plain = plain.trim();
            rest = rest.trim_start();
            assert!(
                rest.starts_with(plain),
                "text lost or altered at chunk {plain:?}\nremaining: {rest:?}\ninput: {html:?} limit {limit}"
            );
            rest = &rest[plain.len()..];
        }
        assert!(rest.trim().is_empty(), "text dropped: {rest:?}");
    }

    use crate::test_rng::Rng;

    const WORDS: [&str; 18] = [
        "hello",
        "world",
        "a",
        "&",
        "<tag>",
        "x>y",
        "\"quoted\"",
        "😀",
        "👨‍👩‍👧",
        "🇩🇪",
        "漢字かな",
        "Привет",
        "e\u{301}",
        "supercalifragilisticexpialidocious",
        "𝄞𝄞𝄞",
        "\n",
        "\n\n",
        "  ",
    ];

    fn random_text(rng: &mut Rng) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(12) {
            if rng.below(40) == 0 {
                s.push_str(&"w".repeat(rng.below(400)));
            } else {
                s.push_str(rng.pick(&WORDS));
            }
            s.push(' ');
        }
        escape(&s)
    }

    /// Random well-formed Telegram HTML, like markdown_to_html could produce.
    fn random_html(rng: &mut Rng, depth: usize) -> String {
        let mut s = String::new();
        for _ in 0..1 + rng.below(4) {
            match rng.below(if depth > 4 { 1 } else { 9 }) {
                0..=2 => s.push_str(&random_text(rng)),
                3 => {
                    let tag = rng.pick(&["b", "i", "u", "s", "tg-spoiler"]);
                    let inner = random_html(rng, depth + 1);
                    s.push_str(&format!("<{tag}>{inner}</{tag}>"));
                }
                4 => {
                    let href = if rng.below(8) == 0 {
                        format!("https://example.com/{}", "p".repeat(rng.below(300)))
                    } else {
                        "https://example.com/?a=1&b=\"2\"".to_string()
                    };
                    let label = random_text(rng) + "label";
                    s.push_str(&format!("<a href=\"{}\">{label}</a>", escape(&href)));
                }
                5 => s.push_str(&format!("<code>{}x</code>", random_text(rng))),
                6 if depth == 0 => {
                    let open = if rng.below(2) == 0 {
                        "<pre><code class=\"language-rust\">"
                    } else {
                        "<pre><code>"
                    };
                    let close = "</code></pre>";
                    s.push_str(&format!("{open}{}fn{close}", random_text(rng)));
                }
                7 if depth == 0 => {
                    let inner = random_html(rng, depth + 1)
                        .replace("<pre>", "")
                        .replace("</pre>", "");
                    s.push_str(&format!("<blockquote>{inner}q</blockquote>"));
                }
                _ => s.push_str(&format!("<b>{}</b>", random_html(rng, depth + 1))),
            }
        }
        s
    }

    // -- escape ---------------------------------------------------------------

    #[test]
    fn escape_script_and_ampersand() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a & b"), "a &amp; b");
        assert_eq!(escape("say \"hi\""), "say &quot;hi&quot;");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("plain ünïcödé 😀"), "plain ünïcödé 😀");
    }

    // -- markdown_to_html -------------------------------------------------------

    #[test]
    fn text_is_escaped() {
        assert_eq!(md("a & b < c > d"), "a &amp; b &lt; c &gt; d");
        assert_eq!(md("AT&amp;T"), "AT&amp;T");
        assert_eq!(md("1 < 2 && 3 > 2"), "1 &lt; 2 &amp;&amp; 3 &gt; 2");
    }

    #[test]
    fn inline_formatting() {
        assert_eq!(md("*it* and _it_"), "<i>it</i> and <i>it</i>");
        assert_eq!(md("**bold** __bold__"), "<b>bold</b> <b>bold</b>");
        assert_eq!(md("~~gone~~"), "<s>gone</s>");
        assert_eq!(md("***both***"), "<i><b>both</b></i>");
        assert_eq!(md("`a<b>&c`"), "<code>a&lt;b&gt;&amp;c</code>");
        assert_eq!(
            md("**bold `code` bold**"),
            "<b>bold <code>code</code> bold</b>"
        );
    }

    #[test]
    fn nested_same_formatting_is_not_duplicated() {
        assert_eq!(md("**a __b__ c**"), "<b>a b c</b>");
        assert_eq!(md("# Title with **bold**"), "<b>Title with bold</b>");
    }

    #[test]
    fn links() {
        assert_eq!(
            md("[site](https://example.com/a?b=1&c=2)"),
            "<a href=\"https://example.com/a?b=1&amp;c=2\">site</a>"
        );
        assert_eq!(
            md("<https://example.com>"),
            "<a href=\"https://example.com\">https://example.com</a>"
        );
        assert_eq!(
            md("<me@example.com>"),
            "<a href=\"mailto:me@example.com\">me@example.com</a>"
        );
        assert_eq!(
            md("[chat](tg://resolve?domain=x)"),
            "<a href=\"tg://resolve?domain=x\">chat</a>"
        );
        assert_eq!(
            md("[**bold** link](http://x.y)"),
            "<a href=\"http://x.y\"><b>bold</b> link</a>"
        );
    }

    #[test]
    fn quotes_in_href_are_escaped() {
        let html = md("[x](<https://e.com/a\"onclick=\"alert(1)>)");
        assert_eq!(
            html,
            "<a href=\"https://e.com/a&quot;onclick=&quot;alert(1)\">x</a>"
        );
    }

    #[test]
    fn dangerous_or_relative_links_are_plain_text() {
        assert_eq!(md("[click](javascript:alert(1))"), "click");
        assert_eq!(md("[click](JavaScript:alert(1))"), "click");
        assert_eq!(md("[click](jav&#x61;script:alert(1))"), "click");
        assert_eq!(md("[d](data:text/html,<script>)"), "d");
        assert_eq!(md("[rel](/etc/passwd)"), "rel");
        assert_eq!(md("[**b**](vbscript:x)"), "<b>b</b>");
        assert!(!md("[x](javascript:alert(1))").contains("href"));
    }

    #[test]
    fn spaces_in_link_destination_are_encoded() {
        assert_eq!(
            md("[x](<https://e.com/a b>)"),
            "<a href=\"https://e.com/a%20b\">x</a>"
        );
    }

    #[test]
    fn empty_link_label_shows_url() {
        assert_eq!(
            md("[](https://x.io)"),
            "<a href=\"https://x.io\">https://x.io</a>"
        );
    }

    #[test]
    fn code_blocks() {
        assert_eq!(
            md("```rust\nfn main() { let a = 1 < 2; }\n```"),
            "<pre><code class=\"language-rust\">fn main() { let a = 1 &lt; 2; }</code></pre>"
        );
        assert_eq!(
            md("```\nplain <code>\n```"),
            "<pre>plain &lt;code&gt;</pre>"
        );
        assert_eq!(md("    indented\n    code"), "<pre>indented\ncode</pre>");
        assert_eq!(
            md("```c++ extra words\nx\n```"),
            "<pre><code class=\"language-c++\">x</code></pre>"
        );
        assert_eq!(
            md("```\"><script>\nx\n```"),
            "<pre><code class=\"language-script\">x</code></pre>"
        );
        assert_eq!(md("```%%%\nx\n```"), "<pre>x</pre>");
        assert_eq!(
            md("```rust,ignore\nx\n```"),
            "<pre><code class=\"language-rust\">x</code></pre>"
        );
        // Blank lines and indentation inside code survive.
        assert_eq!(md("```\n  a\n\n  b\n```"), "<pre>  a\n\n  b</pre>");
        // Empty code block produces nothing rather than an empty tag.
        assert_eq!(md("```rust\n```"), "");
        assert_eq!(md("before\n\n```\n```\n\nafter"), "before\n\nafter");
    }

    #[test]
    fn headings_and_paragraphs() {
        assert_eq!(
            md("# Title\nText one\ncontinues.\n\n## Sub\n\nPara two."),
            "<b>Title</b>\n\nText one\ncontinues.\n\n<b>Sub</b>\n\nPara two."
        );
        assert_eq!(md("#\n\ntext"), "text");
    }

    #[test]
    fn lists() {
        assert_eq!(md("- a\n- b\n- c"), "• a\n• b\n• c");
        assert_eq!(md("1. one\n2. two"), "1. one\n2. two");
        assert_eq!(md("3. three\n4. four"), "3. three\n4. four");
        assert_eq!(
            md("- a\n  - b\n    1. c\n    2. d\n- e"),
            "• a\n  • b\n    1. c\n    2. d\n• e"
        );
        assert_eq!(
            md("Intro:\n\n- x\n- y\n\nOutro"),
            "Intro:\n\n• x\n• y\n\nOutro"
        );
        assert_eq!(md("- a\n\n- b"), "• a\n\n• b");
        assert_eq!(md("- **bold** item"), "• <b>bold</b> item");
    }

    #[test]
    fn blockquotes() {
        assert_eq!(
            md("> quoted\n> text"),
            "<blockquote>quoted\ntext</blockquote>"
        );
        assert_eq!(
            md("para\n\n> one\n>\n> two\n\nafter"),
            "para\n\n<blockquote>one\n\ntwo</blockquote>\n\nafter"
        );
        // Telegram cannot nest blockquotes.
        assert_eq!(
            md("> outer\n>> inner"),
            "<blockquote>outer\n\ninner</blockquote>"
        );
        assert_eq!(md(">\n\ntext"), "text");
        assert_eq!(md("> - a\n> - b"), "<blockquote>• a\n• b</blockquote>");
    }

    #[test]
    fn rule_and_breaks() {
        assert_eq!(md("above\n\n---\n\nbelow"), "above\n\n———\n\nbelow");
        assert_eq!(md("line one  \nline two"), "line one\nline two");
        assert_eq!(md("line one\\\nline two"), "line one\nline two");
    }

    #[test]
    fn tables_become_preformatted_text() {
        let html = md("| Name | Qty |\n|:-----|----:|\n| apple | 3 |\n| kiwi & <b> | 12 |");
        assert_eq!(
            html,
            "<pre>Name       | Qty\n-----------+----\napple      |   3\nkiwi &amp; &lt;b&gt; |  12</pre>"
        );
        // Formatting is stripped inside cells; centred column; missing cell.
        let html = md("| **name** | `b` | [c](https://c.d) |\n|:-:|---|---|\n| x | | zz |\n| y |");
        assert_eq!(
            html,
            "<pre>name | b | c\n-----+---+---\n x   |   | zz\n y   |   |</pre>"
        );
    }

    #[test]
    fn images() {
        assert_eq!(
            md("![a diagram](https://x.io/d.png)"),
            "a diagram <a href=\"https://x.io/d.png\">https://x.io/d.png</a>"
        );
        assert_eq!(md("![evil](javascript:alert(1))"), "evil");
        assert_eq!(
            md("![](https://x.io/i.png)"),
            "<a href=\"https://x.io/i.png\">https://x.io/i.png</a>"
        );
        assert_eq!(
            md("[![logo](https://i.io/l.png)](https://site.io)"),
            "<a href=\"https://site.io\">logo</a>"
        );
    }

    #[test]
    fn raw_html_is_escaped_never_passed_through() {
        assert_eq!(
            md("hi <b onclick=\"x\">there</b>"),
            "hi &lt;b onclick=&quot;x&quot;&gt;there&lt;/b&gt;"
        );
        assert_eq!(
            md("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            md("<div>\n<b>x</b>\n</div>\n\nafter"),
            "&lt;div&gt;\n&lt;b&gt;x&lt;/b&gt;\n&lt;/div&gt;\n\nafter"
        );
        assert_eq!(md("<!-- hidden -->"), "&lt;!-- hidden --&gt;");
    }

    #[test]
    fn no_empty_tags_and_no_outer_whitespace() {
        assert_eq!(md(""), "");
        assert_eq!(md("   \n\n  "), "");
        assert_eq!(md("\n\n# \n\n"), "");
        assert_eq!(md("text\n\n\n\n"), "text");
        assert_eq!(md("- \n- b"), "• b");
    }

    #[test]
    fn mixed_document_is_valid() {
        let doc = "# Plan\n\nI'll do **three** things:\n\n1. Read `src/main.rs`\n2. Fix the *bug* in [the parser](https://github.com/x/y)\n   - edge case: `a < b`\n3. Run ~~tests~~ checks\n\n> Note: this is <important> & urgent\n\n```bash\ncargo test -- --nocapture 2>&1 | grep \"FAIL\"\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n---\n\nDone.";
        let html = md(doc);
        assert!(html.starts_with("<b>Plan</b>\n\nI'll do <b>three</b> things:"));
        assert!(html.contains("<pre><code class=\"language-bash\">"));
        assert!(html.ends_with("———\n\nDone."));
    }

    #[test]
    fn markdown_fuzz_always_valid() {
        let pieces = [
            "**",
            "*",
            "_",
            "~~",
            "`",
            "```",
            "\n",
            "\n\n",
            "# ",
            "- ",
            "1. ",
            "> ",
            "[",
            "](",
            ")",
            "https://a.b",
            "javascript:x",
            "<b>",
            "</i>",
            "&",
            "|",
            "---",
            "![",
            "text",
            "  ",
            "😀",
            "\\",
            "<",
            ">",
            "\"",
            "    ",
        ];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..rng.below(30) {
                s.push_str(rng.pick(&pieces));
            }
            md(&s);
        }
    }

    // -- html_to_plain ---------------------------------------------------------

    #[test]
    fn plain_text_decodes_entities_and_strips_tags() {
        assert_eq!(
            html_to_plain("<b>a &amp; b</b> &lt;x&gt; &quot;q&quot; &#65;&#x1F600;"),
            "a & b <x> \"q\" A😀"
        );
        assert_eq!(
            html_to_plain("<a href=\"https://x?a=1&amp;b=>2\">link</a>"),
            "link"
        );
        assert_eq!(
            html_to_plain("<pre><code class=\"language-rust\">x</code></pre>"),
            "x"
        );
        // Not tags / not entities: kept literally.
        assert_eq!(
            html_to_plain("1 < 2 & 3 &bogus; &#xD800; < b"),
            "1 < 2 & 3 &bogus; &#xD800; < b"
        );
        assert_eq!(html_to_plain(&markdown_to_html("**a** < `b`")), "a < b");
    }

    // -- split_plain -----------------------------------------------------------

    fn check_plain(text: &str, limit: usize) -> Vec<String> {
        let chunks = split_plain(text, limit);
        let mut rest = text;
        for c in &chunks {
            assert!(c.encode_utf16().count() <= limit, "{c:?} > {limit}");
            assert!(!c.trim().is_empty());
            rest = rest.trim_start();
            let c = c.trim();
            assert!(rest.starts_with(c), "lost text at {c:?}");
            rest = &rest[c.len()..];
        }
        assert!(rest.trim().is_empty());
        chunks
    }

    #[test]
    fn split_plain_basics() {
        assert!(split_plain("", 10).is_empty());
        assert!(split_plain(" \n ", 10).is_empty());
        assert_eq!(split_plain("short", 10), vec!["short"]);
        assert_eq!(
            check_plain("line one\nline two\nline three", 20),
            vec!["line one\nline two", "line three"]
        );
        assert_eq!(
            check_plain("alpha beta gamma delta", 12),
            vec!["alpha beta", "gamma delta"]
        );
        assert_eq!(check_plain(&"x".repeat(25), 10).len(), 3);
    }

    #[test]
    fn split_plain_surrogates_and_cjk() {
        let text = "😀".repeat(50);
        let chunks = check_plain(&text, 7);
        assert_eq!(chunks.len(), 17);
        assert!(chunks[..16].iter().all(|c| c.encode_utf16().count() == 6));
        let chunks = check_plain(&"漢字".repeat(100), 33);
        assert!(chunks.iter().all(|c| c.chars().count() <= 33));
        let mut rng = Rng(7);
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..rng.below(80) {
                s.push_str(rng.pick(&WORDS));
            }
            let limit = 2 + rng.below(60);
            check_plain(&s, limit);
        }
    }

    #[test]
    fn split_plain_keeps_emoji_sequences_together_when_possible() {
        let family = "👨‍👩‍👧"; // 8 UTF-16 units
        let chunks = check_plain(&family.repeat(5), 20);
        assert!(
            chunks.iter().all(|c| c.len() % family.len() == 0),
            "{chunks:?}"
        );
    }

    // -- split_html ------------------------------------------------------------

    #[test]
    fn split_html_trivial_cases() {
        assert!(split_html("", 100).is_empty());
        assert!(split_html("  \n", 100).is_empty());
        assert!(split_html("<b></b>", 100).is_empty());
        let html = "<b>fits</b> &quot;as is&quot;";
        assert_eq!(split_html(html, 100), vec![html]);
        assert_eq!(split_html(html, html.len()), vec![html]);
    }

    #[test]
    fn split_html_prefers_newlines_then_spaces() {
        let html = "first line here\nsecond line here\nthird";
        assert_eq!(
            check_split(html, 35),
            vec!["first line here\nsecond line here", "third"]
        );
        let html = "aaaa bbbb cccc dddd eeee";
        assert_eq!(
            check_split(html, 12),
            vec!["aaaa bbbb", "cccc dddd", "eeee"]
        );
        // A newline too early (before half the limit) loses to a later space.
        let html = "ab\ncccc dddd eeee ffff";
        assert_eq!(check_split(html, 16)[0], "ab\ncccc dddd");
    }

    #[test]
    fn split_html_reopens_tags_with_attributes() {
        let html = format!(
            "<a href=\"https://e.com/?a=1&amp;b=2\">{}</a>",
            "word ".repeat(30)
        );
        let chunks = check_split(&html, 80);
        assert!(chunks.len() > 2);
        for c in &chunks {
            assert!(
                c.starts_with("<a href=\"https://e.com/?a=1&amp;b=2\">"),
                "{c}"
            );
            assert!(c.ends_with("</a>"), "{c}");
        }
        let html = format!(
            "<pre><code class=\"language-rust\">{}</code></pre>",
            "let x = a &lt; b;\n".repeat(20)
        );
        for c in check_split(&html, 120) {
            assert!(
                c.starts_with("<pre><code class=\"language-rust\">let x"),
                "{c}"
            );
            assert!(c.ends_with("</code></pre>"), "{c}");
        }
    }

    #[test]
    fn split_html_never_cuts_entities() {
        let html = "&amp;&lt;&gt;&quot;".repeat(50);
        for limit in 5..40 {
            for c in check_split(&html, limit) {
                assert!(!c.ends_with('&') && !c.starts_with(';'));
            }
        }
    }

    #[test]
    fn split_html_surrogate_pairs_at_boundaries() {
        for limit in 20..40 {
            let html = format!("<b>{}</b>", "😀𝄞漢".repeat(40));
            check_split(&html, limit);
            let html = format!("x{}", "😀".repeat(100));
            check_split(&html, limit);
        }
        let chunks = check_split(&"😀".repeat(30), 21);
        assert!(chunks.iter().all(|c| c.encode_utf16().count() == 20));
    }

    #[test]
    fn split_html_single_huge_word() {
        let html = format!("<i>{}</i>", "x".repeat(10_000));
        let chunks = check_split(&html, 64);
        assert_eq!(chunks.concat().matches('x').count(), 10_000);
        let chunks = check_split(&"y".repeat(10_000), TELEGRAM_MAX_MESSAGE_LEN);
        assert_eq!(chunks.len(), 3);
    }

    #[test]
    fn split_html_very_long_href_degrades_to_plain_label() {
        let url = format!("https://example.com/{}", "p".repeat(5000));
        let html = format!("see <a href=\"{url}\">the long link</a> and more text after it");
        let chunks = check_split(&html, 100);
        assert!(chunks.iter().all(|c| !c.contains("<a ")));
        assert!(chunks.concat().contains("the long link"));
    }

    #[test]
    fn split_html_deep_nesting_degrades() {
        let depth = 60;
        let html = format!(
            "{}{}{}",
            "<b><i>".repeat(depth),
            "deep text ".repeat(50),
            "</i></b>".repeat(depth)
        );
        for limit in [20, 64, 100, 300] {
            check_split(&html, limit);
        }
    }

    #[test]
    fn split_html_balances_malformed_input() {
        for html in [
            "<b>unclosed bold and lots of text after it, really a lot of text",
            "stray </i> close tag <b>and <i>misnested</b> tags</i> plus padding text here",
            "a < b & c > d with &bogus; entity and &#128512; and more and more text",
            "<br/> void <unknown attr='x>y'>tag</unknown> keeps going and going",
        ] {
            for limit in [20, 30, 45] {
                let chunks = split_html(html, limit);
                for c in &chunks {
                    assert!(c.encode_utf16().count() <= limit);
                    // Balanced (unknown tags aside) and escaped.
                    let known = c
                        .replace("<unknown attr='x>y'>", "<b>")
                        .replace("</unknown>", "</b>");
                    validate(&known).unwrap_or_else(|e| panic!("{e}: {c:?}"));
                }
            }
        }
    }

    #[test]
    fn split_html_arbitrary_input_never_panics() {
        let pieces = [
            "<b>",
            "</b>",
            "<i>",
            "</i>",
            "<a href=\"https://x.y/?q=1&amp;r\">",
            "</a>",
            "<pre>",
            "</pre>",
            "&amp;",
            "&#65;",
            "&#x1F600;",
            "&#xD800;",
            "&#99999999;",
            "&",
            "&;",
            "<",
            ">",
            "\"",
            "'",
            ";",
            "#",
            "<b",
            "</",
            "<1>",
            "</>",
            "<x y='>'>",
            "</x>",
            "<br/>",
            "word",
            "😀",
            "é",
            "\n",
            " ",
            "\n\n",
        ];
        let mut rng = Rng(0xDEAD_BEEF);
        for _ in 0..2000 {
            let mut html = String::new();
            for _ in 0..rng.below(60) {
                html.push_str(rng.pick(&pieces));
            }
            let limit = rng.below(80);
            let chunks = split_html(&html, limit);
            for c in &chunks {
                assert!(c.encode_utf16().count() <= limit.max(MAX_ATOM_LEN), "{c:?}");
                assert!(!html_to_plain(c).trim().is_empty());
            }
            assert_text_preserved(&html, &chunks, limit);
        }
    }

    #[test]
    fn split_html_tiny_limits_still_terminate() {
        let html = "<b>bold</b> &amp; <a href=\"https://x.y\">link</a> 😀 text";
        for limit in 0..20 {
            let chunks = split_html(html, limit);
            assert!(!chunks.is_empty());
            for c in &chunks {
                assert!(c.encode_utf16().count() <= limit.max(MAX_ATOM_LEN));
                validate(c).unwrap_or_else(|e| panic!("{e}: {c:?}"));
            }
        }
    }

    #[test]
    fn split_html_property_random_inputs() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut split = 0;
        for _ in 0..1500 {
            let html = random_html(&mut rng, 0);
            validate(&html).unwrap_or_else(|e| panic!("generator bug {e}: {html}"));
            let limit = 20 + rng.below(281);
            if check_split(&html, limit).len() > 1 {
                split += 1;
            }
        }
        // The generator must actually exercise splitting, not just the fast path.
        assert!(split > 500, "only {split} inputs were split");
    }

    #[test]
    fn split_html_property_random_markdown() {
        let pieces = [
            "**bold** ",
            "*it* ",
            "`code` ",
            "[l](https://e.com/x) ",
            "~~s~~ ",
            "\n\n# Head\n\n",
            "\n\n- item ",
            "\n\n1. num ",
            "\n\n> quote ",
            "\n\n```rust\nfn x() {}\nlet y = 1 < 2;\n```\n\n",
            "😀 ",
            "漢字 ",
            "a & b ",
            "<tag> ",
            "\n",
            "word ",
            "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n",
        ];
        let mut rng = Rng(42);
        for _ in 0..500 {
            let mut s = String::new();
            for _ in 0..rng.below(120) {
                s.push_str(rng.pick(&pieces));
            }
            let html = md(&s);
            let limit = 20 + rng.below(281);
            check_split(&html, limit);
        }
    }

    #[test]
    fn ten_thousand_char_answer_fits_telegram() {
        let mut answer = String::from("# Report\n\n");
        let mut i = 0;
        while answer.len() < 10_000 {
            answer.push_str(&format!(
                "Paragraph {i} with **bold**, *italic*, `code` & a [link](https://example.com/{i}).\n\n- point {i}\n- 😀 漢字\n\n```rust\nlet v{i} = {i} < 10;\n```\n\n"
            ));
            i += 1;
        }
        let html = md(&answer);
        assert!(html.encode_utf16().count() > TELEGRAM_MAX_MESSAGE_LEN);
        let chunks = check_split(&html, TELEGRAM_MAX_MESSAGE_LEN);
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        for c in &chunks {
            let plain = html_to_plain(c);
            assert_eq!(plain.trim(), plain, "whitespace at a split point");
        }
        // Splits land on line breaks, so every chunk but the last is well filled.
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.encode_utf16().count() > TELEGRAM_MAX_MESSAGE_LEN / 2);
        }
        let plain = html_to_plain(&html);
        for c in split_plain(&plain, TELEGRAM_MAX_MESSAGE_LEN) {
            assert!(c.encode_utf16().count() <= TELEGRAM_MAX_MESSAGE_LEN);
        }
    }
}
