//! The two kinds of failure the client knows.
//!
//! An [`ErrorReply`] is the server saying no (`{"status":404,"error":"..."}`): a
//! normal outcome that a flow shows as `error: <sentence>` and carries on from.
//! A [`ClientError`] ends the session: the server is unreachable or gone, it
//! speaks something else than pipechat, or the terminal itself failed.

use std::io;
use std::time::Duration;

/// A failure reply from the server: its status and its human-readable sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sentence}")]
pub struct ErrorReply {
    pub status: u16,
    pub sentence: String,
}

/// Why the client cannot go on. Shown once on standard error, then a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("{addr} refused the connection: {sentence}")]
    Refused { addr: String, sentence: String },
    #[error("{addr} does not greet like a pipechat server")]
    NotPipechat { addr: String },
    #[error("lost connection to {addr}")]
    LostConnection { addr: String },
    #[error("{addr} sent no reply within {} seconds", .waited.as_secs())]
    NoReply { addr: String, waited: Duration },
    #[error("{addr} sent a line that is not pipechat protocol: {line}")]
    Malformed { addr: String, line: String },
    #[error("cannot read input: {0}")]
    Input(#[source] io::Error),
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] io::Error),
}
