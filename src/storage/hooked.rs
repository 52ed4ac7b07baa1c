//! A storage decorator that calls a hook before every storage operation.
//!
//! This is how the commit protocol is tested by construction rather than by luck: a hook that
//! fails every operation from the k-th on simulates a process killed at that step (nothing more
//! reaches the storage), and a hook that blocks one thread at its k-th operation forces an
//! interleaving with another party at exactly that step. The decorator itself is inert: it only
//! forwards, and the hook decides. Tests build their own hooks; the `failpoints` feature adds a
//! process-wide pause hook that the C ABI can arm (see [`crate::failpoints`]).

use std::sync::Arc;

use super::{
    Entry, KeyRange, ScanOptions, SharedStorage, Storage, TransactionBody, ValueVisitor, WriteOp,
};
use crate::error::Result;

/// Which storage primitive is about to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Get,
    GetMany,
    Put,
    PutIfAbsent,
    CompareAndSwap,
    Delete,
    Scan,
    WriteBatch,
    Transact,
}

impl StepKind {
    /// Every kind, for lookups by name.
    pub fn all() -> [StepKind; 9] {
        [
            StepKind::Get,
            StepKind::GetMany,
            StepKind::Put,
            StepKind::PutIfAbsent,
            StepKind::CompareAndSwap,
            StepKind::Delete,
            StepKind::Scan,
            StepKind::WriteBatch,
            StepKind::Transact,
        ]
    }

    /// A stable lowercase name (`"put_if_absent"`, ...), used to arm pause points by name.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Get => "get",
            StepKind::GetMany => "get_many",
            StepKind::Put => "put",
            StepKind::PutIfAbsent => "put_if_absent",
            StepKind::CompareAndSwap => "compare_and_swap",
            StepKind::Delete => "delete",
            StepKind::Scan => "scan",
            StepKind::WriteBatch => "write_batch",
            StepKind::Transact => "transact",
        }
    }

    /// Whether the step changes what is stored.
    pub fn mutates(self) -> bool {
        !matches!(self, StepKind::Get | StepKind::GetMany | StepKind::Scan)
    }
}

/// Called before each storage operation; an error is returned to the caller instead of running
/// the operation.
pub trait StepHook: Send + Sync {
    fn before(&self, step: StepKind) -> Result<()>;
}

/// Forwards every call to `inner` after asking `hook`.
pub struct HookedStorage {
    inner: SharedStorage,
    hook: Arc<dyn StepHook>,
}

impl HookedStorage {
    pub fn new(inner: SharedStorage, hook: Arc<dyn StepHook>) -> Self {
        HookedStorage { inner, hook }
    }
}

impl Storage for HookedStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.hook.before(StepKind::Get)?;
        self.inner.get(key)
    }

    fn with_value(&self, key: &[u8], f: &mut ValueVisitor<'_>) -> Result<()> {
        self.hook.before(StepKind::Get)?;
        self.inner.with_value(key, f)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.hook.before(StepKind::Put)?;
        self.inner.put(key, value)
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.hook.before(StepKind::PutIfAbsent)?;
        self.inner.put_if_absent(key, value)
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        self.hook.before(StepKind::CompareAndSwap)?;
        self.inner.compare_and_swap(key, expected, new)
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.hook.before(StepKind::Delete)?;
        self.inner.delete(key)
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        self.hook.before(StepKind::Scan)?;
        self.inner.scan(range, options)
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<()> {
        self.hook.before(StepKind::WriteBatch)?;
        self.inner.write_batch(ops)
    }

    fn transact(&self, body: &mut TransactionBody<'_>) -> Result<()> {
        self.hook.before(StepKind::Transact)?;
        self.inner.transact(body)
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        self.hook.before(StepKind::GetMany)?;
        self.inner.get_many(keys)
    }

    fn prefers_point_reads(&self) -> bool {
        self.inner.prefers_point_reads()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
