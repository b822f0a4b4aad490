"""slim-style preprocessing against values derived by hand and in numpy, never from the module.

Geometry: crop windows and resized sizes are worked out here from slim's definitions (smaller
side to 256 rounded to nearest, central window with the odd pixel at the end, central 87.5% box
starting at floor(side / 16), crop-or-pad centred); resampling is checked against a numpy
implementation of TF 1.x's bilinear resize (source coordinate = output index * in / out, no
half-pixel centres, clamped at the last row/column). Training paths are checked on images whose
pixel values encode their own position, so each random crop and flip can be read off the output.
"""
import numpy as np
import pytest

from tlslim import data
from tlslim.compat import tf
from tlslim.data import slim_preprocessing as sp
from tlslim.errors import TlslimError

MEANS = np.array([123.68, 116.78, 103.94])


def _run(tensor, feed=None):
    with tf.Session() as sess:
        return sess.run(tensor, feed)


def _known(h, w):
    """uint8 [h, w, 3] with distinct values per channel position."""
    r, c = np.mgrid[0:h, 0:w]
    return np.stack([r * w + c, 255 - (r * w + c), (r * 7 + c * 3) % 256], -1).astype(np.uint8)


def _bilinear(img, out_h, out_w):
    """TF 1.x resize_bilinear(align_corners=False, half_pixel_centers=False) in numpy."""
    img = img.astype(np.float64)
    in_h, in_w = img.shape[:2]

    def axis(out, size):
        # TF computes the source coordinate in float32; so does this, to compare tightly.
        src = (np.arange(out, dtype=np.float32) * np.float32(size / out)).astype(np.float64)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, size - 1), src - lo

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bottom = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def _standardize(x):
    x = x.astype(np.float64)
    return (x - x.mean()) / max(x.std(), 1.0 / np.sqrt(x.size))


def _eval(image, h, w, style, **kwargs):
    """Run the eval preprocessing twice: static shape, and [None, None, 3] fed at run time."""
    with tf.Graph().as_default():
        static = sp.preprocess_image(tf.constant(image), h, w, False, style, **kwargs)
        ph = tf.placeholder(tf.as_dtype(image.dtype), [None, None, 3])
        dynamic = sp.preprocess_image(ph, h, w, False, style, **kwargs)
        assert static.shape.as_list() == dynamic.shape.as_list() == [h, w, 3]
        a, b = _run([static, dynamic], {ph: image})
    np.testing.assert_array_equal(a, b)
    return a


def test_aspect_preserving_size_rounds_to_nearest():
    # (h, w, side) -> the smaller side becomes `side`, the other h*side/min or w*side/min rounded.
    cases = {(3, 5, 4): (4, 7),          # 5 * 4/3 = 6.67 -> 7 (truncation would give 6)
             (5, 3, 4): (7, 4),
             (37, 53, 256): (256, 367),  # 53 * 256/37 = 366.70
             (300, 41, 256): (1873, 256),  # 300 * 256/41 = 1873.17
             (6, 10, 6): (6, 10), (4, 4, 8): (8, 8)}
    with tf.Graph().as_default():
        got = _run({k: sp.aspect_preserving_size(*k) for k in cases})
    assert {k: tuple(int(v) for v in got[k]) for k in cases} == cases


def test_vgg_eval_is_a_central_window_minus_means_when_no_resampling_happens():
    img = _known(6, 10)
    # resize_side 6 = the smaller side: no resampling; window 4x4 at ((6-4)/2, (10-4)/2) = (1, 3).
    np.testing.assert_allclose(_eval(img, 4, 4, "vgg", resize_side_min=6), img[1:5, 3:7] - MEANS, atol=1e-4)
    # 4x6 window: (1, 2); odd margins put the extra row/column at the end: 3x3 of 4x6 at (0, 1).
    np.testing.assert_allclose(_eval(img, 4, 6, "vgg", resize_side_min=6), img[1:5, 2:8] - MEANS, atol=1e-4)
    small = _known(4, 6)
    np.testing.assert_allclose(_eval(small, 3, 3, "vgg", resize_side_min=4), small[0:3, 1:4] - MEANS, atol=1e-4)
    # An exact 2x upsampling of a 4x6 image to 8x12, window 6x6 at (1, 3).
    np.testing.assert_allclose(_eval(small, 6, 6, "vgg", resize_side_min=8),
                               _bilinear(small, 8, 12)[1:7, 3:9] - MEANS, atol=1e-3)


@pytest.mark.parametrize("h,w,resized,offset", [(37, 53, (256, 367), (16, 71)), (300, 41, (1873, 256), (824, 16))])
def test_vgg_eval_default_resizes_the_smaller_side_to_256_and_crops_the_centre(h, w, resized, offset):
    img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    expected = _bilinear(img, *resized)[offset[0]:offset[0] + 224, offset[1]:offset[1] + 224] - MEANS
    np.testing.assert_allclose(_eval(img, 224, 224, "vgg"), expected, atol=1e-3)


def test_inception_eval_is_the_central_87_5_percent_resized_and_scaled():
    img = _known(16, 32)
    # 87.5% box of 16x32 starts at (floor(16/16), floor(32/16)) = (1, 2), size 14x28: no resampling.
    np.testing.assert_allclose(_eval(img, 14, 28, "inception"), img[1:15, 2:30] / 255.0 * 2 - 1, atol=1e-6)
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    # 37x53: box from (2, 3), size 33x47, then bilinear to 224x224.
    expected = _bilinear(photo[2:35, 3:50], 224, 224) / 255.0 * 2 - 1
    got = _eval(photo, 224, 224, "inception")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Floats on the [0, 255] scale give the same as uint8.
    np.testing.assert_allclose(_eval(photo.astype(np.float32), 224, 224, "inception"), got, atol=1e-6)


def _crop_or_pad(img, h, w):
    """Centred crop where the image is larger, centred zero padding where it is smaller."""
    out = np.zeros((h, w, 3))
    ih, iw = img.shape[:2]
    sy, sx = max((ih - h) // 2, 0), max((iw - w) // 2, 0)  # crop offsets
    py, px = max((h - ih) // 2, 0), max((w - iw) // 2, 0)  # pad offsets
    ch, cw = min(ih, h), min(iw, w)
    out[py:py + ch, px:px + cw] = img[sy:sy + ch, sx:sx + cw]
    return out


def test_crop_or_pad_by_hand():
    canvas = _crop_or_pad(_known(5, 12), 8, 8)  # rows padded 1 on top, columns cropped from 2
    assert (canvas[0] == 0).all() and (canvas[6:] == 0).all()
    np.testing.assert_array_equal(canvas[1:6], _known(5, 12)[:, 2:10])


@pytest.mark.parametrize("shape", [(10, 9), (5, 6), (12, 4), (8, 8)])
def test_cifarnet_and_lenet_eval_crop_or_pad_then_normalize(shape):
    img = _known(*shape)
    canvas = _crop_or_pad(img, 8, 8)
    np.testing.assert_allclose(_eval(img, 8, 8, "lenet"), (canvas - 128) / 128, atol=1e-6)
    np.testing.assert_allclose(_eval(img, 8, 8, "cifarnet"), _standardize(canvas), atol=1e-4)


@pytest.mark.parametrize("style", sp.STYLES)
def test_run_time_shapes_on_images_of_several_sizes(style):
    """One graph on [None, None, 3], fed images of several sizes, eval and train."""
    with tf.Graph().as_default():
        ph = tf.placeholder(tf.uint8, [None, None, 3])
        outs = [sp.preprocess_image(ph, 24, 24, training, style) for training in (False, True)]
        with tf.Session() as sess:
            for shape in [(30, 41), (97, 33), (24, 24)]:
                img = np.random.default_rng(shape[0]).integers(0, 256, shape + (3,), dtype=np.uint8)
                for out in sess.run(outs, {ph: img}):
                    assert out.shape == (24, 24, 3) and out.dtype == np.float32 and np.isfinite(out).all()


def test_batches_are_preprocessed_image_by_image():
    imgs = np.random.default_rng(2).integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    with tf.Graph().as_default():
        batch = sp.preprocess_image(tf.constant(imgs), 16, 16, False, "inception")
        singles = [sp.preprocess_image(tf.constant(i), 16, 16, False, "inception") for i in imgs]
        got, want = _run([batch, singles])
    assert got.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(got, np.stack(want), atol=1e-6)


def _samples(build, n, seeded):
    """n runs of build(seed): TF's stateful draws (seed None), or stateless ones seeded [7, i]."""
    with tf.Graph().as_default():
        seed = tf.placeholder(tf.int64, [2]) if seeded else None
        out = build(seed)
        with tf.Session() as sess:
            return [sess.run(out, {seed: [7, i]} if seeded else None) for i in range(n)]


# Each training distribution is checked with TF's stateful draws (slim's) and with a seed (the
# stateless draws tlslim's input pipeline uses).
SEEDED = pytest.mark.parametrize("seeded", [False, True], ids=["stateful", "seeded"])


@SEEDED
def test_vgg_train_samples_the_side_in_256_512_and_crops_inside_the_resized_image(seeded):
    # 8x8 image: red = 16 * column, green = 16 * row. Resized to s x s, output column j reads
    # source column j * 8 / s, so red = 128 j / s until the last source column: a crop at offset o
    # starts at 128 o / s and rises 128 / s per column; a flipped crop runs the other way.
    r, c = np.mgrid[0:8, 0:8]
    img = np.stack([16 * c, 16 * r, np.zeros_like(r)], -1).astype(np.uint8)
    samples = _samples(lambda seed: sp.preprocess_image(tf.constant(img), 224, 224, True, "vgg", seed=seed)
                       + MEANS.astype(np.float32), 120, seeded)
    sides, offsets, flips = [], [], 0
    for x in samples:
        np.testing.assert_allclose(x[..., 2], 0.0, atol=1e-4)
        red, green = x[0, :, 0].astype(np.float64), x[:, 0, 1].astype(np.float64)
        if red[0] > red[-1]:
            flips += 1
            red = red[::-1]
        assert (np.diff(green) >= -1e-4).all()  # never flipped upside down
        side = 128 * 128 / (red[128] - red[0])
        assert side == pytest.approx(128 * 128 / (green[128] - green[0]), abs=0.05)  # aspect kept
        assert abs(side - round(side)) < 0.05 and 256 <= round(side) <= 512
        side = round(side)
        for start in (red[0], green[0]):
            o = start * side / 128
            assert abs(o - round(o)) < 0.05 and 0 <= round(o) <= side - 224  # inside the resized image
            offsets.append(round(o))
        sides.append(side)
    assert min(sides) < 300 and max(sides) > 470 and len(set(sides)) > 50
    assert 0.25 < flips / len(samples) < 0.75 and len(set(offsets)) > 30


@SEEDED
def test_distorted_bounding_box_crop_uses_slims_constraints(seeded):
    r, c = np.mgrid[0:60, 0:80]
    img = np.stack([r, c, np.zeros_like(r)], -1).astype(np.float32)
    crops = _samples(lambda seed: sp.distorted_bounding_box_crop(tf.constant(img), draws=sp.Draws(seed)), 200, seeded)
    areas, corners = [], set()
    for x in crops:
        h, w = x.shape[:2]
        top, left = int(x[0, 0, 0]), int(x[0, 0, 1])
        np.testing.assert_array_equal(x, img[top:top + h, left:left + w])  # a window of the image
        areas.append(h * w / img[..., 0].size)
        corners.add((top, left))
        if (h, w) != (60, 80):  # the whole image is the fallback after 100 failed attempts
            assert 0.7 <= w / h <= 1.4  # aspect ratio range (0.75, 1.33), up to rounding
            assert 0.1 - 1e-9 <= areas[-1] <= 1.0  # min_object_covered 0.1 of the whole-image box
    assert min(areas) < 0.3 and max(areas) > 0.6 and len(corners) > 50


@SEEDED
def test_inception_train_output_in_range_and_brightness_as_distort_color(seeded):
    gray = np.full((50, 70, 3), 128, np.uint8)  # crops, resizing, flips and saturation keep it gray
    photo = np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    grays = _samples(lambda seed: sp.preprocess_image(tf.constant(gray), 32, 32, True, "inception", seed=seed),
                     100, seeded)
    photos = _samples(lambda seed: [sp.preprocess_image(tf.constant(photo), 32, 32, True, "inception", seed=seed),
                                    sp.preprocess_image(tf.constant(photo), 32, 32, True, "inception",
                                                        fast_mode=False, seed=seed)], 20, seeded)
    deltas = []
    for x in grays:
        assert x.shape == (32, 32, 3) and np.ptp(x) < 1e-5
        deltas.append((x[0, 0, 0] + 1) / 2 - 128 / 255)
    deltas = np.array(deltas)
    assert np.abs(deltas).max() <= 32 / 255 + 1e-5 and deltas.min() < -0.06 and deltas.max() > 0.06
    for pair in photos:
        for x in pair:
            assert x.shape == (32, 32, 3) and x.min() >= -1 and x.max() <= 1
    assert len({float(x[0].sum()) for x in photos}) == len(photos)


@SEEDED
def test_cifarnet_train_is_a_padded_crop_maybe_flipped_then_standardized(seeded):
    # Equal channels make brightness and contrast one affine map of all pixels, which the
    # per-image standardization undoes: the output is the standardized crop window itself.
    r, c = np.mgrid[0:32, 0:32]
    img = np.repeat(((r * 32 + c) / 4.0)[..., None], 3, -1).astype(np.float32)
    padded = np.pad(img, [(4, 4), (4, 4), (0, 0)])
    candidates = {(dy, dx, f): _standardize(padded[dy:dy + 32, dx:dx + 32][:, ::-1] if f else
                                            padded[dy:dy + 32, dx:dx + 32])
                  for dy in range(9) for dx in range(9) for f in (0, 1)}
    samples = _samples(lambda seed: sp.preprocess_image(tf.constant(img), 32, 32, True, "cifarnet", seed=seed), 100,
                       seeded)
    seen = []
    for x in samples:
        matches = [k for k, v in candidates.items() if np.abs(x - v).max() < 2e-3]
        assert len(matches) == 1
        seen.append(matches[0])
    assert len(set(seen)) > 40 and 0.25 < np.mean([f for _, _, f in seen]) < 0.75


def test_lenet_training_is_its_evaluation():
    img = _known(10, 9)
    with tf.Graph().as_default():
        got = _run(sp.preprocess_image(tf.constant(img), 8, 8, True, "lenet"))
    np.testing.assert_allclose(got, (_crop_or_pad(img, 8, 8) - 128) / 128, atol=1e-6)


def test_squash_keeps_the_whole_image_as_tlslim_preprocess_does():
    img = _known(8, 8)
    by_hand = {"vgg": img - MEANS, "inception": img / 255.0 * 2 - 1, "lenet": (img - 128.0) / 128,
               "cifarnet": _standardize(img)}
    for style, expected in by_hand.items():  # at the output size nothing is resampled
        np.testing.assert_allclose(_eval(img, 8, 8, style, geometry="squash"), expected, atol=1e-4)
    photo = np.random.default_rng(4).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    for style in sp.STYLES:
        with tf.Graph().as_default():
            today = data.preprocess(tf.constant(photo), style, 32, is_training=False)
            got, want = _run([sp.preprocess_image(tf.constant(photo), 32, 32, False, style, geometry="squash"),
                              today])
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_bad_arguments_are_one_line_errors():
    with tf.Graph().as_default():
        image = tf.zeros([8, 8, 3], tf.uint8)
        with pytest.raises(TlslimError, match="unknown slim preprocessing style 'per_channel_mean'"):
            sp.preprocess_image(image, 4, 4, False, "per_channel_mean")
        with pytest.raises(TlslimError, match="unknown geometry 'stretch'"):
            sp.preprocess_image(image, 4, 4, False, "vgg", geometry="stretch")
        with pytest.raises(TlslimError, match=r"expected an RGB image"):
            sp.preprocess_image(tf.zeros([8, 8], tf.uint8), 4, 4, False, "vgg")
