//! Arrow C stream import and export, with panics contained.
//!
//! arrow-rs's stream callbacks do not catch panics, and its importer asserts on some malformed
//! input; both directions therefore go through an adapter that turns a panic into an error.

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use crate::error::{Error, ErrorKind, Result};

/// A reader whose `next` cannot unwind.
pub(crate) struct PanicSafeReader<R> {
    inner: R,
    schema: SchemaRef,
    failed: bool,
}

impl<R: RecordBatchReader> PanicSafeReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        let schema = inner.schema();
        PanicSafeReader {
            inner,
            schema,
            failed: false,
        }
    }
}

/// A Sheaf error inside an Arrow stream error, shown with its status name first so that a C
/// consumer (which only sees `get_last_error` text) can recover the status, e.g.
/// `[SHEAF_ERR_CLOSED] the store is closed`.
#[derive(Debug)]
struct StatusTagged(Error);

impl std::fmt::Display for StatusTagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.0.kind().name(), self.0)
    }
}

impl std::error::Error for StatusTagged {}

impl<R: RecordBatchReader> Iterator for PanicSafeReader<R> {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match super::contain(|| self.inner.next()) {
            Ok(Some(Err(ArrowError::ExternalError(e)))) => Some(Err(match e.downcast::<Error>() {
                Ok(sheaf) => ArrowError::ExternalError(Box::new(StatusTagged(*sheaf))),
                Err(other) => ArrowError::ExternalError(other),
            })),
            Ok(item) => item,
            Err(_) => {
                self.failed = true;
                Some(Err(ArrowError::CDataInterface(
                    "malformed Arrow data (the importer rejected its structure)".to_string(),
                )))
            }
        }
    }
}

impl<R: RecordBatchReader> RecordBatchReader for PanicSafeReader<R> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Moves the caller's stream in (marking theirs released) and wraps it for the engine.
pub(crate) fn import_stream(
    stream: *mut FFI_ArrowArrayStream,
) -> Result<PanicSafeReader<ArrowArrayStreamReader>> {
    if stream.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            "the ArrowArrayStream pointer is NULL",
        ));
    }
    // SAFETY: non-NULL; by the C contract it points at an ArrowArrayStream, which we move out of
    // (leaving it released) so that it is released exactly once.
    let mut owned = unsafe { FFI_ArrowArrayStream::from_raw(stream) };
    probe_schema(&mut owned)?;
    let reader = super::contain(|| ArrowArrayStreamReader::try_new(owned))
        .map_err(|_| Error::new(ErrorKind::InvalidArrow, "malformed ArrowArrayStream schema"))?
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidArrow,
                "the ArrowArrayStream cannot be read",
            )
            .caused_by(e)
        })?;
    Ok(PanicSafeReader::new(reader))
}

/// Asks the producer for its schema once before arrow-rs does: arrow-rs reports a failing
/// `get_schema` by its errno alone, while the producer's `get_last_error` text is what tells the
/// caller what was wrong with their stream.
fn probe_schema(stream: &mut FFI_ArrowArrayStream) -> Result<()> {
    let unreadable = |why: String| {
        Error::new(
            ErrorKind::InvalidArrow,
            format!("the ArrowArrayStream cannot be read: {why}"),
        )
    };
    let Some(get_schema) = stream.get_schema else {
        return Err(unreadable("it has no get_schema callback".into()));
    };
    let mut schema = arrow_schema::ffi::FFI_ArrowSchema::empty();
    // SAFETY: the stream is live (moved in above) and `schema` is a valid, empty out-parameter;
    // a schema the producer fills is released when `schema` drops.
    let code = super::contain(|| unsafe { get_schema(stream, &mut schema) })
        .map_err(|_| unreadable("its get_schema callback failed".into()))?;
    if code == 0 {
        return Ok(());
    }
    let message = stream.get_last_error.and_then(|get_last_error| {
        // SAFETY: get_last_error may be called after a failed callback; the text it returns is
        // borrowed from the stream until its next call, so it is copied at once.
        let text = unsafe { get_last_error(stream) };
        (!text.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        })
    });
    Err(unreadable(message.unwrap_or_else(|| {
        format!("its get_schema callback returned error code {code}")
    })))
}

/// Fills a caller-allocated stream with `reader`.
pub(crate) fn export_stream(
    reader: impl RecordBatchReader + Send + 'static,
    out: *mut FFI_ArrowArrayStream,
) -> Result<()> {
    let stream = FFI_ArrowArrayStream::new(Box::new(PanicSafeReader::new(reader)));
    super::write_out(out, "out_stream", stream)
}
