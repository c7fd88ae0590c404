"""Properties of the Campaigns page's two pure parts: a console trigger turned into Braze's request, and a
canvas's step graph laid out for its SVG."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.console.actions import BadInput
from simulator.console.pages.campaign_triggers import ENDPOINTS, braze_request, parse_trigger
from simulator.console.pages.canvas_graph import BOX_H, BOX_W, exits, layout

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)
FIELD = st.sampled_from(["users", "segment", "broadcast", "trigger_properties", "recipients", "campaign_id"])
BODIES = st.dictionaries(FIELD, JSON, max_size=4) | st.fixed_dictionaries(
    {"users": st.lists(st.text(max_size=8) | JSON, min_size=1, max_size=5)}, optional={"trigger_properties": JSON})


@given(BODIES, st.sampled_from(sorted(ENDPOINTS)))
def test_a_trigger_is_refused_or_becomes_exactly_one_braze_request(body: dict[str, Any], kind: str):
    try:
        trigger = parse_trigger(body)
    except BadInput as exc:
        assert str(exc)
        return
    path, sent = braze_request(kind, "the-id", trigger, {"custom_attribute": {}} if trigger.segment else None)
    assert path == ENDPOINTS[kind][0]
    assert sent[ENDPOINTS[kind][1]] == "the-id"
    assert ("recipients" in sent) != ("broadcast" in sent)  # Braze takes one or the other
    if "recipients" in sent:  # every user given, in order, none judged by the console
        assert len(sent["recipients"]) == len(body["users"])
        for given_user, recipient in zip(body["users"], sent["recipients"], strict=True):
            assert recipient == (given_user if isinstance(given_user, dict) else {"external_user_id": given_user})
    assert ("audience" in sent) == (trigger.segment is not None)
    if body.get("trigger_properties") is not None:
        assert sent[ENDPOINTS[kind][2]] == body["trigger_properties"]


@pytest.mark.parametrize("body", [{}, {"users": [], "segment": None}, {"broadcast": "yes"}, {"users": {"a": 1}},
                                  {"segment": 3}, {"segment": "s", "broadcast": True}, {"who": "everyone"}])
def test_a_body_that_does_not_say_who_once_is_refused(body):
    with pytest.raises(BadInput):
        parse_trigger(body)


# -- the graph -------------------------------------------------------------------------------------------------
@st.composite
def canvases(draw) -> dict[str, Any]:
    """A step list whose edges only point to later steps (so acyclic, as Braze keeps a canvas), of every type."""
    n = draw(st.integers(1, 9))
    ids = [f"s{i}" for i in range(n)]
    steps = []
    for i, sid in enumerate(ids):
        later = st.sampled_from(ids[i + 1:]) if i + 1 < n else st.nothing()
        target = draw(st.none() | later) if i + 1 < n else None
        kind = draw(st.sampled_from(["message", "delay", "decision_split", "audience_paths", "experiment_paths",
                                     "exit"]))
        if kind in ("message", "delay"):
            step = {"id": sid, "type": kind, **({"next": target} if target else {})}
            if kind == "delay":
                step["seconds"] = 60
        elif kind == "decision_split":
            step = {"id": sid, "type": kind, "yes": target,
                    "no": draw(st.none() | later) if i + 1 < n else None}
        elif kind == "exit":
            step = {"id": sid, "type": kind}
        else:
            nexts = draw(st.lists(st.none() | later, min_size=1, max_size=3)) if i + 1 < n else [None]
            paths = [{"name": f"p{j}", "next": t, "percent": 100 / len(nexts)} for j, t in enumerate(nexts)]
            step = {"id": sid, "type": kind, "paths": paths}
        steps.append(step)
    return {"steps": steps}


def _overlap(a, b) -> bool:
    return a.x < b.x + BOX_W and b.x < a.x + BOX_W and a.y < b.y + BOX_H and b.y < a.y + BOX_H


@given(canvases())
def test_every_step_is_a_box_no_two_overlap_and_every_arrow_points_down(definition):
    graph = layout(definition, {"steps": []})
    assert [n.id for n in graph.nodes] == [s["id"] for s in definition["steps"]]
    for i, a in enumerate(graph.nodes):
        assert a.x >= 0 and a.x + BOX_W <= graph.width and a.y >= 0 and a.y + BOX_H <= graph.height
        assert not any(_overlap(a, b) for b in graph.nodes[i + 1:])
    by_id = {n.id: n for n in graph.nodes}
    drawn = {(e.source, e.target, e.label) for e in graph.edges}
    assert drawn == {(s["id"], t, label) for s in definition["steps"] for t, label, _ in exits(s)}
    assert all(by_id[e.target].layer > by_id[e.source].layer for e in graph.edges)


def test_a_path_marks_its_steps_and_the_arrows_between_them():
    definition = {"steps": [{"id": "a", "type": "decision_split", "yes": "b", "no": "c"},
                            {"id": "b", "type": "exit"}, {"id": "c", "type": "exit"}]}
    stats = {"steps": [{"id": "a", "name": "a", "type": "decision_split", "entered": 3, "yes": 1, "no": 2}]}
    graph = layout(definition, stats, [{"step_id": "a"}, {"step_id": "c"}], current=None)
    assert [n.id for n in graph.nodes if n.on_path] == ["a", "c"]
    assert [(e.target, e.count, e.on_path) for e in graph.edges] == [("b", 1, False), ("c", 2, True)]
    assert graph.nodes[0].counts == {"entered": 3, "yes": 1, "no": 2}
