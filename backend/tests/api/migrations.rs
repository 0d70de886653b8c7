use crate::helpers::{fresh_database, spawn_app};
use backend::db::{MIGRATOR, migration_status};
use sqlx::PgPool;

#[tokio::test]
async fn every_migration_is_applied_once_and_the_tables_exist() {
    let Some(app) = spawn_app().await else { return };
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let expected: Vec<(i64, bool)> = MIGRATOR.iter().map(|m| (m.version, true)).collect();
    assert_eq!(applied, expected);
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name IN ('users', 'tasks') ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(tables, [("tasks".to_owned(),), ("users".to_owned(),)]);
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_exactly_once() {
    let Some(database) = fresh_database().await else {
        return;
    };
    // Separate pools, as separate replicas would have; all start at the same moment.
    let pools: Vec<PgPool> = (0..4).map(|_| PgPool::connect_lazy_with(database.clone())).collect();
    let runs: Vec<_> =
        pools.iter().cloned().map(|pool| tokio::spawn(async move { MIGRATOR.run(&pool).await })).collect();
    for run in runs {
        run.await.unwrap().expect("a concurrent migrator failed");
    }
    let counts: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version")
            .fetch_all(&pools[0])
            .await
            .unwrap();
    assert!(counts.iter().all(|(_, count)| *count == 1), "{counts:?}");
    assert!(migration_status(&pools[0]).await.unwrap().is_complete());
}
