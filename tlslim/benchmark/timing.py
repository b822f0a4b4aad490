"""Wall-clock timing, and the machine's practical float32 peak (a large matmul)."""
import time

from tlslim.compat import tf
from tlslim.device import session_config


def time_call(fn, repeat=1):
    """Seconds that `repeat` calls of fn take."""
    tic = time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - tic


def best_time(fn, rounds):
    """The fastest of `rounds` timed calls of fn: this machine's timings swing by a third from
    one second to the next, and the minimum is the least disturbed."""
    return min(time_call(fn) for _ in range(rounds))


def matmul_peak(n, device, seconds=3.0):
    """GFLOP/s of an n x n float32 matmul in a graph session on `device` (the best of runs
    repeated for at least `seconds` and at least 3 times, after a warm-up run)."""
    with tf.Graph().as_default():
        with tf.device(device):
            a = tf.Variable(tf.random.uniform([n, n], seed=1))
            b = tf.Variable(tf.random.uniform([n, n], seed=2))
            # A reduction of the product: grappler prunes a product that is only a control input.
            op = tf.reduce_sum(tf.matmul(a, b))
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(op)
            best, spent, runs = float("inf"), 0.0, 0
            while spent < seconds or runs < 3:
                t = time_call(lambda: sess.run(op))
                best, spent, runs = min(best, t), spent + t, runs + 1
    return 2.0 * n ** 3 / best / 1e9
