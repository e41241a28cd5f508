//! Every node's changes, delivered to this node's hub through `LISTEN`, in
//! commit order.
//!
//! A write sends one notification per change (see `queries`): the change
//! itself as JSON, or, when that would not fit PostgreSQL's 8,000-byte
//! payload, the id of the message it is about, read back here. The listening
//! connection is this thread's own. When it drops (PostgreSQL restarted, the
//! network), the thread reconnects with a growing pause, listens again, and
//! then asks the hub to catch up (`ChangeSink::resync`), because
//! notifications sent meanwhile are lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, NoTls};
use r2d2::Pool;
use serde::{Deserialize, Serialize};

use super::queries::PgTx;
use super::{CHANNEL, Manager};
use crate::store::{Change, ChangeSink, Missed, PlaceKey, Reads, StoreError, TokenHash};
use crate::wire::Message;

/// The most a payload may take; PostgreSQL's limit is 8,000 bytes.
pub(super) const MAX_PAYLOAD: usize = 7_900;

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

pub(super) fn start(
    url: String,
    pool: Pool<Manager>,
    sink: Arc<dyn ChangeSink>,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("pg-listener".to_string())
        .spawn(move || run(&url, &pool, &*sink, &stopping))
}

fn run(url: &str, pool: &Pool<Manager>, sink: &dyn ChangeSink, stopping: &AtomicBool) {
    let mut pause = Duration::from_millis(50);
    let mut first = true;
    while !stopping.load(Ordering::SeqCst) {
        match Client::connect(url, NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(client)
        }) {
            Ok(mut client) => {
                pause = Duration::from_millis(50);
                if !first {
                    log::info!("listening for changes again; catching up");
                    sink.resync(&Catchup { pool });
                }
                first = false;
                listen(&mut client, pool, sink, stopping);
            }
            Err(err) => {
                log::warn!("cannot listen for changes: {err}");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
                // Not the first connection any more: a catch-up is due.
                first = false;
            }
        }
    }
}

/// Hands every notification to the sink until the connection drops or the
/// store stops.
fn listen(client: &mut Client, pool: &Pool<Manager>, sink: &dyn ChangeSink, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(POLL);
            loop {
                match waiting.next() {
                    Ok(Some(notification)) => match decode(notification.payload(), pool) {
                        Ok(change) => sink.committed(vec![change]),
                        Err(err) => log::error!("a change could not be read: {err}"),
                    },
                    Ok(None) => break,
                    Err(err) => {
                        log::warn!("lost the connection that listens for changes: {err}");
                        return;
                    }
                }
            }
        }
        if client.is_closed() {
            log::warn!("lost the connection that listens for changes");
            return;
        }
    }
}

fn decode(payload: &str, pool: &Pool<Manager>) -> Result<Change, StoreError> {
    let notice: Notice =
        serde_json::from_str(payload).map_err(|err| StoreError::Batch(err.to_string()))?;
    match notice {
        Notice::Change(change) => Ok(change),
        Notice::Message { place, id, edited } => {
            let mut conn = pool
                .get()
                .map_err(|err| StoreError::Unreachable(err.to_string()))?;
            let stored = PgTx::reading(&mut conn)
                .find_message(id)?
                .ok_or_else(|| StoreError::Batch(format!("message {id} is gone")))?;
            let message = stored.message;
            Ok(if edited {
                Change::Edited { place, message }
            } else {
                Change::Message { place, message }
            })
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
    fn room_messages_after(&self, room_id: i64, after: i64) -> Result<Vec<Message>, StoreError> {
        self.read(|db| db.room_messages_after(room_id, after))
    }

    fn direct_messages_after(
        &self,
        user_id: i64,
        after: i64,
    ) -> Result<Vec<(PlaceKey, Message)>, StoreError> {
        self.read(|db| db.direct_messages_after(user_id, after))
    }

    fn token_exists(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.read(|db| Ok(db.find_token(hash)?.is_some()))
    }
}
