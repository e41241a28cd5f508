//! Chatroom keys made again by full case folding, by
//! [`names::fold_room_names`] (the why, the renames and the log's words are
//! there, shared with SQLite's migration 10).
//!
//! At every start, under the migrations' advisory lock, and not only in the
//! migration to schema 9: nodes of schema 8 still running beside a migrated
//! database (a rolling upgrade, against `docs/operations.md`) key the rooms
//! they create by lower case, so they can create a second `Straße` (key
//! `straße`) that nodes of today never reach, or a room whose key is wrong
//! for good (`ς`, `ſ`, `µ`). The next node to start repairs such rows with
//! the migration's own rules. Where every key is right it reads the rooms
//! and changes nothing.

use ::postgres::Transaction;

use crate::store::names::{self, StoredRoom};

/// The warnings to log once `tx` commits.
///
/// The rooms are read once without a lock, which is all a start with
/// nothing to repair costs the other nodes. Otherwise the table is locked
/// first, for the rest of the transaction, and read again: a room created
/// by an old node between the read and the commit would be missed, or take
/// a key this sets, and the commit (and the node's start) fail on the unique
/// index. `EXCLUSIVE` mode, not `SHARE ROW EXCLUSIVE`, which would let
/// row locks be taken beside it: a deletion (a user's, or a retention
/// sweep) locks its room's row (`SELECT … FOR UPDATE`) before it updates
/// the row's counters, so one that had locked a row this changes would wait
/// for this transaction at its `UPDATE` while this one waits for its row
/// lock: a deadlock, ended by aborting one of them, possibly this start.
/// `EXCLUSIVE` waits for such writers to end instead, and lets no other
/// write of the table begin until the commit; plain reads go on.
pub(super) fn fold_room_names(tx: &mut Transaction<'_>) -> Result<Vec<String>, ::postgres::Error> {
    if !names::needs_folding(&rooms(tx)?) {
        return Ok(Vec::new());
    }
    tx.batch_execute("LOCK TABLE chatrooms IN EXCLUSIVE MODE")?;
    let rooms = rooms(tx)?;
    names::fold_room_names(&rooms, |id, name, key| {
        tx.execute(
            "UPDATE chatrooms SET name = $2, name_key = $3 WHERE id = $1",
            &[&id, &name, &key],
        )
        .map(drop)
    })
}

/// Every room, as it is now.
fn rooms(tx: &mut Transaction<'_>) -> Result<Vec<StoredRoom>, ::postgres::Error> {
    tx.query("SELECT id, name, name_key FROM chatrooms", &[])?
        .iter()
        .map(|row| {
            Ok(StoredRoom {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                key: row.try_get("name_key")?,
            })
        })
        .collect()
}
