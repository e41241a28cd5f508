//! The server under test: a running one at an address, or a `pipechat-server`
//! process the bench starts on a temporary database and stops at the end.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::client::{Endpoint, Transport};
use super::{BenchError, Deadline};
use crate::store::SyncMode;

/// How long a spawned server may take to print `listening on`.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);
/// How long a spawned server may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How many of the server's warning lines a report quotes.
const QUOTED_LOG_LINES: usize = 5;

/// How to start a server.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The `pipechat-server` binary.
    pub binary: PathBuf,
    pub sync: SyncMode,
    /// Passed as `--max-connections` when set.
    pub max_connections: Option<usize>,
    /// Which of its doors the clients use.
    pub transport: Transport,
}

impl SpawnOptions {
    /// The `pipechat-server` that sits next to the running bench binary.
    pub fn binary_next_to_bench() -> std::io::Result<PathBuf> {
        Ok(std::env::current_exe()?.with_file_name("pipechat-server"))
    }
}

/// A temporary directory holding a database and the server's logs; removed
/// when dropped.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Result<Workspace, BenchError> {
        Ok(Workspace {
            dir: tempfile::Builder::new()
                .prefix("pipechat-bench-")
                .tempdir()?,
        })
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("chat.db")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A `pipechat-server` child process.
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    /// Its web front door (`web on http://ADDR/`).
    web: SocketAddr,
    stderr_log: PathBuf,
    transport: Transport,
    /// From spawning until the `listening on` line arrived.
    pub startup: Duration,
}

/// How a spawned server ended.
#[derive(Debug)]
pub struct Ending {
    /// `None` when it had to be killed.
    pub status: Option<ExitStatus>,
    /// Its WARN and ERROR log lines, the first few of them.
    pub problems: Vec<String>,
    pub problem_count: usize,
}

impl ServerProcess {
    /// Starts the server on `db` listening on a free loopback port and waits
    /// for its `listening on ADDR` line. Its standard error goes to a file in
    /// `log_dir`.
    pub fn spawn(
        db: &Path,
        log_dir: &Path,
        options: &SpawnOptions,
        deadline: &Deadline,
    ) -> Result<ServerProcess, BenchError> {
        if !options.binary.is_file() {
            return Err(BenchError::Usage(format!(
                "{} not found; build it next to the bench first: cargo build --release --bins",
                options.binary.display()
            )));
        }
        let runs = std::fs::read_dir(log_dir)?.count();
        let stderr_log = log_dir.join(format!("server-{runs}.log"));
        let stderr = std::fs::File::create(&stderr_log)?;
        let mut command = Command::new(&options.binary);
        command
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--sync")
            .arg(match options.sync {
                SyncMode::Normal => "normal",
                SyncMode::Full => "full",
            })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(max) = options.max_connections {
            command.arg("--max-connections").arg(max.to_string());
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(|err| {
            BenchError::Server(format!("cannot start {}: {err}", options.binary.display()))
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // `listening on ADDR`, then `web on http://ADDR/`.
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = reader.read_line(&mut line);
            let _ = tx.send((line, Instant::now()));
        });
        let limit = deadline.remaining().min(STARTUP_LIMIT);
        let mut server = ServerProcess {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            web: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_log,
            transport: options.transport,
            startup: Duration::ZERO,
        };
        let (line, at) = match rx.recv_timeout(limit) {
            Ok(got) => got,
            Err(_) => {
                let log = server.log_tail();
                let _ = server.stop();
                return Err(BenchError::Server(format!(
                    "the server printed no 'listening on' line within {limit:?}{log}"
                )));
            }
        };
        server.startup = at - started;
        let mut lines = line.lines();
        let addr = lines
            .next()
            .and_then(|line| line.trim().strip_prefix("listening on "))
            .and_then(|addr| addr.parse().ok());
        let web = lines
            .next()
            .and_then(|line| line.trim().strip_prefix("web on http://"))
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|addr| addr.parse().ok());
        match addr.zip(web) {
            Some((addr, web)) => {
                server.addr = addr;
                server.web = web;
            }
            None => {
                let log = server.log_tail();
                let _ = server.stop();
                return Err(BenchError::Server(format!(
                    "unexpected first line from the server: {line:?}{log}"
                )));
            }
        }
        Ok(server)
    }

    /// Where the clients connect, on the transport they were asked to use.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: match self.transport {
                Transport::Tcp | Transport::Irc => self.addr,
                Transport::Ws => self.web,
            },
            transport: self.transport,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The web front door, where `/ws` is.
    pub fn web_addr(&self) -> SocketAddr {
        self.web
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's resident memory, `VmRSS` from `/proc/PID/status`, in KiB.
    pub fn rss_kib(&self) -> Result<u64, BenchError> {
        self.status_field("VmRSS")
    }

    /// The number of threads the server runs now.
    pub fn threads(&self) -> Result<u64, BenchError> {
        self.status_field("Threads")
    }

    fn status_field(&self, field: &str) -> Result<u64, BenchError> {
        Ok(super::procfs::status_field(
            Some(self.running_pid()?),
            field,
        )?)
    }

    /// CPU time the server has used so far.
    pub fn cpu_time(&self) -> Result<Duration, BenchError> {
        Ok(super::procfs::cpu_time(Some(self.running_pid()?))?)
    }

    fn running_pid(&self) -> Result<u32, BenchError> {
        self.pid()
            .ok_or_else(|| BenchError::Server("the server has stopped".to_string()))
    }

    /// SIGTERM, then waits (killing it after a grace period) and collects
    /// the warnings it logged.
    pub fn stop(&mut self) -> Ending {
        let status = self.child.take().and_then(|mut child| {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let until = Instant::now() + STOP_GRACE;
            while Instant::now() < until {
                match child.try_wait() {
                    Ok(Some(status)) => return Some(status),
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => break,
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            None
        });
        let (problems, problem_count) = self.problems();
        Ending {
            status,
            problems,
            problem_count,
        }
    }

    /// The server's WARN and ERROR lines: the first few, and how many.
    fn problems(&self) -> (Vec<String>, usize) {
        let log = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let all: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
            .collect();
        let quoted = all
            .iter()
            .take(QUOTED_LOG_LINES)
            .map(|line| line.to_string())
            .collect();
        (quoted, all.len())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends with:\n{tail}")
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server a scenario talks to.
pub enum Target {
    /// Someone else's server, or several sharing one database; the bench
    /// never stops them.
    Remote(Vec<Endpoint>),
    /// A server this run started, with the temporary directory it runs in.
    Spawned {
        server: ServerProcess,
        workspace: Workspace,
    },
}

impl Target {
    /// Where the clients connect (the first node, with several).
    pub fn addr(&self) -> Endpoint {
        self.nodes()[0]
    }

    /// Every server the clients may connect to.
    pub fn nodes(&self) -> Vec<Endpoint> {
        match self {
            Target::Remote(endpoints) => endpoints.clone(),
            Target::Spawned { server, .. } => vec![server.endpoint()],
        }
    }

    /// Where client `i` of many connects: the nodes in turn.
    pub fn node_for(&self, i: usize) -> Endpoint {
        let nodes = self.nodes();
        nodes[i % nodes.len()]
    }

    /// Where subscriber `i` connects: with several nodes, all but the last
    /// in turn, so that publishers (on the last) reach them across nodes.
    pub fn subscriber_node(&self, i: usize) -> Endpoint {
        let nodes = self.nodes();
        match nodes.len() {
            1 => nodes[0],
            n => nodes[i % (n - 1)],
        }
    }

    /// Where publishers connect: the last node.
    pub fn publisher_node(&self) -> Endpoint {
        *self.nodes().last().expect("at least one node")
    }

    pub fn spawned(&self) -> Option<&ServerProcess> {
        match self {
            Target::Remote(_) => None,
            Target::Spawned { server, .. } => Some(server),
        }
    }

    /// Stops a spawned server and notes in `report` how it ended and what it
    /// logged as warnings; a remote server is left alone.
    pub fn finish(self, report: &mut super::report::Report) {
        let Target::Spawned {
            mut server,
            workspace,
        } = self
        else {
            return;
        };
        let ending = server.stop();
        match ending.status {
            Some(status) if status.success() => {}
            Some(status) => report.problem(format!("the server exited with {status}")),
            None => report.problem(format!(
                "the server did not exit within {STOP_GRACE:?} of SIGTERM and was killed"
            )),
        }
        if ending.problem_count > 0 {
            report.note(format!(
                "the server logged {} warning/error lines, e.g.:",
                ending.problem_count
            ));
            for line in ending.problems {
                report.note(format!("  {line}"));
            }
        }
        drop(workspace);
    }
}
