"""Fits side by side on Ray: ``run.py ... --parallel N|auto`` makes the folds of a run Ray tasks (``compare.py
... --parallel`` its recipes), each declaring what it takes: CPU threads, one GPU when the recipe trains on GPUs
and there are some, and memory when asked. On one machine a local Ray is started for the run and shut down after
it; ``--ray-address`` (or ``RAY_ADDRESS``) runs them on a cluster that is already up.

What a task computes is the sequential loop's own code (``shared.runner``), given the same inputs; only the
threads it has differ, and those are fixed by ``--threads`` for both ways of running. LightGBM
(``deterministic``) and the linear models give the same floats at any thread count; torch on CPU does not, so a
parallel image run equals a sequential one with the same ``--threads``. A task writes into the run directory
itself (its ``fold<k>/``): on a cluster the repository, the data and ``--out`` must be at the same path on every
node (a shared filesystem). Every log line a task writes reaches the driver's log named by its task
("fold 2: ..."); a task that fails stops the others and the run, with its error in one line.

Nothing here runs without ``--parallel`` or an address: Ray is imported inside the functions that need it."""
from __future__ import annotations

import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from shared import distributed
from shared.errors import UserError
from shared.log import LOGGER, get_log
from shared.models import available_cores
from shared.runs import REPO_ROOT

# `auto` puts fits side by side only when each gets at least this many cores: on 2 cores a Ray worker per fold
# costs more (Ray's start, each worker's imports: seconds) than a fold loses by sharing the cores with another.
MIN_AUTO_THREADS = 2
DEFAULT_PORTS = {"": 6379, "ray://": 10001}  # Ray's GCS port, and its client server's
# Variables the workers get from this process (a local Ray's workers would anyway, a cluster's would not).
FORWARDED_ENV = ("OMP_WAIT_POLICY", "TORCH_HOME", "HF_HOME", "HF_HUB_OFFLINE")


@dataclass(frozen=True)
class Settings:
    """How a run's fits are spread: ``at_once`` side by side (a number, ``"auto"``, or None: one after another in
    this process, as always), ``threads`` CPU threads each (None: the cores, shared evenly by the fits side by
    side), ``memory_gb`` declared to Ray for each, and the ``address`` of a Ray cluster (None: a local Ray)."""

    at_once: int | str | None = None
    threads: int | None = None
    memory_gb: float | None = None
    address: str | None = None

    @property
    def uses_ray(self) -> bool:
        return self.at_once is not None or self.address is not None


@dataclass(frozen=True)
class Plan:
    """How the fits of one run go: ``at_once`` at a time with ``threads`` CPU threads and ``gpus`` GPUs each,
    ``memory`` bytes declared each; as Ray tasks (``ray``) or one after another in this process. ``about`` is the
    log line that says so."""

    at_once: int = 1
    threads: int = 1
    gpus: int = 0
    memory: int | None = None
    ray: bool = False
    where: str = ""  # "local Ray" or the cluster's address
    about: str = ""

    def record(self) -> dict:
        """What metrics.json says of it (how the run ran, beside its wall time; it changes no result)."""
        return {"at_once": self.at_once, "threads": self.threads, "gpus": self.gpus, "ray": self.where}


def settings(parallel: Settings | int | str | None = None, ray_address: str | None = None) -> Settings:
    """The checked settings of ``--parallel`` (a number, ``auto``, or Settings) and ``--ray-address``, before
    anything is done: ``RAY_ADDRESS`` is the address when none is given and folds go side by side; an address
    alone means ``auto``; a cluster that cannot be reached, and torchrun (whose processes train one fold together),
    are one-line errors."""
    s = parallel if isinstance(parallel, Settings) else Settings(at_once=parallel)
    if ray_address is not None:
        s = replace(s, address=ray_address)
    at_once = s.at_once.strip().lower() if isinstance(s.at_once, str) else s.at_once
    if at_once is not None and at_once != "auto" and (isinstance(at_once, bool) or not isinstance(at_once, int)
                                                      or at_once < 1):
        raise UserError(f"--parallel {s.at_once!r}: give the number of folds to run at a time (1 or more) or auto.")
    if s.threads is not None and (isinstance(s.threads, bool) or not isinstance(s.threads, int) or s.threads < 1):
        raise UserError(f"--threads {s.threads!r}: give the CPU threads per fold, a whole number from 1.")
    if s.memory_gb is not None and not (isinstance(s.memory_gb, (int, float)) and 0 < s.memory_gb < math.inf):
        raise UserError(f"--memory {s.memory_gb!r}: give the gigabytes each fold declares, a positive number.")
    address = (s.address or "").strip() or None
    if address is None and at_once is not None:
        address = os.environ.get("RAY_ADDRESS", "").strip() or None
    if address is not None and address.lower() == "local":
        address = None
    s = replace(s, at_once="auto" if at_once is None and address else at_once, address=address)
    if s.uses_ray and distributed.world_size() > 1:
        raise UserError("--parallel runs folds side by side on Ray; under torchrun its processes train one fold "
                        "together (DDP): use one or the other.")
    if s.address is not None:
        _reachable(s.address)
    return s


def _reachable(address: str) -> None:
    """A quick TCP check of a cluster's address (Ray itself retries for minutes): one line if nobody answers."""
    if address.lower() == "auto":  # a cluster started on this machine; ray.init says at once if there is none
        return
    scheme = "ray://" if address.startswith("ray://") else ""
    target = address[len(scheme):]
    host, colon, port = target.rpartition(":")
    if not colon:
        host, port = target, str(DEFAULT_PORTS[scheme])
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address!r}: expected HOST:PORT (the head node's, e.g. 10.0.0.5:6379), "
                        "ray://HOST:10001 (Ray Client) or auto.")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}): start one with `ray start "
                        "--head` on its head node, or check --ray-address / RAY_ADDRESS.") from None


# ------------------------------------------------------------------------------------------- planning
_STARTED = False  # whether this process started (or connected to) the Ray it uses, and so shuts it down


def plan(s: Settings, fits: int, wants_gpu: bool, what: str = "folds") -> Plan:
    """How ``fits`` fits (folds, or compare's recipes: ``what``) run under ``s``. Without --parallel, or when only
    one would run at a time on this machine, in this process as always (no Ray); otherwise Ray is started here
    (or the cluster joined) and the plan names what each task takes."""
    cores = available_cores()
    if not s.uses_ray or fits == 0:
        return Plan(threads=s.threads or cores)
    if s.address is None:
        gpus = _local_gpus() if wants_gpu else 0
        machine = f"{cores} cores" + (f", {gpus} GPU{'s' if gpus > 1 else ''}" if gpus else "")
        at_once, why = _how_many(s.at_once, fits, gpus, cores, what, machine)
        threads = s.threads or max(1, cores // at_once)
        if at_once == 1:
            return Plan(threads=threads, about=f"{why}: one at a time, in this process")
        _start_local(max(cores, at_once * threads), gpus)
        where, node_cpus = "local Ray", max(cores, at_once * threads)
        memory = _largest_memory(_ray()) if s.memory_gb is not None else 0
    else:
        ray = _connect(s.address)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        total = ray.cluster_resources()
        gpus = int(total.get("GPU", 0)) if wants_gpu else 0
        cpus = int(total.get("CPU", 0))
        at_once, why = _how_many(s.at_once, fits, gpus, max(cpus, 1), what,
                                 f"{len(nodes)} node(s), {cpus} CPUs, {int(total.get('GPU', 0))} GPUs")
        node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in nodes), default=0)
        threads = s.threads or max(1, min(node_cpus, cpus // at_once))
        where, memory = s.address, _largest_memory(ray)
    per = f"{threads} CPU thread{'s' if threads > 1 else ''}" + (", one GPU" if gpus else "")
    fold_memory = None if s.memory_gb is None else int(s.memory_gb * 2**30)
    if threads > node_cpus:
        raise UserError(f"--threads {threads}: no node of the Ray cluster has {threads} CPUs (the largest has "
                        f"{node_cpus}); pass fewer.")
    if fold_memory is not None and memory and fold_memory > memory:  # Ray would wait for such a node forever
        raise UserError(f"--memory {s.memory_gb:g}: no Ray node has {s.memory_gb:g} GB for a task (the largest "
                        f"offers {memory / 2**30:.1f}); pass less.")
    about = f"{why}: {at_once} {what if at_once > 1 else what[:-1]} at a time on {where}, {per} each"
    if fold_memory is not None:
        about += f", {s.memory_gb:g} GB declared"
    if s.address is None and at_once * threads > cores:
        about += f" ({at_once} x {threads} threads on {cores} cores: the {what} share them)"
    return Plan(at_once, threads, 1 if gpus else 0, fold_memory, True, where, about)


def _how_many(asked: int | str, fits: int, gpus: int, cpus: int, what: str, machine: str) -> tuple[int, str]:
    """(fits at a time, the reason in words): ``auto`` takes one GPU per fit where the recipe trains on GPUs and
    there are some, else one fit per MIN_AUTO_THREADS cores; a number is capped by the fits to run and the GPUs."""
    one = what[:-1]
    if asked == "auto":
        if gpus:
            return max(1, min(fits, gpus)), f"--parallel auto ({machine}: one GPU per {one})"
        n = max(1, min(fits, cpus // MIN_AUTO_THREADS))
        if n == 1 and fits > 1:
            return 1, (f"--parallel auto ({machine}, no GPU to use; {what} go side by side from "
                       f"{2 * MIN_AUTO_THREADS} cores or 2 GPUs)")
        return n, f"--parallel auto ({machine}, no GPU to use)"
    n = min(asked, fits)
    why = f"--parallel {asked}" + (f" ({fits} {one if fits == 1 else what} to run)" if asked > fits else "")
    if gpus and n > gpus:
        n, why = gpus, f"--parallel {asked} ({gpus} GPU{'s' if gpus > 1 else ''}: one per {one})"
    return n, why


def _largest_memory(ray) -> float:
    """The most memory (bytes) that one node of the running Ray offers to tasks."""
    return max((n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=0)


def _local_gpus() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--parallel runs on Ray, which is not installed here: pip install ray (its pin is in "
                        "requirements.txt), or run without --parallel.") from None
    return ray


def _runtime_env() -> dict:
    """What every worker needs: the project importable (the repository root on PYTHONPATH, never an upload of a
    working directory, which would ship the data), plots without a display, and this process's thread policy."""
    paths = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "MPLBACKEND": "Agg"}
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    return {"env_vars": env}


def _start_local(cpus: int, gpus: int) -> None:
    global _STARTED
    ray = _ray()
    if ray.is_initialized():  # e.g. a notebook's own: used as it is, and left running
        return
    try:
        ray.init(address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, runtime_env=_runtime_env())
    except Exception as exc:  # e.g. no room in /tmp for its session files
        raise UserError(f"cannot start a local Ray for --parallel ({_first_line(exc)}); run without --parallel.") \
            from None
    _STARTED = True


def _connect(address: str):
    global _STARTED
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, runtime_env=_runtime_env())
        except ConnectionError:
            if address.lower() != "auto":
                raise UserError(f"cannot join the Ray cluster at {address}: nothing answers as its head there; check "
                                "--ray-address / RAY_ADDRESS.") from None
            raise UserError("--ray-address auto: no Ray cluster runs on this machine; start one with `ray start "
                            "--head`, or give the head node's HOST:PORT.") from None
        except Exception as exc:  # a version mismatch, ...
            raise UserError(f"cannot join the Ray cluster at {address} ({_first_line(exc)}): check --ray-address / "
                            "RAY_ADDRESS, and that the cluster runs the same Ray and Python as here.") from None
        _STARTED = True
    return ray


def shutdown() -> None:
    """Stop the local Ray this process started, or leave the cluster it joined (a no-op otherwise)."""
    global _STARTED
    if _STARTED:
        _STARTED = False
        import ray

        ray.shutdown()


# ---------------------------------------------------------------------------------------------- tasks
def run_tasks(plan: Plan, calls: list[tuple[str, Callable, tuple]], common: tuple = (),
              visible: tuple[Path, ...] = ()) -> Iterator[tuple[str, object]]:
    """Run ``fn(*common, *args)`` for each ``(label, fn, args)`` of ``calls`` as Ray tasks, ``plan.at_once`` at a
    time (in the order given), each declaring the plan's threads, GPUs and memory; yield ``(label, result)`` as
    each finishes. ``common`` goes into Ray's object store once. Every log line a task writes reaches this
    process's log prefixed by its label; a task that fails cancels the rest and raises its error, named by its
    label (a UserError stays one line). ``visible``: paths every worker must see (the data, the run folder)."""
    ray = _ray()
    log = get_log()
    lines = ray.remote(_Lines).options(num_cpus=0).remote()
    shared = [ray.put(value) for value in common]
    setup = _Setup(os.getcwd(), tuple(sys.argv), plan.threads, tuple(str(Path(p).resolve()) for p in visible))
    options = {"num_cpus": plan.threads, "num_gpus": plan.gpus, "max_retries": 0}
    if plan.memory:
        options["memory"] = plan.memory
    if plan.gpus:
        options["max_calls"] = 1  # a fresh process per GPU fit: the card's memory is given back between fits
    task = ray.remote(_task).options(**options)
    waiting, running = list(calls), {}
    try:
        while waiting or running:
            while waiting and len(running) < plan.at_once:
                label, fn, args = waiting.pop(0)
                running[task.remote(fn, label, setup, lines, args, *shared)] = label
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
            _forward(ray, lines, log)
            for ref in done:
                label = running.pop(ref)
                yield label, _result(ray, ref, label)
    finally:
        for ref in running:  # a failure, or this process interrupted: the others stop (their checkpoints stay)
            ray.cancel(ref, force=True)
        try:
            _forward(ray, lines, log)
            ray.kill(lines)
        except Exception:  # Ray going down with an interrupt: the lines are in the workers' Ray logs
            pass


def _result(ray, ref, label: str):
    """A task's return value; its failure as this process's error, named by the task."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            raise UserError(f"{label}: {cause}") from None
        if isinstance(cause, ModuleNotFoundError) and (cause.name or "").split(".")[0] in ("shared", "competitions"):
            raise UserError(f"{label}: a Ray worker cannot import the project ({cause}): on a cluster every node "
                            f"needs the repository at {REPO_ROOT}, as here.") from None
        raise exc.as_instanceof_cause() from None  # a bug: its traceback, from the worker
    except ray.exceptions.RayError as exc:  # the worker died: out of memory, its node lost, ...
        raise UserError(f"{label}: its Ray worker died ({type(exc).__name__}: {_first_line(exc)}); if it ran out of "
                        "memory, run fewer at a time (--parallel N) or declare what each needs (--memory GB). "
                        "Finished folds are kept for --resume.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _forward(ray, lines, log: logging.Logger) -> None:
    for level, label, text in ray.get(lines.take.remote()):
        for line in text.splitlines() or [""]:
            log.log(level, f"{label}: {line}")


class _Lines:
    """A Ray actor holding the log lines the tasks send, until the driver takes them."""

    def __init__(self):
        self.lines = []

    def put(self, level: int, label: str, text: str) -> None:
        self.lines.append((level, label, text))

    def take(self) -> list:
        out, self.lines = self.lines, []
        return out


class _Send(logging.Handler):
    """In a worker: each record of the project's log (and each Python warning) to the driver, synchronously, so
    that a task's last lines arrive before its result."""

    def __init__(self, lines, label: str):
        super().__init__(logging.INFO)
        self.lines, self.label = lines, label
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        import ray

        try:
            ray.get(self.lines.put.remote(record.levelno, self.label, self.format(record)))
        except Exception:  # the driver is gone: nothing to tell
            pass


@dataclass(frozen=True)
class _Setup:
    """What a task's worker takes from the driver: its working directory (relative paths), its command line
    (config.yaml records it), the threads of the task, and the paths it must see."""

    cwd: str
    argv: tuple[str, ...]
    threads: int
    visible: tuple[str, ...]

    def enter(self) -> None:
        for path in (self.cwd, *self.visible):
            if not os.path.exists(path):
                raise UserError(f"the Ray worker on {socket.gethostname()} cannot see {path}: on a cluster the "
                                "repository, the data and the run folder (--out) must be on a filesystem that "
                                "every node mounts at the same path.")
        os.chdir(self.cwd)
        sys.argv = list(self.argv)


def _task(fn: Callable, label: str, setup: _Setup, lines, args: tuple, *common):
    """A Ray task: ``fn(*common, *args)`` in the driver's working directory, its log lines sent to the driver
    named by ``label``, the BLAS threads held to the task's (LightGBM and torch take theirs from the model
    context)."""
    from threadpoolctl import threadpool_limits

    setup.enter()
    log, warned = logging.getLogger(LOGGER), logging.getLogger("py.warnings")
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in (log, warned)]
    send = _Send(lines, label)
    for logger in (log, warned):
        logger.handlers, logger.propagate = [send], False
        logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with threadpool_limits(limits=setup.threads, user_api="blas"):
            return fn(*common, *args)
    finally:
        for handler in log.handlers:
            if isinstance(handler, logging.FileHandler):  # a run's log.txt that the call opened
                handler.close()
        for logger, handlers, level, propagate in saved:
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate
