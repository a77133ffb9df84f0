//! [`AnalyzerFinder`]: the scan's face finder over visage's models (detect, align, quality, embed).

use crate::scan::{FaceFinder, FoundFace, FoundImage};
use std::path::Path;
use visage::quality::QualityPolicy;
use visage::{FaceAnalyzer, ImageSource};

/// Finds faces with a [`FaceAnalyzer`] (shared by every worker thread).
pub struct AnalyzerFinder<'a> {
    analyzer: &'a FaceAnalyzer,
    quality: QualityPolicy,
}

impl<'a> AnalyzerFinder<'a> {
    /// A finder over `analyzer`, scoring quality with the one quality policy (size, sharpness, exposure).
    pub fn new(analyzer: &'a FaceAnalyzer) -> AnalyzerFinder<'a> {
        AnalyzerFinder { analyzer, quality: QualityPolicy::default() }
    }

    fn run(&self, bytes: &[u8], name: &Path) -> Result<FoundImage, visage::VisageError> {
        let source = ImageSource::Bytes { name: name.to_string_lossy().into_owned(), bytes: bytes.to_vec() };
        // Large JPEGs are decoded at the detector's working size, the faces cropped at full detail.
        let photo = self.analyzer.open(source)?;
        let detections = self.analyzer.detect_photo(&photo)?;
        let crops = if detections.is_empty() { Vec::new() } else { self.analyzer.align_photo(&photo, &detections)? };
        let embeddings = if crops.is_empty() { Vec::new() } else { self.analyzer.embed_aligned(&crops)? };
        let faces = detections
            .iter()
            .zip(&crops)
            .zip(embeddings)
            .map(|((d, crop), embedding)| FoundFace {
                bbox: d.bbox.to_array(),
                score: d.score,
                quality: self.quality.assess(d, crop, None).score,
                embedding,
            })
            .collect();
        Ok(FoundImage { width: photo.width(), height: photo.height(), faces })
    }
}

impl FaceFinder for AnalyzerFinder<'_> {
    fn find(&self, bytes: &[u8], name: &Path) -> Result<FoundImage, String> {
        self.run(bytes, name).map_err(|e| e.to_string())
    }
}
