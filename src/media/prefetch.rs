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
    let skew = items.as_ptr() as usize % LINE;
    let start = items.as_ptr().cast::<u8>().wrapping_sub(skew);
    for offset in line_offsets(skew, std::mem::size_of_val(items)) {
        address(start.wrapping_add(offset));
    }
}

/// The lines `bytes` bytes span when they begin `skew` bytes into a line, as offsets from
/// that line's start: an object that does not begin on a line may end on one more.
#[inline(always)]
fn line_offsets(skew: usize, bytes: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    let end = if bytes == 0 { 0 } else { skew + bytes };
    (0..end).step_by(LINE)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(skew: usize, bytes: usize) -> Vec<usize> {
        line_offsets(skew, bytes).collect()
    }

    #[test]
    fn every_line_an_object_touches_is_asked_for() {
        assert_eq!(offsets(0, 0), Vec::<usize>::new());
        assert_eq!(offsets(17, 0), Vec::<usize>::new());
        assert_eq!(offsets(0, 64), vec![0]);
        assert_eq!(offsets(0, 65), vec![0, 64]);
        // Eight bytes across a line's end: both lines.
        assert_eq!(offsets(60, 8), vec![0, 64]);
        // 80 bytes from 48 into a line end 128 bytes in: two lines, not three.
        assert_eq!(offsets(48, 80), vec![0, 64]);
        assert_eq!(offsets(48, 81), vec![0, 64, 128]);
    }
}
