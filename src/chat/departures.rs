//! Someone's last connection ended: the others are told, and a guest's
//! memberships and nick end with it.
//!
//! That takes the database, which may be out of reach at that moment (a
//! PostgreSQL restart). A guest's departure is then owed, not dropped: its
//! row would go on holding the nick against every later guest and
//! registration, on every node, and its memberships would keep it in its
//! rooms, for as long as the node runs. [`Chat::finish_departures`], called
//! every few seconds, retries what is owed until it is done. An account's
//! departure is only told: its presence is mended by the store.

use super::{Chat, Farewell, PresenceChange};
use crate::store::User;

/// A guest's departure the database has not seen through yet.
pub(super) struct Departure {
    guest: User,
    reason: Option<Farewell>,
    /// Whether the guest's rooms were told already.
    announced: bool,
}

impl Chat {
    /// Tells the others that `user` has no connection left; a guest's
    /// memberships end.
    pub(super) fn went_offline(&self, user: &User, reason: Option<Farewell>) {
        if !user.guest {
            match self.store.read(|db| db.rooms_of(user.id)) {
                Ok(rooms) => {
                    let left = PresenceChange::Offline { reason };
                    self.hub.announce(user, &rooms, &left);
                }
                Err(err) => log::warn!("cannot announce that '{}' left: {err}", user.username),
            }
            return;
        }
        let departure = Departure {
            guest: user.clone(),
            reason,
            announced: false,
        };
        if let Err(owed) = self.see_off(departure) {
            self.owed_departures.lock().push(owed);
        }
    }

    /// Retries the guests' departures the database missed. The first it
    /// misses again ends the pass, the rest staying owed untried: each
    /// try waits for the database as long as a request does (2 s on
    /// PostgreSQL), and a pass over many must not hold up the next, nor a
    /// shutdown.
    pub(crate) fn finish_departures(&self) {
        let owed = std::mem::take(&mut *self.owed_departures.lock());
        let mut owed = owed.into_iter();
        while let Some(departure) = owed.next() {
            if let Err(again) = self.see_off(departure) {
                let mut still = self.owed_departures.lock();
                still.push(again);
                still.extend(owed);
                return;
            }
        }
    }

    /// Tells a guest's rooms it left (once), then ends its memberships and
    /// frees its nick; `Err` gives the departure back when the database
    /// failed.
    fn see_off(&self, mut departure: Departure) -> Result<(), Departure> {
        let guest = departure.guest.clone();
        let rooms = match self.store.read(|db| db.rooms_of(guest.id)) {
            Ok(rooms) => rooms,
            Err(err) => {
                log::warn!("cannot see guest '{}' off yet: {err}", guest.username);
                return Err(departure);
            }
        };
        if !departure.announced {
            let left = PresenceChange::Offline {
                reason: departure.reason.take(),
            };
            self.hub.announce(&guest, &rooms, &left);
            departure.announced = true;
        }
        let leaver = guest.clone();
        let ended = self.store.write(move |db| {
            for room in &rooms {
                db.delete_membership(room, &leaver)?;
            }
            db.release_guest(&leaver)
        });
        if let Err(err) = ended {
            log::warn!(
                "cannot end guest '{}''s memberships yet: {err}",
                guest.username
            );
            return Err(departure);
        }
        self.hub.release_departed_guest(&guest);
        Ok(())
    }
}
