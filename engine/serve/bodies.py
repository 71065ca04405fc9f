"""Reading a request: its content type, its body within a limit, its JSON, the language asked for.

The body limit is enforced as the body arrives: a declared ``Content-Length``
over the limit is refused before a byte is read, and a body sent without one
(chunked) is refused as soon as it passes the limit, so a client cannot make
the server hold more than the limit in memory.
"""
from __future__ import annotations

import codecs
import json

from engine.evaluate.policy import parse_application
from engine.text import i18n

from engine.serve.problems import Problem, quoted

JSON_TYPES = ("application/json",)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines")


def _media_type(request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_type(request, accepted: tuple, what: str) -> None:
    """415 unless the request's content type is one of ``accepted`` (or a ``+json`` type for JSON)."""
    got = _media_type(request)
    if got in accepted or (accepted == JSON_TYPES and got.endswith("+json")):
        return
    shown = f"`{got}`" if got else "none"
    raise Problem(415, f"{what} must be sent as {' or '.join(f'`{t}`' for t in accepted)}; the content type "
                       f"was {shown}", headers={"Accept-Post": ", ".join(accepted)})


async def read_body(request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Problem(400, f"the Content-Length header is not a number: {quoted(declared)}") from None
        if size > limit:
            raise Problem(413, f"the body has {size:,} bytes; this server accepts at most {limit:,}",
                          limit=limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise Problem(413, f"the body is larger than {limit:,} bytes, the most this server accepts",
                          limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes):
    """The application in ``body``, read as `bando eval` reads a file: UTF-8 (a BOM allowed), numbers
    as exact decimals. 400 with the line and column of the first problem."""
    if not body.removeprefix(codecs.BOM_UTF8).strip():
        raise Problem(400, "the body is empty: send the application as a JSON object")
    try:
        return parse_application(body)  # the one reader of an application's JSON, as `bando eval`'s
    except UnicodeDecodeError as e:
        offset = e.start + (3 if body.startswith(codecs.BOM_UTF8) else 0)
        raise Problem(400, f"the body is not UTF-8 text (byte 0x{body[offset]:02x} at offset {offset})") from None
    except json.JSONDecodeError as e:
        raise Problem(400, f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                      line=e.lineno, column=e.colno) from None
    except RecursionError:
        raise Problem(400, "invalid JSON: nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise Problem(400, f"invalid JSON: {e}") from None


def language(request, served) -> str:
    """The language of explanations: ``?lang=``, else the first supported one in ``Accept-Language``,
    else the call's own. An unsupported ``?lang=`` is a 400; an unsupported Accept-Language is not (it
    is a preference, RFC 9110 §12.5.4)."""
    asked = request.query_params.get("lang")
    if asked is not None:
        code = asked.replace("_", "-").split("-")[0].lower()
        if code not in i18n.languages():
            raise Problem(400, f"lang: expected one of {', '.join(i18n.languages())}, got {quoted(asked)}",
                          title="Unsupported language")
        return code
    header = request.headers.get("accept-language")
    if header:
        ranked = []
        for n, part in enumerate(header.split(",")):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    q = float(params[2:])
                except ValueError:
                    q = 0.0
            ranked.append((-q, n, tag.strip().split("-")[0].lower()))
        for q, _, code in sorted(ranked):
            if q < 0 and code in i18n.languages():
                return code
            if q < 0 and code == "*":
                break
    return served.policy.language


def flag(request, name: str, default: bool) -> bool:
    """A true/false query parameter; 400 for anything else."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise Problem(400, f"{name}: expected true or false, got {quoted(raw)}")
