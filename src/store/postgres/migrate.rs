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

/// Any number will do, as long as every node uses the same one: "pcht".
const MIGRATION_LOCK: i64 = 0x7063_6874;

/// Brings the schema to [`SCHEMA_VERSION`] and every chatroom's key to
/// today's rule ([`folded_names`]), refusing a database that holds someone
/// else's tables or a newer schema (and changing nothing then), or that
/// lacks one of its tables ([`check_tables`]).
pub(super) fn migrate(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let migrated =
        migrate_locked(conn, location).and_then(|()| check_tables(conn, location, SCHEMA_VERSION));
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
        Some(SCHEMA_VERSION) => check_tables(conn, location, SCHEMA_VERSION),
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

/// Refuses a database at schema `version` that lacks one of the tables its
/// migrations made, naming what is missing. A database whose
/// `pipechat_schema` says so may still lack one: a dump restored without
/// `--exit-on-error` goes on past a table it could not create, and a node
/// started on it would answer every request that needs the table with a
/// `500` (or a migration would fail on it, saying less). Checked before
/// migrating and after, so that such a database is refused in words.
fn check_tables(conn: &mut Client, location: &str, version: i32) -> Result<(), StoreError> {
    let present: Vec<String> = conn
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let missing: Vec<&str> = tables_of(version)
        .into_iter()
        .filter(|table| !present.iter().any(|name| name == table))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unusable {
        path: location.into(),
        reason: format!(
            "its schema says version {version}, but it has no {} table: \
             a restore that stopped part way? Restore the dump again into an empty \
             database with pg_restore --exit-on-error (docs/operations.md, section 7)",
            missing.join(", ")
        ),
    })
}

/// The tables the first `version` migrations create, by their `CREATE
/// TABLE` statements (no migration drops or renames one; a test checks).
fn tables_of(version: i32) -> Vec<&'static str> {
    MIGRATIONS[..version.clamp(0, SCHEMA_VERSION) as usize]
        .iter()
        .flat_map(|sql| sql.split("CREATE TABLE ").skip(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
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
    if version > 0 {
        check_tables(conn, location, version)?;
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

    /// The tables read from the migrations are the schema's: those made at
    /// version 1 and after, and none is ever dropped or renamed.
    #[test]
    fn the_tables_are_read_from_the_migrations() {
        let first = [
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
        ];
        assert_eq!(tables_of(1), first);
        let mut all = tables_of(SCHEMA_VERSION);
        all.sort_unstable();
        let mut expected = [&first[..], &["room_departures"]].concat();
        expected.sort_unstable();
        assert_eq!(all, expected);
        assert!(MIGRATIONS.iter().all(|sql| !sql.contains("DROP TABLE")));
        assert!(MIGRATIONS.iter().all(|sql| !sql.contains("RENAME TO")));
    }
}
