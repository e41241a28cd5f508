//! Chatrooms: creating, joining and leaving them, their members, topics
//! and retention, and the sweep that deletes what retention lets go.

use super::{Chat, ChatError, days_ago, existing_room, limits, member_room, only_rooms, tokens};
use crate::store::{Room, TopicSetter, User};
use crate::wire::RoomInfo;

/// Retention deletes expired messages in transactions of at most this many,
/// so that senders are never held up for long.
const EXPIRY_BATCH: u32 = 500;

impl Chat {
    /// Creates a chatroom, recording its creator as its owner; does not join.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] name, [`ChatError::RoomExists`].
    pub(crate) fn create_room(&self, user: &User, name: String) -> Result<Room, ChatError> {
        limits::check_room_name(&name).map_err(ChatError::Invalid)?;
        let creator = user.id;
        self.store
            .write(move |db| match db.insert_room(&name, creator)? {
                Some(room) => Ok(room),
                // Named as created.
                None => Err(ChatError::RoomExists(
                    db.find_room(&name)?.map_or(name, |room| room.name),
                )),
            })
    }

    /// Makes the user a member; joining twice leaves one membership and
    /// tells nobody.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn join(&self, user: &User, name: String) -> Result<Room, ChatError> {
        only_rooms(&name, "joined")?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            db.insert_membership(&room, &user)?;
            Ok(room)
        })
    }

    /// Ends the user's membership, and with it their subscriptions to the
    /// room on every connection.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotAMemberToExit`].
    pub(crate) fn exit(&self, user: &User, name: String) -> Result<Room, ChatError> {
        only_rooms(&name, "left")?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            if !db.delete_membership(&room, &user)? {
                return Err(ChatError::NotAMemberToExit(room.name));
            }
            Ok(room)
        })
    }

    /// Joins a room, creating it first when there is none (the IRC habit).
    /// Returns the room and whether it was created.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] name.
    pub(crate) fn join_creating(
        &self,
        user: &User,
        name: String,
    ) -> Result<(Room, bool), ChatError> {
        only_rooms(&name, "joined")?;
        let user = user.clone();
        self.store.write(move |db| {
            let (room, created) = match db.find_room(&name)? {
                Some(room) => (room, false),
                None => {
                    limits::check_room_name(&name).map_err(ChatError::Invalid)?;
                    let room = db
                        .insert_room(&name, user.id)?
                        .ok_or_else(|| ChatError::RoomExists(name.clone()))?;
                    (room, true)
                }
            };
            db.insert_membership(&room, &user)?;
            Ok((room, created))
        })
    }

    /// [`Chat::exit`], with a reason the room's listeners hear.
    ///
    /// # Errors
    ///
    /// As [`Chat::exit`].
    pub(crate) fn exit_saying(
        &self,
        user: &User,
        name: String,
        reason: Option<String>,
    ) -> Result<Room, ChatError> {
        let Some(reason) = reason else {
            return self.exit(user, name);
        };
        only_rooms(&name, "left")?;
        let room = self.store.read(|db| existing_room(db, &name))?;
        self.hub.exit_reason(room.id, user.id, reason);
        let exited = self.exit(user, name);
        if exited.is_err() {
            self.hub.forget_exit_reason(room.id, user.id);
        }
        exited
    }

    /// Every chatroom's name, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn room_names(&self) -> Result<Vec<String>, ChatError> {
        self.store.read(|db| Ok(db.room_names()?))
    }

    /// The members of a room, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn members(&self, name: &str) -> Result<Vec<String>, ChatError> {
        only_rooms(name, "listed by members")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.member_names(room.id)?)
        })
    }

    /// The rooms the user is a member of.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn rooms_of(&self, user: &User) -> Result<Vec<Room>, ChatError> {
        self.store.read(|db| Ok(db.rooms_of(user.id)?))
    }

    /// Owner, counts, topic and retention of a room.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn room_info(&self, name: &str) -> Result<RoomInfo, ChatError> {
        only_rooms(name, "described")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Who set a room's topic, and when: what IRC shows on joining (333).
    /// `None` while it has no topic, or one set before schema 7.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn topic_setter(&self, name: &str) -> Result<Option<TopicSetter>, ChatError> {
        only_rooms(name, "described")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.topic_setter(&room)?)
        })
    }

    /// Sets a room's topic (members only); subscribers hear of it.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`], [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`].
    pub(crate) fn set_topic(
        &self,
        user: &User,
        name: String,
        topic: String,
    ) -> Result<RoomInfo, ChatError> {
        only_rooms(&name, "given a topic")?;
        limits::check_topic(&topic).map_err(ChatError::Invalid)?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = member_room(db, &user, &name)?;
            db.set_topic(&room, &user, &topic)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Sets how many days a room keeps its messages (the owner only; 0 keeps
    /// them forever). Expired messages go at the next sweep.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`], [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotOwner`].
    pub(crate) fn set_retention(
        &self,
        user: &User,
        name: String,
        days: u32,
    ) -> Result<RoomInfo, ChatError> {
        only_rooms(&name, "given a retention")?;
        limits::check_retention_days(days).map_err(ChatError::Invalid)?;
        let owner = user.id;
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            if room.created_by != owner {
                return Err(ChatError::NotOwner(room.name));
            }
            db.set_retention(&room, days)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Deletes expired messages (by each room's retention, in small
    /// transactions, without events) and expired resume tokens. Returns how
    /// many messages went.
    ///
    /// # Errors
    ///
    /// The store's; what was deleted before stays deleted.
    pub(crate) fn sweep_expired(&self) -> Result<u64, ChatError> {
        let rooms = self.store.read(|db| db.rooms_with_retention())?;
        let mut expired = 0u64;
        for (room, days) in rooms {
            let before = days_ago(i64::from(days));
            loop {
                let (room, before) = (room.clone(), before.clone());
                let deleted = self
                    .store
                    .write(move |db| db.delete_expired_messages(&room, &before, EXPIRY_BATCH))?;
                expired += u64::from(deleted);
                if deleted < EXPIRY_BATCH {
                    break;
                }
            }
        }
        let before = days_ago(tokens::TOKEN_LIFETIME_DAYS);
        let tokens = self
            .store
            .write(move |db| db.delete_tokens_unused_since(&before))?;
        if expired > 0 || tokens > 0 {
            log::info!("expired {expired} messages and {tokens} resume tokens");
        }
        Ok(expired)
    }
}
