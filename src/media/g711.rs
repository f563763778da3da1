//! G.711 μ-law and A-law (ITU-T G.711), the codecs every SIP trunk speaks.
//!
//! Everything is table driven and the tables are built at compile time: decoding is one lookup
//! in a 256-entry table, encoding one lookup in a 16384-entry table indexed by the top 14 bits
//! of the sample. That is exact, not an approximation: μ-law quantises 14-bit and A-law 13-bit
//! linear samples, and negative samples are folded by one's complement as in the ITU-T G.191
//! reference, so the two dropped low bits never change the code.

use super::codec::Law;

/// Number of entries in an encode table: one per 14-bit linear value.
const ENCODE_TABLE_LEN: usize = 1 << 14;

/// μ-law adds this bias (in 14-bit units) so every segment starts at a power of two.
const ULAW_BIAS: u16 = 33;

/// Largest biased 14-bit μ-law magnitude; louder samples clip to it.
const ULAW_MAX_BIASED: u16 = 0x1FFF;

/// A-law and μ-law invert bits on the wire so idle channels carry enough transitions.
const ALAW_XOR: u8 = 0x55;

/// Expands one μ-law byte to a 16-bit linear sample.
const fn ulaw_expand(code: u8) -> i16 {
    let inverted = !code;
    let exponent = (inverted >> 4) & 0x07;
    let mantissa = (inverted & 0x0F) as i32;
    // Reconstruct the middle of the quantisation interval, then remove the bias
    // (132 = 33 << 2 in 16-bit units).
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if inverted & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Compresses the 14-bit value `v` (a 16-bit sample shifted right by 2) to μ-law.
const fn ulaw_compress(v: i16) -> u8 {
    // One's complement folding keeps -1 and 0 in the same (zero) interval, as G.191 does.
    let (magnitude, sign) = if v < 0 {
        ((!v) as u16, 0x00)
    } else {
        (v as u16, 0x80)
    };
    let mut biased = magnitude + ULAW_BIAS;
    if biased > ULAW_MAX_BIASED {
        biased = ULAW_MAX_BIASED;
    }
    // Segment (exponent) e covers biased values [32 << e, 64 << e).
    let mut exponent: u16 = 0;
    while exponent < 7 && (biased >> (exponent + 6)) != 0 {
        exponent += 1;
    }
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    let code = ((exponent << 4) | mantissa) as u8;
    sign | (!code & 0x7F)
}

/// Expands one A-law byte to a 16-bit linear sample.
const fn alaw_expand(code: u8) -> i16 {
    let folded = code ^ ALAW_XOR;
    let exponent = (folded >> 4) & 0x07;
    let mut mantissa = (folded & 0x0F) as i32;
    if exponent > 0 {
        // Segments above the first have an implicit leading one.
        mantissa += 16;
    }
    // Middle of the interval, scaled back to 16-bit units.
    let mut magnitude = (mantissa << 4) + 8;
    if exponent > 1 {
        magnitude <<= exponent - 1;
    }
    if folded & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Compresses the 14-bit value `v` (a 16-bit sample shifted right by 2) to A-law.
const fn alaw_compress(v: i16) -> u8 {
    let (folded, sign) = if v < 0 {
        ((!v) as u16, 0x00)
    } else {
        (v as u16, 0x80)
    };
    // A-law works on 12-bit magnitudes (13-bit signed samples).
    let mut magnitude = folded >> 2;
    let code = if magnitude < 16 {
        magnitude
    } else {
        let mut exponent: u16 = 1;
        while magnitude > 31 {
            magnitude >>= 1;
            exponent += 1;
        }
        (magnitude - 16) + (exponent << 4)
    };
    (code as u8 | sign) ^ ALAW_XOR
}

/// The encode-table slot of a sample: its top 14 bits, read as unsigned so every i16 maps
/// into `0..ENCODE_TABLE_LEN` without an offset.
const fn encode_index(sample: i16) -> usize {
    ((sample as u16) >> 2) as usize
}

/// The 14-bit signed value stored at an encode-table slot (inverse of [`encode_index`]).
const fn index_value(index: usize) -> i16 {
    // Put the 14 bits back at the top of an i16 and shift arithmetically to sign-extend.
    (((index as u16) << 2) as i16) >> 2
}

const fn build_decode_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = match law {
            Law::Mu => ulaw_expand(code as u8),
            Law::A => alaw_expand(code as u8),
        };
        code += 1;
    }
    table
}

const fn build_encode_table(law: Law) -> [u8; ENCODE_TABLE_LEN] {
    let mut table = [0u8; ENCODE_TABLE_LEN];
    let mut index = 0;
    while index < ENCODE_TABLE_LEN {
        let value = index_value(index);
        table[index] = match law {
            Law::Mu => ulaw_compress(value),
            Law::A => alaw_compress(value),
        };
        index += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = build_decode_table(Law::Mu);
static ALAW_DECODE: [i16; 256] = build_decode_table(Law::A);
static ULAW_ENCODE: [u8; ENCODE_TABLE_LEN] = build_encode_table(Law::Mu);
static ALAW_ENCODE: [u8; ENCODE_TABLE_LEN] = build_encode_table(Law::A);

/// Decodes one μ-law byte (PCMU) to a linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    // A u8 index into a 256-entry table cannot be out of bounds.
    ULAW_DECODE[usize::from(code)]
}

/// Encodes one linear sample to a μ-law byte (PCMU); samples beyond ±32124 clip.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // encode_index is at most 0x3FFF by construction.
    ULAW_ENCODE[encode_index(sample)]
}

/// Decodes one A-law byte (PCMA) to a linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes one linear sample to an A-law byte (PCMA); samples beyond ±32256 clip.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[encode_index(sample)]
}

/// Decodes a received payload into linear samples; converts `min(input.len(), out.len())`
/// samples and leaves the rest of `out` untouched.
pub fn decode(law: Law, input: &[u8], out: &mut [i16]) {
    let table = match law {
        Law::Mu => &ULAW_DECODE,
        Law::A => &ALAW_DECODE,
    };
    for (sample, &code) in out.iter_mut().zip(input) {
        *sample = table[usize::from(code)];
    }
}

/// Encodes linear samples into a payload to send; converts `min(input.len(), out.len())`
/// samples and leaves the rest of `out` untouched.
pub fn encode(law: Law, input: &[i16], out: &mut [u8]) {
    let table = match law {
        Law::Mu => &ULAW_ENCODE,
        Law::A => &ALAW_ENCODE,
    };
    for (code, &sample) in out.iter_mut().zip(input) {
        *code = table[encode_index(sample)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_linear(law: Law) -> fn(u8) -> i16 {
        match law {
            Law::Mu => ulaw_to_linear,
            Law::A => alaw_to_linear,
        }
    }

    fn to_code(codec: Law) -> fn(i16) -> u8 {
        match codec {
            Law::Mu => linear_to_ulaw,
            Law::A => linear_to_alaw,
        }
    }

    #[test]
    fn zero_encodes_to_the_codec_silence_byte() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        for codec in Law::ALL {
            assert_eq!(to_code(codec)(0), codec.silence_byte());
        }
    }

    #[test]
    fn ulaw_known_vectors_match_g711() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(32124), 0x80);
        assert_eq!(linear_to_ulaw(-32124), 0x00);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(8), 0xFE);
    }

    #[test]
    fn alaw_known_vectors_match_g711() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(15), 0xD5);
        assert_eq!(linear_to_alaw(16), 0xD4);
    }

    #[test]
    fn decoded_levels_are_monotonic_in_the_magnitude_code() {
        for codec in Law::ALL {
            let decode = to_linear(codec);
            let mut levels: Vec<i16> = (0..=255u8).map(decode).collect();
            levels.sort_unstable();
            levels.dedup();
            // μ-law has two zeros (+0 and -0), A-law none.
            let expected = if codec == Law::Mu { 255 } else { 256 };
            assert_eq!(levels.len(), expected, "{codec:?}");
        }
    }

    #[test]
    fn every_sample_round_trips_to_an_adjacent_level() {
        for codec in Law::ALL {
            let mut levels: Vec<i16> = (0..=255u8).map(to_linear(codec)).collect();
            levels.sort_unstable();
            levels.dedup();
            let lowest = levels[0];
            let highest = levels[levels.len() - 1];
            for x in i16::MIN..=i16::MAX {
                let y = to_linear(codec)(to_code(codec)(x));
                if x <= lowest {
                    assert_eq!(y, lowest, "{codec:?} {x}");
                } else if x >= highest {
                    assert_eq!(y, highest, "{codec:?} {x}");
                } else {
                    // y must be the level just below or just above x: nothing in between.
                    let below = levels.iter().rev().find(|&&l| l <= x).copied();
                    let above = levels.iter().find(|&&l| l >= x).copied();
                    assert!(
                        Some(y) == below || Some(y) == above,
                        "{codec:?} {x} -> {y}, levels {below:?}..{above:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn round_trip_error_stays_within_the_segment_step() {
        for codec in Law::ALL {
            for x in i16::MIN..=i16::MAX {
                let y = to_linear(codec)(to_code(codec)(x));
                let err = (i32::from(x) - i32::from(y)).abs();
                // Reconstruction levels sit mid-interval and intervals grow with the segment,
                // so the error is at most ~1/16 of the magnitude (and the clip region of μ-law
                // stays within that too).
                let bound = (i32::from(x).abs() / 8).max(16);
                assert!(err <= bound, "{codec:?} {x} -> {y} (err {err})");
                assert!(err <= 1024, "{codec:?} {x} -> {y}");
            }
        }
    }

    #[test]
    fn decoding_is_stable_after_one_round_trip() {
        for codec in Law::ALL {
            for b in 0..=255u8 {
                let once = to_linear(codec)(b);
                let again = to_linear(codec)(to_code(codec)(once));
                assert_eq!(once, again, "{codec:?} byte {b:#04x}");
            }
        }
    }

    #[test]
    fn buffer_functions_convert_the_shorter_length_only() {
        for codec in Law::ALL {
            let samples = [0i16, 1000, -1000, i16::MAX];
            let mut bytes = [0u8; 3];
            encode(codec, &samples, &mut bytes);
            for (b, s) in bytes.iter().zip(samples) {
                assert_eq!(*b, to_code(codec)(s));
            }
            let mut decoded = [7i16; 5];
            decode(codec, &bytes, &mut decoded);
            for (d, b) in decoded.iter().zip(bytes) {
                assert_eq!(*d, to_linear(codec)(b));
            }
            assert_eq!(&decoded[3..], &[7, 7]);
        }
    }
}
