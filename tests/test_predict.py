"""scripts/predict.py, tlslim.predict, ImageNet class names and identify_net.

The checkpoints here are SYNTHETIC: release names, shapes and V1 file format (written by
tlslim.testing.checkpoints.write_net_checkpoint) with seeded random values, not trained weights,
so the predicted classes mean nothing; what is tested is that the script runs the net it restored
on the release's preprocessing and names the outputs right. resnet_v1_50 stands for the
1000-class releases (vgg, resnet_v1), inception_v1 for the 1001-class ones (background at 0).
The images are random pixels of odd sizes written with TF's JPEG and PNG encoders.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import tf
from tlslim.data import imagenet, synthetic
from tlslim.errors import TlslimError
from tlslim.predict import PredictConfig, predict
from tlslim.testing import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICT = os.path.join(REPO, "scripts", "predict.py")
FINETUNE = os.path.join(REPO, "scripts", "finetune.py")
INSPECT = os.path.join(REPO, "scripts", "inspect_checkpoint.py")


def _run(script, args, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, script] + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _error_lines(out):
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


def _parse(stdout):
    """{path: [(probability, index, name or None), ...]} from predict.py's output."""
    out, current = {}, None
    for line in stdout.splitlines():
        if not line.startswith("  "):
            current = out.setdefault(line, [])
            continue
        parts = line.split(None, 2)
        current.append((float(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else None))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    images = {"odd.jpg": rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),
              "tall.png": rng.integers(0, 256, (300, 41, 3), dtype=np.uint8)}
    paths = {}
    with tf.Graph().as_default(), tf.Session() as sess:
        for name, pixels in images.items():
            encode = tf.io.encode_jpeg if name.endswith(".jpg") else tf.io.encode_png
            paths[name] = str(root / name)
            with open(paths[name], "wb") as f:
                f.write(sess.run(encode(pixels)))
    (root / "notes.jpg").write_text("not an image")
    ckpts = {net: checkpoints.write_net_checkpoint(net, str(root / f"{net}.ckpt"))
             for net in ("resnet_v1_50", "inception_v1")}
    return {"root": root, "images": paths, "ckpt": ckpts}


def _bilinear(img, out_h, out_w):
    """TF 1.x resize_bilinear (no half-pixel centres, source coordinate in float32) in numpy."""
    def axis(out, size):
        src = (np.arange(out, dtype=np.float32) * np.float32(size / out)).astype(np.float64)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, size - 1), (src - lo)

    img = img.astype(np.float64)
    (y0, y1, fy), (x0, x1, fx) = axis(out_h, img.shape[0]), axis(out_w, img.shape[1])
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def _crop_or_pad(img, size):
    """Centred crop along a side longer than `size`, centred zero padding along a shorter one."""
    h, w = img.shape[:2]
    ch, cw = min(h, size), min(w, size)
    sy, sx = max((h - size) // 2, 0), max((w - size) // 2, 0)
    py, px = max((size - h) // 2, 0), max((size - w) // 2, 0)
    out = np.zeros((size, size, 3))
    out[py:py + ch, px:px + cw] = img[sy:sy + ch, sx:sx + cw]
    return out


def _slim_eval_pixels(img, style, size):
    """slim's evaluation preprocessing of a decoded uint8 image, from its documented geometry:
    vgg: smaller side to 256 (other side rounded to nearest), central crop, minus channel means;
    inception: central 87.5% box from floor(side / 16), bilinear to size, to [-1, 1];
    cifarnet: centred crop or zero pad, per-image standardization."""
    h, w = img.shape[:2]
    if style == "vgg":
        scale = np.float32(256) / np.float32(min(h, w))
        nh, nw = int(np.rint(np.float32(h) * scale)), int(np.rint(np.float32(w) * scale))
        top, left = (nh - size) // 2, (nw - size) // 2
        return _bilinear(img, nh, nw)[top:top + size, left:left + size] - np.array([123.68, 116.78, 103.94])
    if style == "inception":
        top, left = h // 16, w // 16
        return _bilinear(img[top:h - top, left:w - left], size, size) / 255.0 * 2 - 1
    assert style == "cifarnet", style
    x = _crop_or_pad(img, size)
    return (x - x.mean()) / max(x.std(), 1.0 / np.sqrt(x.size))


def _reference(net, num_classes, checkpoint, image_paths):
    """Softmax probabilities computed independently of tlslim.predict and tlslim.restore: the
    release's evaluation preprocessing in numpy, the net from get_network_fn, every model
    variable restored by a plain Saver, numpy softmax."""
    info = nets.get_info(net)
    size = info.default_image_size
    with tf.Graph().as_default():
        encoded = tf.placeholder(tf.string, [])
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        pixels = tf.placeholder(tf.float32, [1, size, size, 3])
        logits, _ = nets.get_network_fn(net, num_classes, is_training=False)(pixels)
        saver = tf.train.Saver({v.op.name: v for v in tf.model_variables()})
        with tf.Session() as sess:
            saver.restore(sess, checkpoint)
            out = {}
            for path in image_paths:
                with open(path, "rb") as f:
                    decoded = sess.run(image, {encoded: f.read()})
                x = _slim_eval_pixels(decoded, info.preprocessing, size)
                z = sess.run(logits, {pixels: x[None]})[0].astype(np.float64)
                e = np.exp(z - z.max())
                out[path] = e / e.sum()
    return out


def test_imagenet_class_names_and_the_background_offset():
    wnids = [w for w, _ in imagenet.synsets()]
    assert len(wnids) == 1000 and len(set(wnids)) == 1000 and wnids == sorted(wnids)
    assert (wnids[0], wnids[-1]) == ("n01440764", "n15075141")
    names, with_background = imagenet.class_names(1000), imagenet.class_names(1001)
    assert names[0] == "tench, Tinca tinca" and names[-1] == "toilet tissue, toilet paper, bathroom tissue"
    assert with_background[0] == "background" and with_background[1:] == names
    assert with_background[1] == names[0]
    with pytest.raises(TlslimError, match="1000 or 1001"):
        imagenet.class_names(10)


@pytest.mark.parametrize("net,num_classes,offset", [("resnet_v1_50", 1000, 0), ("inception_v1", 1001, 1)])
def test_script_prints_five_named_classes_per_image_as_the_net_computes_them(files, net, num_classes, offset):
    assert nets.get_info(net).num_classes == num_classes
    images = [files["images"]["odd.jpg"], files["images"]["tall.png"]]
    # --model given for the 1000-class net; found from the variable names for the 1001-class one.
    model = ["--model", net] if num_classes == 1000 else []
    out = _run(PREDICT, model + ["--checkpoint_path", files["ckpt"][net]] + images)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = _parse(out.stdout)
    assert list(printed) == images
    reference = _reference(net, num_classes, files["ckpt"][net], images)
    names = imagenet.class_names(1000)
    for path, top in printed.items():
        probabilities = [p for p, _, _ in top]
        assert len(top) == 5 and all(name for _, _, name in top)
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-3
        for p, index, name in top:
            assert name == names[index - offset]  # index 1 of the 1001 layout is index 0 of the 1000 layout
            assert abs(p - reference[path][index]) < 1e-4
        assert top[0][1] == int(np.argmax(reference[path]))


def test_predict_returns_exact_probabilities_and_indices_only_without_names(files, tmp_path):
    """A checkpoint whose head has a class count that neither a record nor the release names: indices only."""
    ckpt = checkpoints.write_net_checkpoint("cifarnet", str(tmp_path / "seven.ckpt"), num_classes=7)
    images = [files["images"]["tall.png"]]
    [result] = predict(PredictConfig(checkpoint_path=ckpt, top_k=3), images)
    reference = _reference("cifarnet", 7, ckpt, images)[images[0]]
    assert result["path"] == images[0] and len(result["top"]) == 3
    assert [i for i, _, _ in result["top"]] == list(np.argsort(-reference)[:3])
    np.testing.assert_allclose([p for _, _, p in result["top"]], np.sort(reference)[::-1][:3], rtol=1e-5)
    assert all(name is None for _, name, _ in result["top"])


def test_finetuned_train_dir_predicts_with_its_dataset_class_names(files, tmp_path):
    train_dir = str(tmp_path / "run")
    out = _run(FINETUNE, ["--strategy", "scratch", "--train_subset", "1", "--max_steps", "1", "--eval_examples",
                          "10", "--batch_size", "4", "--train_dir", train_dir])
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(train_dir, "tlslim_run.json"), encoding="utf-8") as f:
        record = json.load(f)
    expected = synthetic.class_names("synthetic")
    assert record["class_names"] == expected
    out = _run(PREDICT, ["--checkpoint_path", train_dir, files["images"]["odd.jpg"]])
    assert out.returncode == 0, out.stderr[-3000:]
    [(path, top)] = _parse(out.stdout).items()
    assert path == files["images"]["odd.jpg"] and len(top) == 5
    assert all(name == expected[index] for _, index, name in top)


def test_identify_net_and_the_inspect_line(files, tmp_path):
    assert restore.identify_net(files["ckpt"]["resnet_v1_50"]) == ["resnet_v1_50"]
    assert restore.identify_net(files["ckpt"]["inception_v1"]) == ["inception_v1"]
    # A fine-tuned head (other class count) is still the same net; a head of another width is not.
    tuned = checkpoints.write_net_checkpoint("cifarnet", str(tmp_path / "tuned.ckpt"), num_classes=3)
    assert restore.identify_net(tuned) == ["cifarnet"]
    shapes = checkpoints.net_shapes("cifarnet")
    shapes["CifarNet/logits/weights"] = [100, 10]
    other = checkpoints.write_checkpoint(str(tmp_path / "other.ckpt"), checkpoints.synthetic_tensors(shapes))
    assert restore.identify_net(other) == []
    unrelated = checkpoints.write_checkpoint(str(tmp_path / "w.ckpt"), {"w": np.zeros([2], np.float32)})
    assert restore.identify_net(unrelated) == []

    out = _run(INSPECT, [files["ckpt"]["inception_v1"]])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "holds: inception_v1 (1001 classes)"


def test_bad_input_is_one_line_error_before_the_graph(files, tmp_path):
    image, ckpt = files["images"]["odd.jpg"], files["ckpt"]["inception_v1"]
    config = PredictConfig(checkpoint_path=ckpt)
    cases = [([], "no image given"),
             ([str(tmp_path / "missing.jpg")], f"image file {tmp_path / 'missing.jpg'} not found"),
             ([str(files["root"] / "notes.jpg")], "is not an image"),
             ([str(tmp_path)], f"{tmp_path} is a directory")]
    for paths, message in cases:
        with pytest.raises(TlslimError, match=message):
            predict(config, paths)
    with pytest.raises(TlslimError, match="is not a checkpoint of resnet_v1_50: it holds inception_v1"):
        predict(PredictConfig(checkpoint_path=ckpt, model="resnet_v1_50"), [image])
    unrelated = checkpoints.write_checkpoint(str(tmp_path / "w.ckpt"), {"w": np.zeros([2], np.float32)})
    with pytest.raises(TlslimError, match="holds the variables of no registered net; pass --model"):
        predict(PredictConfig(checkpoint_path=unrelated), [image])

    # A file that starts like a JPEG but is cut short fails when decoded, still in one line.
    with open(image, "rb") as f:
        (tmp_path / "cut.jpg").write_bytes(f.read(100))
    small = checkpoints.write_net_checkpoint("cifarnet", str(tmp_path / "cifarnet.ckpt"))
    with pytest.raises(TlslimError, match="cannot decode image .*cut.jpg: the file is damaged, truncated"):
        predict(PredictConfig(checkpoint_path=small), [image, str(tmp_path / "cut.jpg")])

    # As the script prints them: one `error:` line, exit 2, no traceback.
    out = _run(PREDICT, ["--checkpoint_path", ckpt, str(files["root"] / "notes.jpg")])
    assert out.returncode == 2 and _error_lines(out) == [
        f"error: {files['root'] / 'notes.jpg'} is not an image (not JPEG, PNG, GIF or BMP); pass image files."]
    assert "Traceback" not in out.stderr
