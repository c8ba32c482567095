"""Where a question's time goes before its upstream request is sent: the request timeline probe's
log (bench/probe/sitecustomize.py), as the median and 90th percentile of each mark's time after
the request arrived, per path.

    python -m bench.timeline /tmp/timeline.log
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from bench.metrics import pct

SENT = "upstream.send <"


def read(path: str) -> dict[str, list[tuple[float, str]]]:
    """Marks by request number (marks made outside a request are left out)."""
    requests: dict[str, list[tuple[float, str]]] = defaultdict(list)
    with open(path) as log:
        for line in log:
            at, number, what = line.rstrip("\n").split(" ", 2)
            if number != "0":
                requests[number].append((float(at), what))
    return requests


def summarise(requests: dict[str, list[tuple[float, str]]]) -> dict[str, dict[str, list[float]]]:
    """Milliseconds from arrival to each mark (its n-th time in a request as `mark #n`), per
    path, for the questions whose upstream request was sent."""
    by_path: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for marks in requests.values():
        arrived, first = marks[0]
        if not first.startswith("request ") or not any(w == SENT for _, w in marks):
            continue
        path = "/v1" if "/v1/" in first else "browser"
        seen: Counter[str] = Counter()
        for at, what in marks[1:]:
            seen[what] += 1
            if at - arrived < 1.0:  # before the answer: not its finish
                by_path[path][f"{what} #{seen[what]}"].append((at - arrived) * 1000)
    return by_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log")
    args = parser.parse_args(argv)
    for path, marks in summarise(read(args.log)).items():
        questions = len(marks.get(f"{SENT} #1", []))
        print(f"{path}: {questions} questions; ms after arrival, p50 / p90")
        for name, times in sorted(marks.items(), key=lambda item: pct(item[1], 50) or 0.0):
            if len(times) >= questions / 2:
                print(f"  {pct(times, 50):7.2f} / {pct(times, 90):7.2f}  {name}")


if __name__ == "__main__":
    main()
