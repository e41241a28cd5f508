//! The schema on PostgreSQL: versioned in a table, applied at start-up under
//! an advisory lock so that nodes starting at once do not both migrate.

use ::postgres::Client;

use crate::store::{StoreError, announce_schema_change};

/// The migrations, in order; migration `i` takes the version from `i` to
/// `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_guests.sql"),
    include_str!("../../../migrations/postgres/0003_search_words.sql"),
    include_str!("../../../migrations/postgres/0004_guest_nicks.sql"),
    include_str!("../../../migrations/postgres/0005_room_departures.sql"),
    include_str!("../../../migrations/postgres/0006_topic_setter.sql"),
    include_str!("../../../migrations/postgres/0007_long_words.sql"),
    include_str!("../../../migrations/postgres/0008_qualified_search_text.sql"),
];

/// The schema version this code writes and understands.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Any number will do, as long as every node uses the same one: "pcht".
const MIGRATION_LOCK: i64 = 0x7063_6874;

/// Brings the schema to [`SCHEMA_VERSION`], refusing a database that holds
/// someone else's tables or a newer schema (and changing nothing then).
pub(super) fn migrate(conn: &mut Client, location: &str) -> Result<(), StoreError> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let migrated = migrate_locked(conn, location);
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
        Some(SCHEMA_VERSION) => Ok(()),
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
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let mut tx = conn.transaction()?;
    if version == 0 {
        tx.batch_execute("CREATE TABLE pipechat_schema (version INTEGER NOT NULL)")?;
        tx.execute("INSERT INTO pipechat_schema (version) VALUES (0)", &[])?;
    }
    announce_schema_change(location, i64::from(version), i64::from(SCHEMA_VERSION));
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = index as i32 + 1;
        log::debug!("{location}: migrating schema to version {target}");
        tx.batch_execute(sql)?;
        tx.execute("UPDATE pipechat_schema SET version = $1", &[&target])?;
    }
    tx.commit()?;
    Ok(())
}
