"""tlslim.restore on SYNTHETIC checkpoints written with the releases' names and shapes.

Most tests use cifarnet (1.7 M values, written in ~0.1 s); one module-scoped vgg_16 V1 file
(528 MB, like vgg_16.ckpt in the release tarball) checks the release format end to end.
"""
import os

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints

HEAD = "CifarNet/logits"


def build(name="cifarnet", num_classes=10, size=32, **kwargs):
    images = tf.placeholder(tf.float32, [1, size, size, 3], name="images")
    return nets.get_network_fn(name, num_classes, **kwargs)(images)


def names(variables):
    return [v.op.name for v in variables]


def cifarnet_ckpt(tmp_path, version=1, num_classes=None, drop=(), add=None, filename="cifarnet.ckpt"):
    """A cifarnet checkpoint; `drop` removes entries under those scopes, `add` adds {name: shape}."""
    shapes = checkpoints.net_shapes("cifarnet", num_classes=num_classes)
    shapes = {n: s for n, s in shapes.items() if not any(n.startswith(d + "/") for d in drop)}
    shapes.update(add or {})
    tensors = checkpoints.synthetic_tensors(shapes, seed=1)
    return checkpoints.write_checkpoint(str(tmp_path / filename), tensors, version=version)


def assert_restored_bit_for_bit(session, var_list, path):
    """Every variable in {checkpoint name: variable} holds exactly the file's bytes."""
    reader = tf.train.load_checkpoint(path)
    for ckpt_name, var in var_list.items():
        value, stored = session.run(var), reader.get_tensor(ckpt_name)
        assert value.dtype == stored.dtype and value.shape == stored.shape, ckpt_name
        assert value.tobytes() == stored.tobytes(), ckpt_name


# ---------------------------------------------------------------- variables_to_restore

def make_vars(var_names):
    for n in var_names:
        scope, leaf = n.rsplit("/", 1)
        with tf.variable_scope(scope):
            slim.model_variable(leaf, shape=[2])


def test_exclude_matches_at_scope_boundaries(graph):
    make_vars(["vgg_16/fc8/weights", "vgg_16/fc8/biases", "vgg_16/fc80/weights", "vgg_16/fc7/weights"])
    kept = names(restore.variables_to_restore(exclude=["vgg_16/fc8"]))
    assert kept == ["vgg_16/fc80/weights", "vgg_16/fc7/weights"]
    # A full variable name is a scope too.
    assert names(restore.variables_to_restore(exclude="vgg_16/fc8/weights")) == [
        "vgg_16/fc8/biases", "vgg_16/fc80/weights", "vgg_16/fc7/weights"]


def test_exclude_strips_whitespace_and_trailing_slash(graph):
    make_vars(["a/x/w", "a/y/w", "a/z/w"])
    spaced = restore.variables_to_restore(exclude=" a/x , a/y/ ,")
    assert names(spaced) == ["a/z/w"]
    assert names(spaced) == names(restore.variables_to_restore(exclude=["a/x", "a/y"]))


def test_include_then_exclude(graph):
    make_vars(["n/block1/w", "n/block2/w", "n/block2/b", "n/head/w"])
    got = restore.variables_to_restore(include="n/block2, n/head", exclude="n/head")
    assert names(got) == ["n/block2/w", "n/block2/b"]


@pytest.mark.parametrize("scope, flag, closest", [
    ("vgg_16/fc9", "--exclude", "vgg_16/fc8"),
    ("vgg16/fc8", "--exclude", "vgg_16/fc8"),
    ("vgg_16/fc8 /weights", "--exclude", "vgg_16/fc8/weights"),
])
def test_exclusion_matching_nothing_is_an_error(graph, scope, flag, closest):
    make_vars(["vgg_16/fc7/weights", "vgg_16/fc8/weights"])
    with pytest.raises(TlslimError) as err:
        restore.variables_to_restore(exclude=[scope])
    message = str(err.value)
    assert f"'{scope.strip()}'" in message and flag in message and closest in message
    assert "\n" not in message


def test_include_matching_nothing_is_an_error(graph):
    make_vars(["vgg_16/fc7/weights"])
    with pytest.raises(TlslimError, match=r"--include scope 'vgg_16/fc6' matches no variable.*vgg_16/fc7"):
        restore.variables_to_restore(include="vgg_16/fc6")


def test_step_counter_is_never_chosen(graph):
    make_vars(["n/a/w"])
    step = tf.train.get_or_create_global_step()
    chosen = restore.variables_to_restore(variables=tf.global_variables())
    assert names(chosen) == ["n/a/w"] and all(v is not step for v in chosen)


def test_auto_needs_the_checkpoint(graph):
    make_vars(["n/a/w"])
    with pytest.raises(TlslimError, match="expand_exclude"):
        restore.variables_to_restore(exclude="auto")


# ---------------------------------------------------------------- finding and reading checkpoints

def test_v1_file_v2_prefix_and_its_files_list_the_same(tmp_path):
    v1 = cifarnet_ckpt(tmp_path, version=1)
    v2 = cifarnet_ckpt(tmp_path / "v2", version=2, filename="model.ckpt-7")
    expected = dict(sorted(checkpoints.net_shapes("cifarnet").items()))
    assert os.listdir(tmp_path / "v2") and os.path.isfile(v1)  # V1 is one file
    for path in (v1, v2, v2 + ".index", v2 + ".data-00000-of-00001"):
        assert restore.list_checkpoint(path) == expected
    assert restore.resolve_checkpoint(v2 + ".index") == v2
    assert set(restore.checkpoint_dtypes(v1).values()) == {"float32"}


def test_directory_gives_its_latest_checkpoint(tmp_path):
    tensors = checkpoints.synthetic_tensors({"n/w": [2]})
    for step in (5, 10):
        checkpoints.write_checkpoint(str(tmp_path / f"model.ckpt-{step}"), tensors, version=2, update_state=True)
    assert restore.resolve_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-10")
    # The state file decides, not the step number ...
    tf.train.update_checkpoint_state(str(tmp_path), str(tmp_path / "model.ckpt-5"))
    assert restore.resolve_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-5")
    # ... and without one, the highest step of the series.
    os.remove(tmp_path / "checkpoint")
    assert restore.resolve_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-10")


def test_directory_of_an_unpacked_release(tmp_path):
    path = cifarnet_ckpt(tmp_path, filename="cifarnet.ckpt")
    (tmp_path / "README.txt").write_text("not a checkpoint")
    assert restore.resolve_checkpoint(str(tmp_path)) == path


def test_directory_with_several_checkpoints_or_none_is_an_error(tmp_path):
    with pytest.raises(TlslimError, match="holds no checkpoint"):
        restore.list_checkpoint(str(tmp_path))
    cifarnet_ckpt(tmp_path, filename="a.ckpt")
    cifarnet_ckpt(tmp_path, filename="b.ckpt")
    with pytest.raises(TlslimError, match=r"several checkpoints \(a.ckpt, b.ckpt\)"):
        restore.list_checkpoint(str(tmp_path))


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(TlslimError, match="not found") as err:
        restore.list_checkpoint(str(tmp_path / "nope.ckpt"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["junk", "empty", "truncated"])
def test_corrupt_v1_file_is_a_one_line_error(tmp_path, damage):
    path = cifarnet_ckpt(tmp_path)
    data = open(path, "rb").read()
    content = {"junk": b"<html>404 not found</html>" * 40, "empty": b"", "truncated": data[: len(data) // 2]}
    with open(path, "wb") as f:
        f.write(content[damage])
    with pytest.raises(TlslimError, match="cannot read checkpoint .*corrupt, truncated") as err:
        restore.list_checkpoint(path)
    assert "\n" not in str(err.value)


def test_truncated_or_partial_v2_is_an_error(tmp_path):
    prefix = cifarnet_ckpt(tmp_path, version=2, filename="model.ckpt-1")
    data = prefix + ".data-00000-of-00001"
    size = os.path.getsize(data)
    with open(data, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(TlslimError, match="truncated"):
        restore.list_checkpoint(prefix)
    os.remove(data)
    with pytest.raises(TlslimError, match="no data file"):
        restore.list_checkpoint(prefix)


# ---------------------------------------------------------------- preflight

def test_preflight_shape_mismatch_names_variable_shapes_and_flag(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)  # release head: 10 classes
    build(num_classes=5)
    report = restore.preflight(tf.model_variables(), path)
    assert report.mismatched == [(f"{HEAD}/weights", [192, 5], [192, 10]), (f"{HEAD}/biases", [5], [10])]
    assert not report.ok and report.missing == [] and report.unexpected == []
    with pytest.raises(TlslimError) as err:
        report.check()
    message = str(err.value)
    assert f"{HEAD}/weights is [192, 5] in the graph but [192, 10] in the checkpoint" in message
    assert f"add --exclude {HEAD}" in message and "\n" not in message
    assert "Shape mismatches" in report.text()


def test_preflight_with_the_head_excluded_is_ok(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=5)
    report = restore.preflight(tf.model_variables(), path, exclude=f" {HEAD} ")
    assert report.ok and report.check() is report
    assert report.excluded == [f"{HEAD}/weights", f"{HEAD}/biases"]
    assert report.restored == [n for n in names(tf.model_variables()) if not n.startswith(HEAD)]
    assert "Preflight: OK." in report.text()


def test_mismatch_message_keeps_existing_exclusions(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=5)
    with pytest.raises(TlslimError, match=f"use --exclude CifarNet/fc4,{HEAD} "):
        restore.preflight(tf.model_variables(), path, exclude="CifarNet/fc4").check()


def test_preflight_missing_variables(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path, drop=["CifarNet/fc4"])
    build()
    report = restore.preflight(tf.model_variables(), path)
    assert report.missing == ["CifarNet/fc4/weights", "CifarNet/fc4/biases"]
    assert report.mismatched == [] and not report.ok
    with pytest.raises(TlslimError, match=r"CifarNet/fc4/weights \(and 1 more\) is not in the checkpoint.*"
                                          r"add --exclude CifarNet/fc4.*--model"):
        report.check()
    assert "Missing from the checkpoint (2)" in report.text()


def test_preflight_unexpected_and_ignored_entries(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path, add={"CifarNet/fc5/weights": [3, 3], "global_step": [],
                                        "CifarNet/conv1/weights/Momentum": [5, 5, 3, 64]})
    build()
    report = restore.preflight(tf.model_variables(), path)
    assert report.unexpected == ["CifarNet/fc5/weights"]
    assert report.ignored == ["CifarNet/conv1/weights/Momentum", "global_step"]
    assert report.ok and len(report.restored) == 10
    text = report.text()
    assert "not in the graph, left unused (1): CifarNet/fc5/weights" in text
    assert "Never restored" in text and "global_step" in text


def test_checkpoint_of_another_net_names_it(graph, tmp_path):
    shapes = checkpoints.net_shapes("lenet")
    path = checkpoints.write_checkpoint(str(tmp_path / "lenet.ckpt"), checkpoints.synthetic_tensors(shapes))
    build()
    with pytest.raises(TlslimError, match=r"no variables under CifarNet: its variables are under LeNet "
                                          r"\(the variables of --model lenet\)"):
        restore.preflight(tf.model_variables(), path).check()


def test_auto_exclude_picks_exactly_the_mismatched(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=5)
    variables = tf.model_variables()
    assert restore.auto_exclude(variables, path) == [HEAD]
    assert restore.expand_exclude("auto", variables, path) == ([HEAD], [HEAD])
    assert restore.expand_exclude("CifarNet/fc4, auto", variables, path) == (["CifarNet/fc4", HEAD], [HEAD])
    assert restore.expand_exclude(f"{HEAD},auto", variables, path) == ([HEAD], [])
    assert restore.expand_exclude("CifarNet/fc4", variables, path) == (["CifarNet/fc4"], [])


def test_auto_exclude_with_matching_shapes_excludes_nothing(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=10)
    assert restore.auto_exclude(tf.model_variables(), path) == []


def test_auto_exclude_never_takes_a_scope_with_matching_variables(tmp_path):
    path = checkpoints.write_checkpoint(str(tmp_path / "n.ckpt"), checkpoints.synthetic_tensors(
        {"n/a/weights": [3, 5], "n/a/biases": [4], "n/b/weights": [4, 2]}))
    graph_vars = {"n/a/weights": [3, 4], "n/a/biases": [4], "n/b/weights": [4, 2]}
    assert restore.auto_exclude(graph_vars, path) == ["n/a/weights"]
    graph_vars["n/a/biases"] = [5]
    assert restore.auto_exclude(graph_vars, path) == ["n/a"]


def test_auto_exclude_on_inception_release_layout(tmp_path):
    path = checkpoints.write_net_checkpoint("inception_v1", str(tmp_path / "inception_v1.ckpt"))
    fine_tuned = checkpoints.net_shapes("inception_v1", num_classes=7, extra=False)
    assert restore.auto_exclude(fine_tuned, path) == ["InceptionV1/Logits"]
    report = restore.preflight(fine_tuned, path, exclude="InceptionV1/Logits")
    assert report.ok and report.ignored == ["global_step"]


# ---------------------------------------------------------------- restoring

@pytest.mark.parametrize("version", [1, 2])
def test_restore_is_bit_for_bit_and_leaves_excluded_and_step_alone(graph, tmp_path, version):
    path = cifarnet_ckpt(tmp_path, version=version, add={"global_step": []})
    build(num_classes=5)
    step = tf.train.get_or_create_global_step()
    chosen = restore.variables_to_restore(exclude=[HEAD, "CifarNet/fc4"])
    init_fn = restore.make_init_fn(path, chosen + [step])  # the step counter is dropped
    assert sorted(init_fn.var_list) == sorted(names(chosen))
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        by_name = dict(zip(names(tf.model_variables()), tf.model_variables()))
        fresh = session.run(by_name)
        init_fn(session)
        assert_restored_bit_for_bit(session, init_fn.var_list, path)
        assert session.run(step) == 0  # the file's global_step is not 0
        for name in ("CifarNet/fc4/weights", f"{HEAD}/weights"):
            assert np.array_equal(session.run(by_name[name]), fresh[name])
    assert tf.train.load_checkpoint(path).get_tensor("global_step") != 0


def test_restore_from_a_directory_takes_the_latest(graph, tmp_path):
    shapes = checkpoints.net_shapes("cifarnet")
    for step, seed in ((1, 11), (2, 22)):
        checkpoints.write_checkpoint(str(tmp_path / f"model.ckpt-{step}"),
                                     checkpoints.synthetic_tensors(shapes, seed=seed), version=2, update_state=True)
    build()
    init_fn = restore.make_init_fn(str(tmp_path), tf.model_variables())
    assert init_fn.checkpoint_path == str(tmp_path / "model.ckpt-2")
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        init_fn(session)
        assert_restored_bit_for_bit(session, init_fn.var_list, str(tmp_path / "model.ckpt-2"))


def test_make_init_fn_runs_the_preflight(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=5)
    with pytest.raises(TlslimError, match=f"add --exclude {HEAD}"):
        restore.make_init_fn(path, tf.model_variables())


def test_prepare_restore_with_auto(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(num_classes=3)
    plan = restore.prepare_restore(path, exclude="auto")
    assert plan.exclude == [HEAD] and plan.auto_excluded == [HEAD]
    assert plan.report.excluded == [f"{HEAD}/weights", f"{HEAD}/biases"] and plan.report.ok
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        plan.init_fn(session)
        assert_restored_bit_for_bit(session, plan.init_fn.var_list, path)


# ---------------------------------------------------------------- scope maps

def test_scope_map_direction_and_longest_prefix():
    smap = restore.parse_scope_map(" a = x , a/b=y ")
    assert smap == {"a": "x", "a/b": "y"}
    assert restore.map_scopes(["a/b/c", "a/bc/d", "z/w"], smap) == {"a/b/c": "y/c", "a/bc/d": "x/bc/d", "z/w": "z/w"}
    assert restore.checkpoint_name("y/c", smap) == "a/b/c"
    assert restore.checkpoint_name("x/bc/d:0", smap) == "a/bc/d"
    with pytest.raises(TlslimError, match="CHECKPOINT_SCOPE=GRAPH_SCOPE"):
        restore.parse_scope_map("vgg_16")


def test_restore_with_a_scope_map(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(scope="my_net")
    with pytest.raises(TlslimError, match="--scope_map CifarNet=my_net"):
        restore.preflight(tf.model_variables(), path).check()
    report = restore.preflight(tf.model_variables(), path, scope_map={"CifarNet": "my_net"})
    assert report.ok and len(report.restored) == 10 and report.unexpected == []
    init_fn = restore.make_init_fn(path, tf.model_variables(), scope_map="CifarNet=my_net")
    assert init_fn.var_list["CifarNet/fc3/weights"].op.name == "my_net/fc3/weights"
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        init_fn(session)
        assert_restored_bit_for_bit(session, init_fn.var_list, path)


def test_scope_map_sides_must_match(graph, tmp_path):
    path = cifarnet_ckpt(tmp_path)
    build(scope="my_net")
    with pytest.raises(TlslimError, match=r"--scope_map \(checkpoint side\) scope 'Cifarnet'.*CifarNet"):
        restore.preflight(tf.model_variables(), path, scope_map="Cifarnet=my_net")
    with pytest.raises(TlslimError, match=r"--scope_map \(graph side\) scope 'my_nett'.*my_net"):
        restore.preflight(tf.model_variables(), path, scope_map="CifarNet=my_nett")


# ---------------------------------------------------------------- penultimate

def test_penultimate_from_end_points_and_graph(graph):
    _, end_points = build("vgg_16", num_classes=4)
    from_end_points = restore.penultimate(end_points)
    from_graph = restore.penultimate(graph, "vgg_16")
    assert from_end_points is from_graph is end_points[nets.PENULTIMATE]
    assert from_graph.name.startswith("vgg_16/") and from_graph.name.endswith(":0")
    assert from_graph.shape.as_list() == [1, 1, 1, 4096]
    fc8 = graph.get_operation_by_name("vgg_16/fc8/Conv2D")
    assert fc8.inputs[0] is from_graph  # it is the classifier's input


def test_penultimate_errors(graph):
    with pytest.raises(TlslimError, match="no cifarnet"):
        restore.penultimate(graph, "cifarnet")
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    fn = nets.get_network_fn("cifarnet", 10)
    fn(images)
    with tf.variable_scope("", reuse=True):
        fn(images)
    with pytest.raises(TlslimError, match="built 2 times"):
        restore.penultimate(graph, "cifarnet")
    with pytest.raises(TlslimError, match="PreLogits"):
        restore.penultimate({"Logits": images})


# ---------------------------------------------------------------- the vgg_16 release format

@pytest.fixture(scope="module")
def vgg16_release(tmp_path_factory):
    """A SYNTHETIC vgg_16.ckpt with the release's names, shapes and extras, V1 single file."""
    path = str(tmp_path_factory.mktemp("vgg16") / "vgg_16.ckpt")
    return checkpoints.write_net_checkpoint("vgg_16", path, seed=3)


def test_vgg16_release_file_restores_all_but_the_head(graph, vgg16_release):
    m = nets.manifest("vgg_16")
    assert restore.list_checkpoint(vgg16_release) == dict(sorted({**m["variables"], **m["extra"]}.items()))
    assert os.path.getsize(vgg16_release) > 528_000_000  # one V1 file of the full size
    build("vgg_16", num_classes=10, size=32)
    step = tf.train.get_or_create_global_step()
    plan = restore.prepare_restore(vgg16_release, exclude="auto")
    assert plan.auto_excluded == ["vgg_16/fc8"]
    assert plan.report.ignored == ["global_step", "vgg_16/mean_rgb"] and plan.report.unexpected == []
    assert plan.report.excluded == ["vgg_16/fc8/weights", "vgg_16/fc8/biases"]
    assert len(plan.init_fn.var_list) == 30 and "vgg_16/mean_rgb" not in plan.init_fn.var_list
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        plan.init_fn(session)
        assert_restored_bit_for_bit(session, plan.init_fn.var_list, vgg16_release)
        assert session.run(step) == 0
