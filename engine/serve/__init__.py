"""`bando serve`: the engine as an HTTP API for grants portals (Starlette on uvicorn).

>>> from engine.serve import ServeConfig, build_app
>>> app = build_app(ServeConfig(paths=("policies",)))      # doctest: +SKIP

Modules, one job each: ``config`` (the settings), ``registry`` (loading and
atomic reload of the policies), ``bodies`` (reading a request within its
limits), ``payloads`` (the JSON answers), ``problems`` (RFC 9457 errors),
``auth`` (the bearer token), ``decision_log``, ``openapi`` (``/openapi.json``),
``app`` (routes and the evaluation pool) and ``run`` (uvicorn). See docs/serve.md.
"""
from engine.serve.app import build_app
from engine.serve.config import ServeConfig
from engine.serve.registry import StartupError

__all__ = ["build_app", "ServeConfig", "StartupError"]
