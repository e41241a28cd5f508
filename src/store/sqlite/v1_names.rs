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

use std::path::Path;

use rusqlite::{Transaction, params};

use crate::store::room_key;

/// Version 1's longest chatroom name, in characters (version 2's too): a
/// new name is never longer.
const LONGEST_NAME: usize = 64;

pub(super) fn rename_rooms_named_like_users(tx: &Transaction, path: &Path) -> rusqlite::Result<()> {
    let rooms: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM chatrooms WHERE substr(name, 1, 1) = '@' ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, old) in rooms {
        let new = free_name(&old, |name| {
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
        log::warn!(
            "{}: the chatroom '{old}' is now called '{new}', since a name beginning \
             with @ now addresses a direct message; tell its members",
            path.display()
        );
    }
    Ok(())
}

/// The first of `base`, `base 2`, `base 3`… that `taken` says is free, where
/// `base` is `old` without its leading `@`s and white space (`at` if nothing
/// is left), shortened where a number must fit within [`LONGEST_NAME`].
/// There are fewer rooms than numbers, so one is free.
fn free_name(
    old: &str,
    mut taken: impl FnMut(&str) -> rusqlite::Result<bool>,
) -> rusqlite::Result<String> {
    let base = old.trim_start_matches(|c: char| c == '@' || c.is_whitespace());
    let base = if base.is_empty() { "at" } else { base };
    let mut number = 1_u64;
    loop {
        let candidate = if number == 1 {
            base.to_string()
        } else {
            let suffix = format!(" {number}");
            let kept: String = base
                .chars()
                .take(LONGEST_NAME - suffix.chars().count())
                .collect();
            format!("{}{suffix}", kept.trim_end())
        };
        if !taken(&candidate)? {
            return Ok(candidate);
        }
        number += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::limits::check_room_name;

    fn free_among(old: &str, existing: &[&str]) -> String {
        let keys: Vec<String> = existing.iter().map(|name| room_key(name)).collect();
        free_name(old, |name| Ok(keys.contains(&room_key(name)))).unwrap()
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
        // 63 x's: the longest name, and its numbered forms 2 to 12, taken.
        let long = format!("@{}", "x".repeat(LONGEST_NAME - 1));
        let numbered = |number: usize| {
            let kept = LONGEST_NAME - 1 - number.to_string().len();
            format!("{} {number}", &long[1..=kept])
        };
        let mut taken = vec![long[1..].to_string()];
        taken.extend((2..=12).map(numbered));
        let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
        // Shortened to make room for " 2", it would end with a space.
        let spaced = format!("@{} y", "x".repeat(LONGEST_NAME - 3));
        for (old, existing) in [
            (long.as_str(), &taken[..]),
            (spaced.as_str(), &[&spaced[1..]][..]),
            ("@ x", &["x"][..]),
        ] {
            let new = free_among(old, existing);
            assert_eq!(check_room_name(&new), Ok(()), "{new:?} from {old:?}");
            assert!(!existing.contains(&new.as_str()), "{new:?} is taken");
        }
        assert_eq!(free_among(&long, &taken), numbered(13));
        assert_eq!(
            free_among(&spaced, &[&spaced[1..]]),
            format!("{} 2", "x".repeat(LONGEST_NAME - 3))
        );
    }
}
