//! An IRC client speaking raw lines over TCP, as the IRC front door's tests
//! need it: every line it reads is kept, waits end at a deadline.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use base64::Engine;
use pipechat::irc::line::Line;

use super::{DEADLINE, TestServer};

/// One IRC connection.
pub struct IrcClient {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// Every line read so far, without CR LF.
    pub seen: Vec<String>,
    sync: u32,
}

impl TestServer {
    /// A server with the IRC front door on a port of its own, and `args`.
    pub fn start_irc(args: &[&str]) -> TestServer {
        let mut all = vec!["--irc", "127.0.0.1:0"];
        all.extend_from_slice(args);
        TestServer::start_with(&all)
    }

    /// A new raw IRC connection.
    pub fn irc(&self) -> IrcClient {
        IrcClient::connect(self.irc.expect("the server was started with --irc"))
    }

    /// A guest registered as `nick` (the server runs with --irc-guests).
    pub fn irc_guest(&self, nick: &str) -> IrcClient {
        let mut client = self.irc();
        client.register(nick, &[]);
        client
    }

    /// An account registered over the pipe, then logged in over IRC with
    /// SASL PLAIN, with `caps` enabled too.
    pub fn irc_account(&self, username: &str, caps: &[&str]) -> IrcClient {
        let mut pipe = self.connect();
        let reply = pipe.call("/register", &[username, &super::password_of(username)]);
        assert_eq!(reply["status"], 201, "register {username}: {reply}");
        let mut client = self.irc();
        client.login_sasl(username, &super::password_of(username), caps);
        client
    }
}

impl IrcClient {
    pub fn connect(addr: SocketAddr) -> IrcClient {
        let stream = TcpStream::connect(addr).expect("connect to IRC");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        IrcClient {
            stream,
            reader,
            seen: Vec::new(),
            sync: 0,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to IRC");
    }

    /// The next line, or `None` when the server closed the connection.
    pub fn try_line(&mut self) -> Option<String> {
        let mut buffer = Vec::new();
        match self.reader.read_until(b'\n', &mut buffer) {
            Ok(0) => None,
            Ok(_) => {
                let line = String::from_utf8(buffer).expect("the server sends UTF-8");
                assert!(line.ends_with("\r\n"), "a line without CR LF: {line:?}");
                let line = line.trim_end_matches("\r\n").to_string();
                self.seen.push(line.clone());
                Some(line)
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                eprintln!("connection reset by the server");
                None
            }
            Err(err) => panic!(
                "no line from the IRC server before the deadline: {err}; seen {:#?}",
                self.seen
            ),
        }
    }

    pub fn line(&mut self) -> Line {
        let text = self.try_line().expect("the server closed the connection");
        Line::parse(&text).expect("the server sends well-formed lines")
    }

    /// Reads until a line whose command is `command`, and returns every line
    /// read on the way, that one last.
    pub fn until(&mut self, command: &str) -> Vec<Line> {
        self.until_any(&[command])
    }

    /// Reads until a line whose command is any of `commands`, and returns
    /// every line read on the way, that one last.
    pub fn until_any(&mut self, commands: &[&str]) -> Vec<Line> {
        self.read_until(commands, false)
    }

    /// [`IrcClient::until`], answering each PING from the server with its
    /// PONG on the way, as a client does to stay connected (`--irc-ping`).
    pub fn until_answering_pings(&mut self, command: &str) -> Vec<Line> {
        self.read_until(&[command], true)
    }

    fn read_until(&mut self, commands: &[&str], answer_pings: bool) -> Vec<Line> {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "none of {commands:?} in time: {:#?}",
                self.seen
            );
            let line = self.line();
            let done = commands.contains(&line.command.as_str());
            if answer_pings && line.command == "PING" && !done {
                self.send(&format!("PONG :{}", line.params.join(" ")));
            }
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The first line with `command`, skipping others.
    pub fn expect(&mut self, command: &str) -> Line {
        self.until(command).pop().expect("one line at least")
    }

    /// Everything the server sent before it answers a PING sent now: what
    /// arrived up to this moment, with no sleeping.
    pub fn sync(&mut self) -> Vec<Line> {
        self.sync += 1;
        let token = format!("sync{}", self.sync);
        self.send(&format!("PING {token}"));
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line.command == "PONG" && line.params.last() == Some(&token) {
                return lines;
            }
            lines.push(line);
        }
    }

    /// Reads until the server closes the connection; the lines it sent.
    pub fn until_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.try_line() {
            lines.push(line);
        }
        lines
    }

    /// NICK and USER (and CAP END when negotiating), up to 001 or to the
    /// first refusal; returns the lines read.
    pub fn register(&mut self, nick: &str, caps: &[&str]) -> Vec<Line> {
        if !caps.is_empty() {
            self.send("CAP LS 302");
            self.send(&format!("CAP REQ :{}", caps.join(" ")));
        }
        self.send(&format!("NICK {nick}"));
        self.send("USER user 0 * :Real Name");
        if !caps.is_empty() {
            let ack = self.expect("CAP");
            let ack = if ack.params[1] == "LS" {
                self.expect("CAP")
            } else {
                ack
            };
            assert_eq!(ack.params[1], "ACK", "caps refused: {ack:?}");
            self.send("CAP END");
        }
        let lines = self.until("001");
        self.expect("376");
        lines
    }

    /// Registers with `PASS pass`, `NICK nick` and a `USER` line, as
    /// bouncers and plain clients log in.
    pub fn register_with_pass(&mut self, pass: &str, nick: &str) {
        self.send(&format!("PASS {pass}"));
        self.send(&format!("NICK {nick}"));
        self.send("USER u 0 * :Real");
    }

    /// SASL PLAIN as `username`, then registration; panics unless it
    /// succeeds.
    pub fn login_sasl(&mut self, username: &str, password: &str, caps: &[&str]) {
        let mut all = vec!["sasl"];
        all.extend_from_slice(caps);
        self.send("CAP LS 302");
        self.send(&format!("CAP REQ :{}", all.join(" ")));
        self.send(&format!("NICK {username}"));
        self.send("USER user 0 * :Real Name");
        let ack = self.expect("CAP");
        let ack = if ack.params[1] == "LS" {
            self.expect("CAP")
        } else {
            ack
        };
        assert_eq!(ack.params[1], "ACK", "caps refused: {ack:?}");
        self.send("AUTHENTICATE PLAIN");
        assert_eq!(self.expect("AUTHENTICATE").params, ["+"]);
        self.send(&format!("AUTHENTICATE {}", plain(username, password)));
        let logged_in = self.line();
        assert_eq!(logged_in.command, "900", "{logged_in:?}");
        assert_eq!(self.line().command, "903");
        self.send("CAP END");
        self.expect("001");
        self.expect("376");
    }
}

/// The base64 of a SASL PLAIN message.
pub fn plain(username: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{username}\0{password}"))
}

/// `/register` of `name` over `pipe` and a guest's `NICK name` over `irc`,
/// at once: exactly one of the two gets the name.
#[track_caller]
pub fn race_for_a_name(pipe: &mut super::Client, irc: &mut IrcClient, name: &str) {
    let (registered, welcomed) = std::thread::scope(|scope| {
        let registering =
            scope.spawn(|| pipe.call("/register", &[name, &super::password_of(name)]));
        irc.send(&format!("NICK {name}"));
        irc.send("USER g 0 * :g");
        let answer = irc.until_any(&["001", "433"]);
        let welcomed = answer.last().is_some_and(|line| line.command == "001");
        let registered = registering.join().expect("the registering thread");
        (registered["status"] == 201, welcomed)
    });
    assert!(registered || welcomed, "{name}: neither got the name");
    assert!(
        !(registered && welcomed),
        "an account and a guest both have '{name}'"
    );
}
