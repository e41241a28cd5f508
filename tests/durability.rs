//! What survives the server process: restarts, SIGKILL right after
//! acknowledged sends, and the database file itself.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::{TestServer, assert_status, password_of, wait_until};

/// Users, rooms, memberships and messages survive a SIGKILL restart and a
/// SIGTERM restart; who is active and who is subscribed do not.
#[test]
fn stored_state_survives_restarts_but_sessions_do_not() {
    let mut server = TestServer::start();
    let mut alice = server.login_as("Alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("Général");
    assert_status(&alice.request("/createChatroom|empty"), 201);
    bob.join("général");
    alice.subscribe("général");
    bob.subscribe("général");
    let mut sent = vec![
        alice.send("Général", "first | one"),
        bob.send("Général", "second\nline"),
    ];
    assert_eq!(alice.ok("/getActiveUsers"), json!(["Alice", "bob"]));

    for how in ["SIGKILL", "SIGTERM"] {
        if how == "SIGTERM" {
            assert!(server.terminate().success());
        }
        server.restart();
        // Old connections died with the process.
        assert!(alice.is_closed_by_server(), "{how}");
        assert!(bob.is_closed_by_server(), "{how}");

        alice = server.login_existing("alice", "Alice");
        // On SQLite at once; on PostgreSQL once the killed server's
        // presence expires (a few seconds).
        support::wait_until("only Alice is active", || {
            alice.ok("/getActiveUsers") == json!(["Alice"])
        });
        assert_eq!(alice.ok("/getAllChatrooms"), json!(["empty", "Général"]));
        assert_eq!(
            alice.ok("/getChatroomMembers|GÉNÉRAL"),
            json!(["Alice", "bob"])
        );
        assert_eq!(alice.ok("/getChatroomMembers|empty"), json!([]));
        assert_eq!(alice.fetch_all("général"), sent, "{how}");
        assert_status(&alice.call("/register", &["ALICE", "password-2"]), 409);
        assert_status(&alice.call("/createChatroom", &["GÉNÉRAL"]), 409);

        // Bob's membership is still there: he can send without joining.
        bob = server.login_existing("bob", "bob");
        let newer = bob.send("général", &format!("after {how}"));
        let newest_before = sent.last().unwrap()["id"].as_i64().unwrap();
        assert!(newer["id"].as_i64().unwrap() > newest_before);
        sent.push(newer);
        // Nobody is subscribed any more, so nobody heard it.
        assert!(alice.drain_events().is_empty(), "{how}");
        assert!(bob.drain_events().is_empty(), "{how}");
        alice.subscribe("général");
        bob.subscribe("général");
    }
}

/// Every message acknowledged with 201 is stored exactly once after the
/// server is killed with SIGKILL in the middle of a stream of sends.
#[test]
fn acknowledged_messages_survive_sigkill() {
    sends_through_a_stop(TestServer::kill, InFlight::MayBeStored);
}

/// A SIGTERM in the middle of a stream of sends answers every message it
/// stores: a message stored without its 201 would be sent again by a user
/// told it may not have gone, and appear twice.
#[test]
fn a_sigterm_answers_every_message_it_stores() {
    sends_through_a_stop(
        |server| assert!(server.terminate().success()),
        InFlight::Answered,
    );
}

/// A sender that writes its messages without waiting for each reply (a
/// script piping a file in) is answered for every message stored when a
/// SIGTERM comes: the server stops taking its lines, those it already read
/// included, and the connection ends once the stored ones are answered.
#[test]
fn a_sigterm_answers_every_message_a_pipelining_sender_had_stored() {
    /// Enough that the stop comes in the middle of them.
    const LINES: usize = 100_000;
    let mut server = TestServer::start();
    let mut piper = server.login_as("piper");
    piper.create_and_join("general");
    let mut writer = piper.stream().try_clone().expect("clone the stream");
    let writing = std::thread::spawn(move || {
        let lines: String = (0..LINES)
            .map(|i| format!("/sendMessage|general|p-{i}\n"))
            .collect();
        // The server stops reading part way: the rest cannot be written.
        let _ = writer.write_all(lines.as_bytes());
    });
    let mut acknowledged = HashMap::new();
    let mut stopped = false;
    while let Some(reply) = piper.try_next_line(support::DEADLINE) {
        if reply["status"] != 201 {
            continue;
        }
        let id = reply["data"]["id"].as_i64().unwrap();
        acknowledged.insert(id, reply["data"]["text"].clone());
        if acknowledged.len() == 2_000 && !stopped {
            support::signal(&server.child, "TERM");
            stopped = true;
        }
    }
    assert!(stopped, "only {} acknowledged", acknowledged.len());
    let status = support::wait_with_deadline(&mut server.child);
    assert!(status.success(), "{status:?}");
    writing.join().expect("the writing thread");
    assert!(
        !server.stderr().contains("did not finish in time"),
        "{}",
        server.stderr()
    );
    assert!(
        acknowledged.len() < LINES,
        "the stop came after the last line"
    );

    server.restart();
    let mut reader = server.login_existing("piper", "piper");
    let stored = reader.fetch_all("general");
    let unanswered: Vec<&Value> = stored
        .iter()
        .filter(|m| acknowledged.get(&m["id"].as_i64().unwrap()) != Some(&m["text"]))
        .collect();
    assert!(
        unanswered.is_empty(),
        "stored without a 201: {unanswered:?}"
    );
    assert_eq!(stored.len(), acknowledged.len());
}

/// What became of the message each sender had on its way when the server
/// stopped.
#[derive(PartialEq)]
enum InFlight {
    /// Stored or not, unanswered (the process died).
    MayBeStored,
    /// Stored only if answered.
    Answered,
}

/// Four senders send until the server, stopped by `stop` once 200 sends
/// are acknowledged, closes their connections; after a restart every
/// acknowledged message is stored once, and a sender's unacknowledged one
/// only as `in_flight` allows.
fn sends_through_a_stop(stop: impl FnOnce(&mut TestServer), in_flight: InFlight) {
    const SENDERS: usize = 4;
    /// Acknowledgements to collect before pulling the plug.
    const BEFORE_KILL: usize = 200;
    /// The most any sender sends, so the loop is bounded whatever happens.
    const MOST: usize = 5_000;
    let mut server = TestServer::start();
    let mut setup = server.login_as("setup");
    setup.create_and_join("general");
    let acked = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..SENDERS)
        .map(|n| {
            let mut client = server.login_as(&format!("sender{n}"));
            client.join("general");
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..MOST {
                    let line = format!("/sendMessage|general|{n}-{i}");
                    match client.try_request(&line) {
                        Some(reply) if reply["status"] == 201 => {
                            mine.push(reply["data"].clone());
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(reply) => panic!("send refused: {reply}"),
                        None => break,
                    }
                }
                mine
            })
        })
        .collect();
    wait_until("enough sends are acknowledged", || {
        acked.load(Ordering::SeqCst) >= BEFORE_KILL
    });
    stop(&mut server);
    let acknowledged: Vec<Vec<Value>> = threads
        .into_iter()
        .map(|t| t.join().expect("sender thread"))
        .collect();
    assert!(
        acknowledged.iter().all(|mine| mine.len() < MOST),
        "the server was not killed mid-stream"
    );

    server.restart();
    let mut reader = server.login_existing("setup", "setup");
    let stored = reader.fetch_all("general");
    let mut by_id: HashMap<i64, &Value> = HashMap::new();
    let mut by_text: BTreeMap<String, usize> = BTreeMap::new();
    for message in &stored {
        assert!(
            by_id
                .insert(message["id"].as_i64().unwrap(), message)
                .is_none()
        );
        *by_text
            .entry(message["text"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(by_text.values().all(|&count| count == 1), "duplicates");
    for (n, mine) in acknowledged.iter().enumerate() {
        for message in mine {
            let id = message["id"].as_i64().unwrap();
            assert_eq!(
                by_id.get(&id),
                Some(&message),
                "acknowledged {message} lost"
            );
        }
        // A sender's messages are stored as a prefix of what it sent: all it
        // had acknowledged, plus at most the one in flight at the stop.
        let stored_of_sender = stored
            .iter()
            .filter(|m| m["username"] == format!("sender{n}"))
            .count();
        let most = usize::from(in_flight == InFlight::MayBeStored);
        assert!(
            (mine.len()..=mine.len() + most).contains(&stored_of_sender),
            "sender{n}: {stored_of_sender} stored, {} acknowledged",
            mine.len()
        );
        for i in 0..stored_of_sender {
            assert_eq!(by_text.get(&format!("{n}-{i}")), Some(&1));
        }
    }
}

/// After a session and a clean stop the file passes `PRAGMA
/// integrity_check`, is marked as pipechat's, keeps only Argon2id hashes and
/// its `history` view reads back what was said.
#[test]
fn database_file_is_consistent_and_readable_after_a_session() {
    if support::postgres::skip_on_postgres("SQLite's file and pragmas") {
        return;
    }
    let mut server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("Bob");
    alice.create_and_join("General");
    bob.join("general");
    alice.send("general", "hello | bob");
    bob.send("General", "hi\nalice");
    assert_status(&alice.request("/exitChatroom|general"), 200);
    assert!(server.terminate().success());

    let db = server.open_db();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let application_id: i64 = db
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .unwrap();
    assert_eq!(application_id, pipechat::store::APPLICATION_ID);
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, pipechat::store::SCHEMA_VERSION);

    let mut statement = db
        .prepare("SELECT id, room, username, text, sent_at FROM history ORDER BY id")
        .unwrap();
    let history: Vec<(String, String, String)> = statement
        .query_map([], |row| Ok((row.get(1)?, row.get(2)?, row.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("General", "alice", "hello | bob"),
        ("General", "Bob", "hi\nalice"),
    ]
    .map(|(r, u, t)| (r.to_string(), u.to_string(), t.to_string()));
    assert_eq!(history, expected);

    let mut statement = db
        .prepare("SELECT username, password_hash FROM users ORDER BY id")
        .unwrap();
    let users: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(users.len(), 2);
    for (username, hash) in users {
        assert!(hash.starts_with("$argon2id$v=19$"), "{username}: {hash}");
        assert!(!hash.contains(&password_of(&username)));
    }
}
