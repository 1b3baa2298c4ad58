"""Connecting to Milvus: URIs (milvus-lite ``.db`` paths or servers), tokens, and milvus-lite's servers.

milvus-lite runs one in-process server per database path and keeps it (and the database's LOCK) after
``client.close()``; :func:`connect` and :func:`close_client` count this module's clients per path so the
server is released when the last one closes, and :func:`release_lite` stops it outright when the folder
it served has been replaced.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omnivec.errors import ConfigError, OmnivecError

LOCAL_DB = "milvus.db"
DEFAULT_COLLECTION = "omnivec"
TOKEN_ENV = "MILVUS_TOKEN"
#: Collection names Milvus accepts, leaving room for the ``_v<n>`` version suffix.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")

#: milvus-lite database path → ids of the clients this process has open on it.
_lite_clients: dict[str, set[int]] = {}
_lite_lock = threading.Lock()


class MilvusBackendError(OmnivecError):
    """Milvus refused a request; the message names the URI and collection."""


def pymilvus_module() -> Any:
    """``pymilvus``, imported on first use, or a :class:`ConfigError` saying what to install."""
    try:
        import pymilvus
    except ImportError:
        raise ConfigError(
            "backend 'milvus' needs pymilvus (and milvus-lite for local .db files): "
            "pip install pymilvus milvus-lite"
        ) from None
    return pymilvus


def is_lite(uri: str) -> bool:
    """Whether ``uri`` names a milvus-lite database (a local path ending in ``.db``)."""
    return uri.endswith(".db")


def release_lite(path: str, client: Any = None) -> None:
    """Forget ``client`` of the milvus-lite server for ``path``; stop the server when it was the last one.
    Without ``client``, stop it now (its clients become unusable)."""
    path = os.path.abspath(path)
    with _lite_lock:
        users = _lite_clients.get(path, set())
        if client is not None:
            if id(client) not in users:
                return  # already released (forced), the server may now belong to newer clients
            users.discard(id(client))
            if users:
                return
        _lite_clients.pop(path, None)
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(path)


def connect(uri: str, token: str | None = None) -> Any:
    """A ``MilvusClient`` for ``uri`` (a milvus-lite ``.db`` path or a server URI), with a clear error."""
    pymilvus = pymilvus_module()
    token = token if token is not None else os.environ.get(TOKEN_ENV, "")
    try:
        client = pymilvus.MilvusClient(uri=uri, token=token)
    except Exception as exc:
        hint = ""
        if is_lite(uri):
            hint = (
                " (milvus-lite lets one process open a database at a time; is another process using it? "
                "Use a Milvus server for shared access)"
            )
        raise MilvusBackendError(f"cannot connect to Milvus at {uri!r}: {exc}{hint}") from None
    if is_lite(uri):
        with _lite_lock:
            _lite_clients.setdefault(os.path.abspath(uri), set()).add(id(client))
    return client


def location(connection: Mapping[str, Any], folder: Path) -> tuple[dict[str, Any], str]:
    """``(index.json 'milvus' entry, URI to connect to now)`` for the build's connection options."""
    uri = connection.get("uri")
    collection = str(connection.get("collection") or DEFAULT_COLLECTION)
    if not _NAME.match(collection):
        raise ConfigError(
            f"Milvus collection name {collection!r} must start with a letter or '_' and contain only "
            "letters, digits and '_' (at most 200 characters)"
        )
    if uri is None or str(uri) == "":
        return {"uri": LOCAL_DB, "local": True, "collection": collection}, str(folder / LOCAL_DB)
    uri = str(uri)
    if is_lite(uri):
        uri = os.path.abspath(uri)
        if not Path(uri).parent.is_dir():
            raise ConfigError(f"Milvus uri {uri!r}: folder {Path(uri).parent} does not exist")
        return {"uri": uri, "local": False, "collection": collection}, uri
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https", "tcp", "unix"):
        raise ConfigError(
            f"Milvus uri {uri!r}: expected http(s)://host:port, a unix: socket or a path ending in .db"
        )
    if parsed.password or parsed.username:
        raise ConfigError(
            f"Milvus uri {parsed.hostname!r}: put credentials in the token option or ${TOKEN_ENV}, "
            "not in the URI (index.json would store them)"
        )
    return {"uri": uri, "local": False, "collection": collection}, uri


def close_client(client: Any, uri: str) -> None:
    """Close ``client``; for milvus-lite, release the server when it was the path's last client."""
    try:
        client.close()
    finally:
        if is_lite(uri):
            release_lite(uri, client)
