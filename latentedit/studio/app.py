"""The studio's HTTP side: a Starlette app over a :class:`~latentedit.studio.session.Studio`, and the server.

All torch work runs on two worker threads, each with its own single torch thread pool created once: one renders
(and prepares photos, exports and sheets), the other scores, so that scoring never delays a render. A request
that arrives while an earlier one of its kind still waits replaces it (the last one wins; the earlier one is
answered 204), so dragging a slider never queues renders. Errors reach the page as ``{"error": "..."}`` with one
line, never as a traceback.
"""

import asyncio
import base64
import contextlib
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import torch
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import LatentEditError, NoFaceError, UsageError
from ..models.scoring import SCORERS
from .session import EditState, Source, Studio

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 20 * 1024 * 1024  # bytes of a photo or codes file
MAX_JSON = 256 * 1024  # bytes of any other request
CLIENT_HEADER = "x-latentedit-studio"  # every POST carries it: a page of another site cannot send it unasked
RENDER_THREADS = 1  # torch threads for a 64 x 64 render: more only add waiting on a busy 2-core machine
SCORES_NICE = 10  # the scoring thread yields the CPU to renders (and to the browser): scores may lag, images not


class Superseded(Exception):
    """A job replaced by a newer one of its lane before it started."""


class Worker:
    """One thread that runs jobs in the order they come, except that a job given a ``lane`` replaces the job of
    that lane still waiting, whose future then raises :class:`Superseded` (the last one wins)."""

    def __init__(self, name: str, threads: int = RENDER_THREADS, nice: int = 0) -> None:
        self._jobs: deque[tuple[str | None, Callable[[], Any], Future]] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(threads, nice), name=f"studio-{name}", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], lane: str | None = None) -> Future:
        future: Future = Future()
        with self._ready:
            if self._stopping:
                raise RuntimeError("the studio is stopping")
            if lane is not None:
                for waiting in [entry for entry in self._jobs if entry[0] == lane]:
                    self._jobs.remove(waiting)
                    waiting[2].set_exception(Superseded())
            self._jobs.append((lane, job, future))
            self._ready.notify()
        return future

    def _run(self, threads: int, nice: int) -> None:
        torch.set_num_threads(threads)  # this thread's pool, created once
        if nice:  # Linux: a thread's own priority; elsewhere (or not permitted) it runs at the process's
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        while True:
            with self._ready:
                while not self._jobs and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                _, job, future = self._jobs.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # noqa: BLE001 (handed to the request that waits for it)
                    future.set_exception(exc)

    def stop(self) -> None:
        with self._ready:
            self._stopping = True
            for _, _, future in self._jobs:
                future.cancel()
            self._jobs.clear()
            self._ready.notify()


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 beyond ``limit`` bytes (checked as it arrives, not only as declared)."""
    declared = request.headers.get("content-length")
    too_big = HTTPException(413, f"the request is larger than the studio's limit of {_size(limit)}")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _size(count: int) -> str:
    return f"{count / 1024**2:g} MB" if count >= 1024**2 else f"{count / 1024:g} KB"


def json_value(data: dict, name: str) -> Any:
    """A member of a request's JSON object (None when absent): any JSON value, checked where it is used."""
    return data.get(name)


async def read_json(request: Request) -> dict:
    try:
        data = json.loads(await read_body(request, MAX_JSON))
    except (ValueError, UnicodeDecodeError):
        raise UsageError("the request is not JSON") from None
    if not isinstance(data, dict):
        raise UsageError("the request must be a JSON object")
    return data


def upload_name(request: Request, default: str) -> str:
    """The uploaded file's own name (the page sends it URL-encoded, since headers hold only Latin-1), never a path."""
    return Path(unquote(request.headers.get("x-filename", default))).name or default


def create_app(studio: Studio, max_upload: int = MAX_UPLOAD, allowed_hosts: list[str] | None = None) -> Starlette:
    """The studio's web app: the page, its static files, the JSON API and the work folder's files."""
    renderer, scorer = Worker("render"), Worker("scores", nice=SCORES_NICE)

    async def run(worker: Worker, job: Callable[[], Any], lane: str | None = None) -> Any:
        return await asyncio.wrap_future(worker.submit(job, lane))

    def state_of(data: dict) -> EditState:
        return studio.state(data.get("state"))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "model": studio.model,
                "resolution": studio.generator.resolution,
                "space": studio.space,
                "layers": studio.num_layers,
                "sliders": [slider.to_json() for slider in studio.sliders.values()],
                "skipped": studio.skipped,
                "scores": {name: cls.unit for name, cls in SCORERS.items()},
                "codes": studio.codes_files(),
                "state": studio.current.to_json(),
                "suggest": studio.suggest is not None,
                "max_upload": max_upload,
                "inversion": {"iterations": studio.options.settings.iterations, "tune": studio.tune},
            }
        )

    async def render(request: Request) -> Response:
        state = state_of(await read_json(request))

        def job() -> tuple[bytes, float, float]:
            start, cpu = time.perf_counter(), time.thread_time()
            view = png(studio.render(state).view)
            return view, time.perf_counter() - start, time.thread_time() - cpu

        view, seconds, cpu = await run(renderer, job, lane="render")
        timing = {"x-render-ms": f"{seconds * 1000:.2f}", "x-render-cpu-ms": f"{cpu * 1000:.2f}"}
        headers = {"x-state": state.key(), **timing, "cache-control": "no-store"}
        return Response(view, media_type="image/png", headers=headers)

    async def before(request: Request) -> Response:
        source = Source.from_json((await read_json(request)).get("source"))
        view = await run(renderer, lambda: png(studio.before(source)), lane="before")
        return Response(view, media_type="image/png", headers={"cache-control": "no-store"})

    async def scores(request: Request) -> Response:
        state = state_of(await read_json(request))
        rendered = await run(renderer, partial(studio.render, state))
        values = await run(scorer, partial(studio.scores, rendered), lane="scores")
        return JSONResponse({"state": state.key(), "scores": values})

    async def commit(request: Request) -> Response:
        studio.commit(state_of(await read_json(request)))
        return JSONResponse({"state": studio.current.to_json()})

    async def undo(request: Request) -> Response:
        await read_json(request)
        return JSONResponse({"state": studio.undo().to_json()})

    async def export(request: Request) -> Response:
        state = state_of(await read_json(request))
        folder = await run(renderer, partial(studio.export, state))
        files = {path.name: f"/files/exports/{folder.name}/{path.name}" for path in sorted(folder.iterdir())}
        return JSONResponse({"folder": str(folder), "files": files})

    async def upload_photo(request: Request) -> Response:
        data = await read_body(request, max_upload)
        name = await asyncio.to_thread(studio.add_photo, upload_name(request, "photo"), data)
        face = await run(renderer, partial(studio.prepare_photo, name), lane="photo")
        return JSONResponse({"source": Source("photo", file=name).to_json(), **face.quality})

    async def progress(request: Request) -> Response:
        return JSONResponse({"progress": studio.progress()})

    async def upload_codes(request: Request) -> Response:
        data = await read_body(request, max_upload)
        added = await asyncio.to_thread(studio.add_codes, upload_name(request, "codes.npy"), data)
        return JSONResponse({"added": added, "codes": studio.codes_files()})

    async def sheet(request: Request) -> Response:
        data = await read_json(request)
        attribute = json_value(data, "attribute")
        labels = studio.labels.read(attribute)
        if data.get("suggest"):
            items = await run(renderer, partial(studio.suggest_sheet, attribute, data.get("n", 24)))
        elif "items" in data:
            items = data["items"]
            if not isinstance(items, list) or len(items) > 200:
                raise UsageError("items must be a list of at most 200 FILE.npy:ROW entries")
        else:
            items = await run(renderer, partial(studio.label_sheet, json_value(data, "seed"), json_value(data, "n")))
        faces = await run(renderer, partial(studio.sheet_faces, items))
        return JSONResponse(
            {
                "attribute": attribute,
                "csv": f"/files/labels/{studio.labels.csv_path(attribute).name}",
                "faces": [
                    {
                        "item": item,
                        "label": labels.get(item),
                        "image": "data:image/png;base64," + base64.b64encode(png(face)).decode(),
                    }
                    for item, face in zip(items, faces)
                ],
            }
        )

    async def label(request: Request) -> Response:
        data = await read_json(request)
        fields = [json_value(data, name) for name in ("attribute", "item", "label")]
        counts = await asyncio.to_thread(studio.labels.set, *fields)
        return JSONResponse({"counts": counts})

    async def files(request: Request) -> Response:
        params = request.path_params
        path = studio.path(params.get("folder", "exports"), params["name"], params.get("export"))
        if not path.is_file():
            raise HTTPException(404, f"no file {request.url.path.removeprefix('/files/')} in the studio's work folder")
        return FileResponse(path)

    def handled(endpoint: Callable, post: bool) -> Callable:
        """The endpoint, answering errors as ``{"error": ...}`` (a job replaced by a newer one: 204, no content);
        a POST answers only the studio's own page (its header needs a CORS preflight from other sites)."""

        async def call(request: Request) -> Response:
            try:
                if post and request.headers.get(CLIENT_HEADER) != "1":
                    raise HTTPException(403, f"requests must come from the studio's page (header {CLIENT_HEADER})")
                return await endpoint(request)
            except Superseded:
                return Response(status_code=204)
            except HTTPException as exc:
                return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
            except LatentEditError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422 if isinstance(exc, NoFaceError) else 400)
            except Exception as exc:  # noqa: BLE001 (a bug: one line for the page and the terminal, no traceback)
                print(f"latentedit studio: {request.url.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return JSONResponse({"error": f"internal error ({type(exc).__name__}: {exc})"}, status_code=500)

        return call

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    posts = {
        "render": render,
        "before": before,
        "scores": scores,
        "commit": commit,
        "undo": undo,
        "export": export,
        "photo": upload_photo,
        "codes": upload_codes,
        "sheet": sheet,
        "label": label,
    }
    gets = {
        "/": index,
        "/api/info": info,
        "/api/progress": progress,
        "/files/exports/{export}/{name}": files,
        "/files/{folder}/{name}": files,
    }
    routes = [
        *[Route(path, handled(endpoint, post=False)) for path, endpoint in gets.items()],
        *[Route(f"/api/{name}", handled(endpoint, post=True), methods=["POST"]) for name, endpoint in posts.items()],
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    # Starlette types a handler's exception as Exception, so a handler of one exception class does not fit its stub.
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found},  # type: ignore[dict-item]
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])],
    )
    app.state.workers = (renderer, scorer)
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), or a one-line error."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(128)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
    return sock


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(studio: Studio, sock: socket.socket, open_browser: bool = False, max_upload: int = MAX_UPLOAD) -> None:
    """Serve the studio on a socket from :func:`bind` until Ctrl-C (or SIGTERM); prints the URL first."""
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    allowed = [*LOOPBACK, "[::1]"] if host in LOOPBACK else None  # a page at another name (DNS rebinding) is refused
    app = create_app(studio, max_upload, allowed)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    )
    # Ctrl-C as soon as the URL shows stops as cleanly as later: until uvicorn takes the signal over (and after it
    # gives it back), it asks the server to exit instead of raising KeyboardInterrupt wherever Python happens to be
    # (inside the event loop's construction, it left a traceback and a never-awaited coroutine).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: setattr(server, "should_exit", True)) if main else None
    try:
        print(f"latentedit studio: {url} (work folder {studio.workdir}; Ctrl-C stops)", flush=True)
        if open_browser:
            webbrowser.open(url)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for worker in app.state.workers:
            worker.stop()
        sock.close()
    print("latentedit studio: stopped", flush=True)


__all__ = ["Superseded", "Worker", "bind", "create_app", "serve"]
