//! What each IRC command asks of the chat core, and the lines it answers.
//!
//! A [`Client`] is one connection's state: registration (CAP, SASL, PASS,
//! NICK, USER), its identity once registered (an account, or a guest with
//! `--irc-guests`), and the channels it is in. Every rule (names, members,
//! limits, the login throttle) is the core's; this module maps IRC onto its
//! operations and its errors onto numerics.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::caps::{self, Caps};
use super::connection::{Move, Own, Peer, notice_lines, split_frame};
use super::history;
use super::line::{Ctcp, Line, MAX_BODY_BYTES, ParseError, parse_ctcp};
use super::render::{
    self, SERVER, channel_of, hostmask, is_channel, message_lines, user_line, why_not_a_channel,
};
use crate::chat::limits::{MAX_TOPIC_CHARS, MAX_USERNAME_CHARS, check_username};
use crate::chat::{Chat, ChatError, Farewell, Live, Session};
use crate::pipe::framing::Frame;
use crate::store::User;
use crate::wire::{ACTION_PREFIX, RoomInfo};

/// The longest text of a SASL exchange, decoded (name, name and password).
const MAX_SASL_BYTES: usize = 4096;
/// The most targets one PRIVMSG, NOTICE or JOIN may name.
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
    guest: bool,
    quitting: bool,
    /// The lines answering the command being handled.
    out: Vec<Line>,
    /// Its label (labeled-response).
    label: Option<String>,
    /// Rooms whose held events go out once the answer is written.
    to_release: Vec<String>,
    /// Rooms the client is in, by lower-case name, as created.
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
            guest: false,
            quitting: false,
            out: Vec::new(),
            label: None,
            to_release: Vec::new(),
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
        let Ok(pieces) = split_frame(frame) else {
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
                    .map(|line| line.command.to_ascii_uppercase())
                    .unwrap_or_else(|_| "*".to_string());
                self.out.push(
                    Line::new(
                        "FAIL",
                        vec![
                            command,
                            "INVALID_UTF8".into(),
                            "Message rejected: it is not valid UTF-8".into(),
                        ],
                    )
                    .with_source(SERVER),
                );
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
            _ => self.numeric("421", vec![command, "Unknown command".into()]),
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
        let mut targets: Vec<&str> = list.split(',').collect();
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

    fn my_mask(&self) -> String {
        hostmask(&self.nick_or_star(), self.guest)
    }

    // ---- registration ----

    fn cap(&mut self, p: &[String]) {
        let Some(sub) = p.first().map(|s| s.to_ascii_uppercase()) else {
            return self.need_more("CAP");
        };
        let nick = self.nick_or_star();
        let cap_line = |params: Vec<String>| {
            let mut all = vec![nick.clone()];
            all.extend(params);
            Line::new("CAP", all).with_source(SERVER)
        };
        match sub.as_str() {
            "LS" => {
                if self.me.is_none() {
                    self.cap_negotiating = true;
                }
                let version = p.get(1).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                if version >= 302 {
                    self.cap_302 = true;
                    self.caps.0 |= caps::CAP_NOTIFY;
                    self.peer.set_caps(self.caps);
                }
                let pieces = caps::ls_pieces(self.cap_302);
                let last = pieces.len() - 1;
                for (index, piece) in pieces.into_iter().enumerate() {
                    let line = if index < last && self.cap_302 {
                        cap_line(vec!["LS".into(), "*".into(), piece])
                    } else {
                        cap_line(vec!["LS".into(), piece])
                    };
                    self.out.push(line);
                }
            }
            "LIST" => self
                .out
                .push(cap_line(vec!["LIST".into(), self.caps.names()])),
            "REQ" => {
                if self.me.is_none() {
                    self.cap_negotiating = true;
                }
                let list = p.get(1).cloned().unwrap_or_default();
                match caps::request(self.caps, &list) {
                    Some(caps) => {
                        self.caps = caps;
                        self.peer.set_caps(caps);
                        self.out.push(cap_line(vec!["ACK".into(), list]));
                    }
                    None => self.out.push(cap_line(vec!["NAK".into(), list])),
                }
            }
            "END" => {
                if self.me.is_none() {
                    self.cap_negotiating = false;
                    self.try_register();
                }
            }
            _ => self.numeric("410", vec![sub, "Invalid CAP command".into()]),
        }
    }

    fn authenticate(&mut self, p: &[String]) {
        let Some(data) = p.first() else {
            return self.need_more("AUTHENTICATE");
        };
        if self.me.is_some() || self.session.user().is_some() {
            return self.numeric("907", vec!["You have already authenticated".into()]);
        }
        if data == "*" {
            self.sasl = None;
            return self.numeric("906", vec!["SASL authentication aborted".into()]);
        }
        let Some(buffer) = self.sasl.as_mut() else {
            if data.eq_ignore_ascii_case("PLAIN") {
                self.sasl = Some(String::new());
                self.out
                    .push(Line::new("AUTHENTICATE", vec!["+".into()]).with_source(SERVER));
            } else {
                self.numeric(
                    "908",
                    vec!["PLAIN".into(), "are available SASL mechanisms".into()],
                );
                self.numeric("904", vec!["SASL authentication failed".into()]);
            }
            return;
        };
        if data.len() > 400 {
            self.sasl = None;
            return self.numeric("905", vec!["SASL message too long".into()]);
        }
        if data != "+" {
            buffer.push_str(data);
        }
        if buffer.len() > MAX_SASL_BYTES * 4 / 3 + 4 {
            self.sasl = None;
            return self.numeric("905", vec!["SASL message too long".into()]);
        }
        if data.len() == 400 {
            // More to come.
            return;
        }
        let encoded = self.sasl.take().unwrap_or_default();
        let Some((authzid, authcid, password)) = decode_plain(&encoded) else {
            return self.numeric("904", vec!["SASL authentication failed".into()]);
        };
        if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&authcid) {
            return self.numeric("904", vec!["SASL authentication failed".into()]);
        }
        match self.chat.login(&self.session, &authcid, &password) {
            Ok(login) => {
                let account = login.user.username;
                let mask = hostmask(&account, false);
                self.numeric(
                    "900",
                    vec![
                        mask,
                        account.clone(),
                        format!("You are now logged in as {account}"),
                    ],
                );
                self.numeric("903", vec!["SASL authentication successful".into()]);
            }
            Err(ChatError::Throttled(seconds)) => self.numeric(
                "904",
                vec![format!(
                    "SASL authentication failed: too many failed logins; try again in {seconds} seconds"
                )],
            ),
            Err(_) => self.numeric("904", vec!["SASL authentication failed".into()]),
        }
    }

    fn pass(&mut self, p: &[String]) {
        if self.me.is_some() {
            return self.numeric("462", vec!["You may not reregister".into()]);
        }
        match p.first() {
            Some(pass) => self.pass = Some(pass.clone()),
            None => self.need_more("PASS"),
        }
    }

    fn nick(&mut self, p: &[String]) {
        let Some(new) = p.first().filter(|n| !n.is_empty()).cloned() else {
            return self.numeric("431", vec!["No nickname given".into()]);
        };
        if check_username(&new).is_err() {
            return self.numeric(
                "432",
                vec![
                    new,
                    format!("Erroneous nickname: 1 to {MAX_USERNAME_CHARS} of A-Z a-z 0-9 _ . -"),
                ],
            );
        }
        let Some(me) = self.me.clone() else {
            if self.chat.guest_connected(&new) {
                return self.numeric("433", vec![new, "Nickname is already in use".into()]);
            }
            self.nick = Some(new);
            return self.try_register();
        };
        if me.username == new {
            return;
        }
        if !self.guest {
            let (code, why) = if !me.username.eq_ignore_ascii_case(&new)
                && self.chat.is_account(&new).unwrap_or(true)
            {
                (
                    "433",
                    "Nickname is already in use: it is another account's name",
                )
            } else {
                ("432", "Your nick is your pipechat account's name")
            };
            return self.numeric(code, vec![new, why.into()]);
        }
        match self.chat.rename_guest(&self.session, &new) {
            Ok(user) => {
                let old = self.my_mask();
                self.me = Some(user);
                self.peer.set_nick(&new);
                self.out
                    .push(Line::new("NICK", vec![new.clone()]).with_source(old));
            }
            Err(ChatError::UsernameTaken(_)) => self.numeric(
                "433",
                vec![
                    new,
                    "Nickname is already in use (by a guest, or an account's name)".into(),
                ],
            ),
            Err(err) => self.numeric("432", vec![new, err.sentence()]),
        }
    }

    fn user(&mut self, p: &[String]) {
        if self.me.is_some() {
            return self.numeric("462", vec!["You may not reregister".into()]);
        }
        if p.len() < 4 || p[0].is_empty() || p[3].is_empty() {
            return self.need_more("USER");
        }
        self.user = Some(p[0].clone());
        self.realname = p[3].clone();
        self.try_register();
    }

    /// Completes registration once NICK, USER and CAP END are in: the
    /// identity (SASL, PASS, or a guest), then the welcome.
    fn try_register(&mut self) {
        if self.me.is_some() || self.cap_negotiating || self.user.is_none() {
            return;
        }
        let Some(nick) = self.nick.clone() else {
            return;
        };
        let user = if let Some(user) = self.session.user() {
            user
        } else if let Some(pass) = self.pass.take() {
            let (name, password) = pass.split_once(':').unwrap_or(("", &pass));
            let name = if name.is_empty() { nick.as_str() } else { name };
            match self.chat.login(&self.session, name, password) {
                Ok(login) => login.user,
                Err(err) => {
                    let why = match err {
                        ChatError::Throttled(seconds) => format!(
                            "Password incorrect: too many failed logins; try again in {seconds} seconds"
                        ),
                        _ => "Password incorrect".to_string(),
                    };
                    self.numeric("464", vec![why]);
                    return self.error("Bad password: PASS takes username:password");
                }
            }
        } else if self.guests {
            match self.chat.log_in_guest(&self.session, &nick) {
                Ok(user) => {
                    self.guest = true;
                    user
                }
                Err(ChatError::UsernameTaken(_)) => {
                    self.nick = None;
                    let why = if self.chat.is_account(&nick).unwrap_or(false) {
                        "Nickname is already in use: it is an account's name; log in with SASL or PASS username:password"
                    } else {
                        "Nickname is already in use"
                    };
                    return self.numeric("433", vec![nick, why.into()]);
                }
                Err(ChatError::Invalid(why)) => {
                    self.nick = None;
                    return self.numeric("432", vec![nick, why]);
                }
                Err(err) => return self.error(&err.sentence()),
            }
        } else {
            self.out.push(
                Line::new(
                    "NOTICE",
                    vec![
                        nick,
                        "This server needs a pipechat account: log in with SASL PLAIN or PASS username:password".into(),
                    ],
                )
                .with_source(SERVER),
            );
            return self.error("Login required");
        };
        self.welcome(user);
    }

    fn welcome(&mut self, user: User) {
        let nick = user.username.clone();
        self.peer.set_nick(&nick);
        self.me = Some(user.clone());
        let mask = self.my_mask();
        let version = format!("pipechat-{}", env!("CARGO_PKG_VERSION"));
        self.numeric("001", vec![format!("Welcome to pipechat over IRC, {mask}")]);
        self.numeric(
            "002",
            vec![format!("Your host is {SERVER}, running version {version}")],
        );
        self.numeric(
            "003",
            vec!["This server keeps every channel message in its database".into()],
        );
        self.numeric("004", vec![SERVER.into(), version, "i".into(), "n".into()]);
        self.isupport();
        self.lusers();
        self.motd();
        if let Err(err) = self.chat.subscribe(&self.session, &user, "@") {
            log::warn!("IRC: cannot deliver direct messages: {}", err.sentence());
        }
        // In the channel of every room the user joins, from any front door;
        // of a room that cannot be a channel, only told why.
        self.session.follow_memberships(is_channel);
        if self.guest {
            return;
        }
        // An account is in the channels of its rooms from the start.
        let rooms = match self.chat.rooms_of(&user) {
            Ok(rooms) => rooms,
            Err(err) => return self.fail_line("JOIN", &err),
        };
        // A room joined elsewhere since following began has its JOIN and
        // burst from the event already.
        self.catch_up_moves();
        for room in rooms {
            match channel_of(&room.name) {
                Some(_) if self.joined.contains_key(&room.name.to_lowercase()) => {}
                Some(_) => self.join_burst(&room.name),
                None => self.out.push(not_a_channel_notice(&nick, &room.name)),
            }
        }
    }

    fn isupport(&mut self) {
        let tokens = [
            "AWAYLEN=390",
            "CASEMAPPING=ascii",
            "CHANLIMIT=#:",
            "CHANMODES=,,,n",
            // In bytes: `#` and 64 characters of up to 4 bytes each.
            "CHANNELLEN=257",
            "CHANTYPES=#",
            "CHATHISTORY=1000",
            // No client-only tag is relayed (TAGMSG is accepted and dropped).
            "CLIENTTAGDENY=*",
            "ELIST=",
            "HOSTLEN=64",
            "LINELEN=512",
            "MAXTARGETS=4",
            "MODES=1",
            "MSGREFTYPES=msgid,timestamp",
            "NETWORK=pipechat",
            "NICKLEN=32",
            "PREFIX=(o)@",
            "STATUSMSG=",
            "TARGMAX=JOIN:4,PART:4,PRIVMSG:4,NOTICE:4,NAMES:1,WHOIS:1,USERHOST:5",
            "TOPICLEN=390",
            "USERLEN=32",
            "UTF8ONLY",
            "WHOX",
        ];
        for chunk in tokens.chunks(12) {
            let mut params: Vec<String> = chunk.iter().map(|t| t.to_string()).collect();
            params.push("are supported by this server".into());
            self.numeric("005", params);
        }
    }

    fn lusers(&mut self) {
        /// The most users seen connected at once, for 265 and 266.
        static MOST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let users = self.chat.active_users().map_or(0, |users| users.len());
        let most = MOST
            .fetch_max(users, std::sync::atomic::Ordering::Relaxed)
            .max(users);
        self.numeric(
            "251",
            vec![format!(
                "There are {users} users and 0 invisible on 1 servers"
            )],
        );
        self.numeric("255", vec![format!("I have {users} clients and 0 servers")]);
        self.numeric(
            "265",
            vec![
                users.to_string(),
                most.to_string(),
                format!("Current local users {users}, max {most}"),
            ],
        );
        self.numeric(
            "266",
            vec![
                users.to_string(),
                most.to_string(),
                format!("Current global users {users}, max {most}"),
            ],
        );
    }

    fn motd(&mut self) {
        self.numeric("375", vec![format!("- {SERVER} Message of the day -")]);
        for text in [
            "- This is pipechat's IRC front door: rooms are channels (#general is",
            "- the room general), channel messages and private messages are stored,",
            "- NOTICEs are not. Log in with your pipechat account (SASL PLAIN or",
            "- PASS username:password).",
        ] {
            self.numeric("372", vec![text.into()]);
        }
        self.numeric("376", vec!["End of /MOTD command".into()]);
    }

    fn quit(&mut self, reason: Option<String>) {
        self.session
            .set_farewell(reason.clone().map(Farewell::Said));
        let reason = reason.map_or_else(|| "Client quit".to_string(), |r| format!("Quit: {r}"));
        self.error(&reason);
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
        self.out.push(
            Line::new(
                "FAIL",
                vec![command.into(), "MESSAGE_ERROR".into(), err.sentence()],
            )
            .with_source(SERVER),
        );
    }

    // ---- channels ----

    /// The room a channel names, or a numeric saying it names none.
    fn room_of<'a>(&mut self, channel: &'a str) -> Option<&'a str> {
        match channel.strip_prefix('#') {
            // `@name` is a direct conversation to the core, never a room.
            Some(room) if !room.is_empty() && !room.starts_with('@') => Some(room),
            _ => {
                self.numeric("403", vec![channel.to_string(), "No such channel".into()]);
                None
            }
        }
    }

    /// Joined or left elsewhere since last asked: a JOIN of a channel the
    /// client is in does nothing, one it left joins again.
    fn catch_up_moves(&mut self) {
        for change in self.peer.take_moves() {
            match change {
                Move::In(room) => {
                    self.joined.insert(room.to_lowercase(), room);
                }
                Move::Out(room) => {
                    self.joined.remove(&room.to_lowercase());
                }
            }
        }
    }

    fn join(&mut self, p: &[String]) {
        let Some(channels) = p.first() else {
            return self.need_more("JOIN");
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        if channels == "0" {
            // Every room of the user that is a channel, joined here or
            // elsewhere: an account's IRC client is in all their channels.
            let rooms = match self.chat.rooms_of(&me) {
                Ok(rooms) => rooms,
                Err(err) => return self.chat_error("JOIN", &err),
            };
            for room in rooms.iter().filter(|room| channel_of(&room.name).is_some()) {
                self.part_room(&room.name, None);
            }
            return;
        }
        for channel in self.targets(channels, MAX_TARGETS) {
            let Some(room) = self.room_of(channel) else {
                continue;
            };
            if self.joined.contains_key(&room.to_lowercase()) {
                continue;
            }
            // From here a join of the room made elsewhere is taken for this
            // one (one burst); one made just before is caught up with here.
            self.peer.begin(Own::Join {
                room: room.to_lowercase(),
            });
            self.catch_up_moves();
            if self.joined.contains_key(&room.to_lowercase()) {
                self.peer.end();
                continue;
            }
            // Held from before the commit: this connection follows its
            // user's joins, so the room's events start with it.
            self.peer.hold(room);
            let joined = self.chat.join_creating(&me, room.to_string());
            self.peer.end();
            match joined {
                Ok((joined, _)) => self.join_burst(&joined.name),
                Err(ChatError::Invalid(why)) => {
                    self.peer.release(room);
                    self.numeric("479", vec![channel.to_string(), why]);
                }
                Err(err) => {
                    self.peer.release(room);
                    self.chat_error(channel, &err);
                }
            }
        }
    }

    /// What a joining client gets: its JOIN, the topic and the names, with
    /// the room's events held back until they are out.
    fn join_burst(&mut self, room: &str) {
        let Some(me) = self.me.clone() else {
            return;
        };
        let Some(channel) = channel_of(room) else {
            return;
        };
        self.peer.hold(room);
        if let Err(err) = self.chat.subscribe(&self.session, &me, room) {
            self.peer.release(room);
            return self.chat_error(&channel, &err);
        }
        self.to_release.push(room.to_string());
        self.joined.insert(room.to_lowercase(), room.to_string());
        self.out.push(user_line(
            self.caps,
            &me.username,
            self.guest,
            "JOIN",
            vec![channel.clone()],
        ));
        let burst = burst_lines(&self.chat, &me.username, room);
        if let Some(owner) = burst.owner {
            self.peer.set_owner(room, owner);
        }
        self.out.extend(burst.lines);
    }

    fn part(&mut self, p: &[String]) {
        let Some(channels) = p.first() else {
            return self.need_more("PART");
        };
        let reason = p.get(1).cloned().filter(|r| !r.is_empty());
        for channel in self.targets(channels, MAX_TARGETS) {
            if let Some(room) = self.room_of(channel) {
                self.part_room(room, reason.clone());
            }
        }
    }

    fn part_room(&mut self, room: &str, reason: Option<String>) {
        let Some(me) = self.me.clone() else {
            return;
        };
        let channel = format!("#{room}");
        self.peer.begin(Own::Part {
            room: room.to_lowercase(),
        });
        let exited = self.chat.exit_saying(&me, room.to_string(), reason.clone());
        self.peer.end();
        match exited {
            Ok(room) => {
                self.joined.remove(&room.name.to_lowercase());
                let mut params = vec![channel_of(&room.name).unwrap_or(channel)];
                params.extend(reason);
                self.out.push(user_line(
                    self.caps,
                    &me.username,
                    self.guest,
                    "PART",
                    params,
                ));
            }
            Err(ChatError::NotAMemberToExit(_)) => {
                self.numeric("442", vec![channel, "You're not on that channel".into()]);
            }
            Err(err) => self.chat_error(&channel, &err),
        }
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

    fn topic(&mut self, p: &[String]) {
        let Some(channel) = p.first().cloned() else {
            return self.need_more("TOPIC");
        };
        let Some(room) = self.room_of(&channel).map(str::to_string) else {
            return;
        };
        let Some(text) = p.get(1) else {
            return match self.chat.room_info(&room) {
                Ok(info) => {
                    let channel = channel_of(&info.name).unwrap_or(channel);
                    if info.topic.is_empty() {
                        self.numeric("331", vec![channel, "No topic is set".into()]);
                    } else {
                        let nick = self.nick_or_star();
                        for line in topic_lines(&self.chat, &nick, &channel, &info) {
                            self.push(line);
                        }
                    }
                }
                Err(err) => self.chat_error(&channel, &err),
            };
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        let topic: String = text.chars().take(MAX_TOPIC_CHARS).collect();
        self.peer.begin(Own::Topic {
            room: room.to_lowercase(),
        });
        let set = self.chat.set_topic(&me, room, topic.clone());
        self.peer.end();
        match set {
            Ok(info) => {
                let channel = channel_of(&info.name).unwrap_or(channel);
                self.out.push(user_line(
                    self.caps,
                    &me.username,
                    self.guest,
                    "TOPIC",
                    vec![channel, topic],
                ));
            }
            Err(err) => self.chat_error(&channel, &err),
        }
    }

    fn names(&mut self, p: &[String]) {
        let Some(channels) = p.first() else {
            return self.numeric("366", vec!["*".into(), "End of /NAMES list".into()]);
        };
        for channel in self.targets(channels, 1) {
            match channel.strip_prefix('#') {
                Some(room) if !room.is_empty() => self.names_of(channel, room),
                _ => self.numeric("366", vec![channel.into(), "End of /NAMES list".into()]),
            }
        }
    }

    /// RPL_NAMREPLY lines (the members connected now), then the end.
    fn names_of(&mut self, channel: &str, room: &str) {
        let nick = self.nick_or_star();
        match self.chat.connected_members(room) {
            Ok((info, owner, members)) => {
                let channel = channel_of(&info.name).unwrap_or_else(|| channel.to_string());
                let lines = names_lines(&nick, &channel, owner, &members);
                self.out.extend(lines);
            }
            Err(_) => self.numeric("366", vec![channel.into(), "End of /NAMES list".into()]),
        }
    }

    fn list(&mut self, p: &[String]) {
        let wanted: Option<Vec<String>> = p
            .first()
            .filter(|first| first.starts_with('#'))
            .map(|first| first.split(',').map(|c| c.to_lowercase()).collect());
        self.numeric("321", vec!["Channel".into(), "Users  Name".into()]);
        let rooms = match self.chat.room_names() {
            Ok(rooms) => rooms,
            Err(err) => return self.fail_line("LIST", &err),
        };
        for room in rooms {
            let Some(channel) = channel_of(&room) else {
                continue;
            };
            if wanted
                .as_ref()
                .is_some_and(|wanted| !wanted.contains(&channel.to_lowercase()))
            {
                continue;
            }
            if let Ok((info, _, members)) = self.chat.connected_members(&room) {
                self.numeric("322", vec![channel, members.len().to_string(), info.topic]);
            }
        }
        self.numeric("323", vec!["End of /LIST".into()]);
    }

    fn mode(&mut self, p: &[String]) {
        let Some(target) = p.first().cloned() else {
            return self.need_more("MODE");
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        if !target.starts_with('#') {
            if !target.eq_ignore_ascii_case(&me.username) {
                return if self.chat.find_user(&target).is_ok() {
                    self.numeric("502", vec!["Can't change mode for other users".into()])
                } else {
                    self.numeric("401", vec![target, "No such nick/channel".into()])
                };
            }
            // Every user is +i, which cannot be removed, and has no other mode.
            let unknown = p.get(1).is_some_and(|modes| {
                let mut adding = true;
                modes.chars().any(|c| match c {
                    '+' => {
                        adding = true;
                        false
                    }
                    '-' => {
                        adding = false;
                        false
                    }
                    'i' => !adding,
                    _ => true,
                })
            });
            if unknown {
                return self.numeric(
                    "501",
                    vec!["Unknown MODE flag: users here have +i alone, always".into()],
                );
            }
            return self.numeric("221", vec!["+i".into()]);
        }
        let Some(room) = self.room_of(&target).map(str::to_string) else {
            return;
        };
        let (info, owner) = match self.chat.connected_members(&room) {
            Ok((info, owner, _)) => (info, owner),
            Err(err) => return self.chat_error(&target, &err),
        };
        let target = channel_of(&info.name).unwrap_or(target);
        let Some(modes) = p.get(1) else {
            self.numeric("324", vec![target.clone(), "+n".into()]);
            if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&info.created_at) {
                self.numeric("329", vec![target, created.timestamp().to_string()]);
            }
            return;
        };
        let letters: String = modes.chars().filter(|c| !matches!(c, '+' | '-')).collect();
        let list_query =
            p.len() == 2 && !letters.is_empty() && letters.chars().all(|c| "beI".contains(c));
        if list_query {
            for c in letters.chars() {
                let (code, what) = match c {
                    'b' => ("368", "End of channel ban list"),
                    'e' => ("349", "End of channel exception list"),
                    _ => ("347", "End of channel invite list"),
                };
                self.numeric(code, vec![target.clone(), what.into()]);
            }
            return;
        }
        if owner != me.id {
            return self.numeric("482", vec![target, "You're not channel operator".into()]);
        }
        let mut adding = true;
        let mut answered = false;
        for c in modes.chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                // Already so: the answer is the channel's modes.
                'n' if adding => {
                    if !answered {
                        self.numeric("324", vec![target.clone(), "+n".into()]);
                        answered = true;
                    }
                }
                'n' => self.numeric(
                    "482",
                    vec![
                        target.clone(),
                        "Rooms are always +n: only members may send to them".into(),
                    ],
                ),
                'o' => self.numeric(
                    "482",
                    vec![
                        target.clone(),
                        "Only the room's owner is a channel operator; that cannot be given or taken".into(),
                    ],
                ),
                c => self.numeric(
                    "472",
                    vec![c.to_string(), "is not a mode pipechat rooms have".into()],
                ),
            }
        }
    }

    // ---- messages ----

    fn message(&mut self, command: &str, p: &[String]) {
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
        let (name, place) = match target.strip_prefix('#') {
            Some(_) => match self.room_of(target) {
                Some(room) => (room.to_string(), room.to_lowercase()),
                None => return,
            },
            None => (format!("@{target}"), target.to_ascii_lowercase()),
        };
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
                    guest: self.guest,
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

    fn batch_start(&mut self, p: &[String]) {
        let Some(reference) = p.first() else {
            return self.need_more("BATCH");
        };
        let Some(reference) = reference.strip_prefix('+') else {
            return self.out.push(
                Line::new(
                    "FAIL",
                    vec![
                        "BATCH".into(),
                        "MULTILINE_INVALID".into(),
                        "No such batch open".into(),
                    ],
                )
                .with_source(SERVER),
            );
        };
        if p.get(1).map(String::as_str) != Some("draft/multiline")
            || !self.caps.has(caps::MULTILINE)
            || p.len() < 3
        {
            return self.out.push(
                Line::new(
                    "FAIL",
                    vec![
                        "BATCH".into(),
                        "MULTILINE_INVALID".into(),
                        "Only draft/multiline batches are accepted".into(),
                    ],
                )
                .with_source(SERVER),
            );
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
    fn in_batch(&mut self, command: &str, line: Line) {
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
                return self.out.push(
                    Line::new("FAIL", vec!["BATCH".into(), code.into(), why]).with_source(SERVER),
                );
            }
            if batch.text.trim().is_empty() {
                return self.out.push(
                    Line::new(
                        "FAIL",
                        vec![
                            "BATCH".into(),
                            "MULTILINE_INVALID".into(),
                            "The batch holds no text".into(),
                        ],
                    )
                    .with_source(SERVER),
                );
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

    fn redact(&mut self, p: &[String]) {
        let (Some(target), Some(msgid)) = (p.first(), p.get(1)) else {
            return self.need_more("REDACT");
        };
        let Some(me) = self.me.clone() else {
            return;
        };
        let fail = |code: &str, why: &str| {
            Line::new(
                "FAIL",
                vec![
                    "REDACT".into(),
                    code.into(),
                    target.clone(),
                    msgid.clone(),
                    why.into(),
                ],
            )
            .with_source(SERVER)
        };
        let Ok(id) = msgid.parse::<i64>() else {
            return self.out.push(fail("UNKNOWN_MSGID", "No such message"));
        };
        self.peer.begin(Own::Delete { id });
        let deleted = self.chat.delete(&me, id);
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
            Err(_) => self.out.push(fail("UNKNOWN_MSGID", "No such message")),
        }
    }

    // ---- users ----

    fn away(&mut self, p: &[String]) {
        let Some(me) = self.me.clone() else {
            return;
        };
        let message = p
            .first()
            .filter(|m| !m.is_empty())
            .map(|m| m.chars().take(MAX_TOPIC_CHARS).collect::<String>());
        let away = message.is_some();
        if let Err(err) = self.chat.set_away(&me, message) {
            return self.fail_line("AWAY", &err);
        }
        if away {
            self.numeric("306", vec!["You have been marked as being away".into()]);
        } else {
            self.numeric("305", vec!["You are no longer marked as being away".into()]);
        }
    }

    fn ison(&mut self, p: &[String]) {
        let names: Vec<String> = nicks(p).collect();
        let online: Vec<String> = self
            .chat
            .live(&names)
            .into_iter()
            .flatten()
            .map(|live| live.username)
            .collect();
        self.numeric("303", vec![online.join(" ")]);
    }

    /// RPL_USERHOST (302): `nick=+user@host` for each of up to five nicks
    /// connected now (`-` instead of `+` when away).
    fn userhost(&mut self, p: &[String]) {
        if p.is_empty() {
            return self.need_more("USERHOST");
        }
        let names: Vec<String> = nicks(p).take(5).collect();
        let replies: Vec<String> = self
            .chat
            .live(&names)
            .into_iter()
            .flatten()
            .map(|live| {
                let (user, host) = user_and_host(&live.username, live.guest);
                let here = if live.away.is_some() { '-' } else { '+' };
                format!("{}={here}{user}@{host}", live.username)
            })
            .collect();
        self.numeric("302", vec![replies.join(" ")]);
    }

    fn whois(&mut self, p: &[String]) {
        let Some(nick) = p.last().cloned() else {
            return self.numeric("431", vec!["No nickname given".into()]);
        };
        match self.chat.live(std::slice::from_ref(&nick)).pop().flatten() {
            Some(live) => {
                let name = live.username.clone();
                let (user, host) = user_and_host(&name, live.guest);
                self.numeric(
                    "311",
                    vec![name.clone(), user, host, "*".into(), name.clone()],
                );
                self.numeric("312", vec![name.clone(), SERVER.into(), "pipechat".into()]);
                if !live.guest {
                    self.numeric(
                        "330",
                        vec![name.clone(), name.clone(), "is logged in as".into()],
                    );
                }
                if let Some(away) = live.away {
                    self.numeric("301", vec![name.clone(), away]);
                }
                self.numeric("318", vec![name, "End of /WHOIS list".into()]);
            }
            None => {
                self.numeric("401", vec![nick.clone(), "No such nick/channel".into()]);
                self.numeric("318", vec![nick, "End of /WHOIS list".into()]);
            }
        }
    }

    fn who(&mut self, p: &[String]) {
        let Some(mask) = p.first().cloned() else {
            return self.numeric("315", vec!["*".into(), "End of WHO list".into()]);
        };
        let whox = p.get(1).and_then(|f| f.strip_prefix('%')).map(|fields| {
            let (fields, token) = fields.split_once(',').unwrap_or((fields, ""));
            (fields.to_string(), token.to_string())
        });
        let (channel, owner, members) = if let Some(room) = mask.strip_prefix('#') {
            match self.chat.connected_members(room) {
                Ok((info, owner, members)) => (
                    channel_of(&info.name).unwrap_or_else(|| mask.clone()),
                    owner,
                    members,
                ),
                Err(_) => (mask.clone(), 0, Vec::new()),
            }
        } else {
            let names: Vec<String> = if mask.contains(['*', '?']) {
                self.chat
                    .active_users()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|name| glob(&mask.to_ascii_lowercase(), &name.to_ascii_lowercase()))
                    .collect()
            } else {
                vec![mask.clone()]
            };
            let members = self.chat.live(&names).into_iter().flatten().collect();
            ("*".to_string(), 0, members)
        };
        for member in members {
            let op = member.id != 0 && member.id == owner;
            let flags = format!(
                "{}{}",
                if member.away.is_some() { "G" } else { "H" },
                if op { "@" } else { "" }
            );
            let (user, host) = user_and_host(&member.username, member.guest);
            match &whox {
                None => self.numeric(
                    "352",
                    vec![
                        channel.clone(),
                        user,
                        host,
                        SERVER.into(),
                        member.username.clone(),
                        flags,
                        format!("0 {}", member.username),
                    ],
                ),
                Some((fields, token)) => {
                    let mut params = Vec::new();
                    for field in "tcuihsnfdlaor".chars().filter(|f| fields.contains(*f)) {
                        params.push(match field {
                            't' => token.clone(),
                            'c' => channel.clone(),
                            'u' => user.clone(),
                            'i' => "255.255.255.255".into(),
                            'h' => host.clone(),
                            's' => SERVER.into(),
                            'n' => member.username.clone(),
                            'f' => flags.clone(),
                            'd' => "0".into(),
                            'l' => "0".into(),
                            'a' if member.guest => "0".into(),
                            'a' => member.username.clone(),
                            'o' => "n/a".into(),
                            _ => member.username.clone(),
                        });
                    }
                    self.numeric("354", params);
                }
            }
        }
        self.numeric("315", vec![mask, "End of WHO list".into()]);
    }
}

/// What follows a user's JOIN to a room's channel: the topic, the names,
/// and who owns it.
pub(crate) struct Burst {
    pub(crate) lines: Vec<Line>,
    /// The owner's name, when it is an account's (a guest's ownership is
    /// tied to its connection, and another guest may take its nick).
    pub(crate) owner: Option<String>,
}

/// The lines after `nick`'s JOIN to `room` (332 and 333 when there is a
/// topic, 353 and 366), wherever the join was made.
pub(crate) fn burst_lines(chat: &Chat, nick: &str, room: &str) -> Burst {
    let Some(channel) = channel_of(room) else {
        return Burst {
            lines: Vec::new(),
            owner: None,
        };
    };
    match chat.connected_members(room) {
        Ok((info, owner, members)) => {
            let mut lines = Vec::new();
            if !info.topic.is_empty() {
                lines.extend(topic_lines(chat, nick, &channel, &info));
            }
            lines.extend(names_lines(nick, &channel, owner, &members));
            let owner = chat
                .find_user(&info.owner)
                .ok()
                .filter(|user| user.id == owner && !user.guest)
                .map(|user| user.username);
            Burst { lines, owner }
        }
        Err(_) => Burst {
            lines: vec![numeric_line(
                nick,
                "366",
                vec![channel, "End of /NAMES list".into()],
            )],
            owner: None,
        },
    }
}

/// RPL_TOPIC, then RPL_TOPICWHOTIME when the store knows who set the topic
/// (not for topics set before schema 7): its time in Unix seconds.
fn topic_lines(chat: &Chat, nick: &str, channel: &str, info: &RoomInfo) -> Vec<Line> {
    let mut lines = vec![numeric_line(
        nick,
        "332",
        vec![channel.to_string(), info.topic.clone()],
    )];
    let setter = chat.topic_setter(&info.name).ok().flatten();
    let set = setter.and_then(|setter| {
        let at = chrono::DateTime::parse_from_rfc3339(&setter.at).ok()?;
        Some((setter.username, at.timestamp()))
    });
    if let Some((username, at)) = set {
        lines.push(numeric_line(
            nick,
            "333",
            vec![channel.to_string(), username, at.to_string()],
        ));
    }
    lines
}

/// A numeric from the server to `nick`.
fn numeric_line(nick: &str, code: &str, params: Vec<String>) -> Line {
    let mut all = vec![nick.to_string()];
    all.extend(params);
    Line::new(code, all).with_source(SERVER)
}

/// RPL_NAMREPLY lines for `members` (the owner, by id, as `@`), cut to fit
/// 512 bytes, then RPL_ENDOFNAMES.
fn names_lines(nick: &str, channel: &str, owner: i64, members: &[Live]) -> Vec<Line> {
    let names = members.iter().map(|member| {
        // The owner by id: a later guest with the owner's old nick is not
        // the owner.
        let op = if member.id == owner { "@" } else { "" };
        format!("{op}{}", member.username)
    });
    // What is left of 512 bytes after `:server 353 nick = #channel :`.
    let header = format!(":{SERVER} 353 {nick} = {channel} :");
    let budget = MAX_BODY_BYTES - 2 - header.len();
    let mut lines = Vec::new();
    let mut piece = String::new();
    for name in names {
        if !piece.is_empty() && piece.len() + 1 + name.len() > budget {
            let full = std::mem::take(&mut piece);
            lines.push(numeric_line(
                nick,
                "353",
                vec!["=".into(), channel.into(), full],
            ));
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        piece.push_str(&name);
    }
    if !piece.is_empty() {
        lines.push(numeric_line(
            nick,
            "353",
            vec!["=".into(), channel.into(), piece],
        ));
    }
    lines.push(numeric_line(
        nick,
        "366",
        vec![channel.into(), "End of /NAMES list".into()],
    ));
    lines
}

/// The NOTICE telling `nick` that their room cannot be a channel, and why.
pub(crate) fn not_a_channel_notice(nick: &str, room: &str) -> Line {
    let why = format!(
        "Your room '{room}' cannot be an IRC channel: {}; use another pipechat client for it",
        why_not_a_channel(room)
    );
    Line::new("NOTICE", vec![nick.to_string(), why]).with_source(SERVER)
}

/// The user and host parts of a user's `nick!user@host`.
fn user_and_host(nick: &str, guest: bool) -> (String, String) {
    let mask = hostmask(nick, guest);
    let (_, user_host) = mask.split_once('!').unwrap_or(("", &mask));
    let (user, host) = user_host.split_once('@').unwrap_or((user_host, SERVER));
    (user.to_string(), host.to_string())
}

/// Whether `name` matches the IRC mask `mask` (`*` any run, `?` one
/// character).
fn glob(mask: &str, name: &str) -> bool {
    let (mask, name): (Vec<char>, Vec<char>) = (mask.chars().collect(), name.chars().collect());
    let (mut m, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if m < mask.len() && (mask[m] == '?' || mask[m] == name[n]) {
            m += 1;
            n += 1;
        } else if m < mask.len() && mask[m] == '*' {
            star = Some(m);
            mark = n;
            m += 1;
        } else if let Some(s) = star {
            m = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|&c| c == '*')
}

/// The three parts of a SASL PLAIN message, from its base64.
fn decode_plain(encoded: &str) -> Option<(String, String, String)> {
    let bytes = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    Some((authzid.into(), authcid.into(), password.into()))
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

/// The nicks ISON and USERHOST name: the space-separated words of every
/// parameter.
fn nicks(p: &[String]) -> impl Iterator<Item = String> + '_ {
    p.iter()
        .flat_map(|p| p.split(' '))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("a*", "alice"));
        assert!(glob("*ic?", "alice"));
        assert!(!glob("b*", "alice"));
        assert!(glob("*", ""));
    }

    #[test]
    fn sasl_plain_decodes() {
        let encoded = STANDARD.encode(b"\0jilles\0sesame123");
        assert_eq!(
            decode_plain(&encoded),
            Some((String::new(), "jilles".into(), "sesame123".into()))
        );
        assert_eq!(decode_plain("!!"), None);
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
