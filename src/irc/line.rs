//! IRC messages as text: parsing a client's line, writing the server's, and
//! cutting long texts into lines that fit.
//!
//! The grammar is the one of the modern client protocol document and the
//! IRCv3 message-tags specification:
//!
//! ```text
//! [@tag[=value];tag... SPACE] [:source SPACE] COMMAND {SPACE param} [SPACE :trailing]
//! ```
//!
//! Tag values are escaped (`\:` `;`, `\s` space, `\\` backslash, `\r`, `\n`).
//! A line's part after the tags may take 512 bytes with its CR LF; a
//! client's tags 4096 more (the `@` and the space included).

use std::fmt::Write as _;

/// The most bytes of a line after its tags, CR LF included.
pub const MAX_BODY_BYTES: usize = 512;
/// The most bytes of the tags a client may send, the `@` and the space
/// after them included (message-tags: 4094 bytes of tag data).
pub const MAX_CLIENT_TAG_BYTES: usize = 4096;
/// The longest line a client may send, its LF included.
pub const MAX_LINE_BYTES: usize = MAX_CLIENT_TAG_BYTES + MAX_BODY_BYTES;

/// One IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// Tags in order, values unescaped (`""` for a tag without a value).
    pub tags: Vec<(String, String)>,
    pub source: Option<String>,
    /// As sent by a client; upper case in lines of the server.
    pub command: String,
    pub params: Vec<String>,
}

/// Why a client's line is not a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but spaces (or tags and a source without a command).
    NoCommand,
    /// The part after the tags is over 512 bytes with its CR LF.
    BodyTooLong,
    /// A client's tags are over 4094 bytes.
    TagsTooLong,
    /// A NUL byte, which no message may hold.
    Nul,
}

impl Line {
    /// A server line: `command` with `params`, no tags, no source.
    pub fn new(command: &str, params: Vec<String>) -> Line {
        Line {
            tags: Vec::new(),
            source: None,
            command: command.to_string(),
            params,
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Line {
        self.source = Some(source.into());
        self
    }

    pub fn with_tag(mut self, key: &str, value: impl Into<String>) -> Line {
        self.tags.push((key.to_string(), value.into()));
        self
    }

    /// The value of tag `key`, if the line has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses one line of a client, without its CR LF.
    ///
    /// # Errors
    ///
    /// [`ParseError`] for a line that holds no message or breaks a limit.
    pub fn parse(text: &str) -> Result<Line, ParseError> {
        if text.contains('\0') {
            return Err(ParseError::Nul);
        }
        let mut rest = text.trim_start_matches(' ');
        let mut tags = Vec::new();
        if let Some(after) = rest.strip_prefix('@') {
            let (raw, remainder) = after.split_once(' ').unwrap_or((after, ""));
            if raw.len() + 2 > MAX_CLIENT_TAG_BYTES {
                return Err(ParseError::TagsTooLong);
            }
            tags = parse_tags(raw);
            rest = remainder.trim_start_matches(' ');
        }
        if rest.len() + 2 > MAX_BODY_BYTES {
            return Err(ParseError::BodyTooLong);
        }
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (raw, remainder) = after.split_once(' ').unwrap_or((after, ""));
            source = Some(raw.to_string());
            rest = remainder.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_string());
                break;
            }
            let (param, remainder) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_string());
            rest = remainder;
        }
        Ok(Line {
            tags,
            source,
            command: command.to_string(),
            params,
        })
    }

    /// The line as the server sends it, CR LF included. Any CR, LF or NUL
    /// in a parameter becomes a space, so one line stays one line; a
    /// parameter that cannot stand in the middle is sent as the trailing.
    /// A line longer than [`MAX_BODY_BYTES`] (tags aside) is cut to fit, at
    /// a character boundary: messages are split to fit before they get here,
    /// but a topic, a reason or an away message of 390 characters can be
    /// over a thousand bytes.
    pub fn to_wire(&self) -> String {
        let mut out = String::with_capacity(64);
        if !self.tags.is_empty() {
            out.push('@');
            for (index, (key, value)) in self.tags.iter().enumerate() {
                if index > 0 {
                    out.push(';');
                }
                out.push_str(key);
                if !value.is_empty() {
                    out.push('=');
                    escape_tag_value(value, &mut out);
                }
            }
            out.push(' ');
        }
        let body = out.len();
        if let Some(source) = &self.source {
            let _ = write!(out, ":{source} ");
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (index, param) in self.params.iter().enumerate() {
            out.push(' ');
            let trailing = param.is_empty()
                || param.starts_with(':')
                || param.contains([' ', '\r', '\n', '\0']);
            if index == last && trailing {
                out.push(':');
            }
            for c in param.chars() {
                match c {
                    '\r' | '\n' | '\0' => out.push(' '),
                    // A middle parameter cannot hold a space: an empty or
                    // spaced one (never sent) would shift the others.
                    ' ' if index != last => out.push('_'),
                    c => out.push(c),
                }
            }
            if index != last && param.is_empty() {
                out.push('*');
            }
        }
        if out.len() - body + 2 > MAX_BODY_BYTES {
            let mut cut = body + MAX_BODY_BYTES - 2;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        out.push_str("\r\n");
        out
    }
}

/// The tags of `raw` (without its `@`); one without a key (`@=x`) names
/// nothing and is dropped, as an empty one (`@;`) is.
fn parse_tags(raw: &str) -> Vec<(String, String)> {
    raw.split(';')
        .map(|tag| match tag.split_once('=') {
            Some((key, value)) => (key, unescape_tag_value(value)),
            None => (tag, String::new()),
        })
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

fn unescape_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            // A lone backslash at the end is dropped.
            None => {}
        }
    }
    out
}

fn escape_tag_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// A client-to-client (CTCP) request in a PRIVMSG's text: `\x01COMMAND
/// arguments\x01` (the closing `\x01` optional, as clients send it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctcp<'a> {
    /// Upper case.
    pub command: String,
    pub args: &'a str,
}

/// The CTCP request `text` holds, if it is one.
pub fn parse_ctcp(text: &str) -> Option<Ctcp<'_>> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    let (command, args) = inner.split_once(' ').unwrap_or((inner, ""));
    Some(Ctcp {
        command: command.to_ascii_uppercase(),
        args,
    })
}

/// Words (nicks, channels) joined by spaces into as few pieces of at most
/// `budget` bytes as they fit in (a longer word is a piece alone): the
/// lists of `353` and `319`, which say a long list in several lines.
pub fn pack_words(words: impl IntoIterator<Item = String>, budget: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for word in words {
        if !piece.is_empty() && piece.len() + 1 + word.len() > budget {
            pieces.push(std::mem::take(&mut piece));
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        piece.push_str(&word);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// Cuts `text` into pieces of at most `budget` bytes, never inside a UTF-8
/// character, and after a space where one is in the second half of the
/// piece, as clients cut what their users type (a word cut in two reads as
/// two words). Each line of `text` (split at line feeds, empty ones dropped)
/// starts a new piece; the flag says a piece continues the previous one's
/// line (it was cut for length): the pieces of a line put together are the
/// line, spaces included.
pub fn split_text(text: &str, budget: usize) -> Vec<(&str, bool)> {
    let budget = budget.max(4);
    let mut pieces = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut rest = line;
        let mut continued = false;
        while !rest.is_empty() {
            let mut end = rest.len().min(budget);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            if end < rest.len()
                && let Some(space) = rest[..end].rfind(' ')
                && space + 1 >= end / 2
            {
                end = space + 1;
            }
            pieces.push((&rest[..end], continued));
            rest = &rest[end..];
            continued = true;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ctcp_requests_parse() {
        let action = parse_ctcp("\u{1}ACTION waves hello\u{1}").unwrap();
        assert_eq!(
            (action.command.as_str(), action.args),
            ("ACTION", "waves hello")
        );
        let version = parse_ctcp("\u{1}version").unwrap();
        assert_eq!((version.command.as_str(), version.args), ("VERSION", ""));
        assert_eq!(parse_ctcp("plain"), None);
    }

    #[test]
    fn parses_tags_source_command_and_params() {
        let line =
            Line::parse("@label=a\\sb;+draft/reply=1;x :nick!u@h PRIVMSG #chan :hi there :)")
                .unwrap();
        assert_eq!(
            line.tags,
            [
                ("label".to_string(), "a b".to_string()),
                ("+draft/reply".to_string(), "1".to_string()),
                ("x".to_string(), String::new())
            ]
        );
        assert_eq!(line.source.as_deref(), Some("nick!u@h"));
        assert_eq!(line.command, "PRIVMSG");
        assert_eq!(line.params, ["#chan", "hi there :)"]);
        // A tag without a key names nothing.
        let keyless = Line::parse("@=v;;k= PING x").unwrap();
        assert_eq!(keyless.tags, [("k".to_string(), String::new())]);
    }

    #[test]
    fn a_line_past_512_bytes_is_cut_at_a_character() {
        let topic = "€".repeat(390);
        let line = Line::new("TOPIC", vec!["#room".into(), topic])
            .with_source("alice!alice@pipechat")
            .with_tag("time", "2026-12-04T23:00:00.000Z");
        let wire = line.to_wire();
        assert!(wire.ends_with("\r\n"));
        let body = wire.split_once(' ').unwrap().1;
        assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
        assert!(body.len() > MAX_BODY_BYTES - 4, "cut more than a character");
        let parsed = Line::parse(body.trim_end()).unwrap();
        assert_eq!(parsed.params[0], "#room");
        assert!(parsed.params[1].chars().all(|c| c == '€'));
    }

    #[test]
    fn extra_spaces_and_empty_trailing() {
        let line = Line::parse("  NICK   foo  ").unwrap();
        assert_eq!(line.params, ["foo"]);
        let line = Line::parse("USER u * * :").unwrap();
        assert_eq!(line.params, ["u", "*", "*", ""]);
        assert_eq!(Line::parse("   "), Err(ParseError::NoCommand));
        assert_eq!(Line::parse("@a=b "), Err(ParseError::NoCommand));
        assert_eq!(Line::parse("PRIVMSG a\0b"), Err(ParseError::Nul));
    }

    #[test]
    fn limits() {
        let ok = format!("PRIVMSG #c :{}", "x".repeat(510 - 12));
        assert!(Line::parse(&ok).is_ok());
        let long = format!("PRIVMSG #c :{}", "x".repeat(511 - 12));
        assert_eq!(Line::parse(&long), Err(ParseError::BodyTooLong));
        let tagged = format!("@a={} {ok}", "v".repeat(4000));
        assert!(Line::parse(&tagged).is_ok());
        // 4094 bytes of tag data pass; one more does not.
        let most = format!("@a={} PING x", "v".repeat(4092));
        assert!(Line::parse(&most).is_ok());
        let huge = format!("@a={} PING x", "v".repeat(4093));
        assert_eq!(Line::parse(&huge), Err(ParseError::TagsTooLong));
    }

    #[test]
    fn writes_the_trailing_only_when_needed() {
        let line = Line::new("PRIVMSG", vec!["#c".into(), "hi".into()]).with_source("n!u@h");
        assert_eq!(line.to_wire(), ":n!u@h PRIVMSG #c hi\r\n");
        let line = Line::new("PRIVMSG", vec!["#c".into(), "a b".into()]);
        assert_eq!(line.to_wire(), "PRIVMSG #c :a b\r\n");
        let line = Line::new("CAP", vec!["*".into(), "LIST".into(), String::new()]);
        assert_eq!(line.to_wire(), "CAP * LIST :\r\n");
        let line = Line::new("X", vec![":y".into()]).with_tag("t", "a;b c\\");
        assert_eq!(line.to_wire(), "@t=a\\:b\\sc\\\\ X ::y\r\n");
        let line = Line::new("PRIVMSG", vec!["#c".into(), "two\r\nlines".into()]);
        assert_eq!(line.to_wire(), "PRIVMSG #c :two  lines\r\n");
    }

    #[test]
    fn words_are_packed_into_pieces_that_fit() {
        let words = ["ab", "cd", "ef", "toolongword"].map(String::from);
        assert_eq!(pack_words(words, 5), ["ab cd", "ef", "toolongword"]);
        assert!(pack_words(Vec::new(), 5).is_empty());
    }

    #[test]
    fn splits_at_lines_and_never_inside_a_character() {
        assert_eq!(
            split_text("ab\n\ncdefgh", 4),
            [("ab", false), ("cdef", false), ("gh", true)]
        );
        let pieces = split_text("éééé", 5);
        assert_eq!(pieces, [("éé", false), ("éé", true)]);
        // After the last space when it is in the piece's second half.
        assert_eq!(
            split_text("one two three", 10),
            [("one two ", false), ("three", true)]
        );
        assert_eq!(
            split_text("a verylongword", 10),
            [("a verylong", false), ("word", true)]
        );
    }

    proptest! {
        /// Whatever a client sends, parsing never panics, and a parsed
        /// message written again parses to the same message.
        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,300}") {
            if let Ok(line) = Line::parse(&text) {
                let again = line.to_wire();
                let reparsed = Line::parse(again.trim_end_matches("\r\n"));
                if line.params.iter().all(|p| !p.contains(['\r', '\n']))
                    && line.params.iter().rev().skip(1).all(|p| !p.is_empty() && !p.contains(' '))
                    && line.source.as_deref().is_none_or(|s| !s.is_empty())
                {
                    prop_assert_eq!(reparsed, Ok(line));
                }
            }
        }

        /// Tag values survive escaping whatever they hold.
        #[test]
        fn tag_values_round_trip(value in "[^\\x00]{0,60}") {
            let line = Line::new("TAGMSG", vec!["#c".into()]).with_tag("+v", value.clone());
            let parsed = Line::parse(line.to_wire().trim_end_matches("\r\n")).unwrap();
            prop_assert_eq!(parsed.tag("+v").unwrap_or(""), value.as_str());
        }

        /// Pieces fit the budget, are whole characters, and put the text
        /// back together.
        #[test]
        fn split_pieces_fit_and_rebuild(text in "\\PC{0,200}", budget in 4usize..40) {
            let pieces = split_text(&text, budget);
            let mut rebuilt = Vec::new();
            for (piece, continued) in &pieces {
                prop_assert!(piece.len() <= budget && !piece.is_empty());
                if *continued {
                    let last: &mut String = rebuilt.last_mut().unwrap();
                    last.push_str(piece);
                } else {
                    rebuilt.push(piece.to_string());
                }
            }
            let expected: Vec<String> = text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
                .filter(|l| !l.is_empty())
                .collect();
            prop_assert_eq!(rebuilt, expected);
        }
    }
}
