//! Migration 10: chatroom names unique under full case folding.
//!
//! Up to version 9 a name's key was its Unicode lower case, which left
//! `ΣΣ` and `σσ`, or `Straße` and `STRASSE`, two rooms, though names are
//! unique without regard to case. Every key is made again by today's
//! [`room_key`](crate::store::room_key); of rooms that thereby share a name,
//! the oldest keeps it and each later one is renamed (`STRASSE 2`), keeping
//! its id, members, messages, topic and read positions, with a warning in
//! the log for the operator to tell its members. PostgreSQL's schema 9 does
//! the same from the same plan ([`crate::store::names::rekey`]).

use std::path::Path;

use rusqlite::{Transaction, params};

use crate::store::names::{StoredRoom, interim_key, log_rename, rekey};

pub(super) fn fold_room_names(tx: &Transaction, path: &Path) -> rusqlite::Result<()> {
    let rooms: Vec<StoredRoom> = tx
        .prepare("SELECT id, name, name_key FROM chatrooms")?
        .query_map([], |row| {
            Ok(StoredRoom {
                id: row.get(0)?,
                name: row.get(1)?,
                key: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let changes = rekey(&rooms);
    for change in &changes {
        tx.execute(
            "UPDATE chatrooms SET name_key = ?2 WHERE id = ?1",
            params![change.id, interim_key(change.id)],
        )?;
    }
    for change in &changes {
        tx.execute(
            "UPDATE chatrooms SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![change.id, change.name, change.key],
        )?;
        if let Some(renamed) = &change.renamed {
            log_rename(&path.display().to_string(), &change.name, renamed);
        }
    }
    Ok(())
}
