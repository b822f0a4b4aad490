"""slim's TFRecord datasets: finding, counting, labels, the streaming pipeline, and
scripts/convert_dataset.py."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tlslim.compat import tf
from tlslim.data import convert, folder, imagenet, tfrecord
from tlslim.errors import TlslimError
from tlslim.testing import tfrecords as writers
from tlslim.testing.cli import one_error_line, run_script, snapshot
from tlslim.testing.datasets import write_cifar10_batches, write_image_folder

FOLDER_COUNTS = {"sunglasses": 6, "hat": 5, "cap": 3}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("slim")
    written = {}
    for name, write in (("flowers", writers.write_flowers), ("cifar10", writers.write_cifar10),
                        ("mnist", writers.write_mnist), ("imagenet", writers.write_imagenet)):
        written[name] = (str(root / name), write(str(root / name)))
    return written


def _records(paths):
    """[(label, encoded bytes, format)] of the Examples in `paths`, in file order."""
    out = []
    for path in paths:
        for record in tf.io.tf_record_iterator(path):
            f = tf.train.Example.FromString(record).features.feature
            out.append((f["image/class/label"].int64_list.value[0], f["image/encoded"].bytes_list.value[0],
                        f["image/format"].bytes_list.value[0]))
    return out


def _run(ds, batches=None):
    """Images and labels of `batches` batches of `ds` (all of them when None), concatenated."""
    images, labels = tf.data.make_one_shot_iterator(ds).get_next()
    got = []
    with tf.Session() as sess:
        while batches is None or len(got) < batches:
            try:
                got.append(sess.run([images, labels]))
            except tf.errors.OutOfRangeError:
                break
    return [g[0] for g in got], [g[1] for g in got]


def _float(image):
    return tf.cast(image, tf.float32)


# ---------------------------------------------------------------- finding, counting, labels

def test_each_layout_is_found_counted_and_named(sets):
    d, written = sets["flowers"]
    train = tfrecord.find_split("flowers", d, "train")
    assert [os.path.basename(p) for p in train] == [f"flowers_train_{i:05d}-of-00005.tfrecord" for i in range(5)]
    assert tfrecord.count_records(train) == 12
    validation = tfrecord.find_split("flowers", d, "validation")
    assert [tfrecord.count_records([p]) for p in validation] == [2, 2, 2, 0, 0]  # slim's ceil(6 / 5) per shard
    assert tfrecord.class_names("flowers", d) == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert {fmt for _, _, fmt in _records(train)} == {b"jpg"}

    d, _ = sets["cifar10"]
    assert tfrecord.find_split("cifar10", d, "test") == [os.path.join(d, "cifar10_test.tfrecord")]
    assert tfrecord.count_records(tfrecord.find_split("cifar10", d, "train")) == 20
    assert tfrecord.class_names("cifar10", d) == list(writers.CIFAR10_CLASSES)

    d, _ = sets["mnist"]
    assert tfrecord.find_split("mnist", d, "train") == [os.path.join(d, "mnist_train.tfrecord")]
    assert tfrecord.read_labels(d)[6] == "size"  # what slim's converter wrote for six

    d, _ = sets["imagenet"]
    assert [os.path.basename(p) for p in tfrecord.find_split("imagenet", d, "validation")] == \
        ["validation-00000-of-00002", "validation-00001-of-00002"]
    assert tfrecord.count_records(tfrecord.find_split("imagenet", d, "train")) == 8
    names = tfrecord.class_names("imagenet", d)
    assert len(names) == 1001 and names[0] == "background" and names[1:] == imagenet.class_names(1000)
    assert tfrecord.class_names("imagenet", d, labels_offset=1) == imagenet.class_names(1000)
    assert tfrecord.held_out_split("imagenet") == "validation" and tfrecord.held_out_split("mnist") == "test"


def test_without_labels_txt_as_slim(sets, tmp_path):
    bare = tmp_path / "imagenet"
    writers.write_imagenet(str(bare), sizes={"train": 2}, num_shards={"train": 1}, labels_file=False)
    assert tfrecord.read_labels(str(bare)) is None
    # slim builds imagenet's 1001 names itself; for the others it names none: their labels as numbers
    assert tfrecord.class_names("imagenet", str(bare)) == imagenet.class_names(1001)
    os.makedirs(tmp_path / "c")
    shutil.copy(os.path.join(sets["cifar10"][0], "cifar10_test.tfrecord"), tmp_path / "c")
    assert tfrecord.class_names("cifar10", str(tmp_path / "c")) == [str(i) for i in range(10)]
    with pytest.raises(TlslimError) as err:
        tfrecord.class_names("hats", str(tmp_path / "c"))
    assert str(err.value) == (f"{tmp_path / 'c' / 'labels.txt'} does not exist; dataset hats needs it to know "
                              "its classes: convert it again with scripts/convert_dataset.py.")


def test_labels_txt_is_read_as_slim_reads_it(tmp_path):
    (tmp_path / "labels.txt").write_bytes(b"0:a: b\r\n\n2:c\n1:\n")
    assert tfrecord.read_labels(str(tmp_path)) == {0: "a: b", 2: "c", 1: ""}
    assert tfrecord.class_names("hats", str(tmp_path)) == ["a: b", "", "c"]
    path = tmp_path / "labels.txt"
    for text, message in (
            ("0:a\nb\n", f"{path} line 2 is 'b'; each line of {path} must be <id>:<name>; fix it or convert "
                         "the dataset again."),
            ("x:a\n", f"{path} line 1 is 'x:a'; each line of {path} must be <id>:<name>; fix it or convert the "
                      "dataset again."),
            ("0:a\n0:b\n", f"{path} names label 0 twice (line 2); each line of {path} must be <id>:<name>; fix "
                           "it or convert the dataset again.")):
        path.write_text(text)
        with pytest.raises(TlslimError) as err:
            tfrecord.read_labels(str(tmp_path))
        assert str(err.value) == message
    path.write_text("0:a\n2:c\n")
    with pytest.raises(TlslimError) as err:
        tfrecord.class_names("hats", str(tmp_path))
    assert str(err.value) == f"{path} has no line for label 1; it must name labels 0..N-1, one <id>:<name> per line."


def test_missing_files_are_one_line_errors(sets, tmp_path):
    partial = tmp_path / "flowers"
    shutil.copytree(sets["flowers"][0], partial)
    os.remove(partial / "flowers_train_00002-of-00005.tfrecord")
    cases = [
        (("flowers", str(partial), "train"),
         f"{partial} lacks flowers_train_00002-of-00005.tfrecord of the 5 train shards: the conversion did not "
         "finish; convert flowers again."),
        (("flowers", str(tmp_path / "nowhere"), "train"),
         f"dataset directory {tmp_path / 'nowhere'} does not exist; pass --dataset_dir with the TFRecord "
         "files of flowers (flowers_train_NNNNN-of-NNNNN.tfrecord), as slim's download_and_convert_data.py or "
         "scripts/convert_dataset.py writes them."),
        (("imagenet", sets["cifar10"][0], "train"),
         f"{sets['cifar10'][0]} has no train-NNNNN-of-NNNNN files (it holds the TFRecords of cifar10: check "
         "--dataset_name); pass the --dataset_dir where slim's build_imagenet_data.py wrote the TFRecords of "
         "imagenet."),
        (("mnist", sets["flowers"][0], "test"),
         f"{sets['flowers'][0]} has no mnist_test.tfrecord (it holds the TFRecords of flowers: check "
         "--dataset_name); pass the --dataset_dir where slim's download_and_convert_data.py wrote the "
         "TFRecords of mnist."),
        (("flowers", sets["flowers"][0], "test"), "dataset flowers has splits train and validation, not 'test'."),
        (("flowers", None, "train"),
         "dataset flowers needs --dataset_dir: the directory that holds flowers_train_NNNNN-of-NNNNN.tfrecord."),
        (("my photos", str(partial), "train"),
         "dataset name 'my photos' cannot name TFRecord files; use letters, digits, '.', '-' and single '_' "
         "between them, e.g. flowers or my_photos."),
    ]
    for args, message in cases:
        with pytest.raises(TlslimError) as err:
            tfrecord.find_split(*args)
        assert str(err.value) == message
    shutil.copy(partial / "flowers_train_00000-of-00005.tfrecord", partial / "flowers_train_00002-of-00005.tfrecord")
    shutil.copy(partial / "flowers_train_00000-of-00005.tfrecord", partial / "flowers_train_00000-of-00003.tfrecord")
    with pytest.raises(TlslimError) as err:
        tfrecord.find_split("flowers", str(partial), "train")
    assert str(err.value) == (f"{partial} holds two sets of train shards (-of-00003 and -of-00005); remove the "
                              "stale set, or convert again with --overwrite.")


def test_a_truncated_file_is_an_error_when_counted(sets, tmp_path):
    path = tmp_path / "cifar10_train.tfrecord"
    data = open(os.path.join(sets["cifar10"][0], "cifar10_train.tfrecord"), "rb").read()
    path.write_bytes(data[:-10])
    with pytest.raises(TlslimError) as err:
        tfrecord.count_records([str(path)])
    assert str(err.value) == (f"{path} is truncated or not a TFRecord file (record 20 runs past its end); "
                              "convert the dataset again.")


# ---------------------------------------------------------------- the pipeline

def test_png_sets_stream_exactly_in_file_order(sets, graph):
    d, written = sets["cifar10"]
    images, labels = _run(tfrecord.record_pipeline(tfrecord.find_split("cifar10", d, "train"), 8, False, 0, _float))
    assert [len(b) for b in labels] == [8, 8, 4]  # one pass, the last batch smaller
    assert np.array_equal(np.concatenate(images), np.stack([w["pixels"] for w in written["train"]]).astype(np.float32))
    assert np.concatenate(labels).tolist() == [w["label"] for w in written["train"]]
    assert np.concatenate(labels).dtype == np.int64

    d, written = sets["mnist"]
    paths = tfrecord.find_split("mnist", d, "test")
    grey = np.stack([w["pixels"] for w in written["test"]]).astype(np.float32)
    one, _ = _run(tfrecord.record_pipeline(paths, 4, False, 0, _float, channels=1))
    three, _ = _run(tfrecord.record_pipeline(paths, 4, False, 0, _float, channels=3))
    assert np.concatenate(one).shape == (10, 28, 28, 1) and np.array_equal(np.concatenate(one), grey)
    assert np.array_equal(np.concatenate(three), np.repeat(grey, 3, axis=-1))  # grey fed to an RGB net


def _size_and_label(image):
    """A 2x2 'image' holding the decoded image's height and width: what preprocess_fn received."""
    shape = tf.cast(tf.shape(image), tf.float32)
    return tf.ones([2, 2, 3]) * tf.stack([shape[0], shape[1], shape[2]])


def test_jpegs_of_any_size_reach_preprocess_fn_and_labels_offset(sets, graph):
    d, written = sets["flowers"]
    images, labels = _run(tfrecord.record_pipeline(tfrecord.find_split("flowers", d, "train"), 5, False, 0,
                                                   _size_and_label))
    got = sorted((int(i[0, 0, 0]), int(i[0, 0, 1]), int(i[0, 0, 2]), int(lab))
                 for i, lab in zip(np.concatenate(images), np.concatenate(labels)))
    assert got == sorted((w["height"], w["width"], 3, w["label"]) for w in written["train"])
    assert len({(h, w) for h, w, _, _ in got}) > 6  # the sizes vary

    def resize(image):
        return tf.image.resize(tf.cast(image, tf.float32), [16, 16])
    d, written = sets["imagenet"]
    images, labels = _run(tfrecord.record_pipeline(tfrecord.find_split("imagenet", d, "train"), 3, False, 0, resize,
                                                   labels_offset=1))
    assert [b.shape for b in images] == [(3, 16, 16, 3), (3, 16, 16, 3), (2, 16, 16, 3)]
    assert sorted(np.concatenate(labels).tolist()) == sorted(w["label"] - 1 for w in written["train"])
    assert sorted(np.concatenate(labels).tolist()) == [0, 0, 1, 1, 2, 2, 999, 999]


def test_training_is_endless_shuffled_seeded_and_full_batches(sets, graph):
    paths = tfrecord.find_split("flowers", sets["flowers"][0], "train")

    def seeded(image, seed):  # gets the pipeline's per-record seed, as slim_preprocessing does
        return tf.ones([2, 2, 3]) * tf.cast(seed[1], tf.float32)

    def labels_of(seed):
        with tf.Graph().as_default():
            ds = tfrecord.record_pipeline(paths, 5, True, seed, _blank, shuffle_buffer=12)
            return np.concatenate(_run(ds, batches=6)[1]).tolist()

    with tf.Graph().as_default():
        ds = tfrecord.record_pipeline(paths, 5, True, 3, seeded)
        assert ds.element_spec[0].shape.as_list() == [5, 2, 2, 3]
        images, labels = _run(ds, batches=6)
    assert [b.shape[0] for b in labels] == [5] * 6  # 30 records from a split of 12: it repeats
    assert np.concatenate(images)[:, 0, 0, 0].tolist() == list(range(30))  # seeds follow the stream
    first = labels_of(1)
    assert labels_of(1) == first and labels_of(2) != first
    assert labels_of(0) == labels_of(0)  # seed 0 is a seed too, not TF's 'unseeded'
    assert set(first) <= {w["label"] for w in sets["flowers"][1]["train"]}


def _blank(image):
    return tf.zeros([2, 2, 3])


def test_raw_records_and_label_range(tmp_path, graph):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(5, 4, 1), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    path = str(tmp_path / "raw.tfrecord")
    writers.write_records(path, [writers.example(grey.tobytes(), b"raw", 5, 4, 1),
                                 writers.example(rgb.tobytes(), b"RAW", 5, 4, 7)])
    ds = tfrecord.record_pipeline([path], 2, False, 0, _float)
    assert ds.options().autotune.enabled is False  # its model thread would hold Session.close()
    iterator = tf.data.make_initializable_iterator(ds)
    with tf.Session() as sess:
        sess.run(iterator.initializer)
        images, labels = sess.run(iterator.get_next())
    assert np.array_equal(images[0], np.repeat(grey, 3, axis=-1)) and np.array_equal(images[1], rgb)
    assert labels.tolist() == [1, 7]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside \[0, 5\)"):
        _run(tfrecord.record_pipeline([path], 2, False, 0, _float, num_classes=5))
    with pytest.raises(TlslimError) as err:
        tfrecord.record_pipeline([], 2, False, 0, _float)
    assert str(err.value) == "no TFRecord files to read; find them with tlslim.data.tfrecord.find_split."


# ---------------------------------------------------------------- scripts/convert_dataset.py

@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos") / "photos"
    write_image_folder(str(root), FOLDER_COUNTS, size=(40, 30))
    return str(root)


def test_convert_an_image_folder(photos, tmp_path, graph):
    out = tmp_path / "records"
    proc = run_script("convert_dataset.py", "--dataset_name", "hats", "--dataset_dir", photos, "--output_dir", out,
                      "--num_shards", 2, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == f"hats: 11 train, 3 validation images in 4 file(s) and labels.txt in {out}.\n"
    assert sorted(os.listdir(out)) == ["hats_train_00000-of-00002.tfrecord", "hats_train_00001-of-00002.tfrecord",
                                       "hats_validation_00000-of-00002.tfrecord",
                                       "hats_validation_00001-of-00002.tfrecord", "labels.txt"]
    names, files, _ = folder.scan(photos)
    assert tfrecord.class_names("hats", str(out)) == names == ["cap", "hat", "sunglasses"]
    split = folder.split_files(names, files, folder.DEFAULT_VALIDATION_FRACTION, 0)
    for ours, theirs in (("train", "train"), ("validation", "test")):
        records = _records(tfrecord.find_split("hats", str(out), ours))
        expected = sorted((label, open(path, "rb").read()) for path, label in split[theirs])
        assert sorted((label, data) for label, data, _ in records) == expected  # the files' own bytes
        assert {fmt for _, _, fmt in records} == {b"jpg", b"png"}
    _, labels = _run(tfrecord.record_pipeline(tfrecord.find_split("hats", str(out), "validation"), 8, False, 0,
                                              _size_and_label))
    assert sorted(labels[0].tolist()) == sorted(label for _, label in split["test"])


def test_convert_cifar10_then_refuse_to_overwrite(tmp_path, graph):
    batches, arrays = write_cifar10_batches(str(tmp_path / "py"), per_batch=10, num_test=10)
    out = tmp_path / "records"
    proc = run_script("convert_dataset.py", "--dataset_name", "cifar10", "--dataset_dir", batches,
                      "--output_dir", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["cifar10_test.tfrecord", "cifar10_train.tfrecord", "labels.txt"]
    assert tfrecord.read_labels(str(out)) == dict(enumerate(arrays["label_names"]))
    for split in ("train", "test"):
        paths = tfrecord.find_split("cifar10", str(out), split)
        images, labels = _run(tfrecord.record_pipeline(paths, 16, False, 0, _float))
        assert np.array_equal(np.concatenate(images), arrays[f"{split}_images"].astype(np.float32))
        assert np.concatenate(labels).tolist() == arrays[f"{split}_labels"].tolist()
    records = _records([str(out / "cifar10_test.tfrecord")])
    assert [data for _, data, _ in records] == writers.slim_png(arrays["test_images"])  # slim's encoding, byte for byte

    before = snapshot(tmp_path)
    proc = run_script("convert_dataset.py", "--dataset_name", "cifar10", "--dataset_dir", batches,
                      "--output_dir", out, cwd=tmp_path)
    assert one_error_line(proc) == (f"error: --output_dir {out} already holds cifar10_test.tfrecord and 2 more; "
                                    "pass --overwrite to replace that converted set, or choose another --output_dir.")
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_a_set_and_its_stale_shards(photos, tmp_path):
    out = str(tmp_path / "records")
    convert.convert("hats", photos, out, num_shards=3)
    done = convert.convert("hats", photos, out, num_shards=2, overwrite=True)
    assert done.counts == {"train": 11, "validation": 3}
    assert sorted(os.listdir(out)) == ["hats_train_00000-of-00002.tfrecord", "hats_train_00001-of-00002.tfrecord",
                                       "hats_validation_00000-of-00002.tfrecord",
                                       "hats_validation_00001-of-00002.tfrecord", "labels.txt"]
    with pytest.raises(TlslimError) as err:
        convert.convert("cifar10", photos, out)
    assert str(err.value) == (f"--output_dir {out} holds the TFRecords of hats; slim keeps one dataset per "
                              "directory, beside its labels.txt: choose another --output_dir.")
    with pytest.raises(TlslimError) as err:
        convert.convert("hats", photos, os.path.join(photos, "records"))
    assert str(err.value) == (f"--output_dir {photos}/records is inside the image folder {photos}, where it would "
                              "read as a class; put the TFRecords outside it.")
    with pytest.raises(TlslimError) as err:
        convert.convert("cifar10", photos, str(tmp_path / "c"), num_shards=3)
    assert str(err.value) == ("cifar10 is written as slim writes it, one file per split (train, test); drop "
                              "--num_shards and --validation_fraction.")
    assert not os.path.exists(tmp_path / "c")


def test_an_exif_turned_photo_is_stored_upright(tmp_path, graph):
    root = tmp_path / "photos"
    for cls in ("a", "b"):
        os.makedirs(root / cls)
        for i in range(2):
            Image.new("RGB", (40, 20), (200, 10 * i, 0)).save(root / cls / f"{i}.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.new("RGB", (40, 20), (0, 0, 200)).save(root / "a" / "turned.jpg", exif=exif.tobytes())
    done = convert.convert_folder(str(root), str(tmp_path / "out"), "turned", num_shards=1, validation_fraction=0)
    assert done.rotated == 1 and done.counts == {"train": 5}
    assert tfrecord.find_split("turned", str(tmp_path / "out"), "train") == \
        [str(tmp_path / "out" / "turned_train_00000-of-00001.tfrecord")]
    images, _ = _run(tfrecord.record_pipeline(tfrecord.find_split("turned", str(tmp_path / "out"), "train"), 8, False,
                                              0, _size_and_label))
    assert sorted((int(i[0, 0, 0]), int(i[0, 0, 1])) for i in images[0]) == [(20, 40)] * 4 + [(40, 20)]
