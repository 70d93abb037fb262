"""N-leg arbitrage cycles: negative-cycle detection on ``-log(rate)`` over all markets of a venue, or of several
venues linked by configured transfer costs.

Every market gives two directed edges between assets: buy (quote -> base at ``(1 / ask) * (1 - fee)``) and sell
(base -> quote at ``bid * (1 - fee)``). A cycle whose rates multiply to more than one is profitable after fees, and
with weights ``-log(rate)`` that is exactly a negative-weight cycle. Across venues, nodes are ``<exchange>:<asset>``
and a transfer edge moves an asset between venues at ``1 - transfer_cost``.

The detector is Bellman-Ford from a virtual source (all distances start at 0), relaxing all edges at once with NumPy,
with a cycle check on the predecessor graph after every pass: a cycle in that graph always has negative weight, and
it usually appears after a few passes instead of the textbook ``|V| - 1``. To report several cycles, the edges of a
found cycle are removed and the search repeats (cycles sharing an edge with a found one are therefore not reported
separately). :func:`find_negative_cycles_reference` is the textbook version, kept to check results and for the
benchmark (bench/ncycles.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from connectors.markets.spot import Market
from connectors.schema import polars_schema
from flows.triangular.evaluate import chain_sizes

TOLERANCE = 1e-12  # log-rate improvements smaller than this are float noise, not arbitrage


@dataclass(frozen=True)
class Graph:
    """Directed conversion edges between ``<exchange>:<asset>`` nodes.

    Attributes:
        nodes: node names; edges refer to them by index.
        src, dst: (E,) node indices.
        rate: (E,) output per unit of input, fees and transfer costs included.
        capacity: (E,) most input the edge takes (input units; ``inf`` for transfers).
        labels: (E,) ``<exchange>:<symbol>:buy|sell`` or ``transfer:<from>-><to>:<asset>``.
    """

    nodes: tuple[str, ...]
    src: np.ndarray
    dst: np.ndarray
    rate: np.ndarray
    capacity: np.ndarray
    labels: tuple[str, ...]

    @property
    def weight(self) -> np.ndarray:
        return -np.log(self.rate)


def build_graph(
    quotes: pl.DataFrame,
    markets: Mapping[str, Mapping[str, Market]],
    transfer_cost_bps: Mapping[str, float] | None = None,
) -> Graph:
    """Latest quotes (one row per exchange and symbol) -> conversion graph.

    Args:
        quotes: ``exchange, symbol, bid_px, bid_qty, ask_px, ask_qty``; rows with a non-positive or missing price or
            a symbol absent from ``markets`` are skipped (they cannot be traded).
        markets: per exchange, its markets (fees per market).
        transfer_cost_bps: per asset, the cost of moving it between any two of the quoted exchanges; assets not named
            cannot be moved (no edge). None = single-venue graph.
    """
    src_names: list[str] = []
    dst_names: list[str] = []
    rates: list[float] = []
    caps: list[float] = []
    labels: list[str] = []
    assets_by_exchange: dict[str, set[str]] = {}
    for ex, sym, bid, bid_qty, ask, ask_qty in quotes.select(
        "exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"
    ).iter_rows():
        m = markets.get(ex, {}).get(sym)
        if m is None or not all(v is not None and v > 0 for v in (bid, bid_qty, ask, ask_qty)):
            continue
        keep = 1.0 - m.taker_fee_bps / 1e4
        base, quote = f"{ex}:{m.base}", f"{ex}:{m.quote}"
        src_names += [quote, base]
        dst_names += [base, quote]
        rates += [keep / ask, bid * keep]
        caps += [ask_qty * ask, bid_qty]
        labels += [f"{ex}:{sym}:buy", f"{ex}:{sym}:sell"]
        assets_by_exchange.setdefault(ex, set()).update((m.base, m.quote))
    for asset, cost_bps in sorted((transfer_cost_bps or {}).items()):
        venues = sorted(ex for ex, assets in assets_by_exchange.items() if asset in assets)
        for a in venues:
            for b in venues:
                if a != b:
                    src_names.append(f"{a}:{asset}")
                    dst_names.append(f"{b}:{asset}")
                    rates.append(1.0 - cost_bps / 1e4)
                    caps.append(math.inf)
                    labels.append(f"transfer:{a}->{b}:{asset}")
    nodes = tuple(sorted(set(src_names) | set(dst_names)))
    index = {n: i for i, n in enumerate(nodes)}
    return Graph(
        nodes=nodes,
        src=np.array([index[n] for n in src_names], dtype=np.int64),
        dst=np.array([index[n] for n in dst_names], dtype=np.int64),
        rate=np.array(rates, dtype=np.float64),
        capacity=np.array(caps, dtype=np.float64),
        labels=tuple(labels),
    )


@dataclass(frozen=True)
class FoundCycle:
    """A profitable cycle: its edges in order, net edge after fees, and executable size.

    Attributes:
        route: node names in order, start repeated at the end (``binance:USDT>binance:BTC>...>binance:USDT``).
        edges: edge indices into the graph, in order.
        labels: the edges' labels.
        net_edge_bps: (product of rates - 1) x 1e4.
        max_start: largest start amount all legs can absorb (top-of-book quantities), start-node units.
    """

    route: str
    edges: tuple[int, ...]
    labels: tuple[str, ...]
    net_edge_bps: float
    max_start: float


def _pred_cycles(pred_edge: np.ndarray, src: np.ndarray, n_nodes: int) -> list[list[int]]:
    """Every cycle of the predecessor graph (node -> source node of its predecessor edge), as edge indices in
    trading order.

    Pointer doubling finds, for every node, the node ``2^k >= |V|`` steps up its predecessor chain in ``log |V|``
    vectorized steps; a node that still has an ancestor there sits on or below a cycle, and that ancestor is on it.
    """
    parent = np.where(pred_edge >= 0, src[np.maximum(pred_edge, 0)], -1)
    up = parent.copy()
    for _ in range(max(1, math.ceil(math.log2(n_nodes + 1)))):
        up = np.where(up >= 0, up[np.maximum(up, 0)], -1)
    cycles = []
    seen: set[int] = set()
    for start in np.unique(up[up >= 0]).tolist():
        if start in seen:
            continue
        cycle_nodes = [start]
        node = int(parent[start])
        while node != start:
            cycle_nodes.append(node)
            node = int(parent[node])
        seen.update(cycle_nodes)
        # walking parents goes against the edges: reverse for the trading order
        cycles.append([int(pred_edge[v]) for v in reversed(cycle_nodes)])
    return cycles


def _bellman_ford(graph: Graph, weight: np.ndarray, active: np.ndarray) -> list[int] | None:
    """One negative cycle among the active edges (edge indices in order), or None if there is none."""
    n = len(graph.nodes)
    src, dst, w = graph.src[active], graph.dst[active], weight[active]
    idx = np.flatnonzero(active)
    dist = np.zeros(n)
    pred = np.full(n, -1, dtype=np.int64)  # index into the active arrays
    for _ in range(n + 1):
        cand = dist[src] + w
        best = dist.copy()
        np.minimum.at(best, dst, cand)
        improved = best < dist - TOLERANCE
        if not improved.any():
            return None
        winners = np.flatnonzero(improved[dst] & (cand == best[dst]))
        pred[dst[winners]] = winners  # ties: the last winner; any is a valid predecessor
        dist = np.where(improved, best, dist)
        for cycle in _pred_cycles(pred, src, n):
            edges = [int(idx[e]) for e in cycle]
            if weight[edges].sum() < -TOLERANCE:
                return edges
    msg = "Bellman-Ford kept relaxing after |V| + 1 passes without a predecessor cycle: the graph has NaN weights"
    raise ValueError(msg)


def _report(graph: Graph, edges: list[int], start_nodes: Sequence[str]) -> FoundCycle:
    """Rotate the cycle to its preferred start node and size it through the chain."""
    names = [graph.nodes[graph.src[e]] for e in edges]
    assets = [name.split(":", 1)[1] for name in names]
    rank = [start_nodes.index(a) if a in start_nodes else len(start_nodes) for a in assets]
    first = min(range(len(edges)), key=lambda i: (rank[i], names[i]))
    edges = edges[first:] + edges[:first]
    rates = graph.rate[edges][None, :]
    max_start, _ = chain_sizes(rates, graph.capacity[edges][None, :])
    route = ">".join([graph.nodes[graph.src[e]] for e in edges] + [graph.nodes[graph.src[edges[0]]]])
    return FoundCycle(
        route=route,
        edges=tuple(edges),
        labels=tuple(graph.labels[e] for e in edges),
        net_edge_bps=float((np.prod(rates) - 1.0) * 1e4),
        max_start=float(max_start[0]),
    )


def find_negative_cycles(
    graph: Graph,
    max_cycles: int = 100,
    start_assets: Sequence[str] = ("USDT",),
    accept: Callable[[FoundCycle], bool] | None = None,
) -> list[FoundCycle]:
    """Every profitable cycle, one per disjoint set of edges, best-effort order of discovery.

    Args:
        graph: conversion edges (see :func:`build_graph`).
        max_cycles: stop after this many (a badly mispriced feed can make thousands).
        start_assets: a reported cycle starts at the first of these assets it visits (else its smallest node name).
        accept: which cycles to report (default: all). A cycle found but not accepted (below a threshold, or of a
            kind another step reports) is not reported, and only its least profitable edge is removed, so a better
            cycle through its mispriced edge can still be found.
    """
    weight = graph.weight
    active = np.isfinite(weight)
    found: list[FoundCycle] = []
    while len(found) < max_cycles:
        edges = _bellman_ford(graph, weight, active)
        if edges is None:
            break
        cycle = _report(graph, edges, start_assets)
        if accept is None or accept(cycle):
            found.append(cycle)
            active[edges] = False
        else:
            active[edges[int(np.argmax(weight[edges]))]] = False  # each rejection removes an edge: this terminates
    return found


def find_negative_cycles_reference(
    graph: Graph, max_cycles: int = 100, start_assets: Sequence[str] = ("USDT",)
) -> list[FoundCycle]:
    """Textbook Bellman-Ford (|V| - 1 passes of per-edge Python relaxation, then a detecting pass); same outputs."""
    weight = graph.weight.tolist()
    src, dst = graph.src.tolist(), graph.dst.tolist()
    active = [math.isfinite(w) for w in weight]
    n = len(graph.nodes)
    found: list[FoundCycle] = []
    while len(found) < max_cycles:
        dist = [0.0] * n
        pred = [-1] * n
        for _ in range(n - 1):
            for e in range(len(weight)):
                if active[e] and dist[src[e]] + weight[e] < dist[dst[e]] - TOLERANCE:
                    dist[dst[e]] = dist[src[e]] + weight[e]
                    pred[dst[e]] = e
        hit = next(
            (e for e in range(len(weight)) if active[e] and dist[src[e]] + weight[e] < dist[dst[e]] - TOLERANCE), None
        )
        if hit is None:
            break
        pred[dst[hit]] = hit
        node = dst[hit]
        for _ in range(n):  # step back onto the cycle
            node = src[pred[node]]
        edges = []
        v = node
        while True:
            e = pred[v]
            edges.append(e)
            v = src[e]
            if v == node:
                break
        edges.reverse()
        found.append(_report(graph, edges, start_assets))
        for e in edges:
            active[e] = False
    return found


def cycle_rows(found: Sequence[tuple[str, datetime, FoundCycle]]) -> pl.DataFrame:
    """Rows of ``cycles_found`` (strategy.sql) from ``(scan_id, ts_scan, cycle)`` triples: scan_id names the scanned
    snapshot deterministically (e.g. its exchange and last quote_id), ts_scan is its receive time."""
    return pl.DataFrame(
        {
            "cycle_id": [f"{scan_id}/{f.route}" for scan_id, _, f in found],
            "scan_id": [scan_id for scan_id, _, _ in found],
            "ts_scan": [ts for _, ts, _ in found],
            "route": [f.route for _, _, f in found],
            "legs": [list(f.labels) for _, _, f in found],
            "n_legs": [len(f.edges) for _, _, f in found],
            "net_edge_bps": [f.net_edge_bps for _, _, f in found],
            "max_start": [f.max_start for _, _, f in found],
        },
        schema=polars_schema("cycles_found"),
    )
