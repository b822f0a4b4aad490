"""The in-memory dataset every loader returns, and the seeded per-class subset."""
import dataclasses
from typing import List

import numpy as np
from absl import logging

from tlslim.errors import TlslimError


@dataclasses.dataclass
class Dataset:
    """Decoded images held in memory.

    images: uint8 [N, H, W, 3] (RGB); labels: int64 [N] in [0, len(class_names));
    class_names: the name of each label; name: the dataset name (e.g. 'cifar10').
    """
    images: np.ndarray
    labels: np.ndarray
    class_names: List[str]
    name: str

    def __post_init__(self):
        images, labels = self.images, self.labels
        if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4
                and images.shape[-1] == 3):
            raise TlslimError(f"dataset {self.name}: images must be uint8 [N,H,W,3], got "
                              f"{getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}.")
        if not (isinstance(labels, np.ndarray) and labels.dtype == np.int64
                and labels.shape == images.shape[:1]):
            raise TlslimError(f"dataset {self.name}: labels must be int64 [{len(images)}], got "
                              f"{getattr(labels, 'dtype', type(labels))} {getattr(labels, 'shape', '')}.")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise TlslimError(f"dataset {self.name}: labels must lie in [0, {len(self.class_names)}).")

    def __repr__(self):
        h, w = self.images.shape[1:3]
        return (f"Dataset(name={self.name!r}, {len(self)} images {h}x{w}, "
                f"{self.num_classes} classes: {', '.join(self.class_names[:5])}"
                f"{', ...' if self.num_classes > 5 else ''})")

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        """The Dataset of the images at `indices` (in that order)."""
        return Dataset(self.images[indices], self.labels[indices], list(self.class_names), self.name)


def per_class_indices(labels, per_class, seed, num_classes, what="dataset"):
    """Sorted indices of `per_class` images of each class, chosen with `seed`.

    Subsets are nested: the images chosen for n are among those chosen for any m > n (same
    seed). A class with fewer images gives all of them, with a warning.
    """
    if not isinstance(per_class, (int, np.integer)) or isinstance(per_class, bool) or per_class < 1:
        raise TlslimError(f"train_subset must be a positive number of images per class, got {per_class!r}.")
    rng = np.random.default_rng([seed, 0x5B5E7])
    chosen, short = [], []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        order = rng.permutation(members)  # drawn for every class whatever per_class is: nested subsets
        if len(members) < per_class:
            short.append(f"{c} ({len(members)})")
        chosen.append(order[:per_class])
    if short:
        logging.warning("%s: train_subset=%d but some classes have fewer images; using all of: %s",
                        what, per_class, ", ".join(short))
    return np.sort(np.concatenate(chosen))


def class_counts(labels, num_classes):
    """Images per class, [num_classes] int."""
    return np.bincount(np.asarray(labels, np.int64), minlength=num_classes)[:num_classes]


def long_tailed(dataset, ratio):
    """`dataset` with its classes made long-tailed, as CIFAR-10-LT is made: class k keeps
    round(n_k * ratio ** (-k / (C - 1))) of its n_k images (the first ones, in dataset order, so the
    choice is nested), so the first class keeps all and the last 1/ratio of its images."""
    if not ratio >= 1:
        raise TlslimError(f"--imbalance_ratio must be 1 or more (largest class / smallest), got {ratio}.")
    c = dataset.num_classes
    keep = []
    for k in range(c):
        members = np.flatnonzero(dataset.labels == k)
        fraction = ratio ** (-k / (c - 1)) if c > 1 else 1.0
        keep.append(members[:max(1, int(round(len(members) * fraction)))])
    return dataset.subset(np.sort(np.concatenate(keep)))


def balanced_weights(labels, num_classes):
    """Loss weights per class by inverse frequency, scikit-learn's 'balanced': N / (C * n_c), so a
    balanced set has all weights 1 and the weighted loss of the whole set keeps its scale (a class
    absent from the set gets weight 0)."""
    counts = class_counts(labels, num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights
