//! Pushed events: `/subscribe`, `/unsubscribe`, what a subscriber receives,
//! when it stops receiving, and ordering under concurrent senders.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Client, TestServer, assert_status};

fn join_event(room: &str, username: &str) -> Value {
    json!({"event": "join", "data": {"room": room, "username": username}})
}

fn exit_event(room: &str, username: &str) -> Value {
    json!({"event": "exit", "data": {"room": room, "username": username}})
}

fn message_event(message: &Value) -> Value {
    json!({"event": "message", "data": message})
}

/// `/subscribe` and `/unsubscribe`: 200 with the room as created; 404 for no
/// such room; 403 for a room the user is not a member of.
#[test]
fn subscribe_and_unsubscribe_statuses() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("General");
    assert_eq!(
        alice.request("/subscribe|GENERAL"),
        json!({"status": 200, "data": {"room": "General"}})
    );
    // Subscribing twice is harmless and does not double the events.
    assert_status(&alice.request("/subscribe|general"), 200);
    assert_status(&alice.request("/subscribe|nowhere"), 404);
    let reply = bob.request("/subscribe|general");
    assert_status(&reply, 403);
    assert!(reply["error"].as_str().unwrap().contains("not a member"));
    assert_status(&bob.request("/unsubscribe|nowhere"), 404);
    // Unsubscribing from a room one is not subscribed to changes nothing.
    assert_eq!(
        bob.request("/unsubscribe|general"),
        json!({"status": 200, "data": {"room": "General"}})
    );
    bob.join("general");
    let sent = bob.send("general", "once");
    assert_eq!(
        alice.drain_events(),
        [join_event("General", "bob"), message_event(&sent)]
    );
    assert!(bob.drain_events().is_empty());
    assert_eq!(
        alice.request("/unsubscribe|general"),
        json!({"status": 200, "data": {"room": "General"}})
    );
}

/// A subscriber receives another member's join, message and exit as lines
/// without a `status` key; joining twice announces nothing.
#[test]
fn subscriber_receives_joins_messages_and_exits_of_others() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("Bob");
    alice.create_and_join("general");
    alice.subscribe("general");

    bob.join("GENERAL");
    assert_eq!(alice.next_event(), join_event("general", "Bob"));
    bob.join("general");
    let sent = bob.send("general", "hi | there\nsecond line 😀");
    let event = alice.next_event();
    assert!(event.get("status").is_none());
    assert_eq!(event, message_event(&sent));
    assert_eq!(event["data"]["text"], "hi | there\nsecond line 😀");
    assert_eq!(event["data"]["username"], "Bob");
    assert_status(&bob.request("/exitChatroom|general"), 200);
    assert_eq!(alice.next_event(), exit_event("general", "Bob"));
    // Events arrive between responses without disturbing them.
    assert_eq!(alice.ok("/getChatroomMembers|general"), json!(["alice"]));
    assert!(alice.drain_events().is_empty());
}

/// A subscriber also receives the events its own requests cause.
#[test]
fn subscriber_receives_events_of_its_own_requests() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    alice.subscribe("general");
    let sent = alice.send("general", "my own");
    assert_eq!(alice.next_event(), message_event(&sent));
    // Joining again changes nothing, so it announces nothing.
    alice.join("general");
    assert_status(&alice.request("/exitChatroom|general"), 200);
    assert_eq!(alice.next_event(), exit_event("general", "alice"));
    assert!(alice.drain_events().is_empty());
}

/// After `/unsubscribe` no more events of that room arrive; other
/// subscriptions of the connection go on.
#[test]
fn no_events_after_unsubscribe() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    alice.create_and_join("other");
    bob.join("general");
    bob.join("other");
    alice.subscribe("general");
    alice.subscribe("other");
    assert_status(&alice.request("/unsubscribe|General"), 200);
    bob.send("general", "unheard");
    // Committed after the message above, so any event of it would come first.
    let heard = bob.send("other", "heard");
    assert_eq!(alice.next_event(), message_event(&heard));
    assert!(alice.drain_events().is_empty());
    // The message is there; it was only not pushed.
    let texts: Vec<Value> = alice
        .fetch_all("general")
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("unheard")]);
}

/// `/exitChatroom` ends the leaver's subscriptions to that room on all of
/// their connections (after they see their own exit); others stay subscribed.
#[test]
fn exit_ends_the_users_subscriptions_on_all_connections() {
    let server = TestServer::start();
    let mut alice_a = server.login_as("alice");
    let mut alice_b = server.login_existing("alice", "alice");
    let mut bob = server.login_as("bob");
    alice_a.create_and_join("general");
    alice_a.create_and_join("other");
    bob.join("general");
    bob.join("other");
    for client in [&mut alice_a, &mut alice_b, &mut bob] {
        client.subscribe("general");
        client.subscribe("other");
    }

    assert_status(&alice_a.request("/exitChatroom|general|alice"), 200);
    for client in [&mut alice_a, &mut alice_b, &mut bob] {
        assert_eq!(client.next_event(), exit_event("general", "alice"));
    }
    alice_b.join("general");
    assert_eq!(bob.next_event(), join_event("general", "alice"));
    let unheard = bob.send("general", "alice no longer listens here");
    let heard = bob.send("other", "but still here");
    for alice in [&mut alice_a, &mut alice_b] {
        assert_eq!(alice.next_event(), message_event(&heard));
        assert!(alice.drain_events().is_empty());
    }
    assert_eq!(
        bob.drain_events(),
        [message_event(&unheard), message_event(&heard)]
    );
    // Membership is back, so subscribing again works.
    alice_a.subscribe("general");
    let again = bob.send("general", "heard again");
    assert_eq!(alice_a.next_event(), message_event(&again));
}

/// With several clients sending at once, a subscriber's message events come
/// in increasing id order with no gaps: exactly what `/fetchMessages` after
/// the last id seen before subscribing returns.
#[test]
fn events_arrive_in_id_order_without_gaps_under_concurrent_senders() {
    const SENDERS: usize = 4;
    const EACH: usize = 50;
    let server = TestServer::start();
    let mut watcher = server.login_as("watcher");
    watcher.create_and_join("general");
    let mut senders: Vec<Client> = (0..SENDERS)
        .map(|n| {
            let mut client = server.login_as(&format!("sender{n}"));
            client.join("general");
            client
        })
        .collect();
    let before = senders[0].send("general", "before subscribing")["id"]
        .as_i64()
        .unwrap();
    watcher.subscribe("general");

    let threads: Vec<_> = senders
        .drain(..)
        .enumerate()
        .map(|(n, mut client)| {
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| client.send("general", &format!("{n}-{i}"))["id"].as_i64())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut events = Vec::new();
    while events.len() < SENDERS * EACH {
        let event = watcher.next_event();
        assert_eq!(event["event"], "message", "{event}");
        events.push(event["data"].clone());
    }
    let acknowledged: BTreeSet<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("sender thread"))
        .map(Option::unwrap)
        .collect();

    let event_ids: Vec<i64> = events.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] < w[1]),
        "out of order: {event_ids:?}"
    );
    let fetched: Vec<Value> = watcher
        .fetch_all("general")
        .into_iter()
        .filter(|m| m["id"].as_i64().unwrap() > before)
        .collect();
    assert_eq!(events, fetched);
    assert_eq!(
        event_ids.iter().copied().collect::<BTreeSet<_>>(),
        acknowledged
    );
    assert!(watcher.drain_events().is_empty());
}

/// Logging in again as the same user keeps the connection's subscriptions;
/// logging in as someone else, or logging out, ends them.
#[test]
fn relogin_as_the_same_user_keeps_subscriptions() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("general");
    bob.join("general");
    alice.subscribe("general");
    alice.login("alice");
    let sent = bob.send("general", "still listening");
    assert_eq!(alice.drain_events(), [message_event(&sent)]);

    alice.login("bob");
    bob.send("general", "alice switched user");
    assert!(alice.drain_events().is_empty());
}
