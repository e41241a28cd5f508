//! The two menus: before login (register, login, quit) and after it (rooms,
//! direct messages, search, users, password, logout).
//!
//! A wrong password at login is asked again, the name kept, a few times
//! (`PASSWORD_TRIES`) before the start menu comes back; a script stops at
//! the first.
//!
//! Registering first finds out whether the server takes new accounts at
//! all (see `registration_closed`), then asks the new password twice (again
//! while it is too short, too long or the two differ) and logs in to the
//! new account.
//!
//! Changing the password asks a wrong current one again, keeping the new
//! one, as many times as a login's (see [`change_password`]).
//!
//! # Logins kept for next time
//!
//! Every password login saves the resume token it gets (see
//! [`super::saved_login`]); `--user NAME`, and the start menu's login once
//! NAME is typed, try NAME's saved token first (`/resume`) and ask the
//! password only when there is none or the server refuses it (the file is
//! then deleted). Choosing logout revokes the token and deletes the file;
//! quitting otherwise (Ctrl-D, the end of a script) keeps both, so the next
//! login as NAME needs no password. Without a saved token, quitting logs out
//! as before.
//!
//! A login script that `--user NAME` was added to still starts with the
//! start menu's login lines (`2`, NAME, the password): they are recognised
//! and read as such, and skipped when the saved token logged in (see
//! `skip_script_login`). So is the password line of a script that logs in
//! from the start menu (see `skip_script_password`).
//!
//! After any login the connection subscribes to all direct messages
//! (`/subscribe|@`), so they show wherever the user is, and the unread
//! counts are shown.
//!
//! `/quit` in a room or a conversation quits as Ctrl-D at the main menu
//! does.
//!
//! At a menu, Ctrl-C shows the menu again and Ctrl-D quits, logging out first
//! when logged in (unless the login is saved); `q`, `quit` and `exit`, in any
//! case, quit as Ctrl-D does; at a question inside a choice (a name, a password) both
//! cancel the choice. Piped input that ends behaves as Ctrl-D at a menu; at a
//! question, and at a choice that is not on the menu, a script stops (see
//! [`Session::unanswered`] and [`Session::mistake`]).

use serde::de::IgnoredAny;

use super::console::Input;
use super::error::{ClientError, ErrorReply, Withheld};
use super::render::{self, Width};
use super::room::{self, Next};
use super::session::Session;
use crate::chat::limits;
use crate::wire::{AccountName, CreatedRoom, LoginReply, NewToken, Unread};

const START_MENU: &str = "\
1) register
2) login
3) quit";

/// The main menu's choices, in order; `q` is listed so that nobody has to
/// guess how to leave (any of [`QUIT_WORDS`] works).
const MAIN_MENU_CHOICES: [&str; 9] = [
    "1) enter chatroom",
    "2) create chatroom",
    "3) display all chatrooms",
    "4) active users",
    "5) logout",
    "6) direct messages",
    "7) search",
    "8) change password",
    "q) quit",
];

/// The width of the main menu's first column (1 to 5; 6 to 8 and `q` beside
/// them).
const MAIN_MENU_COLUMN: usize = 28;

/// The main menu, in two columns, or in one where `width` is too narrow
/// for two (two where it is unbounded: the output of a script).
fn main_menu_for(width: Width) -> String {
    let (first, second) = MAIN_MENU_CHOICES.split_at(5);
    let two: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(row, left)| match second.get(row) {
            Some(right) => format!("{left:<MAIN_MENU_COLUMN$}{right}"),
            None => (*left).to_string(),
        })
        .collect();
    let widest = two.iter().map(String::len).max().unwrap_or(0);
    match width {
        Width::Columns(columns) if columns < widest => MAIN_MENU_CHOICES.join("\n"),
        _ => two.join("\n"),
    }
}

/// The start menu's choice that logs in.
const LOGIN_CHOICE: &str = "2";

/// What may be typed at either menu to quit, in any case, besides its
/// number at the start menu: a newcomer tries these before Ctrl-D.
const QUIT_WORDS: [&str; 3] = ["q", "quit", "exit"];

/// Whether `choice` is one of [`QUIT_WORDS`].
fn is_quit_word(choice: &str) -> bool {
    QUIT_WORDS
        .iter()
        .any(|word| choice.trim().eq_ignore_ascii_case(word))
}

/// The prompt at both menus.
const MENU_PROMPT: &str = "> ";

/// Where the main menu leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterLogin {
    LoggedOut,
    Quit,
}

/// Runs the menus until the user quits. With `user`, starts by logging in
/// as that user: with the saved token if there is one, else asking the
/// password.
///
/// # Errors
///
/// Only what ends the session: the server gone, the terminal gone.
pub fn run(session: &Session, user: Option<&str>) -> Result<(), ClientError> {
    if let Some(username) = user {
        let me = match resume(session, username)? {
            Some(me) => {
                let found = skip_script_login(session, username, true)?;
                pass_over_password(session, found, || {
                    format!(
                        "skipped input lines 1 to 3 (the login choice, the username and the \
                         password): {me}'s saved login logged in"
                    )
                })?;
                Some(me)
            }
            None => {
                skip_script_login(session, username, false)?;
                log_in(session, username)?
            }
        };
        if let Some(me) = me
            && main_menu(session, &me)? == AfterLogin::Quit
        {
            return Ok(());
        }
    }
    start_menu(session)
}

/// Whether a script run with `--user NAME` starts with the start menu's
/// login lines, the login choice and NAME, which are then read (skipped):
/// a login script that `--user` was added to, as docs/client.md suggests. Its
/// next line is the password, whether or not the login was saved. Without
/// `--user` the same lines log in; with it they would be read as the main
/// menu's "create chatroom" and its name, and the password shown in the
/// error that follows. After a `saved` login, where the same two lines
/// could also create a chatroom named NAME, the third must be as long as a
/// password can be, which no menu choice is.
fn skip_script_login(session: &Session, username: &str, saved: bool) -> Result<bool, ClientError> {
    let is_login_choice = |line: &String| line.trim() == LOGIN_CHOICE;
    if !session
        .script_lines_ahead(1)?
        .first()
        .is_some_and(is_login_choice)
    {
        return Ok(false);
    }
    let lines = session.script_lines_ahead(if saved { 3 } else { 2 })?;
    let named = lines
        .get(1)
        .is_some_and(|name| name.trim().eq_ignore_ascii_case(username));
    let then_a_password = !saved
        || lines
            .get(2)
            .is_some_and(|line| limits::may_be_password(line));
    let found = named && then_a_password;
    if found {
        session.ask("")?;
        session.ask("")?;
    }
    Ok(found)
}

/// A line typed at a menu that is none of its `choices`: the mistake names
/// it, unless it is long enough to be a password. A script whose lines got
/// out of step with the questions (one written for another user, or for a
/// login that is now saved) puts its password where a menu choice is read.
fn not_a_choice(session: &Session, line: &str, choices: &str) -> Result<(), ClientError> {
    if limits::may_be_password(line) {
        session.withhold_last_line(Withheld::MayBePassword);
    }
    session.mistake(&format!(
        "{} is not a choice; type {choices}",
        session.quoted_line(line.trim())
    ))
}

fn start_menu(session: &Session) -> Result<(), ClientError> {
    loop {
        session.say(START_MENU)?;
        let choice = match session.ask(MENU_PROMPT)? {
            Input::Line(choice) => choice,
            Input::Interrupted => continue,
            Input::Eof => return Ok(()),
        };
        // The menu's words work as well as its numbers.
        let me = match choice.trim().to_ascii_lowercase().as_str() {
            "1" | "register" => register(session)?,
            LOGIN_CHOICE | "login" | "log in" => log_in_asking_name(session)?,
            "3" => return Ok(()),
            "" => None,
            word if is_quit_word(word) => return Ok(()),
            _ => {
                not_a_choice(session, &choice, "1, 2 or 3 (or q to quit)")?;
                None
            }
        };
        if let Some(me) = me
            && main_menu(session, &me)? == AfterLogin::Quit
        {
            return Ok(());
        }
    }
}

fn main_menu(session: &Session, me: &str) -> Result<AfterLogin, ClientError> {
    loop {
        session.say(&main_menu_for(session.output().width()))?;
        let choice = match session.ask(MENU_PROMPT)? {
            Input::Line(choice) if !is_quit_word(&choice) => choice,
            Input::Interrupted => continue,
            Input::Line(_) | Input::Eof => {
                quit(session, me)?;
                return Ok(AfterLogin::Quit);
            }
        };
        let done = match choice.trim() {
            "1" => room::enter(session),
            "2" => create_room(session),
            "3" => show_rooms(session).map(|()| Next::Menu),
            "4" => show_active_users(session).map(|()| Next::Menu),
            "5" => {
                log_out(session, me)?;
                return Ok(AfterLogin::LoggedOut);
            }
            "6" => room::open_conversation(session),
            "7" => search_everywhere(session).map(|()| Next::Menu),
            "8" => change_password(session).map(|()| Next::Menu),
            "" => Ok(Next::Menu),
            _ => not_a_choice(session, &choice, "1 to 8, or q to quit").map(|()| Next::Menu),
        };
        match done {
            Ok(Next::Menu) => {}
            // `/quit` in a room or a conversation.
            Ok(Next::Quit) => {
                quit(session, me)?;
                return Ok(AfterLogin::Quit);
            }
            Err(ClientError::LoggedOut) => {
                session.log_out();
                return Ok(AfterLogin::LoggedOut);
            }
            Err(err) => return Err(err),
        }
    }
}

/// Reads a name (`expected` says which, for a script that stops); `None`
/// when the user cancels (Ctrl-C, Ctrl-D, empty line). Names never start or
/// end with spaces, so the answer is trimmed.
pub fn ask_name(
    session: &Session,
    prompt: &str,
    expected: &str,
) -> Result<Option<String>, ClientError> {
    match session.ask(prompt)? {
        Input::Line(name) if !name.trim().is_empty() => Ok(Some(name.trim().to_string())),
        other => {
            session.unanswered(&other, expected)?;
            Ok(None)
        }
    }
}

/// Reads a password as typed: passwords may contain spaces, so no trimming.
fn ask_password(session: &Session, prompt: &str) -> Result<Option<String>, ClientError> {
    match session.ask_password(prompt)? {
        Input::Line(password) => Ok(Some(password)),
        other => {
            session.unanswered(&other, "a password")?;
            Ok(None)
        }
    }
}

/// Registers a new account and logs in to it; the name as registered.
fn register(session: &Session) -> Result<Option<String>, ClientError> {
    if registration_closed(session)? {
        return Ok(None);
    }
    let Some(mut username) = ask_new_username(session, "username: ")? else {
        return Ok(None);
    };
    let mut name_line = session.last_line_place();
    let Some(password) = choose_password(session)? else {
        return Ok(None);
    };
    loop {
        match session.call::<AccountName>("/register", &[&username, &password])? {
            Ok(account) => {
                session.say(&format!("registered {}", account.username))?;
                return Ok(log_in_as(session, &account.username, &password)?.ok());
            }
            // A taken name is known only once the server is asked: another
            // name, and the password already chosen twice is kept. (A
            // script stops at the name's line, not at the password's, read
            // last.)
            Err(refusal) if refusal.status == 409 => {
                session.refused_at("/register", &refusal, name_line)?;
                let Some(other) = ask_new_username(session, "another username: ")? else {
                    return Ok(None);
                };
                username = other;
                name_line = session.last_line_place();
            }
            Err(refusal) => {
                session.refused_at("/register", &refusal, session.last_line_place())?;
                return Ok(None);
            }
        }
    }
}

/// Whether the server takes no new accounts (`--registration closed`),
/// said then as the server words it (a script stops at the choice's line),
/// before the user types a name and a new password twice for nothing. The
/// greeting cannot say it, so `/register` is asked with an empty name and
/// password: the server refuses a closed registration (`403`) before it
/// looks at the fields, and otherwise the empty name (`400`), which it
/// checks first; nothing is created, no password is hashed, and
/// registrations count against no throttle. A taken name cannot be found
/// out the same way before the passwords: the server looks for it only
/// once the password follows the rules, and would then create the account.
fn registration_closed(session: &Session) -> Result<bool, ClientError> {
    match session.call::<IgnoredAny>("/register", &["", ""])? {
        Err(refusal) if refusal.status == 403 => {
            session.refused_at("/register", &refusal, session.last_line_place())?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Asks for a username to register until it follows the rules (a script
/// stops at the first that does not); `None` when the user cancels.
fn ask_new_username(session: &Session, prompt: &str) -> Result<Option<String>, ClientError> {
    loop {
        let Some(username) = ask_name(session, prompt, "a username")? else {
            return Ok(None);
        };
        match limits::check_username(&username) {
            Ok(()) => return Ok(Some(username)),
            Err(rule) => session.mistake(&rule)?,
        }
    }
}

/// Asks for a new password, then for it again, until it has an allowed
/// length and both answers agree; `None` when the user cancels.
fn choose_password(session: &Session) -> Result<Option<String>, ClientError> {
    loop {
        let Some(password) = ask_password(session, "new password: ")? else {
            return Ok(None);
        };
        if let Err(rule) = limits::check_password(&password) {
            let what = if password.len() < limits::MIN_PASSWORD_BYTES {
                "too short"
            } else {
                "too long"
            };
            session.mistake(&format!("{what}: {rule}"))?;
            continue;
        }
        let Some(again) = ask_password(session, "new password again: ")? else {
            return Ok(None);
        };
        if again == password {
            return Ok(Some(password));
        }
        session.mistake("the two passwords differ")?;
    }
}

/// How many passwords a person may type for one login before the start
/// menu comes back: a mistyped one is asked again with the name kept, and a
/// wrong name (refused with the same sentence) does not keep them long.
const PASSWORD_TRIES: usize = 3;

/// What a password asked again says after it, in brackets: how many
/// more may be typed (`2 more tries`, `1 more try`), then `how_to_stop`.
fn tries_left_note(tries_left: usize, how_to_stop: &str) -> String {
    let tries = if tries_left == 1 { "try" } else { "tries" };
    format!("({tries_left} more {tries}; {how_to_stop})")
}

/// The start menu's login: asks the name, then logs in with the login
/// saved on this computer for that name, if there is one and the server
/// takes it, and otherwise asks the password ([`log_in`]); the name as the
/// server spells it.
fn log_in_asking_name(session: &Session) -> Result<Option<String>, ClientError> {
    let Some(username) = ask_name(session, "username: ", "a username")? else {
        return Ok(None);
    };
    match resume(session, &username)? {
        Some(me) => {
            skip_script_password(session, &me)?;
            Ok(Some(me))
        }
        None => log_in(session, &username),
    }
}

/// After the start menu's login used a saved login, the password line of a
/// script written for a password login (the line after the username) is
/// read, never shown, with a note on stderr, when it is as long as a
/// password can be, which no menu choice is: the rest of the script runs as
/// meant. A script that counts on the saved login goes on with its next
/// line, which a stop message then does not show when it may be a password
/// (long enough to be one).
fn skip_script_password(session: &Session, me: &str) -> Result<(), ClientError> {
    if !session.stops_at_errors() {
        return Ok(());
    }
    let a_password = session
        .script_lines_ahead(1)?
        .first()
        .is_some_and(|line| limits::may_be_password(line));
    pass_over_password(session, a_password, || {
        format!(
            "skipped input line {} (the password): {me}'s saved login logged in",
            session.lines_read()
        )
    })
}

/// After a saved login: reads a script's password line when `found`, as a
/// password so that it is never shown, and says on stderr what was
/// `skipped`; otherwise keeps the next line out of any stop message when it
/// is long enough to be a password all the same.
fn pass_over_password(
    session: &Session,
    found: bool,
    skipped: impl FnOnce() -> String,
) -> Result<(), ClientError> {
    if !found {
        session.withhold_next_line();
    } else if let Input::Line(_) = session.ask_password("")? {
        session.remark(&skipped());
    }
    Ok(())
}

/// Logs in as `username` with the password, which it asks; the name as the
/// server spells it. A wrong password is asked again at a terminal, up to
/// [`PASSWORD_TRIES`] times; a script stops at it.
///
/// A script's line too short to be any password is not sent: a script that
/// counts on a saved login the server no longer takes has its next line
/// (a menu choice) read here, and sending it would only count against the
/// login throttle.
fn log_in(session: &Session, username: &str) -> Result<Option<String>, ClientError> {
    // Whose, so that a name mistyped (in `--user`) shows before the
    // password is typed for it.
    let prompt = format!("{username}'s password: ");
    for tries_left in (0..PASSWORD_TRIES).rev() {
        let Some(password) = ask_password(session, &prompt)? else {
            return Ok(None);
        };
        if session.stops_at_errors() && password.len() < limits::MIN_PASSWORD_BYTES {
            session.mistake(&format!(
                "too short to be a password ({} bytes at least), so it was not sent",
                limits::MIN_PASSWORD_BYTES
            ))?;
        }
        match log_in_as(session, username, &password)? {
            Ok(me) => return Ok(Some(me)),
            Err(ErrorReply { status: 401, .. }) if tries_left > 0 => session.say(&format!(
                "the password for {username} again {}",
                tries_left_note(tries_left, "Ctrl-C goes back to the menu")
            ))?,
            Err(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// Logs in with `password`; the name as the server spells it, or the
/// server's refusal, already shown (a script stops at it).
fn log_in_as(
    session: &Session,
    username: &str,
    password: &str,
) -> Result<Result<String, ErrorReply>, ClientError> {
    let account = match session.call_shown::<LoginReply>("/login", &[username, password])? {
        Ok(account) => account,
        Err(refusal) => return Ok(Err(refusal)),
    };
    save_token(session, &account.username, &account.token)?;
    session.say(&format!("logged in as {}", account.username))?;
    logged_in(session, &account.username)?;
    Ok(Ok(account.username))
}

/// Logs in with `username`'s saved token, if there is one and the server
/// takes it; a token it refuses is deleted. `None` when the password is
/// needed. Nothing here stops a script: its next line is then the password.
fn resume(session: &Session, username: &str) -> Result<Option<String>, ClientError> {
    let Some(saved) = session.saved_logins() else {
        return Ok(None);
    };
    let token = match saved.load(username) {
        Ok(Some(token)) => token,
        Ok(None) => return Ok(None),
        Err(err) => {
            let path = saved.path(username);
            session.say(&format!(
                "cannot read the saved login {}: {err}",
                path.display()
            ))?;
            return Ok(None);
        }
    };
    match session.call::<AccountName>("/resume", &[&token])? {
        Ok(account) if account.username.eq_ignore_ascii_case(username) => {
            session.say(&format!("logged in as {} (saved login)", account.username))?;
            logged_in(session, &account.username)?;
            Ok(Some(account.username))
        }
        Ok(_) => {
            // Someone else's token in this user's file: the connection is
            // now logged in as them, which it must not stay.
            session.call::<IgnoredAny>("/logout", &[])?.ok();
            forget_token(session, username)?;
            session.say(&format!(
                "the saved login of {username} is someone else's; the password is needed"
            ))?;
            Ok(None)
        }
        // Unknown, revoked, or not a token at all (a damaged file).
        Err(ErrorReply {
            status: 400 | 401, ..
        }) => {
            forget_token(session, username)?;
            session.say(&format!(
                "the saved login of {username} is no longer valid; the password is needed"
            ))?;
            Ok(None)
        }
        Err(refusal) => {
            session.say(&render::refusal(&refusal.sentence))?;
            Ok(None)
        }
    }
}

/// What follows every login: direct messages pushed from now on, wherever
/// the user is, and what is unread.
fn logged_in(session: &Session, me: &str) -> Result<(), ClientError> {
    session.log_in(me);
    session.call_or_show::<IgnoredAny>("/subscribe", &["@"])?;
    if let Some(unread) = session.call_or_show::<Vec<Unread>>("/getUnread", &[])? {
        session.view().know_direct_up_to(newest_direct(&unread));
        session.say(&render::unread_summary(&unread))?;
    }
    Ok(())
}

/// The newest direct message id in `/getUnread`'s answer (0 if none).
pub fn newest_direct(unread: &[Unread]) -> i64 {
    unread
        .iter()
        .filter(|entry| entry.room.starts_with('@'))
        .map(|entry| entry.last_id)
        .max()
        .unwrap_or(0)
}

/// Keeps `token` for `--user` next time; a failure is shown, not fatal.
fn save_token(session: &Session, me: &str, token: &str) -> Result<(), ClientError> {
    if let Some(saved) = session.saved_logins()
        && let Err(err) = saved.save(me, token)
    {
        session.say(&format!(
            "cannot save the login in {}: {err}",
            saved.path(me).display()
        ))?;
    }
    Ok(())
}

fn forget_token(session: &Session, me: &str) -> Result<(), ClientError> {
    if let Some(saved) = session.saved_logins()
        && let Err(err) = saved.forget(me)
    {
        session.say(&format!(
            "cannot delete the saved login {}: {err}",
            saved.path(me).display()
        ))?;
    }
    Ok(())
}

/// Whether `me` has a login saved on this computer.
fn has_saved_login(session: &Session, me: &str) -> bool {
    session
        .saved_logins()
        .is_some_and(|saved| matches!(saved.load(me), Ok(Some(_))))
}

/// Logs out (which revokes the token on the server) and deletes the saved
/// login. Already logged out by the server (a password change in another
/// session) is logged out all the same: the saved login goes too.
fn log_out(session: &Session, me: &str) -> Result<(), ClientError> {
    match session.call_or_show::<IgnoredAny>("/logout", &[]) {
        Ok(Some(_)) | Err(ClientError::LoggedOut) => {
            forget_token(session, me)?;
            session.log_out();
            session.say(&format!("logged out {me}"))
        }
        Ok(None) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Ctrl-D or the end of a script at the main menu, or `/quit` in a room or
/// a conversation: with a saved login the
/// session is left to be resumed; without one, the user is logged out.
fn quit(session: &Session, me: &str) -> Result<(), ClientError> {
    if has_saved_login(session, me) {
        session.say(&format!(
            "bye; {me}'s login stays saved here: no password needed next time (logging out with \
             5 forgets it)"
        ))
    } else {
        log_out(session, me)
    }
}

/// Menu choice, and `/password` in a room: the current password, then the
/// new one twice. Every other session of the user is logged out; this one
/// goes on, with a new saved token.
///
/// A wrong current password is asked again, up to `PASSWORD_TRIES` in
/// all as at login, keeping the new one already typed twice: the server
/// checks the new password's rules before the current password, so the
/// current one cannot be checked on its own first without changing it (a
/// valid new one) or being refused before it is looked at (an invalid
/// one). A script stops at the first wrong one.
///
/// # Errors
///
/// Only what ends the session.
pub fn change_password(session: &Session) -> Result<(), ClientError> {
    let me = session.me();
    let Some(mut current) = ask_password(session, "current password: ")? else {
        return Ok(());
    };
    let Some(new) = choose_password(session)? else {
        return Ok(());
    };
    for tries_left in (0..PASSWORD_TRIES).rev() {
        let refusal = match session.call::<NewToken>("/changePassword", &[&current, &new])? {
            Ok(NewToken { token }) => {
                save_token(session, &me, &token)?;
                return session.say("password changed; your other sessions were logged out");
            }
            Err(refusal) => refusal,
        };
        if refusal.status == 401 && !session.stops_at_errors() {
            still_logged_in(session)?;
        }
        session.refused_at("/changePassword", &refusal, session.last_line_place())?;
        if refusal.status != 401 {
            return Ok(());
        }
        if tries_left == 0 {
            break;
        }
        // Ctrl-C ends the choice where it was made: at the main menu, or
        // in the room where `/password` was typed.
        session.say(&format!(
            "the current password again {}",
            tries_left_note(
                tries_left,
                "the new one is kept; Ctrl-C gives up and the password stays as it was"
            )
        ))?;
        let Some(again) = ask_password(session, "current password: ")? else {
            return Ok(());
        };
        current = again;
    }
    session.say("password not changed")
}

/// After a `401` to `/changePassword`, which is both a wrong current
/// password and a connection the server logged out (another session
/// changed the password): asks something that needs a login, changes
/// nothing and answers little (the user's notes to self before message 1:
/// none), whose `401` can only mean the logout and goes back to the
/// start menu, as any request's does, rather than asking the current
/// password again of someone who can no longer change it here. Any other
/// answer, a refusal too (the connection lost and made good meanwhile),
/// says nothing of the login and is not shown: the wrong current password
/// is then said as usual.
///
/// # Errors
///
/// [`ClientError::LoggedOut`]; what ends the session.
fn still_logged_in(session: &Session) -> Result<(), ClientError> {
    let notes_to_self = format!("@{}", session.me());
    match session.call::<IgnoredAny>("/fetchHistory", &[&notes_to_self, "1", "1"])? {
        Err(refusal) if refusal.status == 401 => {
            session.refused_at("/fetchHistory", &refusal, session.last_line_place())
        }
        _ => Ok(()),
    }
}

/// Menu choice: search every room the user is in and every conversation.
fn search_everywhere(session: &Session) -> Result<(), ClientError> {
    let Some(words) = ask_name(session, "search for: ", "words to search for")? else {
        return Ok(());
    };
    room::search(session, &words, None)
}

/// Menu choice: creates a chatroom and, for a person, enters it as choice
/// 1 does: whoever makes a room expects to be in it, as the web page's
/// "New chatroom" puts them. A script only joins it and stays at the menu,
/// as it always has: its next lines, documented as `1` and the name, or
/// any other menu choice (`5` to log out), would otherwise be sent to the
/// room as messages, and what they were meant to do left undone.
fn create_room(session: &Session) -> Result<Next, ClientError> {
    let Some(name) = ask_name(session, "new chatroom name: ", "a chatroom name")? else {
        return Ok(Next::Menu);
    };
    let Some(created) = session.call_or_show::<CreatedRoom>("/createChatroom", &[&name])? else {
        return Ok(Next::Menu);
    };
    if !session.stops_at_errors() {
        session.say(&format!(
            "created chatroom {}; you are its owner",
            created.name
        ))?;
        return room::join_and_stay(session, &created.name);
    }
    // Entering it (1) joins again, which the server takes as it is.
    let joined = session
        .call_or_show::<IgnoredAny>("/joinChatroom", &[&created.name])?
        .is_some();
    let you = if joined {
        " (you are its owner and a member)"
    } else {
        ""
    };
    session.say(&format!(
        "created chatroom {name}{you}; to go in, choose 1 and type {name} (in a room, /join {name})",
        name = created.name
    ))?;
    Ok(Next::Menu)
}

/// Menu choice: every chatroom, the user's (with unread counts) apart from
/// the others.
fn show_rooms(session: &Session) -> Result<(), ClientError> {
    list_rooms(session).map(drop)
}

/// Shows every chatroom, the user's (with unread counts) apart from the
/// others (see [`render::rooms`]), and returns
/// their names (empty when the server refused): the first step of entering
/// one, which may then be named by the start of its name.
///
/// # Errors
///
/// Only what ends the session.
pub fn list_rooms(session: &Session) -> Result<Vec<String>, ClientError> {
    let Some(rooms) = session.call_or_show::<Vec<String>>("/getAllChatrooms", &[])? else {
        return Ok(Vec::new());
    };
    if let Some(unread) = session.call_or_show::<Vec<Unread>>("/getUnread", &[])? {
        session.say(&render::rooms(&rooms, &unread))?;
    }
    Ok(rooms)
}

fn show_active_users(session: &Session) -> Result<(), ClientError> {
    if let Some(users) = session.call_or_show::<Vec<String>>("/getActiveUsers", &[])? {
        session.say(&render::list("active users", &users, "nobody is active"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_menu_takes_one_column_where_two_do_not_fit() {
        let two = "\
1) enter chatroom           6) direct messages
2) create chatroom          7) search
3) display all chatrooms    8) change password
4) active users             q) quit
5) logout";
        let one = "\
1) enter chatroom
2) create chatroom
3) display all chatrooms
4) active users
5) logout
6) direct messages
7) search
8) change password
q) quit";
        assert_eq!(main_menu_for(Width::Unbounded), two);
        assert_eq!(main_menu_for(Width::Columns(80)), two);
        assert_eq!(main_menu_for(Width::Columns(46)), two);
        assert_eq!(main_menu_for(Width::Columns(45)), one);
        assert_eq!(main_menu_for(Width::Columns(40)), one);
    }

    #[test]
    fn the_tries_left_are_counted_in_words() {
        assert_eq!(
            tries_left_note(2, "Ctrl-C goes back to the menu"),
            "(2 more tries; Ctrl-C goes back to the menu)"
        );
        assert_eq!(tries_left_note(1, "then"), "(1 more try; then)");
    }
}
