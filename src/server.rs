//! The server process: listeners, one thread per client, signals, and a clean
//! stop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::chat::accounts::HashError;
use crate::chat::{Chat, Refusal, Subscriber};
use crate::irc::connection::{Connection as IrcConnection, Peer, refusal as irc_refusal};
use crate::pipe::connection::Connection;
use crate::pipe::outbox::{Flusher, Outbox};
use crate::pipe::reply::error_line;
use crate::store::{Location, Store, StoreError, StoreOptions, SyncMode};
use crate::web::Web;
use crate::wire::Status;

/// Stack reserved for each connection thread. Only the pages a thread touches
/// count against memory, but a small reservation keeps thousands of threads
/// cheap in address space too. SQLite and Argon2id (whose 19 MiB live on the
/// heap) fit comfortably.
pub const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// How long shutdown waits for connection threads to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything `pipechat-server` can be told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: Location,
    pub listen: String,
    pub max_connections: usize,
    pub pool_size: u32,
    pub sync: SyncMode,
    /// How long a started request line (or HTTP request head) may stay
    /// unfinished before the client is dropped.
    pub line_timeout: Duration,
    /// Where the web page and the WebSocket endpoint listen; `None` is off.
    pub http: Option<String>,
    /// Origins, besides the page's own, whose pages may open a WebSocket.
    pub http_allow_origins: Vec<String>,
    /// Where the IRC front door listens, if anywhere.
    pub irc: Option<String>,
    /// Whether IRC clients that do not log in may chat as guests.
    pub irc_guests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: Location::Sqlite("chat.db".into()),
            listen: "127.0.0.1:8080".to_string(),
            max_connections: 10_000,
            pool_size: 8,
            sync: SyncMode::Normal,
            line_timeout: Duration::from_secs(60),
            http: Some("127.0.0.1:8081".to_string()),
            http_allow_origins: Vec::new(),
            irc: None,
            irc_guests: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Hash(#[from] HashError),
}

/// A bound server, ready to [`Server::run`].
pub(crate) struct Server {
    listener: TcpListener,
    /// The web front door's listener, when `--http` is on.
    http: Option<TcpListener>,
    /// The IRC front door's listener, when `--irc` is on.
    irc: Option<TcpListener>,
    chat: Arc<Chat>,
    config: Config,
    stop: Arc<StopHandle>,
    flusher: Arc<Flusher>,
    sweeper: Sweeper,
}

/// Stops a running server from another thread (a signal handler's, a test's).
pub(crate) struct StopHandle {
    stopping: AtomicBool,
    /// Where to connect to wake the accept loops out of `accept`.
    wake: Vec<SocketAddr>,
}

impl StopHandle {
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The accept loops check the flag after every accept; give them one.
        for addr in &self.wake {
            let _ = TcpStream::connect_timeout(addr, Duration::from_secs(1));
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

impl Server {
    /// Binds the listening sockets, then opens the database: a start that
    /// cannot listen leaves no database behind.
    pub(crate) fn bind(config: Config) -> Result<Server, ServerError> {
        let bind = |addr: &String| {
            TcpListener::bind(addr).map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })
        };
        let listener = bind(&config.listen)?;
        let http = config.http.as_ref().map(bind).transpose()?;
        let irc = config.irc.as_ref().map(bind).transpose()?;
        let store = Store::open(
            &config.db,
            &StoreOptions {
                pool_size: config.pool_size,
                sync: config.sync,
            },
        )?;
        raise_open_file_limit(config.max_connections);
        let mut wake = vec![wake_address(listener.local_addr()?)];
        if let Some(http) = &http {
            wake.push(wake_address(http.local_addr()?));
        }
        if let Some(irc) = &irc {
            wake.push(wake_address(irc.local_addr()?));
        }
        let chat = Arc::new(Chat::new(store, config.max_connections)?);
        Ok(Server {
            listener,
            http,
            irc,
            sweeper: Sweeper::start(Arc::clone(&chat))?,
            chat,
            config,
            stop: Arc::new(StopHandle {
                stopping: AtomicBool::new(false),
                wake,
            }),
            flusher: Flusher::start()?,
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The web front door's address, when it is on.
    pub(crate) fn http_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.http.as_ref().map(TcpListener::local_addr).transpose()
    }

    /// The IRC front door's address, when it is on.
    pub(crate) fn irc_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.irc.as_ref().map(TcpListener::local_addr).transpose()
    }

    pub(crate) fn stop_handle(&self) -> Arc<StopHandle> {
        Arc::clone(&self.stop)
    }

    /// Accepts clients until stopped, then closes every connection, commits
    /// what is queued and checkpoints the database.
    pub(crate) fn run(mut self) -> Result<(), ServerError> {
        let web = match self.http.take() {
            Some(listener) => {
                let web = Arc::new(Web {
                    chat: Arc::clone(&self.chat),
                    flusher: Arc::clone(&self.flusher),
                    allow_origins: self.config.http_allow_origins.clone(),
                    line_timeout: self.config.line_timeout,
                    max_connections: self.config.max_connections,
                    tls: None,
                });
                let stop = Arc::clone(&self.stop);
                Some(
                    std::thread::Builder::new()
                        .name("http-accept".to_string())
                        .spawn(move || crate::web::accept_loop(listener, web, stop))?,
                )
            }
            None => None,
        };
        let irc = match self.irc.take() {
            Some(listener) => {
                let front = IrcFront {
                    chat: Arc::clone(&self.chat),
                    flusher: Arc::clone(&self.flusher),
                    stop: Arc::clone(&self.stop),
                    guests: self.config.irc_guests,
                    line_timeout: self.config.line_timeout,
                    max_connections: self.config.max_connections,
                };
                Some(
                    std::thread::Builder::new()
                        .name("irc-accept".to_string())
                        .spawn(move || front.accept(&listener))?,
                )
            }
            None => None,
        };
        for stream in self.listener.incoming() {
            if self.stop.is_stopping() {
                break;
            }
            match stream {
                Ok(stream) => self.admit(stream),
                Err(err) => {
                    // Out of descriptors, usually; retrying at once would spin.
                    log::warn!("accept failed: {err}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        drop(self.listener);
        if let Some(web) = web
            && web.join().is_err()
        {
            log::error!("the HTTP accept loop panicked");
        }
        if let Some(irc) = irc
            && irc.join().is_err()
        {
            log::error!("the IRC accept loop panicked");
        }
        log::info!("stopping: closing connections");
        drop(self.sweeper);
        let left = self.chat.shut_down(SHUTDOWN_GRACE);
        if left > 0 {
            log::warn!("{left} connections did not finish in time");
        }
        log::info!("stopped");
        Ok(())
    }

    fn admit(&self, stream: TcpStream) {
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(err) => {
                log::debug!("a client left before it was served: {err}");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        let outbox = Outbox::new(Arc::clone(&stream), &self.flusher, None);
        let subscriber: Arc<dyn Subscriber> = outbox.clone();
        let session = match self.chat.connect(peer.ip(), subscriber) {
            Ok(session) => session,
            Err(Refusal::Full) => {
                log::warn!(
                    "refusing {peer}: at the limit of {} connections",
                    self.config.max_connections
                );
                return refuse(&stream, "the server is full; try again later");
            }
            Err(Refusal::ShuttingDown) => return refuse(&stream, "the server is shutting down"),
        };
        let connection = Connection::new(
            Arc::clone(&stream),
            outbox,
            Arc::clone(&self.chat),
            session,
            self.config.line_timeout,
        );
        let spawned = std::thread::Builder::new()
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || connection.run());
        if let Err(err) = spawned {
            // The closure, and with it the connection, was dropped, which
            // already disconnected it from the chat.
            log::warn!("refusing {peer}: cannot start a thread: {err}");
            refuse(&stream, "the server cannot take more connections now");
        }
    }
}

/// The IRC front door's accept loop and what it admits connections with.
struct IrcFront {
    chat: Arc<Chat>,
    flusher: Arc<Flusher>,
    stop: Arc<StopHandle>,
    guests: bool,
    line_timeout: Duration,
    max_connections: usize,
}

impl IrcFront {
    /// Accepts IRC clients until the server stops.
    fn accept(&self, listener: &TcpListener) {
        for stream in listener.incoming() {
            if self.stop.is_stopping() {
                break;
            }
            match stream {
                Ok(stream) => self.admit(stream),
                Err(err) => {
                    log::warn!("IRC accept failed: {err}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn admit(&self, stream: TcpStream) {
        let Ok(peer_addr) = stream.peer_addr() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        let outbox = Outbox::new(Arc::clone(&stream), &self.flusher, None);
        let peer = Peer::new(outbox);
        let subscriber: Arc<dyn Subscriber> = peer.clone();
        let session = match self.chat.connect(peer_addr.ip(), subscriber) {
            Ok(session) => session,
            Err(Refusal::Full) => {
                log::warn!(
                    "refusing IRC client {peer_addr}: at the limit of {} connections",
                    self.max_connections
                );
                return refuse_raw(&stream, &irc_refusal("the server is full; try again later"));
            }
            Err(Refusal::ShuttingDown) => {
                return refuse_raw(&stream, &irc_refusal("the server is shutting down"));
            }
        };
        let connection = IrcConnection::new(
            Arc::clone(&stream),
            peer,
            Arc::clone(&self.chat),
            Arc::clone(&session),
            self.guests,
            self.line_timeout,
        );
        // Built before the thread, so that a thread that cannot start still
        // disconnects the session when the closure is dropped.
        let gone = Disconnect {
            chat: Arc::clone(&self.chat),
            session,
        };
        let spawned = std::thread::Builder::new()
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                let _gone = gone;
                connection.run();
            });
        if let Err(err) = spawned {
            log::warn!("refusing IRC client {peer_addr}: cannot start a thread: {err}");
            refuse_raw(
                &stream,
                &irc_refusal("the server cannot take more connections now"),
            );
        }
    }
}

/// Disconnects a connection from the chat on every way out of its thread,
/// a panic included.
struct Disconnect {
    chat: Arc<Chat>,
    session: Arc<crate::chat::Session>,
}

impl Drop for Disconnect {
    /// An IRC login's resume token is never shown to the client, so it is
    /// revoked with the connection.
    fn drop(&mut self) {
        self.chat.disconnect_revoking(&self.session);
    }
}

/// Runs the chat's sweep of expired messages and tokens at start-up and then
/// every [`SWEEP_INTERVAL`], on its own thread; stops when dropped.
struct Sweeper {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often expired messages are deleted: a room's retention is honoured
/// within this long.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);

impl Sweeper {
    fn start(chat: Arc<Chat>) -> std::io::Result<Sweeper> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("sweeper".to_string())
            .spawn(move || {
                loop {
                    if let Err(err) = chat.sweep_expired() {
                        log::warn!("sweeping expired messages failed: {}", err.sentence());
                    }
                    match stopped.recv_timeout(SWEEP_INTERVAL) {
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Sweeper {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        // Closing the channel wakes the thread at once; a sweep under way
        // finishes its current batch first.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends the 503 greeting and closes.
fn refuse(stream: &TcpStream, reason: &str) {
    refuse_raw(stream, &error_line(Status::Unavailable, reason));
}

/// Sends one line of refusal and closes.
fn refuse_raw(stream: &TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(line.as_bytes());
}

/// Binds, announces the address on standard output, and serves until SIGINT
/// or SIGTERM.
///
/// # Errors
///
/// What stops the server from starting: an address it cannot bind, a
/// database it cannot open.
pub fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::bind(config)?;
    let stop = server.stop_handle();
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                log::info!("received signal {signal}, shutting down");
                stop.stop();
            }
        })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.local_addr()?)?;
    if let Some(web) = server.http_addr()? {
        writeln!(stdout, "web on http://{web}/")?;
    }
    if let Some(irc) = server.irc_addr()? {
        writeln!(stdout, "irc on {irc}")?;
    }
    stdout.flush()?;
    drop(stdout);
    server.run()?;
    Ok(())
}

/// Where to connect to reach a listener bound to `local` (a wildcard
/// address is reached on loopback).
fn wake_address(local: SocketAddr) -> SocketAddr {
    let mut wake = local;
    if wake.ip().is_unspecified() {
        wake.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    wake
}

/// Lifts the soft limit on open files as far as the hard limit allows: each
/// connection costs one descriptor (its socket).
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // One descriptor per client, and room for the database files, the
    // listener and the flusher's epoll.
    let wanted = (max_connections as u64).saturating_add(256);
    let target = match limit.maximum {
        Some(hard) => wanted.min(hard),
        None => wanted,
    };
    if limit.current.is_none_or(|soft| soft < target) {
        let raised = rustix::process::Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => log::debug!("open file limit raised to {target}"),
            Err(err) => log::warn!("could not raise the open file limit: {err}"),
        }
    }
    if target < wanted {
        log::warn!(
            "the open file limit ({target}) allows fewer than {max_connections} connections"
        );
    }
}
