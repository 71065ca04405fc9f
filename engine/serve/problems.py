"""RFC 9457 problem details: every error `bando serve` answers is ``application/problem+json``.

A handler raises :class:`Problem`; the app's exception handlers turn it, and
anything Starlette itself raises (an unknown route, a method not allowed) or
nothing expected at all, into a problem document. A client never sees a
traceback or an HTML page.
"""
from __future__ import annotations

import json

from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"

#: ``type`` URIs name the kind of problem; they are relative references (RFC 9457 §3.1.1),
#: documented in docs/serve.md, so they stay true whatever host serves the API
TITLES = {
    400: ("bad-request", "The request body cannot be read"),
    401: ("unauthorized", "A bearer token is required"),
    403: ("forbidden", "The bearer token is not valid"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported content type"),
    422: ("invalid-application", "The application does not match the policy's input"),
    500: ("internal-error", "Internal error"),
    503: ("unavailable", "The service cannot evaluate now"),
    504: ("timeout", "The evaluation took longer than the time limit"),
}


class Problem(Exception):
    """An error answer: ``status``, a ``detail`` sentence and extension members (``errors``...)."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, headers: dict | None = None,
                 **extra):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}
        self.extra = extra

    def document(self, instance: str | None = None) -> dict:
        """The problem as the JSON object RFC 9457 describes."""
        kind, title = TITLES.get(self.status, ("error", "Error"))
        doc = {"type": f"/problems/{kind}", "title": self.title or title, "status": self.status,
               "detail": self.detail}
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc

    def response(self, instance: str | None = None) -> Response:
        return problem_response(self.document(instance), self.headers)


def problem_response(document: dict, headers: dict | None = None) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=document["status"], media_type=MEDIA_TYPE, headers=headers)


def quoted(text: str, limit: int = 40) -> str:
    """What a client sent, quoted for a message: «"fr"», cut at ``limit`` characters, always printable."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return json.dumps(cut, ensure_ascii=False)


def problem_line(problem: Problem) -> bytes:
    """The problem as one JSON line, for a stream that has already started (`evaluate-batch`)."""
    return json.dumps(problem.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
