"""What the scripts write, and what they leave alone, run as subprocesses as a user runs them.

- Downloads and extractions are verified in a staging directory inside the destination and only
  then moved into place: a bad tarball or checkpoint leaves what was there byte for byte.
- Every output path flag (other than finetune.py's) is checked before any work: one line naming
  the flag, exit 2, nothing written.
- --help, --helpshort and -h exit 0; evaluate.py takes --eval_examples (and slim's --num_examples).

The checkpoints are SYNTHETIC (tlslim.testing.checkpoints) of mobilenet_v1_025, the smallest net
with a release (2 MB); the CIFAR-10 files are SYNTHETIC stand-ins (tlslim.testing.datasets).
Nothing reaches the internet: downloads come from 127.0.0.1.
"""
import os
import tarfile

import numpy as np
import pytest

from tlslim import nets, paths, restore
from tlslim.compat import tf
from tlslim.data import cifar10
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints, datasets
from tlslim.testing.cli import one_error_line, run_script, script_names, snapshot
from tlslim.testing.http import serve_directory

from _subprocess_runs import start

NET = "mobilenet_v1_025"
INFO = nets.get_info(NET)
FILE = INFO.checkpoint_file                      # mobilenet_v1_0.25_224.ckpt
UNREACHABLE = "http://127.0.0.1:9/never.tar.gz"  # the discard port: a download attempt fails at once


def _values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _seed_of(path):
    """Which seed wrote the SYNTHETIC checkpoint at `path` (its values say it)."""
    name, shape = next(iter(sorted(checkpoints.net_shapes(NET).items())))
    value = _values(path)[name]
    return next(s for s in range(5) if np.array_equal(value, checkpoints.synthetic_value(name, shape, s)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """SYNTHETIC checkpoints and release-style tarballs of NET: good ones, and bad ones whose
    checkpoint is corrupt or another net's."""
    root = tmp_path_factory.mktemp("files")
    made = {"v1_seed0": checkpoints.write_net_checkpoint(NET, str(root / "v1_seed0" / FILE), seed=0),
            "v1_seed1": checkpoints.write_net_checkpoint(NET, str(root / "v1_seed1" / FILE), seed=1)}
    prefix = checkpoints.write_net_checkpoint(NET, str(root / "v2_seed2" / FILE), version=2, seed=2)
    made["v2_seed2_files"] = {FILE + s: prefix + s for s in (".index", ".data-00000-of-00001")}
    corrupt = root / "corrupt" / FILE
    corrupt.parent.mkdir()
    corrupt.write_bytes(np.arange(5000, dtype=np.int32).tobytes())
    made["corrupt"] = str(corrupt)
    made["cifarnet"] = checkpoints.write_net_checkpoint("cifarnet", str(root / "cifarnet" / "cifarnet.ckpt"))
    served = root / "served"
    made["served"] = str(served)
    for name, inside in (("good_v1", made["v1_seed1"]), ("corrupt", made["corrupt"]), ("wrong_net", made["cifarnet"])):
        made[f"tar_{name}"] = checkpoints.make_tarball(str(served / name / INFO.checkpoint_tarball), {FILE: inside})
    made["tar_good_v2"] = checkpoints.make_tarball(str(served / "good_v2" / INFO.checkpoint_tarball),
                                                   made["v2_seed2_files"])
    return made


def _dest_with_a_good_checkpoint(files, tmp_path):
    """A --dest holding a verified V1 checkpoint of NET (seed 0) and a file of the user's."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / FILE).write_bytes(open(files["v1_seed0"], "rb").read())
    (dest / "notes.txt").write_text("mine\n")
    return dest


# ---------------------------------------------------------------- downloads: verify, then swap

@pytest.fixture(scope="module")
def downloads(files, tmp_path_factory):
    """The download commands that each run once, started together: name -> (Future of the
    CompletedProcess, --dest or the working directory, a snapshot of --dest before the run)."""
    runs = {}
    for name in ("tar_corrupt", "tar_wrong_net", "corrupt", "tar_good_v1"):
        dest = _dest_with_a_good_checkpoint(files, tmp_path_factory.mktemp(name))
        runs[name] = (start(run_script, "download_checkpoint.py", NET, "--from", files[name], "--dest", dest), dest,
                      snapshot(dest))
    dest = tmp_path_factory.mktemp("wrong_net_fresh") / "fresh" / "dest"
    runs["wrong_net_fresh"] = (start(run_script, "download_checkpoint.py", NET, "--from", files["tar_wrong_net"],
                                     "--dest", dest), dest, None)
    cwd = tmp_path_factory.mktemp("cifar_no_arguments")
    runs["cifar_no_arguments"] = (start(run_script, "download_cifar10.py", "data", "--url", UNREACHABLE, cwd=cwd),
                                  cwd, None)
    return runs


@pytest.mark.parametrize("bad,message", [
    ("tar_corrupt", "cannot read checkpoint"),
    ("tar_wrong_net", f"{FILE} in "),
])
def test_a_bad_tarball_leaves_the_checkpoint_there_unchanged(downloads, bad, message):
    proc, dest, before = downloads[bad]
    line = one_error_line(proc.result())
    assert message in line and ".tlslim-tmp-" not in line  # names the tarball, not a vanished temporary
    assert snapshot(dest) == before  # byte for byte, and no temporaries left


def test_the_wrong_net_in_a_tarball_is_named_as_the_tarballs(files, downloads):
    proc, dest, _ = downloads["wrong_net_fresh"]
    line = one_error_line(proc.result())
    assert line.startswith(f"error: {FILE} in {files['tar_wrong_net']} is not a checkpoint of {NET}: ")
    assert "it looks like a cifarnet checkpoint" in line
    assert not dest.parent.exists()  # the directories made for it are gone again


def test_a_corrupt_checkpoint_file_is_refused_before_anything_is_copied(files, downloads):
    proc, dest, before = downloads["corrupt"]
    line = one_error_line(proc.result())
    assert "cannot read checkpoint" in line and files["corrupt"] in line
    assert snapshot(dest) == before


def test_a_good_tarball_replaces_the_checkpoint_once_verified(downloads):
    proc, dest, _ = downloads["tar_good_v1"]
    proc = proc.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{NET}: {dest / FILE} verified" in proc.stdout
    assert _seed_of(str(dest / FILE)) == 1
    assert sorted(snapshot(dest)) == sorted([FILE, "notes.txt", checkpoints.NOTE_NAME])  # no temporaries


def test_a_forced_download_swaps_a_two_file_checkpoint_only_when_the_new_one_verifies(files, tmp_path):
    """A V2 checkpoint is two files; a bad download leaves both, a good one replaces both."""
    dest = tmp_path / "dest"
    prefix = checkpoints.write_net_checkpoint(NET, str(dest / FILE), version=2, seed=0)
    before = snapshot(dest)
    with serve_directory(files["served"]) as base_url:
        already = run_script("download_checkpoint.py", NET, "--url", base_url + "corrupt/" + INFO.checkpoint_tarball,
                             "--dest", dest)
        bad = run_script("download_checkpoint.py", NET, "--url", base_url + "corrupt/" + INFO.checkpoint_tarball,
                         "--dest", dest, "--force")
        before_good = snapshot(dest)
        good = run_script("download_checkpoint.py", NET, "--url", base_url + "good_v2/" + INFO.checkpoint_tarball,
                          "--dest", dest, "--force", "--keep_tarball")
    assert already.returncode == 0 and "is already there; verifying it (use --force to download it again)" in \
        already.stdout, already.stderr[-3000:]
    line = one_error_line(bad)
    assert "cannot read checkpoint" in line and f"{FILE} in {base_url}corrupt/" in line
    assert before_good == before  # the download, the tarball and the .part are gone too
    assert good.returncode == 0, good.stderr[-3000:]
    assert _seed_of(prefix) == 2 and restore.resolve_checkpoint(prefix) == str(prefix)
    assert sorted(snapshot(dest)) == sorted([FILE + ".index", FILE + ".data-00000-of-00001", checkpoints.NOTE_NAME,
                                             INFO.checkpoint_tarball])


def _cifar_tarball(path, seed, damage=None):
    """A cifar-10-python.tar.gz-format tarball; `damage` truncates data_batch_3 to half."""
    staging = os.path.join(os.path.dirname(path), f"tree{seed}")
    batches, arrays = datasets.write_cifar10_batches(staging, per_batch=20, num_test=30, seed=seed)
    if damage:
        raw = open(os.path.join(batches, "data_batch_3"), "rb").read()
        open(os.path.join(batches, "data_batch_3"), "wb").write(raw[: len(raw) // 2])
    with tarfile.open(path, "w:gz") as tar:
        tar.add(batches, arcname=cifar10.BATCHES_DIR)
    return arrays


def test_a_bad_cifar10_tarball_leaves_the_dataset_there_unchanged(tmp_path):
    dest = tmp_path / "data"
    datasets.write_cifar10_batches(str(dest), per_batch=20, num_test=30, seed=0)
    (dest / "notes.txt").write_text("mine\n")
    before = snapshot(dest)
    _cifar_tarball(str(tmp_path / "bad.tar.gz"), seed=1, damage=True)
    line = one_error_line(run_script("download_cifar10.py", "--from", tmp_path / "bad.tar.gz", "--md5", "",
                                     "--dest", dest))
    assert line.startswith(f"error: cifar10: {tmp_path / 'bad.tar.gz'}:{cifar10.BATCHES_DIR}/data_batch_3 is "
                           f"corrupt or truncated")
    assert snapshot(dest) == before

    arrays = _cifar_tarball(str(tmp_path / "good.tar.gz"), seed=2)
    proc = run_script("download_cifar10.py", "--from", tmp_path / "good.tar.gz", "--md5", "", "--dest", dest)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "100 train and 30 test images" in proc.stdout
    np.testing.assert_array_equal(cifar10.load(str(dest), "test").images, arrays["test_images"])
    assert sorted(snapshot(dest)) == sorted(before)  # the same files, new bytes, no temporaries


def test_download_cifar10_takes_no_arguments(downloads):
    proc, cwd, _ = downloads["cifar_no_arguments"]
    assert one_error_line(proc.result()) == (
        "error: unexpected arguments data; all options are --flags (see --helpshort).")
    assert os.listdir(cwd) == []


# ---------------------------------------------------------------- tlslim.paths: the swap itself

def _tree(root, files):
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)


def test_install_puts_back_what_it_replaced_when_a_move_fails(tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    _tree(dest, {"a.ckpt.index": "old index", "sub/a.ckpt.data": "old data", "other": "mine"})
    before = snapshot(dest)
    with paths.staging_dir(dest) as tmp:
        _tree(tmp, {"a.ckpt.index": "new index", "sub/a.ckpt.data": "new data", "sub/new": "new"})
        real, calls = os.replace, []

        def replace(src, dst):
            calls.append(src)
            if src.startswith(tmp) and src.endswith("new"):  # the third file cannot be moved
                raise OSError(28, "No space left on device")
            return real(src, dst)
        monkeypatch.setattr(paths.os, "replace", replace)
        with pytest.raises(TlslimError, match=r"^could not move the new files into .*dest \(No space left on "
                                              r"device\); what was there is unchanged\.$"):
            paths.install(tmp, dest)
        monkeypatch.undo()
    assert len(calls) > 3  # two files were moved in, then taken back out
    assert snapshot(dest) == before  # and the staging and backup directories are gone


def test_install_checks_every_target_before_moving_anything(tmp_path):
    dest = tmp_path / "dest"
    _tree(dest, {"a": "old", "b/inside": "old"})
    before = snapshot(dest)
    with paths.staging_dir(dest) as tmp:
        _tree(tmp, {"a": "new", "b": "new"})  # b would replace a directory
        with pytest.raises(TlslimError, match=r"^cannot put b in .*dest: .*b is in the way \(a directory\); "
                                              r"move it away and run again\.$"):
            paths.install(tmp, dest)
    assert snapshot(dest) == before


def test_staging_dir_removes_what_it_made_when_the_block_fails(tmp_path):
    with pytest.raises(TlslimError):
        with paths.staging_dir(tmp_path / "new" / "dest") as tmp:
            _tree(tmp, {"half": "written"})
            raise TlslimError("verification failed")
    assert os.listdir(tmp_path) == []
    with paths.staging_dir(tmp_path / "new" / "dest") as tmp:
        _tree(tmp, {"f": "done"})
        paths.install(tmp, tmp_path / "new" / "dest")
    assert snapshot(tmp_path / "new") == {"dest": None, os.path.join("dest", "f"): b"done"}


def test_replacing_keeps_the_old_file_whole_until_the_new_one_is_written(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(ValueError):
        with paths.replacing(str(path)) as tmp, open(tmp, "w") as f:
            assert tmp.endswith(".json") and os.path.dirname(tmp) == str(tmp_path)
            f.write("half")
            raise ValueError("the writer failed")
    assert snapshot(tmp_path) == {"report.json": b"old"}
    with paths.replacing(str(path)) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert snapshot(tmp_path) == {"report.json": b"new"}
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as open() would have made it


# ---------------------------------------------------------------- output paths checked before any work

def _spots(directory):
    """A file, a directory and a directory this process cannot write in (a read-only one of ours;
    as root, who may write anywhere, /proc/sys) in `directory`; None when no directory here is
    read-only for this user."""
    (directory / "a_file").write_text("x")
    (directory / "a_dir.ckpt").mkdir()
    readonly = directory / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.access(readonly, os.W_OK):
        readonly = "/proc/sys"
        if not os.path.isdir(readonly) or os.access(readonly, os.W_OK):
            return None
    return {"file": str(directory / "a_file"), "dir": str(directory / "a_dir.ckpt"), "ro": str(readonly)}


def _is_a_file(flag, path, blocker, what):
    return f"error: {flag} {path} cannot be a directory: {blocker} is a file; pass a directory path for {what}."


def _is_a_dir(flag, path, what):
    return f"error: {flag} {path} is a directory; pass a file path for {what}."


def _not_writable(flag, path, where):
    return f"error: {flag} {path} is not writable ({where}); pass a directory you can write to."


CASES = {
    # script, its arguments, the error line ({file}, {dir}, {ro} filled in from `spots`)
    "checkpoint_dest_is_a_file": (
        ["download_checkpoint.py", NET, "--dest", "{file}", "--url", UNREACHABLE],
        _is_a_file("--dest", "{file}", "{file}", "the checkpoint")),
    "checkpoint_dest_under_a_file": (
        ["download_checkpoint.py", NET, "--dest", "{file}/sub", "--url", UNREACHABLE],
        _is_a_file("--dest", "{file}/sub", "{file}", "the checkpoint")),
    "cifar_dest_is_a_file": (
        ["download_cifar10.py", "--dest", "{file}", "--url", UNREACHABLE],
        _is_a_file("--dest", "{file}", "{file}", "the CIFAR-10 files")),
    "cifar_dest_not_writable": (
        ["download_cifar10.py", "--dest", "{ro}/data", "--url", UNREACHABLE],
        _not_writable("--dest", "{ro}/data", "{ro}")),
    "compare_output_dir_is_a_file": (
        ["compare.py", "--output_dir", "{file}"],
        _is_a_file("--output_dir", "{file}", "{file}", "the comparison files")),
    "compare_output_dir_not_writable": (
        ["compare.py", "--output_dir", "{ro}/compare"],
        _not_writable("--output_dir", "{ro}/compare", "{ro}")),
    "compare_work_dir_is_a_file": (
        ["compare.py", "--output_dir", "{dir}/out", "--work_dir", "{file}"],
        _is_a_file("--work_dir", "{file}", "{file}", "the comparison's runs")),
    "bench_output_is_a_dir": (
        ["bench.py", "--output", "{dir}"],
        _is_a_dir("--output", "{dir}", "the JSON report")),
    "bench_output_not_writable": (
        ["bench.py", "--output", "{ro}/bench.json"],
        _not_writable("--output", "{ro}/bench.json", "{ro}")),
    "bench_work_dir_is_a_file": (
        ["bench.py", "--output", "{dir}/b.json", "--work_dir", "{file}"],
        _is_a_file("--work_dir", "{file}", "{file}", "the benchmark's scratch files")),
    "pretrain_output_is_a_dir": (
        ["pretrain.py", "--output", "{dir}"],
        _is_a_dir("--output", "{dir}", "the checkpoint file")),
    "pretrain_output_under_a_file": (
        ["pretrain.py", "--output", "{file}/model.ckpt"],
        _is_a_file("--output", "{file}/model.ckpt", "{file}", "the checkpoint file")),
    "pretrain_train_dir_is_a_file": (
        ["pretrain.py", "--output", "{dir}/new/model.ckpt", "--train_dir", "{file}"],
        _is_a_file("--train_dir", "{file}", "{file}", "the training checkpoints")),
    "lab_output_dir_is_a_file": (
        ["lab.py", "activations", "--output_dir", "{file}"],
        _is_a_file("--output_dir", "{file}", "{file}", "the lab's figures")),
    "lab_json_is_a_dir": (
        ["lab.py", "activations", "--json", "{dir}"],
        _is_a_dir("--json", "{dir}", "the lab's numbers")),
    "convert_output_dir_is_a_file": (
        ["convert_dataset.py", "--dataset_name", "photos", "--dataset_dir", "{dir}", "--output_dir", "{file}"],
        _is_a_file("--output_dir", "{file}", "{file}", "the TFRecord files")),
    "lr_find_output_is_a_dir": (
        ["lr_find.py", "--output", "{dir}"],
        _is_a_dir("--output", "{dir}", "the plot")),
}


@pytest.fixture(scope="module")
def bad_outputs(tmp_path_factory):
    """Every CASES command, started together, each in a directory of its own holding its spots:
    case -> (Future of the CompletedProcess, the directory, its spots, a snapshot of it before)."""
    runs = {}
    for case, (args, _) in CASES.items():
        directory = tmp_path_factory.mktemp(case)
        spots = _spots(directory)
        if spots is None:
            runs[case] = (None, directory, None, None)
            continue
        before = snapshot(directory)
        runs[case] = (start(run_script, *[a.format(**spots) for a in args], cwd=directory), directory, spots, before)
    yield runs
    for _, directory, _, _ in runs.values():
        os.chmod(directory / "readonly", 0o755)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_output_path_is_one_line_before_any_work(case, bad_outputs):
    proc, directory, spots, before = bad_outputs[case]
    if proc is None:
        pytest.skip("no directory here is read-only for this user")
    assert one_error_line(proc.result()) == CASES[case][1].format(**spots)
    assert snapshot(directory) == before  # nothing made: no runs/, no output directory, no download


# ---------------------------------------------------------------- help and shared spellings

HELP_SPELLINGS = ["--help", "--helpshort", "--helpfull", "-?"]


@pytest.fixture(scope="module")
def helps(tmp_path_factory):
    """Every script with -h and evaluate.py with each help flag, started together, each in an empty
    directory of its own: (script, flag) -> (Future of the CompletedProcess, the directory)."""
    runs = {}
    for script, flag in [(script, "-h") for script in script_names()] + [("evaluate.py", s) for s in HELP_SPELLINGS]:
        cwd = tmp_path_factory.mktemp("help")
        runs[script, flag] = (start(run_script, script, flag, cwd=cwd), cwd)
    return runs


@pytest.mark.parametrize("script", script_names())
def test_dash_h_prints_the_scripts_help_and_exits_0(script, helps):
    proc, cwd = helps[script, "-h"]
    proc = proc.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.join("scripts", script) + ":" in proc.stdout  # its own flags, under its path
    assert os.listdir(cwd) == []


@pytest.mark.parametrize("spelling", HELP_SPELLINGS)
def test_every_help_flag_exits_0(spelling, helps):
    proc = helps["evaluate.py", spelling][0].result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--eval_examples: Evaluate the first N images only." in proc.stdout


def test_evaluate_takes_eval_examples_as_finetune_does_and_slims_num_examples(tmp_path):
    ckpt = checkpoints.write_net_checkpoint("cifarnet", str(tmp_path / "cifarnet.ckpt"))
    common = ["--checkpoint_path", ckpt, "--model", "cifarnet", "--dataset", "synthetic", "--device", "cpu"]
    runs = []
    for spelling in ("--eval_examples", "--num_examples"):
        (tmp_path / spelling).mkdir()
        runs.append(start(run_script, "evaluate.py", *common, spelling, 7, "--eval_batch_size", 4,
                          cwd=tmp_path / spelling))
    for run in runs:
        proc = run.result()
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.startswith("cifarnet on synthetic/test (7 images): top-1 "), proc.stdout
