"""`distillgraph prompts list | show | export | check` and `distillgraph data bbc | wnut`."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.table import Table

from distillgraph.graph.cli_common import console, data_app, err, prompts_app, user_errors
from distillgraph.prompts import PromptLibrary


@prompts_app.command("list")
@user_errors
def prompts_list(prompts: Path | None = typer.Option(None, "--prompts")) -> None:
    lib = PromptLibrary(prompts)
    t = Table("name", "version", "source", "hash", "description")
    for name in lib.names():
        p = lib.get(name)
        t.add_row(name, p.version, lib.source(name), p.hash, p.description[:70])
    console.print(t)


@prompts_app.command("show")
@user_errors
def prompts_show(name: str, prompts: Path | None = typer.Option(None, "--prompts"),
                 render: bool = typer.Option(False, "--render", help="render with the sample variables")) -> None:
    lib = PromptLibrary(prompts)
    p = lib.get(name)
    if render:
        for m in p.render(**p.variables):
            console.rule(m["role"])
            console.print(m["content"], highlight=False, markup=False)
    else:
        console.print(p.path.read_text(encoding="utf-8"), highlight=False, markup=False)


@prompts_app.command("export")
@user_errors
def prompts_export(dest: Path) -> None:
    """Copy the packaged prompt files to a folder to edit; use it with --prompts or prompts.dir."""
    dest.mkdir(parents=True, exist_ok=True)
    lib = PromptLibrary()
    for name in lib.names():
        shutil.copy(lib.path_of(name), dest / f"{name}.yaml")
    console.print(f"exported {len(lib.names())} prompt files to {dest}")


@prompts_app.command("check")
@user_errors
def prompts_check(prompts: Path | None = typer.Option(None, "--prompts")) -> None:
    """Render every template with its sample variables; fail on undeclared or unused variables."""
    problems = PromptLibrary(prompts).check_all()
    for p in problems:
        err.print(f"[red]{p}[/]", highlight=False)
    if problems:
        raise typer.Exit(2)
    console.print("all prompt files OK")


@data_app.command("bbc")
@user_errors
def data_bbc(out: Path = typer.Option(..., "--out"), task: str = typer.Option("topic", "--task", help="topic | headline"),
             pool_size: int = typer.Option(1200, "--pool-size"), seed: int = typer.Option(0, "--seed")) -> None:
    """Write the long-tailed BBC split (pool/dev/test JSONL) so you can see the data format."""
    from distillgraph.store.datasets import load_bbc, pool_gold, split_counts, write_jsonl
    from distillgraph.store.schema import BBCConfig, TaskConfig

    labels = {t: "" for t in ("business", "entertainment", "politics", "sports", "tech")}
    tc = TaskConfig(type="classification", labels=labels) if task == "topic" else TaskConfig(type="generation")
    bc = BBCConfig(pool_size=pool_size, split_seed=seed)
    data = load_bbc(bc, tc)
    for split, exs in data.items():
        if exs:
            write_jsonl(exs, out / f"{split}.jsonl", tc)
    write_jsonl(data["pool"], out / "pool_gold.jsonl", tc, with_gold=pool_gold(bc, tc))
    console.print(f"wrote {out}: " + ", ".join(f"{s} {len(v)}" for s, v in data.items() if v))
    console.print(f"pool topics (long tail): {split_counts(data)['pool']}")


@data_app.command("wnut")
@user_errors
def data_wnut(out: Path = typer.Option(..., "--out"), seed: int = typer.Option(0, "--seed"),
              dev_size: int = typer.Option(400, "--dev-size"), test_size: int = typer.Option(400, "--test-size")) -> None:
    """Write a reproducible pool/dev/test split of the packaged NER tweets (JSONL: tokens + IOB2 tags)."""
    import json

    import yaml

    from distillgraph.store.ner import WNUT_TYPES, sentence_rows, spans, wnut_split

    split = wnut_split(seed, dev_size, test_size)
    out.mkdir(parents=True, exist_ok=True)

    def write(path: Path, rows: list[dict]) -> None:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    for name, sentences in split.items():
        write(out / f"{name}.jsonl", sentence_rows(sentences, with_tags=name != "pool"))
    write(out / "pool_gold.jsonl", sentence_rows(split["pool"]))
    task = {"task": {"type": "ner", "name": "wnut", "instruction": "Find the named entities in the tweet.",
                     "labels": WNUT_TYPES}}
    (out / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
    counts = {name: len(s) for name, s in split.items()}
    types = sum((len(spans(tags)) for _, tags in split["pool"]), 0)
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                  + f" sentences ({types} pool entities); pool_gold.jsonl holds the pool's tags (for the oracle), "
                  "task.yaml the task section")
