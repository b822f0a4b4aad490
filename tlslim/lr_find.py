"""The learning-rate range test (Leslie Smith's, which fastai's `lr_find` made popular): train
the chosen strategy for a short exponential sweep of learning rates from a fresh restore, record
the loss at each step, plot it against the rate and suggest one.

    result = lr_find(make_config(model="cifarnet", checkpoint_path=..., exclude="CifarNet/logits"))
    result["suggested"], result["plot"]

The sweep is an ordinary run of the one training engine (tlslim.train.train with the schedule
'range': --learning_rate to --end_learning_rate, exponentially, over --max_steps) in a temporary
train_dir and feature cache that are deleted afterwards: no existing train_dir is read or
touched, no checkpoint is left behind, only the plot is written. The sweep stops once the
smoothed loss passes `stop_factor` times its minimum or stops being finite.

The loss is smoothed as fastai does (an exponential moving average with bias correction). The
suggested rate is the one at the smoothed loss's minimum divided by 10 (fastai's `lr_min`): the
minimum itself is already where training starts to become unstable. The steepest descent (the
most negative slope of the smoothed loss against log rate) is reported beside it.
"""
import dataclasses
import math
import os
import tempfile

import numpy as np

from tlslim import paths, train
from tlslim.errors import TlslimError
from tlslim.train.config import TrainConfig, field, nested_config

PLOT = "lr_find.png"
RULE = "the rate at the minimum of the smoothed loss divided by 10 (fastai's lr_min)"
# TrainConfig fields the sweep sets itself (the rest are the run being tuned).
SWEEP_FIELDS = ("learning_rate", "end_learning_rate", "lr_decay", "decay_steps", "decay_rate", "max_steps",
                "train_dir", "cache_dir", "save_every_steps", "keep_checkpoints", "eval_every_steps", "eval_examples",
                "eval_batch_size")


@dataclasses.dataclass
class LRFindConfig:
    """A range test: the run being tuned (a TrainConfig) and the sweep."""
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    start_lr: float = field(1e-7, "The sweep's first learning rate.")
    end_lr: float = field(10.0, "The sweep's last learning rate.")
    num_steps: int = field(100, "Steps of the sweep (one learning rate each).")
    stop_factor: float = field(4.0, "Stop once the smoothed loss is this many times its minimum.")
    smoothing: float = field(0.98, "Weight of the past in the loss's moving average (0: no smoothing).")
    output: str = field(PLOT, "Where the plot goes (PNG).")


def make_config(**settings):
    """An LRFindConfig from keyword settings: its own fields, and TrainConfig fields for `train`."""
    return nested_config(LRFindConfig, TrainConfig(), **settings)


def check_config(config):
    """Validate an LRFindConfig (TlslimError naming the flag); returns it."""
    for name in ("start_lr", "end_lr", "stop_factor"):
        value = getattr(config, name)
        if not math.isfinite(value) or value <= 0:
            raise TlslimError(f"--{name} must be a positive number, got {value}.")
    if config.end_lr <= config.start_lr:
        raise TlslimError(f"--end_lr {config.end_lr:g} must be above --start_lr {config.start_lr:g}: the sweep goes "
                          f"up.")
    if config.train.strategy == "fine_tune":
        raise TlslimError("--strategy fine_tune is two phases with their own rates; sweep one of them: --strategy "
                          "head (its first phase) or discriminative (its second).")
    if config.num_steps < 5:
        raise TlslimError(f"--num_steps must be at least 5 to draw a curve, got {config.num_steps}.")
    if not 0 <= config.smoothing < 1:
        raise TlslimError(f"--smoothing must be in [0, 1), got {config.smoothing}.")
    paths.check_output_file(config.output, "--output", "the plot")
    return config


def smooth(losses, beta):
    """fastai's smoothing: an exponential moving average with bias correction."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def suggest(lrs, smoothed):
    """(suggested rate, rate at the minimum, rate of steepest descent) of a finite sweep."""
    lrs, smoothed = np.asarray(lrs, float), np.asarray(smoothed, float)
    at_min = float(lrs[int(np.argmin(smoothed))])
    slope = np.gradient(smoothed, np.log(lrs)) if len(lrs) > 1 else np.zeros(1)
    return at_min / 10, at_min, float(lrs[int(np.argmin(slope))])


def lr_find(config):
    """Run the range test of `config` (an LRFindConfig); returns {'points' ([(step, lr, loss,
    smoothed loss)]), 'suggested', 'minimum', 'steepest', 'rule', 'stopped_early', 'plot'}."""
    config = check_config(config)
    config = dataclasses.replace(config, train=train.check_config(config.train))  # the strategy, settled
    points, best = [], [math.inf]

    def on_step(step, loss, lr):
        if not math.isfinite(loss):
            return True
        smoothed = smooth([p[2] for p in points] + [loss], config.smoothing)[-1]
        points.append((step, lr, loss, float(smoothed)))
        best[0] = min(best[0], smoothed)
        return smoothed > config.stop_factor * best[0]

    with tempfile.TemporaryDirectory(prefix="tlslim-lr-find-") as tmp:
        sweep = dataclasses.replace(
            config.train, learning_rate=config.start_lr, end_learning_rate=config.end_lr, lr_decay="range",
            decay_steps=None, max_steps=config.num_steps, train_dir=os.path.join(tmp, "run"),
            cache_dir=os.path.join(tmp, "cache"), save_every_steps=config.num_steps + 1, keep_checkpoints=1,
            eval_every_steps=0, eval_examples=1, eval_batch_size=None)
        result = train.train(sweep, on_step=on_step)
    if len(points) < 2:
        raise TlslimError(f"the loss was not finite from the sweep's first steps (learning rate {config.start_lr:g}); "
                          f"lower --start_lr.")
    lrs, smoothed = [p[1] for p in points], [p[3] for p in points]
    suggested, minimum, steepest = suggest(lrs, smoothed)
    out = {"points": points, "suggested": suggested, "minimum": minimum, "steepest": steepest, "rule": RULE,
           "stopped_early": result["step"] < config.num_steps, "plot": config.output}
    _plot(out, config)
    return out


def _plot(result, config):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tc = config.train
    _, lrs, losses, smoothed = zip(*result["points"])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.plot(lrs, losses, color="#1f77b4", alpha=0.3, linewidth=1, label="loss of each step")
    ax.plot(lrs, smoothed, color="#1f77b4", linewidth=2, label=f"smoothed (moving average, {config.smoothing:g})")
    ax.axvline(result["minimum"], color="#7f7f7f", linestyle=":", label=f"minimum at {result['minimum']:.2g}")
    ax.axvline(result["suggested"], color="#d62728", linestyle="--",
               label=f"suggested {result['suggested']:.2g} (minimum / 10)")
    ax.set_xscale("log")
    top = min(max(smoothed[0] * 2, min(smoothed) * config.stop_factor), max(losses))
    ax.set_ylim(min(min(losses), min(smoothed)) * 0.95, top * 1.05)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(f"Learning-rate range test: {tc.model} on {tc.dataset}, strategy {tc.strategy}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with paths.replacing(config.output) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
