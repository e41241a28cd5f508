//! One TCP client speaking the protocol as a program would.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{DEADLINE, password_of};

/// One TCP client speaking the protocol; keeps events aside while it waits
/// for responses.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    pub greeting: Value,
    pub events: VecDeque<Value>,
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        let mut client = Client::connect_without_greeting(addr);
        client.greeting = client.read_json().expect("greeting");
        client
    }

    pub fn connect_without_greeting(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client {
            stream,
            reader,
            greeting: Value::Null,
            events: VecDeque::new(),
        }
    }

    /// Writes raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Writes raw bytes, reporting failure (the server may be gone).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request line (a line feed is added) and returns its response,
    /// setting aside any events that arrive first.
    pub fn request(&mut self, line: &str) -> Value {
        self.send_raw(format!("{line}\n").as_bytes());
        self.response()
    }

    /// Builds a request from raw fields, escaping them, and returns the response.
    pub fn call(&mut self, command: &str, fields: &[&str]) -> Value {
        self.request(&pipechat::pipe::request::request_line(command, fields))
    }

    /// The next response line, setting aside events.
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

    /// Waits up to `within` for any line; `None` if nothing came.
    pub fn try_next_line(&mut self, within: Duration) -> Option<Value> {
        self.stream.set_read_timeout(Some(within)).expect("timeout");
        let value = self.read_json();
        self.stream
            .set_read_timeout(Some(DEADLINE))
            .expect("timeout");
        value
    }

    /// Sends a request and returns its response, or `None` when the
    /// connection broke first (the server died): for tests that kill it.
    pub fn try_request(&mut self, line: &str) -> Option<Value> {
        self.stream.write_all(format!("{line}\n").as_bytes()).ok()?;
        loop {
            let mut raw = String::new();
            match self.reader.read_line(&mut raw) {
                Ok(_) if raw.ends_with('\n') => {}
                _ => return None,
            }
            let value: Value = serde_json::from_str(&raw).ok()?;
            if value.get("status").is_some() {
                return Some(value);
            }
            self.events.push_back(value);
        }
    }

    /// One JSON line; `None` on timeout or end of stream.
    pub fn read_json(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "unterminated line {line:?}");
                Some(
                    serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}")),
                )
            }
        }
    }

    /// Whether the server closed this connection (reads end of stream in time).
    pub fn is_closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                // A signal to this process is not the server closing.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        false
    }

    /// A round trip (`/ping`) that sets aside every event queued for this
    /// connection before it. The server queues a request's events before it
    /// answers that request, so after another client's reply arrived, a
    /// barrier here has collected the events that reply caused.
    pub fn barrier(&mut self) {
        let reply = self.request("/ping");
        assert_eq!(reply, serde_json::json!({"status": 200, "data": "pong"}));
    }

    /// Every event set aside so far, after a [`Client::barrier`].
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

    pub fn register_and_login(&mut self, username: &str) {
        let password = password_of(username);
        let reply = self.call("/register", &[username, &password]);
        assert_eq!(reply["status"], 201, "register {username}: {reply}");
        self.login(username);
    }

    /// Logs in as a user registered earlier with [`password_of`].
    pub fn login(&mut self, username: &str) {
        let reply = self.call("/login", &[username, &password_of(username)]);
        assert_eq!(reply["status"], 200, "login {username}: {reply}");
    }
}
