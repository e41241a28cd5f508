//! `CHATHISTORY` (IRCv3 `draft/chathistory`): a room's or conversation's
//! stored messages, by message id (`msgid=42`, pipechat's own ids) or by
//! time (`timestamp=2026-11-25T10:00:00.000Z`), read through the core's
//! fetch, so a reconnecting client fills its gap from the same history as
//! every other front door.
//!
//! ```text
//! CHATHISTORY LATEST  <target> <* | ref> <limit>
//! CHATHISTORY BEFORE  <target> <ref> <limit>
//! CHATHISTORY AFTER   <target> <ref> <limit>
//! CHATHISTORY AROUND  <target> <ref> <limit>
//! CHATHISTORY BETWEEN <target> <ref> <ref> <limit>
//! CHATHISTORY TARGETS <timestamp=..> <timestamp=..> <limit>
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use super::caps;
use super::commands::{Client, place_of};
use super::line::Line;
use super::render::{self, SERVER, message_lines};
use crate::chat::{ChatError, Page};
use crate::wire::{MAX_FETCH_LIMIT, Message};

/// Where a reference stands among a place's ids: messages before it have
/// ids below `before`, messages after it ids above `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    before: i64,
    after: i64,
}

/// A reference as the client wrote it.
enum Reference {
    MsgId(i64),
    Time(String),
}

fn parse_reference(text: &str) -> Option<Reference> {
    if let Some(id) = text.strip_prefix("msgid=") {
        return id
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Reference::MsgId);
    }
    stored_time(text.strip_prefix("timestamp=")?).map(Reference::Time)
}

/// A client's RFC 3339 time as the store writes times (UTC, milliseconds),
/// so that the two compare as text.
pub(crate) fn stored_time(time: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    Some(crate::wire::timestamp(parsed.with_timezone(&chrono::Utc)))
}

pub(crate) fn chathistory(client: &mut Client, p: &[String]) {
    let Some(sub) = p.first().map(|s| s.to_ascii_uppercase()) else {
        return invalid(client, "*", "CHATHISTORY needs a subcommand");
    };
    if sub == "TARGETS" {
        return targets(client, &sub, &p[1..]);
    }
    if !matches!(
        sub.as_str(),
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "BETWEEN"
    ) {
        return client.push(render::fail(
            "CHATHISTORY",
            "INVALID_PARAMS",
            vec![sub, "Unknown subcommand".into()],
        ));
    }
    let needed = if sub == "BETWEEN" { 5 } else { 4 };
    if p.len() < needed {
        return invalid(client, &sub, "Not enough parameters");
    }
    let target = p[1].clone();
    let Some(limit) = history_limit(&p[needed - 1]) else {
        return invalid(client, &sub, "The limit must be a whole number above 0");
    };
    let Some(name) = place_of(&target) else {
        return client.push(render::fail(
            "CHATHISTORY",
            "INVALID_TARGET",
            vec![sub, target, "No such channel".into()],
        ));
    };
    let Some(me) = client.me().cloned() else {
        return;
    };
    let chat = client.chat();
    let position = |text: &str| -> Result<Option<Position>, ChatError> {
        match parse_reference(text) {
            None => Ok(None),
            Some(Reference::MsgId(id)) => Ok(Some(Position {
                before: id,
                after: id,
            })),
            Some(Reference::Time(at)) => Ok(Some(Position {
                before: chat.last_id_before(&me, &name, &at, false)? + 1,
                after: chat.last_id_before(&me, &name, &at, true)?,
            })),
        }
    };
    let fetched: Result<Option<Vec<Message>>, ChatError> = (|| {
        let first = if sub == "LATEST" && p[2] == "*" {
            None
        } else {
            match position(&p[2])? {
                Some(position) => Some(position),
                None => return Ok(None),
            }
        };
        let messages = match (sub.as_str(), first) {
            ("LATEST", None) => chat.fetch(&me, &name, Page::Latest { limit })?,
            ("LATEST", Some(from)) => {
                let mut messages = chat.fetch(&me, &name, Page::Latest { limit })?;
                messages.retain(|m| m.id > from.after);
                messages
            }
            ("BEFORE", Some(at)) => chat.fetch(
                &me,
                &name,
                Page::Before {
                    id: at.before,
                    limit,
                },
            )?,
            ("AFTER", Some(at)) => chat.fetch(
                &me,
                &name,
                Page::After {
                    id: at.after,
                    limit,
                },
            )?,
            ("AROUND", Some(at)) => {
                // Up to half before the reference; the rest from it on.
                let older = (limit - 1) / 2;
                let mut messages = if older > 0 {
                    chat.fetch(
                        &me,
                        &name,
                        Page::Before {
                            id: at.before,
                            limit: older,
                        },
                    )?
                } else {
                    Vec::new()
                };
                let newer = limit - messages.len() as u32;
                messages.extend(chat.fetch(
                    &me,
                    &name,
                    Page::After {
                        id: at.before - 1,
                        limit: newer,
                    },
                )?);
                messages
            }
            ("BETWEEN", Some(a)) => {
                let Some(b) = position(&p[3])? else {
                    return Ok(None);
                };
                if a.after < b.before {
                    let mut messages =
                        chat.fetch(&me, &name, Page::After { id: a.after, limit })?;
                    messages.retain(|m| m.id < b.before);
                    messages
                } else {
                    let mut messages = chat.fetch(
                        &me,
                        &name,
                        Page::Before {
                            id: a.before,
                            limit,
                        },
                    )?;
                    messages.retain(|m| m.id > b.after);
                    messages
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(messages))
    })();
    let messages = match fetched {
        Ok(Some(messages)) => messages,
        Ok(None) => {
            return invalid(
                client,
                &sub,
                "A reference is msgid=<id> or timestamp=<RFC 3339 time>",
            );
        }
        Err(
            err @ (ChatError::NoSuchRoom(_)
            | ChatError::NotMember(_)
            | ChatError::NoSuchUser(_)
            | ChatError::Invalid(_)),
        ) => {
            return client.push(render::fail(
                "CHATHISTORY",
                "INVALID_TARGET",
                vec![sub, target, err.sentence()],
            ));
        }
        Err(err) => return client.fail_line("CHATHISTORY", &err),
    };
    let caps = client.caps();
    let flags = render::flags(caps);
    let batch = caps.has(caps::BATCH).then(next_batch_id);
    if let Some(id) = &batch {
        client.push(
            Line::new(
                "BATCH",
                vec![format!("+{id}"), "chathistory".into(), target],
            )
            .with_source(SERVER),
        );
    }
    for message in &messages {
        for line in message_lines(message, flags, "PRIVMSG", batch.as_deref(), None) {
            client.push(line);
        }
    }
    if let Some(id) = batch {
        client.push(Line::new("BATCH", vec![format!("-{id}")]).with_source(SERVER));
    }
}

fn targets(client: &mut Client, sub: &str, p: &[String]) {
    if p.len() < 3 {
        return invalid(client, sub, "Not enough parameters");
    }
    let times: Vec<Option<String>> = p[..2]
        .iter()
        .map(|text| match parse_reference(text) {
            Some(Reference::Time(at)) => Some(at),
            _ => None,
        })
        .collect();
    let (Some(a), Some(b)) = (times[0].clone(), times[1].clone()) else {
        return invalid(client, sub, "TARGETS takes two timestamp= references");
    };
    let Some(limit) = history_limit(&p[2]) else {
        return invalid(client, sub, "The limit must be a whole number above 0");
    };
    let (after, before) = if a <= b { (a, b) } else { (b, a) };
    let Some(me) = client.me().cloned() else {
        return;
    };
    let places = match client.chat().recent_places(&me, &after, &before, limit) {
        Ok(places) => places,
        Err(err) => return client.fail_line("CHATHISTORY", &err),
    };
    let batch = client.caps().has(caps::BATCH).then(next_batch_id);
    if let Some(id) = &batch {
        client.push(
            Line::new(
                "BATCH",
                vec![format!("+{id}"), "draft/chathistory-targets".into()],
            )
            .with_source(SERVER),
        );
    }
    for (place, at) in places {
        let Some(target) = render::target_of_place(&place) else {
            continue;
        };
        let mut line = Line::new(
            "CHATHISTORY",
            vec!["TARGETS".into(), target, format!("timestamp={at}")],
        )
        .with_source(SERVER);
        if let Some(id) = &batch {
            line = line.with_tag("batch", id.clone());
        }
        client.push(line);
    }
    if let Some(id) = batch {
        client.push(Line::new("BATCH", vec![format!("-{id}")]).with_source(SERVER));
    }
}

fn invalid(client: &mut Client, sub: &str, why: &str) {
    client.push(render::fail(
        "CHATHISTORY",
        "INVALID_PARAMS",
        vec![sub.into(), why.into()],
    ));
}

/// A batch reference unique for the life of the process.
fn next_batch_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("h{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A CHATHISTORY limit: a whole number above 0, however large (as the
/// specification lets a client ask for more than the server gives), at
/// most [`MAX_FETCH_LIMIT`].
fn history_limit(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only too many digits fail now: more than any limit.
    let limit = text.parse::<u32>().unwrap_or(u32::MAX);
    (limit > 0).then(|| limit.min(MAX_FETCH_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any whole number above 0 is a limit, at most the fetch limit.
    #[test]
    fn a_limit_is_any_whole_number_above_zero() {
        assert_eq!(history_limit("5"), Some(5));
        assert_eq!(history_limit("5000"), Some(MAX_FETCH_LIMIT));
        assert_eq!(history_limit("4294967296"), Some(MAX_FETCH_LIMIT));
        assert_eq!(history_limit(&"9".repeat(40)), Some(MAX_FETCH_LIMIT));
        for refused in ["0", "000", "", "-1", "+1", "1e3", "x"] {
            assert_eq!(history_limit(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn references() {
        assert!(matches!(
            parse_reference("msgid=42"),
            Some(Reference::MsgId(42))
        ));
        assert!(parse_reference("msgid=x").is_none());
        assert!(parse_reference("msgid=0").is_none());
        match parse_reference("timestamp=2026-11-25T10:00:00+01:00") {
            Some(Reference::Time(at)) => assert_eq!(at, "2026-11-25T09:00:00.000Z"),
            _ => panic!("a timestamp"),
        }
        assert!(parse_reference("timestamp=yesterday").is_none());
        assert!(parse_reference("*").is_none());
    }
}
