//! The two kinds of failure the client knows.
//!
//! An [`ErrorReply`] is the server saying no (`{"status":404,"error":"..."}`): a
//! normal outcome that a flow shows as `error: <sentence>` and carries on from.
//! A [`ClientError`] ends the session: the server is unreachable or gone, it
//! speaks something else than pipechat, or the terminal itself failed.
//!
//! In script mode (stdin not a terminal) a refusal or a mistake in the input
//! ends the run too, as [`ClientError::ScriptStopped`]: a script must not go
//! on reading its next lines as answers to questions it did not expect.

use std::fmt;
use std::io;
use std::time::Duration;

use super::DEFAULT_PORT;

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
    #[error("no secure connection to {addr}: {reason}")]
    Tls { addr: String, reason: String },
    #[error("{addr} refused the connection: {sentence}")]
    Refused { addr: String, sentence: String },
    #[error("{addr} sent no greeting{hint}")]
    NoGreeting { addr: String, hint: &'static str },
    #[error("{addr} is not a pipechat server: it said \"{said}\" where pipechat greets")]
    NotPipechat { addr: String, said: String },
    /// A web server (such as pipechat's own web port) given for the chat
    /// port: it answers HTTP. Any web server does, so it is not said to be
    /// pipechat's.
    #[error(
        "{addr} answers HTTP: it is a web server (perhaps pipechat's web page: open {url} \
         in a browser), not the chat port this client speaks to. The chat port is the \
         address the server prints as \"listening on\", {DEFAULT_PORT} unless it was \
         started with --listen{try_instead}"
    )]
    WebPort {
        addr: String,
        url: String,
        /// `: try --server HOST:8080`, or nothing when that is the port
        /// given.
        try_instead: String,
    },
    /// An IRC server (such as pipechat's own IRC door) given for the chat
    /// port.
    #[error(
        "{addr} speaks IRC: it is an IRC port (perhaps pipechat's IRC door), for an IRC \
         client, not the chat port this client speaks to. The chat port is the address \
         the server prints as \"listening on\", {DEFAULT_PORT} unless it was started \
         with --listen{try_instead}"
    )]
    IrcPort {
        addr: String,
        /// As [`ClientError::WebPort`]'s.
        try_instead: String,
    },
    /// A TLS server connected to without `--tls`.
    #[error(
        "{addr} speaks TLS: connect with --tls (or --tls-ca FILE, for a private or \
         self-signed certificate)"
    )]
    SpeaksTls { addr: String },
    #[error("lost connection to {addr}")]
    LostConnection { addr: String },
    /// The connection was lost and could not be made good (see
    /// `reconnect`).
    #[error("lost connection to {addr}; {reason}")]
    NotResumed { addr: String, reason: String },
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
    #[error("stopped at {at}: {reason}")]
    ScriptStopped { at: InputPlace, reason: String },
    /// The server no longer counts the user as logged in (another session
    /// changed the password). The main menu catches it and goes back to the
    /// start menu; it ends a run only if it happens elsewhere.
    #[error("logged out by the server")]
    LoggedOut,
}

impl ClientError {
    /// Whether the run ended because the script went wrong, rather than the
    /// connection or the terminal: such a run exits with its own status (2).
    pub fn is_script_stop(&self) -> bool {
        matches!(self, ClientError::ScriptStopped { .. })
    }
}

/// Where in its input a script was when it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPlace {
    /// Line `number` (from 1), with its text; `None` for a password, whose
    /// text is never shown.
    Line { number: usize, text: Option<String> },
    /// Line `number`, not shown: it may be a password (see [`Withheld`]).
    Withheld { number: usize, why: Withheld },
    /// The input ended after `lines` lines while an answer was expected.
    End { lines: usize },
}

/// Why a line that is not a password question's answer is still not shown:
/// a script whose lines got out of step with the questions puts its
/// password where something else is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The first line after a saved login logged the script in: a script
    /// written before the login was saved gives its password there
    /// (`--user` then reads none).
    AfterSavedLogin,
    /// A line at a menu that is not a choice and is long enough to be a
    /// password.
    MayBePassword,
}

impl fmt::Display for InputPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Enough to recognise the line; a whole message could be 4,096 characters.
        const SHOWN_CHARS: usize = 60;
        match self {
            InputPlace::Line { number, text: None } => {
                write!(f, "input line {number} (a password, not shown)")
            }
            InputPlace::Line {
                number,
                text: Some(text),
            } => write!(
                f,
                "input line {number} \"{}\"",
                shown_cut(text, SHOWN_CHARS)
            ),
            InputPlace::Withheld {
                number,
                why: Withheld::AfterSavedLogin,
            } => write!(
                f,
                "input line {number} (not shown: a saved login logged in, so no password \
                 line was read, and this may be one)"
            ),
            InputPlace::Withheld {
                number,
                why: Withheld::MayBePassword,
            } => write!(
                f,
                "input line {number} (not shown: it is as long as a password, and a script \
                 out of step may have put one there)"
            ),
            InputPlace::End { lines } => write!(f, "the end of input, after line {lines}"),
        }
    }
}

/// `text` as an error shows what another side (a server, a script) wrote:
/// its first `most` characters, `…` after them when there were more, and
/// control characters replaced, so that it cannot act on the terminal.
pub(super) fn shown_cut(text: &str, most: usize) -> String {
    let mut shown: String = text
        .chars()
        .take(most)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(most).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(at: InputPlace) -> String {
        ClientError::ScriptStopped {
            at,
            reason: "why".into(),
        }
        .to_string()
    }

    #[test]
    fn a_script_stop_names_the_line_and_never_a_password() {
        let line = |number, text: Option<&str>| InputPlace::Line {
            number,
            text: text.map(str::to_string),
        };
        assert_eq!(
            stopped(line(6, Some("nowhere"))),
            "stopped at input line 6 \"nowhere\": why"
        );
        assert_eq!(
            stopped(line(3, None)),
            "stopped at input line 3 (a password, not shown): why"
        );
        for why in [Withheld::AfterSavedLogin, Withheld::MayBePassword] {
            let shown = stopped(InputPlace::Withheld { number: 3, why });
            assert!(
                shown.starts_with("stopped at input line 3 (not shown: "),
                "{shown}"
            );
        }
        assert_eq!(
            stopped(InputPlace::End { lines: 2 }),
            "stopped at the end of input, after line 2: why"
        );
        let long = "x".repeat(100);
        let shown = stopped(line(1, Some(&long)));
        assert!(
            shown.contains(&format!("\"{}…\"", "x".repeat(60))),
            "{shown}"
        );
        assert_eq!(
            stopped(line(1, Some("a\u{1b}[2Jb"))),
            "stopped at input line 1 \"a\u{fffd}[2Jb\": why"
        );
    }
}
