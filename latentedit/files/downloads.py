"""Published checkpoints: where they come from, where they are cached, and a resumable, verified download."""

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..errors import WeightsError
from .weights import sha256_file

CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$LATENTEDIT_CACHE``, else ``$XDG_CACHE_HOME/latentedit``, else ``~/.cache/latentedit``."""
    if os.environ.get("LATENTEDIT_CACHE"):
        return Path(os.environ["LATENTEDIT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latentedit"


@dataclass(frozen=True)
class DownloadedWeights:
    """A checkpoint published at ``url`` (documented at ``source``), kept in the user cache as ``filename``.

    ``sha256`` pins the file when a published or verified digest is known; ``None`` means it cannot be checked.
    """

    model: str
    filename: str
    url: str
    source: str
    sha256: str | None = None

    @property
    def path(self) -> Path:
        return cache_dir() / self.filename

    @property
    def install_command(self) -> str:
        return f"latentedit models pull {self.model}"

    def locate(self) -> Path | None:
        return self.path if self.path.is_file() else None

    def describe(self) -> str:
        return self.url

    def verified_path(self) -> Path:
        """The cached file after checking its sha256 (when pinned); raises :class:`WeightsError` otherwise."""
        path = self.locate()
        if path is None:
            raise WeightsError(
                f"weights for {self.model} are not in {self.path}; run: {self.install_command} "
                f"(downloads {self.url}), or download that file yourself and put it at {self.path}, "
                f"or pass --weights PATH"
            )
        if self.sha256 and (actual := sha256_file(path)) != self.sha256:
            raise WeightsError(
                f"weights file {path} is corrupted (sha256 {actual[:12]}…, expected {self.sha256[:12]}…); "
                f"delete it and run: {self.install_command}"
            )
        return path

    def pull(self, progress: bool = True) -> Path:
        """Download into the cache unless already there (and intact); return the path."""
        if self.locate() is not None and (not self.sha256 or sha256_file(self.path) == self.sha256):
            return self.path
        return download(self.url, self.path, self.sha256, progress)


def download(url: str, target: Path, sha256: str | None = None, progress: bool = True, timeout: float = 30) -> Path:
    """Download ``url`` to ``target`` via ``target.part``, resuming a partial file with an HTTP Range request.

    The file is renamed into place only when complete and, if ``sha256`` is given, matching. A broken
    transfer keeps the partial file for the next attempt; a wrong digest deletes it.
    """
    target = Path(target)
    partial = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create the cache folder {target.parent}: {exc.strerror}") from None
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "latentedit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    hint = f"download {url} with a browser and put it at {target}, or pass --weights PATH"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = have > 0 and response.status == 206
            if not resumed:
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with (
                open(partial, "ab" if resumed else "wb") as out,
                tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=target.name, disable=not progress
                ) as bar,
            ):
                while block := response.read(CHUNK):
                    out.write(block)
                    bar.update(len(block))
            if total is not None and partial.stat().st_size < total:
                raise WeightsError(
                    f"download of {url} stopped at {partial.stat().st_size} of {total} bytes; "
                    f"run the command again to resume, or {hint}"
                )
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:  # 416: the partial file is already complete
            raise WeightsError(f"cannot download {url}: HTTP {exc.code} {exc.reason}; {hint}") from None
    except http.client.IncompleteRead:
        raise WeightsError(
            f"download of {url} broke off after {partial.stat().st_size} bytes; run the command again to resume, "
            f"or {hint}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise WeightsError(f"cannot download {url}: {reason}; {hint}") from None
    if sha256 and (actual := sha256_file(partial)) != sha256:
        partial.unlink()
        raise WeightsError(
            f"download of {url} is corrupted (sha256 {actual[:12]}…, expected {sha256[:12]}…); try again"
        )
    os.replace(partial, target)
    return target
