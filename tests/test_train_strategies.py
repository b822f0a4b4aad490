"""Every strategy learns; mixed precision trains float32 weights; the log and TensorBoard summaries.

CifarNet on 2 images per class of the synthetic task, one batch = the whole training set, so the
training loss is the loss on that set (dropout aside). The pretrained checkpoint is SYNTHETIC
(release names and shapes, random values).
"""
import glob
import logging
import re

import numpy as np
import pytest

from tlslim import train
from tlslim.compat import tf
from tlslim.testing import checkpoints


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return checkpoints.write_net_checkpoint("cifarnet", str(tmp_path_factory.mktemp("ckpt") / "cifarnet.ckpt"))


def _config(release, tmp_path, **kw):
    base = dict(model="cifarnet", checkpoint_path=release, exclude="CifarNet/logits", dataset="synthetic",
                train_subset=2, batch_size=20, max_steps=20, learning_rate=0.01, eval_examples=20, augment=False,
                cache_features=False,
                log_every_steps=5, save_every_steps=1000, train_dir=str(tmp_path / "run"))
    base.update(kw)
    if base["strategy"] == "scratch":
        base.update(checkpoint_path=None, exclude=None)
    return train.TrainConfig(**base)


@pytest.mark.parametrize("strategy, kw", [("head", {}), ("top", {"unfreeze": 2}), ("all", {}),
                                          ("discriminative", {}), ("scratch", {}),
                                          ("all", {"optimizer": "adam", "learning_rate": 0.001}),
                                          ("head", {"optimizer": "rmsprop", "learning_rate": 0.001}),
                                          ("head", {"optimizer": "sgd", "learning_rate": 0.1}),
                                          ("head", {"lr_decay": "cosine"})])
def test_each_strategy_lowers_the_training_loss(release, tmp_path, strategy, kw):
    result = train.train(_config(release, tmp_path, strategy=strategy, **kw))
    losses = np.array([loss for _, loss in result["losses"]])
    assert len(losses) == 20 and np.all(np.isfinite(losses))
    # At chance a 10-class loss is ln 10 = 2.30; learning the 20 images takes the loss well below it.
    assert losses[:3].mean() > 2.0
    assert losses[-3:].mean() < 0.85 * losses[:3].mean(), losses.round(3)


def test_mixed_precision_trains_float32_weights(release, tmp_path):
    # The top strategy: float16 kernels on a CPU are slow, and the frozen convolutions need no backward pass.
    result = train.train(_config(release, tmp_path, strategy="top", mixed_precision=True, max_steps=12))
    losses = np.array([loss for _, loss in result["losses"]])
    assert losses[-3:].mean() < 0.85 * losses[:3].mean(), losses.round(3)
    reader = tf.train.load_checkpoint(result["checkpoint"])
    dtypes = reader.get_variable_to_dtype_map()
    assert {dtypes[n] for n in dtypes if n.startswith("CifarNet/")} == {tf.float32}
    halvings = np.log2(train.LOSS_SCALE_START / reader.get_tensor("loss_scale"))
    assert halvings == int(halvings) and 0 <= halvings < 20


def test_dynamic_loss_scale_skips_overflowing_steps(graph):
    """d loss / d w = 1000 per element; times the scale it overflows float16 (max 65504) until the
    scale has halved from 2**15 to 64: 9 skipped steps (weights untouched), then a real update."""
    w = tf.get_variable("w", initializer=tf.ones([3]))
    loss = tf.cast(tf.reduce_sum(tf.cast(w, tf.float16) * tf.constant(1000.0, tf.float16)), tf.float32)
    step = tf.train.get_or_create_global_step()
    config = train.TrainConfig(optimizer="sgd")
    train_op = train.build_train_op(loss, [([w], 1.0)], 0.1, config, step, mixed_precision=True)
    scale = [v for v in tf.global_variables() if v.op.name == "loss_scale"][0]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(9):
            sess.run(train_op)
        np.testing.assert_array_equal(sess.run(w), [1, 1, 1])
        assert sess.run(scale) == 64 and sess.run(step) == 9
        sess.run(train_op)
        np.testing.assert_allclose(sess.run(w), [1 - 100] * 3, rtol=1e-6)
        assert sess.run(scale) == 64 and sess.run(step) == 10


def test_log_lines_and_summaries(release, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result = train.train(_config(release, tmp_path, strategy="top", unfreeze=1, max_steps=10, eval_every_steps=5))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"restoring 8 variables from .*cifarnet\.ckpt: CifarNet/conv1, CifarNet/conv2, "
                     r"CifarNet/fc3, CifarNet/fc4", text), text
    assert "new (random initial values): 2 variables: CifarNet/logits" in text
    assert "training (strategy top): 4 variables in CifarNet/logits, CifarNet/fc4" in text
    progress = re.findall(r"step (\d+)/10  loss [\d.]+  accuracy [\d.]+  [\d.]+ images/s  ETA \d+:\d\d:\d\d", text)
    assert progress == ["5", "10"]
    assert [h["step"] for h in result["history"]] == [0, 5, 10]
    tags = {}
    for path in glob.glob(str(tmp_path / "run" / "events.out.tfevents.*")):
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert {t: sorted(s) for t, s in tags.items()} == {
        "loss": [5, 10], "accuracy": [5, 10], "learning_rate": [5, 10],
        "eval/top1": [0, 5, 10], "eval/top5": [0, 5, 10], "eval/macro_recall": [0, 5, 10], "eval/loss": [0, 5, 10]}


def test_bfloat16_follows_the_float32_loss_curve(release, tmp_path, monkeypatch):
    """--precision mixed_bfloat16 on a CPU with bfloat16 arithmetic: oneDNN's rewrite runs the
    float32 graph in bfloat16. bfloat16 keeps 8 significant bits (relative rounding 2**-9, about
    0.2%), so the first steps' losses (a mean over the 20 images) agree within 1% and differ at
    all; later steps diverge chaotically as training amplifies rounding, so there both runs only
    have to learn alike. Weights and checkpoint stay float32. On a CPU without bfloat16 the run is
    refused with one line before any work."""
    from tlslim import device
    from tlslim.errors import TlslimError
    if not device.cpu_flags() & set(device.BFLOAT16_CPU_FLAGS):
        with pytest.raises(TlslimError, match="needs a CPU with bfloat16 arithmetic"):
            train.train(_config(release, tmp_path, strategy="all", precision="mixed_bfloat16"))
        return
    runs = {p: train.train(_config(release, tmp_path, strategy="all", precision=p, max_steps=12,
                                   train_dir=str(tmp_path / p))) for p in ("float32", "mixed_bfloat16")}
    f32, bf16 = (np.array([loss for _, loss in runs[p]["losses"]]) for p in ("float32", "mixed_bfloat16"))
    np.testing.assert_allclose(bf16[:5], f32[:5], rtol=0.01)
    assert np.abs(bf16 - f32).max() > 0  # the rewrite did act
    for losses in (f32, bf16):
        assert losses[-3:].mean() < 0.85 * losses[:3].mean(), losses.round(3)
    reader = tf.train.load_checkpoint(runs["mixed_bfloat16"]["checkpoint"])
    assert set(reader.get_variable_to_dtype_map().values()) <= {tf.float32, tf.int64}
    assert train.read_run_record(runs["mixed_bfloat16"]["train_dir"])["precision"] == "mixed_bfloat16"
    # The same run on a CPU that lacks the flags is refused (one line, before any work).
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "fma"})
    with pytest.raises(TlslimError, match="needs a CPU with bfloat16 arithmetic") as err:
        train.train(_config(release, tmp_path, strategy="all", precision="mixed_bfloat16",
                            train_dir=str(tmp_path / "refused")))
    assert "\n" not in str(err.value) and not (tmp_path / "refused").exists()


def test_fine_tune_trains_the_head_then_everything_and_resumes_in_either_phase(release, tmp_path, monkeypatch):
    """Phase one leaves the base bit-identical to the release and trains the head; phase two
    trains everything. Interrupted in phase one, the run resumes there and goes on to phase two."""
    config = _config(release, tmp_path, strategy="fine_tune", head_steps=3, max_steps=6, save_every_steps=1,
                     keep_checkpoints=10)
    real_step_fn = train.FullGraph.step_fn

    def interrupted_after_two_steps(self, sess, tg, start_step):
        run_step, calls = real_step_fn(self, sess, tg, start_step), []

        def step():
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(1)
            return run_step()
        return step

    monkeypatch.setattr(train.FullGraph, "step_fn", interrupted_after_two_steps)
    with pytest.raises(KeyboardInterrupt):
        train.train(config)
    monkeypatch.undo()
    assert train.read_run_record(config.train_dir)["phase"] == "head"
    result = train.train(config)
    assert [s for s, _ in result["losses"]] == [3, 4, 5, 6]  # the rest of phase one, then phase two
    record = train.read_run_record(config.train_dir)
    assert (record["strategy"], record["phase"], record["head_steps"]) == ("fine_tune", "all", 3)

    def values(path):
        reader = tf.train.load_checkpoint(path)
        return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n.startswith("CifarNet/")
                and "/Momentum" not in n}

    released, head_done, final = values(release), values(f"{config.train_dir}/model.ckpt-3"), \
        values(result["checkpoint"])
    for name in released:
        in_head = name.startswith("CifarNet/logits/")
        if not in_head:
            assert np.array_equal(head_done[name], released[name]), name  # phase one: the base as restored
        assert not np.array_equal(final[name], head_done[name]), name  # phase two: everything trains
    assert not np.array_equal(head_done["CifarNet/logits/weights"], final["CifarNet/logits/weights"])
    with pytest.raises(Exception, match="leaves no steps"):
        train.check_config(_config(release, tmp_path, strategy="fine_tune", head_steps=6, max_steps=6))
