"""Scoring speed, three ways on the same folder in one run:

- per-image: the original projects' way, `learn.predict(path)` once per image (they called it twice per image);
- score_folder: cervix_fastai's batched scoring from a bundle (decode + resize + batching overlapped with compute);
- bare loop: `model.eval()` under `no_grad` over preloaded, already resized and normalised tensors, at the best of
  batch sizes 1, 4, 16, 32 and 64: the compute floor;
- the ONNX Runtime engine: `score_folder(engine='onnxruntime')` end to end (decoding included), and the model alone
  beside eager PyTorch on the same preloaded images, batch size and threads: eager, eager in `channels_last`, the
  bare ONNX Runtime session (all graph optimisations, and basic ones only). int8 quantisation, its speed and its
  accuracy cost on real cells: `bench/onnx_int8.py`.

Prints images/s and the ratios of score_folder to the other two, then the ONNX table. The weights are untrained (speed does not depend
on them). Each way runs `--repeats` times; the best run counts (least disturbed by the rest of the machine).

    python bench/score_speed.py [--configs resnet18@96 resnet50@224] [--n 256] [--bs 64] [--no-per-image] [--onnx-only]
"""
import argparse, copy, tempfile, time, warnings
import numpy as np
from pathlib import Path
import torch
from cervix_fastai.data.synth import make_synthetic_sipakmed
from cervix_fastai.data.core import read_sipakmed, divide_dataset
from cervix_fastai.train.backbone import manifest_dls, backbone_learner
from cervix_fastai.serve.bundle import export_bundle, load_bundle
from cervix_fastai.serve.score import score_folder
from cervix_fastai.serve.predictor import auto_bs

def best_rate(fn, n, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return n / min(times)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', nargs='+', default=['resnet18@96', 'resnet50@224'])
    ap.add_argument('--n', type=int, default=256, help='images scored (resnet50@224 uses a third of them)')
    ap.add_argument('--bs', type=int, default=None, help="score_folder's batch size (default: its auto_bs)")
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--no-per-image', action='store_true', help='skip the (slow) per-image column')
    ap.add_argument('--onnx-only', action='store_true', help='only the ONNX table')
    a = ap.parse_args()
    rows = []
    warnings.simplefilter('ignore')
    tmp = Path(tempfile.mkdtemp())
    div = divide_dataset(read_sipakmed(make_synthetic_sipakmed(tmp/'s', n_per_class=max(20, a.n // 5 + 5), progress=False)), tmp/'div', tree='symlink')
    flat = tmp/'flat'; flat.mkdir()
    for i, p in enumerate(div.path): (flat/f'{i:05d}.bmp').symlink_to(p)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    if not a.onnx_only:
        print(f"{'config':<14} {'images':>6} {'per-image':>10} {'score_folder (bs)':>18} {'bare loop (bs)':>15}   img/s;  vs per-image  vs bare loop")
    for cfg in a.configs:
        arch, size = cfg.split('@'); size = int(size)
        n = a.n if size <= 128 else max(32, a.n // 3)
        src = tmp/f'src_{cfg}'; src.mkdir()
        files = sorted(flat.iterdir())[:n]
        for f in files: (src/f.name).symlink_to(f.resolve())
        learn = backbone_learner(manifest_dls(div, size=size), arch, pretrained=False)  # untrained: speed does not depend on the weights
        learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
        bdir = export_bundle(learn, tmp/f'bundle_{cfg}', config=dict(arch=arch), onnx=True)
        b = load_bundle(bdir)
        if not a.onnx_only: pytorch_table(a, cfg, n, size, learn, b, src, files)
        rows.append(onnx_row(a, cfg, n, size, b, bdir, src, files, tmp))
    print(f"\nONNX Runtime ({torch.get_num_threads()} threads), img/s; ratios to eager PyTorch (model only) and to score_folder with torch (end to end)")
    print(f"{'config':<14} {'bs':>3} {'eager':>7} {'ch_last':>8} {'ORT':>7} {'ORT basic':>9} "
          f"{'folder torch':>12} {'folder ORT':>10}   ORT/eager  ORT/ch_last  folder ORT/torch")
    for r in rows:
        print(f"{r['cfg']:<14} {r['bs']:>3} {r['eager']:>7.1f} {r['cl']:>8.1f} {r['ort']:>7.1f} {r['ort_basic']:>9.1f} "
              f"{r['folder_torch']:>12.1f} {r['folder_ort']:>10.1f}   {r['ort'] / r['eager']:>8.2f}x {r['ort'] / r['cl']:>11.2f}x "
              f"{r['folder_ort'] / r['folder_torch']:>16.2f}x", flush=True)

def pytorch_table(a, cfg, n, size, learn, b, src, files):
    "The first table: per-image, score_folder and the bare loop"
    # warm up each path
    for f in files[:2]: learn.predict(str(f))
    score_folder(b, files[0], progress=False)
    X = b.normalize(torch.stack([b.prepare(str(f)) for f in files]))
    def per_image():
        for f in files: learn.predict(str(f))
    def scored(): score_folder(b, src, bs=a.bs, progress=False)  # bs None: auto_bs
    @torch.no_grad()
    def bare(bs):
        for i in range(0, n, bs): b.model(X[i:i + bs])
    bs = a.bs or auto_bs(size)
    r = [float('nan') if a.no_per_image else best_rate(per_image, n, a.repeats), best_rate(scored, n, a.repeats)]
    floor = {k: best_rate(lambda: bare(k), n, a.repeats) for k in (1, 4, 16, 32, 64)}
    best = max(floor, key=floor.get)
    r.append(floor[best])
    print(f'{cfg:<14} {n:>6} {r[0]:>10.1f} {r[1]:>12.1f} ({bs:>2}) {r[2]:>9.1f} ({best:>2})   {r[1] / r[0]:>18.2f}x {r[1] / r[2]:>12.2f}x', flush=True)

def _session(path, level, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.graph_optimization_level = threads, level
    return ort.InferenceSession(str(path), so, providers=['CPUExecutionProvider'])

def onnx_row(a, cfg, n, size, b, bdir, src, files, tmp) -> dict:
    "The ONNX table's row: the model alone at one batch size, then score_folder with each engine"
    import onnxruntime as ort
    bs, th = a.bs or auto_bs(size), torch.get_num_threads()
    U = torch.stack([b.prepare(str(f)) for f in files])  # uint8, as the ONNX graph takes them
    X = b.normalize(U)
    Xcl, mcl = X.contiguous(memory_format=torch.channels_last), copy.deepcopy(b.model).to(memory_format=torch.channels_last)  # a copy: .to converts in place
    @torch.no_grad()
    def eager(m, x):
        for i in range(0, n, bs): m(x[i:i + bs])
    full, basic = (_session(bdir/'model.onnx', lv, th) for lv in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC))
    Un = U.numpy()
    def run(s):
        return np.concatenate([s.run(None, {'image': Un[i:i + bs]})[0] for i in range(0, n, bs)])
    for fn in (lambda: eager(b.model, X), lambda: eager(mcl, Xcl), lambda: run(full), lambda: run(basic)): fn()  # warm up
    r = dict(cfg=cfg, bs=bs, eager=best_rate(lambda: eager(b.model, X), n, a.repeats), cl=best_rate(lambda: eager(mcl, Xcl), n, a.repeats),
             ort=best_rate(lambda: run(full), n, a.repeats), ort_basic=best_rate(lambda: run(basic), n, a.repeats))
    bt, bo = load_bundle(bdir), load_bundle(bdir, engine='onnxruntime')
    for m in (bt, bo): score_folder(m, files[0], progress=False)  # warm up
    r['folder_torch'] = best_rate(lambda: score_folder(bt, src, bs=a.bs, progress=False), n, a.repeats)
    r['folder_ort'] = best_rate(lambda: score_folder(bo, src, bs=a.bs, progress=False), n, a.repeats)
    return r

if __name__ == '__main__': main()
