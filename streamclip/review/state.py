"""OUT/report/.state.json: which inputs each page was made from, and the removal of the pages of
videos no longer in the output.

The state file is read as untrusted input (a folder others can write into, a copy from a bucket):
a key is kept only when it is a slug `slug_of` makes, and every path removed is resolved first
(symbolic links followed) and must lie inside the site's own folder for it. Each page also carries
its stamp in a `<meta name="streamclip-page">`, so a state can be rebuilt from the pages
themselves (`state_from_pages`: the S3 site never reads a state file from its bucket).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from streamclip.review.model import is_slug
from streamclip.storage.workspace import write_atomic

log = logging.getLogger(__name__)

STATE_FILE = ".state.json"
PAGE_STAMP = "streamclip-page"  # the name of the <meta> that holds a page's stamp
_STAMP = re.compile(rf'<meta name="{PAGE_STAMP}" content="([^"<>]*)">')
_HEAD_BYTES = 4096  # the stamp is in the page's <head>


def read_state(root: Path) -> dict[str, str]:
    """The state of the site at `root`: slug -> stamp (empty when missing or unreadable)."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    kept = {str(k): str(v) for k, v in data.items() if isinstance(k, str) and is_slug(k)}
    if len(kept) != len(data):
        log.warning("review: %s: %d key(s) that are not page names ignored", root / STATE_FILE, len(data) - len(kept))
    return kept


def write_state(root: Path, state: dict[str, str]) -> None:
    write_atomic(root / STATE_FILE, json.dumps(state, indent=1, sort_keys=True).encode())


def state_from_pages(root: Path) -> dict[str, str]:
    """The state as the pages in `root/videos/` tell it (a page without a stamp is made again)."""
    state = {}
    for page in (root / "videos").glob("*.html"):
        slug = page.name[: -len(".html")]
        stamp = _page_stamp(page) if is_slug(slug) else None
        if stamp is not None:
            state[slug] = stamp
    return state


def _page_stamp(page: Path) -> str | None:
    try:
        with page.open("rb") as file:
            head = file.read(_HEAD_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    found = _STAMP.search(head)
    return found.group(1) if found is not None else None


def remove_pages(root: Path, slugs: set[str]) -> None:
    """Remove the page and the strip of each slug, only ever inside `root/videos` and `root/media`
    (a symbolic link there is removed, never followed)."""
    pages, media = _own_folder(root, "videos"), _own_folder(root, "media")
    for slug in filter(is_slug, slugs):
        page = pages / f"{slug}.html" if pages is not None else None
        if page is not None and (page.is_symlink() or not page.is_dir()):
            page.unlink(missing_ok=True)
        strip = media / slug if media is not None else None
        if strip is not None and strip.is_symlink():
            strip.unlink()
        elif strip is not None and strip.is_dir():
            shutil.rmtree(strip, ignore_errors=True)


def _own_folder(root: Path, name: str) -> Path | None:
    """`root/name` resolved, when it is that folder of the site (not a link to somewhere else)."""
    try:
        base, folder = root.resolve(), (root / name).resolve()
    except (OSError, RuntimeError):
        return None
    if folder != base / name:
        log.warning("review: not removing anything in %s: it leads out of the site (%s)", root / name, folder)
        return None
    return folder
