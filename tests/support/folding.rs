//! Chatrooms that lower case kept apart and full case folding makes one
//! (`Straße` and `STRASSE`, `σσ` and `ΣΣ`), as a database from before the
//! migration that folds names may hold them, on either engine: for the
//! tests of that migration, on SQLite, on PostgreSQL, and through `import`.

use serde_json::json;

use super::{TestServer, assert_status};

/// The rooms, oldest first: each as created, with the name and key a
/// server before full case folding could have left it with (the key was
/// the name's lower case), and what the migration makes of its name.
const ROOMS: &[(&str, &str, &str, &str)] = &[
    ("Straße", "Straße", "straße", "Straße"),
    ("σσ", "σσ", "σσ", "σσ"),
    ("later STRASSE", "STRASSE", "strasse", "STRASSE 2"),
    ("later ΣΣ", "ΣΣ", "σς", "ΣΣ 2"),
];

/// What the rooms are called after the migration, as `/getAllChatrooms`
/// lists them.
pub const FOLDED_NAMES: [&str; 4] = ["Straße", "STRASSE 2", "σσ", "ΣΣ 2"];

/// Fills `server`'s fresh database with [`ROOMS`] (alice in the first two,
/// bob in all, a message in each), stops it, and leaves the rooms named and
/// keyed as before full case folding, its schema version set back to the
/// one before (`schema`: 9 on SQLite, 8 on PostgreSQL). Each room is
/// created under a name that is free today and renamed behind the server's
/// back, since today's server would refuse the second of each pair. The
/// rooms' ids, oldest first.
pub fn rooms_apart_only_in_lower_case(server: &mut TestServer, schema: i64) -> Vec<i64> {
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut ids = Vec::new();
    for (index, (created, ..)) in ROOMS.iter().enumerate() {
        let creator = if index < 2 { &mut alice } else { &mut bob };
        creator.create_and_join(created);
        bob.join(created);
        bob.send(created, &format!("in {created}"));
        let id = server.sql_rows(
            &format!("SELECT id FROM chatrooms WHERE name = '{created}'"),
            &format!("SELECT id FROM chatrooms WHERE name = '{created}'"),
        );
        ids.push(id[0][0].parse().expect("an id"));
    }
    drop((alice, bob));
    server.terminate();
    // In this order no two rooms ever share a key: `Straße` gives up
    // `strasse` before `STRASSE` takes it.
    for ((created, name, key, _), id) in ROOMS.iter().zip(&ids) {
        if created != name || caseless_key(name) != *key {
            let update =
                format!("UPDATE chatrooms SET name = '{name}', name_key = '{key}' WHERE id = {id}");
            assert_eq!(server.sql_execute(&update, &update), 1, "{update}");
        }
    }
    server.sql_execute(
        &format!("PRAGMA user_version = {schema}"),
        &format!("UPDATE pipechat_schema SET version = {schema}"),
    );
    ids
}

/// Checks `server`, started on what [`rooms_apart_only_in_lower_case`]
/// left (its `ids`) once migrated: each room of a pair that folding makes
/// one kept its id, members and message, the older its name too, and the
/// later one is renamed; every key is the folded name.
pub fn check_renamed(server: &TestServer, ids: &[i64]) {
    let rows = server.sql_rows(
        "SELECT id, name, name_key FROM chatrooms ORDER BY id",
        "SELECT id, name, name_key FROM chatrooms ORDER BY id",
    );
    let expected: Vec<Vec<String>> = ROOMS
        .iter()
        .zip(ids)
        .map(|((.., folded), id)| vec![id.to_string(), folded.to_string(), caseless_key(folded)])
        .collect();
    assert_eq!(rows, expected);
    let mut bob = server.connect();
    bob.login("bob");
    assert_eq!(bob.ok("/getAllChatrooms"), json!(FOLDED_NAMES));
    for (created, .., folded) in ROOMS {
        let messages = bob.fetch_all(folded);
        assert_eq!(messages.len(), 1, "{folded}: {messages:?}");
        assert_eq!(messages[0]["text"], format!("in {created}"));
        assert_eq!(messages[0]["room"], *folded);
    }
    assert_eq!(
        bob.ok("/getChatroomMembers|strasse"),
        json!(["alice", "bob"])
    );
    assert_eq!(bob.ok("/getChatroomMembers|STRASSE 2"), json!(["bob"]));
    assert_eq!(bob.ok("/getChatroomMembers|ΣΣ 2"), json!(["bob"]));
    // The older room of each pair answers to every spelling of its name.
    assert_eq!(bob.ok("/joinChatroom|STRASSE"), json!({"room": "Straße"}));
    assert_eq!(bob.ok("/joinChatroom|ΣΣ"), json!({"room": "σσ"}));
    assert_status(&bob.call("/createChatroom", &["σς"]), 409);
}

/// Checks that `log`, of the migration, names each rename and asks to
/// tell the room's members, and names no other.
pub fn check_logged(log: &str) {
    for (from, to) in [("STRASSE", "STRASSE 2"), ("ΣΣ", "ΣΣ 2")] {
        assert!(
            log.contains(&format!("the chatroom '{from}' is now called '{to}'")),
            "{log}"
        );
    }
    assert!(log.contains("tell its members"), "{log}");
    assert!(
        !log.contains("the chatroom 'Straße' is now called"),
        "{log}"
    );
}

/// What `name` is keyed by today, for the names above (ASCII and `ß` and
/// Greek sigmas, whose folding is plain to see).
fn caseless_key(name: &str) -> String {
    name.to_lowercase().replace('ß', "ss").replace('ς', "σ")
}
