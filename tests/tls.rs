//! TLS on every listener: certificates made here with rcgen, a private CA,
//! and clients that verify against it.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::*;

// The console client's menu choices.
const REGISTER: &str = "1";
const QUIT: &str = "3";
const ENTER_ROOM: &str = "1";
const CREATE_ROOM: &str = "2";
const LOGOUT: &str = "5";

/// A server with TLS on the pipe and HTTP listeners and `--ircs`, plain
/// `--irc` beside it, and its CA.
fn tls_server(extra: &[&str]) -> (TestServer, TestCa, tempfile::TempDir) {
    let certs = tempfile::tempdir().expect("a directory");
    let ca = TestCa::new(certs.path(), "first");
    let mut args: Vec<String> = ca.server_args();
    for door in ["--irc", "--ircs"] {
        args.extend([door.to_string(), "127.0.0.1:0".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (TestServer::start_with(&args), ca, certs)
}

/// Two TLS clients chat: requests, replies and pushed events all cross TLS.
#[test]
fn clients_chat_over_tls() {
    let (server, ca, _certs) = tls_server(&[]);
    let mut alice = TlsClient::connect(server.addr, ca.client_config());
    assert_eq!(alice.greeting["data"]["server"], "pipechat");
    let mut bob = TlsClient::connect(server.addr, ca.client_config());
    for (client, name) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        assert_status(&client.call("/register", &[name, &password_of(name)]), 201);
        assert_status(&client.call("/login", &[name, &password_of(name)]), 200);
    }
    assert_status(&alice.call("/createChatroom", &["secure"]), 201);
    assert_status(&alice.call("/joinChatroom", &["secure"]), 200);
    assert_status(&bob.call("/joinChatroom", &["secure"]), 200);
    assert_status(&bob.call("/subscribe", &["secure"]), 200);
    let long = "z".repeat(4_000);
    for n in 0..10 {
        let text = format!("{n} {long}");
        assert_status(&alice.call("/sendMessage", &["secure", &text]), 201);
        let event = bob.next_event();
        assert_eq!(event["event"], "message", "{event}");
        assert_eq!(event["data"]["text"], text);
    }
    // A reply of about 40 KB crosses several TLS records.
    let history = bob.call("/fetchMessages", &["secure"]);
    assert_status(&history, 200);
    assert_eq!(
        history["data"].as_array().map(Vec::len),
        Some(10),
        "{history}"
    );
}

/// A client that sends its requests and `close_notify` in one packet, and
/// keeps the socket open to read, gets every reply and then the server's
/// own `close_notify`, without having to close first.
#[test]
fn requests_sent_with_close_notify_are_answered_and_the_connection_ends() {
    let (server, ca, _certs) = tls_server(&[]);
    let mut stream = tls_connect(server.addr, ca.client_config()).expect("TLS connect");
    stream.conn.writer().write_all(b"/ping\n/ping\n").unwrap();
    stream.conn.send_close_notify();
    let mut together = Vec::new();
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut together).unwrap();
    }
    stream.sock.write_all(&together).unwrap();
    // Ends with the server's `close_notify` (a cut would be an error), or
    // fails at the socket's read deadline if the server waits for us.
    let mut everything = String::new();
    stream
        .read_to_string(&mut everything)
        .expect("the replies, then the server's close_notify");
    let lines: Vec<&str> = everything.lines().collect();
    assert_eq!(lines.len(), 3, "the greeting and two replies: {everything}");
    for reply in &lines[1..] {
        let reply: serde_json::Value = serde_json::from_str(reply).unwrap();
        assert_eq!(reply["status"], 200, "{reply}");
        assert_eq!(reply["data"], "pong", "{reply}");
    }
}

/// The console client connects with `--tls-ca` and chats.
#[test]
fn console_client_chats_over_tls() {
    let (server, ca, _certs) = tls_server(&[]);
    let ca_pem = ca.ca_pem.display().to_string();
    let addr = format!("localhost:{}", server.addr.port());
    let mut alice = ClientProcess::start_at(&addr, &["--tls-ca", &ca_pem]);
    let password = password_of("alice");
    alice.type_lines(&[
        REGISTER,
        "alice",
        &password,
        &password,
        CREATE_ROOM,
        "tls",
        ENTER_ROOM,
        "tls",
        "sealed hello",
        "/exit",
        LOGOUT,
        QUIT,
    ]);
    let done = alice.finish_ok();
    assert!(
        done.stdout.contains("alice: sealed hello"),
        "{}",
        done.stdout
    );
    let stored = server.sql_rows("SELECT text FROM messages", "SELECT text FROM messages");
    assert_eq!(stored, vec![vec!["sealed hello".to_string()]]);
}

/// A certificate from an unknown CA is refused, by the console client with
/// a clear message, and nothing is sent.
#[test]
fn a_certificate_that_does_not_verify_is_refused() {
    let (server, _ca, _certs) = tls_server(&[]);
    let other_dir = tempfile::tempdir().expect("a directory");
    let stranger = TestCa::new(other_dir.path(), "stranger");
    let addr = format!("localhost:{}", server.addr.port());
    let stranger_pem = stranger.ca_pem.display().to_string();
    let refused = ClientProcess::start_at(&addr, &["--tls-ca", &stranger_pem]).finish();
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("does not verify"),
        "{}",
        refused.stderr
    );
    // The public roots do not know the private CA either.
    let refused = ClientProcess::start_at(&addr, &["--tls"]).finish();
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("does not verify"),
        "{}",
        refused.stderr
    );
    // And a TLS client that trusts the stranger fails its handshake.
    let Err(err) = tls_connect(server.addr, stranger.client_config()) else {
        panic!("the handshake succeeded with a stranger's CA");
    };
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// A certificate signed by the authority given with `--tls-ca` but for
/// another name is refused, with the name as the cure (the hint said the
/// certificate given was neither the server's nor its authority).
#[test]
fn a_certificate_for_another_name_is_refused_with_the_name_as_the_cure() {
    let certs = tempfile::tempdir().expect("a directory");
    let ca = TestCa::new(certs.path(), "named");
    ca.issue_server_certificate_for(&["chat.example.org"]);
    let args = ca.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&args);
    let ca_pem = ca.ca_pem.display().to_string();
    let addr = format!("127.0.0.1:{}", server.addr.port());
    let refused = ClientProcess::start_at(&addr, &["--tls-ca", &ca_pem]).finish();
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains("it was not issued for 127.0.0.1 (it names chat.example.org)")
            && refused
                .stderr
                .contains("Connect by a name it was issued for")
            && !refused.stderr.contains("replaced"),
        "{}",
        refused.stderr
    );
}

/// A plain-text client on the TLS port (`nc`, typing) is told in one reply
/// line it can read, not a TLS alert, to connect with TLS, and is closed;
/// the log says so in one line without rustls's words; TLS clients carry
/// on.
#[test]
fn a_plain_client_on_the_tls_port_fails_cleanly() {
    let (server, ca, _certs) = tls_server(&["--line-timeout", "1"]);
    let mut alice = TlsClient::connect(server.addr, ca.client_config());
    assert_eq!(
        plain_answer(server.addr, b"/login|alice|secret-password\n"),
        "{\"status\":400,\"error\":\"this port speaks TLS: connect with TLS \
         (pipechat-client --tls)\"}\n"
    );
    assert_eq!(alice.request("/ping")["data"], "pong");
    wait_until("the plain client is logged", || {
        server
            .stderr()
            .contains("plain text at the pipe's TLS port; told to connect with TLS")
    });
    let log = server.stderr();
    assert!(!log.contains("InvalidContentType"), "{log}");
    assert!(!log.contains("no TLS handshake"), "{log}");
    // The console client without --tls is told at once that the port
    // speaks TLS: its question, when no greeting came, drew that `400` in
    // place of a greeting. A server with its usual line timeout, so that
    // closing the connection is not what gives the answer.
    let (patient, _ca, _patient_certs) = tls_server(&[]);
    let started = Instant::now();
    let done = ClientProcess::start(&patient, &[]).finish();
    assert!(!done.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let addr = patient.addr;
    assert!(
        done.stderr
            .contains(&format!("{addr} speaks TLS: connect with --tls")),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("sent no greeting"), "{}", done.stderr);
    // And a TLS client on a plain server is told so.
    let plain_server = TestServer::start();
    let addr = format!("localhost:{}", plain_server.addr.port());
    let ca_pem = ca.ca_pem.display().to_string();
    let done = ClientProcess::start_at(&addr, &["--tls-ca", &ca_pem]).finish();
    assert!(!done.status.success());
    assert!(done.stderr.contains("TLS"), "{}", done.stderr);
}

/// A browser given `http://` for the HTTPS port gets a plain HTTP answer
/// that sends it to `https://` (the same host, port, path and query), not
/// bytes it calls an invalid response; without a `Host` to build the
/// address from (none, one that is no host name, or two), a `400` saying to
/// use `https://`. The log has one line for each, without rustls's words,
/// and with the path but not the query (which is the client's to fill, up to
/// the head's 8 KiB), a long path cut short; HTTPS goes on.
#[test]
fn plain_http_at_the_https_port_is_sent_to_https() {
    let (server, ca, _certs) = tls_server(&[]);
    let web = server.web.expect("the web front door");
    let reply = http_request(web, "GET", "/app.js?v=2&note=in-the-query", &[]);
    assert_eq!(reply.status, 301);
    let location = format!("https://{web}/app.js?v=2&note=in-the-query");
    assert_eq!(reply.header("location"), location);
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(String::from_utf8_lossy(&reply.body).contains(&location));
    let long_path = format!("/{}", "a".repeat(1000));
    let reply = http_request(web, "GET", &long_path, &[]);
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.header("location"),
        format!("https://{web}{long_path}")
    );

    // Without Host (HTTP/1.0), with one that is no host name (not to be
    // echoed into a header), or with two (RFC 9112: a 400), there is
    // nothing to redirect to.
    for request in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &b"GET / HTTP/1.1\r\nHost: evil\"<x>\r\n\r\n"[..],
        &b"GET / HTTP/1.1\r\nHost: one.example\r\nHost: evil.example\r\n\r\n"[..],
    ] {
        let mut bare = TcpStream::connect(web).expect("connect");
        bare.set_read_timeout(Some(DEADLINE)).expect("a timeout");
        bare.write_all(request).expect("write");
        let mut got = Vec::new();
        bare.read_to_end(&mut got).expect("the answer");
        let got = String::from_utf8(got).expect("plain HTTP");
        assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
        assert!(got.contains("https://"), "{got}");
        assert!(!got.contains("evil"), "{got}");
    }

    let stream = tls_connect(web, ca.client_config()).expect("TLS connect");
    let health = http_exchange(stream, "localhost", "GET", "/health", &[]);
    assert_eq!(health.status, 200);
    let log = server.stderr();
    let logged = format!("plain HTTP at the HTTPS port; redirected to https://{web}/app.js");
    let line = log
        .lines()
        .find(|line| line.contains(&logged))
        .unwrap_or_else(|| panic!("{logged:?} in {log}"));
    assert!(line.ends_with("/app.js"), "no query in the log: {line}");
    assert!(!log.contains("in-the-query"), "{log}");
    assert!(log.contains(&"a".repeat(100)), "{log}");
    assert!(!log.contains(&"a".repeat(201)), "a long path is cut: {log}");
    assert_eq!(
        log.matches("plain HTTP at the HTTPS port; told to use https://")
            .count(),
        3,
        "{log}"
    );
    assert!(!log.contains("evil.example"), "{log}");
    assert!(!log.contains("InvalidContentType"), "{log}");
    assert!(!log.contains("no TLS handshake"), "{log}");
}

/// A reverse proxy that ends TLS and forwards plain HTTP to the HTTPS port
/// (saying so with `X-Forwarded-Proto: https` or `Forwarded: proto=https`)
/// is not redirected: the browser already came over `https://`, and would
/// be sent there again and again. It gets a `400` saying what to change,
/// and the log says so once.
#[test]
fn a_proxy_ending_tls_in_front_of_the_https_port_is_told_not_redirected() {
    let (server, _ca, _certs) = tls_server(&[]);
    let web = server.web.expect("the web front door");
    for header in [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Proto", "HTTPS"),
        ("Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"),
        (
            "Forwarded",
            "for=192.0.2.60, for=198.51.100.17;Proto=\"https\"",
        ),
    ] {
        let reply = http_request(web, "GET", "/", &[header]);
        assert_eq!(reply.status, 400, "{header:?}");
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert!(
            body.contains("this port speaks HTTPS itself")
                && body.contains("point the proxy at https://")
                && body.contains("turn off the server's TLS"),
            "{header:?}: {body}"
        );
        assert!(!reply.headers.iter().any(|(name, _)| name == "location"));
    }
    // A proxy that says its client came over plain HTTP: the redirect
    // brings that client back over https://.
    let reply = http_request(web, "GET", "/", &[("X-Forwarded-Proto", "http")]);
    assert_eq!(reply.status, 301);
    let log = server.stderr();
    assert_eq!(
        log.matches("plain HTTP at the HTTPS port from a proxy that ends TLS")
            .count(),
        4,
        "{log}"
    );
}

/// Connects to `door` (a server with `--line-timeout 1`), sends `sent`
/// and checks that the server closes the connection, having said nothing,
/// once that second is up: not before, and not never.
#[track_caller]
fn dropped_after_a_second(door: SocketAddr, sent: &[u8]) {
    let mut stalled = TcpStream::connect(door).expect("connect");
    stalled.set_read_timeout(Some(DEADLINE)).expect("a timeout");
    stalled.write_all(sent).expect("write");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < DEADLINE,
        "{sent:?} at {door} dropped after {waited:?}"
    );
    assert!(rest.is_empty(), "{rest:?}");
}

/// Looking at the first byte keeps the TLS ports' deadline and their bound
/// on connections not yet admitted: a client that sends nothing, or a
/// plain HTTP head that never ends, is dropped after the line timeout, and
/// stalled plain heads past `--max-connections` are closed at once.
#[test]
fn plain_clients_at_tls_ports_keep_the_deadline_and_the_bound() {
    const LIMIT: usize = 8;
    const EXTRA: usize = 4;
    let (server, _ca, _certs) = tls_server(&["--line-timeout", "1"]);
    let web = server.web.expect("the web front door");
    for (door, sent) in [
        (server.addr, &b""[..]),
        (web, &b""[..]),
        (web, &b"GET / HTTP/1.1\r\n"[..]),
    ] {
        dropped_after_a_second(door, sent);
    }

    let (server, ca_bounded, _bounded_certs) =
        tls_server(&["--max-connections", &LIMIT.to_string()]);
    let web = server.web.expect("the web front door");
    let stalled = stalled_heads(web, LIMIT + EXTRA);
    assert_closed_past_the_bound(&stalled, EXTRA);
    drop(stalled);
    wait_until("TLS clients connect again", || {
        tls_connect(server.addr, ca_bounded.client_config()).is_ok()
    });
    let mut fine = TlsClient::connect(server.addr, ca_bounded.client_config());
    assert_eq!(fine.request("/ping")["data"], "pong");
}

/// SIGHUP re-reads the certificate: new connections get the new one, and
/// connections already open go on.
#[test]
fn sighup_picks_up_a_renewed_certificate() {
    let (server, ca, _certs) = tls_server(&[]);
    let mut before = TlsClient::connect(server.addr, ca.client_config());
    let first = before.server_certificate();
    ca.issue_server_certificate();
    signal(&server.child, "HUP");
    wait_until("the renewed certificate is served", || {
        TlsClient::connect(server.addr, ca.client_config()).server_certificate() != first
    });
    assert_eq!(before.request("/ping")["data"], "pong");
    assert!(server.stderr().contains("certificate reloaded"));
}

/// A client that starts a handshake and stalls is dropped after the line
/// timeout, as a stalled request line is.
#[test]
fn a_stalled_handshake_is_dropped() {
    let (server, ca, _certs) = tls_server(&["--line-timeout", "1"]);
    // The start of a ClientHello record, and nothing more.
    dropped_after_a_second(server.addr, &[0x16, 0x03, 0x01, 0x00]);
    let mut fine = TlsClient::connect(server.addr, ca.client_config());
    assert_eq!(fine.request("/ping")["data"], "pong");
}

/// HTTPS serves the page and `/health`, and `wss://` carries the protocol.
#[test]
fn https_and_wss_serve_the_web_front_door() {
    let (server, ca, _certs) = tls_server(&[]);
    let web = server.web.expect("the web front door");
    let stream = tls_connect(web, ca.client_config()).expect("TLS connect");
    let page = http_exchange(stream, "localhost", "GET", "/", &[]);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    let stream = tls_connect(web, ca.client_config()).expect("TLS connect");
    let health = http_exchange(stream, "localhost", "GET", "/health", &[]);
    assert_eq!(health.status, 200);

    let stream = tls_connect(web, ca.client_config()).expect("TLS connect");
    let url = format!("wss://localhost:{}/ws", web.port());
    let (mut socket, _) = tungstenite::client::client(url.as_str(), stream).expect("wss handshake");
    let greeting = read_ws_json(&mut socket);
    assert_eq!(greeting["data"]["server"], "pipechat");
    socket
        .send(tungstenite::Message::text("/ping"))
        .expect("send");
    assert_eq!(read_ws_json(&mut socket)["data"], "pong");
}

fn read_ws_json<S: Read + Write>(socket: &mut tungstenite::WebSocket<S>) -> serde_json::Value {
    loop {
        match socket.read().expect("a message") {
            tungstenite::Message::Text(text) => {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// IRC over TLS on `--ircs`: registration works through the sealed
/// connection; `--irc` beside it stays plain text, as IRC clients expect.
#[test]
fn irc_over_tls() {
    let (server, ca, _certs) = tls_server(&[]);
    let mut admin = TlsClient::connect(server.addr, ca.client_config());
    assert_status(
        &admin.call("/register", &["carol", &password_of("carol")]),
        201,
    );
    let ircs = server.ircs.expect("the IRC-over-TLS front door");
    let mut stream = tls_connect(ircs, ca.client_config()).expect("TLS connect");
    let pass = format!(
        "PASS carol:{}\r\nNICK carol\r\nUSER carol 0 * :Carol\r\n",
        password_of("carol")
    );
    stream.write_all(pass.as_bytes()).expect("write");
    let welcome = welcome_of(stream);
    assert!(welcome.contains("carol"), "{welcome}");
    let mut plain = IrcClient::connect(server.irc.expect("the plain IRC front door"));
    plain.send("PING still-plain");
    let pong = plain.expect("PONG");
    assert_eq!(pong.params.last().map(String::as_str), Some("still-plain"));
}

/// An IRC client without its TLS option at `--ircs` is told in an `ERROR`
/// line, which every client shows, to turn TLS on, rather than getting a
/// TLS alert it reports as a broken connection; TLS clients carry on.
#[test]
fn a_plain_irc_client_at_the_ircs_port_is_told_to_use_tls() {
    let (server, ca, _certs) = tls_server(&["--irc-guests"]);
    let ircs = server.ircs.expect("the IRC-over-TLS front door");
    assert_eq!(
        plain_answer(ircs, b"CAP LS 302\r\nNICK dora\r\nUSER dora 0 * :Dora\r\n"),
        ":pipechat ERROR :Closing link: this port speaks TLS: turn on your client's TLS \
         for it (irssi: /connect -tls HOST PORT)\r\n"
    );
    wait_until("the plain IRC client is logged", || {
        server
            .stderr()
            .contains("plain text at the IRC TLS port; told to connect with TLS")
    });
    let mut stream = tls_connect(ircs, ca.client_config()).expect("TLS connect");
    stream
        .write_all(b"NICK dora\r\nUSER dora 0 * :Dora\r\n")
        .expect("write");
    let welcome = welcome_of(stream);
    assert!(welcome.contains("dora"), "{welcome}");
}

/// All a TLS listener at `addr` answers, until it closes, to a client that
/// sends it `sent` in plain text: text, not a TLS alert.
fn plain_answer(addr: SocketAddr, sent: &[u8]) -> String {
    let mut plain = TcpStream::connect(addr).expect("connect");
    plain.set_read_timeout(Some(DEADLINE)).expect("a timeout");
    plain.write_all(sent).expect("write");
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    String::from_utf8(got).expect("text, not a TLS alert")
}

/// The `001` line an IRC server sends once it has registered the client
/// whose registration `stream` carries.
fn welcome_of(mut stream: impl Read + Write) -> String {
    stream.flush().expect("flush");
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        let read = std::io::BufRead::read_line(&mut reader, &mut line).expect("a line");
        assert!(read > 0, "the server closed before welcoming");
        if line.contains(" 001 ") {
            return line;
        }
    }
}

/// A certificate or key that cannot be read stops the start with one line.
#[test]
fn an_unreadable_certificate_stops_the_start() {
    let dir = tempfile::tempdir().expect("a directory");
    let missing = dir.path().join("missing.pem");
    let output = std::process::Command::new(server_binary())
        .arg("--db")
        .arg(dir.path().join("chat.db"))
        .args(["--listen", "127.0.0.1:0", "--http", "off"])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .expect("run the server");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.pem"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(!dir.path().join("chat.db").exists(), "no database was made");
}

/// Without TLS, listening beyond loopback warns that passwords cross the
/// network in clear; on loopback it does not.
#[test]
fn listening_beyond_loopback_without_tls_warns() {
    let server = TestServer::start_with(&["--listen", "0.0.0.0:0"]);
    wait_until("the warning is logged", || {
        server.stderr().contains("in clear")
    });
    assert!(
        server.stderr().contains("see --tls-cert"),
        "{}",
        server.stderr()
    );
    // Plain IRC beside TLS: the cure named is --ircs, not the flags given.
    let certs = tempfile::tempdir().expect("a directory");
    let ca = TestCa::new(certs.path(), "irc");
    let mut args = ca.server_args();
    args.extend(["--irc".to_string(), "0.0.0.0:0".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let with_tls = TestServer::start_with(&args);
    wait_until("the IRC warning is logged", || {
        with_tls.stderr().contains("in clear")
    });
    assert!(
        with_tls.stderr().contains("see --ircs"),
        "{}",
        with_tls.stderr()
    );
    let quiet = TestServer::start();
    let mut client = quiet.connect();
    assert_eq!(client.request("/ping")["data"], "pong");
    assert!(!quiet.stderr().contains("in clear"), "{}", quiet.stderr());
}

/// A self-signed server certificate is trusted when the client is handed
/// exactly that certificate with `--tls-ca`.
#[test]
fn a_self_signed_certificate_is_trusted_with_tls_ca() {
    let dir = tempfile::tempdir().expect("a directory");
    let made = rcgen::generate_simple_self_signed(vec!["chat.example.org".to_string()])
        .expect("a self-signed certificate");
    let cert = dir.path().join("self.pem");
    let key = dir.path().join("self-key.pem");
    std::fs::write(&cert, made.cert.pem()).expect("write");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    let mut client = ClientProcess::start_at(&server.addr.to_string(), &["--tls-ca", &cert]);
    client.type_lines(&[QUIT]);
    let done = client.finish_ok();
    assert!(done.stdout.contains("register"), "{}", done.stdout);
}

/// A self-signed certificate marked as an authority's (what `openssl req
/// -x509`, as docs/operations.md shows it, makes): trusted when pinned with
/// `--tls-ca`, and refused otherwise with a message that says what to do,
/// which differs when `--tls-ca` named another certificate.
#[test]
fn a_self_signed_authority_certificate_is_pinned_or_refused_clearly() {
    let dir = tempfile::tempdir().expect("a directory");
    let self_signed = |name: &str| {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("a certificate");
        let (cert_pem, key_pem) = (
            dir.path().join(format!("{name}.pem")),
            dir.path().join(format!("{name}-key.pem")),
        );
        std::fs::write(&cert_pem, cert.pem()).expect("write");
        std::fs::write(&key_pem, key.serialize_pem()).expect("write");
        (
            cert_pem.display().to_string(),
            key_pem.display().to_string(),
        )
    };
    let (cert, key) = self_signed("server");
    let (other, _) = self_signed("other");
    let server = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    let addr = format!("localhost:{}", server.addr.port());

    let mut pinned = ClientProcess::start_at(&addr, &["--tls-ca", &cert]);
    pinned.type_lines(&[QUIT]);
    assert!(pinned.finish_ok().stdout.contains("register"));

    let refused = ClientProcess::start_at(&addr, &["--tls"]).finish();
    assert!(!refused.status.success());
    for expected in ["it is self-signed", "needs --tls-ca FILE"] {
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
    }

    let refused = ClientProcess::start_at(&addr, &["--tls-ca", &other]).finish();
    assert!(!refused.status.success());
    for expected in [
        "it is self-signed",
        "given with --tls-ca is not this server's",
    ] {
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
    }
}

/// A key that belongs to another certificate (the old key after a renewal)
/// and a key file that holds no key stop the start with a line that says
/// so in plain words, not rustls's `KeyMismatch` or the PEM parser's "no
/// items found".
#[test]
fn a_key_that_does_not_fit_is_named_plainly() {
    let dir = tempfile::tempdir().expect("a directory");
    let other = tempfile::tempdir().expect("a directory");
    let first = TestCa::new(dir.path(), "first");
    let second = TestCa::new(other.path(), "second");
    let db = dir.path().join("chat.db");
    for (key, expected) in [
        (
            &second.key_pem,
            format!(
                "{} is not the private key of the certificate in {}",
                second.key_pem.display(),
                first.cert_pem.display()
            ),
        ),
        (
            &first.cert_pem,
            format!(
                "{}: cannot read the private key: no private key in it",
                first.cert_pem.display()
            ),
        ),
    ] {
        let output = run_to_exit(&[
            std::ffi::OsStr::new("--db"),
            db.as_os_str(),
            std::ffi::OsStr::new("--tls-cert"),
            first.cert_pem.as_os_str(),
            std::ffi::OsStr::new("--tls-key"),
            key.as_os_str(),
        ]);
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(!db.exists(), "no database was made");
    }
}
