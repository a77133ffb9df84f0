"""Images in: BGR and RGB arrays, paths, bytes, non-contiguous views; bad arrays refused clearly."""

import numpy as np
import pytest

import visage


def signature(faces):
    return [(f.bbox.round(3).tolist(), f.embedding) for f in faces]


def assert_same(a, b, tol=1e-6):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert np.abs(x.bbox - y.bbox).max() <= tol
        assert np.abs(x.embedding - y.embedding).max() <= tol


def test_path_bytes_bgr_array_and_rgb_array_with_channels_rgb_agree(app, photos):
    path = photos[3]
    bgr = visage.imread(path)
    rgb = visage.imread(path, channels="rgb")
    assert bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3
    assert np.array_equal(bgr[..., ::-1], rgb)
    reference = app.get(path)
    assert_same(app.get(str(path)), reference)
    assert_same(app.get(path.read_bytes()), reference)
    assert_same(app.get(bgr), reference)
    assert_same(app.get(rgb, channels="rgb"), reference)


def test_an_rgb_array_passed_as_bgr_gives_other_embeddings(app, photos):
    """The documented mistake: red and blue swapped changes the embeddings (not an error)."""
    rgb = visage.imread(photos[3], channels="rgb")
    right = app.get(rgb, channels="rgb")
    wrong = app.get(rgb)
    assert len(wrong) > 0
    sims = [max(float(w.normed_embedding @ r.normed_embedding) for r in right) for w in wrong]
    assert min(sims) < 0.995, sims


def test_non_contiguous_arrays_are_converted(app, photos):
    img = visage.imread(photos[0])
    flipped = img[:, ::-1]  # negative stride
    assert not flipped.flags.c_contiguous
    assert_same(app.get(flipped), app.get(np.ascontiguousarray(flipped)))
    fortran = np.asfortranarray(img)
    assert not fortran.flags.c_contiguous
    assert_same(app.get(fortran), app.get(img))
    window = img[50:-50, 100:-100]
    assert not window.flags.c_contiguous
    assert_same(app.get(window), app.get(window.copy()))
    rgb_view = img[..., ::-1]  # a channel flip is a view too
    assert_same(app.get(rgb_view, channels="rgb"), app.get(img))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int64, bool])
def test_wrong_dtype_is_refused_with_what_to_do(app, photos, dtype):
    img = visage.imread(photos[0]).astype(dtype)
    with pytest.raises(visage.ImageError) as e:
        app.get(img)
    message = str(e.value)
    assert "uint8" in message and "astype" in message and np.dtype(dtype).name in message, message
    assert e.value.code == "invalid_image"
    assert isinstance(e.value, ValueError) and isinstance(e.value, visage.Error)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 4), (64, 64, 1), (2, 64, 64, 3)])
def test_wrong_shape_is_refused(app, shape):
    with pytest.raises(visage.ImageError, match=r"\(H, W, 3\)"):
        app.get(np.zeros(shape, np.uint8))


def test_empty_array_and_other_types_are_refused(app):
    with pytest.raises(visage.ImageError, match="empty"):
        app.get(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(visage.ImageError, match="got list"):
        app.get([[1, 2, 3]])
    with pytest.raises(visage.InvalidRequestError, match="channels"):
        app.get(np.zeros((8, 8, 3), np.uint8), channels="bgra")


def test_a_missing_file_and_a_non_image_raise_image_error(app, tmp_path):
    with pytest.raises(visage.ImageError) as e:
        app.get(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(e.value) and e.value.code == "invalid_image"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(visage.ImageError):
        app.get(junk)
    with pytest.raises(visage.ImageError):
        visage.imread(junk)


def test_a_blank_image_has_no_faces(app):
    assert app.get(np.full((240, 320, 3), 128, np.uint8)) == []
