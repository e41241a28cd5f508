//! Moving a deployment from its SQLite file to PostgreSQL (`pipechat-server
//! import`), when it outgrows one machine: every account, chatroom,
//! membership, read position (also those kept for rooms left),
//! conversation, message and resume token, with their ids, so that cursors,
//! unread counts and saved logins go on working and no id is ever handed out
//! twice.
//!
//! The copy is one PostgreSQL transaction: it lands whole or not at all.
//! The SQLite file is claimed as a server claims it, so that no server
//! writes to it meanwhile, and is otherwise left as it was (migrated to
//! this version's schema first if it was older, as a server start would).
//! The database it goes to must hold no pipechat data yet; its tables stay
//! locked until the copy commits, so a node started meanwhile waits for it.
//! Not copied: failed logins (the throttle starts afresh), who is online,
//! and guests' memberships (guests are members only while connected).

use std::path::Path;

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::types::{ToSql, Type};

use super::StoreError;
use super::postgres::{connect_to_import, redacted};
use super::sqlite::Exported;

/// How a column is stored; the same on both engines but for the types'
/// names.
#[derive(Clone, Copy)]
enum Kind {
    /// Ids and counts: `INTEGER`, `BIGINT`.
    Int,
    NullableInt,
    /// `INTEGER` on both (retention days).
    SmallInt,
    Text,
    NullableText,
    /// `INTEGER` 0 or 1, `BOOLEAN`.
    Flag,
    /// `BLOB`, `BYTEA`.
    Bytes,
}

impl Kind {
    fn postgres_type(self) -> Type {
        match self {
            Kind::Int | Kind::NullableInt => Type::INT8,
            Kind::SmallInt => Type::INT4,
            Kind::Text | Kind::NullableText => Type::TEXT,
            Kind::Flag => Type::BOOL,
            Kind::Bytes => Type::BYTEA,
        }
    }

    /// The value of `column`; a text's NUL characters, which PostgreSQL
    /// cannot store (servers before this version let them through), become
    /// U+FFFD, counted in `replaced`.
    fn read(
        self,
        row: &rusqlite::Row<'_>,
        column: usize,
        replaced: &mut u64,
    ) -> rusqlite::Result<Box<dyn ToSql + Sync>> {
        let mut storable = |text: String| {
            if text.contains('\0') {
                *replaced += 1;
                text.replace('\0', "\u{FFFD}")
            } else {
                text
            }
        };
        Ok(match self {
            Kind::Int => Box::new(row.get::<_, i64>(column)?),
            Kind::NullableInt => Box::new(row.get::<_, Option<i64>>(column)?),
            Kind::SmallInt => Box::new(row.get::<_, i32>(column)?),
            Kind::Text => Box::new(storable(row.get(column)?)),
            Kind::NullableText => Box::new(row.get::<_, Option<String>>(column)?.map(storable)),
            Kind::Flag => Box::new(row.get::<_, bool>(column)?),
            Kind::Bytes => Box::new(row.get::<_, Vec<u8>>(column)?),
        })
    }
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Which rows to copy, when not all.
    only: Option<&'static str>,
    /// Whether its `id` comes from a sequence, to be moved past the copied
    /// ids.
    numbered: bool,
}

/// Every table with the users' data, each after those it refers to.
const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Kind::Int),
            ("username", Kind::Text),
            ("password_hash", Kind::Text),
            ("created_at", Kind::Text),
            ("guest", Kind::Flag),
        ],
        only: None,
        numbered: true,
    },
    Table {
        name: "chatrooms",
        columns: &[
            ("id", Kind::Int),
            ("name", Kind::Text),
            ("name_key", Kind::Text),
            ("created_by", Kind::Int),
            ("created_at", Kind::Text),
            ("topic", Kind::Text),
            ("topic_set_by", Kind::Text),
            ("topic_set_at", Kind::Text),
            ("retention_days", Kind::SmallInt),
            ("message_count", Kind::Int),
            ("last_message_id", Kind::Int),
        ],
        only: None,
        numbered: true,
    },
    Table {
        name: "room_members",
        columns: &[
            ("room_id", Kind::Int),
            ("user_id", Kind::Int),
            ("joined_at", Kind::Text),
            ("last_read_id", Kind::Int),
            ("read_count", Kind::Int),
        ],
        // A guest (an IRC nick) is a member only while connected; SQLite
        // ends such memberships left over at the next start, PostgreSQL
        // when the node holding the nick dies, which an imported guest has
        // none of.
        only: Some("user_id NOT IN (SELECT id FROM users WHERE guest)"),
        numbered: false,
    },
    Table {
        name: "room_departures",
        columns: &[
            ("room_id", Kind::Int),
            ("user_id", Kind::Int),
            ("last_read_id", Kind::Int),
        ],
        only: Some("user_id NOT IN (SELECT id FROM users WHERE guest)"),
        numbered: false,
    },
    Table {
        name: "conversations",
        columns: &[
            ("id", Kind::Int),
            ("user_low", Kind::Int),
            ("user_high", Kind::Int),
            ("created_at", Kind::Text),
            ("message_count", Kind::Int),
            ("last_message_id", Kind::Int),
        ],
        only: None,
        numbered: true,
    },
    Table {
        name: "conversation_members",
        columns: &[
            ("conversation_id", Kind::Int),
            ("user_id", Kind::Int),
            ("last_read_id", Kind::Int),
            ("read_count", Kind::Int),
        ],
        only: None,
        numbered: false,
    },
    Table {
        name: "messages",
        columns: &[
            ("id", Kind::Int),
            ("room_id", Kind::NullableInt),
            ("conversation_id", Kind::NullableInt),
            ("user_id", Kind::Int),
            ("text", Kind::Text),
            ("sent_at", Kind::Text),
            ("edited_at", Kind::NullableText),
        ],
        only: None,
        numbered: true,
    },
    Table {
        name: "resume_tokens",
        columns: &[
            ("id", Kind::Int),
            ("user_id", Kind::Int),
            ("token_hash", Kind::Bytes),
            ("created_at", Kind::Text),
            ("last_used_at", Kind::Text),
        ],
        only: None,
        numbered: true,
    },
];

/// How many rows a table received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

/// Copies the pipechat database in the SQLite file `file` into the empty
/// PostgreSQL database at `url`; returns what each table received.
///
/// # Errors
///
/// The file is missing, not a pipechat database, or served by a running
/// server; PostgreSQL cannot be reached or its database already holds
/// pipechat data; or the copy failed (nothing was written then).
pub fn import(file: &Path, url: &str) -> Result<Vec<Copied>, StoreError> {
    let source = Exported::open(file)?;
    let source = source.connection()?;
    // One snapshot for every table; nothing else writes meanwhile anyway
    // (the file is claimed).
    let source = source.unchecked_transaction()?;
    let mut target = connect_to_import(url)?;
    let mut tx = target.transaction()?;
    let names: Vec<&str> = TABLES.iter().map(|table| table.name).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        names.join(", ")
    ))?;
    let holds_data: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM chatrooms)",
            &[],
        )?
        .get(0);
    if holds_data {
        return Err(StoreError::Import {
            location: redacted(url),
            reason: "it already holds pipechat users or chatrooms; import into an empty \
                     database"
                .to_string(),
        });
    }
    let mut copied = Vec::new();
    for table in TABLES {
        log::info!("copying {}", table.name);
        let rows = copy_table(&source, &mut tx, table)?;
        if table.numbered {
            move_sequence_past(&source, &mut tx, table.name)?;
        }
        copied.push(Copied {
            table: table.name,
            rows,
        });
    }
    tx.commit()?;
    Ok(copied)
}

/// Streams one table's rows from SQLite into PostgreSQL's binary `COPY`.
fn copy_table(
    source: &rusqlite::Connection,
    target: &mut ::postgres::Transaction<'_>,
    table: &Table,
) -> Result<u64, StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let columns = columns.join(", ");
    let types: Vec<Type> = table
        .columns
        .iter()
        .map(|(_, kind)| kind.postgres_type())
        .collect();
    let sink = target.copy_in(&format!(
        "COPY {} ({columns}) FROM STDIN BINARY",
        table.name
    ))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let only = table
        .only
        .map_or(String::new(), |only| format!(" WHERE {only}"));
    let mut statement = source.prepare(&format!("SELECT {columns} FROM {}{only}", table.name))?;
    let mut rows = statement.query([])?;
    let mut replaced = 0;
    while let Some(row) = rows.next()? {
        let values = table
            .columns
            .iter()
            .enumerate()
            .map(|(column, (_, kind))| kind.read(row, column, &mut replaced))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let values: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        writer.write(&values)?;
    }
    if replaced > 0 {
        log::warn!(
            "{}: {replaced} texts held NUL characters, which PostgreSQL cannot store; \
             each is now U+FFFD",
            table.name
        );
    }
    Ok(writer.finish()?)
}

/// Sets `table`'s id sequence so that the next id is past every id SQLite
/// ever handed out, deleted rows' included: ids are never reused.
fn move_sequence_past(
    source: &rusqlite::Connection,
    target: &mut ::postgres::Transaction<'_>,
    table: &str,
) -> Result<(), StoreError> {
    let highest_row: i64 = source.query_row(
        &format!("SELECT coalesce(max(id), 0) FROM {table}"),
        [],
        |row| row.get(0),
    )?;
    let mut handed_out: i64 = source.query_row(
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?1",
        [table],
        |row| row.get(0),
    )?;
    // Messages keep their mark in a table of their own (SQLite schema 8).
    if table == "messages" {
        let high_water: i64 = source.query_row(
            "SELECT coalesce(max(high_water), 0) FROM message_ids",
            [],
            |row| row.get(0),
        )?;
        handed_out = handed_out.max(high_water);
    }
    let last = highest_row.max(handed_out);
    // `setval(…, 1, false)`: nothing handed out yet, the next id is 1.
    target.execute(
        "SELECT setval(pg_get_serial_sequence($1, 'id'), $2, $3)",
        &[&table, &last.max(1), &(last > 0)],
    )?;
    Ok(())
}
