//! `just bench serialize`: time to write the JSON of a 50-task page, the body of the busiest
//! route, with the crate's timestamp serializer and with chrono's own. No thresholds: it prints
//! figures for docs/benchmarks.md.

use api_types::{Priority, Task, TaskPage};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::{hint::black_box, time::Instant};

/// The same page with chrono's `Serialize` for its timestamps: the baseline.
#[derive(Serialize)]
struct ChronoTask<'a> {
    id: i64,
    title: &'a str,
    description: Option<&'a str>,
    completed: bool,
    completed_at: Option<DateTime<Utc>>,
    priority: Priority,
    tags: &'a [String],
    due_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn page() -> TaskPage {
    let created = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap() + chrono::Duration::microseconds(123_456);
    let items = (0..50)
        .map(|i| Task {
            id: i,
            title: format!("task {i}: pay the bills"),
            description: (i % 2 == 0).then(|| "before Friday, with the \"new\" account".to_owned()),
            completed: i % 3 == 0,
            completed_at: (i % 3 == 0).then(|| created + chrono::Duration::minutes(i)),
            priority: Priority::ALL[i as usize % 3],
            tags: vec!["home".to_owned(), "bench".to_owned()],
            due_at: (i % 4 == 0).then(|| created + chrono::Duration::days(i)),
            created_at: created + chrono::Duration::seconds(i),
            updated_at: created + chrono::Duration::seconds(2 * i),
        })
        .collect();
    TaskPage { items, total: 50, total_exact: true, limit: 50, offset: 0, next_offset: None, next_cursor: None }
}

/// Median nanoseconds per call over `rounds` rounds of `iterations` calls.
fn measure(mut run: impl FnMut() -> usize) -> (f64, usize) {
    const ROUNDS: usize = 15;
    const ITERATIONS: usize = 2_000;
    let mut bytes = 0;
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                bytes = black_box(run());
            }
            start.elapsed().as_nanos() as f64 / ITERATIONS as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    (rounds[ROUNDS / 2], bytes)
}

fn main() {
    let page = page();
    let chrono_items: Vec<ChronoTask<'_>> = page
        .items
        .iter()
        .map(|task| ChronoTask {
            id: task.id,
            title: &task.title,
            description: task.description.as_deref(),
            completed: task.completed,
            completed_at: task.completed_at,
            priority: task.priority,
            tags: &task.tags,
            due_at: task.due_at,
            created_at: task.created_at,
            updated_at: task.updated_at,
        })
        .collect();
    let mut buffer = Vec::with_capacity(16 * 1024);
    let (ours, bytes) = measure(|| {
        buffer.clear();
        serde_json::to_writer(&mut buffer, black_box(&page)).unwrap();
        buffer.len()
    });
    let (chrono, _) = measure(|| {
        buffer.clear();
        serde_json::to_writer(&mut buffer, black_box(&chrono_items)).unwrap();
        buffer.len()
    });
    println!("| serializer | µs per 50-task page ({bytes} B of JSON) |");
    println!("|---|---|");
    println!("| chrono's `Serialize` | {:.1} |", chrono / 1000.0);
    println!("| `api_types::timestamp` | {:.1} |", ours / 1000.0);
}
