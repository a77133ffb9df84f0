"""Failures are visage.Error subclasses with the CLI's messages and the HTTP API's codes."""

import numpy as np
import pytest

import visage


def write_ppm(path, img_bgr):
    """A binary PPM (RGB) file, written without any imaging library."""
    h, w, _ = img_bgr.shape
    path.write_bytes(b"P6 %d %d 255\n" % (w, h) + np.ascontiguousarray(img_bgr[..., ::-1]).tobytes())
    return path


def cli_error(run):
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    line = [l for l in run.stderr.splitlines() if l.startswith("error: ")][-1]
    return line[len("error: ") :]


def test_no_face_in_verify_has_the_cli_message_and_code(photos, cli, tmp_path):
    blank = write_ppm(tmp_path / "blank.ppm", np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(visage.NoFaceError) as e:
        visage.verify(blank, photos[0])
    assert e.value.code == "no_face"
    assert str(e.value) == cli_error(cli.run("verify", blank, photos[0])) == f"{blank}: no face found"
    with pytest.raises(visage.NoFaceError, match="<array>: no face found"):
        visage.verify(np.zeros((120, 120, 3), np.uint8), photos[0])


def test_several_faces_with_require_single(photos):
    with pytest.raises(visage.SeveralFacesError) as e:
        visage.verify(photos[0], photos[1], require_single=True)
    assert e.value.code == "several_faces" and "exactly one is required" in str(e.value)


def test_bad_options_are_invalid_requests():
    with pytest.raises(visage.InvalidRequestError, match="unknown detector 'retina'"):
        visage.FaceAnalysis(detector="retina")
    with pytest.raises(visage.InvalidRequestError, match="backend"):
        visage.FaceAnalysis(backend="cuda")
    with pytest.raises(visage.InvalidRequestError, match="unknown attribute"):
        visage.FaceAnalysis(attributes=["mood"])
    with pytest.raises(visage.InvalidRequestError, match="det_thresh"):
        visage.FaceAnalysis(det_thresh=1.5)


def test_missing_models_without_auto_install_is_a_model_error(tmp_path):
    with pytest.raises(visage.ModelError) as e:
        visage.FaceAnalysis(home=tmp_path / "empty-home", auto_install=False, backend="tract")
    assert "visage models install" in str(e.value), str(e.value)


def test_target_far_without_calibration_is_a_calibration_error(photos, tmp_path):
    with pytest.raises(visage.CalibrationError, match="no calibration at") as e:
        visage.verify(photos[0], photos[1], calibration=tmp_path / "none.json")
    assert e.value.code == "no_calibration"
    # The suite's VISAGE_HOME is a private one, without a calibration: the library's message.
    with pytest.raises(visage.CalibrationError, match="a target FAR needs a calibration") as e:
        visage.verify(photos[0], photos[1], target_far=1e-3)
    assert e.value.code == "no_calibration"
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    with pytest.raises(visage.CalibrationError, match="broken.json") as e:
        visage.FaceAnalysis(calibration=broken)
    assert e.value.code == "invalid_calibration"
    with pytest.raises(visage.InvalidRequestError, match="not both"):
        visage.verify(photos[0], photos[1], target_far=1e-3, threshold=0.3)
    with pytest.raises(visage.InvalidRequestError, match="not in \\[-1, 1\\]"):
        visage.verify(photos[0], photos[1], threshold=1.5)


def test_the_hierarchy():
    for cls in [
        visage.ImageError,
        visage.NoFaceError,
        visage.SeveralFacesError,
        visage.PoorQualityError,
        visage.SpoofError,
        visage.DuplicateError,
        visage.InvalidRequestError,
        visage.UnknownSubjectError,
        visage.ConsentError,
        visage.CalibrationError,
        visage.ModelError,
        visage.StoreError,
    ]:
        assert issubclass(cls, visage.Error) and issubclass(cls, Exception)
    assert issubclass(visage.UnknownSubjectError, LookupError)
