//! Hostile but well-formed input, end to end: SQL-looking text, limits,
//! large listings.

mod support;

use pipechat::chat::accounts::argon2id_hash;
use pipechat::store::seed::Seeder;
use support::{TestServer, assert_status, password_of};

/// A NUL character (U+0000) in a message, an edit, a direct message or a
/// topic gets a 400 on either engine (PostgreSQL cannot store it) and
/// changes nothing; other control characters, such as a tab, are kept. A
/// search for it finds no words rather than failing, and a room named with
/// it is not found.
#[test]
fn nul_characters_are_refused_in_every_text() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let kept = alice.send("general", "tab\there");
    assert_eq!(kept["text"], "tab\there");
    let id = kept["id"].to_string();
    for (command, fields) in [
        ("/sendMessage", vec!["general", "a\0b"]),
        ("/sendMessage", vec!["@alice", "a\0b"]),
        ("/editMessage", vec![&id, "a\0b"]),
        ("/setTopic", vec!["general", "a\0b"]),
    ] {
        let reply = alice.call(command, &fields);
        assert_status(&reply, 400);
        assert!(
            reply["error"].as_str().unwrap().contains("NUL"),
            "{command}: {reply}"
        );
    }
    assert_status(&alice.call("/search", &["\0"]), 400);
    // No room's name holds one, so none is found.
    for (command, fields) in [
        ("/joinChatroom", vec!["a\0b"]),
        ("/sendMessage", vec!["a\0b", "hi"]),
        ("/getRoomInfo", vec!["a\0b"]),
        ("/search", vec!["hello", "a\0b"]),
    ] {
        assert_status(&alice.call(command, &fields), 404);
    }
    assert_eq!(
        alice.ok_call("/fetchMessages", &["general"]),
        serde_json::json!([kept])
    );
    assert_eq!(alice.ok_call("/getRoomInfo", &["general"])["topic"], "");
}

/// Names and texts that look like SQL are stored and shown literally.
#[test]
fn sql_looking_input_is_stored_literally() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let room = "general'; DROP TABLE messages; --";
    let text = "'); DELETE FROM users WHERE ('1'='1";
    assert_status(&alice.call("/createChatroom", &[room]), 201);
    assert_status(&alice.call("/joinChatroom", &[room]), 200);
    let sent = alice.call("/sendMessage", &[room, text]);
    assert_status(&sent, 201);
    assert_eq!(sent["data"]["text"], text);
    assert_eq!(sent["data"]["room"], room);
    assert_status(&alice.call("/register", &["bob'--", "password123"]), 400);

    let rooms = alice.request("/getAllChatrooms");
    assert_eq!(rooms["data"], serde_json::json!([room]));
    let fetched = alice.call("/fetchMessages", &[room]);
    assert_eq!(fetched["data"][0]["text"], text);

    let query = "SELECT room, text FROM history";
    assert_eq!(server.sql_rows(query, query), [[room, text]]);
    let query = "SELECT count(*) FROM users";
    assert_eq!(server.sql_rows(query, query), [["1"]]);
}

/// A message of exactly 4,096 four-byte characters is accepted and comes back
/// intact; one more character is refused.
#[test]
fn longest_message_of_four_byte_characters() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    assert_status(&alice.request("/createChatroom|big"), 201);
    assert_status(&alice.request("/joinChatroom|big"), 200);
    let longest = "𝄞".repeat(4096);
    assert_eq!(longest.len(), 4 * 4096);
    let sent = alice.call("/sendMessage", &["big", &longest]);
    assert_status(&sent, 201);
    assert_eq!(sent["data"]["text"], longest.as_str());
    let fetched = alice.request("/fetchMessages|big");
    assert_eq!(fetched["data"][0]["text"], longest.as_str());
    let too_long = "𝄞".repeat(4097);
    assert_status(&alice.call("/sendMessage", &["big", &too_long]), 400);
}

/// Names at each limit are accepted; one past it is refused.
#[test]
fn names_at_and_past_their_limits() {
    let server = TestServer::start();
    let mut client = server.connect();
    let longest_user = "u".repeat(32);
    assert_status(&client.call("/register", &[&longest_user, "12345678"]), 201);
    assert_status(
        &client.call("/register", &[&"u".repeat(33), "12345678"]),
        400,
    );
    assert_status(&client.call("/register", &["shortpw", "1234567"]), 400);
    let longest_password = "p".repeat(1024);
    assert_status(
        &client.call("/register", &["longpw", &longest_password]),
        201,
    );
    assert_status(
        &client.call("/register", &["longerpw", &"p".repeat(1025)]),
        400,
    );
    assert_status(&client.call("/login", &["longpw", &longest_password]), 200);
    let longest_room = "ä".repeat(64);
    assert_status(&client.call("/createChatroom", &[&longest_room]), 201);
    assert_status(&client.call("/createChatroom", &[&"ä".repeat(65)]), 400);
    assert_status(
        &client.call("/joinChatroom", &[&longest_room.to_uppercase()]),
        200,
    );
}

/// 1,000 rooms and a room with 10,000 members are listed whole and sorted.
#[test]
fn thousands_of_rooms_and_members_are_listed() {
    if support::postgres::skip_on_postgres("seeding writes a SQLite file") {
        return;
    }
    let mut server = TestServer::start();
    server.kill();
    let password_hash = argon2id_hash(&password_of("member0")).unwrap();
    let seeder = Seeder::open(&server.db).unwrap();
    let (users, rooms) = seeder
        .transaction(|db| {
            let mut users = Vec::new();
            for n in 0..10_000 {
                // Mixed case, so the sort must ignore case.
                let name = if n % 2 == 0 {
                    format!("Member{n}")
                } else {
                    format!("member{n}")
                };
                users.extend(db.insert_user(&name, &password_hash)?);
            }
            let mut rooms = Vec::new();
            for n in 0..1_000 {
                let name = if n % 3 == 0 {
                    format!("Room {n}")
                } else {
                    format!("room {n}")
                };
                rooms.extend(db.insert_room(&name, users[0].id)?);
            }
            for user in &users {
                db.insert_membership(&rooms[0], user)?;
            }
            Ok::<_, pipechat::store::StoreError>((users, rooms))
        })
        .unwrap();
    seeder.finish().unwrap();
    server.restart();

    let mut client = server.connect();
    assert_status(
        &client.call("/login", &["Member0", &password_of("member0")]),
        200,
    );
    let listed = client.request("/getAllChatrooms");
    let listed: Vec<String> = serde_json::from_value(listed["data"].clone()).unwrap();
    let mut expected: Vec<String> = rooms.iter().map(|room| room.name.clone()).collect();
    expected.sort_by_key(|name| name.to_lowercase());
    assert_eq!(listed, expected);

    let members = client.call("/getChatroomMembers", &[&rooms[0].name]);
    let members: Vec<String> = serde_json::from_value(members["data"].clone()).unwrap();
    let mut expected: Vec<String> = users.iter().map(|user| user.username.clone()).collect();
    expected.sort_by_key(|name| name.to_lowercase());
    assert_eq!(members.len(), 10_000);
    assert_eq!(members, expected);
}
