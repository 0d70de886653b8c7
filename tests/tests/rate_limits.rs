//! The sign-in limits on the release images: two backend replicas behind one address (as a
//! Kubernetes Service puts them) count against the same numbers, kept in PostgreSQL, and the
//! web proxy in front decides which address a client counts under.

use anyhow::Context;
use api_types::ErrorBody;
use image_tests::{
    balancer::{self, two_replicas},
    *,
};
use reqwest::StatusCode;
use serde_json::json;
use testcontainers::{ImageExt, core::Host, runners::AsyncRunner};

const PER_ADDRESS: usize = 4;
const FAILURES_PER_ACCOUNT: usize = 2;
const FAILURE_WINDOW_SECS: u64 = 600;
const PASSWORD: &str = "correct horse battery";

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    let mut request = client.post(format!("{base}/api/auth/sign-in"));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    Ok(request.json(&json!({"email": email, "password": password})).send().await?)
}

async fn sign_up(client: &reqwest::Client, base: &str, forwarded_for: &str, email: &str) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/api/auth/sign-up"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": PASSWORD, "name": "Limits"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::CREATED, "sign-up: {}", response.text().await?);
    Ok(())
}

fn retry_after(response: &reqwest::Response) -> anyhow::Result<u64> {
    Ok(response.headers().get("retry-after").context("a Retry-After header")?.to_str()?.parse()?)
}

#[tokio::test]
async fn two_replicas_behind_one_address_share_the_sign_in_limits() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    // Kept whole: its containers live as long as it does.
    let stack = two_replicas(&images, "limits", |replica| {
        replica
            .with_env_var("AUTH_RATE_LIMIT_PER_MINUTE", PER_ADDRESS.to_string())
            .with_env_var("AUTH_FAILURES_PER_ACCOUNT", FAILURES_PER_ACCOUNT.to_string())
            .with_env_var("AUTH_FAILURE_WINDOW_SECS", FAILURE_WINDOW_SECS.to_string())
            .with_env_var("TRUSTED_PROXY_HOPS", "1")
    })
    .await?;
    let (network, balancer) = (&stack.network, &stack.balancer);
    let web = web(&images, network, &unique("web"), &balancer.url_for_containers())
        .with_host(balancer::HOST_ALIAS, Host::HostGateway)
        .start()
        .await?;
    let site = base_url(&web, 3000).await?;
    let client = reqwest::Client::new();

    // Per address, through the web proxy: every request of this test comes from one host, and
    // the web proxy appends that address to whatever X-Forwarded-For the client forged. The
    // sign-up is the first attempt, three wrong sign-ins the next, the fifth is refused.
    balancer.reset();
    let email = format!("{}@example.com", unique("limits"));
    sign_up(&client, &site, "198.51.100.200", &email).await?;
    for attempt in 1..PER_ADDRESS {
        let forged = format!("198.51.100.{attempt}");
        let response = sign_in(&client, &site, Some(&forged), &format!("nobody{attempt}@example.com"), "wrong").await?;
        assert_eq!(response.status(), 401, "attempt {attempt} forged {forged}");
    }
    let limited = sign_in(&client, &site, Some("198.51.100.99"), "nobody@example.com", "wrong").await?;
    assert_eq!(limited.status(), 429, "the fifth attempt from one address, whatever it forged");
    assert!((1..=60).contains(&retry_after(&limited)?), "{:?}", limited.headers());
    let served = balancer.served();
    assert_eq!(served.len(), PER_ADDRESS + 1, "{served:?}");
    let refusing = served[PER_ADDRESS].upstream;
    let counted_there = served[..PER_ADDRESS].iter().filter(|entry| entry.upstream == refusing).count();
    assert!(
        counted_there < PER_ADDRESS,
        "replica {refusing} had seen only {counted_there} of the {PER_ADDRESS} attempts itself: {served:?}"
    );

    // Per account, from a different address every time, straight at the balancer (which adds
    // nothing, so the last entry is each client's address as a proxy reports it).
    balancer.reset();
    for (n, who) in [&email, "nobody@example.com"].into_iter().enumerate() {
        for attempt in 0..FAILURES_PER_ACCOUNT {
            let address = format!("203.0.113.{}", 10 * n + attempt);
            let response = sign_in(&client, &balancer.url(), Some(&address), who, "wrong password").await?;
            assert_eq!(response.status(), 401, "{who} from {address}");
        }
    }
    let locked = sign_in(&client, &balancer.url(), Some("203.0.113.100"), &email, PASSWORD).await?;
    let unknown = sign_in(&client, &balancer.url(), Some("203.0.113.101"), "nobody@example.com", PASSWORD).await?;
    assert_eq!((locked.status(), unknown.status()), (StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS));
    for response in [&locked, &unknown] {
        let wait = retry_after(response)?;
        assert!((1..=FAILURE_WINDOW_SECS).contains(&wait), "{wait}");
    }
    let (locked, unknown): (ErrorBody, ErrorBody) = (locked.json().await?, unknown.json().await?);
    let without_digits = |body: &ErrorBody| body.message.replace(|c: char| c.is_ascii_digit(), "");
    assert_eq!(
        (locked.error.as_str(), without_digits(&locked)),
        (unknown.error.as_str(), without_digits(&unknown)),
        "a locked account and an unknown email get the same answer"
    );
    let counts = tally(&balancer.served());
    assert!(counts[0] > 0 && counts[1] > 0, "both replicas counted: {counts:?}");

    // Another account, from an address that just failed against the first: unaffected.
    let other = format!("{}@example.com", unique("bystander"));
    sign_up(&client, &balancer.url(), "203.0.113.200", &other).await?;
    let fine = sign_in(&client, &balancer.url(), Some("203.0.113.0"), &other, PASSWORD).await?;
    assert_eq!(fine.status(), 200, "{}", fine.text().await?);
    Ok(())
}

/// Requests per upstream.
fn tally(served: &[balancer::Served]) -> [usize; 2] {
    let mut counts = [0, 0];
    for entry in served {
        counts[entry.upstream] += 1;
    }
    counts
}
