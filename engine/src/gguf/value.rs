use super::GgufError;
use super::cursor::Cursor;

const MAX_NESTING: usize = 4;

/// One metadata value, with GGUF's full set of value types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub(crate) fn read(cursor: &mut Cursor, type_id: u32, depth: usize) -> Result<Value, GgufError> {
        Ok(match type_id {
            0 => Value::U8(cursor.u8()?),
            1 => Value::I8(cursor.u8()? as i8),
            2 => Value::U16(cursor.u16()?),
            3 => Value::I16(cursor.u16()? as i16),
            4 => Value::U32(cursor.u32()?),
            5 => Value::I32(cursor.u32()? as i32),
            6 => Value::F32(f32::from_bits(cursor.u32()?)),
            7 => Value::Bool(cursor.u8()? != 0),
            8 => Value::String(cursor.string()?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(GgufError::NestingTooDeep(MAX_NESTING));
                }
                let item_type = cursor.u32()?;
                let min_size = match item_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(GgufError::BadValueType(other)),
                };
                let len = cursor.count("array", min_size)?;
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(Value::read(cursor, item_type, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(cursor.u64()?),
            11 => Value::I64(cursor.u64()? as i64),
            12 => Value::F64(f64::from_bits(cursor.u64()?)),
            other => return Err(GgufError::BadValueType(other)),
        })
    }

    /// Any integer type, widened; `None` for non-integers and negative values.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}
