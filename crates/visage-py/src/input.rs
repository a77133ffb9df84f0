//! Images from Python: a path (`str` or `os.PathLike`), encoded file bytes, or a NumPy `uint8` array
//! of shape (H, W, 3) in BGR order (what `cv2.imread` returns) or, when asked, RGB order.

use crate::errors::Failure;
use image::codecs::pnm::{PnmEncoder, PnmSubtype, SampleEncoding};
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use numpy::{PyArray3, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use visage::{FaceAnalyzer, ImageSource, VisageError};

/// The channel order of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// Blue, green, red: OpenCV's order, and the default (as in InsightFace).
    Bgr,
    /// Red, green, blue: PIL's and most other libraries' order.
    Rgb,
}

impl Channels {
    /// `"bgr"` or `"rgb"` (any case).
    pub fn parse(s: &str) -> Result<Channels, Failure> {
        match s.to_ascii_lowercase().as_str() {
            "bgr" => Ok(Channels::Bgr),
            "rgb" => Ok(Channels::Rgb),
            _ => Err(Failure::invalid(format!("channels must be \"bgr\" or \"rgb\", not {s:?}"))),
        }
    }
}

/// An image argument, taken from Python while the GIL is held and used after it is released.
pub enum Input {
    File(PathBuf),
    Encoded(Vec<u8>),
    Pixels(RgbImage),
}

/// What messages call an image given as an array or as bytes.
const ARRAY_NAME: &str = "<array>";
const BYTES_NAME: &str = "<bytes>";

impl Input {
    /// Reads an image argument: arrays are copied (so any strides and layouts work), paths are not
    /// opened until the pipeline runs.
    pub fn from_py(obj: &Bound<'_, PyAny>, channels: Channels) -> PyResult<Input> {
        if let Ok(array) = obj.cast::<PyUntypedArray>() {
            return Ok(Input::Pixels(pixels(array, channels)?));
        }
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Input::Encoded(bytes.as_bytes().to_vec()));
        }
        if let Ok(path) = obj.extract::<PathBuf>() {
            return Ok(Input::File(path));
        }
        let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        Err(Failure::image(format!(
            "expected an image: a path, encoded image bytes, or a uint8 NumPy array of shape (H, W, 3) in BGR \
             order; got {kind}"
        ))
        .into())
    }

    /// The decoded image (files and bytes with the analyzer's decoder and limits).
    pub fn decode(self, analyzer: &FaceAnalyzer) -> Result<RgbImage, VisageError> {
        match self {
            Input::File(p) => analyzer.load(p),
            Input::Encoded(bytes) => analyzer.load(ImageSource::Bytes { name: BYTES_NAME.into(), bytes }),
            Input::Pixels(image) => Ok(image),
        }
    }

    /// The image as the library's verification and gallery calls take it: an array is encoded
    /// losslessly first, as a binary PPM (no compression, so it costs a copy, and it carries no EXIF
    /// orientation to reapply).
    pub fn into_source(self) -> Result<ImageSource, Failure> {
        match self {
            Input::File(p) => Ok(ImageSource::File(p)),
            Input::Encoded(bytes) => Ok(ImageSource::Bytes { name: BYTES_NAME.into(), bytes }),
            Input::Pixels(image) => {
                let mut ppm = Vec::with_capacity(image.as_raw().len() + 32);
                let subtype = PnmSubtype::Pixmap(SampleEncoding::Binary);
                PnmEncoder::new(&mut ppm)
                    .with_subtype(subtype)
                    .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
                    .map_err(|e| Failure::image(format!("cannot pass the array on: {e}")))?;
                Ok(ImageSource::Bytes { name: ARRAY_NAME.into(), bytes: ppm })
            }
        }
    }
}

/// An (H, W, 3) `uint8` array as an RGB image; anything else is refused with what to do instead.
fn pixels(array: &Bound<'_, PyUntypedArray>, channels: Channels) -> Result<RgbImage, Failure> {
    let dtype = array.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<u8>(array.py())) {
        return Err(Failure::image(format!(
            "the image array has dtype {dtype}, but visage needs uint8 pixels (0-255) of shape (H, W, 3) in BGR \
             order, as cv2.imread gives. Convert with img.astype(numpy.uint8) if the values are 0-255, or \
             (img * 255).round().astype(numpy.uint8) if they are 0-1"
        )));
    }
    let shape = array.shape().to_vec();
    let (h, w) = match shape[..] {
        [h, w, 3] => (h, w),
        _ => {
            return Err(Failure::image(format!(
                "the image array has shape {shape:?}, but visage needs (H, W, 3): three colour channels in BGR \
                 order. Convert grey images with numpy.repeat(img[..., None], 3, axis=2) and drop an alpha \
                 channel with img[..., :3]"
            )))
        }
    };
    let (Ok(width), Ok(height)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(Failure::image(format!("the image array is too large ({h}x{w})")));
    };
    if width == 0 || height == 0 {
        return Err(Failure::image(format!("the image array is empty (shape {shape:?})")));
    }
    let typed = array.as_any().cast::<PyArray3<u8>>().map_err(|e| Failure::image(e.to_string()))?;
    let readonly = typed.try_readonly().map_err(|e| Failure::image(e.to_string()))?;
    let view = readonly.as_array();
    let order: [usize; 3] = match channels {
        Channels::Bgr => [2, 1, 0],
        Channels::Rgb => [0, 1, 2],
    };
    // Any strides (a slice, a channel flip) are read through the view; C-contiguous arrays directly.
    let image = match view.as_slice() {
        Some(data) => {
            let raw = data.chunks_exact(3).flat_map(|p| order.map(|c| p[c])).collect();
            RgbImage::from_raw(width, height, raw).expect("the size matches the array")
        }
        None => RgbImage::from_fn(width, height, |x, y| {
            let (x, y) = (x as usize, y as usize);
            image::Rgb(order.map(|c| view[[y, x, c]]))
        }),
    };
    Ok(image)
}

/// Reads an image file with visage's decoder into a `uint8` array of shape (H, W, 3), BGR by
/// default (as `cv2.imread`), RGB with `channels="rgb"`.
#[pyfunction]
#[pyo3(signature = (path, channels = "bgr"))]
pub fn imread<'py>(py: Python<'py>, path: PathBuf, channels: &str) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let channels = Channels::parse(channels)?;
    let options = visage::core::LoadOptions::default();
    let decoded = py.detach(|| visage::core::load_image(&path, &options));
    let image = decoded.map_err(|source| Failure::from(VisageError::Image { path, source }))?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut raw = image.into_raw();
    if channels == Channels::Bgr {
        raw.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
    }
    let array = numpy::ndarray::Array3::from_shape_vec((h, w, 3), raw).expect("the size matches the image");
    Ok(PyArray3::from_owned_array(py, array))
}
