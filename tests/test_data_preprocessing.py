"""Preprocessing styles, resizing and augmentation against numpy computations."""
import numpy as np
import pytest

from tlslim import data
from tlslim.compat import tf
from tlslim.data import preprocessing
from tlslim.errors import TlslimError

VGG_MEANS = np.array([123.68, 116.78, 103.94], np.float32)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    images[1] = 77  # a constant image: per-image std 0 exercises the 1/sqrt(N) floor
    return images


@pytest.fixture(scope="module")
def stats(batch):
    return data.compute_stats(data.Dataset(batch, np.zeros(len(batch), np.int64), ["a"], "t"))


def _run(tensor):
    with tf.Session() as sess:
        return sess.run(tensor)


def _numpy_style(x, style, stats):
    x = x.astype(np.float64)
    if style == "vgg":
        return x - VGG_MEANS
    if style == "inception":
        return x / 127.5 - 1.0
    if style == "lenet":
        return (x - 128.0) / 128.0
    if style == "cifarnet":
        n = np.prod(x.shape[1:])
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(n))
        return (x - mean) / std
    if style == "per_channel_mean":
        return x - stats.mean
    if style == "per_channel_std":
        return (x - stats.mean) / stats.std
    if style == "mean_image":
        return x - stats.mean_image
    raise AssertionError(style)


def test_compute_stats_matches_numpy(batch, stats):
    x = batch.astype(np.float64)
    np.testing.assert_allclose(stats.mean, x.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(stats.std, x.std(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(stats.mean_image, x.mean(axis=0), rtol=1e-6)
    assert stats.mean.shape == (3,) and stats.mean_image.shape == (32, 32, 3)


@pytest.mark.parametrize("style", preprocessing.STYLES)
def test_styles_match_numpy(graph, batch, stats, style):
    out = _run(data.preprocess(tf.constant(batch), style, 32, is_training=False, stats=stats))
    assert out.dtype == np.float32 and out.shape == (6, 32, 32, 3)
    # float32 arithmetic on values up to ~255 (or standardized to a few units): 1e-4 absolute
    np.testing.assert_allclose(out, _numpy_style(batch, style, stats), rtol=1e-5, atol=1e-4)


def test_inception_range_and_single_image(graph, batch):
    out = _run(data.preprocess(tf.constant(batch), "inception", 32, is_training=False))
    assert out.min() >= -1.0 and out.max() <= 1.0
    single = _run(data.preprocess(tf.constant(batch[3]), "vgg", 32, is_training=False))
    assert single.shape == (32, 32, 3)
    np.testing.assert_allclose(single, batch[3] - VGG_MEANS, atol=1e-4)


def _upsample2x(x):
    """Bilinear 2x upsampling with half-pixel centres, edge-clamped, along axes 1 and 2."""
    for axis in (1, 2):
        prev = np.concatenate([np.take(x, [0], axis), np.take(x, np.arange(x.shape[axis] - 1), axis)], axis)
        nxt = np.concatenate([np.take(x, np.arange(1, x.shape[axis]), axis), np.take(x, [-1], axis)], axis)
        even, odd = 0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt
        x = np.stack([even, odd], axis=axis + 1).reshape(
            x.shape[:axis] + (2 * x.shape[axis],) + x.shape[axis + 1:])
    return x


def test_resize_is_bilinear(graph, batch):
    out = _run(data.preprocess(tf.constant(batch), "vgg", 64, is_training=False)) + VGG_MEANS
    np.testing.assert_allclose(out, _upsample2x(batch.astype(np.float64)), atol=1e-3)
    big = data.preprocess(tf.constant(batch[:1]), "inception", 224, is_training=False)
    assert big.shape.as_list() == [1, 224, 224, 3]


def _match_crop(out, image, pad):
    """(dy, dx, flipped) of the crop of zero-padded `image` equal to `out`; None if none."""
    padded = np.pad(image.astype(np.float32), ((pad, pad), (pad, pad), (0, 0)))
    size = image.shape[0]
    found = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy:dy + size, dx:dx + size]
            for flipped, candidate in ((False, crop), (True, crop[:, ::-1])):
                if np.array_equal(out, candidate):
                    found.append((dy, dx, flipped))
    return found


def test_training_augmentation_is_padded_crop_and_flip(graph):
    rng = np.random.default_rng(1)
    images = rng.integers(1, 256, size=(48, 32, 32, 3), dtype=np.uint8)
    out = _run(data.preprocess(tf.constant(images), "vgg", 32, is_training=True))
    out = np.round(out + VGG_MEANS)  # undo the normalization; crops hold exact integers
    matches = [_match_crop(o, i, pad=4) for o, i in zip(out, images)]
    assert all(len(m) == 1 for m in matches)  # every output is exactly one crop (+ flip)
    offsets = {m[0][:2] for m in matches}
    flips = {m[0][2] for m in matches}
    assert len(offsets) > 5 and flips == {False, True}  # independent per image
    # Evaluation never augments; augment=True forces it.
    plain = _run(data.preprocess(tf.constant(images), "vgg", 32, is_training=False))
    np.testing.assert_allclose(plain + VGG_MEANS, images, atol=1e-4)
    forced = _run(data.preprocess(tf.constant(images), "vgg", 32, is_training=False, augment=True))
    assert not np.allclose(forced + VGG_MEANS, images)


def test_augmentation_padding_scales_with_size(graph):
    assert [preprocessing.padding_for(s) for s in (32, 64, 224)] == [4, 8, 28]
    image = np.full((1, 16, 16, 3), 200, np.uint8)
    # At 64 the padding is 8: up to 8 black rows or columns, and with 32 crops some exceed 4
    # (each crop stays within 4 on both axes with probability (9/17)^2; all 32: ~1e-18).
    out = _run(data.preprocess(tf.constant(np.repeat(image, 32, 0)), "vgg", 64, is_training=True))
    black = np.isclose(out + VGG_MEANS, 0, atol=1e-3).all(axis=-1)  # [32, 64, 64]
    black_rows = black.all(axis=2).sum(axis=1)
    black_cols = black.all(axis=1).sum(axis=1)
    assert 4 < max(black_rows.max(), black_cols.max()) <= 8
    assert np.isclose(out + VGG_MEANS, 200, atol=1e-3).all(axis=-1).sum() == (~black).sum()


def test_stateless_seed_is_deterministic(graph):
    images = tf.constant(np.random.default_rng(2).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    a = data.preprocess(images, "cifarnet", 32, True, seed=tf.constant([5, 1], tf.int64))
    b = data.preprocess(images, "cifarnet", 32, True, seed=tf.constant([5, 1], tf.int64))
    c = data.preprocess(images, "cifarnet", 32, True, seed=tf.constant([5, 2], tf.int64))
    a, b, c = _run([a, b, c])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_errors(graph, batch):
    with pytest.raises(TlslimError, match="unknown preprocessing style 'imagenet'; known styles: vgg"):
        data.preprocess(tf.constant(batch), "imagenet", 32, False)
    with pytest.raises(TlslimError, match="'per_channel_std' needs dataset statistics"):
        data.preprocess(tf.constant(batch), "per_channel_std", 32, False)


def test_mean_image_resized_to_image_size(graph, batch, stats):
    out = _run(data.preprocess(tf.constant(batch), "mean_image", 64, is_training=False, stats=stats))
    expected = _upsample2x(batch.astype(np.float64)) - _upsample2x(stats.mean_image[None].astype(np.float64))
    np.testing.assert_allclose(out, expected, atol=1e-3)


# ---------------------------------------------------------------- geometry: the whole image or slim's crops

@pytest.mark.parametrize("style, shape, size, expected", [
    ("cifarnet", (32, 32), 32, "squash"),      # CIFAR-10 at its own size: as always
    ("vgg", (32, 32), 224, "squash"),          # small images are upsampled whole
    ("vgg", (224, 224), 224, "squash"),        # nothing to crop
    ("vgg", (300, 400), 224, "slim"),          # larger: slim's resize and central crop
    ("inception", (256, 200), 224, "slim"),
    ("inception", None, 299, "slim"),          # sizes known only at run time
    ("vgg", (300, 400), 257, "squash"),        # slim's vgg crop needs a side of at most 256
    ("cifarnet", (224, 224), 32, "squash"),    # crop-or-pad would cut a 32x32 window out
    ("lenet", (64, 64), 28, "squash"),
    ("per_channel_mean", (64, 64), 32, "squash"),
])
def test_auto_geometry(style, shape, size, expected):
    assert data.choose_geometry("auto", style, shape, size) == expected
    assert data.choose_geometry("squash", style, shape, size) == "squash"


def test_geometry_errors_are_one_line():
    assert data.choose_geometry("slim", "cifarnet", (224, 224), 32) == "slim"  # asked for: crop-or-pad
    for args, text in [(("slim", "per_channel_std", None, 32), "has no style 'per_channel_std'"),
                       (("slim", "vgg", None, 299), "use --image_size 256 or less, or --geometry squash"),
                       (("crop", "vgg", None, 224), "--geometry must be one of auto, slim, squash, got 'crop'"),
                       (("auto", "nope", None, 224), "unknown preprocessing style 'nope'")]:
        with pytest.raises(TlslimError, match=text) as err:
            data.choose_geometry(*args)
        assert "\n" not in str(err.value)


def test_slim_geometry_evaluation_is_the_central_window(graph):
    """vgg at 224 on 256x256 images: slim's smaller-side resize to 256 is the identity, so the
    result is the central 224x224 window (offset 16) minus the channel means, by hand."""
    images = np.random.default_rng(3).integers(0, 256, size=(2, 256, 256, 3), dtype=np.uint8)
    out = _run(data.preprocess(images, "vgg", 224, is_training=False, geometry="slim"))
    np.testing.assert_allclose(out, images[:, 16:240, 16:240].astype(np.float32) - VGG_MEANS, atol=1e-4)
    # 'auto' picks the same for images larger than the input.
    out_auto = _run(data.preprocess(images, "vgg", 224, is_training=False, geometry="auto"))
    np.testing.assert_array_equal(out_auto, out)


def test_slim_geometry_training_is_a_pure_function_of_the_seed(graph):
    """cifarnet's slim training (pad 4, random 32x32 crop, flip, brightness, contrast) with a seed:
    the same seed gives the same batch, another seed another one, and images of a batch differ
    in their draws (two equal images come out different)."""
    images = np.repeat(np.random.default_rng(4).integers(0, 256, size=(1, 32, 32, 3), dtype=np.uint8), 4, axis=0)
    seed = tf.placeholder(tf.int64, [2])
    out = data.preprocess(images, "cifarnet", 32, is_training=True, seed=seed, geometry="slim")
    with tf.Session() as sess:
        a, b, c = (sess.run(out, {seed: s}) for s in ([1, 2], [1, 2], [1, 3]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert all(not np.array_equal(a[0], a[i]) for i in range(1, 4))
    # per-image standardization: each image mean 0, std 1
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(a.std(axis=(1, 2, 3)), 1.0, atol=1e-3)
