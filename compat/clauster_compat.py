"""Clauster compat harness: a pytest plugin that re-points the Python Clauster 1.3.2's own
HTTP tests at a real server process (issue 18).

Written for this project; it is loaded into the Python Clauster's test suite with
``-p clauster_compat`` by ``cargo xtask compat``. What it does:

* ``create_app(config, runner)`` no longer builds a FastAPI app: it returns a handle that
  describes a server — the YAML of the test's config and the ``~/.claude.json`` the test's
  runner was given. The first request (or ``with TestClient(...)``) starts the binary named
  by ``COMPAT_SERVER`` as ``<binary> run -c <yaml>`` on 127.0.0.1 with a free port.
* ``TestClient`` becomes an httpx client that still believes it talks to
  ``http://testserver`` (so cookies behave as under the original client) while a relay
  transport sends each request to the real server with the server's own address as
  ``Host`` and ``http://testserver`` origins rewritten to it. ``websocket_connect`` uses a
  real WebSocket.
* Tests that reach into Python internals cannot be re-pointed and are skipped by rule, with
  the rule named in the skip reason (``compat-rule:<rule>``): monkeypatching in-process code,
  ``app.state`` or other app attributes, the runner object, a non-Clauster app, and a test
  that never started a server (it tests Python code only).
* At the end it compares the outcomes with the committed baseline (the tests that pass
  against the original binary) and allowlist, prints per file transferable / baseline /
  ours, and sets the exit status: 1 only for a baseline test that fails against ours and is
  not allowlisted. With ``COMPAT_RECORD=<file>`` it writes the passing ids there instead
  (the ``--control`` run against the original binary).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

SERVER_BIN = os.environ.get("COMPAT_SERVER", "")
TESTSERVER = "testserver"
RULE = "compat-rule:"
START_DEADLINE_S = 60.0


# --- per-test state -------------------------------------------------------------------------


class _TestState:
    """What the running test has done that the harness must know or undo."""

    def __init__(self) -> None:
        self.servers: list[_Server] = []
        self.started_any = False
        self.in_call = False


_STATE = _TestState()
_OUTCOMES: dict[str, tuple[str, str]] = {}  # nodeid -> (outcome, skip reason)


def _skip(rule: str, detail: str) -> None:
    pytest.skip(f"{RULE}{rule}: {detail}")


# --- the server process ---------------------------------------------------------------------


# Under pytest-xdist (`cargo xtask compat` runs ours on several workers) a port is claimed
# in a directory the run's workers share before it is used, so two workers never pick the
# same free port between releasing it here and their servers binding it. It lies in the
# run's --basetemp, which pytest empties when the next run starts (set in pytest_configure).
_CLAIMS: Path | None = None


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _CLAIMS is None:
            return port
        _CLAIMS.mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            (_CLAIMS / str(port)).touch(exist_ok=False)
            return port


def _rewrite_testserver(value: Any, origin: str) -> Any:
    """Every ``http(s)://testserver`` inside a config value names the real server instead."""
    if isinstance(value, str):
        return value.replace(f"://{TESTSERVER}", f"://{origin.split('://', 1)[1]}")
    if isinstance(value, list):
        return [_rewrite_testserver(v, origin) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite_testserver(v, origin) for k, v in value.items()}
    return value


class _Server:
    """One real `clauster run` process for one app handle."""

    def __init__(self, app: CompatApp) -> None:
        self.app = app
        self.port = _free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="compat-srv-"))
        self.log = self.workdir / "server.log"

    def config_path(self) -> Path:
        cfg = self.app.config
        data = cfg.model_dump(mode="json", exclude_defaults=True)
        loaded = _LOADED.get(id(cfg))
        if loaded is not None and loaded[1] == data:
            text = loaded[0].read_text(encoding="utf-8")
            if f"://{TESTSERVER}" not in text:
                return loaded[0]  # the test's own file, unchanged (config routes read it)
        path = self.workdir / "clauster.yml"
        path.write_text(
            yaml.safe_dump(_rewrite_testserver(data, self.origin), sort_keys=False),
            encoding="utf-8",
        )
        return path

    def start(self) -> None:
        if not SERVER_BIN:
            raise RuntimeError("COMPAT_SERVER is not set: run this through `cargo xtask compat`")
        # Two apps over one state_dir model a restart: the older server stops first.
        for other in list(_STATE.servers):
            if other is not self and other.running() and other.app.state_dir == self.app.state_dir:
                other.stop()
        env = dict(os.environ)
        env["CLAUSTER_HOST"] = "127.0.0.1"
        env["CLAUSTER_PORT"] = str(self.port)
        self.app.sync_claude_json_in()
        config_path = self.config_path()
        if FORK:
            self.proc = _ForkedServer(config_path, env, self.log, self.workdir)
        else:
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(  # noqa: S603 — our own binary under test
                    [SERVER_BIN, "run", "-c", str(config_path)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=str(self.workdir),
                )
        _STATE.started_any = True
        if self not in _STATE.servers:
            _STATE.servers.append(self)
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server exited with {self.proc.returncode} at startup:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=1
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not listen within {START_DEADLINE_S}s")
            time.sleep(0.02)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        if not self.running():
            self.start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.app.sync_claude_json_out()


# The control run (`COMPAT_FORK=1`): the original's `clauster run` entry point in a process
# forked from this one, which has imported the package already. Same code, same process and
# HTTP boundary, without paying several seconds of imports per test on a loaded machine.
FORK = os.environ.get("COMPAT_FORK") == "1"


class _ForkedServer:
    """The part of ``Popen`` the harness uses, over a forked ``clauster.__main__.main``."""

    def __init__(self, config_path: Path, env: dict[str, str], log: Path, workdir: Path) -> None:
        self.returncode: int | None = None
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            code = 1
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                signal.setitimer(signal.ITIMER_REAL, 0)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                    signal.signal(sig, signal.SIG_DFL)
                os.environ.clear()
                os.environ.update(env)
                os.chdir(workdir)
                _restore_originals()
                import asyncio

                asyncio.events._set_running_loop(None)  # noqa: SLF001 — a fresh process
                from clauster.__main__ import main

                code = main(["run", "-c", str(config_path)]) or 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 — report and leave
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _restore_originals() -> None:
    import clauster.app
    import clauster.config
    import clauster.runner

    for module, name in ((clauster.app, "create_app"), (clauster.config, "load_config"),
                         (clauster.runner, "SessionRunner")):
        original = _ORIGINALS.get(f"{module.__name__}.{name}")
        if original is not None:
            setattr(module, name, original)


# --- create_app, SessionRunner, TestClient --------------------------------------------------

_LOADED: dict[int, tuple[Path, dict]] = {}
_ORIGINALS: dict[str, Any] = {}


class RunnerHandle:
    """Stands in for ``SessionRunner``: remembers the config and ``claude_json`` path; any
    other use is the runner's internals (skipped by rule)."""

    def __init__(self, config: Any, claude_json: Any = None, **_kwargs: Any) -> None:
        object.__setattr__(self, "_compat_config", config)
        object.__setattr__(self, "_compat_claude_json", claude_json)

    def __getattr__(self, name: str) -> Any:
        _skip("runner-internals", f"uses the Python runner object (runner.{name})")

    def __setattr__(self, name: str, value: Any) -> None:
        _skip("runner-internals", f"sets the Python runner object (runner.{name})")


class CompatApp:
    """Stands in for the FastAPI app: a description of the server to run."""

    def __init__(self, config: Any, runner: Any = None) -> None:
        claude_json = None
        if isinstance(runner, RunnerHandle):
            claude_json = object.__getattribute__(runner, "_compat_claude_json")
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "claude_json", Path(claude_json) if claude_json else None)
        object.__setattr__(self, "state_dir", str(Path(config.state_dir).expanduser()))
        object.__setattr__(self, "home", Path(os.environ["HOME"]))
        object.__setattr__(self, "server", None)
        object.__setattr__(self, "_synced", None)

    def __getattr__(self, name: str) -> Any:
        _skip("app-internals", f"reads the FastAPI app (app.{name})")

    def __setattr__(self, name: str, value: Any) -> None:
        _skip("app-internals", f"sets the FastAPI app (app.{name})")

    def live(self) -> _Server:
        server = object.__getattribute__(self, "server")
        if server is None:
            server = _Server(self)
            object.__setattr__(self, "server", server)
        server.ensure()
        return server

    # The test's runner was given a `claude_json` path; the server reads ~/.claude.json. Both
    # are kept equal around every request (the server may write trust into it).
    def _home_json(self) -> Path:
        return self.home / ".claude.json"

    def sync_claude_json_in(self) -> None:
        src = self.claude_json
        if src is None or src == self._home_json():
            return
        content = src.read_bytes() if src.exists() else None
        if content != self._synced:
            if content is None:
                self._home_json().unlink(missing_ok=True)
            else:
                self._home_json().write_bytes(content)
            object.__setattr__(self, "_synced", content)

    def sync_claude_json_out(self) -> None:
        dst = self.claude_json
        if dst is None or dst == self._home_json():
            return
        home = self._home_json()
        content = home.read_bytes() if home.exists() else None
        if content != self._synced and content is not None:
            dst.write_bytes(content)
            object.__setattr__(self, "_synced", content)


def compat_create_app(config: Any, runner: Any = None, **_kwargs: Any) -> CompatApp:
    if runner is not None and not isinstance(runner, RunnerHandle):
        _skip("runner-internals", "passes its own runner object")
    app = CompatApp(config, runner)
    # The original reads its config when the app is built; so does the server, started now.
    app.live()
    return app


def _wrap_load_config(original: Any) -> Any:
    def load_config(path: Any = None, *args: Any, **kwargs: Any) -> Any:
        cfg = original(path, *args, **kwargs)
        if path is not None:
            _LOADED[id(cfg)] = (Path(path), cfg.model_dump(mode="json", exclude_defaults=True))
        return cfg

    return load_config


class _Relay(httpx.BaseTransport):
    """Sends what the client addressed to http://testserver to the real server."""

    def __init__(self, app: CompatApp) -> None:
        self.app = app
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        server = self.app.live()
        self.app.sync_claude_json_in()
        netloc = f"127.0.0.1:{server.port}"
        # A copy goes out: the client keeps the request it addressed to testserver, so the
        # cookies of the answer are stored for testserver, as under the original client.
        headers = httpx.Headers(request.headers)
        if _is_testserver(headers.get("host")):
            headers["host"] = netloc
        for name in ("origin", "referer"):
            if name in headers:
                headers[name] = headers[name].replace(f"://{TESTSERVER}", f"://{netloc}")
        outgoing = httpx.Request(
            request.method,
            request.url.copy_with(scheme="http", host="127.0.0.1", port=server.port),
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        response = self.inner.handle_request(outgoing)
        location = response.headers.get("location")
        if location and f"://{netloc}" in location:
            response.headers["location"] = location.replace(f"://{netloc}", f"://{TESTSERVER}")
        response.read()
        self.app.sync_claude_json_out()
        return response

    def close(self) -> None:
        self.inner.close()


def _is_testserver(host: str | None) -> bool:
    return host is None or host.split(":", 1)[0] == TESTSERVER


class CompatClient(httpx.Client):
    """Stands in for Starlette's ``TestClient`` over a real server."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = f"http://{TESTSERVER}",
        raise_server_exceptions: bool = True,  # noqa: ARG002 — TestClient's signature
        root_path: str = "",  # noqa: ARG002
        backend: str = "asyncio",  # noqa: ARG002
        backend_options: Any = None,  # noqa: ARG002
        cookies: Any = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: Any = None,  # noqa: ARG002
    ) -> None:
        if not isinstance(app, CompatApp):
            _skip("non-clauster-app", f"drives a non-Clauster app ({type(app).__name__})")
        merged = {"user-agent": "testclient"}
        merged.update(headers or {})
        super().__init__(
            base_url=base_url,
            transport=_Relay(app),
            follow_redirects=follow_redirects,
            cookies=cookies,
            headers=merged,
            timeout=120,
        )
        self.app = app

    def __enter__(self) -> CompatClient:
        self.app.live()
        return self

    def __exit__(self, *exc: object) -> None:
        server = object.__getattribute__(self.app, "server")
        if server is not None:
            server.stop()
        self.close()

    def websocket_connect(
        self, url: str, subprotocols: list[str] | None = None, **kwargs: Any
    ) -> CompatWebSocket:
        return CompatWebSocket(self, url, subprotocols, kwargs.get("headers") or {})


class CompatWebSocket:
    """Stands in for ``WebSocketTestSession``: connects on ``__enter__``, like the original."""

    def __init__(
        self, client: CompatClient, url: str, subprotocols: list[str] | None, headers: Any
    ) -> None:
        self.client = client
        self.url = url
        self.subprotocols = subprotocols
        self.headers = dict(headers)
        self.conn: Any = None
        self.pending: list[Any] = []

    def __enter__(self) -> CompatWebSocket:
        from starlette.websockets import WebSocketDisconnect
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        server = self.client.app.live()
        self.client.app.sync_claude_json_in()
        netloc = f"127.0.0.1:{server.port}"
        request = self.client.build_request("GET", self.url, headers=self.headers)
        path = request.url.raw_path.decode()
        extra = []
        for name, value in request.headers.multi_items():
            lower = name.lower()
            if lower in ("host", "connection", "accept-encoding", "accept", "content-length"):
                continue
            if lower.startswith("sec-websocket") or lower == "upgrade":
                continue
            if lower in ("origin", "referer"):
                value = value.replace(f"://{TESTSERVER}", f"://{netloc}")
            extra.append((name, value))
        try:
            self.conn = connect(
                f"ws://{netloc}{path}",
                additional_headers=extra,
                subprotocols=self.subprotocols,
                open_timeout=60,
                user_agent_header=None,
                compression=None,
                max_size=None,
            )
        except InvalidStatus as exc:
            raise WebSocketDisconnect(1008, f"HTTP {exc.response.status_code}") from None
        except InvalidHandshake as exc:
            raise WebSocketDisconnect(1006, str(exc)) from None
        # Accepted: a close that follows surfaces on the first receive, as in the original.
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self) -> Any:
        from starlette.websockets import WebSocketDisconnect
        from websockets.exceptions import ConnectionClosed

        if self.pending:
            return self.pending.pop(0)
        try:
            return self.conn.recv(timeout=60)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1006
            raise WebSocketDisconnect(code, exc.rcvd.reason if exc.rcvd else "") from None

    def receive_text(self) -> str:
        data = self._recv()
        return data if isinstance(data, str) else data.decode()

    def receive_bytes(self) -> bytes:
        data = self._recv()
        return data if isinstance(data, bytes) else data.encode()

    def receive_json(self, mode: str = "text") -> Any:  # noqa: ARG002
        return json.loads(self._recv())

    def receive(self) -> dict[str, Any]:
        data = self._recv()
        key = "text" if isinstance(data, str) else "bytes"
        return {"type": "websocket.send", key: data}

    def send_text(self, data: str) -> None:
        self.conn.send(data)

    def send_bytes(self, data: bytes) -> None:
        self.conn.send(data)

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"))
        self.conn.send(text if mode == "text" else text.encode())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close(code, reason or "")


# --- the rules on monkeypatching ------------------------------------------------------------


def _guard_monkeypatch() -> None:
    from _pytest.monkeypatch import MonkeyPatch

    for name in ("setattr", "delattr"):
        original = getattr(MonkeyPatch, name)

        def guarded(self: Any, target: Any, *args: Any, __original: Any = original, **kw: Any):
            if _STATE.in_call:
                _skip("monkeypatch", f"patches in-process code ({_describe(target, args)})")
            return __original(self, target, *args, **kw)

        setattr(MonkeyPatch, name, guarded)


def _describe(target: Any, args: tuple) -> str:
    if isinstance(target, str):
        return target
    owner = getattr(target, "__name__", None) or type(target).__name__
    return f"{owner}.{args[0]}" if args and isinstance(args[0], str) else str(owner)


# --- pytest hooks ---------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    global _CLAIMS
    if hasattr(config, "workerinput") and config.option.basetemp:
        # A worker's basetemp is `<--basetemp>/popen-gwN`.
        _CLAIMS = Path(config.option.basetemp).parent / "port-claims"
    # Bridges outlive the server that launched them; as a subreaper this process inherits
    # them, so each test's teardown can end every process it caused.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    _guard_monkeypatch()


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    import clauster.app
    import clauster.config
    import clauster.runner
    import fastapi.testclient
    import starlette.testclient

    for module, name in ((clauster.app, "create_app"), (clauster.config, "load_config"),
                         (clauster.runner, "SessionRunner")):
        _ORIGINALS[f"{module.__name__}.{name}"] = getattr(module, name)
    load = _wrap_load_config(clauster.config.load_config)
    replacements = {
        "create_app": compat_create_app,
        "TestClient": CompatClient,
        "SessionRunner": RunnerHandle,
        "load_config": load,
    }
    clauster.app.create_app = compat_create_app
    clauster.config.load_config = load
    clauster.runner.SessionRunner = RunnerHandle
    fastapi.testclient.TestClient = CompatClient
    starlette.testclient.TestClient = CompatClient
    seen: set[int] = set()
    for item in items:
        module = getattr(item, "module", None)
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        for name, value in replacements.items():
            if name in vars(module):
                setattr(module, name, value)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _STATE.in_call = True
    try:
        return (yield)
    finally:
        _STATE.in_call = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call" and not report.skipped and not _STATE.started_any:
        report.outcome = "skipped"
        report.longrepr = (
            str(item.path),
            item.location[1] or 0,
            f"Skipped: {RULE}python-only: started no server (tests Python code)",
        )
    return report


@pytest.fixture(autouse=True)
def _compat_isolation() -> Any:
    global _STATE
    _STATE = _TestState()
    yield
    for server in _STATE.servers:
        with contextlib.suppress(Exception):
            server.stop()
    _end_descendants()


def _end_descendants() -> None:
    """Ends every process the test caused (bridges, keepers, servers) and reaps them."""
    import psutil

    try:
        procs = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        reason = f"{crash.path}:{crash.lineno}: {crash.message}"[:2000] if crash else str(
            report.longrepr
        )[-2000:]
    previous = _OUTCOMES.get(report.nodeid)
    if report.when == "call" or report.outcome != "passed":
        if previous is None or previous[0] == "passed":
            _OUTCOMES[report.nodeid] = (report.outcome, reason)
    if report.when == "setup" and report.outcome == "passed":
        _OUTCOMES.setdefault(report.nodeid, ("passed", ""))
    record = os.environ.get("COMPAT_RECORD")
    if record and report.when == "teardown":
        # A control run is long: what it has recorded so far survives an interrupted run,
        # marked partial, with the last test that finished (files run in order).
        _write_record(Path(f"{record}.partial"), partial_after=report.nodeid)


def _write_record(path: Path, partial_after: str | None = None) -> None:
    passed = sorted(n for n, (o, _) in _OUTCOMES.items() if o == "passed")
    header = (
        "# Tests that pass against the original Python Clauster 1.3.2, re-pointed at its\n"
        "# `clauster run` process (cargo xtask compat --control). Regenerated, not edited.\n"
    )
    if partial_after:
        header += f"# PARTIAL: the run was still going; last finished test: {partial_after}\n"
    path.write_text(header + "".join(f"{n}\n" for n in passed), encoding="utf-8")


def _rule_of(reason: str) -> str:
    if RULE not in reason:
        return "skipped"
    return reason.split(RULE, 1)[1].split(":", 1)[0]


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: its reports reach the controller, which judges the run
    record = os.environ.get("COMPAT_RECORD")
    passed = sorted(n for n, (o, _) in _OUTCOMES.items() if o == "passed")
    results = os.environ.get("COMPAT_RESULTS")
    if results:
        Path(results).write_text(
            json.dumps({n: {"outcome": o, "reason": r} for n, (o, r) in _OUTCOMES.items()},
                       indent=1, sort_keys=True),
            encoding="utf-8",
        )
    if record:
        _write_record(Path(record))
        Path(f"{record}.partial").unlink(missing_ok=True)
        _print_table(set(), set(), "control")
        # Tests failing against the original are expected: they are simply not recorded.
        session.exitstatus = 0
        return
    baseline = _read_baseline(os.environ.get("COMPAT_BASELINE"))
    allow = _read_allowlist(os.environ.get("COMPAT_ALLOWLIST"))
    _print_table(baseline, allow, "ours")
    regressions = sorted(
        n for n in baseline if n in _OUTCOMES and _OUTCOMES[n][0] != "passed" and n not in allow
    )
    missing = sorted(n for n in baseline if n not in _OUTCOMES and _selected_all())
    if regressions:
        print(f"\ncompat: {len(regressions)} regression(s) — pass against 1.3.2, fail against ours,"
              " not in compat/allowlist.toml:")
        for n in regressions:
            print(f"  {n}")
    if missing:
        print(f"\ncompat: {len(missing)} baseline test(s) were not run (renamed or deselected):")
        for n in missing[:20]:
            print(f"  {n}")
    stale = sorted(n for n in allow if _OUTCOMES.get(n, ("", ""))[0] == "passed")
    if stale:
        print(f"\ncompat: {len(stale)} allowlisted test(s) now pass; drop them from the list:")
        for n in stale:
            print(f"  {n}")
    failed_other = sum(1 for n, (o, _) in _OUTCOMES.items() if o == "failed" and n not in baseline)
    ok = not regressions and not missing
    print(
        f"compat: {len(passed)} passed, {len(regressions) + len(missing)} failed, "
        f"{failed_other + sum(1 for o, _ in _OUTCOMES.values() if o == 'skipped')} skipped"
    )
    session.exitstatus = 0 if ok else 1


def _selected_all() -> bool:
    return not os.environ.get("COMPAT_FILTERED")


def _read_baseline(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _read_allowlist(path: str | None) -> dict[str, str]:
    if not path or not Path(path).exists():
        return {}
    with Path(path).open("rb") as f:
        data = tomllib.load(f)
    allow = data.get("allow", {})
    for test_id, reason in allow.items():
        if not isinstance(reason, str) or not reason.strip():
            raise pytest.UsageError(f"compat/allowlist.toml: {test_id} needs a reason")
    return allow


def _print_table(baseline: set[str], allow: dict[str, str], mode: str) -> None:
    files: dict[str, dict[str, int]] = {}
    rules: dict[str, int] = {}
    for nodeid, (outcome, reason) in _OUTCOMES.items():
        row = files.setdefault(_file_of(nodeid), {"tests": 0, "transferable": 0, "baseline": 0,
                                                   "ours": 0, "allowed": 0})
        row["tests"] += 1
        if outcome == "skipped":
            rule = _rule_of(reason)
            rules[rule] = rules.get(rule, 0) + 1
        else:
            row["transferable"] += 1
        if nodeid in baseline:
            row["baseline"] += 1
            if outcome == "passed":
                row["ours"] += 1
            elif nodeid in allow:
                row["allowed"] += 1
        elif outcome == "passed" and mode == "control":
            row["baseline"] += 1
        if mode == "ours" and outcome == "passed" and nodeid not in baseline:
            row.setdefault("extra", 0)
            row["extra"] = row.get("extra", 0) + 1
    label = "passing vs 1.3.2" if mode == "control" else "baseline"
    print(f"\ncompat ({mode} binary: {SERVER_BIN})")
    print(f"{'file':<42} {'tests':>5} {'transferable':>12} {label:>16} {'ours':>5} {'allowed':>7}")
    total = {"tests": 0, "transferable": 0, "baseline": 0, "ours": 0, "allowed": 0}
    for name in sorted(files):
        row = files[name]
        for key in total:
            total[key] += row[key]
        ours = "-" if mode == "control" else str(row["ours"])
        print(f"{name:<42} {row['tests']:>5} {row['transferable']:>12} {row['baseline']:>16} "
              f"{ours:>5} {row['allowed']:>7}")
    ours = "-" if mode == "control" else str(total["ours"])
    print(f"{'total':<42} {total['tests']:>5} {total['transferable']:>12} "
          f"{total['baseline']:>16} {ours:>5} {total['allowed']:>7}")
    print("skipped by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())))
