"""Training and evaluating on research/slim's TFRecord splits as a user types it: --dataset flowers,
mnist, imagenet (with slim's --labels_offset), and cifar10 whose directory holds TFRecords; the
files are written as slim's converters write them (tlslim.testing.tfrecords)."""
import os
import re
import subprocess
import sys

import pytest

from tlslim import data, train
from tlslim.errors import TlslimError
from tlslim.testing import tfrecords

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE, EVALUATE = (os.path.join(ROOT, "scripts", s) for s in ("finetune.py", "evaluate.py"))


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfrecords")
    tfrecords.write_flowers(str(root / "flowers"))
    tfrecords.write_mnist(str(root / "mnist"))
    tfrecords.write_cifar10(str(root / "cifar"))
    tfrecords.write_imagenet(str(root / "imagenet"))
    return root


def _run(args, cwd):
    proc = subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=str(cwd), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_flowers_with_slims_flag_names_then_evaluate(sets, tmp_path):
    """slim's walkthrough: --dataset_name flowers, JPEGs of varying sizes streamed and resized."""
    proc = _run([FINETUNE, "--dataset_name", "flowers", "--dataset_dir", str(sets / "flowers"), "--model", "cifarnet",
                 "--strategy", "scratch", "--image_size", "32", "--max_steps", "3", "--batch_size", "4",
                 "--train_dir", "run"], tmp_path)
    assert "flowers: 12 training images in 5 classes, streamed from slim's TFRecords" in proc.stderr
    assert "on 6 test images" in proc.stderr  # the validation split, counted
    assert train.read_run_record(str(tmp_path / "run"))["class_names"] == list(tfrecords.FLOWERS_CLASSES)
    proc = _run([EVALUATE, "--checkpoint_path", "run", "--max_num_batches", "1", "--batch_size", "4"], tmp_path)
    assert re.search(r"cifarnet on flowers/test \(4 images\): top-1 ", proc.stdout), proc.stdout


def test_imagenet_labels_offset_with_a_1000_class_head(sets, tmp_path):
    _run([FINETUNE, "--dataset", "imagenet", "--dataset_dir", str(sets / "imagenet"), "--labels_offset", "1",
          "--model", "cifarnet", "--strategy", "scratch", "--image_size", "32", "--max_steps", "2", "--batch_size", "4",
          "--train_dir", "run"], tmp_path)
    record = train.read_run_record(str(tmp_path / "run"))
    assert (record["num_classes"], record["labels_offset"]) == (1000, 1)
    proc = _run([EVALUATE, "--checkpoint_path", "run"], tmp_path)  # the record's offset applies
    assert re.search(r"on imagenet/test \(\d+ images\): top-1 ", proc.stdout), proc.stdout


def test_grayscale_mnist_feeds_an_rgb_net_and_cifar10_tfrecords_are_found(sets, tmp_path):
    for name, directory, model in (("mnist", "mnist", "lenet"), ("cifar10", "cifar", "cifarnet")):
        proc = _run([FINETUNE, "--dataset", name, "--dataset_dir", str(sets / directory), "--model", model,
                     "--strategy", "scratch", "--max_steps", "2", "--batch_size", "4", "--train_dir", name], tmp_path)
        assert f"{name}: 20 training images in 10 classes, streamed from slim's TFRecords" in proc.stderr
        proc = _run([EVALUATE, "--checkpoint_path", name], tmp_path)
        assert re.search(rf"{model} on {name}/test \(10 images\): top-1 ", proc.stdout), proc.stdout
    split = data.load("cifar10", str(sets / "cifar"), split="test")
    assert isinstance(split, data.tfrecord.Split) and split.split == "test" and split.image_shape == (32, 32)
    assert len(split) == split.num_examples > 0 and len(train.first_examples(split, 3)) == 3


@pytest.mark.parametrize("settings, message", [
    (dict(train_subset=3), "--train_subset and --imbalance_ratio pick images of a dataset held in memory"),
    (dict(class_weights="balanced"), "--class_weights balanced counts the classes of a dataset held in memory"),
    (dict(sampling="balanced"), "--sampling balanced draws from each class of a dataset held in memory"),
    (dict(cache_features=True, strategy="head", checkpoint_path="x", exclude="CifarNet/logits"),
     "--cache_features keeps the features of a dataset held in memory"),
])
def test_what_needs_images_in_memory_is_one_line(sets, tmp_path, settings, message):
    config = dict(model="cifarnet", dataset="flowers", dataset_dir=str(sets / "flowers"), strategy="scratch",
                  image_size=32, max_steps=1, batch_size=4, train_dir=str(tmp_path / "run"))
    config.update(settings)
    with pytest.raises(TlslimError, match=re.escape(message)):
        train.train(train.TrainConfig(**config))


def test_labels_offset_is_for_tfrecords():
    with pytest.raises(TlslimError, match="--labels_offset applies to slim's TFRecord datasets"):
        data.load("synthetic", labels_offset=1)


def test_a_release_checkpoint_on_imagenets_validation_split(sets, tmp_path):
    """eval_image_classifier.py's check of a downloaded checkpoint: a 1001-class release (SYNTHETIC
    values under the release's names and shapes) on imagenet's validation records, background at 0,
    with the release's own preprocessing (slim's inception crops)."""
    from tlslim.testing import checkpoints
    release = checkpoints.write_net_checkpoint("mobilenet_v1_025", str(tmp_path / "mobilenet.ckpt"))
    proc = _run([EVALUATE, "--model_name", "mobilenet_v1_025", "--checkpoint_path", release, "--dataset_name",
                 "imagenet", "--dataset_dir", str(sets / "imagenet"), "--dataset_split_name", "test",
                 "--eval_image_size", "64"], tmp_path)
    count = data.load("imagenet", str(sets / "imagenet"), split="test").num_examples
    assert re.search(rf"mobilenet_v1_025 on imagenet/test \({count} images\): top-1 \d\.\d+  top-5 \d\.\d+",
                     proc.stdout), proc.stdout


def test_slims_walkthrough_convert_train_evaluate(tmp_path):
    """A folder of photos converted to slim's format, then trained on and evaluated by its name."""
    from tlslim.testing import datasets
    datasets.write_image_folder(str(tmp_path / "photos"), {"hat": 12, "sunglasses": 10, "scarf": 8})
    convert = os.path.join(ROOT, "scripts", "convert_dataset.py")
    _run([convert, "--dataset_name", "photos", "--dataset_dir", "photos", "--output_dir", "photos_tfrecord"],
         tmp_path)
    proc = _run([FINETUNE, "--dataset_name", "photos", "--dataset_dir", "photos_tfrecord", "--model", "cifarnet",
                 "--strategy", "scratch", "--image_size", "32", "--max_steps", "2", "--batch_size", "4"], tmp_path)
    assert "photos: 24 training images in 3 classes, streamed from slim's TFRecords" in proc.stderr
    proc = _run([EVALUATE, "--checkpoint_path", "runs/cifarnet-photos-scratch"], tmp_path)
    assert re.search(r"cifarnet on photos/test \(6 images\): top-1 ", proc.stdout), proc.stdout
