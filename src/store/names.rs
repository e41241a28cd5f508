//! Chatroom names as the store keeps them unique: the key a name is unique
//! under, and what becomes of rooms that come to share a name when every
//! key is made again by today's rule ([`fold_room_names`]). Both engines
//! take the plan, the renames and the log's words from here, so that a
//! SQLite file and a PostgreSQL database holding the same rooms end with the
//! same names: SQLite in its migration 10 (`sqlite/folded_names.rs`),
//! PostgreSQL at every start (`postgres/folded_names.rs`).
//!
//! Up to SQLite version 9 and PostgreSQL schema 8 a name's key was its
//! Unicode lower case, which left `ΣΣ` and `σσ`, or `Straße` and `STRASSE`,
//! two rooms, though names are unique without regard to case. Of rooms that
//! full case folding makes one, the oldest keeps the name and each later one
//! is renamed (`STRASSE 2`), keeping its id, members, messages, topic,
//! retention and read positions; the log names each rename, for the
//! operator to tell its members, whose clients (an IRC autojoin of
//! `#STRASSE`, a bot) would now land in the older room. (The comments on
//! `name_key` in both engines' `0001_init.sql` still say lower case: the
//! rule when they were written. Migrations already applied are not edited;
//! on PostgreSQL, schema 9 gives the column a comment of today's rule.)

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

/// The longest chatroom name, in characters, in every version: a name a
/// migration gives is never longer, so it stays one a client may type. The
/// core's rule says the same (`chat::limits::MAX_ROOM_NAME_CHARS`, which
/// checks at compile time that the two agree); it is not read from there,
/// since the store knows no rules of the core.
pub(crate) const LONGEST_ROOM_NAME: usize = 64;

/// The key under which a chatroom name is unique, and by which it is
/// looked up (the `name_key` column): its full Unicode case folding
/// (`CaseFolding.txt`, statuses C and F; no Turkic `T` mappings).
///
/// Lower case is not enough: `ΣΣ` lowers to `σς` while `σσ` stays as it is,
/// and `Straße` keeps its `ß` while `STRASSE` lowers to `strasse`, so each
/// pair could be two rooms. Nor is upper case then lower case, which keeps
/// `ẞ` (capital sharp s) as `ß`, apart from `ss`, and makes dotless `ı` an
/// `i`. SQLite's `NOCASE` folds only ASCII, and PostgreSQL's `lower()`
/// follows the database's locale, so the key is made here, alike for both
/// engines. The folding table is pinned (`Cargo.toml`): it is stored.
///
/// That table is Unicode 16's (`caseless` 0.2.2), while Rust's
/// `to_lowercase`, the rule before, follows Unicode 17: the few letters
/// Unicode 17 added with a lower case (U+A7CE, U+A7D2, U+A7D4, and the Beria
/// Erfe capitals U+16EA0 to U+16EB8) are not folded, so a name with one of
/// them and the same name in the other case, one room under lower case, may
/// now be two. Acceptable: the letters came out in September 2025 and few
/// fonts or keyboards have them yet; no room is lost or renamed by the gap
/// (a room keyed by them keeps its name, members and messages and is found
/// as spelt), it only lets a twin in the other case be created. A
/// `caseless` with Unicode 17's table closes it; since that changes stored
/// keys, PostgreSQL's re-keying at start makes them again, and SQLite needs a
/// migration that calls [`fold_room_names`] as migration 10 does.
pub(crate) fn room_key(name: &str) -> String {
    caseless::default_case_fold_str(name)
}

/// The first of `base`, `base 2`, `base 3`… that `taken` says is free,
/// `base` shortened where a number must fit within [`LONGEST_ROOM_NAME`] (and
/// then without white space before the number's space, which would make
/// two look alike). There are fewer rooms than numbers, so one is free.
pub(crate) fn free_name<E>(
    base: &str,
    mut taken: impl FnMut(&str) -> Result<bool, E>,
) -> Result<String, E> {
    let mut number = 1_u64;
    loop {
        let candidate = if number == 1 {
            base.to_string()
        } else {
            let suffix = format!(" {number}");
            let kept: String = base
                .chars()
                .take(LONGEST_ROOM_NAME - suffix.chars().count())
                .collect();
            format!("{}{suffix}", kept.trim_end())
        };
        if !taken(&candidate)? {
            return Ok(candidate);
        }
        number += 1;
    }
}

/// [`free_name`] where `taken` cannot fail (it looks in memory).
pub(crate) fn first_free(base: &str, mut taken: impl FnMut(&str) -> bool) -> String {
    let Ok(name) = free_name::<Infallible>(base, |name| Ok(taken(name)));
    name
}

/// A room as [`fold_room_names`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRoom {
    pub(crate) id: i64,
    pub(crate) name: String,
    /// Its `name_key` as stored, by whatever rule was current then.
    pub(crate) key: String,
}

/// Makes every room's key again by [`room_key`], renaming the later of rooms
/// whose names are now one (see [`rekey`]). `rooms` are every room there
/// is, read in the transaction that `set` writes in: `set(id, name, key)`
/// gives a room its name and key (the engine's `UPDATE chatrooms`).
///
/// Returns a warning for each rename, to be logged once the transaction
/// commits, not before: a transaction rolled back (a failed later step, a
/// second signal) renamed nothing, and the log must not say it did.
pub(crate) fn fold_room_names<E>(
    rooms: &[StoredRoom],
    mut set: impl FnMut(i64, &str, &str) -> Result<(), E>,
) -> Result<Vec<String>, E> {
    let changes = rekey(rooms);
    // A row's old key may be the new key of another row changed after it,
    // and `name_key` is unique at every statement: each row changed takes
    // a key no room has first.
    for change in &changes {
        let name = change
            .renamed
            .as_ref()
            .map_or(&change.name, |renamed| &renamed.from);
        set(change.id, name, &interim_key(change.id))?;
    }
    for change in &changes {
        set(change.id, &change.name, &change.key)?;
    }
    Ok(changes
        .iter()
        .filter_map(|change| {
            let renamed = change.renamed.as_ref()?;
            Some(format!(
                "the chatroom '{}' is now called '{}': names are now the same under \
                 full Unicode case folding (ß as ss, ς as σ), which made its name that of \
                 the older chatroom '{}'; tell its members",
                renamed.from, change.name, renamed.kept_by
            ))
        })
        .collect())
}

/// Whether [`fold_room_names`] would change anything in `rooms`: some key
/// is not what [`room_key`] makes of its name.
pub(crate) fn needs_folding(rooms: &[StoredRoom]) -> bool {
    !rekey(rooms).is_empty()
}

/// A room whose row [`fold_room_names`] changes: its key, and its name too
/// when that became another room's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rekeyed {
    id: i64,
    name: String,
    key: String,
    renamed: Option<Renamed>,
}

/// Why a room was given a new name, for the log (the operator tells its
/// members: their clients would no longer find it under the old one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Renamed {
    from: String,
    /// The room that kept the name: the oldest of those sharing it.
    kept_by: String,
}

/// What becomes of `rooms` (every room there is) when their keys are made
/// again by [`room_key`]: the rows to change, by id. Of rooms whose names
/// are now one, the oldest (lowest id) keeps its name, since its members
/// have known it longest; each later one becomes the first free of `name 2`,
/// `name 3`… A room whose name is still its own is never renamed, even to
/// make way: `x 2` created by someone keeps its name, and a renamed `X`
/// becomes `X 3`.
fn rekey(rooms: &[StoredRoom]) -> Vec<Rekeyed> {
    let mut rooms: Vec<&StoredRoom> = rooms.iter().collect();
    rooms.sort_by_key(|room| room.id);
    let mut holders: HashMap<String, &StoredRoom> = HashMap::new();
    let mut later = Vec::new();
    for room in rooms {
        let key = room_key(&room.name);
        match holders.get(&key) {
            Some(holder) => later.push((room, holder.name.clone())),
            None => {
                holders.insert(key, room);
            }
        }
    }
    let mut changes: Vec<Rekeyed> = holders
        .iter()
        .filter(|(key, room)| room.key != **key)
        .map(|(key, room)| Rekeyed {
            id: room.id,
            name: room.name.clone(),
            key: key.clone(),
            renamed: None,
        })
        .collect();
    let mut taken: HashSet<String> = holders.into_keys().collect();
    for (room, kept_by) in later {
        let name = first_free(&room.name, |name| taken.contains(&room_key(name)));
        let key = room_key(&name);
        taken.insert(key.clone());
        changes.push(Rekeyed {
            id: room.id,
            name,
            key,
            renamed: Some(Renamed {
                from: room.name.clone(),
                kept_by,
            }),
        });
    }
    changes.sort_by_key(|change| change.id);
    changes
}

/// A key no room has while [`fold_room_names`] moves keys around. No name
/// holds a control character, so no key begins with one.
fn interim_key(id: i64) -> String {
    format!("\u{1}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::limits::check_room_name;

    #[test]
    fn room_keys_fold_case_in_full() {
        for (name, key) in [
            ("ÜNÏ General", "ünï general"),
            ("ΣΣ", "σσ"),
            ("σσ", "σσ"),
            ("σς", "σσ"),
            ("ς", "σ"),
            ("Straße", "strasse"),
            ("STRASSE", "strasse"),
            ("STRAẞE", "strasse"),
            ("ﬃ", "ffi"),
            ("İ", "i\u{307}"),
            // Dotless ı is a letter of its own (Turkish), not an i.
            ("ı", "ı"),
            ("\u{212A}elvin", "kelvin"),
        ] {
            assert_eq!(room_key(name), key, "{name}");
        }
    }

    fn free_among(base: &str, existing: &[&str]) -> String {
        first_free(base, |name| {
            existing.iter().any(|room| room_key(room) == room_key(name))
        })
    }

    #[test]
    fn a_taken_name_gets_the_first_free_number() {
        assert_eq!(free_among("alice", &[]), "alice");
        assert_eq!(free_among("alice", &["ALICE"]), "alice 2");
        assert_eq!(free_among("Ünï", &["ünï", "ÜNÏ 2"]), "Ünï 3");
        assert_eq!(free_among("STRASSE", &["Straße"]), "STRASSE 2");
    }

    #[test]
    fn numbered_names_follow_the_rules_for_chatroom_names() {
        // 64 x's: the longest name, and its numbered forms 2 to 12, taken.
        let long = "x".repeat(LONGEST_ROOM_NAME);
        let numbered = |number: usize| {
            let kept = LONGEST_ROOM_NAME - 1 - number.to_string().len();
            format!("{} {number}", &long[..kept])
        };
        let mut taken = vec![long.clone()];
        taken.extend((2..=12).map(numbered));
        let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
        // Shortened to make room for " 2", it would end with a space.
        let spaced = format!("{} y", "x".repeat(LONGEST_ROOM_NAME - 2));
        for (base, existing) in [
            (long.as_str(), &taken[..]),
            (spaced.as_str(), &[spaced.as_str()][..]),
        ] {
            let new = free_among(base, existing);
            assert_eq!(check_room_name(&new), Ok(()), "{new:?} from {base:?}");
            assert!(!existing.contains(&new.as_str()), "{new:?} is taken");
        }
        assert_eq!(free_among(&long, &taken), numbered(13));
        assert_eq!(
            free_among(&spaced, &[&spaced]),
            format!("{} 2", "x".repeat(LONGEST_ROOM_NAME - 2))
        );
    }

    fn stored(id: i64, name: &str) -> StoredRoom {
        StoredRoom {
            id,
            name: name.to_string(),
            // As version 1 to 9 made it.
            key: name.to_lowercase(),
        }
    }

    fn rekeyed(id: i64, name: &str) -> Rekeyed {
        Rekeyed {
            id,
            name: name.to_string(),
            key: room_key(name),
            renamed: None,
        }
    }

    fn renamed(id: i64, name: &str, from: &str, kept_by: &str) -> Rekeyed {
        Rekeyed {
            renamed: Some(Renamed {
                from: from.to_string(),
                kept_by: kept_by.to_string(),
            }),
            ..rekeyed(id, name)
        }
    }

    #[test]
    fn rooms_whose_keys_do_not_change_are_left_alone() {
        let rooms = [stored(1, "general"), stored(2, "Ünï"), stored(3, "Café ☕")];
        assert_eq!(rekey(&rooms), []);
    }

    #[test]
    fn the_oldest_of_rooms_now_one_keeps_the_name() {
        let rooms = [
            stored(7, "STRASSE"),
            stored(3, "Straße"),
            stored(4, "σσ"),
            stored(5, "ΣΣ"),
            stored(6, "general"),
            stored(8, "ΣΣ 2"),
        ];
        assert_eq!(
            rekey(&rooms),
            [
                rekeyed(3, "Straße"),
                renamed(5, "ΣΣ 3", "ΣΣ", "σσ"),
                renamed(7, "STRASSE 2", "STRASSE", "Straße"),
                rekeyed(8, "ΣΣ 2"),
            ]
        );
    }

    #[test]
    fn a_renamed_room_takes_no_name_another_room_has() {
        let rooms = [
            stored(1, "σς"),
            stored(2, "σσ"),
            stored(3, "ςς"),
            stored(4, "σσ 2"),
        ];
        assert_eq!(
            rekey(&rooms),
            [
                rekeyed(1, "σς"),
                renamed(2, "σσ 3", "σσ", "σς"),
                renamed(3, "ςς 4", "ςς", "σς"),
            ]
        );
    }

    /// The rows are written in two rounds, every changed row first to a
    /// key no room has, so that no statement finds a key taken by a row
    /// changed after it; each rename is said, and only renames.
    #[test]
    fn folding_writes_interim_keys_first_and_says_each_rename() {
        // `Straße`'s new key is `STRASSE`'s old one.
        let rooms = [
            stored(1, "Straße"),
            stored(2, "STRASSE"),
            stored(3, "general"),
        ];
        let mut writes = Vec::new();
        let Ok(said) = fold_room_names::<Infallible>(&rooms, |id, name, key| {
            writes.push((id, name.to_string(), key.to_string()));
            Ok(())
        });
        let write = |id, name: &str, key: &str| (id, name.to_string(), key.to_string());
        assert_eq!(
            writes,
            [
                write(1, "Straße", &interim_key(1)),
                write(2, "STRASSE", &interim_key(2)),
                write(1, "Straße", "strasse"),
                write(2, "STRASSE 2", "strasse 2"),
            ]
        );
        assert_eq!(
            said,
            [
                "the chatroom 'STRASSE' is now called 'STRASSE 2': names are now the same under \
              full Unicode case folding (ß as ss, ς as σ), which made its name that of the \
              older chatroom 'Straße'; tell its members"
            ]
        );
    }
}
