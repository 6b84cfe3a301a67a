//! One escaping policy per output format, for every name and text that comes from a user, a
//! suite or a report to merge (method, check, suite and model names, reasons): the renderers
//! call these and nothing else, and `tests/security.rs` sends the same hostile names, and
//! generated ones, through each.
//!
//! * [`xml`] (junit.xml, badge and chart SVG, report.html): the five markup characters as
//!   entities, and control characters, which XML 1.0 forbids even as entities, as U+FFFD.
//! * [`markdown`] (report.md): markup (`<`, `>`, `&`) as entities, Markdown's punctuation
//!   backslash-escaped (a `|` cannot end a table cell), line breaks as spaces.
//! * [`json`] (report.json, certificates): what serde_json leaves raw as `\uXXXX` escapes.
//! * [`printable`] (the terminal: the table, the last line, error messages; and the chart texts
//!   plotters writes, which escapes markup itself): control characters other than a line break
//!   or a tab as U+FFFD, so no name can send an ANSI escape to a terminal or break an SVG.
//!
//! Every format also replaces the bidirectional overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069, U+200E, U+200F), with which a name could show as another name.

/// The replacement for a character no format may carry.
const REPLACEMENT: char = '\u{fffd}';

/// Control characters (C0 and C1, ANSI's CSI among them) and the bidirectional overrides and
/// isolates that make text display in another order than it reads ("Trojan Source").
pub fn forbidden(c: char) -> bool {
    let bidi =
        matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    bidi || c.is_control() && !matches!(c, '\n' | '\t' | '\r')
}

/// Text for one terminal line (a table cell, a name in a message): every control character, the
/// line breaks and tabs too, and the bidirectional overrides as U+FFFD, so that no text can start
/// a line of its own (forging a table row) or drive the terminal.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match forbidden(c) || matches!(c, '\n' | '\r' | '\t') {
            true => REPLACEMENT,
            false => c,
        })
        .collect()
}

/// Text for XML and HTML, in element content and in quoted attributes alike.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if forbidden(c) => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Markdown paragraph or table cell: shown as written, never as markup.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if forbidden(c) => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// JSON text with every forbidden character that serde_json leaves raw (C1 controls, DEL, the
/// bidirectional overrides) written as a `\uXXXX` escape: the same data for a parser, nothing a
/// terminal acts on for `cat report.json`. Such characters only occur inside strings, where the
/// escape means the character itself.
pub fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match forbidden(c) {
            true => out.push_str(&format!("\\u{:04x}", c as u32)),
            false => out.push(c),
        }
    }
    out
}

/// Text for the terminal (and plotters): every control character but a line break or a tab
/// replaced.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if forbidden(c) { REPLACEMENT } else { c })
        .collect()
}
