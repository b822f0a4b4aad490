"""The feature cache (tlslim.features) and training on it (tlslim.train's CachedHead builder): keys
and invalidation, the checkpoint round trip, and the same accuracy through the full graph as on
the cached features.

The pretrained checkpoints are SYNTHETIC (tlslim.testing.checkpoints: release names and shapes,
seeded random values); the data are the synthetic target task at a few images per class.
"""
import dataclasses
import logging
import os
import re
import shutil

import numpy as np
import pytest

from tlslim import data, features, nets, restore, train
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints

HEAD = "CifarNet/logits"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A SYNTHETIC CifarNet checkpoint in the release format (V1 file)."""
    return checkpoints.write_net_checkpoint("cifarnet", str(tmp_path_factory.mktemp("ckpt") / "cifarnet.ckpt"))


@pytest.fixture(scope="module")
def small():
    """20 images of the synthetic task's test split (2 per class)."""
    return data.load("synthetic", split="test").subset(np.arange(20))


def _config(release, tmp_path, **kw):
    base = dict(model="cifarnet", checkpoint_path=release, exclude=HEAD, dataset="synthetic", train_subset=3,
                batch_size=10, max_steps=12, learning_rate=0.01, eval_examples=40, augment=False,
                log_every_steps=100, save_every_steps=1000, train_dir=str(tmp_path / "run"))
    base.update(kw)
    return train.TrainConfig(**base)


def _cached(config, cache_dir):
    """A run of `config` on cached features in `cache_dir`."""
    return train.train(dataclasses.replace(config, cache_features=True, cache_dir=str(cache_dir)))


def _use_cache(config, cache_features=None):
    return train.use_cache(train.check_config(dataclasses.replace(config, cache_features=cache_features)))


def _values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _extract(release, dataset, cache_dir, **kw):
    args = dict(model="cifarnet", checkpoint_path=release, dataset=dataset, split="test", image_size=32,
                style="cifarnet", cache_dir=str(cache_dir))
    args.update(kw)
    return features.cached_features(**args)


# ---------------------------------------------------------------- the round trip

def test_checkpoint_round_trip_gives_the_same_accuracy_through_the_full_graph(release, tmp_path):
    config = _config(release, tmp_path)
    result = _cached(config, str(tmp_path / "cache"))
    assert result["step"] == 12 and result["cache"]["extracted"] == {"train": True, "test": True}

    # An ordinary full checkpoint: the release's model variables (head at 10 classes), the step,
    # the head's momentum slots -- names and shapes exactly as the training graph has them.
    saved = restore.list_checkpoint(result["checkpoint"])
    expected = checkpoints.net_shapes("cifarnet", num_classes=10, extra=False)
    expected.update({"global_step": [], f"{HEAD}/weights/Momentum": [192, 10], f"{HEAD}/biases/Momentum": [10]})
    assert saved == expected
    values, original = _values(result["checkpoint"]), _values(release)
    assert values["global_step"] == 12
    for name in expected:
        if name.startswith("CifarNet/") and not name.startswith(HEAD + "/"):
            np.testing.assert_array_equal(values[name], original[name], err_msg=name)  # the base as released
    assert np.abs(values[f"{HEAD}/weights/Momentum"]).max() > 0  # the head trained

    # The head on the cached test features, computed here in numpy from the saved weights...
    cached = np.load(os.path.join(result["cache"]["test"], "features.npy"))
    labels = np.load(os.path.join(result["cache"]["test"], "labels.npy"))
    head_logits = cached.astype(np.float64) @ values[f"{HEAD}/weights"] + values[f"{HEAD}/biases"]
    # ...against the ordinary graph restoring the checkpoint and running the whole net on the images.
    full = train.evaluate("cifarnet", result["checkpoint"], "synthetic", image_size=32, num_examples=40,
                          batch_size=7, return_logits=True)
    np.testing.assert_array_equal(full["labels"], labels)
    # Same float32 ops on the same pixels; only batch sizes (256 vs 7) differ, which may change the
    # summation order inside a kernel: differences are ~1e-6 of the logits' scale.
    scale = np.abs(head_logits).max()
    np.testing.assert_allclose(full["logits"], head_logits, rtol=1e-4, atol=1e-4 * scale)
    top2 = np.sort(head_logits, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3 * scale  # a near-tie may flip under a 1e-6 difference
    assert clear.sum() >= 38
    np.testing.assert_array_equal(np.argmax(full["logits"], 1)[clear], np.argmax(head_logits, 1)[clear])
    assert full["top1"] == result["top1"] == pytest.approx(np.mean(np.argmax(head_logits, 1) == labels))


def test_resume_reads_the_cache_and_ordinary_training_continues_the_checkpoint(release, tmp_path):
    cache_dir = str(tmp_path / "cache")
    first = _cached(_config(release, tmp_path, max_steps=6), cache_dir)
    second = _cached(_config(release, tmp_path, max_steps=10), cache_dir)
    assert second["cache"]["extracted"] == {"train": False, "test": False}
    assert [s for s, _ in second["losses"]] == [7, 8, 9, 10]
    # tlslim.train resumes the cached run's checkpoint as one of its own.
    third = train.train(_config(release, tmp_path, max_steps=12, cache_features=False))
    assert third["step"] == 12 and [s for s, _ in third["losses"]] == [11, 12]
    before, after = _values(first["checkpoint"]), _values(third["checkpoint"])
    moved = {n for n in before if n.startswith("CifarNet/") and not np.array_equal(before[n], after[n])}
    assert moved == {f"{HEAD}/weights", f"{HEAD}/biases", f"{HEAD}/weights/Momentum", f"{HEAD}/biases/Momentum"}


def test_head_trains_with_the_configured_optimizer_and_schedule(release, tmp_path):
    """One SGD step on the cached features moves the head by exactly -lr * gradient of the mean
    softmax cross-entropy (CifarNet's head has no weight decay), computed here in numpy."""
    config = train.check_config(_config(release, tmp_path, optimizer="sgd", learning_rate=0.5, lr_decay="cosine",
                                    max_steps=4))
    plan = train.make_plan(config, 10, 32)
    train_set = data.load("synthetic", split="train", train_subset=1)
    builder = train.CachedHead(config, plan, train_set, train_set, 32, "/device:CPU:0")
    hg = builder.build(start_step=0)
    features_t, labels_t = hg.inputs["features"], hg.inputs["labels"]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal([6, 192]).astype(np.float32), np.arange(6) % 10
    with hg.graph.as_default():
        init = tf.global_variables_initializer()  # the base is never read, so it need not be restored here
    with tf.Session(graph=hg.graph, config=builder.session_config()) as sess:
        sess.run(init)
        w0, b0 = sess.run(hg.var_list)
        lr0 = sess.run(hg.learning_rate)
        sess.run(hg.train_op, {features_t: x, labels_t: y})
        w1, b1 = sess.run(hg.var_list)
        lr1 = sess.run(hg.learning_rate)
    assert [v.op.name for v in hg.var_list] == [f"{HEAD}/weights", f"{HEAD}/biases"]
    assert lr0 == pytest.approx(0.5) and lr1 == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi / 4)), rel=1e-6)
    logits = x.astype(np.float64) @ w0 + b0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(6), y] -= 1
    np.testing.assert_allclose(w1, w0 - 0.5 * x.T @ p / 6, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.5 * p.mean(0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the cache

def test_cache_hit_then_invalidated_by_a_changed_checkpoint_or_image(release, small, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    ckpt = str(tmp_path / "ckpt" / "model.ckpt")
    os.makedirs(os.path.dirname(ckpt))
    shutil.copy(release, ckpt)
    first = _extract(ckpt, small, tmp_path / "cache", batch_size=8)
    assert first.extracted and first.features.shape == (20, 192) and first.features.dtype == np.float32
    np.testing.assert_array_equal(first.labels, small.labels)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"extracting synthetic/test \(CifarNet/fc4/Relu:0, batches of 8\): 20/20 images \(100%\)",
                     text), text

    again = _extract(release, small, tmp_path / "cache")  # another path, same content: a hit
    assert not again.extracted and again.key == first.key and again.path == first.path
    np.testing.assert_array_equal(again.features, first.features)

    # The checkpoint rewritten in place with other values.
    checkpoints.write_net_checkpoint("cifarnet", ckpt, seed=1)
    changed = _extract(ckpt, small, tmp_path / "cache")
    assert changed.extracted and changed.key != first.key
    assert not np.allclose(changed.features, first.features)

    # One pixel of one image.
    images = small.images.copy()
    images[5, 10, 10, 0] ^= 0xFF
    edited = _extract(release, data.Dataset(images, small.labels, small.class_names, small.name),
                      tmp_path / "cache", batch_size=8)
    assert edited.extracted and edited.key != first.key
    same = np.all(np.isclose(edited.features, first.features, rtol=1e-5, atol=1e-6), axis=1)
    np.testing.assert_array_equal(np.flatnonzero(~same), [5])


def test_every_input_enters_the_key(release, small, tmp_path):
    base = dict(model="cifarnet", checkpoint_path=release, dataset=small, split="test", image_size=32,
                style="cifarnet")
    key = features.cache_key(**base)[0]
    relabelled = small.labels.copy()
    relabelled[0] = (relabelled[0] + 1) % 10
    stats = data.compute_stats(small)
    variants = {
        "label": dict(dataset=data.Dataset(small.images, relabelled, small.class_names, small.name)),
        "subset": dict(dataset=small.subset(np.arange(19))),
        "split": dict(split="train"),
        "train_subset": dict(train_subset=2),
        "style": dict(style="inception"),
        "size": dict(image_size=36),
        "stats": dict(style="per_channel_mean", stats=stats),
        "model": dict(model="lenet", style="cifarnet"),
    }
    keys = {name: features.cache_key(**{**base, **kw})[0] for name, kw in variants.items()}
    assert key not in keys.values() and len(set(keys.values())) == len(keys)
    assert features.cache_key(**base)[0] == key  # and nothing else does
    other_stats = data.compute_stats(small.subset(np.arange(10)))
    assert features.cache_key(**{**base, "style": "per_channel_mean", "stats": other_stats})[0] != \
        keys["stats"]


def test_v2_fingerprint_follows_the_values_not_the_path(tmp_path):
    tensors = checkpoints.synthetic_tensors({"a/weights": [3, 4], "a/biases": [4], "global_step": []})
    one = checkpoints.write_checkpoint(str(tmp_path / "one" / "model.ckpt-1"), tensors, version=2)
    print_ = features.checkpoint_fingerprint(one)
    os.makedirs(tmp_path / "copy")
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(one + suffix, str(tmp_path / "copy" / "other.ckpt") + suffix)
    assert features.checkpoint_fingerprint(str(tmp_path / "copy" / "other.ckpt")) == print_
    assert features.checkpoint_fingerprint(str(tmp_path / "one")) == print_  # a directory: its latest
    tensors["a/biases"] = tensors["a/biases"].copy()
    tensors["a/biases"][2] += 1e-3
    two = checkpoints.write_checkpoint(str(tmp_path / "two" / "model.ckpt-1"), tensors, version=2)
    assert features.checkpoint_fingerprint(two) != print_


def test_a_damaged_entry_is_extracted_again(release, small, tmp_path):
    first = _extract(release, small, tmp_path / "cache")
    with open(os.path.join(first.path, "features.npy"), "r+b") as f:
        f.truncate(1000)
    again = _extract(release, small, tmp_path / "cache")
    assert again.extracted and again.key == first.key
    np.testing.assert_array_equal(again.features, first.features)


# ---------------------------------------------------------------- when the cache applies

@pytest.mark.parametrize("kw, default", [
    (dict(), True),                                    # head, augmentation off
    (dict(augment=None), False),                       # the style's default augments
    (dict(strategy="head", exclude="auto"), True),
])
def test_cache_is_on_by_default_for_head_without_augmentation(release, tmp_path, kw, default):
    config = _config(release, tmp_path, **kw)
    assert _use_cache(config) is default
    assert _use_cache(config, cache_features=False) is False
    assert _use_cache(config, cache_features=True) is True


@pytest.mark.parametrize("kw, message", [
    (dict(strategy="all"), "needs --strategy head, got --strategy all"),
    (dict(strategy="top"), "needs --strategy head, got --strategy top"),
    (dict(trainable_scopes="CifarNet/fc4,CifarNet/logits"), "--trainable_scopes CifarNet/fc4 lies outside the head"),
    (dict(exclude="CifarNet/fc4,CifarNet/logits"), "--exclude CifarNet/fc4 lies outside the head"),
    (dict(augment=True), "pass --noaugment"),
    (dict(mixed_precision=True), "drop --precision mixed_float16"),
    (dict(precision="mixed_bfloat16"), "drop --precision mixed_bfloat16"),
])
def test_cache_refuses_what_it_cannot_do(release, tmp_path, kw, message):
    config = _config(release, tmp_path, **kw)
    assert _use_cache(config) is False
    with pytest.raises(TlslimError, match=re.escape(message)) as err:
        _use_cache(config, cache_features=True)
    assert "\n" not in str(err.value)
    with pytest.raises(TlslimError, match=re.escape(message)):
        _cached(config, str(tmp_path / "cache"))


# ---------------------------------------------------------------- VGG-16, the example

@pytest.mark.slow
def test_vgg16_round_trip(tmp_path):
    """vgg_16 at 32x32: the trained head is vgg_16/fc8/weights [1,1,4096,10] in a full checkpoint
    whose full-graph evaluation matches the head on the cached fc7 features."""
    ckpt = checkpoints.write_net_checkpoint("vgg_16", str(tmp_path / "ckpt" / "vgg_16.ckpt"))
    config = train.TrainConfig(model="vgg_16", checkpoint_path=ckpt, exclude="auto", dataset="synthetic",
                               image_size=32, train_subset=2, batch_size=10, max_steps=4, learning_rate=1e-6,
                               eval_examples=20, augment=False, train_dir=str(tmp_path / "run"))
    result = _cached(config, str(tmp_path / "cache"))
    saved = restore.list_checkpoint(result["checkpoint"])
    assert saved["vgg_16/fc8/weights"] == [1, 1, 4096, 10] and saved["vgg_16/fc8/biases"] == [10]
    model = {n: s for n, s in saved.items() if n.startswith("vgg_16/") and not n.endswith("/Momentum")}
    assert model == checkpoints.net_shapes("vgg_16", num_classes=10, extra=False)
    reader, source = tf.train.load_checkpoint(result["checkpoint"]), tf.train.load_checkpoint(ckpt)
    for name in ("vgg_16/conv1/conv1_1/weights", "vgg_16/fc7/biases"):
        np.testing.assert_array_equal(reader.get_tensor(name), source.get_tensor(name))
    cached = np.load(os.path.join(result["cache"]["test"], "features.npy"))
    assert cached.shape == (20, 1, 1, 4096)
    w, b = reader.get_tensor("vgg_16/fc8/weights")[0, 0], reader.get_tensor("vgg_16/fc8/biases")
    head_logits = cached[:, 0, 0].astype(np.float64) @ w + b
    full = train.evaluate("vgg_16", result["checkpoint"], "synthetic", image_size=32, num_examples=20,
                          batch_size=10, return_logits=True)
    scale = np.abs(head_logits).max()
    np.testing.assert_allclose(full["logits"], head_logits, rtol=1e-4, atol=1e-4 * scale)
    assert full["top1"] == result["top1"]
    assert nets.get_info("vgg_16").head_scope == "vgg_16/fc8"


def test_an_auxiliary_head_outside_the_penultimate_path_does_not_stop_the_cache():
    """Inception v3's AuxLogits branch off Mixed_6e and never feed PreLogits: excluding and
    training their last conv (what `--exclude auto` picks for new classes) keeps the cache usable;
    a base scope still does not."""
    def problem(exclude):
        return train.cache_problem(train.check_config(train.TrainConfig(
            model="inception_v3", checkpoint_path="inception_v3.ckpt", strategy="head", exclude=exclude,
            augment=False)))
    assert problem("InceptionV3/Logits,InceptionV3/AuxLogits/Conv2d_2b_1x1") is None
    assert "--exclude InceptionV3/Mixed_7c lies outside the head" in problem("InceptionV3/Logits,InceptionV3/Mixed_7c")
