//! The sign-in and sign-up limits: which address a request counts under, the per-account limit
//! on failed sign-ins, and both holding across replicas and concurrent requests.

use crate::helpers::{TestApp, TestUser, config_for, fresh_database, spawn_app_with};
use api_types::ErrorBody;
use backend::config::Config;
use serde_json::json;
use std::num::NonZeroU32;

const WRONG: &str = "not the password";

/// A backend on a fresh database with `configure` applied.
async fn spawn(configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let mut config = config_for(fresh_database().await?);
    configure(&mut config);
    let app = spawn_app_with(config).await;
    app.wait_until_ready().await;
    Some(app)
}

fn limit(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// A sign-in as it arrives from a proxy that sent `forwarded_for` (None: no header).
async fn sign_in(app: &TestApp, forwarded_for: Option<&str>, email: &str, password: &str) -> reqwest::Response {
    let mut request = app.client.post(app.url("/api/auth/sign-in"));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.json(&json!({"email": email, "password": password})).send().await.expect("request failed")
}

async fn status(app: &TestApp, forwarded_for: Option<&str>, email: &str, password: &str) -> u16 {
    sign_in(app, forwarded_for, email, password).await.status().as_u16()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_clients_own_forwarded_for_cannot_choose_its_bucket() {
    // TRUSTED_PROXY_HOPS=1, as behind the web proxy: it appends the client's address to
    // whatever the client sent, so only the last entry is the proxy's word.
    let Some(app) = spawn(|config| config.auth_rate_limit_per_minute = limit(3)).await else { return };
    for forged in ["198.51.100.1", "198.51.100.2, 198.51.100.3", "unknown"] {
        let chain = format!("{forged}, 203.0.113.7");
        assert_eq!(status(&app, Some(&chain), "x@example.com", WRONG).await, 401, "{chain}");
    }
    let limited = sign_in(&app, Some("198.51.100.4, 203.0.113.7"), "x@example.com", WRONG).await;
    assert_eq!(limited.status(), 429, "a fourth forged entry did not buy a new bucket");
    assert!((1..=60).contains(&retry_after(&limited)), "{}", retry_after(&limited));
    let body: ErrorBody = limited.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");
    let sign_up = app
        .client
        .post(app.url("/api/auth/sign-up"))
        .header("x-forwarded-for", "198.51.100.5, 203.0.113.7")
        .json(&json!({"email": "new@example.com", "password": "long enough", "name": "New"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_up.status(), 429, "sign-up counts in the same bucket");
    assert_eq!(status(&app, Some("198.51.100.1, 203.0.113.8"), "x@example.com", WRONG).await, 401, "another client");

    // TRUSTED_PROXY_HOPS=0: the header is ignored altogether and the TCP peer counts.
    let Some(direct) = spawn(|config| {
        config.auth_rate_limit_per_minute = limit(2);
        config.trusted_proxy_hops = 0;
    })
    .await
    else {
        return;
    };
    let statuses = [
        status(&direct, Some("203.0.113.1"), "x@example.com", WRONG).await,
        status(&direct, Some("203.0.113.2"), "x@example.com", WRONG).await,
        status(&direct, None, "x@example.com", WRONG).await,
    ];
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test]
async fn the_address_is_trusted_proxy_hops_from_the_right() {
    // Two proxies, as behind the chart's Ingress: ingress-nginx writes the client's address,
    // the web proxy appends the controller's.
    let Some(app) = spawn(|config| {
        config.auth_rate_limit_per_minute = limit(2);
        config.trusted_proxy_hops = 2;
    })
    .await
    else {
        return;
    };
    // The same client through two controller pods, with a forged entry each time: one bucket.
    assert_eq!(status(&app, Some("1.1.1.1, 198.51.100.20, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, Some("2.2.2.2, 198.51.100.20, 10.0.0.2"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, Some("198.51.100.20, 10.0.0.1"), "x@example.com", WRONG).await, 429);
    // Another client through the same controller: a bucket of its own.
    assert_eq!(status(&app, Some("198.51.100.21, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    // Fewer entries than hops (a port-forward straight to the web pod): the left-most entry.
    assert_eq!(status(&app, Some("198.51.100.20"), "x@example.com", WRONG).await, 429);

    // IPv6 clients count per /64, with or without brackets and ports.
    assert_eq!(status(&app, Some("2001:db8:1:2::a, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, Some("[2001:db8:1:2::b]:5000, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, Some("2001:db8:1:2:ffff::1, 10.0.0.1"), "x@example.com", WRONG).await, 429);
    assert_eq!(status(&app, Some("2001:db8:1:3::a, 10.0.0.1"), "x@example.com", WRONG).await, 401, "another /64");

    // An entry that is no address counts as the TCP peer (here 127.0.0.1), whatever it says.
    assert_eq!(status(&app, Some("nonsense-1, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, Some("nonsense-2, 10.0.0.1"), "x@example.com", WRONG).await, 401);
    assert_eq!(status(&app, None, "x@example.com", WRONG).await, 429, "no header: the peer's bucket too");
}

#[tokio::test]
async fn one_accounts_lockout_does_not_lock_out_another_nor_say_which_accounts_exist() {
    let Some(app) = spawn(|config| config.auth_failures_per_account = limit(3)).await else { return };
    let victim = app.sign_up().await;
    let bystander = app.sign_up().await;
    let unknown = "nobody@example.com";

    // Three wrong passwords for each, every one from another address.
    for (n, email) in [&victim.email, unknown].into_iter().enumerate() {
        for attempt in 0..3 {
            let address = format!("203.0.113.{}", 10 * n + attempt);
            assert_eq!(status(&app, Some(&address), email, WRONG).await, 401, "{email} #{attempt}");
        }
    }
    // Now the right password waits too, from yet another address, and an unknown email gets
    // the same answer.
    let locked = sign_in(&app, Some("198.51.100.99"), &victim.email, &victim.password).await;
    let unknown_locked = sign_in(&app, Some("198.51.100.98"), unknown, "anything at all").await;
    assert_eq!((locked.status().as_u16(), unknown_locked.status().as_u16()), (429, 429));
    for response in [&locked, &unknown_locked] {
        assert!((1..=900).contains(&retry_after(response)), "{}", retry_after(response));
    }
    let (locked, unknown_locked): (ErrorBody, ErrorBody) =
        (locked.json().await.unwrap(), unknown_locked.json().await.unwrap());
    assert_eq!(locked.error, "rate_limited");
    let without_seconds = |body: &ErrorBody| body.message.replace(|c: char| c.is_ascii_digit(), "");
    assert_eq!(without_seconds(&locked), without_seconds(&unknown_locked), "{locked:?} / {unknown_locked:?}");
    assert_eq!(locked.fields, unknown_locked.fields);

    // Another account, from the very addresses that locked the first: unaffected.
    assert_eq!(status(&app, Some("203.0.113.0"), &bystander.email, &bystander.password).await, 200);

    // When the window ends (moved into the past here), the right password works again.
    sqlx::query("UPDATE auth_attempts SET window_ends_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(status(&app, Some("198.51.100.99"), &victim.email, &victim.password).await, 200);
}

#[tokio::test]
async fn a_successful_sign_in_takes_back_only_its_own_attempt() {
    let Some(app) = spawn(|config| config.auth_failures_per_account = limit(3)).await else { return };
    let user: TestUser = app.sign_up().await;
    assert_eq!(status(&app, None, &user.email, WRONG).await, 401);
    assert_eq!(status(&app, None, &user.email, WRONG).await, 401);
    assert_eq!(status(&app, None, &user.email, &user.password).await, 200);
    // The two failures still count: one more is allowed, then even the right password waits.
    assert_eq!(status(&app, None, &user.email, WRONG).await, 401);
    assert_eq!(status(&app, None, &user.email, &user.password).await, 429);
    // Emails count as the account normalises them.
    assert_eq!(status(&app, None, &format!("  {}  ", user.email.to_uppercase()), &user.password).await, 429);
}

#[tokio::test]
async fn concurrent_attempts_on_two_replicas_stay_within_the_limits() {
    let Some(database) = fresh_database().await else { return };
    let mut config = config_for(database);
    config.auth_rate_limit_per_minute = limit(5);
    config.auth_failures_per_account = limit(4);
    let first = spawn_app_with(config.clone()).await;
    first.wait_until_ready().await;
    let second = spawn_app_with(config).await;
    second.wait_until_ready().await;
    let user = first.sign_up().await;
    let (first, second) = (std::sync::Arc::new(first), std::sync::Arc::new(second));

    // 30 at once from one address, half on each replica: exactly 5 get past the address limit.
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..30 {
        let app = if n % 2 == 0 { first.clone() } else { second.clone() };
        // Unknown emails of their own, so that only the address limit is in play.
        let email = format!("x{n}@example.com");
        attempts.spawn(async move { status(&app, Some("203.0.113.50"), &email, WRONG).await });
    }
    let statuses = attempts.join_all().await;
    let limited = statuses.iter().filter(|&&status| status == 429).count();
    assert_eq!((statuses.len() - limited, limited), (5, 25), "{statuses:?}");

    // 30 wrong passwords for one account at once, each from its own address: exactly 4 are
    // checked (401), however the replicas interleave.
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..30 {
        let app = if n % 2 == 0 { first.clone() } else { second.clone() };
        let email = user.email.clone();
        attempts.spawn(async move { status(&app, Some(&format!("198.51.100.{n}")), &email, WRONG).await });
    }
    let mut statuses = attempts.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![401; 4], vec![429; 26]].concat());
}

async fn rows(pool: &sqlx::PgPool) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM auth_attempts").fetch_one(pool).await.unwrap();
    count
}

#[tokio::test]
async fn ended_windows_are_deleted() {
    let Some(app) = spawn(|_| {}).await else { return };
    for address in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(status(&app, Some(address), "x@example.com", WRONG).await, 401);
    }
    // Three addresses and one account.
    assert_eq!(rows(&app.pool).await, 4);
    sqlx::query(
        "UPDATE auth_attempts SET window_ends_at = now() - interval '1 second' \
         WHERE key IN (SELECT key FROM auth_attempts ORDER BY key LIMIT 3)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(backend::store::auth_attempts::purge_ended(&app.pool).await.unwrap(), 3);
    assert_eq!(rows(&app.pool).await, 1, "the current window stays");
}

#[tokio::test]
async fn wrong_current_passwords_count_against_the_account_like_failed_sign_ins() {
    let Some(app) = spawn(|config| config.auth_failures_per_account = limit(3)).await else { return };
    let user: TestUser = app.sign_up().await;
    let change = |current: &str| {
        app.authed(reqwest::Method::POST, "/api/auth/password", &user)
            .json(&json!({"current_password": current, "new_password": "a brand new password"}))
            .send()
    };
    // A stolen token guessing the password runs into the same per-account limit as sign-in.
    assert_eq!(change(WRONG).await.unwrap().status(), 422);
    assert_eq!(status(&app, None, &user.email, WRONG).await, 401);
    assert_eq!(change(WRONG).await.unwrap().status(), 422);
    let locked = change(&user.password).await.unwrap();
    assert_eq!(locked.status(), 429, "even the right password waits out the lockout");
    let body: ErrorBody = locked.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");
    assert_eq!(status(&app, None, &user.email, &user.password).await, 429);
}
