//! A small, strict reader and writer for NumPy's `.npy` format (versions 1-3, C order, little
//! endian), with errors that name the file and say what was expected.
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// Element types blindspot reads. Everything else is refused with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I64,
    I32,
    U8,
    Bool,
}

impl DType {
    fn from_descr(descr: &str) -> Option<DType> {
        Some(match descr {
            "<f4" => DType::F32,
            "<f8" => DType::F64,
            "<i8" => DType::I64,
            "<i4" => DType::I32,
            "|u1" | "<u1" => DType::U8,
            "|b1" => DType::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::U8 | DType::Bool => 1,
        }
    }

    fn kind(self) -> Kind {
        match self {
            DType::F32 => Kind::Float,
            DType::F64 => Kind::Double,
            DType::I64 => Kind::Int64,
            DType::I32 => Kind::Int,
            DType::U8 => Kind::Uint8,
            DType::Bool => Kind::Bool,
        }
    }

    /// NumPy's name, for messages.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }
}

/// An array read from a `.npy` file.
#[derive(Debug)]
pub struct NpyArray {
    pub dtype: DType,
    pub shape: Vec<i64>,
    data: Vec<u8>,
}

impl NpyArray {
    /// The array as a CPU tensor of its own element type.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_data_size(&self.data, &self.shape, self.dtype.kind())
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::input(
        format!(
            "{} is not a readable .npy array: {}",
            path.display(),
            what.into()
        ),
        path.display().to_string(),
        "write it with numpy.save (C order, little endian)",
    )
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if !meta.is_file() {
        return Err(bad(path, "not a regular file"));
    }
    crate::limits::fits(
        "the array",
        &path.display().to_string(),
        2 * meta.len() as u128,
    )?;
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    parse(path, bytes)
}

/// Reads a `.npy` file whose element type must be one of `expected`; `role` names it in the
/// message (`--input`, `data.input`), `want` says what it should hold (`float32 [N, C, H, W]`).
pub fn read_as(path: &Path, role: &str, expected: &[DType], want: &str) -> Result<Tensor> {
    let array = read(path)?;
    if !expected.contains(&array.dtype) {
        return Err(Error::input(
            format!(
                "{role} {} holds {} values; expected {want}",
                path.display(),
                array.dtype.numpy_name()
            ),
            path.display().to_string(),
            format!(
                "save it with numpy as {want} (e.g. array.astype(np.{}))",
                expected[0].numpy_name()
            ),
        ));
    }
    Ok(array.to_tensor())
}

fn parse(path: &Path, bytes: Vec<u8>) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(path, "missing the \\x93NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(path, format!("unsupported format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad(path, "truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(path, "header is not text"))?;
    // A key given twice would let two readers see two arrays.
    for key in ["descr", "fortran_order", "shape"] {
        let times = header.matches(&format!("'{key}'")).count()
            + header.matches(&format!("\"{key}\"")).count();
        if times > 1 {
            return Err(bad(path, format!("the header gives '{key}' {times} times")));
        }
    }
    let descr = dict_value(header, "descr").ok_or_else(|| bad(path, "no 'descr' in header"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = DType::from_descr(descr).ok_or_else(|| {
        bad(
            path,
            format!(
                "element type '{descr}' is not supported \
                 (use float32, float64, int64, int32, uint8)"
            ),
        )
    })?;
    if dict_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .unwrap_or(false)
    {
        return Err(bad(
            path,
            "Fortran-ordered arrays are not supported (use numpy.ascontiguousarray)",
        ));
    }
    let shape_text =
        dict_value(header, "shape").ok_or_else(|| bad(path, "no 'shape' in header"))?;
    let shape = parse_shape(shape_text)
        .ok_or_else(|| bad(path, format!("unreadable shape {shape_text}")))?;
    if shape.len() > 8 {
        return Err(bad(
            path,
            format!("shape {shape:?} has more than 8 dimensions"),
        ));
    }
    // Strides are products of the dimensions, zero or not: libtorch refuses (with a crash) a
    // shape whose strides overflow even when a zero dimension leaves no element.
    let strides = shape
        .iter()
        .fold(1u128, |n, &d| n.saturating_mul(d.max(1) as u128));
    if strides > 1 << 62 {
        return Err(bad(
            path,
            format!("shape {shape:?} is too large to index (its dimensions' product overflows)"),
        ));
    }
    // In u128, so that an absurd shape cannot overflow into a plausible size.
    let needed = shape
        .iter()
        .fold(dtype.size() as u128, |n, &d| n.saturating_mul(d as u128));
    let available = (bytes.len() - (start + header_len)) as u128;
    if needed != available {
        return Err(bad(
            path,
            format!(
                "shape {shape:?} of {} needs {needed} data bytes, the file has {available}",
                dtype.numpy_name(),
            ),
        ));
    }
    let data = bytes[start + header_len..].to_vec();
    Ok(NpyArray { dtype, shape, data })
}

/// The text after `'key':` in a Python dict literal, up to the matching delimiter.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    if rest.starts_with('(') {
        let end = rest.find(')')?;
        Some(&rest[..=end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

fn parse_shape(text: &str) -> Option<Vec<i64>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<i64>()
                .ok()
                .filter(|&d| d >= 0)
        })
        .collect()
}

/// Serialises a float32 or int64 tensor (any device, any layout) as `.npy` bytes.
pub fn to_bytes(tensor: &Tensor) -> Result<Vec<u8>> {
    let (descr, kind) = match tensor.kind() {
        Kind::Float => ("<f4", Kind::Float),
        Kind::Int64 => ("<i8", Kind::Int64),
        Kind::Double => ("<f8", Kind::Double),
        Kind::Uint8 => ("|u1", Kind::Uint8),
        other => {
            return Err(Error::input(
                format!("cannot write a {other:?} tensor as .npy"),
                "npy writer",
                "convert it to float32 or int64 first",
            ))
        }
    };
    let t = tensor
        .to_device(tch::Device::Cpu)
        .to_kind(kind)
        .contiguous();
    let shape = t.size();
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that magic + version + length + header + '\n' is a multiple of 64 bytes.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let numel = t.numel();
    let elem = t.kind().elt_size_in_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + numel * elem);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let start = out.len();
    out.resize(start + numel * elem, 0);
    t.copy_data_u8(&mut out[start..], numel);
    Ok(out)
}

/// Writes a tensor as `.npy`, atomically.
pub fn write(path: &Path, tensor: &Tensor) -> Result<()> {
    super::write_atomic(path, &to_bytes(tensor)?)
}
