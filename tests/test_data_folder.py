"""The image-folder dataset: classes, seeded splits, skipped files, decoding, errors."""
import os

import numpy as np
import pytest
from PIL import Image

from tlslim import data
from tlslim.data import folder
from tlslim.errors import TlslimError
from tlslim.testing.datasets import write_image_folder

COUNTS = {"sunglasses": 11, "hat": 9, "cap": 5}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder") / "photos"
    written = write_image_folder(str(root), COUNTS, size=(24, 24), stray=("notes.txt", ".DS_Store"))
    (root / "README.txt").write_text("a loose file at the top: not in any class\n")
    return str(root), written


def _by_content(ds):
    return {img.tobytes(): int(lab) for img, lab in zip(ds.images, ds.labels)}


def test_classes_splits_and_exact_pixels(images, caplog):
    root, written = images
    train = data.load("folder", root, split="train", folder_image_size=24)
    test = data.load("folder", root, split="test", folder_image_size=24)
    assert train.class_names == test.class_names == ["cap", "hat", "sunglasses"]
    assert train.name == "folder" and train.images.shape[1:] == (24, 24, 3)
    # round(0.2 * n) per class in the validation part: cap 5 -> 1, hat 9 -> 2, sunglasses 11 -> 2
    assert np.bincount(test.labels, minlength=3).tolist() == [1, 2, 2]
    assert np.bincount(train.labels, minlength=3).tolist() == [4, 7, 9]
    # Every written image (PNG RGB, JPEG, grey PNG, RGBA PNG) is in exactly one split, with its label.
    expected = {pixels.tobytes(): train.class_names.index(cls)
                for cls, files in written.items() for pixels in files.values()}
    got_train, got_test = _by_content(train), _by_content(test)
    assert not set(got_train) & set(got_test)
    assert {**got_train, **got_test} == expected
    # One warning counts the 3 non-images (2 stray files + the loose top-level file).
    assert "skipped 3 file(s) that are not JPEG/PNG images" in caplog.text


def test_split_is_seeded_and_independent_of_the_training_seed(images):
    root, _ = images
    a = data.load("folder", root, split="test", folder_image_size=24, seed=0)
    b = data.load("folder", root, split="test", folder_image_size=24, seed=7)
    assert _by_content(a) == _by_content(b)
    _, files, _ = folder.scan(root)
    names = sorted(files)
    s0 = folder.split_files(names, files, 0.2, split_seed=0)["test"]
    s1 = folder.split_files(names, files, 0.2, split_seed=1)["test"]
    assert s0 != s1 and len(s0) == len(s1) == 5
    half = folder.split_files(names, files, 0.5, split_seed=0)
    assert [lab for _, lab in half["test"]].count(2) == 6  # round(5.5) = 6 (banker's rounding)


def test_train_subset_and_resize(images):
    root, _ = images
    sub = data.load("folder", root, train_subset=2, seed=3, folder_image_size=24)
    assert np.bincount(sub.labels).tolist() == [2, 2, 2]
    full = data.load("folder", root, folder_image_size=24)
    assert set(_by_content(sub)) <= set(_by_content(full))
    big = data.load("folder", root, split="test", folder_image_size=40)
    assert big.images.shape == (5, 40, 40, 3) and big.images.dtype == np.uint8


def test_resize_is_bilinear_of_the_decoded_image(tmp_path):
    root = tmp_path / "f"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    gradient = np.tile(np.linspace(0, 255, 60).astype(np.uint8)[None, :, None], (30, 1, 3))
    Image.fromarray(gradient).save(root / "a" / "g.png")
    Image.fromarray(gradient[:, ::-1].copy()).save(root / "b" / "g.png")
    ds = data.load("folder", str(root), validation_fraction=0.0, folder_image_size=16)
    expected = np.asarray(Image.fromarray(gradient).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(ds.images[0], expected)
    assert ds.images[0, 0, 0, 0] < ds.images[0, 0, -1, 0]  # the ramp survives, left dark to right bright


@pytest.mark.parametrize("layout,message", [
    ({}, "does not exist"),
    ({"a/notes.txt": b"x", "b/readme.md": b"y"}, "has no JPEG/PNG images in class sub-folders"),
    ({"only/x.png": "png"}, r"has only one class \(only\)"),
    ({"a/x.png": "png", "b/notes.txt": b"x"}, r"class folder\(s\) b hold no JPEG/PNG images"),
    ({"x.png": "png"}, "has no JPEG/PNG images in class sub-folders"),
])
def test_bad_folders(tmp_path, layout, message):
    root = tmp_path / "root"
    if layout:
        for rel, content in layout.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if content == "png":
                Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
            else:
                path.write_bytes(content)
    with pytest.raises(TlslimError, match=message) as err:
        data.load("folder", str(root))
    assert "\n" not in str(err.value)


def test_no_dataset_dir_and_bad_arguments(images):
    root, _ = images
    with pytest.raises(TlslimError, match="needs --dataset_dir"):
        data.load("folder")
    with pytest.raises(TlslimError, match=r"validation_fraction must be in \[0, 1\)"):
        data.load("folder", root, validation_fraction=1.0)
    with pytest.raises(TlslimError, match="no 'test' images with validation_fraction=0.0"):
        data.load("folder", root, split="test", validation_fraction=0.0)
    with pytest.raises(TlslimError, match="unknown dataset 'folders'; known datasets: cifar10, folder"):
        data.load("folders", root)
    with pytest.raises(TlslimError, match="split must be 'train' or 'test'"):
        data.load("folder", root, split="validation")


def test_truncated_image_is_skipped_with_a_warning(tmp_path, caplog):
    root = tmp_path / "f"
    write_image_folder(str(root), {"a": 3, "b": 3}, size=(16, 16), stray=())
    victim = root / "a" / "a_001.jpg"
    victim.write_bytes(victim.read_bytes()[:-50])  # a valid header, truncated data
    ds = data.load("folder", str(root), validation_fraction=0.0, folder_image_size=16)
    assert len(ds) == 5 and np.bincount(ds.labels).tolist() == [2, 3]
    assert "cannot decode" in caplog.text and "a_001.jpg" in caplog.text
    assert os.path.exists(victim)
