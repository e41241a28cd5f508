//! The server under test: a real `pipechat-server` process on a temporary
//! database, and the process helpers around it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Client, DEADLINE, WsClient, password_of};

/// A running server process on its own temporary database.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The web front door's address (`web on` line), unless `--http off`.
    pub web: Option<SocketAddr>,
    /// The IRC front door's address (`irc on` line), when started with
    /// `--irc`.
    pub irc: Option<SocketAddr>,
    /// The IRC-over-TLS front door's address (`ircs on` line), when
    /// started with `--ircs`.
    pub ircs: Option<SocketAddr>,
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// The SQLite file (when the run is on SQLite).
    pub db: PathBuf,
    /// The PostgreSQL database's URL, when the run is on PostgreSQL (see
    /// `support::postgres`).
    pub db_url: Option<String>,
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
        let db_url = super::postgres::is_postgres().then(|| {
            let cluster = super::postgres::cluster_url()
                .expect("PIPECHAT_TEST_DB=postgres needs PIPECHAT_TEST_POSTGRES (a cluster URL)");
            super::postgres::fresh_database(&cluster)
        });
        TestServer::start_on(db_url, args, env)
    }

    /// Starts a server on a fresh SQLite file, whichever engine the run
    /// uses.
    pub fn start_sqlite() -> TestServer {
        TestServer::start_on(None, &[], &[])
    }

    /// Starts a server ("a node") on the PostgreSQL database at `url`,
    /// which other nodes may share.
    pub fn start_node(url: &str, args: &[&str]) -> TestServer {
        TestServer::start_on(Some(url.to_string()), args, &[])
    }

    fn start_on(db_url: Option<String>, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("chat.db");
        let extra_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut server = TestServer {
            addr: "127.0.0.1:0".parse().expect("an address"),
            web: None,
            irc: None,
            ircs: None,
            child: Command::new("true").spawn().expect("a placeholder process"),
            dir,
            db,
            db_url,
            extra_args,
            env,
        };
        server.spawn(0);
        server
    }

    /// What `--db` is given: the file, or the PostgreSQL URL.
    pub fn db_arg(&self) -> std::ffi::OsString {
        match &self.db_url {
            Some(url) => url.into(),
            None => self.db.clone().into(),
        }
    }

    /// Runs `pipechat-server <command> --db <this server's database>
    /// <username>` with `input` on its standard input, beside the server.
    pub fn operator(&self, command: &str, username: &str, input: &str) -> std::process::Output {
        let db = self.db_arg();
        run_to_exit_reading(
            &[
                command.as_ref(),
                "--db".as_ref(),
                db.as_os_str(),
                username.as_ref(),
            ],
            Some(input),
        )
    }

    fn spawn(&mut self, run: usize) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr, web, irc, ircs) = spawn_server(
            &self.db_arg(),
            self.dir.path(),
            &self.extra_args,
            &self.env,
            run,
        );
        self.child = child;
        self.addr = addr;
        self.web = web;
        self.irc = irc;
        self.ircs = ircs;
    }

    /// The rows of a query on the server's database, every value as text
    /// (NULL as ""): `sqlite` on SQLite, `postgres` on PostgreSQL.
    pub fn sql_rows(&self, sqlite: &str, postgres: &str) -> Vec<Vec<String>> {
        if let Some(url) = &self.db_url {
            return super::postgres::query_text(url, postgres);
        }
        let conn = self.open_db();
        let mut statement = conn.prepare(sqlite).expect("prepare");
        let columns = statement.column_count();
        statement
            .query_map([], |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => String::new(),
                            rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                            rusqlite::types::ValueRef::Real(x) => x.to_string(),
                            rusqlite::types::ValueRef::Text(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                            rusqlite::types::ValueRef::Blob(b) => {
                                b.iter().map(|byte| format!("{byte:02x}")).collect()
                            }
                        })
                    })
                    .collect()
            })
            .expect("query")
            .map(Result::unwrap)
            .collect()
    }

    /// Runs a statement on the server's database behind its back: `sqlite`
    /// on SQLite, `postgres` on PostgreSQL. Returns the rows changed.
    pub fn sql_execute(&self, sqlite: &str, postgres: &str) -> u64 {
        if let Some(url) = &self.db_url {
            let mut client = ::postgres::Client::connect(url, ::postgres::NoTls).expect("connect");
            return client.execute(postgres, &[]).expect("execute");
        }
        let conn = self.open_db_for_writing();
        conn.execute(sqlite, []).expect("execute") as u64
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

    /// Starts the server again on the same database and the same address,
    /// as clients that reconnect expect of a restart.
    pub fn restart_on_same_address(&mut self) {
        self.extra_args
            .extend(["--listen".to_string(), self.addr.to_string()]);
        self.restart();
    }

    /// Starts the server again on the same database, listening on `addr`.
    pub fn restart_on(&mut self, addr: SocketAddr) {
        self.addr = addr;
        self.restart_on_same_address();
    }

    /// Starts the server again on the same database and port-0 address.
    pub fn restart(&mut self) {
        let run = self.restarts();
        self.spawn(run);
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
    db: &std::ffi::OsStr,
    dir: &Path,
    extra: &[String],
    env: &[(String, String)],
    run: usize,
) -> (
    Child,
    SocketAddr,
    Option<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
) {
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
    let irc = extra.iter().any(|arg| arg == "--irc");
    let ircs = extra.iter().any(|arg| arg == "--ircs");
    let (addr, web, irc, ircs) = read_listening_lines(stdout, !http_off, irc, ircs);
    (child, addr, web, irc, ircs)
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
/// the `web on http://ADDR/` line after it when `web` is expected, the
/// `irc on ADDR` line after those when `irc` is, and `ircs on ADDR` when
/// `ircs` is.
fn read_listening_lines(
    stdout: impl Read + Send + 'static,
    web: bool,
    irc: bool,
    ircs: bool,
) -> (
    SocketAddr,
    Option<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = 1 + usize::from(web) + usize::from(irc) + usize::from(ircs);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..lines {
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
    // With TLS, the address is followed by " (TLS)".
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let addr = addr.parse().expect("listening address");
    let web = web.then(|| {
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("server printed no 'web on' line in time");
        let line = line.trim();
        let web = line
            .strip_prefix("web on http://")
            .or_else(|| line.strip_prefix("web on https://"))
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected second line: {line:?}"));
        web.parse().expect("web address")
    });
    let irc = irc.then(|| {
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("server printed no 'irc on' line in time");
        line.trim()
            .strip_prefix("irc on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected line instead of 'irc on': {line:?}"))
            .parse()
            .expect("IRC address")
    });
    let ircs = ircs.then(|| {
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("server printed no 'ircs on' line in time");
        line.trim()
            .strip_prefix("ircs on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected line instead of 'ircs on': {line:?}"))
            .parse()
            .expect("IRC-over-TLS address")
    });
    (addr, web, irc, ircs)
}

/// Sends the named signal (`TERM`, `INT`, `HUP`, `KILL`, `STOP`, `CONT`) to a
/// child process.
pub fn signal(child: &Child, name: &str) {
    use rustix::process::{Pid, Signal, kill_process};
    let signal = match name {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "HUP" => Signal::HUP,
        "KILL" => Signal::KILL,
        "STOP" => Signal::STOP,
        "CONT" => Signal::CONT,
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
/// or a database it refuses), with nothing but `args` (and `--http
/// 127.0.0.1:0` unless `args` name `--http` or a subcommand) on its command
/// line.
pub fn run_to_exit(args: &[&std::ffi::OsStr]) -> std::process::Output {
    run_to_exit_reading(args, None)
}

/// [`run_to_exit`], with `input` as its standard input (closed after it).
pub fn run_to_exit_reading(args: &[&std::ffi::OsStr], input: Option<&str>) -> std::process::Output {
    let named: Vec<String> = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    // The web front door on a free port, unless the test chose one; a
    // subcommand (`backup`) takes no server flags.
    let subcommand = named.first().is_some_and(|first| !first.starts_with('-'));
    let http = if subcommand {
        Vec::new()
    } else {
        default_http(&named)
    };
    let mut child = Command::new(server_binary())
        .args(args)
        .args(http)
        .env_remove("RUST_LOG")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipechat-server");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        // The program may refuse before reading it (and have exited).
        let _ = stdin.write_all(input.as_bytes());
    }
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
