//! Tier `images`: every locally built image starts and answers a real client.
//! Fails (never skips) when Docker is unreachable or an image is not built,
//! unless E2E_TIERS is set and lacks `images` (a narrowed run, on purpose).

use vitals_images::{catalog, smoke, tier_enabled};

async fn run(name: &str) {
    if !tier_enabled() {
        eprintln!(
            "images/{name}: not run: E2E_TIERS={} lacks `images`",
            std::env::var("E2E_TIERS").unwrap_or_default()
        );
        return;
    }
    let spec = catalog()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not in vitals_images::catalog()"));
    match smoke(&spec).await {
        Ok(report) => println!("{report}"),
        Err(e) => panic!("images/{name}: FAILED\n{e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres() {
    run("postgres").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_exporter() {
    run("postgres-exporter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis() {
    run("redis").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_exporter() {
    run("redis-exporter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbitmq() {
    run("rabbitmq").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn minio() {
    run("minio").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agent() {
    run("agent").await;
}
