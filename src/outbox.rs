//! A connection's bounded queue of pushed events, and how its thread is woken.
//!
//! Publishers must never wait on a client. They append an event's shared bytes
//! here and, if the queue was idle, poke an eventfd; the connection's own
//! thread, which sleeps in `poll` on its socket and that eventfd, wakes and
//! writes the queue out. A client that stops reading fills its queue; the next
//! event that does not fit closes the connection instead of growing memory or
//! blocking the publisher.

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::event::{EventfdFlags, eventfd};

/// The most bytes of events waiting for one client before it is disconnected.
/// The kernel's socket buffers hold more before this starts to fill.
pub const MAX_QUEUED_BYTES: usize = 1024 * 1024;

/// One connection's outbound event queue.
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Readable while events wait; the connection thread polls it.
    wake: OwnedFd,
    /// Set when `wake` has been poked and not yet acknowledged, so a burst of
    /// events costs one system call, not one per event.
    woken: AtomicBool,
    stream: Arc<TcpStream>,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Arc<str>>,
    bytes: usize,
    closed: bool,
}

impl Outbox {
    pub fn new(stream: Arc<TcpStream>) -> std::io::Result<Outbox> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Outbox {
            queue: Mutex::new(Queue::default()),
            wake,
            woken: AtomicBool::new(false),
            stream,
        })
    }

    /// Queues one event line. Returns `false` when the connection is closed,
    /// or has just been closed because its queue overflowed.
    pub fn push(&self, line: &Arc<str>) -> bool {
        {
            let mut queue = self.lock();
            if queue.closed {
                return false;
            }
            if queue.bytes + line.len() > MAX_QUEUED_BYTES {
                queue.closed = true;
                queue.lines.clear();
                queue.bytes = 0;
                drop(queue);
                log::warn!(
                    "disconnecting {}: it stopped reading and its event queue overflowed",
                    self.peer()
                );
                self.shut_socket();
                return false;
            }
            queue.bytes += line.len();
            queue.lines.push_back(Arc::clone(line));
        }
        if !self.woken.swap(true, Ordering::SeqCst) {
            // A full eventfd counter is impossible here (it would take 2^64
            // unacknowledged pokes); any error only means the reader is gone.
            let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        }
        true
    }

    /// The descriptor that becomes readable when events are queued.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Takes every queued event, appending their bytes to `out`. Re-arms the
    /// wake-up first, so an event pushed meanwhile is never left unannounced.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut counter);
        self.woken.store(false, Ordering::SeqCst);
        let mut queue = self.lock();
        for line in queue.lines.drain(..) {
            out.extend_from_slice(line.as_bytes());
        }
        queue.bytes = 0;
        if queue.lines.capacity() > 64 {
            queue.lines = VecDeque::new();
        }
    }

    /// Closes the connection from outside its thread: further pushes are
    /// refused and the thread's blocked read or write returns at once.
    pub fn close(&self) {
        self.lock().closed = true;
        self.shut_socket();
    }

    fn shut_socket(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn peer(&self) -> String {
        self.stream
            .peer_addr()
            .map_or_else(|_| "a client".to_string(), |addr| addr.to_string())
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves the queue consistent enough
        // to keep serving; never let it cascade into the publisher.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
