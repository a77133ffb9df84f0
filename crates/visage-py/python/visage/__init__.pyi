"""Type stubs of the visage package (the native module ``visage._visage`` and its re-exports)."""

import os
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .errors import (
    CalibrationError as CalibrationError,
    ConsentError as ConsentError,
    DuplicateError as DuplicateError,
    Error as Error,
    ImageError as ImageError,
    InvalidRequestError as InvalidRequestError,
    ModelError as ModelError,
    NoFaceError as NoFaceError,
    PoorQualityError as PoorQualityError,
    SeveralFacesError as SeveralFacesError,
    SpoofError as SpoofError,
    StoreError as StoreError,
    UnknownSubjectError as UnknownSubjectError,
)

__version__: str

#: A path, encoded image bytes (JPEG, PNG, ...), or a uint8 array of shape (H, W, 3).
ImageLike = Union[str, "os.PathLike[str]", bytes, npt.NDArray[np.uint8]]
Channels = Literal["bgr", "rgb"]
Attribute = Literal["age", "gender", "pose", "liveness"]
Detector = Literal["centerface", "ultraface", "blazeface", "mtcnn", "scrfd", "retinaface"]
# "arcface" (512-d), "sface" (128-d), "fusion" (640-d) or "imported:NAME": as the CLI's --recognizer.
Recognizer = str

class Face:
    """One detected face (InsightFace's ``Face`` attribute names)."""

    @property
    def bbox(self) -> npt.NDArray[np.float32]:
        """(x1, y1, x2, y2) in pixels, shape (4,)."""
    @property
    def kps(self) -> npt.NDArray[np.float32]:
        """Five landmarks (eyes, nose tip, mouth corners), shape (5, 2)."""
    @property
    def det_score(self) -> float:
        """Detector confidence, 0 to 1."""
    @property
    def embedding(self) -> Optional[npt.NDArray[np.float32]]:
        """The embedding, already L2-normalised (512-d with the default recogniser)."""
    @property
    def normed_embedding(self) -> Optional[npt.NDArray[np.float32]]:
        """``embedding / norm(embedding)`` (equal to ``embedding``)."""
    @property
    def embedding_norm(self) -> Optional[float]:
        """Norm of ``embedding`` (1.0)."""
    @property
    def age(self) -> Optional[float]:
        """Apparent age in years (with ``attributes=["age"]``)."""
    @property
    def gender(self) -> Optional[Literal["female", "male", "uncertain"]]:
        """Perceived gender label (with ``attributes=["gender"]``); "uncertain" where the model is unreliable."""
    @property
    def gender_score(self) -> Optional[float]:
        """Calibrated confidence in the more likely label, 0.5 to 1 (below 0.8: "uncertain")."""
    @property
    def gender_p_male(self) -> Optional[float]:
        """Calibrated probability of the label male (equal priors)."""
    @property
    def sex(self) -> Optional[Literal["F", "M"]]:
        """``gender`` as InsightFace's ``sex``; None when ``gender`` is "uncertain"."""
    @property
    def pose(self) -> Optional[npt.NDArray[np.float32]]:
        """(pitch, yaw, roll) in degrees (with ``attributes=["pose"]``)."""
    @property
    def liveness(self) -> Optional[float]:
        """P(live) of passive liveness (with ``attributes=["liveness"]``)."""
    @property
    def is_live(self) -> Optional[bool]:
        """``liveness`` reaches the liveness threshold."""
    def to_dict(self) -> Dict[str, Any]:
        """Everything as plain Python values."""

class FaceAnalysis:
    """Detection, landmarks, embeddings and optional attributes: InsightFace's ``FaceAnalysis``."""

    def __init__(
        self,
        detector: Detector = "centerface",
        backend: Optional[Literal["ort", "tract"]] = None,
        *,
        recognizer: Recognizer = "arcface",
        det_thresh: Optional[float] = None,
        det_size: Optional[int] = None,
        min_face_size: float = 40.0,
        attributes: Sequence[Attribute] = (),
        threshold: Optional[float] = None,
        calibration: Optional[Union[str, "os.PathLike[str]"]] = None,
        home: Optional[Union[str, "os.PathLike[str]"]] = None,
        auto_install: bool = True,
    ) -> None: ...
    def prepare(
        self,
        ctx_id: int = 0,
        det_thresh: Optional[float] = None,
        det_size: Optional[Union[int, Tuple[int, int]]] = None,
    ) -> None:
        """InsightFace compatibility: set the detector's threshold and input size."""
    def get(
        self,
        img: ImageLike,
        max_num: int = 0,
        *,
        channels: Channels = "bgr",
        attributes: Optional[Sequence[Attribute]] = None,
    ) -> List[Face]:
        """Every face of an image (BGR array by default, or a path)."""
    @property
    def backend(self) -> str: ...
    @property
    def detector(self) -> str: ...
    @property
    def threshold(self) -> float: ...

def verify(
    img1: ImageLike,
    img2: ImageLike,
    target_far: Optional[float] = None,
    *,
    threshold: Optional[float] = None,
    calibration: Optional[Union[str, "os.PathLike[str]"]] = None,
    require_single: bool = False,
    require_live: bool = False,
    channels: Channels = "bgr",
    app: Optional[FaceAnalysis] = None,
) -> Dict[str, Any]:
    """1:1 verification; the dict of ``visage verify --json``."""

def imread(path: Union[str, "os.PathLike[str]"], channels: Channels = "bgr") -> npt.NDArray[np.uint8]:
    """Decode an image file into a uint8 (H, W, 3) array (BGR by default)."""

class Gallery:
    """A consent-based face gallery in a data dir, with an audit log."""

    def __init__(
        self,
        data_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
        *,
        actor: Optional[str] = None,
        threshold: Optional[float] = None,
        calibration: Optional[Union[str, "os.PathLike[str]"]] = None,
        allow_spoof: bool = False,
        liveness_threshold: Optional[float] = None,
        detector: Detector = "centerface",
        recognizer: Recognizer = "arcface",
        backend: Optional[Literal["ort", "tract"]] = None,
        home: Optional[Union[str, "os.PathLike[str]"]] = None,
        auto_install: bool = True,
    ) -> None: ...
    def enroll(
        self,
        subject: str,
        images: Union[ImageLike, Sequence[ImageLike]],
        *,
        purpose: str,
        evidence: str,
        legal_basis: str = "consent",
        expires: Optional[str] = None,
        name: Optional[str] = None,
        allow_duplicate: bool = False,
        channels: Channels = "bgr",
    ) -> Dict[str, Any]:
        """Enrol a subject with consent; the dict of ``visage enroll --json``."""
    def identify(
        self,
        img: ImageLike,
        top_k: int = 3,
        *,
        purpose: Optional[str] = None,
        threshold: Optional[float] = None,
        target_far: Optional[float] = None,
        require_live: bool = False,
        channels: Channels = "bgr",
    ) -> Dict[str, Any]:
        """Identify every face (among subjects consented for ``purpose``); the dict of ``visage identify --json``."""
    def verify(
        self,
        img1: ImageLike,
        img2: ImageLike,
        target_far: Optional[float] = None,
        *,
        purpose: Optional[str] = None,
        threshold: Optional[float] = None,
        require_single: bool = False,
        require_live: bool = False,
        channels: Channels = "bgr",
    ) -> Dict[str, Any]:
        """1:1 verification, audited in this gallery; the dict of ``visage verify --json``."""
    def delete(self, subject: str) -> int:
        """Erase a subject; the number of templates erased."""
    def export(self, subject: str, include_templates: bool = False) -> Dict[str, Any]:
        """Everything held about a subject."""
    def revoke_consent(self, subject: str, purpose: Optional[str] = None) -> int:
        """Revoke consent; the number of templates removed."""
    def subjects(self) -> List[Dict[str, Any]]:
        """The enrolled subjects and their template counts."""
    def audit_verify(self) -> Dict[str, Any]:
        """Check the audit log's hash chain."""
    @property
    def data_dir(self) -> Path: ...
    @property
    def actor(self) -> str: ...
