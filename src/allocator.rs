//! The library's own allocator: mimalloc, unless `SHEAF_SYSTEM_ALLOCATOR` is set.
//!
//! Reads hand out large freshly allocated result buffers and take them back when the caller
//! drops its result; the system allocator returns such blocks to the kernel at once, so the
//! next read faults every page in anew (on these machines a third to a half of a full read's
//! time, `python3 build.py bench`). mimalloc keeps freed pages for reuse.
//!
//! mimalloc hands freed memory back to the kernel 10 ms after it was freed by default, so an
//! append or read that comes more than 10 ms after the previous one faulted (and the kernel
//! zeroed) every page of its buffers again: 866 page faults and 31 ms of system time per 100k-row
//! append, and a third more time per full read, on this machine. Sheaf sets that delay's default
//! to [`PURGE_DELAY_MS`] (a user's `MIMALLOC_PURGE_DELAY` still wins): memory a call frees is
//! reused by the next call within a second, and returned once the process has been quiet for
//! that long (purging happens on the allocator's next use after the delay, as glibc's trimming
//! does).
//!
//! mimalloc also commits its arenas eagerly by default, backed by transparent huge pages that
//! the kernel zeroes 2 MB at a time; in a process writing large tables that made the page cache
//! copies of later writes several times slower (1M-row writes at 400-600 ms from the third one
//! in a process on, 115-145 ms with eager commit off or with the system allocator). Sheaf turns
//! it off ([`ARENA_EAGER_COMMIT`]; `MIMALLOC_ARENA_EAGER_COMMIT` still wins); reads lose about
//! 5% to it.
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

/// How long freed memory stays with mimalloc before it goes back to the kernel (see above).
const PURGE_DELAY_MS: std::os::raw::c_long = 1000;
/// `mi_option_purge_delay`'s place in mimalloc's `mi_option_e` (the same in its v2 and v3
/// headers; libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Whether mimalloc commits whole arenas at once (see above): off.
const ARENA_EAGER_COMMIT: std::os::raw::c_long = 0;
/// `mi_option_arena_eager_commit`'s place in `mi_option_e` (4 in both headers).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

#[inline]
fn system() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        MIMALLOC => false,
        SYSTEM => true,
        _ => {
            // SAFETY: getenv with a NUL-terminated name; it allocates nothing.
            let set = unsafe { !libc::getenv(c"SHEAF_SYSTEM_ALLOCATOR".as_ptr()).is_null() };
            let choice = if set { SYSTEM } else { MIMALLOC };
            if choice == MIMALLOC {
                // SAFETY: stores one option's default; allocates nothing, any thread may call it.
                unsafe {
                    libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
                    libmimalloc_sys::mi_option_set_default(
                        MI_OPTION_ARENA_EAGER_COMMIT,
                        ARENA_EAGER_COMMIT,
                    );
                };
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_kept_for_the_purge_delay() {
        // Decide (the test binary allocates through the library's allocator too).
        drop(vec![0u8; 16]);
        if system() {
            return; // SHEAF_SYSTEM_ALLOCATOR is set: mimalloc is not in use.
        }
        // SAFETY: reads one option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let from_env = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        match from_env.and_then(|v| v.parse::<std::os::raw::c_long>().ok()) {
            Some(asked) => assert_eq!(delay, asked),
            None => assert_eq!(delay, PURGE_DELAY_MS),
        }
        // SAFETY: reads one option.
        let eager = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT) };
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(eager, ARENA_EAGER_COMMIT);
        }
    }
}
