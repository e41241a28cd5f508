//! Many clients at once: racing registrations and concurrent senders.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::SendFlags;

use serde_json::Value;
use support::{Client, TestServer, assert_status};

/// 20 threads register one name at the same moment (in different cases):
/// exactly one gets 201, the other 19 get 409, and the winner's password is
/// the one that logs in.
#[test]
fn racing_registrations_of_one_name_have_one_winner() {
    const RACERS: usize = 20;
    let server = TestServer::start();
    let start = Arc::new(Barrier::new(RACERS));
    let threads: Vec<_> = (0..RACERS)
        .map(|n| {
            let mut client = server.connect();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let name = if n % 2 == 0 { "racer" } else { "RACER" };
                let password = format!("password-{n}");
                start.wait();
                let reply = client.call("/register", &[name, &password]);
                (name, password, reply)
            })
        })
        .collect();
    let outcomes: Vec<(&str, String, Value)> = threads
        .into_iter()
        .map(|t| t.join().expect("racer thread"))
        .collect();
    let winners: Vec<_> = outcomes.iter().filter(|o| o.2["status"] == 201).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for (_, _, reply) in &outcomes {
        if reply["status"] != 201 {
            assert_status(reply, 409);
        }
    }
    let (name, password, reply) = winners[0];
    assert_eq!(reply["data"]["username"], *name);
    let mut client = server.connect();
    let reply = client.call("/login", &["Racer", password]);
    assert_status(&reply, 200);
    assert_eq!(reply["data"]["username"], *name);
    let loser = outcomes.iter().find(|o| o.2["status"] == 409).unwrap();
    assert_status(&client.call("/login", &["racer", &loser.1]), 401);
}

/// 8 threads send 50 messages each into one room at once: every send gets
/// 201 with a unique id, each sender's ids increase, and fetching returns
/// exactly those 400 messages.
#[test]
fn concurrent_senders_lose_nothing() {
    const SENDERS: usize = 8;
    const EACH: usize = 50;
    let server = TestServer::start();
    let mut reader = server.login_as("reader");
    reader.create_and_join("general");
    let clients: Vec<Client> = (0..SENDERS)
        .map(|n| {
            let mut client = server.login_as(&format!("sender{n}"));
            client.join("general");
            client
        })
        .collect();
    let start = Arc::new(Barrier::new(SENDERS));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut client)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|i| client.send("general", &format!("{n}:{i}")))
                    .collect::<Vec<Value>>()
            })
        })
        .collect();
    let sent: Vec<Vec<Value>> = threads
        .into_iter()
        .map(|t| t.join().expect("sender thread"))
        .collect();

    let mut ids = BTreeSet::new();
    for (n, mine) in sent.iter().enumerate() {
        let my_ids: Vec<i64> = mine.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(
            my_ids.windows(2).all(|w| w[0] < w[1]),
            "sender{n}: {my_ids:?}"
        );
        for (i, message) in mine.iter().enumerate() {
            assert_eq!(message["text"], format!("{n}:{i}"));
            assert_eq!(message["username"], format!("sender{n}"));
        }
        ids.extend(my_ids);
    }
    assert_eq!(ids.len(), SENDERS * EACH, "ids are not unique");

    let fetched = reader.fetch_all("general");
    assert_eq!(fetched.len(), SENDERS * EACH);
    let fetched_ids: Vec<i64> = fetched.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(fetched_ids, ids.iter().copied().collect::<Vec<_>>());
    let mut expected: Vec<&Value> = sent.iter().flatten().collect();
    expected.sort_by_key(|m| m["id"].as_i64());
    assert_eq!(fetched.iter().collect::<Vec<_>>(), expected);
}

/// A client that writes a burst of requests without waiting gets its replies
/// in the order of its requests, each request seeing the ones before it, also
/// when its messages join other clients' group commits (their replies are
/// then written by the thread that committed them) and when some fail.
#[test]
fn a_burst_of_sends_is_answered_in_order_while_others_send() {
    let server = TestServer::start();
    let mut bursty = server.login_as("bursty");
    bursty.create_and_join("general");
    while_others_send(&server, || {
        bursty.send_raw(burst().concat().as_bytes());
        check_burst_replies(|| bursty.response());
    });
    assert_status(&bursty.request("/ping"), 200);
}

/// The same over the WebSocket, one request per text message.
#[test]
fn a_burst_of_sends_over_the_websocket_is_answered_in_order() {
    let server = TestServer::start();
    let mut bursty = server.ws_login_as("bursty");
    assert_status(&bursty.call("/createChatroom", &["general"]), 201);
    assert_status(&bursty.call("/joinChatroom", &["general"]), 200);
    while_others_send(&server, || {
        for request in burst() {
            bursty.send_text(request.trim_end());
        }
        check_burst_replies(|| bursty.response());
    });
    assert_status(&bursty.request("/ping"), 200);
}

const BURST: usize = 60;

/// Stored sends, sends refused inside the transaction (like a stored
/// message, their reply waits for the commit) and fetches, one per line.
fn burst() -> Vec<String> {
    (0..BURST)
        .map(|i| match i % 3 {
            0 => format!("/sendMessage|general|burst {i}\n"),
            1 => "/sendMessage|nowhere|lost\n".to_string(),
            _ => "/fetchMessages|general\n".to_string(),
        })
        .collect()
}

fn check_burst_replies(mut response: impl FnMut() -> Value) {
    let mut last_sent = None;
    for i in 0..BURST {
        let reply = response();
        match i % 3 {
            0 => {
                assert_status(&reply, 201);
                assert_eq!(reply["data"]["text"], format!("burst {i}"), "{reply}");
                last_sent = reply["data"]["id"].as_i64();
            }
            1 => assert_status(&reply, 404),
            _ => {
                // The newest message is at least as new as the burst's last.
                assert_status(&reply, 200);
                let newest = reply["data"].as_array().unwrap().last().unwrap();
                let latest = newest["id"].as_i64().unwrap();
                let sent = last_sent.unwrap();
                assert!(latest >= sent, "fetch {i} saw {latest}, before {sent}");
            }
        }
    }
}

/// Runs `burst` while four other clients send to `general`, keeping the
/// writer busy so that the burst's messages queue for group commits instead
/// of committing alone on their own thread.
fn while_others_send(server: &TestServer, burst: impl FnOnce()) {
    const OTHERS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let others: Vec<_> = (0..OTHERS)
        .map(|n| {
            let mut client = server.login_as(&format!("other{n}"));
            client.join("general");
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::SeqCst) && sent < 5_000 {
                    client.send("general", &format!("other {n}"));
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    burst();
    stop.store(true, Ordering::SeqCst);
    for other in others {
        assert!(other.join().expect("sender thread") > 0);
    }
}

/// A client that sends its last message and half-closes at once (`printf
/// ... | nc -N`) still gets that message's `201` before the server closes,
/// also when the message is committed by another thread.
#[test]
fn a_send_then_a_half_close_still_gets_its_reply() {
    let server = TestServer::start();
    server.login_as("owner").create_and_join("general");
    let token = server.login_as("leaver").login_for_token("leaver");
    while_others_send(&server, || {
        for i in 0..10 {
            let mut leaver = server.connect();
            leaver.send_raw(format!("/resume|{token}\n/joinChatroom|general\n").as_bytes());
            assert_status(&leaver.response(), 200);
            leaver.response();
            leaver.send_raw(format!("/sendMessage|general|last words {i}\n").as_bytes());
            leaver
                .stream()
                .shutdown(std::net::Shutdown::Write)
                .expect("half-close");
            let reply = leaver.response();
            assert_status(&reply, 201);
            assert_eq!(reply["data"]["text"], format!("last words {i}"));
            assert!(leaver.is_closed_by_server());
        }
    });
}

/// Over the WebSocket, a message followed at once by a close frame, or by a
/// text frame that is not UTF-8 (which ends the connection), gets its `201`
/// before the server's close frame.
#[test]
fn a_send_then_a_close_over_the_websocket_gets_its_reply_first() {
    let server = TestServer::start();
    server.login_as("owner").create_and_join("general");
    let token = server.login_as("leaver").login_for_token("leaver");
    while_others_send(&server, || {
        for (i, (ending, code)) in [(close_frame(), 1000), (not_utf8_frame(), 1007)]
            .into_iter()
            .cycle()
            .take(10)
            .enumerate()
        {
            let mut leaver = server.connect_ws();
            assert_status(&leaver.call("/resume", &[&token]), 200);
            assert_status(&leaver.call("/joinChatroom", &["general"]), 200);
            let mut frames = text_frame(&format!("/sendMessage|general|last words {i}"));
            frames.extend(ending);
            std::io::Write::write_all(leaver.socket().get_mut(), &frames).expect("write");
            let reply = leaver.response();
            assert_status(&reply, 201);
            assert_eq!(reply["data"]["text"], format!("last words {i}"));
            assert_eq!(leaver.closed_by_server(), Some(code));
        }
    });
}

/// A masked client frame, by hand (tungstenite sends only valid ones).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn text_frame(text: &str) -> Vec<u8> {
    client_frame(0x1, text.as_bytes())
}

fn close_frame() -> Vec<u8> {
    client_frame(0x8, &1000u16.to_be_bytes())
}

fn not_utf8_frame() -> Vec<u8> {
    client_frame(0x1, b"/ping\xff")
}

/// A connection the server closes (here at SIGTERM) stops taking the
/// requests still buffered for it: messages it could no longer acknowledge
/// are not stored. Only those already being handled when it closed may be
/// stored without a reply.
#[test]
fn a_closed_connection_stops_storing_what_it_can_no_longer_acknowledge() {
    const SENDS: usize = 20_000;
    let mut server = TestServer::start();
    let mut client = server.login_as("hasty");
    client.create_and_join("general");
    let mut requests = client.stream().try_clone().expect("a second handle");
    let sender = std::thread::spawn(move || {
        let burst: String = (0..SENDS)
            .map(|i| format!("/sendMessage|general|m {i}\n"))
            .collect();
        // Fails once the server has closed the connection.
        let _ = std::io::Write::write_all(&mut requests, burst.as_bytes());
    });
    let mut acknowledged = 0;
    while acknowledged < 500 {
        assert_status(&client.response(), 201);
        acknowledged += 1;
    }
    support::signal(&server.child, "TERM");
    while let Some(reply) = client.read_json() {
        if reply.get("status").is_some_and(|status| status == 201) {
            acknowledged += 1;
        }
    }
    assert!(support::wait_with_deadline(&mut server.child).success());
    sender.join().expect("sender thread");
    let count = "SELECT count(*) FROM messages";
    let stored: usize = server.sql_rows(count, count)[0][0]
        .parse()
        .expect("a count");
    assert!(
        stored >= acknowledged,
        "{acknowledged} acknowledged, {stored} stored"
    );
    assert!(
        stored - acknowledged <= 200,
        "{} messages stored after their connection was closed",
        stored - acknowledged
    );
}

/// A client that sends faster than it reads is held back, not cut off as a
/// slow consumer: once its unread replies fill the sockets, the server stops
/// reading its requests, and every request is still stored and answered in
/// order when the client reads again.
#[test]
fn a_client_that_sends_faster_than_it_reads_is_held_back_not_cut_off() {
    // About 30 MB each way: more than the sockets' buffers and the server's
    // queue for one connection (1 MiB) can hold.
    const SENDS: usize = 8_000;
    let server = TestServer::start();
    let mut client = server.login_as("hasty");
    client.create_and_join("general");
    let filler = "x".repeat(3_900);
    let burst: Vec<u8> = (0..SENDS)
        .map(|i| format!("/sendMessage|general|{i} {filler}\n"))
        .collect::<String>()
        .into_bytes();
    // Write without reading until the server takes no more: the socket stays
    // unwritable for a second. (Were the server slow for a second instead,
    // the client would only start reading early; nothing here can fail on
    // a server that holds it back.)
    let mut written = 0;
    while written < burst.len() {
        match rustix::net::send(client.stream(), &burst[written..], SendFlags::DONTWAIT) {
            Ok(sent) => written += sent,
            Err(Errno::AGAIN) if writable_within(client.stream(), Duration::from_secs(1)) => {}
            Err(Errno::AGAIN) => break,
            Err(err) => panic!("the server closed the connection ({err}) after {written} bytes"),
        }
    }
    assert!(
        written < burst.len(),
        "the server read all {} bytes of requests with no reply read",
        burst.len()
    );
    let mut rest = client.stream().try_clone().expect("a second handle");
    let writer = std::thread::spawn(move || rest.write_all(&burst[written..]));
    for i in 0..SENDS {
        let reply = client.response();
        assert_status(&reply, 201);
        let text = reply["data"]["text"].as_str().expect("the message's text");
        assert!(
            text.starts_with(&format!("{i} ")),
            "reply {i} is for {text:.10}"
        );
    }
    writer
        .join()
        .expect("writer thread")
        .expect("every request written");
    assert_eq!(client.call("/ping", &[])["data"], "pong");
}

fn writable_within(stream: &std::net::TcpStream, wait: Duration) -> bool {
    let mut fds = [PollFd::new(stream, PollFlags::OUT)];
    let wait = Timespec::try_from(wait).expect("a duration poll takes");
    matches!(rustix::event::poll(&mut fds, Some(&wait)), Ok(ready) if ready > 0)
}
