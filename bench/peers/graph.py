"""LangGraph's side of `make bench-peers`: a graph with no model that emits `n` custom events.

Loaded by `langgraph dev` (its own virtualenv, .tools/langgraph), never imported by Riadex. Each event
is written through LangGraph's stream writer, the way a node streams progress; `delay` seconds between
events makes a long run to cancel.
"""

from __future__ import annotations

import time
from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int
    delay: float
    emitted: int


def emit(state: State) -> State:
    write = get_stream_writer()
    n, delay = int(state.get("n", 1)), float(state.get("delay", 0.0))
    for i in range(1, n + 1):
        write({"i": i, "pad": "x" * 200})
        if delay:
            time.sleep(delay)
    return {"emitted": n}


builder = StateGraph(State)
builder.add_node("emit", emit)
builder.add_edge(START, "emit")
builder.add_edge("emit", END)
graph = builder.compile()
