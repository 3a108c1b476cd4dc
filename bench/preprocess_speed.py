"""Preprocessing speed: `preprocess_folder` serial vs parallel on the synthetic set.

Same images (page cache warmed), same filters, fresh output folders; prints images/s for each and the ratio parallel / serial.

    python bench/preprocess_speed.py [--n-per-class 100] [--steps median_clahe] [--workers N]
"""
import argparse, os, tempfile, time, warnings
from pathlib import Path
from cervix_fastai.data.synth import make_synthetic_sipakmed
from cervix_fastai.image.preprocess import preprocess_folder

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-per-class', type=int, default=100)
    ap.add_argument('--steps', nargs='+', default=[['median_clahe'], ['nlm']], type=lambda s: s.split('+'),
                    help="filter chains, e.g. median_clahe nlm median_clahe+nlm")
    ap.add_argument('--workers', type=int, default=os.cpu_count())
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    tmp = Path(tempfile.mkdtemp())
    src = make_synthetic_sipakmed(tmp/'src', n_per_class=a.n_per_class, clusters=False, progress=False)
    for f in src.rglob('*.bmp'): f.read_bytes()  # warm the page cache so the first timed run pays no extra I/O
    preprocess_folder(src, tmp/'warmup', steps=['median_clahe', 'nlm'], n_workers=0, progress=False)  # and OpenCV's first calls
    print(f"{'filters':<20} {'images':>6} {'serial img/s':>13} {f'{a.workers} procs img/s':>15} {'ratio':>6}")
    for steps in a.steps:
        name, res = '+'.join(steps), []
        for workers in (0, a.workers):
            t0 = time.perf_counter()
            r = preprocess_folder(src, tmp/f'{name}_{workers}', steps=steps, n_workers=workers, progress=False)
            res.append(len(r) / (time.perf_counter() - t0))
        print(f'{name:<20} {len(r):>6} {res[0]:>13.1f} {res[1]:>15.1f} {res[1] / res[0]:>6.2f}', flush=True)

if __name__ == '__main__': main()
