//! `pipechat-client`: parses the command line and runs [`pipechat::client`].

use std::process::ExitCode;

use clap::Parser;
use pipechat::client::{self, Config, DEFAULT_SERVER};

/// The pipechat console client: register, log in, and chat in rooms.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address of the server, as host:port.
    #[arg(long, default_value = DEFAULT_SERVER)]
    server: String,
    /// Log in as this user straight away; only the password is asked.
    #[arg(long)]
    user: Option<String>,
}

fn main() -> ExitCode {
    // Quiet unless asked: log lines would land in the middle of the chat.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    let config = Config {
        server: args.server,
        user: args.user,
    };
    match client::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipechat-client: {err}");
            if err.is_script_stop() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
