//! Change capture for online moves: the tenant keeps writing to its source while the bulk
//! copy runs, and what it changes meanwhile is replayed on the target afterwards.
//!
//! [`install_capture`] puts a row trigger on every table of the source schema that logs
//! the primary key of each inserted, updated or deleted row into a change log table in
//! that schema. Installed before the copy's snapshot, it misses nothing the snapshot
//! misses: a trigger's creation waits for the table's in-flight writers, so every write
//! it does not log committed before the snapshot was taken.
//!
//! [`catch_up`] replays the logged keys (delete them on the target, re-copy them from
//! the source) while the tenant stays writable; [`finish_online`] does the last round
//! with the source tables locked against writers, verifies, and turns the trigger into
//! a fence that refuses every later write to the source. [`remove_capture`] takes it
//! all away again.

use futures::TryStreamExt;
use sea_orm::DatabaseConnection;
// Every dynamic statement here is built from validated schema names and table and
// column names read from the catalog, always quoted: hence `AssertSqlSafe`.
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::copy::{copy_sequences, qualified, sql, tables_of};
use crate::{Error, Result, SchemaName};

/// The change log table, in the source schema while a move runs.
pub const CHANGE_LOG: &str = "_move_changes";
/// The trigger function (and the triggers) that fill it.
const CAPTURE: &str = "_move_capture";
/// SQLSTATE of a `NOWAIT` lock that is held by someone else.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// What one replay of the change log did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delta {
    /// Change log entries replayed.
    pub entries: i64,
    /// Distinct rows re-copied (or deleted) on the target.
    pub rows: i64,
}

/// A table and its primary key's columns.
#[derive(Debug, Clone)]
struct Keyed {
    table: String,
    key: Vec<String>,
}

impl Keyed {
    /// `(t."a", t."b")` for alias `alias`.
    fn key_of(&self, alias: &str) -> String {
        let cols: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("{alias}.\"{}\"", c.replace('"', "\"\"")))
            .collect();
        format!("({})", cols.join(", "))
    }

    fn qualified(&self, schema: &SchemaName) -> String {
        format!(
            "{}.\"{}\"",
            schema.quoted(),
            self.table.replace('"', "\"\"")
        )
    }

    fn literal(&self) -> String {
        format!("'{}'", self.table.replace('\'', "''"))
    }
}

/// Creates the change log and its trigger on every table of `schema`. Each trigger is
/// created in a transaction of its own (with a lock timeout), so that installing them
/// never holds one table while waiting for another's writers.
#[tracing::instrument(skip(db), fields(schema = %schema))]
pub async fn install_capture(db: &DatabaseConnection, schema: &SchemaName) -> Result<()> {
    let mut conn = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sql)?;
    let keyed = keyed_tables(&mut conn, schema).await?;
    let s = schema.quoted();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {s}.\"{CHANGE_LOG}\" (
             seq bigserial PRIMARY KEY, tbl text NOT NULL, pk jsonb NOT NULL);
         CREATE OR REPLACE FUNCTION {s}.\"{CAPTURE}\"() RETURNS trigger LANGUAGE plpgsql AS $fn$
         DECLARE k jsonb; o jsonb;
         BEGIN
             IF TG_OP <> 'DELETE' THEN
                 SELECT jsonb_object_agg(c, to_jsonb(NEW) -> c) INTO k FROM unnest(TG_ARGV) c;
                 INSERT INTO {s}.\"{CHANGE_LOG}\" (tbl, pk) VALUES (TG_TABLE_NAME, k);
             END IF;
             IF TG_OP <> 'INSERT' THEN
                 SELECT jsonb_object_agg(c, to_jsonb(OLD) -> c) INTO o FROM unnest(TG_ARGV) c;
                 IF o IS DISTINCT FROM k THEN
                     INSERT INTO {s}.\"{CHANGE_LOG}\" (tbl, pk) VALUES (TG_TABLE_NAME, o);
                 END IF;
             END IF;
             RETURN NULL;
         END $fn$;"
    )))
    .execute(&mut *conn)
    .await
    .map_err(sql)?;
    for t in &keyed {
        let args: Vec<String> = t
            .key
            .iter()
            .map(|c| format!("'{}'", c.replace('\'', "''")))
            .collect();
        let conn: &mut PgConnection = &mut conn;
        let mut tx = Connection::begin(conn).await.map_err(sql)?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '10s';
             CREATE OR REPLACE TRIGGER \"{CAPTURE}\" AFTER INSERT OR UPDATE OR DELETE ON {}
                 FOR EACH ROW EXECUTE FUNCTION {s}.\"{CAPTURE}\"({});",
            t.qualified(schema),
            args.join(", ")
        )))
        .execute(&mut *tx)
        .await
        .map_err(sql)?;
        tx.commit().await.map_err(sql)?;
    }
    Ok(())
}

/// Drops the triggers, the fence and the change log from `schema`, if there.
#[tracing::instrument(skip(db), fields(schema = %schema))]
pub async fn remove_capture(db: &DatabaseConnection, schema: &SchemaName) -> Result<()> {
    let s = schema.quoted();
    let mut tx = db
        .get_postgres_connection_pool()
        .begin()
        .await
        .map_err(sql)?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '30s';
         DROP FUNCTION IF EXISTS {s}.\"{CAPTURE}\"() CASCADE;
         DROP TABLE IF EXISTS {s}.\"{CHANGE_LOG}\";"
    )))
    .execute(&mut *tx)
    .await
    .map_err(sql)?;
    tx.commit().await.map_err(sql)?;
    Ok(())
}

/// Entries in `schema`'s change log: how far the target is behind.
pub async fn pending_changes(db: &DatabaseConnection, schema: &SchemaName) -> Result<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.\"{CHANGE_LOG}\"",
        schema.quoted()
    )))
    .fetch_one(db.get_postgres_connection_pool())
    .await
    .map_err(sql)
}

/// One replay while the tenant stays writable: every change logged so far (as one
/// snapshot of the source sees it) is applied to the target in one transaction, then
/// those entries leave the log. Changes made meanwhile are logged anew and wait for the
/// next round.
#[tracing::instrument(skip(source, target), fields(schema = %schema))]
pub async fn catch_up(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    schema: &SchemaName,
) -> Result<Delta> {
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
    let keyed = keyed_tables(&mut src_tx, schema).await?;
    let dst_conn: &mut PgConnection = &mut dst;
    let mut dst_tx = Connection::begin(dst_conn).await.map_err(sql)?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *dst_tx)
        .await
        .map_err(sql)?;
    let (delta, seqs) = replay(&mut src_tx, &mut dst_tx, schema, &keyed, false).await?;
    dst_tx.commit().await.map_err(sql)?;
    src_tx.rollback().await.map_err(sql)?;
    // Only after the target has them: were this lost, the next round replays them again.
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {}.\"{CHANGE_LOG}\" WHERE seq = ANY($1)",
        schema.quoted()
    )))
    .bind(seqs)
    .execute(&mut *src)
    .await
    .map_err(sql)?;
    Ok(delta)
}

/// The last round. The source tables are locked `SHARE` (readers carry on, writers
/// wait), every remaining change is applied, sequences are carried over, and the target
/// is verified: row counts of every table, and count and checksum of every changed row,
/// on both sides (the rest was verified by the snapshot copy). Then the target commits
/// and the trigger becomes a fence: when the lock goes, any writer still aimed at the
/// source fails (SQLSTATE 25006) instead of writing where nobody will read.
///
/// The caller has stopped new writes (the tenant is `moving`); the lock is taken with
/// `NOWAIT`, retried every few milliseconds until the writers still in flight are done,
/// for at most `drain_timeout`. Never waiting while holding some of the tables means a
/// writer going through them in another order cannot deadlock with the move.
#[tracing::instrument(skip(source, target), fields(schema = %schema))]
pub async fn finish_online(
    source: &DatabaseConnection,
    target: &DatabaseConnection,
    schema: &SchemaName,
    drain_timeout: std::time::Duration,
) -> Result<Delta> {
    let pool = source.get_postgres_connection_pool();
    let keyed = {
        let mut conn = pool.acquire().await.map_err(sql)?;
        keyed_tables(&mut conn, schema).await?
    };
    let names: Vec<String> = keyed.iter().map(|k| k.table.clone()).collect();
    let lock = format!(
        "LOCK TABLE {} IN SHARE MODE NOWAIT",
        qualified(schema, &names)
    );
    let deadline = tokio::time::Instant::now() + drain_timeout;
    let mut attempts = 0u32;
    let mut src_tx = loop {
        attempts += 1;
        let mut tx = pool.begin().await.map_err(sql)?;
        match sqlx::raw_sql(AssertSqlSafe(lock.clone()))
            .execute(&mut *tx)
            .await
        {
            Ok(_) => break tx,
            Err(sqlx::Error::Database(db))
                if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE)
                    && tokio::time::Instant::now() < deadline =>
            {
                drop(tx);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(err) => return Err(sql(err)),
        }
    };
    tracing::debug!(attempts, "source locked against writers");
    let mut dst = target
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sql)?;
    let dst_conn: &mut PgConnection = &mut dst;
    let mut dst_tx = Connection::begin(dst_conn).await.map_err(sql)?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *dst_tx)
        .await
        .map_err(sql)?;
    let (delta, _) = replay(&mut src_tx, &mut dst_tx, schema, &keyed, true).await?;
    copy_sequences(&mut src_tx, &mut dst_tx, schema, schema).await?;
    for t in &keyed {
        let q = t.qualified(schema);
        let count = format!("SELECT count(*) FROM {q}");
        let a: i64 = sqlx::query_scalar(AssertSqlSafe(count.clone()))
            .fetch_one(&mut *src_tx)
            .await
            .map_err(sql)?;
        let b: i64 = sqlx::query_scalar(AssertSqlSafe(count))
            .fetch_one(&mut *dst_tx)
            .await
            .map_err(sql)?;
        if a != b {
            return Err(Error::Conflict(format!(
                "table {}: the target has {b} rows after the last round, the source {a}",
                t.table
            )));
        }
    }
    let s = schema.quoted();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE OR REPLACE FUNCTION {s}.\"{CAPTURE}\"() RETURNS trigger LANGUAGE plpgsql AS $fn$
         BEGIN
             RAISE EXCEPTION 'tenant schema % has moved: it no longer takes writes', TG_TABLE_SCHEMA
                 USING ERRCODE = 'read_only_sql_transaction';
         END $fn$;"
    )))
    .execute(&mut *src_tx)
    .await
    .map_err(sql)?;
    dst_tx.commit().await.map_err(sql)?;
    src_tx.commit().await.map_err(sql)?;
    Ok(delta)
}

/// Applies the change log as `src` sees it to `dst`: per table, the logged keys are
/// deleted on the target and their current rows (if any) copied over. With `verify`,
/// the changed rows' count and checksum must then agree on both sides. Returns what was
/// done and the log entries it covered.
async fn replay(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &SchemaName,
    keyed: &[Keyed],
    verify: bool,
) -> Result<(Delta, Vec<i64>)> {
    let log = format!("{}.\"{CHANGE_LOG}\"", schema.quoted());
    let changed = sqlx::query(AssertSqlSafe(format!(
        "SELECT tbl, count(*) AS entries, jsonb_agg(DISTINCT pk)::text AS keys,
                count(DISTINCT pk) AS rows, array_agg(seq) AS seqs
         FROM {log} GROUP BY tbl ORDER BY tbl"
    )))
    .fetch_all(&mut *src)
    .await
    .map_err(sql)?;
    let mut delta = Delta::default();
    let mut seqs = Vec::new();
    for row in changed {
        let tbl: String = row.try_get("tbl").map_err(sql)?;
        let keys: String = row.try_get("keys").map_err(sql)?;
        delta.entries += row.try_get::<i64, _>("entries").map_err(sql)?;
        delta.rows += row.try_get::<i64, _>("rows").map_err(sql)?;
        seqs.extend(row.try_get::<Vec<i64>, _>("seqs").map_err(sql)?);
        let t = keyed
            .iter()
            .find(|k| k.table == tbl)
            .ok_or_else(|| Error::Conflict(format!("changes logged for unknown table {tbl}")))?;
        let q = t.qualified(schema);
        let join = format!(
            "jsonb_populate_recordset(NULL::{q}, $1::jsonb) k JOIN {q} t ON {} = {}",
            t.key_of("t"),
            t.key_of("k")
        );
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {q} t USING jsonb_populate_recordset(NULL::{q}, $1::jsonb) k
             WHERE {} = {}",
            t.key_of("t"),
            t.key_of("k")
        )))
        .bind(&keys)
        .execute(&mut *dst)
        .await
        .map_err(sql)?;
        let mut copy_in = dst
            .copy_in_raw(&format!("COPY {q} FROM STDIN (FORMAT binary)"))
            .await
            .map_err(sql)?;
        {
            let mut out = src
                .copy_out_raw(&format!(
                    "COPY (SELECT t.* FROM (SELECT DISTINCT pk FROM {log} WHERE tbl = {}) c
                           CROSS JOIN LATERAL jsonb_populate_record(NULL::{q}, c.pk) k
                           JOIN {q} t ON {} = {}) TO STDOUT (FORMAT binary)",
                    t.literal(),
                    t.key_of("t"),
                    t.key_of("k")
                ))
                .await
                .map_err(sql)?;
            while let Some(chunk) = out.try_next().await.map_err(sql)? {
                copy_in.send(chunk).await.map_err(sql)?;
            }
        }
        copy_in.finish().await.map_err(sql)?;
        if verify {
            let a = fingerprint_keys(src, &join, &keys).await?;
            let b = fingerprint_keys(dst, &join, &keys).await?;
            if a != b {
                return Err(Error::Conflict(format!(
                    "table {tbl}: changed rows differ after the last round: target {} rows ({}), source {} rows ({})",
                    b.0, b.1, a.0, a.1
                )));
            }
        }
    }
    Ok((delta, seqs))
}

/// Count and checksum of the rows `join` selects (alias `t`), as [`fingerprint`] does
/// for a whole table (see `copy.rs`).
async fn fingerprint_keys(
    conn: &mut PgConnection,
    join: &str,
    keys: &str,
) -> Result<(i64, String)> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) AS n, COALESCE(md5(string_agg(h, '' ORDER BY h)), '') AS sum
         FROM (SELECT md5(t::text) AS h FROM {join}) rows"
    )))
    .bind(keys)
    .fetch_one(conn)
    .await
    .map_err(sql)?;
    Ok((
        row.try_get("n").map_err(sql)?,
        row.try_get("sum").map_err(sql)?,
    ))
}

/// Every table of `schema` with its primary key; a table without one cannot be
/// replayed, so an online move refuses it.
async fn keyed_tables(conn: &mut PgConnection, schema: &SchemaName) -> Result<Vec<Keyed>> {
    let tables = tables_of(conn, schema).await?;
    let rows = sqlx::query(
        "SELECT c.relname::text AS tbl,
                array_agg(a.attname::text ORDER BY k.ord) AS cols
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE n.nspname = $1 AND i.indisprimary
         GROUP BY c.relname",
    )
    .bind(schema.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(sql)?;
    let mut keyed = Vec::with_capacity(tables.len());
    for table in tables {
        let key = rows
            .iter()
            .find(|r| r.try_get::<String, _>("tbl").ok().as_deref() == Some(table.as_str()))
            .map(|r| r.try_get::<Vec<String>, _>("cols").map_err(sql))
            .transpose()?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "table {table} has no primary key: its changes cannot be replayed"
                ))
            })?;
        keyed.push(Keyed { table, key });
    }
    Ok(keyed)
}
