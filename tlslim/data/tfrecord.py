"""slim's own datasets: the TFRecord files research/slim's converters write, streamed with tf.data.

    paths = find_split('flowers', 'data/flowers', 'train')
    names = class_names('flowers', 'data/flowers')
    ds = record_pipeline(paths, 32, is_training=True, seed=0, preprocess_fn=fn)
    images, labels = tf.data.make_one_shot_iterator(ds).get_next()

Every record is a tf.train.Example with `image/encoded` (the image file's bytes), `image/format`
(b'jpg' for flowers, b'png' for cifar10 and mnist, b'JPEG' for imagenet, or b'raw' for bare uint8
pixels), `image/class/label` (int64), `image/height` and `image/width`; imagenet's add
`image/class/synset`, `image/class/text`, the bounding boxes and more, which are not read here.
As in slim's decoder, a 'raw' format means bare pixels and anything else is decoded by its
content (JPEG, PNG, GIF or BMP). Files, per dataset (LAYOUTS):

    flowers   flowers_<split>_<shard>-of-<n>.tfrecord   train, validation   JPEG of any size
    cifar10   cifar10_<split>.tfrecord                  train, test         PNG 32x32x3
    mnist     mnist_<split>.tfrecord                    train, test         PNG 28x28x1
    imagenet  <split>-<shard>-of-<n>                    train, validation   JPEG, labels 1..1000
    <other>   <other>_<split>_<shard>-of-<n>.tfrecord   train, validation   (scripts/convert_dataset.py)

with <shard> and <n> zero-padded to 5 digits. `labels.txt` beside them holds `<id>:<name>` lines;
without it slim names no classes, except for imagenet, whose 1001 names (0 'background') slim
builds from the synset lists (tlslim ships them: tlslim.data.imagenet).

The pipeline never holds a split in memory: shards are read in parallel, records shuffled in a
buffer, decoded and preprocessed one at a time in parallel map calls, then batched.
"""
import dataclasses
import inspect
import os
import re
import struct
import time

import numpy as np
from absl import logging

from tlslim.compat import tf
from tlslim.data import imagenet
from tlslim.errors import TlslimError

LABELS_FILE = "labels.txt"
SHARD_DIGITS = 5
DEFAULT_NUM_READERS = 4  # slim's --num_readers
MIN_SHUFFLE_BUFFER = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(_[A-Za-z0-9.-]+)*$")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one dataset names its files. Sharded: `prefix.format(split=...)` + `<shard>-of-<n>` +
    `suffix`; single: `prefix.format(split=...)` + `suffix`."""
    splits: tuple
    prefix: str
    suffix: str
    sharded: bool
    num_classes: int = None  # slim's count, for a set without labels.txt

    def file_name(self, split, shard=None, num_shards=None):
        head = self.prefix.format(split=split)
        if not self.sharded:
            return head + self.suffix
        return f"{head}{shard:0{SHARD_DIGITS}d}-of-{num_shards:0{SHARD_DIGITS}d}{self.suffix}"

    def pattern(self, split):
        """The file name as a user reads it: 'flowers_train_NNNNN-of-NNNNN.tfrecord'."""
        head = self.prefix.format(split=split)
        if not self.sharded:
            return head + self.suffix
        n = "N" * SHARD_DIGITS
        return f"{head}{n}-of-{n}{self.suffix}"

    def regex(self, split):
        return re.compile("^" + re.escape(self.prefix.format(split=split)) + r"(\d{%d,})-of-(\d{%d,})"
                          % (SHARD_DIGITS, SHARD_DIGITS) + re.escape(self.suffix) + "$")


LAYOUTS = {
    "flowers": Layout(("train", "validation"), "flowers_{split}_", ".tfrecord", True, 5),
    "cifar10": Layout(("train", "test"), "cifar10_{split}", ".tfrecord", False, 10),
    "mnist": Layout(("train", "test"), "mnist_{split}", ".tfrecord", False, 10),
    "imagenet": Layout(("train", "validation"), "{split}-", "", True, imagenet.NUM_CLASSES + 1),
}
SLIM_NAMES = tuple(LAYOUTS)


def check_name(name):
    """`name` if it can name a TFRecord set (slim's four, or any word that is safe in a file name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise TlslimError(f"dataset name {name!r} cannot name TFRecord files; use letters, digits, '.', "
                          "'-' and single '_' between them, e.g. flowers or my_photos.")
    return name


def layout(name):
    """The Layout of `name`: slim's for flowers, cifar10, mnist and imagenet; any other name is a
    set scripts/convert_dataset.py wrote from an image folder, named as slim names flowers."""
    check_name(name)
    if name in LAYOUTS:
        return LAYOUTS[name]
    return Layout(("train", "validation"), name + "_{split}_", ".tfrecord", True)


def held_out_split(name):
    """The split slim evaluates `name` on: 'validation' or 'test'."""
    return layout(name).splits[1]


def _origin(name):
    if name in ("flowers", "cifar10"):
        return "slim's download_and_convert_data.py or scripts/convert_dataset.py"
    if name == "mnist":
        return "slim's download_and_convert_data.py"
    if name == "imagenet":
        return "slim's build_imagenet_data.py"
    return "scripts/convert_dataset.py"


def sets_in(directory):
    """The names of the TFRecord sets with files in `directory` (slim's four and converted ones)."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return set()
    found = set()
    generic = re.compile(r"^(.+?)_(train|validation)_\d{%d,}-of-\d{%d,}\.tfrecord$" % (SHARD_DIGITS, SHARD_DIGITS))
    for entry in entries:
        for name, lay in LAYOUTS.items():
            if any(lay.regex(s).match(entry) if lay.sharded else entry == lay.file_name(s) for s in lay.splits):
                found.add(name)
        m = generic.match(entry)
        if m:
            found.add(m.group(1))
    return found


def _what_is_there(dataset_dir):
    """A hint naming the TFRecord sets (or CIFAR-10 release) `dataset_dir` does hold, or ''."""
    found = sets_in(dataset_dir)
    if found:
        return f" (it holds the TFRecords of {', '.join(sorted(found))}: check --dataset_name)"
    if os.path.exists(os.path.join(dataset_dir, "cifar-10-batches-py")) or \
            os.path.exists(os.path.join(dataset_dir, "data_batch_1")):
        return " (it holds CIFAR-10's python release: convert it with scripts/convert_dataset.py)"
    return ""


def find_split(name, dataset_dir, split):
    """The paths of the files of `name`'s `split` in `dataset_dir`, sorted by shard.

    A one-line TlslimError when the directory or the files are missing, or when a sharded split
    lacks some of its `-of-<n>` shards (a conversion that did not finish) or mixes two sets."""
    lay = layout(name)
    if split not in lay.splits:
        raise TlslimError(f"dataset {name} has splits {' and '.join(lay.splits)}, not {split!r}.")
    expected = lay.pattern(split)
    if dataset_dir is None or not str(dataset_dir).strip():
        raise TlslimError(f"dataset {name} needs --dataset_dir: the directory that holds {expected}.")
    root = os.path.expanduser(str(dataset_dir))
    if not os.path.isdir(root):
        raise TlslimError(f"dataset directory {root} does not exist; pass --dataset_dir with the TFRecord "
                          f"files of {name} ({expected}), as {_origin(name)} writes them.")
    if not lay.sharded:
        path = os.path.join(root, expected)
        if not os.path.isfile(path):
            raise TlslimError(f"{root} has no {expected}{_what_is_there(root)}; pass the --dataset_dir "
                              f"where {_origin(name)} wrote the TFRecords of {name}.")
        return [path]
    regex = lay.regex(split)
    shards = {}
    for entry in os.listdir(root):
        m = regex.match(entry)
        if m and os.path.isfile(os.path.join(root, entry)):
            shards.setdefault(int(m.group(2)), {})[int(m.group(1))] = entry
    if not shards:
        raise TlslimError(f"{root} has no {expected} files{_what_is_there(root)}; pass the --dataset_dir "
                          f"where {_origin(name)} wrote the TFRecords of {name}.")
    if len(shards) > 1:
        sets = " and ".join(f"-of-{n:0{SHARD_DIGITS}d}" for n in sorted(shards))
        raise TlslimError(f"{root} holds two sets of {split} shards ({sets}); remove the stale set, or "
                          f"convert again with --overwrite.")
    (n, files), = shards.items()
    missing = [lay.file_name(split, i, n) for i in range(n) if i not in files]
    extra = sorted(i for i in files if i >= n)
    if extra:
        raise TlslimError(f"{root}: {files[extra[0]]} numbers a shard beyond the {n} of its set; remove "
                          f"it or convert again with --overwrite.")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise TlslimError(f"{root} lacks {missing[0]}{more} of the {n} {split} shards: the conversion did "
                          f"not finish; convert {name} again.")
    return [os.path.join(root, files[i]) for i in range(n)]


# --- labels.txt

def read_labels(dataset_dir, filename=LABELS_FILE):
    """{id: name} from `<dataset_dir>/labels.txt`, or None when there is no such file (slim's
    has_labels). As slim reads it: lines split at '\\n', empty lines skipped, the id is what precedes
    the first ':' and the name all that follows it (a Windows '\\r' is dropped)."""
    path = os.path.join(os.path.expanduser(str(dataset_dir)), filename)
    if not os.path.isfile(path):
        return None
    fix = f"each line of {path} must be <id>:<name>; fix it or convert the dataset again"
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError:
        raise TlslimError(f"{path} is not UTF-8 text; {fix}.") from None
    except OSError as err:
        raise TlslimError(f"cannot read {path} ({err.strerror or err}).") from None
    labels = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line:
            continue
        head, colon, name = line.partition(":")
        try:
            label = int(head)
        except ValueError:
            label = None
        if not colon or label is None:
            raise TlslimError(f"{path} line {number} is {line[:60]!r}; {fix}.")
        if label in labels:
            raise TlslimError(f"{path} names label {label} twice (line {number}); {fix}.")
        labels[label] = name
    return labels


def class_names(name, dataset_dir, labels_offset=0):
    """The class names of `name` in `dataset_dir`, indexed by label minus `labels_offset`.

    From labels.txt, which must name every label 0..N-1; without it imagenet's 1001 (0
    'background'), as slim builds them, and for slim's other sets their labels as numbers."""
    labels = read_labels(dataset_dir)
    lay = layout(name)
    if labels is None:
        if name == "imagenet":
            names = imagenet.class_names(imagenet.NUM_CLASSES + 1)
        elif lay.num_classes:
            names = [str(i) for i in range(lay.num_classes)]
        else:
            raise TlslimError(f"{os.path.join(str(dataset_dir), LABELS_FILE)} does not exist; dataset {name} "
                              "needs it to know its classes: convert it again with scripts/convert_dataset.py.")
    else:
        gaps = [i for i in range(max(labels) + 1) if i not in labels] if labels else [0]
        if gaps or min(labels) < 0:
            what = f"no line for label {gaps[0]}" if gaps else f"a negative label {min(labels)}"
            raise TlslimError(f"{os.path.join(str(dataset_dir), LABELS_FILE)} has {what}; it must name "
                              "labels 0..N-1, one <id>:<name> per line.")
        names = [labels[i] for i in range(len(labels))]
    if not 0 <= labels_offset < len(names):
        raise TlslimError(f"--labels_offset {labels_offset} leaves no classes of the {len(names)} of {name}.")
    return names[labels_offset:]


# --- Counting records

_COUNTS = {}  # (real path, size, mtime) -> records: a file is walked once per process
PROGRESS_SECONDS = 10.0


def _count_file(path):
    """Records in one TFRecord file, by walking its framing (length, CRC, data, CRC)."""
    size = os.path.getsize(path)
    count = 0
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return count
            if len(header) < 12:
                break
            (length,) = struct.unpack("<Q", header[:8])
            end = f.tell() + length + 4
            if end > size:
                break
            f.seek(end)
            count += 1
    raise TlslimError(f"{path} is truncated or not a TFRecord file (record {count + 1} runs past its end); "
                      "convert the dataset again.")


def count_records(paths):
    """The number of records in `paths` (TFRecord files), counted from the files (a progress line
    every PROGRESS_SECONDS for a large set); each file's count is kept for the process."""
    total, start, last = 0, time.time(), time.time()
    for i, path in enumerate(paths):
        try:
            stat = os.stat(path)
        except OSError as err:
            raise TlslimError(f"cannot read {path} ({err.strerror or err}).") from None
        key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
        if key not in _COUNTS:
            _COUNTS[key] = _count_file(path)
        total += _COUNTS[key]
        if time.time() - last >= PROGRESS_SECONDS:
            last = time.time()
            logging.info("counting records: %d/%d files, %d records so far (%.0f s)", i + 1, len(paths),
                         total, last - start)
    return total


# --- The pipeline

def _takes_seed(fn):
    try:
        return "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _to_channels(image, channels):
    """uint8 [H, W, C] with C in 1, 3, 4 -> [H, W, channels], as decode_png's `channels` converts."""
    c = tf.shape(image)[2]
    if channels == 3:
        return tf.cond(tf.equal(c, 1), lambda: tf.tile(image, [1, 1, 3]), lambda: image[:, :, :3])
    return tf.cond(tf.equal(c, 1), lambda: image, lambda: tf.image.rgb_to_grayscale(image[:, :, :3]))


def decode_record(serialized, channels=3):
    """(image uint8 [H, W, channels], label int64 []) of one serialized Example."""
    features = tf.io.parse_single_example(serialized, {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        "image/height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "image/width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    })
    encoded, fmt = features["image/encoded"], features["image/format"]

    def raw():
        pixels = tf.io.decode_raw(encoded, tf.uint8)
        size = tf.cast(tf.stack([features["image/height"], features["image/width"], -1]), tf.int32)
        return _to_channels(tf.reshape(pixels, size), channels)

    def by_content():
        return tf.io.decode_image(encoded, channels=channels, expand_animations=False)

    image = tf.cond(tf.logical_or(tf.equal(fmt, "raw"), tf.equal(fmt, "RAW")), raw, by_content)
    image.set_shape([None, None, channels])
    return image, features["image/class/label"]


def record_pipeline(paths, batch_size, is_training, seed, preprocess_fn, shuffle_buffer=None,
                    num_parallel_reads=None, labels_offset=0, channels=3, shuffle=None, repeat=None,
                    num_parallel_calls=None, num_classes=None, max_records=None):
    """A tf.data.Dataset of (images float32 [B, S, S, channels], labels int64 [B]) from TFRecords.

    paths: the split's files (find_split). Shards are read `num_parallel_reads` at a time
    (default min(4, files), slim's --num_readers), records interleaved in a fixed order. With
    `shuffle` (default is_training) the file order is drawn anew each epoch and records pass a
    `shuffle_buffer` (default max(1024, 20 * batch_size), slim's queue capacity), both seeded with
    `seed`. Each record is decoded to uint8 [H, W, channels] (grey records made RGB for 3,
    colour ones grey for 1) and given to `preprocess_fn(image) -> float [S, S, channels]` in
    parallel map calls; if it takes a `seed` argument (as slim_preprocessing.preprocess_image does)
    it gets a [2] int64 seed (`seed`, the record's place in the stream), so augmentation is a pure
    function of `seed` (seed None: TF's own unseeded shuffles and draws). Labels are
    `image/class/label` minus `labels_offset` (slim's flag, 1 for imagenet's records with a
    1000-class net); with `num_classes` a label outside [0, num_classes)
    stops the run with an InvalidArgumentError naming it. With `repeat` (default is_training) the
    stream is endless and every batch full; without it one pass, the last batch possibly smaller.
    `max_records`: read only the first N records (in file order; evaluation).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise TlslimError("no TFRecord files to read; find them with tlslim.data.tfrecord.find_split.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise TlslimError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if channels not in (1, 3):
        raise TlslimError(f"channels must be 1 or 3, got {channels!r}.")
    if isinstance(labels_offset, bool) or not isinstance(labels_offset, (int, np.integer)) or labels_offset < 0:
        raise TlslimError(f"--labels_offset must be a non-negative integer, got {labels_offset!r}.")
    batch_size, labels_offset = int(batch_size), int(labels_offset)
    shuffle = is_training if shuffle is None else shuffle
    repeat = is_training if repeat is None else repeat
    readers = min(num_parallel_reads or DEFAULT_NUM_READERS, len(paths))
    buffer = shuffle_buffer or max(MIN_SHUFFLE_BUFFER, 20 * batch_size)
    parallel = num_parallel_calls or os.cpu_count() or 1
    seeded = seed is not None and _takes_seed(preprocess_fn)  # else its stateful draws

    files = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle and len(paths) > 1:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        files = files.repeat()  # epochs run into each other, as slim's endless filename queue did
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=readers, block_length=1,
                               num_parallel_calls=readers, deterministic=True)
    if max_records is not None:
        records = records.take(max_records)
    if shuffle:
        records = records.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    def transform(index, serialized):
        image, label = decode_record(serialized, channels)
        if seeded:
            image = preprocess_fn(image, seed=tf.stack([tf.constant(seed, tf.int64), index]))
        else:
            image = preprocess_fn(image)
        label = label - labels_offset
        if num_classes is not None:
            ok = tf.logical_and(label >= 0, label < num_classes)
            with tf.control_dependencies([tf.debugging.Assert(ok, [
                    f"label minus labels_offset {labels_offset} outside [0, {num_classes}):", label])]):
                label = tf.identity(label)
        return tf.cast(image, tf.float32), label

    ds = records.enumerate().map(transform, num_parallel_calls=parallel)
    ds = ds.batch(batch_size, drop_remainder=repeat).prefetch(2)
    # Fixed parallelism instead of tf.data's autotuner: its model thread sleeps for an
    # optimization period that grows with the run time, and Session.close() waits it out.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)



# --- A split as a dataset the training engine reads

@dataclasses.dataclass
class Split:
    """A split of slim's TFRecords as tlslim.data.load gives it: streamed by input_pipeline, its
    images never in memory (so it has no `images` or `labels` arrays)."""
    name: str                 # the dataset's name
    split: str                # the files' split name (train, validation, test)
    paths: list
    num_examples: int         # counted
    class_names: list         # indexed by label minus labels_offset
    labels_offset: int = 0
    image_shape: tuple = None  # (H, W) where the layout fixes it, else None
    limit: int = None          # read only the first N records

    labels = None

    @property
    def num_classes(self):
        return len(self.class_names)

    def __len__(self):
        return self.num_examples if self.limit is None else min(self.limit, self.num_examples)

    def first(self, n):
        """The split's first `n` records only."""
        return dataclasses.replace(self, limit=n)


def is_streamed(name, dataset_dir):
    """Whether dataset `name` in `dataset_dir` is slim's TFRecords: flowers, mnist and imagenet
    always; cifar10 when the directory holds its TFRecords rather than the python release; any
    other name when the directory holds a set of that name (scripts/convert_dataset.py's)."""
    if name in ("flowers", "mnist", "imagenet"):
        return True
    directory = dataset_dir or ("data" if name == "cifar10" else None)
    return bool(directory) and os.path.isdir(directory) and name in sets_in(directory)


def open_split(name, dataset_dir, split, labels_offset=0):
    """Split `split` ('train', or 'test' for the held-out one: validation or test) of slim's
    TFRecords of `name` in `dataset_dir`, its records counted and its classes read."""
    directory = dataset_dir or ("data" if name == "cifar10" else None)
    if not directory:  # (flowers, mnist, imagenet)
        raise TlslimError(f"--dataset {name} reads slim's TFRecords: pass --dataset_dir, the directory "
                          f"download_and_convert_data.py (or scripts/convert_dataset.py) wrote them to.")
    file_split = held_out_split(name) if split == "test" else split
    paths = find_split(name, directory, file_split)
    shape = {"cifar10": (32, 32), "mnist": (28, 28)}.get(name)
    return Split(name, file_split, paths, count_records(paths), class_names(name, directory, labels_offset),
                 labels_offset, shape)
