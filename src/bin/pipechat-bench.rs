//! `pipechat-bench`: parses the command line and runs [`pipechat::bench`].

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use pipechat::bench::{self, cli::Cli};

/// The short description (`-h`). `Cli` asks for `about` without a value,
/// which is the crate's description, the server's; `--help` shows `Cli`'s
/// whole doc comment, which starts with this.
const ABOUT: &str = "Load scenarios for a pipechat server: throughput, fan-out latency, \
                     memory per connection, history queries and logins.";

fn main() -> ExitCode {
    let matches = Cli::command().about(ABOUT).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let mut stdout = std::io::stdout().lock();
    match bench::run(&cli, &mut stdout) {
        Ok(outcome) if !outcome.failures.is_empty() => {
            let names: Vec<&str> = outcome.failures.iter().map(|(n, _)| n.as_str()).collect();
            eprintln!("pipechat-bench: failed: {}", names.join(", "));
            ExitCode::from(1)
        }
        Ok(outcome) if !outcome.with_problems.is_empty() => {
            eprintln!(
                "pipechat-bench: problems seen in: {}",
                outcome.with_problems.join(", ")
            );
            ExitCode::from(2)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipechat-bench: {err}");
            ExitCode::from(1)
        }
    }
}
