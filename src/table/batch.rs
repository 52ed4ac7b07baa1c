//! Batch operations: one call, many symbols, one result per item. Not atomic across symbols
//! (each item is its own commit, as in ArcticDB); a failed item yields its error in place and
//! does not stop the others. Writing batches refuse a symbol named twice, since the items would
//! race each other; reading batches allow it (e.g. two versions of one symbol).

use std::collections::HashSet;

use arrow_array::RecordBatchReader;

use super::{AsOf, Description, ReadOptions, ReadResult, UpdateOptions, VersionInfo, WriteOptions};
use crate::error::{Error, Result};
use crate::store::Library;

/// What a writing batch does with each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchWriteMode {
    Write,
    Append,
}

/// One item of `write_batch` / `append_batch`.
pub struct WriteItem<'a> {
    pub symbol: String,
    pub data: &'a mut dyn RecordBatchReader,
    pub metadata: Option<Vec<u8>>,
    pub options: WriteOptions,
}

/// One item of `update_batch`.
pub struct UpdateItem<'a> {
    pub symbol: String,
    pub data: &'a mut dyn RecordBatchReader,
    pub metadata: Option<Vec<u8>>,
    pub options: UpdateOptions,
}

fn refuse_duplicates<'a>(symbols: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::new();
    for s in symbols {
        if !seen.insert(s) {
            return Err(Error::invalid(format!(
                "symbol '{s}' appears more than once in the batch"
            )));
        }
    }
    Ok(())
}

/// One item of `write_metadata_batch`: the symbol, its new metadata (`None` = none), and
/// `prune_previous_versions` (`None` = the library's default).
pub struct MetadataItem {
    pub symbol: String,
    pub metadata: Option<Vec<u8>>,
    pub prune_previous_versions: Option<bool>,
}

/// `f` over each item in order, each finished item reported as progress of the batch call
/// (a write inside it reports its rows too).
fn each_reported<I, T>(
    items: impl ExactSizeIterator<Item = I>,
    mut f: impl FnMut(I) -> T,
) -> Vec<T> {
    let total = items.len() as u64;
    items
        .enumerate()
        .map(|(done, item)| {
            let out = f(item);
            crate::progress::report("batch", "items", done as u64 + 1, total);
            out
        })
        .collect()
}

/// A version's description and its metadata, as `read_metadata` returns them.
pub type VersionMetadata = (VersionInfo, Option<Vec<u8>>);

impl Library {
    /// Writes or appends each item; the outer error is for the batch as a whole (duplicates).
    pub fn write_batch(
        &self,
        items: Vec<WriteItem<'_>>,
        mode: BatchWriteMode,
    ) -> Result<Vec<Result<u64>>> {
        // A closed handle fails the call, not each item.
        self.ensure_open()?;
        refuse_duplicates(items.iter().map(|i| i.symbol.as_str()))?;
        Ok(each_reported(items.into_iter(), |item| match mode {
            BatchWriteMode::Write => {
                self.write(&item.symbol, item.data, item.metadata, &item.options)
            }
            BatchWriteMode::Append => {
                self.append(&item.symbol, item.data, item.metadata, &item.options)
            }
        }))
    }

    /// Updates each item.
    pub fn update_batch(&self, items: Vec<UpdateItem<'_>>) -> Result<Vec<Result<u64>>> {
        self.ensure_open()?;
        refuse_duplicates(items.iter().map(|i| i.symbol.as_str()))?;
        Ok(each_reported(items.into_iter(), |item| {
            self.update(&item.symbol, item.data, item.metadata, &item.options)
        }))
    }

    /// Reads each item; a closed handle fails the call as a whole.
    pub fn read_batch(&self, items: &[(String, ReadOptions)]) -> Result<Vec<Result<ReadResult>>> {
        self.ensure_open()?;
        Ok(items
            .iter()
            .map(|(symbol, options)| self.read(symbol, options))
            .collect())
    }

    /// Reads the metadata of each item.
    pub fn read_metadata_batch(
        &self,
        items: &[(String, AsOf)],
    ) -> Result<Vec<Result<VersionMetadata>>> {
        self.ensure_open()?;
        Ok(items
            .iter()
            .map(|(symbol, as_of)| self.read_metadata(symbol, as_of))
            .collect())
    }

    /// Describes each item (a symbol may appear more than once, e.g. at two versions).
    pub fn get_description_batch(
        &self,
        items: &[(String, AsOf)],
    ) -> Result<Vec<Result<Description>>> {
        self.ensure_open()?;
        Ok(items
            .iter()
            .map(|(symbol, as_of)| self.get_description(symbol, as_of))
            .collect())
    }

    /// Writes new metadata for each item, each a version of its own (see `write_metadata`).
    pub fn write_metadata_batch(&self, items: Vec<MetadataItem>) -> Result<Vec<Result<u64>>> {
        self.ensure_open()?;
        refuse_duplicates(items.iter().map(|i| i.symbol.as_str()))?;
        Ok(items
            .into_iter()
            .map(|item| {
                self.write_metadata(&item.symbol, item.metadata, item.prune_previous_versions)
            })
            .collect())
    }

    /// Deletes each item (all versions, or the listed ones).
    pub fn delete_batch(&self, items: &[(String, Option<Vec<u64>>)]) -> Result<Vec<Result<()>>> {
        self.ensure_open()?;
        refuse_duplicates(items.iter().map(|(s, _)| s.as_str()))?;
        Ok(each_reported(items.iter(), |(symbol, versions)| {
            self.delete(symbol, versions.as_deref())
        }))
    }
}
