"""``omnivec index build|info`` and ``omnivec search``: vector indexes over an embeddings Parquet, with a
lexical (BM25) part over the items' text; search in dense, lexical or hybrid mode.

Library code is imported inside the commands, so ``omnivec --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from omnivec.cli.options import device_option, load_model

app = typer.Typer(no_args_is_help=True)

_KIND_OPTIONS = ("hnsw_m", "ef_construction", "ef_search", "nlist", "pq_m", "nbits", "nprobe", "refine")


@app.command("build")
def build_cmd(
    emb: Path = typer.Option(
        ..., help="embeddings Parquet (item_id, embedding), as written by `omnivec embed`"
    ),
    out: Path = typer.Option(..., help="index folder to write (replaced atomically)"),
    backend: str = typer.Option("faiss", help="faiss | milvus"),
    kind: str = typer.Option("flat", help="flat (exact) | hnsw | ivfpq"),
    dim: int = typer.Option(
        None, help="Matryoshka truncation: keep the leading DIM components, re-normalised"
    ),
    items: Path = typer.Option(
        None, help="items file (.parquet/.jsonl with item_id) whose fields come back with hits"
    ),
    fields: str = typer.Option(None, help="comma-separated item columns to keep (default: all)"),
    model: Path = typer.Option(None, help="model folder that made the embeddings (recorded for `search`)"),
    task: str = typer.Option(
        None, help="prompt task for queries of this index, e.g. q2i (recorded for `search`)"
    ),
    metric: str = typer.Option("ip", help="ip | cosine (vectors are normalised: same ranking)"),
    seed: int = typer.Option(0, help="seed of the recall@10 query sample"),
    recall_queries: int = typer.Option(200, help="corpus vectors used as queries to measure recall@10"),
    compare: bool = typer.Option(
        False, "--compare", help="also measure recall@10 of the backend's other kinds"
    ),
    hnsw_m: int = typer.Option(None, help="hnsw: graph degree M (default 32)"),
    ef_construction: int = typer.Option(None, help="hnsw: efConstruction (default 100)"),
    ef_search: int = typer.Option(None, help="hnsw: efSearch (default 64)"),
    nlist: int = typer.Option(None, help="ivfpq: inverted lists (default and cap: min(4·√N, N/39))"),
    pq_m: int = typer.Option(None, help="ivfpq: PQ sub-quantizers, must divide dim"),
    nbits: int = typer.Option(None, help="ivfpq: bits per PQ code (default log2(N/39) within 4..8)"),
    nprobe: int = typer.Option(None, help="ivfpq: lists visited per query"),
    refine: int = typer.Option(None, help="faiss ivfpq: re-rank REFINE×k candidates exactly (0 = off)"),
    uri: str = typer.Option(
        None, help="milvus: server URI (http://host:19530) or a .db file; default: milvus.db in OUT"
    ),
    collection: str = typer.Option(None, help="milvus: collection name / alias (default omnivec)"),
    lexical: bool = typer.Option(
        None,
        "--lexical/--no-lexical",
        help="BM25 index of the items' text fields in OUT/lexical (default: on when --items have text)",
    ),
) -> None:
    """Build an index, print recall@10 of the built kind against exact search, and write OUT atomically.

    Milvus credentials are read from $MILVUS_TOKEN, never stored.
    """
    from omnivec.index import build_index_from_files

    values = (hnsw_m, ef_construction, ef_search, nlist, pq_m, nbits, nprobe, refine)
    given = dict(zip(_KIND_OPTIONS, values, strict=True))
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if backend == "milvus":
        options.update({k: v for k, v in (("uri", uri), ("collection", collection)) if v is not None})
    elif uri is not None or collection is not None:
        raise typer.BadParameter("--uri and --collection apply to --backend milvus only")
    info = build_index_from_files(
        emb, out, items_path=items, backend=backend, kind=kind, dim=dim, metric=metric, seed=seed,
        model=model, task=task, recall_queries=recall_queries, compare_kinds=compare, progress=True,
        lexical=lexical, fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
        **options,
    )  # fmt: skip
    typer.echo(
        f"built {info.backend} {info.kind} index of {info.size} vectors (dim {info.dim} of {info.source_dim}) "
        f"-> {info.path} in {info.seconds:.1f}s"
    )
    if info.options:
        typer.echo("options: " + ", ".join(f"{k}={v}" for k, v in sorted(info.options.items())))
    typer.echo(f"recall@10 vs exact search ({info.recall_queries} corpus queries, seed {seed}):")
    for name, value in info.recall_by_kind.items():
        shown = f"{value:.4f}" if value is not None else "skipped"
        typer.echo(f"  {name:6s} {shown}" + ("  (built)" if name == info.kind else ""))
    if items is not None:
        typer.echo(
            f"items: {info.items['with_fields']} with fields, {info.items['missing']} without, "
            f"{info.items['unused']} unused rows in {items}"
        )
    if info.lexical:
        typer.echo(
            f"lexical: BM25 over {info.lexical['size']} items with text "
            f"(fields {', '.join(info.lexical['fields'])}; {info.lexical['vocabulary']} terms) "
            f"-> {info.path}/lexical"
        )
    for note in info.notes:
        typer.secho(f"note: {note}", fg="yellow")


@app.command("fit-router")
def fit_router_cmd(
    index: Path = typer.Option(..., help="index folder with a lexical part (`omnivec index build`)"),
    data: Path = typer.Option(..., help="data folder (world or dataset) with sources/ and the indexed items"),
    model: Path = typer.Option(None, help="model folder (default: the one recorded in the index)"),
    queries: int = typer.Option(
        400, help="labelled queries of each kind: search-log, item-pairs, known-item"
    ),
    seed: int = typer.Option(0, help="seed of the query samples"),
    known_max_matches: int = typer.Option(10, help="a known-item query matches at most this many items"),
    threshold: float = typer.Option(None, help="probability cut for BM25 order (default: fitted)"),
    name_field: list[str] = typer.Option(
        ["nickname"], help="item field whose whole values are names (creator handles, brands); repeatable"
    ),
) -> None:
    """Learn which queries BM25 serves better (names, codes) and which the dense side does, from the data
    folder's search logs, item pairs and item text; save INDEX/router.json. Hybrid search then routes each
    query (weights "auto", the default for an index with a router)."""
    from omnivec.evaluation.router import fit_index_router

    router, path = fit_index_router(
        index, data, model, n_per_kind=queries, seed=seed, known_max_matches=known_max_matches,
        threshold=threshold, progress=True, name_fields=tuple(name_field),
    )  # fmt: skip
    stats = router.stats
    typer.echo(
        f"router: {stats['informative']} of {stats['examples']} queries informative, threshold "
        f"{router.threshold:.2f}, shares {router.low_share}/{router.high_share} -> {path}"
    )
    for name, row in stats["by_source"].items():
        typer.echo(
            f"  {name:11s} {row['examples']:5d} queries  prefer BM25 {row['prefer_lexical']:.2f}  "
            f"routed to BM25 {row['routed_lexical']:.2f}"
        )
    typer.echo(f"  {len(router.names)} catalogue names ({', '.join(name_field)}) for the name_match feature")
    typer.echo(
        f"  utility (fraction of each query's better side, source-balanced): routed "
        f"{stats['balanced_utility']:.3f}, dense {stats['balanced_utility_dense']:.3f}, "
        f"BM25 {stats['balanced_utility_lexical']:.3f}"
    )


@app.command("info")
def info_cmd(index: Path = typer.Argument(..., help="index folder")) -> None:
    """Print an index folder's metadata (index.json)."""
    from omnivec.index import read_info

    typer.echo(json.dumps(read_info(index), indent=2, sort_keys=True))


def search(
    index: Path = typer.Option(..., help="index folder written by `omnivec index build`"),
    text: str = typer.Option(None, help="query text"),
    image: Path = typer.Option(None, help="query image file"),
    audio: Path = typer.Option(None, help="query audio file"),
    video: Path = typer.Option(None, help="query video file"),
    k: int = typer.Option(10, "-k", "--k", help="number of results"),
    model: Path = typer.Option(None, help="model folder (default: the one recorded in the index)"),
    task: str = typer.Option(None, help="prompt task of the query (default: the index's, else q2i)"),
    side: str = typer.Option("query", help="prompt side of the query"),
    mode: str = typer.Option(
        "dense",
        help="dense (vectors) | lexical (BM25 over item text; --text only, no model) | hybrid (fused)",
    ),
    fusion: str = typer.Option(None, help="hybrid: rrf (reciprocal-rank, default) | weighted (score sum)"),
    dense_weight: float = typer.Option(None, help="hybrid: weight of the dense ranking (default 1)"),
    lexical_weight: float = typer.Option(None, help="hybrid: weight of the lexical ranking (default 1)"),
    auto: bool = typer.Option(
        None,
        "--auto/--no-auto",
        help="hybrid: per-query weights from the index's router (default: on when it has router.json)",
    ),
    candidates: int = typer.Option(None, help="hybrid: candidates taken from each side (default 100)"),
    as_json: bool = typer.Option(False, "--json", help="print the hits as JSON"),
    device: str = device_option(),
) -> None:
    """Search an index: embed the query (text and/or media) and/or match its text with BM25; print the top-k
    items: id, score, fields."""
    from omnivec.errors import ConfigError
    from omnivec.index import open_index
    from omnivec.index import search as search_index
    from omnivec.index.hybrid import DEFAULT_CANDIDATES, MODES

    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    query = {
        key: value if isinstance(value, str) else str(value)
        for key, value in (("text", text), ("image", image), ("audio", audio), ("video", video))
        if value is not None
    }
    if not query:
        raise typer.BadParameter("give at least one of --text, --image, --audio, --video")
    if mode != "dense" and not (text or "").strip():
        raise typer.BadParameter(f"--mode {mode} needs --text (BM25 matches the query text)")
    if mode == "lexical" and len(query) > 1:
        raise typer.BadParameter(
            "--mode lexical searches text only; drop --image/--audio/--video or use hybrid"
        )
    hybrid_options = {"--fusion": fusion, "--dense-weight": dense_weight, "--lexical-weight": lexical_weight,
                      "--candidates": candidates, "--auto/--no-auto": auto}  # fmt: skip
    given = [name for name, value in hybrid_options.items() if value is not None]
    if given and mode != "hybrid":
        raise typer.BadParameter(f"{', '.join(given)} apply to --mode hybrid only")
    weights: Any = {s: w for s, w in (("dense", dense_weight), ("lexical", lexical_weight)) if w is not None}
    if auto and weights:
        raise typer.BadParameter("--auto picks weights per query; drop --dense-weight/--lexical-weight")
    if auto:
        weights = "auto"
    elif auto is False and not weights:
        weights = {"dense": 1.0, "lexical": 1.0}
    idx = open_index(index)
    try:
        loaded = None
        if mode != "lexical":
            model_dir = model or idx.info.get("model")
            if model_dir is None:
                raise ConfigError(f"no --model given and index {index} records no model; pass --model DIR")
            loaded = load_model(model_dir, device)
        task = task or idx.info.get("task") or "q2i"
        hits = search_index(
            loaded, idx, query, k, task=task, side=side, mode=mode, fusion=fusion or "rrf",
            weights=weights or None, candidates=candidates or DEFAULT_CANDIDATES,
        )  # fmt: skip
    finally:
        close = getattr(idx, "close", None)
        if close is not None:
            close()
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2, default=str))
        return
    for rank, hit in enumerate(hits, start=1):
        fields = "  ".join(f"{key}={value!r}" for key, value in hit.fields.items())
        sides = "  ".join(
            f"[{side} #{d['rank']} {d['score']:.4f}]" for side, d in hit.details.items()
        ) if mode == "hybrid" else ""  # fmt: skip
        line = f"{rank:3d}. {hit.score:.4f}  {hit.id}"
        typer.echo(line + (f"  {sides}" if sides else "") + (f"  {fields}" if fields else ""))
