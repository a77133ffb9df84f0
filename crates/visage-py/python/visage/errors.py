"""The exceptions visage raises: every one is a :class:`Error` with the CLI's message and the stable
``code`` the HTTP API reports for the same failure (e.g. ``"no_face"``)."""


class Error(Exception):
    """Any visage failure. ``code`` is the HTTP API's code for it (``"internal"`` when it has none)."""

    def __init__(self, message: str, code: str = "internal") -> None:
        super().__init__(message)
        self.code = code


class ImageError(Error, ValueError):
    """The image cannot be used: no such file, not an image, too large, or an array that is not
    uint8 with shape (H, W, 3). Code ``invalid_image``."""


class NoFaceError(Error):
    """No face was found where one was needed. Code ``no_face``."""


class SeveralFacesError(Error):
    """Several faces where exactly one is required (enrolment, ``require_single``). Code
    ``several_faces``."""


class PoorQualityError(Error):
    """Enrolment refused: the face is too small, blurred, dark or turned away. Code ``poor_quality``."""


class SpoofError(Error):
    """Enrolment refused: passive liveness says the face is a presentation attack (a printed photo,
    a screen). Code ``spoof``."""


class DuplicateError(Error):
    """Enrolment refused: the face already matches another subject. Code ``duplicate_subject``."""


class InvalidRequestError(Error, ValueError):
    """A bad argument: a subject id, a date, a blank consent, an unknown option. Codes
    ``invalid_request`` and ``invalid_subject_id``."""


class UnknownSubjectError(Error, LookupError):
    """No such subject in the gallery. Code ``unknown_subject``."""


class ConsentError(Error):
    """The subject has no active consent for that purpose. Code ``no_consent``."""


class CalibrationError(Error):
    """No calibration (``visage calibrate``) for ``target_far`` (code ``no_calibration``), one that
    cannot give that rate (``unsupported_target_far``), or a calibration file that cannot be read or
    comes from another model (``invalid_calibration``)."""


class ModelError(Error):
    """A model could not be installed, verified or run. Code ``internal``."""


class StoreError(Error):
    """The gallery's store failed (database, key, tampered template). Code ``internal``."""
