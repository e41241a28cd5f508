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
        let (child, addr) = spawn_server(&db, dir.path(), &extra_args, &env, 0);
        TestServer {
            addr,
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
        let (child, addr) = spawn_server(
            &self.db,
            self.dir.path(),
            &self.extra_args,
            &self.env,
            self.restarts(),
        );
        self.child = child;
        self.addr = addr;
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
) -> (Child, SocketAddr) {
    let stderr = std::fs::File::create(dir.join(format!("stderr-{run}.log"))).expect("log file");
    let mut command = Command::new(server_binary());
    command
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start pipechat-server");
    let stdout = child.stdout.take().expect("stdout");
    let addr = read_listening_line(stdout);
    (child, addr)
}

/// Reads the `listening on ADDR` line the server prints once it accepts.
fn read_listening_line(stdout: impl Read + Send + 'static) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("server printed no 'listening on' line in time");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    addr.parse().expect("listening address")
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
    let mut child = Command::new(server_binary())
        .args(args)
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
    /// Stdout as it comes, in the pieces the reader thread got.
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Stdout received but not yet a whole line (a prompt, say).
    partial: Vec<u8>,
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
        let mut command = Command::new(client_binary());
        command.args(["--server", addr]).args(args);
        ClientProcess::spawn(command)
    }

    /// Starts the client at a terminal, as a person runs it: `script` (from
    /// util-linux) gives it a pseudo-terminal for stdin and stdout, so it
    /// edits lines with rustyline and reads passwords without echo. What the
    /// test types goes through the terminal, and stdout carries everything the
    /// terminal shows, escape sequences and `\r` included, so look for text
    /// the client prints whole (its messages), not for prompts.
    pub fn start_in_terminal(server: &TestServer, args: &[&str]) -> ClientProcess {
        let quote = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
        let addr = server.addr.to_string();
        let client = [client_binary(), "--server", &addr]
            .into_iter()
            .chain(args.iter().copied())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new("script");
        // -q: no start and end notes; -f: flush at once; -e: the client's
        // exit status; -c: the command; no typescript file.
        command
            .args(["-qfec", &client, "/dev/null"])
            .env("TERM", "xterm");
        ClientProcess::spawn(command)
    }

    fn spawn(mut command: Command) -> ClientProcess {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pipechat-client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (sender, chunks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buffer = [0u8; 4096];
            loop {
                match stdout.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if sender.send(buffer[..n].to_vec()).is_err() {
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
            chunks,
            partial: Vec::new(),
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Types lines, each followed by Enter, in one write: at a terminal
    /// they arrive at once, as a paste without bracketed paste does.
    pub fn paste_lines(&mut self, lines: &[&str]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let all: String = lines.iter().map(|line| format!("{line}\n")).collect();
        stdin
            .write_all(all.as_bytes())
            .expect("write to the client");
        stdin.flush().expect("flush");
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
        self.wait_for_text(needle, false)
    }

    /// As [`ClientProcess::wait_for`], but `needle` may also be on a line
    /// not finished yet, as a prompt is while it waits for the answer; the
    /// output up to the end of `needle` counts as seen, so waiting again
    /// for the same prompt waits for its next showing.
    #[track_caller]
    pub fn wait_for_prompt(&mut self, needle: &str) -> String {
        self.wait_for_text(needle, true)
    }

    #[track_caller]
    fn wait_for_text(&mut self, needle: &str, in_partial_line: bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            let found = self
                .partial
                .windows(needle.len())
                .position(|window| window == needle.as_bytes());
            if let (true, Some(start)) = (in_partial_line, found) {
                let upto: Vec<u8> = self.partial.drain(..start + needle.len()).collect();
                let upto = String::from_utf8_lossy(&upto).into_owned();
                self.seen.push(upto.clone());
                return upto;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.partial.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "no output containing {needle:?} in time; the client wrote:\n{}\n{}",
                    self.seen.join("\n"),
                    String::from_utf8_lossy(&self.partial)
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
        while let Ok(chunk) = self.chunks.recv_timeout(DEADLINE) {
            self.partial.extend_from_slice(&chunk);
        }
        let rest = String::from_utf8_lossy(&self.partial).into_owned();
        self.seen.extend(rest.lines().map(str::to_string));
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
