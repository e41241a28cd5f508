//! `pipechat-server backup`: a consistent copy of a database a server is
//! writing to.

mod support;

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::{TestServer, run_to_exit};

/// Under write load, every message acknowledged before the backup began is
/// in the copy, the copy passes `integrity_check`, and a server serves it.
#[test]
fn a_backup_under_write_load_holds_every_acknowledged_message() {
    if support::postgres::skip_on_postgres(
        "`backup` copies SQLite files (on PostgreSQL use pg_dump)",
    ) {
        return;
    }
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<i64>::new()));
    let senders: Vec<_> = (0..3)
        .map(|n| {
            let mut client = server.login_existing("alice", "alice");
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let sent = client.send("general", &format!("sender {n} message {i}"));
                    acked.lock().push(sent["id"].as_i64().unwrap());
                    i += 1;
                }
            })
        })
        .collect();
    support::wait_until("a few hundred messages are acknowledged", || {
        acked.lock().len() >= 300
    });
    let before: Vec<i64> = acked.lock().clone();
    let out = server.dir.path().join("backup.db");
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        server.db.as_os_str(),
        out.as_os_str(),
    ]);
    let during = acked.lock().len();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("backed up"),
        "{output:?}"
    );
    assert!(during > before.len(), "no write happened while backing up");

    let copy = rusqlite::Connection::open(&out).unwrap();
    let integrity: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut in_copy = copy
        .prepare("SELECT 1 FROM messages WHERE id = ?1")
        .unwrap();
    for id in &before {
        assert!(
            in_copy.exists([id]).unwrap(),
            "message {id} is not in the copy"
        );
    }
    drop(in_copy);
    drop(copy);
    assert!(!out.with_extension("db-wal").exists());

    // A server starts on the copy and serves its history.
    let mut restored = TestServer::start();
    restored.kill();
    std::fs::copy(&out, &restored.db).unwrap();
    for sidecar in ["chat.db-wal", "chat.db-shm"] {
        let _ = std::fs::remove_file(restored.dir.path().join(sidecar));
    }
    restored.restart();
    let mut reader = restored.login_existing("alice", "alice");
    let history = reader.fetch_all("general");
    assert!(history.len() >= before.len());
}

/// An existing destination and a source that is not a pipechat database are
/// refused with one line, and nothing is written.
#[test]
fn a_backup_refuses_to_overwrite_or_copy_a_foreign_file() {
    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    let server = TestServer::start();
    server.login_as("alice");
    let existing = server.dir.path().join("existing.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        server.db.as_os_str(),
        existing.as_os_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The file may be an earlier backup: never "remove it".
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert!(!stderr.contains("remove"), "{stderr}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let foreign = server.dir.path().join("notes.txt");
    std::fs::write(&foreign, b"not a database at all, just some notes\n").unwrap();
    let out = server.dir.path().join("copy.db");
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        foreign.as_os_str(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a pipechat database"));
    assert!(!out.exists());
}

/// A backup touches no file but the one it is told to write: a file beside
/// it that happens to be named like a leftover (`report.partial` next to
/// `report.db`), even the database itself, stays as it was, and no
/// temporary file is left behind.
#[test]
fn a_backup_leaves_every_other_file_alone() {
    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    let server = TestServer::start();
    server.login_as("alice");
    let folder = tempfile::tempdir().unwrap();
    let notes = folder.path().join("report.partial");
    std::fs::write(&notes, b"my notes").unwrap();
    let live = folder.path().join("live.partial");
    std::fs::copy(&server.db, &live).unwrap();
    for (db, out) in [(&server.db, "report.db"), (&live, "live.db")] {
        let out = folder.path().join(out);
        let output = run_to_exit(&[
            OsStr::new("backup"),
            OsStr::new("--db"),
            db.as_os_str(),
            out.as_os_str(),
        ]);
        assert!(output.status.success(), "{output:?}");
        assert!(out.exists());
    }
    assert_eq!(std::fs::read(&notes).unwrap(), b"my notes");
    assert!(
        live.exists(),
        "the database named like a leftover was removed"
    );
    let names: Vec<String> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name.starts_with('.')),
        "a temporary file was left: {names:?}"
    );
}

/// A PostgreSQL URL given to `backup`, as source or as copy, is refused
/// with where to turn (pg_dump), and its password is not printed.
#[test]
fn a_database_url_is_refused_without_its_password() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("chat.db");
    let url = "postgres://pipechat:secret-pw@db.internal/pipechat";
    for (db, out) in [
        (file.as_os_str(), OsStr::new(url)),
        (OsStr::new(url), file.as_os_str()),
    ] {
        let output = run_to_exit(&[OsStr::new("backup"), OsStr::new("--db"), db, out]);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("pg_dump"), "{stderr}");
        assert!(!stderr.contains("secret-pw"), "{stderr}");
    }
    assert!(!file.exists(), "no file was made");
}

/// `backup --config FILE` copies the file's `db`, as `add-user` and
/// `set-password` read it: a `postgres://` one is refused with where to
/// turn (pg_dump) and without its password, a SQLite one is backed up.
#[test]
fn a_backup_takes_the_database_from_a_config_file() {
    let dir = tempfile::tempdir().expect("a directory");
    let config = dir.path().join("node.toml");
    let out = dir.path().join("copy.db");
    std::fs::write(
        &config,
        "db = \"postgres://pipechat:secret-pw@db.internal/pipechat\"\n",
    )
    .unwrap();
    let backup = |config: &std::path::Path| {
        run_to_exit(&[
            OsStr::new("backup"),
            OsStr::new("--config"),
            config.as_os_str(),
            out.as_os_str(),
        ])
    };
    let output = backup(&config);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("secret-pw"), "{stderr}");
    assert!(!out.exists(), "no file was made");

    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    let server = TestServer::start();
    server.login_as("alice");
    let mut table = toml::Table::new();
    table.insert(
        "db".to_string(),
        server.db.to_string_lossy().into_owned().into(),
    );
    std::fs::write(&config, table.to_string()).unwrap();
    let output = backup(&config);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!("backed up {} to {}", server.db.display(), out.display());
    assert!(stdout.contains(&expected), "{stdout}");
    let copy = rusqlite::Connection::open(&out).unwrap();
    let users: i64 = copy
        .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
        .unwrap();
    assert_eq!(users, 1);
}

/// A database that is not there (for `backup`, and for `import`, which
/// looks at the file before it connects anywhere), and a copy whose folder
/// is not there, are each one line saying so, without SQLite's "Invalid
/// path" or the name of the hidden file the copy would have been written
/// to first.
#[test]
fn a_missing_database_or_folder_is_said_plainly() {
    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let out = dir.path().join("copy.db");
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        missing.as_os_str(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!("{}: there is no such file to back up", missing.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!out.exists());
    let output = run_to_exit(&[
        OsStr::new("import"),
        missing.as_os_str(),
        OsStr::new("--to"),
        OsStr::new("postgres://nobody@127.0.0.1:1/none"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("{}: there is no such file to import", missing.display());
    assert!(stderr.contains(&expected), "{stderr}");

    let server = TestServer::start();
    server.login_as("alice");
    let nowhere = dir.path().join("nowhere");
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        server.db.as_os_str(),
        nowhere.join("copy.db").as_os_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!("the folder {} does not exist", nowhere.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains(".partial"), "{stderr}");
}

/// An existing folder, named with or without a final `/`, gets a new copy
/// inside it, named as `deploy/pipechat-backup` names its nightly ones
/// (`chat-<UTC time>.db` for `chat.db`; the `-1`, `-2` of copies within one
/// second are the unit tests' in `src/store/sqlite/backup.rs`, and
/// `backups_at_once_into_one_folder_all_succeed` below), and what was in
/// the folder stays. A final `/` on a folder that does not exist is
/// refused, not taken for a file's name, and one on a file says it is a
/// file.
#[test]
fn a_backup_into_a_folder_makes_a_dated_copy_in_it() {
    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    let server = TestServer::start();
    server.login_as("alice");
    let folder = tempfile::tempdir().unwrap();
    let earlier = folder.path().join("chat-2026-01-01T000000Z.db");
    std::fs::write(&earlier, b"an earlier backup").unwrap();
    let with_slash = format!("{}/", folder.path().display());
    let mut made = Vec::new();
    for out in [folder.path().as_os_str(), OsStr::new(&with_slash)] {
        let output = run_to_exit(&[
            OsStr::new("backup"),
            OsStr::new("--db"),
            server.db.as_os_str(),
            out,
        ]);
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let path = stdout
            .split(" to ")
            .nth(1)
            .and_then(|rest| rest.split(" (").next())
            .unwrap_or_else(|| panic!("no copy named in {stdout:?}"))
            .to_string();
        made.push(std::path::PathBuf::from(path));
    }
    for copy in &made {
        assert_eq!(copy.parent(), Some(folder.path()), "{made:?}");
        let name = copy.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("chat-20") && name.ends_with(".db") && name.contains('Z'),
            "{name}"
        );
        let integrity: String = rusqlite::Connection::open(copy)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    assert_ne!(made[0], made[1], "the second copy overwrote the first");
    assert_eq!(std::fs::read(&earlier).unwrap(), b"an earlier backup");

    let missing = format!("{}/", folder.path().join("new").display());
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        server.db.as_os_str(),
        OsStr::new(&missing),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("there is no such folder"), "{stderr}");
    assert!(!folder.path().join("new").exists());
    assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 3);

    let file_with_slash = format!("{}/", earlier.display());
    let output = run_to_exit(&[
        OsStr::new("backup"),
        OsStr::new("--db"),
        server.db.as_os_str(),
        OsStr::new(&file_with_slash),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!("{} is a file, not a folder", earlier.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("no such folder"), "{stderr}");
    assert_eq!(std::fs::read(&earlier).unwrap(), b"an earlier backup");
    assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 3);
}

/// Backups started at once into one folder (a timer's and one by hand, or
/// two by hand) all succeed, each with a name of its own: those that land
/// in the same second take `-1`, `-2`, ... rather than failing with "File
/// exists".
#[test]
fn backups_at_once_into_one_folder_all_succeed() {
    if support::postgres::skip_on_postgres("`backup` copies SQLite files") {
        return;
    }
    const AT_ONCE: usize = 4;
    let server = TestServer::start();
    server.login_as("alice");
    let folder = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let db = server.db.clone();
            let out = folder.path().to_path_buf();
            std::thread::spawn(move || {
                run_to_exit(&[
                    OsStr::new("backup"),
                    OsStr::new("--db"),
                    db.as_os_str(),
                    out.as_os_str(),
                ])
            })
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    let mut names: Vec<String> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), AT_ONCE, "{names:?}");
    for name in &names {
        assert!(
            name.starts_with("chat-20") && name.ends_with(".db"),
            "{name}"
        );
    }
}
