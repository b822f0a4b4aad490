"""Training across machines: TensorFlow's distributed runtime with parameter servers, the route
slim's train_image_classifier took (tf.distribute.Server, tf.train.replica_device_setter).

A cluster is named by TF_CONFIG, TensorFlow's standard contract,

    {"cluster": {"worker": ["host:port", ...], "ps": ["host:port", ...]}, "task": {"type": "worker", "index": 1}}

(a "chief" job of one address may be listed apart from the workers), or by flags:
--worker_hosts, --ps_hosts, --job_name and --task; slim's --worker_replicas and --num_ps_tasks
are checked against either. Every process runs the same command with its own task:

- parameter servers (job ps) hold the variables and serve them until the chief releases them;
- workers each train on their own order of the data and apply their gradients to the shared
  variables as they go (asynchronous updates, slim's default); one global step counts every
  worker's steps, so it may pass max_steps by the steps other workers had under way;
- the chief (TF_CONFIG's chief, else worker 0) alone initializes or restores the variables (the
  release checkpoint, or its train_dir to resume), writes the train_dir (checkpoints, summaries,
  the run record) and evaluates. At max_steps it waits for the other workers, saves the last
  checkpoint, evaluates, and releases the parameter servers.

A worker that dies can be started again with its command: it rejoins the variables on the
parameter servers. A chief started again rejoins them too if the parameter servers still hold
an initialized run, else it resumes from its train_dir's last checkpoint.

Parsing (`parse_hosts`, `resolve`) is pure Python; the rest builds or runs TensorFlow.
"""
import dataclasses
import json
import os
import socket
import time
from typing import Dict, Tuple

from absl import logging

from tlslim.compat import tf
from tlslim.errors import TlslimError

TF_CONFIG = "TF_CONFIG"
JOBS = ("chief", "worker", "ps")
POLL_SECONDS = 0.5
_QUEUE_CAPACITY = 100_000
_WORKERS_DONE = "tlslim_workers_done"  # shared queue on ps 0: one token per worker that finished
_RELEASE_PS = "tlslim_release_ps"      # a queue on each parameter server: the chief's token ends it


def parse_hosts(value, flag):
    """'h1:p1, h2:p2' or a list -> ('h1:p1', 'h2:p2'); TlslimError naming `flag` for an address that is
    not host:port or that appears twice."""
    items = value.split(",") if isinstance(value, str) else list(value)
    hosts = []
    for item in items:
        address = str(item).strip()
        if not address:
            continue
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise TlslimError(f"{flag} has '{address}', which is not host:port; write each address as host:port, "
                              f"e.g. 127.0.0.1:2222.")
        if address in hosts:
            raise TlslimError(f"{flag} names {address} twice; every task needs its own address.")
        hosts.append(address)
    return tuple(hosts)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A cluster and this process's place in it."""
    jobs: Dict[str, Tuple[str, ...]]  # {'chief'?, 'worker'?, 'ps': addresses}
    job: str                          # this process's job
    index: int                        # and its index in that job
    source: str                       # 'TF_CONFIG' or 'flags'

    @property
    def workers(self):
        """[(job, index)] of the tasks that train, the chief first."""
        return [(job, i) for job in ("chief", "worker") for i in range(len(self.jobs.get(job, ())))]

    @property
    def ps(self):
        return self.jobs["ps"]

    @property
    def chief(self):
        return self.workers[0]

    @property
    def is_chief(self):
        return (self.job, self.index) == self.chief

    @property
    def rank(self):
        """This worker's place among the workers (0: the chief)."""
        return self.workers.index((self.job, self.index))

    @property
    def device(self):
        return f"/job:{self.job}/task:{self.index}"

    def address(self, job=None, index=None):
        return self.jobs[job or self.job][self.index if index is None else index]

    @staticmethod
    def name(job, index):
        return "the chief" if job == "chief" else f"{job} {index}"

    def describe(self):
        """'worker 1 at h:p; 2 workers (chief: worker 0 at h:p), 1 parameter server (h:p); from flags'."""
        n, k = len(self.workers), len(self.ps)
        chief = "this one" if self.is_chief else f"{self.name(*self.chief)} at {self.address(*self.chief)}"
        return (f"{self.name(self.job, self.index)} at {self.address()}; {n} worker{'s' if n > 1 else ''} (chief: "
                f"{chief}), {k} parameter server{'s' if k > 1 else ''} ({', '.join(self.ps)}); from {self.source}")


def resolve(config, environ=None):
    """The Cluster of a checked TrainConfig and the environment (TF_CONFIG), or None for a run on one
    machine; a one-line TlslimError for a cluster that is inconsistent or incomplete."""
    environ = os.environ if environ is None else environ
    text = (environ.get(TF_CONFIG) or "").strip()
    if text and (config.worker_hosts or config.ps_hosts):
        raise TlslimError("the cluster is named twice, by TF_CONFIG and by --worker_hosts/--ps_hosts; use one of "
                          "them (unset TF_CONFIG, or drop the flags).")
    if text:
        cluster = _from_tf_config(text)
    elif config.worker_hosts or config.ps_hosts:
        cluster = _from_flags(config)
    else:
        if config.job_name != "worker" or config.task or (config.worker_replicas or 1) > 1 or config.num_ps_tasks:
            raise TlslimError("--job_name, --task, --worker_replicas and --num_ps_tasks place this process in a "
                              "cluster, but none is named; pass --worker_hosts and --ps_hosts (host:port lists), or "
                              "set TF_CONFIG.")
        return None
    for flag, count, what in (("worker_replicas", len(cluster.workers), "workers"),
                              ("num_ps_tasks", len(cluster.ps), "parameter servers")):
        value = getattr(config, flag)
        if value is not None and value != count:
            raise TlslimError(f"--{flag} {value} disagrees with the cluster, which has {count} {what} (from "
                              f"{cluster.source}); drop --{flag} or make it {count}.")
    if config.num_clones > 1:
        raise TlslimError("--num_clones (replicas inside one process) does not combine with a cluster; run one "
                          "worker per device, or drop the cluster.")
    return cluster


def _check_distinct(jobs, source):
    seen = {}
    for job, addresses in jobs.items():
        for i, address in enumerate(addresses):
            if address in seen:
                raise TlslimError(f"{source} gives {address} to both {seen[address]} and {Cluster.name(job, i)}; "
                                  f"every task needs its own address.")
            seen[address] = Cluster.name(job, i)


def _from_flags(config):
    jobs = {"worker": config.worker_hosts or (), "ps": config.ps_hosts or ()}
    if not jobs["worker"]:
        raise TlslimError("--ps_hosts names parameter servers but --worker_hosts is empty; pass every worker's "
                          "host:port, the chief first.")
    if not jobs["ps"]:
        raise TlslimError("a cluster needs a parameter server to hold the variables; pass --ps_hosts host:port "
                          "and start that process with --job_name ps.")
    _check_distinct(jobs, "--worker_hosts/--ps_hosts")
    hosts = "--ps_hosts" if config.job_name == "ps" else "--worker_hosts"
    count = len(jobs[config.job_name])
    if not 0 <= config.task < count:
        raise TlslimError(f"--task {config.task} is not a task of --job_name {config.job_name}: {hosts} has {count} "
                          f"address{'es' if count > 1 else ''} (tasks 0 to {count - 1}).")
    return Cluster(jobs, config.job_name, config.task, "flags")


def _from_tf_config(text):
    fix = "fix TF_CONFIG (see the README's 'Training across machines')"
    try:
        spec = json.loads(text)
    except ValueError as err:
        raise TlslimError(f"TF_CONFIG is not valid JSON ({err}); {fix}.") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("cluster"), dict) or not isinstance(spec.get("task"),
                                                                                                 dict):
        raise TlslimError(f"TF_CONFIG needs a 'cluster' object and a 'task' object; {fix}.")
    unknown = sorted(set(spec["cluster"]) - set(JOBS))
    if unknown:
        raise TlslimError(f"TF_CONFIG's cluster has the job {unknown[0]}, but parameter-server training has only "
                          f"chief, worker and ps; {fix}.")
    jobs = {job: parse_hosts(spec["cluster"][job], f"TF_CONFIG's cluster.{job}") for job in JOBS
            if job in spec["cluster"]}
    if len(jobs.get("chief", ())) > 1:
        raise TlslimError(f"TF_CONFIG's cluster has {len(jobs['chief'])} chiefs; there is one; {fix}.")
    if not jobs.get("ps"):
        raise TlslimError(f"TF_CONFIG's cluster has no ps job: a parameter server holds the variables; {fix}.")
    if not jobs.get("chief") and not jobs.get("worker"):
        raise TlslimError(f"TF_CONFIG's cluster has no chief or worker job, so nothing trains; {fix}.")
    _check_distinct(jobs, "TF_CONFIG")
    job, index = spec["task"].get("type"), spec["task"].get("index", 0)
    if job not in jobs:
        raise TlslimError(f"TF_CONFIG's task type is {job!r}, not one of its cluster's jobs "
                          f"({', '.join(jobs)}); {fix}.")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(jobs[job]):
        raise TlslimError(f"TF_CONFIG's task index {index!r} is not one of job {job}'s tasks (0 to "
                          f"{len(jobs[job]) - 1}); {fix}.")
    return Cluster(jobs, job, index, "TF_CONFIG")


def _first_line(err):
    text = (err.message if isinstance(err, tf.errors.OpError) else str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


def start_server(cluster, config=None):
    """This process's tf.distribute.Server; TlslimError naming its address when it cannot start."""
    try:
        return tf.distribute.Server(tf.train.ClusterSpec(cluster.jobs), job_name=cluster.job,
                                    task_index=cluster.index, config=config, start=True)
    except (tf.errors.OpError, ValueError, RuntimeError) as err:
        raise TlslimError(f"could not start {cluster.name(cluster.job, cluster.index)}'s server at "
                          f"{cluster.address()} ({_first_line(err)}); if another process holds that port, stop it "
                          f"or give this task another address.") from None


def wait_reachable(cluster, tasks, timeout):
    """Wait until every (job, index) in `tasks` accepts connections; TlslimError naming the first
    address still unreachable after `timeout` seconds."""
    deadline = time.time() + timeout
    for job, index in tasks:
        address = cluster.address(job, index)
        host, _, port = address.rpartition(":")
        waiting = False
        while True:
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=max(1.0, min(5.0, timeout))):
                    break
            except OSError as err:
                if time.time() >= deadline:
                    flag = "TF_CONFIG" if cluster.source == "TF_CONFIG" else ("--ps_hosts" if job == "ps" else
                                                                              "--worker_hosts")
                    raise TlslimError(f"cannot reach {cluster.name(job, index)} at {address} after {timeout:g} s "
                                      f"({err.strerror or err}); start it (the same command with its own task), or "
                                      f"fix the address in {flag}; --cluster_timeout sets the wait.") from None
                if not waiting:
                    logging.info("waiting for %s at %s", cluster.name(job, index), address)
                    waiting = True
                time.sleep(POLL_SECONDS)


def device_setter(cluster):
    """Variables round-robin on the parameter servers, every other op on this worker."""
    return tf.train.replica_device_setter(ps_tasks=len(cluster.ps), ps_device="/job:ps",
                                          worker_device=cluster.device, cluster=tf.train.ClusterSpec(cluster.jobs))


def worker_session_config(config, cluster):
    """`config` (a ConfigProto) seeing only the parameter servers and this worker, so a worker does
    not wait for the others to start."""
    config.device_filters.extend(["/job:ps", cluster.device])
    return config


def _queue(name, device):
    with tf.device(device):
        return tf.FIFOQueue(_QUEUE_CAPACITY, [tf.int32], shapes=[[]], shared_name=name, name=name)


@dataclasses.dataclass
class ClusterOps:
    """The ops a worker's graph has to join and leave the cluster (see build_ops)."""
    ready: object          # set by the chief once the variables hold their initial values
    ready_init: object
    mark_ready: object
    uninitialized: object  # names of the shared variables not yet initialized
    worker_done: object    # this worker's token
    workers_done: object   # how many tokens
    release_ps: object     # the chief's token to every parameter server


def build_ops(cluster):
    """ClusterOps in the default graph, after every variable of the model exists (under
    `device_setter`, so the ready flag lives on a parameter server)."""
    with tf.name_scope("cluster"):
        # Not a global variable: checkpoints neither hold nor restore it.
        ready = tf.Variable(False, trainable=False, name="ready", collections=[tf.GraphKeys.LOCAL_VARIABLES])
        uninitialized = tf.report_uninitialized_variables(tf.global_variables() + [ready])
        done = _queue(_WORKERS_DONE, "/job:ps/task:0")
        release = [_queue(f"{_RELEASE_PS}_{i}", f"/job:ps/task:{i}").enqueue(0) for i in range(len(cluster.ps))]
        return ClusterOps(ready, ready.initializer, tf.assign(ready, True), uninitialized,
                          done.enqueue(cluster.rank), done.size(), tf.group(*release))


def _live(sess, ops):
    return len(sess.run(ops.uninitialized)) == 0 and bool(sess.run(ops.ready))


def chief_start(sess, ops, initialize):
    """The chief's start: rejoin the variables the parameter servers hold for this run (True), or
    run `initialize(sess)` and mark them ready for the other workers (False)."""
    if _live(sess, ops):
        return True
    sess.run(ops.ready_init)
    initialize(sess)
    sess.run(ops.mark_ready)
    return False


def wait_for_chief(sess, ops, cluster, timeout):
    """A worker's start: wait until the chief has initialized the shared variables."""
    deadline, waiting = time.time() + timeout, False
    while not _live(sess, ops):
        if time.time() >= deadline:
            chief = cluster.chief
            raise TlslimError(f"{cluster.name(*chief)} at {cluster.address(*chief)} has not initialized the variables "
                              f"after {timeout:g} s; start it (the same command with its own task), or raise "
                              f"--cluster_timeout.")
        if not waiting:
            logging.info("waiting for %s to initialize the variables", cluster.name(*cluster.chief))
            waiting = True
        time.sleep(POLL_SECONDS)


def wait_for_workers(sess, ops, cluster, timeout):
    """The chief at the end: wait until every other worker has finished (a token each), so the last
    checkpoint holds all their steps; after `timeout` seconds, go on with a warning."""
    others, deadline = len(cluster.workers) - 1, time.time() + timeout
    while True:
        done = int(sess.run(ops.workers_done))
        if done >= others:
            return
        if time.time() >= deadline:
            logging.warning("%d of the %d other workers have not finished after %g s; saving without waiting for "
                            "them", others - done, others, timeout)
            return
        time.sleep(POLL_SECONDS)


def serve(cluster, config=None):
    """A parameter server's life: serve the variables until the chief releases this task."""
    server = start_server(cluster, config)
    logging.info("%s: serving until the chief finishes (Ctrl-C stops it)", cluster.describe())
    with tf.Graph().as_default():
        pending = _queue(f"{_RELEASE_PS}_{cluster.index}", cluster.device).size()
        session_config = tf.ConfigProto(device_filters=[cluster.device])
        with tf.Session(server.target, config=session_config) as sess:
            # Polled rather than a blocking dequeue, so Ctrl-C stops a parameter server.
            while not sess.run(pending):
                time.sleep(POLL_SECONDS)
    logging.info("%s: the chief released it; stopping", cluster.name(cluster.job, cluster.index))
