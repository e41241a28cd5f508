//! Room and message commands through the wire: every success path and every
//! error status the protocol table lists, plus parsing, `/help` and `/ping`.

mod support;

use serde_json::{Value, json};
use support::{Client, TestServer, assert_status};

/// The ids of a list of messages.
fn ids(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

/// The error sentence of a reply that must have `status`.
#[track_caller]
fn error_of(reply: &Value, status: u16) -> String {
    assert_status(reply, status);
    reply["error"].as_str().unwrap().to_string()
}

/// Sends `count` messages numbered from 1 and returns their ids.
fn send_numbered(client: &mut Client, room: &str, count: usize) -> Vec<i64> {
    (1..=count)
        .map(|n| client.send(room, &format!("m{n}"))["id"].as_i64().unwrap())
        .collect()
}

/// The greeting; `/ping` and `/help` work before login; `/help` lists one
/// usage per command.
#[test]
fn ping_and_help() {
    let server = TestServer::start();
    let mut client = server.connect();
    assert_eq!(
        client.greeting,
        json!({"status": 200, "data": {
            "server": "pipechat",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": 2
        }})
    );
    assert_eq!(
        client.request("/ping"),
        json!({"status": 200, "data": "pong"})
    );
    let help = client.ok("/help");
    let usages: Vec<&str> = help
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let commands = [
        "/register",
        "/login",
        "/logout",
        "/createChatroom",
        "/joinChatroom",
        "/exitChatroom",
        "/getAllChatrooms",
        "/getActiveUsers",
        "/getChatroomMembers",
        "/fetchMessages",
        "/fetchHistory",
        "/sendMessage",
        "/subscribe",
        "/unsubscribe",
        "/ping",
        "/help",
        "/resume",
        "/changePassword",
        "/editMessage",
        "/deleteMessage",
        "/search",
        "/markRead",
        "/getUnread",
        "/getRoomInfo",
        "/setTopic",
        "/setRetention",
    ];
    assert_eq!(usages.len(), commands.len(), "{usages:?}");
    for command in commands {
        let usage = usages
            .iter()
            .find(|u| u.split('|').next() == Some(command))
            .unwrap_or_else(|| panic!("no usage for {command} in {usages:?}"));
        assert!(usage.starts_with(command));
    }
    assert!(usages.contains(&"/sendMessage|name|text"));
    assert!(usages.contains(&"/fetchHistory|name|before_id|limit"));
}

/// Malformed requests get 400 saying what was expected: unknown and
/// wrongly-cased commands, lines without '/', wrong field counts (with the
/// command's usage), bad escapes.
#[test]
fn malformed_requests_get_400_with_the_usage() {
    let server = TestServer::start();
    let mut client = server.connect();
    for line in ["/Ping", "/nosuch", "/ping ", "/ PING"] {
        let error = error_of(&client.request(line), 400);
        assert!(error.contains("/help"), "{line}: {error}");
    }
    let error = error_of(&client.request("hello"), 400);
    assert!(error.contains('/'), "{error}");
    let cases = [
        ("/ping|", "/ping"),
        ("/help|x", "/help"),
        ("/register|alice", "/register|username|password"),
        (
            "/register|alice|pw-pw-pw-pw|x",
            "/register|username|password",
        ),
        ("/login", "/login|username|password"),
        ("/logout|a|b", "/logout"),
        ("/createChatroom", "/createChatroom|name"),
        ("/createChatroom|a|b", "/createChatroom|name"),
        ("/joinChatroom", "/joinChatroom|name"),
        ("/joinChatroom|a|b|c", "/joinChatroom|name"),
        ("/exitChatroom|a|b|c", "/exitChatroom|name"),
        ("/getAllChatrooms|x", "/getAllChatrooms"),
        ("/getActiveUsers|x", "/getActiveUsers"),
        ("/getChatroomMembers", "/getChatroomMembers|name"),
        ("/fetchMessages", "/fetchMessages|name"),
        ("/fetchMessages|a|1|2|3", "/fetchMessages|name"),
        ("/fetchHistory|a|1", "/fetchHistory|name|before_id|limit"),
        ("/sendMessage|a", "/sendMessage|name|text"),
        ("/sendMessage|a|b|c", "/sendMessage|name|text"),
        ("/sendMessage|a|b|c|d", "/sendMessage|name|text"),
        ("/sendMessage|a|b|c|d|e|f", "/sendMessage|name|text"),
        ("/subscribe", "/subscribe|name"),
        ("/unsubscribe|a|b", "/unsubscribe|name"),
    ];
    for (line, usage) in cases {
        let error = error_of(&client.request(line), 400);
        assert!(error.contains(usage), "{line}: {error}");
    }
    // Bad escapes say how to escape, and the command's usage.
    for (line, usage) in [
        (r"/sendMessage|general|\t", "/sendMessage|name|text"),
        (r"/register|a\x|password", "/register|username|password"),
        (r"/sendMessage|general|\", "/sendMessage|name|text"),
        (r"/sendMessage|general|ok\\\", "/sendMessage|name|text"),
        (r"/login|a|b\", "/login|username|password"),
    ] {
        let error = error_of(&client.request(line), 400);
        assert!(error.contains(r"\\"), "{line}: {error}");
        assert!(
            error.contains(&format!("usage: {usage}")),
            "{line}: {error}"
        );
    }
    // Malformed requests are 400 even before login, and change nothing.
    assert_eq!(client.ok("/ping"), json!("pong"));
}

/// `/createChatroom`: 201 with the name; names at and past their limits; 409
/// for a taken name in any case, non-ASCII included; the creator is not
/// made a member; `/getAllChatrooms` sorts without regard to case.
#[test]
fn create_chatroom_and_list_them() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    assert_eq!(alice.ok("/getAllChatrooms"), json!([]));
    let longest = "é".repeat(64);
    for name in [
        "banana",
        "Apple",
        "cherry",
        "Ünï",
        "x",
        longest.as_str(),
        "with | pipe",
        "inner  spaces",
        "☕ café",
    ] {
        let reply = alice.call("/createChatroom", &[name]);
        assert_eq!(reply, json!({"status": 201, "data": {"name": name}}));
    }
    // The name in the refusal is the room's, as created.
    for (name, created) in [
        ("banana", "banana"),
        ("BANANA", "banana"),
        ("apple", "Apple"),
        ("ünï", "Ünï"),
        ("ÜNÏ", "Ünï"),
        ("X", "x"),
        ("WITH | PIPE", "with | pipe"),
    ] {
        let error = error_of(&alice.call("/createChatroom", &[name]), 409);
        assert_eq!(error, format!("chatroom '{created}' already exists"));
    }
    let too_long = "é".repeat(65);
    for name in [
        "",
        too_long.as_str(),
        " lead",
        "trail ",
        "\ttab",
        "line\nfeed",
        "bell\u{7}",
        "nbsp\u{a0}",
    ] {
        let error = error_of(&alice.call("/createChatroom", &[name]), 400);
        assert!(error.contains("chatroom name"), "{name:?}: {error}");
    }
    let all = alice.ok("/getAllChatrooms");
    assert_eq!(
        all,
        json!([
            "Apple",
            "banana",
            "cherry",
            "inner  spaces",
            "with | pipe",
            "x",
            longest,
            "Ünï",
            "☕ café"
        ])
    );
    // Creating does not join.
    assert_eq!(alice.ok("/getChatroomMembers|Apple"), json!([]));
    assert_status(&alice.request("/fetchMessages|Apple"), 403);
    assert_status(&alice.request("/sendMessage|Apple|hi"), 403);
}

/// `/joinChatroom` in both forms: found without regard to case and shown as
/// created; joining twice leaves one membership; 404 and 403.
#[test]
fn join_chatroom() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("Bob");
    assert_status(&alice.call("/createChatroom", &["Ünï Général"]), 201);
    assert_eq!(
        alice.call("/joinChatroom", &["ünï GÉNÉRAL"]),
        json!({"status": 200, "data": {"room": "Ünï Général"}})
    );
    assert_eq!(
        alice.call("/joinChatroom", &["Ünï Général", "alice"]),
        json!({"status": 200, "data": {"room": "Ünï Général"}})
    );
    assert_eq!(
        bob.call("/joinChatroom", &["ÜNÏ GÉNÉRAL", "bob"]),
        json!({"status": 200, "data": {"room": "Ünï Général"}})
    );
    assert_eq!(
        alice.call("/getChatroomMembers", &["ünï général"]),
        json!({"status": 200, "data": ["alice", "Bob"]})
    );
    let error = error_of(&alice.call("/joinChatroom", &["Ünï Général", "Bob"]), 403);
    assert!(error.contains("not yours"), "{error}");
    assert_status(&alice.call("/joinChatroom", &["nowhere", "Bob"]), 403);
    let error = error_of(&alice.request("/joinChatroom|nowhere"), 404);
    assert_eq!(error, "chatroom 'nowhere' does not exist");
    assert_status(&alice.request("/joinChatroom|nowhere|alice"), 404);
    assert_status(&alice.request("/getChatroomMembers|nowhere"), 404);
}

/// `/getChatroomMembers` sorts without regard to case and shows names as
/// registered.
#[test]
fn members_are_sorted_without_regard_to_case() {
    let server = TestServer::start();
    let mut users: Vec<Client> = ["carol", "Alice", "bob", "Dave"]
        .iter()
        .map(|name| server.login_as(name))
        .collect();
    assert_status(&users[0].request("/createChatroom|room"), 201);
    for user in &mut users {
        user.join("ROOM");
    }
    assert_eq!(
        users[0].ok("/getChatroomMembers|Room"),
        json!(["Alice", "bob", "carol", "Dave"])
    );
}

/// `/exitChatroom` in both forms: 200, then 409 when no longer a member; 404
/// and 403.
#[test]
fn exit_chatroom() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("General");
    bob.join("general");
    assert_eq!(
        alice.call("/exitChatroom", &["GENERAL"]),
        json!({"status": 200, "data": {"room": "General"}})
    );
    assert_eq!(alice.ok("/getChatroomMembers|general"), json!(["bob"]));
    let error = error_of(&alice.request("/exitChatroom|general"), 409);
    assert!(error.contains("not a member"), "{error}");
    assert_status(&alice.request("/exitChatroom|general|alice"), 409);
    assert_status(&alice.request("/sendMessage|general|hi"), 403);
    assert_status(&alice.request("/exitChatroom|nowhere"), 404);
    let error = error_of(&alice.request("/exitChatroom|general|bob"), 403);
    assert!(error.contains("not yours"), "{error}");
    assert_eq!(
        bob.request("/exitChatroom|General|BOB"),
        json!({"status": 200, "data": {"room": "General"}})
    );
    assert_eq!(bob.ok("/getChatroomMembers|general"), json!([]));
    // Rejoining after an exit works.
    alice.join("general");
    assert_eq!(alice.ok("/getChatroomMembers|general"), json!(["alice"]));
}

/// `/sendMessage` in both forms: 201 with the stored message, the server's
/// clock, the names as registered; 400 empty or too long (in characters),
/// 404, 403 not a member and 403 not yours.
#[test]
fn send_message() {
    let server = TestServer::start();
    let mut alice = server.login_as("Alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("General");
    let reply = alice.request("/sendMessage|general|hello");
    assert_status(&reply, 201);
    let message = &reply["data"];
    assert_eq!(message["room"], "General");
    assert_eq!(message["username"], "Alice");
    assert_eq!(message["text"], "hello");
    assert!(message["id"].as_i64().unwrap() >= 1);
    let keys: Vec<&String> = message.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{message}");
    let sent_at = message["sent_at"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(sent_at).expect("RFC 3339");
    assert!(sent_at.ends_with('Z') && sent_at.len() == 24, "{sent_at}");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(age.num_seconds().abs() < 60, "{sent_at} is not now");

    // The older form: the username must be yours; date and time are ignored.
    let reply = alice.request("/sendMessage|general|old form|alice|2001-02-03|04:05");
    assert_status(&reply, 201);
    assert_eq!(reply["data"]["username"], "Alice");
    assert_eq!(reply["data"]["text"], "old form");
    assert!(reply["data"]["id"].as_i64() > message["id"].as_i64());
    assert!(
        !reply["data"]["sent_at"]
            .as_str()
            .unwrap()
            .starts_with("2001")
    );
    let error = error_of(
        &alice.request("/sendMessage|general|not me|bob|2001-02-03|04:05"),
        403,
    );
    assert!(error.contains("not yours"), "{error}");

    let longest = "😀".repeat(4096);
    let reply = alice.call("/sendMessage", &["general", &longest]);
    assert_status(&reply, 201);
    assert_eq!(reply["data"]["text"], longest.as_str());
    let too_long = "a".repeat(4097);
    for text in ["", too_long.as_str(), &"😀".repeat(4097)] {
        let error = error_of(&alice.call("/sendMessage", &["general", text]), 400);
        assert!(error.contains("message"), "{error}");
    }
    assert_status(&alice.request("/sendMessage|nowhere|hi"), 404);
    let error = error_of(&bob.request("/sendMessage|general|hi"), 403);
    assert!(error.contains("not a member"), "{error}");
    assert_status(
        &bob.request("/sendMessage|general|hi|bob|2001-02-03|04:05"),
        403,
    );
    // Only the three accepted messages were stored.
    let stored = alice.fetch_all("general");
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello", "old form", longest.as_str()]);
    assert_eq!(stored[0], *message);
}

/// `/fetchMessages`: the latest 100 by default, after a cursor, with a
/// limit; bad numbers 400; 404; 403 for non-members.
#[test]
fn fetch_messages() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    alice.create_and_join("other");
    assert_eq!(alice.ok("/fetchMessages|general"), json!([]));
    let sent = send_numbered(&mut alice, "general", 105);
    alice.send("other", "elsewhere");

    let latest = alice.ok("/fetchMessages|GENERAL");
    let latest = latest.as_array().unwrap();
    assert_eq!(ids(latest), sent[5..]);
    assert_eq!(latest[0]["text"], "m6");
    assert_eq!(latest[99]["text"], "m105");
    assert!(latest.iter().all(|m| m["room"] == "general"));

    let from_start = alice.ok("/fetchMessages|general|0");
    assert_eq!(ids(from_start.as_array().unwrap()), sent[..100]);
    let after = alice.ok(&format!("/fetchMessages|general|{}", sent[99]));
    assert_eq!(ids(after.as_array().unwrap()), sent[100..]);
    let limited = alice.ok(&format!("/fetchMessages|general|{}|3", sent[9]));
    assert_eq!(ids(limited.as_array().unwrap()), sent[10..13]);
    let all = alice.ok("/fetchMessages|general|0|1000");
    assert_eq!(ids(all.as_array().unwrap()), sent);
    let one = alice.ok("/fetchMessages|general|0|1");
    assert_eq!(ids(one.as_array().unwrap()), sent[..1]);
    let past_end = alice.ok(&format!("/fetchMessages|general|{}", sent[104]));
    assert_eq!(past_end, json!([]));

    for line in [
        "/fetchMessages|general|-1",
        "/fetchMessages|general|abc",
        "/fetchMessages|general|+5",
        "/fetchMessages|general| 5",
        "/fetchMessages|general|",
        "/fetchMessages|general|1.5",
        "/fetchMessages|general|99999999999999999999",
        "/fetchMessages|general|0|0",
        "/fetchMessages|general|0|1001",
        "/fetchMessages|general|0|-1",
        "/fetchMessages|general|0|",
        "/fetchMessages|general|0|ten",
    ] {
        let error = error_of(&alice.request(line), 400);
        assert!(
            error.contains("/fetchMessages|name[|after_id[|limit]]"),
            "{line}: {error}"
        );
    }
    assert_status(&alice.request("/fetchMessages|nowhere"), 404);
    assert_status(&alice.request("/fetchMessages|nowhere|0|10"), 404);
    let error = error_of(&bob.request("/fetchMessages|general"), 403);
    assert!(error.contains("not a member"), "{error}");
    assert_status(&bob.request("/fetchMessages|general|0|10"), 403);
}

/// `/fetchHistory` scrolls back: the latest `limit` before an id, oldest
/// first; 400 bad numbers, 404, 403.
#[test]
fn fetch_history_scrolls_back() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    let sent = send_numbered(&mut alice, "general", 25);

    // Scroll back from past the newest in pages of 10.
    let mut before = sent[24] + 1;
    let mut pages = Vec::new();
    for _ in 0..4 {
        let page = alice.ok(&format!("/fetchHistory|general|{before}|10"));
        let page = ids(page.as_array().unwrap());
        if page.is_empty() {
            break;
        }
        before = page[0];
        pages.push(page);
    }
    assert_eq!(pages, [&sent[15..], &sent[5..15], &sent[..5]]);
    let page = alice.ok(&format!("/fetchHistory|general|{}|1000", sent[0]));
    assert_eq!(page, json!([]));
    let page = alice.ok(&format!("/fetchHistory|General|{}|2", sent[3]));
    let page = page.as_array().unwrap();
    assert_eq!(ids(page), sent[1..3]);
    assert_eq!(page[0]["text"], "m2");

    for line in [
        "/fetchHistory|general|0|10",
        "/fetchHistory|general|-3|10",
        "/fetchHistory|general|x|10",
        "/fetchHistory|general||10",
        "/fetchHistory|general|10|0",
        "/fetchHistory|general|10|1001",
        "/fetchHistory|general|10|",
    ] {
        let error = error_of(&alice.request(line), 400);
        assert!(
            error.contains("/fetchHistory|name|before_id|limit"),
            "{line}: {error}"
        );
    }
    assert_status(&alice.request("/fetchHistory|nowhere|10|10"), 404);
    assert_status(&bob.request("/fetchHistory|general|10|10"), 403);
}

/// Texts and room names with `|`, `\`, line feeds, emoji and other 4-byte
/// characters reach another client exactly as sent, both through
/// `/fetchMessages` and as pushed events; escapes on the wire decode as the
/// protocol says.
#[test]
fn escaped_text_round_trips_through_fetch_and_events() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let room = "pipe | and \\ slash 😀";
    alice.create_and_join(room);
    bob.join(room);
    bob.subscribe(room);
    let texts = [
        "a|b",
        "|",
        "||",
        "back\\slash",
        "\\",
        "ends with \\",
        "\\|",
        "\\n is not a line feed",
        "line\nfeed",
        "\n",
        "two\n\nblank\nlines\n",
        "emoji 😀👍🏽 and 𝄞 and 🇺🇳",
        "mixed \\|\n😀|\\",
        "tab\tand\u{1}control",
        "quote \" and json {\"status\":200}",
        "\r carriage return inside",
    ];
    let sent: Vec<Value> = texts.iter().map(|text| alice.send(room, text)).collect();
    for (message, text) in sent.iter().zip(texts) {
        assert_eq!(message["text"], text);
        assert_eq!(message["room"], room);
    }
    let fetched = bob.fetch_all(room);
    assert_eq!(fetched, sent);
    let pushed: Vec<Value> = (0..sent.len()).map(|_| bob.next_event()).collect();
    let expected: Vec<Value> = sent
        .iter()
        .map(|m| json!({"event": "message", "data": m}))
        .collect();
    assert_eq!(pushed, expected);
    assert_eq!(bob.ok("/getAllChatrooms"), json!([room]));

    // Escapes written by hand, to pin down the wire format itself.
    let reply = alice.request(r"/sendMessage|pipe \| and \\ slash 😀|a\|b\\c\nd");
    assert_status(&reply, 201);
    assert_eq!(reply["data"]["text"], "a|b\\c\nd");
}
