//! `pipechat-bench`: parses the command line and runs [`pipechat::bench`].

use std::process::ExitCode;

use clap::Parser;
use pipechat::bench::{self, cli::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
