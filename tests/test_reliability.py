"""Bad inputs to scripts/finetune.py give one `error: ` line, exit 2, no traceback and nothing
written; a failed checkpoint write keeps the previous checkpoint as the latest.

Bad inputs already covered elsewhere (not repeated here): the download and inspect scripts'
missing/truncated/other-net checkpoints (test_checkpoint_scripts.py), a head that does not fit
the dataset without --exclude and --model without --checkpoint_path (test_finetune_cli.py),
SIGKILL, Ctrl-C and NaN loss (test_train_resume.py), the data loaders' messages in-process
(test_data_*.py). Every subprocess here stops before training; they run side by side.
All checkpoints and datasets are SYNTHETIC (tlslim.testing).
"""
import os

import pytest

from tlslim import train
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints, datasets

from _subprocess_runs import run, start

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(REPO, "scripts", "finetune.py")
FAST = ["--max_steps", "1", "--batch_size", "2", "--eval_examples", "4", "--train_subset", "1", "--noaugment"]


def _listing(root):
    """Every path under `root` (relative), to check that a failed run wrote nothing."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    made = {"root": root}
    made["cifarnet"] = checkpoints.write_net_checkpoint("cifarnet", str(root / "cifarnet.ckpt"))
    made["lenet"] = checkpoints.write_net_checkpoint("lenet", str(root / "lenet.ckpt"))
    with open(made["cifarnet"], "rb") as f:
        head = f.read(1000)
    made["truncated"] = str(root / "truncated.ckpt")
    with open(made["truncated"], "wb") as f:
        f.write(head)
    batches, _ = datasets.write_cifar10_batches(str(root / "cifar_corrupt"), per_batch=2, num_test=2)
    with open(os.path.join(batches, "data_batch_3"), "wb") as f:
        f.write(b"\x80\x02}q\x00(garbage, not a pickle")
    made["cifar_corrupt"] = batches
    (root / "cifar_empty").mkdir()
    (root / "no_images" / "cats").mkdir(parents=True)
    (root / "no_images" / "cats" / "notes.txt").write_text("not an image\n")
    datasets.write_image_folder(str(root / "one_class"), {"cats": 3}, size=(8, 8))
    made["a_file"] = root / "a_file"
    made["a_file"].write_text("not a directory\n")
    # A train_dir holding a (SYNTHETIC) LeNet checkpoint as the latest, with no run record.
    other = root / "other_run"
    checkpoints.write_checkpoint(str(other / "model.ckpt-5"),
                                 checkpoints.synthetic_tensors(checkpoints.net_shapes("lenet")), version=2,
                                 update_state=True)
    made["other_run"] = other
    return made


NAMES = ("missing_checkpoint", "truncated_checkpoint", "other_net_checkpoint", "missing_dataset_dir",
         "dataset_dir_without_files", "corrupt_cifar_batch", "folder_without_images", "folder_with_one_class",
         "unknown_model", "zero_batch_size", "image_size_too_small", "exclude_matches_nothing",
         "trainable_matches_nothing", "train_dir_is_a_file", "train_dir_under_a_file", "train_dir_of_another_model")


def _cases(m):
    """name -> (finetune.py flags, fragments the error line must hold)."""
    root = m["root"]
    scratch = ["--strategy", "scratch", "--dataset", "synthetic"] + FAST
    head = ["--checkpoint_path", m["cifarnet"], "--exclude", "CifarNet/logits", "--dataset", "synthetic"] + FAST
    return {
        "missing_checkpoint": (["--checkpoint_path", str(root / "nope.ckpt"), "--exclude", "CifarNet/logits",
                                "--dataset", "synthetic"] + FAST, ["nope.ckpt"]),
        "truncated_checkpoint": (["--checkpoint_path", m["truncated"], "--exclude", "CifarNet/logits",
                                  "--dataset", "synthetic"] + FAST, ["truncated.ckpt"]),
        "other_net_checkpoint": (["--checkpoint_path", m["lenet"], "--exclude", "CifarNet/logits",
                                  "--dataset", "synthetic"] + FAST, ["lenet.ckpt", "holds no variables under CifarNet"]),
        "missing_dataset_dir": (["--strategy", "scratch", "--dataset", "cifar10", "--dataset_dir",
                                 str(root / "no_such_dir")] + FAST, ["no_such_dir", "download_cifar10.py"]),
        "dataset_dir_without_files": (["--strategy", "scratch", "--dataset", "cifar10", "--dataset_dir",
                                       str(root / "cifar_empty")] + FAST, ["cifar_empty", "download_cifar10.py"]),
        "corrupt_cifar_batch": (["--strategy", "scratch", "--dataset", "cifar10", "--dataset_dir",
                                 m["cifar_corrupt"]] + FAST, ["data_batch_3"]),
        "folder_without_images": (["--strategy", "scratch", "--dataset", "folder", "--dataset_dir",
                                   str(root / "no_images")] + FAST, ["no_images", "no JPEG/PNG images"]),
        "folder_with_one_class": (["--strategy", "scratch", "--dataset", "folder", "--dataset_dir",
                                   str(root / "one_class")] + FAST, ["only one class (cats)"]),
        "unknown_model": (["--model", "resnet_9000", "--dataset", "synthetic"] + FAST,
                          ["resnet_9000", "cifarnet", "vgg_16"]),
        "zero_batch_size": (scratch + ["--batch_size", "0"], ["--batch_size must be positive, got 0"]),
        "image_size_too_small": (scratch + ["--image_size", "3"],
                                 ["cifarnet needs images of at least 4x4", "--image_size 4"]),
        "exclude_matches_nothing": (head[:3] + ["CifarNet/no_such_layer"] + head[4:], ["CifarNet/no_such_layer"]),
        "trainable_matches_nothing": (head + ["--trainable_scopes", "CifarNet/no_such_layer"],
                                      ["CifarNet/no_such_layer"]),
        "train_dir_is_a_file": (scratch + ["--train_dir", str(m["a_file"])], ["--train_dir", "a_file"]),
        "train_dir_under_a_file": (scratch + ["--train_dir", str(m["a_file"] / "sub")], ["--train_dir", "a_file"]),
        "train_dir_of_another_model": (scratch + ["--train_dir", str(m["other_run"])],
                                       ["--train_dir", "another model", "new --train_dir"]),
    }


@pytest.fixture(scope="module")
def runs(inputs):
    """Run every case (side by side); name -> (CompletedProcess, listing before, after)."""
    cases = _cases(inputs)
    assert tuple(cases) == NAMES
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    root = inputs["root"]
    # Each its own working directory: two runs on one default train_dir would meet its lock.
    for n in NAMES:
        (root / f"cwd_{n}").mkdir()
    before = _listing(root)
    procs = {n: start(run, [FINETUNE, *cases[n][0]], cwd=root / f"cwd_{n}", env=env) for n in NAMES}
    results = {n: proc.result() for n, proc in procs.items()}
    after = _listing(root)

    def seen_by(n, listing):
        """What case `n` may have written: all but the other cases' working directories."""
        others = {f"cwd_{m}" for m in NAMES if m != n}
        return {p for p in listing if p.split(os.sep)[0] not in others}
    return {n: (results[n], seen_by(n, before), seen_by(n, after)) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_gives_one_error_line(inputs, runs, name):
    proc, before, after = runs[name]
    fragments = _cases(inputs)[name][1]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    # Nothing written: no train_dir (the default runs/... under cwd), no new files next to the inputs.
    assert after == before, sorted(after ^ before)


def test_bad_numbers_in_the_library():
    """The same checks as --batch_size 0 for the cases not run as subprocesses."""
    for field, value in (("batch_size", -3), ("image_size", -32), ("image_size", 0)):
        config = train.TrainConfig(model="cifarnet", strategy="scratch", dataset="synthetic", **{field: value})
        with pytest.raises(TlslimError, match=rf"--{field} must be positive, got {value}"):
            train.train(config)


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    """A disk-full error on the second save: TlslimError, and the first checkpoint stays the latest."""
    train_dir = tmp_path / "run"
    real_save = tf.train.Saver.save
    calls = []

    def save(self, *args, **kwargs):
        calls.append(kwargs.get("global_step"))
        if len(calls) == 2:
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(tf.train.Saver, "save", save)
    config = train.TrainConfig(model="cifarnet", strategy="scratch", dataset="synthetic", train_subset=1,
                               batch_size=2, eval_examples=4, augment=False, max_steps=4, save_every_steps=2,
                               train_dir=str(train_dir))
    with pytest.raises(TlslimError) as err:
        train.train(config)
    message = str(err.value)
    assert "\n" not in message and "(no space left on device)" in message and str(train_dir) in message
    latest = tf.train.latest_checkpoint(str(train_dir))
    assert os.path.basename(latest) == "model.ckpt-2"
    assert int(tf.train.load_checkpoint(latest).get_tensor("global_step")) == 2


def test_evaluate_bad_inputs_in_the_library(inputs):
    """train.evaluate (scripts/evaluate.py's library call) raises one-line TlslimErrors too."""
    root = inputs["root"]
    cases = [(dict(checkpoint_path=str(root / "nope.ckpt")), "nope.ckpt"),
             (dict(checkpoint_path=inputs["truncated"]), "truncated.ckpt"),
             (dict(checkpoint_path=inputs["lenet"]), "holds no variables under CifarNet"),
             (dict(checkpoint_path=inputs["cifarnet"], batch_size=0), "batch_size must be a positive integer"),
             (dict(checkpoint_path=inputs["cifarnet"], image_size=3), "cifarnet needs images of at least 4x4")]
    for kwargs, fragment in cases:
        with pytest.raises(TlslimError) as err:
            train.evaluate("cifarnet", dataset="synthetic", num_examples=4, **kwargs)
        assert fragment in str(err.value) and "\n" not in str(err.value), (kwargs, str(err.value))
