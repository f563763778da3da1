//! A hint to the CPU to start loading memory a loop will read soon. A media tick walks
//! hundreds of callers whose state has left the cache since the last tick (the kernel's
//! packet buffers pass through it in between); asking for the next callers' lines before they
//! are needed lets those loads overlap instead of stalling one after another.

/// The size of a cache line on the machines we run on.
const LINE: usize = 64;

/// Starts loading the cache line holding `value`'s first byte.
#[inline(always)]
pub fn line<T: ?Sized>(value: &T) {
    address((value as *const T).cast::<u8>());
}

/// Starts loading every cache line `items` spans.
#[inline(always)]
pub fn lines<T>(items: &[T]) {
    let start = items.as_ptr().cast::<u8>();
    let bytes = std::mem::size_of_val(items);
    let mut offset = 0;
    while offset < bytes {
        address(start.wrapping_add(offset));
        offset += LINE;
    }
}

/// The one place that issues the instruction; a no-op where there is none.
#[inline(always)]
fn address(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and PREFETCHT0 never faults and never
    // writes, whatever the address: it only moves a line into the cache.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
