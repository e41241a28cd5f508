//! What an operator relies on: `/health`, `/metrics`, and the nightly
//! backup script under `deploy/`.

mod support;

use std::collections::HashMap;
use std::process::Command;

use support::*;

/// Every sample of a Prometheus text page, by name with its labels as
/// written (`pipechat_requests_total{command="/ping",status="200"}`).
fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let web = server.web.expect("the web front door");
    let reply = http_request(web, "GET", "/metrics", &[]);
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-type").starts_with("text/plain"),
        "{:?}",
        reply.headers
    );
    String::from_utf8(reply.body)
        .expect("UTF-8")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("a sample");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn sample(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

/// The counters an operator watches move with the traffic that drives them.
#[test]
fn metrics_count_what_happens() {
    let server = TestServer::start();
    let before = scrape(&server);
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    alice.create_and_join("ops");
    bob.join("ops");
    bob.subscribe("ops");
    alice.send("ops", "counted");
    bob.next_event();
    // Enough wrong passwords to be throttled.
    let mut mallory = server.connect();
    let mut throttled = false;
    for _ in 0..20 {
        let reply = mallory.call("/login", &["alice", "wrong password"]);
        if reply["status"] == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the throttle never answered 429");

    let during = scrape(&server);
    let moved = |name: &str| sample(&during, name) - sample(&before, name);
    assert_eq!(
        moved(r#"pipechat_connections_total{front_door="pipe"}"#),
        3.0
    );
    assert_eq!(
        sample(&during, r#"pipechat_connections_open{front_door="pipe"}"#),
        3.0
    );
    assert_eq!(sample(&during, "pipechat_logged_in_users"), 2.0);
    assert_eq!(
        moved(r#"pipechat_requests_total{command="/sendMessage",status="201"}"#),
        1.0
    );
    assert!(moved(r#"pipechat_requests_total{command="/login",status="401"}"#) >= 1.0);
    assert_eq!(
        moved(r#"pipechat_requests_total{command="/login",status="429"}"#),
        1.0
    );
    assert_eq!(moved("pipechat_messages_stored_total"), 1.0);
    assert!(moved("pipechat_events_delivered_total") >= 1.0);
    assert!(moved("pipechat_login_throttled_total") >= 1.0);
    // register, create, join, join, send at least: each committed.
    assert!(moved("pipechat_commit_batch_size_count") >= 5.0);
    assert!(moved("pipechat_commit_batch_size_sum") >= 5.0);
    assert!(moved("pipechat_commit_seconds_count") >= 5.0);

    drop((alice, bob, mallory));
    wait_until("the connections are counted out", || {
        let now = scrape(&server);
        sample(&now, r#"pipechat_connections_open{front_door="pipe"}"#) == 0.0
            && sample(&now, "pipechat_logged_in_users") == 0.0
    });
}

/// A client turned away because the server is full is counted as refused,
/// not as a connection: `connections_open` is what the limit counts.
#[test]
fn refused_connections_are_counted_apart() {
    let server = TestServer::start_with(&["--max-connections", "1"]);
    let before = scrape(&server);
    let held = server.connect();
    assert_eq!(held.greeting["status"], 200);
    let mut refused = server.connect();
    assert_eq!(refused.greeting["status"], 503, "{}", refused.greeting);
    assert!(refused.is_closed_by_server());

    let during = scrape(&server);
    let moved = |name: &str| sample(&during, name) - sample(&before, name);
    assert_eq!(
        moved(r#"pipechat_connections_total{front_door="pipe"}"#),
        1.0
    );
    assert_eq!(
        sample(&during, r#"pipechat_connections_open{front_door="pipe"}"#),
        1.0
    );
    assert_eq!(moved("pipechat_connections_refused_total"), 1.0);
}

/// A database the server creates holds every direct message and password
/// hash: only its owner may read it, and its `-wal` and `-shm` files.
#[test]
fn a_new_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    if postgres::skip_on_postgres("the files are SQLite's") {
        return;
    }
    let server = TestServer::start();
    server.login_as("alice").create_and_join("general");
    for suffix in ["", "-wal", "-shm"] {
        let mut path = server.db.clone().into_os_string();
        path.push(suffix);
        let mode = std::fs::metadata(&path)
            .expect("the file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{path:?}: {mode:o}");
    }
}

/// `/health` says 200 while the database answers.
#[test]
fn health_is_ok_while_the_database_answers() {
    let server = TestServer::start();
    let web = server.web.expect("the web front door");
    let reply = http_request(web, "GET", "/health", &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"ok\n");
    assert_eq!(reply.header("cache-control"), "no-store");
}

/// `deploy/pipechat-backup` takes a consistent copy of a live database
/// and keeps only the newest `KEEP` (refusing 0, which would delete the new
/// one too), and clears out partial copies left an hour ago or more; a copy
/// restores.
#[test]
fn the_backup_script_keeps_the_newest_copies() {
    if support::postgres::skip_on_postgres("the script backs up a SQLite file") {
        return;
    }
    let mut server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("kept");
    alice.send("kept", "in every backup");
    let backups = server.dir.path().join("backups");
    std::fs::create_dir(&backups).expect("a backup folder");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/pipechat-backup");
    let run = |keep: &str| {
        Command::new("sh")
            .arg(script)
            .env("DB", &server.db)
            .env("DIR", &backups)
            .env("KEEP", keep)
            .env("SERVER", server_binary())
            .output()
            .expect("run the script")
    };
    // Partial copies as `pipechat-server backup` names them: one cut short
    // two hours ago, one that could be in progress.
    let partial = |stamp: &str| backups.join(format!(".chat-{stamp}.db.a1b2c3.partial"));
    let (stale, recent) = (partial("2026-12-01T000000Z"), partial("2026-12-05T000000Z"));
    for file in [&stale, &recent] {
        std::fs::write(file, b"cut short").expect("a partial copy");
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|file| file.set_modified(two_hours_ago))
        .expect("age the partial copy");

    for keep in ["0", "none", "-1"] {
        let refused = run(keep);
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("KEEP must be"));
    }
    for _ in 0..3 {
        let output = run("2");
        assert!(output.status.success(), "{output:?}");
    }
    assert!(
        !stale.exists(),
        "the partial copy of two hours ago is still there"
    );
    std::fs::remove_file(&recent).expect("the recent partial copy was kept");
    let mut kept: Vec<_> = std::fs::read_dir(&backups)
        .expect("the folder")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for copy in &kept {
        let db = rusqlite::Connection::open(copy).expect("open a copy");
        let text: String = db
            .query_row("SELECT text FROM messages", [], |row| row.get(0))
            .expect("the message");
        assert_eq!(text, "in every backup");
    }

    // Restore: stop, copy over the database, drop its WAL, start.
    drop(alice);
    assert!(server.stop_with("TERM").success());
    std::fs::copy(&kept[1], &server.db).expect("restore");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", server.db.display()));
    }
    server.restart();
    let mut alice = server.login_existing("alice", "alice");
    let history = alice.fetch_all("kept");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["text"], "in every backup");
}

/// At `RUST_LOG=trace`, the most a log says, no password reaches it: not
/// of a WebSocket login (tungstenite would log each message whole), not of
/// a pipe login, not of a password change.
#[test]
fn no_password_is_logged_at_any_level() {
    let server = TestServer::start_with_env(&[], &[("RUST_LOG", "trace")]);
    let mut web = server.ws_login_as("alice");
    assert_eq!(web.request("/ping")["data"], "pong");
    let mut pipe = server.login_as("bob");
    let changed = pipe.call(
        "/changePassword",
        &[&password_of("bob"), "a new password for bob"],
    );
    assert_eq!(changed["status"], 200, "{changed}");
    let log = server.stderr();
    assert!(log.contains("TRACE"), "not logging at trace: {log}");
    for secret in [
        password_of("alice").as_str(),
        password_of("bob").as_str(),
        "a new password for bob",
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
        let hex: String = secret.bytes().map(|byte| format!("{byte:02x}")).collect();
        assert!(!log.contains(&hex), "{secret:?} is in the log as hex");
    }
}
