"""A regular (non-editable) install carries the embedded checkpoint and works with no source tree.

The package is installed with pip into a temporary --target directory, offline and without
dependencies (they come from the environment running the tests), and used from a working
directory outside the repository with that copy first on the path.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tlslim import embedded

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(REPO, "scripts", "finetune.py")

PROBE = """
import json
import os
import tensorflow as tf
import tlslim
from tlslim import embedded
reader = tf.train.load_checkpoint(embedded.checkpoint_file())
print(json.dumps({
    "tlslim": tlslim.__file__,
    "dir": embedded.checkpoint_dir(),
    "file": embedded.checkpoint_file(),
    "required": embedded.require_checkpoint(),
    "display": embedded.display_path(embedded.checkpoint_file()),
    "shapes": reader.get_variable_to_shape_map(),
}))
"""


def _inside(path, directory):
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def _env(site):
    # Only the installed copy on PYTHONPATH: a developer's PYTHONPATH=<repo> must not leak in.
    return dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2")


def test_source_checkout_uses_the_repository_copy(monkeypatch):
    # This checkout (editable install) has no tlslim/checkpoints/: the repository's directory is it.
    assert embedded.checkpoint_dir() == os.path.join(REPO, "checkpoints", "cifarnet_synthetic")
    assert embedded.require_checkpoint() == embedded.checkpoint_dir()
    monkeypatch.chdir(REPO)
    for spelling in ("checkpoints/cifarnet_synthetic", "checkpoints/cifarnet_synthetic/",
                     "./checkpoints//cifarnet_synthetic/cifarnet_synthetic.ckpt",
                     os.path.join(REPO, "tlslim", "..", "checkpoints", "cifarnet_synthetic")):
        assert embedded.is_embedded(spelling), spelling
        assert embedded.display_path(spelling) == embedded.RELATIVE_DIR
    for other in ("checkpoints", "checkpoints/cifarnet_synthetic/cifarnet_synthetic.json", "", None):
        assert not embedded.is_embedded(other)
        assert embedded.display_path(other) == other


def test_missing_checkpoint_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "_INSTALLED_DIR", str(tmp_path / "installed"))
    monkeypatch.setattr(embedded, "_SOURCE_DIR", str(tmp_path / "source"))
    assert embedded.checkpoint_dir() == str(tmp_path / "source")  # where pretrain.py --output checkpoints/... writes it
    with pytest.raises(embedded.TlslimError) as err:
        embedded.require_checkpoint()
    assert str(err.value) == ("the built-in checkpoint checkpoints/cifarnet_synthetic is not there; make it with "
                              "`python scripts/pretrain.py --output "
                              "checkpoints/cifarnet_synthetic/cifarnet_synthetic.ckpt`, or pass --checkpoint_path.")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A directory holding a non-editable install of tlslim (pip install --target)."""
    root = tmp_path_factory.mktemp("install")
    assert not _inside(root, REPO)
    # Build from a copy: an in-tree build would leave build/ and rewrite tlslim.egg-info in the
    # repository (which an editable install and other runs are using).
    source = root / "source"
    source.mkdir()
    for name in os.listdir(REPO):
        if os.path.isfile(os.path.join(REPO, name)):  # setup.py, README.md (its long_description), ...
            shutil.copy2(os.path.join(REPO, name), source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in ("tlslim", "checkpoints"):
        shutil.copytree(os.path.join(REPO, name), source / name, ignore=ignore)
    target = root / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--disable-pip-version-check", "--quiet", "--target", str(target), str(source)],
        cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return target


def test_installed_copy_finds_its_checkpoint(site, tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=_env(site),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert os.path.realpath(found["tlslim"]) == os.path.realpath(site / "tlslim" / "__init__.py")
    package = site / "tlslim"
    assert _inside(found["dir"], package) and _inside(found["file"], package)
    assert found["file"] == os.path.join(found["dir"], embedded.FILE_NAME)
    assert found["required"] == found["dir"]
    assert found["display"] == embedded.RELATIVE_DIR
    assert found["shapes"]["CifarNet/logits/weights"] == [192, 20]
    # The record and the README travel with it.
    assert os.path.isfile(os.path.join(found["dir"], "cifarnet_synthetic.json"))
    assert os.path.isfile(package / "checkpoints" / "README.md")


def test_finetune_script_runs_on_installed_copy(site, tmp_path):
    # scripts/finetune.py puts its parent's parent on sys.path; out here that holds no tlslim.
    script = tmp_path / "scripts" / "finetune.py"
    script.parent.mkdir()
    shutil.copy2(FINETUNE, script)
    out = subprocess.run([sys.executable, str(script), "--max_steps", "20", "--train_dir", str(tmp_path / "run"),
                          "--eval_examples", "100"],
                         cwd=tmp_path, env=_env(site), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert out.stdout.strip().splitlines()[-1].startswith("step 20: test top-1"), out.stdout[-2000:]
