//! A reader for PyTorch state dicts saved in the legacy (pre-1.6, non-zip) `torch.save` format, for
//! exactly the subset that plain float32 weight files use, with no PyTorch involved.
//!
//! The maintained Rust readers do not cover it: `candle-core`'s pickle module reads only the zip
//! format, and `serde-pickle` has no persistent ids (how tensors point at their storages). The legacy
//! file is a sequence of five pickles followed by raw data:
//!
//! 1. the magic number `0x1950a86a20f9469cfc6c`,
//! 2. the protocol version `1001`,
//! 3. system information (`little_endian` must be true),
//! 4. the state dict: an `OrderedDict` of name to `torch._utils._rebuild_tensor_v2(storage, offset,
//!    size, stride, requires_grad, hooks)`, where `storage` is a persistent id
//!    `('storage', torch.FloatStorage, key, location, numel, None)`,
//! 5. the list of storage keys, in the order their data follows,
//!
//! then for each key an 8-byte little-endian element count and the elements. Only `FloatStorage`
//! (float32) is read; anything else (other dtypes, other callables, the zip format) is refused with an
//! error that says what was found. Tensors are returned contiguous (row-major), whatever their strides.

use std::collections::HashMap;

/// The magic number that opens a legacy `torch.save` file.
const MAGIC: u128 = 0x1950a86a20f9469cfc6c;
/// The only legacy protocol version.
const PROTOCOL: i64 = 1001;
/// Guards against absurd sizes in a corrupt file: no weight file visage reads is near this.
const MAX_ELEMENTS: u64 = 1 << 28;

/// Why a `.pt` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    #[error("this is a zip-format PyTorch file (saved by PyTorch 1.6 or later); only the legacy format is read")]
    ZipFormat,
    #[error("not a legacy PyTorch file: {0}")]
    NotTorch(String),
    #[error("the file is truncated: {0}")]
    Truncated(String),
    #[error("the file is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported content: {0}")]
    Unsupported(String),
}

/// One tensor of a state dict, contiguous in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A state dict: tensor names (e.g. `conv1.weight`) with their tensors, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    pub tensors: Vec<(String, TorchTensor)>,
}

impl StateDict {
    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&TorchTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Reads a legacy-format PyTorch state dict of float32 tensors.
pub fn read_state_dict(bytes: &[u8]) -> Result<StateDict, TorchError> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(TorchError::ZipFormat);
    }
    let mut input = Input { bytes, pos: 0 };
    check_header(&mut input)?;
    let entries = match unpickle(&mut input)? {
        Value::Dict(entries) => entries,
        other => return Err(TorchError::Unsupported(format!("the state dict is a {}, not a dict", other.kind()))),
    };
    let keys = storage_keys(unpickle(&mut input)?)?;
    let storages = read_storages(&mut input, &keys)?;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let Value::Str(name) = name else {
            return Err(TorchError::Unsupported(format!("a state dict key is a {}", name.kind())));
        };
        let Value::Tensor(view) = value else {
            return Err(TorchError::Unsupported(format!("'{name}' is a {}, not a tensor", value.kind())));
        };
        let tensor = view.gather(&storages).map_err(|e| TorchError::Corrupt(format!("'{name}': {e}")))?;
        tensors.push((name, tensor));
    }
    Ok(StateDict { tensors })
}

/// Reads and checks the first three pickles: magic number, protocol version, system information.
fn check_header(input: &mut Input) -> Result<(), TorchError> {
    let not_torch = |what: &str| TorchError::NotTorch(what.to_string());
    match unpickle(input).map_err(|e| not_torch(&format!("no magic number ({e})")))? {
        Value::Int(m) if m as u128 == MAGIC => {}
        Value::BigInt(m) if m == MAGIC => {}
        _ => return Err(not_torch("wrong magic number")),
    }
    match unpickle(input)? {
        Value::Int(PROTOCOL) => {}
        other => return Err(TorchError::Unsupported(format!("protocol version {other:?}, expected {PROTOCOL}"))),
    }
    let Value::Dict(info) = unpickle(input)? else {
        return Err(TorchError::Corrupt("the system information is not a dict".into()));
    };
    let little = info.iter().any(|(k, v)| *k == Value::Str("little_endian".into()) && *v == Value::Bool(true));
    if !little {
        return Err(TorchError::Unsupported("a big-endian file".into()));
    }
    Ok(())
}

fn storage_keys(value: Value) -> Result<Vec<String>, TorchError> {
    let Value::List(items) = value else {
        return Err(TorchError::Corrupt(format!("the storage key list is a {}", value.kind())));
    };
    items
        .into_iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s),
            other => Err(TorchError::Corrupt(format!("a storage key is a {}", other.kind()))),
        })
        .collect()
}

/// The raw storages after the pickles: per key, an 8-byte element count and float32 elements.
fn read_storages(input: &mut Input, keys: &[String]) -> Result<HashMap<String, Vec<f32>>, TorchError> {
    let mut storages = HashMap::new();
    for key in keys {
        let count = u64::from_le_bytes(input.take_array(&format!("the size of storage {key}"))?);
        if count > MAX_ELEMENTS {
            return Err(TorchError::Corrupt(format!("storage {key} claims {count} elements")));
        }
        let raw = input.take(count as usize * 4, &format!("the data of storage {key}"))?;
        let data = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        storages.insert(key.clone(), data);
    }
    if input.pos != input.bytes.len() {
        return Err(TorchError::Corrupt(format!(
            "{} unexpected bytes after the storages",
            input.bytes.len() - input.pos
        )));
    }
    Ok(storages)
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
struct TensorView {
    storage: String,
    numel: usize,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorView {
    /// Copies the view's elements out of its storage, row-major.
    fn gather(&self, storages: &HashMap<String, Vec<f32>>) -> Result<TorchTensor, String> {
        let data = storages.get(&self.storage).ok_or_else(|| format!("storage {} is missing", self.storage))?;
        if data.len() != self.numel {
            return Err(format!(
                "storage {} has {} elements, the pickle says {}",
                self.storage,
                data.len(),
                self.numel
            ));
        }
        let too_big = || format!("the view {:?} / {:?} does not fit its storage", self.shape, self.stride);
        let count = self.shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)).ok_or_else(too_big)?;
        if count > 0 {
            let mut last = self.offset;
            for (&n, &s) in self.shape.iter().zip(&self.stride) {
                last = (n - 1).checked_mul(s).and_then(|v| v.checked_add(last)).ok_or_else(too_big)?;
            }
            if last >= data.len() {
                return Err(too_big());
            }
        }
        let mut out = Vec::with_capacity(count);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..count {
            let at = self.offset + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            out.push(data[at]);
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < self.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Ok(TorchTensor { shape: self.shape.clone(), data: out })
    }
}

/// The values the subset of pickle used by state dicts builds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    BigInt(u128),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String),
    Storage { key: String, numel: usize },
    Tensor(TensorView),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage { .. } => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    fn as_usize(&self, what: &str) -> Result<usize, TorchError> {
        match self {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            other => Err(TorchError::Corrupt(format!("{what} is {other:?}, not a size"))),
        }
    }

    fn as_sizes(&self, what: &str) -> Result<Vec<usize>, TorchError> {
        match self {
            Value::Tuple(items) => items.iter().map(|v| v.as_usize(what)).collect(),
            other => Err(TorchError::Corrupt(format!("{what} is a {}, not a tuple", other.kind()))),
        }
    }
}

/// The bytes being read and the position in them.
struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TorchError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| TorchError::Truncated(format!("{what} ends after byte {}", self.bytes.len())))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TorchError> {
        Ok(self.take(N, what)?.try_into().expect("took N bytes"))
    }

    fn byte(&mut self) -> Result<u8, TorchError> {
        Ok(self.take(1, "a pickle")?[0])
    }

    fn u32(&mut self) -> Result<u32, TorchError> {
        Ok(u32::from_le_bytes(self.take_array("a pickle")?))
    }

    fn line(&mut self) -> Result<String, TorchError> {
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or_else(|| TorchError::Truncated("a pickle".into()))?;
        let text =
            String::from_utf8(rest[..len].to_vec()).map_err(|_| TorchError::Corrupt("a non-UTF-8 name".into()))?;
        self.pos += len + 1;
        Ok(text)
    }
}

/// The pickle machine's state: the stack, the marks and the memo.
#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine {
    fn pop(&mut self) -> Result<Value, TorchError> {
        self.stack.pop().ok_or_else(|| TorchError::Corrupt("pickle stack underflow".into()))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, TorchError> {
        let mark = self.marks.pop().ok_or_else(|| TorchError::Corrupt("pickle mark missing".into()))?;
        if mark > self.stack.len() {
            return Err(TorchError::Corrupt("pickle mark beyond the stack".into()));
        }
        Ok(self.stack.split_off(mark))
    }

    fn top(&mut self) -> Result<&mut Value, TorchError> {
        self.stack.last_mut().ok_or_else(|| TorchError::Corrupt("pickle stack underflow".into()))
    }

    fn get(&self, key: u32) -> Result<Value, TorchError> {
        self.memo.get(&key).cloned().ok_or_else(|| TorchError::Corrupt(format!("pickle memo {key} unset")))
    }

    fn put(&mut self, key: u32) -> Result<(), TorchError> {
        let top = self.top()?.clone();
        self.memo.insert(key, top);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), TorchError> {
        if !items.len().is_multiple_of(2) {
            return Err(TorchError::Corrupt("an odd number of dict items".into()));
        }
        let Value::Dict(entries) = self.top()? else {
            return Err(TorchError::Corrupt("dict items set on a non-dict".into()));
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), TorchError> {
        let Value::List(list) = self.top()? else {
            return Err(TorchError::Corrupt("list items appended to a non-list".into()));
        };
        list.extend(items);
        Ok(())
    }
}

/// Runs one pickle to its STOP and returns its value.
fn unpickle(input: &mut Input) -> Result<Value, TorchError> {
    let mut m = Machine::default();
    loop {
        let op = input.byte()?;
        match op {
            0x80 => {
                let version = input.byte()?;
                if version > 2 {
                    return Err(TorchError::Unsupported(format!("pickle protocol {version}")));
                }
            }
            b'.' => return m.pop(),
            b'(' => m.marks.push(m.stack.len()),
            b'N' => m.stack.push(Value::None),
            0x88 => m.stack.push(Value::Bool(true)),
            0x89 => m.stack.push(Value::Bool(false)),
            b'K' => m.stack.push(Value::Int(input.byte()? as i64)),
            b'M' => m.stack.push(Value::Int(u16::from_le_bytes(input.take_array("a pickle")?) as i64)),
            b'J' => m.stack.push(Value::Int(i32::from_le_bytes(input.take_array("a pickle")?) as i64)),
            0x8a => m.stack.push(long1(input)?),
            b'X' => {
                let len = input.u32()? as usize;
                let raw = input.take(len, "a pickled string")?;
                let s =
                    String::from_utf8(raw.to_vec()).map_err(|_| TorchError::Corrupt("a non-UTF-8 string".into()))?;
                m.stack.push(Value::Str(s));
            }
            b')' => m.stack.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = m.pop_mark()?;
                m.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if m.stack.len() < n {
                    return Err(TorchError::Corrupt("pickle stack underflow".into()));
                }
                let items = m.stack.split_off(m.stack.len() - n);
                m.stack.push(Value::Tuple(items));
            }
            b']' => m.stack.push(Value::List(Vec::new())),
            b'a' => {
                let v = m.pop()?;
                m.append(vec![v])?;
            }
            b'e' => {
                let items = m.pop_mark()?;
                m.append(items)?;
            }
            b'}' => m.stack.push(Value::Dict(Vec::new())),
            b's' => {
                let v = m.pop()?;
                let k = m.pop()?;
                m.set_items(vec![k, v])?;
            }
            b'u' => {
                let items = m.pop_mark()?;
                m.set_items(items)?;
            }
            b'q' => {
                let key = input.byte()? as u32;
                m.put(key)?;
            }
            b'r' => {
                let key = input.u32()?;
                m.put(key)?;
            }
            b'h' => {
                let v = m.get(input.byte()? as u32)?;
                m.stack.push(v);
            }
            b'j' => {
                let v = m.get(input.u32()?)?;
                m.stack.push(v);
            }
            b'c' => {
                let module = input.line()?;
                let name = input.line()?;
                m.stack.push(Value::Global(format!("{module}.{name}")));
            }
            b'Q' => {
                let pid = m.pop()?;
                m.stack.push(persistent_load(pid)?);
            }
            b'R' => {
                let args = m.pop()?;
                let callable = m.pop()?;
                m.stack.push(reduce(callable, args)?);
            }
            // BUILD sets an object's state: for the state dict that is its `_metadata` (module versions),
            // which the weights do not need.
            b'b' => {
                m.pop()?;
            }
            other => return Err(TorchError::Unsupported(format!("pickle opcode 0x{other:02x}"))),
        }
    }
}

/// LONG1: a little-endian two's-complement integer of up to 16 bytes (the magic number has 10).
fn long1(input: &mut Input) -> Result<Value, TorchError> {
    let len = input.byte()? as usize;
    if len > 16 {
        return Err(TorchError::Unsupported(format!("a {len}-byte integer")));
    }
    let raw = input.take(len, "a pickled integer")?;
    let negative = raw.last().is_some_and(|&b| b & 0x80 != 0);
    if len <= 8 {
        let mut buf = [if negative { 0xff } else { 0 }; 8];
        buf[..len].copy_from_slice(raw);
        return Ok(Value::Int(i64::from_le_bytes(buf)));
    }
    if negative {
        return Err(TorchError::Unsupported("a large negative integer".into()));
    }
    let mut buf = [0u8; 16];
    buf[..len].copy_from_slice(raw);
    Ok(Value::BigInt(u128::from_le_bytes(buf)))
}

/// A persistent id: `('storage', torch.FloatStorage, key, location, numel, view_metadata)`.
fn persistent_load(pid: Value) -> Result<Value, TorchError> {
    let Value::Tuple(items) = pid else {
        return Err(TorchError::Corrupt(format!("a persistent id is a {}", pid.kind())));
    };
    match items.as_slice() {
        [Value::Str(tag), Value::Global(class), Value::Str(key), _location, numel, _] if tag == "storage" => {
            if class != "torch.FloatStorage" {
                return Err(TorchError::Unsupported(format!("{class} (only torch.FloatStorage, float32, is read)")));
            }
            Ok(Value::Storage { key: key.clone(), numel: numel.as_usize("a storage size")? })
        }
        _ => Err(TorchError::Unsupported(format!("persistent id {items:?}"))),
    }
}

/// Calls one of the two callables state dicts use: `collections.OrderedDict()` and
/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`.
fn reduce(callable: Value, args: Value) -> Result<Value, TorchError> {
    let Value::Global(name) = callable else {
        return Err(TorchError::Corrupt(format!("a call of a {}", callable.kind())));
    };
    let Value::Tuple(args) = args else {
        return Err(TorchError::Corrupt(format!("{name} called with a {}", args.kind())));
    };
    match (name.as_str(), args.as_slice()) {
        ("collections.OrderedDict", []) => Ok(Value::Dict(Vec::new())),
        ("torch._utils._rebuild_tensor_v2", [Value::Storage { key, numel }, offset, size, stride, ..]) => {
            let shape = size.as_sizes("a tensor size")?;
            let stride = stride.as_sizes("a tensor stride")?;
            if shape.len() != stride.len() {
                return Err(TorchError::Corrupt(format!("size {shape:?} with stride {stride:?}")));
            }
            Ok(Value::Tensor(TensorView {
                storage: key.clone(),
                numel: *numel,
                offset: offset.as_usize("a tensor offset")?,
                shape,
                stride,
            }))
        }
        _ => Err(TorchError::Unsupported(format!("a call of {name} with {} arguments", args.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_are_gathered_row_major() {
        // A 2 x 3 tensor stored transposed (column-major, strides (1, 2)) after one leading element.
        let storages = HashMap::from([("k".to_string(), vec![9.0, 1.0, 4.0, 2.0, 5.0, 3.0, 6.0])]);
        let view = TensorView { storage: "k".into(), numel: 7, offset: 1, shape: vec![2, 3], stride: vec![1, 2] };
        let t = view.gather(&storages).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Views that reach past their storage, or overflow, are refused.
        let past = TensorView { offset: 2, ..view.clone() };
        assert!(past.gather(&storages).is_err());
        let huge = TensorView { shape: vec![usize::MAX, 3], ..view };
        assert!(huge.gather(&storages).is_err());
    }

    #[test]
    fn long1_reads_small_signed_and_large_integers() {
        let read = |bytes: &[u8]| long1(&mut Input { bytes, pos: 0 }).unwrap();
        assert_eq!(read(&[1, 0xff]), Value::Int(-1));
        assert_eq!(read(&[2, 0x01, 0x01]), Value::Int(257));
        let magic = [10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        assert_eq!(read(&magic), Value::BigInt(MAGIC));
    }
}
