//! Password hashing and login throttling.
//!
//! Argon2id is deliberately expensive (19 MiB and two passes per hash), so
//! hashes are computed by a small fixed pool of hashing threads: a burst of
//! logins queues here instead of taking every core from message traffic, and
//! the 19 MiB working memory stays with those few threads instead of being
//! left behind (by the allocator) in every connection thread that ever
//! hashed; each keeps its 19 MiB for the next hash (see `passwords`). Failed logins are counted per username and source address, and
//! per address alone with a much higher limit; past a limit, attempts are
//! refused without hashing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, MutexGuard};

use super::{ChatError, passwords};
use crate::metrics::metrics;
use crate::store::{Credentials, Store, StoreError};

/// Failed logins allowed for one username from one address within
/// [`FAILED_LOGIN_WINDOW`]: a user's own typos only slow that user down.
pub const MAX_FAILED_LOGINS: usize = 10;
/// Failed logins allowed from one address, whatever the names, within the
/// window: a class behind one NAT shares it, so it is much higher, and it
/// still stops guessing across many names.
pub const MAX_FAILED_LOGINS_PER_ADDRESS: usize = 100;
/// The sliding window over which failed logins are counted.
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// How many keys the throttle remembers before it forgets stale ones.
const MAX_TRACKED_KEYS: usize = 10_000;

pub(crate) struct Accounts {
    /// Work for the hashing threads.
    hashing: Sender<HashJob>,
    throttle: Arc<LoginThrottle>,
    /// Verified against when the user does not exist, so that an unknown name
    /// takes as long to refuse as a wrong password.
    decoy_hash: String,
}

/// Hashing failed, or the random source did; only a broken operating
/// system or allocator can cause it.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    /// The operating system's random source failed.
    pub(crate) fn random(err: &getrandom::Error) -> HashError {
        HashError(format!("no random bytes: {err}"))
    }
}

impl Accounts {
    /// Starts `hashing_threads` threads: the most Argon2id computations that
    /// run at once. They end when the `Accounts` is dropped.
    ///
    /// With `shared`, failed logins are kept in that store, for every server
    /// sharing it (PostgreSQL); otherwise in this process.
    pub(crate) fn new(
        hashing_threads: usize,
        shared: Option<Store>,
    ) -> Result<Accounts, HashError> {
        let (hashing, jobs) = crossbeam_channel::unbounded::<HashJob>();
        for index in 0..hashing_threads.max(1) {
            let jobs: Receiver<HashJob> = jobs.clone();
            std::thread::Builder::new()
                .name(format!("hasher-{index}"))
                .spawn(move || {
                    for job in jobs {
                        job();
                    }
                })
                .map_err(|err| HashError(format!("cannot start a hashing thread: {err}")))?;
        }
        let mut accounts = Accounts {
            hashing,
            throttle: Arc::new(LoginThrottle {
                failures: Mutex::default(),
                shared,
            }),
            decoy_hash: String::new(),
        };
        // On a hashing thread, whose working memory is there anyway, not
        // on this one, which would keep its own for good.
        accounts.decoy_hash = accounts.on_hashing_thread(|| hash(b"pipechat decoy password"))??;
        Ok(accounts)
    }

    /// A sensible bound for this machine: leave one core for everything else.
    pub(crate) fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1)
    }

    /// Hashes a new password into a PHC string.
    pub(crate) fn hash_password(&self, password: &str) -> Result<String, HashError> {
        let password = password.as_bytes().to_vec();
        self.on_hashing_thread(move || hash(&password))?
    }

    /// Checks a password from `source`, given for `purpose`: `lookup` finds
    /// the user's credentials, and the password is checked against their
    /// PHC string, or against a decoy when there is no such user (and then
    /// refused). A refusal counts towards the throttle, whatever the
    /// purpose; a source over its limit is refused without hashing, also
    /// when its attempt was queued.
    ///
    /// `lookup` runs on the hashing thread too: a connection thread that only
    /// ever logged in then never ran a query, and its stack (which stays
    /// resident for as long as the client is connected) stays shallow.
    pub(crate) fn check_login<E>(
        &self,
        source: &LoginSource,
        password: &str,
        purpose: PasswordUse,
        lookup: impl FnOnce() -> Result<Option<Credentials>, E> + Send + 'static,
    ) -> Result<LoginCheck, E>
    where
        E: From<HashError> + From<StoreError> + Send + 'static,
    {
        if let Err(held) = self.throttle.check(source) {
            return held.into_check();
        }
        let source = source.clone();
        let password = password.as_bytes().to_vec();
        let throttle = Arc::clone(&self.throttle);
        let decoy = self.decoy_hash.clone();
        self.on_hashing_thread(move || {
            if let Err(held) = throttle.check(&source) {
                return held.into_check();
            }
            let credentials = lookup()?;
            let phc = credentials
                .as_ref()
                .map_or(decoy.as_str(), |c| &c.password_hash);
            let matches = match passwords::verify(&password, phc) {
                Ok(matches) => matches,
                Err(err) => {
                    log::error!("a stored password hash cannot be checked: {err}");
                    false
                }
            };
            // Logged here rather than on the connection's thread: the logger
            // keeps a buffer in every thread that ever logs, and thousands of
            // idle connection threads would each keep one.
            match credentials {
                Some(credentials) if matches => {
                    // A change of password is logged once it is made.
                    if purpose == PasswordUse::Login {
                        log::info!(
                            "{} logged in as '{}'",
                            source.address,
                            credentials.user.username
                        );
                    }
                    Ok(LoginCheck::Verified(credentials))
                }
                // The name only when it is a user's: a password typed into
                // the name's field is not written to the log.
                wrong => {
                    let address = source.address;
                    match (&wrong, purpose) {
                        (Some(credentials), PasswordUse::Login) => log::info!(
                            "failed login as '{}' from {address}",
                            credentials.user.username,
                        ),
                        (None, PasswordUse::Login) => {
                            log::info!("failed login from {address} (no such user)");
                        }
                        (Some(credentials), PasswordUse::Change) => log::info!(
                            "wrong current password for '{}' from {address}",
                            credentials.user.username,
                        ),
                        // The account went while its user was logged in.
                        (None, PasswordUse::Change) => {
                            log::info!("wrong current password from {address} (no such user)");
                        }
                    }
                    throttle
                        .record_failure(&source, wrong.is_some())
                        .map_err(E::from)?;
                    Ok(LoginCheck::Refused)
                }
            }
        })?
    }

    /// Whether `source` may try now, for attempts that need no hash
    /// (impossible names, wrong resume tokens).
    pub(crate) fn check_throttle(&self, source: &LoginSource) -> Result<(), Held> {
        self.throttle.check(source)
    }

    /// Counts a failed login that needed no hashing to refuse.
    ///
    /// # Errors
    ///
    /// When the failures are counted in the database and it cannot take
    /// this one: the attempt is then answered 503, not 401, or a guesser
    /// would go uncounted (and a right password, whose token cannot be
    /// stored either, would stand out by its 503).
    pub(crate) fn record_failure(&self, source: &LoginSource) -> Result<(), StoreError> {
        // Refused without a lookup, so whether the name is a user's is not
        // known: it is not logged.
        self.throttle.record_failure(source, false)
    }

    /// Runs `work` on a hashing thread and waits for its result.
    pub(crate) fn on_hashing_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, answer) = oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = reply.send(work());
        });
        let gone = || HashError("the hashing threads have stopped".to_string());
        self.hashing.send(job).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())
    }
}

/// What a password is given for, which is what the log says of its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordUse {
    /// To log in (`/login`, IRC's `PASS` and SASL).
    Login,
    /// As the current password, to change it (`/changePassword`): not a
    /// login, though a wrong one is counted as a failed login is.
    Change,
}

/// The outcome of [`Accounts::check_login`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginCheck {
    /// The password is right; these are the credentials it matched (the
    /// hash, so that what follows can insist that it has not changed since).
    Verified(Credentials),
    /// Wrong password or unknown user: the same answer for both.
    Refused,
    /// Too many failures for this name or from this address; try again
    /// after this long.
    Throttled(Duration),
}

/// Why the throttle does not let an attempt through.
#[derive(Debug)]
pub(crate) enum Held {
    /// Too many failures lately; try again after this long.
    Wait(Duration),
    /// The failures are counted in the database (servers sharing one), and
    /// it cannot be asked. Such a database cannot log anyone in either, so
    /// the attempt is answered at once (503) rather than after the lookup
    /// and the other counts had each waited for it in turn.
    Unknown(StoreError),
}

impl Held {
    fn into_check<E: From<StoreError>>(self) -> Result<LoginCheck, E> {
        match self {
            Held::Wait(wait) => Ok(LoginCheck::Throttled(wait)),
            Held::Unknown(err) => Err(E::from(err)),
        }
    }
}

impl From<Held> for ChatError {
    fn from(held: Held) -> ChatError {
        match held {
            Held::Wait(wait) => ChatError::Throttled(wait.as_secs().max(1)),
            Held::Unknown(err) => ChatError::Store(err),
        }
    }
}

/// Who is trying to log in, as the throttle counts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LoginSource {
    address: IpAddr,
    /// The name tried, lower-cased (names are unique without regard to
    /// case); `None` for attempts without one (a resume token).
    username: Option<String>,
}

impl LoginSource {
    /// A name that cannot be a username counts against the address only, so
    /// that junk names cannot fill the throttle's memory.
    pub(crate) fn new(address: IpAddr, username: Option<&str>) -> LoginSource {
        let possible = username.filter(|name| super::limits::check_username(name).is_ok());
        LoginSource {
            address: network_of(address),
            username: possible.map(str::to_ascii_lowercase),
        }
    }
}

/// The address as the throttle counts it. An IPv6 host is usually given a
/// whole /64 network and can take a new address from it for every try, so
/// IPv6 addresses count by their /64; an IPv4 address (also one written as
/// IPv6, `::ffff:a.b.c.d`) counts alone.
pub(super) fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// What one failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Address(IpAddr),
    UserAtAddress(IpAddr, String),
}

/// Recent failed logins, per username and address and per address alone:
/// kept in this process, or in the database when servers share one.
#[derive(Default)]
struct LoginThrottle {
    failures: Mutex<HashMap<ThrottleKey, VecDeque<Instant>>>,
    shared: Option<Store>,
}

impl LoginThrottle {
    /// The keys a failure of `source` counts against, with their limits.
    fn keys(source: &LoginSource) -> impl Iterator<Item = (ThrottleKey, usize)> {
        let address = (
            ThrottleKey::Address(source.address),
            MAX_FAILED_LOGINS_PER_ADDRESS,
        );
        let user = source.username.as_ref().map(|name| {
            (
                ThrottleKey::UserAtAddress(source.address, name.clone()),
                MAX_FAILED_LOGINS,
            )
        });
        std::iter::once(address).chain(user)
    }

    /// Whether `source` has failed too often lately.
    fn check(&self, source: &LoginSource) -> Result<(), Held> {
        let mut wait = Duration::ZERO;
        for (key, limit) in Self::keys(source) {
            let ages = self.ages(&key).map_err(Held::Unknown)?;
            if ages.len() >= limit {
                // The wait until enough old failures fall out of the window.
                let freeing = ages[ages.len() - limit];
                wait = wait.max(FAILED_LOGIN_WINDOW.saturating_sub(freeing));
            }
        }
        if wait.is_zero() {
            return Ok(());
        }
        metrics().login_throttled.inc();
        Err(Held::Wait(wait))
    }

    /// How long ago each of `key`'s failures in the window was, oldest first.
    fn ages(&self, key: &ThrottleKey) -> Result<Vec<Duration>, StoreError> {
        if let Some(shared) = self.shared.as_ref().and_then(Store::shared_failures) {
            return shared.failure_ages(&key.to_string(), FAILED_LOGIN_WINDOW);
        }
        let now = Instant::now();
        let mut failures = self.lock();
        let Some(times) = failures.get_mut(key) else {
            return Ok(Vec::new());
        };
        forget_before(times, now);
        Ok(times.iter().map(|&t| now - t).collect())
    }

    /// Counts a failure of `source`, and logs each of its keys that this
    /// failure brings to its limit: an operator learns which name and
    /// address are held (the refusals that follow are counted by
    /// `pipechat_login_throttled_total`, not logged, or a guesser could
    /// flood the log). The name is written only when it is a user's
    /// (`named_a_user`): a name that is nobody's may be a password typed
    /// into the wrong field.
    fn record_failure(&self, source: &LoginSource, named_a_user: bool) -> Result<(), StoreError> {
        let mut reached = Vec::new();
        if let Some(shared) = self.shared.as_ref().and_then(Store::shared_failures) {
            let keys: Vec<String> = Self::keys(source).map(|(key, _)| key.to_string()).collect();
            shared.record_failure(&keys)?;
            // Counted after the fact, and only for the log: a count that
            // cannot be read costs the warning, not the answer.
            for ((key, limit), name) in Self::keys(source).zip(&keys) {
                let count = shared
                    .failure_ages(name, FAILED_LOGIN_WINDOW)
                    .map(|ages| ages.len());
                if count.is_ok_and(|count| count == limit) {
                    reached.push((key, limit));
                }
            }
        } else {
            let now = Instant::now();
            let mut failures = self.lock();
            if failures.len() >= MAX_TRACKED_KEYS {
                failures.retain(|_, times| {
                    forget_before(times, now);
                    !times.is_empty()
                });
            }
            for (key, limit) in Self::keys(source) {
                let times = failures.entry(key.clone()).or_default();
                forget_before(times, now);
                times.push_back(now);
                if times.len() == limit {
                    reached.push((key, limit));
                }
                // Only the latest `limit` decide a wait (`check`): older ones
                // are not worth their memory while a flood goes on.
                while times.len() > limit {
                    times.pop_front();
                }
            }
        }
        for (key, limit) in reached {
            let key = match key {
                ThrottleKey::UserAtAddress(address, _) if !named_a_user => {
                    format!("a name that is no user's, at {address}")
                }
                key => key.to_string(),
            };
            log::warn!(
                "{key}: {limit} failed logins within {window} s; more are refused until \
                 the oldest of them is {window} s old",
                window = FAILED_LOGIN_WINDOW.as_secs()
            );
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ThrottleKey, VecDeque<Instant>>> {
        self.failures.lock()
    }
}

impl std::fmt::Display for ThrottleKey {
    /// The key as stored where servers share failures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThrottleKey::Address(address) => write!(f, "address {address}"),
            ThrottleKey::UserAtAddress(address, name) => write!(f, "user {name} at {address}"),
        }
    }
}

type HashJob = Box<dyn FnOnce() + Send>;

fn forget_before(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.duration_since(t) >= FAILED_LOGIN_WINDOW)
    {
        times.pop_front();
    }
}

/// Hashes a password right here, on the caller's thread (the server uses
/// `Accounts`' bounded pool instead): for seeding real accounts.
///
/// # Errors
///
/// Only a broken random source or allocator.
pub fn argon2id_hash(password: &str) -> Result<String, HashError> {
    hash(password.as_bytes())
}

/// Argon2id with the crate's defaults, which are OWASP's (m=19456 KiB, t=2, p=1).
fn hash(password: &[u8]) -> Result<String, HashError> {
    passwords::hash(password).map_err(|err| HashError(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::User;

    fn credentials(password_hash: &str) -> Credentials {
        Credentials {
            user: User {
                id: 1,
                username: "alice".into(),
                guest: false,
            },
            password_hash: password_hash.into(),
        }
    }

    #[test]
    fn ipv6_addresses_count_by_their_network() {
        let at = |address: &str| LoginSource::new(address.parse().unwrap(), Some("alice"));
        assert_eq!(at("2001:db8:1:2::1"), at("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
        assert_eq!(at("::ffff:192.0.2.1"), at("192.0.2.1"));
        assert_ne!(at("192.0.2.1"), at("192.0.2.2"));
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let accounts = Accounts::new(1, None).unwrap();
        let stored = accounts.hash_password("correct horse").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let here = LoginSource::new("192.0.2.1".parse().unwrap(), Some("alice"));
        let alice = credentials(&stored);
        let check = |password, known: Option<Credentials>| {
            accounts
                .check_login(&here, password, PasswordUse::Login, move || {
                    Ok::<_, ChatError>(known)
                })
                .unwrap()
        };
        assert_eq!(
            check("correct horse", Some(alice.clone())),
            LoginCheck::Verified(alice.clone())
        );
        assert_eq!(check("wrong horse", Some(alice)), LoginCheck::Refused);
        assert_eq!(check("pipechat decoy password", None), LoginCheck::Refused);
    }

    #[test]
    fn a_flood_of_failures_keeps_only_what_decides_a_wait() {
        let accounts = Accounts::new(1, None).unwrap();
        let address: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..10 * MAX_FAILED_LOGINS_PER_ADDRESS {
            accounts
                .record_failure(&LoginSource::new(address, Some("alice")))
                .unwrap();
        }
        let failures = accounts.throttle.lock();
        let kept: Vec<usize> = failures.values().map(VecDeque::len).collect();
        assert_eq!(failures.len(), 2, "the address, and alice at it");
        assert!(kept.contains(&MAX_FAILED_LOGINS_PER_ADDRESS), "{kept:?}");
        assert!(kept.contains(&MAX_FAILED_LOGINS), "{kept:?}");
    }

    #[test]
    fn throttles_one_name_at_one_address_after_its_limit() {
        let accounts = Accounts::new(1, None).unwrap();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let alice = credentials(&accounts.hash_password("right password").unwrap());
        let check = |source: LoginSource, password| {
            let known = alice.clone();
            accounts
                .check_login(&source, password, PasswordUse::Login, move || {
                    Ok::<_, ChatError>(Some(known))
                })
                .unwrap()
        };
        let alice_here = || LoginSource::new(address, Some("alice"));
        for _ in 0..MAX_FAILED_LOGINS {
            assert_eq!(check(alice_here(), "wrong password"), LoginCheck::Refused);
        }
        let LoginCheck::Throttled(wait) = check(alice_here(), "right password") else {
            panic!("not throttled");
        };
        assert!(wait <= FAILED_LOGIN_WINDOW && wait > Duration::ZERO);
        // The same name in another case is the same account.
        let shouted = LoginSource::new(address, Some("ALICE"));
        assert!(matches!(
            check(shouted, "right password"),
            LoginCheck::Throttled(_)
        ));
        // Another name from the same address, and the same name from another
        // address, are not held up.
        let other_name = LoginSource::new(address, Some("bob"));
        assert_eq!(
            check(other_name, "right password"),
            LoginCheck::Verified(alice.clone())
        );
        let other_address = LoginSource::new("192.0.2.8".parse().unwrap(), Some("alice"));
        assert_eq!(
            check(other_address, "right password"),
            LoginCheck::Verified(alice.clone())
        );
    }

    #[test]
    fn throttles_an_address_guessing_across_many_names() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "192.0.2.9".parse().unwrap();
        for index in 0..MAX_FAILED_LOGINS_PER_ADDRESS {
            let source = LoginSource::new(address, Some(&format!("user{index}")));
            assert!(throttle.check(&source).is_ok(), "attempt {index}");
            throttle.record_failure(&source, true).unwrap();
        }
        let fresh_name = LoginSource::new(address, Some("someone-new"));
        assert!(throttle.check(&fresh_name).is_err());
        let tokenless = LoginSource::new(address, None);
        assert!(throttle.check(&tokenless).is_err());
        let elsewhere = LoginSource::new("192.0.2.10".parse().unwrap(), Some("someone-new"));
        assert!(throttle.check(&elsewhere).is_ok());
    }
}
