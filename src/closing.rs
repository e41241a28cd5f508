//! Closing a connection without destroying the last thing written to it.
//!
//! Closing a socket that still holds unread input makes the system reset
//! the connection, and a reset can reach the client before it has read what
//! was written last: a refusal (the server is full), a response, a close
//! frame. Linux hands the client the bytes that came before the reset, but
//! other systems (Windows) drop them, and a client whose write fails first
//! reports the reset instead. So a connection ended while its client may be
//! sending (a client that sent its login at once, an IRC client's
//! `NICK`/`USER`) is half-closed, then read from and its input dropped
//! until the client closes too, within a deadline and a byte count.

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections being drained at once, each on its own thread. Refused
/// connections are not counted by `--max-connections` or [`arrivals`]
/// (they are what those turned away), so a flood of them must not leave a
/// thread each waiting for its drain's deadline: past this many, one is
/// closed at once, as without the drain. The bound is shared with the web
/// door's answers and close frames, which such a flood can then deprive of
/// their drain: their client may see a reset, no worse than before.
///
/// [`arrivals`]: crate::arrivals
const MAX_DRAINING: usize = 1024;

static DRAINING: AtomicUsize = AtomicUsize::new(0);

/// Ends a connection whose client may still be sending: stop writing, then
/// read and drop what it sends, for at most `within` and `at_most` bytes.
/// The deadline is for the whole drain, so that a client trickling a byte
/// at a time cannot hold the thread.
pub(crate) fn drain_then_close(stream: &TcpStream, within: Duration, at_most: usize) {
    let _ = stream.shutdown(Shutdown::Write);
    let Some(_slot) = DrainSlot::take() else {
        return;
    };
    let deadline = Instant::now() + within;
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < at_most {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// `most`, or what is left until `deadline` when that is sooner: how long
/// a write or a drain may take when the whole answer has a deadline.
pub(crate) fn at_most_until(most: Duration, deadline: Option<Instant>) -> Duration {
    deadline.map_or(most, |deadline| {
        most.min(deadline.saturating_duration_since(Instant::now()))
    })
}

/// One of the [`MAX_DRAINING`] drains; given back when dropped.
struct DrainSlot;

impl DrainSlot {
    fn take() -> Option<DrainSlot> {
        DRAINING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |draining| {
                (draining < MAX_DRAINING).then_some(draining + 1)
            })
            .ok()
            .map(|_| DrainSlot)
    }
}

impl Drop for DrainSlot {
    fn drop(&mut self) {
        DRAINING.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A client that goes on sending a byte now and then after its answer
    /// is let go of at the drain's deadline, not read from for as long as
    /// it trickles.
    #[test]
    fn a_trickling_client_is_let_go_of_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let trickle = std::thread::spawn(move || {
            // Until the server closes (a write fails), or 30 s at most.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && client.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        drain_then_close(&server, Duration::from_millis(300), 64 * 1024);
        let took = started.elapsed();
        drop(server);
        assert!(took < Duration::from_secs(5), "drained for {took:?}");
        trickle.join().unwrap();
    }
}
