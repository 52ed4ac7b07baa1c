//! The library's own allocator: mimalloc, unless `SHEAF_SYSTEM_ALLOCATOR` is set.
//!
//! Reads hand out large freshly allocated result buffers and take them back when the caller
//! drops its result; the system allocator returns such blocks to the kernel at once, so the
//! next read faults every page in anew (on these machines a third to a half of a full read's
//! time, `python3 build.py bench`). mimalloc keeps freed pages for reuse.
//!
//! `SHEAF_SYSTEM_ALLOCATOR=1` (read once, at the library's first allocation) sends every Rust
//! allocation through `malloc` instead, so valgrind and AddressSanitizer see them and report
//! leaks: the C test runner sets it for those runs. Memory is always freed by the allocator
//! that made it, since the choice never changes after the first allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

pub struct SheafAllocator;

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

#[inline]
fn system() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        MIMALLOC => false,
        SYSTEM => true,
        _ => {
            // SAFETY: getenv with a NUL-terminated name; it allocates nothing.
            let set = unsafe { !libc::getenv(c"SHEAF_SYSTEM_ALLOCATOR".as_ptr()).is_null() };
            let choice = if set { SYSTEM } else { MIMALLOC };
            // Every thread that gets here computes the same answer from the same environment.
            let _ =
                CHOICE.compare_exchange(UNDECIDED, choice, Ordering::Relaxed, Ordering::Relaxed);
            CHOICE.load(Ordering::Relaxed) == SYSTEM
        }
    }
}

// SAFETY: forwards every call unchanged to one of two sound allocators, always the same one.
unsafe impl GlobalAlloc for SheafAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if system() {
            System.alloc(layout)
        } else {
            MiMalloc.alloc(layout)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if system() {
            System.alloc_zeroed(layout)
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if system() {
            System.dealloc(ptr, layout)
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if system() {
            System.realloc(ptr, layout, new_size)
        } else {
            MiMalloc.realloc(ptr, layout, new_size)
        }
    }
}
