//! The web front door through the real binary: the WebSocket transport at
//! `/ws` (with a tungstenite client) and the page's HTTP responses.

mod support;

use std::ffi::OsStr;
use std::time::Instant;

use serde_json::{Value, json};
use support::{
    Client, DEADLINE, Handshake, TestServer, WsClient, assert_status, http_request, run_to_exit,
};

/// The greeting comes first, as the same JSON as on TCP, in one text
/// message without a line feed.
#[test]
fn the_greeting_is_the_first_message() {
    let server = TestServer::start();
    let ws = server.connect_ws();
    let tcp = server.connect();
    assert_eq!(ws.greeting, tcp.greeting);
    assert_eq!(ws.greeting["status"], 200);
    assert_eq!(ws.greeting["data"]["server"], "pipechat");
}

/// Fields are escaped as on TCP: `|`, `\`, line feeds, quotes and other
/// text arrive as sent, whichever door they came in by.
#[test]
fn escaping_is_the_pipes() {
    let server = TestServer::start();
    let mut ws = server.ws_login_as("alice");
    assert_status(&ws.call("/createChatroom", &["a|b"]), 201);
    assert_status(&ws.call("/joinChatroom", &["a|b"]), 200);
    let text = "pipe | backslash \\ \"quoted\"\nsecond line é 🌊 <img src=x onerror=alert(1)>";
    let reply = ws.call("/sendMessage", &["a|b", text]);
    assert_status(&reply, 201);
    assert_eq!(reply["data"]["text"], text);
    assert_eq!(reply["data"]["room"], "a|b");
    let mut tcp = server.login_as("bob");
    tcp.join("a|b");
    let fetched = tcp.fetch_all("a|b");
    assert_eq!(fetched, [reply["data"].clone()]);
    // A raw `|` splits a field, exactly as on TCP.
    let split = ws.request("/sendMessage|a\\|b|this | that");
    assert_status(&split, 400);
    assert!(
        split["error"].as_str().unwrap().contains("usage"),
        "{split}"
    );
}

/// One reply per message, in order; an empty message is ignored as an
/// empty line is; a message is a request without its line feed, a trailing
/// CR dropped as on TCP.
#[test]
fn one_reply_per_message_in_order() {
    let server = TestServer::start();
    let mut ws = server.connect_ws();
    ws.send_text("");
    ws.send_text("/ping");
    ws.send_text("/nope");
    ws.send_text("/ping\r");
    assert_eq!(ws.response(), json!({"status": 200, "data": "pong"}));
    assert_status(&ws.response(), 400);
    assert_eq!(ws.response(), json!({"status": 200, "data": "pong"}));
    assert_status(&ws.request("/getAllChatrooms"), 401);
}

/// A text message of 65,536 bytes is a request; one byte more gets `413`
/// and the connection goes on, however large and however it is cut into
/// frames (read and dropped, never held whole); a binary one as large gets
/// `400`.
#[test]
fn oversize_messages_get_413_and_the_connection_goes_on() {
    let server = TestServer::start();
    let mut ws = server.ws_login_as("alice");
    assert_status(&ws.call("/createChatroom", &["big"]), 201);
    assert_status(&ws.call("/joinChatroom", &["big"]), 200);
    let prefix = "/sendMessage|big|";
    // At the limit: parsed, and refused for the text's own limit, not 413.
    let at_limit = format!("{prefix}{}", "x".repeat(65_536 - prefix.len()));
    assert_eq!(at_limit.len(), 65_536);
    let reply = ws.request(&at_limit);
    assert_status(&reply, 400);
    let over = format!("{at_limit}x");
    assert_status(&ws.request(&over), 413);
    assert_status(&ws.request(&"y".repeat(900_000)), 413);
    assert_eq!(ws.request("/ping")["data"], "pong");
    assert_status(&ws.request(&"z".repeat(5 * 1024 * 1024)), 413);
    assert_eq!(ws.request("/ping")["data"], "pong");
    // In pieces, its first one already over the limit: the same.
    ws.send_text_in_frames(&"q".repeat(3 * 1024 * 1024), 1024 * 1024);
    assert_status(&ws.response(), 413);
    assert_eq!(ws.request("/ping")["data"], "pong");
    // In pieces each within the limit, over it only together: the same.
    ws.send_text_in_frames(&"z".repeat(2 * 1024 * 1024), 60_000);
    assert_status(&ws.response(), 413);
    assert_eq!(ws.request("/ping")["data"], "pong");
    // Cut inside characters, and over the limit where one is cut: still
    // 413, not the end of the connection for text that is not UTF-8.
    for character in ["é", "€", "😀"] {
        let text = format!("{prefix}{}", character.repeat(70_000));
        ws.send_text_in_frames(&text, 65_535);
        assert_status(&ws.response(), 413);
        assert_eq!(ws.request("/ping")["data"], "pong");
    }
    // Within the limit in pieces cut inside characters: a request.
    let within = format!("{prefix}{}", "€".repeat(1000));
    ws.send_text_in_frames(&within, 7);
    let stored = ws.response();
    assert_status(&stored, 201);
    assert_eq!(stored["data"]["text"], "€".repeat(1000));
    // Others are unaffected.
    let mut other = server.connect_ws();
    assert_eq!(other.request("/ping")["data"], "pong");
}

/// A text message that is not UTF-8 ends the connection with 1007, as RFC
/// 6455 requires (it used to end without a close frame); others go on.
#[test]
fn a_text_message_that_is_not_utf8_is_closed_with_1007() {
    use std::io::Write;
    let server = TestServer::start();
    let mut ws = server.connect_ws();
    // By hand: tungstenite only sends valid text.
    ws.socket()
        .get_mut()
        .write_all(&client_frame(0x81, b"/ping\xff"))
        .expect("write a frame");
    assert_eq!(ws.closed_by_server(), Some(1007));
    let mut other = server.connect_ws();
    assert_eq!(other.request("/ping")["data"], "pong");
}

/// A frame RFC 6455 forbids a client ends the connection with 1002, in a
/// close frame that says why (it used to end without one); others go on.
#[test]
fn a_forbidden_frame_is_closed_with_1002() {
    use std::io::Write;
    let server = TestServer::start();
    let mut unmasked = vec![0x81, 5];
    unmasked.extend_from_slice(b"/ping");
    for (what, frame) in [
        ("unmasked", unmasked),
        ("a reserved bit set", client_frame(0xc1, b"/ping")),
        ("an unknown opcode", client_frame(0x83, b"/ping")),
        ("a fragmented ping", client_frame(0x09, b"x")),
    ] {
        let mut ws = server.connect_ws();
        ws.socket()
            .get_mut()
            .write_all(&frame)
            .expect("write a frame");
        assert_eq!(ws.closed_by_server(), Some(1002), "{what}");
    }
    let mut other = server.connect_ws();
    assert_eq!(other.request("/ping")["data"], "pong");
}

/// A client's frame of up to 125 bytes, masked, as written by hand: its
/// first byte (FIN, reserved bits, opcode) and payload.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![first, 0x80 | u8::try_from(payload.len()).unwrap()];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A binary message gets `400` and the connection goes on, however large.
#[test]
fn binary_messages_get_400() {
    let server = TestServer::start();
    let mut ws = server.connect_ws();
    for size in [5, 3 * 1024 * 1024] {
        ws.socket()
            .send(tungstenite::Message::binary(vec![b'/'; size]))
            .unwrap();
        let reply = ws.response();
        assert_status(&reply, 400);
        assert!(reply["error"].as_str().unwrap().contains("text"), "{reply}");
        assert_eq!(ws.request("/ping")["data"], "pong");
    }
}

/// A message that ends in a line feed (a client ported from TCP) is the
/// request before it, as a line is on TCP; a line feed alone, like an
/// empty line, gets no answer.
#[test]
fn a_line_feed_ending_a_message_ends_its_request() {
    let server = TestServer::start();
    let mut ws = server.ws_login_as("alice");
    assert_status(&ws.call("/createChatroom", &["general"]), 201);
    assert_status(&ws.call("/joinChatroom", &["general"]), 200);
    for text in ["/ping\n", "/ping\r\n", "\n", "/sendMessage|general|hi\n"] {
        ws.socket().send(tungstenite::Message::text(text)).unwrap();
    }
    assert_eq!(ws.response(), json!({"status": 200, "data": "pong"}));
    assert_eq!(ws.response(), json!({"status": 200, "data": "pong"}));
    let sent = ws.response();
    assert_status(&sent, 201);
    assert_eq!(sent["data"]["text"], "hi", "{sent}");
}

/// Events travel both ways between the doors: a WebSocket subscriber gets a
/// TCP sender's messages, joins and exits in order, and the reverse.
#[test]
fn events_cross_the_doors() {
    let server = TestServer::start();
    let mut tcp = server.login_as("alice");
    tcp.create_and_join("general");
    tcp.subscribe("general");
    let mut ws = server.ws_login_as("bob");
    assert_status(&ws.call("/joinChatroom", &["general"]), 200);
    assert_status(&ws.call("/subscribe", &["general"]), 200);

    let from_tcp = tcp.send("general", "hi from the pipe");
    let from_ws = ws.call("/sendMessage", &["general", "hi from the browser"]);
    assert_status(&from_ws, 201);
    let from_ws = from_ws["data"].clone();

    let seen_by_ws: Vec<Value> = (0..2).map(|_| ws.next_event()).collect();
    assert_eq!(
        seen_by_ws,
        [
            json!({"event": "message", "data": from_tcp}),
            json!({"event": "message", "data": from_ws}),
        ]
    );
    let seen_by_tcp: Vec<Value> = tcp
        .drain_events()
        .into_iter()
        .filter(|e| e["event"] == "message" || e["event"] == "join")
        .collect();
    assert_eq!(
        seen_by_tcp,
        [
            json!({"event": "join", "data": {"room": "general", "username": "bob"}}),
            json!({"event": "message", "data": from_tcp}),
            json!({"event": "message", "data": from_ws}),
        ]
    );
    assert_status(&ws.call("/exitChatroom", &["general"]), 200);
    assert_eq!(
        ws.next_event(),
        json!({"event": "exit", "data": {"room": "general", "username": "bob"}})
    );
    // Who is active counts WebSocket users too, and forgets them on close.
    assert_eq!(tcp.ok("/getActiveUsers"), json!(["alice", "bob"]));
    drop(ws);
    support::wait_until("bob is no longer active", || {
        tcp.ok("/getActiveUsers") == json!(["alice"])
    });
}

/// WebSocket connections count toward `--max-connections`: at the limit a
/// new one gets a `503` message and a close; a TCP one is refused too while
/// WebSockets hold the places. Page requests do not count.
#[test]
fn websockets_count_toward_the_connection_limit() {
    let server = TestServer::start_with(&["--max-connections", "2"]);
    let _tcp = server.connect();
    let ws = server.connect_ws();
    match WsClient::try_connect(server.web_addr(), None) {
        Handshake::Open(mut refused) => {
            let reply = refused.read_json().expect("a 503 message");
            assert_status(&reply, 503);
            assert_eq!(refused.closed_by_server(), Some(1013));
        }
        Handshake::Refused(status, body) => panic!("handshake refused: {status} {body}"),
    }
    let mut tcp = Client::connect_without_greeting(server.addr);
    assert_status(&tcp.read_json().expect("a 503 line"), 503);
    assert_eq!(http_request(server.web_addr(), "GET", "/", &[]).status, 200);
    drop(ws);
    support::wait_until("a place is free again", || {
        let mut again = Client::connect_without_greeting(server.addr);
        again.read_json().is_some_and(|g| g["status"] == 200)
    });
}

/// A page from another site cannot open a WebSocket (cross-site WebSocket
/// hijacking): its `Origin` is refused with `403` and no `101`. The page's
/// own origin, no origin at all, and an origin named by
/// `--http-allow-origin` are let in.
#[test]
fn foreign_origins_are_refused_unless_allowed() {
    let server = TestServer::start_with(&["--http-allow-origin", "https://chat.example.org"]);
    let web = server.web_addr();
    match WsClient::try_connect(web, Some("http://evil.example")) {
        Handshake::Refused(status, _) => assert_eq!(status, 403),
        Handshake::Open(_) => panic!("a foreign origin got a WebSocket"),
    }
    match WsClient::try_connect(web, Some(&format!("http://127.0.0.1:{}", web.port() + 1))) {
        Handshake::Refused(status, _) => assert_eq!(status, 403),
        Handshake::Open(_) => panic!("another port's origin got a WebSocket"),
    }
    let mut own = WsClient::connect(web, Some(&format!("http://{web}")));
    assert_eq!(own.request("/ping")["data"], "pong");
    let mut listed = WsClient::connect(web, Some("https://chat.example.org"));
    assert_eq!(listed.request("/ping")["data"], "pong");
    let mut none = WsClient::connect(web, None);
    assert_eq!(none.request("/ping")["data"], "pong");

    let plain = TestServer::start();
    match WsClient::try_connect(plain.web_addr(), Some("https://chat.example.org")) {
        Handshake::Refused(status, _) => assert_eq!(status, 403),
        Handshake::Open(_) => panic!("an origin that was not allowed got in"),
    }
}

/// The page's files carry a Content-Security-Policy without inline script,
/// `nosniff`, their `Cache-Control` and a charset; `HEAD` works, a matching
/// `If-None-Match` gets `304`.
#[test]
fn the_page_is_served_with_its_security_headers() {
    let server = TestServer::start();
    let web = server.web_addr();
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let reply = http_request(web, "GET", path, &[]);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), kind, "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert_eq!(reply.header("cache-control"), "no-cache");
        let csp = reply.header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(reply.header("content-length"), reply.body.len().to_string());
        assert!(!reply.body.is_empty());

        let head = http_request(web, "HEAD", path, &[]);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(head.header("content-length"), reply.body.len().to_string());

        let etag = reply.header("etag");
        let again = http_request(web, "GET", path, &[("If-None-Match", etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
    }
    let page = http_request(web, "GET", "/", &[]);
    let page = String::from_utf8(page.body).unwrap();
    assert!(page.contains("<script src=\"/app.js\""), "{page}");
}

/// FNV-1a 64 of `body`, quoted: the `ETag` the server gives a file.
fn fnv_etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// Each file keeps its `ETag` from one request to the next (hashed once,
/// not at each request), the FNV-1a hash of its body as ever; sent back in
/// `If-None-Match`, alone or in a list, it gets `304` with the same `ETag`
/// and no body, while another file's gets the file. With registration
/// closed the page has an `ETag` of its own, as stable, and the open
/// page's is no longer fresh there.
#[test]
fn each_file_keeps_its_etag_and_is_revalidated_with_304() {
    let open = TestServer::start();
    let closed = TestServer::start_with(&["--registration", "closed"]);
    let mut page_tags = Vec::new();
    for server in [&open, &closed] {
        let web = server.web_addr();
        let paths = ["/", "/app.js", "/style.css"];
        let mut tags = Vec::new();
        for path in paths {
            let first = http_request(web, "GET", path, &[]);
            assert_eq!(first.status, 200, "{path}");
            let etag = first.header("etag").to_string();
            assert_eq!(etag, fnv_etag(&first.body), "{path}");
            for _ in 0..3 {
                let again = http_request(web, "GET", path, &[]);
                assert_eq!(again.header("etag"), etag, "{path}");
                assert_eq!(again.body, first.body, "{path}");
            }
            for sent in [etag.clone(), format!("\"0123456789abcdef\", {etag}")] {
                let fresh = http_request(web, "GET", path, &[("If-None-Match", sent.as_str())]);
                assert_eq!(fresh.status, 304, "{path} {sent}");
                assert_eq!(fresh.header("etag"), etag, "{path}");
                assert!(fresh.body.is_empty(), "{path}");
            }
            tags.push(etag);
        }
        // Another file's ETag is not this one's.
        let stale = http_request(web, "GET", "/", &[("If-None-Match", tags[1].as_str())]);
        assert_eq!(stale.status, 200);
        assert!(!stale.body.is_empty());
        page_tags.push(tags[0].clone());
    }
    assert_ne!(page_tags[0], page_tags[1]);
    let open_page = http_request(
        closed.web_addr(),
        "GET",
        "/",
        &[("If-None-Match", page_tags[0].as_str())],
    );
    assert_eq!(open_page.status, 200);
}

/// With `--registration closed` the page's root element says so (the
/// page then offers no "Register"), the other files are as ever, and the
/// server's start-up log line says so too; an open server's page has no
/// such mark.
#[test]
fn the_page_is_marked_where_registration_is_closed() {
    let page_of = |server: &TestServer| {
        let reply = http_request(server.web_addr(), "GET", "/", &[]);
        assert_eq!(reply.status, 200);
        String::from_utf8(reply.body).unwrap()
    };
    let open = TestServer::start();
    assert!(!page_of(&open).contains("data-registration"));
    let closed = TestServer::start_with(&["--registration", "closed"]);
    let page = page_of(&closed);
    assert!(
        page.contains("<html lang=\"en\" data-registration=\"closed\">"),
        "{page}"
    );
    assert_eq!(
        http_request(closed.web_addr(), "GET", "/app.js", &[]).body,
        http_request(open.web_addr(), "GET", "/app.js", &[]).body
    );
    let until = Instant::now() + DEADLINE;
    while !closed.stderr().contains("registration closed") {
        assert!(Instant::now() < until, "{}", closed.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!open.stderr().contains("registration closed"));
}

/// Paths outside the embedded files are `404`, other methods `405`, and a
/// plain `GET /ws` without an upgrade `426`.
#[test]
fn unknown_paths_and_methods_are_refused() {
    let server = TestServer::start();
    let web = server.web_addr();
    for path in [
        "/nope",
        "/index.html",
        "/../Cargo.toml",
        "/web/app.js",
        "/ws/x",
        "/app.js/",
    ] {
        let reply = http_request(web, "GET", path, &[]);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert!(
            reply
                .header("content-security-policy")
                .contains("script-src 'self'")
        );
    }
    let post = http_request(web, "POST", "/", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), "GET, HEAD");
    assert_eq!(http_request(web, "GET", "/ws", &[]).status, 426);
    // A query string does not change the file.
    assert_eq!(http_request(web, "GET", "/app.js?v=2", &[]).status, 200);
}

/// SIGTERM closes WebSocket connections too (close code 1001, going away)
/// and the server exits 0.
#[test]
fn graceful_shutdown_closes_websockets() {
    let mut server = TestServer::start();
    let mut ws = server.ws_login_as("alice");
    assert_status(&ws.call("/createChatroom", &["general"]), 201);
    assert_status(&ws.call("/joinChatroom", &["general"]), 200);
    assert_status(&ws.call("/subscribe", &["general"]), 200);
    let idle = server.connect_ws();
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(ws.closed_by_server(), Some(1001));
    drop(idle);
}

/// A WebSocket subscriber that stops reading is disconnected once its
/// queue overflows; the sender and everyone else go on.
#[test]
fn a_websocket_that_never_reads_is_disconnected_under_a_flood() {
    const MOST_MESSAGES: usize = 3_000;
    let server = TestServer::start();
    let mut flooder = server.login_as("flooder");
    flooder.create_and_join("flood");
    let mut slow = server.ws_login_as("slow");
    assert_status(&slow.call("/joinChatroom", &["flood"]), 200);
    assert_status(&slow.call("/subscribe", &["flood"]), 200);
    let mut observer = server.login_as("observer");
    let big = "🌊".repeat(4096);
    let line = pipechat::pipe::request::request_line("/sendMessage", &["flood", &big]);
    let started = Instant::now();
    let mut sent = 0;
    let mut slow_gone = false;
    while sent < MOST_MESSAGES && started.elapsed() < DEADLINE {
        assert_status(&flooder.request(&line), 201);
        sent += 1;
        if sent % 50 == 0
            && !observer
                .ok("/getActiveUsers")
                .as_array()
                .unwrap()
                .contains(&json!("slow"))
        {
            slow_gone = true;
            break;
        }
    }
    assert!(
        slow_gone,
        "slow WebSocket still connected after {sent} sends"
    );
    assert_eq!(flooder.send("flood", "after")["text"], "after");
}

/// `--http off` prints no `web on` line and listens on no web port.
#[test]
fn http_off_serves_no_page() {
    let server = TestServer::start_with(&["--http", "off"]);
    assert!(server.web.is_none());
    let mut client = server.connect();
    assert_eq!(client.request("/ping")["data"], "pong");
}

/// An HTTP address that cannot be bound is a one-line error naming it and
/// a non-zero exit, before the database is touched.
#[test]
fn a_taken_http_port_leaves_no_database_behind() {
    if support::postgres::skip_on_postgres("whether a SQLite file was created") {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let output = run_to_exit(&[
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--http"),
        OsStr::new(&addr),
    ]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the folder gained {left:?}");
}

/// A request head that never finishes is dropped after `--line-timeout`,
/// while the page keeps being served to others.
#[test]
fn a_stalled_request_head_times_out() {
    use std::io::{Read, Write};
    let server = TestServer::start_with(&["--line-timeout", "1"]);
    let mut stalled = std::net::TcpStream::connect(server.web_addr()).unwrap();
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert_eq!(http_request(server.web_addr(), "GET", "/", &[]).status, 200);
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(started.elapsed() < DEADLINE);
}
