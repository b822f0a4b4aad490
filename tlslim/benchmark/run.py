"""The whole benchmark in one call: `run(settings, output=None) -> report` (see tlslim.benchmark)."""
import dataclasses
import os
import platform
import shutil
import tempfile
import time

import numpy as np
from absl import logging

from tlslim import checkpoint_files, data, nets, paths, restore, train
from tlslim.benchmark.flops import training_gflops
from tlslim.benchmark.keras_models import keras_applications_model, keras_fit, keras_same_graph_model
from tlslim.benchmark.notebook import baseline_full, baseline_head, preprocessed
from tlslim.benchmark.report import ratios, write_json
from tlslim.benchmark.settings import resolve
from tlslim.benchmark.timing import matmul_peak
from tlslim.benchmark.tlslim_parts import cached, precisions, replicas, tlslim_full
from tlslim.compat import graph_mode, tf
from tlslim.device import choose_device, replica_devices
from tlslim.errors import TlslimError


def run(settings, output=None):
    """Run the parts of `settings` (a Settings, resolved here) and return the report, a
    JSON-ready dict (see tlslim.benchmark.report), also written to `output` when given.

    With the keras part, call this before anything builds a graph in the process: Keras 3 needs
    eager execution, so it runs first with eager execution on, then the process switches to
    graph mode for the rest (as it is afterwards in any case).
    """
    s = resolve(settings)
    # Bad output paths stop here, not after minutes of measurements.
    if output:
        output = paths.check_output_file(output, "--output", "the JSON report")
    if s.work_dir:
        s = dataclasses.replace(s, work_dir=paths.check_output_dir(s.work_dir, "--work_dir",
                                                                    "the benchmark's scratch files"))
    parts = set(s.parts)
    if "replicas" in parts:
        replica_devices(2, on_cpu=True)  # the CPU split in two before anything starts TF's devices
    if "keras" in parts:
        tf.enable_eager_execution()
    work_dir = s.work_dir or tempfile.mkdtemp(prefix="tlslim_bench_")
    os.makedirs(work_dir, exist_ok=True)
    report = {"settings": s.as_dict(), "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                                   "tensorflow": tf.__version__, "load_average_start": os.getloadavg()}}
    started = time.time()
    try:
        # Data and checkpoint.
        train_set = data.load(s.dataset, s.dataset_dir, split="train", train_subset=s.train_subset, seed=s.seed)
        test_set = train.first_examples(data.load(s.dataset, s.dataset_dir, split="test"), s.test_examples)
        num_classes = train_set.num_classes
        B = s.batch_size
        steps_per_epoch = len(train_set) // B
        if steps_per_epoch < 1:
            raise TlslimError(f"{len(train_set)} training images is less than one batch of {B}; raise --train_subset.")
        report["data"] = {"dataset": s.dataset, "synthetic": s.dataset.startswith("synthetic"),
                          "train_images": len(train_set), "test_images": len(test_set), "num_classes": num_classes}
        if not parts & {"full", "keras", "precision", "replicas"} and s.head_model != s.model:
            ckpt = None  # no part runs s.model
        elif s.synthetic_checkpoint:
            logging.info("writing a SYNTHETIC %s checkpoint (release format, random values)", s.model)
            ckpt = os.path.join(work_dir, "synthetic", f"{s.model}.ckpt")
            checkpoint_files.write_net_checkpoint(s.model, ckpt, seed=s.seed)
        else:
            ckpt = restore.resolve_checkpoint(s.checkpoint_path)
        head_ckpt = ckpt if s.head_model == s.model else restore.resolve_checkpoint(s.head_checkpoint)
        report["checkpoint"] = {"path": ckpt, "synthetic": s.synthetic_checkpoint, "head_path": head_ckpt}

        def preprocess(model, dataset):
            style = nets.get_info(model).preprocessing
            return preprocessed(dataset, s.image_size, style, train.style_stats(style, train_set))

        if "head" in parts:
            x_train, x_test = preprocess(s.head_model, train_set), preprocess(s.head_model, test_set)
        n_full = max(B, min(s.full_images, len(train_set)) // B * B)
        x_full = preprocess(s.model, train_set.subset(np.arange(n_full) % len(train_set)))
        y_full = train_set.labels[np.arange(n_full) % len(train_set)]

        # Keras runs eagerly: before the process switches to graph mode.
        if "keras" in parts:
            report["keras"] = {"applications": keras_fit(s, keras_applications_model, num_classes, x_full, y_full),
                               "same_graph": keras_fit(s, keras_same_graph_model, num_classes, x_full, y_full)}
            if s.keras_xla:
                report["keras"]["applications_xla"] = keras_fit(s, keras_applications_model, num_classes, x_full,
                                                                y_full, jit_compile=True)
        graph_mode()

        peaks = []
        if "peak" in parts:
            peaks.append(matmul_peak(s.matmul_size, choose_device(s.device)))
        if "head" in parts:
            head_data = (num_classes, x_train, train_set.labels, x_test, test_set.labels)
            report["baseline"] = baseline_head(s, head_ckpt, *head_data, train_mode=False)
            report["baseline"]["notebook_dropout"] = baseline_head(s, head_ckpt, *head_data, train_mode=True)
            report["cached"] = cached(s, head_ckpt, work_dir, steps_per_epoch)
        if "full" in parts:
            report.setdefault("baseline", {}).update(baseline_full(s, ckpt, num_classes, x_full, y_full))
            report["tlslim_full"] = tlslim_full(s, ckpt, train_set, test_set, n_full // B)
            report["tlslim_full"].update(training_gflops(s.model, num_classes, s.image_size,
                                                         report["tlslim_full"]["images_per_second"]))
        if "precision" in parts:
            report["precision"] = precisions(s, ckpt, train_set, test_set, n_full // B)
        if "replicas" in parts:
            report["replicas"] = replicas(s, ckpt, train_set, test_set, n_full // B)
        if "peak" in parts:
            peaks.append(matmul_peak(s.matmul_size, choose_device(s.device)))
            report["matmul_peak"] = {"n": s.matmul_size, "gflop_per_second_runs": peaks,
                                     "gflop_per_second": max(peaks)}
    finally:
        if not s.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    report["machine"]["load_average_end"] = os.getloadavg()
    report["seconds"] = time.time() - started
    report["ratios"] = ratios(report)
    if output:
        write_json(report, output)
    return report
