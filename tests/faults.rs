//! Faults: crashes, lock contention, readers beside the server, clients that
//! vanish or stall. Each test tries to break one promise of the protocol's
//! "Guarantees" section.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use support::{DEADLINE, TestServer, assert_status, wait_until};

/// SIGKILL while 8 clients send: every acknowledged message is stored exactly
/// once after a restart, ids still increase, and the file is intact.
#[test]
fn sigkill_under_concurrent_senders_loses_no_acknowledged_message() {
    let mut server = TestServer::start();
    let mut owner = server.login_as("owner");
    assert_status(&owner.request("/createChatroom|crash"), 201);
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for n in 0..8 {
        let mut client = server.login_as(&format!("sender{n}"));
        assert_status(&client.request("/joinChatroom|crash"), 200);
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        senders.push(std::thread::spawn(move || {
            // Bounded: at most 5,000 sends each, and the server dies long before.
            for i in 0..5_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let text = format!("s{n}-m{i}");
                let line = format!("/sendMessage|crash|{text}\n");
                if client.try_send_raw(line.as_bytes()).is_err() {
                    break;
                }
                match client.read_json() {
                    Some(reply) if reply["status"] == 201 => {
                        let id = reply["data"]["id"].as_i64().unwrap();
                        acked.lock().unwrap().push((id, text));
                    }
                    _ => break,
                }
            }
        }));
    }
    // Kill once a good number of messages are acknowledged.
    let deadline = Instant::now() + DEADLINE;
    while acked.lock().unwrap().len() < 400 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 400,
        "only {} sends acknowledged",
        acked.len()
    );

    server.restart();
    if !support::postgres::is_postgres() {
        let conn = server.open_db_for_writing();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    let query = "SELECT id, text FROM history WHERE room = 'crash' ORDER BY id";
    let stored: Vec<(i64, String)> = server
        .sql_rows(query, query)
        .into_iter()
        .map(|row| (row[0].parse().unwrap(), row[1].clone()))
        .collect();
    for (id, text) in &acked {
        let count = stored.iter().filter(|(i, t)| i == id && t == text).count();
        assert_eq!(count, 1, "acknowledged message {id} {text:?}");
    }
    let distinct: HashSet<&String> = stored.iter().map(|(_, text)| text).collect();
    assert_eq!(distinct.len(), stored.len(), "a message was stored twice");

    // New messages after the restart get larger ids than anything before.
    let max_before = acked.iter().map(|(id, _)| *id).max().unwrap();
    let mut owner_again = server.connect();
    owner_again.login("owner");
    assert_status(&owner_again.request("/joinChatroom|crash"), 200);
    let after = owner_again.request("/sendMessage|crash|after restart");
    assert_status(&after, 201);
    assert!(after["data"]["id"].as_i64().unwrap() > max_before);
    drop(owner);
}

/// Another process holding the write lock: writes wait out the busy timeout,
/// then get a clear 503; once the lock is gone the same server works again.
#[test]
fn held_write_lock_gives_a_clear_error_then_recovers() {
    if support::postgres::skip_on_postgres("another process holding SQLite's write lock") {
        return;
    }
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let locker = server.open_db_for_writing();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let reply = alice.request("/createChatroom|locked");
    assert_status(&reply, 503);
    assert!(
        reply["error"].as_str().unwrap().contains("busy"),
        "unexpected error {reply}"
    );
    assert!(
        started.elapsed() >= pipechat::store::BUSY_TIMEOUT / 2,
        "gave up after {:?}, before the busy timeout",
        started.elapsed()
    );
    // Reads do not need the write lock and keep working meanwhile.
    assert_status(&alice.request("/getAllChatrooms"), 200);

    locker.execute_batch("ROLLBACK").unwrap();
    assert_status(&alice.request("/createChatroom|locked"), 201);
    assert_status(&alice.request("/joinChatroom|locked"), 200);
    assert_status(&alice.request("/sendMessage|locked|free again"), 201);
}

/// `sqlite3`-style reads of the live database while clients send: neither
/// the reader nor the senders fail.
#[test]
fn external_reader_and_server_under_load_do_not_block_each_other() {
    if support::postgres::skip_on_postgres("a reader of SQLite's file") {
        return;
    }
    let server = TestServer::start();
    let mut owner = server.login_as("owner");
    assert_status(&owner.request("/createChatroom|busy"), 201);
    assert_status(&owner.request("/joinChatroom|busy"), 200);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = server.db.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let conn = Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
            let mut reads = 0u64;
            // Bounded by the senders finishing, or 100,000 reads.
            while !done.load(Ordering::SeqCst) && reads < 100_000 {
                let _: i64 = conn
                    .query_row("SELECT count(*) FROM history", [], |row| row.get(0))
                    .expect("reader failed while the server wrote");
                reads += 1;
            }
            reads
        })
    };
    let senders: Vec<_> = (0..4)
        .map(|n| {
            let mut client = server.login_as(&format!("writer{n}"));
            assert_status(&client.request("/joinChatroom|busy"), 200);
            std::thread::spawn(move || {
                for i in 0..200 {
                    assert_status(&client.request(&format!("/sendMessage|busy|{n}-{i}")), 201);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    let fetched = owner.request("/fetchMessages|busy|0|1000");
    assert_eq!(fetched["data"].as_array().unwrap().len(), 800);
}

/// A client that vanishes right after a request leaves no trace in the
/// active list, and its message is stored once or not at all.
#[test]
fn client_vanishing_mid_request_leaves_no_half_state() {
    let server = TestServer::start();
    let mut watcher = server.login_as("watcher");
    assert_status(&watcher.request("/createChatroom|gone"), 201);
    assert_status(&watcher.request("/joinChatroom|gone"), 200);
    for round in 0..5 {
        let mut ghost = server.connect();
        if round == 0 {
            ghost.register_and_login("ghost");
        } else {
            ghost.login("ghost");
        }
        assert_status(&ghost.request("/joinChatroom|gone"), 200);
        ghost.send_raw(format!("/sendMessage|gone|boo {round}\n").as_bytes());
        ghost.stream().shutdown(std::net::Shutdown::Both).unwrap();
        drop(ghost);
        let deadline = Instant::now() + DEADLINE;
        loop {
            let active = watcher.request("/getActiveUsers");
            if active["data"] == serde_json::json!(["watcher"]) {
                break;
            }
            assert!(Instant::now() < deadline, "ghost still active: {active}");
        }
    }
    let messages = watcher.request("/fetchMessages|gone|0|1000");
    let texts: Vec<&str> = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let distinct: HashSet<&&str> = texts.iter().collect();
    assert_eq!(distinct.len(), texts.len(), "duplicated: {texts:?}");
    let members = watcher.request("/getChatroomMembers|gone");
    assert_eq!(members["data"], serde_json::json!(["ghost", "watcher"]));
}

/// A half-sent line is dropped after `--line-timeout`; a client idle between
/// whole requests is kept.
#[test]
fn stalled_line_times_out_but_idle_clients_stay() {
    let server = TestServer::start_with(&["--line-timeout", "1"]);
    let mut idle = server.login_as("idler");
    let mut loris = server.connect();
    let stalled_at = Instant::now();
    loris.send_raw(b"/sendMessage|general|never fin");
    assert!(loris.is_closed_by_server(), "stalled client kept");
    assert!(stalled_at.elapsed() >= Duration::from_millis(900));
    // The idle client has been idle at least as long, and is still served.
    assert_status(&idle.request("/ping"), 200);
}

/// A line that keeps arriving without its line feed is dropped at the line
/// timeout too, though its bytes never let the server's read wait (the
/// server went on discarding such a line for as long as it came).
#[test]
fn an_endless_line_is_dropped_at_the_line_timeout() {
    use std::io::{Read, Write};
    let server = TestServer::start_with(&["--line-timeout", "1"]);
    let mut idle = server.login_as("idler");
    let mut endless = std::net::TcpStream::connect(server.addr).expect("connect");
    let mut writer = endless.try_clone().expect("clone");
    let started = Instant::now();
    let streaming = std::thread::spawn(move || {
        let bytes = [b'a'; 16 * 1024];
        while started.elapsed() < DEADLINE && writer.write_all(&bytes).is_ok() {}
    });
    endless
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    let closed = loop {
        match endless.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break true,
        }
        if started.elapsed() >= DEADLINE {
            break false;
        }
    };
    assert!(closed, "an endless line still read after {DEADLINE:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    streaming.join().expect("the streaming thread");
    assert_status(&idle.request("/ping"), 200);
}

/// Every accepted connection has TCP keepalive on, so a client whose
/// machine vanished without closing is noticed (within two minutes) and
/// stops counting as active: the kernel's table shows the keepalive timer
/// running on the server's side of an idle connection, pipe and web alike.
#[test]
fn accepted_connections_are_kept_alive() {
    let server = TestServer::start();
    let pipe = std::net::TcpStream::connect(server.addr).expect("connect");
    let web = std::net::TcpStream::connect(server.web_addr()).expect("connect");
    for (client, name) in [(&pipe, "pipe"), (&web, "web")] {
        let client_port = client.local_addr().expect("local address").port();
        let server_port = client.peer_addr().expect("peer address").port();
        // Timer kind 2 is keepalive (1 is retransmission, 0 none), set once
        // the server has accepted the connection; when it fires, in clock
        // ticks of 1/100 s: within the 60 s idle time.
        let mut timer = None;
        wait_until(
            &format!("{name}: a keepalive timer on the server's side"),
            || {
                timer = server_side_timer(server_port, client_port);
                timer.is_some_and(|(kind, _)| kind == 2)
            },
        );
        let when = timer.map_or(0, |(_, when)| when);
        assert!(when > 0 && when <= 60 * 100, "{name}: {timer:?}");
    }
}

/// The timer kind and when it fires (clock ticks) of the server's side of
/// the TCP connection from `client_port` to `server_port`, from
/// `/proc/net/tcp`.
fn server_side_timer(server_port: u16, client_port: u16) -> Option<(u32, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let port_of = |address: &str| {
        let hex = address.rsplit(':').next()?;
        u16::from_str_radix(hex, 16).ok()
    };
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        if port_of(fields.get(1)?)? != server_port || port_of(fields.get(2)?)? != client_port {
            return None;
        }
        let (kind, when) = fields.get(5)?.split_once(':')?;
        Some((
            u32::from_str_radix(kind, 16).ok()?,
            u64::from_str_radix(when, 16).ok()?,
        ))
    })
}

/// With `RUST_LOG=trace`, a whole session logs no password.
#[test]
fn passwords_never_reach_the_logs() {
    let mut server = TestServer::start_with_env(&[], &[("RUST_LOG", "trace")]);
    let mut client = server.connect();
    assert_status(&client.request("/register|secretive|Tr0ub4dor&3-pass"), 201);
    assert_status(&client.request("/login|secretive|wrong-S3cret-guess"), 401);
    assert_status(&client.request("/login|secretive|Tr0ub4dor&3-pass"), 200);
    assert_status(&client.request("/login|nobody|An0ther-s3cret"), 401);
    assert_status(&client.request("/register|x|short"), 400);
    drop(client);
    assert!(server.terminate().success());
    let logs = server.stderr();
    assert!(logs.contains("TRACE"), "trace logging was not on:\n{logs}");
    for secret in ["Tr0ub4dor", "S3cret", "An0ther", "short"] {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the logs:\n{logs}"
        );
    }
}
