//! What a flow can do: ask the user, tell the user, call the server.
//!
//! Every wait for the user also watches the connection, so a server that goes
//! away while the user is typing ends the session at once.

use serde::de::DeserializeOwned;

use super::connection::Connection;
use super::console::{Console, Input, Output};
use super::error::{ClientError, ErrorReply};
use super::render;

/// A connection to the server and the console, for the length of a run.
pub struct Session {
    connection: Connection,
    console: Console,
}

impl Session {
    pub fn new(connection: Connection, console: Console) -> Session {
        Session {
            connection,
            console,
        }
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn output(&self) -> &Output {
        self.console.output()
    }

    /// Reads a line after `prompt` (shown only in a terminal).
    ///
    /// # Errors
    ///
    /// [`ClientError::LostConnection`] if the server goes away meanwhile.
    pub fn ask(&self, prompt: &str) -> Result<Input, ClientError> {
        self.console
            .read_line(prompt, self.connection.closed())?
            .ok_or_else(|| self.connection.lost())
    }

    /// Reads a password: without echo in a terminal, a plain line otherwise.
    ///
    /// # Errors
    ///
    /// [`ClientError::LostConnection`] if the server goes away meanwhile.
    pub fn ask_password(&self, prompt: &str) -> Result<Input, ClientError> {
        self.console
            .read_password(prompt, self.connection.closed())?
            .ok_or_else(|| self.connection.lost())
    }

    /// Prints a block of text.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`] when the output is gone.
    pub fn say(&self, text: &str) -> Result<(), ClientError> {
        self.console.output().show(text)
    }

    /// Sends a request; see [`Connection::call`].
    ///
    /// # Errors
    ///
    /// As [`Connection::call`].
    pub fn call<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Result<T, ErrorReply>, ClientError> {
        self.connection.call(command, fields)
    }

    /// Sends a request and, if the server refuses, shows its sentence as
    /// `error: ...` and returns `None`.
    ///
    /// # Errors
    ///
    /// As [`Connection::call`].
    pub fn call_or_show<T: DeserializeOwned>(
        &self,
        command: &str,
        fields: &[&str],
    ) -> Result<Option<T>, ClientError> {
        match self.call(command, fields)? {
            Ok(data) => Ok(Some(data)),
            Err(refusal) => {
                self.say(&render::refusal(&refusal.sentence))?;
                Ok(None)
            }
        }
    }
}
