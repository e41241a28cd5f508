//! The shortest useful session, end to end through the real binary.

mod support;

use support::{TestServer, assert_status};

/// Greeting, register, login, create, join, send, fetch: the happy path.
#[test]
fn a_user_can_chat_in_a_room() {
    let server = TestServer::start();
    let mut alice = server.connect();
    assert_eq!(alice.greeting["status"], 200);
    assert_eq!(alice.greeting["data"]["server"], "pipechat");
    assert_eq!(alice.greeting["data"]["protocol"], 2);
    alice.register_and_login("alice");
    assert_status(&alice.request("/createChatroom|general"), 201);
    assert_status(&alice.request("/joinChatroom|general"), 200);
    let sent = alice.call("/sendMessage", &["general", "hello | world"]);
    assert_status(&sent, 201);
    assert_eq!(sent["data"]["text"], "hello | world");
    let fetched = alice.request("/fetchMessages|general");
    assert_eq!(fetched["data"][0], sent["data"]);
}
