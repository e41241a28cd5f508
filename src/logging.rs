//! The server's log: `env_logger` on standard error at the level
//! `RUST_LOG` asks for, with what other crates log of the traffic itself
//! kept out, so that passwords never reach the log at any level.

use std::time::{Duration, Instant};

use log::{Level, Log, Metadata, Record};
use parking_lot::Mutex;

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

/// A warning that a flood can raise many times a second (connections
/// refused): logged at most once every [`SparseWarning::EVERY`], the next
/// line saying how many were held back, so that it cannot bury the rest of
/// the log.
#[derive(Default)]
pub(crate) struct SparseWarning {
    /// When it was last logged, and how many were held back since.
    last: Mutex<Option<(Instant, u64)>>,
}

impl SparseWarning {
    pub(crate) const EVERY: Duration = Duration::from_secs(10);

    /// Logs the line `line` makes, unless one was logged within
    /// [`SparseWarning::EVERY`]; then it is only counted.
    pub(crate) fn warn(&self, line: impl FnOnce() -> String) {
        let mut last = self.last.lock();
        match &mut *last {
            Some((at, held_back)) if at.elapsed() < Self::EVERY => *held_back += 1,
            _ => {
                let more = match last.map_or(0, |(_, held_back)| held_back) {
                    0 => String::new(),
                    n => format!(" ({n} more since the last such line)"),
                };
                log::warn!("{}{more}", line());
                *last = Some((Instant::now(), 0));
            }
        }
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
