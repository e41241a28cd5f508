//! Schema 9: chatroom names unique under full case folding.
//!
//! Up to schema 8 a name's key was its Unicode lower case, which left `ΣΣ`
//! and `σσ`, or `Straße` and `STRASSE`, two rooms, though names are unique
//! without regard to case. Every key is made again by today's
//! [`room_key`](crate::store::room_key); of rooms that thereby share a name,
//! the oldest keeps it and each later one is renamed (`STRASSE 2`), keeping
//! its id, members, messages, topic and read positions, with a warning in
//! the log for the operator to tell its members. SQLite's migration 10 does
//! the same from the same plan ([`crate::store::names::rekey`]).

use ::postgres::Transaction;

use crate::store::names::{StoredRoom, interim_key, log_rename, rekey};

pub(super) fn fold_room_names(
    tx: &mut Transaction<'_>,
    location: &str,
) -> Result<(), ::postgres::Error> {
    let rooms: Vec<StoredRoom> = tx
        .query("SELECT id, name, name_key FROM chatrooms", &[])?
        .iter()
        .map(|row| StoredRoom {
            id: row.get("id"),
            name: row.get("name"),
            key: row.get("name_key"),
        })
        .collect();
    let changes = rekey(&rooms);
    for change in &changes {
        tx.execute(
            "UPDATE chatrooms SET name_key = $2 WHERE id = $1",
            &[&change.id, &interim_key(change.id)],
        )?;
    }
    for change in &changes {
        tx.execute(
            "UPDATE chatrooms SET name = $2, name_key = $3 WHERE id = $1",
            &[&change.id, &change.name, &change.key],
        )?;
        if let Some(renamed) = &change.renamed {
            log_rename(location, &change.name, renamed);
        }
    }
    Ok(())
}
