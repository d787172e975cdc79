"""`carteiro` commands as child processes, the way a user starts them, for end-to-end tests."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

CARTEIRO = [sys.executable, "-m", "carteiro"]
STOP_TIMEOUT = 30.0


class CarteiroProcess:
    """A `carteiro` child whose stdout is read on a thread (never blocking it) and whose
    stderr goes to a file, so a failing test can show both."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = " ".join(args)
        self.stderr_path = cwd / f"{args[0]}-{time.monotonic_ns()}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [*CARTEIRO, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return f"--- {self.name}: stdout ---\n{''.join(self.stdout)}--- stderr ---\n{self.stderr()}"

    def wait_for_line(self, prefix: str, timeout: float = 60.0) -> str:
        """The first stdout line starting with `prefix`; fails with the output otherwise."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(f"no line starting {prefix!r}\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM, then the exit code once it stopped on its own; a child still running after
        STOP_TIMEOUT is killed and the test fails, as a hung shutdown is a bug."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    raise AssertionError(
                        f"still running {STOP_TIMEOUT} s after SIGTERM\n{self.output()}"
                    ) from None
            return self.proc.returncode
        finally:
            self._stderr.close()

    def close(self) -> None:
        """Kills the child if it is still running (cleanup after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()
