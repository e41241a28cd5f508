//! How a node reaches PostgreSQL: the URL's settings, and TLS when the URL
//! asks for it.
//!
//! The URL's `sslmode` and `sslrootcert` keep libpq's names, so most URLs
//! written for `psql` work as they are (not `prefer` or `allow`, below), but
//! they are read here: the driver knows neither `verify-full` nor
//! `sslrootcert`, and would fall back to plain text under its default
//! `prefer`.
//!
//! Encryption is asked for, never guessed: without `sslmode` (or with
//! `disable`) the connection is plain, as it was before pipechat spoke TLS
//! to PostgreSQL, so a server whose certificate nobody checks (Debian's
//! self-signed default) keeps working. Asked for, TLS always verifies the
//! server: `require`, `verify-ca` and `verify-full` all mean libpq's
//! `verify-full` here, because an encryption whose peer is not checked
//! protects only from those who listen and never from those who answer. An
//! `sslrootcert` alone asks for it too. `prefer` and `allow` are refused:
//! they drop to plain text without a word.

use std::path::Path;

use ::postgres::config::SslMode;
use ::postgres::{Client, Config};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pool::describe;
use crate::tls::ClientRoots;

/// Where PostgreSQL is, and how each connection to it is opened.
pub(super) struct Target {
    config: Config,
    /// Used only when `config` asks for TLS.
    tls: MakeRustlsConnect,
    /// Whom `tls` trusts to sign PostgreSQL's certificate, said when it
    /// refuses one: "invalid peer certificate: UnknownIssuer" names neither
    /// the certificate nor what it was checked against.
    trusted: String,
}

impl Target {
    /// Reads `url`; `sslrootcert` names a PEM file of the CA that signed
    /// PostgreSQL's certificate, or that certificate itself (self-signed,
    /// then trusted as it is). Without it, the public CAs are trusted.
    ///
    /// # Errors
    ///
    /// A sentence saying what in the URL is wrong; it never holds the URL.
    pub(super) fn parse(url: &str) -> Result<Target, String> {
        let (before_query, query) = split_query(url);
        let mut mode = None;
        let mut root = None;
        let mut for_driver = Vec::new();
        for (pair, key) in parameters(query.unwrap_or("")) {
            let value = || {
                let value = pair.split_once('=').map_or("", |(_, value)| value);
                percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map(|value| value.into_owned())
                    .map_err(|_| format!("the URL's {key} is not UTF-8"))
            };
            match key.as_str() {
                "sslmode" => mode = Some(value()?),
                "sslrootcert" => root = Some(value()?),
                _ => for_driver.push(pair),
            }
        }
        let encrypted = match (mode.as_deref(), &root) {
            // As libpq takes `sslrootcert=system` alone: a CA is named, so
            // the server is to be verified.
            (None, Some(_)) => true,
            (None | Some("disable"), None) => false,
            (Some("disable"), Some(_)) => {
                return Err("sslrootcert is for TLS, and sslmode=disable turns it off".to_string());
            }
            (Some("require" | "verify-ca" | "verify-full"), _) => true,
            (Some("prefer" | "allow"), _) => {
                return Err(
                    "sslmode=prefer and sslmode=allow fall back to an unencrypted \
                     connection without saying so; use sslmode=verify-full, or \
                     sslmode=disable"
                        .to_string(),
                );
            }
            (Some(other), _) => {
                return Err(format!(
                    "sslmode={other} is not one of disable, require, verify-ca, verify-full"
                ));
            }
        };
        let (roots, trusted) = match root.as_deref() {
            None | Some("system") => (
                ClientRoots::public(),
                "the public CAs, as the URL names no sslrootcert".to_string(),
            ),
            Some(path) => (
                ClientRoots::private_ca(Path::new(path)).map_err(|err| err.to_string())?,
                format!("sslrootcert {path}"),
            ),
        };
        let driver_url = if for_driver.is_empty() {
            before_query.to_string()
        } else {
            format!("{before_query}?{}", for_driver.join("&"))
        };
        let mut config: Config = driver_url
            .parse()
            .map_err(|err: ::postgres::Error| describe(&err))?;
        if config.get_ssl_mode() != SslMode::Prefer {
            // The driver found an `sslmode` this reading missed; never
            // override what the URL asked for.
            return Err(
                "the URL's sslmode is written in a way pipechat cannot read; \
                        write it as sslmode=verify-full"
                    .to_string(),
            );
        }
        // A Unix socket is local: libpq never uses TLS on one, whatever
        // `sslmode` says, and PostgreSQL refuses it there.
        let hosts = config.get_hosts();
        let local = !hosts.is_empty()
            && config.get_hostaddrs().is_empty()
            && hosts
                .iter()
                .all(|host| matches!(host, ::postgres::config::Host::Unix(_)));
        config.ssl_mode(if encrypted && !local {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        // PostgreSQL's notices (an extension that exists already, at each
        // start) are for whoever debugs the SQL, not the operator: the
        // driver's own callback logs each at `info`.
        config.notice_callback(|notice| {
            log::debug!("PostgreSQL {}: {}", notice.severity(), notice.message());
        });
        let mut tls = roots.client_config().clone();
        // What PostgreSQL 17 requires of a direct TLS connection
        // (`sslnegotiation=direct`); earlier servers ignore it.
        tls.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Target {
            config,
            tls: MakeRustlsConnect::new(tls),
            trusted,
        })
    }

    /// Whom a TLS connection trusts to sign PostgreSQL's certificate.
    pub(super) fn trusted(&self) -> &str {
        &self.trusted
    }

    /// The driver's settings, for timeouts and the application's name.
    pub(super) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Whether connections are encrypted (and the server verified).
    pub(super) fn encrypted(&self) -> bool {
        self.config.get_ssl_mode() == SslMode::Require
    }

    /// A connection of its own (the listener's).
    pub(super) fn connect(&self) -> Result<Client, ::postgres::Error> {
        self.config.connect(self.tls.clone())
    }

    /// The pool's way to open connections.
    pub(super) fn manager(&self) -> PostgresConnectionManager<MakeRustlsConnect> {
        PostgresConnectionManager::new(self.config.clone(), self.tls.clone())
    }
}

/// A `postgres://` URL cut before its parameters where the driver cuts it:
/// the user and password run to the first `@` (a password may hold `?`),
/// and the parameters begin at the first `?` after that.
fn split_query(url: &str) -> (&str, Option<&str>) {
    let scheme_len = url.find("://").map_or(0, |at| at + 3);
    let address_from = url[scheme_len..]
        .find('@')
        .map_or(scheme_len, |at| scheme_len + at + 1);
    match url[address_from..].find('?') {
        Some(at) => (
            &url[..address_from + at],
            Some(&url[address_from + at + 1..]),
        ),
        None => (url, None),
    }
}

/// Each `key=value` of `query`, with its key percent-decoded as the driver
/// decodes it.
pub(super) fn parameters(query: &str) -> impl Iterator<Item = (&str, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .into_owned();
            (pair, key)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        match Target::parse(url) {
            Ok(_) => panic!("{url} was accepted"),
            Err(reason) => reason,
        }
    }

    #[test]
    fn tls_is_used_only_when_the_url_asks_for_it() {
        for (url, encrypted) in [
            ("postgres://chat@db/chat", false),
            ("postgres://chat@db/chat?sslmode=disable", false),
            ("postgres://chat@db/chat?sslmode=require", true),
            ("postgres://chat@db/chat?sslmode=verify-ca", true),
            (
                "postgres://chat@db/chat?connect_timeout=5&sslmode=verify-full",
                true,
            ),
        ] {
            let target = Target::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
            assert_eq!(target.encrypted(), encrypted, "{url}");
        }
    }

    #[test]
    fn the_drivers_own_settings_pass_through() {
        let target =
            Target::parse("postgres://chat@db:6543/chat?sslmode=disable&connect_timeout=7")
                .unwrap();
        assert_eq!(target.config.get_ports(), [6543]);
        assert_eq!(target.config.get_dbname(), Some("chat"));
        assert_eq!(
            target.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
    }

    #[test]
    fn a_silent_fallback_to_plain_text_is_refused() {
        for mode in ["prefer", "allow"] {
            let reason = refused(&format!("postgres://chat@db/chat?sslmode={mode}"));
            assert!(reason.contains("verify-full"), "{reason}");
        }
        let reason = refused("postgres://chat@db/chat?sslmode=always");
        assert!(reason.contains("sslmode=always"), "{reason}");
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_hide_sslmode() {
        let target = Target::parse("postgres://chat:pa?ss@db/chat?sslmode=require").unwrap();
        assert!(target.encrypted());
        assert_eq!(target.config.get_password(), Some(&b"pa?ss"[..]));
        assert_eq!(target.config.get_dbname(), Some("chat"));
        let target = Target::parse("postgres://chat:pa?ss@db/chat").unwrap();
        assert!(!target.encrypted());
    }

    #[test]
    fn an_sslmode_written_with_escapes_is_read_or_refused() {
        let target = Target::parse("postgres://chat@db/chat?ssl%6Dode=require").unwrap();
        assert!(target.encrypted());
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        let target =
            Target::parse("postgres://chat@%2Fvar%2Frun%2Fpostgresql/chat?sslmode=require")
                .unwrap();
        assert!(!target.encrypted());
        // A TCP address (`hostaddr`) goes over the network, whatever else.
        for url in [
            "postgres://chat@/chat?hostaddr=10.0.0.5&sslmode=require",
            "postgres://chat@%2Frun%2Fpg/chat?hostaddr=10.0.0.5&sslmode=require",
        ] {
            assert!(Target::parse(url).unwrap().encrypted(), "{url}");
        }
    }

    #[test]
    fn a_root_certificate_asks_for_tls_and_needs_a_readable_file() {
        let reason = refused("postgres://chat@db/chat?sslmode=disable&sslrootcert=/etc/ca.pem");
        assert!(reason.contains("sslmode=disable"), "{reason}");
        let target = Target::parse("postgres://chat@db/chat?sslrootcert=system").unwrap();
        assert!(target.encrypted());
        let reason =
            refused("postgres://chat@db/chat?sslmode=verify-full&sslrootcert=/no/such%20ca.pem");
        assert!(reason.contains("/no/such ca.pem"), "{reason}");
    }

    #[test]
    fn the_drivers_errors_are_sentences_without_the_url() {
        let reason = refused("postgres://chat:s3cret@db/chat?sslmode=require&bogus=1");
        assert!(reason.contains("bogus"), "{reason}");
        assert!(!reason.contains("s3cret"), "{reason}");
    }
}
