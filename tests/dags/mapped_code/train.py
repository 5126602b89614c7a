"""A tiny script-mode 'training' (no TensorFlow): prints a metric derived from its hyperparameters."""

import argparse
import os
import pathlib

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--model_dir", default=None)
args, _ = parser.parse_known_args()
score = round(1.0 - abs(args.lr - 0.01) * 10, 4)
print(f"score={score} instance={os.environ['SM_CURRENT_INSTANCE_TYPE']}", flush=True)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(str(score))
