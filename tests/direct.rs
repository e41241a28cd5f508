//! Protocol v2 direct messages: `@username` wherever a room name goes,
//! `/subscribe|@`, the addressing rules, and who may read what.

mod support;

use serde_json::json;
use support::{TestServer, assert_status};

/// A direct message has `"room":null` and `"to"` as registered; both sides
/// fetch it as `@other`, in any case, and ids are shared with rooms.
#[test]
fn direct_messages_are_stored_and_fetched_by_both_sides() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.connect();
    assert_status(
        &bob.call("/register", &["Bob", &support::password_of("Bob")]),
        201,
    );
    assert_status(
        &bob.call("/login", &["bob", &support::password_of("Bob")]),
        200,
    );
    alice.create_and_join("general");
    let in_room = alice.send("general", "room message");

    let sent = alice.send("@BOB", "hi | bob");
    assert_eq!(sent["room"], json!(null));
    assert_eq!(sent["to"], "Bob");
    assert_eq!(sent["username"], "alice");
    assert!(sent["id"].as_i64() > in_room["id"].as_i64());
    assert!(sent.get("edited_at").is_none());

    assert_eq!(alice.ok("/fetchMessages|@bob"), json!([sent]));
    assert_eq!(bob.ok("/fetchMessages|@Alice"), json!([sent]));
    let reply = bob.send("@alice", "hello alice");
    assert_eq!(reply["to"], "alice");
    assert_eq!(
        alice.ok(&format!("/fetchMessages|@bob|{}", sent["id"])),
        json!([reply])
    );
    assert_eq!(
        alice.ok(&format!("/fetchHistory|@bob|{}|10", reply["id"])),
        json!([sent])
    );
    // sqlite3 (or psql) reads who wrote to whom.
    let query = "SELECT sender, recipient, text FROM direct_messages ORDER BY id";
    let rows = server.sql_rows(query, query);
    assert_eq!(
        rows,
        [
            ["alice", "Bob", "hi | bob"],
            ["Bob", "alice", "hello alice"]
        ]
    );
}

/// `/subscribe|@` delivers every direct message the user sends or receives,
/// on any connection, and nobody else's; `/unsubscribe|@` stops it.
#[test]
fn subscribing_to_at_delivers_the_users_direct_messages() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    let mut bob_watch = server.login_existing("bob", "bob");
    assert_eq!(bob_watch.ok("/subscribe|@"), json!({"room": "@"}));
    carol.subscribe("@");

    let to_bob = alice.send("@bob", "for bob");
    let from_bob = bob.send("@alice", "from bob");
    let elsewhere = alice.send("@carol", "for carol");
    let note = bob.send("@bob", "note to self");
    assert_eq!(note["to"], "bob");

    let events: Vec<_> = bob_watch.drain_events();
    assert_eq!(
        events,
        [
            json!({"event": "message", "data": to_bob}),
            json!({"event": "message", "data": from_bob}),
            json!({"event": "message", "data": note}),
        ]
    );
    assert_eq!(
        carol.drain_events(),
        [json!({"event": "message", "data": elsewhere})]
    );
    assert_eq!(bob_watch.ok("/unsubscribe|@"), json!({"room": "@"}));
    alice.send("@bob", "unheard");
    assert!(bob_watch.drain_events().is_empty());
}

/// `/subscribe|@bob` listens to the conversation with bob only, beside the
/// connection's other subscriptions; `/unsubscribe|@carol` after
/// `/subscribe|@` leaves out that one conversation.
#[test]
fn subscribing_to_one_conversation() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    assert_eq!(alice.ok("/subscribe|@BOB"), json!({"room": "@bob"}));
    let from_bob = bob.send("@alice", "from bob");
    carol.send("@alice", "from carol, unheard");
    let to_bob = alice.send("@bob", "to bob");
    assert_eq!(
        alice.drain_events(),
        [
            json!({"event": "message", "data": from_bob}),
            json!({"event": "message", "data": to_bob}),
        ]
    );
    assert_eq!(alice.ok("/unsubscribe|@bob"), json!({"room": "@bob"}));
    bob.send("@alice", "unheard");
    assert!(alice.drain_events().is_empty());

    alice.ok("/subscribe|@");
    assert_eq!(alice.ok("/unsubscribe|@carol"), json!({"room": "@carol"}));
    carol.send("@alice", "unheard again");
    let again = bob.send("@alice", "heard again");
    assert_eq!(
        alice.drain_events(),
        [json!({"event": "message", "data": again})]
    );
    alice.ok("/subscribe|@carol");
    let back = carol.send("@alice", "heard now");
    assert_eq!(
        alice.drain_events(),
        [json!({"event": "message", "data": back})]
    );
}

/// The addressing rules: unknown users are 404; rooms-only commands refuse
/// `@` names with 400; chatroom names may not begin with `@`.
#[test]
fn at_names_follow_the_addressing_rules() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    server.login_as("bob");
    let unknown = alice.call("/sendMessage", &["@nobody", "hi"]);
    assert_status(&unknown, 404);
    assert_eq!(unknown["error"], "user 'nobody' does not exist");
    assert_status(&alice.request("/fetchMessages|@nobody"), 404);
    assert_status(&alice.request("/markRead|@nobody|1"), 404);
    assert_status(&alice.request("/search|hi|@nobody"), 404);
    // Only ASCII folds: `Kate` with a Kelvin sign (U+212A) is not `kate`, on
    // either engine (PostgreSQL's lower() used to say it was).
    server.login_as("kate");
    assert_status(&alice.call("/sendMessage", &["@\u{212A}ate", "hi"]), 404);
    assert_status(&alice.call("/sendMessage", &["@KATE", "hi"]), 201);
    for line in [
        "/joinChatroom|@bob",
        "/exitChatroom|@bob",
        "/getChatroomMembers|@bob",
        "/getRoomInfo|@bob",
        "/setRetention|@bob|1",
        "/setTopic|@bob|x",
        "/createChatroom|@bob",
        "/createChatroom|@new",
    ] {
        assert_status(&alice.request(line), 400);
    }
    assert_status(&alice.request("/subscribe|@nobody"), 404);
    assert_status(&alice.request("/unsubscribe|@nobody"), 404);
    // Before any message there is no conversation, but nothing is wrong.
    assert_eq!(alice.ok("/fetchMessages|@bob"), json!([]));
    assert_eq!(
        alice.ok("/markRead|@BOB|5"),
        json!({"room": "@bob", "last_read_id": 0})
    );
    assert_eq!(alice.ok("/search|hi|@bob"), json!([]));
    assert_status(&alice.request("/sendMessage|@bob|"), 400);
}

/// A third user can neither fetch, search, edit nor delete another pair's
/// direct messages: naming one of them gives their own conversation.
#[test]
fn others_cannot_read_a_conversation() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    server.login_as("bob");
    let mut carol = server.login_as("carol");
    let secret = alice.send("@bob", "secret plan");
    let id = secret["id"].as_i64().unwrap();
    assert_eq!(carol.ok("/fetchMessages|@alice"), json!([]));
    assert_eq!(carol.ok("/fetchMessages|@bob"), json!([]));
    assert_eq!(carol.ok("/search|secret"), json!([]));
    assert_status(&carol.request(&format!("/editMessage|{id}|mine now")), 404);
    // protocol.md: 403 to whoever is "neither its author nor the owner".
    assert_status(&carol.request(&format!("/deleteMessage|{id}")), 403);
    assert_eq!(alice.ok("/fetchMessages|@bob")[0]["text"], "secret plan");
    let unread = carol.ok("/getUnread");
    assert_eq!(unread, json!([]));
}
