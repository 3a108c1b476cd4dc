"""fp32 against int8 ONNX Runtime on this CPU: what quantisation buys in speed, and what it costs in accuracy on real cells.

1. Accuracy. A resnet18 at 96 px (the Herlev study's image model: 20 one-cycle epochs from random weights, lr 3e-3,
   label smoothing 0.1) trained on fold 0 of `grouped_kfold(read_herlev(--data), k=5, seed=0)` (fold 0 tests, fold 1
   validates, the rest train: no slide in two splits), exported with `model.onnx`, then quantised two ways:
   - dynamic: int8 weights, activations quantised on the fly (`quantize_dynamic`, no calibration data);
   - static: the library's `quantize_onnx` (what `export_bundle(int8=...)` writes): int8 weights per channel and uint8
     activations with ranges calibrated (MinMax) on the validation cells, QDQ format.
   On the held-out test slides: accuracy and macro F1 of each, the int8 − fp32 difference with a 95 % interval from a
   paired bootstrap over slides, how often the top class changes, and the largest probability change.
2. Speed. The model alone on the same prepared uint8 images, at one batch size and the same threads: eager PyTorch,
   the fp32 ONNX Runtime session, and the two int8 ones; for the trained resnet18@96 and an untrained resnet50@224
   (speed does not depend on the weights; its static copy is calibrated on the same images).

The trained bundle is kept under --out, so a second run only measures.

    python bench/onnx_int8.py [--data ../shared/data/herlev] [--out runs/onnx_int8] [--bs 32] [--repeats 3]
"""
import argparse, sys, time, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]

def rate(fn, n, repeats):
    "Images per second of the best of `repeats` runs of `fn` (after one warm-up)"
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n / best

def _timed(fn):
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0

def session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.graph_optimization_level = threads, ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=['CPUExecutionProvider'])

def quantised(src:Path, calib:np.ndarray, bs:int) -> dict:
    "`src` quantised dynamically, and statically as the library does it (`quantize_onnx`, calibrated on `calib`): {name: path}"
    from onnxruntime.quantization import quantize_dynamic, QuantType
    from cervix_fastai.serve.onnx import quantize_onnx
    dyn, sta = (src.with_name(src.stem + s) for s in ('.int8-dynamic.onnx', '.int8-static.onnx'))
    quantize_dynamic(str(src), str(dyn), weight_type=QuantType.QInt8)
    quantize_onnx(src, sta, calib, bs)
    return {'int8 dynamic': dyn, 'int8 static': sta}

def run(s, U, bs) -> np.ndarray:
    "Logits of session `s` over the uint8 images `U`, `bs` at a time"
    return np.concatenate([s.run(None, {'image': U[i:i + bs]})[0] for i in range(0, len(U), bs)])

def softmax(z): e = np.exp(z - z.max(1, keepdims=True)); return e / e.sum(1, keepdims=True)

def trained(a, out:Path):
    "The study's image model on fold 0, exported with model.onnx (trained once, then read back); its manifest"
    from cervix_fastai.data.core import read_herlev, grouped_kfold
    from cervix_fastai.train.cv import fold_manifest
    from cervix_fastai.train.backbone import fit_backbone
    from cervix_fastai.serve.bundle import export_bundle
    df = fold_manifest(grouped_kfold(read_herlev(a.data), k=5, seed=0), 'fold', 0)
    bdir = out/'bundle'
    if not (bdir/'model.onnx').exists():
        t0 = time.perf_counter()
        res = fit_backbone(df, 'resnet18', size=96, epochs=20, lr=3e-3, bs=32, label_smoothing=0.1, pretrained=False, keep='best',
                           run_dir=out/'run', resume=(out/'run').exists(), quiet=True, export=False, threads=a.threads)
        export_bundle(res, bdir, onnx=True)
        print(f'trained resnet18@96 on fold 0 in {time.perf_counter() - t0:.0f} s')
    return bdir, df

def accuracy_table(bdir, df, a):
    from cervix_fastai.serve.bundle import load_bundle
    from cervix_fastai.evaluate.metrics import bootstrap_ci
    from cervix_fastai.evaluate.metrics import macro_f1
    b = load_bundle(bdir)
    prep = lambda d: np.stack([b.prepare(str(p)).numpy() for p in d.path])
    va, te = df[df.split == 'valid'], df[df.split == 'test']
    Uva, Ute = prep(va), prep(te)
    targs = te.label.map({v: i for i, v in enumerate(b.vocab)}).to_numpy()
    slides = te.group.astype(str).to_numpy()
    paths = {'fp32': bdir/'model.onnx', **quantised(bdir/'model.onnx', Uva, a.bs)}
    probs = {k: softmax(run(session(p, a.threads), Ute, a.bs)) for k, p in paths.items()}
    # the fp32 session against the torch engine, as the library's parity test does
    pt, _, _ = b.predict_proba(list(te.path), progress=False)
    print(f'\nHerlev fold 0: {len(te)} test cells from {len(set(slides))} slides, {len(va)} validation cells for calibration; '
          f'fp32 ONNX vs torch max |dp| {np.abs(probs["fp32"] - pt).max():.1e}')
    acc = lambda t, p: float((t == p).mean())
    f1 = macro_f1
    print(f"{'model':<13} {'accuracy':>9} {'macro F1':>9} {'Δ accuracy vs fp32 [95 % CI, slides]':>38} {'top-1 changed':>14} {'max |dp|':>9}")
    p32 = probs['fp32'].argmax(1)
    for k, pr in probs.items():
        p = pr.argmax(1)
        both = np.stack([p32, p], 1)
        d = acc(targs, p) - acc(targs, p32)
        lo, hi = bootstrap_ci(targs, both, lambda t, q: acc(t, q[:, 1]) - acc(t, q[:, 0]), groups=slides)
        print(f'{k:<13} {acc(targs, p):>9.3f} {f1(targs, p):>9.3f} {d:>+16.3f} [{lo:+.3f}, {hi:+.3f}]{"":>5} '
              f'{int((p != p32).sum()):>6} of {len(p)} {np.abs(pr - probs["fp32"]).max():>9.3f}', flush=True)
    return b, Uva

def speed_row(name, p, U, calib, a, tmp:Path):
    "img/s of eager PyTorch and of the three ONNX Runtime sessions on the prepared images `U`"
    from cervix_fastai.serve.onnx import export_onnx
    src = tmp/f'{name}.onnx'
    if not src.exists(): export_onnx(p, src)
    paths = {'fp32': src, **quantised(src, calib, a.bs)}
    X = p.normalize(torch.from_numpy(U))
    @torch.no_grad()
    def eager():
        for i in range(0, len(X), a.bs): p.model(X[i:i + a.bs])
    r = {'eager': rate(eager, len(U), a.repeats)}
    for k, f in paths.items():
        s = session(f, a.threads)
        r[k] = rate(lambda: run(s, U, a.bs), len(U), a.repeats)
    print(f"{name:<14} {len(U):>6} {a.bs:>3} " + ' '.join(f'{r[k]:>12.1f}' for k in ('eager', 'fp32', 'int8 dynamic', 'int8 static'))
          + f"   {r['fp32'] / r['eager']:>6.2f}x {r['int8 static'] / r['fp32']:>10.2f}x {r['int8 dynamic'] / r['fp32']:>10.2f}x", flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=str(ROOT.parent/'shared'/'data'/'herlev'))
    ap.add_argument('--out', default=str(ROOT/'runs'/'onnx_int8'))
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2, help='torch and ONNX Runtime threads')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    import logging; logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice, once per model
    torch.set_num_threads(a.threads)
    import onnxruntime as ort
    from cervix_fastai.core import DataError
    from cervix_fastai.models import create_model
    from cervix_fastai.serve.predictor import ModelPredictor
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    print(f'torch {torch.__version__}, onnxruntime {ort.__version__}, {a.threads} threads')
    try: bdir, df = trained(a, out)
    except DataError as e: sys.exit(f'error: {e}')
    b, calib = accuracy_table(bdir, df, a)
    U = np.stack([b.prepare(str(p)).numpy() for p in df[df.split == 'test'].path[:256]])
    print(f"\nmodel alone, img/s{'':<26}{'eager':>12} {'ORT fp32':>12} {'int8 dynamic':>12} {'int8 static':>12}   ORT/eager  static/fp32 dynamic/fp32")
    print(f"{'config':<14} {'images':>6} {'bs':>3}")
    speed_row('resnet18@96', b, U, calib, a, out)
    torch.manual_seed(0)
    r50 = ModelPredictor(create_model('resnet50', len(b.vocab), pretrained=False).eval(), b.vocab, 224, arch='resnet50')
    prep = lambda d: np.stack([r50.prepare(str(p)).numpy() for p in d.path])
    speed_row('resnet50@224', r50, prep(df[df.split == 'test'][:96]), prep(df[df.split == 'valid'][:64]), a, out)

if __name__ == '__main__': main()
