//! The command line of `pipechat-bench`: global options, then one subcommand
//! per scenario.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::client::Transport;
use super::scenarios::{
    fanout::FanoutArgs, history::HistoryArgs, idle::IdleArgs, login::LoginArgs, search::SearchArgs,
    send::SendArgs, unread::UnreadArgs,
};
use crate::store::SyncMode;

/// Load scenarios for a pipechat server: throughput, fan-out latency, memory
/// per connection, history, search and unread queries, and logins.
///
/// Results go to standard output (a table, or one JSON object per scenario
/// with --json); progress goes to standard error. Exit status: 0 when every
/// scenario ran clean, 1 when one could not run, 2 when one saw the protocol's
/// promises broken (error replies, lost or reordered messages).
#[derive(Debug, Parser)]
#[command(name = "pipechat-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Drive the server listening at this address, or several (`A,B,C`)
    /// sharing one PostgreSQL database, with the clients spread over them.
    #[arg(long, global = true, value_name = "ADDR")]
    pub server: Option<String>,
    /// Start `pipechat-server` (the binary next to this one) on a temporary
    /// database for each scenario, and stop it afterwards.
    #[arg(long, global = true)]
    pub spawn: bool,
    /// How the bench's clients talk to the server: `tcp` (lines, `--listen`),
    /// `ws` (WebSocket text messages at `/ws` of `--http`; with `--server`,
    /// give the HTTP address) or `irc` (`fanout` only, with --spawn:
    /// pipechat's `--irc` front door, then ngircd on the same scenario).
    #[arg(long, global = true, value_enum, default_value_t = Transport::Tcp)]
    pub transport: Transport,
    /// The server binary to spawn instead of the one next to the bench.
    #[arg(long, global = true, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
    /// `--sync` for the spawned server.
    #[arg(long, global = true, value_enum)]
    pub sync: Option<SyncMode>,
    /// `--max-connections` for the spawned server (default: the server's,
    /// raised when a scenario needs more).
    #[arg(long, global = true, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Register every user over the wire with real Argon2id hashes, even on a
    /// spawned server (slow: two hashes per user).
    #[arg(long, global = true)]
    pub real_accounts: bool,
    /// One JSON object per scenario instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Seconds the whole run may take; every wait and loop ends by then.
    #[arg(long, global = true, default_value_t = 1800, value_name = "SECS")]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// C connections each send M messages one at a time, waiting for each 201.
    Send(SendArgs),
    /// P publishers at a total rate to S subscribers of one room.
    Fanout(FanoutArgs),
    /// K logged-in idle connections: the server's memory per connection.
    Idle(IdleArgs),
    /// Fetch latency and start-up time on a database of N messages (--spawn).
    History(HistoryArgs),
    /// Logins per second with the password (bounded by Argon2id by design)
    /// and with a resume token.
    Login(LoginArgs),
    /// Search latency on a database of N messages (--spawn).
    Search(SearchArgs),
    /// `/getUnread` latency for a member of many rooms (--spawn).
    Unread(UnreadArgs),
    /// Every scenario in turn, with its default sizes or --smoke sizes.
    All(AllArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct AllArgs {
    /// Tiny sizes: every scenario in a few seconds, as a check that they run.
    #[arg(long)]
    pub smoke: bool,
}
