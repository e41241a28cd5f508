//! `pipechat-bench`: load scenarios that drive a pipechat server through a
//! front door (`--transport`: pipe lines over TCP, WebSocket, or IRC) and
//! measure it from the outside, as its clients see it.
//!
//! A run targets a server already listening (`--server ADDR`) or starts the
//! `pipechat-server` binary next to the bench on a temporary database
//! (`--spawn`). Each scenario sets up its users and room first, untimed, then
//! measures, then returns a [`report::Report`].
//!
//! # Layout
//!
//! - [`cli`]: the command line: global options, one subcommand per scenario.
//! - [`client`]: a blocking protocol client built for load.
//! - [`target`]: the server under test; spawning, stopping and reading its memory.
//! - [`procfs`]: memory, threads and CPU time of a process from `/proc`.
//! - [`setup`]: users and rooms: seeded into a spawned server's database, or
//!   registered over the wire.
//! - [`subscribers`]: reads thousands of subscriber sockets with epoll.
//! - [`scenarios`]: `send`, `fanout` (also over IRC, beside ngircd), `idle`,
//!   `history`, `login`, `search`, `unread`, and `all`.
//! - [`stats`]: samples and exact percentiles.
//! - [`report`]: a scenario's figures as a table or as JSON.
//! - [`progress`]: progress bars on standard error.

pub mod cli;
pub mod client;
pub mod procfs;
pub mod progress;
pub mod report;
pub mod scenarios;
pub mod setup;
pub mod stats;
pub mod subscribers;
pub mod target;

use std::io::Write;
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use cli::Cli;
use client::Endpoint;
use report::Report;
use target::SpawnOptions;

/// Why a scenario could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("the run's deadline (--timeout) passed while {0}")]
    Timeout(String),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("server: {0}")]
    Server(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("hashing: {0}")]
    Hash(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{step}: failed after {done} of {total} were ready: {source}")]
    Setup {
        step: String,
        done: usize,
        total: usize,
        source: Box<BenchError>,
    },
    /// A scenario failed on a spawned server, which logged warnings.
    #[error("{source}\n  the server logged {count} warning/error lines, e.g.:\n  {}", .lines.join("\n  "))]
    WithServerLog {
        source: Box<BenchError>,
        count: usize,
        lines: Vec<String>,
    },
}

/// The time by which the whole run must be over.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// A read timeout that ends reads by the deadline: the time left, from
    /// 1 ms up to the client's own [`client::IO_TIMEOUT`].
    pub fn read_timeout(&self) -> Duration {
        self.remaining()
            .clamp(Duration::from_millis(1), client::IO_TIMEOUT)
    }

    /// `Err(Timeout)` naming `what` once the deadline has passed.
    pub fn check(&self, what: &str) -> Result<(), BenchError> {
        if self.passed() {
            Err(BenchError::Timeout(what.to_string()))
        } else {
            Ok(())
        }
    }
}

/// Which server to drive.
#[derive(Debug, Clone)]
pub enum ServerChoice {
    /// One server, or several sharing one PostgreSQL database ("nodes").
    Remote(Vec<Endpoint>),
    Spawn(SpawnOptions),
}

/// What every scenario is given.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub server: ServerChoice,
    /// Register users over the wire (real Argon2id) even on a spawned server.
    pub real_accounts: bool,
    /// No progress bars.
    pub quiet: bool,
    pub deadline: Deadline,
    /// Distinguishes this run's user and room names from earlier runs'.
    pub tag: String,
    /// How clients talk to the server.
    pub transport: client::Transport,
}

impl Ctx {
    /// The server's description for a report's parameters.
    pub fn server_param(&self) -> String {
        match &self.server {
            ServerChoice::Remote(endpoints) => endpoints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            ServerChoice::Spawn(options) => match options.transport {
                client::Transport::Tcp => "spawned".to_string(),
                client::Transport::Ws => "spawned, over WebSocket".to_string(),
                client::Transport::Irc => "spawned, over IRC, and ngircd".to_string(),
            },
        }
    }
}

/// How a whole run went.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reports: usize,
    /// Scenarios that could not run to the end, with why.
    pub failures: Vec<(String, String)>,
    /// Scenarios that ran but saw the protocol's promises broken.
    pub with_problems: Vec<String>,
}

/// Runs what the command line asks, printing each report to `out` as soon
/// as its scenario finishes.
///
/// # Errors
///
/// A bad combination of options. A scenario that fails is recorded in the
/// [`Outcome`] and, under `all`, the next one still runs.
pub fn run(cli: &Cli, out: &mut impl Write) -> Result<Outcome, BenchError> {
    let ctx = context(cli)?;
    raise_open_file_limit();
    let mut outcome = Outcome::default();
    for scenario in scenarios::selected(&cli.command) {
        let name = scenario.name();
        match scenario.run(&ctx) {
            Ok(report) => {
                print(&report, cli.json, out)?;
                outcome.reports += 1;
                if report.has_problems() {
                    outcome.with_problems.push(name.to_string());
                }
            }
            Err(err) => {
                if cli.json {
                    let line = serde_json::json!({"scenario": name, "error": err.to_string()});
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(out, "== {name} ==  FAILED: {err}\n")?;
                }
                out.flush()?;
                outcome.failures.push((name.to_string(), err.to_string()));
            }
        }
    }
    Ok(outcome)
}

fn print(report: &Report, json: bool, out: &mut impl Write) -> Result<(), BenchError> {
    if json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        writeln!(out, "{}", report.to_table())?;
    }
    out.flush()?;
    Ok(())
}

fn context(cli: &Cli) -> Result<Ctx, BenchError> {
    let server = match (&cli.server, cli.spawn) {
        (Some(_), true) => {
            return Err(BenchError::Usage(
                "give either --server ADDR or --spawn, not both".to_string(),
            ));
        }
        (None, false) => {
            return Err(BenchError::Usage(
                "give --server ADDR to drive a running server, or --spawn to start one".to_string(),
            ));
        }
        (Some(addr), false) => {
            if cli.sync.is_some() || cli.max_connections.is_some() || cli.server_bin.is_some() {
                return Err(BenchError::Usage(
                    "--sync, --max-connections and --server-bin only apply with --spawn"
                        .to_string(),
                ));
            }
            let endpoints = addr
                .split(',')
                .map(|one| {
                    let resolved = one
                        .to_socket_addrs()
                        .map_err(|err| BenchError::Usage(format!("--server {one}: {err}")))?
                        .next()
                        .ok_or_else(|| BenchError::Usage(format!("--server {one}: no address")))?;
                    Ok(client::Endpoint {
                        addr: resolved,
                        transport: cli.transport,
                    })
                })
                .collect::<Result<Vec<_>, BenchError>>()?;
            ServerChoice::Remote(endpoints)
        }
        (None, true) => {
            let binary = match &cli.server_bin {
                Some(path) => path.clone(),
                None => {
                    let binary = SpawnOptions::binary_next_to_bench()?;
                    warn_if_stale(&binary);
                    binary
                }
            };
            ServerChoice::Spawn(SpawnOptions {
                binary,
                sync: cli.sync.unwrap_or_default(),
                max_connections: cli.max_connections,
                transport: cli.transport,
            })
        }
    };
    Ok(Ctx {
        server,
        real_accounts: cli.real_accounts,
        quiet: cli.quiet,
        deadline: Deadline::after(Duration::from_secs(cli.timeout)),
        tag: run_tag(),
        transport: cli.transport,
    })
}

/// `cargo run --bin pipechat-bench` rebuilds only the bench, which links the
/// same library as the server: a server binary built well before the bench
/// may predate server changes. Says so on standard error.
fn warn_if_stale(server: &std::path::Path) {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified());
    let bench = std::env::current_exe().and_then(|exe| modified(&exe));
    // `cargo build --bins` links the server a moment before the bench.
    const SAME_BUILD: std::time::Duration = std::time::Duration::from_secs(60);
    if let (Ok(server_time), Ok(bench_time)) = (modified(server), bench)
        && server_time + SAME_BUILD < bench_time
    {
        eprintln!(
            "pipechat-bench: warning: {} is older than this bench binary and may not hold \
             the latest server code; build both with: cargo build --release --bins",
            server.display()
        );
    }
}

/// Six base-36 characters from the clock and the process id.
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut n = nanos ^ (u64::from(std::process::id()) << 32);
    let mut tag = String::new();
    for _ in 0..6 {
        let digit = (n % 36) as u32;
        tag.push(char::from_digit(digit, 36).unwrap_or('x'));
        n /= 36;
    }
    tag
}

/// The bench holds a socket per simulated client: lift the soft limit on
/// open files to the hard limit.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}
