//! The server process: listeners, one thread per client, and a clean stop,
//! on the signals that `signals` catches.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::arrivals::{Arrival, Arrivals, Crowded};
use crate::chat::accounts::HashError;
use crate::chat::{Chat, ConnectionLimits, Subscriber};
use crate::closing::{at_most_until, drain_then_close};
use crate::irc::connection::{Connection as IrcConnection, Peer, refusal as irc_refusal};
use crate::metrics::{FrontDoor, metrics};
use crate::pipe::connection::Connection;
use crate::pipe::outbox::{Flusher, Outbox};
use crate::pipe::reader::TimedReader;
use crate::pipe::reply::error_line;
use crate::signals::Caught;
use crate::store::{Location, Store, StoreError, StoreOptions, SyncMode};
use crate::tls::{Link, Opening, TlsAcceptor, TlsError, TlsFiles};
use crate::web::Web;
use crate::wire::{Status, USE_TLS};

/// Stack reserved for each connection thread. Only the pages a thread touches
/// count against memory, but a small reservation keeps thousands of threads
/// cheap in address space too. SQLite and Argon2id (whose 19 MiB live on the
/// heap) fit comfortably.
pub const CONNECTION_STACK_BYTES: usize = 256 * 1024;

/// `--irc-ping`'s default: how long an IRC client may take to register, and,
/// once registered, may stay quiet before it is sent a PING, then take to
/// answer it.
pub const DEFAULT_IRC_PING: Duration = Duration::from_secs(120);

/// How long shutdown waits for connection threads to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// TCP keepalive on every accepted connection: after this long without a
/// byte either way, the kernel asks the peer whether it is still there, every
/// [`KEEPALIVE_INTERVAL`], and gives up after [`KEEPALIVE_PROBES`] unanswered.
/// A client whose machine vanished without closing (a laptop shut, a network
/// gone) is so disconnected within two minutes, and stops counting as active,
/// instead of holding its slot and its presence until the server restarts.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 6;

/// Everything `pipechat-server` can be told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: Location,
    pub listen: String,
    pub max_connections: usize,
    /// The most connections at once from one client address (an IPv6 /64);
    /// loopback is not capped. No cap (`None`) unless set: the
    /// protocol knows only `--max-connections`, and a client written to it
    /// may open that many from anywhere; a service sets it
    /// (deploy/pipechat.toml).
    pub max_connections_per_address: Option<usize>,
    /// Database connections in the pool, the SQLite writer's included
    /// ([`crate::store::StoreOptions::pool_size`]).
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
    /// Where the IRC front door listens over TLS (needs `tls`), if anywhere.
    pub ircs: Option<String>,
    /// Whether IRC clients that do not log in may chat as guests.
    pub irc_guests: bool,
    /// How long an IRC client may take to register, and, once registered,
    /// may send nothing before it is sent a PING, then take to answer it.
    pub irc_ping: Duration,
    /// The certificate and key the pipe, HTTP and `--ircs` listeners speak
    /// TLS with (`--irc` stays plain); `None` is plain TCP.
    pub tls: Option<TlsFiles>,
    /// Whether anyone may `/register`; when not, accounts come from
    /// `pipechat-server add-user`.
    pub registration_open: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: Location::Sqlite("chat.db".into()),
            listen: "127.0.0.1:8080".to_string(),
            max_connections: 10_000,
            max_connections_per_address: None,
            // 8 readers and the writer, as `--pool-size`'s default.
            pool_size: 9,
            sync: SyncMode::Normal,
            line_timeout: Duration::from_secs(60),
            http: Some("127.0.0.1:8081".to_string()),
            http_allow_origins: Vec::new(),
            irc: None,
            ircs: None,
            irc_guests: false,
            irc_ping: DEFAULT_IRC_PING,
            tls: None,
            registration_open: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}{}", in_use_hint(source, option))]
    Bind {
        addr: String,
        /// The option that named the address (`--listen`, `--http`, ...).
        option: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Hash(#[from] HashError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("--ircs needs a certificate: give --tls-cert and --tls-key")]
    IrcsWithoutTls,
}

/// What to do about an address in use: the usual cause is a server started
/// twice (the first one still running).
fn in_use_hint(source: &std::io::Error, option: &str) -> String {
    if source.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            " (is another pipechat-server, or another program, listening there? stop it, \
             or give another address with {option})"
        )
    } else {
        String::new()
    }
}

/// A bound server, ready to [`Server::run`].
pub(crate) struct Server {
    listener: TcpListener,
    /// The web front door's listener, when `--http` is on.
    http: Option<TcpListener>,
    /// The IRC front door's listener, when `--irc` is on: plain text, as is
    /// IRC's habit (6667), whatever `tls` says.
    irc: Option<TcpListener>,
    /// The IRC front door over TLS, when `--ircs` is on (6697).
    ircs: Option<TcpListener>,
    chat: Arc<Chat>,
    config: Config,
    /// The certificate, when the listeners but `--irc` speak TLS.
    tls: Option<Arc<TlsAcceptor>>,
    stop: Arc<StopHandle>,
    flusher: Arc<Flusher>,
    /// Connections accepted by any door and not admitted yet.
    arrivals: Arc<Arrivals>,
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

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

impl Server {
    /// Binds the listening sockets, then opens the database: a start that
    /// cannot listen leaves no database behind.
    pub(crate) fn bind(config: Config) -> Result<Server, ServerError> {
        let bind = |addr: &String, option: &'static str| {
            TcpListener::bind(addr).map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                option,
                source,
            })
        };
        // A certificate that cannot be read stops the start before anything
        // is bound or opened.
        let tls = config
            .tls
            .clone()
            .map(TlsAcceptor::load)
            .transpose()?
            .map(Arc::new);
        let listener = bind(&config.listen, "--listen")?;
        let http = config
            .http
            .as_ref()
            .map(|addr| bind(addr, "--http"))
            .transpose()?;
        let irc = config
            .irc
            .as_ref()
            .map(|addr| bind(addr, "--irc"))
            .transpose()?;
        let ircs = match (&config.ircs, &tls) {
            (Some(addr), Some(_)) => Some(bind(addr, "--ircs")?),
            (Some(_), None) => return Err(ServerError::IrcsWithoutTls),
            (None, _) => None,
        };
        if tls.is_none() {
            warn_if_reachable_in_clear(
                &[Some(&listener), http.as_ref()],
                "--tls-cert and --tls-key",
            );
        }
        // Plain whatever --tls-cert says: its fix is the other door.
        warn_if_reachable_in_clear(&[irc.as_ref()], "--ircs, IRC's door with TLS");
        let store = Store::open(
            &config.db,
            &StoreOptions {
                pool_size: config.pool_size,
                sync: config.sync,
                beside_a_server: false,
            },
        )?;
        raise_open_file_limit(config.max_connections);
        let mut wake = vec![wake_address(listener.local_addr()?)];
        if let Some(http) = &http {
            wake.push(wake_address(http.local_addr()?));
        }
        for irc in irc.iter().chain(&ircs) {
            wake.push(wake_address(irc.local_addr()?));
        }
        let mut chat = Chat::new(
            store,
            ConnectionLimits {
                total: config.max_connections,
                per_address: config.max_connections_per_address,
            },
        )?;
        if !config.registration_open {
            chat.close_registration();
        }
        let chat = Arc::new(chat);
        Ok(Server {
            listener,
            http,
            irc,
            ircs,
            sweeper: Sweeper::start(Arc::clone(&chat))?,
            chat,
            tls,
            stop: Arc::new(StopHandle {
                stopping: AtomicBool::new(false),
                wake,
            }),
            // As many on their way in as may be connected.
            arrivals: Arrivals::new(config.max_connections),
            flusher: Flusher::start()?,
            config,
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The web front door's address, when it is on.
    fn http_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.http.as_ref().map(TcpListener::local_addr).transpose()
    }

    /// The IRC front door's address, when it is on.
    fn irc_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.irc.as_ref().map(TcpListener::local_addr).transpose()
    }

    /// The IRC-over-TLS front door's address, when it is on.
    fn ircs_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.ircs.as_ref().map(TcpListener::local_addr).transpose()
    }

    fn stop_handle(&self) -> Arc<StopHandle> {
        Arc::clone(&self.stop)
    }

    /// The front door called `name`, with the server's timeouts, and its
    /// TLS when `secure`; `reads_head` for one that reads a request head
    /// (HTTP) before admitting a connection.
    fn door(&self, name: &'static str, secure: bool, reads_head: bool) -> Door {
        let tls = self.tls.clone().filter(|_| secure);
        Door {
            name,
            arrivals: (tls.is_some() || reads_head).then(|| Arc::clone(&self.arrivals)),
            tls,
            line_timeout: self.config.line_timeout,
            stop: Arc::clone(&self.stop),
            plain_answer: None,
        }
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
                });
                let door = self
                    .door("HTTP", true, true)
                    .answering_plain_text(crate::web::http::send_to_https);
                Some(
                    std::thread::Builder::new()
                        .name("http-accept".to_string())
                        .spawn(move || {
                            door.accept_each(&listener, move |link, peer, arrival| {
                                crate::web::http::serve(link, peer, arrival, &web);
                            });
                        })?,
                )
            }
            None => None,
        };
        let mut irc_doors = Vec::new();
        // The IRC door's shared part (and its burst thread) only with an
        // IRC listener.
        let irc_front = if self.irc.is_some() || self.ircs.is_some() {
            Some(Arc::new(IrcFront {
                chat: Arc::clone(&self.chat),
                bursts: crate::irc::connection::start_bursts(&self.chat)?,
                flusher: Arc::clone(&self.flusher),
                guests: self.config.irc_guests,
                ping: self.config.irc_ping,
                line_timeout: self.config.line_timeout,
            }))
        } else {
            None
        };
        for (listener, door) in [
            (self.irc.take(), self.door("IRC", false, false)),
            (
                self.ircs.take(),
                self.door("IRC over TLS", true, false)
                    .answering_plain_text(tell_irc_client_to_use_tls),
            ),
        ] {
            let (Some(listener), Some(irc_front)) = (listener, &irc_front) else {
                continue;
            };
            let front = Arc::clone(irc_front);
            irc_doors.push(
                std::thread::Builder::new()
                    .name("irc-accept".to_string())
                    .spawn(move || {
                        door.accept_each(&listener, move |link, peer, arrival| {
                            front.serve(link, peer, arrival)
                        })
                    })?,
            );
        }
        let pipe = PipeFront {
            chat: Arc::clone(&self.chat),
            flusher: Arc::clone(&self.flusher),
            line_timeout: self.config.line_timeout,
        };
        self.door("pipe", true, false)
            .answering_plain_text(tell_to_use_tls)
            .accept_each(&self.listener, move |link, peer, arrival| {
                pipe.serve(link, peer, arrival)
            });
        drop(self.listener);
        if let Some(web) = web
            && web.join().is_err()
        {
            log::error!("the HTTP accept loop panicked");
        }
        for irc in irc_doors {
            if irc.join().is_err() {
                log::error!("an IRC accept loop panicked");
            }
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
}

/// What every listener does with its connections: one thread each, which
/// first completes the TLS handshake when the door speaks TLS.
pub(crate) struct Door {
    name: &'static str,
    tls: Option<Arc<TlsAcceptor>>,
    line_timeout: Duration,
    stop: Arc<StopHandle>,
    /// Where a door that waits for its clients before admitting them (TLS,
    /// HTTP) counts them until its front door admits them; one beyond the
    /// limits is closed at once.
    arrivals: Option<Arc<Arrivals>>,
    /// What a TLS door says to a client that sends it plain text, instead
    /// of the TLS alert such a client cannot read; `None` leaves that to
    /// the handshake.
    plain_answer: Option<PlainAnswer>,
}

/// Answers a client that sent plain text to a TLS listener, on its own
/// [`Link`] without TLS, within the time left of the handshake's deadline
/// (the `Duration`): reading, writing and the drain before the close
/// together. The connection still counts among the arrivals meanwhile.
pub(crate) type PlainAnswer = fn(Link, SocketAddr, Duration);

impl Door {
    /// Answers a client that sends plain text to this door's TLS listener
    /// with `answer`.
    fn answering_plain_text(mut self, answer: PlainAnswer) -> Door {
        self.plain_answer = Some(answer);
        self
    }

    /// Accepts connections until the server stops, running `serve` on each
    /// one's own thread with its [`Link`].
    fn accept_each<F>(&self, listener: &TcpListener, serve: F)
    where
        F: Fn(Link, SocketAddr, Option<Arrival>) + Send + Sync + 'static,
    {
        let serve = Arc::new(serve);
        for stream in listener.incoming() {
            if self.stop.is_stopping() {
                break;
            }
            match stream {
                Ok(stream) => self.spawn(stream, Arc::clone(&serve)),
                Err(err) => {
                    // Out of descriptors, usually; retrying at once would spin.
                    log::warn!("{} accept failed: {err}", self.name);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn spawn<F>(&self, stream: TcpStream, serve: Arc<F>)
    where
        F: Fn(Link, SocketAddr, Option<Arrival>) + Send + Sync + 'static,
    {
        let Ok(peer) = stream.peer_addr() else {
            log::debug!("a {} client left before it was served", self.name);
            return;
        };
        let arrival = match self
            .arrivals
            .as_ref()
            .map(|arrivals| arrivals.arrive(peer.ip()))
        {
            None => None,
            Some(Ok(arrival)) => Some(arrival),
            Some(Err(crowded)) => {
                metrics().arrivals_refused.inc();
                log::debug!(
                    "closing {} client {peer} at once: {}",
                    self.name,
                    match crowded {
                        Crowded::FromAddress => "too many connections arriving from its address",
                        Crowded::Everywhere => "too many connections arriving",
                    }
                );
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(err) = keep_alive(&stream) {
            log::debug!("{peer}: no TCP keepalive: {err}");
        }
        let stream = Arc::new(stream);
        let thread_stream = Arc::clone(&stream);
        let tls = self.tls.clone();
        let line_timeout = self.line_timeout;
        let name = self.name;
        let plain_answer = self.plain_answer;
        let spawned = std::thread::Builder::new()
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                let channel = match tls {
                    Some(acceptor) => {
                        // One deadline for the first byte and the handshake
                        // (or the plain answer) together.
                        let deadline = Instant::now() + line_timeout;
                        if let Some(answer) = plain_answer
                            && crate::tls::opening(&thread_stream, deadline) == Opening::PlainText
                        {
                            let left = deadline.saturating_duration_since(Instant::now());
                            answer(Link::new(thread_stream, None), peer, left);
                            drop(arrival);
                            return;
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        match acceptor.handshake(&thread_stream, left) {
                            Ok(channel) => Some(channel),
                            Err(err) => {
                                log::info!(
                                    "{peer}: dropped {name} client, no TLS handshake: {err}"
                                );
                                return;
                            }
                        }
                    }
                    None => None,
                };
                serve(Link::new(thread_stream, channel), peer, arrival);
            });
        if let Err(err) = spawned {
            log::warn!(
                "refusing {} client {peer}: cannot start a thread: {err}",
                self.name
            );
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The pipe front door's admission: what its connections share.
struct PipeFront {
    chat: Arc<Chat>,
    flusher: Arc<Flusher>,
    line_timeout: Duration,
}

impl PipeFront {
    /// Admits one connection to the chat and serves it until it ends.
    fn serve(&self, mut link: Link, peer: SocketAddr, arrival: Option<Arrival>) {
        let outbox = Outbox::new(
            Arc::clone(link.stream()),
            &self.flusher,
            link.tls().cloned(),
            self.line_timeout,
        );
        let subscriber: Arc<dyn Subscriber> = outbox.clone();
        let admitted = self.chat.admit(peer.ip(), subscriber);
        drop(arrival);
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => {
                return refuse(&link, &error_line(Status::Unavailable, refusal.sentence()));
            }
        };
        // Counted once admitted: a refused connection is not one of them.
        let _counted = metrics().connection(FrontDoor::Pipe);
        outbox.carry_tls_records_of(&mut link);
        Connection::new(
            TimedReader::new(link, self.line_timeout),
            Arc::clone(&outbox),
            Arc::clone(&self.chat),
            Arc::clone(admitted.session()),
        )
        .run();
        drop(admitted);
        outbox.close();
    }
}

/// The IRC front door's admission: what its connections share.
struct IrcFront {
    chat: Arc<Chat>,
    /// The thread completing joins made elsewhere.
    bursts: std::sync::mpsc::Sender<(std::sync::Weak<Peer>, String)>,
    flusher: Arc<Flusher>,
    guests: bool,
    /// `--irc-ping`.
    ping: Duration,
    line_timeout: Duration,
}

impl IrcFront {
    /// Admits one connection to the chat and serves it until it ends.
    fn serve(&self, mut link: Link, peer_addr: SocketAddr, arrival: Option<Arrival>) {
        let outbox = Outbox::new(
            Arc::clone(link.stream()),
            &self.flusher,
            link.tls().cloned(),
            self.line_timeout,
        );
        let peer = Peer::new(Arc::clone(&outbox), self.bursts.clone());
        let subscriber: Arc<dyn Subscriber> = peer.clone();
        let admitted = self.chat.admit(peer_addr.ip(), subscriber);
        drop(arrival);
        let admitted = match admitted {
            // An IRC login's resume token is never shown to the client, so
            // it is revoked with the connection.
            Ok(admitted) => admitted.revoking(),
            Err(refusal) => return refuse(&link, &irc_refusal(refusal.sentence())),
        };
        let _counted = metrics().connection(FrontDoor::Irc);
        let session = Arc::clone(admitted.session());
        outbox.carry_tls_records_of(&mut link);
        IrcConnection::new(
            TimedReader::new(link, self.line_timeout),
            peer,
            Arc::clone(&self.chat),
            session,
            self.guests,
            self.ping,
        )
        .run();
    }
}

/// Says [`USE_TLS`] to a pipe client that sent plain text to the TLS
/// listener, and closes, all within `left`. Its request is not read:
/// whatever it was, the answer is the same.
fn tell_to_use_tls(link: Link, peer: SocketAddr, left: Duration) {
    log::info!("{peer}: plain text at the pipe's TLS port; told to connect with TLS");
    refuse_by(
        &link,
        &error_line(Status::BadRequest, USE_TLS),
        Some(Instant::now() + left),
    );
}

/// What an IRC client that sent plain text to the `--ircs` listener is
/// told, in an `ERROR` line every client shows, where rustls's alert would
/// end the connection with "handshake failure" or nothing at all.
const IRC_USE_TLS: &str =
    "this port speaks TLS: turn on your client's TLS for it (irssi: /connect -tls HOST PORT)";

/// Says [`IRC_USE_TLS`] to an IRC client that sent plain text to the
/// `--ircs` listener, and closes, all within `left`; its lines are not read.
fn tell_irc_client_to_use_tls(link: Link, peer: SocketAddr, left: Duration) {
    log::info!("{peer}: plain text at the IRC TLS port; told to connect with TLS");
    refuse_by(
        &link,
        &irc_refusal(IRC_USE_TLS),
        Some(Instant::now() + left),
    );
}

/// How long a refusal may take to write, and then to drain.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);
const REFUSAL_DRAIN: Duration = Duration::from_secs(1);

/// Sends one line of refusal and closes, draining what the client may
/// have sent already (its login) so that the line is not lost to a reset.
fn refuse(link: &Link, line: &str) {
    refuse_by(link, line, None);
}

/// [`refuse`], done by `deadline` when there is one: the write and the
/// drain get what is left of it, and nothing is sent once it has passed.
/// (The write timeout bounds each write; one line goes in one.)
fn refuse_by(link: &Link, line: &str, deadline: Option<Instant>) {
    let write_for = at_most_until(REFUSAL_WRITE, deadline);
    if write_for.is_zero() {
        return;
    }
    let _ = link.stream().set_write_timeout(Some(write_for));
    let _ = link.send(line.as_bytes());
    link.send_close_notify();
    drain_then_close(
        link.stream(),
        at_most_until(REFUSAL_DRAIN, deadline),
        64 * 1024,
    );
}

/// Runs the chat's sweep of expired messages and tokens at start-up and then
/// every [`SWEEP_INTERVAL`], and retries the guests' departures the
/// database missed every [`DEPARTURES_RETRY`], on its own thread; stops
/// when dropped.
struct Sweeper {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often expired messages are deleted: a room's retention is honoured
/// within this long.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How soon a guest's departure the database missed is tried again
/// (`Chat::finish_departures`; nothing to do costs a lock).
const DEPARTURES_RETRY: Duration = Duration::from_secs(2);

impl Sweeper {
    fn start(chat: Arc<Chat>) -> std::io::Result<Sweeper> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("sweeper".to_string())
            .spawn(move || {
                let mut next_sweep = Instant::now();
                loop {
                    if Instant::now() >= next_sweep {
                        if let Err(err) = chat.sweep_expired() {
                            log::warn!("sweeping expired messages failed: {}", err.sentence());
                        }
                        next_sweep = Instant::now() + SWEEP_INTERVAL;
                    }
                    chat.finish_departures();
                    match stopped.recv_timeout(DEPARTURES_RETRY) {
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
        // finishes its current batch first, and a pass over owed departures
        // its current try (one wait for the database at most).
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds, announces the address on standard output, and serves until SIGINT,
/// SIGTERM (also one received while starting) or its terminal closing
/// (see `signals`).
///
/// # Errors
///
/// What stops the server from starting: an address it cannot bind, a
/// database it cannot open.
pub fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let signals = Caught::now()?;
    let database = config.db.to_string();
    let server = Server::bind(config)?;
    signals.obey(server.stop_handle(), server.tls.clone());
    let secure = if server.tls.is_some() { " (TLS)" } else { "" };
    let mut doors = vec![format!("listening on {}{secure}", server.local_addr()?)];
    if let Some(web) = server.http_addr()? {
        let scheme = if server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        doors.push(format!("web on {scheme}://{web}/"));
    }
    if let Some(irc) = server.irc_addr()? {
        doors.push(format!("irc on {irc}"));
    }
    if let Some(ircs) = server.ircs_addr()? {
        doors.push(format!("ircs on {ircs} (TLS)"));
    }
    let mut stdout = std::io::stdout().lock();
    for door in &doors {
        writeln!(stdout, "{door}")?;
    }
    stdout.flush()?;
    drop(stdout);
    // The log's own record of what runs (after an upgrade, which version),
    // with the database (a URL without its password), the doors and
    // whether registration is closed.
    let registration = if server.chat.registration_open() {
        ""
    } else {
        "; registration closed (accounts come from add-user)"
    };
    log::info!(
        "pipechat-server {} started on {database}: {}{registration}",
        env!("CARGO_PKG_VERSION"),
        doors.join(", ")
    );
    server.run()?;
    Ok(())
}

/// Warns, for each listener reachable from other machines, that passwords
/// and tokens would cross the network in clear; `fix` names what to use.
fn warn_if_reachable_in_clear(listeners: &[Option<&TcpListener>], fix: &str) {
    for listener in listeners.iter().flatten() {
        if let Ok(addr) = listener.local_addr()
            && !addr.ip().is_loopback()
        {
            log::warn!(
                "{addr} is reachable from other machines without TLS: passwords and \
                 tokens will cross the network in clear (see {fix})"
            );
        }
    }
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
/// connection costs one descriptor (its socket), and warns when the limit
/// will not hold `--max-connections` clients.
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // One descriptor per client, as many again for connections on their way
    // in (`Arrivals`), and room for the database files, the listeners and
    // the flusher's epoll.
    let wanted = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(256);
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
    // Clients come first: only the room for connections still on their way
    // in (a bound against floods, rarely all used) may be short.
    let clients_fit = target.saturating_sub(256);
    if clients_fit < max_connections as u64 {
        log::warn!(
            "the open file limit ({target}) leaves room for about {clients_fit} clients, \
             fewer than --max-connections ({max_connections}); raise it (ulimit -n, \
             LimitNOFILE=) or lower --max-connections"
        );
    } else if target < wanted {
        log::debug!(
            "the open file limit ({target}) holds {max_connections} clients and {} \
             connections on their way in at once",
            target - 256 - max_connections as u64
        );
    }
}

/// Turns TCP keepalive on for `stream` (see [`KEEPALIVE_IDLE`]).
fn keep_alive(stream: &TcpStream) -> std::io::Result<()> {
    use rustix::net::sockopt;
    sockopt::set_socket_keepalive(stream, true)?;
    sockopt::set_tcp_keepidle(stream, KEEPALIVE_IDLE)?;
    sockopt::set_tcp_keepintvl(stream, KEEPALIVE_INTERVAL)?;
    sockopt::set_tcp_keepcnt(stream, KEEPALIVE_PROBES)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{BufRead, BufReader, Read};

    /// Accepts one connection on `listener` and has `serve` serve it on a
    /// thread of its own, as an accept loop would; the client's end.
    fn served(
        listener: &TcpListener,
        serve: impl FnOnce(Link) + Send + 'static,
    ) -> BufReader<TcpStream> {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        std::thread::spawn(move || serve(Link::new(Arc::new(server), None)));
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        BufReader::new(client)
    }

    fn first_line(client: &mut BufReader<TcpStream>) -> String {
        let mut line = String::new();
        client.read_line(&mut line).unwrap();
        line
    }

    fn is_closed(client: &mut BufReader<TcpStream>) -> bool {
        matches!(client.read(&mut [0; 1]), Ok(0))
    }

    /// A client address over `--max-connections-per-address`, counted
    /// across front doors, gets what a full server gives: the pipe's 503
    /// greeting, IRC's `ERROR`, then the close. Through the code the accept
    /// loops run, with one difference: tests can only connect from
    /// loopback, which is never capped, so each accepted socket is handed
    /// to its front door as if it came from a documentation address.
    #[test]
    fn one_address_over_its_limit_gets_what_a_full_server_gives() {
        let (_dir, chat) = crate::chat::tests::chat_admitting(ConnectionLimits {
            total: 100,
            per_address: Some(1),
        });
        let chat = Arc::new(chat);
        let flusher = Flusher::start().unwrap();
        let line_timeout = Duration::from_secs(60);
        let pipe = Arc::new(PipeFront {
            chat: Arc::clone(&chat),
            flusher: Arc::clone(&flusher),
            line_timeout,
        });
        let irc = Arc::new(IrcFront {
            chat: Arc::clone(&chat),
            bursts: crate::irc::connection::start_bursts(&chat).unwrap(),
            flusher,
            guests: false,
            ping: DEFAULT_IRC_PING,
            line_timeout,
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pipe_from = |address: &str| {
            let (pipe, peer) = (Arc::clone(&pipe), address.parse().unwrap());
            served(&listener, move |link| pipe.serve(link, peer, None))
        };
        let reason = "too many connections from your address; close some and try again";

        let mut first = pipe_from("192.0.2.1:40001");
        assert!(first_line(&mut first).starts_with(r#"{"status":200,"#));
        let mut second = pipe_from("192.0.2.1:40002");
        assert_eq!(
            first_line(&mut second),
            format!("{{\"status\":503,\"error\":\"{reason}\"}}\n")
        );
        assert!(is_closed(&mut second));
        let mut on_irc = {
            let irc = Arc::clone(&irc);
            let peer = "192.0.2.1:40003".parse().unwrap();
            served(&listener, move |link| irc.serve(link, peer, None))
        };
        let refused = first_line(&mut on_irc);
        assert!(
            refused.ends_with(&format!(" ERROR :Closing link: {reason}\r\n")),
            "{refused:?}"
        );
        assert!(is_closed(&mut on_irc));

        let mut elsewhere = pipe_from("192.0.2.2:40004");
        assert!(first_line(&mut elsewhere).starts_with(r#"{"status":200,"#));

        // Once the first client leaves, its address has room again.
        drop(first);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut again = pipe_from("192.0.2.1:40005");
            if first_line(&mut again).starts_with(r#"{"status":200,"#) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no room again");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The pipe's answer to plain text at its TLS port ends within the time
    /// left of the handshake's deadline, drain included: a client that
    /// keeps its end open does not hold the thread, and its place among
    /// the arrivals, for longer.
    #[test]
    fn the_plain_answer_ends_within_the_time_left() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (ended, end) = std::sync::mpsc::channel();
        let started = Instant::now();
        let mut client = served(&listener, move |link| {
            let peer = "192.0.2.1:40001".parse().unwrap();
            tell_to_use_tls(link, peer, Duration::from_millis(100));
            let _ = ended.send(Instant::now());
        });
        assert_eq!(
            first_line(&mut client),
            format!("{{\"status\":400,\"error\":\"{USE_TLS}\"}}\n")
        );
        let ended = end.recv_timeout(Duration::from_secs(20)).unwrap();
        let took = ended - started;
        assert!(took < Duration::from_millis(900), "{took:?}");
        drop(client);
    }

    /// IRC clients are pinged after two minutes of silence by default, as
    /// on common IRC servers; `pipechat-server`'s `--irc-ping` defaults to it.
    #[test]
    fn the_irc_ping_interval_defaults_to_120_seconds() {
        assert_eq!(DEFAULT_IRC_PING, Duration::from_secs(120));
        assert_eq!(Config::default().irc_ping, Duration::from_secs(120));
    }
}
