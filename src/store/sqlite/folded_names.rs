//! Migration 10: chatroom names unique under full case folding, by
//! [`names::fold_room_names`] (the why, the renames and the log's words are
//! there, shared with PostgreSQL).
//!
//! Once, in the migration, and not at every start as on PostgreSQL: there
//! nodes of the older version may go on writing beside the migrated schema,
//! while a SQLite file is served by one server at a time, and a server (or
//! an operator's command) of a version before 10 refuses a file at version
//! 10, so nothing keys a room by the old rule after this.

use rusqlite::{Transaction, params};

use crate::store::names::{self, StoredRoom};

/// The warnings to log once the migration commits.
pub(super) fn fold_room_names(tx: &Transaction) -> rusqlite::Result<Vec<String>> {
    let rooms: Vec<StoredRoom> = tx
        .prepare("SELECT id, name, name_key FROM chatrooms")?
        .query_map([], |row| {
            Ok(StoredRoom {
                id: row.get("id")?,
                name: row.get("name")?,
                key: row.get("name_key")?,
            })
        })?
        .collect::<Result<_, _>>()?;
    names::fold_room_names(&rooms, |id, name, key| {
        tx.execute(
            "UPDATE chatrooms SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![id, name, key],
        )
        .map(drop)
    })
}
