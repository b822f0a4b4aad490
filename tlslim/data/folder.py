"""An image folder: one sub-folder per class of JPEG/PNG images (the "sunglasses vs hat" layout).

    my_images/hat/001.jpg, my_images/hat/002.png, ..., my_images/sunglasses/...

Class names are the sub-folder names, sorted; label i is the i-th. Files are recognised by
content (JPEG or PNG, whatever their extension); anything else is skipped with one warning
that counts them. Each class is split with its own seeded permutation (seed `split_seed` and
the class name, so adding a class does not reshuffle the others): `round(validation_fraction
* n)` images (at least 1 and at most n-1 when n >= 2) form split 'test' (the validation part),
the rest 'train'. The split does not depend on the training seed, so training and evaluation
runs with different seeds see the same partition.

Images are decoded once (EXIF orientation applied, grey/alpha/palette converted to RGB) and
resized, ignoring aspect ratio, to `image_size` x `image_size` (default 224: the input size of
the ImageNet nets this exercise fine-tunes, so nothing is lost before the pipeline resizes for
the net; about 150 KB of memory per image; pass a smaller size for large folders or small nets).
"""
import os
import zlib

import numpy as np
from absl import logging

from tlslim.data.dataset import Dataset
from tlslim.errors import TlslimError

DEFAULT_IMAGE_SIZE = 224
DEFAULT_VALIDATION_FRACTION = 0.2
_FORMATS = ("JPEG", "PNG")


def _is_image(path):
    from PIL import Image
    try:
        with Image.open(path) as image:
            return image.format in _FORMATS
    except Exception:  # PIL raises many types for "not an image"
        return False


def scan(dataset_dir):
    """(class_names, {class: sorted list of image paths}, number of skipped non-image files)."""
    if dataset_dir is None:
        raise TlslimError("the folder dataset needs --dataset_dir: a directory with one sub-folder "
                          "of JPEG/PNG images per class.")
    root = os.path.expanduser(str(dataset_dir))
    if not os.path.isdir(root):
        raise TlslimError(f"image folder {root} does not exist; pass --dataset_dir with one "
                          "sub-folder of images per class.")
    entries = sorted(os.listdir(root))
    class_names = [e for e in entries if not e.startswith(".") and os.path.isdir(os.path.join(root, e))]
    skipped = sum(1 for e in entries if os.path.isfile(os.path.join(root, e)))  # loose files: no class
    files = {}
    for name in class_names:
        found = []
        for folder, dirs, names in os.walk(os.path.join(root, name)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for fname in sorted(names):
                path = os.path.join(folder, fname)
                if _is_image(path):
                    found.append(path)
                else:
                    skipped += 1
        files[name] = found
    total = sum(len(v) for v in files.values())
    if total == 0:
        raise TlslimError(f"image folder {root} has no JPEG/PNG images in class sub-folders; put "
                          "each class's images in its own sub-folder, e.g. hat/ and sunglasses/.")
    empty = [name for name in class_names if not files[name]]
    if empty:
        raise TlslimError(f"image folder {root}: class folder(s) {', '.join(empty)} hold no JPEG/PNG "
                          "images; add images or remove the folder.")
    if len(class_names) < 2:
        raise TlslimError(f"image folder {root} has only one class ({class_names[0]}); a classifier "
                          "needs at least two class sub-folders.")
    return class_names, files, skipped


def split_files(class_names, files, validation_fraction, split_seed):
    """{'train': [(path, label)], 'test': [(path, label)]} from the seeded per-class split."""
    if not 0.0 <= validation_fraction < 1.0:
        raise TlslimError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    out = {"train": [], "test": []}
    for label, name in enumerate(class_names):
        paths = files[name]
        n = len(paths)
        n_val = int(round(validation_fraction * n))
        if validation_fraction > 0 and n >= 2:
            n_val = min(max(n_val, 1), n - 1)
        elif n < 2:
            n_val = 0
        rng = np.random.default_rng([split_seed, zlib.crc32(name.encode("utf-8"))])
        is_val = np.zeros(n, bool)
        is_val[rng.permutation(n)[:n_val]] = True
        for path, val in zip(paths, is_val):
            out["test" if val else "train"].append((path, label))
    return out


def _decode(path, size):
    from PIL import Image, ImageOps
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def load(dataset_dir, split="train", validation_fraction=DEFAULT_VALIDATION_FRACTION,
         image_size=DEFAULT_IMAGE_SIZE, split_seed=0):
    """The `split` of the image folder as a Dataset of uint8 [N, image_size, image_size, 3]."""
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise TlslimError(f"folder_image_size must be a positive integer, got {image_size!r}.")
    class_names, files, skipped = scan(dataset_dir)
    if skipped:
        logging.warning("image folder %s: skipped %d file(s) that are not JPEG/PNG images in a "
                        "class sub-folder.", dataset_dir, skipped)
    items = split_files(class_names, files, validation_fraction, split_seed)[split]
    if not items:
        raise TlslimError(f"image folder {dataset_dir} has no '{split}' images with "
                          f"validation_fraction={validation_fraction}; use a fraction in (0, 1) "
                          "and at least two images per class.")
    images, labels, unreadable = [], [], 0
    for path, label in items:
        try:
            images.append(_decode(path, image_size))
            labels.append(label)
        except Exception as err:  # truncated or corrupt despite a valid header
            unreadable += 1
            logging.warning("image folder: cannot decode %s (%s); skipping it.", path, err)
    if not images:
        raise TlslimError(f"image folder {dataset_dir}: none of the '{split}' images could be decoded.")
    return Dataset(np.stack(images), np.asarray(labels, np.int64), class_names, "folder")
