//! `visage.Face`: one detected face, with the attribute names of InsightFace's `Face`.

use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use visage::attributes::FaceAttributes;
use visage::detect::Detection;

/// A detected face: box, five landmarks, detector score, embedding and, when asked for, age, gender,
/// head pose and passive liveness.
///
/// Arrays are float32 NumPy arrays made on each access. `embedding` is already L2-normalised (visage's
/// embedder normalises), so `normed_embedding` equals it and `embedding_norm` is 1.
#[pyclass(module = "visage", frozen)]
pub struct Face {
    bbox: [f32; 4],
    kps: Vec<[f32; 2]>,
    det_score: f32,
    embedding: Option<Vec<f32>>,
    attributes: FaceAttributes,
}

impl Face {
    /// A face from the detector's output, its embedding (if computed) and its attributes.
    pub fn new(detection: &Detection, embedding: Option<Vec<f32>>, attributes: FaceAttributes) -> Face {
        Face {
            bbox: detection.bbox.to_array(),
            kps: detection.landmarks.iter().map(|p| [p.x, p.y]).collect(),
            det_score: detection.score,
            embedding,
            attributes,
        }
    }
}

#[pymethods]
impl Face {
    /// The box (x1, y1, x2, y2) in pixels, float32, shape (4,).
    #[getter]
    fn bbox<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, &self.bbox)
    }

    /// Five landmarks (eyes, nose tip, mouth corners; as seen in the image), float32, shape (5, 2).
    #[getter]
    fn kps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let rows: Vec<Vec<f32>> = self.kps.iter().map(|p| p.to_vec()).collect();
        Ok(PyArray2::from_vec2(py, &rows)?)
    }

    /// The detector's confidence, 0 to 1.
    #[getter]
    fn det_score(&self) -> f32 {
        self.det_score
    }

    /// The embedding (float32, L2-normalised; 512-d with the default recogniser), or None when
    /// recognition was off.
    #[getter]
    fn embedding<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.embedding.as_ref().map(|e| PyArray1::from_slice(py, e))
    }

    /// The embedding divided by its norm (the same values: visage's embeddings are normalised).
    #[getter]
    fn normed_embedding<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.embedding.as_ref().map(|e| {
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            PyArray1::from_vec(py, e.iter().map(|v| v / norm).collect())
        })
    }

    /// The L2 norm of `embedding` (1 for visage's embeddings).
    #[getter]
    fn embedding_norm(&self) -> Option<f32> {
        self.embedding.as_ref().map(|e| e.iter().map(|v| v * v).sum::<f32>().sqrt())
    }

    /// Apparent age in years, when "age" was asked for.
    #[getter]
    fn age(&self) -> Option<f32> {
        self.attributes.age
    }

    /// "female", "male" or "uncertain" (the model's output is in the band where it is unreliable),
    /// when "gender" was asked for. A perceived label from a binary model, weak on women: see
    /// `gender_score`.
    #[getter]
    fn gender(&self) -> Option<&'static str> {
        self.attributes.gender.map(|g| g.label.as_str())
    }

    /// Calibrated confidence in the more likely label, 0.5 to 1 (below 0.8 `gender` is "uncertain").
    #[getter]
    fn gender_score(&self) -> Option<f32> {
        self.attributes.gender.map(|g| g.score)
    }

    /// Calibrated probability that the face is labelled male (equal priors), when "gender" was asked for.
    #[getter]
    fn gender_p_male(&self) -> Option<f32> {
        self.attributes.gender.map(|g| g.p_male)
    }

    /// "F" or "M", as InsightFace's `Face.sex`; None when `gender` is "uncertain" (never a coin flip).
    #[getter]
    fn sex(&self) -> Option<&'static str> {
        match self.gender()? {
            "male" => Some("M"),
            "female" => Some("F"),
            _ => None,
        }
    }

    /// Head pose in degrees as (pitch, yaw, roll), InsightFace's order, float32, when "pose" was asked for.
    #[getter]
    fn pose<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.attributes.pose.map(|p| PyArray1::from_slice(py, &[p.pitch, p.yaw, p.roll]))
    }

    /// P(live) from the passive liveness model, when "liveness" was asked for.
    #[getter]
    fn liveness(&self) -> Option<f32> {
        self.attributes.liveness.map(|l| l.score)
    }

    /// Whether `liveness` reaches the liveness threshold.
    #[getter]
    fn is_live(&self) -> Option<bool> {
        self.attributes.liveness.map(|l| l.live)
    }

    /// Everything as a dict of plain Python values (lists, floats, strings, None).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("bbox", self.bbox.to_vec())?;
        d.set_item("kps", self.kps.iter().map(|p| p.to_vec()).collect::<Vec<_>>())?;
        d.set_item("det_score", self.det_score)?;
        d.set_item("embedding", self.embedding.clone())?;
        d.set_item("age", self.attributes.age)?;
        d.set_item("gender", self.gender())?;
        d.set_item("gender_score", self.gender_score())?;
        d.set_item("pose", self.attributes.pose.map(|p| vec![p.pitch, p.yaw, p.roll]))?;
        d.set_item("liveness", self.liveness())?;
        d.set_item("is_live", self.is_live())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let [x1, y1, x2, y2] = self.bbox;
        format!("Face(bbox=[{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}], det_score={:.3})", self.det_score)
    }
}
