//! Password hashing and login throttling.
//!
//! Argon2id is deliberately expensive (19 MiB and two passes per hash), so the
//! number of hashes computed at once is bounded: a burst of logins queues here
//! instead of taking every core from message traffic. Failed logins are
//! counted per source address and, past a limit, refused without hashing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use crossbeam_channel::{Receiver, Sender};

/// Failed logins allowed from one address within [`FAILED_LOGIN_WINDOW`].
pub const MAX_FAILED_LOGINS: usize = 10;
/// The sliding window over which failed logins are counted.
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// How many addresses the throttle remembers before it forgets stale ones.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

pub struct Accounts {
    /// One token per hash allowed to run at once.
    permits: (Sender<()>, Receiver<()>),
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// Verified against when the user does not exist, so that an unknown name
    /// takes as long to refuse as a wrong password.
    decoy_hash: String,
}

/// Hashing failed; only a broken random source or allocator can cause it.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Accounts {
    /// `concurrent_hashes` bounds how many Argon2id computations run at once.
    pub fn new(concurrent_hashes: usize) -> Result<Accounts, HashError> {
        let concurrent_hashes = concurrent_hashes.max(1);
        let permits = crossbeam_channel::bounded(concurrent_hashes);
        for _ in 0..concurrent_hashes {
            let _ = permits.0.send(());
        }
        let decoy_hash = hash(b"pipechat decoy password")?;
        Ok(Accounts {
            permits,
            failures: Mutex::new(HashMap::new()),
            decoy_hash,
        })
    }

    /// A sensible bound for this machine: leave one core for everything else.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1)
    }

    /// Hashes a new password into a PHC string.
    pub fn hash_password(&self, password: &str) -> Result<String, HashError> {
        let _permit = self.permit();
        hash(password.as_bytes())
    }

    /// Checks `password` against a stored PHC string, or against a decoy when
    /// there is no such user (and then always fails).
    pub fn verify_password(&self, password: &str, stored: Option<&str>) -> bool {
        let _permit = self.permit();
        let phc = stored.unwrap_or(&self.decoy_hash);
        let matches = match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(err) => {
                log::error!("a stored password hash is not a valid PHC string: {err}");
                false
            }
        };
        matches && stored.is_some()
    }

    /// `Err(wait)` when `address` has failed too often lately.
    pub fn check_throttle(&self, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.lock_failures();
        let Some(times) = failures.get_mut(&address) else {
            return Ok(());
        };
        forget_before(times, now);
        if times.len() >= MAX_FAILED_LOGINS {
            let oldest = times.front().copied().unwrap_or(now);
            Err(FAILED_LOGIN_WINDOW.saturating_sub(now - oldest))
        } else {
            Ok(())
        }
    }

    pub fn record_failure(&self, address: IpAddr) {
        let now = Instant::now();
        let mut failures = self.lock_failures();
        if failures.len() >= MAX_TRACKED_ADDRESSES {
            failures.retain(|_, times| {
                forget_before(times, now);
                !times.is_empty()
            });
        }
        failures.entry(address).or_default().push_back(now);
    }

    fn permit(&self) -> Permit<'_> {
        // The channel lives as long as `self`, so recv cannot fail.
        let _ = self.permits.1.recv();
        Permit(&self.permits.0)
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Gives its token back when dropped, even if hashing panics.
struct Permit<'a>(&'a Sender<()>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn forget_before(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.duration_since(t) >= FAILED_LOGIN_WINDOW)
    {
        times.pop_front();
    }
}

/// Argon2id with the crate's defaults, which are OWASP's (m=19456 KiB, t=2, p=1).
fn hash(password: &[u8]) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| HashError(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let accounts = Accounts::new(1).unwrap();
        let stored = accounts.hash_password("correct horse").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(accounts.verify_password("correct horse", Some(&stored)));
        assert!(!accounts.verify_password("wrong horse", Some(&stored)));
        assert!(!accounts.verify_password("pipechat decoy password", None));
    }

    #[test]
    fn throttles_after_the_limit() {
        let accounts = Accounts::new(1).unwrap();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(accounts.check_throttle(address).is_ok());
            accounts.record_failure(address);
        }
        let wait = accounts.check_throttle(address).unwrap_err();
        assert!(wait <= FAILED_LOGIN_WINDOW && wait > Duration::ZERO);
        assert!(accounts.check_throttle(other).is_ok());
    }
}
