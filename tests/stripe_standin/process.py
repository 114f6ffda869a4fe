"""localstripe as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class LocalStripeError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalStripeProcess:
    """``python -m localstripe --port N --from-scratch``, started and stopped by us."""

    def __init__(self) -> None:
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="localstripe-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        text = self._log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def start(self, timeout: float = 30.0, attempts: int = 3) -> None:
        """Start it and wait until it answers; raise LocalStripeError with its log if not."""
        for _ in range(attempts):  # another process may take the port between probe and bind
            self.port = free_port()
            with self._log.open("wb") as log:
                self._proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "localstripe",
                        "--port",
                        str(self.port),
                        "--from-scratch",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break  # died: try another port, or report
                if self._answers():
                    return
                time.sleep(0.1)
            else:
                self.stop()
                raise LocalStripeError(
                    f"localstripe did not answer on {self.url} within {timeout}s.\n"
                    f"Its output:\n{self.log_tail()}"
                )
        raise LocalStripeError(
            f"localstripe exited with code {self._proc.returncode} on start "
            f"(tried {attempts} ports). Is it installed (pip install -e '.[test]')?\n"
            f"Its output:\n{self.log_tail()}"
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/js.stripe.com/v3/", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self._log.unlink(missing_ok=True)
