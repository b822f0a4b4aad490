"""Writers of slim's TFRecord datasets in the exact layouts slim's converters write, with SYNTHETIC
images (random smooth noise; the class names are the real ones), for tests.

- `write_flowers(directory)`: flowers_<split>_<shard>-of-00005.tfrecord as download_and_convert_flowers.py
  writes them: the JPEG files' own bytes (varying sizes), format b'jpg', ceil(n / 5) records per shard
  (so the last shards of a small split are empty files), labels.txt with the five flower classes.
- `write_cifar10(directory)` / `write_mnist(directory)`: cifar10_<split>.tfrecord (32x32x3) and
  mnist_<split>.tfrecord (28x28x1 grey), PNGs from tf.io.encode_png run image by image in a graph and
  session as download_and_convert_cifar10.py / _mnist.py do, format b'png', labels.txt with their
  class lists (slim's mnist list says 'size' for six; the files slim wrote say so, so these do too).
- `write_imagenet(directory)`: <split>-<shard>-of-<n> as build_imagenet_data.py writes them: JPEG,
  format b'JPEG', labels 1..1000 (0 is the background), synset, text, filename, colorspace, channels
  and bounding boxes; labels.txt (1001 lines from 0:background, as slim's imagenet.py writes it) unless
  `labels_file=False`.
- `write_records(path, examples)` and `example(...)` for any other record (e.g. format b'raw').
Each returns what a reader should find: per split, a list of {'label', 'height', 'width', 'pixels'}
(`pixels` uint8 [H, W, C] for the PNG sets, None for JPEGs, whose decoders may differ by a level).
"""
import io
import math
import os

import numpy as np

from tlslim.compat import tf
from tlslim.data import imagenet

FLOWERS_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = ("zero", "one", "two", "three", "four", "five", "size", "seven", "eight", "nine")


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _feature(value):
    if isinstance(value, tf.train.Feature):
        return value
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return _ints(value if isinstance(value, (list, tuple)) else [value])


def example(encoded, image_format, height, width, label, **extra):
    """Serialized tf.train.Example with slim's image features (dataset_utils.image_to_tfexample's keys)
    and `extra` ones ({'image/class/synset': b'n01440764', ...}: bytes, ints, or a tf.train.Feature)."""
    feature = {"image/encoded": encoded, "image/format": image_format, "image/class/label": label,
               "image/height": height, "image/width": width, **extra}
    return tf.train.Example(features=tf.train.Features(
        feature={k: _feature(v) for k, v in feature.items()})).SerializeToString()


def write_records(path, examples):
    """Write serialized `examples` to the TFRecord file `path`."""
    with tf.io.TFRecordWriter(path) as writer:
        for record in examples:
            writer.write(record)


def write_label_file(directory, names):
    """labels.txt as slim's dataset_utils.write_label_file: '%d:%s\\n' per {id: name} (or list)."""
    items = names.items() if isinstance(names, dict) else enumerate(names)
    with open(os.path.join(directory, "labels.txt"), "w", encoding="utf-8", newline="\n") as f:
        for label, name in items:
            f.write("%d:%s\n" % (label, name))


def _noise(rng, height, width, channels=3):
    from PIL import Image
    coarse = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    return pixels[:, :, :1] if channels == 1 else pixels


def _jpeg(pixels):
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def slim_png(images):
    """PNG bytes of each uint8 [H, W, C] image, by tf.image.encode_png one image per session run,
    as slim's cifar10 and mnist converters encode them."""
    with tf.Graph().as_default():
        placeholder = tf.placeholder(dtype=tf.uint8)
        encoded = tf.image.encode_png(placeholder)
        with tf.Session("") as sess:
            return [sess.run(encoded, feed_dict={placeholder: image}) for image in images]


def write_flowers(directory, sizes=None, num_shards=5, seed=0):
    """flowers_{train,validation}_NNNNN-of-{num_shards}.tfrecord and labels.txt in `directory`.
    sizes: {split: images}, default {'train': 12, 'validation': 6}; each image has its own height and
    width in 24..64."""
    sizes = sizes or {"train": 12, "validation": 6}
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {}
    for split, n in sizes.items():
        items = []
        for _ in range(n):
            height, width = (int(v) for v in rng.integers(24, 65, size=2))
            label = int(rng.integers(0, len(FLOWERS_CLASSES)))
            items.append({"label": label, "height": height, "width": width, "pixels": None,
                          "jpeg": _jpeg(_noise(rng, height, width))})
        per_shard = int(math.ceil(n / float(num_shards)))  # slim's split: trailing shards may be empty
        for shard in range(num_shards):
            chunk = items[shard * per_shard:min((shard + 1) * per_shard, n)]
            write_records(os.path.join(directory, "flowers_%s_%05d-of-%05d.tfrecord" % (split, shard, num_shards)),
                          [example(i["jpeg"], b"jpg", i["height"], i["width"], i["label"]) for i in chunk])
        written[split] = items
    write_label_file(directory, FLOWERS_CLASSES)
    return written


def _write_png_set(directory, name, shape, class_names, sizes, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {}
    for split, n in sizes.items():
        images = [_noise(rng, shape[0], shape[1], shape[2]) for _ in range(n)]
        labels = [int(v) for v in rng.integers(0, len(class_names), size=n)]
        records = [example(png, b"png", shape[0], shape[1], label)
                   for png, label in zip(slim_png(images), labels)]
        write_records(os.path.join(directory, "%s_%s.tfrecord" % (name, split)), records)
        written[split] = [{"label": label, "height": shape[0], "width": shape[1], "pixels": image}
                          for image, label in zip(images, labels)]
    write_label_file(directory, class_names)
    return written


def write_cifar10(directory, sizes=None, seed=0):
    """cifar10_{train,test}.tfrecord (PNG 32x32x3) and labels.txt; sizes default {'train': 20, 'test': 10}."""
    return _write_png_set(directory, "cifar10", (32, 32, 3), CIFAR10_CLASSES,
                          sizes or {"train": 20, "test": 10}, seed)


def write_mnist(directory, sizes=None, seed=0):
    """mnist_{train,test}.tfrecord (grey PNG 28x28x1) and labels.txt; sizes default {'train': 20, 'test': 10}."""
    return _write_png_set(directory, "mnist", (28, 28, 1), MNIST_CLASSES,
                          sizes or {"train": 20, "test": 10}, seed)


def write_imagenet(directory, sizes=None, num_shards=None, classes=(0, 1, 2, 999), labels_file=True, seed=0):
    """<split>-NNNNN-of-NNNNN (JPEG) for the ImageNet classes at 0-based `classes` of the 1000 (label =
    index + 1); sizes default {'train': 8, 'validation': 4}, num_shards default 2 per split."""
    sizes = sizes or {"train": 8, "validation": 4}
    num_shards = num_shards or {split: 2 for split in sizes}
    synsets = imagenet.synsets()
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {}
    for split, n in sizes.items():
        items, records = [], []
        for i in range(n):
            index = classes[i % len(classes)]
            wnid, text = synsets[index]
            height, width = (int(v) for v in rng.integers(24, 65, size=2))
            boxes = [sorted(rng.uniform(0, 1, size=2).tolist()) + sorted(rng.uniform(0, 1, size=2).tolist())
                     for _ in range(i % 3)]  # 0, 1 or 2 boxes: xmin, xmax, ymin, ymax
            filename = f"{wnid}_{i}.JPEG" if split == "train" else f"ILSVRC2012_val_{i + 1:08d}.JPEG"
            items.append({"label": index + 1, "height": height, "width": width, "pixels": None})
            records.append(example(
                _jpeg(_noise(rng, height, width)), b"JPEG", height, width, index + 1,
                **{"image/colorspace": b"RGB", "image/channels": 3,
                   "image/class/synset": wnid.encode(), "image/class/text": text.encode(),
                   "image/object/bbox/xmin": _floats(b[0] for b in boxes),
                   "image/object/bbox/xmax": _floats(b[1] for b in boxes),
                   "image/object/bbox/ymin": _floats(b[2] for b in boxes),
                   "image/object/bbox/ymax": _floats(b[3] for b in boxes),
                   "image/object/bbox/label": _ints([index + 1] * len(boxes)),
                   "image/filename": filename.encode()}))
        shards = num_shards[split]
        bounds = np.linspace(0, n, shards + 1).astype(int)  # build_imagenet_data.py's even spread
        for shard in range(shards):
            write_records(os.path.join(directory, "%s-%.5d-of-%.5d" % (split, shard, shards)),
                          records[bounds[shard]:bounds[shard + 1]])
        written[split] = items
    if labels_file:
        write_label_file(directory, imagenet.class_names(imagenet.NUM_CLASSES + 1))
    return written
