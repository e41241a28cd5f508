//! What the protocol clients of these tests share, whatever carries the
//! requests (a line over TCP or TLS, a WebSocket message): a request and its
//! response, with the events that arrive meanwhile set aside, and the helpers
//! tests build from them.
//!
//! A transport says how one request goes out and one JSON value comes back;
//! [`super::client`], [`super::tls`] and [`super::web`] add what only their
//! transport can do (raw bytes, certificates, close frames).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};

use serde_json::Value;

use super::password_of;

/// How one transport carries the protocol.
pub trait Transport {
    /// Sends one request, framed as this transport frames it.
    fn send_request(&mut self, request: &str);
    /// The next JSON value the server sent; `None` on timeout or at the end
    /// of the stream.
    fn read_json(&mut self) -> Option<Value>;
}

/// A byte stream carrying one request or reply per line (TCP, TLS).
pub struct Lines<S>(BufReader<S>);

impl<S: Read + Write> Lines<S> {
    pub fn new(stream: S) -> Lines<S> {
        Lines(BufReader::new(stream))
    }

    pub fn get_ref(&self) -> &S {
        self.0.get_ref()
    }

    /// Writes go straight to the stream; only reads are buffered.
    pub fn get_mut(&mut self) -> &mut S {
        self.0.get_mut()
    }

    /// The next line as read, line feed included unless the stream ended
    /// first; `None` at the end of the stream, on timeout or on error.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }

    /// Reads whatever comes, for tests that wait for the end of the stream.
    pub fn read_bytes(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Read + Write> Transport for Lines<S> {
    fn send_request(&mut self, request: &str) {
        let stream = self.get_mut();
        stream
            .write_all(format!("{request}\n").as_bytes())
            .expect("write");
        stream.flush().expect("flush");
    }

    fn read_json(&mut self) -> Option<Value> {
        let line = self.read_line()?;
        assert!(line.ends_with('\n'), "unterminated line {line:?}");
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}")))
    }
}

/// One protocol client over `T`; keeps events aside while it waits for
/// responses.
pub struct ProtocolClient<T> {
    pub(super) transport: T,
    pub greeting: Value,
    pub events: VecDeque<Value>,
}

impl<T: Transport> ProtocolClient<T> {
    /// A client that has read nothing yet.
    pub fn new(transport: T) -> ProtocolClient<T> {
        ProtocolClient {
            transport,
            greeting: Value::Null,
            events: VecDeque::new(),
        }
    }

    /// `self`, after reading the greeting.
    #[track_caller]
    pub fn greeted(mut self) -> ProtocolClient<T> {
        self.greeting = self.read_json().expect("a greeting");
        self
    }

    /// One JSON value; `None` on timeout or at the end of the stream.
    pub fn read_json(&mut self) -> Option<Value> {
        self.transport.read_json()
    }

    /// Sends one request and returns its response, setting aside any events
    /// that arrive first.
    pub fn request(&mut self, request: &str) -> Value {
        self.transport.send_request(request);
        self.response()
    }

    /// Builds a request from raw fields, escaping them, and returns the response.
    pub fn call(&mut self, command: &str, fields: &[&str]) -> Value {
        self.request(&pipechat::pipe::request::request_line(command, fields))
    }

    /// The next response, setting aside events.
    pub fn response(&mut self) -> Value {
        loop {
            let value = self.read_json().expect("a response before the deadline");
            if value.get("status").is_some() {
                return value;
            }
            self.events.push_back(value);
        }
    }

    /// The next event, waiting up to the deadline.
    pub fn next_event(&mut self) -> Value {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        let value = self.read_json().expect("an event before the deadline");
        assert!(
            value.get("event").is_some(),
            "expected an event, got {value}"
        );
        value
    }

    /// A round trip (`/ping`) that sets aside every event queued for this
    /// connection before it. The server queues a request's events before it
    /// answers that request, so after another client's reply arrived, a
    /// barrier here has collected the events that reply caused.
    pub fn barrier(&mut self) {
        let reply = self.request("/ping");
        assert_eq!(reply, serde_json::json!({"status": 200, "data": "pong"}));
    }

    /// Every event set aside so far, after a [`ProtocolClient::barrier`].
    pub fn drain_events(&mut self) -> Vec<Value> {
        self.barrier();
        self.events.drain(..).collect()
    }

    /// Sends a message (escaping it) and returns the stored message object.
    #[track_caller]
    pub fn send(&mut self, room: &str, text: &str) -> Value {
        let reply = self.call("/sendMessage", &[room, text]);
        assert_eq!(reply["status"], 201, "send to {room}: {reply}");
        reply["data"].clone()
    }

    /// Creates a room (asserting 201) and joins it.
    #[track_caller]
    pub fn create_and_join(&mut self, room: &str) {
        let reply = self.call("/createChatroom", &[room]);
        assert_eq!(reply["status"], 201, "create {room}: {reply}");
        self.join(room);
    }

    /// Joins a room, asserting 200.
    #[track_caller]
    pub fn join(&mut self, room: &str) {
        let reply = self.call("/joinChatroom", &[room]);
        assert_eq!(reply["status"], 200, "join {room}: {reply}");
    }

    /// Subscribes to a room, asserting 200.
    #[track_caller]
    pub fn subscribe(&mut self, room: &str) {
        let reply = self.call("/subscribe", &[room]);
        assert_eq!(reply["status"], 200, "subscribe {room}: {reply}");
    }

    /// The data of a request that must succeed with `200`.
    #[track_caller]
    pub fn ok(&mut self, line: &str) -> Value {
        let reply = self.request(line);
        assert_eq!(reply["status"], 200, "{line}: {reply}");
        reply["data"].clone()
    }

    /// The data of a request built from raw fields that must succeed with
    /// `200`.
    #[track_caller]
    pub fn ok_call(&mut self, command: &str, fields: &[&str]) -> Value {
        let reply = self.call(command, fields);
        assert_eq!(reply["status"], 200, "{command} {fields:?}: {reply}");
        reply["data"].clone()
    }

    /// Logs in with the password and returns the resume token issued.
    #[track_caller]
    pub fn login_for_token(&mut self, username: &str) -> String {
        let reply = self.call("/login", &[username, &password_of(username)]);
        assert_eq!(reply["status"], 200, "login {username}: {reply}");
        reply["data"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {reply}"))
            .to_string()
    }

    /// Every message of a room, oldest first, paging with `/fetchMessages`.
    pub fn fetch_all(&mut self, room: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map_or(0, |m| m["id"].as_i64().expect("id"));
            let reply = self.call("/fetchMessages", &[room, &after.to_string(), "1000"]);
            assert_eq!(reply["status"], 200, "fetch {room}: {reply}");
            let page = reply["data"].as_array().expect("array").clone();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// The texts of every message of a room or conversation, oldest first.
    pub fn texts(&mut self, room: &str) -> Vec<String> {
        self.fetch_all(room)
            .iter()
            .map(|message| message["text"].as_str().expect("a text").to_string())
            .collect()
    }

    /// Registers with [`password_of`] (asserting 201) and logs in.
    #[track_caller]
    pub fn register_and_login(&mut self, username: &str) {
        let password = password_of(username);
        let reply = self.call("/register", &[username, &password]);
        assert_eq!(reply["status"], 201, "register {username}: {reply}");
        self.login(username);
    }

    /// Logs in as a user registered earlier with [`password_of`].
    #[track_caller]
    pub fn login(&mut self, username: &str) {
        let reply = self.call("/login", &[username, &password_of(username)]);
        assert_eq!(reply["status"], 200, "login {username}: {reply}");
    }
}
