//! Migration 9: chatrooms named like users.
//!
//! Version 1 let a chatroom's name begin with `@`. Since protocol 2 such a
//! name addresses a direct conversation, so a room called `@alice` was
//! still listed but could no longer be reached: `/fetchMessages|@alice` read
//! the conversation with alice, `/joinChatroom|@alice` was refused, and
//! `/getUnread` listed two places called `@alice`. Each such room is renamed
//! once, keeping its id, members, messages, topic and read positions:
//! `@alice` becomes `alice`, or `alice 2`, `alice 3`… when that name is
//! taken (without regard to case, as names are). The log names every
//! rename, for the operator to tell the room's members.
//!
//! Names are compared by today's [`room_key`], while the keys stored are
//! still those of version 9's rule; migration 10 ([`super::folded_names`])
//! makes every key again right after, and renames whatever this left
//! sharing a name.

use rusqlite::{Transaction, params};

use crate::store::names::free_name;
use crate::store::room_key;

/// The warnings to log once the migration commits.
pub(super) fn rename_rooms_named_like_users(tx: &Transaction) -> rusqlite::Result<Vec<String>> {
    let rooms: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM chatrooms WHERE substr(name, 1, 1) = '@' ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut warnings = Vec::new();
    for (id, old) in rooms {
        let new = free_name(base_of(&old), |name| {
            tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM chatrooms WHERE name_key = ?1)",
                [room_key(name)],
                |row| row.get(0),
            )
        })?;
        tx.execute(
            "UPDATE chatrooms SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![id, new, room_key(&new)],
        )?;
        warnings.push(format!(
            "the chatroom '{old}' is now called '{new}', since a name beginning \
             with @ now addresses a direct message; tell its members"
        ));
    }
    Ok(warnings)
}

/// What `old` is called without its leading `@`s and white space: `at` if
/// nothing is left.
fn base_of(old: &str) -> &str {
    let base = old.trim_start_matches(|c: char| c == '@' || c.is_whitespace());
    if base.is_empty() { "at" } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::limits::check_room_name;
    use crate::store::names::first_free;

    fn free_among(old: &str, existing: &[&str]) -> String {
        first_free(base_of(old), |name| {
            existing.iter().any(|room| room_key(room) == room_key(name))
        })
    }

    #[test]
    fn a_room_named_like_a_user_loses_its_at_signs() {
        assert_eq!(free_among("@alice", &[]), "alice");
        assert_eq!(free_among("@@ team", &[]), "team");
        assert_eq!(free_among("@", &[]), "at");
        assert_eq!(free_among("@ @", &[]), "at");
    }

    #[test]
    fn a_taken_name_gets_the_first_free_number() {
        assert_eq!(free_among("@alice", &["ALICE"]), "alice 2");
        assert_eq!(free_among("@Ünï", &["ünï", "ÜNÏ 2"]), "Ünï 3");
        assert_eq!(free_among("@", &["at"]), "at 2");
    }

    #[test]
    fn new_names_follow_the_rules_for_chatroom_names() {
        let longest = format!("@{}", "x".repeat(63));
        for (old, existing) in [
            ("@ x", &["x"][..]),
            (longest.as_str(), &[&longest[1..]][..]),
        ] {
            let new = free_among(old, existing);
            assert_eq!(check_room_name(&new), Ok(()), "{new:?} from {old:?}");
            assert!(!existing.contains(&new.as_str()), "{new:?} is taken");
        }
    }
}
