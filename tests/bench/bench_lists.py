"""List benchmark: a 100,000-message conversation opened, scrolled, held and added to, against HEAD's QListWidget."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before PySide6 is imported: no display needed
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make the `tests` package importable

import psutil  # noqa: E402

from im_desktop.local.cache import LocalCache  # noqa: E402
from tests.bench.stats import summary  # noqa: E402

RESULTS_FILE = HERE / "results" / "lists.json"
OWN, BIG, SMALL = "alice", "private:alice:bob", "general"
WINDOW_SIZE = (1000, 700)  # a realistic main window on a laptop screen
TARGETS = {"open_ms": 100.0, "wheel_ms": 16.0, "page_ms": 16.0, "rss_mb": 60.0, "incoming_ms": 50.0}
IMPLS = {
    "new": "model/view (MessageView, CachedHistory)",
    "head": "HEAD as it was: QListWidget, newest 200",
    "head-all": "HEAD's QListWidget, all messages",
}
FULL = {"messages": 100_000, "opens": 15, "wheel": 1500, "pages": 300, "incoming": 30, "memory_share": 0.5,
        "peer_all_opens": 3, "peer_all_incoming": 3}  # fmt: skip
QUICK = {"messages": 10_000, "opens": 4, "wheel": 200, "pages": 60, "incoming": 5, "memory_share": 0.5,
         "peer_all_opens": 2, "peer_all_incoming": 2}  # fmt: skip

# -- the conversation ---------------------------------------------------------------------------------------------
WORDS = ("the build is green again", "can you look at", "lunch", "tomorrow", "I pushed a fix", "why does it",
         "sounds good", "deploy", "the server", "meeting moved to 3", "thanks!", "not sure", "on it", "ok",
         "see the log", "which branch", "rebased", "coffee?", "works for me", "let me check", "ping", "done",
         "the tests time out on CI", "merged", "one more thing", "release notes", "later today", "hmm")  # fmt: skip
CHINESE = ("今天下午开会吗", "我看一下日志", "好的，没问题", "这个版本已经发布了", "周末愉快", "请把文件发给我")  # noqa: RUF001
PEOPLE = ("bob", "carol", "dave", "李雷", OWN)


def content_for(rng: random.Random) -> str:
    """One message: mostly short chat, some paragraphs and long multi-line text, markup, entities, mentions,
    links, CJK text, media and quotes, in the proportions of a busy work chat."""
    length = rng.choices((rng.randint(1, 3), rng.randint(4, 12), rng.randint(25, 80)), (55, 35, 10))[0]
    text = " ".join(rng.choice(WORDS) for _ in range(length))
    roll = rng.random()
    if roll < 0.10:
        text = f"<b>{rng.choice(WORDS)}</b> {text} <i>{rng.choice(WORDS)}</i>"
    elif roll < 0.15:
        text = f"{text} &amp; Q&amp;A &lt;3 <code>x &lt; y</code>"
    elif roll < 0.22:
        text = f'<at id="{rng.choice(PEOPLE)}"/> {text}'
    elif roll < 0.28:
        text = f'{text} <a href="https://example.com/issues/{rng.randint(1, 9999)}">issue</a> https://example.org/x'
    elif roll < 0.32:
        text = " ".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 6)))
    elif roll < 0.34:
        text = f'<quote>{rng.choice(WORDS)}</quote>{text} <img src="https://example.com/p{rng.randint(1, 99)}.png"/>'
    elif roll < 0.38:
        text = "<br/>".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    elif roll < 0.40:
        text = text + " 🎉👍"
    return text


def build_cache(path: Path, count: int) -> None:
    """OWN's cache: BIG with `count` messages, SMALL with 50 after them (listed first, so it is the one open
    after login; the benchmark opens it between the timed opens of BIG)."""
    rng = random.Random(10)
    cache = LocalCache(path)
    try:
        cache.upsert_conversation(BIG, "bob", 1)
        cache.upsert_conversation(SMALL, "General", 0)
        at = 1_700_000_000_000
        batch: list[dict[str, Any]] = []
        for n in range(count):
            at += rng.choice((rng.randint(1_000, 60_000), rng.randint(60_000, 3_600_000), 0))  # some share a ms
            user = rng.choices(PEOPLE, (40, 20, 15, 5, 20))[0]
            batch.append({"id": f"m{n:07d}", "user": {"id": user}, "content": content_for(rng), "created_at": at})
            if len(batch) == 5_000:
                cache.add_messages(BIG, batch)
                batch = []
        cache.add_messages(BIG, batch)
        cache.add_messages(SMALL, [{"id": f"s{n:03d}", "user": {"id": "carol"}, "content": content_for(rng),
                                    "created_at": at + 1_000 * n} for n in range(1, 51)])  # fmt: skip
    finally:
        cache.close()


# -- statistics ---------------------------------------------------------------------------------------------------
def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


# -- one implementation, in its own process -----------------------------------------------------------------------
def child(impl: str, db: Path, plan: dict[str, Any]) -> dict[str, Any]:
    from tests.bench.list_driver import Driver  # Qt only in the child: the parent stays small

    driver = Driver(impl, db, plan["messages"])
    out: dict[str, Any] = {"impl": impl, "notes": []}
    # 1. memory first, in a process that has done nothing else: from before opening to after scrolling up
    #    through `memory_share` of the conversation (or as far as the list goes).
    driver.open_and_paint(SMALL)
    before, peak_before = rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    driver.open_and_paint(BIG)
    reached = driver.scroll_through(int(plan["messages"] * plan["memory_share"]))
    after, peak_after = rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["memory"] = {"rss_before_mb": before, "rss_after_mb": after, "growth_mb": after - before,
                     "peak_growth_mb": peak_after - peak_before, "messages_scrolled_past": reached}  # fmt: skip
    # 2. open: SMALL (untimed), then BIG timed from the ask to painted
    opens = plan["peer_all_opens"] if impl == "head-all" else plan["opens"]
    samples = []
    for _ in range(opens):
        driver.open_and_paint(SMALL)
        samples.append(driver.open_and_paint(BIG))
    out["open"] = summary(samples)
    # 3. scroll: wheel steps up from the bottom (across the paging boundaries), then page steps, also from the bottom
    driver.open_and_paint(BIG)
    out["wheel"], out["wheel_rows"], out["wheel_paging"] = driver.wheel_steps(plan["wheel"])
    driver.open_and_paint(BIG)
    out["page"], out["page_rows"], out["page_paging"] = driver.page_steps(plan["pages"])
    # 4. incoming: a message-created event stored in the cache, signalled, painted at the bottom
    driver.open_and_paint(BIG)
    count = plan["peer_all_incoming"] if impl == "head-all" else plan["incoming"]
    out["incoming"], shown = driver.incoming(count)
    if shown != count:
        out["notes"].append(f"only {shown} of {count} incoming messages were on screen after their event")
    out["notes"].extend(driver.notes)
    return out


# -- the parent: build once, run each implementation in a fresh process, report -----------------------------------
def run_child(impl: str, db: Path, work: Path, plan: dict[str, Any]) -> dict[str, Any]:
    own = work / impl / f"{OWN}.sqlite3"
    own.parent.mkdir(parents=True)
    shutil.copy(db, own)  # each writes its own copy (incoming messages, read marks)
    result = work / f"{impl}.json"
    began = time.monotonic()
    proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", impl, "--db", str(own), "--out",
                           str(result), "--plan", json.dumps(plan)], capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0 or not result.exists():
        tail = " | ".join(proc.stderr.strip().splitlines()[-8:])
        return {"impl": impl, "error": f"exit {proc.returncode}: {tail}"}
    document: dict[str, Any] = json.loads(result.read_text())
    document["wall_s"] = round(time.monotonic() - began, 1)
    return document


def cell(result: dict[str, Any], key: str) -> str:
    if "error" in result:
        return "error"
    if key == "rss_mb":
        return f"{result['memory']['growth_mb']:.1f}"
    s = result[key.removesuffix("_ms")]
    return f"{s['p50'] * 1000:.1f} / {s['p90'] * 1000:.1f}" if s["n"] else "-"


def figure(result: dict[str, Any], key: str, quantile_name: str) -> float | None:
    if "error" in result:
        return None
    if key == "rss_mb":
        return float(result["memory"]["growth_mb"])
    s = result[key.removesuffix("_ms")]
    return float(s[quantile_name]) * 1000 if s["n"] else None


def report(results: dict[str, dict[str, Any]], plan: dict[str, Any]) -> dict[str, bool | None]:
    n = plan["messages"]
    rows = (("open_ms", f"open {n:,} msgs, ask->painted p50/p90 (ms)", "p50", "< 100 ms p50"),
            ("wheel_ms", "scroll: wheel step p50/p90 (ms)", "p90", "< 16 ms p90"),
            ("page_ms", "scroll: page step p50/p90 (ms)", "p90", "< 16 ms p90"),
            ("rss_mb", "RSS growth, open + scroll (MB)", "", "< 60 MB"),
            ("incoming_ms", "incoming, event->painted p50/p90 (ms)", "p50", "< 50 ms p50"))  # fmt: skip
    checks: dict[str, bool | None] = {}
    header = f"{'measure':<46}{'new':<15}{'HEAD (200 newest)':<19}{'ratio':<8}{'HEAD list, all':<17}{'ratio':<8}"
    print(f"\n{header}{'target':<14}met?")
    for key, name, q, target in rows:
        ours = figure(results["new"], key, q)
        ratios = []
        for peer in ("head", "head-all"):
            theirs = figure(results[peer], key, q)
            ratios.append(f"{theirs / ours:.1f}x" if ours and theirs is not None else "")
        ok = None if ours is None else ours < TARGETS[key]
        checks[key] = ok
        print(f"{name:<46}{cell(results['new'], key):<15}{cell(results['head'], key):<19}{ratios[0]:<8}"
              f"{cell(results['head-all'], key):<17}{ratios[1]:<8}{target:<14}"
              f"{'n/a' if ok is None else ('yes' if ok else 'NO')}")  # fmt: skip
    print("ratio = peer / new at the quantile the target names (p50 open and incoming, p90 scroll; RSS growth)")
    for impl, result in results.items():
        if "error" in result:
            print(f"{impl}: ERROR {result['error']}")
            continue
        memory = result["memory"]
        print(f"{impl} ({IMPLS[impl]}): opens {result['open']['n']}, wheel steps {result['wheel']['n']} "
              f"({result['wheel_rows']} rows up), page steps {result['page']['n']} ({result['page_rows']} rows up), "
              f"memory scroll {memory['messages_scrolled_past']:,} msgs, RSS {memory['rss_before_mb']:.0f} -> "
              f"{memory['rss_after_mb']:.0f} MB (peak +{memory['peak_growth_mb']:.0f}), "
              f"incoming {result['incoming']['n']}, wall {result['wall_s']} s")  # fmt: skip
        for kind in ("wheel", "page"):
            paging = result[f"{kind}_paging"]
            if paging["n"]:
                print(f"  {kind} steps that read a page from the cache: {paging['n']}, p50 "
                      f"{paging['p50'] * 1000:.1f} ms, max {paging['max'] * 1000:.1f} ms; all {kind} steps: max "
                      f"{result[kind]['max'] * 1000:.1f} ms")  # fmt: skip
        for note in result["notes"]:
            print(f"  note: {note}")
    return checks


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['messages']:,} messages and few repeats")
    parser.add_argument("--messages", type=int, help=f"conversation length (default {FULL['messages']:,})")
    parser.add_argument("--only", choices=sorted(IMPLS), action="append", help="run only these implementations")
    parser.add_argument("--child", choices=sorted(IMPLS), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    options = parse_options()
    if options.child:
        document = child(options.child, options.db, json.loads(options.plan))
        options.out.write_text(json.dumps(document))
        return 0
    plan: dict[str, Any] = dict(QUICK if options.quick else FULL)
    if options.messages:
        plan["messages"] = options.messages
    impls = options.only or list(IMPLS)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmp:
        work = Path(tmp)
        db = work / "built.sqlite3"
        print(f"list benchmark: building a cache of {plan['messages']:,} messages", file=sys.stderr, flush=True)
        build_cache(db, plan["messages"])
        results: dict[str, dict[str, Any]] = {}
        for impl in IMPLS:
            if impl not in impls:
                results[impl] = {"impl": impl, "error": "not run (--only)"}
                continue
            print(f"  {impl}: {IMPLS[impl]}", file=sys.stderr, flush=True)
            results[impl] = run_child(impl, db, work, plan)
    checks = report(results, plan)
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "qt_platform": "offscreen", "load_average_at_end": os.getloadavg()}  # fmt: skip
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, "plan": plan,
                "window": WINDOW_SIZE, "implementations": IMPLS, "results": results, "targets": TARGETS,
                "checks": checks, "wall_seconds": round(time.monotonic() - began, 1)}  # fmt: skip
    if not options.quick and not options.only and not options.messages:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
        print(f"took {document['wall_seconds']} s; saved {RESULTS_FILE.relative_to(HERE.parents[1])}")
    else:
        print(f"took {document['wall_seconds']} s (not saved: only the full run is)")
    return 0 if all(ok is not False for ok in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
