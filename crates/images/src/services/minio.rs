//! MinIO: health endpoints, then an S3 bucket, put and get with rust-s3.

use testcontainers::core::WaitFor;
use testcontainers::ImageExt;

use crate::container::{host_port, image_for, start, Ctx};
use crate::http::http_expect;
use crate::{ImageSpec, SmokeError, MINIO_PASSWORD, MINIO_USER};

pub(crate) async fn minio(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    use s3::creds::Credentials;
    use s3::{Bucket, BucketConfiguration, Region};
    let img = image_for(
        ctx.image.as_str(),
        &[9000, 9001],
        WaitFor::message_on_stderr("API:"),
    );
    // The chart's args (the `minio` is implied by the entrypoint).
    let mut req = img.with_cmd([
        "server",
        "/data",
        "--address",
        ":9000",
        "--console-address",
        ":9001",
        "--certs-dir",
        "/tmp/certs",
    ]);
    req = req.with_env_var("HOME", "/tmp");
    for (k, v) in &spec.env {
        req = req.with_env_var(k.clone(), v.clone());
    }
    let c = start(ctx, req).await?;
    let (host, port) = host_port(ctx, &c, 9000).await?;
    let base = format!("http://{host}:{port}");
    http_expect(
        ctx,
        "GET /minio/health/live",
        &format!("{base}/minio/health/live"),
        None,
        "",
    )
    .await?;
    http_expect(
        ctx,
        "GET /minio/health/ready",
        &format!("{base}/minio/health/ready"),
        None,
        "",
    )
    .await?;
    ctx.ok("/minio/health/live and /minio/health/ready answer 200 (chart probes)");
    let region = Region::Custom {
        region: "us-east-1".into(),
        endpoint: base.clone(),
    };
    let creds = Credentials::new(Some(MINIO_USER), Some(MINIO_PASSWORD), None, None, None)
        .map_err(|e| ctx.fail("credentials", "valid", e))?;
    Bucket::create_with_path_style(
        "vitals-smoke",
        region.clone(),
        creds.clone(),
        BucketConfiguration::default(),
    )
    .await
    .map_err(|e| ctx.fail("S3 CreateBucket", "200", e))?;
    let bucket = Bucket::new("vitals-smoke", region, creds)
        .map_err(|e| ctx.fail("bucket", "a bucket handle", e))?
        .with_path_style();
    let put = bucket
        .put_object("/hello.txt", b"kept by minio")
        .await
        .map_err(|e| ctx.fail("S3 PutObject", "200", e))?;
    if put.status_code() != 200 {
        return Err(ctx.fail("S3 PutObject", "200", put.status_code()));
    }
    let got = bucket
        .get_object("/hello.txt")
        .await
        .map_err(|e| ctx.fail("S3 GetObject", "200", e))?;
    if got.status_code() != 200 || got.bytes().as_ref() != b"kept by minio" {
        return Err(ctx.fail(
            "S3 GetObject",
            "200 `kept by minio`",
            format!(
                "{} {:?}",
                got.status_code(),
                String::from_utf8_lossy(got.bytes())
            ),
        ));
    }
    ctx.ok(format!(
        "S3 (rust-s3, SigV4, path style): CreateBucket, PutObject, GetObject on {base}"
    ));
    Ok(())
}
