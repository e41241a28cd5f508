//! Channels, each a pipechat room: JOIN (creating the room when there is
//! none), PART, TOPIC, NAMES, LIST, MODE, and the lines that follow a join
//! wherever it was made (topic, names).

use super::super::caps;
use super::super::connection::{Move, Own};
use super::super::line::{Line, MAX_BODY_BYTES, pack_words};
use super::super::render::{
    SERVER, channel_of, hostmask, markread_line, user_line, why_not_a_channel,
};
use super::{Client, numeric_line};
use crate::chat::limits::MAX_TOPIC_CHARS;
use crate::chat::{Chat, ChatError, Live, User, room_key};
use crate::wire::RoomInfo;

impl Client {
    /// Joined or left elsewhere since last asked: a JOIN of a channel the
    /// client is in does nothing, one it left joins again.
    pub(super) fn catch_up_moves(&mut self) {
        for change in self.peer.take_moves() {
            match change {
                Move::In(room) => {
                    self.joined.insert(room_key(&room), room);
                }
                Move::Out(room) => {
                    self.joined.remove(&room_key(&room));
                }
            }
        }
    }

    pub(super) fn join(&mut self, p: &[String]) {
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
        // Every channel named, however many (see `MAX_TARGETS`).
        for channel in channels.split(',') {
            let Some(room) = self.room_of(channel) else {
                continue;
            };
            if self.joined.contains_key(&room_key(room)) {
                continue;
            }
            // From here a join of the room made elsewhere is taken for this
            // one (one burst); one made just before is caught up with here.
            self.peer.begin(Own::Join {
                room: room_key(room),
            });
            self.catch_up_moves();
            if self.joined.contains_key(&room_key(room)) {
                self.peer.end();
                continue;
            }
            // Held from before the commit: this connection follows its
            // user's joins, so the room's events start with it.
            self.peer.hold(room);
            let joined = self.chat.join_creating(&me, room.to_string());
            self.peer.end();
            match joined {
                Ok((joined, _)) => {
                    self.say_if_forwarded(channel, &joined.name);
                    self.join_burst(&joined.name);
                }
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

    /// A JOIN of `#été` for the room `ÉTÉ` is answered as the room is
    /// spelled, which a client comparing names by ASCII (`CASEMAPPING=ascii`)
    /// takes for another channel: it would keep a window for `#été` that
    /// nothing reaches. So first the forward clients know from channel
    /// forwarding (`470`, as Libera's servers send it), which irssi follows
    /// by putting `#ÉTÉ` in the window it opened for `#été`.
    fn say_if_forwarded(&mut self, asked: &str, room: &str) {
        let Some(channel) = channel_of(room) else {
            return;
        };
        if !asked.eq_ignore_ascii_case(&channel) {
            let why = "Forwarding to another channel".to_string();
            self.numeric("470", vec![asked.to_string(), channel, why]);
        }
    }

    /// What a joining client gets: its JOIN, the topic and the names, with
    /// the room's events held back until they are out.
    pub(super) fn join_burst(&mut self, room: &str) {
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
        self.joined.insert(room_key(room), room.to_string());
        self.out.push(user_line(
            self.caps,
            &me.username,
            self.is_guest(),
            "JOIN",
            vec![channel.clone()],
        ));
        let reader = self.caps.has(caps::READ_MARKER).then_some(&me);
        let burst = burst_lines(&self.chat, &me.username, room, reader);
        if let Some(owner) = burst.owner {
            self.peer.set_owner(room, owner);
        }
        self.out.extend(burst.lines);
    }

    pub(super) fn part(&mut self, p: &[String]) {
        let Some(channels) = p.first() else {
            return self.need_more("PART");
        };
        let reason = p.get(1).cloned().filter(|r| !r.is_empty());
        for channel in channels.split(',') {
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
            room: room_key(room),
        });
        let exited = self.chat.exit_saying(&me, room.to_string(), reason.clone());
        self.peer.end();
        match exited {
            Ok(room) => {
                self.joined.remove(&room_key(&room.name));
                let mut params = vec![channel_of(&room.name).unwrap_or(channel)];
                params.extend(reason);
                self.out.push(user_line(
                    self.caps,
                    &me.username,
                    self.is_guest(),
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

    pub(super) fn topic(&mut self, p: &[String]) {
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
            room: room_key(&room),
        });
        let set = self.chat.set_topic(&me, room, topic.clone());
        self.peer.end();
        match set {
            Ok(info) => {
                let channel = channel_of(&info.name).unwrap_or(channel);
                self.out.push(user_line(
                    self.caps,
                    &me.username,
                    self.is_guest(),
                    "TOPIC",
                    vec![channel, topic],
                ));
            }
            Err(err) => self.chat_error(&channel, &err),
        }
    }

    pub(super) fn names(&mut self, p: &[String]) {
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

    pub(super) fn list(&mut self, p: &[String]) {
        let wanted: Option<Vec<String>> = p
            .first()
            .filter(|first| first.starts_with('#'))
            .map(|first| first.split(',').map(room_key).collect());
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
                .is_some_and(|wanted| !wanted.contains(&room_key(&channel)))
            {
                continue;
            }
            if let Ok((info, _, members)) = self.chat.connected_members(&room) {
                self.numeric("322", vec![channel, members.len().to_string(), info.topic]);
            }
        }
        self.numeric("323", vec!["End of /LIST".into()]);
    }

    pub(super) fn mode(&mut self, p: &[String]) {
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
/// topic, 353 and 366), wherever the join was made; with `reader` (a
/// connection with `draft/read-marker`), its read marker before the 366,
/// as the specification asks.
pub(crate) fn burst_lines(chat: &Chat, nick: &str, room: &str, reader: Option<&User>) -> Burst {
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
            if let Some(reader) = reader {
                // A marker that cannot be read is left out: the join stands.
                if let Ok(at) = chat.read_marker(reader, room) {
                    let end_of_names = lines.len() - 1;
                    lines.insert(end_of_names, markread_line(&channel, at.as_deref()));
                }
            }
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
            // As `nick!user@host`, which clients show whole ("Topic set
            // by alice [alice@pipechat]"); a name alone showed as "[]".
            vec![
                channel.to_string(),
                hostmask(&username, false),
                at.to_string(),
            ],
        ));
    }
    lines
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
    let mut lines: Vec<Line> = pack_words(names, budget)
        .into_iter()
        .map(|piece| numeric_line(nick, "353", vec!["=".into(), channel.into(), piece]))
        .collect();
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
