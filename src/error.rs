//! Every way a request can fail, each mapped to one status and one sentence.
//!
//! Internal failures (database, hashing) are logged here with their details
//! and reach the client only as a generic sentence.

use crate::accounts::HashError;
use crate::protocol::{self, MAX_LINE_BYTES, ParseError, Status};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("request line too long: at most {MAX_LINE_BYTES} bytes, line feed included")]
    LineTooLong,
    #[error("request is not valid UTF-8")]
    InvalidUtf8,
    /// A value that breaks a rule of the protocol; the text says which.
    #[error("{0}")]
    Invalid(String),
    #[error("not logged in; use /login|username|password")]
    NotLoggedIn,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("username '{given}' is not yours; you are logged in as '{actual}'")]
    NotYou { given: String, actual: String },
    #[error("you are not a member of chatroom '{0}'; join it first")]
    NotMember(String),
    #[error("chatroom '{0}' does not exist")]
    NoSuchRoom(String),
    #[error("username '{0}' is already taken")]
    UsernameTaken(String),
    #[error("chatroom '{0}' already exists")]
    RoomExists(String),
    #[error("you are not a member of chatroom '{0}'")]
    NotAMemberToExit(String),
    #[error("too many failed logins; try again in {0} seconds")]
    Throttled(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl CommandError {
    pub fn status(&self) -> Status {
        match self {
            CommandError::Parse(_) | CommandError::InvalidUtf8 | CommandError::Invalid(_) => {
                Status::BadRequest
            }
            CommandError::LineTooLong => Status::TooLong,
            CommandError::NotLoggedIn | CommandError::BadCredentials => Status::Unauthorized,
            CommandError::NotYou { .. } | CommandError::NotMember(_) => Status::Forbidden,
            CommandError::NoSuchRoom(_) => Status::NotFound,
            CommandError::UsernameTaken(_)
            | CommandError::RoomExists(_)
            | CommandError::NotAMemberToExit(_) => Status::Conflict,
            CommandError::Throttled(_) => Status::TooManyRequests,
            CommandError::Store(StoreError::Busy | StoreError::Stopped | StoreError::Pool(_)) => {
                Status::Unavailable
            }
            CommandError::Store(_) | CommandError::Hash(_) => Status::Internal,
        }
    }

    /// The reply line for this failure. Internal details are logged, not sent.
    pub fn reply_line(&self) -> String {
        let status = self.status();
        let sentence = match self {
            CommandError::Store(StoreError::Busy | StoreError::Pool(_)) => {
                log::warn!("request refused: {self}");
                "the database is busy; try again shortly".to_string()
            }
            CommandError::Store(StoreError::Stopped) => "the server is shutting down".to_string(),
            CommandError::Store(_) | CommandError::Hash(_) => {
                log::error!("internal error: {self}");
                "internal error; the server has logged it".to_string()
            }
            other => other.to_string(),
        };
        protocol::error_line(status, &sentence)
    }
}

impl From<rusqlite::Error> for CommandError {
    fn from(err: rusqlite::Error) -> Self {
        CommandError::Store(StoreError::from(err))
    }
}
