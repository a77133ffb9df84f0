#!/usr/bin/env python3
"""Python onnxruntime reference timing of visage's liveness and attribute models.

Runs each model on a fixed random input of its own shape, one intra-op thread, and
prints the median latency in milliseconds as JSON: {"model": ms, ...}. This times
inference alone (no crop or pre-processing), like the `run` column of
`cargo run --release -p visage --example attribute_latency`, which calls it.

    attributes_reference.py --models DIR [--runs N]
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort

MODELS = {
    "fr_liveness.onnx": (1, 3, 128, 128),
    "fr_age.onnx": (1, 3, 64, 64),
    "fr_gender.onnx": (1, 3, 64, 64),
    "fr_pose.onnx": (1, 3, 224, 224),
    "fr_expression.onnx": (1, 3, 224, 224),
    "fr_eye.onnx": (1, 1, 24, 24),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    ort.set_default_logger_severity(3)
    rng = np.random.default_rng(7)
    out = {}
    for name, shape in MODELS.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(f"{args.models}/{name}", options, providers=["CPUExecutionProvider"])
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        feed = {session.get_inputs()[0].name: x}
        for _ in range(5):
            session.run(None, feed)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - t) * 1e3)
        out[name] = float(np.median(times))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
