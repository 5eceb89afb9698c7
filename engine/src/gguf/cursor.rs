use super::GgufError;

/// A little-endian reader over a byte prefix; every short read is a typed `Truncated` error.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Length of the whole file, of which `bytes` may be only a prefix.
    file_len: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], file_len: u64) -> Self {
        Self { bytes, pos: 0, file_len: file_len.max(bytes.len() as u64) }
    }

    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    pub fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    pub fn take(&mut self, n: u64) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                offset: self.position(),
                needed: n,
                available: self.bytes.len() as u64,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, GgufError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        let offset = self.position();
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::BadUtf8 { offset })
    }

    /// A count read from the file, refused when even `min_item_bytes` per item would overrun the
    /// whole file,
    /// so a corrupt count never drives a huge allocation.
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64, GgufError> {
        let count = self.u64()?;
        if count.saturating_mul(min_item_bytes.max(1)) > self.file_len - self.position() {
            return Err(GgufError::ImplausibleCount { what, count });
        }
        Ok(count)
    }
}
