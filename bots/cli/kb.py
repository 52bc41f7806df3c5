"""`sovetnik kb`: ingest knowledge files, search and evaluate the index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bots.assembly import knowledge_index
from bots.cli.common import fail, print_json, read_jsonl, state
from knowledge.evaluation import first_relevant_rank, score
from knowledge.index import KnowledgeIndex
from knowledge.types import SearchFilter, SearchMode
from pipelines.ingest.run import IngestReport, ingest

app = typer.Typer(no_args_is_help=True, help="The knowledge base: ingest, search, evaluate.")

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder (default: "
                     "knowledge.index_dir); never touches the configured index when given.")]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Results per query.")]
ModeOpt = Annotated[str, typer.Option("--mode", help="hybrid | bm25 | dense")]
TagsOpt = Annotated[list[str] | None, typer.Option("--tag", help="Limit to chunks with this tag.")]


def _index(ctx: typer.Context, index: Path | None) -> KnowledgeIndex:
    return knowledge_index(state(ctx).settings, index)


def _mode(mode: str) -> SearchMode:
    if mode not in ("hybrid", "bm25", "dense"):
        raise fail(f"--mode: недопустимое значение {mode!r}; допустимо: hybrid, bm25, dense")
    return mode  # type: ignore[return-value]


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.md .txt .html .pdf .docx).")],
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything.")] = False,
) -> None:
    """Ingest files and folders incrementally; print added/updated/removed/skipped."""
    settings = state(ctx).settings
    report = ingest(paths, _index(ctx, index), embedder_config=settings.embeddings.model,
                    rebuild=rebuild)
    _print_report(report)


def _print_report(report: IngestReport) -> None:
    typer.echo(f"added: {len(report.added)}  updated: {len(report.updated)}  "
               f"removed: {len(report.removed)}  skipped: {len(report.skipped)}  "
               f"unchanged: {len(report.unchanged)}  chunks written: {report.chunks}")
    for name in report.added:
        typer.echo(f"  + {name}")
    for name in report.updated:
        typer.echo(f"  ~ {name}")
    for name in report.removed:
        typer.echo(f"  - {name}")
    for name, reason in report.skipped:
        typer.echo(f"  ! {name}: {reason}")
    if report.cleaned and any(report.cleaned.values()):
        typer.echo("  cleaned: " + ", ".join(f"{k} {v}" for k, v in report.cleaned.items()))
    if report.weights:
        typer.echo(f"  fusion: {report.weights}")


@app.command("search")
def search_cmd(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="The question.")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="JSONL with id, q.")] = None,
    index: IndexOpt = None, k: KOpt = 5, mode: ModeOpt = "hybrid", tag: TagsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Search the index for one query or for every line of --queries."""
    if (query is None) == (queries is None):
        raise fail("Укажите либо запрос, либо --queries FILE.jsonl.")
    idx, m = _index(ctx, index), _mode(mode)
    flt = SearchFilter(frozenset(tag)) if tag else SearchFilter()
    if queries is not None:
        for obj in read_jsonl(queries, ("id", "q")):
            print_json({"id": obj["id"], "q": obj["q"], "results": _results(idx, str(obj["q"]), k, m, flt)})
        return
    results = _results(idx, str(query), k, m, flt)
    if as_json:
        print_json({"q": query, "results": results})
        return
    for rank, r in enumerate(results, start=1):
        typer.echo(f"{rank}. [{r['score']:.3f}] {r['source']} — {r['heading']}\n   {r['text']}\n")
    if not results:
        typer.echo("Ничего не найдено.")


def _results(idx: KnowledgeIndex, q: str, k: int, mode: SearchMode, flt: SearchFilter) -> list[dict]:
    return [{"text": h.chunk.text, "source": h.chunk.source, "score": round(h.score, 6),
             "heading": h.chunk.heading} for h in idx.search(q, k, mode, flt)]


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL with id, q, expect_any.")],
    index: IndexOpt = None, k: KOpt = 10, mode: ModeOpt = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """hit@1/3/5 and MRR@10 of the index on a question set."""
    idx, m = _index(ctx, index), _mode(mode)
    ranks = []
    for obj in read_jsonl(file, ("id", "q", "expect_any")):
        hits = idx.search(str(obj["q"]), max(k, 10), m)
        ranks.append(first_relevant_rank([h.chunk.text for h in hits], list(obj["expect_any"])))
    result = score(ranks).as_dict() | {"mode": m}
    if as_json:
        print_json(result)
        return
    typer.echo(f"mode {m}: questions {result['questions']}  hit@1 {result['hit@1']:.3f}  "
               f"hit@3 {result['hit@3']:.3f}  hit@5 {result['hit@5']:.3f}  "
               f"MRR@10 {result['mrr@10']:.3f}")
