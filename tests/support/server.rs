//! The server under test: a real `pipechat-server` process on a temporary
//! database, and the process helpers around it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Client, DEADLINE, password_of};

/// A running server process on its own temporary database.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The IRC front door's address, when started with `--irc`.
    pub irc: Option<SocketAddr>,
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
        let (child, addr, irc) = spawn_server(&db, dir.path(), &extra_args, &env, 0);
        TestServer {
            addr,
            irc,
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
        let (child, addr, irc) = spawn_server(
            &self.db,
            self.dir.path(),
            &self.extra_args,
            &self.env,
            self.restarts(),
        );
        self.child = child;
        self.addr = addr;
        self.irc = irc;
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
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start pipechat-server");
    let stdout = child.stdout.take().expect("stdout");
    let irc = extra.iter().any(|arg| arg == "--irc");
    let (addr, irc) = read_listening_lines(stdout, irc);
    (child, addr, irc)
}

/// Reads the `listening on ADDR` line the server prints once it accepts,
/// and the `irc on ADDR` line after it when `irc`.
fn read_listening_lines(
    stdout: impl Read + Send + 'static,
    irc: bool,
) -> (SocketAddr, Option<SocketAddr>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..if irc { 2 } else { 1 } {
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("server printed no 'listening on' line in time");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .expect("listening address");
    if !irc {
        return (addr, None);
    }
    let line = rx
        .recv_timeout(DEADLINE)
        .expect("server printed no 'irc on' line in time");
    let irc = line
        .trim()
        .strip_prefix("irc on ")
        .unwrap_or_else(|| panic!("unexpected second line: {line:?}"))
        .parse()
        .expect("IRC address");
    (addr, Some(irc))
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
