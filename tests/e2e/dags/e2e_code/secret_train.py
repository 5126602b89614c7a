"""The secrets drill's training script: prints its secret hyperparameter and environment value itself.

Standard library only. ``--seconds S`` makes it last S seconds, so its task defers before it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    """Print both secrets (the script's own output, which the task and trigger logs must mask), wait, save."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db_pass", default="")
    parser.add_argument("--seconds", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    print(f"script says db_pass={args.db_pass} credential={os.environ.get('API_CREDENTIAL', '')}", flush=True)
    time.sleep(args.seconds)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as fh:
        json.dump({"ok": True}, fh)
    print("done", flush=True)


if __name__ == "__main__":
    main()
