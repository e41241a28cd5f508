//! `pipechat-server`: parses the command line and runs [`pipechat::server`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pipechat::server::{self, Config};
use pipechat::store::{self, SyncMode};

/// A persistent, real-time chat server speaking the pipechat line protocol.
///
/// Without a command it serves; `pipechat-server backup` copies a database.
#[derive(Debug, Parser)]
#[command(
    name = "pipechat-server",
    version,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// SQLite database file; created with its schema when missing.
    #[arg(long, default_value = "chat.db")]
    db: PathBuf,
    /// Address to listen on, as IP:PORT; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen_address)]
    listen: String,
    /// Most clients connected at once; one more is greeted with 503 and closed.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Database connections for reads (the writer holds one more).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pool_size: u32,
    /// Durability of each commit: `normal` survives the server being killed,
    /// `full` also survives power loss (slower).
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Seconds a started request line may stay unfinished before the client is
    /// dropped. Idle clients between requests are never dropped.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    line_timeout: u64,
    /// Also serve IRC clients at this address, as IP:PORT (off by default;
    /// 127.0.0.1:6667 is the usual choice; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    irc: Option<String>,
    /// Let IRC clients that do not log in chat as guests under any nick that
    /// is not an account's name.
    #[arg(long, requires = "irc")]
    irc_guests: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copies a database consistently, also while a server runs on it
    /// (SQLite's online backup). Restore: stop the server, copy the backup
    /// over the database (removing its -wal and -shm files), start it again.
    Backup {
        /// The database to copy.
        #[arg(long, default_value = "chat.db")]
        db: PathBuf,
        /// Where to write the copy; it must not exist yet.
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    if let Some(Command::Backup { db, out }) = args.command {
        return match store::backup(&db, &out) {
            Ok(pages) => {
                println!(
                    "backed up {} to {} ({pages} pages)",
                    db.display(),
                    out.display()
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("pipechat-server backup: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let config = Config {
        db: args.db,
        listen: args.listen,
        max_connections: args.max_connections,
        pool_size: args.pool_size + 1,
        sync: args.sync,
        line_timeout: Duration::from_secs(args.line_timeout),
        irc: args.irc,
        irc_guests: args.irc_guests,
    };
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipechat-server: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts `IP:PORT` or `host:PORT`; anything else is refused with an example,
/// since a bare `0.0.0.0` is the usual slip.
fn listen_address(text: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    match text.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(_)) => Ok(text.to_string()),
        _ => Err("expected IP:PORT, e.g. 0.0.0.0:8080".to_string()),
    }
}
