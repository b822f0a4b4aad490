"""Running a graph over a finite input, and telling the user how far it got.

    progress = Progress("extracting synthetic/train", total=5000)
    logits, labels = run_to_end(sess, [logits_t, labels_t], lambda r: progress.update(len(r[1])))
"""
import time

import numpy as np
from absl import logging

from tlslim.compat import tf

PROGRESS_SECONDS = 10.0  # at most one progress line per this many seconds (plus one per 10%)


def format_duration(seconds):
    """3725 -> '1:02:05'."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Log lines 'what: done/total images (p%), r images/s, ETA' every 10% or PROGRESS_SECONDS."""

    def __init__(self, what, total):
        self.what, self.total, self.done = what, total, 0
        self.start = self.last = time.time()
        self.next_fraction = 0.1

    def update(self, n):
        self.done += n
        now = time.time()
        fraction = self.done / max(self.total, 1)
        if self.done < self.total and fraction < self.next_fraction and now - self.last < PROGRESS_SECONDS:
            return
        while self.next_fraction <= fraction:
            self.next_fraction += 0.1
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        logging.info("%s: %d/%d images (%d%%), %.1f images/s, ETA %s", self.what, self.done, self.total,
                     int(100 * fraction), rate, format_duration(eta))


def run_to_end(sess, fetches, on_batch=None):
    """sess.run(fetches) until the input iterator is exhausted -> each fetch's results concatenated
    over the batches (numpy arrays; None for all if there was no batch). on_batch(results) is
    called after each batch (progress)."""
    batches = []
    while True:
        try:
            batches.append(sess.run(fetches))
        except tf.errors.OutOfRangeError:
            break
        if on_batch:
            on_batch(batches[-1])
    return [np.concatenate(parts) for parts in zip(*batches)] if batches else [None] * len(fetches)
