//! Walking a long task list: keyset cursors, the capped total, and the query plans that keep a
//! page's cost independent of how many tasks a user has.

use crate::{
    helpers::{TestApp, TestUser, spawn_app},
    tasks::{list as page, list_error as error},
};
use api_types::{TASK_TOTAL_CAP, TaskQuery};
use backend::{domain::TaskFilter, store::tasks};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

const SORTS: [&str; 4] = ["created", "due", "priority", "title"];
const ORDERS: [&str; 2] = ["asc", "desc"];
const FILTERS: [&str; 8] = [
    "",
    "status=pending",
    "status=completed",
    "priority=high",
    "tag=work",
    "q=task%203",
    "due_before=2030-01-02T00:00:00Z",
    "due_after=2030-01-02T00:00:00Z",
];

fn owner(user: &TestUser) -> Uuid {
    user.id.parse().unwrap()
}

/// `count` tasks straight into the table, with many ties: five creation instants, three due
/// days and no due date for a quarter, three priorities, seven titles in two cases.
async fn seed(app: &TestApp, owner: Uuid, count: i32) {
    sqlx::query(
        "INSERT INTO tasks (user_id, title, description, priority, tags, due_at, completed, completed_at, created_at) \
         SELECT $1, CASE WHEN i % 2 = 0 THEN 'Task ' ELSE 'task ' END || (i % 7), \
                CASE WHEN i % 5 = 0 THEN 'about task ' || i END, \
                (ARRAY['low', 'medium', 'high'])[1 + i % 3]::task_priority, \
                CASE i % 3 WHEN 0 THEN '{work}'::text[] WHEN 1 THEN '{home,work}' ELSE '{}' END, \
                CASE WHEN i % 4 <> 0 THEN timestamptz '2030-01-01' + (i % 3) * interval '1 day' END, \
                i % 4 = 1, CASE WHEN i % 4 = 1 THEN now() END, \
                timestamptz '2026-01-01' + (i % 5) * interval '1 second' \
         FROM generate_series(1, $2) AS i",
    )
    .bind(owner)
    .bind(count)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// The ids met following `next_cursor` from the first page, calling `between` after each page.
async fn walk<F, Fut>(app: &TestApp, user: &TestUser, query: &str, limit: u32, mut between: F) -> Vec<i64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = page(app, user, &format!("{query}&limit={limit}{after}")).await;
        assert!(page.items.len() <= limit as usize);
        ids.extend(page.items.iter().map(|task| task.id));
        if cursor.is_some() {
            assert_eq!(page.next_offset, None, "a cursor page has no offset");
        }
        between().await;
        match page.next_cursor {
            Some(next) => {
                assert_eq!(page.items.len(), limit as usize, "{query}: a page before the last is full");
                cursor = Some(next);
            }
            None => return ids,
        }
    }
    panic!("{query}: the walk did not end");
}

#[tokio::test]
async fn a_cursor_walk_meets_every_task_once_in_order_for_every_sort_and_filter() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    seed(&app, owner(&user), 37).await;
    let other = app.sign_up().await;
    seed(&app, owner(&other), 5).await;
    for sort in SORTS {
        for order in ORDERS {
            for filter in FILTERS {
                let query = format!("sort={sort}&order={order}&{filter}");
                // One page holding everything: the order the walk must reproduce.
                let whole = page(&app, &user, &format!("{query}&limit=100")).await;
                let expected: Vec<i64> = whole.items.iter().map(|task| task.id).collect();
                assert!(!expected.is_empty(), "{query} matches some tasks");
                assert_eq!(whole.next_cursor, None);
                let walked = walk(&app, &user, &query, 4, || async {}).await;
                assert_eq!(walked, expected, "{query}");
            }
        }
    }
}

#[tokio::test]
async fn a_cursor_walk_survives_tasks_added_and_removed_meanwhile() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    seed(&app, owner(&user), 30).await;
    for sort in SORTS {
        for order in ORDERS {
            let query = format!("sort={sort}&order={order}");
            let before: Vec<i64> =
                page(&app, &user, &format!("{query}&limit=100")).await.items.iter().map(|task| task.id).collect();
            let added = std::cell::RefCell::new(Vec::new());
            let pages = std::cell::Cell::new(0);
            let walked = walk(&app, &user, &query, 3, || async {
                // New tasks go to the end of `created asc`: adding as many as a page takes
                // would never let the walk end.
                pages.set(pages.get() + 1);
                if pages.get() > 5 {
                    return;
                }
                // Ties with the seeded keys, and keys on both ends of every order.
                for body in [
                    json!({"title": "task 3", "priority": "medium", "due_at": "2030-01-02T00:00:00Z"}),
                    json!({"title": "aaa", "priority": "low"}),
                    json!({"title": "zzz", "priority": "high", "due_at": "2020-01-01T00:00:00Z"}),
                ] {
                    let id = app.create_task(&user, body).await.id;
                    added.borrow_mut().push(id);
                }
            })
            .await;
            let unique: HashSet<i64> = walked.iter().copied().collect();
            assert_eq!(unique.len(), walked.len(), "{query}: no task twice");
            let seen_before: Vec<i64> = walked.iter().copied().filter(|id| before.contains(id)).collect();
            assert_eq!(seen_before, before, "{query}: every task present at the start, once, in order");
            // Leave the list as it was for the next order.
            for id in added.take() {
                let response =
                    app.authed(Method::DELETE, &format!("/api/{}/tasks/{id}", user.id), &user).send().await.unwrap();
                assert_eq!(response.status(), 204);
            }
        }
    }
}

#[tokio::test]
async fn the_total_is_exact_up_to_the_cap_and_a_lower_bound_beyond() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let over = i32::try_from(TASK_TOTAL_CAP).unwrap() + 50;
    seed(&app, owner(&user), over).await;

    let first = page(&app, &user, "limit=10").await;
    assert_eq!((first.total, first.total_exact), (TASK_TOTAL_CAP, false));
    assert_eq!(first.next_offset, Some(10));
    assert!(first.next_cursor.is_some());
    // A deep offset page knows it reaches further than the cap.
    let deep = page(&app, &user, &format!("limit=10&offset={}", TASK_TOTAL_CAP + 10)).await;
    assert_eq!((deep.total, deep.total_exact), (TASK_TOTAL_CAP + 21, false));
    // The last offset page knows the exact count.
    let last = page(&app, &user, &format!("limit=100&offset={}", TASK_TOTAL_CAP)).await;
    assert_eq!((last.total, last.total_exact, last.next_offset), (i64::from(over), true, None));
    let past = page(&app, &user, "limit=100&offset=100000").await;
    assert!(past.items.is_empty());
    assert_eq!((past.total, past.total_exact), (TASK_TOTAL_CAP, false));
    // A filter matching fewer than the cap counts exactly.
    let few = page(&app, &user, "q=about%20task%201").await;
    assert!(few.total_exact);
    assert_eq!(few.total, few.items.len() as i64);
    // A cursor page keeps the capped count.
    let next = page(&app, &user, &format!("limit=10&cursor={}", first.next_cursor.unwrap())).await;
    assert_eq!((next.total, next.total_exact), (TASK_TOTAL_CAP, false));
}

#[tokio::test]
async fn tampered_and_hostile_cursors_are_422s_naming_the_cursor() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    seed(&app, owner(&user), 12).await;
    let good = page(&app, &user, "sort=title&order=asc&limit=5").await.next_cursor.unwrap();
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let mut flipped = good.clone().into_bytes();
    flipped[1] = if flipped[1] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cases = [
        ("sort=title&order=asc&cursor=garbage".to_owned(), "cursor"),
        ("sort=title&order=asc&cursor=".to_owned(), "cursor"),
        (format!("sort=title&order=asc&cursor={flipped}"), "cursor"),
        (format!("sort=title&order=asc&cursor={}", &good[..good.len() - 2]), "cursor"),
        (format!("sort=title&order=desc&cursor={good}"), "cursor"),
        (format!("sort=due&order=asc&cursor={good}"), "cursor"),
        (format!("sort=title&order=asc&cursor={}", "ab".repeat(10_000)), "cursor"),
        (format!("sort=title&order=asc&cursor={}", hex("title:asc:-1:task 1")), "cursor"),
        (format!("sort=title&order=asc&cursor={}", hex("title:asc:9223372036854775808:task 1")), "cursor"),
        (format!("sort=title&order=asc&cursor={}", hex("title:asc:1:a\0b")), "cursor"),
        (format!("sort=title&order=asc&cursor={good}%00"), "cursor"),
        (format!("sort=created&cursor={}", hex("created:desc:1:99999999999999999999")), "cursor"),
        (format!("sort=created&cursor={}", hex("created:desc:1:-62135596800000001")), "cursor"),
        (format!("sort=priority&cursor={}", hex("priority:desc:1:urgent")), "cursor"),
        (format!("sort=title&order=asc&offset=5&cursor={good}"), "offset"),
    ];
    for (query, field) in cases {
        let (status, body) = error(&app, &user, &query).await;
        assert_eq!(status, 422, "{query}: {body:?}");
        assert!(body.fields.iter().any(|f| f.field == field), "{query} should name {field}: {body:?}");
    }
    // The good cursor still works, with an explicit offset=0 too.
    let next = page(&app, &user, &format!("sort=title&order=asc&limit=5&offset=0&cursor={good}")).await;
    assert_eq!(next.items.len(), 5);
}

/// Node types of a plan, leaving out InitPlans (the capped count, bounded by its own LIMIT).
fn page_nodes(node: &Value, out: &mut Vec<String>) {
    if node["Parent Relationship"] == "InitPlan" {
        return;
    }
    out.push(node["Node Type"].as_str().unwrap_or_default().to_owned());
    for child in node["Plans"].as_array().into_iter().flatten() {
        page_nodes(child, out);
    }
}

#[tokio::test]
async fn every_sort_and_filter_reads_a_page_through_an_index() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    // Enough rows that reading them all costs far more than an index search, and fewer than
    // ANALYZE's sample (30,000 rows by default): the statistics, and so the plans, are the same
    // on every run.
    seed(&app, owner(&user), 6_000).await;
    seed(&app, owner(&other), 6_000).await;
    sqlx::query("ANALYZE tasks").execute(&app.pool).await.unwrap();
    for sort in SORTS {
        for order in ORDERS {
            // A deep page's cursor, from the API.
            let base = format!("sort={sort}&order={order}");
            let deep = page(&app, &user, &format!("{base}&limit=100&offset=4000")).await.next_cursor.unwrap();
            for filter in FILTERS {
                for cursor in [None, Some(&deep)] {
                    let uri: axum::http::Uri = format!("/?{base}&{filter}").parse().unwrap();
                    let mut query: TaskQuery = axum::extract::Query::try_from_uri(&uri).expect("a valid query").0;
                    query.cursor = cursor.cloned();
                    let parsed = TaskFilter::parse(&query).unwrap();
                    let plan = tasks::explain_list(&app.pool, owner(&user), &parsed).await.unwrap();
                    let mut nodes = Vec::new();
                    page_nodes(&plan[0]["Plan"], &mut nodes);
                    let what = format!("{base}&{filter} (cursor: {}): {nodes:?}", cursor.is_some());
                    assert!(!nodes.iter().any(|n| n == "Seq Scan"), "{what} reads the whole table");
                    // A sort is fine only over the rows an index picked for a filter (the
                    // tag's or the search's), never over all of the user's tasks.
                    if nodes.iter().any(|n| n == "Sort") {
                        assert!(!filter.is_empty() && nodes.iter().any(|n| n == "Bitmap Heap Scan"), "{what} sorts");
                    }
                }
            }
        }
    }
}
