"""scripts/download_checkpoint.py and scripts/inspect_checkpoint.py, run as subprocesses.

The "release" is a SYNTHETIC inception_v1_2016_08_28.tar.gz (the smallest net with a release:
26 MB) made by tlslim.testing.checkpoints and served from 127.0.0.1; nothing reaches the internet.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from tlslim import restore
from tlslim.compat import tf
from tlslim.testing import checkpoints
from tlslim.testing.http import serve_directory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET, TARBALL, CKPT = "inception_v1", "inception_v1_2016_08_28.tar.gz", "inception_v1.ckpt"
SEED = 5


def run(script, *args, cwd):
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", script), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def assert_release_checkpoint(path):
    """`path` is the served release checkpoint: release names and shapes, the synthetic values."""
    expected = checkpoints.net_shapes(NET)
    assert restore.list_checkpoint(path) == dict(sorted(expected.items()))
    reader = tf.train.load_checkpoint(path)
    for name, shape in expected.items():
        assert reader.get_tensor(name).tobytes() == checkpoints.synthetic_value(name, shape, SEED).tobytes(), name


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """(served directory, tarball path) of the SYNTHETIC release tarball."""
    served = tmp_path_factory.mktemp("served")
    return served, checkpoints.make_release_tarball(NET, str(served), seed=SEED)


@pytest.fixture(scope="module")
def other_net_ckpt(tmp_path_factory):
    """A SYNTHETIC cifarnet checkpoint: the wrong net for inception_v1."""
    path = str(tmp_path_factory.mktemp("other") / "cifarnet.ckpt")
    return checkpoints.write_net_checkpoint("cifarnet", path, seed=1)


def test_download_over_http_unpacks_and_verifies(release, tmp_path):
    served, tarball = release
    dest = tmp_path / "checkpoints"
    with serve_directory(served) as base_url:
        proc = run("download_checkpoint.py", NET, "--url", base_url + TARBALL, "--dest", dest, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{NET}: {dest / CKPT} verified" in proc.stdout
    assert "global_step" in proc.stdout  # the extra entry is named as never restored
    assert f"{TARBALL}: " in proc.stderr and "100.0%" in proc.stderr  # progress
    assert sorted(os.listdir(dest)) == sorted([CKPT, checkpoints.NOTE_NAME])  # no tarball or .part left
    assert_release_checkpoint(str(dest / CKPT))


def test_from_a_tarball_and_from_a_checkpoint_file(release, tmp_path):
    _, tarball = release
    proc = run("download_checkpoint.py", NET, "--from", tarball, "--dest", "ck", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert os.path.isfile(tarball)  # the user's file is left alone
    assert_release_checkpoint(str(tmp_path / "ck" / CKPT))

    proc = run("download_checkpoint.py", NET, "--from", tmp_path / "ck" / CKPT, "--dest", "copy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{os.path.join('copy', CKPT)} verified" in proc.stdout
    assert (tmp_path / "copy" / CKPT).read_bytes() == (tmp_path / "ck" / CKPT).read_bytes()


def test_download_bad_inputs(release, other_net_ckpt, tmp_path):
    served, tarball = release
    truncated = tmp_path / TARBALL
    truncated.write_bytes(open(tarball, "rb").read()[: os.path.getsize(tarball) // 2])
    wrong = checkpoints.make_tarball(str(tmp_path / "wrong" / TARBALL), {CKPT: other_net_ckpt})

    assert_one_line_error(run("download_checkpoint.py", NET, "--from", tmp_path / "nope.ckpt", cwd=tmp_path),
                          "nope.ckpt", "not found")
    assert_one_line_error(run("download_checkpoint.py", NET, "--from", truncated, cwd=tmp_path),
                          "corrupt or truncated")
    assert_one_line_error(run("download_checkpoint.py", NET, "--from", wrong, cwd=tmp_path),
                          f"is not a checkpoint of {NET}", "it looks like a cifarnet checkpoint")
    with serve_directory(served) as base_url:
        proc = run("download_checkpoint.py", NET, "--url", base_url + "missing.tar.gz", "--dest", "d", cwd=tmp_path)
    assert_one_line_error(proc, "HTTP 404")
    assert not os.path.exists(tmp_path / "d" / "missing.tar.gz.part")


def test_inspect_lists_names_shapes_dtypes(release, tmp_path):
    path = checkpoints.write_checkpoint(str(tmp_path / "mixed.ckpt"), checkpoints.synthetic_tensors(
        {"net/conv1/weights": [3, 3, 3, 8], "net/conv1/biases": [8], "global_step": []}))
    proc = run("inspect_checkpoint.py", path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("  ") for line in proc.stdout.splitlines()[:-1]]
    rows = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert rows == [["global_step", "[]", "int64"], ["net/conv1/biases", "[8]", "float32"],
                    ["net/conv1/weights", "[3, 3, 3, 8]", "float32"]]
    assert proc.stdout.splitlines()[-1].startswith("3 entries, 225 values")


def test_inspect_against_a_net(other_net_ckpt, tmp_path):
    proc = run("inspect_checkpoint.py", other_net_ckpt, "--model", "cifarnet", "--num_classes", 5, cwd=tmp_path)
    assert_one_line_error(proc, "CifarNet/logits/weights is [192, 5] in the graph but [192, 10]",
                          "add --exclude CifarNet/logits")
    assert "Shape mismatches, graph vs checkpoint (2)" in proc.stdout

    proc = run("inspect_checkpoint.py", other_net_ckpt, "--model", "cifarnet", "--num_classes", 5,
               "--exclude", "auto", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--exclude auto excludes: CifarNet/logits" in proc.stdout and "Preflight: OK." in proc.stdout


def test_inspect_corrupt_file(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(np.arange(1000, dtype=np.int32).tobytes())
    assert_one_line_error(run("inspect_checkpoint.py", corrupt, cwd=tmp_path), "cannot read checkpoint", "corrupt")


def test_download_unpacks_a_v2_release(tmp_path):
    """The MobileNet releases ship a V2 checkpoint (`<name>.ckpt.index` + `.data-*`, plus files the
    tools do not read) inside a subdirectory of the release URL; the SYNTHETIC stand-in has that layout."""
    from tlslim import nets
    info = nets.get_info("mobilenet_v1_025")
    assert info.checkpoint_url.endswith("/" + info.release_path) and "/" in info.release_path
    served = tmp_path / "served"
    prefix = checkpoints.write_net_checkpoint(info.name, str(tmp_path / "w" / info.checkpoint_file), version=2)
    files = {info.checkpoint_file + suffix: prefix + suffix for suffix in (".index", ".data-00000-of-00001")}
    (tmp_path / "w" / "frozen_graph.pb").write_bytes(b"not read")
    files["frozen_graph.pb"] = str(tmp_path / "w" / "frozen_graph.pb")
    tarball = checkpoints.make_tarball(str(served / info.checkpoint_tarball), files)
    dest = tmp_path / "checkpoints"
    with serve_directory(str(served)) as base_url:
        proc = run("download_checkpoint.py", info.name, "--url", base_url + os.path.basename(tarball), "--dest", dest,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{info.name}: {dest / info.checkpoint_file} verified" in proc.stdout
    assert restore.list_checkpoint(str(dest / info.checkpoint_file)) == dict(sorted(
        checkpoints.net_shapes(info.name).items()))
    proc = run("download_checkpoint.py", info.name, "--url", "http://127.0.0.1:9/unused", "--dest", dest,
               cwd=tmp_path)
    assert proc.returncode == 0 and "is already there; verifying it" in proc.stdout, proc.stderr


def test_download_finds_a_release_checkpoint_by_its_folders(tmp_path):
    """MobileNet v3's releases hold two checkpoints of one name (the moving averages in ema/, the
    raw weights in pristine/): the registry names ema/, and a second run finds it in place. The
    SYNTHETIC stand-in has that layout; the decoy's values differ."""
    from tlslim import nets
    info = nets.get_info("mobilenet_v3_small")
    assert info.checkpoint_file == "ema/model-388500"
    files = {}
    for folder, seed in (("pristine", 1), ("ema", 0)):
        prefix = checkpoints.write_net_checkpoint(info.name, str(tmp_path / "w" / folder / "model-388500"), version=2,
                                                  seed=seed)
        files.update({f"v3-small_224_1.0_float/{folder}/model-388500{suffix}": prefix + suffix
                      for suffix in (".index", ".data-00000-of-00001")})
    tarball = checkpoints.make_tarball(str(tmp_path / info.checkpoint_tarball), files)
    dest = tmp_path / "checkpoints"
    proc = run("download_checkpoint.py", info.name, "--from", tarball, "--dest", dest, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ema = dest / "v3-small_224_1.0_float" / "ema" / "model-388500"
    assert f"{info.name}: {ema} verified" in proc.stdout
    proc = run("download_checkpoint.py", info.name, "--url", "http://127.0.0.1:9/unused", "--dest", dest,
               cwd=tmp_path)
    assert proc.returncode == 0 and f"{ema} is already there; verifying it" in proc.stdout, proc.stderr
