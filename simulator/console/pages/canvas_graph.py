"""A canvas's step graph laid out for an inline SVG: boxes in layers, arrows between them, computed here.

A canvas is a directed acyclic graph (the fake Braze refuses a cycle), so each step sits one layer below
the deepest step leading to it (longest path), and every arrow points down. The page draws what this
returns; the browser computes nothing, so the graph is the same in a test and on screen. The counts come
from the canvas's `stats().steps` (`entered`, the webhook outcomes, and `yes`/`no`/`path:<name>` for the
branches), and a user's path (the journey's `path`) marks the boxes and arrows they went through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

BOX_W, BOX_H = 200, 68
GAP_X, GAP_Y = 36, 60
MARGIN = 16
EVERYONE_ELSE = "Everyone Else"
OUTCOMES = ("sent", "failed", "aborted")


@dataclass
class Node:
    id: str
    name: str
    type: str
    detail: str
    counts: dict[str, int]
    layer: int = 0
    x: float = 0
    y: float = 0
    on_path: bool = False
    current: bool = False


@dataclass
class Edge:
    source: str
    target: str
    label: str
    count: int | None  # users who took this branch (None: a step with one way on)
    d: str = ""  # the SVG path
    label_x: float = 0
    label_y: float = 0
    on_path: bool = False


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    unreachable: list[str] = field(default_factory=list)
    box_w: int = BOX_W
    box_h: int = BOX_H


def exits(step: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(target step, label, the count key of the branch) for each way out of a step, in its definition's order."""
    kind = step.get("type")
    if kind in ("message", "delay"):
        return [(step["next"], "", None)] if step.get("next") else []
    if kind == "decision_split":
        return [(step[k], k, k) for k in ("yes", "no") if step.get(k)]
    out: list[tuple[str, str, str | None]] = []
    for path in step.get("paths") or []:
        label = f"{path['name']} {path['percent']:g}%" if kind == "experiment_paths" else path["name"]
        if path.get("next"):
            out.append((path["next"], label, f"path:{path['name']}"))
    if step.get("everyone_else"):
        out.append((step["everyone_else"], EVERYONE_ELSE, f"path:{EVERYONE_ELSE}"))
    return out


def duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def detail(step: dict[str, Any]) -> str:
    kind = step.get("type")
    if kind == "delay":
        if step.get("seconds") is not None:
            return f"delay {duration(step['seconds'])}"
        return f"delay until {step['until']}"
    if kind == "action_paths":
        return f"action paths, window {duration(step.get('window_seconds') or 0)}"
    return (kind or "step").replace("_", " ")


def _layers(steps: list[dict[str, Any]]) -> dict[str, int]:
    """Each step's layer: one below the deepest step leading to it (a longest-path layering of the DAG)."""
    order = [s["id"] for s in steps]
    successors = {s["id"]: [t for t, _, _ in exits(s) if t in order] for s in steps}
    incoming = {sid: 0 for sid in order}
    for targets in successors.values():
        for t in targets:
            incoming[t] += 1
    layer = dict.fromkeys(order, 0)
    ready = [sid for sid in order if incoming[sid] == 0]
    while ready:
        sid = ready.pop(0)
        for t in successors[sid]:
            layer[t] = max(layer[t], layer[sid] + 1)
            incoming[t] -= 1
            if incoming[t] == 0:
                ready.append(t)
    return layer


def _reachable(first: str | None, steps: list[dict[str, Any]]) -> set[str]:
    by_id = {s["id"]: s for s in steps}
    seen: set[str] = set()
    todo = [first] if first in by_id else []
    while todo:
        sid = todo.pop()
        if sid not in seen:
            seen.add(sid)
            todo += [t for t, _, _ in exits(by_id[sid]) if t in by_id]
    return seen


def layout(definition: dict[str, Any], stats: dict[str, Any], path: list[dict[str, Any]] | None = None,
           current: str | None = None) -> Graph:
    """The graph of `definition` (a canvas as `/_admin/canvases/<id>` answers it) with `stats`' counts and the
    steps of a user's `path` (journey steps, in order) marked."""
    steps = definition.get("steps") or []
    counts = {s["id"]: s for s in stats.get("steps") or []}
    layers = _layers(steps)
    walked = [p.get("step_id") for p in path or []]
    nodes = [Node(s["id"], s.get("name") or s["id"], s.get("type", ""), detail(s),
                  {k: v for k, v in counts.get(s["id"], {}).items() if isinstance(v, int) and k not in ("id",)},
                  layers[s["id"]], on_path=s["id"] in walked, current=s["id"] == current) for s in steps]
    rows: dict[int, list[Node]] = {}
    for node in nodes:
        rows.setdefault(node.layer, []).append(node)
    widest = max((len(r) for r in rows.values()), default=1)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X
    for layer, row in rows.items():
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2
        for i, node in enumerate(row):
            node.x, node.y = left + i * (BOX_W + GAP_X), MARGIN + layer * (BOX_H + GAP_Y)
    by_id = {n.id: n for n in nodes}
    walked_pairs = set(pairwise(walked))
    edges = []
    for step in steps:
        for target, label, count_key in exits(step):
            if target not in by_id:
                continue
            src, dst = by_id[step["id"]], by_id[target]
            edge = Edge(src.id, dst.id, label, counts.get(src.id, {}).get(count_key, 0) if count_key else None,
                        on_path=(src.id, dst.id) in walked_pairs)
            x1, y1, x2, y2 = src.x + BOX_W / 2, src.y + BOX_H, dst.x + BOX_W / 2, dst.y
            bend = (y2 - y1) / 2
            edge.d = f"M {x1:g} {y1:g} C {x1:g} {y1 + bend:g} {x2:g} {y2 - bend:g} {x2:g} {y2 - 4:g}"
            edge.label_x, edge.label_y = x2 + 6, y2 - 10  # beside the arrow's end, where it runs straight down
            edges.append(edge)
    height = 2 * MARGIN + (max(rows, default=0) + 1) * BOX_H + max(rows, default=0) * GAP_Y
    first = definition.get("first_step") or (steps[0]["id"] if steps else None)
    reachable = _reachable(first, steps)
    return Graph(nodes, edges, width, height, [s["id"] for s in steps if s["id"] not in reachable])
