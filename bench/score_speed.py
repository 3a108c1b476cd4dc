"""Scoring speed, three ways on the same folder in one run:

- per-image: the original projects' way, `learn.predict(path)` once per image (they called it twice per image);
- score_folder: cervix_fastai's batched scoring from a bundle (decode + resize + batching overlapped with compute);
- bare loop: `model.eval()` under `no_grad` over preloaded, already resized and normalised tensors, at the best of
  batch sizes 1, 4, 16, 32 and 64: the compute floor.

Prints images/s and the ratios of score_folder to the other two. The weights are untrained (speed does not depend
on them). Each way runs `--repeats` times; the best run counts (least disturbed by the rest of the machine).

    python bench/score_speed.py [--configs resnet18@96 resnet50@224] [--n 256] [--bs 64]
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import torch
from cervix_fastai.synth import make_synthetic_sipakmed
from cervix_fastai.data import read_sipakmed, divide_dataset
from cervix_fastai.train import fit_backbone
from cervix_fastai.inference import export_bundle, load_bundle, score_folder
from cervix_fastai.predictor import auto_bs

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
    ap.add_argument('--repeats', type=int, default=2)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    tmp = Path(tempfile.mkdtemp())
    div = divide_dataset(read_sipakmed(make_synthetic_sipakmed(tmp/'s', n_per_class=max(20, a.n // 5 + 5), progress=False)), tmp/'div', tree='symlink')
    flat = tmp/'flat'; flat.mkdir()
    for i, p in enumerate(div.path): (flat/f'{i:05d}.bmp').symlink_to(p)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    print(f"{'config':<14} {'images':>6} {'per-image':>10} {'score_folder (bs)':>18} {'bare loop (bs)':>15}   img/s;  vs per-image  vs bare loop")
    for cfg in a.configs:
        arch, size = cfg.split('@'); size = int(size)
        n = a.n if size <= 128 else max(32, a.n // 3)
        src = tmp/f'src_{cfg}'; src.mkdir()
        files = sorted(flat.iterdir())[:n]
        for f in files: (src/f.name).symlink_to(f.resolve())
        learn = fit_backbone(div, arch, epochs=0, lr=1e-3, size=size, pretrained=False, run_dir=tmp/f'run_{cfg}', quiet=True, export=False)
        learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
        bdir = export_bundle(learn, tmp/f'bundle_{cfg}')
        b = load_bundle(bdir)
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
        r = [best_rate(per_image, n, a.repeats), best_rate(scored, n, a.repeats)]
        floor = {k: best_rate(lambda: bare(k), n, a.repeats) for k in (1, 4, 16, 32, 64)}
        best = max(floor, key=floor.get)
        r.append(floor[best])
        print(f'{cfg:<14} {n:>6} {r[0]:>10.1f} {r[1]:>12.1f} ({bs:>2}) {r[2]:>9.1f} ({best:>2})   {r[1] / r[0]:>18.2f}x {r[1] / r[2]:>12.2f}x', flush=True)

if __name__ == '__main__': main()
