//! The metrics recorder's memory stays bounded when nothing scrapes `/metrics`: hostile methods
//! and paths add no series, and histogram samples are drained by upkeep, not only by a render.
//! Its own test binary, because the recorder is process-wide: the API tests running beside it
//! would add series while this one counts them.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use reqwest::Method;
use sqlx::postgres::PgConnectOptions;
use std::collections::BTreeSet;

/// One test at a time: the memory test reads this process's RSS, which the other would disturb.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The series in a rendering: each sample line without its value.
fn series(rendered: &str) -> BTreeSet<String> {
    rendered
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' ').map(|(key, _)| key.to_owned()))
        .collect()
}

/// One round of hostile traffic; `round` makes every method and path new.
async fn hostile_round(client: &reqwest::Client, address: &str, round: usize) {
    for i in 0..50 {
        let method = Method::from_bytes(format!("X{round}M{i}").as_bytes()).unwrap();
        let unique_path = format!("{address}/no/such/{round}/{i}");
        for (method, url) in [
            (method.clone(), format!("{address}/healthz")),
            (method, unique_path.clone()),
            (Method::GET, unique_path),
            (Method::GET, format!("{address}/healthz")),
        ] {
            client.request(method, url).send().await.unwrap();
        }
    }
}

#[tokio::test]
async fn hostile_methods_and_paths_add_no_series() {
    let _serial = SERIAL.lock().await;
    // No database needed: port 1 refuses at once, and no route here touches it.
    let unreachable = PgConnectOptions::new().host("127.0.0.1").port(1).username("nobody").database("none");
    let mut config = helpers::config_for(unreachable);
    config.migrate_on_start = false;
    let app = helpers::spawn_app_with(config).await;

    // A scrape first, so that the scrapes' own series exist before counting.
    app.get("/metrics").await;
    hostile_round(&app.client, &app.address, 0).await;
    let first = app.get("/metrics").await.text().await.unwrap();
    hostile_round(&app.client, &app.address, 1).await;
    let second = app.get("/metrics").await.text().await.unwrap();

    let (before, after) = (series(&first), series(&second));
    // Without the bounded labels, round 1's 50 new methods would be 100 new series per metric.
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty() && before.len() == after.len(), "new series appeared: {new:#?}");
    assert!(after.iter().any(|key| key.contains(r#"method="other""#)), "{second}");
    assert!(after.iter().any(|key| key.contains(r#"route="unmatched""#)), "{second}");
    assert!(after.iter().any(|key| key.contains(r#"route="/healthz""#)), "{second}");
    assert!(!second.contains("X1M") && !second.contains("/no/such"), "raw methods or paths in labels");
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Records `total` latency samples into `recorder` under one series, in chunks, running upkeep
/// after each chunk if asked; returns how much resident memory grew.
fn grow(recorder: &metrics_exporter_prometheus::PrometheusRecorder, total: usize, upkeep: bool) -> u64 {
    let handle = recorder.handle();
    let before = rss_kib();
    metrics::with_local_recorder(recorder, || {
        let histogram = metrics::histogram!("http_request_duration_seconds", "method" => "GET", "route" => "/healthz");
        for chunk in 0..total / 10_000 {
            for i in 0..10_000 {
                histogram.record(f64::from(u32::try_from(chunk * 10_000 + i).unwrap()) * 1e-7);
            }
            if upkeep {
                handle.run_upkeep();
            }
        }
    });
    rss_kib().saturating_sub(before)
}

#[test]
fn upkeep_drains_histogram_samples_without_a_render() {
    const SAMPLES: usize = 3_000_000;
    let _serial = SERIAL.blocking_lock();
    // With upkeep (what the background thread does every second), three million samples end up
    // in fixed buckets: memory stays where it was, give or take the freed blocks' reuse.
    let drained = backend::metrics::recorder();
    let with_upkeep = grow(&drained, SAMPLES, true);
    // Without it, every sample is kept (16 bytes each, 46 MiB here) until something renders.
    let kept = backend::metrics::recorder();
    let without_upkeep = grow(&kept, SAMPLES, false);
    eprintln!("RSS growth over {SAMPLES} samples: {with_upkeep} KiB with upkeep, {without_upkeep} KiB without");
    assert!(without_upkeep > 16 * 1024, "the measurement should see kept samples: {without_upkeep} KiB");
    assert!(with_upkeep < 4 * 1024, "upkeep left {with_upkeep} KiB of samples");
    // The drained samples are all there, counted once.
    let rendered = drained.handle().render();
    assert!(rendered.contains(&format!("_count{{method=\"GET\",route=\"/healthz\"}} {SAMPLES}")), "{rendered}");
}
