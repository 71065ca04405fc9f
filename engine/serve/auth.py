"""The bearer token (``--token-file``): required on every endpoint but the health checks.

An ASGI middleware, so that it answers before any body is read. The token is
compared with :func:`hmac.compare_digest`, whose time does not depend on
where the two differ. A request without a token gets 401 with
``WWW-Authenticate: Bearer``; one with a wrong token gets 403.
"""
from __future__ import annotations

import hmac

from engine.serve.problems import Problem

#: open to a load balancer or an orchestrator that holds no token
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


class TokenError(Exception):
    """The token file cannot be used; the message names it and says why."""


def read_token(path: str) -> str:
    """The token in ``path`` (surrounding white space removed); :class:`TokenError` if unusable."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4097)
    except OSError as e:
        raise TokenError(f"cannot read the token file {path}: {e.strerror}") from None
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"the token file {path} must hold printable ASCII characters only") from None
    if len(raw) > 4096:
        raise TokenError(f"the token file {path} is longer than 4096 bytes")
    if len(token) < 16 or any(not c.isprintable() or c.isspace() for c in token):
        raise TokenError(f"the token file {path} must hold one token of at least 16 printable characters "
                         "without spaces (e.g. the output of `openssl rand -hex 32`)")
    return token


class TokenMiddleware:
    def __init__(self, app, token: str):
        self.app = app
        self.expected = b"Bearer " + token.encode("ascii")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if given is None or not given[:7].lower() == b"bearer ":
            problem = Problem(401, "send the token as `Authorization: Bearer TOKEN`",
                              headers={"WWW-Authenticate": 'Bearer realm="bando"'})
        elif not hmac.compare_digest(b"Bearer " + given[7:], self.expected):
            problem = Problem(403, "the bearer token is not the one this server was started with",
                              headers={"WWW-Authenticate": 'Bearer realm="bando", error="invalid_token"'})
        else:
            return await self.app(scope, receive, send)
        await problem.response(scope["path"])(scope, receive, send)
