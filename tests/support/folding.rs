//! Chatrooms that lower case kept apart and full case folding makes one
//! (`Straße` and `STRASSE`, `σσ` and `ΣΣ`), as a database from before the
//! migration that folds names may hold them, on either engine: for the
//! tests of that migration, on SQLite, on PostgreSQL, and through `import`.

use serde_json::{Value, json};

use super::{TestServer, assert_status};

/// The rooms, oldest first: each as created, with the name and key a
/// server before full case folding could have left it with (the key was
/// the name's lower case), and what the migration makes of its name. The
/// sigmas are three rooms that folding makes one: the third cannot take
/// `ςς 2`, which is `ΣΣ 2`'s by then.
const ROOMS: &[(&str, &str, &str, &str)] = &[
    ("Straße", "Straße", "straße", "Straße"),
    ("σσ", "σσ", "σσ", "σσ"),
    ("later STRASSE", "STRASSE", "strasse", "STRASSE 2"),
    ("later ΣΣ", "ΣΣ", "σς", "ΣΣ 2"),
    ("third ςς", "ςς", "ςς", "ςς 3"),
];

/// What the rooms are called after the migration, as `/getAllChatrooms`
/// lists them.
pub const FOLDED_NAMES: [&str; 5] = ["Straße", "STRASSE 2", "σσ", "ΣΣ 2", "ςς 3"];

/// Who created (and owns) the room at `index` of [`ROOMS`].
fn owner(index: usize) -> &'static str {
    if index < 2 { "alice" } else { "bob" }
}

/// The room at `index`'s topic and retention, its own, to see that each
/// stays with its room.
fn topic_and_retention(index: usize) -> (String, u64) {
    (format!("topic {index}"), 10 * (index as u64 + 1))
}

/// Fills `server`'s fresh database with [`ROOMS`] (each created by its
/// [`owner`], who sets its topic and retention; bob and carol in all; two
/// messages of bob's in each, the first read by carol), stops it, and
/// leaves the rooms named and keyed as before full case folding, its schema
/// version set back to the one before (`schema`: 9 on SQLite, 8 on
/// PostgreSQL). Each room is created under a name that is free today and
/// renamed behind the server's back, since today's server would refuse the
/// second of each pair. The rooms' ids, oldest first.
pub fn rooms_apart_only_in_lower_case(server: &mut TestServer, schema: i64) -> Vec<i64> {
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    let mut ids = Vec::new();
    for (index, (created, ..)) in ROOMS.iter().enumerate() {
        let creator = if owner(index) == "alice" {
            &mut alice
        } else {
            &mut bob
        };
        creator.create_and_join(created);
        let (topic, days) = topic_and_retention(index);
        creator.ok_call("/setTopic", &[created, &topic]);
        creator.ok_call("/setRetention", &[created, &days.to_string()]);
        bob.join(created);
        carol.join(created);
        let first = bob.send(created, &format!("in {created}"));
        bob.send(created, &format!("in {created} again"));
        carol.ok_call("/markRead", &[created, &first["id"].to_string()]);
        let id = server.sql_rows(
            &format!("SELECT id FROM chatrooms WHERE name = '{created}'"),
            &format!("SELECT id FROM chatrooms WHERE name = '{created}'"),
        );
        ids.push(id[0][0].parse().expect("an id"));
    }
    drop((alice, bob, carol));
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
/// left (its `ids`) once migrated: each room that folding makes one with
/// an older room kept its id, members, messages, topic, retention and read
/// positions, and is renamed; the oldest kept its name too; every key is
/// the folded name.
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
    let mut carol = server.connect();
    carol.login("carol");
    assert_eq!(bob.ok("/getAllChatrooms"), json!(FOLDED_NAMES));
    let unread = carol.ok("/getUnread");
    for (index, (created, .., folded)) in ROOMS.iter().enumerate() {
        let messages = bob.fetch_all(folded);
        let texts: Vec<&Value> = messages.iter().map(|message| &message["text"]).collect();
        assert_eq!(
            texts,
            [
                &json!(format!("in {created}")),
                &json!(format!("in {created} again"))
            ],
            "{folded}"
        );
        assert!(messages.iter().all(|message| message["room"] == *folded));
        let (topic, days) = topic_and_retention(index);
        let info = bob.ok_call("/getRoomInfo", &[folded]);
        let members = if owner(index) == "alice" { 3 } else { 2 };
        assert_eq!(
            (&info["name"], &info["owner"], &info["topic"]),
            (&json!(folded), &json!(owner(index)), &json!(topic)),
            "{info}"
        );
        assert_eq!(
            (&info["retention_days"], &info["members"], &info["messages"]),
            (&json!(days), &json!(members), &json!(2)),
            "{info}"
        );
        let position = unread
            .as_array()
            .and_then(|entries| entries.iter().find(|entry| entry["room"] == *folded))
            .unwrap_or_else(|| panic!("{folded} in {unread}"));
        assert_eq!(
            position,
            &json!({
                "room": folded,
                "unread": 1,
                "last_read_id": messages[0]["id"].clone(),
                "last_id": messages[1]["id"].clone(),
            })
        );
    }
    assert_eq!(
        bob.ok("/getChatroomMembers|strasse"),
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(
        bob.ok("/getChatroomMembers|STRASSE 2"),
        json!(["bob", "carol"])
    );
    // The oldest room of each set answers to every spelling of its name.
    assert_eq!(bob.ok("/joinChatroom|STRASSE"), json!({"room": "Straße"}));
    assert_eq!(bob.ok("/joinChatroom|ΣΣ"), json!({"room": "σσ"}));
    assert_eq!(bob.ok("/joinChatroom|ςς"), json!({"room": "σσ"}));
    assert_status(&bob.call("/createChatroom", &["σς"]), 409);
}

/// Checks that `log`, of the migration, names each rename and asks to
/// tell the room's members, and names no other.
pub fn check_logged(log: &str) {
    for (from, to) in [("STRASSE", "STRASSE 2"), ("ΣΣ", "ΣΣ 2"), ("ςς", "ςς 3")] {
        assert!(
            log.contains(&format!("the chatroom '{from}' is now called '{to}'")),
            "{log}"
        );
    }
    assert!(log.contains("tell its members"), "{log}");
    assert_eq!(log.matches("is now called").count(), 3, "{log}");
}

/// What `name` is keyed by today, for the names above (ASCII and `ß` and
/// Greek sigmas, whose folding is plain to see).
fn caseless_key(name: &str) -> String {
    name.to_lowercase().replace('ß', "ss").replace('ς', "σ")
}
