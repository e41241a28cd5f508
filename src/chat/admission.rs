//! How many connections the chat admits: all together
//! (`--max-connections`) and from one client address
//! (`--max-connections-per-address`), whatever the front door (pipe,
//! WebSocket, IRC, over TLS or not). The hub applies both under its lock
//! when it admits a connection and counts the connection out when it
//! forgets it, which the front door's `Admitted` guard makes sure of.
//!
//! Without the per-address limit, one client opening `--max-connections`
//! idle connections would leave no room for anyone else.

use std::collections::HashMap;
use std::net::IpAddr;

use super::accounts::network_of;

/// The limits on connections admitted at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// From every address together.
    pub(crate) total: usize,
    /// From one address (an IPv6 /64), loopback excepted; `None`: no cap,
    /// and nothing counted.
    pub(crate) per_address: Option<usize>,
}

/// The connections admitted now from each client address that counts.
#[derive(Debug, Default)]
pub(crate) struct PerAddress {
    counts: HashMap<IpAddr, usize>,
}

impl PerAddress {
    /// What `peer` counts as: its address keyed as the login throttle keys
    /// it (an IPv4 address alone, an IPv6 one by its /64), or `None` for
    /// loopback, which is not counted. A client on the server's own machine
    /// is trusted as much as the machine; and behind a reverse proxy on it
    /// every client comes from loopback, where the proxy, which sees the
    /// real addresses, is the one to limit them.
    pub(crate) fn counted_as(peer: IpAddr) -> Option<IpAddr> {
        // Before keying: `::1`'s /64 is not loopback.
        (!peer.to_canonical().is_loopback()).then(|| network_of(peer))
    }

    /// Counts one more connection from `peer`, unless `limit` are admitted
    /// from its address already: then `false`, and nothing is counted.
    /// Without a limit nothing is counted (nor, then, counted out: the
    /// limit is the server's, the same for every connection).
    pub(crate) fn admit(&mut self, peer: IpAddr, limit: Option<usize>) -> bool {
        let (Some(limit), Some(key)) = (limit, Self::counted_as(peer)) else {
            return true;
        };
        let count = self.counts.entry(key).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                self.counts.remove(&key);
            }
            return false;
        }
        *count += 1;
        true
    }

    /// Counts out a connection from `peer` that [`PerAddress::admit`]
    /// counted (one it did not count finds no count, and changes nothing).
    pub(crate) fn leave(&mut self, peer: IpAddr) {
        let Some(key) = Self::counted_as(peer) else {
            return;
        };
        if let Some(count) = self.counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&key);
            }
        }
    }

    /// How many are admitted from `peer`'s address now (0 for loopback).
    #[cfg(test)]
    pub(crate) fn from(&self, peer: IpAddr) -> usize {
        Self::counted_as(peer).map_or(0, |key| self.counts.get(&key).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_address_is_capped_and_counted_out() {
        let mut counts = PerAddress::default();
        assert!(counts.admit(ip("192.0.2.1"), Some(2)));
        assert!(counts.admit(ip("192.0.2.1"), Some(2)));
        assert!(
            !counts.admit(ip("192.0.2.1"), Some(2)),
            "a third from one address"
        );
        assert_eq!(counts.from(ip("192.0.2.1")), 2, "a refusal is not counted");
        assert!(
            counts.admit(ip("192.0.2.2"), Some(2)),
            "another address has room"
        );
        counts.leave(ip("192.0.2.1"));
        assert!(
            counts.admit(ip("192.0.2.1"), Some(2)),
            "room again after one left"
        );
        for address in ["192.0.2.1", "192.0.2.1", "192.0.2.2"] {
            counts.leave(ip(address));
        }
        assert!(counts.counts.is_empty(), "{:?}", counts.counts);
    }

    #[test]
    fn without_a_limit_nothing_is_counted() {
        let mut counts = PerAddress::default();
        for _ in 0..3 {
            assert!(counts.admit(ip("192.0.2.1"), None));
        }
        counts.leave(ip("192.0.2.1"));
        assert!(counts.counts.is_empty(), "{:?}", counts.counts);
    }

    #[test]
    fn addresses_are_keyed_as_the_login_throttle_keys_them() {
        let mut counts = PerAddress::default();
        assert!(counts.admit(ip("2001:db8:1:2::1"), Some(2)));
        assert!(counts.admit(ip("2001:db8:1:2:ffff:1:2:3"), Some(2)));
        assert!(
            !counts.admit(ip("2001:db8:1:2::99"), Some(2)),
            "one /64 is one address"
        );
        assert!(counts.admit(ip("2001:db8:1:3::1"), Some(2)), "another /64");
        assert!(counts.admit(ip("::ffff:192.0.2.1"), Some(1)));
        assert!(
            !counts.admit(ip("192.0.2.1"), Some(1)),
            "IPv4 written as IPv6"
        );
        assert!(
            !counts.admit(ip("192.0.2.9"), Some(0)),
            "a limit of 0 admits none"
        );
        assert_eq!(counts.from(ip("192.0.2.9")), 0);
        assert!(!counts.counts.contains_key(&ip("192.0.2.9")));
    }

    #[test]
    fn loopback_is_never_capped() {
        let mut counts = PerAddress::default();
        for address in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.0.1",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(PerAddress::counted_as(ip(address)), None, "{address}");
            for _ in 0..3 {
                assert!(counts.admit(ip(address), Some(1)), "{address}");
            }
            counts.leave(ip(address));
        }
        assert!(counts.counts.is_empty());
        // Addresses near loopback are not loopback.
        for address in ["128.0.0.1", "::2", "10.0.0.1", "0.0.0.0"] {
            assert!(PerAddress::counted_as(ip(address)).is_some(), "{address}");
        }
    }
}
