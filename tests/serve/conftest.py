"""Fixtures of the serve tests: a real uvicorn server on a free loopback port, in a thread of the test process.

The socket is bound before uvicorn starts (port 0: the kernel picks a free one),
so there is no race for the port; the server is stopped the way a signal stops
it (``should_exit``), which runs the app's shutdown (decision log fsync).
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import uvicorn


@contextlib.contextmanager
def live_server(app):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def client(base, **kw):
    return httpx.Client(base_url=base, timeout=30, **kw)


import pytest  # noqa: E402

from engine.serve import ServeConfig, build_app  # noqa: E402
from engine.serve.registry import load_all  # noqa: E402

POLICIES = ("policies",)


@pytest.fixture(scope="session")
def registry():
    """The shipped policies, loaded once for every test that serves them as they are."""
    return load_all(POLICIES)


@pytest.fixture(scope="module")
def api(registry):
    """A client of a live server with the default settings, serving policies/."""
    with live_server(build_app(ServeConfig(paths=POLICIES), registry)) as base, client(base) as c:
        yield c


@pytest.fixture
def serve_with(registry):
    """``serve_with(**settings)``: a live server with other settings; the shipped policies unless ``paths``."""
    stack = contextlib.ExitStack()

    def start(**settings):
        settings.setdefault("paths", POLICIES)
        reg = registry if settings["paths"] == POLICIES else None
        base = stack.enter_context(live_server(build_app(ServeConfig(**settings), reg)))
        return stack.enter_context(client(base))
    with stack:
        yield start

