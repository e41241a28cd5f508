//! One HTTP connection: its request head, and either the WebSocket at `/ws`
//! or one embedded file.
//!
//! With `--tls-cert`, the connection's TLS handshake comes first and
//! everything after goes through its [`Link`]. The head is read and parsed
//! with `httparse`: a WebSocket upgrade then goes to tungstenite's handshake
//! with the bytes read put back, and every other request is answered with
//! one response, whose head tungstenite's `write_response` writes, and
//! `Connection: close`. `/health` and `/metrics` are for operators.

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::handshake::server::write_response;
use tungstenite::http::{Response, StatusCode, header};

use super::assets::{Asset, CACHE_CONTROL};
use super::{WEBSOCKET_PATH, Web};
use crate::arrivals::Arrival;
use crate::closing::{at_most_until, drain_then_close};
use crate::metrics::metrics;
use crate::tls::{Link, is_wait};

/// Answers 200 while the database answers, 503 otherwise: for load
/// balancers and service monitors.
pub const HEALTH_PATH: &str = "/health";
/// The server's counters in the Prometheus text format.
pub const METRICS_PATH: &str = "/metrics";

/// The largest request head accepted; a longer one gets `431`.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How many headers a request may have.
const MAX_HEADERS: usize = 64;
/// How long a response may take to write before the client is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long what a client sends after its answer is read and dropped (see
/// `closing`).
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// How much of the path the log line of a redirect to `https://` shows.
const LOGGED_PATH_CHARS: usize = 200;

/// What every response carries. The page loads only its own script and
/// style (no inline script, no `eval`), talks only to its own server
/// (`ws:`/`wss:` are needed because `'self'` does not cover WebSocket
/// schemes in every browser), and cannot be framed by another site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why no request head could be read.
#[derive(Debug)]
enum HeadError {
    /// The client closed or sent nothing parseable in time.
    Gone,
    TimedOut,
    TooLarge,
    Malformed,
    Io(std::io::Error),
}

/// A request head, parsed from the bytes read.
pub(crate) struct Head {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    /// The request target as sent, query string and all.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first header called `name`, as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// Every header called `name` that is text, in order.
    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .filter_map(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The header called `name` when there is exactly one, as text: `None`
    /// when it is missing, not text, or sent twice (for `Host`, RFC 9112
    /// makes that a `400`).
    fn only_header(&self, name: &str) -> Option<&str> {
        let mut named = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        let (_, value) = named.next()?;
        match named.next() {
            Some(_) => None,
            None => std::str::from_utf8(value).ok(),
        }
    }

    /// Whether the client asks for a WebSocket (`Upgrade: websocket`).
    fn wants_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"))
    }
}

/// Serves one accepted HTTP connection on its own thread.
pub(crate) fn serve(mut link: Link, peer: SocketAddr, arrival: Option<Arrival>, web: &Web) {
    let head = read_head(&mut link, web.line_timeout);
    // The head is in (or will not be): what is left is quick, or a
    // WebSocket that counts toward `--max-connections`.
    drop(arrival);
    let (head, read) = match head {
        Ok(head) => head,
        Err(HeadError::TooLarge) => {
            return answer(
                &link,
                None,
                plain(
                    StatusCode::from_u16(431).unwrap_or(StatusCode::BAD_REQUEST),
                    "request head too large\n",
                ),
            );
        }
        Err(HeadError::Malformed) => {
            return answer(
                &link,
                None,
                plain(StatusCode::BAD_REQUEST, "malformed request\n"),
            );
        }
        Err(HeadError::TimedOut) => {
            log::info!(
                "{peer}: dropped, an HTTP request head stayed unfinished for {:?}",
                web.line_timeout
            );
            return;
        }
        Err(HeadError::Gone) => return,
        Err(HeadError::Io(err)) => {
            log::debug!("{peer}: {err}");
            return;
        }
    };
    log::debug!("{peer}: {} {}", head.method, head.path);
    if head.path == WEBSOCKET_PATH && head.method == "GET" && head.wants_websocket() {
        // The handshake reads the request itself.
        link.unread(&read);
        super::socket::serve(link, peer, web);
        return;
    }
    let response = respond(&head, web);
    answer(&link, Some(&head), response);
}

/// Answers a plain HTTP request that came to the HTTPS listener (a browser
/// given `http://` for this port) in plain HTTP, all within `timeout`, the
/// write and the drain after it too: `301` to the same address and path
/// over `https://`, as nginx's `497` handling is usually set up to do, or,
/// without a usable `Host` header to build that address from, a `400`
/// saying to use `https://`. `no-store`, so that a browser does not keep
/// sending this port's `http://` address to `https://` after the server's
/// TLS is turned off. A request a reverse proxy forwarded after ending TLS
/// itself (`X-Forwarded-Proto: https`, `Forwarded: proto=https`) gets a
/// `400` saying so instead: its browser is on `https://` already, and a
/// redirect there would come back here for ever.
pub(crate) fn send_to_https(mut link: Link, peer: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let use_https = || {
        plain(
            StatusCode::BAD_REQUEST,
            "this port speaks HTTPS: use an https:// address\n",
        )
    };
    let (head, _) = match read_head(&mut link, timeout) {
        Ok(head) => head,
        Err(HeadError::TooLarge | HeadError::Malformed) => {
            log::info!("{peer}: plain text at the HTTPS port; told to use https://");
            return answer_by(&link, None, use_https(), Some(deadline));
        }
        Err(HeadError::TimedOut) => {
            log::info!(
                "{peer}: dropped, a plain HTTP request head at the HTTPS port stayed \
                 unfinished for {timeout:?}"
            );
            return;
        }
        Err(HeadError::Gone) => return,
        Err(HeadError::Io(err)) => {
            log::debug!("{peer}: {err}");
            return;
        }
    };
    if forwarded_from_https(&head) {
        log::info!(
            "{peer}: plain HTTP at the HTTPS port from a proxy that ends TLS; told to point \
             it at https:// or turn off the server's TLS"
        );
        let response = plain(StatusCode::BAD_REQUEST, BEHIND_A_PROXY);
        return answer_by(&link, Some(&head), response, Some(deadline));
    }
    let Some(location) = https_location(&head) else {
        log::info!("{peer}: plain HTTP at the HTTPS port; told to use https://");
        return answer_by(&link, Some(&head), use_https(), Some(deadline));
    };
    log::info!(
        "{peer}: plain HTTP at the HTTPS port; redirected to {}",
        location.logged()
    );
    let url = location.url();
    let mut response = plain(
        StatusCode::MOVED_PERMANENTLY,
        &format!("this port speaks HTTPS: {url}\n"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    answer_by(&link, Some(&head), response, Some(deadline));
}

/// The answer to plain HTTP that a reverse proxy forwarded to the HTTPS
/// listener after ending TLS itself.
const BEHIND_A_PROXY: &str = "this port speaks HTTPS itself, and a proxy that ends TLS sent \
     it plain HTTP: point the proxy at https:// (its upstream), or turn off the server's TLS \
     (--tls-cert)\n";

/// Whether a proxy in front says its client came over `https://`
/// (`X-Forwarded-Proto: https`, or `proto=https` in a `Forwarded` element,
/// RFC 7239), any hop of several.
fn forwarded_from_https(head: &Head) -> bool {
    let https = |value: &str| value.trim().trim_matches('"').eq_ignore_ascii_case("https");
    head.headers_named("x-forwarded-proto")
        .any(|value| value.split(',').any(https))
        || head.headers_named("forwarded").any(|value| {
            value.split([',', ';']).any(|pair| {
                pair.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("proto") && https(value)
                })
            })
        })
}

/// Where a plain HTTP request to the HTTPS listener is sent: the request's
/// `Host` and target over `https://`.
#[derive(Debug, PartialEq, Eq)]
struct HttpsLocation<'a> {
    host: &'a str,
    target: &'a str,
}

impl HttpsLocation<'_> {
    fn url(&self) -> String {
        format!("https://{}{}", self.host, self.target)
    }

    /// [`HttpsLocation::url`] for the log: the path without its query (the
    /// client's to fill, up to the head's 8 KiB), and at most
    /// [`LOGGED_PATH_CHARS`] of it, `…` marking a cut.
    fn logged(&self) -> String {
        let path = self.target.split(['?', '#']).next().unwrap_or("/");
        let mut shown: String = path.chars().take(LOGGED_PATH_CHARS).collect();
        if shown.len() < path.len() {
            shown.push('…');
        }
        format!("https://{}{shown}", self.host)
    }
}

/// The request's `Host` (its port too: the same listener speaks HTTPS) and
/// target, or `None` when `Host` is missing, sent twice, or not a plain
/// host name or address: it is echoed into a header and the log. A target
/// that is not a path (`*`, a proxy's absolute URL) or holds anything but
/// visible ASCII becomes `/`.
fn https_location(head: &Head) -> Option<HttpsLocation<'_>> {
    let host = head.only_header("host")?.trim();
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    if !host_ok {
        return None;
    }
    let target =
        match head.target.starts_with('/') && head.target.bytes().all(|b| b.is_ascii_graphic()) {
            true => head.target.as_str(),
            false => "/",
        };
    Some(HttpsLocation { host, target })
}

/// Reads until a complete request head has arrived, for at most `timeout`;
/// returns it and every byte read (which may go past the head).
fn read_head(link: &mut Link, timeout: Duration) -> Result<(Head, Vec<u8>), HeadError> {
    let started = Instant::now();
    let mut read = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(HeadError::TimedOut);
        }
        link.stream()
            .set_read_timeout(Some(left))
            .map_err(HeadError::Io)?;
        let room = (MAX_HEAD_BYTES + 1 - read.len()).min(chunk.len());
        match link.read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => read.extend_from_slice(&chunk[..n]),
            Err(err) if is_wait(&err) => continue,
            Err(err) => return Err(HeadError::Io(err)),
        }
        let seen = read.len().min(MAX_HEAD_BYTES);
        match parse_head(&read[..seen])? {
            Some(head) => {
                link.stream()
                    .set_read_timeout(None)
                    .map_err(HeadError::Io)?;
                return Ok((head, read));
            }
            None if read.len() > MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
            None => {}
        }
    }
}

/// The head at the start of `bytes`, or `None` while it is incomplete.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    }
    let target = request.path.unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Ok(Some(Head {
        method: request.method.unwrap_or("").to_string(),
        path,
        target: target.to_string(),
        headers: request
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
    }))
}

/// The response to a request that is not a WebSocket upgrade.
fn respond(head: &Head, web: &Web) -> Response<Vec<u8>> {
    if head.method != "GET" && head.method != "HEAD" {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if head.path == WEBSOCKET_PATH {
        let mut response = plain(
            StatusCode::UPGRADE_REQUIRED,
            "this is the WebSocket endpoint; open / in a browser\n",
        );
        response.headers_mut().insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        return response;
    }
    if head.path == HEALTH_PATH {
        return if web.chat.database_reachable() {
            plain(StatusCode::OK, "ok\n")
        } else {
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be reached\n",
            )
        };
    }
    if head.path == METRICS_PATH {
        let (content_type, text) = metrics().render();
        let mut response = plain(StatusCode::OK, "");
        *response.body_mut() = text;
        if let Ok(value) = header::HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        return response;
    }
    let Some(asset) = Asset::find(&head.path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let served = asset.served(web.chat.registration_open());
    let fresh = head.header("if-none-match").is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim() == served.etag || tag.trim() == "*")
    });
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else {
        (StatusCode::OK, served.body.to_vec())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(value) = header::HeaderValue::from_str(served.etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A short plain-text response.
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Vec<u8>> {
    let mut response = Response::new(text.as_bytes().to_vec());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Adds the headers every response carries to `response`.
pub(crate) fn add_common_headers<T>(response: &mut Response<T>, body_len: usize) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(body_len));
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
}

/// Writes `response` (its body left out for `HEAD` and `304`) and closes
/// the connection gently: the client gets to read all of it.
fn answer(link: &Link, head: Option<&Head>, response: Response<Vec<u8>>) {
    answer_by(link, head, response, None);
}

/// [`answer`], done by `deadline` when there is one: the write and the
/// drain get what is left of it, and nothing is sent once it has passed.
/// (The write timeout bounds each write; an answer of a few hundred bytes
/// goes in one.)
fn answer_by(
    link: &Link,
    head: Option<&Head>,
    mut response: Response<Vec<u8>>,
    deadline: Option<Instant>,
) {
    let body_len = response.body().len();
    add_common_headers(&mut response, body_len);
    let mut out = Vec::with_capacity(512 + body_len);
    if let Err(err) = write_response(&mut out, &response) {
        log::error!("cannot format an HTTP response: {err}");
        return;
    }
    let head_only = head.is_some_and(|head| head.method == "HEAD")
        || response.status() == StatusCode::NOT_MODIFIED;
    if !head_only {
        out.extend_from_slice(response.body());
    }
    let stream = link.stream();
    let write_for = at_most_until(WRITE_TIMEOUT, deadline);
    if write_for.is_zero() {
        return;
    }
    let _ = stream.set_write_timeout(Some(write_for));
    if link.send(&out).is_err() {
        return;
    }
    link.send_close_notify();
    drain_then_close(stream, at_most_until(DRAIN_FOR, deadline), 64 * 1024);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn heads_parse_only_when_complete() {
        assert!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
        let head = parse_head(b"GET /app.js?v=1 HTTP/1.1\r\nHost: x\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(head.path, "/app.js");
        assert_eq!(head.header("HOST"), Some("x"));
        assert!(matches!(
            parse_head(b"\x01\x02 nonsense\r\n\r\n"),
            Err(HeadError::Malformed)
        ));
    }

    /// The redirect keeps the host with its port and the target, and
    /// echoes nothing that is not a plain host name or a visible path.
    #[test]
    fn https_locations_echo_only_plain_hosts_and_paths() {
        let location = |request: &str| {
            https_location(&parse_head(request.as_bytes()).unwrap().unwrap())
                .map(|location| location.url())
        };
        assert_eq!(
            location("GET /a/b?c=d HTTP/1.1\r\nHost: chat.example.org:8443\r\n\r\n").as_deref(),
            Some("https://chat.example.org:8443/a/b?c=d")
        );
        assert_eq!(
            location("GET / HTTP/1.1\r\nHost: [::1]:8081\r\n\r\n").as_deref(),
            Some("https://[::1]:8081/")
        );
        assert_eq!(
            location("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").as_deref(),
            Some("https://h/")
        );
        assert_eq!(
            location("GET http://elsewhere/x HTTP/1.1\r\nHost: h\r\n\r\n").as_deref(),
            Some("https://h/")
        );
        assert_eq!(location("GET / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(location("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), None);
        assert_eq!(location("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), None);
        assert_eq!(location("GET / HTTP/1.1\r\nHost: \r\n\r\n"), None);
        assert_eq!(
            location("GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n"),
            None
        );
    }

    /// The log shows where a client was sent without the query, and a
    /// long path only in part.
    #[test]
    fn the_logged_location_has_no_query_and_a_bounded_path() {
        let logged = |target: &str| {
            HttpsLocation {
                host: "h.example:8443",
                target,
            }
            .logged()
        };
        assert_eq!(logged("/app.js?v=2&x=y"), "https://h.example:8443/app.js");
        assert_eq!(logged("/a#b"), "https://h.example:8443/a");
        assert_eq!(logged("/"), "https://h.example:8443/");
        let long = format!("/{}?{}", "p".repeat(300), "q".repeat(8000));
        assert_eq!(
            logged(&long),
            format!(
                "https://h.example:8443/{}…",
                "p".repeat(LOGGED_PATH_CHARS - 1)
            )
        );
    }

    /// A proxy that ended TLS says so in either header, in any case, as any
    /// hop of several; `http` or no such header is not that.
    #[test]
    fn a_proxy_that_ended_tls_is_recognised() {
        let forwarded = |headers: &str| {
            let request = format!("GET / HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
            forwarded_from_https(&parse_head(request.as_bytes()).unwrap().unwrap())
        };
        assert!(forwarded("X-Forwarded-Proto: https\r\n"));
        assert!(forwarded("x-forwarded-proto: HTTPS\r\n"));
        assert!(forwarded("X-Forwarded-Proto: http, https\r\n"));
        assert!(forwarded(
            "Forwarded: for=192.0.2.60;proto=https;by=203.0.113.43\r\n"
        ));
        assert!(forwarded(
            "Forwarded: for=192.0.2.60, for=\"[2001:db8::1]\";Proto=\"https\"\r\n"
        ));
        assert!(forwarded("Forwarded: for=a\r\nForwarded: proto=https\r\n"));
        assert!(!forwarded(""));
        assert!(!forwarded("X-Forwarded-Proto: http\r\n"));
        assert!(!forwarded("Forwarded: for=192.0.2.60;proto=http\r\n"));
        assert!(!forwarded("Forwarded: for=https\r\n"));
    }

    /// The answer to plain HTTP at the HTTPS port ends within the time it
    /// is given (what is left of the handshake's deadline), drain
    /// included, though the client keeps its end open.
    #[test]
    fn the_answer_to_plain_http_ends_within_its_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        client
            .write_all(b"GET /x?y HTTP/1.1\r\nHost: h.example\r\n\r\n")
            .unwrap();
        let started = Instant::now();
        let peer = "192.0.2.1:40001".parse().unwrap();
        send_to_https(Link::new(server, None), peer, Duration::from_millis(100));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(900), "{took:?}");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 301 "), "{got}");
        assert!(got.contains("https://h.example/x?y"), "{got}");
    }

    /// A head that arrives in two pieces is waited for, and the bytes read
    /// come back with it, past the head too.
    #[test]
    fn a_head_split_across_writes_is_read_whole() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let watched = Arc::clone(&server);
        let writer = std::thread::spawn(move || {
            client.write_all(b"GET /style.css HTTP/1.1\r\nHo").unwrap();
            // The second piece only once the first has been read: the head
            // is then surely read in two pieces.
            let deadline = Instant::now() + Duration::from_secs(10);
            while rustix::io::ioctl_fionread(&*watched).unwrap() > 0 {
                assert!(Instant::now() < deadline, "the first piece was never read");
                std::thread::yield_now();
            }
            client.write_all(b"st: example\r\n\r\nearly").unwrap();
            client
        });
        let mut link = Link::new(server, None);
        let (head, read) = read_head(&mut link, Duration::from_secs(10)).unwrap();
        assert_eq!(head.path, "/style.css");
        assert!(read.starts_with(b"GET /style.css"));
        assert!(read.ends_with(b"\r\n\r\nearly"), "{read:?}");
        drop(writer.join().unwrap());
    }

    #[test]
    fn a_stalled_head_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let started = Instant::now();
        let mut link = Link::new(Arc::new(server), None);
        let got = read_head(&mut link, Duration::from_millis(300));
        assert!(matches!(got, Err(HeadError::TimedOut)), "{:?}", got.err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
