//! `pipechat-example-db PATH`: writes the example database (see
//! [`pipechat::example`]), the source of the committed `chat.db.example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

// `name` and `about` are this binary's: without them clap takes the crate's
// (`pipechat`, and the server's description).
#[derive(Debug, Parser)]
#[command(
    name = "pipechat-example-db",
    version,
    about = "Writes the example pipechat database (a few users, rooms and messages) to PATH; \
             chat.db.example is made with it."
)]
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
