//! The server's log: `env_logger` on standard error at the level
//! `RUST_LOG` asks for, with what other crates log of the traffic itself
//! kept out, so that passwords never reach the log at any level.

use log::{Level, Log, Metadata, Record};

/// Crates that log what crosses the wire below `info`: tungstenite logs
/// every WebSocket message whole at `trace` (a `/login`'s password with
/// it), tokio_postgres every statement's parameters at `debug` (message
/// texts, password hashes). Their records below `info` are dropped
/// whatever `RUST_LOG` says.
const WIRE_LOGGERS: &[&str] = &["tungstenite", "tokio_postgres"];

/// Installs the logger: `RUST_LOG`, or `default_filter` without it.
pub fn init(default_filter: &str) {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
            .build();
    let max_level = inner.filter();
    if log::set_boxed_logger(Box::new(WithoutTraffic(inner))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// `env_logger`, minus the records [`carries_no_traffic`] refuses.
struct WithoutTraffic(env_logger::Logger);

impl Log for WithoutTraffic {
    fn enabled(&self, metadata: &Metadata) -> bool {
        carries_no_traffic(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if carries_no_traffic(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Whether a record may be logged: any at `info` or above, and below it
/// any but those of [`WIRE_LOGGERS`] (and their modules).
fn carries_no_traffic(metadata: &Metadata) -> bool {
    metadata.level() <= Level::Info
        || !WIRE_LOGGERS.iter().any(|name| {
            metadata
                .target()
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(target: &str, level: Level) -> bool {
        carries_no_traffic(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn wire_loggers_are_kept_to_info_and_above() {
        assert!(!allowed("tungstenite::protocol", Level::Trace));
        assert!(!allowed("tokio_postgres::query", Level::Debug));
        assert!(!allowed("tokio_postgres", Level::Debug));
        assert!(allowed("tungstenite::protocol", Level::Info));
        assert!(allowed("tokio_postgres::connection", Level::Warn));
        // Ours, and crates merely named alike, keep every level.
        assert!(allowed("pipechat::server", Level::Trace));
        assert!(allowed("tungstenite_extra", Level::Trace));
        assert!(allowed("rustls::server", Level::Debug));
    }
}
