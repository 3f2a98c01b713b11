"""python -m bench.pose_adversarial [--sets N] [--seed S] [--conditions a,b] [--exercises x,y]
[--json out.json]"""

from __future__ import annotations

import argparse
import json
import sys

from ._evaluate import evaluate, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="adversarial evaluation of the pose tracker")
    parser.add_argument("--sets", type=int, default=4, help="seeds per condition and exercise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", help="comma-separated condition names (default: all)")
    parser.add_argument("--exercises", help="comma-separated exercises (default: all)")
    parser.add_argument("--json", help="write the figures to this file instead of a table")
    args = parser.parse_args(argv)
    names = None if args.conditions is None else set(args.conditions.split(","))
    exercises = None if args.exercises is None else set(args.exercises.split(","))
    report = evaluate(args.sets, args.seed, names, exercises)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out)
    else:
        print(markdown(report))
        print(json.dumps(report["cpu_ms_per_frame"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
