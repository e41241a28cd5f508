//! Protocol v2 rooms: read positions and unread counts, room info, topics,
//! retention and its sweep.

mod support;

use serde_json::json;
use support::{TestServer, assert_status, wait_until};

/// Unread counts what others sent after your position; marking read moves it
/// forward only (and never past the last message); sending moves it to your
/// message; rooms come first, then conversations, each sorted by name.
#[test]
fn unread_counts_follow_read_positions() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    alice.create_and_join("Beta");
    alice.create_and_join("quiet");
    bob.join("general");
    bob.join("Beta");
    bob.join("quiet");
    let ids: Vec<i64> = (1..=3)
        .map(|n| {
            alice.send("general", &format!("m{n}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let beta = alice.send("Beta", "b1")["id"].as_i64().unwrap();
    let direct = alice.send("@bob", "dm")["id"].as_i64().unwrap();
    alice.send("@alice", "note");

    assert_eq!(
        bob.ok("/getUnread"),
        json!([
            {"room": "Beta", "unread": 1, "last_read_id": 0, "last_id": beta},
            {"room": "general", "unread": 3, "last_read_id": 0, "last_id": ids[2]},
            {"room": "quiet", "unread": 0, "last_read_id": 0, "last_id": 0},
            {"room": "@alice", "unread": 1, "last_read_id": 0, "last_id": direct},
        ])
    );
    assert_eq!(
        bob.ok(&format!("/markRead|general|{}", ids[1])),
        json!({"room": "general", "last_read_id": ids[1]})
    );
    // Backwards is ignored; past the last message stops at it.
    assert_eq!(
        bob.ok(&format!("/markRead|GENERAL|{}", ids[0]))["last_read_id"],
        ids[1]
    );
    assert_eq!(bob.ok("/markRead|@ALICE|999999")["last_read_id"], direct);
    let unread = bob.ok("/getUnread");
    assert_eq!(
        unread[1],
        json!({"room": "general", "unread": 1, "last_read_id": ids[1], "last_id": ids[2]})
    );
    assert_eq!(unread[3]["unread"], 0);
    // Sending moves your own position to your message.
    let mine = bob.send("general", "reply")["id"].as_i64().unwrap();
    assert_eq!(
        bob.ok("/getUnread")[1],
        json!({"room": "general", "unread": 0, "last_read_id": mine, "last_id": mine})
    );
    // Alice's own messages never count as unread for her.
    let alices = alice.ok("/getUnread");
    assert_eq!(
        alices[1],
        json!({"room": "general", "unread": 1, "last_read_id": ids[2], "last_id": mine})
    );
    assert_eq!(alices[3]["room"], "@alice");
    assert_eq!(alices[4]["room"], "@bob");
    // A deleted unread message stops counting.
    alice.ok(&format!("/deleteMessage|{beta}"));
    assert_eq!(
        bob.ok("/getUnread")[0],
        json!({"room": "Beta", "unread": 0, "last_read_id": 0, "last_id": 0})
    );
    for bad in [
        "/markRead|general|x",
        "/markRead|general|-1",
        "/markRead|general",
    ] {
        assert_status(&bob.request(bad), 400);
    }
    assert_status(&bob.request("/markRead|nowhere|1"), 404);
    server.login_as("carol");
    let mut carol = server.login_existing("carol", "carol");
    assert_status(&carol.request("/markRead|general|1"), 403);
}

/// Leaving a room and joining it again goes on from the read position held
/// when leaving: your own messages never count as unread (they used to,
/// from 0), what others sent meanwhile does, and deletions meanwhile are
/// reckoned with. Someone joining for the first time has read nothing.
#[test]
fn joining_again_goes_on_from_where_you_left() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    bob.join("general");
    alice.send("general", "a1");
    let own0 = bob.send("general", "own0")["id"].as_i64().unwrap();
    let own1 = bob.send("general", "own1")["id"].as_i64().unwrap();
    bob.ok("/exitChatroom|general");
    alice.send("general", "a2");
    let a3 = alice.send("general", "a3")["id"].as_i64().unwrap();
    // The owner deletes one of bob's messages while he is away.
    alice.ok(&format!("/deleteMessage|{own0}"));

    bob.join("general");
    assert_eq!(
        bob.ok("/getUnread"),
        json!([{"room": "general", "unread": 2, "last_read_id": own1, "last_id": a3}])
    );
    bob.ok(&format!("/markRead|general|{a3}"));
    bob.ok("/exitChatroom|general");
    bob.join("general");
    assert_eq!(
        bob.ok("/getUnread"),
        json!([{"room": "general", "unread": 0, "last_read_id": a3, "last_id": a3}])
    );

    let mut carol = server.login_as("carol");
    carol.join("general");
    assert_eq!(
        carol.ok("/getUnread"),
        json!([{"room": "general", "unread": 4, "last_read_id": 0, "last_id": a3}])
    );
}

/// Room info names the owner (the creator) and counts members and messages.
#[test]
fn room_info_counts_and_names_the_owner() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    bob.join("general");
    alice.send("general", "one");
    alice.send("general", "two");
    let info = bob.ok("/getRoomInfo|GENERAL");
    let created_at = info["created_at"].as_str().unwrap().to_string();
    assert_eq!(
        info,
        json!({"name": "general", "owner": "alice", "created_at": created_at,
               "members": 2, "messages": 2, "retention_days": 0, "topic": ""})
    );
    assert_status(&bob.request("/getRoomInfo|nowhere"), 404);
}

/// Members set the topic (0 to 390 characters, one line); subscribers get a
/// `topic` event; non-members get 403.
#[test]
fn topics_are_set_by_members_with_an_event() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    alice.create_and_join("general");
    bob.join("general");
    bob.subscribe("general");
    let info = alice.ok_call("/setTopic", &["general", "Release | Friday"]);
    assert_eq!(info["topic"], "Release | Friday");
    assert_eq!(
        bob.drain_events(),
        [json!({"event": "topic", "data":
            {"room": "general", "topic": "Release | Friday", "username": "alice"}})]
    );
    assert_eq!(bob.ok("/getRoomInfo|general")["topic"], "Release | Friday");
    assert_status(&carol.request("/setTopic|general|mine"), 403);
    assert_status(
        &alice.call("/setTopic", &["general", &"é".repeat(391)]),
        400,
    );
    assert_status(&alice.call("/setTopic", &["general", "two\nlines"]), 400);
    // Only a line feed: the protocol refuses nothing else.
    assert_eq!(
        alice.ok_call("/setTopic", &["general", "a\rb"])["topic"],
        "a\rb"
    );
    assert_eq!(
        alice.ok_call("/setTopic", &["general", &"é".repeat(390)])["topic"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        390
    );
    assert_eq!(alice.ok("/setTopic|general|")["topic"], "");
    assert_status(&alice.request("/setTopic|nowhere|x"), 404);
}

/// Only the owner sets retention, 0 to 36,500 days.
#[test]
fn retention_is_the_owners_to_set() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    bob.join("general");
    assert_status(&bob.request("/setRetention|general|7"), 403);
    assert_eq!(alice.ok("/setRetention|general|7")["retention_days"], 7);
    assert_eq!(
        alice.ok("/setRetention|general|36500")["retention_days"],
        36500
    );
    for bad in ["36501", "-1", "x", "", "1.5"] {
        assert_status(&alice.request(&format!("/setRetention|general|{bad}")), 400);
    }
    assert_status(&alice.request("/setRetention|nowhere|1"), 404);
    assert_eq!(alice.ok("/setRetention|general|0")["retention_days"], 0);
}

/// At start-up the sweep deletes messages older than a room's retention,
/// and only those, with no events; counts follow.
#[test]
fn expired_messages_are_swept_at_start_up() {
    let mut server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    alice.create_and_join("forever");
    let old: Vec<i64> = (0..3)
        .map(|n| {
            alice.send("general", &format!("old {n}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let recent = alice.send("general", "recent")["id"].as_i64().unwrap();
    let kept = alice.send("forever", "old but kept")["id"]
        .as_i64()
        .unwrap();
    assert_eq!(alice.ok("/setRetention|general|2")["retention_days"], 2);
    assert!(server.terminate().success());
    for id in old.iter().chain([&kept]) {
        let backdate =
            format!("UPDATE messages SET sent_at = '2020-01-01T00:00:00.000Z' WHERE id = {id}");
        assert_eq!(server.sql_execute(&backdate, &backdate), 1);
    }
    server.restart();
    let mut alice = server.login_existing("alice", "alice");
    wait_until("the expired messages are gone", || {
        alice.fetch_all("general").len() == 1
    });
    assert_eq!(alice.fetch_all("general")[0]["id"], recent);
    assert_eq!(alice.fetch_all("forever")[0]["id"], kept);
    assert_eq!(alice.ok("/getRoomInfo|general")["messages"], 1);
    assert_eq!(alice.ok("/search|old").as_array().unwrap().len(), 1);
}

/// Chatroom names are one under full Unicode case folding, not lower case
/// alone: `σσ` is the room `ΣΣ` (whose lower case is `σς`), `STRASSE` and
/// `STRAẞE` the room `Straße`, `ς` the room `σ`, `FFI` the room `ﬃ`. Each
/// is refused as taken (409) and found under every spelling, and shown as
/// created.
#[test]
fn chatroom_names_are_one_under_full_case_folding() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    for name in ["ΣΣ", "Straße", "σ", "ﬃ"] {
        assert_status(&alice.call("/createChatroom", &[name]), 201);
    }
    for (asked, created) in [
        ("σσ", "ΣΣ"),
        ("σς", "ΣΣ"),
        ("STRASSE", "Straße"),
        ("strasse", "Straße"),
        ("STRAẞE", "Straße"),
        ("ς", "σ"),
        ("FFI", "ﬃ"),
    ] {
        let refused = alice.call("/createChatroom", &[asked]);
        assert_status(&refused, 409);
        assert_eq!(
            refused["error"],
            format!("chatroom '{created}' already exists"),
            "{asked}"
        );
    }
    assert_eq!(bob.ok("/joinChatroom|STRASSE"), json!({"room": "Straße"}));
    assert_eq!(bob.ok("/joinChatroom|σς"), json!({"room": "ΣΣ"}));
    assert_eq!(bob.send("strasse", "hallo")["room"], "Straße");
    assert_eq!(bob.ok("/getChatroomMembers|STRAẞE"), json!(["bob"]));
    assert_eq!(bob.ok("/getRoomInfo|σσ")["name"], "ΣΣ");
    assert_eq!(
        alice.ok("/getAllChatrooms"),
        json!(["ﬃ", "Straße", "σ", "ΣΣ"])
    );
}
