"""The search API's shared test home and a real server over it.

:func:`build_api_home` ingests the five episodes and runs them through the command-line tool
(real subprocesses, tiny CLIP checkpoint; one ``run`` of the five, which then builds the metadata
database once):

- ``bunny``: "Big Buck Bunny", a 30 s video with cuts;
- ``counter``: "Counter", a 3 s synthetic video without cuts;
- ``goldeneye``: "Goldeneye Excerpt", a 10 s film excerpt (variable frame rate) with two cuts;
- ``podcast``: "Assembled Podcast", 90 s of audio (transcript, chapters, preview);
- ``hidden``: "Hidden Title", a video under ``analysis-only`` (analysis allowed, search indexing
  forbidden): it must never appear in any response.

:class:`ApiServer` starts ``media-platform serve`` on a free 127.0.0.1 port as a subprocess with
that environment, waits for ``/healthz`` and stops it by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cli_harness import cli, make_cli_env

EPISODES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "bunny": ("video/blender_bbb/big_buck_bunny_0_30.webm", "Big Buck Bunny", ()),
    "counter": ("video/pyscenedetect/counter.mp4", "Counter", ()),
    "goldeneye": ("video/pyscenedetect/goldeneye-vfr-drop3.mp4", "Goldeneye Excerpt", ()),
    "podcast": ("podcast/podcast_assembled.mp3", "Assembled Podcast", ()),
    "hidden": ("video/pyscenedetect/issue-134-rotate.mp4", "Hidden Title", ("--licence", "analysis-only")),
}
TITLES = {name: title for name, (_, title, _) in EPISODES.items()}
HIDDEN = "hidden"


@dataclass
class ApiHome:
    """A storage root with the five episodes built: ``env`` for subprocesses, ``keys`` maps
    the names above to partition keys."""

    root: Path
    env: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["MEDIA_PLATFORM_HOME"])

    @property
    def metadata_db(self) -> Path:
        return self.home.resolve() / "metadata" / "metadata.duckdb"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(self.env, *args)

    def show(self, name: str, asset: str) -> list[dict[str, Any]]:
        result = cli(self.env, "show", self.keys[name], asset, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def build_api_home(root: Path, shared_media: Path) -> ApiHome:
    """Ingest and run the five episodes under ``root`` (metadata database included)."""
    home = ApiHome(root=root, env=make_cli_env(root))
    for name, (relative, title, extra) in EPISODES.items():
        ingest = cli(home.env, "ingest", str(shared_media / relative), "--title", title, *extra, "--json")
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        home.keys[name] = json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"]
    run = cli(home.env, "run", *(home.keys[name] for name in EPISODES), timeout=1200)  # one metadata build at the end
    assert run.returncode == 0, run.stdout + run.stderr
    assert home.metadata_db.is_file(), "the CLI run did not build the metadata database"
    return home


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """``media-platform serve`` on a free 127.0.0.1 port, as a subprocess (context manager).

    ``client`` is an :class:`httpx.Client` on its base URL (with the token, when one is set)."""

    def __init__(self, env: dict[str, str], *, token: str | None = None, extra_env: dict[str, str] | None = None,
                 startup_timeout_s: float = 90.0) -> None:
        self.env = dict(env)
        if token is not None:
            self.env["MEDIA_PLATFORM_API_TOKEN"] = token
        self.env.update(extra_env or {})
        self.token = token
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None
        self._log: Path | None = None

    def __enter__(self) -> ApiServer:
        import tempfile

        fd, log = tempfile.mkstemp(prefix="api-server-", suffix=".log")
        self._log = Path(log)
        self.process = subprocess.Popen(
            ["media-platform", "--no-progress", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=fd, stderr=subprocess.STDOUT, start_new_session=True,
        )
        os.close(fd)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=120.0)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"media-platform serve exited {self.process.returncode}: {self.log()}")
            try:
                if self.client.get("/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"media-platform serve did not answer /healthz: {self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:] if self._log and self._log.exists() else ""

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and nothing else
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        return self.client.post(path, **kwargs)


# ---- session fixtures (imported by conftest.py) ------------------------------------------------

import pytest  # noqa: E402

REUSE_VARIABLE = "MEDIA_PLATFORM_TEST_API_HOME"


def save_api_home(home: ApiHome) -> None:
    (home.root / "api_home.json").write_text(json.dumps({"env": home.env, "keys": home.keys}))


def load_api_home(root: Path) -> ApiHome:
    saved = json.loads((root / "api_home.json").read_text())
    env = dict(os.environ)
    env.update({k: v for k, v in saved["env"].items() if k.startswith(("MEDIA_PLATFORM_", "DAGSTER_HOME"))})
    env.pop("MEDIA_PLATFORM_QDRANT_URL", None)
    return ApiHome(root=root, env=env, keys=saved["keys"])


@pytest.fixture(scope="session")
def api_home(tmp_path_factory, shared_media: Path) -> ApiHome:
    """The five-episode home, built once per test session.

    A developer shortcut on a busy machine: ``python tests/api_harness.py DIR`` builds one in
    DIR, and ``MEDIA_PLATFORM_TEST_API_HOME=DIR`` reuses it (tests that write to the home, such
    as labels, then see each other's earlier runs; CI never sets it)."""
    reuse = os.environ.get(REUSE_VARIABLE)
    if reuse:
        return load_api_home(Path(reuse))
    return build_api_home(tmp_path_factory.mktemp("api-home"), shared_media)


@pytest.fixture(scope="session")
def api_server(api_home: ApiHome):
    """``media-platform serve`` on 127.0.0.1 over :func:`api_home` (no token), for the session."""
    with ApiServer(api_home.env) as server:
        yield server


if __name__ == "__main__":  # python tests/api_harness.py DIR: build a home to reuse (see api_home)
    import sys

    target = Path(sys.argv[1]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    shared = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))
    started = time.monotonic()
    built = build_api_home(target, shared)
    save_api_home(built)
    print(f"built in {time.monotonic() - started:.0f} s: {REUSE_VARIABLE}={target}")
