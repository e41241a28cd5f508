//! A blocking protocol client made for load: one request at a time, replies
//! read into a reused buffer, pushed events set aside by counting them.
//!
//! Requests are built with [`crate::pipe::request::request_line`], so the bench
//! escapes fields exactly as the server expects. Every read and write has a
//! time limit ([`IO_TIMEOUT`]), so a stuck server fails a run instead of
//! hanging it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::pipe::request::request_line;

/// How the bench's clients talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Transport {
    /// The pipe protocol's lines over TCP (`--listen`).
    #[default]
    Tcp,
    /// IRC (`--irc`), for `fanout` only: pipechat's IRC front door and, in
    /// the same run, ngircd on the same scenario.
    Irc,
}

/// The longest a single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no reply within {IO_TIMEOUT:?}")]
    TimedOut,
    #[error("the server closed the connection")]
    Closed,
    #[error("connection error: {0}")]
    Io(std::io::Error),
    #[error("not a protocol line: {0:?}")]
    BadLine(String),
    /// A set-up step got an answer other than the one it needs.
    #[error("{request}: expected status {expected}, got {line}")]
    Unexpected {
        request: String,
        expected: u16,
        line: String,
    },
}

impl From<std::io::Error> for ClientError {
    fn from(err: std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::TimedOut,
            _ => ClientError::Io(err),
        }
    }
}

/// The parts of a line the bench always looks at; `data` is skipped.
#[derive(Deserialize)]
struct Head {
    status: Option<u16>,
}

#[derive(Deserialize)]
struct DataOf<T> {
    data: T,
}

/// One connection to the server.
pub struct Client {
    /// The socket, read through a buffer and written through `get_ref`: one
    /// descriptor per client, so 10,000 of them fit the open-file limit.
    reader: BufReader<TcpStream>,
    /// The last line read, terminator included.
    line: String,
    /// Pushed event lines read while waiting for replies.
    pub events_skipped: u64,
}

impl Client {
    /// Connects and checks the greeting (a full server answers 503).
    pub fn connect(addr: SocketAddr) -> Result<Client, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|source| ClientError::Connect { addr, source })?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let reader = BufReader::with_capacity(64 * 1024, stream);
        let mut client = Client {
            reader,
            line: String::new(),
            events_skipped: 0,
        };
        let status = client.read_reply()?;
        if status != 200 {
            return Err(ClientError::Unexpected {
                request: "greeting".to_string(),
                expected: 200,
                line: client.last_line().to_string(),
            });
        }
        Ok(client)
    }

    /// Sends a request built from raw fields and returns the reply's status;
    /// the reply stays readable through [`Client::last_line`].
    pub fn call(&mut self, command: &str, fields: &[&str]) -> Result<u16, ClientError> {
        let mut line = request_line(command, fields);
        line.push('\n');
        self.request(&line)
    }

    /// Like [`Client::call`], failing unless the reply has status `expected`.
    pub fn expect(
        &mut self,
        command: &str,
        fields: &[&str],
        expected: u16,
    ) -> Result<(), ClientError> {
        let status = self.call(command, fields)?;
        if status == expected {
            Ok(())
        } else {
            Err(ClientError::Unexpected {
                request: command.to_string(),
                expected,
                line: self.last_line().trim_end().to_string(),
            })
        }
    }

    /// Sends one ready request line (with its line feed) and reads its reply.
    pub fn request(&mut self, line: &str) -> Result<u16, ClientError> {
        self.reader.get_ref().write_all(line.as_bytes())?;
        self.read_reply()
    }

    /// Reads lines until a reply (a line with a `status`), counting events.
    ///
    /// A read that times out keeps the part of a line it got, so calling
    /// again after [`ClientError::TimedOut`] goes on where it stopped.
    pub fn read_reply(&mut self) -> Result<u16, ClientError> {
        loop {
            if self.line.ends_with('\n') {
                self.line.clear();
            }
            if self.reader.read_line(&mut self.line)? == 0 || !self.line.ends_with('\n') {
                return Err(ClientError::Closed);
            }
            let head: Head = serde_json::from_str(&self.line)
                .map_err(|_| ClientError::BadLine(self.line.trim_end().to_string()))?;
            match head.status {
                Some(status) => return Ok(status),
                None => self.events_skipped += 1,
            }
        }
    }

    /// A second handle on the socket for writing requests from another
    /// thread while this client reads the replies (pipelining).
    pub fn writer(&self) -> std::io::Result<TcpStream> {
        self.reader.get_ref().try_clone()
    }

    /// How long each read may block from now on (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// The last line read, terminator included.
    pub fn last_line(&self) -> &str {
        &self.line
    }

    /// The `data` of the last reply.
    pub fn last_data<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_str::<DataOf<T>>(&self.line)
            .map(|reply| reply.data)
            .map_err(|_| ClientError::BadLine(self.line.trim_end().to_string()))
    }

    /// Gives up the buffered reader: the socket and whatever bytes were
    /// already read past the last reply.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let buffered = self.reader.buffer().to_vec();
        (self.reader.into_inner(), buffered)
    }
}
