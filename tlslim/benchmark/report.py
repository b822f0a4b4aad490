"""The benchmark's report: the compared ratios against their targets, as JSON and as text.

A report is a JSON-ready dict (see run.run): 'settings', 'machine', 'data', 'checkpoint',
'seconds', and per part that ran 'baseline', 'cached', 'keras', 'tlslim_full', 'matmul_peak';
`ratios(report)` derives what is compared, and `format_report` prints it.
"""
import json

import numpy as np

from tlslim import embedded, paths

# The targets the benchmark checks.
HEAD_EPOCH_SPEEDUP = 20       # cached head epoch against the baseline's, at most
HEAD_ACCURACY_POINTS = 1      # cached accuracy minus the baseline's, within +-
FULL_VS_KERAS = 1.0
FULL_VS_BASELINE = 1.3
PEAK_FRACTION = 0.5
REACHED_SLACK = 0.01          # "reaches the baseline's accuracy": within 1 point below it
HEAD_TOTAL_SPEEDUP = 3        # the whole cached run (extraction included) against the baseline's epochs


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def ratios(report):
    """The compared quantities and whether each meets the issue's target (None: not measured)."""
    out = {}
    base, cache = report.get("baseline"), report.get("cached")
    if base and cache and "head_top1" in base:
        cold = cache["cold"]
        base_epoch = float(np.mean(base["head_epoch_seconds"][1:] or base["head_epoch_seconds"]))
        out["head_epoch_speedup"] = _ratio(base_epoch, cold["epoch_seconds"])
        out["head_accuracy_points"] = 100 * (cold["top1"] - base["head_top1"])
        base_total = base["setup_seconds"] + sum(base["head_epoch_seconds"])
        # The whole cached run as a user waits for it (data, extraction, graph, training, evaluations).
        out["head_total_speedup"] = _ratio(base_total, cold["seconds"])
        reached = [h for h in cold["history"] if h["top1"] >= base["head_top1"] - REACHED_SLACK]
        out["head_time_to_accuracy_speedup"] = _ratio(base_total, reached[0]["seconds"]) if reached else None
        out["head_time_to_accuracy_speedup_warm_cache"] = next(
            (_ratio(base_total, h["seconds"]) for h in cache["warm"]["history"]
             if h["top1"] >= base["head_top1"] - REACHED_SLACK), None)
        out["head_target_met"] = bool(out["head_epoch_speedup"] >= HEAD_EPOCH_SPEEDUP
                                      and abs(out["head_accuracy_points"]) <= HEAD_ACCURACY_POINTS)
        notebook = base.get("notebook_dropout")
        if notebook:
            out["head_accuracy_points_vs_notebook_dropout"] = 100 * (cold["top1"] - notebook["head_top1"])
    full = report.get("tlslim_full")
    if full:
        keras = report.get("keras")
        if keras:
            # The Keras Applications model at Keras's default compile setting (or with XLA, if faster).
            best = max(keras[k]["images_per_second"] for k in ("applications", "applications_xla") if k in keras)
            out["full_vs_keras"] = _ratio(full["images_per_second"], best)
            out["full_vs_keras_target_met"] = out["full_vs_keras"] >= FULL_VS_KERAS
            out["full_vs_keras_same_graph"] = _ratio(full["images_per_second"],
                                                     keras["same_graph"]["images_per_second"])
        if base and "full_images_per_second" in base:
            out["full_vs_baseline"] = _ratio(full["images_per_second"], base["full_images_per_second"])
            out["full_vs_baseline_target_met"] = out["full_vs_baseline"] >= FULL_VS_BASELINE
        peak = report.get("matmul_peak")
        if peak:
            out["full_peak_fraction"] = _ratio(full["gflop_per_second"], peak["gflop_per_second"])
            out["full_peak_fraction_all_taps"] = _ratio(full["gflop_per_second_all_taps"], peak["gflop_per_second"])
            out["full_peak_target_met"] = out["full_peak_fraction"] >= PEAK_FRACTION
    precision = report.get("precision")
    if precision and "images_per_second" in precision["mixed_bfloat16"]:
        out["bfloat16_speedup"] = _ratio(precision["mixed_bfloat16"]["images_per_second"],
                                         precision["float32"]["images_per_second"])
    reps = report.get("replicas")
    if reps:
        out["replicas_2_vs_1"] = _ratio(reps["2"]["images_per_second"], reps["1"]["images_per_second"])
    return out


def _row(label, value, target, met):
    if value is None:
        return f"  {label:<52} not measured"
    flag = "" if met is None else ("  ok" if met else "  MISSED")
    return f"  {label:<52} {value:8.2f}  (target {target}){flag}"


def format_report(report):
    """The report as text: what ran on what, then one line per ratio with its target."""
    s, r = report["settings"], report["ratios"]
    d = report["data"]
    lines = [f"{d['train_images']} train / {d['test_images']} test images of {d['dataset']}"
             + (" (SYNTHETIC data)" if d["synthetic"] else "") + f", {s['image_size']}x{s['image_size']}, "
             f"batch {s['batch_size']}",
             f"  head-only parts: {s['head_model']}"
             + (" (embedded checkpoint: pretrained on the SYNTHETIC source task)" if s["head_model"] == embedded.MODEL
                and embedded.is_embedded(s["head_checkpoint"]) else ""),
             f"  full fine-tune parts: {s['model']}"
             + (" (SYNTHETIC checkpoint: random weights)" if report["checkpoint"]["synthetic"] else ""),
             f"load average {report['machine']['load_average_start'][0]:.1f} at the start, "
             f"{report['machine']['load_average_end'][0]:.1f} at the end, on {report['machine']['cpu_count']} cores"]
    if "head_epoch_speedup" in r:
        base, cold = report["baseline"], report["cached"]["cold"]
        lines.append(_row("head epoch after the first: baseline / cached", r["head_epoch_speedup"],
                          f">= {HEAD_EPOCH_SPEEDUP}x", r["head_epoch_speedup"] >= HEAD_EPOCH_SPEEDUP))
        lines.append(_row("head accuracy: cached - baseline (points)", r["head_accuracy_points"],
                          f"within +-{HEAD_ACCURACY_POINTS}", abs(r["head_accuracy_points"]) <= HEAD_ACCURACY_POINTS))
        lines.append(f"    top-1 after {s['epochs']} epochs: baseline {base['head_top1']:.4f}, "
                     f"cached {cold['top1']:.4f} (frozen base in inference mode in both)")
        lines.append(_row("same epochs, whole run: baseline / cached", r["head_total_speedup"],
                          f">= {HEAD_TOTAL_SPEEDUP}x", r["head_total_speedup"] >= HEAD_TOTAL_SPEEDUP))
        if "head_accuracy_points_vs_notebook_dropout" in r:
            lines.append(_row("  cached - notebook loop with dropout on in the base",
                              r["head_accuracy_points_vs_notebook_dropout"], "info", None))
        lines.append(_row("time to the baseline's accuracy: baseline / cached", r["head_time_to_accuracy_speedup"],
                          "info", None))
        lines.append(_row("  same, features already cached", r["head_time_to_accuracy_speedup_warm_cache"],
                          "info", None))
    if "full_vs_keras" in r:
        lines.append(_row("full fine-tune images/s: tlslim / Keras Applications fit", r["full_vs_keras"],
                          f">= {FULL_VS_KERAS}x", r["full_vs_keras_target_met"]))
        lines.append(_row("  tlslim / Keras with tlslim's conv top (same FLOPs)", r["full_vs_keras_same_graph"],
                          "info", None))
    if "full_vs_baseline" in r:
        lines.append(_row("full fine-tune images/s: tlslim / baseline loop", r["full_vs_baseline"],
                          f">= {FULL_VS_BASELINE}x", r["full_vs_baseline_target_met"]))
    if "full_peak_fraction" in r:
        lines.append(_row("full fine-tune GFLOP/s / matmul peak", r["full_peak_fraction"], f">= {PEAK_FRACTION}",
                          r["full_peak_target_met"]))
        lines.append(_row("  same, counting every tap (padding too)", r["full_peak_fraction_all_taps"], "info", None))
    if "precision" in report:
        if "bfloat16_speedup" in r:
            lines.append(_row(f"full fine-tune images/s: mixed_bfloat16 / float32 ({s['model']})",
                              r["bfloat16_speedup"], "info", None))
        else:
            lines.append(f"  mixed_bfloat16 not measured: {report['precision']['mixed_bfloat16']['refused']}")
    if "replicas_2_vs_1" in r:
        lines.append(_row(f"full fine-tune images/s: 2 replicas / 1 ({s['model']}, CPU devices)", r["replicas_2_vs_1"],
                          "info", None))
        lines.append("    the replicas share the machine's cores: on a CPU this is their overhead, not a speed-up")
    return "\n".join(lines)


def write_json(report, path):
    """Write the report as indented JSON at `path` (directories made; a report already there is
    replaced only by a complete one); returns `path`."""
    with paths.replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    return path
