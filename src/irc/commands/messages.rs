//! PRIVMSG and NOTICE to channels and nicks (stored messages, or live-only
//! notices), CTCP, multiline BATCHes, and REDACT (deleting a message).

use super::super::caps;
use super::super::connection::{Own, notice_lines};
use super::super::history::stored_time;
use super::super::line::{Ctcp, Line, parse_ctcp};
use super::super::render::{self, hostmask, message_lines};
use super::{Client, InBatch, MAX_TARGETS, place_of};
use crate::chat::{ChatError, Live, room_key};
use crate::wire::ACTION_PREFIX;

impl Client {
    pub(super) fn message(&mut self, command: &str, p: &[String]) {
        let notice = command == "NOTICE";
        let Some(targets) = p.first().filter(|t| !t.is_empty()).cloned() else {
            if !notice {
                self.numeric("411", vec![format!("No recipient given ({command})")]);
            }
            return;
        };
        let Some(text) = p.get(1).filter(|t| !t.is_empty()).cloned() else {
            if !notice {
                self.numeric("412", vec!["No text to send".into()]);
            }
            return;
        };
        for target in self.targets(&targets, MAX_TARGETS) {
            self.send_to(command, target, text.clone());
        }
    }

    /// Sends one PRIVMSG (stored) or NOTICE (live only) to a channel or nick.
    fn send_to(&mut self, command: &str, target: &str, text: String) {
        let Some(me) = self.me.clone() else {
            return;
        };
        let Some(name) = place_of(target) else {
            return self.no_such_channel(target);
        };
        // What the echo of this send is known by: a room or a nick.
        let place = room_key(name.strip_prefix('@').unwrap_or(&name));
        let text = match parse_ctcp(&text) {
            Some(ctcp) if command == "PRIVMSG" => {
                if ctcp.command != "ACTION" {
                    // Never stored: answered for a user, dropped in a channel.
                    if !target.starts_with('#') {
                        self.ctcp_reply(target, &ctcp);
                    }
                    return;
                }
                let action = ctcp.args.trim();
                if action.is_empty() {
                    return;
                }
                format!("{ACTION_PREFIX}{action}")
            }
            _ => text,
        };
        if command == "NOTICE" {
            if self
                .chat
                .notice(&self.session, &me, &name, text.clone())
                .is_ok()
                && self.caps.has(caps::ECHO_MESSAGE)
            {
                let notice = crate::chat::Notice {
                    from: me.username.clone(),
                    guest: self.is_guest(),
                    to: crate::chat::NoticeTo::User(target.to_string()),
                    text,
                    origin: self.session.id(),
                };
                let lines = notice_lines(self.caps, &notice, target, None);
                self.out.extend(lines);
            }
            return;
        }
        // A message to oneself is also delivered to oneself, which does
        // without echo-message; with it, only the echo is sent.
        let to_self = target.eq_ignore_ascii_case(&me.username);
        if !to_self || self.caps.has(caps::ECHO_MESSAGE) {
            self.peer.begin(Own::Send {
                place,
                text: text.clone(),
            });
        }
        let sent = self.chat.send(&me, name, text);
        self.peer.end();
        match sent {
            Ok(message) => {
                if self.caps.has(caps::ECHO_MESSAGE) {
                    let lines =
                        message_lines(&message, render::flags(self.caps), "PRIVMSG", None, None);
                    self.out.extend(lines);
                }
                if message.room.is_none()
                    && let Some(Some(Live {
                        away: Some(away), ..
                    })) = self
                        .chat
                        .live(std::slice::from_ref(&target.to_string()))
                        .pop()
                {
                    self.numeric("301", vec![target.to_string(), away]);
                }
            }
            Err(ChatError::NotMember(_)) => self.numeric(
                "404",
                vec![
                    target.to_string(),
                    "Cannot send to channel: join it first".into(),
                ],
            ),
            Err(ChatError::NoSuchRoom(_)) => {
                self.numeric("403", vec![target.to_string(), "No such channel".into()]);
            }
            Err(err) => self.chat_error(target, &err),
        }
    }

    /// The server's answer to a CTCP request to a user (who may be on any
    /// front door, so cannot answer it): a CTCP reply NOTICE from the user,
    /// saying that the server answers. Requests it does not know are
    /// dropped, as clients drop them.
    fn ctcp_reply(&mut self, target: &str, ctcp: &Ctcp<'_>) {
        let Ok(user) = self.chat.find_user(target) else {
            return self.numeric(
                "401",
                vec![target.to_string(), "No such nick/channel".into()],
            );
        };
        let version = format!("pipechat-{}", env!("CARGO_PKG_VERSION"));
        let reply = match ctcp.command.as_str() {
            "VERSION" => format!(
                "VERSION {version}: {} chats through pipechat; the server answers for them",
                user.username
            ),
            "PING" => format!("PING {}", ctcp.args),
            "TIME" => format!("TIME {}", chrono::Utc::now().to_rfc2822()),
            "CLIENTINFO" => "CLIENTINFO ACTION CLIENTINFO PING TIME VERSION".to_string(),
            _ => return,
        };
        let me = self.nick_or_star();
        self.out.push(
            Line::new("NOTICE", vec![me, format!("\u{1}{reply}\u{1}")])
                .with_source(hostmask(&user.username, user.guest)),
        );
    }

    pub(super) fn batch_start(&mut self, p: &[String]) {
        let Some(reference) = p.first() else {
            return self.need_more("BATCH");
        };
        let Some(reference) = reference.strip_prefix('+') else {
            return self.out.push(render::fail(
                "BATCH",
                "MULTILINE_INVALID",
                vec!["No such batch open".into()],
            ));
        };
        if p.get(1).map(String::as_str) != Some("draft/multiline")
            || !self.caps.has(caps::MULTILINE)
            || p.len() < 3
        {
            return self.out.push(render::fail(
                "BATCH",
                "MULTILINE_INVALID",
                vec!["Only draft/multiline batches are accepted".into()],
            ));
        }
        self.batch = Some(InBatch {
            reference: reference.to_string(),
            target: p[2].clone(),
            label: self.label.take(),
            text: String::new(),
            lines: 0,
            command: String::new(),
            failed: None,
        });
    }

    /// A line of the client's multiline batch: collected until it closes.
    pub(super) fn in_batch(&mut self, command: &str, line: Line) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        if command == "BATCH" {
            if line.params.first().map(String::as_str) != Some(&format!("-{}", batch.reference)) {
                return;
            }
            let Some(batch) = self.batch.take() else {
                return;
            };
            self.label = batch.label.clone();
            if let Some((code, why)) = batch.failed {
                return self.out.push(render::fail("BATCH", code, vec![why]));
            }
            if batch.text.trim().is_empty() {
                return self.out.push(render::fail(
                    "BATCH",
                    "MULTILINE_INVALID",
                    vec!["The batch holds no text".into()],
                ));
            }
            let command = if batch.command.is_empty() {
                "PRIVMSG".to_string()
            } else {
                batch.command
            };
            return self.send_to(&command, &batch.target, batch.text);
        }
        if line.tag("batch") != Some(batch.reference.as_str()) {
            // A line outside the batch: handled as usual.
            let batch = self.batch.take();
            self.line(line);
            self.batch = batch;
            return;
        }
        if batch.failed.is_some() {
            return;
        }
        if !matches!(command, "PRIVMSG" | "NOTICE")
            || line.params.first() != Some(&batch.target)
            || (!batch.command.is_empty() && batch.command != command)
        {
            batch.failed = Some((
                "MULTILINE_INVALID",
                "A multiline batch holds PRIVMSG or NOTICE lines to its target".into(),
            ));
            return;
        }
        batch.command = command.to_string();
        let text = line.params.get(1).cloned().unwrap_or_default();
        if batch.lines > 0 && line.tag("draft/multiline-concat").is_none() {
            batch.text.push('\n');
        }
        batch.text.push_str(&text);
        batch.lines += 1;
        if batch.lines > caps::MULTILINE_MAX_LINES {
            batch.failed = Some((
                "MULTILINE_MAX_LINES",
                format!("At most {} lines", caps::MULTILINE_MAX_LINES),
            ));
        } else if batch.text.len() > caps::MULTILINE_MAX_BYTES {
            batch.failed = Some((
                "MULTILINE_MAX_BYTES",
                format!("At most {} bytes", caps::MULTILINE_MAX_BYTES),
            ));
        }
    }

    /// `draft/read-marker`: `MARKREAD target` asks how far the user has
    /// read there, `MARKREAD target timestamp=T` moves it forward to the
    /// newest message sent by `T`. Either way the answer is the marker as
    /// it now is (the same position the pipe's `/markRead` and the web page
    /// move), and the user's other IRC connections hear of a move.
    pub(super) fn markread(&mut self, p: &[String]) {
        let Some(target) = p.first().cloned() else {
            return self.out.push(render::fail(
                "MARKREAD",
                "NEED_MORE_PARAMS",
                vec!["Missing target".into()],
            ));
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        let invalid =
            |why: String| render::fail("MARKREAD", "INVALID_PARAMS", vec![target.clone(), why]);
        let Some(place) = place_of(&target) else {
            return self.out.push(invalid("No such channel".into()));
        };
        // A move made elsewhere meanwhile goes out after this answer, which
        // it is newer than (as a join holds its room's events).
        if self.peer.hold_if_free(&place) {
            self.to_release.push(place.clone());
        }
        let marker = match p.get(1) {
            None => self.chat.read_marker(&me, &place),
            Some(param) => {
                let at = param.strip_prefix("timestamp=").and_then(stored_time);
                let Some(at) = at else {
                    return self
                        .out
                        .push(invalid("The marker is timestamp=<RFC 3339 time>".into()));
                };
                // Its own news of the move is this answer (with its label).
                self.peer.begin(Own::MarkRead {
                    place: room_key(&place),
                });
                let marked = self.chat.mark_read_at(&me, place, &at);
                self.peer.end();
                marked
            }
        };
        match marker {
            Ok(at) => self.out.push(render::markread_line(&target, at.as_deref())),
            Err(err) if err.is_server_side() => self.out.push(render::fail(
                "MARKREAD",
                "INTERNAL_ERROR",
                vec![target.clone(), err.sentence()],
            )),
            Err(err) => self.out.push(invalid(err.sentence())),
        }
    }

    pub(super) fn redact(&mut self, p: &[String]) {
        let (Some(target), Some(msgid)) = (p.first(), p.get(1)) else {
            return self.need_more("REDACT");
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        let fail = |code: &str, why: &str| {
            render::fail(
                "REDACT",
                code,
                vec![target.clone(), msgid.clone(), why.into()],
            )
        };
        let Ok(id) = msgid.parse::<i64>() else {
            return self.out.push(fail("UNKNOWN_MSGID", "No such message"));
        };
        // The message must be in the target named: `REDACT #a 5` for a
        // message of `#b` deleted it there.
        let Some(place) = place_of(target) else {
            return self.out.push(fail("UNKNOWN_MSGID", "No such message"));
        };
        self.peer.begin(Own::Delete { id });
        let deleted = self.chat.delete(&me, id, Some(place));
        self.peer.end();
        match deleted {
            Ok(()) => {
                // Its echo answers it (labelled, under labeled-response).
                if let Some(deleted) = self.peer.take_deleted() {
                    let lines = render::delete_lines(&deleted, render::flags(self.caps));
                    self.out.extend(lines);
                }
            }
            Err(ChatError::NotAuthorOrOwner(_)) => self.out.push(fail(
                "REDACT_FORBIDDEN",
                "Only its author or the room's owner may delete a message",
            )),
            Err(err) if err.is_server_side() => {
                self.out.push(fail("INTERNAL_ERROR", &err.sentence()));
            }
            Err(_) => self.out.push(fail("UNKNOWN_MSGID", "No such message")),
        }
    }
}
