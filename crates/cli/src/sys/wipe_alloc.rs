//! The allocator of the `secrets` binary: the system's, except that every block is overwritten
//! with zeros before it is given back.
//!
//! Why: `Zeroizing` covers the buffers this program owns, but values and keys also pass through
//! buffers it does not: the environment a `Command` copies for its child, a `Vec` that grows
//! while a key is decoded, the C strings made at spawn time. Freed without wiping, their bytes
//! stay in the heap until reused, where a core dump, a swap-out or a debugger finds them (a core
//! of `exec` while its command ran held 16 bytes of the raw X25519 key and five partial copies
//! of the value before this). Wiping every freed block closes that whole class at the cost of a
//! memset per free, small next to decryption.
//!
//! Next to `signals`, in the one module of the CLI that allows `unsafe` (`sys`): an allocator
//! cannot be written without it.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, wiping on free and on moving reallocations.
pub struct Wiping;

/// Overwrites `len` bytes at `ptr` with zeros in a way the compiler cannot drop as a dead store
/// before `free`.
///
/// SAFETY (for callers): `ptr` must be valid for writes of `len` bytes.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and writable.
    unsafe { std::ptr::write_bytes(ptr, 0, len) };
    // The empty assembly takes the pointer and may read memory, so the zeros must be written
    // before it (the same barrier explicit_bzero relies on).
    // SAFETY: the assembly is empty; it only pretends to use `ptr`.
    unsafe { std::arch::asm!("/* {0} */", in(reg) ptr, options(nostack, preserves_flags)) };
}

// SAFETY: every method forwards to `System` with the layout it was given, so the contract of
// GlobalAlloc holds as it does for `System`; blocks are only written (wiped) while still ours.
unsafe impl GlobalAlloc for Wiping {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the block of `layout.size()` bytes at `ptr` is ours until System.dealloc.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    /// A new block, a copy, and the old block wiped and freed: the system's realloc may move the
    /// data and free the old block without wiping it.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract makes `new_size` with the old alignment a valid layout;
        // both blocks are ours and distinct while the bytes are copied.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Overwrites the stack below the caller's frame with zeros: decryption leaves blocks of
/// plaintext in the stack frames of the cipher, which a later call may not reach. Called before
/// waiting on a long-running command, so those frames are clean while it runs.
#[inline(never)]
pub fn wipe_stack() {
    // 64 KiB: far deeper than the cipher's frames, far below the main thread's 8 MiB stack.
    #[allow(clippy::large_stack_arrays, reason = "the point is to overwrite this much of the stack")]
    let mut area = [0u8; 64 * 1024];
    std::hint::black_box(&mut area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_content_while_alive_and_grow_intact() {
        let layout = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: a block from this allocator, used within its size and freed once.
        unsafe {
            let ptr = Wiping.alloc(layout);
            assert!(!ptr.is_null());
            for i in 0..16 {
                *ptr.add(i) = u8::try_from(i).unwrap() + 1;
            }
            let grown = Wiping.realloc(ptr, layout, 64);
            assert!(!grown.is_null());
            for i in 0..16 {
                assert_eq!(*grown.add(i), u8::try_from(i).unwrap() + 1);
            }
            let shrunk = Wiping.realloc(grown, Layout::from_size_align(64, 8).unwrap(), 8);
            for i in 0..8 {
                assert_eq!(*shrunk.add(i), u8::try_from(i).unwrap() + 1);
            }
            Wiping.dealloc(shrunk, Layout::from_size_align(8, 8).unwrap());
        }
    }

    #[test]
    fn wipe_writes_zeros() {
        let mut buffer = [0xAAu8; 32];
        // SAFETY: the buffer is ours and 32 bytes long.
        unsafe { wipe(buffer.as_mut_ptr(), buffer.len()) };
        assert_eq!(buffer, [0u8; 32]);
    }
}
