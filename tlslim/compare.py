"""Compare transfer-learning strategies: one model, one target dataset, equal step budgets, several seeds.

    config = CompareConfig(max_steps=200, seeds=(0, 1, 2), train_subsets=(20,))
    result = run(config, output_dir="runs/compare")   # also writes comparison.json/.md/.png

Each (train_subset, strategy, seed) is one `tlslim.train` run of `max_steps` steps with the same
batch size, optimizer and learning rate; `scratch` starts from random weights, the others from
the pretrained checkpoint minus its head (strategies as in tlslim.train). The seed picks the
initialization, the data order and the train subset (for the synthetic tasks it also keys the
training images), and is shared by all strategies, so each seed compares them on the same data.
Each run evaluates on the test split every `eval_every_steps` (the curves of comparison.png)
and at the end (the table). With augmentation off, `head` trains on cached penultimate features
(tlslim.features: the frozen base runs once per image instead of once per step; same steps,
but the head sees the base's features without its dropout).

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
from typing import Optional, Sequence

import numpy as np
from absl import logging

from tlslim import nets, train
from tlslim.errors import TlslimError

STRATEGIES = ("scratch", "head", "top", "all", "discriminative")
PRETRAINED = tuple(s for s in STRATEGIES if s != "scratch")
EMBEDDED_MODEL = "cifarnet"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED_CHECKPOINT = os.path.join(REPO, "checkpoints", "cifarnet_synthetic")
RESULT_FILE = "result.json"
DEFAULT_SYNTHETIC_SUBSET = 20  # images per class: the small-data target setting
JSON_NAME, MD_NAME, PNG_NAME, SUBSET_PNG_NAME = ("comparison.json", "comparison.md", "comparison.png",
                                                 "comparison_train_subset.png")
COLORS = {"scratch": "#7f7f7f", "head": "#1f77b4", "top": "#2ca02c", "all": "#d62728", "discriminative": "#9467bd"}


@dataclasses.dataclass
class CompareConfig:
    """A comparison; the defaults are the embedded small-data setting (see the module doc)."""
    model: str = EMBEDDED_MODEL
    checkpoint_path: Optional[str] = None     # default: the embedded checkpoint (cifarnet only)
    exclude: Optional[str] = None             # default: the net's head scope
    scope_map: Optional[str] = None
    dataset: str = "synthetic"
    dataset_dir: Optional[str] = None
    image_size: Optional[int] = None
    preprocessing: Optional[str] = None
    strategies: Sequence[str] = STRATEGIES
    seeds: Sequence[int] = (0, 1, 2)
    train_subsets: Optional[Sequence[Optional[int]]] = None  # images per class (None in it: the whole split);
    #                                                          default: 20 on the synthetic target, else the whole split
    max_steps: int = 200
    batch_size: int = 32
    optimizer: str = "momentum"
    learning_rate: float = 0.01
    lr_decay: str = "fixed"
    weight_decay: float = 0.00004
    unfreeze: int = 1
    lr_factor: float = 3.0
    augment: Optional[bool] = None            # default: the preprocessing style's choice
    eval_every_steps: Optional[int] = None    # default: max_steps // 5 (at least 1)
    eval_examples: Optional[int] = None
    eval_batch_size: Optional[int] = None
    device: str = "auto"
    mixed_precision: bool = False
    work_dir: Optional[str] = None            # default: <output_dir>/runs
    keep_checkpoints: bool = False            # keep each finished run's checkpoints (default: result only)
    cache_features: Optional[bool] = None     # head on cached features (tlslim.features); None: when augment is off


def check_config(config):
    config = dataclasses.replace(config)
    info = nets.get_info(config.model)
    config.strategies = tuple(config.strategies)
    if not config.strategies:
        raise TlslimError("--strategies is empty; name at least one of " + ", ".join(STRATEGIES) + ".")
    for s in config.strategies:
        if s not in STRATEGIES:
            raise TlslimError(f"unknown strategy '{s}' in --strategies; known: {', '.join(STRATEGIES)}.")
    if len(set(config.strategies)) != len(config.strategies):
        raise TlslimError(f"--strategies names a strategy twice ({','.join(config.strategies)}); list each once.")
    config.seeds = tuple(int(s) for s in config.seeds)
    if not config.seeds or len(set(config.seeds)) != len(config.seeds) or min(config.seeds) < 0:
        raise TlslimError(f"--seeds must be distinct non-negative integers, got {list(config.seeds)}.")
    if config.train_subsets is None:
        config.train_subsets = (DEFAULT_SYNTHETIC_SUBSET,) if config.dataset == "synthetic" else (None,)
    config.train_subsets = tuple(None if n is None else int(n) for n in config.train_subsets) or (None,)
    if any(n is not None and n < 1 for n in config.train_subsets) or \
            len(set(config.train_subsets)) != len(config.train_subsets):
        raise TlslimError(f"--train_subset must be distinct positive numbers of images per class, "
                          f"got {list(config.train_subsets)}.")
    if config.max_steps < 1:
        raise TlslimError(f"--max_steps must be positive, got {config.max_steps}.")
    if config.eval_every_steps is None:
        config.eval_every_steps = max(1, config.max_steps // 5)
    pretrained = [s for s in config.strategies if s != "scratch"]
    if pretrained and not config.checkpoint_path:
        if config.model != EMBEDDED_MODEL:
            raise TlslimError(f"--model {config.model} needs --checkpoint_path (its pretrained checkpoint) for "
                              f"--strategies {','.join(pretrained)}; or compare --strategies scratch only.")
        if not os.path.isdir(EMBEDDED_CHECKPOINT) or not os.listdir(EMBEDDED_CHECKPOINT):
            raise TlslimError(f"the embedded checkpoint {EMBEDDED_CHECKPOINT} is not there; make it with "
                              f"`python scripts/pretrain.py`, or pass --checkpoint_path.")
        config.checkpoint_path = EMBEDDED_CHECKPOINT
    if config.exclude is None:
        config.exclude = info.head_scope
    return config


def train_config(config, strategy, train_subset, seed, train_dir):
    """The tlslim.train.TrainConfig of one run of the comparison (`config` checked)."""
    scratch = strategy == "scratch"
    return train.TrainConfig(
        model=config.model, dataset=config.dataset, dataset_dir=config.dataset_dir,
        checkpoint_path=None if scratch else config.checkpoint_path,
        exclude=None if scratch else config.exclude, scope_map=None if scratch else config.scope_map,
        strategy=strategy, unfreeze=config.unfreeze, lr_factor=config.lr_factor, train_dir=train_dir,
        image_size=config.image_size, preprocessing=config.preprocessing, augment=config.augment,
        train_subset=train_subset, batch_size=config.batch_size, max_steps=config.max_steps,
        optimizer=config.optimizer, learning_rate=config.learning_rate, lr_decay=config.lr_decay,
        weight_decay=config.weight_decay, eval_every_steps=config.eval_every_steps,
        eval_batch_size=config.eval_batch_size, eval_examples=config.eval_examples,
        log_every_steps=max(1, min(50, config.max_steps)), save_every_steps=max(1, config.max_steps // 2),
        keep_checkpoints=1, seed=seed, device=config.device, mixed_precision=config.mixed_precision)


def _subset_name(n):
    return "all" if n is None else str(n)


def _use_cache(tc, cache_features):
    from tlslim import features
    return features.cache_wanted(tc, cache_features)


def _run_one(config, strategy, train_subset, seed, work_dir):
    """One training run -> {'strategy', 'train_subset', 'seed', 'accuracy', 'seconds', 'steps', 'curve'}."""
    run_dir = os.path.join(work_dir, _subset_name(train_subset), strategy, f"seed{seed}")
    tc = train_config(config, strategy, train_subset, seed, os.path.join(run_dir, "train"))
    cached = strategy == "head" and _use_cache(tc, config.cache_features)
    settings = json.loads(json.dumps(dict(dataclasses.asdict(tc), cached_features=cached)))
    result_path = os.path.join(run_dir, RESULT_FILE)
    if os.path.isfile(result_path):
        with open(result_path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved.get("settings") == settings:
            logging.info("reusing %s", result_path)
            return saved["run"]
    if cached:
        from tlslim import features
        out = features.train_cached(tc, cache_dir=os.path.join(work_dir, "feature_cache"))
    else:
        out = train.train(tc)
    run = {"strategy": strategy, "train_subset": train_subset, "seed": seed, "accuracy": out["top1"],
           "seconds": round(out["seconds"], 2), "steps": out["step"],
           "curve": [[h["step"], h["top1"]] for h in out["history"]]}
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "run": run}, f, indent=1)
    if not config.keep_checkpoints:
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
    d = dataclasses.asdict(config)
    d["strategies"], d["seeds"], d["train_subsets"] = list(d["strategies"]), list(d["seeds"]), list(d["train_subsets"])
    if d["checkpoint_path"] == EMBEDDED_CHECKPOINT:
        d["checkpoint_path"] = os.path.relpath(EMBEDDED_CHECKPOINT, REPO)  # the embedded default, as the README names it
    return d


def run(config, output_dir=None, write=True):
    """Run the comparison; returns the comparison.json dict (see the module doc) and, if
    `output_dir` and `write`, writes the files there ('files' lists their paths)."""
    config = check_config(config)
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
        ax.set_xlabel("training step")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{result['settings']['model']}, {_subset_name(n)} images per class")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path


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
    ax.set_xlabel("training images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['settings']['model']}: {result['settings']['max_steps']} steps per run")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_outputs(result, output_dir):
    """Write comparison.json, .md, .png (and comparison_train_subset.png for two or more
    train subsets) into `output_dir`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = [os.path.join(output_dir, name) for name in (JSON_NAME, MD_NAME, PNG_NAME)]
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write(markdown(result))
    plot_steps(result, paths[2])
    if len([n for n in result["settings"]["train_subsets"] if n is not None]) >= 2:
        paths.append(plot_subsets(result, os.path.join(output_dir, SUBSET_PNG_NAME)))
    result = dict(result, files=paths)
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, allow_nan=False)
        f.write("\n")
    return paths
