"""Cut the small real extracts in tests/fixtures/ from /work/shared/data (run by hand; outputs are committed).

    python tests/fakes/make_fixtures.py /work/shared/data

Every extract is a verbatim run of lines from the recording, except where a file's SOURCES.md says a payload was
derived (HTX bbo and OKX bbo-tbt frames, which no recording holds: built from the real top of book of the same
moment) or trimmed (book levels beyond 20 dropped to keep the files small).
"""

from __future__ import annotations

import ast
import gzip
import json
import shutil
import sys
from pathlib import Path

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def binance(data: Path) -> None:
    """First 400 lines of the hftbacktest BTCUSDT recording: bookTicker, depth@100ms, trades, one REST snapshot."""
    with gzip.open(data / "binance-spot-2024-08-08" / "btcusdt_20240808.gz", "rt") as fh:
        lines = [next(fh) for _ in range(400)]
    (FIX / "binance" / "btcusdt_20240808_head400.txt").write_text("".join(lines))
    shutil.copy(data / "binance-spot-2024-08-08" / "LICENSE.hftbacktest", FIX / "binance" / "LICENSE.hftbacktest")


def okx(data: Path) -> None:
    """OKX BTC-USDT ``tickers`` pushes (real) and ``bbo-tbt`` pushes derived from them."""
    out, derived = [], []
    for line in (data / "native-captures" / "OKX.ws.1.0").read_text().splitlines():
        _, _, payload = line.partition(": ")
        if '"channel":"tickers","instId":"BTC-USDT"},"data"' not in payload:
            continue
        out.append(payload)
        t = json.loads(payload)["data"][0]
        bbo = {
            "asks": [[t["askPx"], t["askSz"], "0", "1"]],
            "bids": [[t["bidPx"], t["bidSz"], "0", "1"]],
            "ts": t["ts"],
        }
        derived.append(json.dumps({"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"}, "data": [bbo]},
                                  separators=(",", ":")))  # fmt: skip
    (FIX / "okx" / "btcusdt_tickers.jsonl").write_text("\n".join(out) + "\n")
    books5 = []
    for line in (data / "native-captures" / "OKX.ws.1.0").read_text().splitlines():
        _, _, payload = line.partition(": ")
        if '"channel":"books","instId":"BTC-USDT"},"action":"snapshot"' in payload:
            d = json.loads(payload)["data"][0]
            push = {"asks": d["asks"][:5], "bids": d["bids"][:5], "instId": "BTC-USDT", "ts": d["ts"]}
            books5.append(json.dumps({"arg": {"channel": "books5", "instId": "BTC-USDT"}, "data": [push]},
                                     separators=(",", ":")))  # fmt: skip
    (FIX / "okx" / "btcusdt_books5_derived.jsonl").write_text("\n".join(books5) + "\n")
    books = [ln.partition(": ")[2] for ln in (data / "native-captures" / "OKX.ws.1.0").read_text().splitlines()
             if '"channel":"books","instId":"BTC-USDT"},"action"' in ln][:41]  # fmt: skip
    (FIX / "okx" / "btcusdt_books_snapshot_40_updates.jsonl").write_text("\n".join(books) + "\n")
    (FIX / "okx" / "btcusdt_bbo_tbt_derived.jsonl").write_text("\n".join(derived) + "\n")


def htx(data: Path) -> None:
    """Decompressed real HTX frames (pings, depth.step0 for omgbtc + borusdt, levels cut to 20) and bbo derived."""
    frames, derived = [], []
    for line in (data / "native-captures" / "HUOBI.ws.44.0").read_text().splitlines():
        _, _, rest = line.partition(": ")
        if not rest.startswith(("b'", 'b"')):
            continue
        msg = json.loads(gzip.decompress(ast.literal_eval(rest)))
        ch = msg.get("ch", "")
        if "ping" in msg:
            frames.append(msg)
        elif ch in ("market.omgbtc.depth.step0", "market.borusdt.depth.step0"):
            tick = msg["tick"]
            tick["bids"], tick["asks"] = tick["bids"][:20], tick["asks"][:20]
            frames.append(msg)
            sym = ch.split(".")[1]
            (bp, bq), (ap, aq) = tick["bids"][0], tick["asks"][0]
            derived.append({"ch": f"market.{sym}.bbo", "ts": msg["ts"], "tick": {
                "seqId": tick["version"], "ask": ap, "askSize": aq, "bid": bp, "bidSize": bq,
                "quoteTime": tick["ts"], "symbol": sym}})  # fmt: skip
    (FIX / "htx" / "depth_step0_frames.jsonl").write_text("".join(json.dumps(f) + "\n" for f in frames))
    (FIX / "htx" / "bbo_derived.jsonl").write_text("".join(json.dumps(f) + "\n" for f in derived))


def cryptofeed(data: Path) -> None:
    """Heads of cryptofeed's raw sessions (books snapshots dropped from OKX: 400 levels are too big)."""
    src = data / "native-captures"
    (FIX / "cryptofeed" / "BINANCE.ws.1.0").write_text("".join((src / "BINANCE.ws.1.0").open().readlines()[:120]))
    okx_lines = [ln for ln in (src / "OKX.ws.1.0").open().readlines()[:200] if '"channel":"books"' not in ln]
    (FIX / "cryptofeed" / "OKX.ws.1.0").write_text("".join(okx_lines))
    (FIX / "cryptofeed" / "HUOBI.ws.44.0").write_text("".join((src / "HUOBI.ws.44.0").open().readlines()[:80]))
    shutil.copy(src / "LICENSE.cryptofeed", FIX / "cryptofeed" / "LICENSE.cryptofeed")
    for venue in ("okx", "htx"):
        shutil.copy(src / "LICENSE.cryptofeed", FIX / venue / "LICENSE.cryptofeed")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
    for make in (binance, okx, htx, cryptofeed):
        make(root)
