//! The schema on PostgreSQL: versioned in a table, applied at start-up under
//! an advisory lock so that nodes starting at once do not both migrate.

use ::postgres::Client;

use super::folded_names;
use crate::store::{StoreError, announce_schema_change};

/// The migrations, in order; migration `i` takes the version from `i` to
/// `i + 1`. Chatroom keys are made in code after them, at every start
/// ([`folded_names`]).
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_guests.sql"),
    include_str!("../../../migrations/postgres/0003_search_words.sql"),
    include_str!("../../../migrations/postgres/0004_guest_nicks.sql"),
    include_str!("../../../migrations/postgres/0005_room_departures.sql"),
    include_str!("../../../migrations/postgres/0006_topic_setter.sql"),
    include_str!("../../../migrations/postgres/0007_long_words.sql"),
    include_str!("../../../migrations/postgres/0008_qualified_search_text.sql"),
    include_str!("../../../migrations/postgres/0009_folded_names.sql"),
    include_str!("../../../migrations/postgres/0010_direct_message_guests.sql"),
];

/// The schema version this code writes and understands.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The tables of the current schema. A database whose `pipechat_schema`
/// says current may still lack one: a dump restored without
/// `--exit-on-error` goes on past a table it could not create, and a node
/// started on it would answer every request that needs the table with a
/// `500`. Checked at start, so that such a database is refused in words.
const TABLES: &[&str] = &[
    "users",
    "chatrooms",
    "room_members",
    "conversations",
    "conversation_members",
    "messages",
    "resume_tokens",
    "nodes",
    "node_users",
    "login_failures",
    "room_departures",
];

/// Any number will do, as long as every node uses the same one: "pcht".
const MIGRATION_LOCK: i64 = 0x7063_6874;

/// Brings the schema to [`SCHEMA_VERSION`] and every chatroom's key to
/// today's rule ([`folded_names`]), refusing a database that holds someone
/// else's tables or a newer schema (and changing nothing then), or that
/// lacks one of its [`TABLES`].
pub(super) fn migrate(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let migrated = migrate_locked(conn, location).and_then(|()| check_tables(conn, location));
    let unlocked = conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    migrated?;
    unlocked?;
    Ok(())
}

/// Refuses a database whose schema is not this pipechat's own version, or
/// that has none yet: for the operator's commands, which run beside servers
/// that may be using it and must neither create nor migrate it.
pub(super) fn check_current(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    match schema_version(conn)? {
        Some(SCHEMA_VERSION) => check_tables(conn, location),
        Some(found) => Err(StoreError::OtherSchema {
            path: location.into(),
            found: i64::from(found),
            supported: i64::from(SCHEMA_VERSION),
        }),
        None => Err(StoreError::Unusable {
            path: location.into(),
            reason: "no pipechat schema yet; start a server on it once to create it".to_string(),
        }),
    }
}

/// The version `pipechat_schema` records; `None` without that table.
fn schema_version(conn: &mut Client) -> Result<Option<i32>, StoreError> {
    let ours: bool = conn
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_tables
                            WHERE schemaname = 'public' AND tablename = 'pipechat_schema')",
            &[],
        )?
        .get(0);
    if !ours {
        return Ok(None);
    }
    Ok(Some(
        conn.query_one("SELECT version FROM pipechat_schema", &[])?
            .get(0),
    ))
}

/// Refuses a database that lacks one of [`TABLES`], naming what is missing.
fn check_tables(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    let present: Vec<String> = conn
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let missing: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|table| !present.iter().any(|name| name == table))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unusable {
        path: location.into(),
        reason: format!(
            "its schema says version {SCHEMA_VERSION}, but it has no {} table: \
             a restore that stopped part way? Restore the dump again into an empty \
             database with pg_restore --exit-on-error (docs/operations.md, section 7)",
            missing.join(", ")
        ),
    })
}

fn migrate_locked(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    let version: i32 = if let Some(version) = schema_version(conn)? {
        version
    } else {
        let tables: i64 = conn
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )?
            .get(0);
        if tables > 0 {
            return Err(StoreError::NotPipechat {
                path: location.into(),
                reason: "it holds another application's tables".to_string(),
            });
        }
        0
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: location.into(),
            found: i64::from(version),
            supported: i64::from(SCHEMA_VERSION),
        });
    }
    let mut tx = conn.transaction()?;
    if version == 0 {
        tx.batch_execute("CREATE TABLE pipechat_schema (version INTEGER NOT NULL)")?;
        tx.execute("INSERT INTO pipechat_schema (version) VALUES (0)", &[])?;
    }
    if version < SCHEMA_VERSION {
        announce_schema_change(location, i64::from(version), i64::from(SCHEMA_VERSION));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = index as i32 + 1;
        log::debug!("{location}: migrating schema to version {target}");
        tx.batch_execute(sql)?;
        tx.execute("UPDATE pipechat_schema SET version = $1", &[&target])?;
    }
    let warnings = folded_names::fold_room_names(&mut tx)?;
    tx.commit()?;
    for warning in warnings {
        log::warn!("{location}: {warning}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`TABLES`] names every table the migrations create, and only those.
    #[test]
    fn the_table_list_follows_the_migrations() {
        let mut created: Vec<&str> = MIGRATIONS
            .iter()
            .flat_map(|sql| sql.split("CREATE TABLE ").skip(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .filter(|name| *name != "pipechat_schema")
            .collect();
        let mut listed = TABLES.to_vec();
        created.sort_unstable();
        listed.sort_unstable();
        assert_eq!(created, listed);
        assert!(MIGRATIONS.iter().all(|sql| !sql.contains("DROP TABLE")));
    }
}
