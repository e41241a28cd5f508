//! PostgreSQL for the tests: which engine the suite runs on, a fresh
//! database per server, and private throwaway clusters.
//!
//! `PIPECHAT_TEST_DB=postgres` runs every `TestServer` on PostgreSQL, each on
//! a new database of the cluster at `PIPECHAT_TEST_POSTGRES` (a URL, as
//! `tests/postgres/cluster.sh start` prints). Tests that need a second
//! PostgreSQL of their own (to restart it) start a [`Cluster`].

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cluster URL given to the test run, if any.
pub fn cluster_url() -> Option<String> {
    std::env::var("PIPECHAT_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether this run's servers use PostgreSQL.
pub fn is_postgres() -> bool {
    std::env::var("PIPECHAT_TEST_DB").is_ok_and(|db| db == "postgres")
}

/// For a test about SQLite's file itself: `true` (and a line saying so)
/// when the run uses PostgreSQL, so the test returns at once.
pub fn skip_on_postgres(why: &str) -> bool {
    if is_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    is_postgres()
}

/// For a test that starts PostgreSQL clusters of its own ([`Cluster`]):
/// `true` where PostgreSQL's binaries are missing, so the test returns at
/// once, after saying so (once per test binary, past the harness's
/// capture, so that every `cargo test` run shows it). Under CI (`CI` set)
/// a missing PostgreSQL is a failure instead: `.ci/run` installs it, and a
/// CI run must never pass without these tests.
pub fn skip_without_clusters() -> bool {
    static REASON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let reason = REASON.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/cluster.sh");
        let output = Command::new(script)
            .arg("check")
            .output()
            .expect("run tests/postgres/cluster.sh check");
        let reason = (!output.status.success())
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string());
        if let Some(reason) = &reason {
            use std::io::Write;
            let _ = std::io::stderr()
                .write_all(format!("\nPostgreSQL cluster tests SKIPPED: {reason}\n").as_bytes());
        }
        reason
    });
    if let Some(reason) = reason {
        assert!(
            std::env::var_os("CI").is_none(),
            "the PostgreSQL cluster tests cannot run under CI: {reason}"
        );
    }
    reason.is_some()
}

/// A new, empty database on the cluster at `base` (a URL to any database of
/// it); its URL.
pub fn fresh_database(base: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("random bytes");
    let name: String = std::iter::once("pc_".to_string())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let mut client = postgres::Client::connect(base, postgres::NoTls)
        .unwrap_or_else(|err| panic!("cannot reach the test cluster {base}: {err}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    with_database(base, &name)
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a URL ending in /dbname");
    format!("{server}/{name}")
}

/// The rows of a query as text, on PostgreSQL.
pub fn query_text(url: &str, sql: &str) -> Vec<Vec<String>> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let mut rows = Vec::new();
    for message in client.simple_query(sql).expect("query") {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("").to_string())
                    .collect(),
            );
        }
    }
    rows
}

/// A private throwaway PostgreSQL cluster, stopped when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Cluster {
    /// Starts a new cluster in a temporary folder, on a free loopback port.
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = cluster(&["start"], &dir.path().join("data"));
        Cluster { dir, url }
    }

    /// Starts one that also accepts TLS, with the certificate and key in
    /// these PEM files.
    pub fn start_with_tls(cert: &Path, key: &Path) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
        let url = cluster(&["start", "--tls", &cert, &key], &dir.path().join("data"));
        Cluster { dir, url }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops it at once, as a crash or an operator would.
    pub fn stop(&self) {
        cluster(&["stop"], &self.data());
    }

    /// Starts it again on the same port.
    pub fn start_again(&self) {
        let port = self
            .url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .expect("a port in the URL")
            .to_string();
        cluster(&["start", "--port", &port], &self.data());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `tests/postgres/cluster.sh` and returns what it printed.
fn cluster(args: &[&str], data: &Path) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/cluster.sh");
    let output = Command::new(script)
        .arg(args[0])
        .arg(data)
        .args(&args[1..])
        .output()
        .expect("run tests/postgres/cluster.sh");
    assert!(
        output.status.success(),
        "cluster.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// PostgreSQL's program `name` (`pg_dump`, `pg_restore`), from the folder
/// `tests/postgres/cluster.sh` takes its programs from.
pub fn program(name: &str) -> PathBuf {
    let bin = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".to_string());
    Path::new(&bin).join(name)
}
