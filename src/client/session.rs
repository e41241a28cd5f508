//! What a flow can do: ask the user, tell the user, call the server, look at
//! or change what is on screen ([`View`]), and keep a login for next time.
//!
//! Every wait for the user also watches the connection, so a server that goes
//! away while the user is typing ends the session at once, or, at a
//! password question, once the password's line is finished.
//!
//! # Errors and scripts
//!
//! A refusal from the server, a mistake in the input (a choice that is not on
//! the menu, an unknown room command) and a question left unanswered go
//! through [`Session::call_or_show`], [`Session::mistake`] and
//! [`Session::unanswered`]. At a terminal they are shown and the flow carries
//! on; in a script they end the run with [`ClientError::ScriptStopped`],
//! naming the input line just read, so nothing after it is sent.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::connection::{Closed, Connection};
use super::console::{Console, Input, Output, Recall};
use super::error::{ClientError, ErrorReply, InputPlace, Withheld};
use super::feed::{self, Feed, SharedView, View};
use super::reconnect;
use super::render;
use super::saved_login::SavedLogins;
use crossbeam_channel::Receiver;

/// How long [`Session::script_lines_ahead`] waits for a script's lines: a
/// script piped in whole has them at once.
const PEEK_WINDOW: Duration = Duration::from_millis(200);

/// A connection to the server and the console, for the length of a run.
pub struct Session {
    /// First, so that it is dropped first: its feed shows what is still
    /// queued while the console is there.
    link: RefCell<Link>,
    view: SharedView,
    console: Console,
    /// Where to connect again when the connection is lost.
    server: Server,
    /// Whether this thread holds the view ([`Session::view`]).
    view_held: Cell<bool>,
    saved: Option<SavedLogins>,
    /// The name logged in as, also in the view; kept here too so that it is
    /// known without the view's lock, which a flow may hold while it calls.
    me: RefCell<Option<String>>,
    read: RefCell<LinesRead>,
    /// A script's lines read ahead ([`Session::script_lines_ahead`]), the
    /// answers to the next questions.
    ahead: RefCell<VecDeque<Input>>,
}

/// How many input lines were read, and the last one (`None` for a password).
#[derive(Debug, Default)]
struct LinesRead {
    count: usize,
    last: Option<String>,
    /// The next line is not to be shown ([`Session::withhold_next_line`]).
    withhold_next: Option<Withheld>,
    /// The last line is not to be shown, and why.
    withheld: Option<Withheld>,
}

impl Session {
    /// Starts the feed thread, which shows pushed events from now on.
    ///
    /// # Errors
    ///
    /// [`ClientError::Thread`].
    pub fn new(
        connection: Connection,
        console: Console,
        saved: Option<SavedLogins>,
        server: Server,
    ) -> Result<Session, ClientError> {
        let view = SharedView::default();
        let link = Link::start(connection, &view, console.output())?;
        Ok(Session {
            link: RefCell::new(link),
            view,
            console,
            server,
            view_held: Cell::new(false),
            saved,
            me: RefCell::default(),
            read: RefCell::default(),
            ahead: RefCell::default(),
        })
    }

    /// The connection to the server now.
    pub fn connection(&self) -> Arc<Connection> {
        Arc::clone(&self.link.borrow().connection)
    }

    /// The server's address, as given.
    pub fn server_address(&self) -> &str {
        &self.server.address
    }

    /// A new connection to the server, to replace a lost one.
    ///
    /// # Errors
    ///
    /// As [`Connection::open`].
    pub fn open_connection(&self) -> Result<Connection, ClientError> {
        Connection::open(&self.server.address, self.server.tls.as_ref())
    }

    /// Goes on over `connection`, a new one to the same server after the
    /// last was lost, already logged in as before.
    ///
    /// # Errors
    ///
    /// [`ClientError::Thread`].
    pub fn replace_connection(&self, connection: Connection) -> Result<(), ClientError> {
        let link = Link::start(connection, &self.view, self.console.output())?;
        self.link.replace(link).feed.retire();
        Ok(())
    }

    /// Whether a lost connection can be made good without the user: a
    /// person is at the console (a script's next lines would not fit what
    /// happened meanwhile), logged in, with the login saved for `--user`.
    pub fn can_resume(&self) -> bool {
        let me = self.me();
        !self.stops_at_errors()
            && !me.is_empty()
            && self
                .saved
                .as_ref()
                .is_some_and(|saved| matches!(saved.load(&me), Ok(Some(_))))
    }

    /// Waits up to `pause` between tries to reconnect, keeping what the
    /// user types meanwhile; `true` when the user pressed Ctrl-C or Ctrl-D
    /// to stop instead.
    ///
    /// # Errors
    ///
    /// [`ClientError::Input`].
    pub fn wait_unless_stopped(&self, pause: std::time::Duration) -> Result<bool, ClientError> {
        Ok(self.console.wait(pause)?.is_some())
    }

    /// Whether the user pressed Ctrl-C while a try to reconnect was under
    /// way, after [`Session::wait_unless_stopped`] last looked.
    pub fn stopped_meanwhile(&self) -> bool {
        self.console.interrupted_while_hushed()
    }

    /// What is on screen, locked: hold it while fetching and showing
    /// messages of the place on screen, so the feed waits meanwhile.
    pub fn view(&self) -> HeldView<'_> {
        let guard = feed::lock(&self.view);
        self.view_held.set(true);
        HeldView {
            guard,
            held: &self.view_held,
        }
    }

    /// What is on screen, unless a flow of this thread holds it: it is
    /// entering a place, and fetches what it shows itself. (The feed thread
    /// holds it only while it shows a line, so that is waited for.)
    pub fn view_unless_held(&self) -> Option<HeldView<'_>> {
        (!self.view_held.get()).then(|| self.view())
    }

    /// The name logged in as, as registered; empty when logged out.
    pub fn me(&self) -> String {
        self.me.borrow().clone().unwrap_or_default()
    }

    /// Logged in as `me` from now on.
    pub fn log_in(&self, me: &str) {
        *self.me.borrow_mut() = Some(me.to_string());
        self.view().log_in(me);
    }

    /// Logged out: nothing is on screen, and only the start menu is left.
    pub fn log_out(&self) {
        *self.me.borrow_mut() = None;
        self.view().log_out();
    }

    /// Returns once every event that came before the last reply is shown.
    pub fn show_pending_events(&self) {
        self.link.borrow().feed.flush();
    }

    /// Moves the read position to the newest message shown, if it moved.
    pub fn mark_read(&self) {
        feed::mark_read(&self.connection(), &self.view);
    }

    /// Where logins are kept for this server; `None` when there is no
    /// configuration directory.
    pub fn saved_logins(&self) -> Option<&SavedLogins> {
        self.saved.as_ref()
    }

    pub fn output(&self) -> &Output {
        self.console.output()
    }

    /// Reads a line after `prompt` (shown only in a terminal). If the
    /// server goes away meanwhile, the connection is made good where the
    /// user is ([`reconnect`]) and the same question stays asked.
    ///
    /// # Errors
    ///
    /// [`ClientError::LostConnection`] if the server goes away and cannot be
    /// reached again.
    pub fn ask(&self, prompt: &str) -> Result<Input, ClientError> {
        self.ask_recalling(prompt, Recall::Answers)
    }

    /// Reads a line typed in a room or a conversation, at its `prompt`:
    /// as [`Session::ask`], its history kept apart from the menus' (see
    /// [`Recall`]).
    ///
    /// # Errors
    ///
    /// As [`Session::ask`].
    pub fn ask_in_place(&self, prompt: &str) -> Result<Input, ClientError> {
        self.ask_recalling(prompt, Recall::Talk)
    }

    /// [`Session::ask`] with the history that `recall` names.
    fn ask_recalling(&self, prompt: &str, recall: Recall) -> Result<Input, ClientError> {
        self.read_answer(false, |give_up| {
            self.console.read_line(prompt, recall, give_up)
        })
    }

    /// Reads a password: without echo in a terminal, a plain line otherwise;
    /// a lost connection is made good as in [`Session::ask`].
    ///
    /// # Errors
    ///
    /// As [`Session::ask`].
    pub fn ask_password(&self, prompt: &str) -> Result<Input, ClientError> {
        self.read_answer(true, |give_up| self.console.read_password(prompt, give_up))
    }

    /// Waits for `read`'s answer, given up on (`None`) when the connection
    /// closes; the connection is then made good and the question, still
    /// asked, waited on again.
    fn read_answer(
        &self,
        secret: bool,
        read: impl Fn(&Receiver<Closed>) -> Result<Option<Input>, ClientError>,
    ) -> Result<Input, ClientError> {
        let read_ahead = self.ahead.borrow_mut().pop_front();
        let input = match read_ahead {
            Some(input) => input,
            None => self.wait_for_answer(read)?,
        };
        self.note(&input, secret);
        Ok(input)
    }

    fn wait_for_answer(
        &self,
        read: impl Fn(&Receiver<Closed>) -> Result<Option<Input>, ClientError>,
    ) -> Result<Input, ClientError> {
        loop {
            let connection = self.connection();
            if let Some(input) = read(connection.closed())? {
                return Ok(input);
            }
            self.make_good(connection.lost())?;
        }
    }

    /// A script's next `count` lines (fewer where its input ends, or where
    /// they are not written within `PEEK_WINDOW`), read but left to
    /// answer the next questions: to see whether they are the ones a flow
    /// expects before it decides what they answer. A script piped in whole
    /// has them at once; a program that writes each line only after seeing
    /// the question it answers is not kept waiting (and gets no guessing).
    /// Nothing at a terminal, where each answer is typed for the question on
    /// screen.
    ///
    /// # Errors
    ///
    /// As [`Session::ask`].
    pub fn script_lines_ahead(&self, count: usize) -> Result<Vec<String>, ClientError> {
        if !self.stops_at_errors() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + PEEK_WINDOW;
        loop {
            let lines: Vec<String> = self
                .ahead
                .borrow()
                .iter()
                .map_while(|input| match input {
                    Input::Line(line) => Some(line.clone()),
                    _ => None,
                })
                .take(count)
                .collect();
            if lines.len() == count || self.ahead.borrow().len() > lines.len() {
                return Ok(lines);
            }
            // Not written yet: the question is left open for the flow's
            // next read, which gets the line when it comes.
            let not_yet =
                crossbeam_channel::after(deadline.saturating_duration_since(Instant::now()));
            match self.console.read_line("", Recall::Answers, &not_yet)? {
                Some(input) => self.ahead.borrow_mut().push_back(input),
                None => return Ok(lines),
            }
        }
    }

    /// Connects again and resumes where the user is, if that can be done
    /// without them; otherwise `lost` ends the run.
    fn make_good(&self, lost: ClientError) -> Result<(), ClientError> {
        let made_good = if self.can_resume() {
            reconnect::make_good(self, lost)
        } else {
            Err(self.why_not_resumed(lost))
        };
        made_good.inspect_err(|err| self.console.finish_password_question(&err.to_string()))
    }

    /// `lost`, with the reason it is not made good for a person logged in
    /// at the console: without a saved login (logged out in another
    /// session, which deletes the file, or never saved) the client cannot
    /// log in again by itself, and ending without a word looked like a
    /// crash.
    fn why_not_resumed(&self, lost: ClientError) -> ClientError {
        match lost {
            ClientError::LostConnection { addr } | ClientError::NoReply { addr, .. }
                if !self.stops_at_errors() && !self.me().is_empty() =>
            {
                ClientError::NotResumed {
                    addr,
                    reason: "not reconnecting: there is no saved login to log in again with \
                             (logged out in another session, or never saved); start \
                             pipechat-client again"
                        .to_string(),
                }
            }
            other => other,
        }
    }

    fn note(&self, input: &Input, secret: bool) {
        if let Input::Line(line) = input {
            let mut read = self.read.borrow_mut();
            read.count += 1;
            read.last = (!secret).then(|| line.clone());
            // A line too short to be a password can be shown all the same.
            let may_be_password = crate::chat::limits::may_be_password(line);
            read.withheld = read.withhold_next.take().filter(|_| may_be_password);
        }
    }

    /// How many input lines have been read: in a script, the number of the
    /// last one.
    pub fn lines_read(&self) -> usize {
        self.read.borrow().count
    }

    /// The last line read, quoted for a sentence; "that line" when it is
    /// withheld ([`Session::withhold_next_line`],
    /// [`Session::withhold_last_line`]).
    pub fn quoted_line(&self, text: &str) -> String {
        match self.read.borrow().withheld {
            Some(_) => "that line".to_string(),
            None => format!("'{text}'"),
        }
    }

    /// The next line read, if long enough to be a password, is never shown
    /// in a script's stop message: a saved login logged the script in, and
    /// a script written before it was saved still gives the password there.
    pub fn withhold_next_line(&self) {
        self.read.borrow_mut().withhold_next = Some(Withheld::AfterSavedLogin);
    }

    /// The last line read is never shown, for `why`.
    pub fn withhold_last_line(&self, why: Withheld) {
        let mut read = self.read.borrow_mut();
        if read.withheld.is_none() {
            read.withheld = Some(why);
        }
    }

    /// Whether the first refusal or mistake ends the run (a script).
    pub fn stops_at_errors(&self) -> bool {
        self.console.stops_at_errors()
    }

    /// The line just read, as a script's stop names it.
    pub fn last_line_place(&self) -> InputPlace {
        let read = self.read.borrow();
        match read.withheld {
            Some(why) => InputPlace::Withheld {
                number: read.count,
                why,
            },
            None => InputPlace::Line {
                number: read.count,
                text: read.last.clone(),
            },
        }
    }

    /// The error that ends a script at the line just read.
    fn stop(&self, reason: &str) -> ClientError {
        self.stop_at(self.last_line_place(), reason)
    }

    /// The error that ends a script at `at`.
    fn stop_at(&self, at: InputPlace, reason: &str) -> ClientError {
        ClientError::ScriptStopped {
            at,
            reason: reason.to_string(),
        }
    }

    /// Something in the input that cannot be done (a choice not on the menu,
    /// an unknown room command, passwords that differ): at a terminal the
    /// explanation is shown and the flow carries on; a script stops here.
    ///
    /// # Errors
    ///
    /// [`ClientError::ScriptStopped`] in a script; [`ClientError::Output`].
    pub fn mistake(&self, explanation: &str) -> Result<(), ClientError> {
        if self.stops_at_errors() {
            Err(self.stop(explanation))
        } else {
            self.say(explanation)
        }
    }

    /// A question was not answered (`input` is Ctrl-C, Ctrl-D, the end of
    /// input or an empty line) and the choice it belongs to is cancelled. At a
    /// terminal that is the user's call; a script stops, since its next lines
    /// were meant as answers to later questions. `expected` names the answer,
    /// e.g. `a username`.
    ///
    /// # Errors
    ///
    /// [`ClientError::ScriptStopped`] in a script.
    pub fn unanswered(&self, input: &Input, expected: &str) -> Result<(), ClientError> {
        if !self.stops_at_errors() {
            return Ok(());
        }
        Err(match input {
            Input::Eof => ClientError::ScriptStopped {
                at: InputPlace::End {
                    lines: self.read.borrow().count,
                },
                reason: format!("expected {expected}"),
            },
            _ => self.stop(&format!("expected {expected}, got an empty line")),
        })
    }

    /// A note on standard error, for a script: its standard output may be
    /// read by a program, which the note is not meant for.
    pub fn remark(&self, text: &str) {
        eprintln!("pipechat-client: {text}");
    }

    /// Prints a block of text.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`] when the output is gone.
    pub fn say(&self, text: &str) -> Result<(), ClientError> {
        self.console.output().show(text)
    }

    /// Sends a request; see [`Connection::call`].
    ///
    /// # Errors
    ///
    /// As [`Connection::call`].
    pub fn call<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Result<T, ErrorReply>, ClientError> {
        match self.connection().call(command, fields) {
            // A server that has not answered for the reply timeout is as
            // good as gone: the connection is given up and made again.
            Err(lost @ (ClientError::LostConnection { .. } | ClientError::NoReply { .. })) => {
                self.make_good(lost)?;
                // Whether it was done before the connection went is not
                // known: say so, as a refusal the flow shows and goes on.
                Ok(Err(ErrorReply {
                    status: 503,
                    sentence: format!(
                        "the connection was lost before the server answered, so {} may or \
                         may not have been done; try again if it was not",
                        what_it_does(command)
                    ),
                }))
            }
            answer => answer,
        }
    }

    /// Sends a request and, if the server refuses, shows its sentence as
    /// `error: ...` and returns `None`; a script stops instead.
    ///
    /// # Errors
    ///
    /// As [`Connection::call`]; [`ClientError::ScriptStopped`] when the
    /// server refuses a script's request; at a terminal,
    /// [`ClientError::LoggedOut`] when the server says the user is no longer
    /// logged in (the main menu then goes back to the start menu).
    pub fn call_or_show<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Option<T>, ClientError> {
        Ok(self.call_shown(command, fields)?.ok())
    }

    /// As [`Session::call_or_show`], for a flow that acts on the refusal
    /// too (asks again): it is returned once shown.
    ///
    /// # Errors
    ///
    /// As [`Session::call_or_show`].
    pub fn call_shown<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Result<T, ErrorReply>, ClientError> {
        let answer = self.call(command, fields)?;
        if let Err(refusal) = &answer {
            self.refused(command, refusal)?;
        }
        Ok(answer)
    }

    /// The server refused `command`: at a terminal its sentence is shown as
    /// `error: ...`; a script stops at the line just read.
    ///
    /// # Errors
    ///
    /// As [`Session::call_or_show`].
    fn refused(&self, command: &str, refusal: &ErrorReply) -> Result<(), ClientError> {
        self.refused_at(command, refusal, self.last_line_place())
    }

    /// As `Session::refused`, a script stopping at `at`: the line the
    /// refusal is about when others were read since (a name refused once
    /// its password was asked).
    ///
    /// # Errors
    ///
    /// As [`Session::call_or_show`].
    pub fn refused_at(
        &self,
        command: &str,
        refusal: &ErrorReply,
        at: InputPlace,
    ) -> Result<(), ClientError> {
        if self.stops_at_errors() {
            return Err(self.stop_at(at, &refusal.sentence));
        }
        if self.was_logged_out(command, refusal) {
            // A line typed in a room is lost unless the user knows: it is
            // in the history, for the room once logged in again.
            let unsent = match command {
                "/sendMessage" => "; your message was not sent (↑ brings it back in the room)",
                _ => "",
            };
            self.say(&format!(
                "the server logged you out (was your password changed in another session?); \
                 log in again{unsent}"
            ))?;
            return Err(ClientError::LoggedOut);
        }
        self.say(&render::refusal(&refusal.sentence))
    }

    /// Whether `refusal` of `command` means that the server no longer
    /// counts this connection as logged in, though the client does: another
    /// session changed the password. A `401` to `/login` or
    /// `/changePassword` is a wrong password instead.
    fn was_logged_out(&self, command: &str, refusal: &ErrorReply) -> bool {
        refusal.status == 401
            && !matches!(command, "/login" | "/changePassword")
            && self.me.borrow().is_some()
    }
}

/// A connection and the thread that shows its events.
struct Link {
    /// First, so that it is dropped first: it shows what is still queued
    /// while the connection is there.
    feed: Feed,
    connection: Arc<Connection>,
}

impl Link {
    fn start(
        connection: Connection,
        view: &SharedView,
        output: &Output,
    ) -> Result<Link, ClientError> {
        let connection = Arc::new(connection);
        let feed = Feed::start(Arc::clone(&connection), Arc::clone(view), output.clone())?;
        Ok(Link { feed, connection })
    }
}

/// The server the session talks to, for connecting again.
pub struct Server {
    /// `host:port`, as given.
    pub address: String,
    /// Whom to trust when the connection is TLS; `None` is plain TCP.
    pub tls: Option<crate::tls::ClientRoots>,
}

/// The view, held by this thread until dropped.
pub struct HeldView<'a> {
    guard: MutexGuard<'a, View>,
    held: &'a Cell<bool>,
}

impl std::ops::Deref for HeldView<'_> {
    type Target = View;

    fn deref(&self) -> &View {
        &self.guard
    }
}

impl std::ops::DerefMut for HeldView<'_> {
    fn deref_mut(&mut self) -> &mut View {
        &mut self.guard
    }
}

impl Drop for HeldView<'_> {
    fn drop(&mut self) {
        self.held.set(false);
    }
}

/// What a request does, in the user's words, for a sentence about it.
fn what_it_does(command: &str) -> &'static str {
    match command {
        "/sendMessage" => "sending the message",
        "/editMessage" => "the edit",
        "/deleteMessage" => "the deletion",
        "/createChatroom" => "creating the chatroom",
        "/joinChatroom" => "joining",
        "/exitChatroom" => "leaving",
        "/setTopic" => "the topic's change",
        "/setRetention" => "the retention's change",
        "/changePassword" => "the password's change",
        "/register" => "registering",
        "/logout" => "logging out",
        "/markRead" => "marking as read",
        _ => "the request",
    }
}
