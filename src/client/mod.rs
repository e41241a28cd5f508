//! The console client: menus and chatrooms over the pipechat protocol.
//!
//! It speaks only the protocol and keeps nothing the server did not give it:
//! the name it is logged in as, the room or conversation it is in, a note of
//! the messages on screen (to skip duplicates, scroll back, and show edits
//! and deletes), and, in a file of the user's, the resume token of a login
//! (see [`saved_login`]).
//!
//! # Flow
//!
//! ```text
//! start menu:  1) register  2) login  3) quit
//! main menu:   1) enter chatroom  2) create chatroom  3) display all chatrooms
//!              4) active users  5) logout  6) direct messages  7) search
//!              8) change password  q) quit
//! in a room:   text is sent; /members, /history [N], /msg, /ids, /edit,
//!              /delete, /search, /topic, /info, /retention, /password,
//!              /me, /join, /leave, /quit, /help, /exit (see [`command`])
//! anywhere:    direct messages show as they come: [dm 17:42] bob: hi
//! ```
//!
//! # Keys
//!
//! - At a menu, Ctrl-C shows the menu again; Ctrl-D (or typing `q`, `quit`
//!   or `exit`) quits, logging out first unless the login is saved for
//!   `--user` (see [`menu`]).
//! - In a room, Ctrl-C on an empty line and Ctrl-D unsubscribe and return
//!   to the menu, the user staying a member; only `/leave` (and `/exit`,
//!   which asks at a terminal) leaves the room (`/exitChatroom`). See
//!   [`room`].
//! - Piped input that ends acts as Ctrl-D in a room and at a menu.
//!
//! # A lost connection
//!
//! At a terminal, logged in with a saved login, a client whose server goes
//! away connects again by itself, where the user is: see [`reconnect`].
//! Anywhere else it ends the run.
//!
//! # Scripts
//!
//! When stdin is not a terminal, the first refusal from the server or mistake
//! in the input (a choice not on the menu, an unknown room command, a
//! question left unanswered) ends the run with status 2 and one message on
//! stderr naming the input line; nothing after it is sent. See [`session`].
//!
//! # Layout
//!
//! - [`connection`]: the socket and the reader thread that sorts replies from events.
//! - [`incoming`]: a server line to a typed reply or event.
//! - [`console`]: terminal (rustyline) or script (plain stdin) input, and output.
//! - [`session`]: ask, tell and call, watching for a server that goes away.
//! - [`reconnect`]: connecting again and resuming where the user is.
//! - [`menu`]: the start and main menus, logins and the saved token.
//! - [`room`]: being in a chatroom or a direct conversation.
//! - [`command`]: the `/` commands typed there.
//! - [`feed`]: what is on screen, and the thread that shows pushed events.
//! - [`render`]: how messages, events and lists look.
//! - [`saved_login`]: resume tokens on disk, for `--user`.
//! - [`error`]: the server's refusals and the failures that end a run.

pub mod command;
pub mod connection;
pub mod console;
pub mod error;
pub mod feed;
pub mod incoming;
pub mod menu;
pub mod reconnect;
pub mod render;
pub mod room;
pub mod saved_login;
pub mod session;

pub use error::{ClientError, ErrorReply};

use connection::Connection;
use console::Console;
use saved_login::SavedLogins;
use session::Session;

/// The default server address, as in the protocol.
pub const DEFAULT_SERVER: &str = "127.0.0.1:8080";

/// The port of a `--server` given without one: the server's default.
pub const DEFAULT_PORT: u16 = 8080;

/// What the command line chose.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the server.
    pub server: String,
    /// Log in as this user straight away: with the saved token, or else
    /// asking only the password.
    pub user: Option<String>,
    /// Whom to trust when the connection is TLS (`--tls`, `--tls-ca`);
    /// `None` is plain TCP.
    pub tls: Option<crate::tls::ClientRoots>,
}

/// Connects, then runs the menus until the user quits.
///
/// # Errors
///
/// What ends the session early: the server unreachable, refusing, or gone
/// mid-session, or the terminal gone; in a script, also the first refusal
/// or mistake. At a terminal, refusals of single requests are shown to the
/// user and are not errors.
pub fn run(config: &Config) -> Result<(), ClientError> {
    let connection = Connection::open(&config.server, config.tls.as_ref())?;
    let saved = SavedLogins::for_server(&config.server);
    let server = session::Server {
        address: config.server.clone(),
        tls: config.tls.clone(),
    };
    let session = Session::new(connection, Console::open(), saved, server)?;
    menu::run(&session, config.user.as_deref())
}
