//! Chatroom names as the store keeps them unique: the key a name is unique
//! under, and what a migration does when rooms that were apart come to
//! share a name. Both engines' migrations take their plan from here, so that
//! a SQLite file and a PostgreSQL database holding the same rooms end with
//! the same names.

use std::collections::{HashMap, HashSet};

/// The longest chatroom name, in characters, in every version: a name a
/// migration gives is never longer, so it stays one a client may type.
pub(crate) const LONGEST_NAME: usize = 64;

/// The key under which a chatroom name is unique, and by which it is
/// looked up: its full Unicode case folding (`CaseFolding.txt`, statuses C
/// and F; no Turkic `T` mappings).
///
/// Lower case is not enough: `ΣΣ` lowers to `σς` while `σσ` stays as it is,
/// and `Straße` keeps its `ß` while `STRASSE` lowers to `strasse`, so each
/// pair could be two rooms. Nor is upper case then lower case, which keeps
/// `ẞ` (capital sharp s) as `ß`, apart from `ss`, and makes dotless `ı` an
/// `i`. SQLite's `NOCASE` folds only ASCII, and PostgreSQL's `lower()`
/// follows the database's locale, so the key is made here, alike for both
/// engines. The folding table is pinned (`Cargo.toml`): it is stored.
pub(crate) fn room_key(name: &str) -> String {
    caseless::default_case_fold_str(name)
}

/// The first of `base`, `base 2`, `base 3`… that `taken` says is free,
/// `base` shortened where a number must fit within [`LONGEST_NAME`] (and
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

/// A room as a migration finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRoom {
    pub(crate) id: i64,
    pub(crate) name: String,
    /// Its `name_key` as stored, by whatever rule was current then.
    pub(crate) key: String,
}

/// A room whose row a migration changes: its key, and its name too when
/// that became another room's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rekeyed {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) renamed: Option<Renamed>,
}

/// Why a room was given a new name, for the log (the operator tells its
/// members: their clients would no longer find it under the old one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Renamed {
    pub(crate) from: String,
    /// The room that kept the name: the oldest of those sharing it.
    pub(crate) kept_by: String,
}

/// What becomes of `rooms` (every room there is) when their keys are made
/// again by [`room_key`]: the rows to change, by id. Of rooms whose names
/// are now one, the oldest (lowest id) keeps its name, since its members
/// have known it longest; each later one becomes the first free of `name 2`,
/// `name 3`… A room whose name is still its own is never renamed, even to
/// make way: `x 2` created by someone keeps its name, and a renamed `X`
/// becomes `X 3`.
pub(crate) fn rekey(rooms: &[StoredRoom]) -> Vec<Rekeyed> {
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
        let Ok(name) = free_name::<std::convert::Infallible>(&room.name, |name| {
            Ok(taken.contains(&room_key(name)))
        });
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

/// A key no room has while a migration moves keys around: a row's old key
/// may be the new key of another row changed after it, and `name_key` is
/// unique at every statement. No name holds a control character, so no
/// key begins with one.
pub(crate) fn interim_key(id: i64) -> String {
    format!("\u{1}{id}")
}

/// Logs a rename of [`rekey`]'s, for the operator to pass on.
pub(crate) fn log_rename(location: &str, name: &str, renamed: &Renamed) {
    log::warn!(
        "{location}: the chatroom '{}' is now called '{name}': names are now the same \
         under full Unicode case folding (ß as ss, ς as σ), which made its name that of \
         the older chatroom '{}'; tell its members",
        renamed.from,
        renamed.kept_by
    );
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
        let keys: Vec<String> = existing.iter().map(|name| room_key(name)).collect();
        let Ok(name) =
            free_name::<std::convert::Infallible>(base, |name| Ok(keys.contains(&room_key(name))));
        name
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
        let long = "x".repeat(LONGEST_NAME);
        let numbered = |number: usize| {
            let kept = LONGEST_NAME - 1 - number.to_string().len();
            format!("{} {number}", &long[..kept])
        };
        let mut taken = vec![long.clone()];
        taken.extend((2..=12).map(numbered));
        let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
        // Shortened to make room for " 2", it would end with a space.
        let spaced = format!("{} y", "x".repeat(LONGEST_NAME - 2));
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
            format!("{} 2", "x".repeat(LONGEST_NAME - 2))
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

    fn renamed(id: i64, name: &str, from: &str, kept_by: &str) -> Rekeyed {
        Rekeyed {
            id,
            name: name.to_string(),
            key: room_key(name),
            renamed: Some(Renamed {
                from: from.to_string(),
                kept_by: kept_by.to_string(),
            }),
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
}
