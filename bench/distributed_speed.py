"""One process against two, on the same synthetic set: wall time of `fit_backbone` for one epoch (data loaders and
model set up included) and of scoring one folder.

Each way runs in its own processes (`torchrun` for two, plain `python` for one) and times itself from inside, after
start-up and imports, so the figures compare the work, not the launcher; the whole command's wall time, start-up
included, is printed too. On a 2-core CPU no speed-up is to be expected (two processes share the two cores, and
gloo's all-reduce adds to each step): the point of the distributed path is that it gives the same results
(`02_distributed` tests that), and scales on machines with more cores or GPUs.

    python bench/distributed_speed.py [--n-per-class 60] [--arch resnet18] [--size 96] [--bs 16] [--nprocs 1 2 4]

On a machine with GPUs each process takes one (NCCL); `CUDA_VISIBLE_DEVICES=` keeps them on the CPU (gloo).
"""
import argparse, json, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path

WORK = '''
import json, sys, time, warnings
warnings.simplefilter('ignore')
import torch
from cervix_fastai.distributed import init_distributed, is_main, barrier, launched
from cervix_fastai.train.backbone import fit_backbone
from cervix_fastai.serve.score import score_folder
div, bundle, run, out, arch, size, bs, res = sys.argv[1:9]
dist = launched()
if dist: init_distributed()
barrier(); t0 = time.perf_counter()
fit_backbone(div, arch, epochs=1, lr=3e-3, size=int(size), bs=int(bs), pretrained=False, run_dir=run, quiet=True, export=False, distributed=dist)
barrier(); t1 = time.perf_counter()
sc = score_folder(bundle, div + '/test', out, progress=False, distributed=dist)
barrier(); t2 = time.perf_counter()
if is_main(): json.dump(dict(epoch_s=t1 - t0, score_s=t2 - t1, n_scored=len(sc.predictions), threads=torch.get_num_threads()), open(res, 'w'))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-per-class', type=int, default=60)
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--bs', type=int, default=16, help='per process')
    ap.add_argument('--nprocs', type=int, nargs='+', default=[1, 2], help='process counts to time (the first is the baseline)')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    from cervix_fastai.data.synth import make_synthetic_sipakmed
    from cervix_fastai.data.core import read_sipakmed, divide_dataset
    from cervix_fastai.train.backbone import manifest_dls, backbone_learner
    from cervix_fastai.serve.bundle import export_bundle
    tmp = Path(tempfile.mkdtemp())
    df = divide_dataset(read_sipakmed(make_synthetic_sipakmed(tmp/'s', n_per_class=a.n_per_class, progress=False)), tmp/'div', tree='copy')
    learn = backbone_learner(manifest_dls(df, size=a.size), a.arch, pretrained=False)  # untrained: speed does not depend on the weights
    export_bundle(learn, tmp/'bundle', config=dict(arch=a.arch))  # what both score
    (tmp/'work.py').write_text(WORK)
    n = df.split.value_counts().to_dict()
    print(f"{a.arch}@{a.size}, {n.get('train', 0)} training cells, {n.get('test', 0)} scored; batch {a.bs} per process; {os.cpu_count()} CPUs")
    print(f"{'processes':>9} {'threads each':>12} {'fit, 1 epoch (s)':>16} {'scoring (s)':>12} {'whole command (s)':>18}"
          f" {'fit speed-up':>12} {'scoring speed-up':>16}")
    base = None
    for nproc in a.nprocs:
        th = max(1, (os.cpu_count() or 1) // nproc)
        env = {**os.environ, 'OMP_NUM_THREADS': str(th), 'PYTHONWARNINGS': 'ignore'}
        launch = [sys.executable] if nproc == 1 else [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc-per-node={nproc}']
        args = [str(tmp/'work.py'), str(tmp/'div'), str(tmp/'bundle'), str(tmp/f'run{nproc}'), str(tmp/f'scores{nproc}'), a.arch, str(a.size), str(a.bs), str(tmp/f'res{nproc}.json')]
        t0 = time.perf_counter()
        r = subprocess.run(launch + args, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if r.returncode: sys.exit(f'{nproc} process(es) failed:\n{(r.stdout + r.stderr)[-3000:]}')
        m = json.loads((tmp/f'res{nproc}.json').read_text())
        base = base or m
        print(f"{nproc:>9} {m['threads']:>12} {m['epoch_s']:>16.1f} {m['score_s']:>12.1f} {wall:>18.1f}"
              f" {base['epoch_s'] / m['epoch_s']:>11.2f}x {base['score_s'] / m['score_s']:>15.2f}x", flush=True)
    import pandas as pd
    p1 = pd.read_csv(tmp/f'scores{a.nprocs[0]}'/'predictions.csv')
    cols = [c for c in p1.columns if c.startswith('p_')]
    for k in a.nprocs[1:]:
        p2 = pd.read_csv(tmp/f'scores{k}'/'predictions.csv')
        print(f'predictions.csv, {a.nprocs[0]} vs {k} processes: same rows in the same order {p1.path.tolist() == p2.path.tolist()}, '
              f'same predictions {(p1.pred == p2.pred).all()}, max |dp| {(p1[cols] - p2[cols]).abs().to_numpy().max():.1e} '
              '(other batches: bs=1 makes them equal to the bit, as 02_distributed tests)')

if __name__ == '__main__': main()
