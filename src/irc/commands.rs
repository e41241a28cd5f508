//! What each IRC command asks of the chat core, and the lines it answers.
//!
//! A [`Client`] is one connection's state: registration (CAP, SASL, PASS,
//! NICK, USER), its identity once registered (an account, or a guest with
//! `--irc-guests`), and the channels it is in. Every rule (names, members,
//! limits, the login throttle) is the core's; this module maps IRC onto its
//! operations and its errors onto numerics. Where IRC's custom is to cut
//! rather than refuse (a topic past `TOPICLEN`, a history past
//! `CHATHISTORY=`), it cuts to the core's limit before asking. Here: the
//! state, the dispatch of each line, and what every command shares
//! (numerics, errors, labels, [`place_of`]); the commands themselves are in
//! `registration`, `channels`, `messages` and `users`.

mod channels;
mod messages;
mod registration;
mod users;

pub(crate) use channels::{burst_lines, not_a_channel_notice};

use std::collections::BTreeMap;
use std::sync::Arc;

use super::caps::{self, Caps};
use super::connection::{Peer, split_frame};
use super::history;
use super::line::{Line, ParseError};
use super::render::{self, SERVER, hostmask};
use crate::chat::{Chat, ChatError, Farewell, Session, User, room_key};
use crate::pipe::framing::Frame;

/// The longest text of a SASL exchange, decoded (name, name and password).
const MAX_SASL_BYTES: usize = 4096;
/// The most base64 one AUTHENTICATE carries; a piece this long says more
/// follows (IRCv3 SASL).
const SASL_PIECE_BYTES: usize = 400;
/// The most nicks one USERHOST answers for (RFC 1459).
const MAX_USERHOST_NICKS: usize = 5;
/// The most targets one PRIVMSG or NOTICE may name. JOIN and PART take
/// any number (the 512-byte line bounds them): clients send their whole
/// autojoin list in one JOIN, and WeeChat every channel it was in when it
/// reconnects, whatever `TARGMAX` says.
const MAX_TARGETS: usize = 4;

/// One IRC connection's state.
pub(crate) struct Client {
    chat: Arc<Chat>,
    session: Arc<Session>,
    peer: Arc<Peer>,
    guests: bool,
    caps: Caps,
    cap_negotiating: bool,
    cap_302: bool,
    /// The nick asked for before registration.
    nick: Option<String>,
    user: Option<String>,
    realname: String,
    pass: Option<String>,
    /// The base64 text of a SASL PLAIN exchange under way.
    sasl: Option<String>,
    /// Who the connection is, once registered.
    me: Option<User>,
    quitting: bool,
    /// The lines answering the command being handled.
    out: Vec<Line>,
    /// Its label (labeled-response).
    label: Option<String>,
    /// Rooms whose held events go out once the answer is written.
    to_release: Vec<String>,
    /// The welcome is in `out`: events held until it is written go out
    /// after it.
    welcoming: bool,
    /// Rooms the client is in, by [`room_key`] (so that `#STRASSE` is found
    /// in `#Straße`), as created.
    joined: BTreeMap<String, String>,
    /// A `draft/multiline` batch the client is sending.
    batch: Option<InBatch>,
}

/// A client's `draft/multiline` batch under way.
struct InBatch {
    reference: String,
    target: String,
    label: Option<String>,
    text: String,
    lines: usize,
    command: String,
    failed: Option<(&'static str, String)>,
}

impl Client {
    pub(crate) fn new(
        chat: Arc<Chat>,
        session: Arc<Session>,
        peer: Arc<Peer>,
        guests: bool,
    ) -> Client {
        Client {
            chat,
            session,
            peer,
            guests,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_302: false,
            nick: None,
            user: None,
            realname: String::new(),
            pass: None,
            sasl: None,
            me: None,
            quitting: false,
            out: Vec::new(),
            label: None,
            to_release: Vec::new(),
            welcoming: false,
            joined: BTreeMap::new(),
            batch: None,
        }
    }

    pub(crate) fn peer(&self) -> &Peer {
        &self.peer
    }

    pub(crate) fn quitting(&self) -> bool {
        self.quitting
    }

    /// Handles one frame of input: its lines, or a report that it was too
    /// long. Answers are written before this returns.
    pub(crate) fn frame(&mut self, frame: Frame<'_>) -> std::io::Result<()> {
        let Some(pieces) = split_frame(frame) else {
            self.numeric("417", vec!["Input line was too long".into()]);
            return self.flush();
        };
        for piece in pieces {
            if self.quitting {
                break;
            }
            self.bytes(piece);
            self.flush()?;
        }
        Ok(())
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                let lossy = String::from_utf8_lossy(bytes);
                let command = Line::parse(&lossy)
                    .map(|line| shown_command(&line.command))
                    .unwrap_or_else(|_| "*".to_string());
                self.out.push(render::fail(
                    &command,
                    "INVALID_UTF8",
                    vec!["Message rejected: it is not valid UTF-8".into()],
                ));
                return;
            }
        };
        match Line::parse(text) {
            Ok(line) => self.line(line),
            Err(ParseError::NoCommand) => {}
            Err(ParseError::BodyTooLong | ParseError::TagsTooLong) => {
                self.numeric("417", vec!["Input line was too long".into()]);
            }
            Err(ParseError::Nul) => {
                self.numeric(
                    "400",
                    vec!["*".into(), "Message rejected: it holds a NUL byte".into()],
                );
            }
        }
    }

    fn line(&mut self, line: Line) {
        // A password changed elsewhere logs this session out and ends the
        // connection (`Peer::logged_out`), but lines already read with it
        // must not run as that user: the session, not `me`, says who this is.
        if self.me.is_some() && self.session.user().is_none() {
            self.quitting = true;
            return;
        }
        self.label = line
            .tag("label")
            .filter(|_| self.caps.has(caps::LABELED_RESPONSE))
            .map(str::to_string);
        let command = line.command.to_ascii_uppercase();
        if self.batch.is_some() {
            return self.in_batch(&command, line);
        }
        self.catch_up_moves();
        let p = &line.params;
        match command.as_str() {
            "CAP" => self.cap(p),
            "AUTHENTICATE" => self.authenticate(p),
            "PASS" => self.pass(p),
            "NICK" => self.nick(p),
            "USER" => self.user(p),
            "PING" => match p.first() {
                Some(token) => self.out.push(
                    Line::new("PONG", vec![SERVER.into(), token.clone()]).with_source(SERVER),
                ),
                None => self.need_more(&command),
            },
            "PONG" => {}
            "QUIT" => self.quit(p.first().cloned()),
            _ if self.me.is_none() => {
                self.numeric("451", vec!["You have not registered".into()]);
            }
            "JOIN" => self.join(p),
            "PART" => self.part(p),
            "PRIVMSG" | "NOTICE" => self.message(&command, p),
            "TAGMSG" => {}
            "BATCH" => self.batch_start(p),
            "TOPIC" => self.topic(p),
            "NAMES" => self.names(p),
            "WHO" => self.who(p),
            "WHOIS" => self.whois(p),
            "LIST" => self.list(p),
            "MODE" => self.mode(p),
            "AWAY" => self.away(p),
            "ISON" => self.ison(p),
            "USERHOST" => self.userhost(p),
            "MOTD" => self.motd(),
            "LUSERS" => self.lusers(),
            "VERSION" => {
                self.numeric(
                    "351",
                    vec![
                        format!("pipechat-{}", env!("CARGO_PKG_VERSION")),
                        SERVER.into(),
                        "IRC front door of pipechat".into(),
                    ],
                );
                self.isupport();
            }
            "TIME" => self.numeric("391", vec![SERVER.into(), render::now()]),
            "CHATHISTORY" => history::chathistory(self, p),
            "REDACT" => self.redact(p),
            "MARKREAD" => self.markread(p),
            _ => self.numeric(
                "421",
                vec![shown_command(&command), "Unknown command".into()],
            ),
        }
    }

    /// Writes the answer to the command just handled, labelled when it
    /// carried a label, then what joins held back.
    fn flush(&mut self) -> std::io::Result<()> {
        let mut lines = std::mem::take(&mut self.out);
        if let Some(label) = self.label.take() {
            lines = labelled(lines, &label, self.caps.has(caps::BATCH));
        }
        if !lines.is_empty() {
            self.peer.write(&render::to_bytes(&lines))?;
        }
        if std::mem::take(&mut self.welcoming) {
            self.peer.welcomed();
        }
        for room in std::mem::take(&mut self.to_release) {
            self.peer.release(&room);
        }
        Ok(())
    }

    /// The nick numerics are addressed to: `*` before registration.
    fn nick_or_star(&self) -> String {
        match (&self.me, &self.nick) {
            (Some(me), _) => me.username.clone(),
            (None, Some(nick)) => nick.clone(),
            (None, None) => "*".to_string(),
        }
    }

    pub(crate) fn numeric(&mut self, code: &str, params: Vec<String>) {
        let line = numeric_line(&self.nick_or_star(), code, params);
        self.out.push(line);
    }

    pub(crate) fn push(&mut self, line: Line) {
        self.out.push(line);
    }

    pub(crate) fn caps(&self) -> Caps {
        self.caps
    }

    pub(crate) fn chat(&self) -> &Chat {
        &self.chat
    }

    pub(crate) fn me(&self) -> Option<&User> {
        self.me.as_ref()
    }

    /// Whether registration is complete.
    pub(crate) fn registered(&self) -> bool {
        self.me.is_some()
    }

    /// The server drops the connection: the others hear `reason` as its
    /// QUIT.
    pub(crate) fn dropped(&self, reason: String) {
        self.session.set_farewell(Some(Farewell::Dropped(reason)));
    }

    /// The first `most` of a comma-separated list of targets; each one past
    /// them is answered with 407 (ERR_TOOMANYTARGETS), as `TARGMAX` warns.
    fn targets<'a>(&mut self, list: &'a str, most: usize) -> Vec<&'a str> {
        let mut targets: Vec<&str> = Vec::new();
        // A target named twice gets the message once (it was stored twice).
        for target in list.split(',') {
            if !targets.iter().any(|t| room_key(t) == room_key(target)) {
                targets.push(target);
            }
        }
        for extra in targets.split_off(most.min(targets.len())) {
            self.numeric(
                "407",
                vec![
                    extra.to_string(),
                    format!("Too many targets: at most {most} per command; this one was left out"),
                ],
            );
        }
        targets
    }

    fn need_more(&mut self, command: &str) {
        self.numeric(
            "461",
            vec![command.to_string(), "Not enough parameters".into()],
        );
    }

    /// Whether the connection chats as a guest (its user says so).
    fn is_guest(&self) -> bool {
        self.me.as_ref().is_some_and(|me| me.guest)
    }

    fn my_mask(&self) -> String {
        hostmask(&self.nick_or_star(), self.is_guest())
    }

    fn quit(&mut self, reason: Option<String>) {
        // The members see what the quitter is told: "Quit: bye", or
        // "Client quit" for a QUIT without a message (they saw "Connection
        // closed", as if it had vanished).
        let farewell = reason.map_or(Farewell::Quit, Farewell::Said);
        let told = render::quit_reason(Some(&farewell));
        self.session.set_farewell(Some(farewell));
        self.error(&told);
    }

    fn error(&mut self, reason: &str) {
        let host = self.session.peer().to_string();
        self.out.push(Line::new(
            "ERROR",
            vec![format!("Closing link: {host} ({reason})")],
        ));
        self.quitting = true;
    }

    /// A failure the client should hear about as `FAIL`.
    pub(crate) fn fail_line(&mut self, command: &str, err: &ChatError) {
        self.out
            .push(render::fail(command, "MESSAGE_ERROR", vec![err.sentence()]));
    }

    /// The numeric for a refusal about `target` (a channel or a nick).
    fn chat_error(&mut self, target: &str, err: &ChatError) {
        match err {
            ChatError::NoSuchRoom(_) => {
                self.numeric("403", vec![target.into(), "No such channel".into()]);
            }
            ChatError::NoSuchUser(_) => {
                self.numeric("401", vec![target.into(), "No such nick/channel".into()]);
            }
            ChatError::NotMember(_) | ChatError::NotAMemberToExit(_) => {
                self.numeric(
                    "442",
                    vec![target.into(), "You're not on that channel".into()],
                );
            }
            ChatError::Invalid(why) => self.numeric("400", vec![target.into(), why.clone()]),
            other => self.fail_line("*", other),
        }
    }

    /// The room a channel names, or a numeric saying it names none.
    fn room_of<'a>(&mut self, channel: &'a str) -> Option<&'a str> {
        let room = channel
            .strip_prefix('#')
            .filter(|_| place_of(channel).is_some());
        if room.is_none() {
            self.no_such_channel(channel);
        }
        room
    }

    fn no_such_channel(&mut self, channel: &str) {
        self.numeric("403", vec![channel.to_string(), "No such channel".into()]);
    }
}

/// A command as an answer names it: a word of letters and digits (in upper
/// case), or `*` for anything else, so that garbage a client sent (control
/// bytes, a whole binary line) is not sent back to it.
fn shown_command(command: &str) -> String {
    let word =
        (1..=32).contains(&command.len()) && command.bytes().all(|b| b.is_ascii_alphanumeric());
    match word {
        true => command.to_ascii_uppercase(),
        false => "*".to_string(),
    }
}

/// What the core calls the place an IRC target names: a channel's room, or
/// `@nick` for the conversation with that user. `None` for a channel that
/// names no room: `#` alone, or `#@name`, since `@name` is a conversation
/// to the core, never a room (`#@bob` must not reach bob's messages).
pub(crate) fn place_of(target: &str) -> Option<String> {
    match target.strip_prefix('#') {
        Some(room) if room.is_empty() || room.starts_with('@') => None,
        Some(room) => Some(room.to_string()),
        None => Some(format!("@{target}")),
    }
}

/// A numeric from the server to `nick`.
fn numeric_line(nick: &str, code: &str, params: Vec<String>) -> Line {
    let mut all = vec![nick.to_string()];
    all.extend(params);
    Line::new(code, all).with_source(SERVER)
}

/// The answer to a labelled command: `ACK` for none, the label on a single
/// line, or a `labeled-response` batch around several.
fn labelled(mut lines: Vec<Line>, label: &str, batch: bool) -> Vec<Line> {
    match lines.len() {
        0 => vec![
            Line::new("ACK", Vec::new())
                .with_source(SERVER)
                .with_tag("label", label),
        ],
        1 => {
            let line = lines.remove(0);
            vec![line.with_tag("label", label)]
        }
        _ if !batch => {
            lines[0] = lines[0].clone().with_tag("label", label);
            lines
        }
        _ => {
            let id = "lr";
            let mut all = vec![
                Line::new("BATCH", vec![format!("+{id}"), "labeled-response".into()])
                    .with_source(SERVER)
                    .with_tag("label", label),
            ];
            for mut line in lines {
                if line.tag("batch").is_none() {
                    line.tags.insert(0, ("batch".into(), id.into()));
                }
                all.push(line);
            }
            all.push(Line::new("BATCH", vec![format!("-{id}")]).with_source(SERVER));
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::tests::chat;
    use crate::pipe::outbox::tests::pair;

    /// A password changed elsewhere logs the session out between two lines
    /// of one read: the later lines must not run as the user any more.
    #[test]
    fn lines_read_after_a_log_out_do_not_run() {
        let (_dir, chat) = chat();
        let chat = Arc::new(chat);
        chat.register("alice", "password1").unwrap();
        let (outbox, _client) = pair();
        let (bursts, _) = std::sync::mpsc::channel();
        let peer = Peer::new(outbox, bursts);
        let admitted = chat
            .admit("127.0.0.1".parse().unwrap(), peer.clone())
            .unwrap();
        let session = Arc::clone(admitted.session());
        let mut client = Client::new(Arc::clone(&chat), Arc::clone(&session), peer, false);
        let lines: &[&[u8]] = &[
            b"PASS alice:password1",
            b"NICK alice",
            b"USER alice 0 * :Alice",
            b"JOIN #general",
            b"PRIVMSG #general :before",
        ];
        for line in lines {
            client.frame(Frame::Line(line)).unwrap();
        }
        assert!(client.registered() && !client.quitting());
        chat.logout(&session).unwrap();

        client
            .frame(Frame::Line(b"PRIVMSG #general :after"))
            .unwrap();
        assert!(client.quitting());
        assert_eq!(chat.room_info("general").unwrap().messages, 1);
    }

    #[test]
    fn labels() {
        let ping = Line::new("PONG", vec!["x".into()]);
        assert_eq!(labelled(vec![], "a", true)[0].command, "ACK");
        assert_eq!(
            labelled(vec![ping.clone()], "a", true)[0].tag("label"),
            Some("a")
        );
        let batch = labelled(vec![ping.clone(), ping], "a", true);
        assert_eq!(batch.len(), 4);
        assert_eq!(batch[1].tag("batch"), Some("lr"));
    }
}
