//! Every node's changes, delivered to this node's hub through `LISTEN`, in
//! commit order.
//!
//! A write sends one notification per change (see `queries`): the change
//! itself as JSON, or, when that would not fit PostgreSQL's 8,000-byte
//! payload, the id of the message it is about, read back here. The listening
//! connection is this thread's own. When it drops (PostgreSQL restarted, the
//! network), the thread reconnects with a growing pause, listens again, and
//! then asks the hub to catch up (`ChangeSink::resync`), because
//! notifications sent meanwhile are lost. It catches up after its first
//! `LISTEN` too: clients are served from the start, and what they wrote
//! before that `LISTEN` was heard by nobody.
//!
//! A write of this node ends with one more notification, a marker: when it
//! comes back here, every change of that write has been handed to the hub,
//! and the writer is answered. So, as on SQLite, a client's own subscription
//! gets a write's events before the write's reply.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::Client;
use ::postgres::fallible_iterator::FallibleIterator;
use parking_lot::Mutex;
use r2d2::Pool;
use serde::{Deserialize, Serialize};

use super::connect::Target;
use super::pool::{ConnectError, describe};
use super::queries::PgTx;
use super::{CHANNEL, Manager};
use crate::store::{Change, ChangeSink, Missed, PlaceKey, Reads, StoreError, TokenHash};
use crate::wire::Message;

/// The most a payload may take; PostgreSQL's limit is 8,000 bytes.
const MAX_PAYLOAD: usize = 7_900;

/// How long the thread waits for a notification before it looks whether it
/// should stop.
const POLL: Duration = Duration::from_millis(200);

/// One notification's payload.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Notice {
    /// The change itself.
    Change(Change),
    /// A message or its edit too long to send: read it back by id.
    Message {
        place: PlaceKey,
        id: i64,
        edited: bool,
    },
    /// A write of `node` whose changes were all sent before this: once it
    /// arrives there, that node has published them and answers the writer.
    Written { node: String, write: u64 },
}

impl Notice {
    /// The payload for `change`: the change when it fits, else its id.
    pub(super) fn payload(change: &Change) -> Result<String, StoreError> {
        let json = serde_json::to_string(&Notice::Change(change.clone()))
            .map_err(|err| StoreError::Batch(err.to_string()))?;
        if json.len() <= MAX_PAYLOAD {
            return Ok(json);
        }
        let reference = match change {
            Change::Message { place, message } => Notice::Message {
                place: *place,
                id: message.id,
                edited: false,
            },
            Change::Edited { place, message } => Notice::Message {
                place: *place,
                id: message.id,
                edited: true,
            },
            // Every other change is small: a topic is at most 390 characters.
            other => {
                return Err(StoreError::Batch(format!(
                    "a change does not fit a notification: {other:?}"
                )));
            }
        };
        serde_json::to_string(&reference).map_err(|err| StoreError::Batch(err.to_string()))
    }
}

/// Writes of this node waiting for their changes to be published here.
#[derive(Default)]
pub(super) struct Waiting {
    next: AtomicU64,
    writes: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Waiting {
    /// A new write's number, and where to hear that it was published.
    pub(super) fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let write = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, published) = oneshot::channel();
        self.writes.lock().insert(write, done);
        (write, published)
    }

    /// Forgets a write that will never be published (it failed).
    pub(super) fn forget(&self, write: u64) {
        self.writes.lock().remove(&write);
    }

    fn published(&self, write: u64) {
        if let Some(done) = self.writes.lock().remove(&write) {
            let _ = done.send(());
        }
    }

    /// After a gap, writes whose marker may have been lost stop waiting.
    fn release_all(&self) {
        for (_, done) in self.writes.lock().drain() {
            let _ = done.send(());
        }
    }
}

/// What the listener thread needs.
pub(super) struct Listener {
    pub(super) target: Arc<Target>,
    pub(super) node: String,
    pub(super) pool: Pool<Manager>,
    pub(super) sink: Arc<dyn ChangeSink>,
    pub(super) waiting: Arc<Waiting>,
    pub(super) stopping: Arc<AtomicBool>,
}

pub(super) fn start(listener: Listener) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("pg-listener".to_string())
        .spawn(move || run(&listener))
}

fn run(listener: &Listener) {
    let Listener {
        target,
        pool,
        sink,
        stopping,
        waiting,
        ..
    } = listener;
    let sink = &**sink;
    let mut pause = Duration::from_millis(50);
    let mut reconnecting = false;
    while !stopping.load(Ordering::SeqCst) {
        match target.connect().and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(client)
        }) {
            Ok(mut client) => {
                pause = Duration::from_millis(50);
                if reconnecting {
                    log::info!("listening for changes again; catching up");
                }
                // The first time too (see the module's comment).
                sink.resync(&Catchup { pool });
                waiting.release_all();
                reconnecting = true;
                listen(&mut client, listener);
            }
            Err(err) => {
                log::warn!(
                    "cannot listen for changes: {}",
                    ConnectError::of_connection(&err, target.trusted())
                );
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
                // Whatever connects next, connects again.
                reconnecting = true;
            }
        }
    }
}

/// Hands every notification to the sink until the connection drops or the
/// store stops. A change that cannot be read back ends the connection too:
/// the caller connects again and catches up, so nothing is skipped.
fn listen(client: &mut Client, listener: &Listener) {
    while !listener.stopping.load(Ordering::SeqCst) {
        // One at a time, so that the connection is free between them for
        // reading a long message back (its notification holds only its id).
        let next = client.notifications().timeout_iter(POLL).next();
        let payload = match next {
            Ok(Some(notification)) => notification.payload().to_string(),
            Ok(None) if client.is_closed() => {
                log::warn!("lost the connection that listens for changes");
                return;
            }
            Ok(None) => continue,
            Err(err) => {
                log::warn!(
                    "lost the connection that listens for changes: {}",
                    describe(&err)
                );
                return;
            }
        };
        match decode(&payload, client) {
            Ok(Decoded::Change(change)) => listener.sink.committed(vec![change]),
            Ok(Decoded::Written { node, write }) => {
                if node == listener.node {
                    listener.waiting.published(write);
                }
            }
            Ok(Decoded::Gone) => {}
            Err(err) => {
                log::error!("a change could not be read ({err}); catching up");
                return;
            }
        }
    }
}

/// A notification, decoded.
enum Decoded {
    Change(Change),
    Written {
        node: String,
        write: u64,
    },
    /// A long message deleted before it could be read back.
    Gone,
}

/// A notification's change; a long message's is read back on the
/// listening connection itself, which no writer can be holding.
fn decode(payload: &str, client: &mut Client) -> Result<Decoded, StoreError> {
    let notice: Notice =
        serde_json::from_str(payload).map_err(|err| StoreError::Batch(err.to_string()))?;
    match notice {
        Notice::Change(change) => Ok(Decoded::Change(change)),
        Notice::Written { node, write } => Ok(Decoded::Written { node, write }),
        Notice::Message { place, id, edited } => {
            // Deleted since: its delete event follows, and nobody must see it.
            let Some(stored) = super::queries::find_message_on(client, id)? else {
                return Ok(Decoded::Gone);
            };
            let message = stored.message;
            Ok(Decoded::Change(if edited {
                Change::Edited { place, message }
            } else {
                Change::Message { place, message }
            }))
        }
    }
}

/// Catch-up queries, on pooled connections.
struct Catchup<'a> {
    pool: &'a Pool<Manager>,
}

impl Catchup<'_> {
    fn read<T>(
        &self,
        work: impl FnOnce(&PgTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|err| StoreError::Unreachable(err.to_string()))?;
        work(&PgTx::reading(&mut conn))
    }
}

impl Missed for Catchup<'_> {
    fn messages_after(&self, place: PlaceKey, after: i64) -> Result<Vec<Message>, StoreError> {
        self.read(|db| db.messages_after(place, after))
    }

    fn direct_messages_after(
        &self,
        user_id: i64,
        after: i64,
        except: &[i64],
    ) -> Result<Vec<(PlaceKey, Message)>, StoreError> {
        self.read(|db| db.direct_messages_after(user_id, after, except))
    }

    fn token_exists(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.read(|db| Ok(db.find_token(hash)?.is_some()))
    }

    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError> {
        self.read(|db| db.is_member(room_id, user_id))
    }
}
