//! The protocol's rules for names, passwords, message texts, topics, away
//! messages, retention periods and page sizes.
//!
//! Each check returns the sentence a user sees in a `400`, so the rule and its
//! explanation cannot drift apart.

use crate::wire::MAX_FETCH_LIMIT;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Shortest and longest password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1_024;
/// Longest chatroom name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
// The names a migration gives a room fit the store's own copy of this rule
// (the store knows no rules of the core), which must stay this one.
const _: () = assert!(MAX_ROOM_NAME_CHARS == crate::store::LONGEST_ROOM_NAME);
/// Longest message, in characters (Unicode scalar values).
pub const MAX_MESSAGE_CHARS: usize = 4_096;
/// Longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 390;
/// Longest away message, in characters; a longer one is cut, not refused
/// (IRC clients send what they were given and expect the server to cut it
/// to its `AWAYLEN`).
pub const MAX_AWAY_CHARS: usize = 390;
/// Longest retention period, in days (about a century).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// [`check_limit`]'s rule, as a sentence: the pipe's `400` for a limit that
/// is not even a number says it too. A literal, since the parser's error
/// holds a `&'static str`; a test keeps it saying [`MAX_FETCH_LIMIT`].
pub const LIMIT_RULE: &str = "a whole number from 1 to 1000";

/// A page of a fetch or a search holds at least one message, and at most
/// [`MAX_FETCH_LIMIT`]: one request must not make the server read and send
/// a room whole. (IRC's CHATHISTORY asks for more and gets this many, as
/// its `CHATHISTORY=1000` token announces.)
pub fn check_limit(limit: u32) -> Result<(), String> {
    if (1..=MAX_FETCH_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(format!("a limit is {LIMIT_RULE}"))
    }
}

/// Names no account or guest may take, without regard to case: the
/// server's own name on IRC (`irc::render::SERVER`, the source of its
/// notices, such as the one telling of an edit) and the usual IRC
/// services, to which IRC clients send passwords (`PRIVMSG NickServ
/// :IDENTIFY …`). Whoever held one could pass for the server, or read
/// those passwords. Accounts made before keep their names.
const RESERVED_NAMES: &[&str] = &[
    "pipechat", "NickServ", "ChanServ", "SaslServ", "MemoServ", "OperServ", "HostServ", "BotServ",
];

/// Whether no account or guest may take `name`: the server's own name
/// on IRC, or an IRC service's, which IRC clients trust.
pub fn is_reserved_name(name: &str) -> bool {
    RESERVED_NAMES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
}

/// A username is 1 to 32 characters from `A-Z a-z 0-9 _ . -`.
pub fn check_username(username: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if username.is_empty() || username.len() > MAX_USERNAME_CHARS {
        return Err(format!(
            "a username has 1 to {MAX_USERNAME_CHARS} characters"
        ));
    }
    if !username.chars().all(allowed) {
        // Both cases named, and the signs quoted: "letters A-Z, digits and
        // _ . -" read as capitals only, and the web page's full stop after
        // the bare "-" read as a fourth sign.
        return Err(
            "a username may only contain letters (A-Z, a-z), digits, '_', '.' and '-'".to_string(),
        );
    }
    Ok(())
}

/// Whether a line could be someone's password (long enough): a script's
/// line that may be one is never shown.
pub fn may_be_password(line: &str) -> bool {
    line.len() >= MIN_PASSWORD_BYTES
}

/// A password is 8 to 1,024 bytes; anything else about it is the user's choice.
pub fn check_password(password: &str) -> Result<(), String> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(format!(
            "a password has {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes"
        ))
    }
}

/// A chatroom name is 1 to 64 characters, no control characters and no white
/// space at either end (so `general` and `general ` cannot both exist).
pub fn check_room_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_ROOM_NAME_CHARS {
        return Err(format!(
            "a chatroom name has 1 to {MAX_ROOM_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a chatroom name may not contain control characters".to_string());
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err("a chatroom name may not start or end with white space".to_string());
    }
    if name.starts_with('@') {
        return Err("a chatroom name may not begin with @, which names a user".to_string());
    }
    Ok(())
}

/// A topic is 0 to 390 characters without a line feed, none of them NUL;
/// empty clears it. Other control characters (a carriage return, a tab)
/// are kept, as in messages: the protocol refuses only line feeds, and
/// every front door renders control characters harmlessly.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(format!("a topic has at most {MAX_TOPIC_CHARS} characters"));
    }
    if topic.contains('\n') {
        return Err("a topic is one line: no line feeds".to_string());
    }
    if topic.contains('\0') {
        return Err(NO_NUL.to_string());
    }
    Ok(())
}

/// A retention period is 0 (forever) to 36,500 days.
pub fn check_retention_days(days: u32) -> Result<(), String> {
    if days <= MAX_RETENTION_DAYS {
        Ok(())
    } else {
        Err(format!(
            "days must be from 0 (keep forever) to {MAX_RETENTION_DAYS}"
        ))
    }
}

/// Why a text with U+0000 is refused: PostgreSQL cannot store it, and a
/// request must have the same answer on either engine. Nobody types one.
const NO_NUL: &str = "a text may not contain the NUL character (U+0000)";

/// A message is 1 to 4,096 characters, none of them NUL.
pub fn check_message_text(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("a message may not be empty".to_string());
    }
    if text.contains('\0') {
        return Err(NO_NUL.to_string());
    }
    // Counting only when the byte length makes it possible to be too long.
    if text.len() > MAX_MESSAGE_CHARS && text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(format!(
            "a message has at most {MAX_MESSAGE_CHARS} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule, written from the limit, reads as the users saw it when it
    /// was a literal.
    #[test]
    fn the_limit_rule_names_the_limit() {
        assert_eq!(
            LIMIT_RULE,
            format!("a whole number from 1 to {MAX_FETCH_LIMIT}")
        );
        assert_eq!(
            check_limit(MAX_FETCH_LIMIT + 1).unwrap_err(),
            "a limit is a whole number from 1 to 1000"
        );
    }

    #[test]
    fn a_limit_is_one_to_the_most_a_page_holds() {
        assert!(check_limit(0).is_err());
        assert!(check_limit(1).is_ok());
        assert!(check_limit(MAX_FETCH_LIMIT).is_ok());
        let err = check_limit(MAX_FETCH_LIMIT + 1).unwrap_err();
        assert!(err.ends_with(&MAX_FETCH_LIMIT.to_string()), "{err}");
    }

    #[test]
    fn usernames() {
        assert!(check_username("alice_B.1-x").is_ok());
        assert!(check_username(&"a".repeat(32)).is_ok());
        assert!(check_username(&"a".repeat(33)).is_err());
        assert!(check_username("").is_err());
        assert!(check_username("al ice").is_err());
        assert!(check_username("älice").is_err());
        assert!(check_username("a|b").is_err());
    }

    /// The refusal names both cases, and each sign apart from the sentence
    /// around it (the web page ends it with a full stop).
    #[test]
    fn the_username_rule_names_both_cases() {
        let err = check_username("hana!").unwrap_err();
        assert!(err.contains("A-Z, a-z"), "{err}");
        assert!(err.ends_with("'.' and '-'"), "{err}");
    }

    #[test]
    fn passwords() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn room_names() {
        assert!(check_room_name("general").is_ok());
        assert!(check_room_name("Café ☕ talk").is_ok());
        assert!(check_room_name(&"é".repeat(64)).is_ok());
        assert!(check_room_name(&"é".repeat(65)).is_err());
        assert!(check_room_name("").is_err());
        assert!(check_room_name(" general").is_err());
        assert!(check_room_name("general\t").is_err());
        assert!(check_room_name("gen\neral").is_err());
        assert!(check_room_name("@bob").is_err());
        assert!(check_room_name("bob@home").is_ok());
    }

    #[test]
    fn topics_and_retention() {
        assert!(check_topic("").is_ok());
        assert!(check_topic(&"é".repeat(390)).is_ok());
        assert!(check_topic("x\0y").is_err());
        assert!(check_topic(&"é".repeat(391)).is_err());
        assert!(check_topic("two\nlines").is_err());
        assert!(check_topic("carriage\rreturn\tand tab").is_ok());
        assert!(check_retention_days(0).is_ok());
        assert!(check_retention_days(36_500).is_ok());
        assert!(check_retention_days(36_501).is_err());
    }

    #[test]
    fn message_texts() {
        assert!(check_message_text("").is_err());
        assert!(check_message_text("😀").is_ok());
        assert!(check_message_text(&"😀".repeat(4096)).is_ok());
        assert!(check_message_text(&"😀".repeat(4097)).is_err());
        assert!(check_message_text("a\0b").is_err());
        assert!(check_message_text("tab\there").is_ok());
    }
}
