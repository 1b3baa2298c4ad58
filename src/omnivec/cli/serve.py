"""``omnivec serve``: run the embedding server (OpenAI-compatible ``/v1/embeddings``, ``/v1/search``, page)."""

from __future__ import annotations

from pathlib import Path

import typer

from omnivec.cli.options import device_option, load_model


def serve(
    model: Path = typer.Option(..., help="saved omnivec model folder"),
    index: Path = typer.Option(None, help="index folder for /v1/search and the page (omnivec.index)"),
    host: str = typer.Option(
        "127.0.0.1", help="interface to bind; 0.0.0.0 exposes the server to the network"
    ),
    port: int = typer.Option(8080),
    model_name: str = typer.Option(None, help="id clients pass as `model` (default: the model folder name)"),
    api_key: list[str] = typer.Option(
        None, envvar="OMNIVEC_API_KEYS", help="accepted Bearer key; repeat it, or set OMNIVEC_API_KEYS=k1,k2"
    ),
    media_root: Path = typer.Option(
        None, help="local media paths inside it may be embedded and give thumbnails (default: none)"
    ),
    max_body_mb: float = typer.Option(32.0, help="largest request body, MiB"),
    max_queue_items: int = typer.Option(512, help="items waiting for the model before 429"),
    max_pending_requests: int = typer.Option(64, help="requests in flight before 429"),
    max_batch_items: int = typer.Option(32, help="items per forward pass"),
    max_batch_tokens: int = typer.Option(16_384, help="padded tokens per forward pass"),
    max_batch_pixels: int = typer.Option(64 * 224 * 224, help="decoded frame pixels per forward pass"),
    batch_wait_ms: float = typer.Option(2.0, help="wait for more items before a partial batch"),
    request_timeout: float = typer.Option(30.0, help="seconds per request before 504"),
    search_mode: str = typer.Option(
        "dense",
        help="mode of /v1/search requests that name none: dense | lexical | hybrid (lexical and hybrid need "
        "an index built with a lexical part; queries without text still run dense)",
    ),
    search_fusion: str = typer.Option("rrf", help="hybrid fusion of requests that name none: rrf | weighted"),
    log_level: str = typer.Option("info"),
    device: str = device_option(),
) -> None:
    """Serve a model (and optionally an index) over HTTP until Ctrl-C / SIGTERM, then drain in-flight work."""
    from pydantic import ValidationError

    from omnivec.errors import ConfigError

    try:
        import uvicorn

        from omnivec.serve import ServeSettings, create_app
    except ImportError as exc:
        raise ConfigError(f"serving needs {exc.name!r}: pip install 'omnivec[serve]'") from None

    keys = [k.strip() for raw in (api_key or []) for k in raw.split(",") if k.strip()]
    try:
        settings = ServeSettings(
            model_name=model_name or model.resolve().name,
            api_keys=tuple(keys),
            media_root=media_root,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            max_queue_items=max_queue_items,
            max_pending_requests=max_pending_requests,
            max_batch_items=max_batch_items,
            max_batch_tokens=max_batch_tokens,
            max_batch_pixels=max_batch_pixels,
            batch_wait_ms=batch_wait_ms,
            request_timeout_s=request_timeout,
            search_mode=search_mode,
            search_fusion=search_fusion,
            max_request_items=max(1, min(256, max_queue_items)),
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"serve: {where}: {err['msg']}") from None
    loaded_index = None
    if index is not None:
        from omnivec.index import open_index

        loaded_index = open_index(index)
        recorded = (getattr(loaded_index, "info", None) or {}).get("model")
        if recorded and Path(recorded).resolve() != model.resolve():
            typer.secho(
                f"warning: the index was built from model {recorded}, not {model}", fg="yellow", err=True
            )
    app = create_app(load_model(model, device), index=loaded_index, settings=settings)
    auth = f"{len(keys)} API key(s)" if keys else "no API key (anyone who can reach it may use it)"
    typer.echo(f"serving {settings.model_name} on http://{host}:{port}/ ({auth})")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)
