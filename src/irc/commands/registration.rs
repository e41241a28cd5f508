//! Registration: capability negotiation (CAP), SASL PLAIN, PASS, NICK and
//! USER, then logging in as an account (or a guest) and the welcome burst
//! (001 to 005, LUSERS, MOTD).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::super::caps;
use super::super::line::{Line, MAX_BODY_BYTES};
use super::super::render::{SERVER, channel_of, hostmask, is_channel};
use super::{
    Client, MAX_SASL_BYTES, MAX_TARGETS, MAX_USERHOST_NICKS, SASL_PIECE_BYTES, not_a_channel_notice,
};
use crate::chat::limits::{
    MAX_AWAY_CHARS, MAX_ROOM_NAME_CHARS, MAX_TOPIC_CHARS, MAX_USERNAME_CHARS, check_username,
};
use crate::chat::{ChatError, User, room_key};
use crate::wire::MAX_FETCH_LIMIT;

impl Client {
    pub(super) fn cap(&mut self, p: &[String]) {
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
                    // Registration ends an unfinished exchange, as the
                    // SASL specification asks: said, then on without it.
                    if self.sasl.take().is_some() {
                        self.numeric("906", vec!["SASL authentication aborted".into()]);
                    }
                    self.cap_negotiating = false;
                    self.try_register();
                }
            }
            _ => self.numeric("410", vec![sub, "Invalid CAP command".into()]),
        }
    }

    pub(super) fn authenticate(&mut self, p: &[String]) {
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
        if data.len() > SASL_PIECE_BYTES {
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
        if data.len() == SASL_PIECE_BYTES {
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
            Err(err) if err.is_server_side() => self.numeric(
                "904",
                vec![format!("SASL authentication failed: {}", err.sentence())],
            ),
            Err(_) => self.numeric("904", vec!["SASL authentication failed".into()]),
        }
    }

    pub(super) fn pass(&mut self, p: &[String]) {
        if self.me.is_some() {
            return self.numeric("462", vec!["You may not reregister".into()]);
        }
        match p.first() {
            Some(pass) => self.pass = Some(pass.clone()),
            None => self.need_more("PASS"),
        }
    }

    pub(super) fn nick(&mut self, p: &[String]) {
        let Some(new) = p.first().filter(|n| !n.is_empty()).cloned() else {
            return self.numeric("431", vec!["No nickname given".into()]);
        };
        // The nick is the account's name: the core's rule, in its words.
        if let Err(why) = check_username(&new) {
            return self.numeric("432", vec![new, format!("Erroneous nickname: {why}")]);
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
        if !self.is_guest() {
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
                self.peer.set_nick(&new, user.guest);
                self.me = Some(user);
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

    pub(super) fn user(&mut self, p: &[String]) {
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
            let named = pass.contains(':');
            let (name, password) = pass.split_once(':').unwrap_or(("", &pass));
            let name = if name.is_empty() { nick.as_str() } else { name };
            match self.chat.login(&self.session, name, password) {
                Ok(login) => login.user,
                // Not the password's fault: no 464, which clients take for
                // a wrong one (some then forget it).
                Err(err) if err.is_server_side() => return self.error(&err.sentence()),
                // Throttled: the password may be right, so no 464 either
                // (see above), only the reason.
                Err(ChatError::Throttled(seconds)) => {
                    return self.error(&format!(
                        "Too many failed logins; try again in {seconds} seconds"
                    ));
                }
                Err(_) => {
                    self.numeric("464", vec!["Password incorrect".into()]);
                    // The form is named only to who did not use it.
                    return self.error(match named {
                        true => "Bad password",
                        false => "Bad password: PASS takes username:password, or the password of the account named by NICK",
                    });
                }
            }
        } else if self.guests {
            match self.chat.log_in_guest(&self.session, &nick) {
                Ok(user) => user,
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
        self.peer.set_nick(&nick, user.guest);
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
        // Events may come from here on; none goes out before the lines
        // above (`flush`).
        self.peer.hold_until_welcomed();
        self.welcoming = true;
        if let Err(err) = self.chat.subscribe(&self.session, &user, "@") {
            log::warn!("IRC: cannot deliver direct messages: {}", err.sentence());
        }
        // In the channel of every room the user joins, from any front door;
        // of a room that cannot be a channel, only told why.
        self.session.follow_memberships(is_channel);
        if self.is_guest() {
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
                Some(_) if self.joined.contains_key(&room_key(&room.name)) => {}
                Some(_) => self.join_burst(&room.name),
                None => self.out.push(not_a_channel_notice(&nick, &room.name)),
            }
        }
    }

    /// RPL_ISUPPORT (005): the limits are the core's and this door's own
    /// constants, so that what clients are told cannot drift from what is
    /// enforced.
    pub(super) fn isupport(&mut self) {
        let tokens = [
            format!("AWAYLEN={MAX_AWAY_CHARS}"),
            // Exact for nicks (ASCII only). Channels are matched as the pipe
            // matches room names, by full Unicode case folding, which no
            // CASEMAPPING value names; a JOIN spelled otherwise than ASCII's
            // case allows is forwarded to the name as created (470).
            "CASEMAPPING=ascii".into(),
            "CHANLIMIT=#:".into(),
            "CHANMODES=,,,n".into(),
            // In bytes: `#` and a room name's characters of up to 4 bytes each.
            format!("CHANNELLEN={}", 1 + 4 * MAX_ROOM_NAME_CHARS),
            "CHANTYPES=#".into(),
            format!("CHATHISTORY={MAX_FETCH_LIMIT}"),
            // No client-only tag is relayed (TAGMSG is accepted and dropped).
            "CLIENTTAGDENY=*".into(),
            "ELIST=".into(),
            "HOSTLEN=64".into(),
            format!("LINELEN={MAX_BODY_BYTES}"),
            format!("MAXTARGETS={MAX_TARGETS}"),
            "MODES=1".into(),
            "MSGREFTYPES=msgid,timestamp".into(),
            "NETWORK=pipechat".into(),
            format!("NICKLEN={MAX_USERNAME_CHARS}"),
            "PREFIX=(o)@".into(),
            "STATUSMSG=".into(),
            // JOIN and PART: no limit (see `MAX_TARGETS`).
            format!(
                "TARGMAX=JOIN:,PART:,PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},NAMES:1,WHOIS:1,USERHOST:{MAX_USERHOST_NICKS}"
            ),
            format!("TOPICLEN={MAX_TOPIC_CHARS}"),
            // The user part of a mask is the nick (or `~guest`).
            format!("USERLEN={MAX_USERNAME_CHARS}"),
            "UTF8ONLY".into(),
            "WHOX".into(),
        ];
        for chunk in tokens.chunks(12) {
            let mut params: Vec<String> = chunk.to_vec();
            params.push("are supported by this server".into());
            self.numeric("005", params);
        }
    }

    pub(super) fn lusers(&mut self) {
        /// The most users seen connected at once, for 265 and 266.
        static MOST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let users = self.chat.active_users().map_or(0, |users| users.len());
        let most = MOST
            .fetch_max(users, std::sync::atomic::Ordering::Relaxed)
            .max(users);
        self.numeric(
            "251",
            vec![format!(
                "There are 0 users and {users} invisible on 1 servers"
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

    pub(super) fn motd(&mut self) {
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
}

/// The three parts of a SASL PLAIN message, from its base64.
fn decode_plain(encoded: &str) -> Option<(String, String, String)> {
    let bytes = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    Some((authzid.into(), authcid.into(), password.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_decodes() {
        let encoded = STANDARD.encode(b"\0jilles\0sesame123");
        assert_eq!(
            decode_plain(&encoded),
            Some((String::new(), "jilles".into(), "sesame123".into()))
        );
        assert_eq!(decode_plain("!!"), None);
    }
}
