//! The user's side: reading lines and passwords, and printing without
//! mangling what is being typed.
//!
//! Two modes, chosen once at start:
//!
//! - **Terminal** (stdin and stdout are both terminals): `rustyline` edits the
//!   line (arrow keys, and a history for rooms apart from the menus': see
//!   [`Recall`]) and its external printer shows pushed lines
//!   above the prompt while the user types. rustyline reads the terminal in
//!   blocks, so the lines of a paste (without bracketed paste) arrive in one
//!   block with the first; its `buffer-redux` feature keeps the rest for the
//!   next prompt, so each line is sent in turn (without it, all but one were
//!   dropped). Passwords are read by the same editor, shown as nothing (see
//!   `PasswordMask`): a password typed or pasted right after the username
//!   is in that buffer, and a reader of its own (`rpassword` on `/dev/tty`)
//!   missed it, waited for it again, and left it to the next prompt, which
//!   showed it in clear. Text deleted at a password question with a kill
//!   key stays in rustyline's kill ring, so yanking is off from then on
//!   (see `keep_killed_passwords_from_yanks`). On a terminal rustyline
//!   cannot edit on (`TERM=dumb`) it reads plain lines with the terminal's
//!   echo, and passwords go to `rpassword` as before.
//! - **Script** (anything else): stdin is read line by line, passwords too, no
//!   prompt is printed, and output goes straight to stdout under a mutex so
//!   lines from two threads never interleave.
//!
//! Whether the first refusal or mistake ends the run depends on stdin alone:
//! when it is not a terminal, nobody is there to read the error and answer
//! again, so the run stops (see [`Console::stops_at_errors`]).
//!
//! Input is read on a thread of its own so that a wait for the user can be
//! abandoned when the server goes away. A blocked `readline` cannot be
//! interrupted, so the question stays asked: while the client reconnects the
//! prompt stays on screen and the user may go on typing, and the answer goes
//! to the same question, asked again once the connection is back (see
//! `reconnect`). Once that answer is in, nothing reads the terminal until
//! the next question: what the user types then waits in the terminal for
//! it, not echoed (it may be the password of a question to come, and it
//! would show without a prompt), and Ctrl-C still gives up. If the client
//! exits instead, the terminal is put back as it was at start, once a
//! password being typed is finished (see
//! [`Console::finish_password_question`]).

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use rustyline::completion::Completer;
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{ColorMode, Editor, ExternalPrinter, Helper};

use super::error::ClientError;
use super::render::Width;

/// What the user did at a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line, without its line feed.
    Line(String),
    /// Ctrl-C.
    Interrupted,
    /// Ctrl-D on an empty line, or the end of piped input. The end of piped
    /// input stays the end: every later read gets `Eof` again.
    Eof,
}

/// A request to the input thread.
enum Ask {
    Line { prompt: String, recall: Recall },
    Password { prompt: String },
}

/// Which line history a line typed at a terminal goes to, and ↑ brings
/// back from. What is typed in a room (messages, `/` commands) is kept
/// apart from the answers to the menus and their questions: ↑ in a room
/// brings back what was said there, such as a message a forced logout kept
/// from being sent (the client says ↑ brings it back), not the menu
/// choices and names typed since to log in and come back. Passwords go to
/// neither, and are read with no history at all: ↑ at a password question
/// brings nothing back, so that no earlier line (a message, a menu choice)
/// is sent as a password, to be refused and counted against the login
/// throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recall {
    /// Answers at the menus and to their questions (choices, names).
    Answers,
    /// Lines typed at a room's or a conversation's prompt.
    Talk,
}

/// Where lines are printed; cheap to clone and shared with the thread that
/// shows pushed events.
#[derive(Clone)]
pub struct Output {
    sink: Arc<Mutex<Sink>>,
}

enum Sink {
    Terminal(Box<dyn ExternalPrinter + Send>),
    /// Plain lines; `open_prompt` is the prompt shown and not answered yet
    /// (a person typing with the output piped), which a line shown meanwhile
    /// must not follow on its line.
    Stdout {
        open_prompt: Option<String>,
    },
    /// Kept in memory, for unit tests of what is shown.
    #[cfg(test)]
    Captured(Vec<String>),
}

impl Sink {
    /// See [`Output::width`].
    fn width(&self) -> Width {
        match self {
            Sink::Terminal(_) => terminal_width(io::stdout().as_fd()),
            Sink::Stdout { .. } => Width::Unbounded,
            #[cfg(test)]
            Sink::Captured(_) => Width::Unbounded,
        }
    }
}

impl Output {
    /// Prints `text` (which may hold several lines) as one block, followed by
    /// a line feed; in a terminal it appears above the line being typed.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`] when the terminal or stdout is gone.
    pub fn show(&self, text: &str) -> Result<(), ClientError> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let width = sink.width();
        match &mut *sink {
            // Wrapped between words, not wherever the terminal runs out of
            // columns; the lines of a message rendered to the same width
            // already fit and stay as they are.
            Sink::Terminal(printer) => printer
                .print(format!("{}\n", super::render::fit(text, width)))
                .map_err(|err| ClientError::Output(into_io(err))),
            Sink::Stdout { open_prompt } => {
                let mut stdout = io::stdout().lock();
                match open_prompt {
                    // Below the prompt, which is shown again under it: what
                    // the user typed so far still counts, as in a terminal.
                    Some(prompt) => write!(stdout, "\n{text}\n{prompt}"),
                    None => writeln!(stdout, "{text}"),
                }
                .and_then(|()| stdout.flush())
                .map_err(ClientError::Output)
            }
            #[cfg(test)]
            Sink::Captured(lines) => {
                lines.push(text.to_string());
                Ok(())
            }
        }
    }

    /// How wide what is shown here may be: the terminal's width, read each
    /// time (after a resize, new lines fit the new width), when this is the
    /// terminal; unbounded on plain stdout, even when that is a terminal
    /// (a script's output stays one line per line, as it was written, for
    /// whatever reads it), and for captured output, so that what tests see
    /// does not depend on the terminal they run in.
    pub fn width(&self) -> Width {
        self.sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .width()
    }

    /// Shows `prompt` on plain stdout, where it stays open until
    /// [`Output::close_prompt`]; with `shown_elsewhere` (a password's, which
    /// rpassword writes to the terminal itself) it is only noted as open.
    fn open_prompt(&self, prompt: String, shown_elsewhere: bool) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        if let Sink::Stdout { open_prompt } = &mut *sink {
            if !shown_elsewhere {
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(prompt.as_bytes());
                let _ = stdout.flush();
            }
            *open_prompt = Some(prompt);
        }
    }

    /// The open prompt was answered (the user's Enter ended its line).
    fn close_prompt(&self) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        if let Sink::Stdout { open_prompt } = &mut *sink {
            *open_prompt = None;
        }
    }

    /// An output that keeps what is shown, for [`Output::take_captured`].
    #[cfg(test)]
    pub fn captured() -> Output {
        Output {
            sink: Arc::new(Mutex::new(Sink::Captured(Vec::new()))),
        }
    }

    /// Every block shown since the last call, on a [`Output::captured`].
    #[cfg(test)]
    pub fn take_captured(&self) -> Vec<String> {
        match &mut *self.sink.lock().unwrap_or_else(PoisonError::into_inner) {
            Sink::Captured(lines) => std::mem::take(lines),
            _ => Vec::new(),
        }
    }
}

/// The keyboard (or the script) and the screen.
pub struct Console {
    asks: Sender<Ask>,
    answers: Receiver<io::Result<Input>>,
    output: Output,
    /// The terminal settings at start, in terminal mode.
    saved_terminal: Option<Termios>,
    /// The terminal settings at start when a person types but the output
    /// goes elsewhere (`pipechat-client | tee log`): a password is read
    /// there without echo too.
    typed_terminal: Option<Termios>,
    /// Stdin is not a terminal: a script, not a person, answers.
    stops_at_errors: bool,
    /// A question was given up on and its answer has not come yet: the
    /// input thread is still reading it.
    outstanding: Cell<bool>,
    /// The last question asked was a password's.
    asked_password: Cell<bool>,
    /// An answer that came while nobody was asking ([`Console::wait`]),
    /// for the next question.
    early: RefCell<Option<Input>>,
    /// Ctrl-C at a terminal; `None` for a script.
    ctrl_c: Option<CtrlC>,
    /// The terminal's settings before [`Console::hush`] turned echo off,
    /// while the client waits with no question asked.
    hushed: RefCell<Option<Termios>>,
}

/// What Ctrl-C does at a terminal. In `readline` the terminal is raw and
/// Ctrl-C is a key; otherwise it raises SIGINT, which ends the client as
/// usual, except while a password is read (rpassword raises SIGINT on
/// Ctrl-C after turning echo off; with the default action the client would
/// die with echo still off) or while the console is hushed: then it is
/// only noted, in `seen`.
struct CtrlC {
    kills: Arc<AtomicBool>,
    seen: Arc<AtomicBool>,
}

impl CtrlC {
    fn register() -> CtrlC {
        let kills = Arc::new(AtomicBool::new(true));
        let seen = Arc::new(AtomicBool::new(false));
        let registered = signal_hook::flag::register_conditional_default(
            signal_hook::consts::SIGINT,
            Arc::clone(&kills),
        )
        .and_then(|_| signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&seen)));
        if let Err(err) = registered {
            log::warn!("cannot handle Ctrl-C at the password prompt: {err}");
        }
        CtrlC { kills, seen }
    }
}

impl Console {
    /// Opens the console in terminal mode when stdin and stdout are both
    /// terminals, in script mode when stdin is not one. A person typing with
    /// the output going elsewhere (`pipechat-client | tee chat.log`) gets
    /// plain lines with prompts, and passwords read without echo.
    pub fn open() -> Console {
        let stdin_is_terminal = io::stdin().is_terminal();
        if stdin_is_terminal && io::stdout().is_terminal() {
            match Console::terminal() {
                Ok(console) => return console,
                Err(err) => log::warn!("no line editing ({err}); reading plain lines"),
            }
        }
        Console::script(!stdin_is_terminal, stdin_is_terminal)
    }

    /// Whether the user is at a terminal (prompts are shown, input is edited).
    pub fn is_terminal(&self) -> bool {
        self.saved_terminal.is_some()
    }

    /// Whether a refusal or a mistake ends the run: stdin is not a terminal,
    /// so the next input lines were written in advance and would be taken
    /// as answers to questions their author did not expect.
    pub fn stops_at_errors(&self) -> bool {
        self.stops_at_errors
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    /// Reads one line after showing `prompt`, kept in the history that
    /// `recall` names. Returns `None`, with the terminal restored, if
    /// `give_up` becomes ready first.
    ///
    /// # Errors
    ///
    /// [`ClientError::Input`] when stdin or the terminal fails.
    pub fn read_line<T>(
        &self,
        prompt: &str,
        recall: Recall,
        give_up: &Receiver<T>,
    ) -> Result<Option<Input>, ClientError> {
        self.ask(
            Ask::Line {
                prompt: prompt.to_string(),
                recall,
            },
            give_up,
        )
    }

    /// As [`Console::read_line`], without echo in a terminal.
    ///
    /// # Errors
    ///
    /// [`ClientError::Input`] when stdin or the terminal fails.
    pub fn read_password<T>(
        &self,
        prompt: &str,
        give_up: &Receiver<T>,
    ) -> Result<Option<Input>, ClientError> {
        self.ask(
            Ask::Password {
                prompt: prompt.to_string(),
            },
            give_up,
        )
    }

    fn ask<T>(&self, ask: Ask, give_up: &Receiver<T>) -> Result<Option<Input>, ClientError> {
        // The session goes on: echo and Ctrl-C as usual again.
        self.unhush();
        if let Some(input) = self.early.take() {
            return Ok(Some(input));
        }
        if !self.outstanding.get() {
            self.asked_password.set(matches!(ask, Ask::Password { .. }));
            self.asks.send(ask).map_err(|_| input_thread_gone())?;
            self.outstanding.set(true);
        }
        select! {
            recv(self.answers) -> answer => {
                self.outstanding.set(false);
                match answer {
                    Ok(Ok(input)) => Ok(Some(input)),
                    Ok(Err(err)) => Err(ClientError::Input(err)),
                    Err(_) => Err(input_thread_gone()),
                }
            },
            recv(give_up) -> _ => Ok(None),
        }
    }

    /// Waits up to `pause` for the answer to a question given up on (the
    /// user typing while the client reconnects). A line is kept for that
    /// question, asked again; Ctrl-C or Ctrl-D is returned: the user wants to
    /// stop. With no question pending, the console is hushed: lines wait in
    /// the terminal for the next question without being echoed, and Ctrl-C
    /// is returned too.
    ///
    /// # Errors
    ///
    /// [`ClientError::Input`] when stdin or the terminal fails.
    pub fn wait(&self, pause: Duration) -> Result<Option<Input>, ClientError> {
        if !self.outstanding.get() || self.early.borrow().is_some() {
            return Ok(self.wait_hushed(pause));
        }
        match self.answers.recv_timeout(pause) {
            Ok(Ok(Input::Line(line))) => {
                self.outstanding.set(false);
                *self.early.borrow_mut() = Some(Input::Line(line));
                if self.hush() {
                    self.output.show(
                        "(kept until the connection is back; what you type meanwhile is not shown)",
                    )?;
                }
                Ok(None)
            }
            Ok(Ok(stop)) => {
                self.outstanding.set(false);
                Ok(Some(stop))
            }
            Ok(Err(err)) => Err(ClientError::Input(err)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(None),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(input_thread_gone()),
        }
    }

    /// The client is about to exit (`why` says why) while a person is
    /// typing a password at a question given up on: waits for that line to
    /// end (Enter, Ctrl-C, Ctrl-D), still unechoed, and drops it. Exiting at
    /// once would hand the terminal back to the shell in the middle of the
    /// password, and the rest of it would be read there, in clear.
    pub fn finish_password_question(&self, why: &str) {
        if self.stops_at_errors || !self.outstanding.get() || !self.asked_password.get() {
            return;
        }
        let _ = self.output.show(&format!(
            "{why}; press Enter to end (what you type is not shown, and not sent)"
        ));
        if self.answers.recv().is_ok() {
            self.outstanding.set(false);
        }
    }

    /// Whether Ctrl-C was pressed while hushed and not yet acted on (the
    /// client was busy reconnecting, not waiting).
    pub fn interrupted_while_hushed(&self) -> bool {
        self.hushed.borrow().is_some()
            && self
                .ctrl_c
                .as_ref()
                .is_some_and(|ctrl_c| ctrl_c.seen.swap(false, Ordering::SeqCst))
    }

    /// Waits `pause`, hushed, unless Ctrl-C comes first.
    fn wait_hushed(&self, pause: Duration) -> Option<Input> {
        self.hush();
        let deadline = Instant::now() + pause;
        loop {
            if let Some(ctrl_c) = &self.ctrl_c
                && ctrl_c.seen.swap(false, Ordering::SeqCst)
            {
                return Some(Input::Interrupted);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Turns the terminal's echo off, and Ctrl-C into a note, while no
    /// question is asked; `true` if it was not hushed already. Nothing for a
    /// script.
    fn hush(&self) -> bool {
        let Some(ctrl_c) = &self.ctrl_c else {
            return false;
        };
        if self.hushed.borrow().is_some() {
            return false;
        }
        let Ok(before) = tcgetattr(io::stdin()) else {
            return false;
        };
        let mut quiet = before.clone();
        quiet
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHONL);
        ctrl_c.seen.store(false, Ordering::SeqCst);
        ctrl_c.kills.store(false, Ordering::SeqCst);
        if let Err(err) = tcsetattr(io::stdin(), OptionalActions::Now, &quiet) {
            log::debug!("cannot turn echo off: {err}");
        }
        *self.hushed.borrow_mut() = Some(before);
        true
    }

    /// Undoes [`Console::hush`], before a question is asked or at exit.
    fn unhush(&self) {
        let Some(before) = self.hushed.take() else {
            return;
        };
        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &before);
        if let Some(ctrl_c) = &self.ctrl_c {
            ctrl_c.kills.store(true, Ordering::SeqCst);
        }
    }

    /// Puts the terminal back as it was at start: the input thread may be
    /// stuck inside `readline` in raw mode, with bracketed paste on.
    /// Only then: a terminal left in its normal state is not written to.
    fn restore_terminal(&self) {
        self.unhush();
        if !self.outstanding.get() {
            return;
        }
        if let Some(saved) = &self.saved_terminal {
            let _ = tcsetattr(io::stdin(), OptionalActions::Now, saved);
            let mut stdout = io::stdout();
            let _ = stdout.write_all(b"\x1b[?2004l\r\n");
            let _ = stdout.flush();
        } else if let Some(saved) = &self.typed_terminal {
            // A password read without echo, the output going elsewhere.
            let _ = tcsetattr(io::stdin(), OptionalActions::Now, saved);
        }
    }

    fn terminal() -> Result<Console, ReadlineError> {
        let saved = tcgetattr(io::stdin()).map_err(io::Error::from)?;
        let mut editor = LineEditor::new()?;
        let hiding = Arc::new(AtomicBool::new(false));
        editor.set_helper(Some(PasswordMask {
            hiding: Arc::clone(&hiding),
        }));
        // The mask is a highlighter, which rustyline uses only when colours
        // are on: forced, so that no terminal type shows a password.
        editor.set_color_mode(ColorMode::Forced);
        keep_killed_passwords_from_yanks(&mut editor, &hiding);
        clear_typed_text_on_ctrl_c(&mut editor, &hiding);
        suspend_on_ctrl_z(&mut editor, &saved);
        let printer = editor.create_external_printer()?;
        let ctrl_c = CtrlC::register();
        // On a terminal rustyline cannot drive, it reads plain lines with the
        // terminal's own echo on: passwords then go to rpassword, as before.
        let sigint_kills = Arc::clone(&ctrl_c.kills);
        let editor_hides = !rustyline_reads_plain_lines();
        let mut histories = Histories::default();
        let (asks, answers) = spawn_input_thread(move |ask| match ask {
            Ask::Line { prompt, recall } => histories.read_line(&mut editor, recall, &prompt),
            // The editor's own history, always empty (see `Histories`).
            Ask::Password { prompt } if editor_hides => {
                read_hidden_line(&mut editor, &hiding, &prompt)
            }
            Ask::Password { prompt } => read_password_without_echo(&prompt, &sigint_kills),
        })?;
        Ok(Console {
            asks,
            answers,
            output: Output {
                sink: Arc::new(Mutex::new(Sink::Terminal(Box::new(printer)))),
            },
            saved_terminal: Some(saved),
            typed_terminal: None,
            stops_at_errors: false,
            outstanding: Cell::new(false),
            asked_password: Cell::new(false),
            early: RefCell::new(None),
            ctrl_c: Some(ctrl_c),
            hushed: RefCell::new(None),
        })
    }

    /// Plain lines from stdin; with `typed` (a person at a terminal, the
    /// output elsewhere) prompts are shown and passwords are not echoed.
    fn script(stops_at_errors: bool, typed: bool) -> Console {
        let stdin = io::stdin();
        let ctrl_c = typed.then(CtrlC::register);
        let sigint_kills = ctrl_c.as_ref().map(|ctrl_c| Arc::clone(&ctrl_c.kills));
        let output = Output {
            sink: Arc::new(Mutex::new(Sink::Stdout { open_prompt: None })),
        };
        let prompts = output.clone();
        let spawned = spawn_input_thread(move |ask| match ask {
            Ask::Password { prompt } if let Some(kills) = &sigint_kills => {
                prompts.open_prompt(prompt.clone(), true);
                let password = read_password_without_echo(&prompt, kills);
                prompts.close_prompt();
                password
            }
            Ask::Line { prompt, .. } | Ask::Password { prompt } => {
                if typed {
                    prompts.open_prompt(prompt, false);
                }
                let line = read_plain_line(&mut stdin.lock());
                if typed {
                    prompts.close_prompt();
                }
                line
            }
        });
        let (asks, answers) = spawned.unwrap_or_else(|err| {
            // No thread, no input: every read reports the failure.
            let (asks, _) = crossbeam_channel::unbounded();
            let (answer, answers) = crossbeam_channel::bounded(1);
            let _ = answer.send(Err(err));
            (asks, answers)
        });
        Console {
            asks,
            answers,
            output,
            saved_terminal: None,
            typed_terminal: typed.then(|| tcgetattr(io::stdin()).ok()).flatten(),
            stops_at_errors,
            outstanding: Cell::new(false),
            asked_password: Cell::new(false),
            early: RefCell::new(None),
            ctrl_c,
            hushed: RefCell::new(None),
        }
    }
}

impl Drop for Console {
    /// The client is exiting: a question given up on leaves the terminal as
    /// `readline` set it.
    fn drop(&mut self) {
        self.restore_terminal();
    }
}

fn input_thread_gone() -> ClientError {
    ClientError::Input(io::Error::other("the input thread ended"))
}

type InputChannels = (Sender<Ask>, Receiver<io::Result<Input>>);

/// Runs `read` for each ask on a thread that lives until the console is dropped.
fn spawn_input_thread(
    mut read: impl FnMut(Ask) -> io::Result<Input> + Send + 'static,
) -> io::Result<InputChannels> {
    let (asks, ask_receiver) = crossbeam_channel::bounded::<Ask>(1);
    let (answer_sender, answers) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("input".to_string())
        .spawn(move || {
            for ask in ask_receiver {
                if answer_sender.send(read(ask)).is_err() {
                    return;
                }
            }
        })?;
    Ok((asks, answers))
}

/// The terminal's line editor: rustyline with [`PasswordMask`].
type LineEditor = Editor<PasswordMask, DefaultHistory>;

/// The line editor's two histories ([`Recall`]). rustyline has one: each
/// is lent to the editor for one line at a time, so that the editor's own
/// stays empty, and a password, read with it, has no history to recall.
#[derive(Default)]
struct Histories {
    answers: DefaultHistory,
    talk: DefaultHistory,
}

impl Histories {
    /// Reads a line at `prompt` with `editor`, holding the history that
    /// `recall` names meanwhile (a line typed goes to it).
    fn read_line(
        &mut self,
        editor: &mut LineEditor,
        recall: Recall,
        prompt: &str,
    ) -> io::Result<Input> {
        let history = match recall {
            Recall::Answers => &mut self.answers,
            Recall::Talk => &mut self.talk,
        };
        std::mem::swap(editor.history_mut(), history);
        let read = read_edited_line(editor, prompt);
        std::mem::swap(editor.history_mut(), history);
        read
    }
}

/// Hides the line being typed while a password is read: rustyline draws
/// it as blanks, and the cursor is hidden meanwhile, so the screen shows
/// neither the password nor its length. Reading passwords with the line
/// editor itself, not a reader of their own, is what lets a password
/// typed ahead (read into rustyline's buffer with the line before it)
/// reach the password question rather than the next prompt.
struct PasswordMask {
    /// Set while a password is read; shared with [`KillRingGuard`].
    hiding: Arc<AtomicBool>,
}

impl Highlighter for PasswordMask {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> std::borrow::Cow<'l, str> {
        if self.hiding.load(Ordering::SeqCst) {
            // As many blanks as characters: rustyline places the cursor
            // by the line's own width, which stays unseen.
            std::borrow::Cow::Owned(" ".repeat(line.chars().count()))
        } else {
            std::borrow::Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.hiding.load(Ordering::SeqCst) && kind != CmdKind::MoveCursor
    }
}

impl Completer for PasswordMask {
    type Candidate = String;
}

impl Hinter for PasswordMask {
    type Hint = String;
}

impl Validator for PasswordMask {}

impl Helper for PasswordMask {}

fn read_edited_line(editor: &mut LineEditor, prompt: &str) -> io::Result<Input> {
    match editor.readline(prompt) {
        Ok(line) => {
            if !line.trim().is_empty() {
                let _ = editor.add_history_entry(line.as_str());
            }
            Ok(Input::Line(line))
        }
        Err(err) => readline_failure(err),
    }
}

/// Whether rustyline, on this terminal type, reads plain lines with the
/// terminal's echo on (its list of terminals it cannot edit on).
fn rustyline_reads_plain_lines() -> bool {
    std::env::var("TERM").is_ok_and(|term| {
        ["dumb", "cons25", "emacs"]
            .iter()
            .any(|unsupported| term.eq_ignore_ascii_case(unsupported))
    })
}

/// Keeps a password deleted with a kill key (Ctrl-U, Ctrl-W, ...) from being
/// shown again: rustyline keeps killed text in its kill ring for Ctrl-Y
/// (yank) and Alt-Y at any later prompt, and has no way to empty it. Once a
/// kill key has been pressed while a password is read, those two keys do
/// nothing for the rest of the session. Ctrl-X counts as a kill key there
/// (Ctrl-X Backspace kills).
fn keep_killed_passwords_from_yanks(editor: &mut LineEditor, hiding: &Arc<AtomicBool>) {
    use rustyline::{EventHandler, KeyCode, KeyEvent, Modifiers};
    let killed = Arc::new(AtomicBool::new(false));
    let kills = [
        KeyEvent::ctrl('U'),
        KeyEvent::ctrl('W'),
        KeyEvent::ctrl('K'),
        KeyEvent::ctrl('X'),
        KeyEvent::alt('d'),
        KeyEvent::alt('D'),
        KeyEvent(KeyCode::Backspace, Modifiers::ALT),
    ];
    let guard = |key: GuardedKey| {
        EventHandler::Conditional(Box::new(KillRingGuard {
            key,
            hiding: Arc::clone(hiding),
            killed: Arc::clone(&killed),
        }))
    };
    for key in kills {
        editor.bind_sequence(key, guard(GuardedKey::Kill));
    }
    for key in [KeyEvent::ctrl('Y'), KeyEvent::alt('y'), KeyEvent::alt('Y')] {
        editor.bind_sequence(key, guard(GuardedKey::Yank));
    }
}

/// Ctrl-C with text on the line clears the line, as in a shell, instead of
/// doing what Ctrl-C does at that prompt (back to the menu, cancel the
/// question, show the menu again): a user who typed something and thought
/// better of it must not go back to the menu with it unsent, and a pasted draft of
/// many lines goes at once. (Ctrl-Y brings it back.) On an empty line, and
/// at a password question, whose text the user cannot see, Ctrl-C is as
/// before.
fn clear_typed_text_on_ctrl_c(editor: &mut LineEditor, hiding: &Arc<AtomicBool>) {
    editor.bind_sequence(
        rustyline::KeyEvent::ctrl('C'),
        rustyline::EventHandler::Conditional(Box::new(ClearOnCtrlC {
            hiding: Arc::clone(hiding),
        })),
    );
}

/// The handler of [`clear_typed_text_on_ctrl_c`].
struct ClearOnCtrlC {
    /// The [`PasswordMask`]'s: set while a password is read.
    hiding: Arc<AtomicBool>,
}

impl rustyline::ConditionalEventHandler for ClearOnCtrlC {
    fn handle(
        &self,
        _event: &rustyline::Event,
        _n: rustyline::RepeatCount,
        _positive: bool,
        ctx: &rustyline::EventContext,
    ) -> Option<rustyline::Cmd> {
        let typed = !ctx.line().is_empty() && !self.hiding.load(Ordering::SeqCst);
        typed.then_some(rustyline::Cmd::Kill(rustyline::Movement::WholeBuffer))
    }
}

/// Binds Ctrl-Z to [`SuspendOnCtrlZ`], rustyline's suspension made whole.
fn suspend_on_ctrl_z(editor: &mut LineEditor, normal: &Termios) {
    let continued = Arc::new(AtomicBool::new(false));
    if let Err(err) =
        signal_hook::flag::register(signal_hook::consts::SIGCONT, Arc::clone(&continued))
    {
        // rustyline's own Ctrl-Z stays.
        log::warn!("cannot tell when the client is continued after Ctrl-Z: {err}");
        return;
    }
    editor.bind_sequence(
        rustyline::KeyEvent::ctrl('Z'),
        rustyline::EventHandler::Conditional(Box::new(SuspendOnCtrlZ {
            normal: normal.clone(),
            continued,
        })),
    );
}

/// Ctrl-Z while a line is edited: the terminal as at start, the process
/// group stopped, and the line editor's raw mode back once the shell's `fg`
/// has continued it. rustyline's own Ctrl-Z turns raw mode on again as soon
/// as its `kill(0, SIGTSTP)` returns, which in a client of several threads
/// may be before the stop; the shell then saved that raw mode at the stop,
/// or put back the normal one at `fg`, and after `fg` the line was read
/// without line editing: Ctrl-C was a signal (it ended the client) and the
/// arrow keys typed escape codes.
struct SuspendOnCtrlZ {
    /// The terminal's mode at start, for the shell while the client is
    /// stopped.
    normal: Termios,
    /// Set by SIGCONT: the client runs again.
    continued: Arc<AtomicBool>,
}

impl rustyline::ConditionalEventHandler for SuspendOnCtrlZ {
    fn handle(
        &self,
        _event: &rustyline::Event,
        _n: rustyline::RepeatCount,
        _positive: bool,
        _ctx: &rustyline::EventContext,
    ) -> Option<rustyline::Cmd> {
        /// How long to wait for the stop when none comes (a process group
        /// that no shell controls is not stopped by SIGTSTP).
        const NO_STOP: Duration = Duration::from_secs(1);
        let stdin = io::stdin();
        let raw = tcgetattr(&stdin).ok()?;
        let mut stdout = io::stdout();
        // Bracketed paste off for the shell, as rustyline's raw mode's end.
        let _ = stdout.write_all(b"\x1b[?2004l\r\n");
        let _ = stdout.flush();
        let _ = tcsetattr(&stdin, OptionalActions::Now, &self.normal);
        self.continued.store(false, Ordering::SeqCst);
        if rustix::process::kill_current_process_group(rustix::process::Signal::TSTP).is_ok() {
            let asked = Instant::now();
            while !self.continued.load(Ordering::SeqCst) && asked.elapsed() < NO_STOP {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = tcsetattr(&stdin, OptionalActions::Now, &raw);
        let _ = stdout.write_all(b"\x1b[?2004h");
        let _ = stdout.flush();
        Some(rustyline::Cmd::Repaint)
    }
}

#[derive(Clone, Copy)]
enum GuardedKey {
    /// Does what it always does, noted if a password is being read.
    Kill,
    /// Does nothing once a password may be in the kill ring.
    Yank,
}

/// One key of [`keep_killed_passwords_from_yanks`].
struct KillRingGuard {
    key: GuardedKey,
    /// The [`PasswordMask`]'s: set while a password is read.
    hiding: Arc<AtomicBool>,
    /// Set once a kill key was pressed while a password was read.
    killed: Arc<AtomicBool>,
}

impl rustyline::ConditionalEventHandler for KillRingGuard {
    fn handle(
        &self,
        _event: &rustyline::Event,
        _n: rustyline::RepeatCount,
        _positive: bool,
        _ctx: &rustyline::EventContext,
    ) -> Option<rustyline::Cmd> {
        match self.key {
            GuardedKey::Kill => {
                if self.hiding.load(Ordering::SeqCst) {
                    self.killed.store(true, Ordering::SeqCst);
                }
                None
            }
            GuardedKey::Yank => self
                .killed
                .load(Ordering::SeqCst)
                .then_some(rustyline::Cmd::Noop),
        }
    }
}

/// A password at the terminal: read like any line, shown as nothing (while
/// `hiding`, the editor's [`PasswordMask`] flag, is set), and kept out of
/// the history.
fn read_hidden_line(
    editor: &mut LineEditor,
    hiding: &AtomicBool,
    prompt: &str,
) -> io::Result<Input> {
    hiding.store(true, Ordering::SeqCst);
    let cursor = editor.set_cursor_visibility(false);
    let read = editor.readline(prompt);
    drop(cursor);
    hiding.store(false, Ordering::SeqCst);
    match read {
        Ok(password) => Ok(Input::Line(password)),
        Err(err) => readline_failure(err),
    }
}

/// Ctrl-C and Ctrl-D as the user's answers; anything else as the error.
fn readline_failure(err: ReadlineError) -> io::Result<Input> {
    match err {
        ReadlineError::Interrupted => Ok(Input::Interrupted),
        ReadlineError::Eof => Ok(Input::Eof),
        err => Err(into_io(err)),
    }
}

/// The columns of the terminal `stream` is, read now; unbounded when it
/// is not a terminal or its width is not known. The one measure for
/// standard output and standard error (which wraps the error a run ends
/// with whenever it is a terminal, even for a script).
fn terminal_width(stream: BorrowedFd<'_>) -> Width {
    if !stream.is_terminal() {
        return Width::Unbounded;
    }
    rustix::termios::tcgetwinsize(stream)
        .ok()
        .map(|size| size.ws_col)
        .filter(|&columns| columns > 0)
        .map_or(Width::Unbounded, |columns| {
            Width::Columns(usize::from(columns))
        })
}

/// Writes `why` a run failed on standard error, as its last line
/// (`pipechat-client: ...`). These sentences are long (the wrong port's
/// names the right one and how to open the web page), and a terminal
/// would break them mid-word: at a terminal they wrap between words as
/// everything else shown there does. Piped (`2> errors.log`), the line
/// stays whole for whatever reads it.
pub fn show_failure(why: &dyn std::fmt::Display) {
    let text = failure_text(why, terminal_width(io::stderr().as_fd()));
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
    let _ = stderr.flush();
}

/// [`show_failure`]'s line, fitted to `width`.
fn failure_text(why: &dyn std::fmt::Display, width: Width) -> String {
    let line = format!("pipechat-client: {why}");
    super::render::fit(&line, width).into_owned()
}

/// A password typed at a terminal whose output goes elsewhere, not echoed
/// (rpassword, through `/dev/tty`). rpassword raises SIGINT on Ctrl-C after turning echo back
/// on; `sigint_kills` keeps that from ending the client meanwhile.
fn read_password_without_echo(prompt: &str, sigint_kills: &AtomicBool) -> io::Result<Input> {
    sigint_kills.store(false, Ordering::SeqCst);
    let password = rpassword::prompt_password(prompt);
    sigint_kills.store(true, Ordering::SeqCst);
    match password {
        Ok(password) => Ok(Input::Line(password)),
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(Input::Interrupted),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
            // rpassword ends the prompt's line on Enter and on Ctrl-C, not
            // on Ctrl-D: what comes next would follow the prompt.
            if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
                let _ = tty.write_all(b"\n");
            }
            Ok(Input::Eof)
        }
        Err(err) => Err(err),
    }
}

/// One line of piped input; invalid UTF-8 is replaced rather than refused.
fn read_plain_line(stdin: &mut impl BufRead) -> io::Result<Input> {
    let mut line = Vec::new();
    if stdin.read_until(b'\n', &mut line)? == 0 {
        return Ok(Input::Eof);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Input::Line(String::from_utf8_lossy(&line).into_owned()))
}

fn into_io(err: ReadlineError) -> io::Error {
    match err {
        ReadlineError::Io(err) => err,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the terminal's own output is wrapped: a script's output (plain
    /// stdout, even when that is a terminal) and what tests capture are
    /// not, whatever terminal they run in.
    #[test]
    fn only_the_terminal_output_has_a_width() {
        let plain = Output {
            sink: Arc::new(Mutex::new(Sink::Stdout { open_prompt: None })),
        };
        assert_eq!(plain.width(), Width::Unbounded);
        assert_eq!(Output::captured().width(), Width::Unbounded);
    }

    /// The error a run ends with wraps between words to a terminal's
    /// width, as other output does, and stays one line when unbounded
    /// (standard error piped).
    #[test]
    fn the_final_error_wraps_between_words_only_with_a_width() {
        let why = "127.0.0.1:8081 answers HTTP: it is a web server (perhaps pipechat's web \
                   page: open http://127.0.0.1:8081/ in a browser)";
        let whole = format!("pipechat-client: {why}");
        assert_eq!(failure_text(&why, Width::Unbounded), whole);
        let wrapped = failure_text(&why, Width::Columns(30));
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1, "{wrapped}");
        assert!(
            lines
                .iter()
                .all(|line| unicode_width::UnicodeWidthStr::width(*line) <= 30),
            "{wrapped}"
        );
        assert_eq!(lines.join(" "), whole, "broken only at spaces");
    }

    #[test]
    fn piped_lines_lose_their_terminators_and_end_for_good() {
        let mut input = io::Cursor::new(b"one\r\ntwo | \\ \xff\nlast".to_vec());
        let mut next = || read_plain_line(&mut input).expect("read");
        assert_eq!(next(), Input::Line("one".into()));
        assert_eq!(next(), Input::Line("two | \\ \u{fffd}".into()));
        assert_eq!(next(), Input::Line("last".into()));
        assert_eq!(next(), Input::Eof);
        assert_eq!(next(), Input::Eof);
    }
}
