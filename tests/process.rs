//! The server as a process: its command line, signals, databases it must
//! refuse, and its connection limit.

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::{Client, TestServer, run_to_exit, wait_until};

/// Built by pipechat 0.1.0 (schema version 1) as its example database.
const V1_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.db");

/// `--help` exits 0 and mentions every flag.
#[test]
fn help_mentions_every_flag() {
    let output = run_to_exit(&[OsStr::new("--help")]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--db",
        "--listen",
        "--max-connections",
        "--max-connections-per-address",
        "--pool-size",
        "--sync",
        "--line-timeout",
        "--http",
        "--http-allow-origin",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// SIGTERM and SIGINT close every connection and exit 0, and what was
/// stored is there on the next start.
#[test]
fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut server = TestServer::start();
        let mut alice = server.login_as("alice");
        alice.create_and_join("general");
        alice.subscribe("general");
        let sent = alice.send("general", signal);
        let mut mid_line = server.connect();
        mid_line.send_raw(b"/pi");
        let idle = server.connect();

        let status = server.stop_with(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status:?}");
        for client in [&mut alice, &mut mid_line] {
            assert!(client.is_closed_by_server(), "SIG{signal}");
        }
        drop(idle);

        server.restart();
        let mut again = server.login_existing("alice", "alice");
        assert_eq!(again.fetch_all("general"), [sent]);
    }
}

/// The log says which version started, on which database, with which
/// doors (standard output has only the doors): after an upgrade, the
/// journal shows what runs.
#[test]
fn the_start_is_logged_with_the_version_and_the_doors() {
    let server = TestServer::start_irc(&[]);
    let version = env!("CARGO_PKG_VERSION");
    wait_until("the start is logged", || {
        server
            .stderr()
            .contains(&format!("pipechat-server {version} started on"))
    });
    let log = server.stderr();
    let start = log
        .lines()
        .find(|line| line.contains(" started on "))
        .unwrap();
    for door in [
        "listening on 127.0.0.1:",
        "web on http://127.0.0.1:",
        "irc on 127.0.0.1:",
    ] {
        assert!(start.contains(door), "{door}: {start}");
    }
}

/// Runs the server on `db` until it exits by itself.
fn run_on_db(db: &Path) -> std::process::Output {
    run_to_exit(&[
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
    ])
}

/// Runs the server on `db` and checks that it refuses the file: non-zero
/// exit, one line on stderr naming the file, and the file's bytes unchanged.
#[track_caller]
fn assert_refused(db: &Path) {
    let before = std::fs::read(db).unwrap();
    let output = run_on_db(db);
    assert!(!output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening on"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}");
    assert!(
        lines[0].contains(&db.display().to_string()),
        "the error does not name {}: {stderr}",
        db.display()
    );
    assert_eq!(
        std::fs::read(db).unwrap(),
        before,
        "{} was modified",
        db.display()
    );
}

/// A file of random bytes, a short text file and a SQLite database of some
/// other application are refused and left as they were.
#[test]
fn files_that_are_not_pipechat_databases_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();

    let random = dir.path().join("random.db");
    let mut state = 0x1234_5678_9abc_def0_u64;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&random, bytes).unwrap();
    assert_refused(&random);

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "my notes, not a database\n").unwrap();
    assert_refused(&text);

    let foreign = dir.path().join("other app.sqlite");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);
             INSERT INTO invoices (total) VALUES (12.5), (99.0);",
        )
        .unwrap();
    }
    assert_refused(&foreign);

    // The same in WAL mode, as another application might well leave it.
    let wal = dir.path().join("wal.sqlite");
    {
        let conn = rusqlite::Connection::open(&wal).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    assert_refused(&wal);

    let conn = rusqlite::Connection::open(&foreign).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tables, 1, "the foreign database gained tables");
}

/// A pipechat database written by a newer version (a higher schema version)
/// is refused and left as it was.
#[test]
fn a_database_from_a_newer_version_is_refused_untouched() {
    if support::postgres::skip_on_postgres("a SQLite file's schema version") {
        return;
    }
    let mut server = TestServer::start();
    server.login_as("alice");
    assert!(server.terminate().success());
    {
        let conn = rusqlite::Connection::open(&server.db).unwrap();
        conn.pragma_update(None, "user_version", pipechat::store::SCHEMA_VERSION + 1)
            .unwrap();
    }
    assert_refused(&server.db);
}

/// A database path that cannot be opened (a directory, a missing parent
/// directory) gives a one-line error naming it and a non-zero exit.
#[test]
fn a_database_that_cannot_be_opened_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing_parent = dir.path().join("no such dir").join("chat.db");
    for db in [dir.path(), missing_parent.as_path()] {
        let output = run_on_db(db);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
        assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    }
    assert!(!missing_parent.parent().unwrap().exists());
}

/// A migration that fails (a table of a later version already there, rows
/// whose user is gone) ends the start with one line naming the file and what
/// failed, not the migration's SQL, and leaves the file's bytes as they were.
#[test]
fn a_migration_that_fails_is_one_line_and_changes_nothing() {
    let damages = [
        "CREATE TABLE conversations (x)",
        "PRAGMA foreign_keys = OFF;
         DELETE FROM users WHERE id = (SELECT max(user_id) FROM messages)",
    ];
    for damage in damages {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        std::fs::copy(V1_FIXTURE, &db).unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        let before = std::fs::read(&db).unwrap();
        let output = run_on_db(&db);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error = stderr.lines().last().unwrap_or_default();
        assert!(error.starts_with("pipechat-server: "), "{stderr}");
        for expected in [
            db.display().to_string().as_str(),
            "cannot migrate",
            "nothing was changed",
        ] {
            assert!(error.contains(expected), "{damage}: {stderr}");
        }
        assert!(!stderr.contains("CREATE"), "the SQL was printed: {stderr}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{damage}: the file changed"
        );
    }
}

/// A database file this user may not write (restored by root with `cp`,
/// say) is refused at start with one line, instead of a server whose every
/// write fails. Run as another user when the tests run as root, who may
/// write anything.
#[test]
fn a_database_this_user_may_not_write_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    if support::postgres::skip_on_postgres("the permissions of a SQLite file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = dir.path().join("chat.db");
    // A database of this version, in WAL mode: opening it needs no write.
    let mut used = TestServer::start();
    used.login_as("alice");
    assert_eq!(used.terminate().code(), Some(0));
    std::fs::copy(&used.db, &db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let stderr = refused_start_without_root(dir.path(), &db);
    assert!(
        stderr.contains("may not write the database file"),
        "{stderr}"
    );
}

/// Starts the server on `db` as user 65534 when the tests run as root
/// (who may write anything), from a copy of it in `dir` (which that user
/// can reach), and returns the one line it stops with, which names `db`.
#[track_caller]
fn refused_start_without_root(dir: &Path, db: &Path) -> String {
    let server = dir.join("pipechat-server");
    if !server.exists() {
        std::fs::copy(support::server_binary(), &server).unwrap();
    }
    let mut command = if rustix::process::getuid().is_root() {
        let mut command = std::process::Command::new("setpriv");
        command.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        command.arg(&server);
        command
    } else {
        std::process::Command::new(&server)
    };
    let log = dir.join("stderr.log");
    let mut child = command
        .args([OsStr::new("--db"), db.as_os_str()])
        .args(["--listen", "127.0.0.1:0", "--http", "off"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("run the server (setpriv is util-linux's)");
    // A server that started anyway fails here, at the deadline.
    let status = support::wait_with_deadline(&mut child);
    assert!(!status.success(), "{}: {status:?}", db.display());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    stderr
}

/// A database folder this user may not create files in (SQLite keeps the
/// -wal and -shm files there), or one that is missing, is named as the
/// problem in one line: for a new database, and for an existing one whose
/// own file is writable, where SQLite alone would speak of "a readonly
/// database". Run as another user when the tests run as root.
#[test]
fn a_database_folder_that_cannot_be_written_is_named_at_start() {
    use std::os::unix::fs::PermissionsExt;
    if support::postgres::skip_on_postgres("the folder of a SQLite file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let run_on = |db: &Path| refused_start_without_root(dir.path(), db);
    let new = locked.join("chat.db");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let stderr = run_on(&new);
    let expected = format!("may not create files in the folder {}", locked.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!new.exists());

    // A database of this version, out of WAL mode, whose file is writable.
    let mut used = TestServer::start();
    used.login_as("alice");
    assert_eq!(used.terminate().code(), Some(0));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(&used.db, &new).unwrap();
    rusqlite::Connection::open(&new)
        .unwrap()
        .query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let stderr = run_on(&new);
    assert!(stderr.contains(&expected), "{stderr}");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();

    let missing = dir.path().join("missing").join("chat.db");
    let stderr = run_on(&missing);
    let expected = format!(
        "the folder {} does not exist",
        missing.parent().unwrap().display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// With `--max-connections 2` a third client gets a 503 greeting and is
/// closed; once a slot frees up, a new client is served again.
#[test]
fn connections_over_the_limit_get_503_and_are_closed() {
    let server = TestServer::start_with(&["--max-connections", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    assert_eq!(first.greeting["status"], 200);
    assert_eq!(second.greeting["status"], 200);

    let mut third = server.connect();
    assert_eq!(third.greeting["status"], 503, "{}", third.greeting);
    let keys: Vec<&String> = third.greeting.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "status"]);
    assert!(!third.greeting["error"].as_str().unwrap().is_empty());
    assert!(third.is_closed_by_server());

    // The two admitted clients are unaffected.
    assert_eq!(first.ok("/ping"), json!("pong"));
    assert_eq!(second.ok("/ping"), json!("pong"));

    drop(first);
    let mut replacement: Option<Client> = None;
    wait_until("a freed slot admits a new client", || {
        let client = server.connect();
        let admitted = client.greeting["status"] == 200;
        if admitted {
            replacement = Some(client);
        }
        admitted
    });
    let mut replacement = replacement.unwrap();
    replacement.register_and_login("late");
    assert_eq!(replacement.ok("/getActiveUsers"), json!(["late"]));
    assert_eq!(server.connect().greeting["status"], 503);
}

/// A client refused because the server is full, which sent its first
/// lines at once (as IRC clients do), reads the refusal, and the connection
/// then ends with a close, not a reset: closed with those lines unread, the
/// server's socket would reset it, and some systems (Windows) drop what the
/// client had not read yet when the reset arrives.
#[test]
fn a_refused_client_that_sent_at_once_reads_its_refusal_and_a_clean_close() {
    let server = TestServer::start_with(&["--max-connections", "1", "--irc", "127.0.0.1:0"]);
    let held = server.connect();
    assert_eq!(held.greeting["status"], 200);
    let irc = server.irc.expect("the IRC listener");
    for (door, addr, lines, refusal) in [
        (
            "pipe",
            server.addr,
            "/login|alice|secret\n",
            r#""status":503"#,
        ),
        (
            "IRC",
            irc,
            "NICK alice\r\nUSER alice 0 * :Alice\r\n",
            "ERROR :Closing link",
        ),
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let sent = lines.repeat(20 * 1024 / lines.len());
        stream
            .write_all(sent.as_bytes())
            .unwrap_or_else(|err| panic!("{door}: cannot send: {err}"));
        let mut got = Vec::new();
        let ended = stream.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains(refusal), "{door}: {text:?}");
        assert!(ended.is_ok(), "{door}: {:?} after {text:?}", ended.err());
    }
}

/// `--max-connections-per-address` (here from the config file) leaves
/// loopback uncapped: the tests, the benchmark and a reverse proxy on the
/// same machine all connect from 127.0.0.1. (An address that is capped is
/// tested in `src/server.rs`, through the front doors' own code: a test can
/// only connect from loopback.)
#[test]
fn loopback_is_not_capped_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipechat.toml");
    std::fs::write(&config, "max_connections_per_address = 1\n").unwrap();
    let server = TestServer::start_with(&["--config", config.to_str().unwrap()]);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for client in &mut clients {
        assert_eq!(client.greeting["status"], 200, "{}", client.greeting);
        assert_eq!(client.ok("/ping"), json!("pong"));
    }
}

/// The tuning flags are accepted together and the server works under them:
/// full sync, a single read connection shared by concurrent readers.
#[test]
fn tuning_flags_are_honoured() {
    let mut server = TestServer::start_with(&[
        "--sync",
        "full",
        "--pool-size",
        "1",
        "--max-connections",
        "10",
        "--line-timeout",
        "30",
    ]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let sent: Vec<_> = (0..20)
        .map(|n| alice.send("general", &n.to_string()))
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut client = server.login_existing("alice", "alice");
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| client.ok("/fetchMessages|general"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for reader in readers {
        for fetched in reader.join().expect("reader thread") {
            assert_eq!(fetched, json!(sent));
        }
    }
    assert!(server.terminate().success());
    server.restart();
    let mut again = server.login_existing("alice", "alice");
    assert_eq!(again.fetch_all("general"), sent);
}

/// Zero where a positive number is needed is refused before anything
/// starts.
#[test]
fn limits_of_zero_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    for flag in [
        "--max-connections",
        "--max-connections-per-address",
        "--pool-size",
        "--line-timeout",
    ] {
        let output = run_to_exit(&[
            OsStr::new("--db"),
            db.as_os_str(),
            OsStr::new(flag),
            OsStr::new("0"),
        ]);
        assert!(!output.status.success(), "{flag} 0: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{stderr}");
        assert!(!db.exists(), "a database was created");
    }
}

/// A second SIGINT (Ctrl-C pressed again) while the shutdown waits ends the
/// process at once, with the status a shell shows for a process killed by
/// that signal (130); what was stored is kept.
#[test]
fn a_second_sigint_during_a_slow_shutdown_exits_at_once() {
    // On SQLite in every run: the slow part below is its last checkpoint.
    let mut server = TestServer::start_sqlite();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    // Another process reading an older snapshot than the server's last
    // commit: the server's last checkpoint waits for it (up to 5 s), so the
    // shutdown is still under way when the second signal comes.
    let reader = server.open_db();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .unwrap();
    let sent = alice.send("general", "kept");
    support::signal(&server.child, "INT");
    wait_until("the shutdown begins", || {
        server.stderr().contains("stopping: closing connections")
    });
    support::signal(&server.child, "INT");
    let status = support::wait_with_deadline(&mut server.child);
    assert_eq!(status.code(), Some(130), "{status:?}: {}", server.stderr());
    assert!(
        server.stderr().contains("exiting now"),
        "{}",
        server.stderr()
    );
    drop(reader);

    server.restart();
    let mut again = server.login_existing("alice", "alice");
    assert_eq!(again.fetch_all("general"), [sent]);
}

/// SIGHUP (a certificate renewal's `systemctl reload`) and SIGTERM that
/// arrive while the database is still being migrated neither kill the
/// process nor are lost: once it serves, it handles them and exits 0.
#[test]
fn signals_during_a_migration_are_handled_once_serving() {
    let (dir, mut child) = server_migrating_a_large_database();
    let logged = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    support::signal(&child, "HUP");
    support::signal(&child, "TERM");
    let status = support::wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}: {}", logged());
    // The reload asked for while starting is done once serving.
    assert!(
        logged().contains("SIGHUP while starting: the certificate is read again"),
        "{}",
        logged()
    );
    assert!(
        logged().contains("SIGHUP: no certificate to reload"),
        "{}",
        logged()
    );
}

/// Ctrl-C twice (or SIGTERM twice: a service manager that will not wait)
/// while the database is being migrated ends the process at once, with the
/// migration undone: the file is still at its old version, and the next
/// start migrates it.
#[test]
fn a_second_signal_during_a_migration_exits_at_once() {
    let (dir, mut child) = server_migrating_a_large_database();
    let db = dir.path().join("chat.db");
    let logged = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    support::signal(&child, "INT");
    wait_until("the first signal is taken", || {
        logged().contains("stopping once the database is open")
    });
    support::signal(&child, "INT");
    let status = support::wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(130), "{status:?}: {}", logged());
    assert!(
        logged().contains("again while starting: exiting now"),
        "{}",
        logged()
    );
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

/// A server started on a large version 1 database, once it says it is
/// migrating it; its folder holds `chat.db` and its log, `stderr.log`.
fn server_migrating_a_large_database() -> (tempfile::TempDir, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    v1_database_with_many_messages(&db);
    let log = dir.path().join("stderr.log");
    let child = std::process::Command::new(support::server_binary())
        .args([OsStr::new("--db"), db.as_os_str()])
        .args(["--listen", "127.0.0.1:0", "--http", "off"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("the migration starts", || {
        std::fs::read_to_string(&log).is_ok_and(|logged| logged.contains("migrating schema"))
    });
    (dir, child)
}

/// A copy of the version 1 fixture at `db` with enough messages that
/// migrating it (writing the search index again) takes a while.
fn v1_database_with_many_messages(db: &Path) {
    std::fs::copy(V1_FIXTURE, db).unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
         INSERT INTO messages (room_id, user_id, text, sent_at)
         SELECT (SELECT min(id) FROM chatrooms), (SELECT min(id) FROM users),
                'message number ' || i, '2026-01-01T00:00:00.000Z' FROM n",
    )
    .unwrap();
}

/// An address without a port, or that is no address, is refused with an
/// example of the right form, in one line (as every refused start), before
/// the database is touched.
#[test]
fn a_listen_address_without_a_port_names_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    for (flag, address, expected) in [
        ("--listen", "0.0.0.0", "expected IP:PORT, e.g. 0.0.0.0:8080"),
        (
            "--listen",
            "127.0.0.1:99999",
            "expected IP:PORT, e.g. 0.0.0.0:8080",
        ),
        (
            "--http",
            "nonsense",
            "expected IP:PORT or off, e.g. 0.0.0.0:8081",
        ),
    ] {
        let output = run_to_exit(&[
            OsStr::new("--db"),
            db.as_os_str(),
            OsStr::new(flag),
            OsStr::new(address),
        ]);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!db.exists(), "a database was created");
    }
}

/// A new database that cannot be written (a full disk; here the file size
/// limit, with its signal ignored, so that writes fail as on a full disk)
/// is refused naming the file, and the empty file its start made is gone.
#[test]
fn a_new_database_that_cannot_be_written_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" --db \"$1\" --listen 127.0.0.1:0 --http off")
        .arg(support::server_binary())
        .arg(&db)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: cannot open the database: ", db.display())),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the folder gained {left:?}");
}

/// A port that is taken is a one-line error, and the folder is left as it
/// was: no database is created by a start that cannot listen.
#[test]
fn a_taken_port_leaves_no_database_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let output = run_to_exit(&[
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new(&addr),
    ]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    // What to do about it (a server started twice, usually).
    assert!(
        stderr.contains("is another pipechat-server, or another program, listening there?")
            && stderr.contains("give another address with --listen"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the folder gained {left:?}");
}

/// `--config FILE` sets options by their long names; the command line wins
/// over the file; a key that is no option is refused naming the file.
#[test]
fn a_config_file_sets_options_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let config = dir.path().join("pipechat.toml");
    std::fs::write(
        &config,
        format!(
            "db = {:?}\nlisten = \"127.0.0.1:0\"\nhttp = \"off\"\nmax_connections = 1\n",
            db.display().to_string()
        ),
    )
    .unwrap();
    // The file's limit of one connection holds...
    let mut server =
        support::TestServer::start_with(&["--config", config.to_str().unwrap(), "--http", "off"]);
    let first = server.connect();
    assert_eq!(server.connect().greeting["status"], 503);
    drop(first);
    assert!(server.terminate().success());
    // ...and the command line's wins over it.
    let server = support::TestServer::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--http",
        "off",
        "--max-connections",
        "5",
    ]);
    let _first = server.connect();
    assert_eq!(server.connect().greeting["status"], 200);

    std::fs::write(&config, "no_such_option = 1\n").unwrap();
    let output = run_to_exit(&[OsStr::new("--config"), config.as_os_str()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Named as the file names it, with the names it may use.
    assert!(
        stderr.contains(
            "pipechat.toml: unknown setting 'no_such_option'; the settings are db, listen,"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("--no-such-option"), "{stderr}");

    // A syntax error is one line too, saying where.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let output = run_to_exit(&[OsStr::new("--config"), config.as_os_str()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with("pipechat.toml: line 2, column 1: duplicate key\n"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // So is one setting written both ways, which TOML cannot see.
    std::fs::write(&config, "max_connections = 1\nmax-connections = 3\n").unwrap();
    let output = run_to_exit(&[OsStr::new("--config"), config.as_os_str()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with(
            "pipechat.toml: max-connections and max_connections are one setting, given twice\n"
        ),
        "{stderr}"
    );
}

/// An option on the command line that needs another one the config file
/// gives is accepted: `--irc-guests` and `--irc-ping` with the file's `irc`
/// (and guests are then let in), `--ircs` with the file's certificate, a
/// renewed `--tls-key` with the file's `tls_cert`. `--no-irc-guests` keeps
/// guests out when the file lets them in. `--help` beside `--config` still
/// prints the help and exits 0.
#[test]
fn command_line_options_may_lean_on_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipechat.toml");
    std::fs::write(
        &config,
        format!(
            "db = {:?}\nlisten = \"127.0.0.1:0\"\nhttp = \"off\"\nirc = \"127.0.0.1:0\"\n",
            dir.path().join("chat.db").display().to_string()
        ),
    )
    .unwrap();
    let (mut child, irc) = irc_door_of(&config, &["--irc-guests", "--irc-ping", "30"]);
    let mut guest = support::IrcClient::connect(irc);
    guest.register("visitor", &[]);
    support::signal(&child, "TERM");
    assert!(support::wait_with_deadline(&mut child).success());

    // The file lets guests in; --no-irc-guests keeps them out for one run.
    let mut file = std::fs::read_to_string(&config).unwrap();
    file.push_str("irc_guests = true\n");
    std::fs::write(&config, file).unwrap();
    let (mut child, irc) = irc_door_of(&config, &["--no-irc-guests"]);
    let mut visitor = support::IrcClient::connect(irc);
    visitor.send("NICK visitor");
    visitor.send("USER u 0 * :Real");
    let rest = visitor.until_closed();
    assert!(!rest.iter().any(|l| l.contains(" 001 ")), "{rest:?}");
    assert!(rest.last().unwrap().starts_with("ERROR"), "{rest:?}");
    support::signal(&child, "TERM");
    assert!(support::wait_with_deadline(&mut child).success());

    let ca = support::TestCa::new(dir.path(), "config");
    std::fs::write(
        &config,
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            ca.cert_pem.display().to_string(),
            ca.key_pem.display().to_string()
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--ircs",
        "127.0.0.1:0",
        "--tls-key",
        ca.key_pem.to_str().unwrap(),
    ]);
    assert!(server.ircs.is_some());
    let mut client = support::TlsClient::connect(server.addr, ca.client_config());
    assert_eq!(client.request("/ping")["data"], "pong");

    let help = run_to_exit(&[
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--help"),
    ]);
    assert!(help.status.success(), "{help:?}");
    assert!(String::from_utf8_lossy(&help.stdout).contains("--irc-guests"));
}

/// Starts the server with `--config FILE` and `args`; the file must open an
/// IRC door, whose address is returned.
fn irc_door_of(config: &Path, args: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(support::server_binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the server");
    // `listening on`, then `irc on`; none if the start was refused.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let irc = std::iter::from_fn(|| printed.recv_timeout(support::DEADLINE).ok())
        .take(2)
        .find_map(|line| line.strip_prefix("irc on ").map(str::to_string));
    let Some(irc) = irc else {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!("no IRC listener: {output:?}");
    };
    (child, irc.parse().unwrap())
}

/// An option the file may list several times (`http_allow_origin`), given
/// on the command line, replaces the file's list: the command line wins,
/// as for every other option, rather than adding to what the file lets in.
#[test]
fn a_repeatable_option_on_the_command_line_replaces_the_files_list() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipechat.toml");
    std::fs::write(
        &config,
        "http_allow_origin = [\"https://from-file.example\"]\n",
    )
    .unwrap();
    let server = TestServer::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--http-allow-origin",
        "https://from-command-line.example",
    ]);
    let web = server.web_addr();
    assert!(matches!(
        support::WsClient::try_connect(web, Some("https://from-command-line.example")),
        support::Handshake::Open(_)
    ));
    match support::WsClient::try_connect(web, Some("https://from-file.example")) {
        support::Handshake::Refused(status, _) => assert_eq!(status, 403),
        support::Handshake::Open(_) => panic!("the file's origin was let in"),
    }
    // Without the option on the command line, the file's list holds.
    let server = TestServer::start_with(&["--config", config.to_str().unwrap()]);
    assert!(matches!(
        support::WsClient::try_connect(server.web_addr(), Some("https://from-file.example")),
        support::Handshake::Open(_)
    ));
}

/// A config file's values reach their options' own checks whatever they
/// start with, and a value of the wrong kind is named in the file's terms:
/// `pool_size = -1` is a bad `--pool-size`, not an unknown `-1`; a switch
/// takes true or false, an option that takes a value does not.
#[test]
fn config_file_values_are_checked_as_their_options() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipechat.toml");
    for (setting, expected) in [
        ("pool_size = -1", "invalid value '-1' for '--pool-size"),
        (
            "listen = true",
            "listen: expected text or a number, not true",
        ),
        (
            "irc_guests = \"yes\"",
            "irc_guests: expected true or false, not \"yes\"",
        ),
    ] {
        std::fs::write(&config, format!("{setting}\n")).unwrap();
        let output = run_to_exit(&[OsStr::new("--config"), config.as_os_str()]);
        assert!(!output.status.success(), "{setting}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{setting}: {stderr}");
    }
    assert!(!dir.path().join("chat.db").exists());
}

/// A second server on the SQLite file a first one serves is refused: it
/// would tell only its own clients of the messages it stores, and the
/// first one's subscribers would miss them. The first serves on, a backup
/// (a reader) is not refused, and once the first has stopped the file can
/// be served again.
#[test]
fn a_second_server_on_a_served_file_is_refused() {
    if support::postgres::skip_on_postgres(
        "several servers on one PostgreSQL are the cluster (tests/cluster.rs)",
    ) {
        return;
    }
    let mut server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let second = run_to_exit(&[
        OsStr::new("--db"),
        &server.db_arg(),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
    ]);
    assert!(!second.status.success(), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another pipechat server is already serving this file"),
        "{stderr}"
    );
    // `import` is refused too, and told why in its own terms: the hint
    // that several servers need PostgreSQL is for a second server.
    let import = run_to_exit(&[
        OsStr::new("import"),
        &server.db_arg(),
        OsStr::new("--to"),
        OsStr::new("postgres://nobody@127.0.0.1:1/none"),
    ]);
    assert!(!import.status.success(), "{import:?}");
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        stderr.contains(
            "another pipechat server is already serving this file; stop it first: \
             import reads a file no server is writing"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("scale-out"), "{stderr}");
    alice.send("general", "still served");
    let copy = tempfile::tempdir().expect("a directory");
    let backup = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        &server.db_arg(),
        copy.path().join("copy.db").as_os_str(),
    ]);
    assert!(backup.status.success(), "{backup:?}");
    assert!(server.terminate().success());
    server.restart();
    let history = server.login_existing("alice", "alice").fetch_all("general");
    assert_eq!(history.len(), 1, "{history:?}");
}

/// The open file limit is checked against `--max-connections` at start: a
/// limit too low for that many clients is a warning that says what to do,
/// one that only leaves less room for connections still on their way in
/// is not.
#[test]
fn an_open_file_limit_too_low_for_the_clients_is_a_warning() {
    let stderr_with_limit = |limit: u64| {
        let dir = tempfile::tempdir().expect("a directory");
        let mut command = std::process::Command::new(support::server_binary());
        command
            .arg("--db")
            .arg(dir.path().join("chat.db"))
            .args(["--listen", "127.0.0.1:0", "--http", "off"])
            .args(["--max-connections", "100"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let nofile = rustix::process::Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        };
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
        // child between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                rustix::process::setrlimit(rustix::process::Resource::Nofile, nofile)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().expect("start pipechat-server");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).expect("the first line");
        assert!(first.starts_with("listening on"), "{first}");
        support::signal(&child, "TERM");
        let output = child.wait_with_output().expect("the server's exit");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let short = stderr_with_limit(300);
    assert!(
        short.contains("leaves room for about 44 clients, fewer than --max-connections (100)"),
        "{short}"
    );
    let enough = stderr_with_limit(400);
    assert!(!enough.contains("WARN"), "{enough}");
}

/// `--db` takes a file name: a SQLite URI or `:memory:` (which SQLite would
/// accept, serving no file or one other than the name) is refused in one
/// line, and no file is made.
#[test]
fn a_sqlite_uri_as_the_database_is_refused() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("x.db");
    for db in [format!("file:{}", file.display()), ":memory:".to_string()] {
        let output = run_to_exit(&[
            OsStr::new("--db"),
            OsStr::new(&db),
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
        ]);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("give the database as a file name"),
            "{stderr}"
        );
        assert!(!file.exists(), "no database was made for {db}");
    }
}

/// A server run in a terminal, as `cargo run` runs it: `script` (from
/// util-linux) gives it a pseudo-terminal as its controlling terminal, and
/// killing `script` closes that terminal, as closing a window or losing an
/// ssh session does. `shell` is run by `sh -c`, with `SERVER` standing for
/// the server's command line; it must print `pid=` and the server's pid.
struct ServerInTerminal {
    script: std::process::Child,
    pid: i32,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
}

impl ServerInTerminal {
    fn start(shell: &str) -> ServerInTerminal {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let server = format!(
            "'{}' --db chat.db --listen 127.0.0.1:0 --http off 2>server.log",
            support::server_binary()
        );
        let mut script = std::process::Command::new("script")
            .args(["-qfec", &shell.replace("SERVER", &server), "/dev/null"])
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start script");
        let mut stdout = script.stdout.take().unwrap();
        let (lines, shown) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                let _ = lines.send(buffer[..n].to_vec());
            }
        });
        let mut screen = String::new();
        let nohup_out = dir.path().join("nohup.out");
        let found = |screen: &str, prefix: &str| {
            screen.lines().find_map(|line| {
                let value = line.trim().strip_prefix(prefix)?;
                Some(value.split_whitespace().next()?.to_string())
            })
        };
        let (mut pid, mut addr) = (None, None);
        wait_until("the server in the terminal listens", || {
            while let Ok(bytes) = shown.try_recv() {
                screen.push_str(&String::from_utf8_lossy(&bytes));
            }
            // Under nohup the server's standard output is nohup.out.
            let all = screen.clone() + &std::fs::read_to_string(&nohup_out).unwrap_or_default();
            pid = found(&all, "pid=").and_then(|pid| pid.parse().ok());
            addr = found(&all, "listening on ").and_then(|addr| addr.parse().ok());
            pid.is_some() && addr.is_some()
        });
        ServerInTerminal {
            script,
            pid: pid.unwrap(),
            addr: addr.unwrap(),
            dir,
        }
    }

    /// Closes the terminal.
    fn close_terminal(&mut self) {
        self.script.kill().expect("kill script");
        self.script.wait().expect("reap script");
    }

    fn has_exited(&self) -> bool {
        // Not our child: once it exits, whoever adopted it reaps it (or
        // leaves a zombie, `Z`).
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    }

    fn has_terminal(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after_name.split_whitespace().nth(4) != Some("0")
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for ServerInTerminal {
    fn drop(&mut self) {
        let _ = self.script.kill();
        let _ = self.script.wait();
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid)
            && !self.has_exited()
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Closing the terminal the server runs in stops it as SIGTERM does, with
/// what it stored kept, whether it is the terminal's first process (`exec`)
/// or runs under another one (a shell, `cargo run`). Taking the hang-up
/// for a certificate reload would leave it holding its ports with no way
/// left to stop it but `kill`.
#[test]
fn closing_the_servers_terminal_stops_it() {
    for shell in ["echo pid=$$; exec SERVER", "SERVER & echo pid=$!; wait $!"] {
        let mut server = ServerInTerminal::start(shell);
        let mut alice = Client::connect(server.addr);
        alice.register_and_login("alice");
        alice.create_and_join("general");
        let sent = alice.send("general", "kept");
        // A SIGHUP while the terminal is open is a reload.
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(server.pid).unwrap(),
            rustix::process::Signal::HUP,
        )
        .unwrap();
        wait_until("the SIGHUP is handled", || {
            server.log().contains("no certificate to reload")
        });
        assert!(!server.has_exited(), "{shell}: {}", server.log());
        alice.ok("/ping");

        server.close_terminal();
        wait_until("the server exits", || server.has_exited());
        let log = server.log();
        assert!(
            log.contains("the terminal closed (SIGHUP)"),
            "{shell}: {log}"
        );
        assert!(alice.is_closed_by_server(), "{shell}");
        let conn = rusqlite::Connection::open(server.dir.path().join("chat.db")).unwrap();
        let stored: String = conn
            .query_row(
                "SELECT text FROM messages WHERE id = ?1",
                [sent["id"].as_i64()],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stored, "kept", "{shell}");
    }
}

/// Under `nohup` the server was asked to outlive its terminal: the
/// hang-up leaves it serving.
#[test]
fn a_server_under_nohup_outlives_its_terminal() {
    let mut server = ServerInTerminal::start("echo pid=$$; exec nohup SERVER");
    server.close_terminal();
    wait_until("the terminal is gone", || !server.has_terminal());
    assert!(!server.has_exited(), "{}", server.log());
    let mut alice = Client::connect(server.addr);
    alice.register_and_login("alice");
    alice.ok("/ping");
}
