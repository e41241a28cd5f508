//! The socket to the server: requests out, and a reader thread that sorts what
//! comes back into replies and pushed events.
//!
//! Events may arrive between any two replies, so one thread reads every line
//! and sends it down one of two channels; [`Connection::call`] waits on the
//! reply channel only (one caller at a time: the user's thread and the feed,
//! which marks messages read, both call), and the feed thread
//! ([`super::feed`]) takes the event channel. When
//! the server goes away, the reader thread ends and drops its senders, which is
//! how every waiting side learns of it ([`Connection::closed`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::de::DeserializeOwned;

use super::DEFAULT_PORT;
use super::error::{ClientError, ErrorReply, shown_cut};
use super::incoming::{PushedEvent, Reply, ServerLine};
use crate::pipe::request::request_line;
use crate::tls::{self, ClientRoots, Link, TlsChannel};
use crate::wire::SPEAKS_TLS;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the greeting may be awaited before the client asks the other
/// side something: a pipechat server greets as soon as it accepts, and a web
/// server (above all pipechat's own web port) says nothing until asked.
const PROBE_AFTER: Duration = Duration::from_secs(1);

/// What the client asks a silent server: an HTTP request, which a web server
/// answers at once. A pipechat server that was merely slow to greet answers
/// it too, after its greeting, with one `400` (a request starts with `/`),
/// which is read, checked and dropped (`Connection::take_probe_reply`);
/// the empty line after it gets no reply. An IRC server answers it too,
/// with an IRC message.
const PROBE: &[u8] = b"HEAD / HTTP/1.0\r\n\r\n";

/// How long a request may wait for its reply before the server counts as hung.
/// Generous: a login hashes a password, and a busy server queues writes.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Never sent: the reader thread drops its sender when the connection ends,
/// and that disconnection is the signal.
pub enum Closed {}

/// A reply, or the text of a line that was neither a reply nor an event.
type ReplyOrJunk = Result<Answer, String>;

/// A reply with the start of the line it came in. The data of a reply the
/// client cannot take does not say what the server sent (`{"status":200}`
/// has none, and would be shown as `null`), so an error quotes the line.
struct Answer {
    reply: Reply,
    /// A success's first [`QUOTED_CHARS`] characters and one more (for
    /// [`shown_cut`] to tell that it goes on); empty for a refusal, which
    /// is never quoted.
    line: String,
}

/// The most of a line an error quotes.
const QUOTED_CHARS: usize = 200;

/// What [`Answer::line`] keeps of `text`.
fn quoted_prefix(text: &str) -> String {
    let end = text
        .char_indices()
        .nth(QUOTED_CHARS + 1)
        .map_or(text.len(), |(at, _)| at);
    text[..end].to_owned()
}

/// A connected, greeted session with a pipechat server.
pub struct Connection {
    addr: String,
    stream: Arc<TcpStream>,
    /// The TLS channel requests are sealed with, for `--tls`.
    tls: Option<Arc<TlsChannel>>,
    replies: Receiver<ReplyOrJunk>,
    events: Receiver<PushedEvent>,
    closed: Receiver<Closed>,
    /// Held from writing a request until its reply is in, so that two
    /// threads (the user's and the feed's) never take each other's replies.
    calls: Mutex<()>,
}

impl Connection {
    /// Connects to `addr`, starts the reader thread and checks the greeting.
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] when nothing answers, [`ClientError::Refused`]
    /// when the server is full (`503`), [`ClientError::WebPort`] when it
    /// answers HTTP, [`ClientError::SpeaksTls`] when it speaks TLS and `tls`
    /// is `None`, [`ClientError::IrcPort`] when it speaks IRC,
    /// [`ClientError::NotPipechat`] when it says anything else
    /// than pipechat's greeting, [`ClientError::NoGreeting`] when it says
    /// nothing.
    /// With `tls`, the connection is TLS, verified against those roots;
    /// [`ClientError::Tls`] when that fails.
    pub fn open(addr: &str, tls: Option<&ClientRoots>) -> Result<Connection, ClientError> {
        let stream = Arc::new(connect(addr)?);
        let tls = match tls {
            Some(roots) => Some(open_tls(addr, &stream, roots)?),
            None => None,
        };
        let reader = Link::new(Arc::clone(&stream), tls.clone()).patient();
        let (reply_sender, replies) = crossbeam_channel::unbounded();
        let (event_sender, events) = crossbeam_channel::unbounded();
        let (closed_sender, closed) = crossbeam_channel::bounded(0);
        std::thread::Builder::new()
            .name("server-reader".to_string())
            .spawn(move || read_server_lines(reader, reply_sender, event_sender, closed_sender))
            .map_err(|source| connect_error(addr, source))?;
        let connection = Connection {
            addr: addr.to_string(),
            stream,
            tls,
            replies,
            events,
            closed,
            calls: Mutex::new(()),
        };
        connection.check_greeting()?;
        Ok(connection)
    }

    /// The address as the user gave it, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request built from raw fields (escaped here through
    /// [`request_line`]) and decodes the `data` of its reply as `T`; use
    /// [`serde::de::IgnoredAny`] when the data does not matter.
    ///
    /// # Errors
    ///
    /// The outer error ends the session (connection lost, no reply, a reply
    /// that is not what the protocol promises); the inner one is the server's
    /// refusal, to be shown and carried on from.
    pub fn call<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Result<T, ErrorReply>, ClientError> {
        let mut line = request_line(command, fields);
        line.push('\n');
        let _turn = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        self.send(line.as_bytes()).map_err(|_| self.lost())?;
        let answer = self.next_reply()?;
        match answer.reply {
            Ok(data) => match T::deserialize(&data) {
                Ok(decoded) => Ok(Ok(decoded)),
                Err(_) => Err(self.malformed(answer.line)),
            },
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.tls {
            Some(tls) => tls.seal_and_write(&self.stream, bytes),
            None => (&*self.stream).write_all(bytes),
        }
    }

    /// Every event pushed to this connection, in the order it came.
    pub fn events(&self) -> &Receiver<PushedEvent> {
        &self.events
    }

    /// Becomes ready (disconnected) once the server has gone away.
    pub fn closed(&self) -> &Receiver<Closed> {
        &self.closed
    }

    /// The error for a server that went away.
    pub fn lost(&self) -> ClientError {
        ClientError::LostConnection {
            addr: self.addr.clone(),
        }
    }

    fn malformed(&self, line: String) -> ClientError {
        ClientError::Malformed {
            addr: self.addr.clone(),
            line: shown_cut(&line, QUOTED_CHARS),
        }
    }

    fn next_reply(&self) -> Result<Answer, ClientError> {
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(junk)) => Err(self.malformed(junk)),
            Err(RecvTimeoutError::Disconnected) => Err(self.lost()),
            Err(RecvTimeoutError::Timeout) => Err(ClientError::NoReply {
                addr: self.addr.clone(),
                waited: REPLY_TIMEOUT,
            }),
        }
    }

    /// The greeting is waited for only as long as connecting may take; a
    /// server still silent after [`PROBE_AFTER`] is sent [`PROBE`], so that
    /// a web server (the web port given for the chat port) or a TLS one
    /// (without `--tls`) gives itself away at once rather than after the
    /// whole wait.
    fn check_greeting(&self) -> Result<(), ClientError> {
        let started = Instant::now();
        let mut probed = false;
        let first = match self.replies.recv_timeout(PROBE_AFTER) {
            Err(RecvTimeoutError::Timeout) => {
                probed = self.send(PROBE).is_ok();
                self.replies
                    .recv_timeout(CONNECT_TIMEOUT.saturating_sub(started.elapsed()))
            }
            other => other,
        };
        let greeting = match first {
            Ok(Ok(answer)) => answer,
            Ok(Err(junk)) => return Err(self.not_pipechat(&junk)),
            Err(_) => return Err(self.silent()),
        };
        match greeting.reply {
            Ok(data) if data["server"] == "pipechat" => match probed {
                true => self.take_probe_reply(),
                false => Ok(()),
            },
            Ok(_) => Err(self.not_pipechat(&greeting.line)),
            // A pipechat server greets before it reads; a `400` in place of
            // the greeting that says so is its TLS port answering the
            // probe, sent in plain text. Any other is shown as it came.
            Err(refusal)
                if refusal.status == 400
                    && refusal.sentence.starts_with(SPEAKS_TLS)
                    && self.tls.is_none() =>
            {
                Err(ClientError::SpeaksTls {
                    addr: self.addr.clone(),
                })
            }
            Err(refusal) => Err(ClientError::Refused {
                addr: self.addr.clone(),
                sentence: refusal.sentence,
            }),
        }
    }

    /// Takes a pipechat server's reply to [`PROBE`], which nobody else is
    /// waiting for, and makes sure it is the `400` expected. Left in the
    /// channel, or dropped unchecked when it is something else, a reply
    /// would be taken for the next request's: the first is `/resume` after
    /// a reconnection, and a `400` or `401` to that deletes the saved login
    /// (`reconnect`). A success is no answer to the probe (the server is
    /// out of step: not pipechat as this client knows it); another refusal
    /// is the server's word on this connection.
    fn take_probe_reply(&self) -> Result<(), ClientError> {
        let answer = self.next_reply()?;
        match answer.reply {
            Err(refusal) if refusal.status == 400 => Ok(()),
            Ok(_) => Err(self.malformed(answer.line)),
            Err(refusal) => Err(ClientError::Refused {
                addr: self.addr.clone(),
                sentence: refusal.sentence,
            }),
        }
    }

    /// A server that said nothing, even when asked.
    fn silent(&self) -> ClientError {
        ClientError::NoGreeting {
            addr: self.addr.clone(),
            hint: if self.tls.is_some() {
                "; is it pipechat's chat port (the server's \"listening on\" address, \
                 not its web port)?"
            } else {
                "; is it pipechat's chat port (the server's \"listening on\" address, \
                 not its web port)? If it speaks TLS, connect with --tls (or --tls-ca FILE)"
            },
        }
    }

    /// The error for a first line (`said`) that is not pipechat's greeting:
    /// an HTTP response is a web server's, the bytes of a TLS record a TLS
    /// server's (spoken to without `--tls`), an IRC message an IRC
    /// server's; anything else is shown.
    fn not_pipechat(&self, said: &str) -> ClientError {
        let addr = self.addr.clone();
        if said.starts_with("HTTP/") {
            let scheme = if self.tls.is_some() { "https" } else { "http" };
            return ClientError::WebPort {
                try_instead: try_chat_port(&addr),
                url: format!("{scheme}://{addr}/"),
                addr,
            };
        }
        // A TLS record: an alert (21) or a handshake (22), version 3.x.
        let mut bytes = said.chars();
        if self.tls.is_none()
            && matches!(bytes.next(), Some('\u{15}' | '\u{16}'))
            && bytes.next() == Some('\u{3}')
        {
            return ClientError::SpeaksTls { addr };
        }
        if looks_like_irc(said) {
            return ClientError::IrcPort {
                try_instead: try_chat_port(&addr),
                addr,
            };
        }
        const SHOWN_CHARS: usize = 80;
        ClientError::NotPipechat {
            addr,
            said: shown_cut(said, SHOWN_CHARS),
        }
    }
}

/// `: try --server HOST:8080`, after naming the chat port's usual place,
/// or nothing when `addr` is that place already (pipechat's web page, say,
/// moved there).
fn try_chat_port(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((_, port)) if port == DEFAULT_PORT.to_string() => String::new(),
        _ => format!(": try --server {}:{DEFAULT_PORT}", host_with_brackets(addr)),
    }
}

/// Whether `line` reads as a message from an IRC server: one with a
/// source (`:pipechat 451 * :You have not registered`, the reply of
/// pipechat's own IRC door to the probe; `:irc.example.net NOTICE * :...`,
/// which many servers say first), or a `NOTICE` or an `ERROR :` without
/// one. Other lines without a source are left alone: too many protocols
/// start with a word in capitals.
fn looks_like_irc(line: &str) -> bool {
    let (sourced, rest) = match line.strip_prefix(':') {
        Some(rest) => match rest.split_once(' ') {
            Some((source, rest)) if !source.is_empty() => (true, rest),
            _ => return false,
        },
        None => (false, line),
    };
    let Some((command, params)) = rest.split_once(' ') else {
        return false;
    };
    let numeric = command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit());
    let word = !command.is_empty() && command.bytes().all(|b| b.is_ascii_uppercase());
    match sourced {
        true => (numeric || word) && !params.is_empty(),
        false => match command {
            "NOTICE" => !params.is_empty(),
            "ERROR" => params.starts_with(':'),
            _ => false,
        },
    }
}

/// The host of `host:port` as it goes before another port: `[::1]` keeps
/// its brackets.
fn host_with_brackets(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

/// The host part of `host:port` as a name to connect to or verify
/// (`[::1]:8080` gives `::1`).
fn host_of(addr: &str) -> &str {
    host_with_brackets(addr)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

impl Drop for Connection {
    /// Closing the socket ends the reader thread, which is blocked reading it.
    fn drop(&mut self) {
        if let Some(tls) = &self.tls {
            let _ = tls.seal_and_write(&self.stream, &tls.close());
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The DNS names a certificate was issued for, as an error shows them:
/// `" (it names a, b)"`, printable characters only (the server chose them),
/// at most a few; empty when there are none. rustls hands them over as
/// webpki writes them for debugging, `DnsName("chat.example.org")`.
fn shown_names(presented: &[String]) -> String {
    const MOST: usize = 4;
    let dns_names: Vec<&str> = presented
        .iter()
        .filter_map(|name| name.strip_prefix("DnsName(\"")?.strip_suffix("\")"))
        .collect();
    let names: Vec<String> = dns_names
        .iter()
        .take(MOST)
        .map(|name| name.chars().filter(|c| !c.is_control()).take(64).collect())
        .collect();
    match names.len() {
        0 => String::new(),
        _ if dns_names.len() > MOST => format!(" (it names {}, ...)", names.join(", ")),
        _ => format!(" (it names {})", names.join(", ")),
    }
}

/// The TLS handshake with the server at `addr`, as one clear error if it
/// fails: above all, a certificate that does not verify is refused.
fn open_tls(
    addr: &str,
    stream: &TcpStream,
    roots: &ClientRoots,
) -> Result<Arc<TlsChannel>, ClientError> {
    let host = host_of(addr);
    tls::connect(stream, host, roots, CONNECT_TIMEOUT).map_err(|err| {
        let reason = match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::InvalidCertificate(why)) => {
                use rustls::CertificateError as Why;
                let wrong_name = matches!(
                    why,
                    Why::NotValidForName | Why::NotValidForNameContext { .. }
                );
                let names = match why {
                    Why::NotValidForNameContext { presented, .. } => shown_names(presented),
                    _ => String::new(),
                };
                let why = match why {
                    Why::UnknownIssuer => {
                        "an authority this client does not trust signed it".to_string()
                    }
                    Why::NotValidForName | Why::NotValidForNameContext { .. } => {
                        format!("it was not issued for {host}{names}")
                    }
                    Why::Expired | Why::ExpiredContext { .. } => "it has expired".to_string(),
                    Why::NotValidYet | Why::NotValidYetContext { .. } => {
                        "it is not valid yet".to_string()
                    }
                    Why::Other(other)
                        if other.0.downcast_ref::<webpki::Error>()
                            == Some(&webpki::Error::CaUsedAsEndEntity) =>
                    {
                        "it is self-signed (or an authority's own), and not one this client \
                         was given"
                            .to_string()
                    }
                    other => rustls::Error::InvalidCertificate(other.clone()).to_string(),
                };
                let hint = if wrong_name && roots.is_private() {
                    // Signed by the authority given, but for another name:
                    // the cure is the name (a self-signed certificate given
                    // with --tls-ca is taken for any name; one an authority
                    // signed is not).
                    "Connect by a name it was issued for (--server NAME:PORT), one that \
                     leads to this server (a line in /etc/hosts will do)"
                } else if wrong_name {
                    // A public authority's certificate for another name may
                    // be anyone's: no advice to go round the check.
                    "It may be another server than the one meant; if it is this one, \
                     connect by a name it was issued for"
                } else if roots.is_private() {
                    "The certificate given with --tls-ca is not this server's, nor the \
                     authority that signed it: was the server's certificate replaced?"
                } else {
                    "A server whose certificate comes from a private CA, or is \
                     self-signed, needs --tls-ca FILE"
                };
                format!("its certificate does not verify: {why}. {hint}")
            }
            Some(rustls::Error::InvalidMessage(_))
            | Some(rustls::Error::InappropriateMessage { .. }) => {
                "it does not speak TLS here (is it started with --tls-cert?)".to_string()
            }
            Some(other) => other.to_string(),
            None => err.to_string(),
        };
        ClientError::Tls {
            addr: addr.to_string(),
            reason,
        }
    })
}

/// Checks a server address as `--server` takes it: a host (a name, an IPv4
/// address, or an IPv6 one in brackets) and a port, which may be left out
/// for the server's default ([`DEFAULT_PORT`]); the address with its port.
///
/// # Errors
///
/// What is wrong with it, and the shape expected.
pub fn check_address(addr: &str) -> Result<String, String> {
    let shape =
        "expected HOST or HOST:PORT, such as chat.example.org, 127.0.0.1:8080 or [::1]:8080";
    if addr.contains("://") {
        return Err(format!(
            "no scheme (such as http://) goes before the host: {shape}"
        ));
    }
    let (host, port) = match addr.strip_prefix('[') {
        Some(bracketed) => {
            let Some((host, after)) = bracketed.split_once(']') else {
                return Err(format!("no ] after the IPv6 address: {shape}"));
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(shape.to_string()),
                },
            }
        }
        None => match addr.split_once(':') {
            Some((_, after)) if after.contains(':') => {
                return Err(format!(
                    "an IPv6 address goes in brackets, as [::1]:8080: {shape}"
                ));
            }
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        },
    };
    let well_formed = !host.is_empty()
        && !host.contains(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '/' | '@'))
        && (addr.starts_with('[') || !host.contains(':'));
    if !well_formed {
        return Err(shape.to_string());
    }
    let Some(port) = port else {
        return Ok(format!("{addr}:{DEFAULT_PORT}"));
    };
    match port.parse::<u16>() {
        Ok(number) if number > 0 => Ok(addr.to_string()),
        _ => Err(format!("'{port}' is not a port: {shape}")),
    }
}

fn connect(addr: &str) -> Result<TcpStream, ClientError> {
    let candidates = addr
        .to_socket_addrs()
        .map_err(|source| connect_error(addr, source))?;
    let mut last_error = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the address resolves to nothing",
    );
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = err,
        }
    }
    Err(connect_error(addr, last_error))
}

fn connect_error(addr: &str, source: std::io::Error) -> ClientError {
    ClientError::Connect {
        addr: addr.to_string(),
        source,
    }
}

/// The reader thread: one line at a time, replies to one channel, events to
/// the other, until the server closes the connection or the client drops it.
fn read_server_lines(
    stream: Link,
    replies: Sender<ReplyOrJunk>,
    events: Sender<PushedEvent>,
    _closed: Sender<Closed>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let whole = match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => line.last() == Some(&b'\n'),
            Err(_) => false,
        };
        if !whole {
            // Cut off by the close, or by a failed read. A first line cut
            // off is still what the other side said in place of a greeting
            // (a TLS server's alert, say), for the error to name; later,
            // the connection is simply lost.
            if first && !line.is_empty() {
                let _ = replies.send(Err(String::from_utf8_lossy(&line).into_owned()));
            }
            return;
        }
        first = false;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        match ServerLine::parse(text) {
            ServerLine::Reply(reply) => {
                // Only a success can be one the client cannot take, and an
                // error quotes at most QUOTED_CHARS of it: a page of
                // history is not copied for that.
                let line = match reply {
                    Ok(_) => quoted_prefix(text),
                    Err(_) => String::new(),
                };
                if replies.send(Ok(Answer { reply, line })).is_err() {
                    return;
                }
            }
            ServerLine::Event(event) => {
                // The feed thread shows it, or drops it if it belongs
                // nowhere on screen.
                let _ = events.send(event);
            }
            ServerLine::UnknownEvent(kind) => log::warn!("skipping unknown event '{kind}'"),
            ServerLine::Malformed => {
                if replies.send(Err(text.to_string())).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Connection, check_address, host_of, looks_like_irc, shown_names, try_chat_port};

    /// A reply whose data is not what the request gets is quoted in the
    /// error as the line the server sent: its data alone would be `null`
    /// here.
    #[test]
    fn a_reply_the_client_cannot_take_is_quoted_as_its_line() {
        use std::io::{BufRead, BufReader, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (stream, _) = listener.accept()?;
            (&stream).write_all(b"{\"status\":200,\"data\":{\"server\":\"pipechat\"}}\n")?;
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            reader.read_line(&mut request)?;
            (&stream).write_all(b"{\"status\":200}\n")?;
            // Until the client closes the connection.
            std::io::copy(&mut reader, &mut std::io::sink())?;
            Ok(())
        });
        let connection = Connection::open(&addr, None).expect("greeted");
        let failure = connection
            .call::<Vec<String>>("/getAllChatrooms", &[])
            .expect_err("not a list");
        assert_eq!(
            failure.to_string(),
            format!("{addr} sent a line that is not pipechat protocol: {{\"status\":200}}")
        );
        drop(connection);
        server.join().expect("server thread").expect("server side");
    }

    #[test]
    fn irc_servers_are_known_by_their_first_line() {
        for irc in [
            ":pipechat 451 * :You have not registered",
            ":irc.example.net NOTICE * :*** Looking up your hostname...",
            "NOTICE AUTH :*** Checking Ident",
            "ERROR :Closing link: (unknown@127.0.0.1) [Registration timeout]",
        ] {
            assert!(looks_like_irc(irc), "{irc}");
        }
        for other in [
            "SSH-2.0-OpenSSH_9.6",
            "-ERR unknown command 'HEAD'",
            "220 mail.example.org ESMTP",
            "ERROR unknown",
            ": 451 x",
            ":name",
            ":name lowercase x",
            "HTTP/1.1 400 Bad Request",
        ] {
            assert!(!looks_like_irc(other), "{other}");
        }
    }

    #[test]
    fn the_chat_port_is_suggested_on_the_same_host() {
        assert_eq!(try_chat_port("[::1]:8081"), ": try --server [::1]:8080");
        assert_eq!(
            try_chat_port("localhost:6667"),
            ": try --server localhost:8080"
        );
        assert_eq!(try_chat_port("localhost:8080"), "");
        assert_eq!(host_of("[::1]:8080"), "::1");
        assert_eq!(host_of("localhost:8080"), "localhost");
    }

    #[test]
    fn a_server_address_is_a_host_and_a_port() {
        for good in [
            "127.0.0.1:8080",
            "chat.example.org:443",
            "[::1]:8080",
            "localhost:1",
        ] {
            assert_eq!(check_address(good), Ok(good.to_string()), "{good}");
        }
        for bad in [
            "",
            "127.0.0.1:0",
            "localhost:",
            "localhost:8080x",
            "localhost:65536",
            "::1:8080",
            "::1",
            "[::1:1",
            "[::1]8080",
            "[]:1",
            "[]",
            "a b:1",
            "a b",
            ":8080",
            "http://localhost:8080",
            "localhost/chat",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_server_address_without_a_port_has_the_default_one() {
        for (given, meant) in [
            ("localhost", "localhost:8080"),
            ("127.0.0.1", "127.0.0.1:8080"),
            ("chat.example.org", "chat.example.org:8080"),
            ("[::1]", "[::1]:8080"),
        ] {
            assert_eq!(check_address(given), Ok(meant.to_string()), "{given}");
        }
        assert!(
            check_address("::1").is_err_and(|why| why.contains("in brackets")),
            "an IPv6 address without brackets says where they go"
        );
        assert!(
            check_address("http://localhost").is_err_and(|why| why.contains("no scheme")),
            "a URL says what to leave out"
        );
    }

    #[test]
    fn a_certificates_names_are_shown_plainly_and_few() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shown_names(&names(&["DnsName(\"a.example\")", "IpAddress(..)"])),
            " (it names a.example)"
        );
        assert_eq!(
            shown_names(&names(&["DnsName(\"bad\u{1b}[2J\")"])),
            " (it names bad[2J)"
        );
        let many = names(&[
            "DnsName(\"1\")",
            "DnsName(\"2\")",
            "DnsName(\"3\")",
            "DnsName(\"4\")",
            "DnsName(\"5\")",
        ]);
        assert_eq!(shown_names(&many), " (it names 1, 2, 3, 4, ...)");
        assert_eq!(shown_names(&[]), "");
    }
}
