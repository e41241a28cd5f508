//! The two menus: before login (register, login, quit) and after it (rooms,
//! users, logout).
//!
//! Registering asks the new password twice (again while it is too short, too
//! long or the two differ) and then logs in to the new account.
//!
//! At a menu, Ctrl-C shows the menu again and Ctrl-D quits, logging out first
//! when logged in; at a question inside a choice (a name, a password) both
//! cancel the choice. Piped input that ends behaves as Ctrl-D at a menu; at a
//! question, and at a choice that is not on the menu, a script stops (see
//! [`Session::unanswered`] and [`Session::mistake`]).

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::console::Input;
use super::error::ClientError;
use super::render;
use super::room;
use super::session::Session;
use crate::chat::limits;

const START_MENU: &str = "\
1) register
2) login
3) quit";

const MAIN_MENU: &str = "\
1) enter chatroom
2) create chatroom
3) display all chatrooms
4) active users
5) logout";

/// The prompt at both menus.
const MENU_PROMPT: &str = "> ";

/// Where the main menu leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterLogin {
    LoggedOut,
    Quit,
}

/// The `data` of `/register` and `/login`: the name as registered.
#[derive(Deserialize)]
struct Account {
    username: String,
}

/// The `data` of `/createChatroom`.
#[derive(Deserialize)]
struct CreatedRoom {
    name: String,
}

/// Runs the menus until the user quits. With `user`, starts by asking that
/// user's password.
///
/// # Errors
///
/// Only what ends the session: the server gone, the terminal gone.
pub fn run(session: &Session, user: Option<&str>) -> Result<(), ClientError> {
    if let Some(username) = user
        && let Some(me) = log_in(session, Some(username))?
        && main_menu(session, &me)? == AfterLogin::Quit
    {
        return Ok(());
    }
    start_menu(session)
}

fn start_menu(session: &Session) -> Result<(), ClientError> {
    loop {
        session.say(START_MENU)?;
        let choice = match session.ask(MENU_PROMPT)? {
            Input::Line(choice) => choice,
            Input::Interrupted => continue,
            Input::Eof => return Ok(()),
        };
        let me = match choice.trim() {
            "1" => register(session)?,
            "2" => log_in(session, None)?,
            "3" => return Ok(()),
            "" => None,
            other => {
                session.mistake(&format!("'{other}' is not a choice; type 1, 2 or 3"))?;
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
        session.say(MAIN_MENU)?;
        let choice = match session.ask(MENU_PROMPT)? {
            Input::Line(choice) => choice,
            Input::Interrupted => continue,
            Input::Eof => {
                log_out(session, me)?;
                return Ok(AfterLogin::Quit);
            }
        };
        match choice.trim() {
            "1" => room::enter(session)?,
            "2" => create_room(session)?,
            "3" => show_rooms(session)?,
            "4" => show_active_users(session)?,
            "5" => {
                log_out(session, me)?;
                return Ok(AfterLogin::LoggedOut);
            }
            "" => {}
            other => session.mistake(&format!("'{other}' is not a choice; type 1 to 5"))?,
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
    let Some(username) = ask_name(session, "username: ", "a username")? else {
        return Ok(None);
    };
    if let Err(rule) = limits::check_username(&username) {
        session.mistake(&rule)?;
        return Ok(None);
    }
    let Some(password) = choose_password(session)? else {
        return Ok(None);
    };
    let Some(account) = session.call_or_show::<Account>("/register", &[&username, &password])?
    else {
        return Ok(None);
    };
    session.say(&format!("registered {}", account.username))?;
    log_in_as(session, &account.username, &password)
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

/// Logs in, asking the name unless given; the name as the server spells it.
fn log_in(session: &Session, username: Option<&str>) -> Result<Option<String>, ClientError> {
    let username = match username {
        Some(username) => username.to_string(),
        None => match ask_name(session, "username: ", "a username")? {
            Some(username) => username,
            None => return Ok(None),
        },
    };
    let Some(password) = ask_password(session, "password: ")? else {
        return Ok(None);
    };
    log_in_as(session, &username, &password)
}

fn log_in_as(
    session: &Session,
    username: &str,
    password: &str,
) -> Result<Option<String>, ClientError> {
    let Some(account) = session.call_or_show::<Account>("/login", &[username, password])? else {
        return Ok(None);
    };
    session.say(&format!("logged in as {}", account.username))?;
    Ok(Some(account.username))
}

fn log_out(session: &Session, me: &str) -> Result<(), ClientError> {
    if session
        .call_or_show::<IgnoredAny>("/logout", &[])?
        .is_some()
    {
        session.say(&format!("logged out {me}"))?;
    }
    Ok(())
}

fn create_room(session: &Session) -> Result<(), ClientError> {
    let Some(name) = ask_name(session, "new chatroom name: ", "a chatroom name")? else {
        return Ok(());
    };
    if let Some(room) = session.call_or_show::<CreatedRoom>("/createChatroom", &[&name])? {
        session.say(&format!(
            "created chatroom {}; choose 1 to enter it",
            room.name
        ))?;
    }
    Ok(())
}

/// Shows every chatroom; also the first step of entering one.
pub fn show_rooms(session: &Session) -> Result<(), ClientError> {
    if let Some(rooms) = session.call_or_show::<Vec<String>>("/getAllChatrooms", &[])? {
        session.say(&render::list(
            "chatrooms",
            &rooms,
            "no chatrooms yet; choose 2 to create one",
        ))?;
    }
    Ok(())
}

fn show_active_users(session: &Session) -> Result<(), ClientError> {
    if let Some(users) = session.call_or_show::<Vec<String>>("/getActiveUsers", &[])? {
        session.say(&render::list("active users", &users, "nobody is active"))?;
    }
    Ok(())
}
