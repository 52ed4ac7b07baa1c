//! The `extern "C"` functions called from Rust: NULLs, closed handles, double frees, bad UTF-8,
//! malformed Arrow input, panics, and a full write/read round trip through the C structs.

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchReader, StringArray,
};
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use sheaf::ffi::*;
use sheaf::ErrorKind;

fn s(text: &str) -> (*const c_char, usize) {
    (text.as_ptr().cast(), text.len())
}

/// Calls `f` with an error slot and returns (status, message), freeing the error.
fn call(f: impl FnOnce(*mut *mut SheafError) -> SheafStatus) -> (SheafStatus, String) {
    let mut err: *mut SheafError = null_mut();
    let status = f(&mut err);
    if status == SHEAF_OK {
        assert!(err.is_null(), "no error object on success");
        return (status, String::new());
    }
    assert!(!err.is_null(), "an error object on failure");
    assert_eq!(sheaf_error_code(err), status);
    let message = unsafe { CStr::from_ptr(sheaf_error_message(err)) }
        .to_str()
        .unwrap()
        .to_string();
    sheaf_error_free(err);
    (status, message)
}

fn ok(f: impl FnOnce(*mut *mut SheafError) -> SheafStatus) {
    let (status, message) = call(f);
    assert_eq!(status, SHEAF_OK, "{message}");
}

fn open_store(uri: &str) -> *mut SheafStore {
    let mut store = null_mut();
    let (p, n) = s(uri);
    ok(|e| sheaf_store_open(p, n, &mut store, e));
    store
}

fn create_library(store: *mut SheafStore, name: &str, options: &str) -> *mut SheafLibrary {
    let mut lib = null_mut();
    let (p, n) = s(name);
    let (o, on) = s(options);
    ok(|e| sheaf_library_create(store, p, n, o, on, &mut lib, e));
    lib
}

fn take_bytes(mut b: SheafBytes) -> Vec<u8> {
    let out = if b.data.is_null() {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(b.data, b.len) }.to_vec()
    };
    sheaf_bytes_free(&mut b);
    assert!(b.data.is_null() && b.len == 0);
    sheaf_bytes_free(&mut b); // a second free is harmless
    out
}

struct Tracked {
    inner: Box<dyn RecordBatchReader + Send>,
    released: Arc<AtomicBool>,
}

impl Iterator for Tracked {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl RecordBatchReader for Tracked {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

fn stream_of(
    schema: SchemaRef,
    items: Vec<Result<RecordBatch, ArrowError>>,
) -> (FFI_ArrowArrayStream, Arc<AtomicBool>) {
    let released = Arc::new(AtomicBool::new(false));
    let reader = arrow_array::RecordBatchIterator::new(items, schema);
    let tracked = Tracked {
        inner: Box::new(reader),
        released: released.clone(),
    };
    (FFI_ArrowArrayStream::new(Box::new(tracked)), released)
}

fn sample(n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 3 != 0).then_some(i as f64 / 4.0)),
            )),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 5 != 0).then(|| format!("n{i}"))),
            )),
        ],
    )
    .unwrap()
}

fn write(
    lib: *mut SheafLibrary,
    symbol: &str,
    stream: &mut FFI_ArrowArrayStream,
    options: &str,
) -> (SheafStatus, String, u64) {
    let (p, n) = s(symbol);
    let (o, on) = s(options);
    let mut version = u64::MAX;
    let (status, message) =
        call(|e| sheaf_table_write(lib, p, n, stream, null(), 0, o, on, &mut version, e));
    (status, message, version)
}

#[test]
fn status_constants_match_error_kinds() {
    // The header's status constants are exactly ErrorKind's, with the same codes.
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/sheaf.h")).unwrap();
    let in_header: Vec<(String, i32)> = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define SHEAF_ERR_"))
        .map(|rest| {
            let mut parts = rest.split_whitespace();
            let name = format!("SHEAF_ERR_{}", parts.next().unwrap());
            (name, parts.next().unwrap().parse().unwrap())
        })
        .collect();
    let from_kinds: Vec<(String, i32)> = ErrorKind::ALL
        .iter()
        .map(|k| (k.name().to_string(), k.code()))
        .collect();
    assert_eq!(in_header, from_kinds);
    assert!(header.contains("#define SHEAF_OK 0"));
    for kind in ErrorKind::ALL {
        let name = unsafe { CStr::from_ptr(sheaf_status_name(kind.code())) }
            .to_str()
            .unwrap();
        assert_eq!(name, kind.name());
        assert!(
            header.contains(&format!("#define {} {}", kind.name(), kind.code())),
            "{name} in header"
        );
    }
    assert_eq!(
        unsafe { CStr::from_ptr(sheaf_status_name(0)) }
            .to_str()
            .unwrap(),
        "SHEAF_OK"
    );
    assert_eq!(
        unsafe { CStr::from_ptr(sheaf_status_name(12345)) }
            .to_str()
            .unwrap(),
        "SHEAF_ERR_UNKNOWN"
    );
}

#[test]
fn versions() {
    assert_eq!(sheaf_abi_version(), SHEAF_ABI_VERSION);
    let v = unsafe { CStr::from_ptr(sheaf_version()) }.to_str().unwrap();
    assert_eq!(
        v,
        format!("{SHEAF_VERSION_MAJOR}.{SHEAF_VERSION_MINOR}.{SHEAF_VERSION_PATCH}")
    );
}

#[test]
fn round_trip_through_the_c_structs() {
    let store = open_store("mem://");
    let lib = create_library(store, "l", r#"{"rows_per_segment": 4}"#);
    let batch = sample(10);
    let (mut stream, released) = stream_of(batch.schema(), vec![Ok(batch.clone())]);
    let (status, message, version) = write(lib, "s", &mut stream, r#"{"index": "k"}"#);
    assert_eq!((status, version), (SHEAF_OK, 0), "{message}");
    assert!(
        released.load(Ordering::SeqCst),
        "the moved-in stream was released"
    );
    assert!(
        stream.release.is_none(),
        "the caller's struct is left released"
    );

    let mut out = FFI_ArrowArrayStream::empty();
    let mut info = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let mut meta = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let (p, n) = s("s");
    ok(|e| sheaf_table_read(lib, p, n, null(), 0, &mut out, &mut info, &mut meta, e));
    let info: serde_json::Value = serde_json::from_slice(&take_bytes(info)).unwrap();
    assert_eq!(info["version"], 0);
    assert_eq!(info["rows"], 10);
    assert_eq!(info["index"], "k");
    assert_eq!(info["has_metadata"], false);
    assert!(take_bytes(meta).is_empty());
    let reader = ArrowArrayStreamReader::try_new(out).unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );
    let back = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(back, batch);
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

#[test]
fn null_arguments_are_refused() {
    let (status, message) = call(|e| sheaf_store_open(null(), 3, null_mut(), e));
    assert_eq!(status, SHEAF_ERR_NULL_POINTER, "{message}");
    let (p, n) = s("mem://");
    let (status, _) = call(|e| sheaf_store_open(p, n, null_mut(), e));
    assert_eq!(status, SHEAF_ERR_NULL_POINTER);
    let mut lib = null_mut();
    let (status, message) = call(|e| sheaf_library_create(null(), p, n, null(), 0, &mut lib, e));
    assert_eq!(status, SHEAF_ERR_NULL_POINTER);
    assert!(message.contains("store"), "{message}");
    let store = open_store("mem://");
    let (status, _) = call(|e| sheaf_library_create(store, null(), 4, null(), 0, &mut lib, e));
    assert_eq!(status, SHEAF_ERR_NULL_POINTER);
    let (status, _) = call(|e| sheaf_library_list(store, null_mut(), e));
    assert_eq!(status, SHEAF_ERR_NULL_POINTER);
    let (status, _) = call(|e| {
        sheaf_table_write(
            null(),
            p,
            n,
            null_mut(),
            null(),
            0,
            null(),
            0,
            null_mut(),
            e,
        )
    });
    assert_eq!(status, SHEAF_ERR_NULL_POINTER);
    // NULL err is allowed: the status still comes back.
    assert_eq!(
        sheaf_library_list(store, null_mut(), null_mut()),
        SHEAF_ERR_NULL_POINTER
    );
    assert_eq!(sheaf_error_code(null()), SHEAF_OK);
    assert_eq!(
        unsafe { CStr::from_ptr(sheaf_error_message(null())) }.to_bytes(),
        b""
    );
    sheaf_store_free(null_mut());
    sheaf_library_free(null_mut());
    sheaf_error_free(null_mut());
    sheaf_bytes_free(null_mut());
    sheaf_store_free(store);
}

#[test]
fn bad_utf8_and_bad_names() {
    let store = open_store("mem://");
    let bad = b"\xff\xfe";
    let mut lib = null_mut();
    let (status, message) =
        call(|e| sheaf_library_create(store, bad.as_ptr().cast(), 2, null(), 0, &mut lib, e));
    assert_eq!(status, SHEAF_ERR_INVALID_UTF8, "{message}");
    let (p, n) = s("bad\nname");
    let (status, _) = call(|e| sheaf_library_create(store, p, n, null(), 0, &mut lib, e));
    assert_eq!(status, SHEAF_ERR_INVALID_NAME);
    let (status, _) = call(|e| sheaf_store_open(bad.as_ptr().cast(), 2, &mut null_mut(), e));
    assert_eq!(status, SHEAF_ERR_INVALID_UTF8);
    let (o, on) = s("{not json");
    let (p, n) = s("ok");
    let (status, _) = call(|e| sheaf_library_create(store, p, n, o, on, &mut lib, e));
    assert_eq!(status, SHEAF_ERR_INVALID_JSON);
    sheaf_store_free(store);
}

#[test]
fn closed_handles_and_double_free() {
    let store = open_store("mem://");
    let lib = create_library(store, "l", "");
    ok(|e| sheaf_library_close(lib, e));
    ok(|e| sheaf_library_close(lib, e)); // idempotent
    let mut json = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let (status, _) = call(|e| sheaf_table_list_symbols(lib, &mut json, e));
    assert_eq!(status, SHEAF_ERR_CLOSED);
    // A write on a closed library still releases the moved-in stream.
    let batch = sample(3);
    let (mut stream, released) = stream_of(batch.schema(), vec![Ok(batch)]);
    let (status, _, _) = write(lib, "s", &mut stream, "");
    assert_eq!(status, SHEAF_ERR_CLOSED);
    assert!(released.load(Ordering::SeqCst));

    let lib2 = create_library(store, "m", "");
    ok(|e| sheaf_store_close(store, e));
    ok(|e| sheaf_store_close(store, e));
    let (status, _) = call(|e| sheaf_table_list_symbols(lib2, &mut json, e));
    assert_eq!(
        status, SHEAF_ERR_CLOSED,
        "a library of a closed store is closed"
    );
    let (status, _) = call(|e| sheaf_library_list(store, &mut json, e));
    assert_eq!(status, SHEAF_ERR_CLOSED);

    sheaf_library_free(lib);
    sheaf_library_free(lib); // detected, ignored
    sheaf_store_free(store);
    sheaf_store_free(store);
    let (status, message) = call(|e| sheaf_table_list_symbols(lib, &mut json, e));
    assert_eq!(
        status, SHEAF_ERR_INVALID_ARGUMENT,
        "a freed handle is refused: {message}"
    );
    // An error object freed twice: the second free is detected and ignored.
    let mut err = null_mut();
    sheaf_table_list_symbols(null_mut(), &mut json, &mut err);
    assert!(!err.is_null());
    sheaf_error_free(err);
    sheaf_error_free(err);
    sheaf_library_free(lib2);
}

#[cfg(feature = "failpoints")]
#[test]
fn panics_become_internal_errors() {
    let (status, message) = call(|e| sheaf_debug_panic(e));
    assert_eq!(status, SHEAF_ERR_INTERNAL);
    assert!(message.contains("panic"), "{message}");
}

fn bad_string_batch(offsets: &[i32], values: &[u8]) -> RecordBatch {
    let data = unsafe {
        ArrayData::builder(DataType::Utf8)
            .len(offsets.len() - 1)
            .add_buffer(Buffer::from_slice_ref(offsets))
            .add_buffer(Buffer::from_slice_ref(values))
            .build_unchecked()
    };
    let array: ArrayRef = Arc::new(StringArray::from(data));
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    RecordBatch::try_new(schema, vec![array]).unwrap()
}

#[test]
fn malformed_arrow_is_refused_and_nothing_is_committed() {
    let store = open_store("mem://ffi-malformed");
    let lib = create_library(store, "l", "");
    let cases: Vec<(&str, RecordBatch)> = vec![
        (
            "decreasing offsets",
            bad_string_batch(&[0, 4, 2, 5], b"hello"),
        ),
        ("negative offset", bad_string_batch(&[0, -3, 5], b"hello")),
        ("invalid UTF-8", bad_string_batch(&[0, 2, 4], b"a\xff\xfeb")),
    ];
    for (what, batch) in cases {
        let (mut stream, released) = stream_of(batch.schema(), vec![Ok(batch)]);
        let (status, message, _) = write(lib, "s", &mut stream, "");
        assert_eq!(status, SHEAF_ERR_INVALID_ARROW, "{what}: {message}");
        assert!(released.load(Ordering::SeqCst), "{what}");
    }
    let good = sample(5);
    let failing = vec![
        Ok(good.clone()),
        Err(ArrowError::ComputeError("producer exploded".into())),
    ];
    let (mut stream, _) = stream_of(good.schema(), failing);
    let (status, message, _) = write(lib, "s", &mut stream, "");
    assert_eq!(status, SHEAF_ERR_INVALID_ARROW);
    assert!(
        message.contains("producer exploded"),
        "the producer's error is kept: {message}"
    );
    let mut released_stream = FFI_ArrowArrayStream::empty();
    let (status, _, _) = write(lib, "s", &mut released_stream, "");
    assert_eq!(status, SHEAF_ERR_INVALID_ARROW);
    let mut has = true;
    let (p, n) = s("s");
    ok(|e| sheaf_table_has_symbol(lib, p, n, &mut has, e));
    assert!(!has, "nothing was committed");
    // The same named memory store, seen from the Rust API: no segment was left behind.
    let same = sheaf::Store::open("mem://ffi-malformed").unwrap();
    let same_lib = same
        .open_library("l", false, sheaf::LibraryOptions::default())
        .unwrap();
    assert_eq!(sheaf::table::debug_segment_count(&same_lib).unwrap(), 0);
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

#[test]
fn config_and_log_callback() {
    let (k, kn) = s("log_level");
    ok(|e| sheaf_config_set_int(k, kn, 4, e));
    let (status, _) = call(|e| sheaf_config_set_int(k, kn, 9, e));
    assert_eq!(status, SHEAF_ERR_INVALID_ARGUMENT);
    let (v, vn) = s("debug");
    ok(|e| sheaf_config_set_string(k, kn, v, vn, e));
    let (u, un) = s("no.such.key");
    let (status, message) = call(|e| sheaf_config_set_int(u, un, 1, e));
    assert_eq!(status, SHEAF_ERR_UNKNOWN_CONFIG_KEY);
    assert!(
        message.contains("log_level"),
        "lists the known keys: {message}"
    );
    let (m, mn) = s("lmdb.map_size");
    let (sz, szn) = s("2GB");
    ok(|e| sheaf_config_set_string(m, mn, sz, szn, e));
    ok(|e| sheaf_config_set_int(m, mn, 64 << 30, e));

    static SEEN: std::sync::Mutex<Vec<(i32, String)>> = std::sync::Mutex::new(Vec::new());
    unsafe extern "C" fn sink(
        level: i32,
        message: *const c_char,
        len: usize,
        user: *mut std::ffi::c_void,
    ) {
        assert_eq!(user as usize, 42);
        let text = unsafe { std::slice::from_raw_parts(message.cast::<u8>(), len) };
        SEEN.lock()
            .unwrap()
            .push((level, String::from_utf8_lossy(text).into_owned()));
    }
    ok(|e| sheaf_log_set_callback(Some(sink), 42 as *mut _, e));
    let store = open_store("mem://");
    let lib = create_library(store, "l", "");
    let batch = sample(3);
    let (mut stream, _) = stream_of(batch.schema(), vec![Ok(batch)]);
    write(lib, "logged", &mut stream, "");
    ok(|e| sheaf_log_set_callback(None, null_mut(), e));
    ok(|e| sheaf_config_set_int(k, kn, 2, e));
    let seen = SEEN.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(level, m)| *level == SHEAF_LOG_DEBUG && m.contains("wrote 'logged' v0")),
        "{seen:?}"
    );
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

fn read_json(
    f: impl FnOnce(*mut SheafBytes, *mut *mut SheafError) -> SheafStatus,
) -> serde_json::Value {
    let mut out = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    ok(|e| f(&mut out, e));
    serde_json::from_slice(&take_bytes(out)).unwrap()
}

#[test]
fn batches_snapshots_and_staging_through_the_c_abi() {
    let store = open_store("mem://");
    let lib = create_library(store, "l", r#"{"rows_per_segment": 4}"#);
    let (s1, _) = stream_of(sample(5).schema(), vec![Ok(sample(5))]);
    let (s2, _) = stream_of(sample(3).schema(), vec![Ok(sample(3))]);
    let bad = sample(2);
    let (s3, released3) = stream_of(bad.schema(), vec![Ok(bad)]);
    let mut streams = [s1, s2, s3];
    let meta = [
        SheafSlice {
            data: b"m1".as_ptr(),
            len: 2,
        },
        SheafSlice {
            data: null(),
            len: 0,
        },
        SheafSlice {
            data: null(),
            len: 0,
        },
    ];
    let items = r#"[{"symbol": "a", "options": {"index": "k"}}, {"symbol": "b"}, {"symbol": "c", "options": {"index": "name"}}]"#;
    let (p, n) = s(items);
    let results = read_json(|out, e| {
        sheaf_table_write_batch(lib, p, n, streams.as_mut_ptr(), meta.as_ptr(), 3, out, e)
    });
    assert_eq!(results[0]["version"], 0);
    assert_eq!(results[1]["version"], 0);
    assert_eq!(results[2]["error"]["name"], "SHEAF_ERR_SCHEMA", "{results}");
    assert!(
        released3.load(Ordering::SeqCst),
        "a failed item's stream is released too"
    );

    let reads = r#"[{"symbol": "a", "options": {"row_range": [1, 3]}}, {"symbol": "zz"}]"#;
    let (p, n) = s(reads);
    let mut outs = [FFI_ArrowArrayStream::empty(), FFI_ArrowArrayStream::empty()];
    let mut metas = [
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
    ];
    let results = read_json(|out, e| {
        sheaf_table_read_batch(lib, p, n, outs.as_mut_ptr(), metas.as_mut_ptr(), 2, out, e)
    });
    assert_eq!(results[0]["info"]["symbol"], "a");
    assert_eq!(results[1]["error"]["code"], SHEAF_ERR_NO_SUCH_SYMBOL);
    let [first, second] = outs;
    assert!(
        second.release.is_none(),
        "a failed item's stream is left released"
    );
    let batches: Vec<RecordBatch> = ArrowArrayStreamReader::try_new(first)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let keys: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(keys, vec![1, 2]);
    let [m0, m1] = metas;
    assert_eq!(take_bytes(m0), b"m1");
    assert!(take_bytes(m1).is_empty());

    let (name, nn) = s("snap");
    ok(|e| sheaf_snapshot_create(lib, name, nn, b"sm".as_ptr(), 2, null(), 0, e));
    let listed = read_json(|out, e| sheaf_snapshot_list(lib, out, e));
    assert_eq!(listed[0]["name"], "snap");
    assert_eq!(listed[0]["symbols"], 2);
    let (sym, sn) = s("a");
    ok(|e| sheaf_table_delete(lib, sym, sn, null(), 0, e));
    let (q, qn) = s(r#"{"symbol": "a"}"#);
    let versions = read_json(|out, e| sheaf_table_query_versions(lib, q, qn, out, e));
    assert_eq!(versions[0]["deleted"], true);
    assert_eq!(versions[0]["snapshots"][0], "snap");
    let (o, on) = s(r#"{"as_of": "snap"}"#);
    let described = read_json(|out, e| sheaf_table_describe(lib, sym, sn, o, on, out, e));
    assert_eq!(described["row_count"], 5);
    let mut has = false;
    let mut m = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    ok(|e| sheaf_snapshot_read_metadata(lib, name, nn, &mut m, &mut has, e));
    assert!(has);
    assert_eq!(take_bytes(m), b"sm");
    ok(|e| sheaf_snapshot_delete(lib, name, nn, e));
    let (status, _) = call(|e| sheaf_snapshot_delete(lib, name, nn, e));
    assert_eq!(status, SHEAF_ERR_NO_SUCH_SNAPSHOT);

    let (st, stn) = s("staged");
    for start in [10, 0] {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(start..start + 3))],
        )
        .unwrap();
        let (mut stream, _) = stream_of(schema, vec![Ok(batch)]);
        let (o, on) = s(r#"{"index": "k"}"#);
        ok(|e| sheaf_table_stage(lib, st, stn, &mut stream, o, on, e));
    }
    let staged = read_json(|out, e| sheaf_table_list_staged_symbols(lib, out, e));
    assert_eq!(staged, serde_json::json!(["staged"]));
    let mut version = 99;
    ok(|e| sheaf_table_finalize_staged(lib, st, stn, null(), 0, null(), 0, &mut version, e));
    assert_eq!(version, 0);
    let described = read_json(|out, e| sheaf_table_describe(lib, st, stn, null(), 0, out, e));
    assert_eq!(described["index_range"], serde_json::json!([0, 12]));
    let stats = read_json(|out, e| sheaf_library_stats(lib, out, e));
    assert!(stats["segments_loaded"].as_u64().unwrap() >= 1);
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

#[test]
fn key_spaces_and_collections_through_the_c_abi() {
    let store = open_store("mem://");
    let mut kv = null_mut();
    let (name, nn) = s("cache");
    ok(|e| sheaf_kv_open(store, name, nn, &mut kv, e));
    let keys = b"k1k22k333";
    let key_sizes = [2usize, 3, 4];
    let values = b"abc";
    let value_sizes = [1usize, 1, 1];
    ok(|e| sheaf_kv_put(kv, b"k22".as_ptr(), 3, b"old".as_ptr(), 3, 0, e));
    let mut statuses = [99i32; 3];
    let (status, message) = call(|e| {
        sheaf_kv_put_multi(
            kv,
            3,
            keys.as_ptr(),
            key_sizes.as_ptr(),
            values.as_ptr(),
            value_sizes.as_ptr(),
            SHEAF_MODE_NEW_ONLY,
            statuses.as_mut_ptr(),
            e,
        )
    });
    assert_eq!(status, SHEAF_ERR_KEY_EXISTS, "{message}");
    assert_eq!(statuses, [SHEAF_OK, SHEAF_ERR_KEY_EXISTS, SHEAF_OK]);
    // get_into: too small says the size needed and (with CONSUME) keeps the key.
    let mut buffer = [0u8; 2];
    let mut size = 0usize;
    let (status, _) = call(|e| {
        sheaf_kv_get_into(
            kv,
            b"k22".as_ptr(),
            3,
            SHEAF_MODE_CONSUME,
            0,
            buffer.as_mut_ptr(),
            2,
            &mut size,
            e,
        )
    });
    assert_eq!((status, size), (SHEAF_ERR_BUFFER_TOO_SMALL, 3));
    let mut big = [0u8; 8];
    ok(|e| {
        sheaf_kv_get_into(
            kv,
            b"k22".as_ptr(),
            3,
            SHEAF_MODE_CONSUME,
            0,
            big.as_mut_ptr(),
            8,
            &mut size,
            e,
        )
    });
    assert_eq!(&big[..size], b"old");
    let (status, _) = call(|e| {
        sheaf_kv_get_into(
            kv,
            b"k22".as_ptr(),
            3,
            0,
            0,
            big.as_mut_ptr(),
            8,
            &mut size,
            e,
        )
    });
    assert_eq!(status, SHEAF_ERR_NO_SUCH_KEY, "consumed");
    let mut out_values = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let mut out_sizes = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    ok(|e| {
        sheaf_kv_get_multi(
            kv,
            3,
            keys.as_ptr(),
            key_sizes.as_ptr(),
            0,
            &mut out_values,
            &mut out_sizes,
            e,
        )
    });
    let sizes: Vec<u64> = take_bytes(out_sizes)
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(sizes, vec![1, SHEAF_SIZE_NOT_FOUND, 1]);
    assert_eq!(take_bytes(out_values), b"ac");
    let (mut lk, mut lks, mut lv, mut lvs) = (
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
    );
    ok(|e| {
        sheaf_kv_list(
            kv,
            null(),
            0,
            b"k".as_ptr(),
            1,
            10,
            SHEAF_MODE_NO_PREFIX,
            &mut lk,
            &mut lks,
            &mut lv,
            &mut lvs,
            e,
        )
    });
    assert_eq!(take_bytes(lk), b"1333");
    assert_eq!(take_bytes(lv), b"ac");
    take_bytes(lks);
    take_bytes(lvs);
    let (status, _) =
        call(|e| sheaf_kv_put(kv, b"x".as_ptr(), 1, b"y".as_ptr(), 1, SHEAF_MODE_SUFFIX, e));
    assert_eq!(status, SHEAF_ERR_INVALID_MODE);
    let mut count = 0;
    ok(|e| sheaf_kv_count(kv, &mut count, e));
    assert_eq!(count, 2);

    let mut coll = null_mut();
    let (cn, cnn) = s("docs");
    ok(|e| sheaf_collection_create(store, cn, cnn, &mut coll, e));
    let (status, _) = call(|e| sheaf_collection_create(store, cn, cnn, &mut null_mut(), e));
    assert_eq!(status, SHEAF_ERR_COLLECTION_EXISTS);
    let docs = br#"{"a":1}{"a":2}{"a":1}"#;
    let doc_sizes = [7usize, 7, 7];
    let mut ids = [0u64; 3];
    ok(|e| {
        sheaf_doc_store_multi(
            coll,
            3,
            docs.as_ptr(),
            doc_sizes.as_ptr(),
            ids.as_mut_ptr(),
            e,
        )
    });
    assert_eq!(ids, [0, 1, 2]);
    let (f, fnn) = s(r#"{"a": 1}"#);
    let (mut oi, mut od, mut os) = (
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
        SheafBytes {
            data: null_mut(),
            len: 0,
        },
    );
    ok(|e| sheaf_doc_list(coll, 0, 10, f, fnn, &mut oi, &mut od, &mut os, e));
    let listed: Vec<u64> = take_bytes(oi)
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(listed, vec![0, 2]);
    take_bytes(od);
    take_bytes(os);
    let mut doc = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let (status, _) = call(|e| sheaf_doc_load(coll, 9, &mut doc, e));
    assert_eq!(status, SHEAF_ERR_NO_SUCH_DOCUMENT);
    let (mut size, mut last) = (0, 0);
    ok(|e| sheaf_collection_size(coll, &mut size, &mut last, e));
    assert_eq!((size, last), (3, 3));
    sheaf_collection_free(coll);
    sheaf_kv_free(kv);
    sheaf_store_free(store);
}

#[test]
fn stream_errors_carry_the_status_name() {
    let store = open_store("mem://");
    let lib = create_library(store, "l", r#"{"rows_per_segment": 2}"#);
    let batch = sample(40);
    let (mut stream, _) = stream_of(batch.schema(), vec![Ok(batch)]);
    write(lib, "s", &mut stream, "");
    let mut out = FFI_ArrowArrayStream::empty();
    let (p, n) = s("s");
    ok(|e| sheaf_table_read(lib, p, n, null(), 0, &mut out, null_mut(), null_mut(), e));
    // A stream keeps its own reference to the storage; deleting the version under it is what
    // makes a later batch fail. Reads load a few segments ahead of the consumer (worker
    // threads), so the first batches may still arrive: of 20 segments, some cannot.
    ok(|e| sheaf_table_delete(lib, p, n, null(), 0, e));
    let reader = ArrowArrayStreamReader::try_new(out).unwrap();
    let err = reader
        .filter_map(|b| b.err())
        .next()
        .expect("a batch after the delete fails")
        .to_string();
    assert!(err.contains("[SHEAF_ERR_NO_SUCH_VERSION]"), "{err}");
    sheaf_library_free(lib);
    sheaf_store_free(store);
}

#[test]
fn c_mode_constants_equal_the_engine_modes_and_nothing_unprefixed_leaks() {
    use sheaf::kv::mode;
    let pairs = [
        (SHEAF_MODE_INCLUSIVE, mode::INCLUSIVE),
        (SHEAF_MODE_APPEND, mode::APPEND),
        (SHEAF_MODE_CONSUME, mode::CONSUME),
        (SHEAF_MODE_WAIT, mode::WAIT),
        (SHEAF_MODE_NOTIFY, mode::NOTIFY),
        (SHEAF_MODE_NEW_ONLY, mode::NEW_ONLY),
        (SHEAF_MODE_EXIST_ONLY, mode::EXIST_ONLY),
        (SHEAF_MODE_NO_PREFIX, mode::NO_PREFIX),
        (SHEAF_MODE_IGNORE_KEYS, mode::IGNORE_KEYS),
        (SHEAF_MODE_KEEP_LAST, mode::KEEP_LAST),
        (SHEAF_MODE_SUFFIX, mode::SUFFIX),
        (SHEAF_MODE_UPDATE_NEW, mode::UPDATE_NEW),
    ];
    for (c, engine) in pairs {
        assert_eq!(c, engine);
    }
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/sheaf.h")).unwrap();
    for line in header.lines().filter(|l| l.starts_with("#define ")) {
        let name = line.split_whitespace().nth(1).unwrap();
        assert!(
            name.starts_with("SHEAF_") || name.starts_with("ARROW_"),
            "the header defines an unprefixed macro: {line}"
        );
    }
}

#[test]
fn a_handle_of_another_kind_is_refused_and_huge_counts_are_invalid_arguments() {
    let store = open_store("mem://");
    let lib = create_library(store, "kinds", "");
    // An error object passed as a store, a library passed as a store: refused, not used.
    let mut err: *mut SheafError = null_mut();
    let (n, len) = s("x");
    assert_ne!(
        sheaf_library_exists(store, n, len, null_mut(), &mut err),
        SHEAF_OK
    );
    assert!(!err.is_null());
    let as_store = err as *const SheafStore;
    let mut out = SheafBytes {
        data: null_mut(),
        len: 0,
    };
    let (status, message) = call(|e| sheaf_library_list(as_store, &mut out, e));
    assert_eq!(status, ErrorKind::InvalidArgument.code());
    assert!(message.contains("another kind"), "{message}");
    let (status, message) = call(|e| sheaf_library_list(lib as *const SheafStore, &mut out, e));
    assert_eq!(status, ErrorKind::InvalidArgument.code());
    assert!(message.contains("another kind"), "{message}");
    // Freeing with the wrong function is ignored: the store stays usable.
    sheaf_library_free(store as *mut SheafLibrary);
    let (status, _) = call(|e| sheaf_library_list(store, &mut out, e));
    assert_eq!(status, SHEAF_OK);
    drop(take_bytes(out));
    sheaf_error_free(err);
    // A count no array can hold is an invalid argument, not an internal error.
    let mut space: *mut SheafKeySpace = null_mut();
    let (name, name_len) = s("space");
    ok(|e| sheaf_kv_open(store, name, name_len, &mut space, e));
    let key = b"k";
    let size = 1usize;
    let (status, message) = call(|e| {
        sheaf_kv_put_multi(
            space,
            1 << 62,
            key.as_ptr(),
            &size,
            key.as_ptr(),
            &size,
            0,
            null_mut(),
            e,
        )
    });
    assert_eq!(status, ErrorKind::InvalidArgument.code(), "{message}");
    assert!(
        message.contains("more than any array can hold"),
        "{message}"
    );
    sheaf_kv_free(space);
    sheaf_library_free(lib);
    sheaf_store_free(store);
}
