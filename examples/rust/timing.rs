//! Rough timing of a 1M-row, 10-column float64 time series on LMDB (a development aid; the
//! benchmark suite with peers is `python3 build.py bench`).
//! Run: cargo run --release --example timing -- /tmp/sheaf-timing

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, RecordBatchIterator, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use sheaf::{LibraryOptions, ReadOptions, Store, WriteOptions};

fn main() -> sheaf::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/sheaf-timing".into());
    let _ = std::fs::remove_dir_all(&dir);
    let rows = 1_000_000usize;
    let mut fields = vec![Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    )];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(TimestampNanosecondArray::from_iter_values(
        (0..rows as i64).map(|i| i * 1_000_000_000),
    ))];
    let mut seed = 42u64;
    for c in 0..10 {
        fields.push(Field::new(format!("c{c}"), DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter_values((0..rows).map(
            |_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 11) as f64 / (1u64 << 53) as f64
            },
        ))));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let uri = std::env::args().nth(2).unwrap_or(dir.clone());
    let store = Store::open(&uri)?;
    for compression in ["lz4", "zstd", "none"] {
        let lib = store.create_library(
            compression,
            LibraryOptions::from_json(&format!("{{\"compression\":\"{compression}\"}}"))?,
        )?;
        let t = Instant::now();
        let mut reader = RecordBatchIterator::new(vec![Ok(batch.clone())], batch.schema());
        lib.write(
            "s",
            &mut reader,
            None,
            &WriteOptions {
                index: Some("ts".into()),
                ..Default::default()
            },
        )?;
        let write = t.elapsed();
        let t = Instant::now();
        let rows_read: usize = lib
            .read("s", &ReadOptions::default())?
            .reader
            .map(|b| b.unwrap().num_rows())
            .sum();
        let read = t.elapsed();
        println!("{compression}: write {write:?}, read {read:?} ({rows_read} rows)");
        // What checksums add: every write hashes each stored segment once and every read
        // hashes each segment it loads once (XXH3-64), so the cost is one pass over the
        // stored bytes; best of five passes over a buffer of that size.
        let stored = lib.get_description("s", &sheaf::AsOf::Latest)?.stored_bytes as usize;
        let buffer: Vec<u8> = (0..stored).map(|i| (i * 31 % 251) as u8).collect();
        let mut best = std::time::Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(sheaf::checksum::hash(std::hint::black_box(&buffer)));
            best = best.min(t.elapsed());
        }
        println!(
            "  checksum of the {:.1} MB stored: {best:?} ({:.1} GB/s; {:.1}% of the write, {:.1}% of the read)",
            stored as f64 / 1e6,
            stored as f64 / best.as_secs_f64() / 1e9,
            100.0 * best.as_secs_f64() / write.as_secs_f64(),
            100.0 * best.as_secs_f64() / read.as_secs_f64()
        );
        let plans = [
            (
                "filter c0 > 0.9",
                r#"[{"filter": {"op": "gt", "args": [{"col": "c0"}, {"lit": 0.9}]}}]"#,
            ),
            (
                "project c0 * c1 + c2",
                r#"[{"project": {"name": "x", "expr": {"op": "add", "args": [{"op": "mul", "args": [{"col": "c0"}, {"col": "c1"}]}, {"col": "c2"}]}}}]"#,
            ),
            (
                "resample 1h mean(c0), max(c1)",
                r#"[{"resample": {"rule": "1h", "aggs": [{"name": "m", "column": "c0", "op": "mean"}, {"name": "x", "column": "c1", "op": "max"}]}}]"#,
            ),
        ];
        for (name, plan) in plans {
            let t = Instant::now();
            let options = ReadOptions::from_json(&format!("{{\"query\": {plan}}}"))?;
            let rows: usize = lib
                .read("s", &options)?
                .reader
                .map(|b| b.unwrap().num_rows())
                .sum();
            println!("  {name}: {:?} ({rows} rows)", t.elapsed());
        }
    }
    Ok(())
}
