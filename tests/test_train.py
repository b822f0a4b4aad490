"""Strategies, the train op, which variables move, and evaluation (tlslim.train).

The checkpoints are SYNTHETIC (tlslim.testing.checkpoints: release names and shapes, random
values); the data are the synthetic target task at a few images per class.
"""
import numpy as np
import pytest

from tlslim import data, nets, train
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints

CIFARNET_HEAD = {"CifarNet/logits/weights", "CifarNet/logits/biases"}


def _layer(name):
    return {f"CifarNet/{name}/weights", f"CifarNet/{name}/biases"}


ALL_CIFARNET = set().union(*(_layer(n) for n in ("conv1", "conv2", "fc3", "fc4", "logits")))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A SYNTHETIC cifarnet checkpoint in the release format (V1 file, release names and shapes)."""
    return checkpoints.write_net_checkpoint("cifarnet", str(tmp_path_factory.mktemp("ckpt") / "cifarnet.ckpt"))


@pytest.fixture(scope="module")
def tiny():
    """(train, test): 2 training images per class and 20 test images of the synthetic task."""
    test = data.load("synthetic", split="test")
    return data.load("synthetic", split="train", train_subset=2), test.subset(np.arange(20))


def _config(release, tmp_path, **kw):
    base = dict(model="cifarnet", checkpoint_path=release, exclude="CifarNet/logits", dataset="synthetic",
                train_subset=2, batch_size=4, max_steps=3, eval_examples=20, augment=False, cache_features=False,
                log_every_steps=100,
                save_every_steps=100, train_dir=str(tmp_path / "run"))
    base.update(kw)
    return train.TrainConfig(**base)


def _graph(config, tiny):
    config = train.check_config(config)
    plan = train.make_plan(config, tiny[0].num_classes, 32)
    return plan, train.FullGraph(config, plan, *tiny, 32, "/device:CPU:0").build(start_step=0)


def _values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _moved(before, after, names):
    """The names among `names` whose values differ (bitwise) between two checkpoints' value dicts."""
    return {n for n in names if not np.array_equal(before[n], after[n])}


# ---------------------------------------------------------------- strategies and the plan

@pytest.mark.parametrize("kw, expected", [
    (dict(strategy="head"), CIFARNET_HEAD),
    (dict(), CIFARNET_HEAD),  # --exclude given: head is the default
    (dict(strategy="top", unfreeze=1), CIFARNET_HEAD | _layer("fc4")),
    (dict(strategy="top", unfreeze=2), CIFARNET_HEAD | _layer("fc4") | _layer("fc3")),
    (dict(strategy="top", unfreeze=0), CIFARNET_HEAD),
    (dict(strategy="all"), ALL_CIFARNET),
    (dict(strategy="discriminative"), ALL_CIFARNET),
    (dict(strategy="scratch", checkpoint_path=None, exclude=None), ALL_CIFARNET),
    (dict(trainable_scopes="CifarNet/conv1, CifarNet/logits"), _layer("conv1") | CIFARNET_HEAD),
    (dict(strategy="all", trainable_scopes="CifarNet/fc3"), _layer("fc3")),  # overrides the strategy
])
def test_var_list_is_exactly_the_trainable_scopes(graph, release, tiny, tmp_path, kw, expected):
    _, tg = _graph(_config(release, tmp_path, **kw), tiny)
    names = [v.op.name for v in tg.var_list]
    assert len(names) == len(set(names))
    assert set(names) == expected


def test_loss_has_the_weight_decay_of_trainable_variables_only(graph, release, tiny, tmp_path):
    _, tg = _graph(_config(release, tmp_path, strategy="top", unfreeze=1, weight_decay=0.01), tiny)
    total = tg.graph.get_tensor_by_name("loss/total_loss:0")
    terms = {train.regularized_variable(t) for t in total.op.inputs[1:]}
    # cifarnet regularizes the weights of fc3 and fc4 (as slim's): of those only fc4 trains.
    all_terms = {train.regularized_variable(t) for t in tg.graph.get_collection("regularization_losses")}
    assert all_terms == {"CifarNet/fc3/weights", "CifarNet/fc4/weights"}
    assert terms == {"CifarNet/fc4/weights"}
    assert total.op.inputs[0].op.name.startswith("loss/")  # the cross-entropy comes first


def test_discriminative_learning_rates_per_block(graph, release, tiny, tmp_path):
    _, tg = _graph(_config(release, tmp_path, strategy="discriminative", lr_factor=2.0, learning_rate=0.08), tiny)
    groups = {frozenset(v.op.name for v in vs): mult for vs, mult in tg.var_groups}
    assert groups == {frozenset(CIFARNET_HEAD): 1.0, frozenset(_layer("fc4")): 1 / 2, frozenset(_layer("fc3")): 1 / 4,
                      frozenset(_layer("conv2")): 1 / 8, frozenset(_layer("conv1")): 1 / 16}
    # One optimizer per group, each with its own learning rate; the step increments once.
    with tg.graph.as_default():
        init = tf.global_variables_initializer()
    with tf.Session(graph=tg.graph) as sess:
        sess.run(init)
        lr_by_var = {}
        for op in tg.graph.get_operations():
            if op.type == "ResourceApplyMomentum":
                var = op.inputs[0].op.name
                lr_by_var[var] = sess.run(op.inputs[2])
    assert lr_by_var["CifarNet/logits/weights"] == pytest.approx(0.08)
    assert lr_by_var["CifarNet/fc4/weights"] == pytest.approx(0.04)
    assert lr_by_var["CifarNet/conv1/biases"] == pytest.approx(0.005)
    increments = [op for op in tg.graph.get_operations() if op.type == "AssignAddVariableOp"
                  and op.inputs[0].op.name == "global_step"]
    assert len(increments) == 1


def test_plan_errors(release, tiny, tmp_path):
    def plan(**kw):
        return train.make_plan(train.check_config(_config(release, tmp_path, **kw)), 10, 32)

    with pytest.raises(TlslimError, match="needs --checkpoint_path"):
        plan(strategy="head", checkpoint_path="")
    with pytest.raises(TlslimError, match=r"--unfreeze 5 is more than the 4 blocks"):
        plan(strategy="top", unfreeze=5)
    with pytest.raises(TlslimError, match=r"--trainable_scopes scope 'CifarNet/fc9'.*CifarNet/fc"):
        plan(trainable_scopes="CifarNet/fc9")
    with pytest.raises(TlslimError, match="--strategy must be one of"):
        plan(strategy="everything")
    with pytest.raises(TlslimError, match="--optimizer must be one of"):
        plan(optimizer="adagrad")
    with pytest.raises(TlslimError, match="--learning_rate must be positive"):
        plan(learning_rate=0.0)


def test_head_size_mismatch_without_exclude_stops_before_training(release, tmp_path):
    """A 10-class checkpoint and a 20-class task: the preflight names the head and --exclude."""
    config = train.check_config(_config(release, tmp_path, exclude=None, strategy="all"))
    with pytest.raises(TlslimError) as err:
        train.make_plan(config, 20, 32)
    assert "CifarNet/logits" in str(err.value) and "--exclude" in str(err.value)
    plan = train.make_plan(train.check_config(_config(release, tmp_path, exclude="auto")), 20, 32)
    assert plan.exclude == plan.auto_excluded == ["CifarNet/logits"]
    assert plan.strategy == "head" and plan.trainable_scopes == ["CifarNet/logits"]


def test_optimizers_create_their_slots(graph, release, tiny, tmp_path):
    expected = {"sgd": set(), "momentum": {"Momentum"}, "adam": {"Adam", "Adam_1"},
                "rmsprop": {"RMSProp", "RMSProp_1"}}
    for name, slots in expected.items():
        _, tg = _graph(_config(release, tmp_path, optimizer=name, strategy="head"), tiny)
        found = {v.op.name[len("CifarNet/logits/weights/"):] for v in tg.graph.get_collection("variables")
                 if v.op.name.startswith("CifarNet/logits/weights/")}
        assert found == slots, name


@pytest.mark.parametrize("decay, steps, expected", [
    ("fixed", {0: 0.1, 7: 0.1, 99: 0.1}, None),
    ("exponential", {0: 0.1, 4: 0.1, 5: 0.05, 9: 0.05, 10: 0.025}, dict(decay_steps=5, decay_rate=0.5)),
    ("cosine", {0: 0.1, 10: 0.05, 20: 0.0, 30: 0.0}, dict(decay_steps=20)),
])
def test_learning_rate_schedules(graph, decay, steps, expected):
    config = train.TrainConfig(learning_rate=0.1, lr_decay=decay, max_steps=40, **(expected or {}))
    step = tf.placeholder(tf.int64, [])
    lr = train.learning_rate_schedule(config, step)
    with tf.Session() as sess:
        for s, want in steps.items():
            assert sess.run(lr, {step: s}) == pytest.approx(want, abs=1e-7), (decay, s)


# ---------------------------------------------------------------- what moves in training

def _train_and_compare(release, tmp_path, **kw):
    result = train.train(_config(release, tmp_path, **kw))
    before, after = _values(release), _values(result["checkpoint"])
    return result, before, after


def test_head_training_changes_only_the_head(release, tmp_path):
    result, before, after = _train_and_compare(release, tmp_path, strategy="head", weight_decay=0.01)
    assert result["step"] == 3
    frozen = ALL_CIFARNET - CIFARNET_HEAD
    assert _moved(before, after, frozen) == set()
    # The head started from fresh values and was trained: differs from the release and from its init.
    assert _moved(before, after, CIFARNET_HEAD) == CIFARNET_HEAD
    assert after["global_step"] == 3  # the release's global_step was not restored


@pytest.mark.parametrize("kw, trained", [
    (dict(strategy="top", unfreeze=1), _layer("fc4")),
    (dict(trainable_scopes="CifarNet/conv1,CifarNet/logits"), _layer("conv1")),
])
def test_top_and_trainable_scopes_move_exactly_the_named_scopes(release, tmp_path, kw, trained):
    _, before, after = _train_and_compare(release, tmp_path, **kw)
    restored = ALL_CIFARNET - CIFARNET_HEAD
    assert _moved(before, after, restored) == trained


def test_eval_is_deterministic_and_matches_the_training_eval(release, tmp_path):
    result = train.train(_config(release, tmp_path, strategy="top", max_steps=2))
    kw = dict(num_examples=20, return_logits=True)
    first = train.evaluate("cifarnet", result["train_dir"], "synthetic", batch_size=7, **kw)
    second = train.evaluate("cifarnet", result["checkpoint"], "synthetic", batch_size=7, **kw)
    np.testing.assert_array_equal(first["logits"], second["logits"])  # dropout off: exact
    # Other batch sizes change only the float rounding of the matrix products.
    third = train.evaluate("cifarnet", result["checkpoint"], "synthetic", batch_size=20, **kw)
    np.testing.assert_allclose(first["logits"], third["logits"], rtol=1e-5, atol=1e-5)
    assert first["count"] == 20 and first["labels"].tolist() == (np.arange(20) % 10).tolist()
    # The training run's own evaluation tower saw the same 20 images with the same weights.
    assert result["top1"] == first["top1"]
    assert result["eval_loss"] == pytest.approx(first["loss"], rel=1e-5)
    # Control: the same net in training mode (dropout on) is not deterministic.
    with tf.Graph().as_default():
        images = tf.constant(np.random.default_rng(0).normal(size=(4, 32, 32, 3)), tf.float32)
        logits, _ = nets.get_network_fn("cifarnet", 10, is_training=True)(images)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert not np.array_equal(*[sess.run(logits) for _ in range(2)])


@pytest.mark.parametrize("kw", [dict(), dict(cache_features=True), dict(exclude="auto", cache_features=True)])
def test_restore_is_planned_once_per_run(release, tmp_path, monkeypatch, kw):
    """Every mode of training plans its restore once (one prepare_restore; the checkpoint's
    listing read once, though `--exclude auto` needs two preflights) and binds that plan to each
    graph that restores (the training graph, and the extraction graph of cached features)."""
    from tlslim import restore
    calls = {"prepare": 0, "read": 0, "bind": 0}
    prepare, bind = restore.prepare_restore, restore.RestorePlan.make_init_fn

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(restore, "prepare_restore", counted("prepare", prepare))
    monkeypatch.setattr(restore.RestorePlan, "make_init_fn", counted("bind", bind))
    restore._listing.cache_clear()
    reads_before = restore._listing.cache_info().misses
    result = train.train(_config(release, tmp_path, **{"cache_dir": str(tmp_path / "cache"), **kw}))
    assert result["step"] == 3
    assert calls["prepare"] == 1
    assert restore._listing.cache_info().misses - reads_before == 1  # the checkpoint's listing, read once
    assert calls["bind"] == (3 if kw.get("cache_features") else 1)  # + the train and test extractions


# ---------------------------------------------------------------- geometry

def test_geometry_is_settled_on_the_data_recorded_and_kept_on_resume(release, tmp_path):
    """'auto' on the synthetic task's 32x32 images at 32 is the whole image (as before); --geometry
    slim runs slim's cifarnet training preprocessing; the run record says which, and resuming
    with the other is refused with one line."""
    auto = train.train(_config(release, tmp_path, train_dir=str(tmp_path / "auto"), max_steps=1))
    assert train.read_run_record(auto["train_dir"])["geometry"] == "squash"
    run = str(tmp_path / "slim")
    result = train.train(_config(release, tmp_path, train_dir=run, geometry="slim", augment=True, max_steps=2))
    assert result["step"] == 2 and np.isfinite(result["loss"])
    assert train.read_run_record(run)["geometry"] == "slim"
    with pytest.raises(TlslimError,
                       match=r"holds a run made with other settings \(geometry slim there, squash here\)") as err:
        train.train(_config(release, tmp_path, train_dir=run, geometry="squash", max_steps=3))
    assert "\n" not in str(err.value)
    metrics, used = train.evaluate_run(train.EvalConfig(checkpoint_path=run, num_examples=20))
    assert used.geometry == "slim" and metrics["count"] == 20


@pytest.mark.parametrize("kw, text", [
    (dict(geometry="slim", preprocessing="per_channel_mean"), "has no style 'per_channel_mean'"),
    (dict(model="vgg_16", geometry="slim", image_size=299), "use --image_size 256 or less"),
    (dict(geometry="crop"), "--geometry must be one of auto, slim, squash"),
    (dict(preprocessing="nope"), "unknown preprocessing style 'nope'"),
    (dict(aux_loss_weight=-0.4), "--aux_loss_weight must be 0 or more, got -0.4"),
    (dict(learning_rate=float("nan")), "--learning_rate must be a finite number, got nan"),
    (dict(lr_factor=float("inf")), "--lr_factor must be a finite number, got inf"),
    (dict(momentum=-0.5), "--momentum must be 0 or more, got -0.5"),
    (dict(momentum=9.0), "--momentum must be at most 1, got 9.0"),
    (dict(weight_decay=-1e-4), "--weight_decay must be 0 or more"),
    (dict(cluster_timeout=0.0), "--cluster_timeout must be positive"),
])
def test_config_errors_before_any_work(release, tmp_path, kw, text):
    with pytest.raises(TlslimError, match=text):
        train.check_config(_config(release, tmp_path, **kw))
