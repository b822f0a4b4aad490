"""Training across machines (tlslim.train.cluster): the cluster as flags or TF_CONFIG resolved
into one Cluster, and real clusters of processes on 127.0.0.1 (a parameter server and two
workers) running scripts/finetune.py as a user would: the embedded task to --max_steps, a worker
killed and started again, the chief killed and started again, an unreachable parameter server."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tlslim import train
from tlslim.errors import TlslimError
from tlslim.train import cluster

from _subprocess_runs import run, start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(ROOT, "scripts", "finetune.py")
EVALUATE = os.path.join(ROOT, "scripts", "evaluate.py")


def resolve(environ=None, **flags):
    return cluster.resolve(train.TrainConfig(**flags), environ or {})


def tf_config(cluster_jobs, task_type, index):
    return {"TF_CONFIG": json.dumps({"cluster": cluster_jobs, "task": {"type": task_type, "index": index}})}


def test_no_cluster_is_a_one_machine_run():
    assert resolve() is None
    assert resolve(worker_replicas=1, num_ps_tasks=0) is None  # slim's defaults


def test_cluster_from_flags():
    c = resolve(worker_hosts="127.0.0.1:2001, 127.0.0.1:2002", ps_hosts=["127.0.0.1:2000"], task=1,
                worker_replicas=2, num_ps_tasks=1)
    assert c.jobs == {"worker": ("127.0.0.1:2001", "127.0.0.1:2002"), "ps": ("127.0.0.1:2000",)}
    assert (c.job, c.index, c.rank, c.is_chief, c.device) == ("worker", 1, 1, False, "/job:worker/task:1")
    assert c.workers == [("worker", 0), ("worker", 1)] and c.chief == ("worker", 0)
    ps = resolve(worker_hosts="a:1", ps_hosts="b:2,c:3", job_name="ps", task=1)
    assert (ps.job, ps.index, ps.address()) == ("ps", 1, "c:3")


def test_cluster_from_tf_config_with_a_chief():
    jobs = {"chief": ["h:1"], "worker": ["h:2", "h:3"], "ps": ["h:4"]}
    c = resolve(tf_config(jobs, "worker", 0))
    assert c.source == "TF_CONFIG" and c.workers == [("chief", 0), ("worker", 0), ("worker", 1)]
    assert (c.is_chief, c.rank, c.address()) == (False, 1, "h:2")
    assert resolve(tf_config(jobs, "chief", 0)).is_chief
    # Without a chief job, worker 0 is the chief.
    assert resolve(tf_config({"worker": ["h:2", "h:3"], "ps": ["h:4"]}, "worker", 0)).is_chief


@pytest.mark.parametrize("flags, environ, message", [
    (dict(task=1), None, "--job_name, --task, --worker_replicas and --num_ps_tasks place this process in a cluster, "
                         "but none is named"),
    (dict(worker_replicas=2), None, "but none is named"),
    (dict(worker_hosts="h:1,h:2"), None, "a cluster needs a parameter server to hold the variables; pass --ps_hosts"),
    (dict(ps_hosts="h:1"), None, "--ps_hosts names parameter servers but --worker_hosts is empty"),
    (dict(worker_hosts="h:1,h:2", ps_hosts="h:3", task=2), None,
     "--task 2 is not a task of --job_name worker: --worker_hosts has 2 addresses (tasks 0 to 1)."),
    (dict(worker_hosts="h:1", ps_hosts="h:1"), None, "gives h:1 to both worker 0 and ps 0"),
    (dict(worker_hosts="h:1,h:2", ps_hosts="h:3", worker_replicas=3), None,
     "--worker_replicas 3 disagrees with the cluster, which has 2 workers (from flags)"),
    (dict(worker_hosts="h:1,h:2", ps_hosts="h:3", num_ps_tasks=2), None, "--num_ps_tasks 2 disagrees"),
    (dict(worker_hosts="h:1", ps_hosts="h:3", num_clones=2), None, "--num_clones (replicas inside one process)"),
    (dict(worker_hosts="h:1"), {"TF_CONFIG": "{}"}, "the cluster is named twice"),
    ({}, {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid JSON"),
    ({}, tf_config({"worker": ["h:1"], "ps": ["h:2"], "evaluator": ["h:3"]}, "worker", 0),
     "TF_CONFIG's cluster has the job evaluator"),
    ({}, tf_config({"worker": ["h:1"]}, "worker", 0), "TF_CONFIG's cluster has no ps job"),
    ({}, tf_config({"worker": ["h:1"], "ps": ["h:2"]}, "worker", 1), "TF_CONFIG's task index 1 is not one of job"),
    ({}, tf_config({"worker": ["h:1"], "ps": ["h:2"]}, "chief", 0), "TF_CONFIG's task type is 'chief'"),
    ({}, tf_config({"worker": ["h1"], "ps": ["h:2"]}, "worker", 0), "TF_CONFIG's cluster.worker has 'h1', which is "
                                                                    "not host:port"),
])
def test_bad_clusters_are_one_line_errors(flags, environ, message):
    with pytest.raises(TlslimError) as err:
        resolve(environ, **flags)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_host_lists_fail_when_the_config_is_made():
    with pytest.raises(TlslimError, match="--worker_hosts names h:1 twice"):
        train.TrainConfig(worker_hosts="h:1,h:1")
    with pytest.raises(TlslimError, match="--ps_hosts has 'h:99999', which is not host:port"):
        train.TrainConfig(ps_hosts="h:99999")


def free_ports(n):
    """n ports free on 127.0.0.1 now (bound, read, released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Processes:
    """Processes of one cluster, each logging to its own file; all killed at the end."""

    def __init__(self, work):
        self.work, self.procs = work, {}

    def start(self, name, args, env=None):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        env = dict({k: v for k, v in os.environ.items() if k != "TF_CONFIG"}, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
        self.procs[name] = subprocess.Popen([sys.executable, FINETUNE] + args, cwd=self.work, stdout=log,
                                            stderr=subprocess.STDOUT, env=env)
        log.close()
        return self.procs[name]

    def log(self, name):
        with open(os.path.join(self.work, f"{name}.log")) as f:
            return f.read()

    def wait_for(self, name, text, timeout=240):
        deadline = time.time() + timeout
        while text not in self.log(name):
            assert self.procs[name].poll() is None, self.log(name)[-3000:]
            assert time.time() < deadline, f"{name} never logged {text!r}:\n{self.log(name)[-3000:]}"
            time.sleep(0.2)

    def finish(self, name, timeout=300):
        rc = self.procs[name].wait(timeout=timeout)
        assert rc == 0, self.log(name)[-3000:]
        return self.log(name)

    def kill_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()


@pytest.fixture
def processes(tmp_path):
    procs = Processes(str(tmp_path))
    yield procs
    procs.kill_all()


# The embedded task (CifarNet's new head on the synthetic target), long enough to kill a process
# in the middle; each worker logs every step so a test can see it train.
TASK = ["--max_steps", "600", "--batch_size", "8", "--log_every_steps", "1", "--save_every_steps", "500",
        "--eval_examples", "200", "--cluster_timeout", "120"]


def final_step(log):
    return int(re.search(r"^step (\d+): test top-1 ", log, re.M).group(1))


def test_worker_killed_and_restarted_rejoins(processes, tmp_path):
    """Flags (slim's spellings): the run reaches --max_steps with the restarted worker's steps in it,
    the chief alone writes the train_dir, and its checkpoint evaluates."""
    ps, w0, w1 = (f"127.0.0.1:{p}" for p in free_ports(3))
    hosts = ["--ps_hosts", ps, "--worker_hosts", f"{w0},{w1}", "--worker_replicas", "2", "--num_ps_tasks", "1"]
    chief_dir, other_dir = str(tmp_path / "run"), str(tmp_path / "other")
    processes.start("ps", hosts + TASK + ["--job_name", "ps"])
    processes.start("chief", hosts + TASK + ["--task", "0", "--train_dir", chief_dir])
    processes.start("worker", hosts + TASK + ["--task", "1", "--train_dir", other_dir])
    processes.wait_for("worker", "joined the run at step")
    processes.wait_for("worker", "step ", timeout=60)
    processes.procs["worker"].kill()
    processes.procs["worker"].wait()
    restarted = processes.start("worker2", hosts + TASK + ["--task", "1", "--train_dir", other_dir])
    worker_log = processes.finish("worker2")
    assert "joined the run at step" in worker_log and restarted.returncode == 0
    assert re.search(r"^worker 1: stopped at step (\d+); the chief saves and evaluates the run$", worker_log, re.M)
    step = final_step(processes.finish("chief"))
    assert step >= 600  # asynchronous: another worker's step under way may pass max_steps
    assert "ps 0: the chief released it; the run is over" in processes.finish("ps")
    assert not os.path.exists(other_dir)  # only the chief writes
    record = train.read_run_record(chief_dir)
    assert (record["workers"], record["parameter_servers"], record["replicas"]) == (2, 1, 1)
    assert os.path.exists(os.path.join(chief_dir, f"model.ckpt-{step}.index"))
    proc = subprocess.run([sys.executable, EVALUATE, "--checkpoint_path", chief_dir], capture_output=True,
                          text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"top-1 0\.\d+", proc.stdout), proc.stdout


def test_chief_killed_and_restarted_rejoins_from_tf_config(processes, tmp_path):
    """TF_CONFIG with a chief job: the restarted chief takes the variables the parameter server
    holds (no step lost to its older checkpoint) and finishes the run."""
    ps, chief, worker = (f"127.0.0.1:{p}" for p in free_ports(3))
    jobs = {"chief": [chief], "worker": [worker], "ps": [ps]}
    run = ["--train_dir", str(tmp_path / "run")] + TASK
    processes.start("ps", run, tf_config(jobs, "ps", 0))
    processes.start("worker", run, tf_config(jobs, "worker", 0))
    processes.start("chief", run, tf_config(jobs, "chief", 0))
    processes.wait_for("worker", "joined the run at step")
    processes.wait_for("chief", "step 2", timeout=60)
    processes.procs["chief"].kill()
    processes.procs["chief"].wait()
    processes.start("chief2", run, tf_config(jobs, "chief", 0))
    chief_log = processes.finish("chief2")
    rejoined = int(re.search(r"rejoining the run the parameter servers hold, at step (\d+)", chief_log).group(1))
    assert rejoined > 0
    assert final_step(chief_log) >= 600
    assert "worker 0: stopped at step" in processes.finish("worker")
    processes.finish("ps")
    record = train.read_run_record(str(tmp_path / "run"))
    assert (record["workers"], record["parameter_servers"]) == (2, 1)


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """The two commands refused before any work, started together: name -> (Future of the
    CompletedProcess, its working directory, the parameter server port it names)."""
    ps, w0 = free_ports(2)
    unreachable = tmp_path_factory.mktemp("unreachable")
    bad_flag = tmp_path_factory.mktemp("bad_flag")
    return {
        "unreachable": (start(run, [FINETUNE, "--ps_hosts", f"127.0.0.1:{ps}", "--worker_hosts", f"127.0.0.1:{w0}",
                                    "--cluster_timeout", "1", "--train_dir", unreachable / "run"], cwd=unreachable,
                              timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")), unreachable, ps),
        "bad_flag": (start(run, [FINETUNE, "--ps_hosts", "127.0.0.1:1", "--worker_hosts", "127.0.0.1:2", "--task", "3"],
                           cwd=bad_flag, timeout=300), bad_flag, None),
    }


def test_unreachable_parameter_server_is_one_line(refused):
    proc, tmp_path, ps = refused["unreachable"]
    proc = proc.result()
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot reach ps 0 at 127.0.0.1:{ps} after 1 s (Connection refused); start it (the same "
                      f"command with its own task), or fix the address in --ps_hosts; --cluster_timeout sets the "
                      f"wait."]
    assert not os.path.exists(tmp_path / "run")


def test_bad_cluster_flag_is_one_line_before_work(refused):
    proc, tmp_path, _ = refused["bad_flag"]
    proc = proc.result()
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --task 3 is not a task of --job_name worker: --worker_hosts has 1 address (tasks 0 to 0).")
    assert os.listdir(tmp_path) == []
