//! What is live and never stored: who is connected and away, notices, and
//! the subscriptions that carry a room's (or a user's direct) events to a
//! connection.

use super::hub::Scope;
use super::{
    Chat, ChatError, Live, Notice, NoticeTo, PresenceChange, Session, Target, existing_room,
    limits, member_room, only_rooms,
};
use crate::store::User;
use crate::wire::RoomInfo;

impl Chat {
    /// Each of `names` who is connected now, in order: what this server's
    /// hub knows of them, or (PostgreSQL) that another server has them.
    pub(crate) fn live(&self, names: &[String]) -> Vec<Option<Live>> {
        let mut live = self.hub.live(names);
        if live.iter().any(Option::is_none) {
            let elsewhere = self.store.active_elsewhere().unwrap_or_default();
            for (entry, name) in live.iter_mut().zip(names) {
                if entry.is_none()
                    && let Some(found) = elsewhere.iter().find(|n| n.eq_ignore_ascii_case(name))
                {
                    *entry = Some(Live {
                        id: 0,
                        username: found.clone(),
                        guest: false,
                        away: None,
                    });
                }
            }
        }
        live
    }

    /// Marks the user away with `message` (cut to
    /// [`limits::MAX_AWAY_CHARS`]), or back with `None`; the others sharing
    /// a room hear of it. The user is back, too, when `session` ends while
    /// they stay connected ([`Chat::announce_back`]).
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn set_away(
        &self,
        session: &Session,
        user: &User,
        message: Option<String>,
    ) -> Result<(), ChatError> {
        let message = message.map(|m| m.chars().take(limits::MAX_AWAY_CHARS).collect::<String>());
        if self.hub.set_away(session, user.id, message.clone()) {
            let rooms = self.store.read(|db| db.rooms_of(user.id))?;
            self.hub
                .announce(user, &rooms, &PresenceChange::Away(message));
        }
        Ok(())
    }

    /// Tells the others of users who are back because the connection that
    /// said they were away is gone (`Hub::take_back`); after anything that
    /// logs connections out.
    pub(crate) fn announce_back(&self) {
        for user in self.hub.take_back() {
            match self.store.read(|db| db.rooms_of(user.id)) {
                Ok(rooms) => self
                    .hub
                    .announce(&user, &rooms, &PresenceChange::Away(None)),
                Err(err) => log::warn!("cannot announce that '{}' is back: {err}", user.username),
            }
        }
    }

    /// The members of a room who are connected now (through any front
    /// door), with the room's description and its owner's user id.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn connected_members(
        &self,
        name: &str,
    ) -> Result<(RoomInfo, i64, Vec<Live>), ChatError> {
        only_rooms(name, "listed by members")?;
        let (info, owner, names) = self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok::<_, ChatError>((
                db.room_info(&room)?,
                room.created_by,
                db.member_names(room.id)?,
            ))
        })?;
        let live = self.live(&names).into_iter().flatten().collect();
        Ok((info, owner, live))
    }

    /// Sends a live-only notice (never stored) to a room's listeners (the
    /// sender must be a member) or to a user's connections.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`], [`ChatError::NoSuchUser`].
    pub(crate) fn notice(
        &self,
        session: &Session,
        user: &User,
        name: &str,
        text: String,
    ) -> Result<(), ChatError> {
        limits::check_message_text(&text).map_err(ChatError::Invalid)?;
        match Target::parse(name) {
            Target::Room(room) => {
                let room = self.store.read(|db| member_room(db, user, room))?;
                self.hub.notice_room(
                    room.id,
                    &Notice {
                        from: user.username.clone(),
                        guest: session.is_guest(),
                        to: NoticeTo::Room(room.name),
                        text,
                        origin: session.id(),
                    },
                );
            }
            Target::Direct(other) => {
                let other = self.find_user(other)?;
                self.hub.notice_direct(
                    user.id,
                    other.id,
                    &Notice {
                        from: user.username.clone(),
                        guest: session.is_guest(),
                        to: NoticeTo::User(other.username),
                        text,
                        origin: session.id(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Who is logged in on at least one connection now, on this server or
    /// (PostgreSQL) another one sharing the database.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn active_users(&self) -> Result<Vec<String>, ChatError> {
        let mut names = self.hub.active_usernames();
        names.extend(self.store.active_elsewhere()?);
        names.sort_by_cached_key(|name| name.to_ascii_lowercase());
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(names)
    }

    /// What `@other` names in a subscription: every conversation (`@`,
    /// `None`), or the one with that user, and the name as registered.
    fn conversation_with(&self, other: &str) -> Result<(Option<i64>, String), ChatError> {
        if other.is_empty() {
            return Ok((None, "@".to_string()));
        }
        let other = self.find_user(other)?;
        Ok((Some(other.id), format!("@{}", other.username)))
    }

    /// From now on the connection receives the room's events; `@` stands for
    /// every direct message of the user, `@bob` for those of the
    /// conversation with bob.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn subscribe(
        &self,
        session: &Session,
        user: &User,
        name: &str,
    ) -> Result<String, ChatError> {
        match Target::parse(name) {
            Target::Direct(other) => {
                let (with, named) = self.conversation_with(other)?;
                if !self.hub.subscribe_direct(session, user.id, with) {
                    return Err(ChatError::NotLoggedIn);
                }
                let newest = self.store.read(|db| db.direct_last_message_id(user.id))?;
                self.hub.note_caught_up(Scope::Direct(user.id), newest);
                Ok(named)
            }
            Target::Room(name) => {
                let room = self.store.read(|db| existing_room(db, name))?;
                let subscribed = self.hub.subscribe(session, room.id, user.id, || {
                    self.store.read(|db| {
                        let room = member_room(db, user, &room.name)?;
                        let newest = db.room_last_message_id(room.id)?;
                        Ok::<_, ChatError>((room, newest))
                    })
                });
                let (room, newest) = subscribed.ok_or(ChatError::NotLoggedIn)??;
                // Where a catch-up would start, should the feed of changes
                // be interrupted (PostgreSQL).
                self.hub.note_caught_up(Scope::Room(room.id), newest);
                Ok(room.name)
            }
        }
    }

    /// Stops the connection's events from a room, or (`@`) of direct
    /// messages, or (`@bob`) of one conversation.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NoSuchUser`].
    pub(crate) fn unsubscribe(
        &self,
        session: &Session,
        user: &User,
        name: &str,
    ) -> Result<String, ChatError> {
        match Target::parse(name) {
            Target::Direct(other) => {
                let (with, named) = self.conversation_with(other)?;
                self.hub.unsubscribe_direct(session, user.id, with);
                Ok(named)
            }
            Target::Room(name) => {
                let room = self.store.read(|db| existing_room(db, name))?;
                self.hub.unsubscribe(session, room.id);
                Ok(room.name)
            }
        }
    }
}
