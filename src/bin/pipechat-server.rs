//! `pipechat-server`: parses the command line and runs [`pipechat::server`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use pipechat::operator::Operator;
use pipechat::server::{self, Config};
use pipechat::store::{self, SyncMode};
use pipechat::tls::TlsFiles;

/// A persistent, real-time chat server speaking the pipechat line protocol.
///
/// Without a command it serves; `pipechat-server backup` copies a database,
/// `pipechat-server import` moves one from SQLite to PostgreSQL,
/// `add-user` and `set-password` manage accounts.
#[derive(Debug, Parser)]
#[command(
    name = "pipechat-server",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    group = clap::ArgGroup::new("irc_door").args(["irc", "ircs"]).multiple(true)
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A TOML file setting any of these options by their long names
    /// (`listen = "0.0.0.0:8080"`, `max_connections = 500`,
    /// `http_allow_origin = ["https://chat.example.org"]`); options on the
    /// command line win over the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SQLite database file (created with its schema when missing), or a
    /// `postgres://user@host:port/dbname` URL to share one PostgreSQL
    /// database between several servers (add
    /// `?sslmode=verify-full&sslrootcert=CA.pem` for TLS).
    #[arg(long, default_value = "chat.db")]
    db: String,
    /// Address to listen on, as IP:PORT; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen_address)]
    listen: String,
    /// Most clients connected at once; one more is greeted with 503 and closed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most clients connected at once from one address (an IPv6 /64), pipe,
    /// WebSocket and IRC together; one more is greeted with 503 and closed.
    /// Loopback (127.0.0.0/8, ::1) is not capped. Default: no cap (256 is a
    /// good value for a server on the internet).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_address: Option<u32>,
    /// Database connections for reads (the writer holds one more).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pool_size: u32,
    /// Durability of each commit: `normal` survives the server being killed,
    /// `full` also survives power loss (slower).
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Seconds a started request line may stay unfinished, a TLS handshake or
    /// an HTTP request head may take, or a client may take none of a reply it
    /// asked for, before the client is dropped. Idle clients between requests
    /// are never dropped, except on IRC (--irc-ping).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    line_timeout: u64,
    /// Address of the web client and its WebSocket endpoint (`/ws`), as
    /// IP:PORT, or `off`; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081", value_parser = http_address, value_name = "ADDR|off")]
    http: HttpAddress,
    /// An origin (e.g. `https://chat.example.org`) whose pages may open a
    /// WebSocket besides the server's own page; repeatable.
    #[arg(long = "http-allow-origin", value_name = "ORIGIN")]
    http_allow_origin: Vec<String>,
    /// Also serve IRC clients at this address, as IP:PORT (off by default;
    /// 127.0.0.1:6667 is the usual choice; port 0 picks a free port).
    /// IRC stays plain text here whatever --tls-cert says, as is IRC's
    /// habit; --ircs is the TLS door.
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    irc: Option<String>,
    /// Also serve IRC clients over TLS at this address, as IP:PORT (off by
    /// default; 0.0.0.0:6697 is the usual choice). Needs --tls-cert.
    #[arg(long, value_name = "ADDR", value_parser = listen_address, requires = "tls_cert")]
    ircs: Option<String>,
    /// Let IRC clients that do not log in chat as guests under any nick that
    /// is not an account's name.
    #[arg(long, requires = "irc_door", overrides_with = "no_irc_guests")]
    irc_guests: bool,
    /// No IRC guests, even if the config file lets them in.
    #[arg(long, overrides_with = "irc_guests")]
    no_irc_guests: bool,
    /// Seconds an IRC client may take to register; once registered, seconds
    /// of silence after which it is sent a PING, and then to answer it
    /// before it is dropped ("Ping timeout"). At most a day.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = server::DEFAULT_IRC_PING.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        requires = "irc_door"
    )]
    irc_ping: u64,
    /// Certificate chain (PEM) to speak TLS with on the pipe, HTTPS and
    /// wss://, and --ircs (--irc stays plain). Re-read, with the key, on
    /// SIGHUP.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Whether anyone who reaches the server may make an account
    /// (`/register`), or only the operator (`pipechat-server add-user`).
    #[arg(long, value_enum, default_value_t = Registration::Open)]
    registration: Registration,
}

/// `--registration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Registration {
    Open,
    Closed,
}

/// `--http`: an address, or off.
#[derive(Debug, Clone)]
struct HttpAddress(Option<String>);

#[derive(Debug, Subcommand)]
enum Command {
    /// Copies a database consistently, also while a server runs on it
    /// (SQLite's online backup). Restore: stop the server, copy the backup
    /// over the database (removing its -wal and -shm files), start it again.
    Backup {
        /// The database to copy (a PostgreSQL one is refused: back it up
        /// with pg_dump).
        #[command(flatten)]
        db: Database,
        /// Where to write the copy: a new file, or a folder to make a new
        /// file in, named after the database and the UTC time
        /// (chat-2026-11-24T031512Z.db). An existing file is never
        /// overwritten.
        out: PathBuf,
    },
    /// Copies a SQLite database (users, chatrooms, memberships, read
    /// positions, direct messages, messages, saved logins, all with their
    /// ids) into an empty PostgreSQL database, in one transaction. Stop the
    /// server on the file first; the file is left as it is.
    Import {
        /// The SQLite database to copy.
        file: PathBuf,
        /// The PostgreSQL database's URL, as `--db` takes it.
        #[arg(long, value_name = "URL", required_unless_present = "config")]
        to: Option<String>,
        /// Or: the node's configuration file, whose `db` is the URL (which
        /// then stays out of `ps`).
        #[arg(long, value_name = "FILE", conflicts_with = "to")]
        config: Option<PathBuf>,
    },
    /// Adds an account, also while a server runs on the database, and also
    /// where `--registration closed` keeps people from making their own.
    /// The password is asked twice at a terminal (not shown), or read as
    /// the first line of standard input.
    AddUser {
        #[command(flatten)]
        db: Database,
        username: String,
    },
    /// Sets the password of an account (for someone who forgot theirs) and
    /// revokes its saved logins, also while a server runs on the database.
    /// Connections already logged in as the user stay until they disconnect
    /// when the server runs on the same SQLite file (restart it to end them
    /// at once); on PostgreSQL every node logs them out. The password is
    /// read as for `add-user`.
    SetPassword {
        #[command(flatten)]
        db: Database,
        username: String,
    },
}

/// Which database `backup`, `add-user` and `set-password` act on.
#[derive(Debug, clap::Args)]
struct Database {
    /// The database: a SQLite file or a `postgres://` URL [default:
    /// chat.db].
    #[arg(long)]
    db: Option<String>,
    /// Or: the server's configuration file, whose `db` it is (a URL with a
    /// password then stays out of `ps` and the shell's history).
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    config: Option<PathBuf>,
}

impl Database {
    /// The database as given: `--db`, the config file's `db`, or `chat.db`.
    fn name(&self) -> Result<String, String> {
        match (&self.db, &self.config) {
            (Some(db), _) => Ok(db.clone()),
            (None, Some(config)) => database_in_config_file(config),
            (None, None) => Ok("chat.db".to_string()),
        }
    }

    fn location(&self) -> Result<store::Location, String> {
        Ok(store::Location::parse(&self.name()?))
    }
}

/// What an account command does once the name is checked.
enum AccountChange {
    Add,
    SetPassword,
}

fn main() -> ExitCode {
    let args = match parse_with_config_file() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("pipechat-server: {message}");
            return ExitCode::FAILURE;
        }
    };
    // An account command says what it did in one line; the store's news
    // (a PostgreSQL node joining) is not the operator's.
    let quiet = matches!(
        args.command,
        Some(Command::AddUser { .. } | Command::SetPassword { .. })
    );
    pipechat::logging::init(if quiet { "warn" } else { "info" });
    if let Some(Command::Backup { db, out }) = args.command {
        return backup(&db, &out);
    }
    if let Some(Command::Import { file, to, config }) = args.command {
        return import(&file, to, config);
    }
    if let Some(Command::AddUser { db, username }) = &args.command {
        return account("add-user", db, username, &AccountChange::Add);
    }
    if let Some(Command::SetPassword { db, username }) = &args.command {
        return account("set-password", db, username, &AccountChange::SetPassword);
    }
    let config = Config {
        db: store::Location::parse(&args.db),
        listen: args.listen,
        max_connections: args.max_connections as usize,
        max_connections_per_address: args.max_connections_per_address.map(|cap| cap as usize),
        pool_size: args.pool_size + 1,
        sync: args.sync,
        line_timeout: Duration::from_secs(args.line_timeout),
        http: args.http.0,
        http_allow_origins: args.http_allow_origin,
        irc: args.irc,
        ircs: args.ircs,
        irc_guests: args.irc_guests,
        irc_ping: Duration::from_secs(args.irc_ping),
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key }),
        registration_open: args.registration == Registration::Open,
    };
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipechat-server: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `pipechat-server backup`: says where the copy went, or why there is
/// none.
fn backup(db: &Database, out: &std::path::Path) -> ExitCode {
    let copied = db.name().and_then(|db| {
        let db = PathBuf::from(db);
        store::backup(&db, out)
            .map(|copy| (db, copy))
            .map_err(|err| err.to_string())
    });
    match copied {
        Ok((db, copy)) => {
            println!(
                "backed up {} to {} ({} pages)",
                db.display(),
                copy.path.display(),
                copy.pages
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("pipechat-server backup: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `add-user` or `set-password` (`command`): opens the database, checks the
/// name, reads the password, makes the change, and says what was done or
/// why not.
fn account(command: &str, db: &Database, username: &str, change: &AccountChange) -> ExitCode {
    let done = (|| -> Result<String, String> {
        let operator = Operator::open(&db.location()?).map_err(|err| err.to_string())?;
        let shown = match change {
            AccountChange::Add => {
                operator
                    .check_new_account(username)
                    .map_err(|err| err.to_string())?;
                username.to_string()
            }
            AccountChange::SetPassword => operator
                .existing_account(username)
                .map_err(|err| err.to_string())?,
        };
        let password = read_new_password(&shown)?;
        match change {
            AccountChange::Add => operator
                .add_user(username, &password)
                .map(|name| format!("added {name}")),
            AccountChange::SetPassword => operator
                .set_password(username, &password)
                .map(|name| format!("set the password of {name}; their saved logins are revoked")),
        }
        .map_err(|err| err.to_string())
    })();
    match done {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("pipechat-server {command}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The new password of `username`: asked twice at a terminal, without
/// echo; otherwise the first line of standard input (a script's, or
/// `echo … |`), without its line end.
fn read_new_password(username: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt).map_err(|err| format!("cannot read it: {err}"))
        };
        let password = ask(&format!("new password for {username}: "))?;
        if ask("again: ")? != password {
            return Err("the two passwords differ; nothing was changed".to_string());
        }
        return Ok(password);
    }
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| format!("cannot read the password from standard input: {err}"))?;
    if read == 0 {
        return Err("no password on standard input (give it as its first line)".to_string());
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_string())
}

/// `pipechat-server import`: says what each table received, or why nothing
/// was copied.
fn import(file: &std::path::Path, to: Option<String>, config: Option<PathBuf>) -> ExitCode {
    let url = match (to, config) {
        (Some(url), _) => Ok(url),
        (None, Some(config)) => database_in_config_file(&config),
        (None, None) => Err("give the PostgreSQL database with --to URL or --config FILE".into()),
    };
    let url = match url {
        Ok(url) if matches!(store::Location::parse(&url), store::Location::Postgres(_)) => url,
        Ok(_) => {
            eprintln!(
                "pipechat-server import: the database to copy into must be a postgres:// URL"
            );
            return ExitCode::FAILURE;
        }
        Err(message) => {
            eprintln!("pipechat-server import: {message}");
            return ExitCode::FAILURE;
        }
    };
    match store::import(file, &url) {
        Ok(copied) => {
            let counts: Vec<String> = copied
                .iter()
                .map(|copied| format!("{} {}", copied.rows, copied.table))
                .collect();
            println!(
                "imported {} into {}: {}",
                file.display(),
                store::Location::parse(&url),
                counts.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("pipechat-server import: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The `db` setting of a configuration file.
fn database_in_config_file(file: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|err| format!("{}: {}", file.display(), toml_error(&text, &err)))?;
    match table.get("db") {
        Some(toml::Value::String(db)) => Ok(db.clone()),
        _ => Err(format!("{} sets no db = \"…\"", file.display())),
    }
}

/// A configuration file's syntax error as the one line a refused start
/// prints (`line 2, column 1: duplicate key`), not the parser's drawing of
/// the line with a caret under it.
fn toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let Some(before) = err.span().and_then(|span| text.get(..span.start)) else {
        return message;
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// The command line, with the options of `--config FILE` (if given) read as
/// if they came first on it: one parser checks both, and the command line
/// wins because the later of two values wins.
fn parse_with_config_file() -> Result<Args, String> {
    let command_line: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some((file, given)) = config_file_named(&command_line) else {
        return Args::try_parse_from(&command_line).map_err(one_line);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let options =
        config_file_arguments(&text, &given).map_err(|err| format!("{}: {err}", file.display()))?;
    let mut merged = vec![command_line[0].clone()];
    merged.extend(options.into_iter().map(Into::into));
    merged.extend(command_line.into_iter().skip(1));
    Args::try_parse_from(merged).map_err(|err| {
        // Clap's message for a bad value names the option, not the file.
        format!("{} or the command line: {}", file.display(), one_line(err))
    })
}

/// Clap's error as the one line every refused start prints (`pipechat-server:
/// …`), without its usage block: what was wrong, and where to look. `--help`
/// and `--version` are printed as clap prints them, and exit 0.
fn one_line(err: clap::Error) -> String {
    if !err.use_stderr() {
        err.exit();
    }
    // The first paragraph: the sentence, and what it lists on lines of
    // their own ("the following required arguments were not provided:").
    let rendered = err.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let said = paragraph.join(" ");
    let said = said.strip_prefix("error: ").unwrap_or(&said);
    format!("{said} (see --help)")
}

/// The file `--config` names on the command line, and the long names of
/// the options the command line gives itself, found without checking the
/// rest of it: an option there may need another that only the file gives
/// (`--irc-guests` with the file's `irc`), so the command line alone is
/// checked only when there is no file.
fn config_file_named(command_line: &[std::ffi::OsString]) -> Option<(PathBuf, Vec<String>)> {
    let command = Args::command();
    let matches = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(command_line)
        .ok()?;
    let file = matches.get_one::<PathBuf>("config").cloned()?;
    let given = command
        .get_arguments()
        .filter(|arg| {
            matches.value_source(arg.get_id().as_str())
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .filter_map(|arg| arg.get_long().map(str::to_string))
        .collect();
    Some((file, given))
}

/// A config file's settings as `--option=value` arguments: joined by `=`,
/// so that a value beginning with `-` (`pool_size = -1`) reaches its
/// option's check instead of passing for another option.
///
/// Settings the command line also gives (`given`, long names) are left
/// out: the command line's value wins, and for an option that may be
/// repeated (`http_allow_origin`) it replaces the file's list instead of
/// adding to it.
fn config_file_arguments(text: &str, given: &[String]) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|err| toml_error(text, &err))?;
    // The server's long options, which are the file's keys.
    let command = Args::command();
    let settings: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|arg| {
            // `--no-…` undoes a setting for one run; the file just leaves
            // the setting out.
            arg.get_long().is_some_and(|name| {
                !["help", "version", "config"].contains(&name) && !name.starts_with("no-")
            })
        })
        .collect();
    let mut arguments = Vec::new();
    // Each setting's key as the file wrote it: `max_connections` and
    // `max-connections` are one setting, and only one of them may count.
    let mut keys_of_settings = std::collections::HashMap::new();
    for (key, value) in table {
        if key == "config" {
            return Err("a config file cannot name another one".to_string());
        }
        let flag = format!("--{}", key.replace('_', "-"));
        if let Some(earlier) = keys_of_settings.insert(flag.clone(), key.clone()) {
            return Err(format!("{earlier} and {key} are one setting, given twice"));
        }
        // Said here, in the file's terms: clap would speak of `--listne`.
        let Some(setting) = settings
            .iter()
            .find(|arg| arg.get_long() == Some(&flag[2..]))
        else {
            let names: Vec<String> = settings
                .iter()
                .filter_map(|arg| arg.get_long())
                .map(|name| name.replace('-', "_"))
                .collect();
            return Err(format!(
                "unknown setting '{key}'; the settings are {}",
                names.join(", ")
            ));
        };
        if given.iter().any(|name| *name == flag[2..]) {
            continue;
        }
        // `irc_guests = true`, not `irc_guests = "yes"`; `listen = "…"`,
        // not `listen = true`.
        let switch = !setting.get_action().takes_values();
        let values = match value {
            toml::Value::Array(items) if !switch => items,
            single => vec![single],
        };
        for value in values {
            match value {
                toml::Value::Boolean(true) if switch => arguments.push(flag.clone()),
                toml::Value::Boolean(false) if switch => {}
                _ if switch => return Err(format!("{key}: expected true or false, not {value}")),
                toml::Value::String(text) => arguments.push(format!("{flag}={text}")),
                toml::Value::Integer(n) => arguments.push(format!("{flag}={n}")),
                other => {
                    return Err(format!("{key}: expected text or a number, not {other}"));
                }
            }
        }
    }
    Ok(arguments)
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

/// `--http`: `off`, or an address as for `--listen`.
fn http_address(text: &str) -> Result<HttpAddress, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(HttpAddress(None));
    }
    listen_address(text)
        .map(|addr| HttpAddress(Some(addr)))
        .map_err(|_| "expected IP:PORT or off, e.g. 0.0.0.0:8081".to_string())
}
