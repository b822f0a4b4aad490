"""Evaluation: metrics of logits against labels (top-k accuracy, the confusion matrix, per-class
precision, recall and F1 with their macro and weighted averages), and a checkpoint's metrics on a
dataset split.

    evaluate("vgg_16", "runs/vgg_16-cifar10-head", "cifar10", dataset_dir="data", image_size=32)
    evaluate_run(EvalConfig(checkpoint_path="runs/cifarnet-synthetic-head"))  # settings from its run record
"""
import dataclasses
from typing import Optional

import numpy as np
from absl import logging

from tlslim import data, nets, restore
from tlslim.compat import graph_mode, slim, tf
from tlslim.device import choose_device, session_config
from tlslim.errors import TlslimError
from tlslim.progress import run_to_end
from tlslim.train.config import field
from tlslim.train.rundir import read_run_record


def ranked_classes(logits):
    """Class indices of logits [N, C] from most to least likely, per row. The sort is stable, so
    among equal logits the lower index ranks first, as np.argmax picks it: top-1 here is argmax's."""
    return np.argsort(-np.asarray(logits), axis=1, kind="stable")


def topk_accuracy(logits, labels, ks, ranked=None):
    """[accuracy of the top k classes for each k in `ks`] of logits [N, C] against labels [N]
    (nan for no examples); `ranked`: ranked_classes(logits) if already computed."""
    labels = np.asarray(labels)
    if not len(labels):
        return [float("nan")] * len(ks)
    ranked = ranked_classes(logits) if ranked is None else ranked
    # Rank of the true class in each row: 0 for a correct top-1 prediction.
    rank = np.argmax(ranked == labels[:, None], axis=1)
    return [float(np.mean(rank < k)) for k in ks]


def confusion_matrix(labels, predictions, num_classes):
    """int64 [C, C] counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def _ratio(a, b):
    """a / b elementwise, 0 where b is 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def class_metrics(matrix):
    """Per-class and averaged metrics of a confusion matrix [C, C] (rows true, columns predicted).

    Returns {'precision', 'recall', 'f1' (float64 [C] each), 'support' (true examples, int64 [C]),
    'predicted' (predictions, int64 [C]), 'macro' and 'weighted' ({'precision', 'recall', 'f1'})}.
    A class never predicted has precision 0 (0/0 -> 0). A class absent from the split (support 0)
    has no recall or F1 (nan), and the averages run over the classes with support > 0 only: macro
    is their plain mean, weighted their mean weighted by support. With no example at all every
    average is nan. F1 is 0 where precision and recall are both 0.
    """
    matrix = np.asarray(matrix, np.int64)
    hits = np.diag(matrix)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0
    recall[~present] = np.nan
    f1[~present] = np.nan
    per_class = {"precision": precision, "recall": recall, "f1": f1}
    averages = {}
    for name, weights in (("macro", present.astype(np.float64)), ("weighted", support.astype(np.float64))):
        averages[name] = {k: float(np.sum(v[present] * weights[present]) / weights.sum()) if present.any()
                          else float("nan") for k, v in per_class.items()}
    return dict(per_class, support=support, predicted=predicted, **averages)


def _cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(labels)), labels])) if len(labels) else float("nan")


def eval_metrics(logits, labels):
    """{'top1', 'top5' (None for 5 classes or fewer), 'macro_recall', 'macro_f1', 'loss', 'count'}
    of logits [N, C] and labels [N]. The macro averages come from the confusion matrix of the
    top-1 predictions, over the classes present in `labels` (see class_metrics)."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    ranked = ranked_classes(logits)
    ks = (1, 5) if logits.shape[1] > 5 else (1,)
    top1, top5 = (topk_accuracy(logits, labels, ks, ranked) + [None])[:2]
    macro = class_metrics(confusion_matrix(labels, ranked[:, 0], logits.shape[1]))["macro"]
    return {"top1": top1, "top5": top5, "macro_recall": macro["recall"], "macro_f1": macro["f1"],
            "loss": _cross_entropy(logits, labels), "count": int(len(labels))}


def format_metrics(m):
    """'top-1 0.6800, top-5 0.9970, macro recall 0.6712, macro F1 0.6650, loss 0.9687 on 200 test
    images' (top-5 only where there is one; the macro part only in metrics that have it)."""
    top5 = f", top-5 {m['top5']:.4f}" if m["top5"] is not None else ""
    macro = f", macro recall {m['macro_recall']:.4f}, macro F1 {m['macro_f1']:.4f}" \
        if m.get("macro_recall") is not None else ""
    return f"top-1 {m['top1']:.4f}{top5}{macro}, loss {m['loss']:.4f} on {m['count']} test images"


def run_eval(sess, init, logits_t, labels_t):
    """One pass over an evaluation iterator -> (logits [N, C] float64, labels [N]) as numpy arrays."""
    sess.run(init)
    logits, labels = run_to_end(sess, [logits_t, labels_t])
    if logits is None:
        raise TlslimError("the evaluation split is empty; check --dataset_dir.")
    return logits.astype(np.float64), labels


def first_examples(dataset, n):
    """The first `n` examples of a Dataset or TFRecord split (all of it for None)."""
    if n is None or n >= len(dataset):
        return dataset
    return dataset.first(n) if isinstance(dataset, data.tfrecord.Split) else dataset.subset(np.arange(n))


def style_stats(style, train_set):
    """The training split's statistics for the per-dataset preprocessing styles, else None."""
    return data.compute_stats(train_set) if style in data.preprocessing.STATS_STYLES else None


def evaluate(model, checkpoint_path, dataset, dataset_dir=None, split="test", image_size=None, batch_size=32,
             num_examples=None, preprocessing=None, device="auto", return_logits=False, geometry="auto",
             return_examples=False, labels_offset=0):
    """Top-1/top-5 accuracy of a checkpoint (a file, V2 prefix, or train_dir) on a dataset split.

    Builds the net in inference mode (dropout off, batch norm on its moving statistics) with the
    dataset's number of classes and restores every model variable. `geometry`: how images reach
    the input size (tlslim.data.choose_geometry). Returns eval_metrics' {'top1', 'top5'
    (None for 5 classes or fewer), 'macro_recall', 'macro_f1', 'loss', 'count'}; with
    return_logits also 'logits' [N, C], 'labels' [N] and 'indices' [N] (each row's example in
    the split, the order the pipeline fed them); with return_examples also those and 'examples'
    (the Dataset evaluated: its uint8 images as stored, labels and class names; indices index it)
    and 'checkpoint' (the checkpoint file read).
    """
    graph_mode()
    info = nets.get_info(model)
    image_size = image_size or info.default_image_size
    style = preprocessing or info.preprocessing
    test_set = first_examples(data.load(dataset, dataset_dir, split=split, labels_offset=labels_offset),
                              num_examples)
    streamed = isinstance(test_set, data.tfrecord.Split)
    if streamed and return_examples:
        raise TlslimError(f"a report shows images held in memory; {dataset}'s TFRecords are streamed: evaluate "
                          f"without --report.")
    # Per-dataset styles normalize with the training split's statistics, as in training.
    stats = style_stats(style, data.load(dataset, dataset_dir, split="train")) \
        if style in data.preprocessing.STATS_STYLES else None
    device = choose_device(device)
    with tf.Graph().as_default():
        with tf.device("/device:CPU:0"):
            pipeline = data.input_pipeline(test_set, batch_size, image_size, style, is_training=False, stats=stats,
                                           geometry=geometry)
            iterator = tf.data.make_initializable_iterator(pipeline)
            images, labels = iterator.get_next()
        with tf.device(device):
            logits, _ = nets.get_network_fn(model, test_set.num_classes, is_training=False)(images)
        variables = slim.get_model_variables()
        report = restore.preflight(variables, checkpoint_path)
        if report.mismatched:
            name, graph_shape, ckpt_shape = report.mismatched[0]
            raise TlslimError(f"checkpoint {report.checkpoint_path} does not fit {model} for {dataset} "
                              f"({test_set.num_classes} classes): {name} is {ckpt_shape} there, {graph_shape} here; "
                              f"evaluate it on the dataset it was trained for.")
        init_fn = restore.RestorePlan.from_report(report).make_init_fn(variables)
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            init_fn(sess)
            all_logits, all_labels = run_eval(sess, iterator.initializer, logits, labels)
    result = eval_metrics(all_logits, all_labels)
    logging.info("%s on %s/%s from %s: %s", model, dataset, split, init_fn.checkpoint_path, format_metrics(result))
    if return_logits or return_examples:
        # The evaluation pipeline does not shuffle: its order is index_batches' unshuffled one.
        indices = np.arange(len(all_labels)) if streamed else \
            np.concatenate(list(data.index_batches(len(test_set), batch_size, False, False, 0)))
        if not streamed and not np.array_equal(test_set.labels[indices], all_labels):
            raise AssertionError("the evaluation pipeline's order is not the split's")  # a bug, not user input
        result.update(logits=all_logits, labels=all_labels, indices=indices)
    if return_examples:
        result.update(examples=test_set, checkpoint=init_fn.checkpoint_path)
    return result


@dataclasses.dataclass
class EvalConfig:
    """An evaluation of a checkpoint (the flags of scripts/evaluate.py). For a train_dir, model,
    dataset, dataset_dir, image_size and preprocessing default to the ones it was trained with."""
    checkpoint_path: Optional[str] = field(None, "Checkpoint file, V2 prefix, or training directory.")
    model: Optional[str] = field(None, "Network name; default: the train_dir's model.", aliases=("model_name",))
    dataset: Optional[str] = field(None, "Dataset name; default: the train_dir's dataset.", aliases=("dataset_name",))
    dataset_dir: Optional[str] = field(None, "Where the dataset's files are.")
    split: str = field("test", "Which split to evaluate.", choices=("train", "test"),
                       aliases=("dataset_split_name",))
    image_size: Optional[int] = field(None, "Input size; default: the net's default size.",
                                      aliases=("eval_image_size",))
    preprocessing: Optional[str] = field(None, "Preprocessing style; default: the net's.")
    geometry: Optional[str] = field(None, "auto, slim or squash (see finetune.py --geometry); default: the "
                                          "train_dir's, else auto.", choices=data.GEOMETRIES)
    batch_size: int = field(32, "Images per batch.", aliases=("eval_batch_size",))
    # Spelled as finetune.py spells it; --num_examples (slim's eval_image_classifier.py) still works.
    eval_examples: Optional[int] = field(None, "Evaluate the first N images only.", aliases=("num_examples",))
    labels_offset: int = field(0, "Subtracted from the TFRecords' labels (slim's flag: 1 for imagenet's records, "
                                  "whose label 0 is the background class, with a 1000-class net).")
    max_num_batches: Optional[int] = field(None, "slim's eval_image_classifier.py limit: evaluate at most N batches "
                                                 "(the first N * --batch_size images).")
    device: str = field("auto", "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
    # The field's former name, still accepted by the constructor.
    num_examples: dataclasses.InitVar[Optional[int]] = None

    def __post_init__(self, num_examples):
        if num_examples is not None and self.eval_examples is None:
            self.eval_examples = num_examples


def evaluate_run(config, return_examples=False):
    """`evaluate` with an EvalConfig whose unset settings come from the checkpoint's run record;
    returns (metrics, the EvalConfig used). return_examples: as for `evaluate` (what a report of
    the same pass needs: logits, labels, indices, the examples and the checkpoint file)."""
    if not config.checkpoint_path:
        raise TlslimError("--checkpoint_path is required (a checkpoint file, V2 prefix or training directory).")
    record = read_run_record(config.checkpoint_path) or {}
    model = config.model or record.get("model")
    dataset = config.dataset or record.get("dataset")
    if not model or not dataset:
        missing = " and ".join(f for f, v in (("--model", model), ("--dataset", dataset)) if not v)
        raise TlslimError(f"{missing} required: {config.checkpoint_path} is not a training directory that "
                          f"records them.")
    for name in ("batch_size", "eval_examples", "max_num_batches", "image_size"):
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or value < 1):
            raise TlslimError(f"--{name} must be positive, got {value}.")
    if config.max_num_batches is not None:
        limit = config.max_num_batches * config.batch_size
        config = dataclasses.replace(config, eval_examples=min(limit, config.eval_examples or limit))
    same = dataset == record.get("dataset")  # the record's dataset settings apply to its dataset only
    config = dataclasses.replace(
        config, model=model, dataset=dataset,
        dataset_dir=config.dataset_dir or (record.get("dataset_dir") if same else None),
        image_size=config.image_size or record.get("image_size"),
        preprocessing=config.preprocessing or record.get("preprocessing"),
        # Runs recorded before the geometry choice existed trained on the whole image.
        geometry=config.geometry or (record.get("geometry", "squash") if record and same else "auto"))
    metrics = evaluate(config.model, config.checkpoint_path, config.dataset, dataset_dir=config.dataset_dir,
                       split=config.split, image_size=config.image_size, batch_size=config.batch_size,
                       num_examples=config.eval_examples, preprocessing=config.preprocessing, device=config.device,
                       geometry=config.geometry, return_examples=return_examples,
                       labels_offset=config.labels_offset or record.get("labels_offset") or 0)
    return metrics, config
