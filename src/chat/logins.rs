//! Who a connection acts as: registering, logging in with a password, a
//! resume token or (IRC) as a guest, logging out, changing a password.
//! Every password check goes through the login throttle.

use super::accounts::{HashError, Held, LoginCheck, LoginSource, PasswordUse};
use super::{
    Chat, ChatError, LoggedIn, PresenceChange, Session, days_ago, existing_user_or, limits, tokens,
};
use crate::store::{Credentials, User};

impl Chat {
    /// Registers a user; does not log in.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for a name or password outside the limits,
    /// [`ChatError::UsernameTaken`].
    pub(crate) fn register(&self, username: &str, password: &str) -> Result<User, ChatError> {
        if !self.registration_open {
            return Err(ChatError::RegistrationClosed);
        }
        self.add_account(username, password)
    }

    /// Adds an account whether or not registration is open: the operator's
    /// `pipechat-server add-user`, and `/register` where it is.
    ///
    /// # Errors
    ///
    /// As [`Chat::register`], but never [`ChatError::RegistrationClosed`].
    pub(crate) fn add_account(&self, username: &str, password: &str) -> Result<User, ChatError> {
        limits::check_username(username).map_err(ChatError::Invalid)?;
        limits::check_password(password).map_err(ChatError::Invalid)?;
        // Refuse a taken name before paying for a hash; the insert below still
        // decides races between simultaneous registrations. The name is held
        // against guests (who are not in the table the insert checks) until
        // the account exists, which a guest taking it checks after holding it.
        self.check_new_account_name(username)?;
        if !self.hub.reserve_guest(username) {
            return Err(ChatError::UsernameTaken(username.to_string()));
        }
        let registered = self.insert_account(username, password);
        self.hub.release_guest(username);
        let user = registered?;
        log::info!("registered user '{}'", user.username);
        Ok(user)
    }

    /// Whether an account called `username` could be made now: the name is
    /// one and no account has it (a taken name is shown as registered). The
    /// operator's `add-user` asks before asking the password.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`], [`ChatError::UsernameTaken`].
    pub(crate) fn check_new_account_name(&self, username: &str) -> Result<(), ChatError> {
        limits::check_username(username).map_err(ChatError::Invalid)?;
        if limits::is_reserved_name(username) {
            return Err(ChatError::UsernameTaken(username.to_string()));
        }
        match self.store.read(|db| db.find_user(username))? {
            Some(existing) => Err(ChatError::UsernameTaken(existing.username)),
            None => Ok(()),
        }
    }

    /// The account called `username` (never a guest).
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn account(&self, username: &str) -> Result<User, ChatError> {
        self.store.read(|db| existing_user_or(db, username, None))
    }

    /// Hashes `password` and stores the account.
    fn insert_account(&self, username: &str, password: &str) -> Result<User, ChatError> {
        let password_hash = self.accounts.hash_password(password)?;
        let name = username.to_string();
        self.store.write(move |db| {
            db.insert_user(&name, &password_hash)?
                .ok_or(ChatError::UsernameTaken(name))
        })
    }

    /// Logs a connection in with a password (switching user if it was logged
    /// in already) and issues a resume token.
    ///
    /// # Errors
    ///
    /// [`ChatError::BadCredentials`], the same for an unknown user, an
    /// impossible name and a wrong password; [`ChatError::Throttled`].
    pub(crate) fn login(
        &self,
        session: &Session,
        username: &str,
        password: &str,
    ) -> Result<LoggedIn, ChatError> {
        let credentials = self.check_password(
            session,
            username,
            password,
            PasswordUse::Login,
            ChatError::BadCredentials,
        )?;
        let (token, hash) = tokens::new_token().map_err(|err| HashError::random(&err))?;
        let user = credentials.user.clone();
        let revocations = self.hub.revocations(user.id);
        let store = self.store.clone();
        // Stored from the hashing thread, like the credential lookup: a
        // connection thread that only ever logged in then never ran SQLite's
        // write path, whose stack pages would stay resident for as long as
        // the client is connected.
        let stored = self.accounts.on_hashing_thread(move || {
            store.write(move |db| db.insert_token(&credentials, &hash))
        })??;
        // The password changed since it was checked: it is wrong now.
        if !stored {
            return Err(ChatError::BadCredentials);
        }
        self.bind_with_token(
            session,
            &user,
            (hash, revocations),
            ChatError::BadCredentials,
        )?;
        Ok(LoggedIn { user, token })
    }

    /// Logs a connection in with a resume token, without a password hash.
    ///
    /// A valid token (known, unexpired, unrevoked) logs in whatever the
    /// login throttle says of the address: it is 128 random bits, which no
    /// one guesses, so refusing it would only lock out everyone behind a
    /// throttled address (a class behind one NAT) and protect nothing.
    /// Looking it up before asking the throttle costs a SHA-256 and one
    /// indexed read, never an Argon2 hash, and tells a guesser nothing: a
    /// wrong token is answered as before, `401` and counted, or `429`
    /// while the address is throttled.
    ///
    /// # Errors
    ///
    /// [`ChatError::BadToken`] for a wrong token or text that cannot be one
    /// (counted by the login throttle),
    /// [`ChatError::Throttled`] for a wrong token from a throttled address.
    pub(crate) fn resume(&self, session: &Session, token: &str) -> Result<User, ChatError> {
        let source = LoginSource::new(session.peer(), None);
        // Text no token could be is an unknown token (protocol.md's 401, so
        // a client drops a damaged saved token and asks for the password),
        // counted as a guess; it is not looked up.
        if !tokens::is_well_formed(token) {
            return Err(self.wrong_token(&source));
        }
        let hash = tokens::hash(token);
        let Some(stored) = self.store.read(|db| db.find_token(&hash))? else {
            return Err(self.wrong_token(&source));
        };
        let expired = stored.last_used_at < days_ago(tokens::TOKEN_LIFETIME_DAYS);
        let id = stored.id;
        // Read before the touch: a revocation the touch does not see (the
        // token still there) is applied after this, and moves the count.
        let revocations = self.hub.revocations(stored.user.id);
        let touched = self.store.write(move |db| match expired {
            true => db.delete_token(&hash).map(|_| false),
            false => db.touch_token(id),
        })?;
        if !touched {
            return Err(self.wrong_token(&source));
        }
        self.bind_with_token(
            session,
            &stored.user,
            (hash, revocations),
            ChatError::BadToken,
        )?;
        // At debug, unlike a password login: every client resumes at once
        // after a restart, and a resume costs a client nothing (tens of
        // thousands a second in BENCHMARKS.md), so at info these lines
        // would bury the rest of the log, and the logger would keep a
        // buffer in each connection thread (see `Accounts::check_login`).
        log::debug!(
            "{} resumed a session as '{}'",
            session.peer(),
            stored.user.username
        );
        Ok(stored.user)
    }

    /// The answer to an unknown, revoked or expired token from `source`:
    /// [`ChatError::Throttled`] while the address is throttled, otherwise
    /// [`ChatError::BadToken`], counted against the address.
    fn wrong_token(&self, source: &LoginSource) -> ChatError {
        match self.accounts.check_throttle(source) {
            Err(held) => held.into(),
            Ok(()) => match self.accounts.record_failure(source) {
                Ok(()) => ChatError::BadToken,
                Err(err) => ChatError::Store(err),
            },
        }
    }

    /// Logs a connection out, revoking the token its login issued or
    /// resumed; its subscriptions end.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn logout(&self, session: &Session) -> Result<(), ChatError> {
        if let Some(hash) = session.token() {
            self.store.write(move |db| db.delete_token(&hash))?;
        }
        if let Some(user) = self.hub.log_out(session) {
            self.went_offline(&user, None);
        }
        self.announce_back();
        Ok(())
    }

    /// Admits a connection as a guest under `nick` (the IRC front door's
    /// `--irc-guests`): a user of its own for this connection, with no
    /// password, never found as an account, whose memberships end when the
    /// connection does.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] nick, [`ChatError::UsernameTaken`] when an
    /// account has the name or a connected guest has the nick.
    pub(crate) fn log_in_guest(&self, session: &Session, nick: &str) -> Result<User, ChatError> {
        limits::check_username(nick).map_err(ChatError::Invalid)?;
        self.hold_guest_nick(nick, false)?;
        let name = nick.to_string();
        let guest = match self.store.write(move |db| db.insert_guest(&name)) {
            Ok(Some(guest)) => guest,
            Ok(None) => {
                self.hub.release_guest(nick);
                return Err(ChatError::UsernameTaken(nick.to_string()));
            }
            Err(err) => {
                self.hub.release_guest(nick);
                return Err(err.into());
            }
        };
        if let Some(gone) = self.hub.log_out(session) {
            self.went_offline(&gone, None);
        }
        if !self.hub.log_in_guest(session, guest.clone()) {
            return Err(ChatError::stopped());
        }
        log::info!("guest '{nick}' connected");
        Ok(guest)
    }

    /// Holds `nick` for a guest (unless `held` already, by this guest) and
    /// makes sure no account has it. Held first, then checked: a
    /// registration holds the name the same way until its account exists,
    /// so the two cannot both have it.
    ///
    /// # Errors
    ///
    /// [`ChatError::UsernameTaken`]; the store's.
    fn hold_guest_nick(&self, nick: &str, held: bool) -> Result<(), ChatError> {
        if limits::is_reserved_name(nick) {
            return Err(ChatError::UsernameTaken(nick.to_string()));
        }
        if !held && !self.hub.reserve_guest(nick) {
            return Err(ChatError::UsernameTaken(nick.to_string()));
        }
        let account = self.store.read(|db| db.find_user(nick));
        if matches!(account, Ok(None)) {
            return Ok(());
        }
        if !held {
            self.hub.release_guest(nick);
        }
        Err(match account {
            Err(err) => err.into(),
            Ok(_) => ChatError::UsernameTaken(nick.to_string()),
        })
    }

    /// Gives a connected guest another nick; the others hear of it.
    ///
    /// # Errors
    ///
    /// As [`Chat::log_in_guest`]; [`ChatError::NotLoggedIn`] for a
    /// connection that is not a guest's.
    pub(crate) fn rename_guest(&self, session: &Session, nick: &str) -> Result<User, ChatError> {
        let Some(user) = session.user().filter(|_| session.is_guest()) else {
            return Err(ChatError::NotLoggedIn);
        };
        limits::check_username(nick).map_err(ChatError::Invalid)?;
        let same_guest = user.username.eq_ignore_ascii_case(nick);
        self.hold_guest_nick(nick, same_guest)?;
        let (renamed, name) = (user.clone(), nick.to_string());
        let outcome = self.store.write(move |db| db.rename_guest(&renamed, &name));
        if !matches!(outcome, Ok(true)) {
            if !same_guest {
                self.hub.release_guest(nick);
            }
            return Err(match outcome {
                Err(err) => err.into(),
                Ok(_) => ChatError::UsernameTaken(nick.to_string()),
            });
        }
        self.hub.rename_guest(session, nick);
        let rooms = self.store.read(|db| db.rooms_of(user.id))?;
        self.hub.announce(
            &user,
            &rooms,
            &PresenceChange::Renamed {
                new: nick.to_string(),
            },
        );
        Ok(User {
            username: nick.to_string(),
            ..user
        })
    }

    /// Whether a guest connected now (or being admitted) has `nick`.
    pub(crate) fn guest_connected(&self, nick: &str) -> bool {
        self.hub.guest_holds(nick)
    }

    /// Whether `name` is an account's (not a guest's).
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn is_account(&self, name: &str) -> Result<bool, ChatError> {
        Ok(self.store.read(|db| db.find_user(name))?.is_some())
    }

    /// The account called `name`, or the guest connected now under it.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn find_user(&self, name: &str) -> Result<User, ChatError> {
        let guest = self.hub.guest_named(name);
        self.store
            .read(|db| existing_user_or(db, name, guest.as_ref()))
    }

    /// Changes the user's password: every earlier token is revoked and the
    /// user's other connections are logged out; this one stays logged in
    /// with the new token returned.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] new password, [`ChatError::WrongPassword`]
    /// (counted by the login throttle), [`ChatError::Throttled`].
    pub(crate) fn change_password(
        &self,
        session: &Session,
        user: &User,
        old: &str,
        new: &str,
    ) -> Result<String, ChatError> {
        limits::check_password(new).map_err(ChatError::Invalid)?;
        let credentials = self.check_password(
            session,
            &user.username,
            old,
            PasswordUse::Change,
            ChatError::WrongPassword,
        )?;
        let password_hash = self.accounts.hash_password(new)?;
        let (token, hash) = tokens::new_token().map_err(|err| HashError::random(&err))?;
        // Adopted before the commit, so that the hub, told of the revocation
        // right after it, keeps this connection logged in.
        let previous = session.replace_token(Some(hash));
        let changed = self.store.write(move |db| {
            // Another change of the same password won the race.
            if !db.insert_token(&credentials, &hash)? {
                return Err(ChatError::WrongPassword);
            }
            db.replace_password(&credentials.user, &password_hash, Some(&hash))?;
            Ok(())
        });
        if let Err(err) = changed {
            session.replace_token(previous);
            return Err(err);
        }
        log::info!(
            "{} changed the password of '{}'",
            session.peer(),
            user.username
        );
        // The user's other connections were logged out with the commit;
        // one of them may have said the user was away.
        self.announce_back();
        Ok(token)
    }

    /// Sets an account's password without the old one (the operator's
    /// `pipechat-server set-password`, for a user who forgot theirs). Every
    /// token of the user is revoked; connections logged in as the user end
    /// on every server that hears of the change (the same server, and all
    /// of a PostgreSQL cluster, not a server running on the same SQLite
    /// file: its users stay logged in until they disconnect).
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] password, [`ChatError::NoSuchUser`] (guests
    /// have no password).
    pub(crate) fn set_password(&self, username: &str, password: &str) -> Result<User, ChatError> {
        limits::check_password(password).map_err(ChatError::Invalid)?;
        let user = self.account(username)?;
        let password_hash = self.accounts.hash_password(password)?;
        let changed = user.clone();
        self.store
            .write(move |db| db.replace_password(&changed, &password_hash, None))?;
        log::info!("the operator set the password of '{}'", user.username);
        Ok(user)
    }

    /// Checks a password given for `purpose` through the throttle; the
    /// credentials it matched.
    fn check_password(
        &self,
        session: &Session,
        username: &str,
        password: &str,
        purpose: PasswordUse,
        refused: ChatError,
    ) -> Result<Credentials, ChatError> {
        // An impossible name or password cannot match anything: refuse it the
        // same way as a wrong password, without spending a hash on it. It
        // counts as a failure like any other, but against the address alone
        // when the name is impossible: a name that cannot exist is not worth
        // keeping (it may be 64 KiB long; `LoginSource` leaves it out).
        let source = LoginSource::new(session.peer(), Some(username));
        let possible = limits::check_username(username).is_ok()
            && password.len() <= limits::MAX_PASSWORD_BYTES;
        let check = if possible {
            let store = self.store.clone();
            let username = username.to_string();
            self.accounts
                .check_login(&source, password, purpose, move || {
                    store
                        .read(|db| db.find_credentials(&username))
                        .map_err(ChatError::from)
                })?
        } else {
            self.accounts.check_throttle(&source)?;
            self.accounts.record_failure(&source)?;
            LoginCheck::Refused
        };
        match check {
            LoginCheck::Verified(credentials) => Ok(credentials),
            LoginCheck::Throttled(wait) => Err(Held::Wait(wait).into()),
            LoginCheck::Refused => Err(refused),
        }
    }
}
