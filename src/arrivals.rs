//! Connections on their way in: accepted, but not yet admitted to the chat
//! while the server waits for the client (a TLS handshake, an HTTP request
//! head, or the plain-text answer of a TLS port to a client that does not
//! speak TLS). Each holds a thread and a descriptor before `--max-connections`
//! counts it, for up to `--line-timeout`, so their number is bounded too:
//! overall, and per client address. A client that opens connections and
//! then sends nothing cannot use up the server's threads or descriptors,
//! and from one address it cannot keep clients at other addresses from
//! connecting either. An address counts as the per-address connection cap
//! counts it: an IPv6 address by its /64, and loopback not at all (behind a
//! reverse proxy on the same machine every client comes from loopback, and
//! one of them stalling 128 handshakes would lock out all the others). (A
//! plain pipe or IRC connection is admitted, or refused, as soon as its
//! thread runs: it is not counted.) Refusals are logged as a warning, at
//! most every 10 seconds (`logging::SparseWarning`), with how many there were.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chat::admission::PerAddress;
use crate::logging::SparseWarning;

/// The most connections on their way in from one address at once. Arriving
/// takes milliseconds for a real client; a class behind one NAT address
/// loading the page at the same moment stays well below this.
pub const MAX_ARRIVING_PER_ADDRESS: usize = 128;

/// The connections on their way in, counted.
pub(crate) struct Arrivals {
    /// The most at once, from every address together.
    limit: usize,
    counts: Mutex<Counts>,
    refusals: SparseWarning,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crowded {
    /// [`MAX_ARRIVING_PER_ADDRESS`] from its address are on their way in.
    FromAddress,
    /// The overall limit is reached.
    Everywhere,
}

/// One connection on its way in; it stops counting when dropped, which its
/// front door does once the connection is admitted (or refused, or gone).
pub(crate) struct Arrival {
    arrivals: Arc<Arrivals>,
    /// What its address counts as; `None` for loopback.
    counted_as: Option<IpAddr>,
}

impl Arrivals {
    /// At most `limit` connections on their way in at once.
    pub(crate) fn new(limit: usize) -> Arc<Arrivals> {
        Arc::new(Arrivals {
            limit,
            counts: Mutex::default(),
            refusals: SparseWarning::default(),
        })
    }

    /// Counts a connection from `address`, unless too many are on their way
    /// in already.
    pub(crate) fn arrive(self: &Arc<Self>, address: IpAddr) -> Result<Arrival, Crowded> {
        let mut counts = self.counts.lock();
        if counts.total >= self.limit {
            self.warn(Crowded::Everywhere, address, counts.total);
            return Err(Crowded::Everywhere);
        }
        let counted_as = PerAddress::counted_as(address);
        if let Some(key) = counted_as {
            let from_address = counts.by_address.get(&key).copied().unwrap_or(0);
            if from_address >= MAX_ARRIVING_PER_ADDRESS {
                self.warn(Crowded::FromAddress, address, counts.total);
                return Err(Crowded::FromAddress);
            }
            counts.by_address.insert(key, from_address + 1);
        }
        counts.total += 1;
        Ok(Arrival {
            arrivals: Arc::clone(self),
            counted_as,
        })
    }

    /// Logs a refusal (sparsely); `total` are on their way in.
    fn warn(&self, crowded: Crowded, address: IpAddr, total: usize) {
        self.refusals.warn(|| {
            let why = match crowded {
                Crowded::FromAddress => format!(
                    "{MAX_ARRIVING_PER_ADDRESS} connections from {address} are still in their \
                     TLS handshake or HTTP request head"
                ),
                Crowded::Everywhere => format!(
                    "{total} connections are still in their TLS handshake or HTTP request \
                     head (from {address} now)"
                ),
            };
            format!("refusing connections at once: {why}")
        });
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut counts = self.arrivals.counts.lock();
        counts.total -= 1;
        if let Some(key) = self.counted_as
            && let Some(from_address) = counts.by_address.get_mut(&key)
        {
            *from_address -= 1;
            if *from_address == 0 {
                counts.by_address.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_the_total() {
        let arrivals = Arrivals::new(MAX_ARRIVING_PER_ADDRESS + 1);
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        let mut held: Vec<Arrival> = (0..MAX_ARRIVING_PER_ADDRESS)
            .map(|_| arrivals.arrive(here).unwrap())
            .collect();
        assert_eq!(arrivals.arrive(here).err(), Some(Crowded::FromAddress));
        held.push(arrivals.arrive(there).unwrap());
        assert_eq!(arrivals.arrive(there).err(), Some(Crowded::Everywhere));
        held.pop();
        held.pop();
        assert!(arrivals.arrive(here).is_ok(), "one left: room again");
        drop(held);
        assert_eq!(arrivals.counts.lock().total, 0);
        assert!(arrivals.counts.lock().by_address.is_empty());
    }

    /// Loopback (a reverse proxy on the same machine) is held only by the
    /// total; an IPv6 client counts by its /64, as the connection cap does.
    #[test]
    fn loopback_is_not_limited_by_address_and_ipv6_counts_by_its_network() {
        let arrivals = Arrivals::new(MAX_ARRIVING_PER_ADDRESS * 4);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<Arrival> = (0..MAX_ARRIVING_PER_ADDRESS * 2)
            .map(|_| arrivals.arrive(local).unwrap())
            .collect();
        assert!(arrivals.counts.lock().by_address.is_empty());
        let mut more: Vec<Arrival> = (0..MAX_ARRIVING_PER_ADDRESS)
            .map(|i| {
                arrivals
                    .arrive(format!("2001:db8::{i:x}").parse().unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            arrivals.arrive("2001:db8::ffff".parse().unwrap()).err(),
            Some(Crowded::FromAddress)
        );
        more.pop();
        assert!(arrivals.arrive("2001:db8::ffff".parse().unwrap()).is_ok());
        drop((held, more));
    }
}
