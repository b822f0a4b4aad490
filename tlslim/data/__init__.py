"""Datasets, preprocessing and the tf.data input pipeline.

    train = tlslim.data.load('cifar10', 'data/', split='train', train_subset=50)
    ds = tlslim.data.input_pipeline(train, 128, image_size=32, style='cifarnet', is_training=True)

Datasets (`names()`): 'cifar10' (the official python release), 'folder' (one sub-folder of
JPEG/PNG images per class), 'synthetic' (the target task of the procedurally generated transfer
problem) and 'synthetic_source' (its source task); see the modules of the same names.
`imagenet.class_names(1000 or 1001)`: the names of a released ImageNet classifier's outputs.
`slim_preprocessing.preprocess_image(image, height, width, is_training, style)`: research/slim's
per-style preprocessing of single images of any size (what the release checkpoints saw);
`preprocess` is what tlslim's training and evaluation on in-memory datasets use: the whole image
(geometry 'squash') or slim's (geometry 'slim'); `choose_geometry` resolves 'auto'.
`tfrecord`: slim's own TFRecord datasets (flowers, cifar10, mnist, imagenet, and image folders
converted by scripts/convert_dataset.py), streamed from disk by `tfrecord.record_pipeline`.
"""
from absl import logging

from tlslim.data import cifar10, folder, imagenet, slim_preprocessing, synthetic, tfrecord
from tlslim.data.dataset import Dataset, balanced_weights, class_counts, long_tailed, per_class_indices
from tlslim.data.pipeline import index_batches, input_pipeline
from tlslim.data.preprocessing import GEOMETRIES, STYLES, Stats, choose_geometry, compute_stats, preprocess
from tlslim.errors import TlslimError

__all__ = ["Dataset", "GEOMETRIES", "STYLES", "Stats", "balanced_weights", "choose_geometry", "class_counts",
           "compute_stats", "image_shape", "imagenet", "index_batches", "input_pipeline", "load", "long_tailed",
           "names", "preprocess", "slim_preprocessing", "tfrecord"]

_NAMES = ("cifar10", "folder", "synthetic", "synthetic_source", "flowers", "mnist", "imagenet")


def image_shape(dataset):
    """(H, W) of a dataset's images: a Dataset's, a TFRecord split's where its layout fixes it, else None."""
    return dataset.image_shape if isinstance(dataset, tfrecord.Split) else dataset.images.shape[1:3]


def names():
    """The dataset names `load` accepts."""
    return list(_NAMES)


def load(name, dataset_dir=None, split="train", train_subset=None, seed=0,
         validation_fraction=folder.DEFAULT_VALIDATION_FRACTION,
         folder_image_size=folder.DEFAULT_IMAGE_SIZE, imbalance_ratio=None, labels_offset=0):
    """Load dataset `name`'s `split` ('train' or 'test') into memory as a Dataset.

    dataset_dir: cifar10: the batches directory, its parent or the tarball (default 'data');
        folder: the image folder (required); synthetic*: unused (generated from code).
    train_subset: for split 'train', keep N images per class, chosen with `seed` (nested: the
        images for N are among those for M > N); synthetic tasks generate exactly N per class.
    seed: picks the train subset; for the synthetic tasks it also keys the train images.
    validation_fraction, folder_image_size: the folder's held-out part (split 'test') and the
        square size its images are decoded to.
    imbalance_ratio: for split 'train', make the classes long-tailed (see `long_tailed`), after
        train_subset.
    flowers, mnist, imagenet (and cifar10 when `dataset_dir` holds its TFRecords) are research/slim's
    TFRecord splits: they come back as a streamed tfrecord.Split (split 'test' is the held-out one,
    validation or test), their labels minus `labels_offset`.
    """
    if name not in _NAMES and not tfrecord.is_streamed(name, dataset_dir):
        raise TlslimError(f"unknown dataset '{name}'; known datasets: {', '.join(_NAMES)}, or the name of a set "
                          f"scripts/convert_dataset.py wrote to --dataset_dir.")
    if split not in ("train", "test"):
        raise TlslimError(f"split must be 'train' or 'test', got {split!r}.")
    if tfrecord.is_streamed(name, dataset_dir):
        if split == "train" and (train_subset is not None or imbalance_ratio):
            raise TlslimError(f"--train_subset and --imbalance_ratio pick images of a dataset held in memory; {name}'s "
                              f"TFRecords are streamed; convert the subset you want with scripts/convert_dataset.py.")
        return tfrecord.open_split(name, dataset_dir, split, labels_offset)
    if labels_offset:
        raise TlslimError(f"--labels_offset applies to slim's TFRecord datasets (imagenet's background class), not "
                          f"to {name}.")
    if name in synthetic.TASKS:
        dataset = synthetic.load(name, split, train_subset if split == "train" else None, seed)
        return long_tailed(dataset, imbalance_ratio) if split == "train" and imbalance_ratio else dataset
    if name == "cifar10":
        dataset = cifar10.load(dataset_dir, split)
        logging.info("cifar10 %s: the python release (no cifar10_*.tfrecord in %s)", split, dataset_dir or "data")
    else:
        dataset = folder.load(dataset_dir, split, validation_fraction, folder_image_size)
    if split == "train" and train_subset is not None:
        dataset = dataset.subset(per_class_indices(dataset.labels, train_subset, seed,
                                                   dataset.num_classes, what=name))
    if split == "train" and imbalance_ratio:
        dataset = long_tailed(dataset, imbalance_ratio)
    return dataset
