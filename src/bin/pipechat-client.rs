//! `pipechat-client`: parses the command line and runs [`pipechat::client`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pipechat::client::{self, Config, DEFAULT_SERVER};
use pipechat::tls::ClientRoots;

// `name` and `about` are this binary's: without them clap takes the crate's
// (`pipechat`, and the server's description).
#[derive(Debug, Parser)]
#[command(
    name = "pipechat-client",
    version,
    about = "The pipechat console client: register, log in and chat in the rooms of a pipechat server.",
    long_about = "The pipechat console client: register, log in and chat in the rooms of a pipechat server.\n\n\
        At a terminal it edits lines and shows new messages above the line you type. With \
        standard input not a terminal it runs as a script: it reads the same answers line \
        by line and stops at the first error, naming the input line on standard error \
        (exit status 2)."
)]
struct Args {
    /// Address of the server, as host:port; without a port, the server's
    /// default, 8080.
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = host_and_port, value_name = "HOST[:PORT]")]
    server: String,
    /// Log in as this user straight away: with their saved login if there is
    /// one, otherwise asking only the password.
    #[arg(long, value_parser = username, value_name = "NAME")]
    user: Option<String>,
    /// Connect with TLS, checking the server's certificate against the
    /// public certificate authorities.
    #[arg(long, conflicts_with = "tls_ca")]
    tls: bool,
    /// Connect with TLS, trusting only the CA certificate(s) in this PEM
    /// file (a private CA, or the server's own self-signed certificate).
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Quiet unless asked: log lines would land in the middle of the chat.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    let tls = match (&args.tls_ca, args.tls) {
        (Some(ca), _) => match ClientRoots::private_ca(ca) {
            Ok(roots) => Some(roots),
            Err(err) => {
                client::console::show_failure(&err);
                return ExitCode::FAILURE;
            }
        },
        (None, true) => Some(ClientRoots::public()),
        (None, false) => None,
    };
    let config = Config {
        server: args.server,
        user: args.user,
        tls,
    };
    match client::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            client::console::show_failure(&err);
            if err.is_script_stop() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `--server`, checked before anything is asked, with the default port
/// added when it has none (`connection::check_address`).
fn host_and_port(text: &str) -> Result<String, String> {
    pipechat::client::connection::check_address(text)
}

/// `--user`: a name the server could have registered, checked before any
/// password is asked for it.
fn username(text: &str) -> Result<String, String> {
    let name = text.trim();
    pipechat::chat::limits::check_username(name)?;
    Ok(name.to_string())
}
