"""What a model learned: a report of one evaluation pass of a checkpoint on a dataset split.

    metrics, config, files = evaluate_and_report(EvalConfig(checkpoint_path="runs/cifarnet-synthetic-head"),
                                                 "report")
    report = build_report(logits, labels, class_names)       # the numbers alone, from any logits

Files in the report directory (scripts/evaluate.py --report DIR):
  report.json   {"model", "dataset", "split", "checkpoint_path", "checkpoint", "count", "num_classes",
                 "accuracy" (= top1), "top1", "top5", "loss", "macro" and "weighted" ({"precision",
                 "recall", "f1"}), "classes": [{"class", "name", "precision", "recall", "f1", "support",
                 "predicted"}], "topk": {"k", "accuracy"}, "confusion_matrix" (counts, rows true,
                 columns predicted), "most_confident_errors": [{"index" (in the split), "true",
                 "predicted", "probability"}], "training" (a train_dir's TensorBoard scalars:
                 {tag: [[step, value], ...]}, or null), "files"}
  report.md     the same as markdown: the per-class table with macro and weighted averages, top-k
                accuracy, and the figures
  confusion_matrix.png       two panels: counts, and rows normalized to 1 (recall on the diagonal)
  topk_accuracy.png          top-k accuracy for k = 1..min(10, classes)
  most_confident_errors.png  up to 16 misclassified images (as stored in the dataset) with the
                             highest predicted probability, each with its true and predicted class
  training_curves.png        for a train_dir with TensorBoard events: training loss and eval
                             top-1 against the step
Everything comes from the one inference pass `tlslim.train.evaluate` runs. The files are written
in a staging directory inside DIR and moved into place together, so a report is never half
replaced; a file of an earlier report that this one does not write (training_curves.png after
a train_dir, when the checkpoint is now a file) is left as it was.

Averages follow tlslim.train.evaluation.class_metrics: over the classes with support > 0;
precision of a class never predicted is 0 (0/0 -> 0).
"""
import glob
import io
import json
import math
import os

import numpy as np
from absl import logging

from tlslim import paths, train
from tlslim.compat import tf
from tlslim.train import evaluation

JSON_NAME, MD_NAME = "report.json", "report.md"
CONFUSION_PNG, TOPK_PNG, ERRORS_PNG, TRAINING_PNG = ("confusion_matrix.png", "topk_accuracy.png",
                                                      "most_confident_errors.png", "training_curves.png")
MAX_K = 10
MAX_ERRORS = 16
ANNOTATE_CELLS = 15  # up to this many classes the confusion matrix prints each cell's value
MAX_TICKS = 100      # above this many classes only every n-th class name is on the axes
NAME_CHARS = 24      # class names longer than this are cut on the figures
DPI = 100
MAX_RGB_BYTES = 300_000  # most_confident_errors.png keeps the images' exact colours up to this size
# The harness's TensorBoard scalars that training_curves.png draws.
LOSS_TAG, ACCURACY_TAG, EVAL_TOP1_TAG, EVAL_TOP5_TAG, EVAL_LOSS_TAG = (
    "loss", "accuracy", "eval/top1", "eval/top5", "eval/loss")


# ---------------------------------------------------------------- numbers

def softmax(logits):
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _number(x):
    """A float for JSON: None for nan (a metric with no defined value)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def build_report(logits, labels, class_names, indices=None, max_errors=MAX_ERRORS):
    """The report's numbers (report.json's fields without the settings, files and training) of
    logits [N, C] against labels [N]; `indices`: each row's example in the split (default 0..N-1)."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    indices = np.arange(len(labels)) if indices is None else np.asarray(indices)
    num_classes = logits.shape[1]
    ranked = evaluation.ranked_classes(logits)
    predictions = ranked[:, 0]
    matrix = evaluation.confusion_matrix(labels, predictions, num_classes)
    m = evaluation.class_metrics(matrix)
    base = evaluation.eval_metrics(logits, labels)
    ks = list(range(1, min(MAX_K, num_classes) + 1))
    probability = softmax(logits)[np.arange(len(labels)), predictions]
    wrong = np.flatnonzero(predictions != labels)
    # Most confident first; among equal probabilities the earlier example.
    worst = wrong[np.lexsort((indices[wrong], -probability[wrong]))][:max_errors]
    return {
        "count": int(len(labels)), "num_classes": num_classes,
        "accuracy": float(np.trace(matrix) / len(labels)) if len(labels) else None,
        "top1": _number(base["top1"]), "top5": _number(base["top5"]), "loss": _number(base["loss"]),
        "macro": {k: _number(v) for k, v in m["macro"].items()},
        "weighted": {k: _number(v) for k, v in m["weighted"].items()},
        "classes": [{"class": c, "name": str(class_names[c]), "precision": _number(m["precision"][c]),
                     "recall": _number(m["recall"][c]), "f1": _number(m["f1"][c]),
                     "support": int(m["support"][c]), "predicted": int(m["predicted"][c])}
                    for c in range(num_classes)],
        "topk": {"k": ks, "accuracy": evaluation.topk_accuracy(logits, labels, ks, ranked)},
        "confusion_matrix": matrix.tolist(),
        "most_confident_errors": [{"index": int(indices[i]), "true": int(labels[i]),
                                   "predicted": int(predictions[i]), "probability": float(probability[i])}
                                  for i in worst],
    }


# ---------------------------------------------------------------- TensorBoard events

def _created(path):
    """The sort key of an event file: the creation time in its name (events.out.tfevents.<time>.<host>)."""
    stamp = os.path.basename(path).split(".")[3:4]
    return (int(stamp[0]) if stamp and stamp[0].isdigit() else 0, path)


def read_scalars(train_dir):
    """{tag: [[step, value], ...] by step} of the scalar summaries in `train_dir`'s event files.

    A resumed run starts a new event file and writes again from its checkpoint's step, so a later
    point at step s replaces the same tag's points at steps >= s (what the killed run logged past
    its last checkpoint), as TensorBoard purges such orphaned points. A truncated file (a killed run) is read up to its
    last complete record.
    """
    files = sorted(glob.glob(os.path.join(train_dir, "events.out.tfevents.*")), key=_created)
    points = {}
    for path in files:
        try:
            for event in tf.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.HasField("simple_value"):
                        number = float(value.simple_value)
                    elif value.HasField("tensor") and not value.tensor.tensor_shape.dim:
                        number = float(tf.make_ndarray(value.tensor))
                    else:
                        continue
                    series = [p for p in points.get(value.tag, []) if p[0] < event.step]
                    points[value.tag] = series + [[int(event.step), number]]
        except tf.errors.DataLossError:
            logging.warning("%s ends in an incomplete record (a run killed while writing); read up to it", path)
    return points


# ---------------------------------------------------------------- figures

def _figure(width, height):
    from matplotlib.figure import Figure  # not pyplot: no display or global state needed
    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig, path, palette=True):
    """Write `fig` as a PNG in RGB or, with `palette` or when the RGB file would exceed
    MAX_RGB_BYTES, in 256 colours (charts hold few colours: the same look at a third of the size)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image  # matplotlib's own dependency
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    buffer = io.BytesIO()
    if not palette:
        image.save(buffer, "PNG", optimize=True)
    if palette or buffer.tell() > MAX_RGB_BYTES:
        buffer = io.BytesIO()
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buffer, "PNG", optimize=True)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def _short(name, chars=NAME_CHARS):
    name = str(name)
    return name if len(name) <= chars else name[:chars - 1] + "\u2026"


def _tick_positions(n):
    step = max(1, math.ceil(n / MAX_TICKS))
    return list(range(0, n, step))


def plot_confusion(matrix, class_names, path, title):
    """confusion_matrix.png: counts (left) and rows normalized to 1 (right), class names on both
    axes; the figure, tick labels and cell numbers scale with the number of classes."""
    matrix = np.asarray(matrix, np.int64)
    n = len(matrix)
    side = min(12.0, max(4.0, 2.0 + 0.1 * n))  # inches of one matrix: 4 for 10 classes, 12 for 100
    ticks = _tick_positions(n)
    font = float(np.clip(0.8 * side * 72 / len(ticks), 4, 9))  # 80% of the points between tick labels
    names = [_short(class_names[i]) for i in ticks]
    # Room for the tick labels (about 0.6 em a character), so the square panels fill the figure.
    labels = 0.6 * font * max(len(name) for name in names) / 72 + 0.5
    fig = _figure(2 * (side + labels + 1.0), side + labels + 1.0)
    axes = fig.subplots(1, 2)
    support = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.where(support > 0, matrix / np.maximum(support, 1), np.nan)  # absent classes: blank
    panels = ((axes[0], matrix, f"counts ({int(matrix.sum())} images)", None),
              (axes[1], normalized, "row-normalized (recall on the diagonal)", 1.0))
    import matplotlib
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#f0f0f0")
    for ax, values, panel_title, vmax in panels:
        image = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest", aspect="equal")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_xticklabels(names, fontsize=font, rotation=90 if n > 20 else 45,
                           ha="center" if n > 20 else "right", rotation_mode="anchor" if n <= 20 else "default")
        ax.set_yticklabels(names, fontsize=font)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(panel_title, fontsize=10)
        if n <= ANNOTATE_CELLS:
            top = np.nanmax(values) if np.isfinite(values).any() else 1.0
            for (i, j), v in np.ndenumerate(values):
                if np.isfinite(v) and v > 0:
                    ax.text(j, i, f"{v:.2f}" if vmax else f"{int(v)}", ha="center", va="center",
                            fontsize=min(8, font), color="white" if v > 0.6 * (top or 1) else "black")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def plot_topk(report, path, title):
    """topk_accuracy.png: accuracy of the top k classes against k, each point labelled."""
    ks, acc = report["topk"]["k"], 100 * np.asarray(report["topk"]["accuracy"], np.float64)
    fig = _figure(5.5, 3.8)
    ax = fig.subplots()
    ax.plot(ks, acc, marker="o", color="#1f77b4")
    for k, a in zip(ks, acc):
        ax.annotate(f"{a:.1f}", (k, a), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(ks)
    ax.set_ylim(min(100.0, max(0.0, acc.min() - 10)) if len(acc) else 0, 104)
    ax.set_xlabel("k (classes allowed)")
    ax.set_ylabel("top-k accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_errors(errors, images, class_names, path, title):
    """most_confident_errors.png: the images of `errors` (build_report's, most confident first)
    as stored in the dataset, each titled with its true and predicted class and the probability."""
    count = len(errors)
    cols = max(1, min(4, count))
    rows = max(1, math.ceil(count / cols))
    fig = _figure(1.9 * cols + 0.2, 2.05 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    if not count:
        axes[0].text(0.5, 0.5, "no errors", ha="center", va="center", fontsize=12, transform=axes[0].transAxes)
    for ax, e in zip(axes, errors):
        ax.imshow(images[e["index"]], interpolation="nearest")
        ax.set_title(f"true: {_short(class_names[e['true']], 20)}\npred: {_short(class_names[e['predicted']], 20)}"
                     f" ({e['probability']:.4f})", fontsize=7.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, palette=False)


def plot_training(scalars, path, title):
    """training_curves.png: training loss (with the eval loss) and eval top-1 (with top-5 and the
    training batches' accuracy) against the step."""
    fig = _figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    curves = ((left, LOSS_TAG, "training loss", dict(color="#1f77b4"), 1.0),
              (left, EVAL_LOSS_TAG, "eval loss", dict(color="#d62728", marker="o", markersize=3), 1.0),
              (right, ACCURACY_TAG, "training batch top-1", dict(color="#1f77b4", alpha=0.45), 100.0),
              (right, EVAL_TOP1_TAG, "eval top-1", dict(color="#d62728", marker="o", markersize=3), 100.0),
              (right, EVAL_TOP5_TAG, "eval top-5", dict(color="#ff7f0e", marker=".", linestyle="--"), 100.0))
    for ax, tag, label, style, scale in curves:
        if scalars.get(tag):
            steps, values = np.asarray(scalars[tag], np.float64).T
            if len(steps) == 1:  # a line of one point draws nothing
                style = dict(style, marker=style.get("marker") or "o")
            ax.plot(steps, scale * values, label=label, **style)
    from matplotlib.ticker import MaxNLocator
    for ax, ylabel, panel in ((left, "loss", "loss"), (right, "accuracy (%)", "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------- markdown

def _cell(x, digits=4):
    return "\u2013" if x is None else f"{x:.{digits}f}"


def _md_name(name):
    return str(name).replace("|", "\\|")


def markdown(report):
    """report.md: the headline numbers, the per-class table with averages, top-k, the figures."""
    r = report
    head = f"# What {r['model']} learned on {r['dataset']}/{r['split']}"
    checkpoint = f"`{r['checkpoint_path']}`"
    if r.get("checkpoint") and os.path.basename(r["checkpoint"]) != os.path.basename(str(r["checkpoint_path"])):
        checkpoint += f" ({os.path.basename(r['checkpoint'])})"
    top5 = f", top-5 {_cell(r['top5'])}" if r["top5"] is not None else ""
    lines = [head, "", f"Checkpoint {checkpoint}; {r['count']} images, {r['num_classes']} classes.", "",
             f"**top-1 {_cell(r['top1'])}**{top5}, macro recall {_cell(r['macro']['recall'])}, "
             f"macro F1 {_cell(r['macro']['f1'])}, loss {_cell(r['loss'])}", "",
             "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for c in r["classes"]:
        lines.append(f"| {_md_name(c['name'])} | {_cell(c['precision'])} | {_cell(c['recall'])} | "
                     f"{_cell(c['f1'])} | {c['support']} |")
    for name in ("macro", "weighted"):
        a = r[name]
        lines.append(f"| **{name} average** | {_cell(a['precision'])} | {_cell(a['recall'])} | "
                     f"{_cell(a['f1'])} | {r['count']} |")
    lines += ["", "Averages over the classes present in the split (support > 0); a class never predicted "
              "has precision 0. Weighted recall equals top-1.", "",
              "## Top-k accuracy", "",
              "| k | " + " | ".join(str(k) for k in r["topk"]["k"]) + " |",
              "|---|" + "---:|" * len(r["topk"]["k"]),
              "| accuracy | " + " | ".join(_cell(a) for a in r["topk"]["accuracy"]) + " |", "",
              f"![top-k accuracy]({TOPK_PNG})", "",
              "## Confusion matrix", "", f"![confusion matrix]({CONFUSION_PNG})", "",
              "## Most confident errors", ""]
    errors = r["most_confident_errors"]
    if errors:
        names = [c["name"] for c in r["classes"]]
        lines += [f"![most confident errors]({ERRORS_PNG})", "",
                  "| example | true class | predicted class | probability |", "|---:|---|---|---:|"]
        lines += [f"| {e['index']} | {_md_name(names[e['true']])} | {_md_name(names[e['predicted']])} | "
                  f"{e['probability']:.4f} |" for e in errors]
    else:
        lines.append("No example is misclassified.")
    if r.get("training"):
        lines += ["", "## Training curves", "", f"![training curves]({TRAINING_PNG})"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the report

def write_report(report, images, report_dir, train_dir=None):
    """Write the report files of `report` (build_report's numbers with the settings: model,
    dataset, split, checkpoint_path, checkpoint) into `report_dir`, all replaced together;
    `images`: the split's uint8 images (indexed by the errors' 'index'); `train_dir`: a
    directory whose TensorBoard events give training_curves.png. Returns the files' paths."""
    names = [c["name"] for c in report["classes"]]
    what = f"{report['model']} on {report['dataset']}/{report['split']}"
    scalars = read_scalars(train_dir) if train_dir else {}
    report = dict(report, training=scalars or None)
    if train_dir and not scalars:
        logging.warning("no TensorBoard scalars in %s: no %s", train_dir, TRAINING_PNG)
    with paths.staging_dir(report_dir) as staging:
        def at(name):
            return os.path.join(staging, name)
        plot_confusion(report["confusion_matrix"], names, at(CONFUSION_PNG), f"{what}: confusion matrix")
        plot_topk(report, at(TOPK_PNG), f"{what}: top-k accuracy ({report['count']} images)")
        plot_errors(report["most_confident_errors"], images, names, at(ERRORS_PNG),
                    f"{what}: most confident errors")
        if scalars:
            plot_training(scalars, at(TRAINING_PNG), f"{report['model']}: training curves")
        made = sorted(os.listdir(staging)) + [MD_NAME, JSON_NAME]
        report["files"] = made
        with open(at(MD_NAME), "w", encoding="utf-8") as f:
            f.write(markdown(report))
        with open(at(JSON_NAME), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, allow_nan=False)
            f.write("\n")
        return paths.install(staging, report_dir)


def evaluate_and_report(config, report_dir):
    """Evaluate `config` (an EvalConfig, as tlslim.train.evaluate_run) and write the report of
    that same pass into `report_dir` (checked before any work). Returns (metrics as evaluate_run
    gives them, the EvalConfig used, the files written)."""
    report_dir = paths.check_output_dir(report_dir, "--report", "the evaluation report")
    result, config = train.evaluate_run(config, return_examples=True)
    examples = result.pop("examples")
    report = dict(model=config.model, dataset=config.dataset, split=config.split,
                  checkpoint_path=config.checkpoint_path, checkpoint=result.pop("checkpoint"),
                  **build_report(result.pop("logits"), result.pop("labels"), examples.class_names,
                                 indices=result.pop("indices")))
    train_dir = config.checkpoint_path if os.path.isdir(config.checkpoint_path) else None
    files = write_report(report, examples.images, report_dir, train_dir)
    logging.info("wrote the report in %s: %s", report_dir, ", ".join(os.path.basename(f) for f in files))
    return result, config, files
