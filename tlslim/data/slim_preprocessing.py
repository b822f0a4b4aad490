"""research/slim's preprocessing, per style, on single images of any size (TF ops).

    x = preprocess_image(image, 224, 224, is_training=False, style='vgg')

This is what the release checkpoints were trained and evaluated with; `tlslim.data.preprocess`
(squash-resize, pad-crop-flip, normalize) is what tlslim's own training and evaluation on
in-memory datasets use. Input: one image [H, W, 3] (H and W may be known only at run time, as
`tf.io.decode_jpeg` gives them) or a batch [B, H, W, 3] of equal-sized images, uint8 or float on
the [0, 255] scale (slim's inception functions take floats in [0, 1]; here floats are on the same
scale as uint8 in every style). Output: float32 [output_height, output_width, 3] (or a batch).

Styles (slim's preprocessing_factory maps each net to one):
  'vgg'        eval: resize keeping the aspect ratio so the smaller side is `resize_side_min`
               (256; sides rounded to nearest), central crop, minus the channel means.
               train: smaller side uniform in [resize_side_min, resize_side_max] = [256, 512],
               random crop, random left-right flip, minus the channel means.
  'inception'  eval: central crop of `central_fraction` (0.875) of each side, bilinear resize,
               scale to [-1, 1]. train: distorted bounding box crop, resize (bilinear when
               `fast_mode`, else one of four methods at random), random flip, colour distortion
               (`distort_color`), scale to [-1, 1].
  'cifarnet'   eval: crop or pad to the output size, per-image standardization. train: zero-pad
               by `padding` (4), random crop, flip, random brightness (63) and contrast
               (0.2, 1.8), per-image standardization.
  'lenet'      crop or pad to the output size, then (x - 128) / 128 (no augmentation).
Resizing is TF 1.x's bilinear (align_corners=False, no half-pixel centres), as slim ran it.
As in slim, a window that does not fit is a run-time error: vgg with an output side above
resize_side_min (256), cifarnet training on an image smaller than the output minus 2 * padding.
slim's cifarnet and lenet pass (width, height) to crop-or-pad; here it is (height, width), the
same for the square sizes slim used.

geometry='squash' replaces the style's crop/resize by resizing the whole image to the output
size (bilinear, antialiased, as `tlslim.data.preprocess` does); the style's other steps remain.

Randomness: with `seed=None` the training draws are TF's stateful random ops, seeded from the
graph seed as slim's were. A `seed` ([2] integers) makes them stateless ops, a pure function of
the seed (and of each image's place in a batch), with the same distributions: that is how the
input pipeline keeps a run's augmentation reproducible.
"""
from tlslim.compat import tf
from tlslim.errors import TlslimError

STYLES = ("vgg", "inception", "cifarnet", "lenet")
GEOMETRIES = ("slim", "squash")

VGG_MEANS = (123.68, 116.78, 103.94)
RESIZE_SIDE_MIN = 256
RESIZE_SIDE_MAX = 512
CENTRAL_FRACTION = 0.875
CIFARNET_PADDING = 4


def _legacy_resize(image, size, method=0):
    """TF 1.x resize_images of one image [H, W, C] to `size` (align_corners=False, no half-pixel
    centres); method 0 bilinear, 1 nearest, 2 bicubic, 3 area, as tf.image.ResizeMethod was
    numbered. The raw ops are the ones TF 1.x ran, without its deprecation warnings."""
    op = (tf.raw_ops.ResizeBilinear, tf.raw_ops.ResizeNearestNeighbor, tf.raw_ops.ResizeBicubic,
          tf.raw_ops.ResizeArea)[method]
    kwargs = {} if method == 3 else {"half_pixel_centers": False}
    resized = op(images=image[None], size=tf.cast(size, tf.int32), align_corners=False, **kwargs)[0]
    resized.set_shape([None, None, image.shape[-1]])
    return tf.cast(resized, tf.float32)


def _legacy_bilinear(image, size):
    return _legacy_resize(image, size, 0)


def _to_float255(image):
    return tf.cast(image, tf.float32)


def _to_unit(image):
    """[0, 255] (uint8 or float) to float32 [0, 1]; uint8 exactly as convert_image_dtype does."""
    if image.dtype == tf.uint8:
        return tf.image.convert_image_dtype(image, tf.float32)
    return tf.cast(image, tf.float32) * (1.0 / 255.0)


def aspect_preserving_size(height, width, smallest_side):
    """(new_height, new_width) int32 tensors: the smaller side becomes `smallest_side`, the
    other keeps the aspect ratio, rounded to nearest (slim's _smallest_size_at_least)."""
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    side = tf.cast(smallest_side, tf.float32)
    scale = tf.where(height > width, side / width, side / height)
    return (tf.cast(tf.math.rint(height * scale), tf.int32),
            tf.cast(tf.math.rint(width * scale), tf.int32))


def aspect_preserving_resize(image, smallest_side):
    """Bilinear resize of [H, W, 3] so its smaller side is `smallest_side`; float32 out."""
    shape = tf.shape(image)
    new_height, new_width = aspect_preserving_size(shape[0], shape[1], smallest_side)
    resized = _legacy_bilinear(image, tf.stack([new_height, new_width]))
    resized.set_shape([None, None, 3])
    return resized


def _crop(image, offset_height, offset_width, crop_height, crop_width):
    """The [crop_height, crop_width] window at the offsets; a run-time error when it does not fit
    (slim asserts the same instead of padding)."""
    shape = tf.shape(image)
    fits = tf.debugging.Assert(tf.logical_and(shape[0] >= crop_height, shape[1] >= crop_width),
                               ["Crop size greater than the image size:", shape, crop_height, crop_width])
    with tf.control_dependencies([fits]):
        begin = tf.stack([tf.cast(offset_height, tf.int32), tf.cast(offset_width, tf.int32), 0])
        cropped = tf.slice(image, begin, tf.stack([crop_height, crop_width, shape[2]]))
    cropped.set_shape([crop_height, crop_width, image.shape[2]])
    return cropped


def central_crop_window(image, crop_height, crop_width):
    """The central [crop_height, crop_width] window; odd margins leave the extra pixel at the end."""
    shape = tf.shape(image)
    return _crop(image, (shape[0] - crop_height) // 2, (shape[1] - crop_width) // 2, crop_height, crop_width)


class Draws:
    """The random draws of one image's preprocessing: TF's stateful random ops when `seed` is
    None, else stateless ones, each seeded by `seed` folded with its turn (a pure function of it)."""

    def __init__(self, seed=None):
        self.seed = None if seed is None else tf.cast(seed, tf.int64)
        self.turn = 0

    def _next(self):
        self.turn += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.turn)

    def integer(self, low, high):
        """A scalar int32 uniform in [low, high)."""
        if self.seed is None:
            return tf.random.uniform([], low, high, dtype=tf.int32)
        return tf.random.stateless_uniform([], self._next(), low, high, dtype=tf.int32)

    def flip(self, image):
        if self.seed is None:
            return tf.image.random_flip_left_right(image)
        return tf.compat.v2.image.stateless_random_flip_left_right(image, self._next())

    def _adjust(self, name, image, *args):
        if self.seed is None:
            return getattr(tf.image, f"random_{name}")(image, *args)
        return getattr(tf.compat.v2.image, f"stateless_random_{name}")(image, *args, seed=self._next())

    def brightness(self, image, max_delta):
        return self._adjust("brightness", image, max_delta)

    def contrast(self, image, lower, upper):
        return self._adjust("contrast", image, lower, upper)

    def saturation(self, image, lower, upper):
        return self._adjust("saturation", image, lower, upper)

    def hue(self, image, max_delta):
        return self._adjust("hue", image, max_delta)

    def crop(self, image, size):
        if self.seed is None:
            return tf.image.random_crop(image, size)
        return tf.compat.v2.image.stateless_random_crop(image, size, self._next())

    def bounding_box(self, image_size, bbox, **kwargs):
        """(begin, size) of a window from sample_distorted_bounding_box's op."""
        bbox = tf.convert_to_tensor(bbox, tf.float32)
        kwargs.update(min_object_covered=tf.constant(kwargs["min_object_covered"], tf.float32),
                      aspect_ratio_range=list(kwargs["aspect_ratio_range"]), area_range=list(kwargs["area_range"]),
                      use_image_if_no_bounding_boxes=True)
        if self.seed is None:
            # The op tf.image.sample_distorted_bounding_box runs, seeded the same way (graph
            # seed, if any), without the deprecation warning its TF 1.x wrapper logs.
            seed, seed2 = tf.get_seed(None)
            begin, size, _ = tf.raw_ops.SampleDistortedBoundingBoxV2(
                image_size=image_size, bounding_boxes=bbox, seed=seed or 0, seed2=seed2 or 0, **kwargs)
        else:
            begin, size, _ = tf.raw_ops.StatelessSampleDistortedBoundingBox(
                image_size=image_size, bounding_boxes=bbox, seed=self._next(), **kwargs)
        return begin, size


def random_crop_window(image, crop_height, crop_width, draws=None):
    """A [crop_height, crop_width] window at offsets uniform over every position that fits."""
    draws = draws or Draws()
    shape = tf.shape(image)
    # max(.., 1) only keeps the draw valid; _crop reports a window that does not fit.
    top = draws.integer(0, tf.maximum(shape[0] - crop_height + 1, 1))
    left = draws.integer(0, tf.maximum(shape[1] - crop_width + 1, 1))
    return _crop(image, top, left, crop_height, crop_width)


def _minus_vgg_means(image):
    return image - tf.constant(VGG_MEANS, tf.float32)


def vgg(image, output_height, output_width, is_training=False, resize_side_min=RESIZE_SIDE_MIN,
        resize_side_max=RESIZE_SIDE_MAX, geometry="slim", seed=None):
    """slim's vgg_preprocessing (vgg_*, resnet_v1_*): [0, 255] minus the channel means."""
    draws = Draws(seed)
    if geometry == "squash":
        image = squash(image, output_height, output_width)
    elif is_training:
        side = draws.integer(resize_side_min, resize_side_max + 1)
        image = random_crop_window(aspect_preserving_resize(image, side), output_height, output_width, draws)
    else:
        image = central_crop_window(aspect_preserving_resize(image, resize_side_min), output_height, output_width)
    image = _to_float255(image)
    if is_training:
        image = draws.flip(image)
    return _minus_vgg_means(image)


def distorted_bounding_box_crop(image, bbox=None, min_object_covered=0.1, aspect_ratio_range=(0.75, 1.33),
                                area_range=(0.05, 1.0), max_attempts=100, draws=None):
    """A random window of [H, W, C] from tf.image.sample_distorted_bounding_box with slim's
    parameters; `bbox` [1, N, 4] (ymin, xmin, ymax, xmax in [0, 1]), None for the whole image."""
    if bbox is None:
        bbox = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, shape=[1, 1, 4])
    begin, size = (draws or Draws()).bounding_box(
        tf.shape(image), bbox, min_object_covered=min_object_covered, aspect_ratio_range=aspect_ratio_range,
        area_range=area_range, max_attempts=max_attempts)
    cropped = tf.slice(image, begin, size)
    cropped.set_shape([None, None, image.shape[2]])
    return cropped


def _random_case(x, branches, draws):
    """branches[k](x) for k uniform in [0, len(branches)) (slim's apply_with_random_selector)."""
    if len(branches) == 1:
        return branches[0](x)
    k = draws.integer(0, len(branches))
    return tf.switch_case(k, [lambda f=f: f(x) for f in branches])


def distort_color(image, color_ordering=0, fast_mode=True, draws=None):
    """slim's distort_color of a float image in [0, 1]: brightness, saturation (and when not
    fast_mode hue and contrast) in one of four orders, clipped to [0, 1]."""
    draws = draws or Draws()
    brightness = lambda x: draws.brightness(x, 32.0 / 255.0)  # noqa: E731
    saturation = lambda x: draws.saturation(x, 0.5, 1.5)  # noqa: E731
    hue = lambda x: draws.hue(x, 0.2)  # noqa: E731
    contrast = lambda x: draws.contrast(x, 0.5, 1.5)  # noqa: E731
    if fast_mode:
        orders = {0: (brightness, saturation)}
        order = orders.get(color_ordering, (saturation, brightness))
    else:
        orders = {0: (brightness, saturation, hue, contrast), 1: (saturation, brightness, contrast, hue),
                  2: (contrast, hue, brightness, saturation), 3: (hue, saturation, contrast, brightness)}
        if color_ordering not in orders:
            raise TlslimError(f"color_ordering must be 0, 1, 2 or 3, got {color_ordering!r}.")
        order = orders[color_ordering]
    for op in order:
        image = op(image)
    return tf.clip_by_value(image, 0.0, 1.0)


def inception(image, output_height, output_width, is_training=False, bbox=None, fast_mode=True,
              central_fraction=CENTRAL_FRACTION, geometry="slim", seed=None):
    """slim's inception_preprocessing (inception_*, mobilenet_*, nasnet, resnet_v2 releases):
    [0, 1] scaled to [-1, 1]."""
    draws = Draws(seed)
    image = _to_unit(image)
    if geometry == "squash":
        image = squash(image, output_height, output_width)
    elif is_training:
        image = distorted_bounding_box_crop(image, bbox, draws=draws)
        # fast_mode: bilinear only; otherwise bilinear, nearest, bicubic or area at random.
        methods = range(1 if fast_mode else 4)
        image = _random_case(image, [lambda x, m=m: _legacy_resize(x, [output_height, output_width], m)
                                     for m in methods], draws)
    else:
        if central_fraction:
            image = tf.image.central_crop(image, central_fraction)
        if output_height and output_width:
            image = _legacy_bilinear(image, [output_height, output_width])
    if is_training:
        image = draws.flip(image)
        image = _random_case(image, [lambda x, o=o: distort_color(x, o, fast_mode, draws)
                                     for o in range(1 if fast_mode else 4)], draws)
    return (image - 0.5) * 2.0


def cifarnet(image, output_height, output_width, is_training=False, padding=CIFARNET_PADDING, geometry="slim",
             seed=None):
    """slim's cifarnet_preprocessing: per-image standardization."""
    draws = Draws(seed)
    image = _to_float255(image)
    if geometry == "squash":
        image = squash(image, output_height, output_width)
    elif not is_training:
        image = tf.image.resize_image_with_crop_or_pad(image, output_height, output_width)
    if is_training:
        # slim crops the padded image at its own size (no resize): the crop is output-sized.
        if padding > 0:
            image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
        image = draws.crop(image, [output_height, output_width, 3])
        image = draws.flip(image)
        image = draws.brightness(image, 63)
        image = draws.contrast(image, 0.2, 1.8)
    return tf.image.per_image_standardization(image)


def lenet(image, output_height, output_width, is_training=False, geometry="slim", seed=None):
    """slim's lenet_preprocessing: crop or pad, (x - 128) / 128; the same in training."""
    image = _to_float255(image)
    if geometry == "squash":
        image = squash(image, output_height, output_width)
    else:
        image = tf.image.resize_image_with_crop_or_pad(image, output_height, output_width)
    return (image - 128.0) / 128.0


def squash(image, output_height, output_width):
    """The whole image resized to [output_height, output_width] as tlslim.data.preprocess does
    (bilinear, antialiased; untouched when already that size)."""
    h, w = image.shape[0], image.shape[1]
    if h is not None and w is not None and int(h) == output_height and int(w) == output_width:
        return image
    resized = tf.compat.v2.image.resize(image, [output_height, output_width], method="bilinear", antialias=True)
    return tf.cast(resized, tf.float32)


_FUNCTIONS = {"vgg": vgg, "inception": inception, "cifarnet": cifarnet, "lenet": lenet}


def preprocess_image(image, output_height, output_width, is_training, style, geometry="slim", seed=None,
                     **kwargs):
    """`style`'s slim preprocessing of `image` (see the module doc); `seed` None (stateful random
    draws) or [2] integers (stateless, each image of a batch its own); kwargs go to the style's
    function (vgg: resize_side_min, resize_side_max; inception: bbox, fast_mode,
    central_fraction; cifarnet: padding)."""
    if style not in _FUNCTIONS:
        raise TlslimError(f"unknown slim preprocessing style '{style}'; known styles: {', '.join(STYLES)}.")
    if geometry not in GEOMETRIES:
        raise TlslimError(f"unknown geometry '{geometry}'; use 'slim' (the style's crops) or 'squash' "
                          f"(the whole image resized).")
    output_height, output_width = int(output_height), int(output_width)
    if output_height < 1 or output_width < 1:
        raise TlslimError(f"output size must be positive, got {output_height}x{output_width}.")
    image = tf.convert_to_tensor(image)
    if image.shape.rank not in (3, 4) or (image.shape[-1] is not None and int(image.shape[-1]) != 3):
        raise TlslimError(f"expected an RGB image [H, W, 3] or a batch [B, H, W, 3], got shape {image.shape}.")
    if image.shape[-1] is None:
        image.set_shape(image.shape[:-1].concatenate([3]))
    fn = _FUNCTIONS[style]

    def one(x, image_seed=None):
        out = fn(x, output_height, output_width, is_training=is_training, geometry=geometry, seed=image_seed,
                 **kwargs)
        out = tf.cast(out, tf.float32)
        out.set_shape([output_height, output_width, 3])
        return out

    if image.shape.rank == 3:
        return one(image, seed)
    # A batch: each image its own crops and random draws, as slim preprocessed before batching.
    if seed is None:
        return tf.map_fn(one, image, fn_output_signature=tf.float32)
    seed = tf.cast(seed, tf.int64)
    return tf.map_fn(lambda x: one(x[0], tf.random.experimental.stateless_fold_in(seed, x[1])),
                     (image, tf.range(tf.shape(image, out_type=tf.int64)[0])), fn_output_signature=tf.float32)

