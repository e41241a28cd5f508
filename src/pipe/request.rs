//! Pipe requests: one line of text to one typed [`Request`], and the other
//! way round for clients.
//!
//! Every command is one row of [`COMMANDS`]: its usage (which starts with its
//! name), the field counts it accepts and how its fields become a request,
//! of the kind that works without a login or of the kind that needs one.
//! Escaping lives here and only here, so the server and the clients cannot
//! disagree about it.
//!
//! # Format
//!
//! ```text
//! /command|field|field|...
//! ```
//!
//! Inside a field `\|` stands for `|`, `\\` for `\` and `\n` for a line feed.

use std::fmt;

use crate::chat::error::shorten_for_reply;
use crate::chat::limits;
use crate::wire::{DEFAULT_FETCH_LIMIT, DEFAULT_SEARCH_LIMIT};

/// A password or resume token as it came off the wire.
///
/// Wrapped so that logging a [`Request`] with `{:?}` can never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One parsed request, of one of two kinds: whether a command needs a login
/// is said once, by the kind its row in [`COMMANDS`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Answered whether the connection is logged in or not.
    Open(OpenRequest),
    /// Answered as the user the connection is logged in as; `401` on a
    /// connection not logged in.
    AsUser(UserRequest),
}

/// A command that works without a login: one variant each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenRequest {
    Register { username: String, password: Secret },
    Login { username: String, password: Secret },
    Resume { token: Secret },
    Ping,
    Help,
}

/// A command that needs a login: one variant each.
///
/// The optional `username` fields are the older request forms that named the
/// acting user explicitly; the core accepts them only when they name the user
/// the connection is logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRequest {
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
    ChangePassword {
        old: Secret,
        new: Secret,
    },
    EditMessage {
        id: i64,
        text: String,
    },
    DeleteMessage {
        id: i64,
    },
    /// `room` empty or absent: everywhere the user may read.
    Search {
        query: String,
        room: Option<String>,
        limit: u32,
    },
    MarkRead {
        name: String,
        id: i64,
    },
    GetUnread,
    GetRoomInfo {
        name: String,
    },
    SetTopic {
        name: String,
        topic: String,
    },
    SetRetention {
        name: String,
        days: u32,
    },
}

/// One command of the protocol.
pub struct Command {
    /// What `/help` shows; it starts with the command's name.
    pub usage: &'static str,
    /// The numbers of fields it accepts.
    fields: &'static [usize],
    /// Its fields, counted already, as a request; which kind of request
    /// says whether it needs a login.
    build: Build,
}

/// How a command's fields become its request.
enum Build {
    Open(fn(&mut Fields) -> Result<OpenRequest, ParseError>),
    AsUser(fn(&mut Fields) -> Result<UserRequest, ParseError>),
}

impl Command {
    /// The name as written on the wire (`/sendMessage`).
    pub fn name(&self) -> &'static str {
        let end = self.usage.find(['|', '[']).unwrap_or(self.usage.len());
        &self.usage[..end]
    }

    /// Whether this is the command called `name`: a prefix comparison, since
    /// every request looks its command up (twice: parsing, metrics).
    fn is_named(&self, name: &str) -> bool {
        self.usage
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['|', '[']))
    }

    /// Whether the command is answered only on a logged-in connection.
    fn needs_login(&self) -> bool {
        matches!(self.build, Build::AsUser(_))
    }

    /// The command called `name`.
    fn find(name: &str) -> Option<&'static Command> {
        COMMANDS.iter().find(|command| command.is_named(name))
    }
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        usage: "/register|username|password",
        fields: &[2],
        build: Build::Open(|f| {
            Ok(OpenRequest::Register {
                username: f.next(),
                password: Secret(f.next()),
            })
        }),
    },
    Command {
        usage: "/login|username|password",
        fields: &[2],
        build: Build::Open(|f| {
            Ok(OpenRequest::Login {
                username: f.next(),
                password: Secret(f.next()),
            })
        }),
    },
    Command {
        usage: "/logout",
        fields: &[0, 1],
        build: Build::AsUser(|f| {
            Ok(UserRequest::Logout {
                username: f.next_optional(),
            })
        }),
    },
    Command {
        usage: "/createChatroom|name",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::CreateChatroom { name: f.next() })),
    },
    Command {
        usage: "/joinChatroom|name",
        fields: &[1, 2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::JoinChatroom {
                name: f.next(),
                username: f.next_optional(),
            })
        }),
    },
    Command {
        usage: "/exitChatroom|name",
        fields: &[1, 2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::ExitChatroom {
                name: f.next(),
                username: f.next_optional(),
            })
        }),
    },
    Command {
        usage: "/getAllChatrooms",
        fields: &[0],
        build: Build::AsUser(|_| Ok(UserRequest::GetAllChatrooms)),
    },
    Command {
        usage: "/getActiveUsers",
        fields: &[0],
        build: Build::AsUser(|_| Ok(UserRequest::GetActiveUsers)),
    },
    Command {
        usage: "/getChatroomMembers|name",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::GetChatroomMembers { name: f.next() })),
    },
    Command {
        usage: "/fetchMessages|name[|after_id[|limit]]",
        fields: &[1, 2, 3],
        build: Build::AsUser(|f| {
            let name = f.next();
            let after_id = f.optional_id("after_id", 0)?;
            let limit = f.optional_limit()?.unwrap_or(DEFAULT_FETCH_LIMIT);
            Ok(UserRequest::FetchMessages {
                name,
                after_id,
                limit,
            })
        }),
    },
    Command {
        usage: "/fetchHistory|name|before_id|limit",
        fields: &[3],
        build: Build::AsUser(|f| {
            let name = f.next();
            let before_id = f.id("before_id", 1)?;
            let limit = f.limit()?;
            Ok(UserRequest::FetchHistory {
                name,
                before_id,
                limit,
            })
        }),
    },
    Command {
        usage: "/sendMessage|name|text",
        // The older form adds username, date and time; date and time are
        // ignored because the server's clock is the only clock.
        fields: &[2, 5],
        build: Build::AsUser(|f| {
            Ok(UserRequest::SendMessage {
                name: f.next(),
                text: f.next(),
                username: f.next_optional(),
            })
        }),
    },
    Command {
        usage: "/subscribe|name",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::Subscribe { name: f.next() })),
    },
    Command {
        usage: "/unsubscribe|name",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::Unsubscribe { name: f.next() })),
    },
    Command {
        usage: "/ping",
        fields: &[0],
        build: Build::Open(|_| Ok(OpenRequest::Ping)),
    },
    Command {
        usage: "/resume|token",
        fields: &[1],
        build: Build::Open(|f| {
            Ok(OpenRequest::Resume {
                token: Secret(f.next()),
            })
        }),
    },
    Command {
        usage: "/changePassword|old|new",
        fields: &[2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::ChangePassword {
                old: Secret(f.next()),
                new: Secret(f.next()),
            })
        }),
    },
    Command {
        usage: "/editMessage|id|text",
        fields: &[2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::EditMessage {
                id: f.id("id", 1)?,
                text: f.next(),
            })
        }),
    },
    Command {
        usage: "/deleteMessage|id",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::DeleteMessage { id: f.id("id", 1)? })),
    },
    Command {
        usage: "/search|query[|room[|limit]]",
        fields: &[1, 2, 3],
        build: Build::AsUser(|f| {
            let query = f.next();
            let room = f.next_optional().filter(|room| !room.is_empty());
            let limit = f.optional_limit()?.unwrap_or(DEFAULT_SEARCH_LIMIT);
            Ok(UserRequest::Search { query, room, limit })
        }),
    },
    Command {
        usage: "/markRead|room|id",
        fields: &[2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::MarkRead {
                name: f.next(),
                id: f.id("id", 0)?,
            })
        }),
    },
    Command {
        usage: "/getUnread",
        fields: &[0],
        build: Build::AsUser(|_| Ok(UserRequest::GetUnread)),
    },
    Command {
        usage: "/getRoomInfo|name",
        fields: &[1],
        build: Build::AsUser(|f| Ok(UserRequest::GetRoomInfo { name: f.next() })),
    },
    Command {
        usage: "/setTopic|name|text",
        fields: &[2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::SetTopic {
                name: f.next(),
                topic: f.next(),
            })
        }),
    },
    Command {
        usage: "/setRetention|name|days",
        fields: &[2],
        build: Build::AsUser(|f| {
            Ok(UserRequest::SetRetention {
                name: f.next(),
                days: f.days()?,
            })
        }),
    },
    Command {
        usage: "/help",
        fields: &[0],
        build: Build::Open(|_| Ok(OpenRequest::Help)),
    },
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
        "invalid escape '\\{escape}'; inside a field use \\| for |, \\\\ for \\ and \\n for a \
         line feed; usage: {usage}"
    )]
    InvalidEscape { escape: char, usage: &'static str },
    #[error("a field ends with a lone backslash; write \\\\ for a backslash; usage: {0}")]
    TrailingBackslash(&'static str),
    #[error("{field} must be {expected}; usage: {usage}")]
    BadNumber {
        field: &'static str,
        expected: &'static str,
        usage: &'static str,
    },
}

/// Whether the command called `name` needs a login (its row builds a
/// [`UserRequest`]): on a connection not logged in it gets `401` even when
/// a field's value is bad (see `commands::malformed`).
pub fn needs_login(name: &str) -> bool {
    Command::find(name).is_some_and(Command::needs_login)
}

/// The wire name of the command a request line names, if it is one of
/// [`COMMANDS`] (a `&'static str`, so that metrics labels are bounded).
pub fn command_name(line: &str) -> Option<&'static str> {
    let name = line.split('|').next().unwrap_or(line);
    Command::find(name).map(Command::name)
}

impl Request {
    /// Parses one request line, without its line terminator.
    pub fn parse(line: &str) -> Result<Request, ParseError> {
        let (name, rest) = match line.find('|') {
            Some(at) => (&line[..at], Some(&line[at + 1..])),
            None => (line, None),
        };
        if !name.starts_with('/') {
            return Err(ParseError::NotACommand);
        }
        let command = Command::find(name)
            .ok_or_else(|| ParseError::UnknownCommand(shorten_for_reply(name)))?;
        let fields = match rest {
            Some(rest) => split_fields(rest, command.usage)?,
            None => Vec::new(),
        };
        if !command.fields.contains(&fields.len()) {
            return Err(ParseError::WrongFieldCount(command.usage));
        }
        let fields = &mut Fields {
            items: fields.into_iter(),
            usage: command.usage,
        };
        match command.build {
            Build::Open(build) => build(fields).map(Request::Open),
            Build::AsUser(build) => build(fields).map(Request::AsUser),
        }
    }
}

/// The fields of a request, consumed in order once their count is checked.
pub struct Fields {
    items: std::vec::IntoIter<String>,
    usage: &'static str,
}

impl Fields {
    /// The next field; only called after the count proved it is there.
    fn next(&mut self) -> String {
        self.items.next().unwrap_or_default()
    }

    fn next_optional(&mut self) -> Option<String> {
        self.items.next()
    }

    /// A message id of at least `minimum`.
    fn id(&mut self, field: &'static str, minimum: i64) -> Result<i64, ParseError> {
        let text = self.next();
        let expected = if minimum == 0 {
            "a whole number, 0 or more"
        } else {
            "a whole number, 1 or more"
        };
        match text.parse::<i64>() {
            Ok(value) if value >= minimum && is_digits(&text) => Ok(value),
            _ => Err(self.bad_number(field, expected)),
        }
    }

    fn optional_id(
        &mut self,
        field: &'static str,
        minimum: i64,
    ) -> Result<Option<i64>, ParseError> {
        match self.items.len() {
            0 => Ok(None),
            _ => self.id(field, minimum).map(Some),
        }
    }

    /// A fetch or search limit, within the core's bounds
    /// ([`limits::check_limit`]).
    fn limit(&mut self) -> Result<u32, ParseError> {
        let text = self.next();
        match text.parse::<u32>() {
            Ok(value) if limits::check_limit(value).is_ok() && is_digits(&text) => Ok(value),
            _ => Err(self.bad_number("limit", limits::LIMIT_RULE)),
        }
    }

    /// A number of days, 0 or more (the core bounds it).
    fn days(&mut self) -> Result<u32, ParseError> {
        let text = self.next();
        match text.parse::<u32>() {
            Ok(value) if is_digits(&text) => Ok(value),
            _ => Err(self.bad_number("days", "a whole number of days, 0 or more")),
        }
    }

    fn optional_limit(&mut self) -> Result<Option<u32>, ParseError> {
        match self.items.len() {
            0 => Ok(None),
            _ => self.limit().map(Some),
        }
    }

    fn bad_number(&self, field: &'static str, expected: &'static str) -> ParseError {
        ParseError::BadNumber {
            field,
            expected,
            usage: self.usage,
        }
    }
}

fn is_digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// Splits the part of a line after the command into unescaped fields; a
/// bad escape is refused with the command's `usage`.
fn split_fields(rest: &str, usage: &'static str) -> Result<Vec<String>, ParseError> {
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
                Some(escape) => return Err(ParseError::InvalidEscape { escape, usage }),
                None => return Err(ParseError::TrailingBackslash(usage)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each command is found by its own name, and by no shorter or longer one.
    #[test]
    fn commands_are_found_by_their_exact_name() {
        for command in COMMANDS {
            let name = command.name();
            assert_eq!(Command::find(name).unwrap().usage, command.usage);
            assert_eq!(command_name(&format!("{name}|x")), Some(name));
            assert!(
                Command::find(&name[..name.len() - 1]).is_none_or(|other| other.name() != name)
            );
            assert!(Command::find(&format!("{name}x")).is_none(), "{name}x");
        }
        assert!(Command::find("/").is_none());
    }

    /// The commands that work without a login are those the protocol lists.
    #[test]
    fn only_the_documented_commands_work_without_a_login() {
        let open: Vec<&str> = COMMANDS
            .iter()
            .filter(|command| !command.needs_login())
            .map(Command::name)
            .collect();
        assert_eq!(open, ["/register", "/login", "/ping", "/resume", "/help"]);
        assert!(needs_login("/sendMessage") && !needs_login("/ping"));
    }

    fn parse(line: &str) -> Result<Request, ParseError> {
        Request::parse(line)
    }

    #[test]
    fn parses_every_command_in_its_plain_form() {
        assert_eq!(
            parse("/register|alice|secret pw"),
            Ok(Request::Open(OpenRequest::Register {
                username: "alice".into(),
                password: Secret("secret pw".into())
            }))
        );
        assert_eq!(
            parse("/logout"),
            Ok(Request::AsUser(UserRequest::Logout { username: None }))
        );
        assert_eq!(
            parse("/logout|alice"),
            Ok(Request::AsUser(UserRequest::Logout {
                username: Some("alice".into())
            }))
        );
        assert_eq!(
            parse("/getAllChatrooms"),
            Ok(Request::AsUser(UserRequest::GetAllChatrooms))
        );
        assert_eq!(
            parse("/getActiveUsers"),
            Ok(Request::AsUser(UserRequest::GetActiveUsers))
        );
        assert_eq!(parse("/ping"), Ok(Request::Open(OpenRequest::Ping)));
        assert_eq!(parse("/help"), Ok(Request::Open(OpenRequest::Help)));
        assert_eq!(
            parse("/joinChatroom|general|alice"),
            Ok(Request::AsUser(UserRequest::JoinChatroom {
                name: "general".into(),
                username: Some("alice".into())
            }))
        );
    }

    #[test]
    fn fetch_messages_defaults_and_cursor() {
        assert_eq!(
            parse("/fetchMessages|general"),
            Ok(Request::AsUser(UserRequest::FetchMessages {
                name: "general".into(),
                after_id: None,
                limit: 100
            }))
        );
        assert_eq!(
            parse("/fetchMessages|general|0|1000"),
            Ok(Request::AsUser(UserRequest::FetchMessages {
                name: "general".into(),
                after_id: Some(0),
                limit: 1000
            }))
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
            Ok(Request::AsUser(UserRequest::SendMessage {
                name: "general".into(),
                text: "hi".into(),
                username: Some("alice".into())
            }))
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
            Ok(Request::AsUser(UserRequest::SendMessage {
                name: "general".into(),
                text: "a | b \\ c\nd".into(),
                username: None
            }))
        );
    }

    #[test]
    fn rejects_bad_escapes_and_counts() {
        assert_eq!(
            parse(r"/sendMessage|general|\t"),
            Err(ParseError::InvalidEscape {
                escape: 't',
                usage: "/sendMessage|name|text"
            })
        );
        assert_eq!(
            parse("/sendMessage|general|oops\\"),
            Err(ParseError::TrailingBackslash("/sendMessage|name|text"))
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
            Ok(Request::Open(OpenRequest::Login {
                username: " bob ".into(),
                password: Secret(" pass word ".into())
            }))
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
                Ok(Request::AsUser(UserRequest::SendMessage {
                    name: "room".into(),
                    text: text.into(),
                    username: None
                })),
                "for {text:?}"
            );
        }
    }

    #[test]
    fn passwords_and_tokens_are_never_printed_by_debug() {
        for line in [
            "/login|alice|hunter2hunter2",
            "/register|alice|hunter2hunter2",
            "/changePassword|hunter2hunter2|hunter2again",
            "/resume|hunter2tokenXYZ",
        ] {
            let request = parse(line).unwrap();
            assert!(!format!("{request:?}").contains("hunter2"), "{request:?}");
        }
    }
}
