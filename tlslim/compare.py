"""Compare transfer-learning strategies: one model, one target dataset, equal step budgets, several seeds.

    config = make_config(max_steps=200, seeds=(0, 1, 2), train_subsets=(20,))  # or CompareConfig(train=..., ...)
    result = run(config, output_dir="runs/compare")   # also writes comparison.json/.md/.png

Each (train_subset, strategy, seed) is one `tlslim.train` run of `max_steps` steps with the same
batch size, optimizer and learning rate; `scratch` starts from random weights, the others from
the pretrained checkpoint minus its head (strategies as in tlslim.train). The seed picks the
initialization, the data order and the train subset (for the synthetic tasks it also keys the
training images), and is shared by all strategies, so each seed compares them on the same data.
Each run evaluates on the test split every `eval_every_steps` (the curves of comparison.png)
and at the end (the table). With augmentation off, `head` trains on cached penultimate features
(as tlslim.train decides for any run: the frozen base runs once per image instead of once per
step; same steps, but the head sees the base's features without its dropout).

With no checkpoint given, the model is the embedded default: CifarNet pretrained on the
SYNTHETIC source task (checkpoints/cifarnet_synthetic) and fine-tuned on the synthetic target.

Outputs in `output_dir`:
  comparison.json  {"runs": [{"strategy", "train_subset", "accuracy" (mean test top-1 over seeds),
                    "std" (population std over seeds), "seeds", "accuracies" (per seed), "steps",
                    "seconds" (mean wall-clock seconds of one run), "curve": {"steps", "accuracy",
                    "std"}}, ...], "gains": [{"train_subset", "best", "accuracy", "scratch",
                    "points"}, ...], "settings": {...}}
  comparison.md    the table
  comparison.png   test accuracy against steps, one line per strategy (a panel per train_subset)
  comparison_train_subset.png  with two or more train_subsets: final accuracy against images
                   per class, one line per strategy
Finished runs leave `<work_dir>/<subset>/<strategy>/seed<k>/result.json`; re-running the same
comparison reuses them (and resumes an interrupted run from its checkpoint).
"""
import dataclasses
import json
import os
import shutil
import time
from typing import Optional, Tuple

import numpy as np
from absl import logging

from tlslim import embedded, nets, paths, train
from tlslim.errors import TlslimError
from tlslim.train.config import STRATEGIES, TrainConfig, field, nested_config

PRETRAINED = tuple(s for s in STRATEGIES if s != "scratch")
RESULT_FILE = "result.json"
DEFAULT_SYNTHETIC_SUBSET = 20  # images per class: the small-data target setting
JSON_NAME, MD_NAME, PNG_NAME, SUBSET_PNG_NAME = ("comparison.json", "comparison.md", "comparison.png",
                                                 "comparison_train_subset.png")
COLORS = {"scratch": "#7f7f7f", "head": "#1f77b4", "top": "#2ca02c", "all": "#d62728", "discriminative": "#9467bd",
          "fine_tune": "#ff7f0e"}
# TrainConfig fields a comparison sets for each of its runs (the rest are shared by all runs).
PER_RUN_FIELDS = ("strategy", "train_dir", "train_subset", "seed", "trainable_scopes", "log_every_steps",
                  "save_every_steps", "keep_checkpoints", "cache_dir")


def default_train_config():
    """The shared settings of the default comparison: 200 steps at slim's learning rate 0.01 for
    every strategy, evaluated every max_steps / 5 steps (None: see check_config)."""
    return TrainConfig(max_steps=200, eval_every_steps=None)


@dataclasses.dataclass
class CompareConfig:
    """A comparison: the settings every run shares (a TrainConfig) and what varies between runs.
    The defaults are the embedded small-data setting (see the module doc)."""
    train: TrainConfig = dataclasses.field(default_factory=default_train_config)
    strategies: Tuple[str, ...] = field(STRATEGIES, f"Strategies to compare, from {', '.join(STRATEGIES)}.")
    seeds: Tuple[int, ...] = field((0, 1, 2), "Seeds; each strategy runs once per seed.")
    train_subsets: Optional[Tuple[Optional[int], ...]] = dataclasses.field(default=None, metadata={
        "flag": "train_subset", "help": "Training images per class, one or more (comma-separated; 'all' for the "
        f"whole split); two or more add comparison_train_subset.png. Default: {DEFAULT_SYNTHETIC_SUBSET} on the "
        "synthetic target (the small-data setting), else all."})
    work_dir: Optional[str] = field(None, "Where the runs go; default: <output_dir>/runs.")
    # Not --keep_checkpoints, which is finetune.py's count of checkpoints kept in a train_dir.
    keep_runs: bool = field(False, "Keep every finished run's train_dir with its checkpoints (default: its result "
                                   "only).")

    def __post_init__(self):
        # Parse at the edge: flags give strings, library calls may give numbers.
        self.strategies = tuple(str(s).strip() for s in self.strategies)
        self.seeds = tuple(_int(s, "seeds") for s in self.seeds)
        if self.train_subsets is not None:
            self.train_subsets = tuple(None if n is None or str(n).strip().lower() == "all" else
                                       _int(n, "train_subset") for n in self.train_subsets)


def _int(value, flag):
    try:
        return int(str(value).strip())
    except ValueError:
        raise TlslimError(f"--{flag} takes comma-separated integers, got {value}.") from None


def make_config(**settings):
    """A CompareConfig from keyword settings: its own fields, and TrainConfig fields for `train`
    (applied over the comparison's defaults)."""
    return nested_config(CompareConfig, default_train_config(), **settings)


def check_config(config):
    """Validate a CompareConfig (TlslimError naming the flag) and fill in its defaults; returns a copy."""
    config = dataclasses.replace(config)
    tc = config.train
    if not config.strategies:
        raise TlslimError("--strategies is empty; name at least one of " + ", ".join(STRATEGIES) + ".")
    for s in config.strategies:
        if s not in STRATEGIES:
            raise TlslimError(f"unknown strategy '{s}' in --strategies; known: {', '.join(STRATEGIES)}.")
    if len(set(config.strategies)) != len(config.strategies):
        raise TlslimError(f"--strategies names a strategy twice ({','.join(config.strategies)}); list each once.")
    if not config.seeds or len(set(config.seeds)) != len(config.seeds) or min(config.seeds) < 0:
        raise TlslimError(f"--seeds must be distinct non-negative integers, got {list(config.seeds)}.")
    if config.train_subsets is None:
        config.train_subsets = (DEFAULT_SYNTHETIC_SUBSET,) if tc.dataset == embedded.DATASET else (None,)
    config.train_subsets = tuple(config.train_subsets) or (None,)
    if any(n is not None and n < 1 for n in config.train_subsets) or \
            len(set(config.train_subsets)) != len(config.train_subsets):
        raise TlslimError(f"--train_subset must be distinct positive numbers of images per class, "
                          f"got {list(config.train_subsets)}.")
    if tc.max_steps < 1:
        raise TlslimError(f"--max_steps must be positive, got {tc.max_steps}.")
    changes = {}
    if tc.eval_every_steps is None:
        changes["eval_every_steps"] = max(1, tc.max_steps // 5)
    pretrained = [s for s in config.strategies if s != "scratch"]
    if pretrained:
        tc = train.with_default_checkpoint(
            dataclasses.replace(tc, strategy=pretrained[0]),
            scratch_hint="compare --strategies scratch only")
        changes.update(checkpoint_path=tc.checkpoint_path, exclude=tc.exclude)
    if changes.get("exclude", tc.exclude) is None:
        changes["exclude"] = (nets.get_info(tc.model).head_scope,)
    config.train = dataclasses.replace(config.train, **changes)
    return config


def train_config(config, strategy, train_subset, seed, work_dir):
    """The TrainConfig of one run of the comparison (`config` checked): its train_dir is under
    `work_dir`, and head runs share the feature cache `work_dir/feature_cache`."""
    tc = config.train
    scratch = strategy == "scratch"
    return dataclasses.replace(
        tc, strategy=strategy, train_dir=os.path.join(run_dir(work_dir, strategy, train_subset, seed), "train"),
        train_subset=train_subset, seed=seed, trainable_scopes=None,
        checkpoint_path=None if scratch else tc.checkpoint_path, exclude=None if scratch else tc.exclude,
        scope_map=None if scratch else tc.scope_map, log_every_steps=max(1, min(50, tc.max_steps)),
        save_every_steps=max(1, tc.max_steps // 2), keep_checkpoints=1,
        cache_dir=os.path.join(work_dir, "feature_cache"))


def run_dir(work_dir, strategy, train_subset, seed):
    return os.path.join(work_dir, _subset_name(train_subset), strategy, f"seed{seed}")


def _subset_name(n):
    return "all" if n is None else str(n)


def _run_one(config, strategy, train_subset, seed, work_dir):
    """One training run -> {'strategy', 'train_subset', 'seed', 'accuracy', 'seconds', 'steps', 'curve'}."""
    tc = train_config(config, strategy, train_subset, seed, work_dir)
    cached = train.use_cache(train.check_config(tc))
    settings = json.loads(json.dumps(dict(dataclasses.asdict(tc), cached_features=cached)))
    result_path = os.path.join(run_dir(work_dir, strategy, train_subset, seed), RESULT_FILE)
    if os.path.isfile(result_path):
        with open(result_path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved.get("settings") == settings:
            logging.info("reusing %s", result_path)
            return saved["run"]
    out = train.train(tc)
    run = {"strategy": strategy, "train_subset": train_subset, "seed": seed, "accuracy": out["top1"],
           "seconds": round(out["seconds"], 2), "steps": out["step"],
           "curve": [[h["step"], h["top1"]] for h in out["history"]]}
    with paths.replacing(result_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "run": run}, f, indent=1)
    if not config.keep_runs:
        shutil.rmtree(tc.train_dir, ignore_errors=True)
    return run


def _mean_std(values):
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std())


def aggregate(runs, strategies, train_subsets):
    """Per (train_subset, strategy): the mean and std over seeds of the final accuracy and of
    the curve (at the steps every seed evaluated)."""
    out = []
    for n in train_subsets:
        for s in strategies:
            group = [r for r in runs if r["strategy"] == s and r["train_subset"] == n]
            if not group:
                continue
            accuracy, std = _mean_std([r["accuracy"] for r in group])
            steps = sorted(set.intersection(*[{p[0] for p in r["curve"]} for r in group]))
            points = [_mean_std([dict((p[0], p[1]) for p in r["curve"])[k] for r in group]) for k in steps]
            out.append({"strategy": s, "train_subset": n, "accuracy": accuracy, "std": std,
                        "seeds": [r["seed"] for r in group], "accuracies": [r["accuracy"] for r in group],
                        "steps": max(r["steps"] for r in group),
                        "seconds": round(float(np.mean([r["seconds"] for r in group])), 2),
                        "curve": {"steps": steps, "accuracy": [m for m, _ in points], "std": [d for _, d in points]}})
    return out


def gains(aggregated):
    """Per train_subset: the best pretrained strategy and its lead over scratch in points (None
    if scratch or every pretrained strategy is missing)."""
    out = []
    for n in dict.fromkeys(r["train_subset"] for r in aggregated):
        rows = [r for r in aggregated if r["train_subset"] == n]
        scratch = [r for r in rows if r["strategy"] == "scratch"]
        pretrained = [r for r in rows if r["strategy"] != "scratch"]
        if not scratch or not pretrained:
            continue
        best = max(pretrained, key=lambda r: r["accuracy"])
        out.append({"train_subset": n, "best": best["strategy"], "accuracy": best["accuracy"],
                    "scratch": scratch[0]["accuracy"],
                    "points": round(100.0 * (best["accuracy"] - scratch[0]["accuracy"]), 2)})
    return out


def settings_of(config):
    """The comparison's settings as one flat JSON-ready dict: the shared TrainConfig fields (not the
    per-run ones) and the comparison's own."""
    d = {k: v for k, v in dataclasses.asdict(config.train).items() if k not in PER_RUN_FIELDS}
    d["checkpoint_path"] = embedded.display_path(d["checkpoint_path"]) if d["checkpoint_path"] else None
    d.update(strategies=list(config.strategies), seeds=list(config.seeds), train_subsets=list(config.train_subsets),
             work_dir=config.work_dir, keep_runs=config.keep_runs)
    return json.loads(json.dumps(d))


def run(config, output_dir=None, write=True):
    """Run the comparison; returns the comparison.json dict (see the module doc) and, if
    `output_dir` and `write`, writes the files there ('files' lists their paths)."""
    config = check_config(config)
    # Before the first run: a bad place for the results must not cost the whole comparison.
    if output_dir:
        output_dir = paths.check_output_dir(output_dir, "--output_dir", "the comparison files")
    if config.work_dir:
        config.work_dir = paths.check_output_dir(config.work_dir, "--work_dir", "the comparison's runs")
    work_dir = config.work_dir or (os.path.join(output_dir, "runs") if output_dir else None)
    if work_dir is None:
        raise TlslimError("a comparison needs --output_dir (or --work_dir) for its runs.")
    started = time.time()
    runs = []
    total = len(config.train_subsets) * len(config.strategies) * len(config.seeds)
    for n in config.train_subsets:
        for seed in config.seeds:
            for strategy in config.strategies:
                logging.info("comparison run %d/%d: strategy %s, train_subset %s, seed %d", len(runs) + 1, total,
                             strategy, _subset_name(n), seed)
                runs.append(_run_one(config, strategy, n, seed, work_dir))
    aggregated = aggregate(runs, config.strategies, config.train_subsets)
    result = {"runs": aggregated, "gains": gains(aggregated), "settings": settings_of(config),
              "seconds": round(time.time() - started, 1)}
    if output_dir and write:
        result["files"] = write_outputs(result, output_dir)
    return result


# ---------------------------------------------------------------- outputs

def _pct(x):
    return f"{100.0 * x:.1f}"


def markdown(result):
    """The comparison as a markdown table (accuracies in percent, mean ± std over seeds)."""
    s = result["settings"]
    lines = [f"Strategies compared on {s['model']} / {s['dataset']}: {s['max_steps']} steps of batch "
             f"{s['batch_size']} each ({s['optimizer']}, learning rate {s['learning_rate']:g}), "
             f"seeds {', '.join(str(x) for x in s['seeds'])}; test top-1 accuracy in %.", "",
             "| train images per class | strategy | accuracy (%) | std | seeds | steps | seconds per run |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        lines.append(f"| {_subset_name(r['train_subset'])} | {r['strategy']} | {_pct(r['accuracy'])} | "
                     f"{_pct(r['std'])} | {len(r['seeds'])} | {r['steps']} | {r['seconds']:.1f} |")
    if result["gains"]:
        lines.append("")
        for g in result["gains"]:
            lines.append(f"- {_subset_name(g['train_subset'])} images per class: best pretrained strategy "
                         f"`{g['best']}` {_pct(g['accuracy'])}% vs `scratch` {_pct(g['scratch'])}% "
                         f"({g['points']:+.1f} points)")
    return "\n".join(lines) + "\n"


def _figure(width, height):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=100)


def _label(ax, xlabel, title):
    """Axes of test accuracy against `xlabel`, with a grid and the strategies' legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def _save(fig, path):
    fig.tight_layout()
    with paths.replacing(path) as tmp:
        fig.savefig(tmp)
    return path


def plot_steps(result, path):
    """comparison.png: mean test accuracy against steps per strategy (band: ± std over seeds)."""
    subsets = list(dict.fromkeys(r["train_subset"] for r in result["runs"]))
    fig = _figure(5.0 * len(subsets) + 1.0, 4.0)
    axes = fig.subplots(1, len(subsets), squeeze=False)[0]
    for ax, n in zip(axes, subsets):
        for r in (r for r in result["runs"] if r["train_subset"] == n):
            steps, acc, std = (np.asarray(r["curve"][k], np.float64) for k in ("steps", "accuracy", "std"))
            color = COLORS.get(r["strategy"])
            ax.plot(steps, 100 * acc, marker="o", markersize=3, color=color, label=r["strategy"])
            ax.fill_between(steps, 100 * (acc - std), 100 * (acc + std), color=color, alpha=0.15, linewidth=0)
        _label(ax, "training step", f"{result['settings']['model']}, {_subset_name(n)} images per class")
    return _save(fig, path)


def plot_subsets(result, path):
    """comparison_train_subset.png: final mean test accuracy against images per class."""
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    runs = [r for r in result["runs"] if r["train_subset"] is not None]
    for s in dict.fromkeys(r["strategy"] for r in runs):
        rows = sorted((r for r in runs if r["strategy"] == s), key=lambda r: r["train_subset"])
        x = [r["train_subset"] for r in rows]
        acc, std = np.array([r["accuracy"] for r in rows]), np.array([r["std"] for r in rows])
        ax.errorbar(x, 100 * acc, yerr=100 * std, marker="o", capsize=3, color=COLORS.get(s), label=s)
    ax.set_xscale("log")
    _label(ax, "training images per class",
           f"{result['settings']['model']}: {result['settings']['max_steps']} steps per run")
    return _save(fig, path)


def write_outputs(result, output_dir):
    """Write comparison.json, .md, .png (and comparison_train_subset.png for two or more
    train subsets) into `output_dir`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    files = [os.path.join(output_dir, name) for name in (JSON_NAME, MD_NAME, PNG_NAME)]
    with paths.replacing(files[1]) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(markdown(result))
    plot_steps(result, files[2])
    if len([n for n in result["settings"]["train_subsets"] if n is not None]) >= 2:
        files.append(plot_subsets(result, os.path.join(output_dir, SUBSET_PNG_NAME)))
    result = dict(result, files=files)
    with paths.replacing(files[0]) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, allow_nan=False)
        f.write("\n")
    return files
