"""Ask a checkpoint what it sees: the top classes of a net for image files.

    predict(PredictConfig(model="vgg_16", checkpoint_path="checkpoints/vgg_16.ckpt"), ["photo.jpg"])
    -> [{'path': 'photo.jpg', 'top': [(class_index, name, probability), ...]}, ...]

The model, image size, preprocessing and class names come from, in this order: the config; the
run record of a train_dir (or the JSON file beside an exported checkpoint); the registry (the
net's release settings; ImageNet names when the checkpoint's class count is the release's). The
model may be left out when the checkpoint's variables say which net it is
(`tlslim.restore.identify_net`). Images (JPEG, PNG, GIF, BMP, any size) are decoded by TF one
at a time; a release checkpoint's images go through slim's evaluation preprocessing for its
style (tlslim.data.slim_preprocessing), those of a net trained with tlslim through the
preprocessing its run record names (tlslim.data.preprocess, as in training); the net is built once.
"""
import dataclasses
import json
import os
from typing import Optional

import numpy as np
from absl import logging

from tlslim import data, nets, restore
from tlslim.checkpoint_files import net_shapes
from tlslim.compat import graph_mode, slim, tf
from tlslim.data import imagenet
from tlslim.device import choose_device, session_config
from tlslim.errors import TlslimError
from tlslim.scopes import in_scope
from tlslim.train.config import field
from tlslim.train.evaluation import style_stats
from tlslim.train.rundir import read_run_record

# Leading bytes of the formats tf.io.decode_image reads: lets a wrong file fail before the graph is built.
SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF",
              b"BM": "BMP"}


@dataclasses.dataclass
class PredictConfig:
    """What to predict with (the flags of scripts/predict.py; the image files are its arguments)."""
    checkpoint_path: Optional[str] = field(None, "Checkpoint file, V2 prefix, or training directory.")
    model: Optional[str] = field(None, "Network name; default: the train_dir's model, else the net whose variables "
                                       "the checkpoint holds.", aliases=("model_name",))
    image_size: Optional[int] = field(None, "Input size; default: the train_dir's, else the net's default size.",
                                      aliases=("eval_image_size",))
    preprocessing: Optional[str] = field(None, "Preprocessing style; default: the train_dir's, else the one the net "
                                               "was released with.")
    geometry: Optional[str] = field(None, "slim (the release's evaluation crop), squash (the whole image) or auto; "
                                          "default: the train_dir's, else slim.", choices=data.GEOMETRIES)
    top_k: int = field(5, "How many classes to show per image.")
    device: str = field("auto", "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")


def check_images(paths):
    """TlslimError (one line) unless every path is a readable image file; returns the paths."""
    if not paths:
        raise TlslimError("no image given; pass one or more JPEG or PNG files, e.g. predict.py ... photo.jpg.")
    longest = max(len(s) for s in SIGNATURES)
    for path in paths:
        if os.path.isdir(path):
            raise TlslimError(f"{path} is a directory; pass image files (e.g. {os.path.join(path, '*.jpg')}).")
        if not os.path.isfile(path):
            raise TlslimError(f"image file {path} not found; check the path.")
        try:
            with open(path, "rb") as f:
                head = f.read(longest)
        except OSError as err:
            raise TlslimError(f"cannot read image file {path}: {err.strerror or err}.") from None
        if not any(head.startswith(s) for s in SIGNATURES):
            raise TlslimError(f"{path} is not an image (not JPEG, PNG, GIF or BMP); pass image files.")
    return list(paths)


def _sidecar_record(resolved):
    """The run record of a train_dir, else the JSON file an exported checkpoint ships beside it
    (checkpoints/cifarnet_synthetic/cifarnet_synthetic.json), else {}."""
    record = read_run_record(resolved)
    if record:
        return record
    beside = os.path.splitext(resolved)[0] + ".json"
    if os.path.isfile(beside):
        try:
            with open(beside, encoding="utf-8") as f:
                found = json.load(f)
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}
    return {}


def _choose_model(config, record, checkpoint):
    if config.model:
        nets.get_info(config.model)  # an unknown name lists the known ones
        return config.model
    if record.get("model"):
        return record["model"]
    found = restore.identify_net(checkpoint)
    if len(found) == 1:
        return found[0]
    if found:
        raise TlslimError(f"checkpoint {checkpoint} fits several nets ({', '.join(found)}); pass --model.")
    raise TlslimError(f"checkpoint {checkpoint} holds the variables of no registered net; pass --model (one of "
                      f"{', '.join(nets.names())}).")


def checkpoint_classes(net, shapes):
    """The class count of net `net`'s head in a checkpoint listing {name: shape}, or None if the
    head is not there."""
    info, m = nets.get_info(net), nets.manifest(net)
    for name, shape in m["variables"].items():
        if in_scope(name, [info.head_scope]) and shape and shape[-1] == m["num_classes"] and name in shapes:
            return int(shapes[name][-1])
    return None


def _class_names(info, num_classes, record):
    """The names of the outputs and where they come from; (None, why) when there are none."""
    names = record.get("class_names")
    if names and len(names) == num_classes:
        return list(names), f"the class names of {record.get('dataset') or 'its dataset'}"
    if num_classes == info.num_classes and num_classes in imagenet.LAYOUTS:
        layout = "with background at 0" if num_classes == imagenet.NUM_CLASSES + 1 else ""
        return imagenet.class_names(num_classes), f"ImageNet class names {layout}".strip()
    return None, "class indices only (no class names are recorded for it)"


def _preflight(net, num_classes, checkpoint):
    """The restore report of `net` with `num_classes` against the checkpoint, checked before the
    graph is built (the net's variables are its manifest's, with this head)."""
    report = restore.preflight(net_shapes(net, num_classes, extra=False), checkpoint)
    if report.mismatched:
        name, graph_shape, ckpt_shape = report.mismatched[0]
        raise TlslimError(f"checkpoint {report.checkpoint_path} does not fit {net} with {num_classes} classes: {name} "
                          f"is {restore.format_shape(ckpt_shape)} there, {restore.format_shape(graph_shape)} here; "
                          f"pass the --model it was made for.")
    if report.missing:
        found = restore.identify_net(checkpoint)
        which = f"it holds {', '.join(found)}" if found else f"{report.missing[0]} is not in it"
        raise TlslimError(f"checkpoint {report.checkpoint_path} is not a checkpoint of {net}: {which}; pass the "
                          f"--model it was made for" + (" or leave --model out." if found else "."))
    return report


def _softmax(logits):
    shifted = np.asarray(logits, np.float64) - np.max(logits)
    e = np.exp(shifted)
    return e / e.sum()


def predict(config, paths):
    """The `config.top_k` most probable classes of each image in `paths`:
    [{'path', 'top': [(class_index, name or None, probability), ...]}], most probable first."""
    graph_mode()
    if config.top_k is None or config.top_k < 1:
        raise TlslimError(f"--top_k must be positive, got {config.top_k}.")
    if config.image_size is not None and config.image_size < 1:
        raise TlslimError(f"--image_size must be positive, got {config.image_size}.")
    paths = check_images(paths)
    if not config.checkpoint_path:
        raise TlslimError("--checkpoint_path is required (a checkpoint file, V2 prefix or training directory).")
    checkpoint = restore.resolve_checkpoint(config.checkpoint_path)
    record = _sidecar_record(checkpoint)
    model = _choose_model(config, record, checkpoint)
    info = nets.get_info(model)
    same_net = record.get("model") == model  # the record's settings describe its own net only
    if not same_net:
        record = {}
    num_classes = (checkpoint_classes(model, restore.list_checkpoint(checkpoint)) or record.get("num_classes")
                   or info.num_classes)
    image_size = config.image_size or record.get("image_size") or info.default_image_size
    style = config.preprocessing or record.get("preprocessing") or info.preprocessing
    if style not in data.STYLES:
        raise TlslimError(f"unknown preprocessing style '{style}'; known styles: {', '.join(data.STYLES)}.")
    stats = None
    if style in data.preprocessing.STATS_STYLES:
        if not record.get("dataset"):
            raise TlslimError(f"preprocessing style '{style}' normalizes with a training set's statistics; pass "
                              f"a train_dir that records its dataset, or another --preprocessing.")
        stats = style_stats(style, data.load(record["dataset"], record.get("dataset_dir"), split="train"))
    # A release checkpoint is evaluated as slim's eval_image_classifier did; a net tlslim trained
    # sees what its training pipeline gave it (runs recorded before the choice: the whole image).
    geometry = data.choose_geometry(config.geometry or (record.get("geometry", "squash") if record else "slim"),
                                    style, None, image_size)
    names, where = _class_names(info, num_classes, record)
    report = _preflight(model, num_classes, checkpoint)
    logging.info("%s with %d classes from %s, %s preprocessing (%s) at %dx%d, %s", model, num_classes,
                 report.checkpoint_path, style, "slim's evaluation crop" if geometry == "slim" else "whole image",
                 image_size, image_size, where)

    device = choose_device(config.device)
    with tf.Graph().as_default():
        with tf.device("/device:CPU:0"):
            encoded = tf.placeholder(tf.string, [], name="encoded_image")
            # expand_animations=False: a GIF gives its first frame, so every image is [H, W, 3].
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            pixels = data.preprocess(image, style, image_size, is_training=False, stats=stats, geometry=geometry)
        with tf.device(device):
            logits, _ = nets.get_network_fn(model, num_classes, is_training=False)(pixels[None])
        variables = slim.get_model_variables()
        init_fn = restore.RestorePlan.from_report(report).make_init_fn(variables)
        init = tf.global_variables_initializer()
        tf.get_default_graph().finalize()
        results = []
        with tf.Session(config=session_config()) as sess:
            sess.run(init)
            init_fn(sess)
            for path in paths:
                with open(path, "rb") as f:
                    raw = f.read()
                try:
                    out = sess.run(logits, {encoded: raw})[0]
                except tf.errors.InvalidArgumentError:
                    # TF's message is a multi-line graph trace; the reason the user can act on is this.
                    raise TlslimError(f"cannot decode image {path}: the file is damaged, truncated or not an "
                                      f"image; pass a complete JPEG or PNG file.") from None
                probs = _softmax(out)
                order = np.argsort(-probs, kind="stable")[:config.top_k]
                results.append({"path": path, "top": [(int(i), names[i] if names else None, float(probs[i]))
                                                      for i in order]})
    return results


def format_result(result):
    """Lines of one image's prediction: the path, then `probability  index  name` per class."""
    lines = [result["path"]]
    width = max(len(str(i)) for i, _, _ in result["top"])
    for index, name, probability in result["top"]:
        lines.append(f"  {probability:.4f}  {index:>{width}}" + (f"  {name}" if name is not None else ""))
    return lines
