//! Accounts through the wire: `/register`, `/login`, `/logout`,
//! `/getActiveUsers`, the 401 wall before login and login throttling; and
//! the operator's side: `--registration closed`, `pipechat-server add-user`
//! and `set-password`.

mod support;

use pipechat::chat::accounts::{
    FAILED_LOGIN_WINDOW, MAX_FAILED_LOGINS, MAX_FAILED_LOGINS_PER_ADDRESS,
};
use serde_json::json;
use support::{TestServer, assert_status, password_of, run_to_exit_reading, wait_until};

/// Every command except `/register`, `/login`, `/ping` and `/help`, in a form
/// that would otherwise be well-formed.
const NEEDS_LOGIN: &[&str] = &[
    "/logout",
    "/logout|alice",
    "/createChatroom|general",
    "/joinChatroom|general",
    "/joinChatroom|general|alice",
    "/exitChatroom|general",
    "/exitChatroom|general|alice",
    "/getAllChatrooms",
    "/getActiveUsers",
    "/getChatroomMembers|general",
    "/fetchMessages|general",
    "/fetchMessages|general|0",
    "/fetchMessages|general|0|10",
    "/fetchHistory|general|10|10",
    "/sendMessage|general|hi",
    "/sendMessage|general|hi|alice|2024-01-01|12:00",
    "/subscribe|general",
    "/unsubscribe|general",
];

/// Register succeeds at each limit and answers 400 just past it, for names
/// and passwords; it does not log in.
#[test]
fn register_checks_names_and_passwords_at_their_limits() {
    let server = TestServer::start();
    let mut client = server.connect();
    let ok_password = "12345678";
    for username in ["a", &"B".repeat(32), "x_Y.z-09"] {
        let reply = client.call("/register", &[username, ok_password]);
        assert_eq!(
            reply,
            json!({"status": 201, "data": {"username": username}})
        );
    }
    for username in [
        "",
        &"c".repeat(33),
        "al ice",
        "älice",
        "a|b",
        "tab\there",
        "emoji😀",
    ] {
        let reply = client.call("/register", &[username, ok_password]);
        assert_status(&reply, 400);
        assert!(
            reply["error"].as_str().unwrap().contains("username"),
            "{reply}"
        );
    }
    // Passwords are counted in bytes: 8 to 1,024, taken as they are.
    let long = "p".repeat(1024);
    for (username, password) in [
        ("eight", "8 bytes!"),
        ("long", long.as_str()),
        ("emoji", "😀😀"),
        ("spaces", "  with spaces  "),
    ] {
        let reply = client.call("/register", &[username, password]);
        assert_status(&reply, 201);
    }
    let too_long = "p".repeat(1025);
    for password in ["", "1234567", "ééé", too_long.as_str()] {
        let reply = client.call("/register", &["fresh", password]);
        assert_status(&reply, 400);
        assert!(
            reply["error"].as_str().unwrap().contains("password"),
            "{reply}"
        );
    }
    // Registering does not log in.
    assert_status(&client.request("/getAllChatrooms"), 401);
    // Spaces in a password are kept, not trimmed.
    assert_status(&client.call("/login", &["spaces", "with spaces"]), 401);
    let reply = client.call("/login", &["spaces", "  with spaces  "]);
    assert_eq!(
        without_token(reply),
        json!({"status": 200, "data": {"username": "spaces"}})
    );
    let reply = client.call("/login", &["long", &long]);
    assert_status(&reply, 200);
}

/// Usernames are unique without regard to case and shown as registered.
#[test]
fn usernames_are_case_insensitive_and_shown_as_registered() {
    let server = TestServer::start();
    let mut client = server.connect();
    assert_status(&client.call("/register", &["Alice", "password-1"]), 201);
    for taken in ["Alice", "alice", "ALICE", "aLiCe"] {
        let reply = client.call("/register", &[taken, "password-2"]);
        assert_status(&reply, 409);
        assert_eq!(reply["error"], "username 'Alice' is already taken");
    }
    let reply = client.call("/login", &["aLICE", "password-1"]);
    assert_eq!(
        without_token(reply),
        json!({"status": 200, "data": {"username": "Alice"}})
    );
    // The server's own name on IRC and the IRC services' names are taken:
    // their holder could pass for the server, or read the passwords IRC
    // clients send to NickServ.
    for reserved in ["pipechat", "PipeChat", "NickServ", "chanserv", "SaslServ"] {
        let reply = client.call("/register", &[reserved, "password-2"]);
        assert_status(&reply, 409);
        assert_eq!(
            reply["error"],
            format!("username '{reserved}' is already taken")
        );
    }
    assert_eq!(client.ok("/getActiveUsers"), json!(["Alice"]));
    // The losing registrations did not replace the password.
    let mut other = server.connect();
    assert_status(&other.call("/login", &["alice", "password-2"]), 401);
    assert_status(&other.call("/login", &["ALICE", "password-1"]), 200);
    assert_eq!(other.ok("/getActiveUsers"), json!(["Alice"]));
}

/// A failed login says the same thing for an unknown user, an impossible
/// name, a wrong password and an impossible password.
#[test]
fn failed_logins_are_indistinguishable() {
    let server = TestServer::start();
    let mut client = server.connect();
    assert_status(&client.call("/register", &["alice", "password-1"]), 201);
    let too_long = "p".repeat(1025);
    let attempts: [(&str, &str); 6] = [
        ("bob", "password-1"),
        ("not a name!", "password-1"),
        ("", "password-1"),
        (&"a".repeat(33), "password-1"),
        ("alice", "password-2"),
        ("alice", &too_long),
    ];
    let mut texts = Vec::new();
    for (username, password) in attempts {
        let reply = client.call("/login", &[username, password]);
        assert_status(&reply, 401);
        texts.push(reply["error"].as_str().unwrap().to_string());
    }
    texts.dedup();
    assert_eq!(texts.len(), 1, "different texts: {texts:?}");
    // Still not logged in.
    assert_status(&client.request("/getActiveUsers"), 401);
}

/// Every command but the five open ones answers 401 before login, and after
/// a logout.
#[test]
fn commands_need_a_login() {
    let server = TestServer::start();
    let mut client = server.connect();
    for line in NEEDS_LOGIN {
        let reply = client.request(line);
        assert_status(&reply, 401);
    }
    // Values that would be refused with 400 once logged in (bad numbers) do
    // not get past the 401 either. A request's form is checked first: an
    // unknown command, a wrong number of fields or a bad escape is 400.
    for line in [
        "/fetchMessages|general|abc",
        "/fetchHistory|general|0|5",
        "/editMessage|abc|x",
        "/deleteMessage|abc",
        "/markRead|general|abc",
        "/setRetention|general|abc",
        "/search|x||0",
    ] {
        assert_status(&client.request(line), 401);
    }
    for line in [
        "/noSuchCommand",
        "/login|alice",
        "/sendMessage|general",
        "/createChatroom|bad\\escape",
    ] {
        assert_status(&client.request(line), 400);
    }
    assert_eq!(client.ok("/ping"), json!("pong"));
    assert!(client.ok("/help").is_array());
    client.register_and_login("alice");
    assert_status(&client.request("/createChatroom|general"), 201);
    assert_status(&client.request("/logout"), 200);
    for line in NEEDS_LOGIN {
        let reply = client.request(line);
        assert_status(&reply, 401);
    }
}

/// `/logout` and the older `/logout|username`: 200 for yourself (any case),
/// 403 for somebody else, 401 when not logged in.
#[test]
fn logout_in_both_forms() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let bob = server.login_as("bob");
    let reply = alice.request("/logout|bob");
    assert_status(&reply, 403);
    let reply = alice.request("/logout|nobody");
    assert_status(&reply, 403);
    assert_eq!(alice.ok("/getActiveUsers"), json!(["alice", "bob"]));
    assert_eq!(alice.ok("/logout|alice"), json!({"username": "alice"}));
    assert_status(&alice.request("/logout"), 401);
    assert_status(&alice.request("/logout|alice"), 401);

    let password = password_of("alice");
    assert_status(&alice.call("/login", &["alice", &password]), 200);
    assert_eq!(alice.ok("/logout"), json!({"username": "alice"}));
    assert_status(&alice.call("/login", &["ALICE", &password]), 200);
    assert_status(&alice.request("/logout|ALICE"), 200);
    assert_status(&alice.call("/login", &["alice", &password]), 200);
    assert_eq!(alice.ok("/getActiveUsers"), json!(["alice", "bob"]));
    drop(bob);
}

/// A second `/login` on the same connection switches it to the other user.
#[test]
fn second_login_switches_user() {
    let server = TestServer::start();
    let mut client = server.login_as("alice");
    let mut setup = server.connect();
    assert_status(&setup.call("/register", &["bob", &password_of("bob")]), 201);
    assert_status(&client.request("/createChatroom|general"), 201);
    assert_status(&client.request("/joinChatroom|general"), 200);
    let reply = client.call("/login", &["bob", &password_of("bob")]);
    assert_eq!(
        without_token(reply),
        json!({"status": 200, "data": {"username": "bob"}})
    );
    assert_eq!(client.ok("/getActiveUsers"), json!(["bob"]));
    // Bob is not a member; alice's membership does not carry over.
    assert_status(&client.request("/sendMessage|general|hi"), 403);
    assert_status(&client.request("/logout|alice"), 403);
    assert_status(&client.request("/joinChatroom|general"), 200);
    let sent = client.send("general", "from bob");
    assert_eq!(sent["username"], "bob");
    // A failed login keeps the current user.
    assert_status(&client.call("/login", &["alice", "wrong-password"]), 401);
    assert_eq!(client.ok("/getActiveUsers"), json!(["bob"]));
}

/// `/getActiveUsers` lists each logged-in user once, sorted without regard to
/// case, and a disconnect counts as a logout.
#[test]
fn active_users_are_listed_once_and_disconnects_log_out() {
    let server = TestServer::start();
    let mut carol = server.login_as("carol");
    let mut alice_1 = server.login_as("Alice");
    let alice_2 = server.login_existing("alice", "Alice");
    let bob = server.login_as("bob");
    let mut idle = server.connect();
    assert_status(
        &idle.call("/register", &["dave", &password_of("dave")]),
        201,
    );
    assert_eq!(
        carol.ok("/getActiveUsers"),
        json!(["Alice", "bob", "carol"])
    );
    // One of Alice's two connections logs out: she is still active.
    assert_status(&alice_1.request("/logout"), 200);
    assert_eq!(
        carol.ok("/getActiveUsers"),
        json!(["Alice", "bob", "carol"])
    );
    // Disconnecting her last one and Bob's counts as logging out.
    drop(alice_2);
    drop(bob);
    wait_until("Alice and bob are no longer active", || {
        carol.ok("/getActiveUsers") == json!(["carol"])
    });
    assert_eq!(alice_1.ok("/ping"), json!("pong"));
}

/// After `MAX_FAILED_LOGINS` failures for one name from one address within
/// the window, every login to that name from there (even a correct one, on
/// any connection) gets 429; another user behind the same address (a class
/// behind one NAT) still logs in.
#[test]
fn failed_logins_are_throttled_per_username_and_address() {
    let server = TestServer::start();
    let mut client = server.connect();
    let password = password_of("alice");
    assert_status(&client.call("/register", &["alice", &password]), 201);
    assert_status(
        &client.call("/register", &["bob", &password_of("bob")]),
        201,
    );
    // A success does not count and does not reset anything.
    assert_status(&client.call("/login", &["alice", &password]), 200);
    for attempt in 0..MAX_FAILED_LOGINS {
        // The name in any case is the same account.
        let username = if attempt % 2 == 0 { "alice" } else { "ALICE" };
        let reply = client.call("/login", &[username, "wrong-password"]);
        assert_status(&reply, 401);
    }
    let mut other = server.connect();
    for client in [&mut client, &mut other] {
        let reply = client.call("/login", &["alice", &password]);
        assert_status(&reply, 429);
        let error = reply["error"].as_str().unwrap();
        let seconds: u64 = error
            .split_whitespace()
            .find_map(|word| word.parse().ok())
            .unwrap_or_else(|| panic!("no wait in {error:?}"));
        assert!(
            (1..=FAILED_LOGIN_WINDOW.as_secs()).contains(&seconds),
            "{error}"
        );
    }
    // The connection that was logged in before the throttle still works.
    assert_eq!(client.ok("/getActiveUsers"), json!(["alice"]));
    // Bob, at the same address, is not slowed by alice's typos.
    assert_status(&other.call("/login", &["bob", &password_of("bob")]), 200);
    // The log names the user of a wrong password and says when the name is
    // held; a name that is no user's is not written (it may be a password
    // typed in the wrong field).
    for _ in 0..MAX_FAILED_LOGINS {
        assert_status(
            &other.call("/login", &["hunter2word", "wrong-password"]),
            401,
        );
    }
    wait_until("the throttle is logged", || {
        server
            .stderr()
            .contains("user alice at 127.0.0.1: 10 failed logins within 60 s")
    });
    let log = server.stderr();
    assert!(
        log.contains("failed login as 'alice' from 127.0.0.1"),
        "{log}"
    );
    assert!(
        log.contains("failed login from 127.0.0.1 (no such user)"),
        "{log}"
    );
    wait_until("the nameless throttle is logged", || {
        server
            .stderr()
            .contains("a name that is no user's, at 127.0.0.1: 10 failed logins within 60 s")
    });
    assert!(
        !server.stderr().contains("hunter2word"),
        "{}",
        server.stderr()
    );
}

/// A password too long to be anyone's is refused without hashing, and
/// counted against the name like any wrong one, at `/login` and at
/// `/changePassword`.
#[test]
fn over_long_wrong_passwords_count_against_the_name() {
    let server = TestServer::start();
    let mut client = server.connect();
    let password = password_of("bob");
    assert_status(&client.call("/register", &["bob", &password]), 201);
    let over_long = "y".repeat(1_100);
    for _ in 0..MAX_FAILED_LOGINS {
        assert_status(&client.call("/login", &["bob", &over_long]), 401);
    }
    assert_status(&client.call("/login", &["bob", &password]), 429);

    let server = TestServer::start();
    let mut carol = server.login_as("carol");
    for _ in 0..MAX_FAILED_LOGINS {
        let reply = carol.call("/changePassword", &[&over_long, "new password 1"]);
        assert_status(&reply, 401);
    }
    let reply = carol.call(
        "/changePassword",
        &[&password_of("carol"), "new password 1"],
    );
    assert_status(&reply, 429);
}

/// Guessing across many names from one address is stopped by the much
/// higher per-address limit.
#[test]
fn failed_logins_across_many_names_are_throttled_per_address() {
    let server = TestServer::start();
    let mut client = server.connect();
    assert_status(
        &client.call("/register", &["carol", &password_of("carol")]),
        201,
    );
    // Impossible names cost no hash but count against the address.
    for attempt in 0..MAX_FAILED_LOGINS_PER_ADDRESS {
        let reply = client.call(
            "/login",
            &[&format!("no such user {attempt}"), "wrong-password"],
        );
        assert_status(&reply, 401);
    }
    let reply = client.call("/login", &["carol", &password_of("carol")]);
    assert_status(&reply, 429);
    // Impossible names are throttled too, not refused (and counted) for
    // ever: a flood of them got 401 and grew the server's memory.
    let reply = client.call("/login", &["no such user again", "wrong-password"]);
    assert_status(&reply, 429);
    wait_until("the address's throttle is logged", || {
        server
            .stderr()
            .contains("address 127.0.0.1: 100 failed logins within 60 s")
    });
}

/// A login reply with its resume token (protocol v2) checked and taken out,
/// so the rest compares exactly.
#[track_caller]
fn without_token(mut reply: serde_json::Value) -> serde_json::Value {
    let token = reply["data"]
        .as_object_mut()
        .and_then(|data| data.remove("token"))
        .unwrap_or_else(|| panic!("no token in {reply}"));
    let token = token.as_str().expect("the token is text");
    assert!(
        token.len() >= 22
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    reply
}

/// With `--registration closed` nobody registers over the wire; the
/// operator adds accounts beside the running server, by the same rules.
#[test]
fn where_registration_is_closed_the_operator_adds_accounts() {
    let server = TestServer::start_with(&["--registration", "closed"]);
    let mut client = server.connect();
    let reply = client.call("/register", &["bob", &password_of("bob")]);
    assert_eq!(
        reply,
        json!({"status": 403, "error": "this server takes no new accounts; ask its operator for one"})
    );
    let added = server.operator("add-user", "Bob", &format!("{}\n", password_of("bob")));
    assert!(added.status.success(), "{added:?}");
    assert_eq!(String::from_utf8_lossy(&added.stdout), "added Bob\n");
    let reply = client.call("/login", &["bob", &password_of("bob")]);
    assert_eq!(reply["data"]["username"], "Bob", "{reply}");
    // The database may come from the server's configuration file instead.
    let config = server.dir.path().join("pipechat.toml");
    let db = server.db_arg();
    std::fs::write(&config, format!("db = {:?}\n", db.to_string_lossy())).unwrap();
    let added = run_to_exit_reading(
        &[
            "add-user".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "carol".as_ref(),
        ],
        Some(&format!("{}\n", password_of("carol"))),
    );
    assert!(added.status.success(), "{added:?}");
    assert_status(
        &client.call("/login", &["carol", &password_of("carol")]),
        200,
    );
    // The rules of /register hold: a taken name, a short password, a bad name.
    for (username, input, said) in [
        ("BOB", "long-enough\n", "username 'Bob' is already taken"),
        ("dave", "short\n", "password"),
        ("no spaces", "long-enough\n", "username"),
    ] {
        let refused = server.operator("add-user", username, input);
        assert!(!refused.status.success(), "{refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.starts_with("pipechat-server add-user: ") && stderr.contains(said),
            "{stderr}"
        );
    }
}

/// A register request on a server that takes no new accounts is refused
/// before its fields are looked at: `/register||`, an empty name and
/// password (what the console client sends to find out, when register is
/// chosen), gets exactly `403` there and `400` (the empty name) where
/// registration is open, and creates nothing either way.
#[test]
fn a_closed_server_refuses_a_register_before_looking_at_its_fields() {
    for (registration, status) in [("closed", 403), ("open", 400)] {
        let server = TestServer::start_with(&["--registration", registration]);
        let reply = server.connect().request("/register||");
        assert_eq!(
            reply["status"], status,
            "--registration {registration}: {reply}"
        );
        if registration == "closed" {
            assert_eq!(
                reply["error"],
                "this server takes no new accounts; ask its operator for one"
            );
        }
        let accounts = server.sql_rows(
            "SELECT count(*) FROM users",
            "SELECT count(*)::text FROM users",
        );
        assert_eq!(accounts, [["0"]], "--registration {registration}");
    }
}

/// A forgotten password is set by the operator: the new one logs in, the
/// old one and every saved login (resume token) no longer do.
#[test]
fn the_operator_sets_a_forgotten_password_and_revokes_saved_logins() {
    let server = TestServer::start();
    let mut client = server.connect();
    let reply = client.call("/register", &["alice", &password_of("alice")]);
    assert_status(&reply, 201);
    let reply = client.call("/login", &["alice", &password_of("alice")]);
    let token = reply["data"]["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let set = server.operator("set-password", "ALICE", "a-new-password\r\n");
    assert!(set.status.success(), "{set:?}");
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "set the password of alice; their saved logins are revoked\n"
    );
    if server.db_url.is_some() {
        // Every node hears of it on PostgreSQL (the running one too) and
        // logs the user out; a server on a SQLite file does not.
        wait_until("alice's connection is logged out", || {
            client.call("/getUnread", &[])["status"] == 401
        });
    } else {
        assert_status(&client.call("/getUnread", &[]), 200);
    }
    let mut other = server.connect();
    assert_status(&other.call("/resume", &[&token]), 401);
    assert_status(
        &other.call("/login", &["alice", &password_of("alice")]),
        401,
    );
    assert_status(&other.call("/login", &["alice", "a-new-password"]), 200);
    // An unknown name is refused before any password is read.
    let unknown = server.operator("set-password", "nobody", "");
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("user 'nobody' does not exist"),
        "{unknown:?}"
    );
}

/// Beside a running server an operator's command never migrates the
/// database: one at another schema version is refused, and left as it is.
#[test]
fn an_operators_command_does_not_migrate_a_served_database() {
    if support::postgres::skip_on_postgres("sets SQLite's user_version") {
        return;
    }
    let server = TestServer::start();
    let older = pipechat::store::SCHEMA_VERSION - 1;
    let conn = server.open_db_for_writing();
    conn.pragma_update(None, "user_version", older).unwrap();
    let refused = server.operator("add-user", "bob", "long-enough\n");
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "schema version {older}, where this pipechat writes"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, older);
}

/// An operator's command never creates a database: a mistyped path would
/// leave an empty one behind, and the account in it.
#[test]
fn an_operators_command_needs_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("chat.db");
    let output = run_to_exit_reading(
        &[
            "add-user".as_ref(),
            "--db".as_ref(),
            missing.as_os_str(),
            "bob".as_ref(),
        ],
        Some("long-enough\n"),
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no database at"),
        "{output:?}"
    );
    assert!(!missing.exists());
}

/// Beside no server at all, an operator's command does not migrate an older
/// database either: the file is left exactly as it was (its version and its
/// journal mode), for the server of its own version or this one to open.
#[test]
fn an_operators_command_does_not_migrate_a_database_nobody_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.db"),
        &db,
    )
    .unwrap();
    let before = std::fs::read(&db).unwrap();
    for command in ["add-user", "set-password"] {
        let output = run_to_exit_reading(
            &[
                command.as_ref(),
                "--db".as_ref(),
                db.as_os_str(),
                "newcomer".as_ref(),
            ],
            Some("long-enough\n"),
        );
        assert!(!output.status.success(), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("schema version 1, where this pipechat writes"),
            "{command}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the file was changed"
    );
}

/// An operator's command waiting for its password holds no claim on the
/// file: the server starts beside it, and the account it then adds can log
/// in there.
#[test]
fn a_server_starts_while_an_operators_command_waits_for_its_password() {
    if support::postgres::skip_on_postgres("claims are SQLite's") {
        return;
    }
    let mut server = TestServer::start();
    server.terminate();
    let mut waiting = std::process::Command::new(support::server_binary())
        .arg("add-user")
        .arg("--db")
        .arg(&server.db)
        .arg("newcomer")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It has the database open (and, before the fix, claimed) once a
    // descriptor of its process names the file.
    let fds = format!("/proc/{}/fd", waiting.id());
    wait_until("the command opens the database", || {
        std::fs::read_dir(&fds).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|entry| std::fs::read_link(entry.path()).is_ok_and(|to| to == server.db))
        })
    });
    server.restart();
    let mut alice = server.connect();
    assert_status(&alice.call("/ping", &[]), 200);

    {
        use std::io::Write;
        let mut stdin = waiting.stdin.take().unwrap();
        stdin.write_all(b"long-enough\n").unwrap();
    }
    let output = waiting.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_status(&alice.call("/login", &["newcomer", "long-enough"]), 200);
}
