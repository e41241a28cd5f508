//! `pipechat-example-db PATH`: writes the example database (see
//! [`pipechat::example`]), the source of the committed `chat.db.example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Writes a small pipechat database with a few users, rooms and messages.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where to write it; must not exist yet.
    path: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match pipechat::example::build_example_database(&args.path) {
        Ok(()) => {
            println!("wrote {}", args.path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("pipechat-example-db: {err}");
            ExitCode::FAILURE
        }
    }
}
