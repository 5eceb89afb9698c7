//! Every supported block format decodes to the same shape: `w = scale[g] · code + offset[g]`,
//! with one (scale, offset) per group of 32 (16 for Q6_K) and small unsigned integer codes.
//! That one form is what the device stores and unpacks, whatever the file's format.

use half::{bf16, f16};

use crate::gguf::TensorType;

/// Codes and per-group affine parameters of a quantized tensor, in element order.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub codes: Vec<u8>,
    pub scales: Vec<f32>,
    pub offsets: Vec<f32>,
    pub group: usize,
}

impl Decoded {
    pub fn to_f32(&self) -> Vec<f32> {
        self.codes
            .iter()
            .enumerate()
            .map(|(i, &c)| self.scales[i / self.group] * c as f32 + self.offsets[i / self.group])
            .collect()
    }
}

/// Elements sharing one (scale, offset).
pub fn group_size(ty: TensorType) -> usize {
    match ty {
        TensorType::Q6K => 16,
        _ => 32,
    }
}

/// Bits the device container gives each code: 4-bit formats pack two per byte's worth, the
/// rest (5, 6 and 8 bits) go in 8-bit containers.
pub fn code_bits(ty: TensorType) -> u32 {
    match ty {
        TensorType::Q4_0 | TensorType::Q4_1 | TensorType::Q4K => 4,
        _ => 8,
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Decodes quantized blocks. `bytes` must hold exactly whole blocks of `ty` (the GGUF reader
/// guarantees this for every tensor it returns).
pub fn decode_blocks(ty: TensorType, bytes: &[u8]) -> Decoded {
    assert!(ty.is_quantized(), "decode_blocks takes quantized types only");
    let block_bytes = ty.block_bytes() as usize;
    let block_elems = ty.block_elements() as usize;
    let blocks = bytes.len() / block_bytes;
    let group = group_size(ty);
    let mut out = Decoded {
        codes: Vec::with_capacity(blocks * block_elems),
        scales: Vec::with_capacity(blocks * block_elems / group),
        offsets: Vec::with_capacity(blocks * block_elems / group),
        group,
    };
    for block in bytes.chunks_exact(block_bytes) {
        match ty {
            TensorType::Q4_0 => q4_0(block, &mut out),
            TensorType::Q4_1 => q4_1(block, &mut out),
            TensorType::Q5_0 => q5_0(block, &mut out),
            TensorType::Q5_1 => q5_1(block, &mut out),
            TensorType::Q8_0 => q8_0(block, &mut out),
            TensorType::Q4K => q4_k(block, &mut out),
            TensorType::Q5K => q5_k(block, &mut out),
            TensorType::Q6K => q6_k(block, &mut out),
            TensorType::F32 | TensorType::F16 | TensorType::BF16 => unreachable!(),
        }
    }
    out
}

/// Any supported tensor's bytes as f32 (the reference path; the model keeps weights quantized).
pub fn dequantize(ty: TensorType, bytes: &[u8]) -> Vec<f32> {
    match ty {
        TensorType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        TensorType::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        TensorType::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => decode_blocks(ty, bytes).to_f32(),
    }
}

/// Nibble `j` of a 16-byte array of 32 four-bit values: low nibbles first, then high ones.
fn nibble(qs: &[u8], j: usize) -> u8 {
    if j < 16 { qs[j] & 0x0f } else { qs[j - 16] >> 4 }
}

fn q4_0(b: &[u8], out: &mut Decoded) {
    let d = f16_at(b, 0);
    out.codes.extend((0..32).map(|j| nibble(&b[2..18], j)));
    out.scales.push(d);
    out.offsets.push(-8.0 * d);
}

fn q4_1(b: &[u8], out: &mut Decoded) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    out.codes.extend((0..32).map(|j| nibble(&b[4..20], j)));
    out.scales.push(d);
    out.offsets.push(m);
}

/// Five-bit values: four low bits in `qs`, the fifth bit of value j in bit j of `qh`.
fn five_bit(qh: u32, qs: &[u8], j: usize) -> u8 {
    nibble(qs, j) | ((((qh >> j) & 1) as u8) << 4)
}

fn q5_0(b: &[u8], out: &mut Decoded) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    out.codes.extend((0..32).map(|j| five_bit(qh, &b[6..22], j)));
    out.scales.push(d);
    out.offsets.push(-16.0 * d);
}

fn q5_1(b: &[u8], out: &mut Decoded) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    out.codes.extend((0..32).map(|j| five_bit(qh, &b[8..24], j)));
    out.scales.push(d);
    out.offsets.push(m);
}

fn q8_0(b: &[u8], out: &mut Decoded) {
    let d = f16_at(b, 0);
    out.codes.extend(b[2..34].iter().map(|&q| (q as i8 as i16 + 128) as u8));
    out.scales.push(d);
    out.offsets.push(-128.0 * d);
}

/// The 6-bit scale and min of sub-block `j` (of 8) packed into 12 bytes (ggml's get_scale_min_k4).
fn k_scale_min(scales: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        ((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
    }
}

fn q4_k(b: &[u8], out: &mut Decoded) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        for half in 0..2 {
            let (sc, m) = k_scale_min(scales, chunk * 2 + half);
            out.codes.extend(q.iter().map(|&v| if half == 0 { v & 0x0f } else { v >> 4 }));
            out.scales.push(d * sc as f32);
            out.offsets.push(-(dmin * m as f32));
        }
    }
}

fn q5_k(b: &[u8], out: &mut Decoded) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        for half in 0..2 {
            let (sc, m) = k_scale_min(scales, chunk * 2 + half);
            let high_bit = 1u8 << (chunk * 2 + half);
            out.codes.extend(q.iter().zip(qh).map(|(&v, &h)| {
                let low = if half == 0 { v & 0x0f } else { v >> 4 };
                low | if h & high_bit != 0 { 16 } else { 0 }
            }));
            out.scales.push(d * sc as f32);
            out.offsets.push(-(dmin * m as f32));
        }
    }
}

fn q6_k(b: &[u8], out: &mut Decoded) {
    let ql = &b[0..128];
    let qh = &b[128..192];
    let sc = &b[192..208];
    let d = f16_at(b, 208);
    let mut codes = [0u8; 256];
    for half in 0..2 {
        let (ql, qh, y) = (&ql[half * 64..], &qh[half * 32..], &mut codes[half * 128..]);
        for l in 0..32 {
            y[l] = (ql[l] & 0x0f) | ((qh[l] & 3) << 4);
            y[l + 32] = (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4);
            y[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            y[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    out.codes.extend_from_slice(&codes);
    for &s in sc {
        let scale = d * (s as i8) as f32;
        out.scales.push(scale);
        out.offsets.push(-32.0 * scale);
    }
}
