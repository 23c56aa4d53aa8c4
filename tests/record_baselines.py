"""Re-record learning-curve baselines of the regression harness (tests/regression.py).

    python -m tests.record_baselines                          # every registered (script, env), fast tier
    python -m tests.record_baselines --algo a2c               # one script, both environments
    python -m tests.record_baselines --algo ppo_clip --env CartPole-v1 --tier slow

Re-record only for a deliberate change in how a script learns, in the same commit as that
change, and show the old and new curves (the harness's plot) in the commit message.
"""

import argparse
import os
import time

from tests.regression import REGISTRY, TIERS, record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", help="script name, e.g. ppo_clip (default: all)")
    parser.add_argument("--env", help="environment id (default: all registered)")
    parser.add_argument("--tier", choices=[*TIERS, "all"], default="fast")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    keys = [k for k in REGISTRY if args.algo in (None, k[0]) and args.env in (None, k[1])]
    if not keys:
        parser.error(f"nothing registered for --algo {args.algo} --env {args.env}; see REGISTRY in tests/regression.py")
    for script, env_id in keys:
        for tier in TIERS if args.tier == "all" else [args.tier]:
            start = time.time()
            path = record(script, env_id, tier, args.workers)
            print(f"{os.path.relpath(path)}  ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
