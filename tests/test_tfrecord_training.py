"""Training and evaluating on research/slim's TFRecord splits as a user types it: --dataset flowers,
mnist, imagenet (with slim's --labels_offset), and cifar10 whose directory holds TFRecords; the
files are written as slim's converters write them (tlslim.testing.tfrecords)."""
import os
import re

import pytest

from tlslim import data, train
from tlslim.errors import TlslimError
from tlslim.testing import tfrecords

from _subprocess_runs import run, start

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
    proc = run(args, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _in_turn(cwd, *commands):
    """The commands one after the other in `cwd` (each reads what the one before wrote)."""
    return [_run(command, cwd) for command in commands]


@pytest.fixture(scope="module")
def runs(sets, tmp_path_factory):
    """Every script command of the module, started together on first use (the commands of one
    test one after the other, in a working directory of its own): name -> (Future of the list of
    CompletedProcesses, the working directory)."""
    from tlslim.testing import checkpoints, datasets
    work = {name: tmp_path_factory.mktemp(name) for name in ("flowers", "imagenet", "mnist", "cifar10", "release",
                                                             "photos")}
    scratch = ["--model", "cifarnet", "--strategy", "scratch", "--image_size", "32", "--batch_size", "4"]
    chains = {
        "flowers": [[FINETUNE, "--dataset_name", "flowers", "--dataset_dir", sets / "flowers", *scratch,
                     "--max_steps", "3", "--train_dir", "run"],
                    [EVALUATE, "--checkpoint_path", "run", "--max_num_batches", "1", "--batch_size", "4"]],
        "imagenet": [[FINETUNE, "--dataset", "imagenet", "--dataset_dir", sets / "imagenet", "--labels_offset", "1",
                      *scratch, "--max_steps", "2", "--train_dir", "run"],
                     [EVALUATE, "--checkpoint_path", "run"]],  # the record's offset applies
    }
    for name, directory, model in (("mnist", "mnist", "lenet"), ("cifar10", "cifar", "cifarnet")):
        chains[name] = [[FINETUNE, "--dataset", name, "--dataset_dir", sets / directory, "--model", model,
                         "--strategy", "scratch", "--max_steps", "2", "--batch_size", "4", "--train_dir", name],
                        [EVALUATE, "--checkpoint_path", name]]
    release = checkpoints.write_net_checkpoint("mobilenet_v1_025", str(work["release"] / "mobilenet.ckpt"))
    chains["release"] = [[EVALUATE, "--model_name", "mobilenet_v1_025", "--checkpoint_path", release,
                          "--dataset_name", "imagenet", "--dataset_dir", sets / "imagenet", "--dataset_split_name",
                          "test", "--eval_image_size", "64"]]
    datasets.write_image_folder(str(work["photos"] / "photos"), {"hat": 12, "sunglasses": 10, "scarf": 8})
    chains["photos"] = [[os.path.join(ROOT, "scripts", "convert_dataset.py"), "--dataset_name", "photos",
                         "--dataset_dir", "photos", "--output_dir", "photos_tfrecord"],
                        [FINETUNE, "--dataset_name", "photos", "--dataset_dir", "photos_tfrecord", *scratch,
                         "--max_steps", "2"],
                        [EVALUATE, "--checkpoint_path", "runs/cifarnet-photos-scratch"]]
    first = sorted(chains, key=lambda name: -len(chains[name]))  # the longest chains first: none left alone at the end
    return {name: (start(_in_turn, work[name], *chains[name]), work[name]) for name in first}


def test_flowers_with_slims_flag_names_then_evaluate(runs):
    """slim's walkthrough: --dataset_name flowers, JPEGs of varying sizes streamed and resized."""
    future, cwd = runs["flowers"]
    proc, evaluated = future.result()
    assert "flowers: 12 training images in 5 classes, streamed from slim's TFRecords" in proc.stderr
    assert "on 6 test images" in proc.stderr  # the validation split, counted
    assert train.read_run_record(str(cwd / "run"))["class_names"] == list(tfrecords.FLOWERS_CLASSES)
    assert re.search(r"cifarnet on flowers/test \(4 images\): top-1 ", evaluated.stdout), evaluated.stdout


def test_imagenet_labels_offset_with_a_1000_class_head(runs):
    future, cwd = runs["imagenet"]
    _, evaluated = future.result()
    record = train.read_run_record(str(cwd / "run"))
    assert (record["num_classes"], record["labels_offset"]) == (1000, 1)
    assert re.search(r"on imagenet/test \(\d+ images\): top-1 ", evaluated.stdout), evaluated.stdout


def test_grayscale_mnist_feeds_an_rgb_net_and_cifar10_tfrecords_are_found(sets, runs):
    for name, model in (("mnist", "lenet"), ("cifar10", "cifarnet")):
        proc, evaluated = runs[name][0].result()
        assert f"{name}: 20 training images in 10 classes, streamed from slim's TFRecords" in proc.stderr
        assert re.search(rf"{model} on {name}/test \(10 images\): top-1 ", evaluated.stdout), evaluated.stdout
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


def test_a_release_checkpoint_on_imagenets_validation_split(sets, runs):
    """eval_image_classifier.py's check of a downloaded checkpoint: a 1001-class release (SYNTHETIC
    values under the release's names and shapes) on imagenet's validation records, background at 0,
    with the release's own preprocessing (slim's inception crops)."""
    proc, = runs["release"][0].result()
    count = data.load("imagenet", str(sets / "imagenet"), split="test").num_examples
    assert re.search(rf"mobilenet_v1_025 on imagenet/test \({count} images\): top-1 \d\.\d+  top-5 \d\.\d+",
                     proc.stdout), proc.stdout


def test_slims_walkthrough_convert_train_evaluate(runs):
    """A folder of photos converted to slim's format, then trained on and evaluated by its name."""
    _, proc, evaluated = runs["photos"][0].result()
    assert "photos: 24 training images in 3 classes, streamed from slim's TFRecords" in proc.stderr
    assert re.search(r"cifarnet on photos/test \(6 images\): top-1 ", evaluated.stdout), evaluated.stdout
