"""visage: face recognition from Python, the way InsightFace users work.

>>> import visage
>>> app = visage.FaceAnalysis()                 # models install on first use
>>> faces = app.get(cv2.imread("group.jpg"))     # BGR uint8 (H, W, 3) array, or a path
>>> faces[0].bbox, faces[0].kps, faces[0].det_score, faces[0].normed_embedding

``visage.verify(img1, img2)`` compares two faces; ``visage.Gallery(data_dir)`` enrols people with
their consent and identifies them. Long calls release the GIL, so threads run in parallel. Errors
are subclasses of :class:`visage.Error` with a stable ``code``.
"""

from ._visage import Face, FaceAnalysis, Gallery, __version__, imread, verify
from .errors import (
    CalibrationError,
    ConsentError,
    DuplicateError,
    Error,
    ImageError,
    InvalidRequestError,
    ModelError,
    NoFaceError,
    PoorQualityError,
    SeveralFacesError,
    SpoofError,
    StoreError,
    UnknownSubjectError,
)

__all__ = [
    "CalibrationError",
    "ConsentError",
    "DuplicateError",
    "Error",
    "Face",
    "FaceAnalysis",
    "Gallery",
    "ImageError",
    "InvalidRequestError",
    "ModelError",
    "NoFaceError",
    "PoorQualityError",
    "SeveralFacesError",
    "SpoofError",
    "StoreError",
    "UnknownSubjectError",
    "__version__",
    "imread",
    "verify",
]
