//! The console client (`pipechat-client`) driven through piped stdin against
//! the real server, checked from its output and from the server's side.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{
    ClientProcess, TestServer, assert_status, password_of, shown_on_the_line, wait_until,
};

/// The start menu, then the main menu, as a script types them.
const REGISTER: &str = "1";
const LOGIN: &str = "2";
const QUIT: &str = "3";
const ENTER_ROOM: &str = "1";
const CREATE_ROOM: &str = "2";
const LOGOUT: &str = "5";
const DIRECT: &str = "6";
const SEARCH: &str = "7";
const CHANGE_PASSWORD: &str = "8";

/// Register (the password twice, then logged in) → create → enter → send →
/// /exit → logout → quit, all from a script; the message (with `|`, `\` and
/// non-ASCII) is stored as typed.
#[test]
fn a_scripted_session_sends_a_message_that_the_server_stores() {
    let server = TestServer::start();
    let password = "correct | horse \\ battery";
    let text = "hello | wörld \\ back\\slash \\n not a newline 👋";
    let mut alice = ClientProcess::start(&server, &[]);
    alice.type_lines(&[
        REGISTER,
        "alice",
        password,
        password,
        CREATE_ROOM,
        "general",
        ENTER_ROOM,
        "general",
        text,
        "/exit",
        LOGOUT,
        QUIT,
    ]);
    let done = alice.finish_ok();
    assert!(
        done.stdout.contains(&format!("alice: {text}")),
        "{}",
        done.stdout
    );
    assert!(done.stdout.contains("registered alice"), "{}", done.stdout);
    assert!(
        done.stdout.contains("logged in as alice"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.contains("you left general"), "{}", done.stdout);
    assert!(done.stdout.contains("logged out alice"), "{}", done.stdout);
    assert_eq!(done.stderr, "");

    // The password went through the escaping intact: it logs in raw too.
    let mut raw = server.connect();
    assert_status(&raw.call("/login", &["alice", password]), 200);
    let members = raw.call("/getChatroomMembers", &["general"]);
    assert_eq!(
        members["data"],
        serde_json::json!([]),
        "/exit left the room"
    );
    assert_status(&raw.call("/joinChatroom", &["general"]), 200);
    let stored = raw.call("/fetchMessages", &["general"]);
    assert_eq!(stored["data"][0]["text"], text);
    assert_eq!(stored["data"][0]["username"], "alice");
}

/// Creating a chatroom (2) in a script joins it too, as the web page's "New
/// chatroom" does: the client says so in one line and the server has the
/// creator as a member. The script stays at the menu, so that it then
/// enters the room (1), as it always has, without its lines `1` and the
/// name sent to the room as messages.
#[test]
fn creating_a_chatroom_makes_you_a_member() {
    let server = TestServer::start();
    register(&server, "alice");
    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), CREATE_ROOM, "study group"]);
    alice.wait_for(
        "created chatroom study group (you are its owner and a member); to go in, choose 1 and \
         type study group (in a room, /join study group)",
    );
    let mut raw = server.login_as("bob");
    assert_eq!(
        raw.ok_call("/getChatroomMembers", &["study group"]),
        json!(["alice"])
    );
    alice.type_lines(&[ENTER_ROOM, "study group", "hi"]);
    alice.wait_for("alice: hi");
    let done = alice.finish_ok();
    assert_eq!(done.stderr, "");
    raw.join("study group");
    assert_eq!(raw.texts("study group"), ["hi"]);
}

/// At a terminal, creating a chatroom (2) enters it, as choosing it (1)
/// does: its members, no messages yet, and its prompt, where the next line
/// typed is sent to it; the creator is its owner and a member.
#[test]
fn creating_a_chatroom_at_a_terminal_enters_it() {
    let server = TestServer::start();
    register(&server, "alice");
    let mut alice = logged_in_at_a_terminal(&server, "alice");
    alice.type_lines(&[CREATE_ROOM, "study group"]);
    alice.wait_for("created chatroom study group; you are its owner");
    alice.wait_for("members of study group (1):");
    alice.wait_for("no messages yet");
    alice.wait_for("you are in study group: type a message");
    alice.wait_for_prompt("study group> ");
    alice.type_lines(&["hi"]);
    alice.wait_for("alice: hi");
    let mut raw = server.login_as("bob");
    assert_eq!(
        raw.ok_call("/getRoomInfo", &["study group"])["owner"],
        "alice"
    );
    assert_eq!(
        raw.ok_call("/getChatroomMembers", &["study group"]),
        json!(["alice"])
    );
    raw.join("study group");
    assert_eq!(raw.texts("study group"), ["hi"]);
    alice.type_lines(&["/quit"]);
    alice.wait_for_exit_ok();
}

/// Two clients in one room: the second sees the first's messages, joins and
/// exits as they are pushed, while its stdin stays open; a multi-line message
/// reads as an indented block.
#[test]
fn messages_are_pushed_to_another_client_in_the_room() {
    let server = TestServer::start();
    let mut raw_alice = server.login_as("alice");
    assert_status(&raw_alice.call("/createChatroom", &["general"]), 201);
    assert_status(
        &raw_alice.call("/register", &["bob", &password_of("bob")]),
        201,
    );

    let mut bob = ClientProcess::start(&server, &["--user", "bob"]);
    bob.type_lines(&[&password_of("bob"), ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), ENTER_ROOM, "general"]);
    bob.wait_for("* alice joined general");
    alice.wait_for("you are in general");
    alice.type_lines(&["hi bob | é \\ from alice"]);
    let pushed = bob.wait_for("alice: hi bob | é \\ from alice");
    assert!(pushed.starts_with('['), "time first: {pushed}");

    let sent = raw_alice.call("/sendMessage", &["general", "first line\nsecond line"]);
    assert_status(&sent, 201);
    let first = bob.wait_for("alice: first line");
    let second = bob.wait_for("second line");
    let indent = first.find("first line").expect("text on the first line");
    assert_eq!(second, format!("{}second line", " ".repeat(indent)));

    alice.type_lines(&["/exit", LOGOUT, QUIT]);
    bob.wait_for("* alice left general");
    alice.finish_ok();
    bob.type_lines(&["/exit", LOGOUT, QUIT]);
    let done = bob.finish_ok();
    assert_eq!(
        done.times_shown("alice: hi bob"),
        1,
        "shown once: {}",
        done.stdout
    );
}

/// At a terminal, a message wider than the terminal is wrapped between
/// words, its further lines under its first, and so is what the client
/// says itself: not cut wherever the terminal runs out of columns.
#[test]
fn long_messages_wrap_between_words_at_a_terminal() {
    let server = TestServer::start();
    let mut raw_alice = server.login_as("alice");
    raw_alice.create_and_join("general");
    server.login_as("bob");
    let mut bob = ClientProcess::start_in_terminal_of_width(&server, &["--user", "bob"], 40);
    bob.type_lines(&[&password_of("bob"), ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");

    let text = "the quick brown fox jumps over the lazy dog and keeps running far away";
    assert_status(&raw_alice.call("/sendMessage", &["general", text]), 201);
    let first = shown_on_the_line(&bob.wait_for("alice: the quick"));
    let second = shown_on_the_line(&bob.wait_for("over the"));
    let third = shown_on_the_line(&bob.wait_for("far away"));
    let time = first.find(']').expect("a time first") + 1;
    assert_eq!(
        &first[time..],
        " alice: the quick brown fox jumps",
        "{first:?}"
    );
    let indent = " ".repeat(first.find("the quick").expect("the text"));
    assert_eq!(second, format!("{indent}over the lazy dog and"));
    assert_eq!(third, format!("{indent}keeps running far away"));

    bob.type_lines(&["/leave", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
}

/// A script's output is not wrapped, even when it goes to a terminal:
/// messages stay one line, as menus and everything else do, for whatever
/// reads them.
#[test]
fn a_scripts_output_at_a_terminal_is_not_wrapped() {
    let server = TestServer::start();
    let text = "the quick brown fox jumps over the lazy dog and keeps running far away";
    let input = tempfile::NamedTempFile::new().expect("a file");
    let lines = [
        REGISTER,
        "alice",
        "a good password",
        "a good password",
        CREATE_ROOM,
        "general",
        ENTER_ROOM,
        "general",
        text,
        "/leave",
        LOGOUT,
        QUIT,
    ];
    std::fs::write(input.path(), lines.join("\n") + "\n").expect("the script");
    let done = ClientProcess::start_script_in_terminal_of_width(&server, input.path(), 40)
        .wait_for_exit_ok();
    assert!(
        done.stdout.contains(&format!("alice: {text}")),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout
            .contains("created chatroom general (you are its owner and a member)"),
        "{}",
        done.stdout
    );
}

/// The issue's script: a wrong password, then lines meant for later
/// questions. The client stops at the password line with exit status 2 and
/// one line on stderr that does not show the password, and sends nothing
/// after it: no account is registered from the following lines.
#[test]
fn a_script_stops_at_a_wrong_password_and_sends_nothing_after_it() {
    let server = TestServer::start();
    let mut raw = server.connect();
    assert_status(
        &raw.call("/register", &["alice", &password_of("alice")]),
        201,
    );

    let mut alice = ClientProcess::start(&server, &[]);
    alice.type_lines(&[
        LOGIN,
        "alice",
        "not-her-password",
        REGISTER,
        "general",
        "should not send",
        "should not send",
        LOGOUT,
        QUIT,
    ]);
    let done = alice.finish_stopped();
    assert_eq!(
        done.stderr,
        "pipechat-client: stopped at input line 3 (a password, not shown): \
         wrong username or password\n"
    );
    assert!(!done.stdout.contains("error:"), "{}", done.stdout);
    assert!(!done.stdout.contains("registered"), "{}", done.stdout);
    assert_status(
        &raw.call("/register", &["general", &password_of("general")]),
        201,
    );
}

/// `q`, `quit` and `exit`, in any case, quit at the start menu and at the
/// main menu as Ctrl-D does (the login stays saved): the line after them,
/// not a choice, is never read.
#[test]
fn q_quit_and_exit_quit_at_both_menus() {
    let server = TestServer::start();
    register(&server, "alice");
    let password = password_of("alice");
    for word in ["q", "QUIT", " Exit "] {
        let mut start = ClientProcess::start(&server, &[]);
        start.type_lines(&[word, "9"]);
        let done = start.finish_ok();
        assert_eq!(done.stderr, "", "{word}");

        let mut main = ClientProcess::start(&server, &[]);
        main.type_lines(&[LOGIN, "alice", &password, word, "9"]);
        let done = main.finish_ok();
        assert!(
            done.stdout.contains("alice's login stays saved here"),
            "{word}: {}",
            done.stdout
        );
    }
}

/// At a terminal a room is entered by the start of its name when no room
/// has that exact name and only one starts with it; when several do, they
/// are listed and the name asked again. A script names its room whole.
#[test]
fn a_room_is_entered_by_the_start_of_its_name_when_only_one_fits() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    for room in ["study group 📚", "Study hall", "study"] {
        assert_status(&raw.call("/createChatroom", &[room]), 201);
    }
    register(&server, "bob");
    let password = password_of("bob");

    // A script names its room whole (case aside): the start of a name is
    // a room that does not exist, not a guess.
    let mut script = ClientProcess::start(&server, &["--user", "bob"]);
    script.type_lines(&[&password, ENTER_ROOM, "STUDY", "/exit"]);
    script.type_lines(&[ENTER_ROOM, "study g"]);
    let done = script.finish_stopped();
    assert!(done.stdout.contains("you are in study:"), "{}", done.stdout);
    assert!(
        done.stderr.starts_with(
            "pipechat-client: stopped at input line 6 \"study g\": chatroom 'study g' \
             does not exist"
        ),
        "{}",
        done.stderr
    );

    let mut bob = ClientProcess::start_in_terminal(&server, &["--user", "bob"]);
    bob.type_lines(&[&password]);
    bob.wait_for("logged in as bob");
    bob.type_lines(&[ENTER_ROOM, "STUDY GROUP"]);
    bob.wait_for("you are in study group 📚");
    bob.type_lines(&["/leave", ENTER_ROOM, "stu"]);
    bob.wait_for("several chatrooms start with 'stu'");
    bob.type_lines(&["study h"]);
    bob.wait_for("you are in Study hall");
    bob.type_lines(&["/leave", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
}

/// Every kind of error stops a script at its line: a refusal, a missing
/// room, a choice not on the menu, an unknown room command, an empty answer
/// and input that ends at a question. One line on stderr, exit status 2, and
/// the lines after it (a message) are never sent.
#[test]
fn a_script_stops_at_the_first_error_of_any_kind() {
    let server = TestServer::start();
    let mut raw = server.login_as("carol");
    raw.create_and_join("general");
    let taken = raw.call("/createChatroom", &["GENERAL"]);
    let taken = taken["error"].as_str().expect("a sentence").to_string();
    let password = password_of("carol");
    let pw = password.as_str();

    let cases: &[(&[&str], &str)] = &[
        (
            &[pw, ENTER_ROOM, "nowhere"],
            "input line 3 \"nowhere\": chatroom 'nowhere' does not exist; \
             choose 2 at the menu to create it",
        ),
        (
            &[pw, CREATE_ROOM, "GENERAL"],
            &format!("input line 3 \"GENERAL\": {taken}"),
        ),
        (
            &[pw, "9"],
            "input line 2 \"9\": '9' is not a choice; type 1 to 8, or q to quit",
        ),
        (
            &[pw, ENTER_ROOM, "general", "/shout hi"],
            "input line 4 \"/shout hi\": unknown command '/shout'; \
             /help lists the commands, // starts a message with /",
        ),
        (
            &[pw, ENTER_ROOM, "general", "/history 0"],
            "input line 4 \"/history 0\": usage: /history N, with N from 1 to 1000",
        ),
        (
            &[pw, CREATE_ROOM, "  "],
            "input line 3 \"  \": expected a chatroom name, got an empty line",
        ),
    ];
    let ends_early: &[(&[&str], &str)] = &[
        (
            &[pw, ENTER_ROOM],
            "the end of input, after line 2: expected a chatroom name",
        ),
        (&[], "the end of input, after line 0: expected a password"),
    ];
    // What the script says next, meant for later questions.
    let then = [ENTER_ROOM, "general", "must not be sent", "/exit"];
    let runs = cases
        .iter()
        .map(|(lines, expected)| ([*lines, &then].concat(), expected));
    let runs = runs.chain(
        ends_early
            .iter()
            .map(|(lines, expected)| (lines.to_vec(), expected)),
    );
    for (lines, expected) in runs {
        let mut carol = ClientProcess::start(&server, &["--user", "carol"]);
        carol.type_lines(&lines);
        let done = carol.finish_stopped();
        assert_eq!(
            done.stderr,
            format!("pipechat-client: stopped at {expected}\n"),
            "{lines:?}"
        );
    }
    let stored = raw.call("/fetchMessages", &["general"]);
    assert_eq!(stored["data"], serde_json::json!([]), "{stored}");
}

/// At a terminal nothing stops: a wrong password, a missing room, a taken
/// name, a choice not on the menu and an unknown room command are each shown
/// (the server's sentence, never JSON) and the session goes on.
#[test]
fn at_a_terminal_errors_are_shown_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut raw = server.login_as("carol");
    raw.create_and_join("general");
    raw.subscribe("general");
    let no_room = raw.call("/joinChatroom", &["nowhere"]);
    let taken = raw.call("/createChatroom", &["GENERAL"]);
    let bad_login = server
        .connect()
        .call("/login", &["carol", "not-her-password"]);
    let sentence = |reply: &serde_json::Value| {
        format!("error: {}", reply["error"].as_str().expect("a sentence"))
    };

    let mut wrong = ClientProcess::start_in_terminal(&server, &["--user", "carol"]);
    wrong.type_lines(&["not-her-password"]);
    wrong.wait_for(&sentence(&bad_login));
    wrong.wait_for("the password for carol again (2 more tries");
    wrong.type_lines(&["still-not-hers"]);
    wrong.wait_for("the password for carol again (1 more try");
    wrong.type_lines(&["nor-this-one"]);
    wrong.wait_for("2) login");
    wrong.type_lines(&[QUIT]);
    wrong.wait_for_exit_ok();

    let mut carol = logged_in_at_a_terminal(&server, "carol");
    carol.type_lines(&[ENTER_ROOM, "nowhere"]);
    carol.wait_for(&format!(
        "{}; choose 2 at the menu to create it",
        sentence(&no_room)
    ));
    carol.type_lines(&[CREATE_ROOM, "GENERAL"]);
    carol.wait_for(&sentence(&taken));
    carol.type_lines(&["9"]);
    carol.wait_for("'9' is not a choice");
    carol.type_lines(&[ENTER_ROOM, "general"]);
    carol.wait_for("you are in general");
    carol.type_lines(&["/shout hi", "still here"]);
    carol.wait_for("unknown command '/shout'");
    let event = raw.next_event();
    assert_eq!(event["data"]["text"], "still here", "{event}");
    carol.type_lines(&["/leave", LOGOUT, QUIT]);
    let done = carol.wait_for_exit_ok();
    assert!(done.stdout.contains("logged out carol"), "{}", done.stdout);
    assert!(
        !done.stdout.contains("\"status\""),
        "no JSON: {}",
        done.stdout
    );
}

/// A line longer than a message may be is not sent: the client says how
/// long it is and, at a terminal, that ↑ brings it back; a script stops.
#[test]
fn a_message_too_long_is_not_sent_and_says_how_long_it_is() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    register(&server, "bob");
    let long = "x".repeat(5000);

    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.type_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    // Only once the line editor asks: before that the terminal is in its
    // cooked mode, which keeps at most 4,095 characters of a line. Pasted
    // (bracketed paste), as such a line comes: typed key by key, the editor
    // redraws it 5,000 times, longer than the deadline on a loaded machine.
    bob.wait_for_prompt("general> ");
    bob.type_lines(&[&format!("\x1b[200~{long}\x1b[201~")]);
    bob.wait_for("this one has 5000; ↑ brings the line back to shorten it");
    bob.type_lines(&["short enough", "/leave", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();

    let mut script = ClientProcess::start(&server, &["--user", "bob"]);
    script.type_lines(&[&password_of("bob"), ENTER_ROOM, "general", &long, "after"]);
    let done = script.finish_stopped();
    assert!(
        done.stderr
            .contains("not sent: a message has at most 4096 characters and this one has 5000\n"),
        "{}",
        done.stderr
    );
    assert_eq!(raw.texts("general"), ["short enough"]);
}

/// A wrong password at a terminal login is asked again with the username
/// kept: the right one then logs in, without choosing login and typing the
/// name again.
#[test]
fn at_a_terminal_a_wrong_password_is_asked_again_keeping_the_name() {
    let server = TestServer::start();
    register(&server, "erin");
    let mut erin = ClientProcess::start_in_terminal(&server, &[]);
    erin.wait_for("3) quit");
    erin.type_lines(&[LOGIN]);
    erin.wait_for_prompt("username: ");
    erin.type_lines(&["erin"]);
    erin.wait_for_prompt("password: ");
    erin.type_lines(&["not-erins-password"]);
    erin.wait_for("error: ");
    erin.wait_for("the password for erin again");
    erin.wait_for_prompt("password: ");
    erin.type_lines(&[&password_of("erin")]);
    erin.wait_for("logged in as erin");
    erin.type_lines(&[LOGOUT, QUIT]);
    let done = erin.wait_for_exit_ok();
    assert_eq!(done.times_shown("3) quit"), 2, "{}", done.stdout);
}

/// A wrong current password at "change password" is asked again, the new
/// password (typed twice already) kept: the right one then changes it.
/// Three wrong ones in a row go back to the menu with nothing changed.
#[test]
fn at_a_terminal_a_wrong_current_password_is_asked_again_keeping_the_new_one() {
    let server = TestServer::start();
    register(&server, "gina");
    let mut gina = logged_in_at_a_terminal(&server, "gina");
    let new_password = "gina's new password";
    gina.type_lines(&[CHANGE_PASSWORD]);
    gina.wait_for_prompt("current password: ");
    gina.type_lines(&["not-ginas-password"]);
    gina.wait_for_prompt("new password: ");
    gina.type_lines(&[new_password]);
    gina.wait_for_prompt("new password again: ");
    gina.type_lines(&[new_password]);
    gina.wait_for("error: the current password is wrong");
    gina.wait_for(
        "the current password again (2 more tries; the new one is kept; Ctrl-C gives up and \
         the password stays as it was)",
    );
    gina.wait_for_prompt("current password: ");
    gina.type_lines(&[&password_of("gina")]);
    gina.wait_for("password changed");

    gina.type_lines(&[CHANGE_PASSWORD]);
    gina.wait_for_prompt("current password: ");
    gina.type_lines(&["wrong one"]);
    gina.wait_for_prompt("new password: ");
    gina.type_lines(&["a third password"]);
    gina.wait_for_prompt("new password again: ");
    gina.type_lines(&["a third password"]);
    for (again, wrong) in [("2 more tries", "wrong two"), ("1 more try", "wrong three")] {
        gina.wait_for("error: the current password is wrong");
        gina.wait_for(&format!("the current password again ({again}"));
        gina.wait_for_prompt("current password: ");
        gina.type_lines(&[wrong]);
    }
    gina.wait_for("error: the current password is wrong");
    gina.wait_for("password not changed");
    gina.wait_for("5) logout");
    gina.type_lines(&[LOGOUT, QUIT]);
    gina.wait_for_exit_ok();
    let mut check = server.connect();
    assert_status(&check.call("/login", &["gina", new_password]), 200);
}

/// Ctrl-C at the current password asked again after `/password` in a
/// room gives up where it was asked: in the room, the password unchanged.
#[test]
fn at_a_terminal_giving_up_a_password_change_in_a_room_stays_in_the_room() {
    let server = TestServer::start();
    let mut raw = server.login_as("bob");
    raw.create_and_join("general");
    register(&server, "gina");
    let mut gina = logged_in_at_a_terminal(&server, "gina");
    gina.type_lines(&[ENTER_ROOM, "general"]);
    gina.wait_for("you are in general");
    gina.type_lines(&["/password"]);
    gina.wait_for_prompt("current password: ");
    gina.type_lines(&["not-ginas-password"]);
    gina.wait_for_prompt("new password: ");
    gina.type_lines(&["gina's new password"]);
    gina.wait_for_prompt("new password again: ");
    gina.type_lines(&["gina's new password"]);
    gina.wait_for("Ctrl-C gives up and the password stays as it was");
    gina.wait_for_prompt("current password: ");
    gina.type_raw(b"\x03");
    gina.wait_for_prompt("general> ");
    gina.type_lines(&["still here"]);
    gina.wait_for("gina: still here");
    gina.type_lines(&["/leave", LOGOUT, QUIT]);
    gina.wait_for_exit_ok();
    assert_eq!(raw.texts("general"), ["still here"]);
    assert_status(
        &server
            .connect()
            .call("/login", &["gina", &password_of("gina")]),
        200,
    );
}

/// A connection logged out by a password change elsewhere also gets a
/// `401` for "change password", which is then not taken for a wrong
/// current password to be asked again: the client says it was logged out
/// and goes back to the start menu, as at any other request.
#[test]
fn at_a_terminal_changing_a_password_after_a_forced_logout_goes_back_to_the_start_menu() {
    let server = TestServer::start();
    let mut raw = server.login_as("hugo");
    let mut hugo = logged_in_at_a_terminal(&server, "hugo");
    assert_status(
        &raw.call(
            "/changePassword",
            &[&password_of("hugo"), "changed elsewhere"],
        ),
        200,
    );
    hugo.type_lines(&[CHANGE_PASSWORD]);
    hugo.wait_for_prompt("current password: ");
    hugo.type_lines(&[&password_of("hugo")]);
    hugo.wait_for_prompt("new password: ");
    hugo.type_lines(&["hugo's new password"]);
    hugo.wait_for_prompt("new password again: ");
    hugo.type_lines(&["hugo's new password"]);
    hugo.wait_for("the server logged you out");
    hugo.wait_for("2) login");
    hugo.type_lines(&[QUIT]);
    let done = hugo.wait_for_exit_ok();
    for wrong in ["error: ", "the current password again"] {
        assert!(!done.stdout.contains(wrong), "{wrong:?}: {}", done.stdout);
    }
    assert_status(
        &server
            .connect()
            .call("/login", &["hugo", "changed elsewhere"]),
        200,
    );
}

/// After a wrong current password the client asks the server whether it
/// is still logged in, and acts only on a `401` (a logout elsewhere): a
/// connection lost right then is made good without a word about that
/// question, and the wrong password is said and asked again as ever.
#[test]
fn at_a_terminal_a_connection_lost_after_a_wrong_current_password_says_only_that() {
    let server = TestServer::start();
    register(&server, "ivy");
    let relay = relay_cutting_after_change_password(server.addr);
    let mut ivy =
        ClientProcess::start_in_terminal_of_width_at(&relay.to_string(), &["--user", "ivy"], 80);
    ivy.type_lines(&[&password_of("ivy")]);
    ivy.wait_for("logged in as ivy");
    ivy.type_lines(&[CHANGE_PASSWORD]);
    ivy.wait_for_prompt("current password: ");
    ivy.type_lines(&["not-ivys-password"]);
    ivy.wait_for_prompt("new password: ");
    ivy.type_lines(&["ivy's new password"]);
    ivy.wait_for_prompt("new password again: ");
    ivy.type_lines(&["ivy's new password"]);
    ivy.wait_for("reconnecting");
    ivy.wait_for("error: the current password is wrong");
    ivy.wait_for("the current password again (2 more tries");
    ivy.wait_for_prompt("current password: ");
    ivy.type_lines(&[&password_of("ivy")]);
    ivy.wait_for("password changed");
    ivy.type_lines(&[LOGOUT, QUIT]);
    let done = ivy.wait_for_exit_ok();
    assert!(
        !done
            .stdout
            .contains("the connection was lost before the server answered"),
        "{}",
        done.stdout
    );
    assert_status(
        &server
            .connect()
            .call("/login", &["ivy", "ivy's new password"]),
        200,
    );
}

/// A relay to `target` on an ephemeral port of 127.0.0.1 that cuts the
/// first connection through it at the request after its first
/// `/changePassword`, which it does not pass on (a connection lost before
/// the server answered); it relays every later connection whole.
fn relay_cutting_after_change_password(target: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().flatten().enumerate() {
            let upstream = TcpStream::connect(target).expect("the server");
            let (mut from_server, mut to_client) = (
                upstream.try_clone().expect("clone"),
                client.try_clone().expect("clone"),
            );
            std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
            let cuts = n == 0;
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut from_client = BufReader::new(&client);
                let mut changed = false;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if from_client.read_until(b'\n', &mut line)? == 0 {
                        return upstream.shutdown(Shutdown::Write);
                    }
                    if cuts && changed {
                        let _ = upstream.shutdown(Shutdown::Both);
                        return client.shutdown(Shutdown::Both);
                    }
                    changed |= line.starts_with(b"/changePassword|");
                    (&upstream).write_all(&line)?;
                }
            });
        }
    });
    addr
}

/// Registering at a terminal: a name against the rules is asked again at
/// once, before any password, and a taken one after the server says so,
/// keeping the password already typed twice.
#[test]
fn at_a_terminal_registering_asks_again_for_a_bad_or_taken_name() {
    let server = TestServer::start();
    register(&server, "frank");
    let mut newcomer = ClientProcess::start_in_terminal(&server, &[]);
    newcomer.wait_for("3) quit");
    newcomer.type_lines(&[REGISTER]);
    newcomer.wait_for_prompt("username: ");
    newcomer.type_lines(&["frank smith"]);
    newcomer.wait_for("a username may only contain");
    newcomer.wait_for_prompt("username: ");
    newcomer.type_lines(&["FRANK"]);
    newcomer.wait_for_prompt("new password: ");
    let password = password_of("frankie");
    newcomer.type_lines(&[&password]);
    newcomer.wait_for_prompt("new password again: ");
    newcomer.type_lines(&[&password]);
    newcomer.wait_for("already taken");
    newcomer.wait_for_prompt("another username: ");
    newcomer.type_lines(&["frankie"]);
    newcomer.wait_for("logged in as frankie");
    newcomer.type_lines(&[LOGOUT, QUIT]);
    // Logged in with no password typed after the second name.
    newcomer.wait_for_exit_ok();
    let mut check = server.connect();
    assert_status(&check.call("/login", &["frankie", &password]), 200);
}

/// On a server that takes no new accounts (`--registration closed`),
/// choosing register says so at once, before a username or a password is
/// typed, and the start menu comes back; a script stops at that choice's
/// line, and nothing after it is sent.
#[test]
fn registering_on_a_closed_server_is_refused_before_anything_is_typed() {
    let server = TestServer::start_with(&["--registration", "closed"]);
    let refused = server
        .connect()
        .call("/register", &["dora", &password_of("dora")]);
    assert_status(&refused, 403);
    let sentence = refused["error"].as_str().expect("a sentence").to_string();

    let mut dora = ClientProcess::start_in_terminal(&server, &[]);
    dora.wait_for("3) quit");
    dora.type_lines(&[REGISTER]);
    dora.wait_for(&format!("error: {sentence}"));
    dora.wait_for("3) quit");
    dora.type_lines(&[QUIT]);
    let done = dora.wait_for_exit_ok();
    for prompt in ["username: ", "new password"] {
        assert!(
            !done.stdout.contains(prompt),
            "{prompt:?} was asked: {}",
            done.stdout
        );
    }

    let password = password_of("dora");
    let mut script = ClientProcess::start(&server, &[]);
    script.type_lines(&[REGISTER, "dora", &password, &password, QUIT]);
    let done = script.finish_stopped();
    assert_eq!(
        done.stderr,
        format!("pipechat-client: stopped at input line 1 \"1\": {sentence}\n")
    );
    let web = server.web.expect("the web front door");
    let metrics = support::http_request(web, "GET", "/metrics", &[]).body;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        !metrics.contains(r#"command="/login""#),
        "a login was tried: {metrics}"
    );
    // Every /register the server answered: the one above, and one probe
    // from each of the two clients that chose register (no second one).
    let registers: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with(r#"pipechat_requests_total{command="/register","#))
        .collect();
    let clients_that_chose_register = 2;
    assert_eq!(
        registers,
        [format!(
            r#"pipechat_requests_total{{command="/register",status="403"}} {}"#,
            1 + clients_that_chose_register
        )],
        "{metrics}"
    );
}

/// Several lines arriving at once at a terminal, as a paste without
/// bracketed paste delivers them while the first is being sent: every line
/// is sent, in order, as a message of its own. (rustyline reads ahead; the
/// lines read ahead must be kept for the next prompt, not dropped.)
#[test]
fn lines_pasted_at_a_terminal_are_all_sent_in_order() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    raw.subscribe("general");
    assert_status(&raw.call("/register", &["bob", &password_of("bob")]), 201);

    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.paste_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    let pasted = ["one", "two | 2", "three \\ 3", "four", "five"];
    bob.paste_lines(&pasted);
    let mut received = Vec::new();
    while received.len() < pasted.len() {
        let event = raw.next_event();
        if event["event"] == "message" {
            received.push(event["data"]["text"].as_str().expect("text").to_string());
        }
    }
    assert_eq!(received, pasted);
    bob.paste_lines(&["/leave", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
}

/// A username and password typed ahead at a terminal, as a paste of both
/// or a fast typist sends them: the password reaches the password question
/// and logs in, and is never shown. (rustyline reads the password's line
/// ahead with the username's; a password reader of its own missed it, kept
/// asking, and the next menu prompt showed the password in clear.)
#[test]
fn a_password_typed_ahead_at_a_terminal_logs_in_and_is_not_shown() {
    let server = TestServer::start();
    let mut raw = server.connect();
    assert_status(&raw.call("/register", &["bob", &password_of("bob")]), 201);

    let mut bob = ClientProcess::start_in_terminal(&server, &[]);
    bob.wait_for("3) quit");
    // At the start menu's prompt, where the terminal no longer echoes.
    bob.wait_until_input_is_hidden();
    bob.paste_lines(&[LOGIN, "bob", &password_of("bob")]);
    bob.wait_for("logged in as bob");
    bob.paste_lines(&[LOGOUT, QUIT]);
    let done = bob.wait_for_exit_ok();
    assert!(
        !done.stdout.contains(&password_of("bob")),
        "the password is shown: {}",
        done.stdout
    );
}

/// Text deleted with Ctrl-U, Ctrl-W or Ctrl-K at a password question cannot
/// be yanked back (Ctrl-Y, Alt-Y) at a later prompt, where it would show:
/// at the menu that follows the login, they bring back nothing of it.
#[test]
fn text_deleted_at_a_terminal_password_question_cannot_be_yanked_later() {
    let server = TestServer::start();
    let mut raw = server.connect();
    assert_status(&raw.call("/register", &["bob", &password_of("bob")]), 201);

    let mut bob = ClientProcess::start_in_terminal(&server, &[]);
    bob.wait_for("3) quit");
    bob.type_lines(&[LOGIN, "bob"]);
    bob.wait_for_prompt("password: ");
    // Ctrl-U after a mistyped start, Ctrl-W after another, Ctrl-A then
    // Ctrl-K after a third; then the password.
    for (typed, key) in [
        ("wrongfirst", "\x15"),
        ("wrongsecond", "\x17"),
        ("wrongthird", "\x01\x0b"),
    ] {
        bob.type_raw(typed.as_bytes());
        bob.type_raw(key.as_bytes());
    }
    bob.type_lines(&[&password_of("bob")]);
    bob.wait_for("logged in as bob");
    bob.wait_for_prompt("> ");
    // Ctrl-Y and Alt-Y at the menu, then Enter: anything yanked would be
    // the choice.
    bob.type_raw(b"\x19\x1by\r");
    bob.type_lines(&[LOGOUT, QUIT]);
    let done = bob.wait_for_exit_ok();
    for typed in ["wrongfirst", "wrongsecond", "wrongthird"] {
        assert!(
            !done.stdout.contains(typed),
            "{typed} shown: {}",
            done.stdout
        );
    }
}

/// In a script, registering reads the new password on two lines; a
/// password too short or too long, or two that differ, stop the script there
/// (it cannot answer again) and register nobody. A name taken stops it at
/// the name's line, though the server said so after the passwords.
#[test]
fn a_script_registers_with_the_password_twice_or_stops() {
    let server = TestServer::start();
    let good = password_of("hana");
    let long = "x".repeat(1025);
    register(&server, "ivy");
    let taken = server.connect().call("/register", &["IVY", &good]);
    assert_status(&taken, 409);
    let taken = format!(
        "input line 2 \"IVY\": {}",
        taken["error"].as_str().expect("a sentence")
    );
    let cases: &[(&[&str], &str)] = &[
        (&[REGISTER, "IVY", &good, &good], &taken),
        (
            &[REGISTER, "hana", "short"],
            "input line 3 (a password, not shown): too short: a password has 8 to 1024 bytes",
        ),
        (
            &[REGISTER, "hana", &long],
            "input line 3 (a password, not shown): too long: a password has 8 to 1024 bytes",
        ),
        (
            &[REGISTER, "hana", &good, "pw-of-hana-124"],
            "input line 4 (a password, not shown): the two passwords differ",
        ),
        (
            &[REGISTER, "hana!"],
            "input line 2 \"hana!\": a username may only contain letters (A-Z, a-z), digits, '_', '.' and '-'",
        ),
    ];
    for (lines, expected) in cases {
        let mut hana = ClientProcess::start(&server, &[]);
        hana.type_lines(lines);
        hana.type_lines(&[&good, &good, QUIT]);
        let done = hana.finish_stopped();
        assert_eq!(
            done.stderr,
            format!("pipechat-client: stopped at {expected}\n")
        );
        assert!(!done.stdout.contains("registered"), "{}", done.stdout);
    }
    let mut raw = server.connect();
    assert_status(&raw.call("/login", &["hana", &good]), 401);
}

/// At a terminal, registering asks the new password again when it is too
/// short or the two answers differ, instead of going back to the start menu,
/// then logs in to the new account.
#[test]
fn at_a_terminal_registering_asks_again_then_logs_in() {
    let server = TestServer::start();
    let good = password_of("ivan");
    let mut ivan = ClientProcess::start_in_terminal(&server, &[]);
    ivan.wait_for("3) quit");
    ivan.type_lines(&[REGISTER]);
    ivan.wait_for_prompt("username: ");
    ivan.type_lines(&["ivan"]);
    ivan.wait_for_prompt("new password: ");
    ivan.type_lines(&["short"]);
    ivan.wait_for("too short: a password has 8 to 1024 bytes");
    ivan.wait_for_prompt("new password: ");
    ivan.type_lines(&[&good]);
    ivan.wait_for_prompt("new password again: ");
    ivan.type_lines(&["pw-of-ivan-124"]);
    ivan.wait_for("the two passwords differ");
    ivan.wait_for_prompt("new password: ");
    ivan.type_lines(&[&good]);
    ivan.wait_for_prompt("new password again: ");
    ivan.type_lines(&[&good]);
    ivan.wait_for("registered ivan");
    ivan.wait_for("logged in as ivan");
    ivan.wait_for("5) logout");
    ivan.type_lines(&[LOGOUT, QUIT]);
    ivan.wait_for_exit_ok();

    let mut raw = server.connect();
    assert_status(&raw.call("/login", &["ivan", &good]), 200);
}

/// Ctrl-D at a password question ends its line as Enter does: the menu
/// that comes back starts on a line of its own.
#[test]
fn at_a_terminal_ctrl_d_at_a_password_question_ends_its_line() {
    let server = TestServer::start();
    register(&server, "erin");
    let mut erin = ClientProcess::start_in_terminal(&server, &[]);
    erin.wait_for("3) quit");
    erin.type_lines(&["2"]);
    erin.wait_for_prompt("username: ");
    erin.type_lines(&["erin"]);
    erin.wait_for_prompt("password: ");
    erin.wait_until_input_is_hidden();
    let at = erin.seen.len();
    erin.type_raw(b"\x04");
    erin.wait_for("1) register");
    // What followed the prompt on its line: nothing (the line editor may
    // draw the prompt again over itself as it ends the line).
    let shown = shown_on_the_line(&erin.seen[at]);
    assert!(
        shown.trim().is_empty() || shown.trim_end() == "password:",
        "{shown:?} in {:?}",
        &erin.seen[at..]
    );
    erin.type_lines(&[QUIT]);
    erin.wait_for_exit_ok();
}

/// The server killed while the user sits in a room: one line on stderr, a
/// non-zero exit, no panic, even though stdin is still open.
#[test]
fn losing_the_server_mid_session_ends_the_client_cleanly() {
    let mut server = TestServer::start();
    let mut raw = server.login_as("dave");
    assert_status(&raw.call("/createChatroom", &["lobby"]), 201);
    let addr = server.addr;

    let mut dave = ClientProcess::start(&server, &["--user", "dave"]);
    dave.type_lines(&[&password_of("dave"), ENTER_ROOM, "lobby"]);
    dave.wait_for("you are in lobby");
    server.kill();

    let done = dave.wait_for_exit();
    assert!(!done.status.success());
    assert_eq!(
        done.stderr,
        format!("pipechat-client: lost connection to {addr}\n")
    );
}

/// The server gone while a person, not logged in, types a password at a
/// terminal: the client does not exit in the middle of it (the rest would go
/// to the shell, in clear) but says so and waits for the line to end,
/// unechoed; then it reports the lost connection and exits with status 1.
#[test]
fn at_a_terminal_a_lost_connection_waits_for_the_password_being_typed() {
    let mut server = TestServer::start();
    let addr = server.addr;
    register(&server, "erin");
    let mut erin = ClientProcess::start_in_terminal(&server, &[]);
    erin.wait_for("3) quit");
    erin.type_lines(&[LOGIN]);
    erin.wait_for_prompt("username: ");
    erin.type_lines(&["erin"]);
    erin.wait_for_prompt("password: ");
    erin.wait_until_input_is_hidden();
    erin.type_raw(b"half-of-");
    server.kill();
    erin.wait_for(&format!("lost connection to {addr}; press Enter to end"));
    erin.type_lines(&["the-password"]);
    let done = erin.wait_for_exit();
    assert_eq!(done.status.code(), Some(1), "{}", done.stdout);
    assert!(
        done.stdout
            .contains(&format!("pipechat-client: lost connection to {addr}")),
        "{}",
        done.stdout
    );
    assert!(!done.stdout.contains("half-of-"), "{}", done.stdout);
    assert!(!done.stdout.contains("the-password"), "{}", done.stdout);
}

/// At a terminal, with its login saved, a client whose server restarts
/// reconnects by itself and stays in the room it was in: what was sent
/// meanwhile shows (and what was on screen is not shown again), and what
/// the user typed during the outage is sent once it is back.
#[test]
fn at_a_terminal_a_lost_connection_is_resumed_in_the_same_room() {
    let mut server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    raw.send("general", "said before");
    let mut carol = carol_in_general_at_a_terminal(&server);

    server.kill();
    carol.wait_for(&format!("lost connection to {}; reconnecting", server.addr));
    carol.type_lines(&["typed while away"]);
    server.restart_on_same_address();
    let mut raw = server.connect();
    raw.login("alice");
    raw.send("general", "sent while carol was away");
    // Alice's line comes with what came meanwhile or live, before or after
    // carol's own (shown once the server stored it).
    carol.wait_for_all(&[
        "connected again",
        "alice: sent while carol was away",
        "carol: typed while away",
    ]);
    let stored: Vec<(String, String)> = raw
        .fetch_all("general")
        .iter()
        .map(|m| (m["username"].to_string(), m["text"].to_string()))
        .collect();
    assert!(
        stored.contains(&("\"carol\"".into(), "\"typed while away\"".into())),
        "{stored:?}"
    );
    carol.type_lines(&["/leave", LOGOUT, QUIT]);
    let done = carol.wait_for_exit_ok();
    assert!(done.stdout.contains("you left general"), "{}", done.stdout);
    assert_eq!(done.times_shown("said before"), 1, "{}", done.stdout);
}

/// Once a line typed during an outage is kept for the room, what the user
/// types next is not echoed (no prompt is shown for it, and it could be a
/// password) but waits for the reconnection and is sent then; Ctrl-C in
/// that state still gives up.
#[test]
fn at_a_terminal_lines_typed_after_a_kept_one_wait_unechoed() {
    let mut server = TestServer::start();
    let addr = server.addr;
    server.login_as("alice").create_and_join("general");
    let mut carol = carol_in_general_at_a_terminal(&server);
    // The room's question is asked (a loss between questions is waited out
    // hushed from the start, with no line to keep).
    carol.wait_for_prompt("general> ");

    server.kill();
    carol.wait_for("reconnecting");
    carol.type_lines(&["first while away"]);
    carol.wait_for("(kept until the connection is back");
    carol.type_lines(&["second while away"]);
    server.restart_on_same_address();
    carol.wait_for("connected again");
    assert!(
        !carol
            .seen
            .iter()
            .any(|line| line.contains("second while away")),
        "echoed while away:\n{}",
        carol.seen.join("\n")
    );
    carol.wait_for_all(&["carol: first while away", "carol: second while away"]);
    carol.wait_for_prompt("general> ");

    server.kill();
    carol.wait_for("reconnecting");
    carol.type_lines(&["never sent"]);
    carol.wait_for("(kept until the connection is back");
    carol.type_raw(b"\x03");
    let done = carol.wait_for_exit();
    assert!(!done.status.success(), "{}", done.stdout);
    assert!(
        done.stdout
            .contains(&format!("pipechat-client: lost connection to {addr}")),
        "{}",
        done.stdout
    );
}

/// Typing at a terminal with the output piped (`pipechat-client | tee
/// chat.log`), a message pushed while the room's prompt waits shows on a
/// line of its own, and the prompt again below it.
#[test]
fn with_the_output_piped_a_pushed_line_does_not_follow_the_prompt() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    register(&server, "carol");
    let mut carol = ClientProcess::start_in_terminal_with_output_piped(&server, &[]);
    carol.type_lines(&[LOGIN, "carol"]);
    carol.wait_for_prompt("password: ");
    carol.wait_until_input_is_hidden();
    carol.type_lines(&[&password_of("carol"), ENTER_ROOM, "general"]);
    carol.wait_for("you are in general");
    carol.wait_for_prompt("general> ");
    raw.send("general", "pushed while carol waits");
    let line = carol.wait_for("alice: pushed while carol waits");
    assert!(!line.contains("general>"), "{line:?}");
    carol.wait_for_prompt("general> ");
    // A password's prompt too (written to the terminal by rpassword).
    carol.type_lines(&["/password"]);
    carol.wait_for_prompt("current password: ");
    carol.wait_until_input_is_hidden();
    raw.send("general", "pushed while carol types a password");
    let line = carol.wait_for("alice: pushed while carol types a password");
    assert!(!line.contains("password:"), "{line:?}");
    carol.wait_for_prompt("current password: ");
    carol.type_raw(b"\x03");
    carol.wait_for_prompt("general> ");
    carol.type_lines(&["/leave", LOGOUT, QUIT]);
    carol.wait_for_exit_ok();
}

/// Carol, registered now, logged in at a terminal (her login saved) and in
/// the existing room `general`.
fn carol_in_general_at_a_terminal(server: &TestServer) -> ClientProcess {
    register(server, "carol");
    let mut carol = ClientProcess::start_in_terminal(server, &["--user", "carol"]);
    carol.type_lines(&[&password_of("carol")]);
    carol.wait_for("logged in as carol");
    carol.type_lines(&[ENTER_ROOM, "general"]);
    carol.wait_for("you are in general");
    carol
}

/// A connection lost while a password is being asked (`/password` in a
/// room) leaves that question asked: the password typed after the
/// reconnection answers it, and is never sent as a message.
#[test]
fn at_a_terminal_a_password_question_survives_a_reconnection() {
    let mut server = TestServer::start();
    server.login_as("alice").create_and_join("general");
    let mut carol = carol_in_general_at_a_terminal(&server);
    carol.type_lines(&["/password"]);
    carol.wait_for_prompt("current password: ");
    server.kill();
    carol.wait_for("reconnecting");
    server.restart_on_same_address();
    carol.wait_for("connected again");
    let new_password = "carol-new-password-1";
    carol.type_lines(&[&password_of("carol")]);
    carol.wait_for_prompt("new password: ");
    carol.type_lines(&[new_password]);
    carol.wait_for_prompt("new password again: ");
    carol.type_lines(&[new_password]);
    carol.wait_for("password changed");
    carol.type_lines(&["/leave", LOGOUT, QUIT]);
    carol.wait_for_exit_ok();
    let mut raw = server.connect();
    raw.login("alice");
    assert_eq!(raw.fetch_all("general"), Vec::<serde_json::Value>::new());
    assert_status(
        &server.connect().call("/login", &["carol", new_password]),
        200,
    );
}

/// Dave, logged in with a saved login at a terminal, at the main menu of a
/// server that was just killed: his client reconnecting.
fn dave_reconnecting_at_the_menu(server: &mut TestServer) -> ClientProcess {
    register(server, "dave");
    let mut dave = ClientProcess::start_in_terminal(server, &["--user", "dave"]);
    dave.type_lines(&[&password_of("dave")]);
    dave.wait_for("logged in as dave");
    dave.wait_for_prompt("> ");
    server.kill();
    dave.wait_for("reconnecting");
    dave
}

/// Direct messages that came while the client was reconnecting show once
/// it is back, as they would have live: here one is stored by the same
/// database served for a while on another address, which the client never
/// reached.
#[test]
fn at_a_terminal_direct_messages_sent_while_reconnecting_show_when_back() {
    let mut server = TestServer::start();
    let home = server.addr;
    let mut raw = server.login_as("alice");
    let mut dave = dave_reconnecting_at_the_menu(&mut server);
    drop(raw);
    server.restart();
    raw = server.connect();
    raw.login("alice");
    assert_status(
        &raw.call("/sendMessage", &["@dave", "sent while dave was away"]),
        201,
    );
    server.kill();
    server.restart_on(home);
    dave.wait_for("connected again");
    dave.wait_for("alice: sent while dave was away");
    let mut raw = server.connect();
    raw.login("alice");
    assert_status(&raw.call("/sendMessage", &["@dave", "sent live"]), 201);
    dave.wait_for("alice: sent live");
    dave.type_lines(&[LOGOUT, QUIT]);
    let done = dave.wait_for_exit_ok();
    assert_eq!(
        done.times_shown("sent while dave was away"),
        1,
        "{}",
        done.stdout
    );
}

/// Leaving the room on another connection of the same user ends this
/// client's stay too: it says so, and the next line goes back to the menu
/// instead of being sent.
#[test]
fn at_a_terminal_leaving_the_room_elsewhere_goes_back_to_the_menu() {
    let server = TestServer::start();
    server.login_as("alice").create_and_join("general");
    let mut carol = carol_in_general_at_a_terminal(&server);
    carol.wait_for_prompt("general> ");
    let mut elsewhere = server.connect();
    elsewhere.login("carol");
    assert_status(&elsewhere.call("/exitChatroom", &["general"]), 200);
    carol.wait_for("you left general on another connection");
    carol.type_lines(&["still here?"]);
    carol.wait_for("not sent: you are no longer in general");
    carol.wait_for("back to the menu; you are no longer a member of general");
    carol.type_lines(&[LOGOUT, QUIT]);
    carol.wait_for_exit_ok();
    let mut alice = server.connect();
    alice.login("alice");
    let texts: Vec<Value> = alice
        .fetch_all("general")
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert!(!texts.contains(&Value::from("still here?")), "{texts:?}");
}

/// A server back without the saved login (its database replaced) refuses
/// it: the client says so and ends, rather than asking a password under
/// the room's prompt.
#[test]
fn at_a_terminal_a_refused_saved_login_ends_the_reconnection() {
    let mut server = TestServer::start_sqlite();
    let addr = server.addr;
    let dave = dave_reconnecting_at_the_menu(&mut server);
    let db = std::path::PathBuf::from(server.db_arg());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    server.restart_on_same_address();
    let done = dave.wait_for_exit();
    assert!(!done.status.success(), "{}", done.stdout);
    assert!(
        done.stdout.contains(&format!(
            "pipechat-client: lost connection to {addr}; the saved login of dave is no \
             longer valid"
        )),
        "{}",
        done.stdout
    );
}

/// At a terminal, a client whose saved login is gone (logged out in another
/// session, which deletes the file) says why it does not reconnect when the
/// server goes away; it ended with the lost connection alone, as if it had
/// crashed.
#[test]
fn at_a_terminal_a_lost_connection_without_a_saved_login_says_why_it_ends() {
    let mut server = TestServer::start();
    let addr = server.addr;
    register(&server, "bob");
    let bob = logged_in_at_a_terminal(&server, "bob");
    std::fs::remove_dir_all(&bob.config).expect("remove the saved login");
    server.kill();
    let done = bob.wait_for_exit();
    assert_eq!(done.status.code(), Some(1), "{}", done.stdout);
    assert!(
        done.stdout.contains(&format!(
            "pipechat-client: lost connection to {addr}; not reconnecting: there is no saved \
             login to log in again with"
        )),
        "{}",
        done.stdout
    );
}

/// At a terminal, Ctrl-C while the client reconnects gives up at once:
/// the one line naming the lost server, a non-zero exit.
#[test]
fn at_a_terminal_ctrl_c_gives_up_reconnecting() {
    let mut server = TestServer::start();
    let addr = server.addr;
    let mut dave = dave_reconnecting_at_the_menu(&mut server);
    dave.type_raw(b"\x03");
    let done = dave.wait_for_exit();
    assert!(!done.status.success(), "{}\n{}", done.stdout, done.stderr);
    // At a terminal (`script`), stderr is the terminal too.
    assert!(
        done.stdout
            .contains(&format!("pipechat-client: lost connection to {addr}")),
        "{}",
        done.stdout
    );
}

/// At a terminal, Ctrl-C with text typed in a room clears the line, as in
/// a shell, and the user stays in the room; on an empty line it goes back
/// to the menu as Ctrl-D does, the user still a member: pressed by reflex
/// to quit, it used to leave the room, in front of everyone.
#[test]
fn at_a_terminal_ctrl_c_clears_typed_text_and_never_leaves_the_room() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    server.login_as("bob");
    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.type_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    // Typed at the room's prompt: before it, the terminal itself reads the
    // line, and Ctrl-C there is a signal (documented under "Keys").
    bob.wait_for_prompt("general> ");
    bob.type_raw(b"half a thought");
    bob.wait_for_prompt("half a thought");
    bob.type_raw(b"\x03");
    bob.type_lines(&["kept"]);
    bob.wait_for("bob: kept");
    bob.wait_for_prompt("general> ");
    let texts: Vec<Value> = alice
        .fetch_all("general")
        .iter()
        .map(|message| message["text"].clone())
        .collect();
    assert_eq!(texts, [json!("kept")]);
    assert_eq!(
        alice.ok("/getChatroomMembers|general"),
        json!(["alice", "bob"])
    );
    bob.type_raw(b"\x03");
    bob.wait_for("back to the menu; you are still a member of general");
    bob.wait_for_prompt("> ");
    assert_eq!(
        alice.ok("/getChatroomMembers|general"),
        json!(["alice", "bob"])
    );
    bob.type_lines(&[LOGOUT, QUIT]);
    let done = bob.wait_for_exit_ok();
    assert!(!done.stdout.contains("you left general"), "{}", done.stdout);
}

/// alice in `room`, which she made, with a message "read before", and bob
/// a member who has read to it (logged out again); alice, to send more.
fn alice_with_bob_read_to_here(server: &TestServer, room: &str) -> support::Client {
    let mut alice = server.login_as("alice");
    alice.create_and_join(room);
    let read = alice.send(room, "read before");
    let mut bob = server.login_as("bob");
    bob.join(room);
    let id = read["id"].to_string();
    assert_status(&bob.request(&format!("/markRead|{room}|{id}")), 200);
    alice
}

/// Entering a room shows its latest messages with a line before the first
/// one not read yet, where reading stopped: only when read ones come first.
#[test]
fn entering_a_room_marks_where_reading_stopped() {
    let server = TestServer::start();
    let mut alice = alice_with_bob_read_to_here(&server, "general");
    alice.send("general", "new since");

    let mut script = ClientProcess::start(&server, &["--user", "bob"]);
    script.type_lines(&[&password_of("bob"), ENTER_ROOM, "general"]);
    let done = script.finish_ok();
    let shown: Vec<&str> = done
        .stdout
        .lines()
        .filter(|line| {
            line.contains("read before") || line.contains("new since") || line.starts_with("---")
        })
        .collect();
    assert_eq!(shown.len(), 3, "{}", done.stdout);
    assert!(shown[0].ends_with("alice: read before"), "{shown:?}");
    assert_eq!(shown[1], "--- new since you last read ---");
    assert!(shown[2].ends_with("alice: new since"), "{shown:?}");
}

/// Entering a room with more unread messages than its first page shows
/// says that more come before them (they were skipped without a word, and
/// counted read); entered again, with nothing unread, it says nothing of it.
#[test]
fn entering_a_room_with_more_unread_than_shown_says_so() {
    let server = TestServer::start();
    let mut alice = alice_with_bob_read_to_here(&server, "busy");
    for n in 0..105 {
        alice.send("busy", &format!("unread {n}"));
    }
    let entered = || {
        let mut script = ClientProcess::start(&server, &["--user", "bob"]);
        script.type_lines(&[&password_of("bob"), ENTER_ROOM, "busy"]);
        script.finish_ok().stdout
    };
    let shown = entered();
    let lines: Vec<&str> = shown.lines().collect();
    let at = lines
        .iter()
        .position(|line| *line == "--- more unread before these: /history shows them ---")
        .unwrap_or_else(|| panic!("no line for the earlier unread: {shown}"));
    assert!(lines[at + 1].ends_with("alice: unread 5"), "{shown}");
    // Entered again: all read now, nothing said.
    let again = entered();
    assert!(!again.contains("more unread before"), "{again}");
}

/// A first entry to a room (nothing read there yet) with more messages
/// than its first page shows says that earlier ones come before them, in
/// words for a newcomer; a room of exactly one page says nothing of it.
#[test]
fn a_first_entry_to_a_busy_room_says_earlier_messages_come_before() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("busy");
    for n in 0..105 {
        alice.send("busy", &format!("busy {n}"));
    }
    alice.create_and_join("full");
    for n in 0..100 {
        alice.send("full", &format!("full {n}"));
    }
    register(&server, "bob");
    let mut script = ClientProcess::start(&server, &["--user", "bob"]);
    script.type_lines(&[&password_of("bob"), ENTER_ROOM, "busy", "/join full"]);
    let shown = script.finish_ok().stdout;
    let lines: Vec<&str> = shown.lines().collect();
    let hint = "--- earlier messages before these: /history shows them ---";
    let at = lines
        .iter()
        .position(|line| *line == hint)
        .unwrap_or_else(|| panic!("no line for the earlier messages: {shown}"));
    assert!(lines[at + 1].ends_with("alice: busy 5"), "{shown}");
    assert_eq!(shown.matches(hint).count(), 1, "{shown}");
    assert!(!shown.contains("more unread before"), "{shown}");
    assert!(shown.contains("alice: full 0"), "{shown}");
}

/// Opening a direct conversation never opened before, with more messages
/// than its first page shows, says that more unread ones come before
/// them: every one was sent to this user, who missed them (not the
/// "earlier messages" of a chatroom entered for the first time).
#[test]
fn a_conversation_never_opened_with_more_than_a_page_says_more_unread_come_before() {
    let server = TestServer::start();
    register(&server, "bob");
    let mut alice = server.login_as("alice");
    for n in 0..105 {
        alice.send("@bob", &format!("dm {n}"));
    }
    let mut script = ClientProcess::start(&server, &["--user", "bob"]);
    script.type_lines(&[&password_of("bob"), DIRECT, "alice"]);
    let shown = script.finish_ok().stdout;
    let lines: Vec<&str> = shown.lines().collect();
    let at = lines
        .iter()
        .position(|line| *line == "--- more unread before these: /history shows them ---")
        .unwrap_or_else(|| panic!("no line for the earlier unread: {shown}"));
    assert!(lines[at + 1].ends_with("alice: dm 5"), "{shown}");
    assert!(!shown.contains("earlier messages before"), "{shown}");
}

/// The start menu's words work as well as its numbers.
#[test]
fn the_start_menu_takes_its_words_too() {
    let server = TestServer::start();
    server.login_as("alice");
    let mut script = ClientProcess::start(&server, &[]);
    script.type_lines(&["Login", "alice", &password_of("alice")]);
    script.wait_for("logged in as alice");
    let done = script.finish_ok();
    assert!(!done.stdout.contains("is not a choice"), "{}", done.stdout);
}

/// At a terminal, a direct conversation with a name no one has says so
/// and asks the name again, as entering a room does, instead of going back
/// to the menu.
#[test]
fn at_a_terminal_an_unknown_name_to_talk_to_is_asked_again() {
    let server = TestServer::start();
    server.login_as("alice");
    server.login_as("bob");
    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.type_lines(&[DIRECT, "nosuchuser"]);
    bob.wait_for("user 'nosuchuser' does not exist");
    bob.wait_for_prompt("talk to (a username): ");
    bob.type_lines(&["alice"]);
    bob.wait_for("you are talking with alice");
    bob.type_lines(&["/exit", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
}

/// A client at a terminal (`script`), logged in as `username` with the
/// password it asks for.
fn logged_in_at_a_terminal(server: &TestServer, username: &str) -> ClientProcess {
    let mut client = ClientProcess::start_in_terminal(server, &["--user", username]);
    client.type_lines(&[&password_of(username)]);
    client.wait_for(&format!("logged in as {username}"));
    client
}

/// The one line a client started at `addr` says as it fails. What these
/// tests expect it to say comes from the server's answer to the client's
/// question (or its first line), which is how it is said at once: after the
/// whole wait for a greeting the client says "sent no greeting" instead.
fn fails_saying_at(addr: &str) -> String {
    let done = ClientProcess::start_at(addr, &[]).finish();
    assert!(!done.status.success());
    let said = done.stderr.trim_end().to_string();
    assert_eq!(said.lines().count(), 1, "{said}");
    said
}

/// The web port given for the chat port: said at once, not after the whole
/// wait for a greeting, naming HTTP, the page's address and the chat port to
/// try instead.
#[test]
fn the_web_port_is_told_apart_from_the_chat_port_at_once() {
    let server = TestServer::start();
    let web = server.web_addr();
    let said = fails_saying_at(&web.to_string());
    for part in [
        format!(
            "pipechat-client: {web} answers HTTP: it is a web server (perhaps pipechat's \
             web page: open http://{web}/ in a browser), not the chat port"
        ),
        "\"listening on\", 8080 unless it was started with --listen".to_string(),
        format!("try --server {}:8080", web.ip()),
    ] {
        assert!(said.contains(&part), "{part:?} in {said}");
    }
}

/// At a terminal, the error a run ends with (here the web port's, a long
/// sentence) wraps between words to the terminal's width, as everything
/// else shown there does, rather than being broken mid-word by the
/// terminal; piped, it is the one line `fails_saying_at` reads.
#[test]
fn the_final_error_wraps_between_words_at_a_terminal() {
    let server = TestServer::start();
    let web = server.web_addr().to_string();
    let piped = fails_saying_at(&web);
    let done = ClientProcess::start_in_terminal_of_width_at(&web, &[], 40).wait_for_exit();
    assert_eq!(done.status.code(), Some(1), "{}", done.stdout);
    let lines: Vec<String> = done
        .stdout
        .lines()
        .map(shown_on_the_line)
        .filter(|line| !line.is_empty())
        .collect();
    assert!(lines.len() > 1, "{lines:?}");
    assert!(
        lines.iter().all(|line| line.chars().count() <= 40),
        "{lines:?}"
    );
    assert_eq!(lines.join(" "), piped, "broken only where it had a space");
}

/// A server that speaks something else: what it said is shown, at once,
/// whether it speaks first (as SSH does) or only when asked (as a Redis or
/// an SMTP-like line server might).
#[test]
fn a_server_that_is_not_pipechat_is_named_with_what_it_said() {
    let cases = [
        (
            fake_server(b"SSH-2.0-OpenSSH_9.6\r\n", b""),
            "SSH-2.0-OpenSSH_9.6",
        ),
        (
            fake_server(b"", b"-ERR unknown command 'HEAD'\r\n"),
            "-ERR unknown command 'HEAD'",
        ),
        // A reply, but no greeting: shown as it came, not as its data.
        (fake_server(b"{\"status\":200}\n", b""), "{\"status\":200}"),
    ];
    for (addr, said) in cases {
        assert_eq!(
            fails_saying_at(&addr.to_string()),
            format!(
                "pipechat-client: {addr} is not a pipechat server: it said \"{said}\" \
                 where pipechat greets"
            )
        );
    }
}

/// A pipechat server slow to greet gets the client's question too (the
/// HTTP request that gives a web port away), and answers it after its
/// greeting; the client drops that answer, and the session goes on as ever.
#[test]
fn a_pipechat_server_slow_to_greet_is_still_used() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    let server = TestServer::start();
    let slow = TcpListener::bind("127.0.0.1:0").expect("bind");
    let slow_addr = slow.local_addr().expect("address");
    let target = server.addr;
    // The server's greeting reaches the client only once the client has
    // asked (sent `HEAD `): the client must ask a server that stays silent,
    // and then get the greeting before the reply to its question.
    std::thread::spawn(move || {
        for client in slow.incoming().flatten() {
            let upstream = TcpStream::connect(target).expect("the server");
            let (mut from_client, mut to_server) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            let (asked, heard) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut start = [0u8; 5];
                from_client.read_exact(&mut start)?;
                to_server.write_all(&start)?;
                if &start == b"HEAD " {
                    let _ = asked.send(());
                }
                std::io::copy(&mut from_client, &mut to_server)
            });
            std::thread::spawn(move || {
                heard.recv().map_err(std::io::Error::other)?;
                let (mut from_server, mut to_client) = (upstream, client);
                std::io::copy(&mut from_server, &mut to_client)
            });
        }
    });
    let mut alice = ClientProcess::start_at(&slow_addr.to_string(), &[]);
    alice.type_lines(&[REGISTER, "alice", "a good password", "a good password"]);
    alice.wait_for("logged in as alice");
    alice.type_lines(&[CREATE_ROOM, "general", ENTER_ROOM, "general", "hello there"]);
    alice.wait_for("alice: hello there");
    alice.type_lines(&["/exit", LOGOUT, QUIT]);
    alice.finish_ok();
}

/// An IRC port given for the chat port (pipechat's own IRC door, which
/// answers the client's question with `451`, or a server that speaks
/// first) is named as such, at once.
#[test]
fn an_irc_port_is_told_apart_from_the_chat_port() {
    let server = TestServer::start_irc(&[]);
    let door = server.irc.expect("the IRC door");
    let other = fake_server(
        b":irc.example.net NOTICE * :*** Looking up your hostname\r\n",
        b"",
    );
    for addr in [door, other] {
        let said = fails_saying_at(&addr.to_string());
        for part in [
            format!("pipechat-client: {addr} speaks IRC: it is an IRC port"),
            "not the chat port this client speaks to".to_string(),
            format!("try --server {}:8080", addr.ip()),
        ] {
            assert!(said.contains(&part), "{part:?} in {said}");
        }
    }
}

/// A server that greets as pipechat when asked, and then answers the
/// question with anything but pipechat's `400`, is not used: that answer
/// would be taken for the next request's. A success is shown as the line
/// that came, cut when long, not as its data (`null` for a reply without
/// any).
#[test]
fn a_reply_to_the_question_that_is_not_a_400_is_not_dropped() {
    // Silent until asked, then pipechat's greeting and the odd reply.
    let greeting_then = |reply: &[u8]| {
        fake_server(
            b"",
            &[
                &b"{\"status\":200,\"data\":{\"server\":\"pipechat\"}}\n"[..],
                reply,
            ]
            .concat(),
        )
    };
    let refusing = greeting_then(b"{\"status\":401,\"error\":\"not logged in\"}\n");
    let succeeding = greeting_then(b"{\"status\":200,\"data\":\"pong\"}\n");
    let bare = greeting_then(b"{\"status\":200}\n");
    let long_line = format!("{{\"status\":201,\"data\":\"{}\"}}", "x".repeat(300));
    let long = greeting_then(format!("{long_line}\n").as_bytes());
    // Its first 200 characters, and a mark that more came.
    let long_shown: String = long_line.chars().take(200).chain(['…']).collect();
    for (addr, expected) in [
        (
            refusing,
            "refused the connection: not logged in".to_string(),
        ),
        (
            succeeding,
            "sent a line that is not pipechat protocol: {\"status\":200,\"data\":\"pong\"}"
                .to_string(),
        ),
        (
            bare,
            "sent a line that is not pipechat protocol: {\"status\":200}".to_string(),
        ),
        (
            long,
            format!("sent a line that is not pipechat protocol: {long_shown}"),
        ),
    ] {
        let done = ClientProcess::start_at(&addr.to_string(), &[]).finish();
        assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
        assert_eq!(
            done.stderr.trim_end(),
            format!("pipechat-client: {addr} {expected}")
        );
    }
}

/// A `400` in place of the greeting is taken for pipechat's TLS port only
/// when it says so (`this port speaks TLS…`); any other is the server's
/// refusal, shown as it came, not a hint to use `--tls`.
#[test]
fn only_the_tls_ports_400_is_taken_for_tls() {
    let addr = fake_server(b"", b"{\"status\":400,\"error\":\"malformed request\"}\n");
    let done = ClientProcess::start_at(&addr.to_string(), &[]).finish();
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert_eq!(
        done.stderr.trim_end(),
        format!("pipechat-client: {addr} refused the connection: malformed request")
    );
}

/// A server that is not pipechat, on an ephemeral port of 127.0.0.1: to
/// each client it says `first` at once, answers the client's `HEAD ` question
/// with `answer`, and keeps the connection open until the client closes it.
fn fake_server(first: &[u8], answer: &[u8]) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (first, answer) = (first.to_vec(), answer.to_vec());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = (&stream).write_all(&first);
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if line.starts_with("HEAD ") {
                let _ = (&stream).write_all(&answer);
            }
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
    });
    addr
}

/// No server at the address: one line naming it, a non-zero exit.
#[test]
fn a_server_that_is_down_is_reported_in_one_line() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let done = ClientProcess::start_at(&addr.to_string(), &[]).finish();
    assert!(!done.status.success());
    let prefix = format!("pipechat-client: cannot connect to {addr}: ");
    assert!(done.stderr.starts_with(&prefix), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    assert!(!done.stderr.contains("panicked"));
}

/// `/history N` scrolls back before the oldest message on screen, in order,
/// until there is nothing earlier.
#[test]
fn history_scrolls_back_before_the_oldest_message_shown() {
    let server = TestServer::start();
    let mut raw = server.login_as("erin");
    assert_status(&raw.call("/createChatroom", &["archive"]), 201);
    assert_status(&raw.call("/joinChatroom", &["archive"]), 200);
    for n in 1..=103 {
        let text = format!("msg {n:03}");
        assert_status(&raw.call("/sendMessage", &["archive", &text]), 201);
    }

    let mut erin = ClientProcess::start(&server, &["--user", "erin"]);
    erin.type_lines(&[&password_of("erin"), ENTER_ROOM, "archive"]);
    erin.wait_for("you are in archive");
    let on_entry = erin.seen.join("\n");
    assert!(on_entry.contains("erin: msg 004") && on_entry.contains("erin: msg 103"));
    assert!(!on_entry.contains("msg 003"), "the latest 100 only");

    erin.type_lines(&["/history 2"]);
    erin.wait_for("--- 2 earlier messages ---");
    assert!(erin.wait_for("msg 0").ends_with("msg 002"));
    assert!(erin.wait_for("msg 0").ends_with("msg 003"));
    erin.type_lines(&["/history 5"]);
    erin.wait_for("--- 1 earlier messages ---");
    assert!(erin.wait_for("msg 0").ends_with("msg 001"));
    erin.type_lines(&["/history"]);
    erin.wait_for("no earlier messages");
    erin.finish_ok();
}

/// In a room: /members, /help, `//` to send a line starting with `/`; the
/// end of input only unsubscribes, so the user stays a member.
#[test]
fn room_commands_and_leaving_without_exit() {
    let server = TestServer::start();
    let mut raw = server.login_as("frank");
    assert_status(&raw.call("/createChatroom", &["den"]), 201);
    assert_status(&raw.call("/joinChatroom", &["den"]), 200);
    assert_status(&raw.call("/register", &["gina", &password_of("gina")]), 201);

    let mut gina = ClientProcess::start(&server, &["--user", "gina"]);
    gina.type_lines(&[&password_of("gina"), ENTER_ROOM, "DEN"]);
    gina.wait_for("you are in den");
    gina.type_lines(&["/members"]);
    gina.wait_for("members of den (2):");
    assert_eq!(gina.wait_for("  "), "  frank");
    assert_eq!(gina.wait_for("  "), "  gina");
    gina.type_lines(&["/help"]);
    gina.wait_for("/history [N]");
    gina.type_lines(&["//shout hi"]);
    gina.wait_for("gina: /shout hi");
    let done = gina.finish_ok();
    assert!(
        done.stdout.contains("still a member of den"),
        "{}",
        done.stdout
    );

    let members = raw.call("/getChatroomMembers", &["den"]);
    assert_eq!(members["data"], serde_json::json!(["frank", "gina"]));
    let stored = raw.call("/fetchMessages", &["den"]);
    assert_eq!(stored["data"].as_array().map(Vec::len), Some(1), "{stored}");
    assert_eq!(stored["data"][0]["text"], "/shout hi");
}

/// From a room, a script goes to another room with `/join NAME` and to a
/// conversation with `/join @NAME`, staying a member of the room it left;
/// `/leave` leaves a room (the others see it); `/quit` ends the client with
/// status 0, still a member, reading no line after it.
#[test]
fn a_script_joins_leaves_and_quits_from_a_room() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    alice.create_and_join("dev");
    register(&server, "bob");

    let mut bob = ClientProcess::start(&server, &["--user", "bob"]);
    bob.type_lines(&[
        &password_of("bob"),
        ENTER_ROOM,
        "general",
        "in general",
        "/join DEV",
        "in dev",
        "/join @alice",
        "to alice",
        "/join general",
        "/leave",
        ENTER_ROOM,
        "dev",
        "/quit",
        "never read",
    ]);
    let done = bob.wait_for_exit_ok();
    assert_eq!(done.stderr, "");
    for said in [
        "you are in dev",
        "you are talking with alice",
        "you left general",
        "you are still a member of dev",
        "bye; bob's login stays saved here",
    ] {
        assert!(done.stdout.contains(said), "{said}: {}", done.stdout);
    }
    assert_eq!(
        alice.ok_call("/getChatroomMembers", &["general"]),
        json!(["alice"])
    );
    assert_eq!(
        alice.ok_call("/getChatroomMembers", &["dev"]),
        json!(["alice", "bob"])
    );
    assert_eq!(alice.texts("general"), ["in general"]);
    assert_eq!(alice.texts("dev"), ["in dev"]);
    assert_eq!(alice.texts("@bob"), ["to alice"]);
}

/// `/join` to a room that does not exist, or to someone no one is, says so
/// and keeps a person where they were; the room's refusal says how to
/// create it.
#[test]
fn at_a_terminal_joining_nowhere_stays_in_the_room() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    register(&server, "bob");
    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.type_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    bob.type_lines(&["/join nowhere"]);
    bob.wait_for("error: chatroom 'nowhere' does not exist; choose 2 at the menu to create it");
    bob.type_lines(&["/join @nobody"]);
    bob.wait_for("error: user 'nobody' does not exist");
    bob.type_lines(&["still here"]);
    bob.wait_for("bob: still here");
    assert_eq!(alice.texts("general"), ["still here"]);
    bob.type_lines(&["/leave", LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
}

/// At a terminal `/exit` in a room asks first, since from a conversation it
/// only goes back to the menu: Enter stays in the room, `n` goes back to
/// the menu a member still, `y` leaves. (A script leaves without a
/// question, as ever: see `a_scripted_session_sends_a_message_that_the_server_stores`.)
#[test]
fn at_a_terminal_exit_in_a_room_asks_before_leaving() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    register(&server, "bob");
    let mut bob = logged_in_at_a_terminal(&server, "bob");
    bob.type_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    let question = "leave general? y leaves it, n goes back to the menu as a member, Enter stays";
    bob.type_lines(&["/exit"]);
    bob.wait_for_prompt(question);
    bob.type_lines(&[""]);
    bob.wait_for("still in general");
    bob.type_lines(&["/exit"]);
    bob.wait_for_prompt(question);
    bob.type_lines(&["n"]);
    bob.wait_for("back to the menu; you are still a member of general");
    assert_eq!(
        alice.ok_call("/getChatroomMembers", &["general"]),
        json!(["alice", "bob"])
    );
    bob.type_lines(&[ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    bob.type_lines(&["/exit"]);
    bob.wait_for_prompt(question);
    bob.type_lines(&["y"]);
    bob.wait_for("you left general");
    assert_eq!(
        alice.ok_call("/getChatroomMembers", &["general"]),
        json!(["alice"])
    );
    bob.type_lines(&[LOGOUT, QUIT]);
    bob.wait_for_exit_ok();
    assert!(alice.texts("general").is_empty());
}

/// As on the web page, a line that only starts with a slash is a message
/// (`/usr/bin is full`); a `/word` that is not a command is not sent, and
/// stops a script.
#[test]
fn a_line_that_only_starts_with_a_slash_is_a_message() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    register(&server, "bob");
    let mut bob = ClientProcess::start(&server, &["--user", "bob"]);
    bob.type_lines(&[
        &password_of("bob"),
        ENTER_ROOM,
        "general",
        "/usr/bin is full",
        "/2 cents",
        "/shout hi",
        "not sent",
    ]);
    let done = bob.finish_stopped();
    assert!(
        done.stderr
            .contains("\"/shout hi\": unknown command '/shout'"),
        "{}",
        done.stderr
    );
    assert_eq!(alice.texts("general"), ["/usr/bin is full", "/2 cents"]);
}

/// `--server` without a port means the server's default port, 8080; an
/// address of no possible shape is refused before anything is asked, saying
/// what is wrong.
#[test]
fn a_server_without_a_port_is_on_8080_and_garbage_is_refused() {
    let done = ClientProcess::start_at("nosuchhost.invalid", &[]).finish();
    assert!(
        done.stderr
            .starts_with("pipechat-client: cannot connect to nosuchhost.invalid:8080: "),
        "{}",
        done.stderr
    );
    for (garbage, why) in [
        ("http://localhost:8080", "no scheme"),
        ("::1", "an IPv6 address goes in brackets"),
        ("localhost:http", "'http' is not a port"),
    ] {
        let output = Command::new(support::client_binary())
            .args(["--server", garbage])
            .stdin(Stdio::null())
            .output()
            .expect("run pipechat-client");
        assert_eq!(output.status.code(), Some(2), "{garbage}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{garbage}: {stderr}");
        assert!(output.stdout.is_empty(), "{garbage}: {:?}", output.stdout);
    }
}

/// `--user` with a name no one can have is refused before anything is
/// asked or sent: one line, exit status 2, as for any bad option.
#[test]
fn an_impossible_user_name_is_refused_at_once() {
    let server = TestServer::start();
    let output = Command::new(support::client_binary())
        .args(["--server", &server.addr.to_string(), "--user", "bad name|x"])
        .stdin(Stdio::null())
        .output()
        .expect("run pipechat-client");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'bad name|x'")
            && stderr.contains(
                "a username may only contain letters (A-Z, a-z), digits, '_', '.' and '-'"
            ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
}

/// `--tls` and `--tls-ca` are one choice or the other (which roots to
/// trust): both given is refused, exit status 2, instead of one silently
/// winning.
#[test]
fn tls_and_tls_ca_together_are_refused() {
    let output = Command::new(support::client_binary())
        .args(["--tls", "--tls-ca", "ca.pem"])
        .stdin(Stdio::null())
        .output()
        .expect("run pipechat-client");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// `--help` describes the options and exits 0.
#[test]
fn help_describes_the_options() {
    let output = Command::new(support::client_binary())
        .arg("--help")
        .output()
        .expect("run pipechat-client --help");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("--server") && text.contains("--user"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1:8080"), "{text}");
}

/// Each binary other than the server opens its `--help` (and `-h`) with what
/// that binary does, not with the crate's description (which is the
/// server's), and `--version` names the binary.
#[test]
fn each_binary_describes_and_names_itself() {
    let binaries = [
        (
            support::server_binary(),
            "pipechat-server",
            "A persistent, real-time chat server ",
        ),
        (
            support::client_binary(),
            "pipechat-client",
            "The pipechat console client: ",
        ),
        (
            env!("CARGO_BIN_EXE_pipechat-example-db"),
            "pipechat-example-db",
            "Writes the example pipechat database ",
        ),
        (
            env!("CARGO_BIN_EXE_pipechat-bench"),
            "pipechat-bench",
            "Load scenarios for a pipechat server: ",
        ),
    ];
    for (path, name, about) in binaries {
        for flag in ["--help", "-h"] {
            let help = run_to_exit(path, flag);
            let first = help.lines().next().unwrap_or_default();
            assert!(first.starts_with(about), "{name} {flag}:\n{help}");
            assert!(help.contains(&format!("Usage: {name}")), "{help}");
        }
        let version = run_to_exit(path, "--version");
        assert_eq!(version, format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
    }
}

/// Runs a binary with one argument until it exits, which it must do with
/// status 0 within the deadline; its standard output.
fn run_to_exit(path: &str, arg: &str) -> String {
    let mut child = Command::new(path)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let status = support::wait_with_deadline(&mut child);
    assert!(status.success(), "{path} {arg}: {status:?}");
    reader.join().expect("reader").expect("UTF-8 output")
}

/// Registers `username` over a raw connection of its own (not logged in).
fn register(server: &TestServer, username: &str) {
    let reply = server
        .connect()
        .call("/register", &[username, &password_of(username)]);
    assert_status(&reply, 201);
}

/// Logs `username` in once with `--user` and the password, which saves the
/// login in `config` for the runs after it.
fn save_login(server: &TestServer, username: &str, config: &std::path::Path) {
    let mut first = ClientProcess::start_with_config(server, &["--user", username], config);
    first.type_lines(&[&password_of(username)]);
    first.wait_for(&format!("logged in as {username}"));
    first.finish_ok();
}

/// The `/getUnread` entry of `room` for the user logged in on `raw`.
#[track_caller]
fn unread_of(raw: &mut support::Client, room: &str) -> Value {
    let reply = raw.call("/getUnread", &[]);
    assert_status(&reply, 200);
    reply["data"]
        .as_array()
        .expect("an array")
        .iter()
        .find(|entry| entry["room"] == room)
        .cloned()
        .unwrap_or_else(|| panic!("no entry for {room} in {reply}"))
}

/// Where the client keeps `username`'s token for `server`.
fn token_file(config: &Path, server: &TestServer, username: &str) -> PathBuf {
    config
        .join("tokens")
        .join(server.addr.to_string())
        .join(username)
}

/// A direct message reaches a client that is running, wherever it is: at
/// the main menu and in a room as a `[dm]` line, in the conversation as a
/// plain message; `/msg` in a room sends one (shown once, as `alice → bob`);
/// the direct messages menu lists the conversation and opens it with its
/// history, and what is typed there goes to bob.
#[test]
fn direct_messages_reach_a_running_client_wherever_it_is() {
    let server = TestServer::start();
    let mut bob = server.login_as("bob");
    bob.create_and_join("general");
    register(&server, "alice");

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice")]);
    // Shown after the client subscribed to its direct messages.
    alice.wait_for("nothing unread");
    bob.send("@alice", "hi | alice \\ at the menu");
    let at_menu = alice.wait_for("bob: hi | alice");
    assert!(at_menu.starts_with("[dm "), "{at_menu}");
    assert!(
        at_menu.ends_with("] bob: hi | alice \\ at the menu"),
        "{at_menu}"
    );

    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    bob.send("@alice", "in a room?");
    let in_room = alice.wait_for("bob: in a room?");
    assert!(in_room.starts_with("[dm "), "{in_room}");

    bob.subscribe("@");
    alice.type_lines(&["/msg Bob back | at you"]);
    let event = bob.next_event();
    assert_eq!(event["event"], "message", "{event}");
    assert_eq!(event["data"]["text"], "back | at you");
    assert_eq!(event["data"]["to"], "bob");
    assert_eq!(event["data"]["room"], Value::Null);
    let sent = alice.wait_for("alice → bob: back | at you");
    assert!(sent.starts_with("[dm "), "{sent}");

    alice.type_lines(&["/exit", DIRECT]);
    alice.wait_for("direct conversations (1):");
    assert_eq!(alice.wait_for("  @"), "  @bob");
    alice.type_lines(&["BOB"]);
    alice.wait_for("] bob: hi | alice");
    alice.wait_for("] bob: in a room?");
    alice.wait_for("] alice: back | at you");
    alice.wait_for("you are talking with bob");
    bob.send("@alice", "now in the conversation");
    let here = alice.wait_for("bob: now in the conversation");
    assert!(here.starts_with('[') && !here.starts_with("[dm"), "{here}");
    alice.type_lines(&["typed | in the conversation"]);
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let event = bob.next_event();
        texts.push(event["data"]["text"].as_str().expect("text").to_string());
    }
    assert_eq!(
        texts,
        ["now in the conversation", "typed | in the conversation"]
    );
    alice.type_lines(&["/exit"]);
    alice.wait_for("back to the menu");

    let done = alice.finish_ok();
    assert_eq!(
        done.times_shown("alice → bob: back | at you"),
        1,
        "{}",
        done.stdout
    );
    assert_eq!(done.times_shown("bob: in a room?"), 2, "{}", done.stdout);
    let stored = bob.call("/fetchMessages", &["@alice"]);
    let last = stored["data"]
        .as_array()
        .and_then(|all| all.last())
        .cloned();
    assert_eq!(
        last.expect("a message")["text"],
        "typed | in the conversation"
    );
}

/// `/edit` and `/delete` in one client are seen live by another in the room
/// ("(edited)", "* alice's message ... was deleted"); `/ids` shows the ids
/// they take; a deleted message is gone from what a third client fetches.
#[test]
fn edits_and_deletes_are_seen_by_another_client() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    register(&server, "bob");
    register(&server, "carol");

    let mut bob = ClientProcess::start(&server, &["--user", "bob"]);
    bob.type_lines(&[&password_of("bob"), ENTER_ROOM, "general"]);
    bob.wait_for("you are in general");
    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    alice.type_lines(&["stays", "has a tpyo"]);
    bob.wait_for("alice: has a tpyo");
    let all = raw.fetch_all("general");
    let id = all[1]["id"].as_i64().expect("id");
    assert_eq!(all[1]["text"], "has a tpyo");

    alice.type_lines(&["/ids"]);
    alice.wait_for("message ids on");
    let again = alice.wait_for("alice: has a tpyo");
    assert!(
        again.contains(&format!(" #{id}] alice: has a tpyo")),
        "{again}"
    );

    alice.type_lines(&[&format!("/edit #{id} has no typo | now")]);
    let edited = bob.wait_for("alice: has no typo | now");
    assert!(
        edited.ends_with("alice: has no typo | now (edited)"),
        "{edited}"
    );
    alice.wait_for(&format!(" #{id}] alice: has no typo | now (edited)"));
    let stored = raw.fetch_all("general");
    assert_eq!(stored[1]["text"], "has no typo | now");
    assert!(stored[1]["edited_at"].is_string(), "{}", stored[1]);

    alice.type_lines(&[&format!("/delete {id}")]);
    let gone = bob.wait_for("was deleted");
    assert!(gone.starts_with("* alice's message of "), "{gone}");
    alice.wait_for(&format!("* alice's message #{id} of "));
    let stored = raw.fetch_all("general");
    assert_eq!(stored.len(), 1, "{stored:?}");

    let mut carol = ClientProcess::start(&server, &["--user", "carol"]);
    carol.type_lines(&[&password_of("carol"), ENTER_ROOM, "general"]);
    carol.wait_for("alice: stays");
    carol.wait_for("you are in general");
    let carol = carol.finish_ok();
    assert!(!carol.stdout.contains("typo"), "{}", carol.stdout);

    for client in [alice, bob] {
        let done = client.finish_ok();
        assert_eq!(done.times_shown("(edited)"), 1, "{}", done.stdout);
        assert_eq!(done.times_shown("was deleted"), 1, "{}", done.stdout);
    }
}

/// Unread counts after login and beside each room; entering a room and
/// reading there as messages arrive move the read position; the direct
/// messages menu counts per conversation.
#[test]
fn unread_counts_are_shown_and_reading_marks_them_read() {
    let server = TestServer::start();
    let mut bob = server.login_as("bob");
    bob.create_and_join("general");
    let mut raw_alice = server.login_as("alice");
    raw_alice.join("general");
    for text in ["one", "two", "three"] {
        bob.send("general", text);
    }
    bob.send("@alice", "psst");

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice")]);
    alice.wait_for("unread: general 3, @bob 1");
    alice.type_lines(&["3"]);
    alice.wait_for("your chatrooms (1):");
    assert_eq!(alice.wait_for("  general"), "  general  3 unread");

    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    let entry = unread_of(&mut raw_alice, "general");
    assert_eq!(entry["unread"], 0, "{entry}");
    assert_eq!(entry["last_read_id"], entry["last_id"], "{entry}");

    let pushed = bob.send("general", "while you are here");
    alice.wait_for("bob: while you are here");
    wait_until("the client marks the pushed message read", || {
        unread_of(&mut raw_alice, "general")["last_read_id"] == pushed["id"]
    });

    alice.type_lines(&["/exit", DIRECT]);
    alice.wait_for("direct conversations (1):");
    assert_eq!(alice.wait_for("  @bob"), "  @bob  1 unread");
    alice.type_lines(&["bob"]);
    alice.wait_for("you are talking with bob");
    assert_eq!(unread_of(&mut raw_alice, "@bob")["unread"], 0);
    alice.finish_ok();
}

/// The room list (choice 3, and choice 1 before it asks) tells the rooms
/// the user is in from the others, as the web page's sidebar does: a room
/// of theirs with nothing unread is listed as theirs, not among the others.
#[test]
fn the_room_list_shows_which_rooms_are_yours() {
    let server = TestServer::start();
    let mut bob = server.login_as("bob");
    for room in ["general", "quiet", "random"] {
        bob.create_and_join(room);
    }
    bob.send("general", "one");
    let mut raw_alice = server.login_as("alice");
    raw_alice.join("general");
    raw_alice.join("quiet");
    let listed = [
        "your chatrooms (2):",
        "  general  1 unread",
        "  quiet",
        "other chatrooms (1):",
        "  random",
    ];

    // The list, line by line, ending at the latest showing of its last line.
    let shown_last = |alice: &ClientProcess| -> Vec<String> {
        let end = alice.seen.len();
        alice.seen[end.saturating_sub(listed.len())..end].to_vec()
    };

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), "3"]);
    alice.wait_for(listed[listed.len() - 1]);
    assert_eq!(shown_last(&alice), listed, "{}", alice.seen.join("\n"));
    alice.type_lines(&[ENTER_ROOM, "quiet"]);
    alice.wait_for(listed[listed.len() - 1]);
    assert_eq!(shown_last(&alice), listed, "{}", alice.seen.join("\n"));
    alice.wait_for("you are in quiet");
    alice.finish_ok();
}

/// `/search` in a room finds that room's messages only; the menu's search
/// finds them in every room and conversation, naming each place; in a
/// conversation it searches that conversation, accents ignored. The first
/// line says where it looked, and none found in a room points to the
/// menu's search of everything.
#[test]
fn search_from_a_room_and_from_the_menu() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    raw.create_and_join("random");
    register(&server, "bob");
    raw.send("general", "deploy in general");
    raw.send("random", "deploy in random");
    raw.send("@bob", "Café deploy");
    raw.send("general", "unrelated");

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), SEARCH, "deploy"]);
    alice.wait_for(
        "3 messages found for \"deploy\" in your chatrooms and conversations, newest first:",
    );
    let found: Vec<String> = (0..3).map(|_| alice.wait_for("  ")).collect();
    assert!(
        found[0].starts_with("  @bob [") && found[0].ends_with("] alice: Café deploy"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("  random [") && found[1].ends_with("] alice: deploy in random"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("  general [") && found[2].ends_with("] alice: deploy in general"),
        "{found:?}"
    );

    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    alice.type_lines(&["/search deploy"]);
    alice.wait_for("1 message found for \"deploy\" in general, newest first:");
    let only = alice.wait_for("  ");
    assert!(
        only.starts_with("  general [") && only.contains("#"),
        "{only}"
    );
    alice.type_lines(&["/search nowhere"]);
    alice.wait_for(
        "no messages found for \"nowhere\" in general (menu choice 7 searches everywhere)",
    );

    alice.type_lines(&["/exit", DIRECT, "bob", "/search cafe"]);
    alice.wait_for("1 message found for \"cafe\" in your conversation with bob, newest first:");
    assert!(alice.wait_for("  ").starts_with("  @bob ["));
    alice.finish_ok();
}

/// The topic is set, shown on entering, announced to the room and cleared;
/// `/info` describes the room; the owner sets the retention, and anyone
/// else is refused (a script stops there).
#[test]
fn topic_info_and_retention_in_a_room() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    let mut raw_bob = server.login_as("bob");
    raw_bob.join("general");
    let refused = raw_bob.call("/setRetention", &["general", "1"]);
    assert_status(&refused, 403);

    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    alice.type_lines(&["/topic deploys | only", "/info", "/retention 30"]);
    alice.wait_for("* alice set the topic of general: deploys | only");
    alice.wait_for("chatroom general");
    assert_eq!(alice.wait_for("  "), "  topic: deploys | only");
    assert!(
        alice
            .wait_for("  owner: ")
            .starts_with("  owner: alice, created ")
    );
    assert_eq!(alice.wait_for("  members: "), "  members: 2");
    alice.wait_for("general keeps messages 30 days");
    let info = raw.call("/getRoomInfo", &["general"]);
    assert_eq!(info["data"]["retention_days"], 30, "{info}");
    assert_eq!(info["data"]["topic"], "deploys | only", "{info}");

    let mut bob = ClientProcess::start(&server, &["--user", "bob"]);
    bob.type_lines(&[
        &password_of("bob"),
        ENTER_ROOM,
        "general",
        "/topic",
        "/retention 1",
        "must not be sent",
    ]);
    let done = bob.finish_stopped();
    assert_eq!(
        done.stderr,
        format!(
            "pipechat-client: stopped at input line 5 \"/retention 1\": {}\n",
            refused["error"].as_str().expect("a sentence")
        )
    );
    assert_eq!(
        done.times_shown("topic: deploys | only"),
        2,
        "{}",
        done.stdout
    );

    alice.type_lines(&["/topic -"]);
    alice.wait_for("* alice cleared the topic of general");
    alice.finish_ok();
    assert_eq!(raw.call("/getRoomInfo", &["general"])["data"]["topic"], "");
    let stored = raw.fetch_all("general");
    assert!(stored.is_empty(), "{stored:?}");
}

/// A password login saves the token in a 0600 file under the configuration
/// directory; quitting keeps it; `--user` then logs in with it, no password
/// line needed; logging out revokes it and deletes the file.
#[test]
fn a_saved_login_is_reused_with_user_and_removed_on_logout() {
    let server = TestServer::start();
    register(&server, "alice");
    let config = tempfile::tempdir().expect("config dir");
    let file = token_file(config.path(), &server, "alice");

    let mut first = ClientProcess::start_with_config(&server, &[], config.path());
    first.type_lines(&[LOGIN, "Alice", &password_of("alice")]);
    first.wait_for("logged in as alice");
    let mode = std::fs::metadata(&file)
        .expect("the token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let dir_mode = std::fs::metadata(file.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let done = first.finish_ok();
    assert!(
        done.stdout.contains("alice's login stays saved here"),
        "{}",
        done.stdout
    );
    let token = std::fs::read_to_string(&file).expect("kept on quitting");
    let token = token.trim_end();
    let mut raw = server.connect();
    assert_status(&raw.call("/resume", &[token]), 200);

    let mut again = ClientProcess::start_with_config(&server, &["--user", "ALICE"], config.path());
    again.type_lines(&["4"]);
    again.wait_for("logged in as alice (saved login)");
    again.wait_for("active users");
    let done = again.finish_ok();
    assert!(!done.stdout.contains("error"), "{}", done.stdout);

    let mut last = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    last.type_lines(&[LOGOUT, QUIT]);
    let done = last.finish_ok();
    assert!(done.stdout.contains("logged out alice"), "{}", done.stdout);
    assert!(!file.exists(), "deleted on logout");
    assert_status(&server.connect().call("/resume", &[token]), 401);
}

/// The start menu's login (2) uses the login saved here for the name typed,
/// as `--user` does: at a terminal no password is asked. A login script
/// that gives the password after the name has that line skipped, with a
/// note on stderr that does not show it, and runs on; one that counts on
/// the saved login gives none. A token the server refuses (the password was
/// changed elsewhere) falls back to asking the password.
#[test]
fn the_start_menus_login_uses_a_login_saved_here() {
    let server = TestServer::start();
    server.login_as("bob").create_and_join("general");
    register(&server, "alice");
    let password = password_of("alice");
    let config = tempfile::tempdir().expect("config dir");
    save_login(&server, "alice", config.path());

    let mut alice = ClientProcess::start_in_terminal_with_config(&server, &[], config.path());
    alice.wait_for("3) quit");
    alice.type_lines(&[LOGIN]);
    alice.wait_for_prompt("username: ");
    alice.type_lines(&["Alice"]);
    alice.wait_for("logged in as alice (saved login)");
    alice.type_lines(&["4"]);
    alice.wait_for("active users");
    alice.type_lines(&["q"]);
    let done = alice.wait_for_exit_ok();
    assert!(!done.stdout.contains("password:"), "{}", done.stdout);
    assert!(
        done.stdout.contains("alice's login stays saved here"),
        "{}",
        done.stdout
    );

    let mut script = ClientProcess::start_with_config(&server, &[], config.path());
    script.type_lines(&[LOGIN, "alice", &password, ENTER_ROOM, "general", "one"]);
    let done = script.finish_ok();
    assert!(
        done.stdout.contains("logged in as alice (saved login)"),
        "{}",
        done.stdout
    );
    assert_eq!(
        done.stderr,
        "pipechat-client: skipped input line 3 (the password): alice's saved login logged in\n"
    );
    let mut script = ClientProcess::start_with_config(&server, &[], config.path());
    script.type_lines(&[LOGIN, "alice", ENTER_ROOM, "general", "two"]);
    let done = script.finish_ok();
    assert_eq!(done.stderr, "");
    let mut raw = server.login_existing("alice", "alice");
    assert_eq!(raw.texts("general"), ["one", "two"]);

    let new_password = "alice's new password";
    assert_status(
        &raw.call("/changePassword", &[&password, new_password]),
        200,
    );
    let mut alice = ClientProcess::start_in_terminal_with_config(&server, &[], config.path());
    alice.wait_for("3) quit");
    alice.type_lines(&[LOGIN]);
    alice.wait_for_prompt("username: ");
    alice.type_lines(&["alice"]);
    alice.wait_for("the saved login of alice is no longer valid; the password is needed");
    alice.wait_for_prompt("password: ");
    alice.type_lines(&[new_password]);
    alice.wait_for("logged in as alice");
    alice.type_lines(&[LOGOUT, QUIT]);
    alice.wait_for_exit_ok();
    assert!(!token_file(config.path(), &server, "alice").exists());
}

/// A token revoked by `/changePassword` elsewhere: `--user` finds it
/// refused, deletes it, asks the (new) password and saves the new token.
/// `/password` in a room changes the password and keeps the login saved.
#[test]
fn a_revoked_token_falls_back_to_the_password_and_password_changes_save_the_new_one() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    let config = tempfile::tempdir().expect("config dir");
    let file = token_file(config.path(), &server, "alice");

    let mut first = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    first.type_lines(&[&password_of("alice")]);
    first.wait_for("nothing unread");
    first.finish_ok();
    let old_token = std::fs::read_to_string(&file).expect("saved");

    let second_password = "second password | 2";
    let changed = raw.call("/changePassword", &[&password_of("alice"), second_password]);
    assert_status(&changed, 200);

    let mut back = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    back.type_lines(&[second_password]);
    back.wait_for("the saved login of alice is no longer valid");
    back.wait_for("logged in as alice");
    let new_token = std::fs::read_to_string(&file).expect("saved again");
    assert_ne!(new_token, old_token);
    assert_status(
        &server.connect().call("/resume", &[new_token.trim_end()]),
        200,
    );

    let third_password = "third password | 3";
    back.type_lines(&[
        ENTER_ROOM,
        "general",
        "/password",
        second_password,
        third_password,
        third_password,
    ]);
    back.wait_for("password changed");
    let newest_token = std::fs::read_to_string(&file).expect("saved after the change");
    assert_ne!(newest_token, new_token);
    assert_status(
        &server.connect().call("/resume", &[new_token.trim_end()]),
        401,
    );
    assert_status(
        &server.connect().call("/login", &["alice", third_password]),
        200,
    );
    assert_status(&raw.call("/getUnread", &[]), 401);
    back.type_lines(&["still here"]);
    back.wait_for("alice: still here");
    back.finish_ok();

    let mut resumed =
        ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    resumed.wait_for("logged in as alice (saved login)");
    resumed.finish_ok();
}

/// The new commands stop a script at their line when the server refuses or
/// the line is wrong, and nothing after it is sent.
#[test]
fn a_script_stops_at_a_refused_or_wrong_v2_command() {
    let server = TestServer::start();
    let mut raw = server.login_as("carol");
    raw.create_and_join("general");
    register(&server, "bob");
    let sentence = |reply: Value| reply["error"].as_str().expect("a sentence").to_string();
    let no_user = sentence(raw.call("/sendMessage", &["@nobody", "hi"]));
    let no_message = sentence(raw.call("/editMessage", &["999", "x"]));
    let no_delete = sentence(raw.call("/deleteMessage", &["999"]));
    let no_conversation = sentence(raw.call("/fetchMessages", &["@nobody"]));
    let wrong_old = sentence(raw.call("/changePassword", &["not-her-password", "new password 1"]));
    let pw = password_of("carol");
    let pw = pw.as_str();
    let cases: &[(&[&str], String)] = &[
        (&[pw, ENTER_ROOM, "general", "/msg nobody hi"], format!("input line 4 \"/msg nobody hi\": {no_user}")),
        (&[pw, ENTER_ROOM, "general", "/edit 999 x"], format!("input line 4 \"/edit 999 x\": {no_message}")),
        (&[pw, ENTER_ROOM, "general", "/delete #999"], format!("input line 4 \"/delete #999\": {no_delete}")),
        (&[pw, ENTER_ROOM, "general", "/edit x y"], "input line 4 \"/edit x y\": usage: /edit ID TEXT, with the id /ids shows, e.g. /edit 42 fixed".to_string()),
        (&[pw, DIRECT, "bob", "/topic"], "input line 4 \"/topic\": /topic works in chatrooms only, not in a direct conversation".to_string()),
        (&[pw, DIRECT, "nobody"], format!("input line 3 \"nobody\": {no_conversation}")),
        (&[pw, SEARCH, " "], "input line 3 \" \": expected words to search for, got an empty line".to_string()),
        (&[pw, CHANGE_PASSWORD, "not-her-password", "new password 1", "new password 1"], format!("input line 5 (a password, not shown): {wrong_old}")),
    ];
    let then = ["must not be sent"];
    for (lines, expected) in cases {
        let mut carol = ClientProcess::start(&server, &["--user", "carol"]);
        carol.type_lines(lines);
        carol.type_lines(&then);
        let done = carol.finish_stopped();
        assert_eq!(
            done.stderr,
            format!("pipechat-client: stopped at {expected}\n"),
            "{lines:?}"
        );
    }
    assert_eq!(raw.fetch_all("general"), Vec::<Value>::new());
    assert_eq!(raw.call("/fetchMessages", &["@bob"])["data"], json!([]));
    assert_status(
        &server
            .connect()
            .call("/login", &["carol", &password_of("carol")]),
        200,
    );
}

/// At a terminal, logging out (5) after another session changed the
/// password ends the session all the same, and the saved login goes with
/// it (the client used to exit with status 1 and leave the file).
#[test]
fn logging_out_after_a_password_change_elsewhere_forgets_the_saved_login() {
    let server = TestServer::start();
    register(&server, "alice");
    let config = tempfile::tempdir().expect("config dir");
    let file = token_file(config.path(), &server, "alice");
    let mut alice =
        ClientProcess::start_in_terminal_with_config(&server, &["--user", "alice"], config.path());
    alice.type_lines(&[&password_of("alice")]);
    alice.wait_for("logged in as alice");
    assert!(file.exists(), "the login is saved");
    let mut raw = server.login_existing("alice", "alice");
    assert_status(
        &raw.call(
            "/changePassword",
            &[&password_of("alice"), "a new password"],
        ),
        200,
    );
    alice.type_lines(&[LOGOUT]);
    alice.wait_for("logged out alice");
    alice.wait_for("2) login");
    alice.type_lines(&[QUIT]);
    alice.wait_for_exit_ok();
    assert!(!file.exists(), "{} is still there", file.display());
}

/// A script written before the login was saved still gives the password
/// after `--user`; with the login saved, that line reaches the menu: the
/// script stops there without showing it.
#[test]
fn a_password_line_after_a_saved_login_is_never_shown() {
    let server = TestServer::start();
    register(&server, "alice");
    let config = tempfile::tempdir().expect("config dir");
    save_login(&server, "alice", config.path());
    let mut again = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    again.type_lines(&[&password_of("alice"), LOGOUT, QUIT]);
    let done = again.finish_stopped();
    assert!(
        !done.stderr.contains(&password_of("alice")),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("input line 1 (not shown"),
        "{}",
        done.stderr
    );
    // A line too short to be a password is shown.
    let mut short = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    short.type_lines(&["9", QUIT]);
    let done = short.finish_stopped();
    assert!(
        done.stderr.contains("input line 1 \"9\""),
        "{}",
        done.stderr
    );
}

/// The newcomer's login script with `--user` added: its leading login lines
/// (the login choice, the same username, the password) log in with the
/// password while no login is saved, and once one is, are skipped with a
/// note on stderr that does not show the password: no room is created from
/// them, and the rest of the script runs as meant both times.
#[test]
fn a_login_script_run_with_user_skips_its_login_lines_after_a_saved_login() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    register(&server, "bob");
    let config = tempfile::tempdir().expect("config dir");
    let password = password_of("bob");
    let script = [LOGIN, "Bob", password.as_str(), ENTER_ROOM, "general", "hi"];

    let mut first = ClientProcess::start_with_config(&server, &["--user", "bob"], config.path());
    first.type_lines(&script);
    let done = first.finish_ok();
    assert!(done.stdout.contains("logged in as bob"), "{}", done.stdout);
    assert_eq!(done.stderr, "");

    let mut again = ClientProcess::start_with_config(&server, &["--user", "bob"], config.path());
    again.type_lines(&script);
    let done = again.finish_ok();
    assert!(
        done.stdout.contains("logged in as bob (saved login)"),
        "{}",
        done.stdout
    );
    assert!(!done.stdout.contains("created chatroom"), "{}", done.stdout);
    assert_eq!(
        done.stderr,
        "pipechat-client: skipped input lines 1 to 3 (the login choice, the username and \
         the password): bob's saved login logged in\n"
    );
    assert_eq!(raw.ok("/getAllChatrooms"), json!(["general"]));
    assert_eq!(raw.texts("general"), ["hi", "hi"]);
}

/// After a saved login a script's first lines are looked at only briefly:
/// a program that writes each answer once it sees the question is not kept
/// waiting; and `2`, NAME, `1` (a chatroom named after the user, then
/// choice 1) is that, not login lines, since `1` is no password.
#[test]
fn a_saved_login_script_is_not_guessed_at_when_it_waits_or_names_a_room_after_the_user() {
    let server = TestServer::start();
    register(&server, "bob");
    let config = tempfile::tempdir().expect("config dir");
    save_login(&server, "bob", config.path());

    let mut driver = ClientProcess::start_with_config(&server, &["--user", "bob"], config.path());
    driver.wait_for("logged in as bob (saved login)");
    driver.wait_for("1) enter chatroom");
    driver.type_lines(&[CREATE_ROOM, "answered"]);
    driver.wait_for("created chatroom answered");

    let mut script = ClientProcess::start_with_config(&server, &["--user", "bob"], config.path());
    script.type_lines(&[CREATE_ROOM, "bob", ENTER_ROOM, "bob", "hi"]);
    let done = script.finish_ok();
    assert_eq!(done.stderr, "");
    let mut raw = server.login_as("carol");
    raw.join("bob");
    assert_eq!(raw.texts("bob"), ["hi"]);
    drop(driver);
}

/// A line at a menu that is not a choice is named in the error only when
/// it is too short to be a password: a script out of step (here written for
/// another user's login, which `--user` already did) puts its password
/// there, and it must not show on stderr.
#[test]
fn a_line_at_a_menu_that_may_be_a_password_is_never_shown() {
    let server = TestServer::start();
    register(&server, "alice");
    register(&server, "bob");
    let bobs = password_of("bob");
    let mut alice = ClientProcess::start(&server, &["--user", "alice"]);
    alice.type_lines(&[&password_of("alice"), "4", &bobs, QUIT]);
    let done = alice.finish_stopped();
    assert_eq!(
        done.stderr,
        "pipechat-client: stopped at input line 3 (not shown: it is as long as a password, \
         and a script out of step may have put one there): that line is not a choice; \
         type 1 to 8, or q to quit\n"
    );

    let mut started = ClientProcess::start(&server, &[]);
    started.type_lines(&[&bobs]);
    let done = started.finish_stopped();
    assert!(!done.stderr.contains(&bobs), "{}", done.stderr);
    assert!(
        done.stderr.contains("input line 1 (not shown"),
        "{}",
        done.stderr
    );
}

/// A damaged saved login (not a token at all) is deleted like a refused
/// one, even when the password is then not given; and a file holding
/// another user's token is deleted, and that login ended at once.
#[test]
fn a_damaged_or_foreign_saved_login_is_deleted() {
    let server = TestServer::start();
    register(&server, "alice");
    let config = tempfile::tempdir().expect("config dir");
    let file = token_file(config.path(), &server, "alice");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("dir");
    std::fs::write(&file, "not a token at all!\n").expect("write");
    let quitting = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    let done = quitting.finish();
    assert!(done.stdout.contains("no longer valid"), "{}", done.stdout);
    assert!(!file.exists(), "the damaged file is still there");

    // A script that counts on the saved login gives no password: its next
    // line, a menu choice, is not sent as one.
    std::fs::write(&file, "not a token either\n").expect("write");
    let mut scripted =
        ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    scripted.type_lines(&["1", "general", "never sent"]);
    let done = scripted.finish_stopped();
    assert_eq!(
        done.stderr,
        "pipechat-client: stopped at input line 1 (a password, not shown): too short to be \
         a password (8 bytes at least), so it was not sent\n"
    );
    let web = server.web.expect("the web front door");
    let metrics = support::http_request(web, "GET", "/metrics", &[]).body;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        !metrics.contains(r#"command="/login",status="401""#),
        "a login was tried: {metrics}"
    );

    let mut bob = server.login_as("bob");
    let bobs_token = bob.login_for_token("bob");
    std::fs::write(&file, format!("{bobs_token}\n")).expect("write");
    let quitting = ClientProcess::start_with_config(&server, &["--user", "alice"], config.path());
    let done = quitting.finish();
    assert!(done.stdout.contains("someone else's"), "{}", done.stdout);
    assert!(!file.exists(), "the foreign file is still there");
    assert_eq!(bob.ok("/getActiveUsers"), serde_json::json!(["bob"]));
}

/// At a terminal, a client whose session the server ended (the password was
/// changed in another session) says so at its next request (and that the
/// message typed was not sent) and goes back to the start menu, where
/// logging in again works.
#[test]
fn at_a_terminal_a_client_logged_out_by_a_password_change_goes_back_to_the_start_menu() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    let mut alice = logged_in_at_a_terminal(&server, "alice");
    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");

    let new_password = "a new password";
    assert_status(
        &raw.call("/changePassword", &[&password_of("alice"), new_password]),
        200,
    );
    alice.type_lines(&["are you there?"]);
    // The line typed is said to be lost, and where to find it again.
    alice.wait_for(
        "the server logged you out (was your password changed in another session?); \
         log in again; your message was not sent (↑ brings it back in the room)",
    );
    alice.wait_for("2) login");
    alice.type_lines(&[LOGIN, "alice"]);
    alice.wait_for_prompt("password: ");
    alice.type_lines(&[new_password]);
    alice.wait_for("logged in as alice");
    alice.type_lines(&[LOGOUT, QUIT]);
    alice.wait_for_exit_ok();
    assert_eq!(raw.fetch_all("general"), Vec::<Value>::new());
}

/// The message a forced logout kept from being sent is the first thing ↑
/// brings back in the room once logged in again, as the client promised:
/// what was typed at the menus meanwhile (the login choice, the name, the
/// room's name, menu choices) is not in the way, and no password is.
#[test]
fn at_a_terminal_the_message_a_forced_logout_kept_is_one_up_arrow_away_in_the_room() {
    let server = TestServer::start();
    let mut raw = server.login_as("alice");
    raw.create_and_join("general");
    let mut alice = logged_in_at_a_terminal(&server, "alice");
    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");

    let new_password = "a new password";
    assert_status(
        &raw.call("/changePassword", &[&password_of("alice"), new_password]),
        200,
    );
    alice.type_lines(&["are you there?"]);
    alice.wait_for("↑ brings it back in the room");
    alice.wait_for("2) login");
    alice.type_lines(&[LOGIN, "alice"]);
    alice.wait_for_prompt("password: ");
    alice.type_lines(&[new_password]);
    alice.wait_for("logged in as alice");
    alice.type_lines(&["4", ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    alice.wait_for_prompt("general> ");
    alice.type_raw(b"\x1b[A\r");
    let sent = alice.wait_for("] alice: ");
    assert!(sent.contains("alice: are you there?"), "{sent:?}");
    assert_eq!(raw.texts("general"), ["are you there?"]);
    alice.type_lines(&["/leave", LOGOUT, QUIT]);
    alice.wait_for_exit_ok();
}

/// ↑ at a password question brings back nothing: in a room, the line
/// before `/password` (here `/password` itself) would otherwise be sent
/// as the current password, be refused and count against the login
/// throttle. The room's history is still there after it.
#[test]
fn at_a_terminal_up_arrow_at_a_password_question_recalls_nothing() {
    let server = TestServer::start();
    // Bob's, whom alice's password change leaves logged in.
    let mut raw = server.login_as("bob");
    raw.create_and_join("general");
    register(&server, "alice");
    let mut alice = logged_in_at_a_terminal(&server, "alice");
    alice.type_lines(&[ENTER_ROOM, "general"]);
    alice.wait_for("you are in general");
    alice.type_lines(&["said first"]);
    alice.wait_for("alice: said first");
    alice.type_lines(&["/password"]);
    alice.wait_for_prompt("current password: ");
    // ↑, then the password typed after whatever it brought back.
    alice.type_raw(format!("\x1b[A{}\r", password_of("alice")).as_bytes());
    alice.wait_for_prompt("new password: ");
    alice.type_raw(b"\x1b[Aa new password\r");
    alice.wait_for_prompt("new password again: ");
    alice.type_raw(b"\x1b[Aa new password\r");
    alice.wait_for("password changed");
    alice.wait_for_prompt("general> ");
    // ↑ twice in the room: past `/password`, the message before it.
    alice.type_raw(b"\x1b[A\x1b[A\r");
    alice.wait_for("alice: said first");
    alice.type_lines(&["/leave", LOGOUT, QUIT]);
    let done = alice.wait_for_exit_ok();
    assert!(
        !done.stdout.contains("the current password is wrong"),
        "{}",
        done.stdout
    );
    assert_eq!(raw.texts("general"), ["said first", "said first"]);
    assert_status(
        &server
            .connect()
            .call("/login", &["alice", "a new password"]),
        200,
    );
}
