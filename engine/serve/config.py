"""What `bando serve` was started with: one frozen value every part of the server reads.

With ``--workers N`` uvicorn starts N processes that each build the app; the
settings reach them through one environment variable (:data:`ENV_VAR`), as
JSON, so that every worker loads the same policies with the same limits.
"""
from __future__ import annotations

import json
import os

import attrs

ENV_VAR = "BANDO_SERVE_CONFIG"

MIB = 1 << 20


@attrs.frozen
class ServeConfig:
    """The server's settings; the defaults are the safe ones (see docs/serve.md)."""

    #: policy files and folders of policies (each ``*.bando`` directly inside a folder)
    paths: tuple = ()
    #: the folder the files a policy names must stay in (engine/paths.py); None: each policy's own tree
    root: str | None = None
    #: file holding the bearer token every endpoint but the health checks requires; None: no token.
    #: The path, not the token, is kept here, so the token never travels in the environment to workers.
    token_file: str | None = None
    #: largest body of /validate and /evaluate, and of /evaluate-batch
    max_body: int = 1 * MIB
    max_batch_body: int = 16 * MIB
    #: most applications in one /evaluate-batch request
    max_batch_lines: int = 10_000
    #: seconds one evaluation (or one slice of a batch) may take before the answer is 504
    eval_timeout: float = 10.0
    #: evaluations running at once (threads), and how many more may wait before the answer is 503
    threads: int = 4
    queue: int = 64
    #: watch the policy files and reload them when they change; seconds between looks
    reload: bool = False
    reload_interval: float = 1.0
    #: JSON Lines file of every decision; with ``log_input`` each line also carries the input
    decision_log: str | None = None
    log_input: bool = False
    #: origins allowed by CORS; empty: no CORS headers at all
    cors_origins: tuple = ()

    def to_env(self) -> str:
        return json.dumps(attrs.asdict(self, recurse=False), sort_keys=True)

    @classmethod
    def from_env(cls) -> "ServeConfig":
        raw = os.environ.get(ENV_VAR)
        if not raw:
            raise RuntimeError(f"{ENV_VAR} is not set: start the server with `bando serve`")
        data = json.loads(raw)
        data["paths"] = tuple(data["paths"])
        data["cors_origins"] = tuple(data["cors_origins"])
        return cls(**data)
