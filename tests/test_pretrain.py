"""scripts/pretrain.py, tlslim.pretrain and the shipped embedded checkpoint.

The pretraining runs here are tiny (3 steps of batch 4 on 2 SYNTHETIC source images per class):
they check the export format, the record and determinism, not the recipe's accuracy. The shipped
file is checked against its record and evaluated on the source test split.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tlslim import data, embedded, pretrain, restore, train
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "pretrain.py")
SHIPPED = os.path.join(REPO, embedded.RELATIVE_DIR, embedded.FILE_NAME)
TINY = dict(max_steps=3, batch_size=4, train_subset=2, eval_examples=20)
TINY_FLAGS = ["--max_steps", "3", "--batch_size", "4", "--train_subset", "2", "--eval_examples", "20"]


def _expected_shapes():
    """The release-style content: CifarNet's model variables (manifest names and shapes, a
    20-class head) and global_step; nothing else."""
    shapes = checkpoints.net_shapes("cifarnet", num_classes=20, extra=False)
    shapes["global_step"] = []
    return shapes


def _tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _run(args, timeout=600, cwd=None, script=SCRIPT):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, script] + args, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def _error_lines(out):
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    runs = {}
    for name, seed, train_dir in (("a", 0, str(root / "train_a")), ("b", 1, None)):
        config = pretrain.make_config(output=str(root / name / "cifarnet_synthetic.ckpt"), seed=seed,
                                      train_dir=train_dir, **TINY)
        runs[name] = (config, pretrain.pretrain(config))
    return root, runs


def test_export_is_one_v1_file_with_the_model_variables_and_global_step_only(tiny):
    root, runs = tiny
    config, record = runs["a"]
    assert sorted(os.listdir(root / "a")) == ["cifarnet_synthetic.ckpt", "cifarnet_synthetic.json"]
    assert restore.resolve_checkpoint(config.output) == config.output  # a file, not a V2 prefix
    assert restore.resolve_checkpoint(str(root / "a")) == config.output  # the directory finds it
    assert restore.list_checkpoint(config.output) == _expected_shapes()
    dtypes = restore.checkpoint_dtypes(config.output)
    assert dtypes.pop("global_step") == "int64" and set(dtypes.values()) == {"float32"}
    assert int(_tensors(config.output)["global_step"]) == 3


def test_export_holds_exactly_the_trained_values(tiny):
    root, runs = tiny
    config, _ = runs["a"]
    trained = _tensors(tf.train.latest_checkpoint(config.train.train_dir))
    exported = _tensors(config.output)
    assert any(name.endswith("/Momentum") or name.endswith("/Adam") for name in trained)  # slots left out
    for name, value in exported.items():
        np.testing.assert_array_equal(value, trained[name], err_msg=name)


def test_record_describes_the_file(tiny):
    _, runs = tiny
    config, record = runs["a"]
    assert pretrain.read_record(config.output) == record
    assert record["sha256"] == pretrain.sha256(config.output)
    assert record["bytes"] == os.path.getsize(config.output)
    assert (record["model"], record["dataset"], record["num_classes"], record["step"]) == (
        "cifarnet", "synthetic_source", 20, 3)
    assert record["class_names"] == data.synthetic.class_names("synthetic_source")
    assert record["source_test_examples"] == 20 and record["source_test_top1"] * 20 == round(
        record["source_test_top1"] * 20)
    assert record["config"]["seed"] == 0 and record["config"]["max_steps"] == 3
    assert "SYNTHETIC" in record["note"] and "not ImageNet" in record["note"]


def test_seed_decides_the_weights(tiny):
    _, runs = tiny
    a, b = _tensors(runs["a"][0].output), _tensors(runs["b"][0].output)
    assert runs["a"][1]["sha256"] != runs["b"][1]["sha256"]
    assert not np.array_equal(a["CifarNet/conv1/weights"], b["CifarNet/conv1/weights"])


def _contents(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


def test_the_command_reproduces_the_file_bit_for_bit(tiny, tmp_path):
    """Another process, another train_dir (a temporary one), the same seed: the same bytes. With no
    --output the file goes under runs/ of the working directory, never to the embedded checkpoint;
    a second run replaces it only with --overwrite."""
    root, runs = tiny
    shipped = _contents(pathlib.Path(SHIPPED).parent)
    output, out_dir = os.path.join("runs", "pretrain", "cifarnet_synthetic.ckpt"), tmp_path / "runs" / "pretrain"
    first = _run(TINY_FLAGS, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.splitlines()[1] == f"sha256 {runs['a'][1]['sha256']}"
    assert first.stdout.startswith(f"wrote {output} ({os.path.getsize(tmp_path / output)} bytes, step 3) in ")
    assert sorted(os.listdir(out_dir)) == ["cifarnet_synthetic.ckpt", "cifarnet_synthetic.json"]
    assert _contents(pathlib.Path(SHIPPED).parent) == shipped

    written = _contents(out_dir)
    refused = _run(TINY_FLAGS + ["--train_dir", str(tmp_path / "train")], cwd=tmp_path)
    assert refused.returncode == 2 and _error_lines(refused) == [
        f"error: --output {output}: {tmp_path / output} already exists; pass --overwrite to replace it (the new "
        f"files go in only once complete), or choose another --output."], refused.stderr[-3000:]
    assert "Traceback" not in refused.stderr and not (tmp_path / "train").exists()  # refused before training
    assert _contents(out_dir) == written

    second = _run(TINY_FLAGS + ["--overwrite"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.splitlines()[-1] == (f"the new file is identical to the one it replaced "
                                              f"(sha256 {runs['a'][1]['sha256']})")
    assert sorted(os.listdir(out_dir)) == ["cifarnet_synthetic.ckpt", "cifarnet_synthetic.json"]  # no temporaries


def _fake_repo(tmp_path):
    """The script and the package in a repository layout of their own, with a stand-in for the
    embedded checkpoint and its record (the package finds them beside itself): a refusal that
    failed would overwrite the stand-in, never the real file."""
    scripts = tmp_path / "repo" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy(SCRIPT, scripts / "pretrain.py")
    shutil.copytree(os.path.join(REPO, "tlslim"), tmp_path / "repo" / "tlslim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    embedded_dir = tmp_path / "repo" / embedded.RELATIVE_DIR
    embedded_dir.mkdir(parents=True)
    (embedded_dir / embedded.FILE_NAME).write_bytes(b"stand-in checkpoint")
    (embedded_dir / "cifarnet_synthetic.json").write_text('{"sha256": "stand-in"}\n')
    return str(scripts / "pretrain.py"), embedded_dir


def test_the_embedded_checkpoint_is_refused_without_overwrite(tmp_path):
    script, embedded_dir = _fake_repo(tmp_path)
    before = _contents(embedded_dir)
    # However it is spelled: the directory's file, through '..'.
    spelled = os.path.join(str(embedded_dir), "..", embedded.DIR_NAME, embedded.FILE_NAME)
    out = _run(TINY_FLAGS + ["--output", spelled, "--train_dir", str(tmp_path / "train")], cwd=tmp_path,
               script=script)
    assert out.returncode == 2 and _error_lines(out) == [
        f"error: --output {spelled} is the embedded checkpoint that ships with tlslim "
        f"(checkpoints/cifarnet_synthetic); pass --overwrite to replace it (the new file goes in only once "
        f"complete), or choose another --output."], out.stderr[-3000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "train").exists()  # refused before training
    assert _contents(embedded_dir) == before


def test_bad_output_name_is_a_one_line_error(tmp_path):
    out = _run(TINY_FLAGS + ["--output", str(tmp_path / "model.ckpt.index")])
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        f"error: --output must be a file name ending in .ckpt (a V1 checkpoint file), got "
        f"{tmp_path / 'model.ckpt.index'}."]
    assert not os.listdir(tmp_path)


def test_export_refuses_a_checkpoint_of_another_net(tmp_path):
    lenet = checkpoints.write_net_checkpoint("lenet", str(tmp_path / "lenet.ckpt"))
    with pytest.raises(TlslimError, match=r"^checkpoint .*lenet\.ckpt does not hold cifarnet with 20 classes "
                                          r"\(CifarNet/.* is missing\); export a checkpoint of that net\.$"):
        pretrain.export_release(lenet, str(tmp_path / "out.ckpt"), "cifarnet", 20)
    assert not os.path.exists(tmp_path / "out.ckpt")


# ---------------------------------------------------------------- the shipped file

@pytest.fixture(scope="module")
def shipped_record():
    record = pretrain.read_record(SHIPPED)
    assert record is not None, f"{SHIPPED} has no record; run scripts/pretrain.py"
    return record


def test_shipped_checkpoint_is_the_recorded_release_style_file(shipped_record):
    directory = os.path.dirname(SHIPPED)
    assert sorted(os.listdir(directory)) == ["cifarnet_synthetic.ckpt", "cifarnet_synthetic.json"]
    assert restore.resolve_checkpoint(directory) == SHIPPED  # what finetune.py's default resolves to
    assert restore.list_checkpoint(SHIPPED) == _expected_shapes()
    assert shipped_record["sha256"] == pretrain.sha256(SHIPPED)
    assert os.path.getsize(SHIPPED) == shipped_record["bytes"] < 8_000_000  # float32, "a few MB"
    # scripts/pretrain.py with no flags is the recipe that made it.
    default = pretrain.PretrainConfig().recipe()
    assert shipped_record["config"] == default
    assert shipped_record["step"] == default["max_steps"] == int(_tensors(SHIPPED)["global_step"])


def test_shipped_checkpoint_classifies_the_source_task_as_recorded(shipped_record):
    metrics = train.evaluate("cifarnet", SHIPPED, "synthetic_source", batch_size=500)
    assert metrics["count"] == shipped_record["source_test_examples"] == 2000
    # The same computation on another CPU may round differently: a few borderline images may flip.
    assert metrics["top1"] == pytest.approx(shipped_record["source_test_top1"], abs=0.005)
    assert shipped_record["source_test_top1"] >= 0.4  # 20 classes: chance is 0.05


def test_shipped_checkpoint_restores_into_the_target_net_minus_its_head():
    shapes = pretrain.model_variable_shapes("cifarnet", 10)
    report = restore.preflight(shapes, os.path.dirname(SHIPPED), exclude=["CifarNet/logits"])
    assert report.ok and not report.missing and not report.mismatched
    assert report.checkpoint_path == SHIPPED
