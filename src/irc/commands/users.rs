//! Questions about users: AWAY, ISON, USERHOST, WHOIS and WHO.

use super::super::line::{MAX_BODY_BYTES, pack_words};
use super::super::render::{SERVER, channel_of, hostmask};
use super::{Client, MAX_USERHOST_NICKS};
use crate::chat::{Live, User};

impl Client {
    pub(super) fn away(&mut self, p: &[String]) {
        let Some(me) = self.me.clone() else {
            return;
        };
        let message = p.first().filter(|m| !m.is_empty()).cloned();
        let away = message.is_some();
        if let Err(err) = self.chat.set_away(&self.session, &me, message) {
            return self.fail_line("AWAY", &err);
        }
        if away {
            self.numeric("306", vec!["You have been marked as being away".into()]);
        } else {
            self.numeric("305", vec!["You are no longer marked as being away".into()]);
        }
    }

    pub(super) fn ison(&mut self, p: &[String]) {
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

    /// RPL_USERHOST (302): `nick=+user@host` for each of the first
    /// [`MAX_USERHOST_NICKS`] nicks connected now (`-` instead of `+` when
    /// away).
    pub(super) fn userhost(&mut self, p: &[String]) {
        if p.is_empty() {
            return self.need_more("USERHOST");
        }
        let names: Vec<String> = nicks(p).take(MAX_USERHOST_NICKS).collect();
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

    /// `319`: the channels a user is in (rooms are public, as are their
    /// members), the ones they own as `@#room`, in as many lines as they
    /// take. A user on another node (PostgreSQL) is known here by name
    /// only: an account, found by it.
    fn whois_channels(&mut self, live: &Live) {
        let Some(me) = self.me.as_ref().map(|me| me.username.clone()) else {
            return;
        };
        let user = match live.id {
            0 => match self.chat.account(&live.username) {
                Ok(user) => user,
                Err(_) => return,
            },
            id => User {
                id,
                username: live.username.clone(),
                guest: live.guest,
            },
        };
        let Ok(rooms) = self.chat.rooms_of(&user) else {
            return;
        };
        let channels = rooms.iter().filter_map(|room| {
            let op = if room.created_by == user.id { "@" } else { "" };
            channel_of(&room.name).map(|channel| format!("{op}{channel}"))
        });
        // What is left of 512 bytes after `:server 319 me name :`.
        let header = format!(":{SERVER} 319 {me} {} :", live.username);
        for piece in pack_words(channels, MAX_BODY_BYTES - 2 - header.len()) {
            self.numeric("319", vec![live.username.clone(), piece]);
        }
    }

    pub(super) fn whois(&mut self, p: &[String]) {
        let Some(list) = p.last().cloned() else {
            return self.numeric("431", vec!["No nickname given".into()]);
        };
        // One nick (`TARGMAX=WHOIS:1`); any more get 407.
        let Some(nick) = self.targets(&list, 1).first().map(|n| n.to_string()) else {
            return;
        };
        match self.chat.live(std::slice::from_ref(&nick)).pop().flatten() {
            Some(live) => {
                let name = live.username.clone();
                let (user, host) = user_and_host(&name, live.guest);
                self.numeric(
                    "311",
                    vec![name.clone(), user, host, "*".into(), name.clone()],
                );
                self.whois_channels(&live);
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

    pub(super) fn who(&mut self, p: &[String]) {
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
}
