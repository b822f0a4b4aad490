"""A procedurally generated transfer-learning problem (SYNTHETIC images, shipped as code).

Two tasks over one visual vocabulary of 6 shapes x 5 surface patterns:

    shapes   disk, square, triangle, cross, star, bar
    patterns solid, stripes, checker, dots, speckle

Each of the 30 (shape, pattern) combinations is a class "<shape>_<pattern>". The 10 combinations
with (shape index + pattern index) % 3 == 0 form the TARGET task `synthetic` (what the embedded
default fine-tunes on); the other 20 form the SOURCE task `synthetic_source` (what the embedded
checkpoint is pretrained on). The tasks share no class, but every target shape and every target
pattern occurs in the source, each with other partners, and no target class is recognisable
from its shape or its pattern alone. Features that encode shape and pattern separately - what a
net learns on the source - therefore make the target close to linearly separable (head-only
fine-tuning works with a few dozen images per class), while a net trained from scratch on that
little data has to discover them from few examples.

Recipe of one 32x32 RGB image (all parameters independent and uniform unless stated):
- background: a colour (any hue; either dark, value 0.05-0.4, or pale, saturation <= 0.25 and
  value 0.75-1) times a linear brightness ramp (+-30% across the image in a random direction),
  plus smooth colour blotches (a random 5x5 colour grid, upsampled bilinearly, amplitude 0.12);
- clutter: 1 to 3 thin line segments (~1 px, random colours, opacity 0.5, random endpoints);
- the object: its shape scaled to a radius of 8-13 px (times 0.85-1.15 per axis), rotated by a
  random angle, centred so at least ~80% of its radius lies in the frame, drawn with
  antialiased edges (a signed distance in pixels) in a colour of saturation and value 0.55-1;
  its pattern, laid out in the object's rotated frame with a random phase, paints part of it in
  a second colour of about the complementary hue (hue + 0.4..0.6, saturation and value 0.55-1):
  stripes (period 6 px), checker (3.5 px cells), dots (radius 1.6 px on a 6 px grid), speckle
  (random 3 px cells) or nothing (solid);
- uniform pixel noise with a standard deviation of 2-8 (on the 0-255 scale), then rounding.

Images are rendered in vectorized numpy, 20,000 in a few seconds. Everything is a function of
(task, split, seed): the train split of `seed` is drawn from a random stream keyed by
(task, 'train', seed), the test split from a stream keyed by (task, 'test') only, so test images
never coincide with training images and are the same for every seed, making results over
seeds comparable. Labels cycle through the classes (image i has label i % num_classes) and
each parameter is drawn in image order, so a smaller train split is exactly a prefix of a
larger one: `train_subset=20` gives the first 20 images per class of `train_subset=50`.
"""
import concurrent.futures
import os

import numpy as np

from tlslim.data.dataset import Dataset
from tlslim.errors import TlslimError

SIZE = 32
SHAPES = ("disk", "square", "triangle", "cross", "star", "bar")
PATTERNS = ("solid", "stripes", "checker", "dots", "speckle")
COMBOS = tuple((s, p) for s in range(len(SHAPES)) for p in range(len(PATTERNS)))
TARGET_COMBOS = tuple(c for c in COMBOS if (c[0] + c[1]) % 3 == 0)
SOURCE_COMBOS = tuple(c for c in COMBOS if (c[0] + c[1]) % 3 != 0)
TASKS = {"synthetic": TARGET_COMBOS, "synthetic_source": SOURCE_COMBOS}
_TASK_KEYS = {"synthetic": 2, "synthetic_source": 1}

# Default images per class.
TRAIN_PER_CLASS = {"synthetic": 500, "synthetic_source": 1000}
TEST_PER_CLASS = 100

# The generative recipe's constants (pixels; see the module doc).
RADIUS = (8.0, 13.0)
STRIPE_PERIOD = 6.0
CHECKER_CELL = 3.5
DOT_GRID, DOT_RADIUS = 6.0, 1.6
SPECKLE_CELL = 3.0
LINE_OPACITY = 0.5
NOISE_STD = (2.0, 8.0)  # on the 0-255 scale

_CHUNK = 1024  # images rendered at once (bounded memory; does not change the output)
_NUM_PARAMS = 32  # uniform numbers per image (columns of one [n, 32] draw)
_MAX_LINES = 3
_LINE_POINTS = 64  # points per clutter line: <= 0.7 px apart on the longest (45 px)


def class_names(task):
    """The class names of `task` ('synthetic' or 'synthetic_source'), in label order."""
    return [f"{SHAPES[s]}_{PATTERNS[p]}" for s, p in _combos(task)]


def _combos(task):
    try:
        return TASKS[task]
    except KeyError:
        raise TlslimError(f"unknown synthetic task '{task}'; known: {', '.join(TASKS)}.") from None


# --- Geometry: signed distances (negative inside) in units of the object radius.

def _box(u, v, bu, bv):
    qu, qv = np.abs(u) - bu, np.abs(v) - bv
    outside = np.sqrt(np.square(np.maximum(qu, 0)) + np.square(np.maximum(qv, 0)))
    return outside + np.minimum(np.maximum(qu, qv), 0)


def _sdf(shape, u, v):
    if shape == 0:  # disk
        return np.sqrt(u * u + v * v) - 1.0
    if shape == 1:  # square
        return _box(u, v, 0.8, 0.8)
    if shape == 2:  # triangle, circumradius 1.2: the max over its three edge half-planes
        d = None
        for angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            e = -(u * np.cos(angle) + v * np.sin(angle)) - 0.6
            d = e if d is None else np.maximum(d, e)
        return d
    if shape == 3:  # cross (plus sign)
        return np.minimum(_box(u, v, 0.95, 0.33), _box(u, v, 0.33, 0.95))
    if shape == 4:  # five-pointed star, radius 0.42..1.02: 0.72 + 0.3 cos(5 angle)
        r = np.sqrt(u * u + v * v)
        c = u / np.maximum(r, 1e-6)
        cos5 = c * (5 + c * c * (-20 + 16 * c * c))  # Chebyshev: cos(5t) from cos(t)
        return (r - (0.72 + 0.3 * cos5)) * 0.8
    return _box(u, v, 1.0, 0.38)  # bar


def _pattern(pattern, a, b, phase_a, phase_b, speckle_key):
    """1 where the darker second colour shows, 0 elsewhere; a, b in pixels of the object frame."""
    if pattern == 0:
        return np.zeros_like(a)
    a = a + phase_a[:, None, None]
    b = b + phase_b[:, None, None]
    if pattern == 1:  # stripes
        return (np.mod(a, STRIPE_PERIOD) < STRIPE_PERIOD / 2).astype(np.float32)
    if pattern == 2:  # checker, 3 px cells
        return (np.mod(np.floor(a / CHECKER_CELL) + np.floor(b / CHECKER_CELL), 2) == 1).astype(np.float32)
    if pattern == 3:  # dots on a square grid
        da = np.mod(a, DOT_GRID) - DOT_GRID / 2
        db = np.mod(b, DOT_GRID) - DOT_GRID / 2
        return (da * da + db * db < DOT_RADIUS ** 2).astype(np.float32)
    # speckle: a random bit per 2 px cell, from an integer hash of (cell, image key)
    i = np.floor(a / SPECKLE_CELL).astype(np.int64)
    j = np.floor(b / SPECKLE_CELL).astype(np.int64)
    h = (i * 73856093) ^ (j * 19349663) ^ (speckle_key[:, None, None] * 83492791)
    h = (h * 2654435761) & 0xFFFFFFFF
    return ((h >> 16) & 1).astype(np.float32)


def _hsv_to_rgb(h, s, v):
    """Vectorized HSV -> RGB, all in [0, 1]; returns [..., 3]."""
    k = np.mod(np.stack([5.0 + h * 6, 3.0 + h * 6, 1.0 + h * 6], axis=-1), 6)
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _upsample_matrix(coarse, fine):
    """[fine, coarse] bilinear interpolation weights (pixel centres aligned to the corners)."""
    pos = (np.arange(fine) + 0.5) / fine * (coarse - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, coarse - 2)
    frac = pos - lo
    m = np.zeros((fine, coarse), np.float32)
    m[np.arange(fine), lo] = 1 - frac
    m[np.arange(fine), lo + 1] = frac
    return m


_GRID = (np.arange(SIZE, dtype=np.float32) + 0.5)
_BLOTCH = _upsample_matrix(5, SIZE)


def _render(shapes, patterns, params, noise_rng):
    """Render images for per-image factors and a [n, _NUM_PARAMS] array of uniforms.

    noise_rng(k) is the random stream of the k-th per-pixel array (one stream each, so that
    rendering fewer images draws a prefix of every array). Work is kept on [n, S, S] planes
    where possible: [n, S, S, 3] operations are the cost.
    """
    n = len(shapes)
    p = params.astype(np.float32).T  # p[k] is parameter column k, shape [n]
    y, x = np.meshgrid(_GRID, _GRID, indexing="ij")
    x, y = x[None], y[None]  # [1, S, S]

    def col(k):
        return p[k][:, None, None]

    # Background: colour times a brightness ramp, plus smooth blotches.
    dark = p[0] < 0.6
    bg_s = np.where(dark, 0.2 + 0.6 * p[1], 0.25 * p[1])
    bg_v = np.where(dark, 0.05 + 0.35 * p[2], 0.75 + 0.25 * p[2])
    bg = _hsv_to_rgb(p[3], bg_s, bg_v)[:, None, None, :]
    angle = 2 * np.pi * p[4]
    ramp = ((x - 16) * np.cos(angle)[:, None, None] + (y - 16) * np.sin(angle)[:, None, None]) / 16
    coarse = 0.12 * (noise_rng(0).random((n, 5, 5, 3), dtype=np.float32) - 0.5)
    image = bg * (1 + 0.3 * col(5) * ramp)[..., None]
    image += (_BLOTCH @ coarse.transpose(0, 3, 1, 2) @ _BLOTCH.T).transpose(0, 2, 3, 1)

    # Clutter: 1-3 thin line segments under the object, drawn by splatting points spaced
    # at most 0.7 px along each segment bilinearly onto the pixel grid.
    num_lines = 1 + np.minimum((p[6] * _MAX_LINES).astype(int), _MAX_LINES - 1)
    ends = noise_rng(1).random((n, _MAX_LINES, 4), dtype=np.float32) * SIZE
    colours = noise_rng(2).random((n, _MAX_LINES, 3), dtype=np.float32)
    t = np.linspace(0, 1, _LINE_POINTS, dtype=np.float32)
    px = ends[..., 0:1] + (ends[..., 2:3] - ends[..., 0:1]) * t - 0.5  # [n, L, K], pixel-index units
    py = ends[..., 1:2] + (ends[..., 3:4] - ends[..., 1:2]) * t - 0.5
    length = np.hypot(ends[..., 2] - ends[..., 0], ends[..., 3] - ends[..., 1])
    weight = (length / (_LINE_POINTS - 1) * (np.arange(_MAX_LINES) < num_lines[:, None]))[..., None]
    ix, iy = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    fx, fy = px - ix, py - iy
    base = np.arange(n, dtype=np.int64)[:, None, None] * (SIZE * SIZE)
    flat, w = [], []
    for ox, oy, corner in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        qx, qy = ix + ox, iy + oy
        # Points off the image go to a spare bin past the end.
        off = (qx < 0) | (qx >= SIZE) | (qy < 0) | (qy >= SIZE)
        flat.append(np.where(off, n * SIZE * SIZE, base + qy * SIZE + qx).reshape(-1))
        w.append((corner * weight).reshape(-1))
    flat, w = np.concatenate(flat), np.concatenate(w)
    line_of_point = np.tile(np.repeat(np.arange(n * _MAX_LINES), _LINE_POINTS), 4)
    bins = n * SIZE * SIZE + 1
    coverage = np.bincount(flat, w, minlength=bins)[:-1]
    painted = np.stack([np.bincount(flat, w * colours.reshape(-1, 3)[line_of_point, ch], minlength=bins)[:-1]
                        for ch in range(3)], axis=1)
    line_colour = (painted / np.maximum(coverage, 1e-6)[:, None]).reshape(n, SIZE, SIZE, 3).astype(np.float32)
    alpha = (LINE_OPACITY * np.minimum(coverage, 1.0)).reshape(n, SIZE, SIZE, 1).astype(np.float32)
    image += (line_colour - image) * alpha

    # The object: pose, shape mask with soft edges, pattern.
    radius = RADIUS[0] + (RADIUS[1] - RADIUS[0]) * p[7]
    margin = 0.8 * radius
    cx = margin + (SIZE - 2 * margin) * p[8]
    cy = margin + (SIZE - 2 * margin) * p[9]
    theta = 2 * np.pi * p[10]
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    dx, dy = x - cx[:, None, None], y - cy[:, None, None]
    a = c * dx + s * dy  # pixels, in the object's rotated frame
    b = -s * dx + c * dy
    u = a / (radius * (0.85 + 0.3 * p[11]))[:, None, None]
    v = b / (radius * (0.85 + 0.3 * p[12]))[:, None, None]
    sdf = np.empty_like(u)
    mark = np.empty_like(u)
    speckle_key = (p[13] * (1 << 20)).astype(np.int64)
    for k in range(len(SHAPES)):
        sel = shapes == k
        if sel.any():
            sdf[sel] = _sdf(k, u[sel], v[sel])
    for k in range(len(PATTERNS)):
        sel = patterns == k
        if sel.any():
            mark[sel] = _pattern(k, a[sel], b[sel], 12.0 * p[14][sel], 12.0 * p[15][sel], speckle_key[sel])
    alpha = np.clip(0.5 - sdf * radius[:, None, None], 0, 1)
    fg = _hsv_to_rgb(p[16], 0.55 + 0.45 * p[17], 0.55 + 0.45 * p[18])[:, None, None, :]
    # The pattern's colour: roughly the complementary hue, as saturated and bright as fg can be,
    # so that the pattern shows and the silhouette still stands out from dark and pale backgrounds.
    fg2 = _hsv_to_rgb(np.mod(p[16] + 0.4 + 0.2 * p[19], 1), 0.55 + 0.45 * p[21], 0.55 + 0.45 * p[22])
    colour = fg + (fg2[:, None, None, :] - fg) * mark[..., None]
    image += (colour - image) * alpha[..., None]

    # Pixel noise (uniform, std 2-10 on the 0-255 scale), quantization.
    noise = noise_rng(3).random(image.shape, dtype=np.float32) - 0.5
    image += noise * ((NOISE_STD[0] + (NOISE_STD[1] - NOISE_STD[0]) * p[20]) * np.sqrt(12.0) / 255.0)[:, None, None, None]
    image *= 255.0
    image += 0.5  # round half up on the clipped values, as floor(x + 0.5)
    np.clip(image, 0, 255.49, out=image)
    return image.astype(np.uint8)


def generate(task, split, per_class, seed=0):
    """(images uint8 [n, 32, 32, 3], labels int64 [n]) with n = per_class * num_classes.

    Deterministic in (task, split, seed); `seed` is ignored for split 'test' (see module doc).
    """
    combos = np.asarray(_combos(task))
    if split not in ("train", "test"):
        raise TlslimError(f"split must be 'train' or 'test', got {split!r}.")
    if not isinstance(per_class, (int, np.integer)) or isinstance(per_class, bool) or per_class < 1:
        raise TlslimError(f"train_subset must be a positive number of images per class, got {per_class!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TlslimError(f"seed must be a non-negative integer, got {seed!r}.")
    key = [_TASK_KEYS[task], 0, int(seed)] if split == "train" else [_TASK_KEYS[task], 1]
    n = int(per_class) * len(combos)
    labels = np.arange(n, dtype=np.int64) % len(combos)
    # One stream for the per-image parameters (row i is image i's, whatever n is), and streams
    # per chunk of _CHUNK images for the per-pixel arrays: a smaller n gives a prefix.
    params = np.random.default_rng(key + [0]).random((n, _NUM_PARAMS))
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)

    def render_chunk(chunk):
        start, stop = chunk * _CHUNK, min((chunk + 1) * _CHUNK, n)
        images[start:stop] = _render(combos[labels[start:stop], 0], combos[labels[start:stop], 1],
                                     params[start:stop],
                                     lambda k: np.random.default_rng(key + [1, chunk, k]))

    num_chunks = -(-n // _CHUNK)
    # numpy releases the GIL in its array loops: chunks render in parallel on the cores.
    with concurrent.futures.ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 4))) as pool:
        list(pool.map(render_chunk, range(num_chunks)))
    return images, labels


def load(task, split="train", train_subset=None, seed=0):
    """The synthetic `task`'s split as a Dataset; train_subset = train images per class."""
    if split == "train":
        per_class = TRAIN_PER_CLASS[task] if train_subset is None else train_subset
    else:
        per_class = TEST_PER_CLASS
    images, labels = generate(task, split, per_class, seed)
    return Dataset(images, labels, class_names(task), task)
