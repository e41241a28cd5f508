//! The console client (`pipechat-client`) driven through piped stdin against
//! the real server, checked from its output and from the server's side.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};

use support::{ClientProcess, TestServer, assert_status, password_of};

/// The start menu, then the main menu, as a script types them.
const REGISTER: &str = "1";
const LOGIN: &str = "2";
const QUIT: &str = "3";
const ENTER_ROOM: &str = "1";
const CREATE_ROOM: &str = "2";
const LOGOUT: &str = "5";

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
    let done = alice.finish();
    assert!(
        done.status.success(),
        "exit {:?}: {}",
        done.status,
        done.stderr
    );
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
    assert!(alice.finish().status.success());
    bob.type_lines(&["/exit", LOGOUT, QUIT]);
    let done = bob.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(
        done.stdout.matches("alice: hi bob").count(),
        1,
        "shown once: {}",
        done.stdout
    );
}

/// The script: a wrong password, then lines meant for later
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
    let done = alice.finish();
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
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
            "input line 3 \"nowhere\": chatroom 'nowhere' does not exist",
        ),
        (
            &[pw, CREATE_ROOM, "GENERAL"],
            &format!("input line 3 \"GENERAL\": {taken}"),
        ),
        (
            &[pw, "9"],
            "input line 2 \"9\": '9' is not a choice; type 1 to 8",
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
        let done = carol.finish();
        assert_eq!(done.status.code(), Some(2), "{lines:?}: {}", done.stderr);
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
    wrong.wait_for("2) login");
    wrong.type_lines(&[QUIT]);
    let done = wrong.wait_for_exit();
    assert!(done.status.success(), "{}", done.stdout);

    let mut carol = ClientProcess::start_in_terminal(&server, &["--user", "carol"]);
    carol.type_lines(&[&password_of("carol")]);
    carol.wait_for("logged in as carol");
    carol.type_lines(&[ENTER_ROOM, "nowhere"]);
    carol.wait_for(&sentence(&no_room));
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
    carol.type_lines(&["/exit", LOGOUT, QUIT]);
    let done = carol.wait_for_exit();
    assert!(done.status.success(), "{}", done.stdout);
    assert!(done.stdout.contains("logged out carol"), "{}", done.stdout);
    assert!(
        !done.stdout.contains("\"status\""),
        "no JSON: {}",
        done.stdout
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

    let mut bob = ClientProcess::start_in_terminal(&server, &["--user", "bob"]);
    bob.type_lines(&[&password_of("bob")]);
    bob.wait_for("logged in as bob");
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
    bob.paste_lines(&["/exit", LOGOUT, QUIT]);
    let done = bob.wait_for_exit();
    assert!(done.status.success(), "{}", done.stdout);
}

/// In a script, registering reads the new password on two lines; a
/// password too short or too long, or two that differ, stop the script there
/// (it cannot answer again) and register nobody.
#[test]
fn a_script_registers_with_the_password_twice_or_stops() {
    let server = TestServer::start();
    let good = password_of("hana");
    let long = "x".repeat(1025);
    let cases: &[(&[&str], &str)] = &[
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
            "input line 2 \"hana!\": a username may only contain letters A-Z, digits and _ . -",
        ),
    ];
    for (lines, expected) in cases {
        let mut hana = ClientProcess::start(&server, &[]);
        hana.type_lines(lines);
        hana.type_lines(&[&good, &good, QUIT]);
        let done = hana.finish();
        assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
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
    let done = ivan.wait_for_exit();
    assert!(done.status.success(), "{}", done.stdout);

    let mut raw = server.connect();
    assert_status(&raw.call("/login", &["ivan", &good]), 200);
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
    assert!(erin.finish().status.success());
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
    let done = gina.finish();
    assert!(done.status.success(), "{}", done.stderr);
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
