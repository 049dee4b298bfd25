//! Copying a tenant's data between databases (tier and shard moves): every table streams
//! with binary `COPY` from a consistent snapshot of the source into the target schema,
//! then each table's row count and checksum are compared on both sides.
//!
//! The target must be migrated to the same version as the source (the caller provisions
//! it); its migration bookkeeping is not copied. The copy is all-or-nothing: the target's
//! tables are emptied and filled in one transaction that commits only when every table
//! verifies, so a failed or interrupted copy leaves the target as it found it and can
//! simply be run again.

use futures::TryStreamExt;
use sea_orm::DatabaseConnection;
// Every dynamic statement here is built from validated schema names and table names
// read from pg_class, always quoted: hence `AssertSqlSafe`.
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use crate::{Error, Result, SchemaName};

/// One table's verified copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: i64,
    /// md5 over the sorted md5s of the rows' text form: equal on both sides.
    pub checksum: String,
}

/// Copies every table of `source_schema` (in `source`'s database) into `target_schema`
/// (in `target`'s database), verifies each, and returns what was copied. `progress` is
/// called with (tables done, tables in all) after each table.
///
/// While it runs, the source tables are locked `SHARE`: readers carry on, writers wait
/// (the tenant is `moving`, so none should come), and the snapshot is exactly what the
/// target receives.
#[tracing::instrument(skip(source, target, progress), fields(from = %source_schema, to = %target_schema))]
pub async fn copy_schema(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    source_schema: &SchemaName,
    target_schema: &SchemaName,
    progress: impl Fn(usize, usize),
) -> Result<Vec<TableCopy>> {
    copy_tables(source, target, source_schema, target_schema, true, progress).await
}

/// [`copy_schema`] without the lock: writers carry on while it runs, and the target
/// receives (verified) the snapshot the copy began with. For online moves, where
/// [`super::install_capture`] logs what changes after that snapshot.
#[tracing::instrument(skip(source, target, progress), fields(from = %source_schema, to = %target_schema))]
pub async fn copy_snapshot(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    source_schema: &SchemaName,
    target_schema: &SchemaName,
    progress: impl Fn(usize, usize),
) -> Result<Vec<TableCopy>> {
    copy_tables(
        source,
        target,
        source_schema,
        target_schema,
        false,
        progress,
    )
    .await
}

async fn copy_tables(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    source_schema: &SchemaName,
    target_schema: &SchemaName,
    lock: bool,
    progress: impl Fn(usize, usize),
) -> Result<Vec<TableCopy>> {
    let mut src = source
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sql)?;
    let mut dst = target
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sql)?;
    let src_conn: &mut PgConnection = &mut src;
    let mut src_tx = Connection::begin_with(src_conn, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(sql)?;
    let tables = tables_of(&mut src_tx, source_schema).await?;
    let dst_conn: &mut PgConnection = &mut dst;
    let target_tables = tables_of(dst_conn, target_schema).await?;
    if target_tables != tables {
        return Err(Error::Conflict(format!(
            "{target_schema} does not have the tables of {source_schema}: migrate it to the same version first"
        )));
    }
    if lock && !tables.is_empty() {
        let list = qualified(source_schema, &tables);
        sqlx::query(AssertSqlSafe(format!("LOCK TABLE {list} IN SHARE MODE")))
            .execute(&mut *src_tx)
            .await
            .map_err(sql)?;
    }
    let dst_conn: &mut PgConnection = &mut dst;
    let mut dst_tx = Connection::begin(dst_conn).await.map_err(sql)?;
    // Foreign keys and triggers are not re-checked row by row: the rows come from a
    // consistent snapshot of a schema with the same constraints, and the checksums
    // prove they arrived intact.
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *dst_tx)
        .await
        .map_err(sql)?;
    if !tables.is_empty() {
        sqlx::query(AssertSqlSafe(format!(
            "TRUNCATE {}",
            qualified(target_schema, &tables)
        )))
        .execute(&mut *dst_tx)
        .await
        .map_err(sql)?;
    }
    let mut copies = Vec::with_capacity(tables.len());
    for (done, table) in tables.iter().enumerate() {
        let from = format!("{}.\"{table}\"", source_schema.quoted());
        let to = format!("{}.\"{table}\"", target_schema.quoted());
        let mut copy_in = dst_tx
            .copy_in_raw(&format!("COPY {to} FROM STDIN (FORMAT binary)"))
            .await
            .map_err(sql)?;
        {
            let mut out = src_tx
                .copy_out_raw(&format!("COPY {from} TO STDOUT (FORMAT binary)"))
                .await
                .map_err(sql)?;
            while let Some(chunk) = out.try_next().await.map_err(sql)? {
                copy_in.send(chunk).await.map_err(sql)?;
            }
        }
        copy_in.finish().await.map_err(sql)?;
        let (rows, checksum) = fingerprint(&mut src_tx, &from).await?;
        let copied = fingerprint(&mut dst_tx, &to).await?;
        if copied != (rows, checksum.clone()) {
            return Err(Error::Conflict(format!(
                "table {table}: copied {} rows (checksum {}), source has {rows} (checksum {checksum})",
                copied.0, copied.1
            )));
        }
        copies.push(TableCopy {
            table: table.clone(),
            rows,
            checksum,
        });
        progress(done + 1, tables.len());
    }
    copy_sequences(&mut src_tx, &mut dst_tx, source_schema, target_schema).await?;
    dst_tx.commit().await.map_err(sql)?;
    src_tx.rollback().await.map_err(sql)?;
    Ok(copies)
}

pub(super) fn sql(err: sqlx::Error) -> Error {
    Error::Db(sea_orm::DbErr::Custom(err.to_string()))
}

pub(super) fn qualified(schema: &SchemaName, tables: &[String]) -> String {
    tables
        .iter()
        .map(|t| format!("{}.\"{}\"", schema.quoted(), t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tenant's tables (not the migrator's bookkeeping nor a move's change log), by name.
pub(super) async fn tables_of(conn: &mut PgConnection, schema: &SchemaName) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT c.relname::text AS name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.relname NOT IN ('seaql_migrations', $2)
         ORDER BY c.relname",
    )
    .bind(schema.as_str())
    .bind(super::CHANGE_LOG)
    .fetch_all(conn)
    .await
    .map_err(sql)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name").map_err(sql))
        .collect()
}

/// Row count and checksum of a table (`table` already qualified and quoted).
async fn fingerprint(conn: &mut PgConnection, table: &str) -> Result<(i64, String)> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) AS n,
                COALESCE(md5(string_agg(h, '' ORDER BY h)), '') AS sum
         FROM (SELECT md5(x::text) AS h FROM {table} x) rows"
    )))
    .fetch_one(conn)
    .await
    .map_err(sql)?;
    Ok((
        row.try_get("n").map_err(sql)?,
        row.try_get("sum").map_err(sql)?,
    ))
}

/// Carries every sequence's position over (but a move's change log's own), so new rows
/// never reuse a copied key.
pub(super) async fn copy_sequences(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    source_schema: &SchemaName,
    target_schema: &SchemaName,
) -> Result<()> {
    let names: Vec<String> = sqlx::query(
        "SELECT c.relname::text AS name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = 'S' AND c.relname <> $2 || '_seq_seq'
         ORDER BY c.relname",
    )
    .bind(source_schema.as_str())
    .bind(super::CHANGE_LOG)
    .fetch_all(&mut *src)
    .await
    .map_err(sql)?
    .iter()
    .map(|r| r.try_get::<String, _>("name").map_err(sql))
    .collect::<Result<_>>()?;
    for name in names {
        let seq = name.replace('"', "\"\"");
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT last_value, is_called FROM {}.\"{seq}\"",
            source_schema.quoted()
        )))
        .fetch_one(&mut *src)
        .await
        .map_err(sql)?;
        let last: i64 = row.try_get("last_value").map_err(sql)?;
        let called: bool = row.try_get("is_called").map_err(sql)?;
        sqlx::query("SELECT setval($1::regclass, $2, $3)")
            .bind(format!("{}.\"{seq}\"", target_schema.quoted()))
            .bind(last)
            .bind(called)
            .execute(&mut *dst)
            .await
            .map_err(sql)?;
    }
    Ok(())
}
