"""Preprocessing styles (TF ops): resize, training augmentation, then per-style normalization.

    x = preprocess(images, 'vgg', image_size=224, is_training=True)

Input: uint8 or float in [0, 255], one image [H, W, 3] or a batch [B, H, W, 3]. Steps:
1. resize to image_size x image_size (bilinear, antialiased when shrinking; a no-op at the
   native size, so 32 keeps CIFAR as it is and 224 upsamples it as the course notebook does);
2. augmentation (default: on when is_training): zero-pad by round(4 * image_size / 32) pixels,
   take a random image_size crop, flip left-right with probability 1/2, independently per image;
3. normalization by style, each net's release style as in slim's preprocessing_factory:
   'vgg'        RGB in [0, 255] minus the ImageNet channel means (123.68, 116.78, 103.94)
   'inception'  scaled to [-1, 1]
   'cifarnet'   per-image standardization (tf.image.per_image_standardization)
   'lenet'      (x - 128) / 128
   and the per-dataset choices discussed in the lecture, which need `stats=compute_stats(train)`:
   'per_channel_mean'  minus the dataset's per-channel mean
   'per_channel_std'   minus the per-channel mean, divided by the per-channel std
   'mean_image'        minus the dataset's mean image (resized to image_size)

That is geometry 'squash' (the whole image, tlslim's augmentation). Geometry 'slim' hands the
four release styles to `tlslim.data.slim_preprocessing`: research/slim's crops and scales, and in
training (when augmenting) its random crops, scales, flips and colour changes. `choose_geometry`
turns the user's 'auto' into one of the two for a dataset.
"""
import dataclasses

import numpy as np

from tlslim.compat import tf
from tlslim.data import slim_preprocessing
from tlslim.errors import TlslimError

VGG_MEANS = (123.68, 116.78, 103.94)
STYLES = ("vgg", "inception", "cifarnet", "lenet", "per_channel_mean", "per_channel_std", "mean_image")
STATS_STYLES = ("per_channel_mean", "per_channel_std", "mean_image")
GEOMETRIES = ("auto", "slim", "squash")


@dataclasses.dataclass
class Stats:
    """Dataset statistics on the [0, 255] scale: mean, std float32 [3]; mean_image float32 [H,W,3]."""
    mean: np.ndarray
    std: np.ndarray
    mean_image: np.ndarray


def compute_stats(dataset, chunk=4096):
    """Per-channel mean and (population) std, and the mean image, of a Dataset's images."""
    images = getattr(dataset, "images", None)
    if images is None:
        raise TlslimError(f"the per-dataset preprocessing styles need the training images in memory; "
                          f"{dataset.name}'s TFRecords are streamed: use the net's own preprocessing.")
    n = len(images)
    if n == 0:
        raise TlslimError(f"cannot compute statistics of the empty dataset {dataset.name}.")
    total = np.zeros(images.shape[1:], np.float64)
    sq = np.zeros(3, np.float64)
    for start in range(0, n, chunk):
        block = images[start:start + chunk].astype(np.float64)
        total += block.sum(axis=0)
        sq += np.square(block).sum(axis=(0, 1, 2))
    mean_image = total / n
    pixels = n * images.shape[1] * images.shape[2]
    mean = mean_image.sum(axis=(0, 1)) / (images.shape[1] * images.shape[2])
    std = np.sqrt(np.maximum(sq / pixels - np.square(mean), 0.0))
    return Stats(mean.astype(np.float32), std.astype(np.float32), mean_image.astype(np.float32))


def padding_for(image_size):
    """Augmentation padding in pixels: 4 at 32, scaled with the image size."""
    return int(round(4 * image_size / 32.0))


def _uniform(shape, maxval, seed, salt):
    if seed is None:
        return tf.random.uniform(shape, 0, maxval, dtype=tf.int32)
    seed = tf.cast(seed, tf.int64) + tf.constant([0, salt], tf.int64) * (1 << 20)
    return tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=maxval, dtype=tf.int32)


def augment_batch(images, pad, seed=None):
    """Random pad-and-crop and left-right flip of a float batch [B, S, S, 3], per image.

    `seed` None uses TF's stateful random ops; a [2] integer tensor makes it a pure function of
    the seed (stateless ops), as the input pipeline does.
    """
    size = tf.shape(images)[1]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = _uniform([batch, 2], 2 * pad + 1, seed, 1)
    rows = offsets[:, :1] + tf.range(size)[None, :]  # [B, S]
    cols = offsets[:, 1:] + tf.range(size)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, S, S+2p, 3]
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)  # [B, S, S, 3]
    flip = tf.equal(_uniform([batch], 2, seed, 2), 1)
    return tf.compat.v2.where(flip[:, None, None, None], tf.reverse(cropped, axis=[2]), cropped)


def normalize(images, style, stats=None):
    """Apply the normalization of `style` to a float batch [B, S, S, 3] on the [0, 255] scale."""
    if style not in STYLES:
        raise TlslimError(f"unknown preprocessing style '{style}'; known styles: {', '.join(STYLES)}.")
    if style in STATS_STYLES and stats is None:
        raise TlslimError(f"preprocessing style '{style}' needs dataset statistics; pass "
                          "stats=tlslim.data.compute_stats(train_dataset).")
    if style == "vgg":
        return images - tf.constant(VGG_MEANS, tf.float32)
    if style == "inception":
        return (images / 255.0 - 0.5) * 2.0
    if style == "cifarnet":
        return tf.image.per_image_standardization(images)
    if style == "lenet":
        return (images - 128.0) / 128.0
    if style == "per_channel_mean":
        return images - tf.constant(stats.mean, tf.float32)
    if style == "per_channel_std":
        return (images - tf.constant(stats.mean, tf.float32)) / tf.constant(np.maximum(stats.std, 1e-6), tf.float32)
    # mean_image
    mean_image = tf.constant(stats.mean_image, tf.float32)
    size = images.shape[1]
    if size is None or int(size) != stats.mean_image.shape[0] or int(images.shape[2]) != stats.mean_image.shape[1]:
        mean_image = _resize(mean_image[None], tf.shape(images)[1:3])[0]
    return images - mean_image


def _resize(images, size):
    return tf.compat.v2.image.resize(images, size, method="bilinear", antialias=True)


def choose_geometry(geometry, style, image_shape, image_size):
    """'slim' or 'squash' for images of `image_shape` ([H, W]; None when known only at run time)
    at `image_size` under `style`; TlslimError for a geometry that cannot apply. 'auto' is 'slim'
    for the styles that rescale (vgg, inception) when the images are larger than the input, else
    'squash': small images such as CIFAR-10's keep the whole picture, cifarnet's and lenet's
    crop-or-pad would cut a window out of a large image, and the per-dataset styles have no slim
    geometry."""
    if style not in STYLES:
        raise TlslimError(f"unknown preprocessing style '{style}'; known styles: {', '.join(STYLES)}.")
    if geometry not in GEOMETRIES:
        raise TlslimError(f"--geometry must be one of {', '.join(GEOMETRIES)}, got '{geometry}'.")
    # slim's vgg crop comes from the image resized to a smaller side of 256 (at evaluation).
    vgg_fits = style != "vgg" or image_size <= slim_preprocessing.RESIZE_SIDE_MIN
    if geometry == "slim":
        if style not in slim_preprocessing.STYLES:
            raise TlslimError(f"--geometry slim applies research/slim's preprocessing, which has no style "
                              f"'{style}'; use one of {', '.join(slim_preprocessing.STYLES)}, or --geometry squash.")
        if not vgg_fits:
            raise TlslimError(f"slim's vgg preprocessing crops {image_size}x{image_size} from the image resized to "
                              f"a smaller side of {slim_preprocessing.RESIZE_SIDE_MIN}; use --image_size "
                              f"{slim_preprocessing.RESIZE_SIDE_MIN} or less, or --geometry squash.")
    if geometry != "auto":
        return geometry
    larger = image_shape is None or any(d is None or int(d) > image_size for d in image_shape)
    return "slim" if style in ("vgg", "inception") and vgg_fits and larger else "squash"


def preprocess(images, style, image_size, is_training, stats=None, augment=None, seed=None, geometry="squash"):
    """Resize, augment (default: when is_training) and normalize `images`; see the module doc.

    Returns float32 [B, image_size, image_size, 3] for a batch, [image_size, image_size, 3] for
    one image. `seed`: None for stateful random augmentation, or a [2] integer tensor.
    `geometry`: 'squash' or 'slim' (see choose_geometry for 'auto').
    """
    if style not in STYLES:
        raise TlslimError(f"unknown preprocessing style '{style}'; known styles: {', '.join(STYLES)}.")
    augment = is_training if augment is None else augment
    if choose_geometry(geometry, style, None, image_size) == "slim":
        # slim's is_training means its random crops and distortions: tlslim's augment.
        return slim_preprocessing.preprocess_image(images, image_size, image_size, bool(augment), style, seed=seed)
    images = tf.convert_to_tensor(images)
    single = images.shape.rank == 3
    if single:
        images = images[None]
    x = tf.cast(images, tf.float32)
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None or int(h) != image_size or int(w) != image_size:
        x = _resize(x, [image_size, image_size])
    if augment:
        x = augment_batch(x, padding_for(image_size), seed)
    x = normalize(x, style, stats)
    x.set_shape([None, image_size, image_size, 3])
    return x[0] if single else x
