//! A database written by version 1 of pipechat opens with this one: every
//! user, room, membership and message survives the migration, and a version 1
//! client's session works unchanged.

mod support;

use pipechat::store::SCHEMA_VERSION;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use support::{TestServer, assert_status};

/// Built by pipechat 0.1.0 (schema version 1) as its example database.
const V1_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.db");

/// Every row of the version 1 tables, as plain tuples in a stable order.
type Snapshot = (
    Vec<(i64, String, String)>,
    Vec<(i64, String, i64)>,
    Vec<(i64, i64)>,
    Vec<(i64, i64, i64, String, String)>,
);

fn snapshot(conn: &Connection, memberships_table: &str) -> Snapshot {
    let rows = |sql: &str| -> Vec<Vec<rusqlite::types::Value>> {
        let mut statement = conn.prepare(sql).unwrap();
        let count = statement.column_count();
        statement
            .query_map([], |row| (0..count).map(|i| row.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    use rusqlite::types::Value::{Integer, Text};
    let int = |v: &rusqlite::types::Value| match v {
        Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    };
    let text = |v: &rusqlite::types::Value| match v {
        Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    };
    (
        rows("SELECT id, username, password_hash FROM users ORDER BY id")
            .iter()
            .map(|r| (int(&r[0]), text(&r[1]), text(&r[2])))
            .collect(),
        rows("SELECT id, name, created_by FROM chatrooms ORDER BY id")
            .iter()
            .map(|r| (int(&r[0]), text(&r[1]), int(&r[2])))
            .collect(),
        rows(&format!(
            "SELECT room_id, user_id FROM {memberships_table} ORDER BY room_id, user_id"
        ))
        .iter()
        .map(|r| (int(&r[0]), int(&r[1])))
        .collect(),
        rows("SELECT id, room_id, user_id, text, sent_at FROM messages ORDER BY id")
            .iter()
            .map(|r| (int(&r[0]), int(&r[1]), int(&r[2]), text(&r[3]), text(&r[4])))
            .collect(),
    )
}

/// Messages stored before search folded every script's accents (schema 6)
/// are found without them after the migration, and edit and delete keep
/// the index in step: the migration re-indexed them folded.
#[test]
fn messages_from_before_the_folded_index_are_found_without_accents() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let server = server_on_changed_v1_copy(|conn| {
        conn.execute_batch(
            "INSERT INTO messages (room_id, user_id, text, sent_at)
             SELECT r.id, u.id, t.text, (SELECT max(sent_at) FROM messages)
             FROM chatrooms r, users u,
                  (SELECT 'Ωμέγα and άλφα' AS text UNION ALL SELECT 'Straße') t
             WHERE r.name = 'general' AND u.username = 'bob'",
        )
        .unwrap();
    });
    let mut bob = server.connect();
    assert_status(&bob.call("/login", &["bob", "bob-password"]), 200);
    let found = bob.ok("/search|αλφα");
    assert_eq!(found[0]["text"], "Ωμέγα and άλφα");
    assert_eq!(bob.ok("/search|strasse")[0]["text"], "Straße");
    let id = found[0]["id"].to_string();
    bob.ok(&format!("/editMessage|{id}|now βήτα"));
    assert_eq!(bob.ok("/search|αλφα"), json!([]));
    assert_eq!(bob.ok("/search|βητα")[0]["text"], "now βήτα");
    bob.ok(&format!("/deleteMessage|{id}"));
    assert_eq!(bob.ok("/search|βητα"), json!([]));
    assert_eq!(
        bob.ok("/search|welcome")[0]["text"],
        "Hi all, welcome to pipechat!"
    );
}

/// Starts a server on a copy of the version 1 fixture.
fn server_on_v1_copy() -> TestServer {
    server_on_changed_v1_copy(|_| {})
}

/// Starts a server on a copy of the version 1 fixture, changed first by
/// `change` as a version 1 server could have left it.
fn server_on_changed_v1_copy(change: impl FnOnce(&Connection)) -> TestServer {
    let mut server = TestServer::start();
    server.kill();
    for file in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        let _ = std::fs::remove_file(server.dir.path().join(file));
    }
    std::fs::copy(V1_FIXTURE, &server.db).unwrap();
    change(&Connection::open(&server.db).unwrap());
    server.restart();
    server
}

/// Users, rooms, memberships and messages are all there after the migration,
/// with the same ids, and the schema is at the current version.
#[test]
fn a_version_1_database_keeps_every_row() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let fixture =
        Connection::open_with_flags(V1_FIXTURE, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let version: i64 = fixture
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1, "the fixture must stay a version 1 database");
    let before = snapshot(&fixture, "memberships");
    assert!(!before.0.is_empty() && !before.3.is_empty());

    let server = server_on_v1_copy();
    let conn = server.open_db();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(snapshot(&conn, "room_members"), before);
    // The readable views name rooms and users.
    let general: Vec<String> = conn
        .prepare("SELECT username FROM memberships WHERE room = 'general' ORDER BY username")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(general, ["alice", "bob", "carol"]);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// A version 1 client's session, request for request, on the migrated
/// database: log in with the old password, read, send, join, leave.
#[test]
fn a_version_1_session_works_on_the_migrated_database() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let server = server_on_v1_copy();
    let mut bob = server.connect();
    assert_status(&bob.call("/login", &["bob", "bob-password"]), 200);
    let history = bob.ok("/fetchMessages|general");
    assert_eq!(history[0]["text"], "Hi all, welcome to pipechat!");
    assert_eq!(history[1]["text"], "Hello alice | good to be here");
    let last_id = history.as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap();
    bob.subscribe("general");
    let sent = bob.request("/sendMessage|general|after the upgrade|bob|2024-01-01|12:00");
    assert_status(&sent, 201);
    assert!(sent["data"]["id"].as_i64().unwrap() > last_id);
    assert_eq!(bob.next_event()["data"], sent["data"]);
    assert_eq!(
        bob.ok(&format!("/fetchMessages|general|{last_id}")),
        json!([sent["data"]])
    );
    // Search finds what was there before the upgrade and what came after.
    let found = bob.ok("/search|welcome");
    assert_eq!(found[0]["text"], "Hi all, welcome to pipechat!");
    assert_eq!(bob.ok("/search|upgrade"), json!([sent["data"]]));
    assert_eq!(bob.ok("/joinChatroom|Café ☕")["room"], "Café ☕");
    assert_eq!(
        bob.ok("/getChatroomMembers|café ☕"),
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(bob.ok("/exitChatroom|random")["room"], "random");
    assert_eq!(
        bob.ok("/getAllChatrooms"),
        json!(["Café ☕", "general", "random"])
    );
}

/// Version 1 allowed a chatroom name beginning with `@`, which now names a
/// user: such rooms are renamed (`@alice` to `alice`, or `general 2` where
/// `general` is taken), keeping their members and messages, so that they can
/// be reached again and no two places share a name; the log says so.
#[test]
fn version_1_rooms_named_like_users_are_renamed() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let server = server_on_changed_v1_copy(|conn| {
        conn.execute_batch(
            "INSERT INTO chatrooms (id, name, name_key, created_by, created_at)
             VALUES (10, '@alice', '@alice', 2, '2026-11-24T20:01:46.638Z'),
                    (11, '@GENERAL', '@general', 2, '2026-11-24T20:01:46.638Z');
             INSERT INTO memberships (room_id, user_id, joined_at)
             VALUES (10, 2, '2026-11-24T20:01:46.638Z'), (11, 2, '2026-11-24T20:01:46.638Z');
             INSERT INTO messages (room_id, user_id, text, sent_at)
             VALUES (10, 2, 'in the room called @alice', '2026-11-24T20:02:00.000Z'),
                    (11, 2, 'in the room called @GENERAL', '2026-11-24T20:02:00.000Z');",
        )
        .unwrap();
    });
    let mut bob = server.connect();
    assert_status(&bob.call("/login", &["bob", "bob-password"]), 200);
    assert_eq!(
        bob.ok("/getAllChatrooms"),
        json!(["alice", "Café ☕", "general", "GENERAL 2", "random"])
    );
    assert_eq!(
        bob.ok("/fetchMessages|alice")[0]["text"],
        "in the room called @alice"
    );
    let renamed = bob.ok("/fetchMessages|general 2");
    assert_eq!(renamed[0]["text"], "in the room called @GENERAL");
    assert_eq!(renamed[0]["room"], "GENERAL 2");
    assert_eq!(bob.ok("/getChatroomMembers|Alice"), json!(["bob"]));
    // The conversation with alice is its own place again.
    assert_status(&bob.request("/sendMessage|@alice|a direct message"), 201);
    let unread = bob.ok("/getUnread");
    let names: Vec<&str> = unread
        .as_array()
        .unwrap()
        .iter()
        .map(|place| place["room"].as_str().unwrap())
        .collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{unread}");
    let log = server.stderr();
    assert!(
        log.contains("the chatroom '@alice' is now called 'alice'")
            && log.contains("the chatroom '@GENERAL' is now called 'GENERAL 2'"),
        "{log}"
    );
}

/// The log says what start-up did to the schema: a new file is created at
/// the current version, in one line, rather than "migrated" to version 1,
/// then 2, and so on, as if an old database had been found; a version 1
/// file is migrated from version 1.
#[test]
fn the_log_tells_a_new_database_from_a_migrated_one() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let mut server = TestServer::start_with_env(&[], &[("RUST_LOG", "info")]);
    let first_run = server.stderr();
    assert!(
        first_run.contains(&format!(
            "new database; creating its schema (version {SCHEMA_VERSION})"
        )),
        "{first_run}"
    );
    assert!(!first_run.contains("migrating"), "{first_run}");

    server.kill();
    for file in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        let _ = std::fs::remove_file(server.dir.path().join(file));
    }
    std::fs::copy(V1_FIXTURE, &server.db).unwrap();
    server.restart();
    let second_run = server.stderr()[first_run.len()..].to_string();
    assert!(
        second_run.contains(&format!(
            "migrating schema from version 1 to version {SCHEMA_VERSION}"
        )),
        "{second_run}"
    );
    assert!(!second_run.contains("new database"), "{second_run}");
}

/// Ids handed out before the migration are not handed out again after it,
/// though AUTOINCREMENT's sequence is gone (schema 8): a newest message
/// deleted on version 1 leaves its id taken, as it was.
#[test]
fn ids_of_messages_deleted_before_the_migration_stay_taken() {
    if support::postgres::skip_on_postgres("the version 1 fixture is a SQLite file") {
        return;
    }
    let mut handed_out = 0;
    let server = server_on_changed_v1_copy(|conn| {
        handed_out = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        conn.execute("DELETE FROM messages WHERE id = ?1", [handed_out])
            .unwrap();
    });
    let declaration: String = server
        .open_db()
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'messages'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(!declaration.contains("AUTOINCREMENT"), "{declaration}");
    let mut bob = server.connect();
    assert_status(&bob.call("/login", &["bob", "bob-password"]), 200);
    let sent = bob.call("/sendMessage", &["general", "after the migration"]);
    assert_status(&sent, 201);
    let id = sent["data"]["id"].as_i64().unwrap();
    assert_eq!(id, handed_out + 1, "{sent}");
}

/// Rooms that lower case kept apart and full case folding makes one
/// (`Straße` and `STRASSE`; `σσ`, `ΣΣ` and `ςς`), from before names were
/// folded (SQLite version 9): the older of each set keeps its name, each
/// later one is renamed (`STRASSE 2`, `ςς 3`), with its id, members,
/// messages, topic, retention and read positions, and the log says so, to
/// tell its members. PostgreSQL's schema 8 is tested in `tests/cluster.rs`
/// (`rooms_that_case_folding_makes_one_are_renamed_on_postgresql`), on a
/// cluster of its own.
#[test]
fn rooms_that_case_folding_makes_one_are_renamed() {
    if support::postgres::skip_on_postgres("tests/cluster.rs tests it on PostgreSQL") {
        return;
    }
    let mut server = TestServer::start();
    let ids = support::folding::rooms_apart_only_in_lower_case(&mut server, 9);
    server.restart();
    support::folding::check_renamed(&server, &ids);
    support::folding::check_logged(&server.stderr());
}
