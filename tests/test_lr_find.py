"""The learning-rate range test: an exponential sweep on the training engine that leaves only its
plot behind, a suggestion by a stated rule, and fastai's smoothing."""
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from tlslim import lr_find
from tlslim.errors import TlslimError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "lr_find.py")


def test_smoothing_is_an_unbiased_moving_average():
    # beta 0.5: avg1 = 0.5*2 = 1 -> 1/(1-0.5) = 2; avg2 = 0.5*1 + 0.5*4 = 2.5 -> 2.5/0.75.
    assert np.allclose(lr_find.smooth([2.0, 4.0], 0.5), [2.0, 2.5 / 0.75])
    assert np.allclose(lr_find.smooth([3.0, 1.0, 2.0], 0.0), [3.0, 1.0, 2.0])


def test_suggestion_rule():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    suggested, minimum, steepest = lr_find.suggest(lrs, [2.0, 1.9, 1.0, 0.8, 3.0])
    assert minimum == 1e-1 and suggested == pytest.approx(1e-2)
    assert steepest == 1e-2  # the largest drop per decade is around 1e-2


@pytest.mark.parametrize("settings, message", [
    (dict(start_lr=0.0), "--start_lr must be a positive number"),
    (dict(start_lr=1.0, end_lr=0.1), "--end_lr 0.1 must be above --start_lr 1"),
    (dict(num_steps=2), "--num_steps must be at least 5"),
    (dict(smoothing=1.0), "--smoothing must be in [0, 1)"),
])
def test_bad_settings(settings, message):
    with pytest.raises(TlslimError, match=re.escape(message)):
        lr_find.check_config(lr_find.make_config(**settings))


def test_the_sweep_leaves_only_its_plot(tmp_path):
    """From the command line on the embedded default: the rates rise exponentially from --start_lr,
    the suggestion follows the rule, and the working directory and the temporary directory hold
    nothing new but the plot."""
    temporaries = set(glob.glob(os.path.join(tempfile.gettempdir(), "tlslim-lr-find-*")))
    proc = subprocess.run([sys.executable, SCRIPT, "--num_steps", "40", "--output", "plots/sweep.png"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs) == \
        ["plots/sweep.png"]
    with open(tmp_path / "plots" / "sweep.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "tlslim-lr-find-*"))) == temporaries
    m = re.search(r"swept (\d+) steps from 1e-07 to (\S+)", proc.stdout)
    assert m and 5 <= int(m.group(1)) <= 40, proc.stdout
    # The k-th step's rate is 1e-7 * (10 / 1e-7) ** (k / 40), up to the step the loss took off.
    steps = int(m.group(1))
    assert float(m.group(2)) == pytest.approx(1e-7 * (1e8 ** ((steps - 1) / 40)), rel=0.01)
    m = re.search(r"suggested --learning_rate (\S+): the rate at the minimum of the smoothed loss divided by 10 "
                  r"\(fastai's lr_min\); the minimum is at (\S+),", proc.stdout)
    assert m and float(m.group(1)) == pytest.approx(float(m.group(2)) / 10, rel=0.06), proc.stdout
