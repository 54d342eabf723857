//! TFRecord framing, the container of TensorBoard event files: each record is
//!
//! ```text
//! u64 length (little-endian)
//! u32 masked CRC-32C of the 8 length bytes
//! [u8; length] data
//! u32 masked CRC-32C of the data
//! ```
//!
//! with TensorFlow's mask `((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping).

/// TensorFlow's masked CRC-32C (Castagnoli) of `bytes`.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One record framing `data`.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// The records of a TFRecord byte stream, every CRC checked.
///
/// Fails, naming the record and its byte offset, on a record cut short or a CRC that does
/// not match.
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let i = out.len();
        let rest = &bytes[pos..];
        if rest.len() < 12 {
            return Err(format!("record {i} at byte {pos}: header cut short"));
        }
        let len_bytes = &rest[..8];
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if crc != masked_crc32c(len_bytes) {
            return Err(format!("record {i} at byte {pos}: length CRC mismatch"));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= rest.len().saturating_sub(16))
            .ok_or_else(|| format!("record {i} at byte {pos}: data cut short"))?;
        let data = &rest[12..12 + len];
        let crc = u32::from_le_bytes(rest[12 + len..16 + len].try_into().expect("4 bytes"));
        if crc != masked_crc32c(data) {
            return Err(format!("record {i} at byte {pos}: data CRC mismatch"));
        }
        out.push(data);
        pos += 16 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_known_test_vectors() {
        // the check value of CRC-32C (RFC 3720, B.4; the "123456789" check of the CRC catalogue)
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and ascending 0..31
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c::crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let asc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c::crc32c(&asc), 0x46DD_794E);
        assert_eq!(crc32c::crc32c(b""), 0);
    }

    #[test]
    fn the_mask_is_tensorflows() {
        // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8 (mod 2^32), worked out by
        // hand (Python: hex((((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8 & 0xffffffff))
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn frames_round_trip_and_damage_is_caught() {
        let mut bytes = frame(b"hello");
        bytes.extend(frame(b""));
        bytes.extend(frame(&[7u8; 300]));
        assert_eq!(bytes.len(), 16 * 3 + 5 + 300);
        // layout: length LE, then its masked CRC
        assert_eq!(&bytes[..8], &5u64.to_le_bytes());
        assert_eq!(
            &bytes[8..12],
            &masked_crc32c(&5u64.to_le_bytes()).to_le_bytes()
        );
        let r = read_records(&bytes).unwrap();
        assert_eq!(r, vec![&b"hello"[..], &b""[..], &[7u8; 300][..]]);
        let mut bad = bytes.clone();
        bad[14] ^= 1; // a data byte of the first record
        assert!(read_records(&bad).unwrap_err().contains("data CRC"));
        let mut bad = bytes.clone();
        bad[0] = 6; // the length
        assert!(read_records(&bad).unwrap_err().contains("length CRC"));
        assert!(read_records(&bytes[..bytes.len() - 1])
            .unwrap_err()
            .contains("cut short"));
    }
}
