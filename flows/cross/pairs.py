"""The evaluations of one symbol's batch as index arrays: which (update, route) cells are evaluated, and the rows of
their two legs, so flows/cross/spreads.py gathers every leg for all pairs at once (NumPy)."""

from __future__ import annotations

import numpy as np


class Pairs:
    """The evaluations of a batch (state rows first) as index arrays, and where each venue's latest quote is.

    Lean rows are (update, route touching the updated venue) for the rows after the ``n_hist`` state rows, ordered by
    update then route, whose two legs are both known at the end of the update's instant, and where the update is the
    instant's last of its venue and comes after the other leg (so each route is evaluated once per instant, by its
    last update). Each route touching venue ``c`` has a fixed slot among the ``2 (V - 1)`` routes touching it, so the
    rows are an (update, slot) grid, minus those cells.

    Attributes:
        pos, route, buy, sell, other: per lean row, the update's row, the route (index into ``routes``), the rows of
            the buy and sell legs' quotes, and the row of the leg that is not the update.
        latest: ``latest[v, i]`` is the row of venue ``v``'s latest quote at row ``i`` (-1 before its first quote).
        shared: the rows of instants of several rows, and the last row of each one's instant.
    """

    def __init__(
        self,
        venues: list[str],
        routes: list[tuple[str, str]],
        code: np.ndarray,
        n_hist: int,
        shared: tuple[np.ndarray, np.ndarray],
    ) -> None:
        n_venues, n = len(venues), len(code)
        self.routes, self.shared = routes, shared
        buy_venue = np.array([venues.index(b) for b, _ in routes], dtype=np.int64)
        sell_venue = np.array([venues.index(s) for _, s in routes], dtype=np.int64)
        self.latest = np.where(code == np.arange(n_venues)[:, None], np.arange(n), -1)
        np.maximum.accumulate(self.latest, axis=1, out=self.latest)
        # slot_route[c, k]: the k-th route touching venue c; slot_buys: c is its buying venue.
        slot_route = np.array(
            [[r for r in range(len(routes)) if c in (buy_venue[r], sell_venue[r])] for c in range(n_venues)],
            dtype=np.int64,
        ).reshape(n_venues, -1)
        slot_buys = buy_venue[slot_route] == np.arange(n_venues)[:, None]
        slot_other = np.where(slot_buys, sell_venue[slot_route], buy_venue[slot_route])
        n_slots = slot_route.shape[1]

        upd = np.arange(n_hist, n)
        venue = code[upd]
        # Flat (update-major) arrays: numpy broadcasting over a 2 (V - 1) wide grid runs a tiny inner loop per row.
        pos = np.repeat(upd, n_slots)
        other_venue = slot_other.take(venue, axis=0).ravel()
        other = other_venue * n
        other += pos
        other = self.latest.take(other)  # the other venue's latest quote at the update
        rows, end = shared
        if rows.size:  # updates in an instant of several rows: the other leg once the whole instant is applied
            cells = ((rows - n_hist)[:, None] * n_slots + np.arange(n_slots)).ravel()
            end = np.repeat(end, n_slots)
            other[cells] = self.latest[other_venue.take(cells), end]
        # buy = the update where its venue buys, else the other leg; sell = the other one (integer arithmetic is
        # cheaper than two np.where)
        shift = pos - other
        shift *= slot_buys.take(venue, axis=0).ravel()
        buy, sell = other + shift, pos - shift
        columns = [pos, slot_route.take(venue, axis=0).ravel(), buy, sell, other]
        keep = other >= 0
        if rows.size:  # the instant's last update of the route's venues evaluates it, once
            at = pos.take(cells)
            keep[cells] &= (other.take(cells) < at) & (self.latest[code.take(at), end] == at)
        if not keep.all():
            columns = [c[keep] for c in columns]
        self.pos, self.route, self.buy, self.sell, self.other = columns
