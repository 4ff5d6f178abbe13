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
//! A block of [`DIRECT_FROM`] bytes or more is mapped from the kernel on its own (on Linux),
//! wiped and unmapped when freed. It grows by `mremap`, which moves its pages instead of
//! copying them: no copy of a file-sized buffer (a 10 MiB secrets file) is left behind to wipe,
//! and none is made. A block that shrinks has its tail wiped before the pages go.
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

/// Blocks of this many bytes or more are mapped on their own (Linux only).
pub const DIRECT_FROM: usize = 1 << 20;

/// Whether a block of `layout` is (or is to be) mapped on its own: large enough, and aligned no
/// more strictly than a page (a mapping starts on a page).
fn direct(size: usize, align: usize) -> bool {
    cfg!(target_os = "linux") && size >= DIRECT_FROM && align <= 4096
}

#[cfg(target_os = "linux")]
mod pages {
    /// `size` rounded up to whole pages (4 KiB; larger pages are multiples of it, and the
    /// kernel rounds a mapping up to its own page size the same way every time).
    fn rounded(size: usize) -> usize {
        size.next_multiple_of(4096)
    }

    /// A new private mapping of `size` bytes (zeros), or null.
    pub fn map(size: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping at an address the kernel picks touches no
        // existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                rounded(size),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            ptr.cast()
        }
    }

    /// Unmaps the block of `size` bytes at `ptr`.
    ///
    /// SAFETY (for callers): `ptr` and `size` are those of a block from [`map`] or [`remap`],
    /// not used afterwards.
    pub unsafe fn unmap(ptr: *mut u8, size: usize) {
        // SAFETY: the caller passes a whole mapping of ours.
        unsafe { libc::munmap(ptr.cast(), rounded(size)) };
    }

    /// The block of `old` bytes at `ptr` resized to `new` bytes, moved if need be (its pages
    /// move, nothing is copied); null when the kernel refuses, the block then left as it was.
    ///
    /// SAFETY (for callers): as for [`unmap`]; on success the old address is not used again.
    pub unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a whole mapping of ours.
        let moved = unsafe { libc::mremap(ptr.cast(), rounded(old), rounded(new), libc::MREMAP_MAYMOVE) };
        if moved == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            moved.cast()
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod pages {
    pub fn map(_: usize) -> *mut u8 {
        unreachable!("blocks are mapped on their own on Linux only")
    }
    pub unsafe fn unmap(_: *mut u8, _: usize) {
        unreachable!("blocks are mapped on their own on Linux only")
    }
    pub unsafe fn remap(_: *mut u8, _: usize, _: usize) -> *mut u8 {
        unreachable!("blocks are mapped on their own on Linux only")
    }
}

// SAFETY: small blocks are forwarded to `System` with the layout they were given, so the
// contract of GlobalAlloc holds as it does for `System`, and they are only written (wiped) while
// still ours. A large block (see `direct`, decided by its size and alignment alone, which
// `dealloc` and `realloc` are given back unchanged) is a page-aligned mapping of at least its
// size, unmapped or remapped whole.
unsafe impl GlobalAlloc for Wiping {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if direct(layout.size(), layout.align()) {
            return pages::map(layout.size());
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if direct(layout.size(), layout.align()) {
            // A new mapping is zeros already.
            return pages::map(layout.size());
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if direct(layout.size(), layout.align()) {
            // SAFETY: a block of this size and alignment was mapped on its own by `alloc`, and
            // is ours until unmapped. Unmapped pages go back to the kernel as they are, and
            // free memory is read by whoever reads physical memory: they are wiped first.
            unsafe {
                wipe(ptr, layout.size());
                pages::unmap(ptr, layout.size());
            }
            return;
        }
        // SAFETY: the block of `layout.size()` bytes at `ptr` is ours until System.dealloc.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    /// A mapped block stays mapped when it stays large, its pages moved; otherwise a new block,
    /// a copy, and the old block wiped (or unmapped) and freed: the system's realloc may move
    /// the data and free the old block without wiping it.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if direct(layout.size(), layout.align()) && direct(new_size, layout.align()) {
            // SAFETY: the block was mapped on its own, and is not used again once moved; the
            // tail a shrink gives back is still ours while it is wiped.
            unsafe {
                if new_size < layout.size() {
                    wipe(ptr.add(new_size), layout.size() - new_size);
                }
                return pages::remap(ptr, layout.size(), new_size);
            }
        }
        // SAFETY: GlobalAlloc's contract makes `new_size` with the old alignment a valid layout;
        // both blocks are ours and distinct while the bytes are copied.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
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

    /// Blocks crossing the size at which they are mapped on their own, both ways, keep their
    /// content, as do mapped blocks that grow (moved) and shrink, and zeroed ones start as
    /// zeros.
    #[test]
    fn large_blocks_keep_their_content_across_every_move() {
        let sizes = [DIRECT_FROM / 2, DIRECT_FROM, 3 * DIRECT_FROM + 5, 8 * DIRECT_FROM, DIRECT_FROM + 1, 100];
        // SAFETY: one block of this allocator, used within its current size, reallocated with
        // the layout it has, freed once.
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], 16).unwrap();
            let mut ptr = Wiping.alloc_zeroed(layout);
            assert!(!ptr.is_null());
            assert!(std::slice::from_raw_parts(ptr, layout.size()).iter().all(|b| *b == 0));
            let pattern = |i: usize| u8::try_from(i % 251).unwrap();
            for i in 0..layout.size() {
                *ptr.add(i) = pattern(i);
            }
            for &size in &sizes[1..] {
                let kept = layout.size().min(size);
                ptr = Wiping.realloc(ptr, layout, size);
                assert!(!ptr.is_null());
                layout = Layout::from_size_align(size, 16).unwrap();
                assert!((0..kept).all(|i| *ptr.add(i) == pattern(i)), "content kept at {size}");
                for i in kept..size {
                    *ptr.add(i) = pattern(i);
                }
            }
            Wiping.dealloc(ptr, layout);
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
