"""Transfer-learning strategies: the 2x2 table of dataset similarity x dataset size.

How much of a pretrained net to retrain depends on how close the new data are to the data it
was trained on (close: its top features apply; far: only its early, generic features do) and
on how much new data there is (little: training many weights overfits; much: they can adapt).
`recommend(similar, much_data)` gives the standard course answer, with the tlslim strategy.

`run()` also runs a small experiment on the SYNTHETIC target task, whose source task is similar
(same shapes and patterns, other combinations): the embedded CifarNet checkpoint fine-tuned
with `head` (a new classifier only) and with `all` (every layer), on few and on more images per
class, with the same number of steps (tlslim.compare does the runs). With few images, head-only
wins: training every layer on them overfits. With more, fine-tuning all layers catches up.
"""
import os
import tempfile

from tlslim import compare
from tlslim.labs import common

# The experiment (about 80 CPU-seconds, a minute on 2 idle cores; `experiment()` takes other settings).
# A low learning rate: at 0.01 fine-tuning every layer on few images wrecks the pretrained weights.
EXPERIMENT = dict(strategies=("head", "all"), train_subsets=(5, 100), seeds=(0,), max_steps=100, batch_size=32,
                  learning_rate=0.001, augment=False, eval_examples=500)

# (similar, much_data) -> (tlslim strategy, the advice)
TABLE = {
    (True, False): ("head", "train only a new classifier on the pretrained top-layer features "
                            "(finetune.py --strategy head)"),
    (True, True): ("top", "fine-tune the top few layers together with a new classifier "
                          "(finetune.py --strategy top --unfreeze 1 or 2)"),
    (False, False): ("head on earlier features", "the hard case: the top features are specific to the "
                                                 "source task and there is too little data to retrain "
                                                 "them; train a linear classifier on features from an "
                                                 "earlier layer (or try several stages)"),
    (False, True): ("all", "fine-tune many or all layers from the pretrained weights "
                           "(finetune.py --strategy all, or discriminative)"),
}


def strategy(similar, much_data):
    """The strategy name for the cell: 'head', 'top', 'head on earlier features' or 'all'."""
    return TABLE[(bool(similar), bool(much_data))][0]


def recommend(similar: bool, much_data: bool) -> str:
    """The course's advice for a new dataset that is `similar` (or not) to the pretraining data
    and has much data (or little)."""
    return TABLE[(bool(similar), bool(much_data))][1]


def experiment(output_dir=None, **settings):
    """Fine-tune the embedded checkpoint with each strategy at each train subset (EXPERIMENT,
    updated by `settings`). Returns {'settings', 'rows': [{'train_subset', 'accuracy': {strategy:
    test top-1}}], 'figures'}; with `output_dir`, saves strategies.png (accuracy against images
    per class)."""
    settings = dict(EXPERIMENT, **settings)
    with tempfile.TemporaryDirectory(prefix="tlslim-lab-strategies-") as work_dir:
        config = compare.make_config(eval_every_steps=settings["max_steps"], work_dir=work_dir, **settings)
        result = compare.run(config)
    rows = [{"train_subset": n, "accuracy": {r["strategy"]: r["accuracy"] for r in result["runs"]
                                             if r["train_subset"] == n}}
            for n in result["settings"]["train_subsets"]]
    figures = []
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        figures.append(compare.plot_subsets(result, os.path.join(output_dir, "strategies.png")))
    return {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
            "rows": rows, "seconds": result["seconds"], "figures": figures}


def table():
    """The 2x2 table as rows {'similar', 'much_data', 'strategy', 'advice'}."""
    return [{"similar": s, "much_data": m, "strategy": strategy(s, m), "advice": recommend(s, m)}
            for s in (True, False) for m in (False, True)]


def run(output_dir=None):
    exp = experiment(output_dir)
    return {"table": table(),
            "experiment": {k: exp[k] for k in ("settings", "rows", "seconds")},
            "figures": exp["figures"]}


def format(result):
    cell = {(r["similar"], r["much_data"]): r["strategy"] for r in result["table"]}
    grid = common.table(["", "little data", "much data"],
                        [["similar data", cell[(True, False)], cell[(True, True)]],
                         ["different data", cell[(False, False)], cell[(False, True)]]])
    advice = [f"- {'similar' if r['similar'] else 'different'} data, {'much' if r['much_data'] else 'little'} "
              f"data: {r['advice']}" for r in result["table"]]
    text = grid + "\n\n" + "\n".join(advice)
    exp = result.get("experiment")
    if exp:
        strategies = exp["settings"]["strategies"]
        rows = [[r["train_subset"]] + [f"{100 * r['accuracy'][s]:.1f}" for s in strategies] for r in exp["rows"]]
        text += (f"\n\nSYNTHETIC target, embedded CifarNet checkpoint, {exp['settings']['max_steps']} steps each "
                 f"(test accuracy, %):\n" + common.table(["images per class"] + list(strategies), rows))
    return text
