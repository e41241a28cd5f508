//! The pipe protocol: request lines in, JSON lines out.
//!
//! This module knows the wire format and nothing else: it turns one request line
//! into a typed [`Request`], and a reply or an event into one line of JSON. It
//! never touches the database or the network. Escaping lives here and only here,
//! so the server and the client cannot disagree about it.
//!
//! # Format
//!
//! ```text
//! /command|field|field|...
//! ```
//!
//! Inside a field `\|` stands for `|`, `\\` for `\` and `\n` for a line feed.

use std::fmt;

use serde::Serialize;

/// The protocol version announced in the greeting.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most bytes a request line may take, its terminating line feed included.
pub const MAX_LINE_BYTES: usize = 65_536;

/// How many messages `/fetchMessages` returns when no limit is given.
pub const DEFAULT_FETCH_LIMIT: u32 = 100;

/// The largest `limit` accepted by `/fetchMessages` and `/fetchHistory`.
pub const MAX_FETCH_LIMIT: u32 = 1_000;

/// A password as it came off the wire.
///
/// Wrapped so that logging a [`Request`] with `{:?}` can never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// One parsed request: one variant per command of the protocol.
///
/// The optional `username` fields are the older request forms that named the
/// acting user explicitly; the server accepts them only when they name the user
/// the connection is logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Register {
        username: String,
        password: Password,
    },
    Login {
        username: String,
        password: Password,
    },
    Logout {
        username: Option<String>,
    },
    CreateChatroom {
        name: String,
    },
    JoinChatroom {
        name: String,
        username: Option<String>,
    },
    ExitChatroom {
        name: String,
        username: Option<String>,
    },
    GetAllChatrooms,
    GetActiveUsers,
    GetChatroomMembers {
        name: String,
    },
    /// Without `after_id`: the latest `limit` messages. With it: the first
    /// `limit` messages whose id is greater.
    FetchMessages {
        name: String,
        after_id: Option<i64>,
        limit: u32,
    },
    FetchHistory {
        name: String,
        before_id: i64,
        limit: u32,
    },
    SendMessage {
        name: String,
        text: String,
        username: Option<String>,
    },
    Subscribe {
        name: String,
    },
    Unsubscribe {
        name: String,
    },
    Ping,
    Help,
}

/// The usage line of every command, in the order `/help` lists them.
pub const USAGES: &[&str] = &[
    "/register|username|password",
    "/login|username|password",
    "/logout",
    "/createChatroom|name",
    "/joinChatroom|name",
    "/exitChatroom|name",
    "/getAllChatrooms",
    "/getActiveUsers",
    "/getChatroomMembers|name",
    "/fetchMessages|name[|after_id[|limit]]",
    "/fetchHistory|name|before_id|limit",
    "/sendMessage|name|text",
    "/subscribe|name",
    "/unsubscribe|name",
    "/ping",
    "/help",
];

/// Why a request line could not be turned into a [`Request`]. Always a `400`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a request starts with '/', e.g. /help")]
    NotACommand,
    #[error("unknown command '{0}'; send /help for the list")]
    UnknownCommand(String),
    #[error("wrong number of fields; usage: {0} (inside a field, write | as \\|)")]
    WrongFieldCount(&'static str),
    #[error(
        "invalid escape '\\{0}'; inside a field use \\| for |, \\\\ for \\ and \\n for a line feed"
    )]
    InvalidEscape(char),
    #[error("a field ends with a lone backslash; write \\\\ for a backslash")]
    TrailingBackslash,
    #[error("{field} must be {expected}; usage: {usage}")]
    BadNumber {
        field: &'static str,
        expected: &'static str,
        usage: &'static str,
    },
}

impl Request {
    /// Parses one request line, without its line terminator.
    pub fn parse(line: &str) -> Result<Request, ParseError> {
        let (command, rest) = match line.find('|') {
            Some(at) => (&line[..at], Some(&line[at + 1..])),
            None => (line, None),
        };
        if !command.starts_with('/') {
            return Err(ParseError::NotACommand);
        }
        let fields = match rest {
            Some(rest) => split_fields(rest)?,
            None => Vec::new(),
        };
        let mut fields = Fields {
            items: fields.into_iter(),
        };
        let request = match command {
            "/register" => {
                let usage = "/register|username|password";
                fields.expect_count(&[2], usage)?;
                Request::Register {
                    username: fields.next(),
                    password: Password(fields.next()),
                }
            }
            "/login" => {
                let usage = "/login|username|password";
                fields.expect_count(&[2], usage)?;
                Request::Login {
                    username: fields.next(),
                    password: Password(fields.next()),
                }
            }
            "/logout" => {
                fields.expect_count(&[0, 1], "/logout")?;
                Request::Logout {
                    username: fields.next_optional(),
                }
            }
            "/createChatroom" => {
                fields.expect_count(&[1], "/createChatroom|name")?;
                Request::CreateChatroom {
                    name: fields.next(),
                }
            }
            "/joinChatroom" => {
                fields.expect_count(&[1, 2], "/joinChatroom|name")?;
                Request::JoinChatroom {
                    name: fields.next(),
                    username: fields.next_optional(),
                }
            }
            "/exitChatroom" => {
                fields.expect_count(&[1, 2], "/exitChatroom|name")?;
                Request::ExitChatroom {
                    name: fields.next(),
                    username: fields.next_optional(),
                }
            }
            "/getAllChatrooms" => {
                fields.expect_count(&[0], "/getAllChatrooms")?;
                Request::GetAllChatrooms
            }
            "/getActiveUsers" => {
                fields.expect_count(&[0], "/getActiveUsers")?;
                Request::GetActiveUsers
            }
            "/getChatroomMembers" => {
                fields.expect_count(&[1], "/getChatroomMembers|name")?;
                Request::GetChatroomMembers {
                    name: fields.next(),
                }
            }
            "/fetchMessages" => {
                let usage = "/fetchMessages|name[|after_id[|limit]]";
                fields.expect_count(&[1, 2, 3], usage)?;
                let name = fields.next();
                let after_id = match fields.next_optional() {
                    Some(text) => Some(parse_id(&text, "after_id", 0, usage)?),
                    None => None,
                };
                let limit = match fields.next_optional() {
                    Some(text) => parse_limit(&text, usage)?,
                    None => DEFAULT_FETCH_LIMIT,
                };
                Request::FetchMessages {
                    name,
                    after_id,
                    limit,
                }
            }
            "/fetchHistory" => {
                let usage = "/fetchHistory|name|before_id|limit";
                fields.expect_count(&[3], usage)?;
                let name = fields.next();
                let before_id = parse_id(&fields.next(), "before_id", 1, usage)?;
                let limit = parse_limit(&fields.next(), usage)?;
                Request::FetchHistory {
                    name,
                    before_id,
                    limit,
                }
            }
            "/sendMessage" => {
                fields.expect_count(&[2, 5], "/sendMessage|name|text")?;
                let name = fields.next();
                let text = fields.next();
                // The older form adds username, date and time; date and time
                // are ignored because the server's clock is the only clock.
                let username = fields.next_optional();
                Request::SendMessage {
                    name,
                    text,
                    username,
                }
            }
            "/subscribe" => {
                fields.expect_count(&[1], "/subscribe|name")?;
                Request::Subscribe {
                    name: fields.next(),
                }
            }
            "/unsubscribe" => {
                fields.expect_count(&[1], "/unsubscribe|name")?;
                Request::Unsubscribe {
                    name: fields.next(),
                }
            }
            "/ping" => {
                fields.expect_count(&[0], "/ping")?;
                Request::Ping
            }
            "/help" => {
                fields.expect_count(&[0], "/help")?;
                Request::Help
            }
            other => return Err(ParseError::UnknownCommand(shorten_for_reply(other))),
        };
        Ok(request)
    }

    /// The command's name as written on the wire, for logs.
    pub fn command_name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "/register",
            Request::Login { .. } => "/login",
            Request::Logout { .. } => "/logout",
            Request::CreateChatroom { .. } => "/createChatroom",
            Request::JoinChatroom { .. } => "/joinChatroom",
            Request::ExitChatroom { .. } => "/exitChatroom",
            Request::GetAllChatrooms => "/getAllChatrooms",
            Request::GetActiveUsers => "/getActiveUsers",
            Request::GetChatroomMembers { .. } => "/getChatroomMembers",
            Request::FetchMessages { .. } => "/fetchMessages",
            Request::FetchHistory { .. } => "/fetchHistory",
            Request::SendMessage { .. } => "/sendMessage",
            Request::Subscribe { .. } => "/subscribe",
            Request::Unsubscribe { .. } => "/unsubscribe",
            Request::Ping => "/ping",
            Request::Help => "/help",
        }
    }

    /// Whether the command works on a connection that is not logged in.
    pub fn allowed_before_login(&self) -> bool {
        matches!(
            self,
            Request::Register { .. } | Request::Login { .. } | Request::Ping | Request::Help
        )
    }
}

/// The fields of a request, consumed in order once their count is checked.
struct Fields {
    items: std::vec::IntoIter<String>,
}

impl Fields {
    fn expect_count(&self, allowed: &[usize], usage: &'static str) -> Result<(), ParseError> {
        if allowed.contains(&self.items.len()) {
            Ok(())
        } else {
            Err(ParseError::WrongFieldCount(usage))
        }
    }

    /// The next field; only called after `expect_count` proved it is there.
    fn next(&mut self) -> String {
        self.items.next().unwrap_or_default()
    }

    fn next_optional(&mut self) -> Option<String> {
        self.items.next()
    }
}

/// Keeps user text echoed in an error reply short enough to read, so that a
/// 60 KB junk field is not sent back whole.
pub fn shorten_for_reply(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    }
}

fn parse_id(
    text: &str,
    field: &'static str,
    minimum: i64,
    usage: &'static str,
) -> Result<i64, ParseError> {
    let expected = if minimum == 0 {
        "a whole number, 0 or more"
    } else {
        "a whole number, 1 or more"
    };
    match text.parse::<i64>() {
        Ok(value) if value >= minimum && text.bytes().all(|b| b.is_ascii_digit()) => Ok(value),
        _ => Err(ParseError::BadNumber {
            field,
            expected,
            usage,
        }),
    }
}

fn parse_limit(text: &str, usage: &'static str) -> Result<u32, ParseError> {
    match text.parse::<u32>() {
        Ok(value)
            if (1..=MAX_FETCH_LIMIT).contains(&value)
                && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(value)
        }
        _ => Err(ParseError::BadNumber {
            field: "limit",
            expected: "a whole number from 1 to 1000",
            usage,
        }),
    }
}

/// Splits the part of a line after the command into unescaped fields.
fn split_fields(rest: &str) -> Result<Vec<String>, ParseError> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => fields.push(std::mem::take(&mut current)),
            '\\' => match chars.next() {
                Some('|') => current.push('|'),
                Some('\\') => current.push('\\'),
                Some('n') => current.push('\n'),
                Some(other) => return Err(ParseError::InvalidEscape(other)),
                None => return Err(ParseError::TrailingBackslash),
            },
            c => current.push(c),
        }
    }
    fields.push(current);
    Ok(fields)
}

/// Escapes one field so that it survives the trip through a request line.
pub fn escape_field(field: &str) -> String {
    let mut escaped = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '|' => escaped.push_str("\\|"),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Builds a request line (without its line feed) from a command and raw fields.
pub fn request_line(command: &str, fields: &[&str]) -> String {
    let mut line = String::from(command);
    for field in fields {
        line.push('|');
        line.push_str(&escape_field(field));
    }
    line
}

/// The status codes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 200,
    Created = 201,
    BadRequest = 400,
    Unauthorized = 401,
    Forbidden = 403,
    NotFound = 404,
    Conflict = 409,
    TooLong = 413,
    TooManyRequests = 429,
    Internal = 500,
    Unavailable = 503,
}

impl Status {
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// A chat message as it travels to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    pub id: i64,
    pub room: String,
    pub username: String,
    pub text: String,
    pub sent_at: String,
}

/// The body of `join` and `exit` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership<'a> {
    pub room: &'a str,
    pub username: &'a str,
}

/// A pushed event: a line that never carries a `status` key.
#[derive(Debug, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "lowercase")]
pub enum Event<'a> {
    Message(&'a Message),
    Join(Membership<'a>),
    Exit(Membership<'a>),
}

impl Event<'_> {
    /// The event as one JSON line, line feed included.
    pub fn to_line(&self) -> String {
        json_line(self)
    }
}

/// A success reply as one JSON line, line feed included.
pub fn success_line(status: Status, data: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Success<'a, T> {
        status: u16,
        data: &'a T,
    }
    json_line(&Success {
        status: status.code(),
        data,
    })
}

/// A failure reply as one JSON line, line feed included.
pub fn error_line(status: Status, error: &str) -> String {
    #[derive(Serialize)]
    struct Failure<'a> {
        status: u16,
        error: &'a str,
    }
    json_line(&Failure {
        status: status.code(),
        error,
    })
}

/// The line sent right after a connection is accepted.
pub fn greeting_line() -> String {
    #[derive(Serialize)]
    struct Greeting {
        server: &'static str,
        version: &'static str,
        protocol: u32,
    }
    success_line(
        Status::Ok,
        &Greeting {
            server: "pipechat",
            version: env!("CARGO_PKG_VERSION"),
            protocol: PROTOCOL_VERSION,
        },
    )
}

fn json_line(value: &impl Serialize) -> String {
    // serde_json escapes control characters, so the output is always one line.
    let mut line = serde_json::to_string(value).unwrap_or_else(|err| {
        // Only a map with non-string keys can fail, and none is ever sent.
        log::error!("could not serialize a reply: {err}");
        String::from(r#"{"status":500,"error":"internal error"}"#)
    });
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Request, ParseError> {
        Request::parse(line)
    }

    #[test]
    fn parses_every_command_in_its_plain_form() {
        assert_eq!(
            parse("/register|alice|secret pw"),
            Ok(Request::Register {
                username: "alice".into(),
                password: Password("secret pw".into())
            })
        );
        assert_eq!(parse("/logout"), Ok(Request::Logout { username: None }));
        assert_eq!(
            parse("/logout|alice"),
            Ok(Request::Logout {
                username: Some("alice".into())
            })
        );
        assert_eq!(parse("/getAllChatrooms"), Ok(Request::GetAllChatrooms));
        assert_eq!(parse("/getActiveUsers"), Ok(Request::GetActiveUsers));
        assert_eq!(parse("/ping"), Ok(Request::Ping));
        assert_eq!(parse("/help"), Ok(Request::Help));
        assert_eq!(
            parse("/joinChatroom|general|alice"),
            Ok(Request::JoinChatroom {
                name: "general".into(),
                username: Some("alice".into())
            })
        );
    }

    #[test]
    fn fetch_messages_defaults_and_cursor() {
        assert_eq!(
            parse("/fetchMessages|general"),
            Ok(Request::FetchMessages {
                name: "general".into(),
                after_id: None,
                limit: 100
            })
        );
        assert_eq!(
            parse("/fetchMessages|general|0|1000"),
            Ok(Request::FetchMessages {
                name: "general".into(),
                after_id: Some(0),
                limit: 1000
            })
        );
        assert!(matches!(
            parse("/fetchMessages|general|-1"),
            Err(ParseError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("/fetchMessages|general|+5"),
            Err(ParseError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("/fetchMessages|general|5|0"),
            Err(ParseError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("/fetchMessages|general|5|1001"),
            Err(ParseError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("/fetchHistory|general|0|10"),
            Err(ParseError::BadNumber { .. })
        ));
    }

    #[test]
    fn send_message_old_form_keeps_username_and_drops_date() {
        assert_eq!(
            parse("/sendMessage|general|hi|alice|2024-01-01|12:00"),
            Ok(Request::SendMessage {
                name: "general".into(),
                text: "hi".into(),
                username: Some("alice".into())
            })
        );
        assert_eq!(
            parse("/sendMessage|general|hi|alice"),
            Err(ParseError::WrongFieldCount("/sendMessage|name|text"))
        );
    }

    #[test]
    fn unescapes_pipes_backslashes_and_line_feeds() {
        assert_eq!(
            parse(r"/sendMessage|general|a \| b \\ c\nd"),
            Ok(Request::SendMessage {
                name: "general".into(),
                text: "a | b \\ c\nd".into(),
                username: None
            })
        );
    }

    #[test]
    fn rejects_bad_escapes_and_counts() {
        assert_eq!(
            parse(r"/sendMessage|general|\t"),
            Err(ParseError::InvalidEscape('t'))
        );
        assert_eq!(
            parse("/sendMessage|general|oops\\"),
            Err(ParseError::TrailingBackslash)
        );
        assert_eq!(parse("/ping|"), Err(ParseError::WrongFieldCount("/ping")));
        assert_eq!(parse("hello"), Err(ParseError::NotACommand));
        assert_eq!(
            parse("/Ping"),
            Err(ParseError::UnknownCommand("/Ping".into()))
        );
    }

    #[test]
    fn fields_are_not_trimmed() {
        assert_eq!(
            parse("/login| bob | pass word "),
            Ok(Request::Login {
                username: " bob ".into(),
                password: Password(" pass word ".into())
            })
        );
    }

    #[test]
    fn escaping_round_trips() {
        for text in [
            "plain",
            "a|b",
            "back\\slash",
            "line\nfeed",
            "\\|\\n",
            "héllo 👋",
            "",
        ] {
            let line = request_line("/sendMessage", &["room", text]);
            assert_eq!(
                parse(&line),
                Ok(Request::SendMessage {
                    name: "room".into(),
                    text: text.into(),
                    username: None
                }),
                "for {text:?}"
            );
        }
    }

    #[test]
    fn password_is_never_printed_by_debug() {
        let request = parse("/login|alice|hunter2hunter2").unwrap();
        assert!(!format!("{request:?}").contains("hunter2"));
    }

    #[test]
    fn replies_and_events_are_single_json_lines() {
        let message = Message {
            id: 7,
            room: "general".into(),
            username: "alice".into(),
            text: "two\nlines \u{1} \"quoted\"".into(),
            sent_at: "2026-11-24T17:37:42.123Z".into(),
        };
        let line = Event::Message(&message).to_line();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with(r#"{"event":"message","data":{"id":7,"#));
        let join = Event::Join(Membership {
            room: "general",
            username: "alice",
        })
        .to_line();
        assert_eq!(
            join,
            "{\"event\":\"join\",\"data\":{\"room\":\"general\",\"username\":\"alice\"}}\n"
        );
        assert_eq!(
            error_line(Status::NotFound, "chatroom 'x' does not exist"),
            "{\"status\":404,\"error\":\"chatroom 'x' does not exist\"}\n"
        );
        assert_eq!(
            success_line(Status::Ok, &"pong"),
            "{\"status\":200,\"data\":\"pong\"}\n"
        );
    }
}
