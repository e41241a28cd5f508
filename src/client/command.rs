//! A line typed in a chatroom or a direct conversation: a message to send,
//! or one of the `/` commands.
//!
//! # Format
//!
//! ```text
//! any text             sent as it is typed
//! //text               sends "/text"
//! /members             /history [N]        /ids
//! /msg NAME TEXT       /edit ID TEXT       /delete ID
//! /search WORDS        /topic [TEXT|-]     /info
//! /retention DAYS      /password           /help
//! /join NAME|@NAME     /leave              /quit    /exit
//! /me ACTION           sends "/me ACTION", shown as "* alice ACTION"
//! ```
//!
//! Which lines are commands follows the web page's message box: a `/word`
//! (a slash and ASCII letters, then white space or the end of the line)
//! is a command, and one that is not known is refused rather than sent; a
//! line that only starts with a slash (`/usr/bin is full`, `/2 cents`) is a
//! message.
//!
//! `ID` may be written `42` or `#42`, as ids are shown. The text of `/msg`
//! and `/edit` is the rest of the line after the one space that ends the
//! name or id, exactly as typed.

use crate::chat::limits::{self, MAX_RETENTION_DAYS};
use crate::wire::{ACTION_PREFIX, MAX_FETCH_LIMIT};

/// How many earlier messages `/history` shows when no number is given.
pub const DEFAULT_HISTORY: u32 = 20;

/// What `/topic` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicChange {
    /// `/topic`: show it.
    Show,
    /// `/topic TEXT`: set it.
    Set(String),
    /// `/topic -`: clear it.
    Clear,
}

/// A line typed in a room or a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand {
    Nothing,
    Send(String),
    Members,
    History(u32),
    Ids,
    Msg {
        to: String,
        text: String,
    },
    Edit {
        id: i64,
        text: String,
    },
    Delete(i64),
    Search(String),
    Topic(TopicChange),
    Info,
    Retention(u32),
    Password,
    Help,
    /// `/exit`: leaves a room (as `/leave`), or goes back to the menu
    /// from a conversation; kept for scripts and old habits.
    Exit,
    /// `/leave`: stop being a member of the room.
    Leave,
    /// `/quit`: end the client, staying a member.
    Quit,
    /// `/join NAME`: another room, or (`@NAME`) a conversation, as typed.
    Join(String),
    /// A `/word` that is not a command, or a command used wrongly: the
    /// explanation.
    Mistake(String),
}

impl RoomCommand {
    pub fn parse(line: &str) -> RoomCommand {
        if line.trim().is_empty() {
            return RoomCommand::Nothing;
        }
        if let Some(text) = line.strip_prefix("//") {
            return RoomCommand::Send(format!("/{text}"));
        }
        let (command, rest) = split_word(line);
        if !is_command_word(command) {
            return RoomCommand::Send(line.to_string());
        }
        let usage = |usage: &str| RoomCommand::Mistake(format!("usage: {usage}"));
        let bare = |then: RoomCommand| {
            if rest.trim().is_empty() {
                then
            } else {
                RoomCommand::Mistake(format!(
                    "{command} takes no arguments; /help lists the commands"
                ))
            }
        };
        // `/MSG` is `/msg`: a command's name is not case-sensitive.
        match command.to_ascii_lowercase().as_str() {
            "/exit" => bare(RoomCommand::Exit),
            "/leave" => bare(RoomCommand::Leave),
            "/quit" => bare(RoomCommand::Quit),
            "/join" => match rest.trim() {
                "" | "@" => usage("/join NAME (a chatroom), or /join @NAME (a conversation)"),
                target => RoomCommand::Join(target.to_string()),
            },
            "/members" => bare(RoomCommand::Members),
            "/help" => bare(RoomCommand::Help),
            "/ids" => bare(RoomCommand::Ids),
            "/info" => bare(RoomCommand::Info),
            "/password" => bare(RoomCommand::Password),
            "/history" => match rest.trim() {
                "" => RoomCommand::History(DEFAULT_HISTORY),
                count => match count.parse::<u32>() {
                    Ok(count) if (1..=MAX_FETCH_LIMIT).contains(&count) => {
                        RoomCommand::History(count)
                    }
                    _ => usage(&format!("/history N, with N from 1 to {MAX_FETCH_LIMIT}")),
                },
            },
            "/msg" => {
                let (name, text) = split_word(rest.trim_start());
                let name = name.strip_prefix('@').unwrap_or(name);
                // Spaces typed after the name part it from the text.
                let text = text.trim_start_matches([' ', '\t']);
                if name.is_empty() || text.trim().is_empty() {
                    return usage("/msg NAME TEXT, e.g. /msg bob hi");
                }
                RoomCommand::Msg {
                    to: name.to_string(),
                    text: text.to_string(),
                }
            }
            "/edit" => {
                let (id, text) = split_word(rest.trim_start());
                match (message_id(id), text.trim().is_empty()) {
                    (Some(id), false) => RoomCommand::Edit {
                        id,
                        text: text.to_string(),
                    },
                    _ => usage("/edit ID TEXT, with the id /ids shows, e.g. /edit 42 fixed"),
                }
            }
            "/delete" => match message_id(rest.trim()) {
                Some(id) => RoomCommand::Delete(id),
                None => usage("/delete ID, with the id /ids shows, e.g. /delete 42"),
            },
            "/me" => match rest.trim() {
                "" => usage("/me ACTION, e.g. /me waves"),
                action => RoomCommand::Send(format!("{ACTION_PREFIX}{action}")),
            },
            "/search" => match rest.trim() {
                "" => usage("/search WORDS"),
                words => RoomCommand::Search(words.to_string()),
            },
            "/topic" => match rest.trim() {
                "" => RoomCommand::Topic(TopicChange::Show),
                "-" => RoomCommand::Topic(TopicChange::Clear),
                topic => match limits::check_topic(topic) {
                    Ok(()) => RoomCommand::Topic(TopicChange::Set(topic.to_string())),
                    Err(rule) => RoomCommand::Mistake(rule),
                },
            },
            "/retention" => match rest.trim().parse::<u32>() {
                // Alone: what it is now (it was the usage).
                _ if rest.trim().is_empty() => RoomCommand::Info,
                Ok(days) if days <= MAX_RETENTION_DAYS => RoomCommand::Retention(days),
                _ => usage(&format!(
                    "/retention DAYS, with DAYS from 0 (keep forever) to {MAX_RETENTION_DAYS}"
                )),
            },
            _ => RoomCommand::Mistake(format!(
                "unknown command '{command}'; /help lists the commands, // starts a message with /"
            )),
        }
    }

    /// Whether the command makes sense only in a chatroom, not in a direct
    /// conversation.
    pub fn only_in_rooms(&self) -> bool {
        matches!(
            self,
            RoomCommand::Members
                | RoomCommand::Topic(_)
                | RoomCommand::Info
                | RoomCommand::Retention(_)
                | RoomCommand::Leave
        )
    }
}

/// Whether the first word of a line is a command's shape, as the web page
/// takes it: a slash, then ASCII letters only.
fn is_command_word(word: &str) -> bool {
    word.strip_prefix('/')
        .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// The first word of `text` and the rest after the one white-space
/// character that ends it (the rest is kept as typed).
fn split_word(text: &str) -> (&str, &str) {
    match text.char_indices().find(|(_, c)| c.is_whitespace()) {
        Some((end, space)) => (&text[..end], &text[end + space.len_utf8()..]),
        None => (text, ""),
    }
}

/// A message id as typed: `42` or `#42`.
fn message_id(word: &str) -> Option<i64> {
    let digits = word.strip_prefix('#').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistake(line: &str) -> bool {
        matches!(RoomCommand::parse(line), RoomCommand::Mistake(_))
    }

    #[test]
    fn plain_lines_are_sent_exactly_as_typed() {
        assert_eq!(
            RoomCommand::parse(" hi | there \\ "),
            RoomCommand::Send(" hi | there \\ ".into())
        );
        assert_eq!(
            RoomCommand::parse("//exit is a command"),
            RoomCommand::Send("/exit is a command".into())
        );
        assert_eq!(RoomCommand::parse("   "), RoomCommand::Nothing);
    }

    #[test]
    fn a_line_that_only_starts_with_a_slash_is_a_message() {
        for line in [
            "/usr/bin is full",
            "/2 cents",
            "/",
            "/ hi",
            "/é",
            "/msg2 x",
            "/x-y",
        ] {
            assert_eq!(RoomCommand::parse(line), RoomCommand::Send(line.into()));
        }
    }

    #[test]
    fn join_leave_and_quit_are_commands() {
        assert_eq!(RoomCommand::parse("/leave"), RoomCommand::Leave);
        assert_eq!(RoomCommand::parse("/QUIT "), RoomCommand::Quit);
        assert_eq!(
            RoomCommand::parse("/join  study group "),
            RoomCommand::Join("study group".into())
        );
        assert_eq!(
            RoomCommand::parse("/join @bob"),
            RoomCommand::Join("@bob".into())
        );
        assert!(RoomCommand::Leave.only_in_rooms());
        assert!(!RoomCommand::Join("x".into()).only_in_rooms());
    }

    #[test]
    fn room_commands_are_recognised() {
        assert_eq!(RoomCommand::parse("/exit"), RoomCommand::Exit);
        assert_eq!(RoomCommand::parse("/exit "), RoomCommand::Exit);
        assert_eq!(RoomCommand::parse("/members"), RoomCommand::Members);
        assert_eq!(RoomCommand::parse("/help"), RoomCommand::Help);
        assert_eq!(RoomCommand::parse("/ids"), RoomCommand::Ids);
        assert_eq!(RoomCommand::parse("/info"), RoomCommand::Info);
        assert_eq!(RoomCommand::parse("/password"), RoomCommand::Password);
        assert_eq!(
            RoomCommand::parse("/history"),
            RoomCommand::History(DEFAULT_HISTORY)
        );
        assert_eq!(RoomCommand::parse("/history 5"), RoomCommand::History(5));
        assert_eq!(
            RoomCommand::parse("/me  waves | hi "),
            RoomCommand::Send("/me waves | hi".into())
        );
        assert!(mistake("/me"));
    }

    #[test]
    fn msg_and_edit_keep_their_text_as_typed() {
        assert_eq!(
            RoomCommand::parse("/msg bob hi |  there "),
            RoomCommand::Msg {
                to: "bob".into(),
                text: "hi |  there ".into()
            }
        );
        // Spaces between the name and the text are not the text's; a
        // command's name may be typed in any case.
        assert_eq!(
            RoomCommand::parse("/MSG @Bob  two"),
            RoomCommand::Msg {
                to: "Bob".into(),
                text: "two".into()
            }
        );
        assert_eq!(RoomCommand::parse("/Exit"), RoomCommand::Exit);
        assert_eq!(
            RoomCommand::parse("/edit #42 fixed \\ text"),
            RoomCommand::Edit {
                id: 42,
                text: "fixed \\ text".into()
            }
        );
        assert_eq!(
            RoomCommand::parse("/edit 7 x"),
            RoomCommand::Edit {
                id: 7,
                text: "x".into()
            }
        );
        assert_eq!(RoomCommand::parse("/delete #42"), RoomCommand::Delete(42));
        assert_eq!(RoomCommand::parse("/delete 9 "), RoomCommand::Delete(9));
    }

    #[test]
    fn search_topic_and_retention_take_their_arguments() {
        assert_eq!(
            RoomCommand::parse("/search  café deplo* "),
            RoomCommand::Search("café deplo*".into())
        );
        assert_eq!(
            RoomCommand::parse("/topic"),
            RoomCommand::Topic(TopicChange::Show)
        );
        assert_eq!(
            RoomCommand::parse("/topic  deploys | only "),
            RoomCommand::Topic(TopicChange::Set("deploys | only".into()))
        );
        assert_eq!(
            RoomCommand::parse("/topic -"),
            RoomCommand::Topic(TopicChange::Clear)
        );
        assert_eq!(
            RoomCommand::parse("/retention 0"),
            RoomCommand::Retention(0)
        );
        assert_eq!(
            RoomCommand::parse("/retention 30"),
            RoomCommand::Retention(30)
        );
        assert_eq!(RoomCommand::parse("/retention"), RoomCommand::Info);
        assert!(RoomCommand::Topic(TopicChange::Show).only_in_rooms());
        assert!(!RoomCommand::Search("x".into()).only_in_rooms());
    }

    #[test]
    fn mistakes_are_explained_not_sent() {
        for line in [
            "/history 0",
            "/history x",
            "/history 1001",
            "/exit now",
            "/ids on",
            "/quit now",
            "/leave general",
            "/join",
            "/join  ",
            "/shout hi",
            "/Nope",
            "/msg",
            "/msg bob",
            "/msg bob   ",
            "/msg @ hi",
            "/edit",
            "/edit 42",
            "/edit x text",
            "/edit 0 text",
            "/edit -1 text",
            "/edit 99999999999999999999 text",
            "/delete",
            "/delete x",
            "/delete 4 2",
            "/search",
            "/search   ",
            "/retention -1",
            "/retention 36501",
            "/retention forever",
        ] {
            assert!(mistake(line), "{line}");
        }
        assert!(mistake(&format!("/topic {}", "x".repeat(391))));
    }
}
