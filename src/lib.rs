//! pipechat: a persistent, real-time chat server with a console client. The
//! wire contract is `docs/protocol.md` (kept equal to `../shared/protocol.md`);
//! the README records the choices it leaves open.
//!
//! # Layout
//!
//! Three layers, each calling only the one below it; events travel back up
//! through traits the upper layer implements.
//!
//! - **Front doors** own a wire format and nothing else: framing, parsing,
//!   rendering and the connection loop.
//!   - [`pipe`]: the line protocol over TCP (`/sendMessage|room|text`, JSON
//!     replies).
//!   - [`web`]: the HTTP listener: the page (`web/`, embedded) and the same
//!     requests as WebSocket text messages at `/ws`, answered by the pipe's
//!     code and written through the pipe's outbox.
//!   - [`irc`]: IRC clients (`--irc`): rooms as channels, accounts through
//!     SASL or PASS, guests with `--irc-guests`, IRCv3 capabilities and
//!     CHATHISTORY, keep-alive `PING`s (`--irc-ping`); events rendered per
//!     client on the pipe's outbox.
//! - **The chat core**, [`chat`], owns every rule: names and limits,
//!   membership, "the username field must be yours", the login throttle, the
//!   connection limits (overall and per client address, across front
//!   doors), who is active, subscriptions. Its operations are typed
//!   (`chat::Chat`'s methods, `Result<_, ChatError>`); events leave it
//!   through the `Subscriber` trait each front door implements.
//! - **The store**, [`store`], is the only place with SQL and transactions,
//!   behind a narrow surface (`Store::read`, `Store::write` and
//!   `Store::write_then`, the `Reads` and `Writes` traits, `attach` for the
//!   `ChangeSink`, and what the chat keeps across nodes: who is present,
//!   `FailureLog` for the login throttle) that SQLite (`store/sqlite/`, the
//!   default; one server per file, which the store claims with a lock) and
//!   PostgreSQL (`store/postgres/`, several servers on one database, over
//!   TLS when its URL asks) both provide. What a commit changed comes back to the core
//!   through the `ChangeSink` trait, in commit order (on PostgreSQL through
//!   `NOTIFY`, to every node). `store::import` copies a SQLite file into
//!   PostgreSQL. The crate's only `unsafe` code is there, in two files
//!   that call SQLite's C interface where `rusqlite` has no safe
//!   wrapper: `store/sqlite/wal_writes.rs`, a thin layer under SQLite that
//!   writes a commit's WAL frames in one system call instead of two per
//!   page, and `store/sqlite/process_wide.rs`, which installs it.
//!
//! Beside them:
//!
//! - [`wire`]: `Message`, `Event`, the reply envelope (`Reply`) with each
//!   command's `data`, and the protocol's constants, defined once and shared
//!   by the server, the client and the bench.
//! - [`server`]: the process: listeners, one accept loop per front door, one
//!   thread per connection (TCP keepalive on each), the retention sweep,
//!   shutdown.
//! - `signals`: SIGINT and SIGTERM stop the server; SIGHUP re-reads the
//!   certificate or, when the server's terminal has closed, stops it too.
//! - [`arrivals`]: bounds the connections accepted but not yet admitted
//!   (TLS handshakes, HTTP request heads).
//! - `closing`: ends a connection whose client may still be sending (a
//!   refusal, a response, a close frame) without a reset that could destroy
//!   what was written last.
//! - [`tls`]: rustls on the pipe, HTTP and `--ircs` listeners (`--irc`
//!   stays plain, as IRC clients expect of port 6667): certificates, the
//!   handshake with its deadline (after a look at the first byte, so that a
//!   plain-text client gets its door's plain answer instead of an alert),
//!   and a connection's `Link` (reads opened,
//!   writes sealed; the outbox seals pushed events in order). The client's
//!   side too.
//! - [`metrics`]: the Prometheus registry every layer counts into, served
//!   at `/metrics`.
//! - [`operator`]: `pipechat-server add-user` and `set-password`, through
//!   the core, beside a server that may be running on the same database.
//! - [`logging`]: `env_logger` as `RUST_LOG` says, keeping other crates'
//!   logs of the traffic (WebSocket messages, SQL parameters) out; and the
//!   warning a flood raises (refused connections), logged sparsely.
//! - [`client`]: `pipechat-client`, the console client: [`wire`], the pipe
//!   request syntax, the core's `chat::limits` (to check what is typed
//!   before sending it) and `chat::room_key` (to match a typed room name as
//!   the server does), and the client side of [`tls`].
//! - `bench`: `pipechat-bench`, load scenarios against a running server, or
//!   one it starts on a database it fills through `store::seed`.
//! - [`example`]: builds `chat.db.example` through `store::seed`.
//!
//! # One `/sendMessage`, top to bottom
//!
//! 1. [`server`] accepts the socket and starts a thread, which completes the
//!    TLS handshake if the server has a certificate, registers the
//!    connection's `Outbox` with the core as its `Subscriber`
//!    (`Chat::admit`, which applies the connection limits and returns the
//!    guard that forgets the connection when it ends), then runs
//!    `pipe::connection`.
//! 2. `pipe::framing` cuts the bytes into a line (LF, CR, UTF-8, 64 KiB);
//!    `pipe::request` parses it into a `Request::AsUser(UserRequest::SendMessage)`.
//! 3. `pipe::commands` gets the logged-in `User` once (`Chat::logged_in`) and
//!    hands back a `Sending`, which the connection starts
//!    (`Sending::start`): it calls `Chat::send_then(&user, room, text,
//!    reply)`, and the core checks the text and, in the write's
//!    transaction, that the room exists and the user is a member. The
//!    connection's thread goes back to reading.
//! 4. `store::Store::write_then` hands the work to the SQLite writer
//!    (`store/sqlite/writer.rs`), which group-commits it with whatever else is
//!    queued; `Writes::insert_message` records a `Change::Message`.
//! 5. After the commit, still in commit order, the writer gives the changes
//!    to the core's hub (`ChangeSink::committed`), which turns them into
//!    `Event::Message` for each subscriber of the room
//!    (`Subscriber::deliver`); the pipe renders it once as a JSON line
//!    (`pipe::reply::EventLine`) and each outbox sends it without blocking.
//! 6. Only then is the stored `Message` handed to the connection's `reply`,
//!    on whichever thread committed it (the writer's, or the connection's
//!    own when the writer was idle), which hands the `201` line to the same
//!    outbox without blocking (`Outbox::reply_later`); the connection's
//!    thread writes whatever of it could not go at once before it answers
//!    its next request. The WebSocket door does the same; the IRC door waits
//!    for the commit instead (`Chat::send`).

// Denied everywhere but in the two modules that allow it (store/sqlite/mod.rs
// says why).
#![deny(unsafe_code)]

pub mod arrivals;
pub mod bench;
pub mod chat;
pub mod client;
mod closing;
pub mod example;
pub mod irc;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod pipe;
pub mod server;
mod signals;
pub mod store;
pub mod tls;
pub mod web;
pub mod wire;
