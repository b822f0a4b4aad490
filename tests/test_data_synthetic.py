"""The synthetic transfer problem: tasks, determinism, splits."""
import hashlib

import numpy as np
import pytest

from tlslim import data
from tlslim.data import synthetic
from tlslim.errors import TlslimError


def _digest(images):
    return hashlib.sha256(images.tobytes()).hexdigest()


def test_tasks_share_the_vocabulary_but_no_class():
    source = synthetic.class_names("synthetic_source")
    target = synthetic.class_names("synthetic")
    assert len(source) == 20 and len(target) == 10 and not set(source) & set(target)
    assert sorted(source + target) == sorted(f"{s}_{p}" for s in synthetic.SHAPES for p in synthetic.PATTERNS)
    assert target[:3] == ["disk_solid", "disk_dots", "square_checker"]
    # Every target shape and pattern occurs in the source, and no target class is identified by
    # its shape alone or its pattern alone.
    shapes = [c.split("_")[0] for c in target]
    patterns = [c.split("_")[1] for c in target]
    assert set(shapes) <= {c.split("_")[0] for c in source}
    assert set(patterns) <= {c.split("_")[1] for c in source}
    assert all(shapes.count(s) >= 1 for s in synthetic.SHAPES)
    ambiguous = sum(1 for s, p in zip(shapes, patterns) if shapes.count(s) > 1 or patterns.count(p) > 1)
    assert ambiguous == 10


def test_load_shapes_labels_and_defaults():
    train = data.load("synthetic", train_subset=4)
    test = data.load("synthetic", split="test")
    assert train.name == "synthetic" and train.class_names == synthetic.class_names("synthetic")
    assert train.images.shape == (40, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64 and train.labels.tolist() == list(range(10)) * 4
    assert test.images.shape == (1000, 32, 32, 3)  # fixed: 100 per class
    assert np.bincount(test.labels).tolist() == [100] * 10
    source = data.load("synthetic_source", split="test")
    assert len(source) == 2000 and source.num_classes == 20
    # Images are not degenerate: full dynamic range and varied content.
    assert train.images.min() < 30 and train.images.max() > 225
    assert len({img.tobytes() for img in train.images}) == 40


def test_same_seed_identical_bytes_other_seed_different():
    a, la = synthetic.generate("synthetic_source", "train", 15, seed=0)
    b, lb = synthetic.generate("synthetic_source", "train", 15, seed=0)
    c, _ = synthetic.generate("synthetic_source", "train", 15, seed=1)
    assert _digest(a) == _digest(b) and np.array_equal(la, lb)
    assert not any(np.array_equal(x, y) for x, y in zip(a, c))


def test_smaller_train_split_is_a_prefix():
    # More images than one render chunk, to cover chunked generation.
    big, big_labels = synthetic.generate("synthetic", "train", 120, seed=3)
    small, small_labels = synthetic.generate("synthetic", "train", 50, seed=3)
    assert len(big) == 1200 > synthetic._CHUNK
    np.testing.assert_array_equal(small, big[:500])
    np.testing.assert_array_equal(small_labels, big_labels[:500])


def test_test_split_fixed_and_disjoint_from_train():
    test0 = data.load("synthetic", split="test", seed=0)
    test5 = data.load("synthetic", split="test", seed=5)
    assert _digest(test0.images) == _digest(test5.images)
    train = data.load("synthetic", train_subset=100, seed=0)
    test_rows = {img.tobytes() for img in test0.images}
    assert not test_rows & {img.tobytes() for img in train.images}
    # Source and target streams differ too (different task keys).
    source = data.load("synthetic_source", split="test")
    assert not test_rows & {img.tobytes() for img in source.images}


def test_classes_differ_in_content():
    # A sanity check that labels mean something: images of 'solid' classes have less
    # pixel-scale colour contrast than the patterned ones (patterns add a second colour).
    images, labels = synthetic.generate("synthetic_source", "train", 60, seed=0)
    names = synthetic.class_names("synthetic_source")
    x = images.astype(np.float32)
    detail = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3))
    solid = np.mean([detail[labels == i].mean() for i, n in enumerate(names) if n.endswith("_solid")])
    patterned = np.mean([detail[labels == i].mean() for i, n in enumerate(names) if n.endswith("_checker")])
    assert patterned > 1.3 * solid


def test_errors():
    with pytest.raises(TlslimError, match="train_subset must be a positive number"):
        data.load("synthetic", train_subset=0)
    with pytest.raises(TlslimError, match="seed must be a non-negative integer"):
        synthetic.generate("synthetic", "train", 2, seed=-1)
    with pytest.raises(TlslimError, match="unknown synthetic task"):
        synthetic.class_names("synthetic_target")
