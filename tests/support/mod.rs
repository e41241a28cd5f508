//! Shared by every integration test: start the real `pipechat-server` binary on
//! a temporary database and talk to it over TCP as a client would.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running server process on its own temporary database.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The web front door's address (`web on` line), unless `--http off`.
    pub web: Option<SocketAddr>,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
}

impl TestServer {
    /// Starts a server on a fresh database.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts a server on a fresh database with extra command-line flags.
    pub fn start_with(args: &[&str]) -> TestServer {
        TestServer::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("chat.db");
        let extra_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, addr, web) = spawn_server(&db, dir.path(), &extra_args, &env, 0);
        TestServer {
            addr,
            web,
            child,
            dir,
            db,
            extra_args,
            env,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// The web front door's address; the server must have it on.
    pub fn web_addr(&self) -> SocketAddr {
        self.web.expect("the server was started with --http off")
    }

    /// A WebSocket client (no `Origin`, like a non-browser client) that has
    /// read the greeting.
    pub fn connect_ws(&self) -> WsClient {
        WsClient::connect(self.web_addr(), None)
    }

    /// A WebSocket client that registered and logged in as `username`.
    pub fn ws_login_as(&self, username: &str) -> WsClient {
        let mut client = self.connect_ws();
        let reply = client.call("/register", &[username, &password_of(username)]);
        assert_eq!(reply["status"], 201, "register {username}: {reply}");
        let reply = client.call("/login", &[username, &password_of(username)]);
        assert_eq!(reply["status"], 200, "login {username}: {reply}");
        client
    }

    /// A connection whose greeting is left unread, to check refusals.
    pub fn connect_raw(&self) -> Client {
        Client::connect_without_greeting(self.addr)
    }

    /// A connected client that registered and logged in as `username`.
    pub fn login_as(&self, username: &str) -> Client {
        let mut client = self.connect();
        client.register_and_login(username);
        client
    }

    /// A new connection logged in (as `login_name`, any case) to the user
    /// `login_as` registered earlier as `registered`.
    pub fn login_existing(&self, login_name: &str, registered: &str) -> Client {
        let mut client = self.connect();
        let reply = client.call("/login", &[login_name, &password_of(registered)]);
        assert_eq!(reply["status"], 200, "login {login_name}: {reply}");
        client
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends the named signal (`TERM`, `INT`, ...) and waits for the process to exit.
    pub fn stop_with(&mut self, name: &str) -> ExitStatus {
        signal(&self.child, name);
        wait_with_deadline(&mut self.child)
    }

    /// Opens the server's database directly, for checks behind the server's back.
    pub fn open_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database")
    }

    /// Opens the server's database for writing too, as another process
    /// (e.g. `sqlite3`) would; waits up to 10 s for locks.
    pub fn open_db_for_writing(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.db).expect("open the database");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn
    }

    /// Kills the process outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same database and port-0 address.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr, web) = spawn_server(
            &self.db,
            self.dir.path(),
            &self.extra_args,
            &self.env,
            self.restarts(),
        );
        self.child = child;
        self.addr = addr;
        self.web = web;
    }

    fn restarts(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("stderr"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Everything the server (every run of it) wrote to standard error.
    pub fn stderr(&self) -> String {
        let mut all = String::new();
        for run in 0..self.restarts() {
            let path = self.dir.path().join(format!("stderr-{run}.log"));
            all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        all
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn server_binary() -> &'static str {
    env!("CARGO_BIN_EXE_pipechat-server")
}

fn spawn_server(
    db: &Path,
    dir: &Path,
    extra: &[String],
    env: &[(String, String)],
    run: usize,
) -> (Child, SocketAddr, Option<SocketAddr>) {
    let stderr = std::fs::File::create(dir.join(format!("stderr-{run}.log"))).expect("log file");
    let mut command = Command::new(server_binary());
    command
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0"])
        .args(default_http(extra))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start pipechat-server");
    let stdout = child.stdout.take().expect("stdout");
    let http_off = extra
        .windows(2)
        .any(|pair| pair[0] == "--http" && pair[1] == "off");
    let (addr, web) = read_listening_lines(stdout, !http_off);
    (child, addr, web)
}

/// `--http 127.0.0.1:0` unless the test chose its own `--http`: parallel
/// tests must not all try the default port.
fn default_http(extra: &[String]) -> Vec<&'static str> {
    if extra.iter().any(|arg| arg == "--http") {
        Vec::new()
    } else {
        vec!["--http", "127.0.0.1:0"]
    }
}

/// Reads the `listening on ADDR` line the server prints once it accepts,
/// and the `web on http://ADDR/` line after it when `web` is expected.
fn read_listening_lines(
    stdout: impl Read + Send + 'static,
    web: bool,
) -> (SocketAddr, Option<SocketAddr>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..if web { 2 } else { 1 } {
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if tx.send(line).is_err() {
                return;
            }
        }
        // Keep the pipe open and drained for the server's life.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("server printed no 'listening on' line in time");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let addr = addr.parse().expect("listening address");
    if !web {
        return (addr, None);
    }
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("server printed no 'web on' line in time");
    let web = line
        .trim()
        .strip_prefix("web on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected second line: {line:?}"));
    (addr, Some(web.parse().expect("web address")))
}

/// Sends the named signal (`TERM`, `INT`, `HUP`, `KILL`) to a child process.
pub fn signal(child: &Child, name: &str) {
    use rustix::process::{Pid, Signal, kill_process};
    let signal = match name {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "HUP" => Signal::HUP,
        "KILL" => Signal::KILL,
        other => panic!("no signal {other} in the tests' list"),
    };
    let pid = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
    kill_process(pid, signal).unwrap_or_else(|err| panic!("kill -{name}: {err}"));
}

pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the server binary with `args` until it exits by itself (e.g. `--help`,
/// or a database it refuses), with nothing but `args` on its command line.
pub fn run_to_exit(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let named: Vec<String> = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let mut child = Command::new(server_binary())
        .args(args)
        .args(default_http(&named))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipechat-server");
    let status = wait_with_deadline(&mut child);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr).expect("read stderr");
    }
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// Polls `condition` until it holds, failing the test if it does not within
/// [`DEADLINE`]. For state the server changes on its own (a disconnect being
/// noticed), where there is no reply to wait for.
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

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

/// The password tests use for a user.
pub fn password_of(username: &str) -> String {
    format!("pw-of-{username}-123")
}

/// Asserts a reply's status, showing the reply when it differs.
#[track_caller]
pub fn assert_status(reply: &Value, status: u16) {
    assert_eq!(reply["status"], status, "unexpected reply {reply}");
    if status >= 400 {
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "error replies carry a sentence: {reply}"
        );
    }
}

pub fn client_binary() -> &'static str {
    env!("CARGO_BIN_EXE_pipechat-client")
}

/// A `pipechat-client` process driven like a script: lines are written to its
/// stdin, and its stdout is read line by line on a thread so a test can wait,
/// with a deadline, for a line to appear.
pub struct ClientProcess {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stdout line read so far, in order.
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// How a client process ended, with everything it wrote.
pub struct ClientOutcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ClientProcess {
    /// Starts the client against `server` with extra arguments.
    pub fn start(server: &TestServer, args: &[&str]) -> ClientProcess {
        ClientProcess::start_at(&server.addr.to_string(), args)
    }

    /// Starts the client against any address.
    pub fn start_at(addr: &str, args: &[&str]) -> ClientProcess {
        let mut child = Command::new(client_binary())
            .args(["--server", addr])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pipechat-client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        if sender
                            .send(text.trim_end_matches('\n').to_string())
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        ClientProcess {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Types lines, each followed by Enter.
    pub fn type_lines(&mut self, lines: &[&str]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        for line in lines {
            stdin
                .write_all(format!("{line}\n").as_bytes())
                .expect("write to the client");
        }
        stdin.flush().expect("flush");
    }

    /// Waits up to the deadline for a stdout line containing `needle`, and
    /// returns it; lines before it are kept in `seen`.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?} in time; the client wrote:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Closes stdin (end of input) and waits for the process to exit.
    pub fn finish(mut self) -> ClientOutcome {
        drop(self.stdin.take());
        self.wait_for_exit()
    }

    /// Waits for the process to exit on its own, stdin left open.
    pub fn wait_for_exit(mut self) -> ClientOutcome {
        let status = wait_with_deadline(&mut self.child);
        // The process is gone, so its pipes end: these loops are bounded.
        while let Ok(line) = self.lines.recv_timeout(DEADLINE) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|thread| thread.join().expect("stderr reader"))
            .unwrap_or_default();
        ClientOutcome {
            status,
            stdout: self.seen.join("\n"),
            stderr,
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebSocket client speaking the protocol over `/ws`; keeps events aside
/// while it waits for responses, like [`Client`].
pub struct WsClient {
    pub socket: tungstenite::WebSocket<TcpStream>,
    pub greeting: Value,
    pub events: VecDeque<Value>,
}

/// How a WebSocket handshake went.
pub enum Handshake {
    Open(Box<WsClient>),
    /// Refused with this HTTP status and body.
    Refused(u16, String),
}

impl WsClient {
    /// Connects to `/ws` (with `origin` as the `Origin` header, if any) and
    /// reads the greeting.
    #[track_caller]
    pub fn connect(web: SocketAddr, origin: Option<&str>) -> WsClient {
        match WsClient::try_connect(web, origin) {
            Handshake::Open(mut client) => {
                client.greeting = client.read_json().expect("greeting");
                *client
            }
            Handshake::Refused(status, body) => panic!("handshake refused: {status} {body}"),
        }
    }

    /// Connects to `/ws` without reading anything after the handshake.
    pub fn try_connect(web: SocketAddr, origin: Option<&str>) -> Handshake {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(web).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut request = format!("ws://{web}/ws")
            .into_client_request()
            .expect("request");
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().expect("origin header"));
        }
        match tungstenite::client::client(request, stream) {
            Ok((socket, _)) => Handshake::Open(Box::new(WsClient {
                socket,
                greeting: Value::Null,
                events: VecDeque::new(),
            })),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Handshake::Refused(response.status().as_u16(), body)
            }
            Err(err) => panic!("handshake failed: {err}"),
        }
    }

    /// Sends one text message as it is.
    pub fn send_text(&mut self, text: &str) {
        self.socket
            .send(tungstenite::Message::text(text))
            .expect("send");
    }

    /// Sends one request message and returns its response.
    pub fn request(&mut self, text: &str) -> Value {
        self.send_text(text);
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

    /// The next text message, whole; `None` at the end of the connection
    /// or on timeout. Each message must be exactly one JSON object, with
    /// no line feed.
    pub fn read_text(&mut self) -> Option<String> {
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(text)) => return Some(text.as_str().to_string()),
                Ok(tungstenite::Message::Close(_)) => continue,
                Ok(other) => panic!("unexpected message {other:?}"),
                Err(_) => return None,
            }
        }
    }

    /// One JSON message; `None` on timeout or end of stream.
    pub fn read_json(&mut self) -> Option<Value> {
        let text = self.read_text()?;
        assert!(!text.contains('\n'), "a line feed in a message: {text:?}");
        Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}")))
    }

    /// Reads until the server ends the connection; returns the close frame's
    /// code if one came. Fails the test if it stays open past the deadline.
    #[track_caller]
    pub fn closed_by_server(&mut self) -> Option<u16> {
        let mut code = None;
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Close(frame)) => {
                    code = frame.map(|f| u16::from(f.code));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("the server kept the WebSocket open past the deadline")
                }
                Err(_) => return code,
            }
        }
    }

    /// A `/ping` round trip that sets aside every event queued before it.
    pub fn barrier(&mut self) {
        let reply = self.request("/ping");
        assert_eq!(reply, serde_json::json!({"status": 200, "data": "pong"}));
    }
}

/// One plain HTTP/1.1 request to the web front door; returns the status,
/// the headers (names in lower case) and the body. The server closes the
/// connection after each response.
pub fn http_request(
    web: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpReply {
    let mut stream = TcpStream::connect(web).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {web}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body,
    }
}

/// What [`http_request`] got.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The value of the header `name` (lower case); fails if absent.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}
