//! `admin move-tenant`: a tenant with data moves shared → dedicated → shared while a
//! runtime serves it; a move that fails before the switch leaves the tenant active on
//! its source with all its data, and a rerun then succeeds.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use control_plane::{
    catalog::{self, Actor},
    fleet::{MoveTarget, move_tenant},
};
use instudio_tests::{Platform, eventually};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tenancy::{DatabaseName, provision};
use tenant_runtime::auth::Role;
use uuid::Uuid;

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test]
async fn a_tenant_moves_between_tiers_with_its_data_and_a_failed_move_rolls_back() {
    let platform = Platform::new(1).await;
    let slug = format!("mv-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let schema = format!("t_{}", slug.replace('-', "_"));
    let tenant = platform.create_tenant(&slug, "free").await;
    let rt = platform.runtime(platform.runtime_config()).await;
    let host = Platform::host(&slug);
    let token = platform.token(tenant.id, Role::Owner);
    let created = rt
        .post(&host, "/api/v1/locations")
        .bearer_auth(&token)
        .json(&json!({ "name": "Before the move" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    platform
        .catalog
        .execute_unprepared(&format!(
            "INSERT INTO {schema}.customers (id, kind, name, email)
             SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
             FROM generate_series(1, 1000) i"
        ))
        .await
        .unwrap();
    let server = platform.db.url.expose().clone();
    let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();

    // A fault before the copy: the target database holds a foreign table, so the copy
    // refuses. The tenant stays active on its source, with everything.
    platform
        .catalog
        .execute_unprepared(&format!("CREATE DATABASE {}", database.quoted()))
        .await
        .unwrap();
    let target = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    target
        .execute_unprepared(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.intruder (x int)"
        ))
        .await
        .unwrap();
    target.close().await.unwrap();
    let failed = move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Dedicated,
        &Actor::system("test"),
    )
    .await;
    assert!(failed.is_err());
    let t = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "shared")
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM {schema}.customers")
        )
        .await,
        1000
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            "SELECT count(*) FROM platform.tenant_operations
             WHERE kind = 'tenant_move' AND status = 'failed'"
        )
        .await,
        1
    );
    assert_eq!(capture_leftovers(&platform.catalog).await, 0);

    // The rerun moves it.
    let report = move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Dedicated,
        &Actor::system("test"),
    )
    .await
    .unwrap();
    assert_eq!(
        report
            .tables
            .iter()
            .find(|c| c.table == "customers")
            .unwrap()
            .rows,
        1000
    );
    let t = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "dedicated")
    );
    assert_eq!(t.database_name.as_deref(), Some(database.as_str()));
    // The source is archived, not dropped.
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM pg_namespace WHERE nspname = '{}'",
                report.archived_as
            )
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'")
        )
        .await,
        0
    );

    // The runtime follows the switch (NOTIFY): it reads and writes the new database.
    let names = || async {
        let body: Value = rt
            .get(&host, "/api/v1/locations")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body.to_string()
    };
    assert!(names().await.contains("Before the move"));
    assert!(
        eventually(Duration::from_secs(5), || async {
            rt.post(&host, "/api/v1/locations")
                .bearer_auth(&token)
                .json(&json!({ "name": "After the move" }))
                .send()
                .await
                .unwrap()
                .status()
                == StatusCode::CREATED
        })
        .await
    );
    let dedicated = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &dedicated,
            &format!("SELECT count(*) FROM {schema}.locations WHERE name = 'After the move'")
        )
        .await,
        1
    );
    dedicated.close().await.unwrap();

    // And back to the shared pool, with both locations.
    move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Shared(None),
        &Actor::system("test"),
    )
    .await
    .unwrap();
    let t = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "shared")
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM {schema}.locations")
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM {schema}.customers")
        )
        .await,
        1000
    );

    // A failed move into the database the tenant left keeps what is archived there: the
    // rollback drops only the move's schema, not a database the move did not create.
    let left = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    left.execute_unprepared(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.intruder (x int)"
    ))
    .await
    .unwrap();
    let archived_there = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'arch\\_%'";
    assert_eq!(scalar(&left, archived_there).await, 1);
    assert!(
        move_tenant(
            &platform.catalog,
            &server,
            &slug,
            &MoveTarget::Dedicated,
            &Actor::system("test"),
        )
        .await
        .is_err()
    );
    assert_eq!(scalar(&left, archived_there).await, 1);
    assert_eq!(
        scalar(
            &left,
            &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'")
        )
        .await,
        0
    );
    left.close().await.unwrap();
    let t = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "shared")
    );
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}

/// Change capture left anywhere in the platform's database: triggers' function, fence
/// or change log.
async fn capture_leftovers(db: &DatabaseConnection) -> i64 {
    scalar(
        db,
        "SELECT (SELECT count(*) FROM pg_proc WHERE proname = '_move_capture')
              + (SELECT count(*) FROM pg_class WHERE relname = '_move_changes')
              + (SELECT count(*) FROM pg_trigger WHERE tgname = '_move_capture')",
    )
    .await
}

/// The state a move killed at `step` leaves behind, made with the move's own pieces:
/// `before_copy` (capture installed), `mid_copy` (the target holds a failed copy's
/// leftovers), `catch_up` (snapshot copied, writes since then logged, one round
/// replayed, more pending), `after_copy` (the last round done: the tenant `moving`, the
/// source fenced, the switch not made).
async fn killed_move(platform: &Platform, slug: &str, step: &str) {
    let server = platform.db.url.expose().clone();
    let schema = tenancy::SchemaName::parse(&format!("t_{}", slug.replace('-', "_"))).unwrap();
    let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
    let t = catalog::find_tenant(&platform.catalog, slug)
        .await
        .unwrap()
        .unwrap();
    let details = json!({
        "from": { "kind": "shared", "pool": "local", "database": platform.db.name },
        "to": { "kind": "dedicated", "pool": null, "database": database.as_str() },
        "schema": schema.as_str(),
        "target_created": true,
    });
    platform
        .catalog
        .execute_unprepared(&format!(
            "INSERT INTO platform.tenant_operations (id, tenant_id, kind, status, actor, details)
             VALUES ('{}', '{}', 'tenant_move', 'running', 'test', '{}')",
            Uuid::now_v7(),
            t.id,
            details
        ))
        .await
        .unwrap();
    provision::create_database(&platform.catalog, &server, &database, &schema)
        .await
        .unwrap();
    provision::install_capture(&platform.catalog, &schema)
        .await
        .unwrap();
    if step == "before_copy" {
        return;
    }
    let target = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    let customers = |range: &str| {
        format!(
            "INSERT INTO {}.customers (id, kind, name, email)
             SELECT gen_random_uuid(), 'guest', 'Late ' || i, 'late' || i || '@example.com'
             FROM generate_series({range}) i",
            schema.as_str()
        )
    };
    if step == "mid_copy" {
        // A copy commits all tables or none: killed midway, the target holds only
        // what a previous attempt left, here a stray row.
        target
            .execute_unprepared(&format!(
                "INSERT INTO {}.locations (id, name) VALUES (gen_random_uuid(), 'stray')",
                schema.as_str()
            ))
            .await
            .unwrap();
    } else {
        provision::copy_snapshot(&platform.catalog, &target, &schema, &schema, |_, _| {})
            .await
            .unwrap();
        // Writes the tenant acknowledged while the copy ran, replayed in part.
        platform
            .catalog
            .execute_unprepared(&customers("1, 10"))
            .await
            .unwrap();
        let round = provision::catch_up(&platform.catalog, &target, &schema)
            .await
            .unwrap();
        assert_eq!(round.rows, 10);
        platform
            .catalog
            .execute_unprepared(&format!(
                "{}; DELETE FROM {}.customers WHERE email = 'late1@example.com'",
                customers("11, 15"),
                schema.as_str()
            ))
            .await
            .unwrap();
    }
    if step == "after_copy" {
        platform
            .catalog
            .execute_unprepared(&format!(
                "UPDATE platform.tenants SET status = 'moving' WHERE id = '{}'",
                t.id
            ))
            .await
            .unwrap();
        provision::finish_online(&platform.catalog, &target, &schema, Duration::from_secs(5))
            .await
            .unwrap();
        // The source is fenced: a writer that still aims at it fails, as a read-only
        // transaction would.
        let refused = platform
            .catalog
            .execute_unprepared(&customers("100, 100"))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("no longer takes writes"),
            "{refused}"
        );
    }
    target.close().await.unwrap();
}

#[tokio::test]
async fn a_move_killed_at_any_step_is_recovered_by_the_rerun() {
    let platform = Platform::new(1).await;
    let server = platform.db.url.expose().clone();
    for step in [
        "before_copy",
        "mid_copy",
        "catch_up",
        "after_copy",
        "after_switch",
        "after_archive",
    ] {
        let slug = format!(
            "k{}-{}",
            &step[..2],
            &Uuid::new_v4().simple().to_string()[..6]
        );
        let schema = format!("t_{}", slug.replace('-', "_"));
        platform.create_tenant(&slug, "free").await;
        platform
            .catalog
            .execute_unprepared(&format!(
                "INSERT INTO {schema}.customers (id, kind, name, email)
                 SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
                 FROM generate_series(1, 300) i"
            ))
            .await
            .unwrap();
        let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
        if step.starts_with("after_") && step != "after_copy" {
            // A real move, killed after the switch (`after_switch`: the source is not
            // archived yet; `after_archive`: it is renamed, its capture still there),
            // the operation still running.
            let report = move_tenant(
                &platform.catalog,
                &server,
                &slug,
                &MoveTarget::Dedicated,
                &Actor::system("test"),
            )
            .await
            .unwrap();
            let left = if step == "after_switch" {
                schema.clone()
            } else {
                report.archived_as.clone()
            };
            if step == "after_switch" {
                platform
                    .catalog
                    .execute_unprepared(&format!(
                        "ALTER SCHEMA {} RENAME TO {left}",
                        report.archived_as
                    ))
                    .await
                    .unwrap();
            }
            platform
                .catalog
                .execute_unprepared(&format!(
                    "UPDATE platform.tenant_operations SET status = 'running', finished_at = NULL
                     WHERE id = '{}'",
                    report.operation_id
                ))
                .await
                .unwrap();
            provision::install_capture(
                &platform.catalog,
                &tenancy::SchemaName::parse(&left).unwrap(),
            )
            .await
            .unwrap();
            control_plane::fleet::recover_move(
                &platform.catalog,
                &server,
                catalog::find_tenant(&platform.catalog, &slug)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
            )
            .await
            .unwrap();
            // The archived source is where the operation says, for the retention job.
            let archived_as = platform
                .catalog
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!(
                        "SELECT details->>'archived_as' AS a FROM platform.tenant_operations
                         WHERE id = '{}' AND status = 'succeeded'",
                        report.operation_id
                    ),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<String>("", "a")
                .unwrap();
            assert_eq!(
                scalar(
                    &platform.catalog,
                    &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{archived_as}'")
                )
                .await,
                1,
                "{step}"
            );
        } else {
            killed_move(&platform, &slug, step).await;
            // The rerun settles the dead move (rolls it back), then moves.
            move_tenant(
                &platform.catalog,
                &server,
                &slug,
                &MoveTarget::Dedicated,
                &Actor::system("test"),
            )
            .await
            .unwrap();
        }
        let t = catalog::find_tenant(&platform.catalog, &slug)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.status.as_str(), t.placement_kind.as_str()),
            ("active", "dedicated"),
            "{step}"
        );
        let target = Database::connect(provision::database_url(&server, &database).as_str())
            .await
            .unwrap();
        // Everything the tenant acknowledged, the writes during the move included.
        let expected = if matches!(step, "catch_up" | "after_copy") {
            314
        } else {
            300
        };
        assert_eq!(
            scalar(&target, &format!("SELECT count(*) FROM {schema}.customers")).await,
            expected,
            "{step}"
        );
        assert_eq!(
            scalar(
                &target,
                &format!("SELECT count(*) FROM {schema}.locations WHERE name = 'stray'")
            )
            .await,
            0,
            "{step}"
        );
        target.close().await.unwrap();
        // The source is archived, not left under the tenant's name; no move is running.
        assert_eq!(
            scalar(
                &platform.catalog,
                &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'")
            )
            .await,
            0,
            "{step}"
        );
        assert_eq!(
            scalar(
                &platform.catalog,
                &format!(
                    "SELECT count(*) FROM platform.tenant_operations
                     WHERE kind = 'tenant_move' AND status = 'running' AND tenant_id = '{}'",
                    t.id
                )
            )
            .await,
            0,
            "{step}"
        );
        // Neither the archived source nor anything else keeps a capture or a fence.
        assert_eq!(capture_leftovers(&platform.catalog).await, 0, "{step}");
        provision::drop_database(&platform.catalog, &database)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_tenant_takes_writes_during_the_copy_and_keeps_every_acknowledged_one() {
    let platform = Platform::new(1).await;
    let slug = format!("on-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let schema = format!("t_{}", slug.replace('-', "_"));
    let tenant = platform.create_tenant(&slug, "free").await;
    platform
        .catalog
        .execute_unprepared(&format!(
            "INSERT INTO {schema}.customers (id, kind, name, email)
             SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
             FROM generate_series(1, 20000) i"
        ))
        .await
        .unwrap();
    let rt = Arc::new(platform.runtime(platform.runtime_config()).await);
    let token = platform.token(tenant.id, Role::Owner);
    let server = platform.db.url.expose().clone();
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (rt, token, stop, host) = (
                rt.clone(),
                token.clone(),
                stop.clone(),
                Platform::host(&slug),
            );
            tokio::spawn(async move {
                // (email, acknowledged, when the answer came)
                let mut seen = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let email = format!("w{w}-{n}@writer.example");
                    let status = rt
                        .post(&host, "/api/v1/customers")
                        .bearer_auth(&token)
                        .json(&json!({ "name": "Writer", "email": email }))
                        .send()
                        .await
                        .map(|r| r.status());
                    let acked = matches!(status, Ok(StatusCode::CREATED));
                    if let Ok(s) = status {
                        assert!(
                            acked || s == StatusCode::SERVICE_UNAVAILABLE,
                            "a write during the move answered {s}"
                        );
                    }
                    seen.push((email, acked, epoch.elapsed()));
                    if !acked {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = epoch.elapsed();
    let report = move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Dedicated,
        &Actor::system("test"),
    )
    .await
    .unwrap();
    let ended = epoch.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for w in writers {
        seen.extend(w.await.unwrap());
    }
    let acked: Vec<_> = seen.iter().filter(|(_, ok, _)| *ok).collect();
    // Online: writes were acknowledged while the move ran, not only before and after.
    assert!(
        acked.iter().any(|(_, _, at)| *at > started && *at < ended),
        "no write acknowledged during the move ({report:?})"
    );
    let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
    let target = Database::connect(provision::database_url(&server, &database).as_str())
        .await
        .unwrap();
    for (email, _, _) in &acked {
        assert_eq!(
            scalar(
                &target,
                &format!("SELECT count(*) FROM {schema}.customers WHERE email = '{email}'")
            )
            .await,
            1,
            "{email}"
        );
    }
    assert_eq!(
        scalar(
            &target,
            &format!("SELECT count(*) FROM {schema}.customers WHERE email LIKE 'c%@example.com'")
        )
        .await,
        20000
    );
    target.close().await.unwrap();
    assert_eq!(capture_leftovers(&platform.catalog).await, 0);
    drop(rt);
    provision::drop_database(&platform.catalog, &database)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_control_plane_settles_interrupted_moves_when_it_starts() {
    let platform = Platform::new(1).await;
    let server = platform.db.url.expose().clone();
    // One move killed in its last round (tenant moving, source fenced), one killed after
    // the switch (source neither archived nor uncaptured).
    let (before, after) = (
        format!("sb-{}", &Uuid::new_v4().simple().to_string()[..6]),
        format!("sa-{}", &Uuid::new_v4().simple().to_string()[..6]),
    );
    for slug in [&before, &after] {
        platform.create_tenant(slug, "free").await;
        platform
            .catalog
            .execute_unprepared(&format!(
                "INSERT INTO t_{}.customers (id, kind, name, email)
                 SELECT gen_random_uuid(), 'guest', 'Customer ' || i, 'c' || i || '@example.com'
                 FROM generate_series(1, 300) i",
                slug.replace('-', "_")
            ))
            .await
            .unwrap();
    }
    killed_move(&platform, &before, "after_copy").await;
    let report = move_tenant(
        &platform.catalog,
        &server,
        &after,
        &MoveTarget::Dedicated,
        &Actor::system("test"),
    )
    .await
    .unwrap();
    let after_schema = format!("t_{}", after.replace('-', "_"));
    platform
        .catalog
        .execute_unprepared(&format!(
            "ALTER SCHEMA {} RENAME TO {after_schema};
             UPDATE platform.tenant_operations SET status = 'running', finished_at = NULL
             WHERE id = '{}'",
            report.archived_as, report.operation_id
        ))
        .await
        .unwrap();
    provision::install_capture(
        &platform.catalog,
        &tenancy::SchemaName::parse(&after_schema).unwrap(),
    )
    .await
    .unwrap();

    let _cp = platform
        .control_plane(instudio_tests::control::settings())
        .await;

    let t = catalog::find_tenant(&platform.catalog, &before)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "shared")
    );
    let before_schema = format!("t_{}", before.replace('-', "_"));
    // Rolled back to the source with everything, and writable again (the fence is gone).
    platform
        .catalog
        .execute_unprepared(&format!(
            "INSERT INTO {before_schema}.customers (id, kind, name, email)
             VALUES (gen_random_uuid(), 'guest', 'After', 'after@example.com')"
        ))
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM {before_schema}.customers")
        )
        .await,
        315
    );
    let t = catalog::find_tenant(&platform.catalog, &after)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "dedicated")
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{after_schema}'")
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            "SELECT count(*) FROM platform.tenant_operations
             WHERE kind = 'tenant_move' AND status = 'running'"
        )
        .await,
        0
    );
    assert_eq!(capture_leftovers(&platform.catalog).await, 0);
    for slug in [&before, &after] {
        let db = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
        provision::drop_database(&platform.catalog, &db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn archived_move_sources_are_dropped_after_the_retention_period() {
    let platform = Platform::new(1).await;
    let server = platform.db.url.expose().clone();
    let slug = format!("rt-{}", &Uuid::new_v4().simple().to_string()[..8]);
    platform.create_tenant(&slug, "free").await;
    let database = DatabaseName::parse(&format!("tdb_{}", slug.replace('-', "_"))).unwrap();
    // There and back: the shared source is archived as a schema, the dedicated source
    // as a schema in a database the tenant has left.
    let to_dedicated = move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Dedicated,
        &Actor::system("test"),
    )
    .await
    .unwrap();
    move_tenant(
        &platform.catalog,
        &server,
        &slug,
        &MoveTarget::Shared(None),
        &Actor::system("test"),
    )
    .await
    .unwrap();
    let archived = || async {
        scalar(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM pg_namespace WHERE nspname = '{}'",
                to_dedicated.archived_as
            ),
        )
        .await
    };
    let dedicated_db = || async {
        scalar(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                database.as_str()
            ),
        )
        .await
    };
    // Within the retention period nothing goes.
    assert_eq!(
        control_plane::fleet::purge_archived_sources(
            &platform.catalog,
            &server,
            Duration::from_secs(3600)
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!((archived().await, dedicated_db().await), (1, 1));

    // The control plane's periodic job, with retention 0.
    let mut settings = instudio_tests::control::settings();
    settings.worker_interval = Duration::from_millis(100);
    settings.move_retention = Duration::ZERO;
    let _cp = platform.control_plane(settings).await;
    let marked = || async {
        scalar(
            &platform.catalog,
            "SELECT count(*) FROM platform.tenant_operations
             WHERE kind = 'tenant_move' AND details ? 'source_dropped_at'",
        )
        .await
    };
    assert!(
        eventually(Duration::from_secs(20), || async {
            archived().await == 0 && dedicated_db().await == 0 && marked().await == 2
        })
        .await
    );
    // The tenant itself is untouched, active on the shared pool.
    let t = catalog::find_tenant(&platform.catalog, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status.as_str(), t.placement_kind.as_str()),
        ("active", "shared")
    );
    assert_eq!(
        scalar(
            &platform.catalog,
            &format!(
                "SELECT count(*) FROM t_{}.salon_settings",
                slug.replace('-', "_")
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_moving_schema_is_skipped_by_fleet_migrations_until_the_move_lets_go() {
    let platform = Platform::new(1).await;
    let slug = format!("lk-{}", &Uuid::new_v4().simple().to_string()[..8]);
    platform.create_tenant(&slug, "free").await;
    let schema = tenancy::SchemaName::parse(&format!("t_{}", slug.replace('-', "_"))).unwrap();
    // What a move holds from the source's migration to the end of its copy.
    let lock = provision::SchemaLock::take(&platform.catalog, &schema)
        .await
        .unwrap();
    let locked = provision::migrate_schema_try_lock::<migrations::TenantMigrator>(
        &platform.catalog,
        &schema,
    )
    .await
    .unwrap();
    assert!(
        matches!(locked, provision::LockedMigration::Locked),
        "{locked:?}"
    );
    drop(lock);
    assert!(
        eventually(Duration::from_secs(5), || async {
            matches!(
                provision::migrate_schema_try_lock::<migrations::TenantMigrator>(
                    &platform.catalog,
                    &schema,
                )
                .await
                .unwrap(),
                provision::LockedMigration::Migrated(_)
            )
        })
        .await
    );
}
