"""A tiny script-mode 'training' (no TensorFlow): a fake linear model and a metric from its hyperparameters.

The model is ``fake.json`` (served by ``tests/backends/local/fake_models.py``); ``--fail 1`` exits non-zero.
"""

import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", dest="lr", type=float, default=0.01)
parser.add_argument("--fail", type=int, default=0)
args, _ = parser.parse_known_args()
if args.fail:
    sys.exit("asked to fail")
score = round(1.0 - abs(args.lr - 0.01) * 10, 4)
print(f"score={score}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "fake.json"), "w") as fh:
    json.dump({"weights": [1.0, 2.0], "bias": 0.5}, fh)
