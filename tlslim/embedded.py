"""The embedded default: the small CifarNet checkpoint pretrained on SYNTHETIC data that ships with tlslim.

    python scripts/finetune.py      # fine-tunes MODEL from checkpoint_dir() on DATASET at LEARNING_RATE

The checkpoint is `checkpoints/cifarnet_synthetic/cifarnet_synthetic.ckpt` in the repository
(see checkpoints/README.md); `pip install .` also installs it as package data inside the
`tlslim` package, so `checkpoint_dir()` finds it without a source tree.
"""
import os

from tlslim.errors import TlslimError

__all__ = [
    "DATASET", "DIR_NAME", "FILE_NAME", "LEARNING_RATE", "MAKER", "MODEL", "RELATIVE_DIR", "SOURCE_DATASET",
    "checkpoint_dir", "checkpoint_file", "display_path", "is_embedded", "require_checkpoint",
]

MODEL = "cifarnet"
DATASET = "synthetic"                 # the target task the example fine-tunes on
SOURCE_DATASET = "synthetic_source"   # the task the checkpoint was pretrained on
# The built-in example's head learning rate: at slim's 0.01 the new head on these features grows
# overconfident (test loss 3.7 at 60% top-1); 0.001 gives 68% at a loss near 1 (measured, 1000 steps).
LEARNING_RATE = 0.001
MAKER = "scripts/pretrain.py"         # writes the checkpoint and its record
DIR_NAME = "cifarnet_synthetic"
FILE_NAME = "cifarnet_synthetic.ckpt"
RELATIVE_DIR = "checkpoints/cifarnet_synthetic"  # how the README names it (and records show it)

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# setup.py installs the repository's checkpoints/ as the package data directory tlslim/checkpoints/.
_INSTALLED_DIR = os.path.join(_PACKAGE, "checkpoints", DIR_NAME)
# In a source checkout (or an editable install) the repository root is the parent of the package.
_SOURCE_DIR = os.path.join(os.path.dirname(_PACKAGE), "checkpoints", DIR_NAME)


def checkpoint_dir():
    """The directory holding the embedded checkpoint: the installed copy, else the source tree's."""
    # Prefer a directory that holds the file, then one that exists; the fallback is where
    # `scripts/pretrain.py --output checkpoints/...` writes it in a source checkout.
    candidates = (_INSTALLED_DIR, _SOURCE_DIR)
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, FILE_NAME)):
            return directory
    for directory in candidates:
        if os.path.isdir(directory):
            return directory
    return _SOURCE_DIR


def checkpoint_file():
    """The embedded checkpoint file (a TF V1 single file)."""
    return os.path.join(checkpoint_dir(), FILE_NAME)


def require_checkpoint():
    """checkpoint_dir() if the checkpoint file is there and readable; else a TlslimError saying how to make it."""
    path = checkpoint_file()
    if not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise TlslimError(f"the built-in checkpoint {RELATIVE_DIR} is not there; make it with "
                          f"`python {MAKER} --output {RELATIVE_DIR}/{FILE_NAME}`, or pass --checkpoint_path.")
    return checkpoint_dir()


def _canonical(path):
    # One spelling per file: user and relative paths, symlinks, '..', trailing separators, case on Windows.
    return os.path.normcase(os.path.realpath(os.path.expanduser(str(path).strip())))


def is_embedded(path):
    """True when `path` names the embedded checkpoint's directory or file, however spelled."""
    if path is None or not str(path).strip():
        return False
    return _canonical(path) in (_canonical(checkpoint_dir()), _canonical(checkpoint_file()))


def display_path(path):
    """RELATIVE_DIR for the embedded checkpoint (the README's name for it), else `path` unchanged."""
    return RELATIVE_DIR if is_embedded(path) else path
