"""Run real ``bansou`` processes (serve, worker, one-shot commands) on loopback, and kill them.

Every process runs in its own session with its own working directory (so no stray ``.env`` is
read), gets an explicit environment, and writes its log to a file the test can show on failure.
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

ROOT = Path(__file__).resolve().parents[2]
BANSOU = str(Path(sys.executable).with_name("bansou"))
# Inherited variables that would change what a child process does.
_DROP = ("DATABASE_URL", "LINE_", "SLACK_", "PORT", "CONTENT_DIR", "DEFAULT_", "WEB_", "REMINDER_", "MESSAGE_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**values: str) -> dict[str, str]:
    """The parent's environment without bansou settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env.setdefault("CONTENT_DIR", str(ROOT / "content"))
    env.setdefault("LOG_LEVEL", "WARNING")
    env.update({k: str(v) for k, v in values.items()})
    return env


class BansouProcess:
    """One ``bansou ARGS...`` child process."""

    def __init__(self, args: list[str], *, env: dict[str, str], workdir: Path, name: str = "bansou"):
        self.args = args
        self.env = env
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def spawn(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n==== start #{self.starts}: bansou {' '.join(self.args)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen([BANSOU, *self.args], env=self.env, cwd=self.workdir, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, exactly like a crash or an OOM kill."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class ServerProcess(BansouProcess):
    """``bansou serve --no-scheduler`` on a free loopback port; ``start()`` waits for /healthz."""

    def __init__(self, *, env: dict[str, str], workdir: Path, port: int | None = None, scheduler: bool = False,
                 name: str = "serve"):
        self.port = port or free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if not scheduler:
            args.append("--no-scheduler")
        super().__init__(args, env=env, workdir=workdir, name=name)
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> None:
        self.spawn()
        await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"bansou serve exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    r = await client.get(self.url + "/healthz")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        self.kill()
        raise TimeoutError(f"bansou serve did not become healthy in {timeout}s:\n{self.log_tail()}")

    async def restart(self, timeout: float = 60.0) -> None:
        """Start again on the same port after a kill or stop."""
        await self.start(timeout)


async def run_bansou(args: list[str], *, env: dict[str, str], workdir: Path,
                     timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a one-shot ``bansou`` command to completion."""
    proc = await asyncio.create_subprocess_exec(BANSOU, *args, env=env, cwd=str(workdir),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
