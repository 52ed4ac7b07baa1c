//! `s3://BUCKET[/PREFIX]`: an S3 bucket (or an S3-compatible server) as the ordered key space,
//! through the `object_store` crate, its async runtime hidden behind the synchronous seam.
//!
//! Layout: a key is the object `PREFIX/<hex of the key bytes>` — hex keeps byte order as
//! string order (S3 lists keys in that order) and keeps separator bytes (`\0`) out of object
//! names. A stored value is the object `b"v" + value`; an empty object is a *tombstone*: a key
//! deleted by compare-and-swap (S3 cannot delete conditionally, so a conditional delete is a
//! conditional write of the tombstone). Readers treat a tombstone as absent.
//!
//! Atomicity (what the engine relies on, see [`super::Storage`]):
//! - `put_if_absent` is a PUT with `If-None-Match: *` (or `If-Match` of a tombstone's ETag),
//!   `compare_and_swap` a PUT with `If-Match` of the ETag read: both atomic on S3 and on any
//!   server that implements conditional writes. This is all the commit rule needs: segments
//!   are immutable objects written first, the version record takes its number by
//!   put-if-absent, no lock server.
//! - `write_batch` applies its operations concurrently, each atomic, the batch not (the
//!   engine's batches are writes of not-yet-referenced segments and deletes of garbage, where
//!   a partial batch leaves only garbage `reclaim` removes).
//! - `transact` is optimistic: the body runs against what it reads (recording each key's
//!   ETag), then each write is applied with the precondition of what was read; a conflict on
//!   the first write runs the body again. Each key changes atomically; a transaction over
//!   several keys is not atomic across them (a conflict after the first write fails the call
//!   with `Conflict`, the earlier keys changed). Single-key modes (APPEND, CONSUME, NEW_ONLY,
//!   EXIST_ONLY, a document update) keep their meaning.
//!
//! Requests run concurrently, at most `max_requests` at once (default 16); `object_store`
//! retries throttling and transient errors with backoff and bounds each request by a timeout.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use parking_lot::Mutex;

use super::{Entry, KeyRange, ScanOptions, Storage, Transaction, TransactionBody, WriteOp};
use crate::error::{Error, ErrorKind, Result};

/// The marker byte in front of every stored value (an empty object is a tombstone).
const VALUE_TAG: u8 = b'v';
/// How many times an optimistic transaction or a compare-and-swap re-reads after a conflict.
const MAX_RETRIES: usize = 64;
/// Keys a listing request asks for.
const LIST_PAGE: usize = 1000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sheaf-io")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("sheaf: cannot start the I/O runtime: {e}"))
    })
}

/// Runs `future` to completion on the library's I/O runtime from a synchronous caller.
fn block<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// What a read found at a key: nothing, a tombstone, or a value; with the object's ETag.
#[derive(Debug, Clone)]
enum Found {
    Missing,
    Tombstone(UpdateVersion),
    Value(Bytes, UpdateVersion),
}

impl Found {
    fn value(&self) -> Option<&[u8]> {
        match self {
            Found::Value(v, _) => Some(&v[1..]),
            _ => None,
        }
    }

    /// The value, owned. The response body's buffer is reused when this is its only owner
    /// (the value moved down over the tag byte in place), so a segment read from object
    /// storage is not copied into a fresh allocation — at 1M rows that copy was a fifth of a
    /// full read's time against the local server.
    fn into_value(self) -> Option<Vec<u8>> {
        match self {
            Found::Value(mut v, _) => {
                bytes::Buf::advance(&mut v, 1);
                Some(Vec::from(v))
            }
            _ => None,
        }
    }

    /// The precondition under which a write replaces exactly what was found.
    fn put_mode(&self) -> PutMode {
        match self {
            Found::Missing => PutMode::Create,
            // S3 and Azure match the ETag, GCS the generation (`version`).
            Found::Tombstone(tag) | Found::Value(_, tag) => PutMode::Update(tag.clone()),
        }
    }
}

/// A bucket of any cloud object_store speaks to, with the paginated listing (`start-after`)
/// scans need.
trait Bucket: ObjectStore + PaginatedListStore {}
impl<T: ObjectStore + PaginatedListStore> Bucket for T {}

/// An `s3://`, `gs://` or `az://` store.
pub struct ObjectStorage {
    store: Arc<dyn Bucket>,
    /// The same bucket without object_store's own retries, for conditional writes: a retried
    /// conditional PUT whose first answer was lost meets its own write and gets 412, which
    /// would read as a lost race and commit twice. `write` retries these itself, checking
    /// first whether the write landed.
    conditional: Arc<dyn Bucket>,
    /// How many times `write` retries a conditional PUT after a transport error.
    conditional_retries: usize,
    /// `PREFIX/` or empty: put in front of every object name.
    prefix: String,
    /// The URI without its query (no option, and never a credential, is shown).
    name: String,
    max_requests: usize,
}

/// The clouds a URI can name, by scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    S3,
    Gcs,
    Azure,
}

impl Cloud {
    fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    /// Options of the URI's query passed to the cloud's own configuration (credentials never:
    /// they come from the environment).
    fn passed_through(self) -> &'static [&'static str] {
        match self {
            Cloud::S3 => &[
                "endpoint",
                "region",
                "skip_signature",
                "virtual_hosted_style_request",
                "checksum_algorithm",
            ],
            Cloud::Gcs => &["base_url", "skip_signature"],
            Cloud::Azure => &["account_name", "endpoint", "use_emulator", "skip_signature"],
        }
    }

    /// The client of `bucket` under `options`, `client` and `retry`.
    fn build(
        self,
        bucket: &str,
        options: &[(&str, &str)],
        client: &ClientOptions,
        retry: RetryConfig,
    ) -> std::result::Result<Arc<dyn Bucket>, String> {
        let text = |e: object_store::Error| e.to_string();
        Ok(match self {
            Cloud::S3 => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_conditional_put(S3ConditionalPut::ETagMatch);
                for (k, v) in options {
                    let key: AmazonS3ConfigKey = k.parse().map_err(text)?;
                    b = b.with_config(key, *v);
                }
                let b = b.with_client_options(client.clone()).with_retry(retry);
                Arc::new(b.build().map_err(text)?)
            }
            Cloud::Gcs => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                for (k, v) in options {
                    let key: GoogleConfigKey = k.parse().map_err(text)?;
                    b = b.with_config(key, *v);
                }
                let b = b.with_client_options(client.clone()).with_retry(retry);
                Arc::new(b.build().map_err(text)?)
            }
            Cloud::Azure => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
                for (k, v) in options {
                    let key: AzureConfigKey = k.parse().map_err(text)?;
                    b = b.with_config(key, *v);
                }
                let b = b.with_client_options(client.clone()).with_retry(retry);
                Arc::new(b.build().map_err(text)?)
            }
        })
    }
}

/// How many times opening tries to list the bucket, and the pause before the first retry
/// (doubled each time): a dead server fails the open in about a second, not after the
/// minute of retries later requests get.
const OPEN_ATTEMPTS: u32 = 3;
const OPEN_PAUSE: Duration = Duration::from_millis(200);

impl ObjectStorage {
    /// Opens `s3://BUCKET[/PREFIX][?options]`, `gs://BUCKET[/PREFIX]` or
    /// `az://CONTAINER[/PREFIX]` (see [`super::open_uri`]). Credentials come from the cloud's
    /// standard environment variables, never from the URI.
    pub fn open(uri: &str) -> Result<Self> {
        let invalid = |m: String| Error::new(ErrorKind::InvalidUri, m);
        let (cloud, rest) = if let Some(rest) = uri.strip_prefix("s3://") {
            (Cloud::S3, rest)
        } else if let Some(rest) = uri.strip_prefix("gs://") {
            (Cloud::Gcs, rest)
        } else if let Some(rest) = uri.strip_prefix("az://") {
            (Cloud::Azure, rest)
        } else {
            return Err(invalid(format!(
                "'{}' is not an s3://, gs:// or az:// URI",
                display_uri(uri)
            )));
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(invalid(format!("'{}': no bucket", display_uri(uri))));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
            && !prefix.is_empty()
        {
            return Err(invalid(format!(
                "'{}': a prefix is '/'-separated names, none empty, '.' or '..'",
                display_uri(uri)
            )));
        }
        let mut passed: Vec<(&str, &str)> = Vec::new();
        let mut client = ClientOptions::new();
        let mut max_requests = 16usize;
        // Throttling and transient errors are retried with backoff: up to 10 times within a
        // minute by default (object_store's own default waits three minutes).
        let mut retry = RetryConfig {
            retry_timeout: Duration::from_secs(60),
            ..Default::default()
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "allow_http" => {
                    client = client.with_allow_http(parse_bool(value).ok_or_else(|| {
                        invalid(format!(
                            "'{}': allow_http is true or false",
                            display_uri(uri)
                        ))
                    })?)
                }
                "timeout" | "connect_timeout" => {
                    let seconds: f64 = value.trim_end_matches('s').parse().map_err(|_| {
                        invalid(format!(
                            "'{}': {key} is seconds, as in 30s",
                            display_uri(uri)
                        ))
                    })?;
                    let d = Duration::from_secs_f64(seconds.max(0.001));
                    client = if key == "timeout" {
                        client.with_timeout(d)
                    } else {
                        client.with_connect_timeout(d)
                    };
                }
                "max_retries" => {
                    retry.max_retries = value.parse().map_err(|_| {
                        invalid(format!("'{}': max_retries is a count", display_uri(uri)))
                    })?
                }
                "retry_timeout" => {
                    let seconds: f64 = value.trim_end_matches('s').parse().map_err(|_| {
                        invalid(format!(
                            "'{}': retry_timeout is seconds, as in 60s",
                            display_uri(uri)
                        ))
                    })?;
                    retry.retry_timeout = Duration::from_secs_f64(seconds.max(0.0));
                }
                "max_requests" => {
                    max_requests = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        invalid(format!(
                            "'{}': max_requests is a count above 0",
                            display_uri(uri)
                        ))
                    })?
                }
                k if cloud.passed_through().contains(&k) => passed.push((k, value)),
                "access_key_id"
                | "secret_access_key"
                | "session_token"
                | "token"
                | "access_key"
                | "account_key"
                | "sas_token"
                | "sas_key"
                | "bearer_token"
                | "client_secret"
                | "service_account_key"
                | "service_account" => {
                    return Err(invalid(format!(
                        "'{}': credentials do not go in the URI; set them in the environment \
                         ({})",
                        display_uri(uri),
                        match cloud {
                            Cloud::S3 =>
                                "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
                            Cloud::Gcs => "GOOGLE_SERVICE_ACCOUNT, GOOGLE_APPLICATION_CREDENTIALS",
                            Cloud::Azure => "AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY",
                        }
                    )))
                }
                other => {
                    return Err(invalid(format!(
                        "'{}': unknown option '{other}' (known: allow_http, timeout, \
                         connect_timeout, max_requests, max_retries, retry_timeout, {})",
                        display_uri(uri),
                        cloud.passed_through().join(", ")
                    )))
                }
            }
        }
        let conditional_retries = retry.max_retries;
        let build = |retry: RetryConfig| {
            cloud
                .build(bucket, &passed, &client, retry)
                .map_err(|e| invalid(format!("'{}': {e}", display_uri(uri))))
        };
        let conditional = build(RetryConfig {
            max_retries: 0,
            ..retry.clone()
        })?;
        let store = build(retry)?;
        let storage = ObjectStorage {
            store,
            conditional,
            conditional_retries,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            name: format!("{}://{location}", cloud.scheme()),
            max_requests,
        };
        // Fail at open, with a clear message, when the bucket cannot be listed: a few quick
        // tries without object_store's own retries.
        let mut pause = OPEN_PAUSE;
        let mut attempt = 1;
        loop {
            let options = PaginatedListOptions {
                max_keys: Some(1),
                ..Default::default()
            };
            let listed = block(
                storage
                    .conditional
                    .list_paginated(Some(&storage.prefix), options),
            );
            match listed {
                Ok(_) => break,
                Err(e) if attempt < OPEN_ATTEMPTS && !refused(&e) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Storage,
                        format!(
                            "cannot open '{}': the bucket '{bucket}' cannot be listed \
                             (missing, unreachable, or the credentials are refused)",
                            storage.name
                        ),
                    )
                    .caused_by(e))
                }
            }
        }
        Ok(storage)
    }

    /// The error of a request that failed, naming the store.
    fn failed(&self, what: &str, e: object_store::Error) -> Error {
        let kind = if refused(&e) {
            ErrorKind::Storage
        } else {
            ErrorKind::Io
        };
        Error::new(kind, format!("{}: {what} failed", self.name)).caused_by(e)
    }

    fn path(&self, key: &[u8]) -> Path {
        Path::from(format!("{}{}", self.prefix, hex(key)))
    }

    fn key_of(&self, name: &str) -> Option<Vec<u8>> {
        unhex(name.strip_prefix(&self.prefix)?)
    }

    async fn read(&self, key: &[u8]) -> Result<Found> {
        match self
            .store
            .get_opts(&self.path(key), GetOptions::default())
            .await
        {
            Ok(result) => {
                let tag = UpdateVersion {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                };
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|e| self.failed("reading an object", e))?;
                Ok(match bytes.first() {
                    None => Found::Tombstone(tag),
                    Some(&VALUE_TAG) => Found::Value(bytes, tag),
                    Some(_) => {
                        return Err(Error::corrupt(format!(
                            "object {} of {} is not a Sheaf value",
                            self.path(key),
                            self.name
                        )))
                    }
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Found::Missing),
            Err(e) => Err(self.failed("reading an object", e)),
        }
    }

    /// Writes `value` (`None`: a tombstone) under `mode`; `false` when the precondition failed.
    ///
    /// A conditional write that fails in transport may still have landed. Before trying again
    /// it reads the key back: holding exactly the bytes written means it landed (version
    /// records and segments are unique to their writer; for key-space values, identical bytes
    /// written by another caller in that window read as this write's success), and a
    /// precondition failure after such a retry is checked the same way.
    async fn write(&self, key: &[u8], value: Option<&[u8]>, mode: PutMode) -> Result<bool> {
        let bytes = Bytes::from(match value {
            Some(v) => {
                let mut bytes = Vec::with_capacity(v.len() + 1);
                bytes.push(VALUE_TAG);
                bytes.extend_from_slice(v);
                bytes
            }
            None => Vec::new(),
        });
        let path = self.path(key);
        let conditional = !matches!(mode, PutMode::Overwrite);
        let options = PutOptions {
            mode,
            ..Default::default()
        };
        if !conditional {
            return match self.store.put_opts(&path, bytes.into(), options).await {
                Ok(_) => Ok(true),
                Err(e) => Err(self.failed("writing an object", e)),
            };
        }
        let mut uncertain = false;
        let mut attempt = 0usize;
        loop {
            match self
                .conditional
                .put_opts(&path, PutPayload::from(bytes.clone()), options.clone())
                .await
            {
                Ok(_) => return Ok(true),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    return Ok(uncertain && self.holds(key, &bytes).await?);
                }
                Err(e) => {
                    if attempt >= self.conditional_retries {
                        return Err(self.failed("writing an object", e));
                    }
                    uncertain = true;
                    if self.holds(key, &bytes).await? {
                        return Ok(true);
                    }
                    let pause = Duration::from_millis(50u64 << attempt.min(6));
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Whether the object at `key` holds exactly `bytes` (tag included; empty: a tombstone).
    async fn holds(&self, key: &[u8], bytes: &[u8]) -> Result<bool> {
        Ok(match self.read(key).await? {
            Found::Missing => false,
            Found::Tombstone(_) => bytes.is_empty(),
            Found::Value(stored, _) => stored.as_ref() == bytes,
        })
    }

    async fn remove(&self, key: &[u8]) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("deleting an object", e)),
        }
    }

    async fn list_page(
        &self,
        prefix: &str,
        offset: Option<String>,
        page_token: Option<String>,
        max_keys: Option<usize>,
    ) -> Result<object_store::list::PaginatedListResult> {
        let options = PaginatedListOptions {
            offset,
            page_token,
            max_keys,
            ..Default::default()
        };
        self.store
            .list_paginated(Some(prefix), options)
            .await
            .map_err(|e| self.failed("listing objects", e))
    }

    /// The keys in `range` with their object sizes and ETags, in key order.
    async fn list_range(
        &self,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<(Vec<u8>, u64, String)>> {
        let (start, end) = (&range.start, &range.end);
        let start_bytes: &[u8] = match start {
            Bound::Included(s) | Bound::Excluded(s) => s,
            Bound::Unbounded => &[],
        };
        let common = match end {
            Bound::Included(e) | Bound::Excluded(e) => {
                let n = start_bytes
                    .iter()
                    .zip(e.iter())
                    .take_while(|(a, b)| a == b)
                    .count();
                &start_bytes[..n]
            }
            Bound::Unbounded => &[][..],
        };
        let list_prefix = format!("{}{}", self.prefix, hex(common));
        // S3 lists after an exclusive `start-after`: for an inclusive start, from one hex digit
        // before it (and the keys before `start` are filtered out below).
        let mut offset = match start {
            Bound::Included(s) if !s.is_empty() => {
                let h = format!("{}{}", self.prefix, hex(s));
                Some(h[..h.len() - 1].to_string())
            }
            Bound::Excluded(s) => Some(format!("{}{}", self.prefix, hex(s))),
            _ => None,
        };
        if offset.as_deref().is_some_and(|o| o < list_prefix.as_str()) {
            offset = None;
        }
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(&list_prefix, offset.clone(), token.take(), Some(LIST_PAGE))
                .await?;
            let mut past_end = false;
            for meta in page.result.objects {
                let Some(key) = self.key_of(meta.location.as_ref()) else {
                    continue;
                };
                if !range.contains(&key) {
                    if match end {
                        Bound::Included(e) => key > *e,
                        Bound::Excluded(e) => key >= *e,
                        Bound::Unbounded => false,
                    } {
                        past_end = true;
                    }
                    continue;
                }
                found.push((key, meta.size, meta.e_tag.unwrap_or_default()));
            }
            let enough = limit.is_some_and(|l| found.len() >= l);
            match page.page_token {
                Some(t) if !past_end && !enough => token = Some(t),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    async fn scan_async(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let forward_limit = (!options.reverse).then_some(options.limit).flatten();
        let mut listed: Vec<(Vec<u8>, u64, String)> = self
            .list_range(range, forward_limit)
            .await?
            .into_iter()
            .filter(|(_, size, _)| *size > 0)
            .collect();
        if options.reverse {
            listed.reverse();
        }
        let limit = options.limit.unwrap_or(usize::MAX);
        if options.keys_only {
            return Ok(listed
                .into_iter()
                .take(limit)
                .map(|(key, _, _)| Entry {
                    key,
                    value: Vec::new(),
                })
                .collect());
        }
        // Values are fetched concurrently; a key deleted since the listing is left out, and
        // entries are taken in order until `limit` present ones are found.
        let mut out = Vec::new();
        let mut keys = listed.into_iter().map(|(k, _, _)| k);
        while out.len() < limit {
            let want = (limit - out.len()).min(self.max_requests * 4);
            let batch: Vec<Vec<u8>> = keys.by_ref().take(want).collect();
            if batch.is_empty() {
                break;
            }
            let values: Vec<(Vec<u8>, Found)> = stream::iter(batch)
                .map(|key| async move {
                    let found = self.read(&key).await?;
                    Ok::<_, Error>((key, found))
                })
                .buffered(self.max_requests)
                .try_collect()
                .await?;
            for (key, found) in values {
                if let Some(v) = found.value() {
                    if out.len() < limit {
                        out.push(Entry {
                            key,
                            value: v.to_vec(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Whether the server refused the request (credentials, permissions, a missing bucket):
/// trying again will not help.
fn refused(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::NotFound { .. }
    )
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// A URI as shown in messages: without its query (options may hold an endpoint with userinfo).
fn display_uri(uri: &str) -> &str {
    uri.split('?').next().unwrap_or(uri)
}

impl Storage for ObjectStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(block(self.read(key))?.into_value())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        block(self.write(key, Some(value), PutMode::Overwrite)).map(drop)
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        block(async {
            for _ in 0..MAX_RETRIES {
                if self.write(key, Some(value), PutMode::Create).await? {
                    return Ok(true);
                }
                // Present: a value (refused) or a tombstone (absent: replace exactly it).
                match self.read(key).await? {
                    Found::Value(..) => return Ok(false),
                    found @ Found::Tombstone(_) => {
                        if self.write(key, Some(value), found.put_mode()).await? {
                            return Ok(true);
                        }
                    }
                    Found::Missing => {}
                }
            }
            Err(Error::new(
                ErrorKind::Conflict,
                "object storage: a key kept changing during put-if-absent",
            ))
        })
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        block(async {
            for _ in 0..MAX_RETRIES {
                let found = self.read(key).await?;
                if found.value() != expected {
                    return Ok(false);
                }
                if new.is_none() && matches!(found, Found::Missing) {
                    return Ok(true);
                }
                if self.write(key, new, found.put_mode()).await? {
                    return Ok(true);
                }
            }
            Err(Error::new(
                ErrorKind::Conflict,
                "object storage: a key kept changing during compare-and-swap",
            ))
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        block(async {
            let present = self.read(key).await?.value().is_some();
            self.remove(key).await?;
            Ok(present)
        })
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        block(self.scan_async(range, options))
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<()> {
        block(async {
            stream::iter(ops.iter())
                .map(|op| async move {
                    match *op {
                        WriteOp::Put(k, v) => {
                            self.write(k, Some(v), PutMode::Overwrite).await.map(drop)
                        }
                        WriteOp::Delete(k) => self.remove(k).await,
                    }
                })
                .buffer_unordered(self.max_requests)
                .try_collect::<Vec<()>>()
                .await
                .map(drop)
        })
    }

    fn transact(&self, body: &mut TransactionBody<'_>) -> Result<()> {
        for _ in 0..MAX_RETRIES {
            let mut txn = ObjectTxn {
                storage: self,
                reads: Mutex::new(HashMap::new()),
                writes: BTreeMap::new(),
            };
            body(&mut txn)?;
            let ObjectTxn { reads, writes, .. } = txn;
            let reads = reads.into_inner();
            let mut applied = 0usize;
            let mut conflict = false;
            for (key, value) in &writes {
                let mode = match reads.get(key) {
                    Some(found) => found.put_mode(),
                    None => PutMode::Overwrite,
                };
                let done = match (value, reads.get(key)) {
                    // Deleting what was never there: nothing to write.
                    (None, Some(Found::Missing)) => true,
                    (None, None) => {
                        block(self.remove(key))?;
                        true
                    }
                    (v, _) => block(self.write(key, v.as_deref(), mode))?,
                };
                if !done {
                    conflict = true;
                    break;
                }
                applied += 1;
            }
            if !conflict {
                return Ok(());
            }
            if applied > 0 {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "object storage changes several keys one by one: {applied} of {} \
                         changed before a concurrent writer changed the next",
                        writes.len()
                    ),
                ));
            }
            std::thread::yield_now();
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "object storage: the keys of a transaction kept changing",
        ))
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        block(async {
            stream::iter(keys.iter())
                .map(|k| async move { Ok::<_, Error>(self.read(k).await?.into_value()) })
                .buffered(self.max_requests)
                .try_collect()
                .await
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn prefers_point_reads(&self) -> bool {
        true
    }
}

/// An optimistic transaction: reads record what they found, writes are buffered.
struct ObjectTxn<'a> {
    storage: &'a ObjectStorage,
    reads: Mutex<HashMap<Vec<u8>, Found>>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl ObjectTxn<'_> {
    fn found(&self, key: &[u8]) -> Result<Found> {
        if let Some(f) = self.reads.lock().get(key) {
            return Ok(f.clone());
        }
        let found = block(self.storage.read(key))?;
        self.reads.lock().insert(key.to_vec(), found.clone());
        Ok(found)
    }
}

impl Transaction for ObjectTxn<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        Ok(self.found(key)?.value().map(<[u8]>::to_vec))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let existed = self.get(key)?.is_some();
        self.writes.insert(key.to_vec(), None);
        Ok(existed)
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        // What storage holds (each key read recorded, so a write to it is conditional on it),
        // overlaid with this transaction's own writes.
        let stored = self.storage.scan(
            range,
            ScanOptions {
                limit: None,
                ..options
            },
        )?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for e in stored {
            // Record the ETag: re-read the key (the listing's ETag is the same object's).
            self.found(&e.key)?;
            merged.insert(e.key, e.value);
        }
        for (k, w) in self.writes.range::<[u8], _>(range.as_refs()) {
            match w {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        let limit = options.limit.unwrap_or(usize::MAX);
        let to_entry = |(key, value): (Vec<u8>, Vec<u8>)| Entry {
            key,
            value: if options.keys_only { Vec::new() } else { value },
        };
        Ok(if options.reverse {
            merged.into_iter().rev().take(limit).map(to_entry).collect()
        } else {
            merged.into_iter().take(limit).map(to_entry).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keeps_byte_order_and_round_trips() {
        let mut keys: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\x00".to_vec(),
            b"\x00\x01".to_vec(),
            b"a".to_vec(),
            b"a\x00".to_vec(),
            b"a\xff".to_vec(),
            b"b".to_vec(),
            vec![0xff; 3],
        ];
        keys.sort();
        let names: Vec<String> = keys.iter().map(|k| hex(k)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for (k, n) in keys.iter().zip(&names) {
            assert_eq!(&unhex(n).unwrap(), k);
        }
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn uris_refuse_credentials_and_unknown_options() {
        for (uri, needle) in [
            ("s3://", "no bucket"),
            ("s3://b?secret_access_key=x", "credentials"),
            ("s3://b?nope=1", "unknown option"),
            ("s3://b/a//c", "prefix"),
            ("s3://b?max_requests=0", "max_requests"),
            ("gs://", "no bucket"),
            ("gs://b?service_account_key=x", "GOOGLE_"),
            ("gs://b?region=x", "unknown option 'region'"),
            ("az://c?account_key=x", "AZURE_STORAGE_ACCOUNT_KEY"),
            ("az://c?sas_token=x", "credentials"),
            ("az://c?base_url=x", "known: allow_http"),
            ("az://c/./p", "prefix"),
            ("ftp://b", "not an s3://, gs:// or az:// URI"),
        ] {
            let err = ObjectStorage::open(uri).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::InvalidUri, "{uri}");
            assert!(err.message().contains(needle), "{uri}: {}", err.message());
            assert!(!err.message().contains("secret_access_key=x"));
            assert!(!err.message().contains("=x"), "{uri}: {}", err.message());
        }
    }

    #[test]
    fn clouds_pass_only_their_own_options_through() {
        // Every option named as passed through is one the cloud's own configuration knows.
        let client = ClientOptions::new();
        for cloud in [Cloud::S3, Cloud::Gcs, Cloud::Azure] {
            for option in cloud.passed_through() {
                let value = match *option {
                    "skip_signature" | "use_emulator" | "virtual_hosted_style_request" => "true",
                    "checksum_algorithm" => "sha256",
                    _ => "http://127.0.0.1:9",
                };
                let built = cloud.build("b", &[(option, value)], &client, RetryConfig::default());
                // Building may still fail for want of credentials or an account, never for an
                // unknown option.
                if let Err(e) = built {
                    assert!(
                        !e.contains("not a valid") && !e.contains("nknown"),
                        "{option}: {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_store_is_named_in_request_errors_and_refusals_are_storage_errors() {
        let bucket = Cloud::S3
            .build(
                "bucket",
                &[("endpoint", "http://127.0.0.1:9")],
                &ClientOptions::new(),
                RetryConfig::default(),
            )
            .unwrap();
        let storage = ObjectStorage {
            store: bucket.clone(),
            conditional: bucket,
            conditional_retries: 0,
            prefix: String::new(),
            name: "s3://bucket/p".into(),
            max_requests: 1,
        };
        let denied = object_store::Error::PermissionDenied {
            path: "x".into(),
            source: "no".into(),
        };
        let err = storage.failed("reading an object", denied);
        assert_eq!(err.kind(), ErrorKind::Storage);
        assert!(err
            .message()
            .starts_with("s3://bucket/p: reading an object failed"));
        let generic = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        assert_eq!(
            storage.failed("listing objects", generic).kind(),
            ErrorKind::Io
        );
    }
}
