//! `chat.db.example` must stay usable: current schema, documented logins.

mod support;

use pipechat::example::EXAMPLE_USERS;
use pipechat::store::{APPLICATION_ID, SCHEMA_VERSION};
use rusqlite::{Connection, OpenFlags};
use support::{TestServer, assert_status};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chat.db.example");

/// The committed example is a pipechat database at the current schema version.
#[test]
fn example_database_is_at_the_current_schema_version() {
    if support::postgres::skip_on_postgres("the example is a SQLite file") {
        return;
    }
    let conn = Connection::open_with_flags(EXAMPLE, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(application_id, APPLICATION_ID);
    let general: i64 = conn
        .query_row(
            "SELECT count(*) FROM history WHERE room = 'general'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(general >= 3, "general has {general} messages");
    // The README's query of direct messages has something to show.
    let from_alice: i64 = conn
        .query_row(
            "SELECT count(*) FROM direct_messages WHERE sender = 'alice'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(from_alice >= 1, "alice sent {from_alice} direct messages");
}

/// A server started on a copy of the example accepts the README's logins.
#[test]
fn example_logins_work() {
    if support::postgres::skip_on_postgres("the example is a SQLite file") {
        return;
    }
    let mut server = TestServer::start();
    server.kill();
    for sidecar in ["chat.db-wal", "chat.db-shm"] {
        let _ = std::fs::remove_file(server.dir.path().join(sidecar));
    }
    std::fs::copy(EXAMPLE, &server.db).unwrap();
    server.restart();
    let mut client = server.connect();
    for (username, password) in EXAMPLE_USERS {
        assert_status(&client.call("/login", &[username, password]), 200);
    }
    let history = client.request("/fetchMessages|general");
    assert_status(&history, 200);
    assert_eq!(history["data"][0]["username"], "alice");
}
