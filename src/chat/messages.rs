//! Messages in rooms and direct conversations: sending, editing and
//! deleting them, reading pages of them, read positions, unread counts,
//! search. Who may read what is decided for each of them by the same
//! lookups, shared with the rest of the core (`readable_place`,
//! `writable_place`, `readable_message` in `chat`), which see IRC guests
//! wherever they see accounts.

use super::{
    Chat, ChatError, Named, Target, direct_name, existing_room, limits, readable_message,
    readable_place, search, writable_place,
};
use crate::metrics::metrics;
use crate::store::{Page, PlaceKey, Reads, StoredMessage, User};
use crate::wire::{Message, ReadPosition, Unread};

impl Chat {
    /// A page of a room's messages (for a member) or of a conversation.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] page size ([`limits::check_limit`]),
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn fetch(
        &self,
        user: &User,
        name: &str,
        page: Page,
    ) -> Result<Vec<Message>, ChatError> {
        limits::check_limit(page.limit()).map_err(ChatError::Invalid)?;
        let named = self.named(name);
        self.store
            .read(|db| match readable_place(db, user, &named)? {
                Some(place) => Ok(db.messages(&place, page)?),
                None => Ok(Vec::new()),
            })
    }

    /// The id of the newest message of a room or conversation the user may
    /// read that was sent before `at` (or at it, when `inclusive`); 0 when
    /// none: history asked by time.
    ///
    /// # Errors
    ///
    /// As [`Chat::fetch`].
    pub(crate) fn last_id_before(
        &self,
        user: &User,
        name: &str,
        at: &str,
        inclusive: bool,
    ) -> Result<i64, ChatError> {
        let named = self.named(name);
        self.store
            .read(|db| match readable_place(db, user, &named)? {
                Some(place) => Ok(db.last_id_before(&place, at, inclusive)?),
                None => Ok(0),
            })
    }

    /// The rooms and conversations (`@name`) of the user whose newest
    /// message was sent strictly between `after` and `before`, with its time.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] `limit` ([`limits::check_limit`]), and the
    /// store's.
    pub(crate) fn recent_places(
        &self,
        user: &User,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, ChatError> {
        limits::check_limit(limit).map_err(ChatError::Invalid)?;
        self.store
            .read(|db| Ok(db.recent_places(user, after, before, limit)?))
    }

    /// Stores a message from a member, or a direct message; answered once it
    /// is committed.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`], [`ChatError::NoSuchUser`].
    pub(crate) fn send(
        &self,
        user: &User,
        name: String,
        text: String,
    ) -> Result<Message, ChatError> {
        let (reply, answer) = oneshot::channel();
        self.send_then(user, name, text, move |sent| {
            let _ = reply.send(sent);
        });
        answer.recv().unwrap_or_else(|_| Err(ChatError::stopped()))
    }

    /// [`Chat::send`], handing the outcome to `then` instead of waiting for
    /// it: once the message is committed, on whichever thread committed it.
    pub(crate) fn send_then(
        &self,
        user: &User,
        name: String,
        text: String,
        then: impl FnOnce(Result<Message, ChatError>) + Send + 'static,
    ) {
        if let Err(invalid) = limits::check_message_text(&text) {
            return then(Err(ChatError::Invalid(invalid)));
        }
        let user = user.clone();
        let named = self.named(name);
        self.store.write_then(
            move |db| -> Result<Message, ChatError> {
                let place = writable_place(db, &user, &named)?;
                Ok(db.insert_message(&place, &user, &text)?)
            },
            move |stored| {
                if stored.is_ok() {
                    metrics().messages_stored.inc();
                }
                then(stored);
            },
        );
    }

    /// Replaces the text of one's own message.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchMessage`] (also for
    /// one the user cannot read), [`ChatError::NotAuthor`].
    pub(crate) fn edit(&self, user: &User, id: i64, text: String) -> Result<Message, ChatError> {
        limits::check_message_text(&text).map_err(ChatError::Invalid)?;
        let user = user.clone();
        self.store.write(move |db| {
            let stored = readable_message(db, &user, id)?;
            if stored.author_id != user.id {
                return Err(ChatError::NotAuthor(id));
            }
            db.update_message_text(&stored, &text)?
                .ok_or(ChatError::NoSuchMessage(id))
        })
    }

    /// Deletes a message: its author may, and so may the owner of its room,
    /// members or not (the owner of a room keeps it without being in it, as
    /// `/setRetention` does; an author who left may still take back what
    /// they wrote). Anyone else gets 403 as protocol.md words it ("neither
    /// its author nor the owner of its room"), whether they can read the
    /// message or not: unlike `/editMessage`'s, its 404 is not qualified by
    /// "that you can read", and ids, shared by every room and increasing,
    /// already show that other messages exist.
    ///
    /// `within`, when given, names the room or `@user` conversation the
    /// message must be in (an IRC client's `REDACT #room id`); one elsewhere
    /// is no such message there.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchMessage`], [`ChatError::NotAuthorOrOwner`].
    pub(crate) fn delete(
        &self,
        user: &User,
        id: i64,
        within: Option<String>,
    ) -> Result<(), ChatError> {
        let user = user.clone();
        let within = within.map(|name| self.named(name));
        self.store.write(move |db| {
            let stored = db.find_message(id)?.ok_or(ChatError::NoSuchMessage(id))?;
            if let Some(named) = &within
                && !is_in(db, &user, &stored, named)?
            {
                return Err(ChatError::NoSuchMessage(id));
            }
            if stored.author_id != user.id && stored.room_owner != Some(user.id) {
                return Err(ChatError::NotAuthorOrOwner(id));
            }
            match db.delete_message(&stored)? {
                true => Ok(()),
                false => Err(ChatError::NoSuchMessage(id)),
            }
        })
    }

    /// Moves the user's read position in a room or conversation forward.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn mark_read(
        &self,
        user: &User,
        name: String,
        id: i64,
    ) -> Result<ReadPosition, ChatError> {
        let user = user.clone();
        let named = self.named(name);
        self.store.write(move |db| {
            let (place, shown) = match readable_place(db, &user, &named)? {
                Some(place) => {
                    let shown = place.name_for(&user);
                    (place, shown)
                }
                // No conversation yet: nothing to have read.
                None => {
                    return Ok(ReadPosition {
                        room: direct_name(db, &named)?,
                        last_read_id: 0,
                    });
                }
            };
            let last_read_id = db.mark_read(&place, &user, id)?;
            Ok(ReadPosition {
                room: shown,
                last_read_id,
            })
        })
    }

    /// Moves the user's read position forward to the newest message sent
    /// at or before `at` (IRC's `MARKREAD`). Returns the time of the newest
    /// message read now, which is not `at` when the position was already
    /// further, or when no message was sent at `at` exactly. The user's
    /// connections hear of a move as of any other
    /// ([`super::ReadMarker`]).
    ///
    /// # Errors
    ///
    /// As [`Chat::mark_read`].
    pub(crate) fn mark_read_at(
        &self,
        user: &User,
        name: String,
        at: &str,
    ) -> Result<Option<String>, ChatError> {
        // The id first, in a read: an old time walks the place's messages
        // back from the newest, which must not hold up every writer.
        let id = self.last_id_before(user, &name, at, true)?;
        let named = self.named(name);
        let reader = user.clone();
        self.store.write(move |db| {
            let Some(place) = readable_place(db, &reader, &named)? else {
                return Ok(None);
            };
            if id > 0 {
                db.mark_read(&place, &reader, id)?;
            }
            Ok(db.read_time(&place, &reader)?)
        })
    }

    /// When the newest message the user has read in a room or conversation
    /// was sent; `None` when none (IRC's read marker).
    ///
    /// # Errors
    ///
    /// As [`Chat::fetch`].
    pub(crate) fn read_marker(&self, user: &User, name: &str) -> Result<Option<String>, ChatError> {
        let named = self.named(name);
        self.store
            .read(|db| match readable_place(db, user, &named)? {
                Some(place) => Ok(db.read_time(&place, user)?),
                None => Ok(None),
            })
    }

    /// Read positions and unread counts of every room the user is a member
    /// of and every conversation they have, but those with IRC guests no
    /// longer connected to this server (they cannot be opened again).
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn unread(&self, user: &User) -> Result<Vec<Unread>, ChatError> {
        let entries = self.store.read(|db| db.unread(user))?;
        // A conversation with a guest who has left cannot be opened again:
        // it would stay listed, its count never cleared.
        Ok(entries
            .into_iter()
            .filter(|entry| entry.guest.is_none_or(|id| self.hub.is_connected(id)))
            .map(|entry| entry.unread)
            .collect())
    }

    /// Messages the user may read that match `query`, newest first, within
    /// one room or conversation when `within` names one.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] query or `limit`, and for `within` as
    /// [`Chat::fetch`].
    pub(crate) fn search(
        &self,
        user: &User,
        query: &str,
        within: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, ChatError> {
        limits::check_limit(limit).map_err(ChatError::Invalid)?;
        let query = search::parse(query)?;
        let within = within.map(|name| self.named(name));
        self.store.read(|db| {
            let place = match &within {
                None => None,
                Some(named) => match readable_place(db, user, named)? {
                    Some(place) => Some(place),
                    None => return Ok(Vec::new()),
                },
            };
            Ok(db.search(user, &query, place.as_ref(), limit)?)
        })
    }
}

/// Whether `stored` is in the room or conversation `named` names for
/// `user`. A name of nothing (no such room or user) holds no message.
fn is_in(
    db: &dyn Reads,
    user: &User,
    stored: &StoredMessage,
    named: &Named,
) -> Result<bool, ChatError> {
    let found = match (Target::parse(&named.name), &stored.place) {
        (Target::Room(name), PlaceKey::Room(id)) => {
            existing_room(db, name).map(|room| room.id == *id)
        }
        (Target::Direct(other), PlaceKey::Direct { low, high, .. }) => named
            .person(db, other)
            .map(|other| (user.id.min(other.id), user.id.max(other.id)) == (*low, *high)),
        _ => return Ok(false),
    };
    match found {
        Ok(found) => Ok(found),
        Err(ChatError::NoSuchRoom(_) | ChatError::NoSuchUser(_)) => Ok(false),
        Err(err) => Err(err),
    }
}
