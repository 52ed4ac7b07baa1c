//! The local S3 server `python3 build.py test` starts (tests/s3_server.py), for the suites that
//! run over `s3://` too.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

/// `s3://` of a new, empty bucket on the test server; `None` without a server, which only
/// a run outside CI may lack (CI=true makes its absence a failure).
pub fn fresh_bucket_uri() -> Option<String> {
    let Ok(endpoint) = std::env::var("SHEAF_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs SHEAF_TEST_S3_ENDPOINT (python3 build.py test starts the server)"
        );
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let bucket = format!(
        "storage-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    create_bucket(&endpoint, &bucket);
    Some(format!(
        "s3://{bucket}/suite?endpoint={endpoint}&allow_http=true"
    ))
}

/// Creates a bucket with one plain HTTP request (the test server needs no signature).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
        "{reply}"
    );
}

/// `s3://` URI of a fresh prefix in one bucket made for this test process (cheaper than a bucket
/// per scenario); `None` as [`fresh_bucket_uri`].
pub fn fresh_prefix_uri(tag: &str) -> Option<String> {
    use std::sync::OnceLock;
    static BUCKET: OnceLock<Option<String>> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = BUCKET.get_or_init(fresh_bucket_uri).as_ref()?;
    let (location, query) = base.split_once('?')?;
    let bucket = location.trim_start_matches("s3://").split('/').next()?;
    Some(format!(
        "s3://{bucket}/{tag}-{}?{query}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
