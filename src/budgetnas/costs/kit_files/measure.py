"""Measure a budgetnas latency kit on this device. Needs only Python 3.8+, numpy and onnxruntime.

    pip install numpy onnxruntime
    python measure.py --threads 1 --out table.json

The kit's folder holds manifest.json and the ONNX files it lists: the blocks of a search space
and its fixed parts (a table kit), or a network a run found (a verification kit), plus whole
validation networks. Every file's SHA-256 is checked against the manifest before it is loaded.
After warm-up, every model is timed once per round, in a freshly shuffled order each round, so a
slow drift of the device's speed (heat, other processes) hits blocks and networks alike. Each
repeat averages enough calls to last at least 5 ms (the steady state of repeated inference). A
table kit also holds an empty model: its time is the cost of one call into onnxruntime, which a
whole network pays once and a sum of blocks once per block, so the import subtracts it. The output gives, per model, the median,
quartiles, min and max in milliseconds per inference, with the device's description; take it back
to `budgetnas lut import table.json --name NAME` (table kit) or `budgetnas verify RUN
--measurements table.json` (verification kit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def processor():
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for field in ("model name", "hardware", "cpu model"):
        for line in lines:
            if line.lower().startswith(field) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_kit(folder):
    path = os.path.join(folder, "manifest.json")
    if not os.path.isfile(path):
        raise SystemExit("no manifest.json in %s: point --kit at a budgetnas kit" % folder)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except ValueError as err:
        raise SystemExit("%s is not readable JSON: %s" % (path, err)) from None
    if manifest.get("kind") != "budgetnas-latency-kit" or manifest.get("format") != 1:
        raise SystemExit("%s is not a budgetnas latency kit (format 1)" % path)
    root = os.path.realpath(folder)
    for m in manifest["models"]:
        file = os.path.realpath(os.path.join(folder, m["file"]))
        if not file.startswith(root + os.sep):
            raise SystemExit("the manifest names a file outside the kit: %r" % m["file"])
        if not os.path.isfile(file) or sha256(file) != m["sha256"]:
            raise SystemExit("%s is missing or altered (its SHA-256 differs)" % m["file"])
        m["path"] = file
    return manifest, hashlib.sha256(raw).hexdigest()


def session(ort, path, provider, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    providers = (
        [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    )
    return ort.InferenceSession(path, opts, providers=providers)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--kit", default=here, help="the kit's folder (default: this script's)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads")
    p.add_argument("--provider", default="cpu", help="execution provider: " + ", ".join(PROVIDERS))
    p.add_argument("--repeats", type=int, default=30, help="timed rounds")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per model first")
    p.add_argument(
        "--clock",
        default="auto",
        choices=("auto", "wall", "thread"),
        help="auto: the thread's CPU time with 1 thread on the CPU, wall otherwise",
    )
    p.add_argument(
        "--min-time-ms",
        type=float,
        default=5.0,
        help="each repeat calls a model until it has run this long (steady state)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the JSON file to write")
    args = p.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    if args.provider.lower() not in PROVIDERS:
        raise SystemExit(
            "unknown provider %r; choose one of %s" % (args.provider, ", ".join(PROVIDERS))
        )
    provider = PROVIDERS[args.provider.lower()]
    if provider not in ort.get_available_providers():
        raise SystemExit(
            "onnxruntime here has no %s; available: %s"
            % (provider, ", ".join(ort.get_available_providers()))
        )
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0:
        raise SystemExit("--threads and --repeats must be >= 1, --warmup >= 0")
    clock = args.clock
    if clock == "auto":
        clock = "thread" if args.threads == 1 and provider == "CPUExecutionProvider" else "wall"
    if clock == "thread" and (args.threads != 1 or provider != "CPUExecutionProvider"):
        raise SystemExit("the thread clock measures only the CPU provider with --threads 1")
    timer = time.thread_time if clock == "thread" else time.perf_counter
    manifest, manifest_hash = read_kit(args.kit)
    models = manifest["models"]
    rng = np.random.default_rng(args.seed)
    runners = []
    say("loading %d models (%s, %d thread(s))" % (len(models), provider, args.threads))
    for m in models:
        s = session(ort, m["path"], provider, args.threads)
        x = rng.standard_normal(m["input_shape"]).astype(np.float32)
        feed = {s.get_inputs()[0].name: x}
        runners.append(lambda s=s, feed=feed: s.run(None, feed))
    for run in runners:
        for _ in range(args.warmup):
            run()
    numbers = []
    for run in runners:
        t = time.perf_counter()
        run()
        dt = max(time.perf_counter() - t, 1e-7)
        numbers.append(int(min(1000, max(1, np.ceil(args.min_time_ms * 1e-3 / dt)))))
    samples = [[] for _ in runners]
    for r in range(args.repeats):
        for i in rng.permutation(len(runners)):
            run, n = runners[i], numbers[i]
            t = timer()
            for _ in range(n):
                run()
            samples[i].append((timer() - t) * 1e3 / n)
        if (r + 1) % max(1, args.repeats // 10) == 0:
            say("round %d/%d" % (r + 1, args.repeats))
    results = []
    for m, s, n in zip(models, samples, numbers):
        a = np.asarray(s)
        q1, med, q3 = np.percentile(a, [25, 50, 75])
        results.append(
            {
                "role": m["role"],
                "key": m["key"],
                "median": float(med),
                "q1": float(q1),
                "q3": float(q3),
                "min": float(a.min()),
                "max": float(a.max()),
                "n": int(a.size),
                "number": int(n),
            }
        )
    out = {
        "kind": "budgetnas-kit-measurements",
        "format": 1,
        "kit": {
            k: manifest.get(k)
            for k in ("purpose", "space", "preset", "space_fingerprint", "resolution", "batch")
        },
        "device": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": processor(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "provider": provider,
            "threads": args.threads,
            "batch": manifest.get("batch"),
            "clock": clock,
        },
        "settings": {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "seed": args.seed,
            "min_time_ms": args.min_time_ms,
        },
        "results": results,
    }
    out["kit"]["manifest_sha256"] = manifest_hash
    tmp = args.out + ".part"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.out)
    say("wrote %d measurements to %s" % (len(results), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
