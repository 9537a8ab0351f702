"""Real ``bansou`` processes for tests and benchmarks: start on 127.0.0.1, wait for /healthz, crash
them on purpose, always clean up.

* ``Proc`` is one long-running child (``bansou worker``, ...); ``Server`` is ``bansou serve`` on a
  loopback port that stays the same across restarts (``restart()`` after ``kill()``).
* ``kill()`` is SIGKILL to the child's whole process group: no shutdown hooks, no flush, exactly
  like a crash or an OOM kill. ``stop()`` is SIGTERM, then SIGKILL after a grace period.
* ``ProcessGroup`` is a context manager; whatever happens in the test, leaving it stops every child
  it started (each child runs in its own session, so its process group goes too).

Each child gets an explicit environment (no inherited bansou settings) and a working directory of
its own (so no stray ``.env`` is read); its output goes to a log file (a header line per start)
that assertion messages can show.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BANSOU = str(Path(sys.executable).with_name("bansou"))
_INHERITED_SETTINGS = ("DATABASE_URL", "LINE_", "SLACK_", "PORT", "CONTENT_DIR", "DEFAULT_", "WEB_",
                       "REMINDER_", "MESSAGE_", "LOG_LEVEL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**values: str) -> dict[str, str]:
    """The parent's environment minus every bansou setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_SETTINGS)}
    env["CONTENT_DIR"] = str(ROOT / "content")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in values.items()})
    return env


def run_bansou(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 60,
               stdin: str | None = None) -> subprocess.CompletedProcess:
    """A one-shot ``bansou ARGS`` (CLI commands); text output captured."""
    return subprocess.run([BANSOU, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


async def run_bansou_async(args: list[str], *, env: dict[str, str], cwd: Path,
                           timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``run_bansou`` without blocking the event loop."""
    proc = await asyncio.create_subprocess_exec(BANSOU, *args, env=env, cwd=str(cwd),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


class Proc:
    """One long-running ``bansou ARGS`` child."""

    def __init__(self, args: list[str], *, env: dict[str, str], workdir: Path, name: str):
        self.args, self.env, self.name = args, env, name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Proc":
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start #{self.starts}: bansou {' '.join(self.args)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen([BANSOU, *self.args], env=self.env, cwd=self.workdir, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for exit; returns the exit code (raises subprocess.TimeoutExpired)."""
        assert self.popen is not None
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the child's process group: a crash (no shutdown hooks, nothing flushed)."""
        if self.popen is None:
            return
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(10)

    def stop(self, *, grace: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL the whole process group after ``grace`` seconds; the exit code."""
        if self.popen is None:
            return None
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            self.kill()
        return self.popen.returncode

    def rss_mb(self) -> float:
        """The child's resident memory, in MiB."""
        import psutil

        return psutil.Process(self.pid).memory_info().rss / 2**20

    def cpu_seconds(self) -> float:
        """CPU the child has used so far (user + system, all threads)."""
        import psutil

        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


class Server(Proc):
    """``bansou serve`` on a loopback port (free unless given; the same one across restarts)."""

    def __init__(self, *, env: dict[str, str], workdir: Path, name: str = "serve", scheduler: bool = False,
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if not scheduler:
            args.append("--no-scheduler")
        super().__init__(args, env=env, workdir=workdir, name=name)

    async def wait_ready(self, *, timeout: float = 60.0, status: int = 200) -> None:
        """Poll GET /healthz until it answers ``status``; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if not self.alive():
                    raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()}")
                try:
                    r = await client.get(self.url + "/healthz")
                    if r.status_code == status:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log()}")
                await asyncio.sleep(0.1)

    async def start_ready(self, *, timeout: float = 60.0) -> "Server":
        """Start and wait until /healthz answers 200 (a child that never gets there is killed)."""
        self.start()
        try:
            await self.wait_ready(timeout=timeout)
        except BaseException:
            self.kill()
            raise
        return self

    async def restart(self, *, timeout: float = 60.0) -> "Server":
        """Start again on the same port after ``kill()`` or ``stop()``."""
        assert not self.alive(), f"{self.name} is still running"
        return await self.start_ready(timeout=timeout)


class ProcessGroup:
    """Starts children and guarantees they are gone when the block ends."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.procs: list[Proc] = []

    def server(self, *, env: dict[str, str], name: str, scheduler: bool = False, start: bool = True) -> Server:
        proc = Server(env=env, workdir=self.workdir / name, name=name, scheduler=scheduler)
        self.procs.append(proc)
        if start:
            proc.start()
        return proc

    def worker(self, *, env: dict[str, str], name: str, start: bool = True) -> Proc:
        proc = Proc(["worker"], env=env, workdir=self.workdir / name, name=name)
        self.procs.append(proc)
        if start:
            proc.start()
        return proc

    def logs(self) -> str:
        return "\n".join(f"---- {p.name}\n{p.log()}" for p in self.procs)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.alive():
                p.signal(signal.SIGTERM)
        for p in self.procs:
            p.stop(grace=15.0)

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
