//! Protocol v2 editing and deleting: who may, the events, and a deletion
//! that really removes the text from the database files.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Client, TestServer, assert_status, wait_until};

/// The author edits: the reply and every later fetch carry the new text and
/// `edited_at`, and subscribers get an `edit` event.
#[test]
fn the_author_edits_and_subscribers_see_it() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    bob.join("general");
    bob.subscribe("general");
    let sent = alice.send("general", "teh typo");
    let id = sent["id"].as_i64().unwrap();

    let edited = alice.ok_call("/editMessage", &[&id.to_string(), "the | fix"]);
    assert_eq!(edited["text"], "the | fix");
    assert_eq!(edited["id"], sent["id"]);
    assert_eq!(edited["sent_at"], sent["sent_at"]);
    let edited_at = edited["edited_at"].as_str().expect("edited_at");
    assert!(edited_at >= sent["sent_at"].as_str().unwrap());
    assert_eq!(alice.ok("/fetchMessages|general"), json!([edited]));
    assert_eq!(
        bob.drain_events(),
        [
            json!({"event": "message", "data": sent}),
            json!({"event": "edit", "data": edited})
        ]
    );
}

/// Only the author edits (403); an id you cannot read is 404 like a missing
/// one; the text follows the message rules; the id must be a number.
#[test]
fn editing_refusals() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    alice.create_and_join("general");
    bob.join("general");
    let id = alice.send("general", "alice's")["id"].as_i64().unwrap();
    assert_status(&bob.request(&format!("/editMessage|{id}|bob's now")), 403);
    assert_status(
        &carol.request(&format!("/editMessage|{id}|carol's now")),
        404,
    );
    assert_status(&alice.request("/editMessage|999999|nothing there"), 404);
    assert_status(&alice.request(&format!("/editMessage|{id}|")), 400);
    let too_long = "x".repeat(4097);
    assert_status(
        &alice.call("/editMessage", &[&id.to_string(), &too_long]),
        400,
    );
    for bad in ["abc", "-1", "0", "1.5", ""] {
        assert_status(&alice.request(&format!("/editMessage|{bad}|text")), 400);
    }
    assert_status(&alice.request(&format!("/deleteMessage|{id}|extra")), 400);
    assert_eq!(alice.ok("/fetchMessages|general")[0]["text"], "alice's");
}

/// The author deletes, and so does the room's owner; anyone else gets 403.
/// Subscribers get a `delete` event; fetches and searches never return it.
#[test]
fn the_author_or_the_owner_deletes() {
    let server = TestServer::start();
    let mut owner = server.login_as("owner");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    owner.create_and_join("general");
    bob.join("general");
    carol.join("general");
    carol.subscribe("general");
    let bobs = bob.send("general", "bob wrote this")["id"]
        .as_i64()
        .unwrap();
    let carols = carol.send("general", "carol wrote this")["id"]
        .as_i64()
        .unwrap();
    carol.drain_events();

    assert_status(&bob.request(&format!("/deleteMessage|{carols}")), 403);
    assert_eq!(
        owner.ok(&format!("/deleteMessage|{carols}")),
        json!({"id": carols})
    );
    assert_eq!(
        bob.ok(&format!("/deleteMessage|{bobs}")),
        json!({"id": bobs})
    );
    assert_eq!(
        carol.drain_events(),
        [
            json!({"event": "delete", "data": {"id": carols, "room": "general"}}),
            json!({"event": "delete", "data": {"id": bobs, "room": "general"}})
        ]
    );
    assert_eq!(owner.ok("/fetchMessages|general"), json!([]));
    assert_eq!(owner.ok("/search|wrote"), json!([]));
    assert_status(&owner.request(&format!("/deleteMessage|{bobs}")), 404);
    assert_status(&owner.request(&format!("/editMessage|{bobs}|again")), 404);
}

/// The owner of a room deletes in it without being a member (as they set
/// its retention), and an author who left deletes what they wrote; someone
/// who is neither gets 403 as protocol.md words it, member or not (ids
/// hide nothing: they are shared by every room).
#[test]
fn the_owner_and_the_author_delete_from_outside_the_room() {
    let server = TestServer::start();
    let mut owner = server.login_as("owner");
    assert_status(&owner.request("/createChatroom|lobby"), 201);
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    bob.join("lobby");
    let spam = bob.send("lobby", "spam")["id"].as_i64().unwrap();
    let regret = bob.send("lobby", "regret")["id"].as_i64().unwrap();
    assert_status(&carol.request(&format!("/deleteMessage|{regret}")), 403);
    assert_eq!(
        owner.ok(&format!("/deleteMessage|{spam}")),
        json!({"id": spam})
    );
    bob.ok("/exitChatroom|lobby");
    assert_eq!(
        bob.ok(&format!("/deleteMessage|{regret}")),
        json!({"id": regret})
    );
    bob.join("lobby");
    assert_eq!(bob.ok("/fetchMessages|lobby"), json!([]));
}

/// A direct message's `edit` and `delete` events go to both sides'
/// `/subscribe|@` connections; the delete names `to` and `username`. The
/// recipient may not delete the author's message.
/// The author and the room's owner deleting one message at the same moment:
/// one of them deletes it, the other gets 404, and the room's counters
/// still count its messages (on PostgreSQL both used to succeed and the
/// count went one too low each time).
#[test]
fn racing_deletes_of_one_message_delete_it_once() {
    let server = TestServer::start();
    let mut owner = server.login_as("owner");
    owner.create_and_join("general");
    let mut author = server.login_as("author");
    author.join("general");
    for round in 0..10 {
        let id = author.send("general", &format!("message {round}"))["id"].to_string();
        let (by_owner, by_author) = std::thread::scope(|scope| {
            let by_owner = scope.spawn(|| owner.call("/deleteMessage", &[&id]));
            let by_author = author.call("/deleteMessage", &[&id]);
            (by_owner.join().expect("the owner's thread"), by_author)
        });
        let mut statuses = [by_owner["status"].clone(), by_author["status"].clone()];
        statuses.sort_by_key(|status| status.as_u64());
        assert_eq!(statuses, [json!(200), json!(404)], "round {round}");
    }
    author.send("general", "the one left");
    let counted = server.sql_rows(
        "SELECT message_count, (SELECT count(*) FROM messages WHERE room_id = c.id)
         FROM chatrooms c WHERE name = 'general'",
        "SELECT message_count, (SELECT count(*) FROM messages WHERE room_id = c.id)
         FROM chatrooms c WHERE name = 'general'",
    );
    assert_eq!(counted, [["1", "1"]]);
}

#[test]
fn direct_message_edits_and_deletes_reach_both_sides() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    bob.subscribe("@");
    let sent = alice.send("@bob", "hi bob");
    let id = sent["id"].as_i64().unwrap();
    let edited = alice.ok_call("/editMessage", &[&id.to_string(), "hello bob"]);
    assert_status(&bob.request(&format!("/deleteMessage|{id}")), 403);
    alice.ok(&format!("/deleteMessage|{id}"));
    assert_eq!(
        bob.drain_events(),
        [
            json!({"event": "message", "data": sent}),
            json!({"event": "edit", "data": edited}),
            json!({"event": "delete", "data":
                {"id": id, "room": null, "to": "bob", "username": "alice"}}),
        ]
    );
    assert_eq!(bob.ok("/fetchMessages|@alice"), json!([]));
}

/// Whether `needle` occurs in the file at `path` (missing: no).
fn file_contains(path: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
}

/// Deleting really deletes: after the next checkpoint the text is in neither
/// the database file nor its WAL, search index included.
#[test]
fn a_deleted_text_leaves_the_database_files() {
    text_leaves_the_database_files(|alice, id| {
        alice.ok(&format!("/deleteMessage|{id}"));
    });
}

/// Editing a text away (a password pasted by mistake) removes it as
/// deleting does, with nothing sent after it: the server may stay idle.
#[test]
fn an_edited_away_text_leaves_the_database_files() {
    text_leaves_the_database_files(|alice, id| {
        alice.ok(&format!("/editMessage|{id}|(removed)"));
    });
}

/// Sends a marked text, waits for it to reach the database file, has
/// `remove` take it away, and waits until neither the file nor its WAL
/// holds it; search finds it no more, and the other messages stay.
fn text_leaves_the_database_files(remove: impl FnOnce(&mut Client, i64)) {
    if support::postgres::skip_on_postgres("the bytes of SQLite's files") {
        return;
    }
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let marker = "zebracorn7731 quixotic9926 marker";
    let kept = alice.send("general", "an unrelated message stays")["id"]
        .as_i64()
        .unwrap();
    let id = alice.send("general", marker)["id"].as_i64().unwrap();
    for n in 0..50 {
        alice.send("general", &format!("filler {n}"));
    }
    let db = server.db.clone();
    let wal = db.with_extension("db-wal");
    wait_until("the marker reached the database file", || {
        file_contains(&db, b"zebracorn7731")
    });
    assert_eq!(
        alice.ok("/search|zebracorn7731").as_array().unwrap().len(),
        1
    );

    remove(&mut alice, id);
    wait_until("the marker is gone from the database and its WAL", || {
        !file_contains(&db, b"zebracorn7731")
            && !file_contains(&db, b"quixotic9926")
            && !file_contains(&wal, b"zebracorn7731")
            && !file_contains(&wal, b"quixotic9926")
    });
    assert_eq!(alice.ok("/search|zebracorn7731"), json!([]));
    let fetched = alice.fetch_all("general");
    assert!(fetched.iter().any(|m| m["id"] == kept));
    assert!(
        fetched
            .iter()
            .all(|m| m["id"] != id || m["text"] == "(removed)")
    );
}

/// An id is never reused, even after the newest message is deleted and the
/// server restarts.
#[test]
fn a_deleted_newest_id_is_not_reused_after_a_restart() {
    let mut server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let newest = alice.send("general", "newest")["id"].as_i64().unwrap();
    alice.ok(&format!("/deleteMessage|{newest}"));
    assert!(server.terminate().success());
    server.restart();
    let mut alice = server.login_existing("alice", "alice");
    let next = alice.send("general", "after the restart")["id"]
        .as_i64()
        .unwrap();
    assert!(next > newest, "{next} reuses or precedes {newest}");
}

/// A deletion while someone holds a read transaction open on the file (a
/// backup, `sqlite3` left in a transaction) does not hold up senders: the
/// checkpoint that scrubs the WAL waits for that reader only briefly, and
/// tries again later.
#[test]
fn a_deletion_under_a_long_reader_does_not_stall_senders() {
    if support::postgres::skip_on_postgres("SQLite's checkpoints") {
        return;
    }
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let id = alice.send("general", "to be deleted")["id"]
        .as_i64()
        .unwrap();
    let reader = server.open_db();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM messages;")
        .unwrap();
    alice.ok(&format!("/deleteMessage|{id}"));
    // Checkpoints run every 500 ms: sends over three of them meet the
    // scrub that wants the reader gone.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(1500) {
        let sent = Instant::now();
        alice.send("general", "still flowing");
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a send took {slowest:?} while a reader held the WAL"
    );
    reader.execute_batch("COMMIT").unwrap();
    let wal = server.db.with_extension("db-wal");
    wait_until("the WAL is scrubbed once the reader left", || {
        !file_contains(&wal, b"to be deleted")
    });
}
