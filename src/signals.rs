//! The signals a running server obeys: SIGINT and SIGTERM stop it (a
//! second one during the shutdown ends the process at once), SIGHUP
//! re-reads the certificate, unless it means that the terminal the server
//! runs in has closed.
//!
//! A service manager sends SIGHUP to ask for a reload (`systemctl reload`
//! after a certificate renewal). A terminal sends it when it closes; a
//! server that took that for a reload would go on holding its ports with
//! nobody left to stop it, and the next `cargo run` would find them taken.
//! The two are told apart by what the kernel does on a hang-up: it detaches
//! the terminal from every process of its session before any of them hears
//! of it. So a server that started with a controlling terminal and has none
//! when SIGHUP arrives was hung up on, and stops as on SIGTERM. One started
//! with SIGHUP ignored (`nohup`) was asked to outlive its terminal, and only
//! reloads.

use std::ffi::c_int;
use std::sync::Arc;

use parking_lot::Mutex;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::server::StopHandle;
use crate::tls::TlsAcceptor;

/// The signals caught, from the server's start. SIGTERM or SIGHUP while
/// the database opens (which can take minutes when it migrates) must not
/// kill the process: a reload then has nothing to do, and a first stop is
/// held until the server serves (the migration's work is kept). A second
/// SIGINT or SIGTERM ends the process at once, then as at a slow shutdown:
/// someone pressing Ctrl-C again, or a service manager that will not wait;
/// a migration under way is one transaction, undone, and runs again at the
/// next start.
pub(crate) struct Caught {
    phase: Arc<Mutex<Phase>>,
}

/// What the signals thread acts on.
enum Phase {
    /// The server is not serving yet: the signal of a stop asked for, and
    /// whether a reload was (a certificate renewed while the database
    /// migrated is read once it serves).
    Starting {
        stop_asked: Option<c_int>,
        reload_asked: bool,
    },
    Serving {
        stop: Arc<StopHandle>,
        tls: Option<Arc<TlsAcceptor>>,
    },
}

impl Caught {
    /// Catches SIGINT, SIGTERM and SIGHUP from now on, on a thread of its
    /// own, which outlives the stop it orders.
    ///
    /// # Errors
    ///
    /// The handlers could not be installed, or the thread started.
    pub(crate) fn now() -> std::io::Result<Caught> {
        // Read before our own handler replaces what the parent left.
        let hangup_stops = has_controlling_terminal() == Some(true) && !sighup_ignored();
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        let phase = Arc::new(Mutex::new(Phase::Starting {
            stop_asked: None,
            reload_asked: false,
        }));
        let obeyed = Arc::clone(&phase);
        // Whether a stop was ordered (by any signal), and whether by SIGINT
        // or SIGTERM: only a second of those exits at once.
        let (mut stopping, mut interrupted) = (false, false);
        std::thread::Builder::new()
            .name("signals".to_string())
            .spawn(move || {
                for signal in signals.forever() {
                    let hung_up = signal == SIGHUP
                        && hangup_stops
                        && has_controlling_terminal() == Some(false);
                    let response = response(signal, stopping, interrupted, hung_up);
                    stopping |= response == Response::Stop;
                    interrupted |= signal != SIGHUP;
                    match &mut *obeyed.lock() {
                        Phase::Serving { stop, tls } => {
                            serve_response(response, signal, hung_up, stop, tls.as_deref());
                        }
                        Phase::Starting {
                            stop_asked,
                            reload_asked,
                        } => {
                            start_response(response, signal, hung_up, stop_asked, reload_asked);
                        }
                    }
                }
            })?;
        Ok(Caught { phase })
    }

    /// From now on the signals act on the serving server: a reload or a
    /// stop asked for while it started is carried out now.
    pub(crate) fn obey(self, stop: Arc<StopHandle>, tls: Option<Arc<TlsAcceptor>>) {
        let mut phase = self.phase.lock();
        if let Phase::Starting {
            stop_asked,
            reload_asked,
        } = *phase
        {
            if reload_asked {
                reload_certificate(tls.as_deref());
            }
            if let Some(signal) = stop_asked {
                log::info!("signal {signal} came while starting: shutting down");
                stop.stop();
            }
        }
        *phase = Phase::Serving { stop, tls };
    }
}

/// Carries out `response` to `signal` while the server serves.
fn serve_response(
    response: Response,
    signal: c_int,
    hung_up: bool,
    stop: &StopHandle,
    tls: Option<&TlsAcceptor>,
) {
    match response {
        Response::Reload => reload_certificate(tls),
        Response::Stop if hung_up => {
            log::info!("the terminal closed (SIGHUP), shutting down");
            stop.stop();
        }
        Response::Stop => {
            log::info!("received signal {signal}, shutting down");
            stop.stop();
        }
        Response::AlreadyStopping => {
            log::info!("received signal {signal}; already stopping")
        }
        Response::ExitNow => {
            log::warn!("received signal {signal} again: exiting now, before the shutdown ends");
            std::process::exit(128 + signal);
        }
    }
}

/// Carries out `response` to `signal` while the server starts: a stop or a
/// reload is noted for [`Caught::obey`].
fn start_response(
    response: Response,
    signal: c_int,
    hung_up: bool,
    stop_asked: &mut Option<c_int>,
    reload_asked: &mut bool,
) {
    match response {
        Response::Reload => {
            *reload_asked = true;
            log::info!(
                "SIGHUP while starting: the certificate is read again once the server serves"
            );
        }
        Response::Stop if hung_up => {
            *stop_asked = Some(signal);
            log::info!(
                "the terminal closed (SIGHUP) while starting: stopping once the database is open"
            );
        }
        Response::Stop => {
            *stop_asked = Some(signal);
            log::info!(
                "received signal {signal} while starting: stopping once the database is open \
                 (a schema migration can take minutes; Ctrl-C again, or a second SIGTERM, \
                 stops at once, undoing a migration under way)"
            );
        }
        Response::AlreadyStopping => {
            log::info!("received signal {signal} while starting; already stopping")
        }
        Response::ExitNow => {
            log::warn!(
                "received signal {signal} again while starting: exiting now; a schema \
                 migration under way is undone, and runs again at the next start"
            );
            std::process::exit(128 + signal);
        }
    }
}

/// What the server does on a signal.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Response {
    Stop,
    Reload,
    /// A hang-up while stopping: the shutdown goes on.
    AlreadyStopping,
    ExitNow,
}

/// `stopping`: a stop was ordered earlier, by any signal; `interrupted`:
/// by SIGINT or SIGTERM; `hung_up`: this SIGHUP means the server's terminal
/// closed (see the module's comment).
fn response(signal: c_int, stopping: bool, interrupted: bool, hung_up: bool) -> Response {
    match signal {
        SIGHUP if !hung_up => Response::Reload,
        SIGHUP if stopping => Response::AlreadyStopping,
        SIGHUP => Response::Stop,
        _ if interrupted => Response::ExitNow,
        _ if stopping => Response::AlreadyStopping,
        _ => Response::Stop,
    }
}

/// SIGHUP: reads the certificate and key again (a renewal). Connections
/// open keep the certificate they started with; a file that cannot be read
/// leaves the current one in use.
fn reload_certificate(tls: Option<&TlsAcceptor>) {
    match tls {
        Some(acceptor) => match acceptor.reload() {
            Ok(()) => log::info!("SIGHUP: certificate reloaded"),
            Err(err) => log::error!("SIGHUP: keeping the current certificate: {err}"),
        },
        None => log::info!("SIGHUP: no certificate to reload (no --tls-cert)"),
    }
}

/// Whether this process has a controlling terminal (`tty_nr` in
/// `/proc/self/stat`); `None` where `/proc` does not say.
fn has_controlling_terminal() -> Option<bool> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    terminal_of_stat(&stat).map(|tty| tty != 0)
}

/// `tty_nr` from a `/proc/PID/stat` line: the fifth field after the command
/// name, which is in parentheses and may itself hold spaces and `)`.
fn terminal_of_stat(stat: &str) -> Option<i64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(4)?.parse().ok()
}

/// Whether SIGHUP was ignored when the process started (`nohup`), from the
/// `SigIgn` mask in `/proc/self/status`.
fn sighup_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| ignored_in_status(&status, SIGHUP))
        .unwrap_or(false)
}

/// Whether `signal` is in a `/proc/PID/status` text's `SigIgn` mask (bit
/// `signal - 1`).
fn ignored_in_status(status: &str, signal: i32) -> Option<bool> {
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))?
        .trim();
    let mask = u64::from_str_radix(mask, 16).ok()?;
    Some(mask & (1 << (signal - 1)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 34817 4242 4194560 120 0";
        assert_eq!(terminal_of_stat(stat), Some(34817));
        let detached = "17 (pipechat-server) S 1 17 17 0 -1 4194560 120 0";
        assert_eq!(terminal_of_stat(detached), Some(0));
        assert_eq!(terminal_of_stat("garbage"), None);
    }

    #[test]
    fn sighup_is_bit_zero_of_the_ignored_mask() {
        let status = "Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000001\n";
        assert_eq!(ignored_in_status(status, SIGHUP), Some(true));
        let status = "SigIgn:\t0000000000001000\n";
        assert_eq!(ignored_in_status(status, SIGHUP), Some(false));
        assert_eq!(ignored_in_status(status, SIGTERM), Some(false));
        assert_eq!(
            ignored_in_status("SigIgn:\t0000000000004000\n", SIGTERM),
            Some(true)
        );
        assert_eq!(ignored_in_status("Name:\tx\n", SIGHUP), None);
    }

    #[test]
    fn a_second_stop_signal_exits_at_once_and_a_hang_up_never_does() {
        for signal in [SIGINT, SIGTERM] {
            assert_eq!(response(signal, false, false, false), Response::Stop);
            assert_eq!(response(signal, true, true, false), Response::ExitNow);
            // After the terminal closed: the first of them is not a second.
            assert_eq!(
                response(signal, true, false, false),
                Response::AlreadyStopping
            );
        }
        assert_eq!(response(SIGHUP, false, false, false), Response::Reload);
        assert_eq!(response(SIGHUP, true, true, false), Response::Reload);
        assert_eq!(response(SIGHUP, false, false, true), Response::Stop);
        assert_eq!(
            response(SIGHUP, true, true, true),
            Response::AlreadyStopping
        );
    }

    #[test]
    fn this_process_reads_its_own_terminal_and_mask() {
        // Whatever runs the tests, /proc answers both questions.
        assert!(has_controlling_terminal().is_some());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(ignored_in_status(&status, SIGHUP).is_some());
    }
}
