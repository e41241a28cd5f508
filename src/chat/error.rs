//! Every way a chat operation can fail, each with one status and one sentence.
//!
//! Internal failures (database, hashing) are logged here with their details
//! and reach the client only as a generic sentence.

use crate::chat::accounts::HashError;
use crate::store::StoreError;
use crate::wire::Status;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChatError {
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
    #[error("this server takes no new accounts; ask its operator for one")]
    RegistrationClosed,
    #[error("chatroom '{0}' already exists")]
    RoomExists(String),
    #[error("you are not a member of chatroom '{0}'")]
    NotAMemberToExit(String),
    #[error("too many failed logins; try again in {0} seconds")]
    Throttled(u64),
    #[error("unknown, revoked or expired resume token; log in with your password")]
    BadToken,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("user '{0}' does not exist")]
    NoSuchUser(String),
    #[error("no message with id {0} that you can read")]
    NoSuchMessage(i64),
    #[error("only its author may edit message {0}")]
    NotAuthor(i64),
    #[error("only its author (or, in a chatroom, the chatroom's owner) may delete message {0}")]
    NotAuthorOrOwner(i64),
    #[error("only the owner of chatroom '{0}' may change its retention")]
    NotOwner(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl ChatError {
    /// The server is stopping and took no more work: what a request still
    /// waiting is answered.
    pub(crate) fn stopped() -> Self {
        ChatError::Store(StoreError::Stopped)
    }

    pub(crate) fn status(&self) -> Status {
        match self {
            ChatError::Invalid(_) => Status::BadRequest,
            ChatError::NotLoggedIn
            | ChatError::BadCredentials
            | ChatError::BadToken
            | ChatError::WrongPassword => Status::Unauthorized,
            ChatError::NotYou { .. }
            | ChatError::RegistrationClosed
            | ChatError::NotMember(_)
            | ChatError::NotAuthor(_)
            | ChatError::NotAuthorOrOwner(_)
            | ChatError::NotOwner(_) => Status::Forbidden,
            ChatError::NoSuchRoom(_) | ChatError::NoSuchUser(_) | ChatError::NoSuchMessage(_) => {
                Status::NotFound
            }
            ChatError::UsernameTaken(_)
            | ChatError::RoomExists(_)
            | ChatError::NotAMemberToExit(_) => Status::Conflict,
            ChatError::Throttled(_) => Status::TooManyRequests,
            ChatError::Store(err) if err.is_unavailable() => Status::Unavailable,
            ChatError::Store(_) | ChatError::Hash(_) => Status::Internal,
        }
    }

    /// Whether the server, not the request, failed (the database, the
    /// hasher). Doors that word refusals their own way (IRC's numerics)
    /// must then not tell the user their password or message id was wrong.
    pub(crate) fn is_server_side(&self) -> bool {
        matches!(self, ChatError::Store(_) | ChatError::Hash(_))
    }

    /// What the client is told. Internal details are logged here, not sent.
    pub(crate) fn sentence(&self) -> String {
        match self {
            ChatError::Store(StoreError::Stopped) => "the server is shutting down".to_string(),
            ChatError::Store(StoreError::Unreachable(_)) => {
                log::warn!("request refused: {self}");
                "the database cannot be reached; try again shortly".to_string()
            }
            ChatError::Store(err) if err.is_unavailable() => {
                log::warn!("request refused: {self}");
                "the database is busy; try again shortly".to_string()
            }
            ChatError::Store(_) | ChatError::Hash(_) => {
                log::error!("internal error: {self}");
                "internal error; the server has logged it".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Keeps user text echoed in an error short enough to read, so that a 60 KB
/// junk field is not sent back whole.
pub(crate) fn shorten_for_reply(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    }
}
