"""Converting tlslim's datasets to slim's TFRecord format (what scripts/convert_dataset.py runs).

    convert('hats', 'photos/', 'records/')        # an image folder -> hats_<split>_NNNNN-of-NNNNN.tfrecord
    convert('cifar10', 'data/', 'records/')       # CIFAR-10's python release -> cifar10_<split>.tfrecord

An image folder (tlslim.data.folder's layout) becomes flowers-style shards, `train` and
`validation`: the same seeded split as tlslim's folder dataset (its 'test' part is slim's
'validation'), each split's images in a seeded shuffled order (as slim's converters mix the
classes) and spread evenly over `num_shards` files. Images are stored as their file's bytes
(format b'jpg' or b'png', as slim's flowers converter stores JPEG files), with the height and
width TensorFlow decodes; a photo whose EXIF orientation turns it is stored turned (re-encoded as
JPEG quality 95), so its pixels are upright as tlslim's folder dataset sees them; a file
TensorFlow cannot decode is skipped with a warning. CIFAR-10 becomes slim's two files, each image a
PNG from tf.io.encode_png, as slim's download_and_convert_cifar10.py encodes it.

Everything is written in a staging directory inside the output directory and moved into place
only when complete, with `labels.txt`; an existing set of the same name is replaced only with
`overwrite` (its stale shards removed).
"""
import contextlib
import dataclasses
import io
import os
from typing import Dict, List

import numpy as np
from absl import logging

from tlslim import paths as tpaths
from tlslim.compat import tf
from tlslim.data import cifar10, folder, tfrecord
from tlslim.errors import TlslimError, error_cause
from tlslim.progress import Progress

DEFAULT_NUM_SHARDS = 5  # slim's flowers
EXIF_QUALITY = 95
_ORIENTATION = 0x0112
_SHUFFLE_TAG = 0x7F0C  # keeps the write order's draws apart from the split's
_PNG_CHUNK = 500


@dataclasses.dataclass
class Converted:
    """What a conversion wrote: `counts` {split: images}, `files` (installed paths), `skipped`
    (undecodable files), `rotated` (EXIF-turned photos stored upright)."""
    name: str
    output_dir: str
    counts: Dict[str, int]
    files: List[str]
    skipped: int = 0
    rotated: int = 0


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def image_example(encoded, image_format, height, width, label):
    """A serialized tf.train.Example with slim's five image features (dataset_utils' keys)."""
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": _bytes(encoded),
        "image/format": _bytes(image_format),
        "image/class/label": _int64(label),
        "image/height": _int64(height),
        "image/width": _int64(width),
    })).SerializeToString(deterministic=True)


def write_labels(directory, names):
    """labels.txt with `<id>:<name>` per line for the list `names`, as slim's write_label_file."""
    with open(os.path.join(directory, tfrecord.LABELS_FILE), "w", encoding="utf-8", newline="\n") as f:
        for i, name in enumerate(names):
            f.write(f"{i}:{name}\n")


def existing_files(name, output_dir):
    """The files of a converted set `name` already in `output_dir` (any split, any shard set, and
    labels.txt), sorted."""
    lay = tfrecord.layout(name)
    try:
        entries = os.listdir(output_dir)
    except OSError:
        return []
    found = []
    for entry in entries:
        mine = entry == tfrecord.LABELS_FILE or any(
            lay.regex(s).match(entry) if lay.sharded else entry == lay.file_name(s) for s in lay.splits)
        if mine and os.path.isfile(os.path.join(output_dir, entry)):
            found.append(entry)
    return sorted(found)


def _check_output(name, output_dir, overwrite):
    out = tpaths.check_output_dir(output_dir, "--output_dir", "the TFRecord files")
    others = sorted(tfrecord.sets_in(out) - {name})
    if others:  # their labels.txt would be replaced by this set's
        raise TlslimError(f"--output_dir {out} holds the TFRecords of {', '.join(others)}; slim keeps one "
                          f"dataset per directory, beside its labels.txt: choose another --output_dir.")
    there = existing_files(name, out)
    if there and not overwrite:
        more = f" and {len(there) - 1} more" if len(there) > 1 else ""
        raise TlslimError(f"--output_dir {out} already holds {there[0]}{more}; pass --overwrite to replace "
                          f"that converted set, or choose another --output_dir.")
    return out, there


@contextlib.contextmanager
def _writing(out):
    """A write that fails (a full disk, a lost mount) as one line; the staging directory goes with it."""
    try:
        yield
    except (OSError, tf.errors.OpError) as err:
        raise TlslimError(f"could not write the TFRecords in {out} ({error_cause(err)}); free space or choose "
                          "another --output_dir.") from None


def _shard_ranges(n, num_shards):
    bounds = np.linspace(0, n, num_shards + 1).astype(int)  # even spread, as build_imagenet_data.py
    return list(zip(bounds[:-1], bounds[1:]))


class _Decoder:
    """TensorFlow's decoding of image files in a throwaway graph: what the pipeline will see."""

    def __init__(self):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.data = tf.placeholder(tf.string, [])
            self.shape = tf.shape(tf.io.decode_image(self.data, channels=3, expand_animations=False))
        self.sess = tf.Session(graph=self.graph)

    def size(self, data):
        height, width, _ = self.sess.run(self.shape, {self.data: data})
        return int(height), int(width)

    def close(self):
        self.sess.close()


def _upright(data):
    """(bytes, format, turned) of an image file: its own bytes, or re-encoded upright (turned True)
    when its EXIF orientation turns it; None for a format other than JPEG/PNG."""
    from PIL import Image, ImageOps
    with Image.open(io.BytesIO(data)) as image:
        kind = image.format
        if kind not in ("JPEG", "PNG"):
            return None
        fmt = b"jpg" if kind == "JPEG" else b"png"
        if image.getexif().get(_ORIENTATION, 1) not in range(2, 9):  # 1: upright; others undefined
            return data, fmt, False
        turned = ImageOps.exif_transpose(image).convert("RGB")
    out = io.BytesIO()
    turned.save(out, format="JPEG", quality=EXIF_QUALITY)
    return out.getvalue(), b"jpg", True


def _write_folder_split(items, split, name, num_shards, staging, decoder, converted):
    lay = tfrecord.layout(name)
    progress = Progress(f"converting {name}/{split}", total=len(items))
    written = 0
    for shard, (start, end) in enumerate(_shard_ranges(len(items), num_shards)):
        path = os.path.join(staging, lay.file_name(split, shard, num_shards))
        with tf.io.TFRecordWriter(path) as writer:
            for file_path, label in items[start:end]:
                try:
                    with open(file_path, "rb") as f:
                        upright = _upright(f.read())
                    if upright is None:
                        raise ValueError("not a JPEG or PNG image")
                    data, fmt, turned = upright
                    height, width = decoder.size(data)
                except Exception as err:  # any reader's or decoder's failure: a file that cannot be stored
                    converted.skipped += 1
                    logging.warning("cannot decode %s (%s); skipping it.", file_path, error_cause(err))
                    progress.update(1)
                    continue
                converted.rotated += turned
                writer.write(image_example(data, fmt, height, width, label))
                written += 1
                progress.update(1)
    converted.counts[split] = written


def convert_folder(dataset_dir, output_dir, name, num_shards=DEFAULT_NUM_SHARDS,
                   validation_fraction=folder.DEFAULT_VALIDATION_FRACTION, split_seed=0, overwrite=False):
    """The image folder `dataset_dir` as TFRecords `<name>_<split>_<shard>-of-<n>.tfrecord` and
    labels.txt in `output_dir`; returns a Converted."""
    tfrecord.check_name(name)
    if name in ("cifar10", "mnist", "imagenet"):
        raise TlslimError(f"--dataset_name {name} names slim's {name} files, which come from {name}'s own "
                          "release; name the image folder's set otherwise (e.g. flowers or my_photos).")
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise TlslimError(f"--num_shards must be a positive integer, got {num_shards!r}.")
    out, there = _check_output(name, output_dir, overwrite)
    root = os.path.realpath(os.path.expanduser(str(dataset_dir))) if dataset_dir else None
    target = os.path.realpath(out)
    if root and (target == root or target.startswith(root + os.sep)):
        raise TlslimError(f"--output_dir {out} is inside the image folder {dataset_dir}, where it would "
                          "read as a class; put the TFRecords outside it.")
    class_names, files, skipped = folder.scan(dataset_dir)
    if skipped:
        logging.warning("image folder %s: skipped %d file(s) that are not JPEG/PNG images in a class "
                        "sub-folder.", dataset_dir, skipped)
    parts = folder.split_files(class_names, files, validation_fraction, split_seed)
    splits = {"train": parts["train"], "validation": parts["test"]}
    if validation_fraction > 0 and not splits["validation"]:
        raise TlslimError(f"image folder {dataset_dir} has no validation images with validation_fraction="
                          f"{validation_fraction}: put at least two images in a class, or pass "
                          "--validation_fraction 0 to convert every image into train.")
    if not validation_fraction:
        del splits["validation"]
    converted = Converted(name, out, {}, [])
    with tpaths.staging_dir(out) as staging, _writing(out):
        decoder = _Decoder()
        try:
            for split, items in splits.items():
                rng = np.random.default_rng([split_seed, _SHUFFLE_TAG])
                items = [items[i] for i in rng.permutation(len(items))]
                _write_folder_split(items, split, name, num_shards, staging, decoder, converted)
        finally:
            decoder.close()
        if not sum(converted.counts.values()):
            raise TlslimError(f"image folder {dataset_dir}: none of the images could be decoded.")
        write_labels(staging, class_names)
        converted.files = _install(name, staging, out, there, converted.counts)
    return converted


def _png_encoder():
    """(encode(images uint8 [N, H, W, C]) -> list of PNG bytes, close) by tf.io.encode_png, the op
    slim's converters use, in a throwaway graph."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.uint8, [None, None, None, None])
        encoded = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)
    sess = tf.Session(graph=graph)
    return (lambda batch: list(sess.run(encoded, {images: batch}))), sess.close


def convert_cifar10(dataset_dir, output_dir, overwrite=False):
    """CIFAR-10's python release (as tlslim.data.cifar10 reads it) as slim's cifar10_train.tfrecord,
    cifar10_test.tfrecord and labels.txt in `output_dir`; returns a Converted."""
    out, there = _check_output("cifar10", output_dir, overwrite)
    lay = tfrecord.layout("cifar10")
    converted = Converted("cifar10", out, {}, [])
    with tpaths.staging_dir(out) as staging, _writing(out):
        encode, close = _png_encoder()
        try:
            for split in lay.splits:
                data = cifar10.load(dataset_dir, split)
                progress = Progress(f"converting cifar10/{split}", total=len(data))
                with tf.io.TFRecordWriter(os.path.join(staging, lay.file_name(split))) as writer:
                    for start in range(0, len(data), _PNG_CHUNK):
                        images = data.images[start:start + _PNG_CHUNK]
                        for png, label in zip(encode(images), data.labels[start:start + _PNG_CHUNK]):
                            writer.write(image_example(png, b"png", images.shape[1], images.shape[2], label))
                        progress.update(len(images))
                converted.counts[split] = len(data)
        finally:
            close()
        write_labels(staging, data.class_names)
        converted.files = _install("cifar10", staging, out, there, converted.counts)
    return converted


def _install(name, staging, out, there, counts):
    """Check the staged files hold `counts` records, move them into `out`, then remove the files of
    an earlier conversion of `name` that the new set does not replace (a different shard count)."""
    for split, n in counts.items():
        staged = tfrecord.find_split(name, staging, split)
        if tfrecord.count_records(staged) != n:  # a writer that lost records: never install it
            raise TlslimError(f"the {split} files written for {name} do not hold its {n} images; run again.")
    installed = tpaths.install(staging, out)
    new = {os.path.basename(p) for p in installed}
    for entry in there:
        if entry not in new:
            os.remove(os.path.join(out, entry))
    return sorted(installed)


def convert(name, dataset_dir, output_dir, num_shards=None, validation_fraction=None, overwrite=False):
    """`convert_cifar10` for name 'cifar10', else `convert_folder` (defaults: 5 shards, 0.2 held out)."""
    if name == "cifar10":
        if num_shards not in (None, 1) or validation_fraction is not None:
            raise TlslimError("cifar10 is written as slim writes it, one file per split (train, test); drop "
                              "--num_shards and --validation_fraction.")
        return convert_cifar10(dataset_dir, output_dir, overwrite)
    return convert_folder(dataset_dir, output_dir, name,
                          DEFAULT_NUM_SHARDS if num_shards is None else num_shards,
                          folder.DEFAULT_VALIDATION_FRACTION if validation_fraction is None
                          else validation_fraction, overwrite=overwrite)
