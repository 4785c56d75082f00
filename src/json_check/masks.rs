//! Byte-class bit masks over 64-byte blocks, for the string scan of `json_check`.
//!
//! Invariant: bit `k` of a mask is set exactly when byte `k` of the block is in the class,
//! for every byte value; the SSE2 and the portable (eight bytes per `u64`) versions compute
//! the same masks (tested against each other and a byte-by-byte reference).
//!
//! On x86_64 the SSE2 version is used: SSE2 is part of the x86_64 baseline, so it is always
//! enabled there, and the one `unsafe` block of the crate only calls a function that the
//! compiler requires to be marked for that feature.

/// A block: the string scan looks at 64 bytes at a time, one bit per byte in a `u64`.
pub(super) const BLOCK: usize = 64;

/// The bytes that end, break or escape a JSON string.
pub(super) struct Specials {
    pub(super) quote: u64,
    pub(super) backslash: u64,
    /// Bytes below 0x20, which a JSON string cannot hold raw.
    pub(super) control: u64,
}

/// The bytes that may follow a backslash.
pub(super) struct Escapes {
    /// `" \ / b f n r t u`.
    pub(super) valid: u64,
    /// `u`, which four hex digits must follow.
    pub(super) unicode: u64,
}

const ESCAPE_LETTERS: [u8; 9] = *b"\"\\/bfnrtu";

#[inline(always)]
pub(super) fn specials(block: &[u8; BLOCK]) -> Specials {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[allow(unsafe_code)]
    // SAFETY: the only requirement of a `#[target_feature(enable = "sse2")]` function is that
    // the CPU has SSE2, and this build enables SSE2 for the whole program (cfg above).
    return unsafe { sse2::specials(block) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    return portable::specials(block);
}

#[inline(always)]
pub(super) fn escapes(block: &[u8; BLOCK]) -> Escapes {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[allow(unsafe_code)]
    // SAFETY: as in `specials`.
    return unsafe { sse2::escapes(block) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    return portable::escapes(block);
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use super::{Escapes, Specials, BLOCK, ESCAPE_LETTERS};
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };

    /// The four 16-byte lanes of a block (built from integers: no pointer is read).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn lanes(block: &[u8; BLOCK]) -> [__m128i; 4] {
        let word = |k: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&block[8 * k..8 * k + 8]);
            i64::from_le_bytes(bytes)
        };
        [0, 1, 2, 3].map(|lane| _mm_set_epi64x(word(2 * lane + 1), word(2 * lane)))
    }

    /// Gathers one bit per byte of four lane masks (0xff or 0x00 bytes) into a `u64`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn bits(masks: [__m128i; 4]) -> u64 {
        let mut out = 0;
        for (lane, mask) in masks.into_iter().enumerate() {
            out |= u64::from(_mm_movemask_epi8(mask) as u16) << (16 * lane);
        }
        out
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn eq(lanes: [__m128i; 4], byte: u8) -> [__m128i; 4] {
        let splat = _mm_set1_epi8(byte as i8);
        lanes.map(|v| _mm_cmpeq_epi8(v, splat))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn specials(block: &[u8; BLOCK]) -> Specials {
        let v = lanes(block);
        let max_control = _mm_set1_epi8(0x1f);
        Specials {
            quote: bits(eq(v, b'"')),
            backslash: bits(eq(v, b'\\')),
            // `min(x, 0x1f) == x` exactly when x <= 0x1f (unsigned).
            control: bits(v.map(|v| _mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v))),
        }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn escapes(block: &[u8; BLOCK]) -> Escapes {
        let v = lanes(block);
        let mut valid = eq(v, ESCAPE_LETTERS[0]);
        for &c in &ESCAPE_LETTERS[1..] {
            let is_c = eq(v, c);
            valid = [0, 1, 2, 3].map(|lane| _mm_or_si128(valid[lane], is_c[lane]));
        }
        Escapes {
            valid: bits(valid),
            unicode: bits(eq(v, b'u')),
        }
    }
}

/// Eight bytes per `u64`; used where SSE2 is not available, and in tests everywhere.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
mod portable {
    use super::{Escapes, Specials, BLOCK, ESCAPE_LETTERS};

    /// 0x01 in every byte of a `u64`.
    const ONES: u64 = u64::MAX / 255;
    /// 0x80 in every byte.
    const HIGHS: u64 = ONES << 7;

    /// 0x80 in each byte of `w` that is zero (exact: no carries between bytes).
    fn zero_bytes(w: u64) -> u64 {
        !(((w & !HIGHS) + !HIGHS) | w) & HIGHS
    }

    /// One bit per byte: bit `k` of the result is the high bit of byte `k` of `marks`.
    fn pack(marks: u64) -> u64 {
        ((marks >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    }

    /// Applies `class` (0x80 marks per byte) to each word of the block and gathers the bits.
    fn bits(block: &[u8; BLOCK], class: impl Fn(u64) -> u64) -> u64 {
        let mut out = 0;
        for (k, chunk) in block.chunks_exact(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            out |= pack(class(u64::from_le_bytes(bytes))) << (8 * k);
        }
        out
    }

    fn eq(w: u64, byte: u8) -> u64 {
        zero_bytes(w ^ (ONES * u64::from(byte)))
    }

    pub(super) fn specials(block: &[u8; BLOCK]) -> Specials {
        Specials {
            quote: bits(block, |w| eq(w, b'"')),
            backslash: bits(block, |w| eq(w, b'\\')),
            // Adding 0x60 to the low seven bits sets the high bit from 0x20 up; so does a
            // byte's own high bit.
            control: bits(block, |w| !(((w & !HIGHS) + ONES * 0x60) | w) & HIGHS),
        }
    }

    pub(super) fn escapes(block: &[u8; BLOCK]) -> Escapes {
        Escapes {
            valid: bits(block, |w| {
                ESCAPE_LETTERS.iter().fold(0, |m, &c| m | eq(w, c))
            }),
            unicode: bits(block, |w| eq(w, b'u')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(block: &[u8; BLOCK], class: impl Fn(u8) -> bool) -> u64 {
        (0..BLOCK).fold(0, |m, k| m | (u64::from(class(block[k])) << k))
    }

    fn check(block: &[u8; BLOCK]) {
        let specials_of = [specials(block), portable::specials(block)];
        let escapes_of = [escapes(block), portable::escapes(block)];
        for s in specials_of {
            assert_eq!(s.quote, reference(block, |c| c == b'"'), "{block:?}");
            assert_eq!(s.backslash, reference(block, |c| c == b'\\'), "{block:?}");
            assert_eq!(s.control, reference(block, |c| c < 0x20), "{block:?}");
        }
        for e in escapes_of {
            let valid = reference(block, |c| ESCAPE_LETTERS.contains(&c));
            assert_eq!(e.valid, valid, "{block:?}");
            assert_eq!(e.unicode, reference(block, |c| c == b'u'), "{block:?}");
        }
    }

    /// Every byte value at every position, next to fillers that would carry or borrow.
    #[test]
    fn every_byte_at_every_position() {
        for filler in [
            0x00, 0x1f, 0x20, b'"', b'\\', b'u', 0x7f, 0x80, 0x9f, 0xa0, 0xff,
        ] {
            for pos in 0..BLOCK {
                for c in 0..=255u8 {
                    let mut block = [filler; BLOCK];
                    block[pos] = c;
                    check(&block);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_blocks(bytes in proptest::collection::vec(any::<u8>(), BLOCK)) {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(&bytes);
            check(&block);
        }
    }
}
