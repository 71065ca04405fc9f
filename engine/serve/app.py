"""The ASGI application of `bando serve` (Starlette): routes, the evaluation pool, start and stop.

Evaluation is CPU work, so it runs in a bounded pool of threads, never on the
event loop: :class:`EvaluationPool` takes at most ``threads + queue``
evaluations at once (beyond that the answer is 503 at once, with
``Retry-After``) and waits at most ``eval_timeout`` seconds for one (then
504). A thread cannot be stopped from outside: an evaluation past its time
limit keeps its thread until it ends, and keeps its place in the bound, so a
flood of slow requests fills the pool and is refused rather than piling up.
What bounds an evaluation's own time is the hardening limits on policies and
data (dsl/limits.py, engine/compile/validate.py), not the timeout.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dsl.errors import PolicyError
from engine.score.batch_io import read_jsonl
from engine.evaluate.result import Decision
from engine.compile.validate import describe as describe_problem

from engine.serve import openapi
from engine.serve.auth import TokenMiddleware, read_token
from engine.serve.bodies import JSON_TYPES, JSONL_TYPES, flag, language, parse_json, read_body, require_type
from engine.serve.config import ServeConfig
from engine.serve.decision_log import DecisionLog, DecisionLogError
from engine.serve.payloads import decision_dict, dumps, errors_list
from engine.serve.problems import Problem, problem_line, problem_response, quoted
from engine.serve.registry import Registry, RegistryHolder, load_all, reload

log = logging.getLogger("bando.serve")

JSON = "application/json"
NDJSON = "application/x-ndjson"
#: applications evaluated per trip to the pool in /evaluate-batch: few enough to stream steadily,
#: enough that the trip's cost (a thread hand-off) is small beside the work
BATCH_SLICE = 32


class EvaluationPool:
    """Threads that evaluate, with a bound on how many evaluations are taken and a time limit on each."""

    def __init__(self, threads: int, queue: int, timeout: float):
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bando-eval")
        self.capacity = threads + queue
        self.timeout = timeout
        self.taken = 0  # read and written on the event loop only

    def _release(self, fut) -> None:
        self.taken -= 1
        if not fut.cancelled():
            fut.exception()  # retrieved, so a late failure after a timeout is not reported as lost

    async def run(self, fn, *args):
        if self.taken >= self.capacity:
            raise Problem(503, f"{self.capacity} evaluations are already running or waiting; try again shortly",
                          headers={"Retry-After": "1"})
        self.taken += 1
        fut = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        fut.add_done_callback(self._release)  # when the thread is done, not when the caller stops waiting
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except asyncio.TimeoutError:
            raise Problem(504, f"the evaluation took longer than {self.timeout:g} s, this server's limit; "
                               "it was not answered", limit_seconds=self.timeout) from None

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _invalid(n: int, more: str, **fields) -> Problem:
    """The 422 of an invalid application: how many problems, and where the answer lists them."""
    return Problem(422, f"{n} problem{'s' if n != 1 else ''} in the application; `errors` lists "
                        f"{'them' if n != 1 else 'it'} {more}", **fields)


def _validate(policy, data, lang):
    """The application's problems, and each in words in ``lang`` with the fields' labels and items named by
    their own data (the same text an invalid result carries)."""
    value, errors = policy.validate(data)
    named = value if isinstance(value, dict) else data
    return errors, [describe_problem(policy.checked, f, m, named, lang) for f, m in errors]


def _evaluate(policy, data, lang, explain):
    """In a pool thread: ``(outcome, JSON body)``; the same call and dict as `bando eval --format json`."""
    if explain:
        result = policy.evaluate(data, lang=lang)
        doc = result.to_dict()
        return result, doc, dumps(doc)
    d = policy.decide(data)
    doc = decision_dict(policy, d)
    return d, doc, dumps(doc)


def _evaluate_rows(policy, rows, last_line, count, lang, explain):
    """In a pool thread: up to ``count`` rows of a batch as ``[(outcome, JSON line, input line)]``."""
    out = []
    for _ in range(count):
        row = next(rows, None)
        if row is None:
            break
        raw = last_line[0]
        if row.data is None or row.errors:
            errors = list(row.errors)
            if row.data is not None:
                errors += policy.validate(row.data)[1]
            d = Decision(row.app_id, "invalid", errors=tuple(errors))
            outcome = policy.explain(row.data, d, lang=lang) if explain else d
        else:
            outcome = policy.evaluate(row.data, lang=lang) if explain else policy.decide(row.data)
        doc = outcome.to_dict() if explain else decision_dict(policy, outcome)
        doc["source"] = row.source
        if doc["application"] is None:
            doc["application"] = row.app_id
        out.append((outcome, dumps(doc) + b"\n", raw))
    return out


def _lines(body: bytes, last_line: list):
    """The body's lines, noting the one handed out last (read_jsonl reads one line per row it yields)."""
    for line in body.split(b"\n"):
        line = line.rstrip(b"\r")
        last_line[0] = line
        yield line


class Server:
    """The state one worker process holds: its policies, its pool, its decision log."""

    def __init__(self, config: ServeConfig, registry: Registry | None = None):
        self.config = config
        self.token = read_token(config.token_file) if config.token_file else None
        self.holder = RegistryHolder(registry if registry is not None else load_all(config.paths, config.root))
        self.pool: EvaluationPool | None = None
        self.decision_log = DecisionLog(config.decision_log, config.log_input) if config.decision_log else None
        self._openapi = (None, None)  # (generation, document)

    # --- helpers --------------------------------------------------------------------------
    def _served(self, request):
        registry = self.holder.current  # one read: the whole request uses this registry
        pid = request.path_params["policy"]
        served = registry.get(pid)
        if served is None:
            known = ", ".join(registry.policies) or "none"
            raise Problem(404, f"no policy with id {quoted(pid)}; the policies served are: {known}")
        return served

    async def _policy(self, request, served):
        """The served policy, or its variant for the call parameters the query gives (``?param.action=IA``),
        compiled in the pool (once per set of values); a value the policy refuses is a 400."""
        given = {k[len("param."):]: v for k, v in request.query_params.items() if k.startswith("param.")}
        if not given:
            return served.policy
        try:
            return await self.pool.run(served.policy.variant, given)
        except PolicyError as e:
            raise Problem(400, "the call parameters of the query do not fit the policy",
                          title="Bad call parameters",
                          errors=[{"code": d.code, "message": d.message, "hint": d.hint} for d in e.diagnostics]) \
                from None

    def _log(self, served, outcome, raw, explain, lang):
        if self.decision_log is None:
            return
        try:
            self.decision_log.record(served, outcome, raw, explain=explain, lang=lang)
        except DecisionLogError as e:
            log.error("%s", e)
            raise Problem(503, f"{e}; the decision was not given, since it could not be logged") from None

    # --- endpoints ------------------------------------------------------------------------
    async def healthz(self, request):
        return Response(dumps({"status": "ok"}), media_type=JSON)

    async def readyz(self, request):
        registry = self.holder.current
        ready = bool(registry.policies)
        doc = {"ready": ready, "generation": registry.generation, "policies": list(registry.policies),
               "problems": [p.info() for p in registry.problems]}
        return Response(dumps(doc), status_code=200 if ready else 503, media_type=JSON)

    async def policies(self, request):
        registry = self.holder.current
        return Response(dumps({"policies": [s.info() for s in registry.policies.values()]}), media_type=JSON)

    async def openapi_json(self, request):
        registry = self.holder.current
        generation, doc = self._openapi
        if generation != registry.generation:
            doc = dumps(openapi.build(registry, secured=self.token is not None))
            self._openapi = (registry.generation, doc)
        return Response(doc, media_type=JSON)

    async def schema(self, request):
        served = self._served(request)
        return Response(dumps(served.policy.json_schema()), media_type="application/schema+json")

    async def validate(self, request):
        served = self._served(request)
        require_type(request, JSON_TYPES, "an application")
        lang = language(request, served)
        data = parse_json(await read_body(request, self.config.max_body))
        errors, texts = await self.pool.run(_validate, served.policy, data, lang)
        if errors:
            raise _invalid(len(errors), "with the path of each field", errors=errors_list(errors, texts),
                           headers={"Content-Language": lang})
        return Response(dumps({"valid": True, "errors": [], "policy": dict(served.policy.policy_info)}),
                        media_type=JSON)

    async def evaluate(self, request):
        served = self._served(request)
        require_type(request, JSON_TYPES, "an application")
        explain = flag(request, "explain", True)
        lang = language(request, served)
        raw = await read_body(request, self.config.max_body)
        data = parse_json(raw)
        policy = await self._policy(request, served)
        outcome, doc, body = await self.pool.run(_evaluate, policy, data, lang, explain)
        self._log(served, outcome, raw, explain, lang)
        if outcome.status == "invalid":
            raise _invalid(len(doc["errors"]), "and `result` is the full result", errors=doc["errors"], result=doc)
        headers = {"Content-Language": lang} if explain else None
        return Response(body, media_type=JSON, headers=headers)

    async def evaluate_batch(self, request):
        served = self._served(request)
        require_type(request, JSONL_TYPES, "a batch (one application per line)")
        explain = flag(request, "explain", True)
        lang = language(request, served)
        body = await read_body(request, self.config.max_batch_body)
        lines = sum(1 for line in body.split(b"\n") if line.strip())
        if lines > self.config.max_batch_lines:
            raise Problem(413, f"the batch has {lines:,} applications; this server takes at most "
                               f"{self.config.max_batch_lines:,} in one request", limit=self.config.max_batch_lines)
        if lines == 0:
            raise Problem(400, "the batch is empty: send one application (a JSON object) per line")
        last_line = [b""]
        rows = read_jsonl(_lines(body, last_line), name="request")
        policy = await self._policy(request, served)

        async def stream():
            # the pool reads the rows one slice at a time, one slice after the other
            while True:
                try:
                    got = await self.pool.run(_evaluate_rows, policy, rows, last_line, BATCH_SLICE, lang, explain)
                    for outcome, _, raw in got:
                        self._log(served, outcome, raw, explain, lang)
                except Problem as problem:  # the answer has begun: the problem is the last line
                    yield problem_line(problem)
                    return
                except Exception:  # a bug in bando: said on the last line too, the traceback only in the log
                    log.exception("internal error in %s", request.url.path)
                    yield problem_line(Problem(500, "an internal error in bando stopped the batch here; "
                                                    "it has been logged"))
                    return
                if not got:
                    return
                yield b"".join(line for _, line, _ in got)

        headers = {"Content-Language": lang} if explain else None
        return StreamingResponse(stream(), media_type=NDJSON, headers=headers)


async def _problem(request, exc: Problem):
    return exc.response(request.url.path)


async def _http_error(request, exc: HTTPException):
    if exc.status_code == 404:
        detail = f"no endpoint {request.url.path}; see /openapi.json"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    else:
        detail = exc.detail
    return Problem(exc.status_code, detail, headers=dict(exc.headers or {})).response(request.url.path)


async def _internal_error(request, exc: Exception):
    log.exception("internal error on %s %s", request.method, request.url.path)
    return problem_response(Problem(500, "an internal error in bando; it has been logged").document(request.url.path))


def build_app(config: ServeConfig, registry: Registry | None = None) -> Starlette:
    """The ASGI app; loads the policies unless ``registry`` is given (raises StartupError)."""
    server = Server(config, registry)
    routes = [
        Route("/healthz", server.healthz, methods=["GET"]),
        Route("/readyz", server.readyz, methods=["GET"]),
        Route("/openapi.json", server.openapi_json, methods=["GET"]),
        Route("/policies", server.policies, methods=["GET"]),
        Route("/policies/{policy}/schema", server.schema, methods=["GET"]),
        Route("/policies/{policy}/validate", server.validate, methods=["POST"]),
        Route("/policies/{policy}/evaluate", server.evaluate, methods=["POST"]),
        Route("/policies/{policy}/evaluate-batch", server.evaluate_batch, methods=["POST"]),
    ]
    middleware = []
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type", "Accept-Language"]))
    if server.token is not None:
        middleware.append(Middleware(TokenMiddleware, token=server.token))

    @asynccontextmanager
    async def lifespan(app):
        server.pool = EvaluationPool(config.threads, config.queue, config.eval_timeout)
        watcher = asyncio.create_task(_watch(server)) if config.reload else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                try:
                    await watcher
                except asyncio.CancelledError:
                    pass
            server.pool.shutdown()
            if server.decision_log is not None:
                server.decision_log.close()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={Problem: _problem, HTTPException: _http_error, Exception: _internal_error})
    app.state.server = server
    return app


async def _watch(server: Server) -> None:
    """Poll the policy files; swap in the next registry when one changes (see registry.reload)."""
    config = server.config
    while True:
        await asyncio.sleep(config.reload_interval)
        try:
            nxt = await asyncio.to_thread(reload, server.holder.current, config.paths, config.root)
        except Exception:  # a bug in reloading must not stop the watching, nor the serving
            log.exception("reloading the policies failed; the current ones keep serving")
            continue
        if nxt is not None:
            server.holder.current = nxt
            log.info("policies: generation %d serving %s%s", nxt.generation, ", ".join(nxt.policies) or "none",
                     f"; {len(nxt.problems)} failed to load (see /readyz)" if nxt.problems else "")


def app_from_env() -> Starlette:
    """The app factory uvicorn calls in each worker process (``--workers N``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    return build_app(ServeConfig.from_env())
