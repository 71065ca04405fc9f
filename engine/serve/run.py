"""Start uvicorn on the app: one process, or ``workers`` processes that each load the policies.

Everything that can be wrong with the settings (a policy that does not load, an
unreadable token file, a decision log that cannot be opened) is found here,
before uvicorn starts, and raised as :class:`ServeError` with one clear message.
"""
from __future__ import annotations

import ipaddress
import logging
import os

import uvicorn

from engine.serve.app import build_app
from engine.serve.auth import TokenError, read_token
from engine.serve.config import ENV_VAR, ServeConfig
from engine.serve.decision_log import DecisionLog, DecisionLogError
from engine.serve.registry import StartupError, load_all

log = logging.getLogger("bando.serve")


class ServeError(Exception):
    """The server cannot start; the message says why."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = True) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    try:
        if config.token_file:
            read_token(config.token_file)
        registry = load_all(config.paths, config.root)
        if config.decision_log:
            DecisionLog(config.decision_log).close()  # can it be opened? (each worker opens its own)
    except (StartupError, DecisionLogError, TokenError) as e:
        raise ServeError(str(e)) from None
    if not _loopback(host) and config.token_file is None:
        log.warning("listening on %s without --token-file: anyone who can reach this address can use the API", host)
    for pid, served in registry.policies.items():
        log.info("serving %s: %s %s (sha256 %s)", pid, served.policy.name, served.policy.version,
                 served.policy.sha256[:12])
    if workers == 1:
        uvicorn.run(build_app(config, registry), host=host, port=port, access_log=access_log,
                    log_config=None, server_header=False)
        return
    # each worker process builds its own app from the same settings
    os.environ[ENV_VAR] = config.to_env()
    uvicorn.run("engine.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_config=None, server_header=False)
