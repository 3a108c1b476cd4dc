"""Does the data pipeline keep up with the model? Before/after, per epoch, on real cells.

On the shared Herlev copy's training split (divided by slide, seed 0), for each `arch@size`, from the second epoch on:
- (a) the training DataLoader alone: items only (decode, filter, pad-resize, collate) and with the batch augmentation;
- (b) the limit: forward + backward + Adam step on batches already in memory (normalised, augmentation done);
- (c) the library's epoch: `fit_backbone`'s training phase (the Learner as it trains: loader, augmentation, model).
Two pipelines, in the same run, their epochs interleaved so that the machine's drift hits both alike:
- before: every image decoded every epoch, fastai's transforms (`fastai_aug_transforms`: HSV hue jitter);
- after: `ItemCache` (decoded once) and `CytoAugment`.
The limit is timed in both memory formats and the faster counts (channels_last, on this CPU); "before" trains in the
default format, as the library did, "after" with `fit_backbone(channels_last=True)` (an option: off by default). Prints images/s and the
time of an epoch over the limit's, (c)/(b).

    python bench/pipeline_speed.py [--configs resnet18@96 resnet50@224 efficientnet_b0@224] [--epochs 3] [--bs 32]
    python bench/pipeline_speed.py --workers 0 1 2 [--configs ...]   # only the loader (with augmentation), per count of worker processes
"""
import argparse, statistics, tempfile, time, warnings
from pathlib import Path
import torch, torch.nn.functional as F
from cervix_fastai.data.core import read_herlev, divide_dataset
from cervix_fastai.image.augment import fastai_aug_transforms
from cervix_fastai.models import get_backbone, norm_stats, create_model
from cervix_fastai.train.backbone import manifest_dls, fit_backbone
from train_speed import TrainTimer  # (bench/ is on the path when a bench script runs)

HERLEV = Path(__file__).resolve().parents[2]/'shared'/'data'/'herlev'

def loader_rate(dl, epochs):
    "Images/s of iterating `dl`, the median over epochs after the first"
    times = []
    for _ in range(epochs + 1):
        t0, n = time.perf_counter(), 0
        for xb, _ in dl: n += len(xb)
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times[1:])

def limit_rate(model, batches, epochs, channels_last=False):
    "Images/s of forward + backward + Adam step over batches already in memory"
    model = model.train()
    if channels_last: model, batches = model.to(memory_format=torch.channels_last), [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    opt, times = torch.optim.Adam(model.parameters(), 1e-4), []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - t0)
    return sum(len(x) for x, _ in batches) / statistics.median(times[1:])

def pipelines(df, size, bs, bb):
    "The two DataLoaders: before (uncached, fastai's transforms) and after (cached, `CytoAugment`)"
    kw = dict(size=size, bs=bs, stats=norm_stats(bb), seed=0)
    return {'before': lambda aug=True: manifest_dls(df, cache_images=False, aug=fastai_aug_transforms() if aug else False, **kw),
            'after': lambda aug=True: manifest_dls(df, cache_images=True, aug=aug, **kw)}

def workers_table(df, a):
    "Images/s of the training loader with augmentation, cached and not, per count of worker processes"
    print('| size | images | ' + ' | '.join(f'{w} workers' for w in a.workers) + ' |')
    print('|---|---|' + '---|' * len(a.workers))
    for size in sorted({int(c.split('@')[1]) for c in a.configs}):
        for cached in (True, False):
            rates = [loader_rate(manifest_dls(df, size=size, bs=a.loader_bs, cache_images=cached, num_workers=w, seed=0).train, a.epochs)
                     for w in a.workers]
            print(f"| {size} px | {'cached' if cached else 'decoded every epoch'} | " + ' | '.join(f'{r:,.0f}' for r in rates) + ' |', flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', nargs='+', default=['resnet18@96', 'resnet50@224', 'efficientnet_b0@224'])
    ap.add_argument('--epochs', type=int, default=3, help='timed epochs (after one warm-up)')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--loader-bs', type=int, default=64, help='batch size of the loader-alone columns')
    ap.add_argument('--data', default=str(HERLEV))
    ap.add_argument('--workers', type=int, nargs='*', help="only time the loader with augmentation for these counts of worker processes")
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    df = divide_dataset(read_herlev(a.data), seed=0)
    n_train = int((df.split == 'train').sum())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; Herlev, {n_train} training cells; '
          f'{a.epochs} timed epochs after a warm-up; loader batch {a.loader_bs}, training batch {a.bs}\n')
    if a.workers: return workers_table(df, a)
    rows = []
    for cfg in a.configs:
        arch, size = cfg.split('@'); size = int(size)
        bb, mk = get_backbone(arch), pipelines(df, size, a.loader_bs, get_backbone(arch))
        r = {'config': cfg}
        for when in ('before', 'after'):
            r[f'items {when}'] = loader_rate(mk[when](aug=False).train, a.epochs)
            r[f'aug {when}'] = loader_rate(mk[when]().train, a.epochs)
        dls = pipelines(df, size, a.bs, bb)['after']()
        batches = [(x.as_subclass(torch.Tensor).clone(), y.as_subclass(torch.Tensor).clone()) for x, y in dls.train]
        torch.manual_seed(0)
        model = create_model(arch, len(dls.vocab), pretrained=False)
        r['limit contiguous'] = limit_rate(model, batches, a.epochs)
        torch.manual_seed(0)
        r['limit channels_last'] = limit_rate(create_model(arch, len(dls.vocab), pretrained=False), batches, a.epochs, True)
        r['limit'] = max(r['limit contiguous'], r['limit channels_last'])
        timers, learners = {}, {}
        for when in ('before', 'after'):
            learners[when] = fit_backbone(pipelines(df, size, a.bs, bb)[when](), arch, epochs=1, lr=1e-4, pretrained=False, quiet=True,
                                          export=False, run_dir=Path(tempfile.mkdtemp())/f'{cfg}-{when}', channels_last=when == 'after')
            learners[when].add_cb(timers.setdefault(when, TrainTimer()))
        for _ in range(a.epochs):  # fit_backbone's own epoch was the warm-up
            for when in ('before', 'after'): learners[when].fit(1, 1e-4)
        n = len(batches) * a.bs
        for when in ('before', 'after'): r[f'epoch {when}'] = n / statistics.median(timers[when].times)
        rows.append(r)
        print(f"{cfg}: loader items {r['items before']:.0f} → {r['items after']:.0f} img/s, with augmentation "
              f"{r['aug before']:.0f} → {r['aug after']:.0f}; limit {r['limit contiguous']:.1f} img/s, {r['limit channels_last']:.1f} "
              f"channels_last; library epoch {r['epoch before']:.1f} → {r['epoch after']:.1f} img/s, limit/epoch time "
              f"{r['limit'] / r['epoch before']:.2f}× → {r['limit'] / r['epoch after']:.2f}×", flush=True)
    print('\n| config | loader, items (img/s) | loader + augmentation | limit (b): contiguous, channels_last | library epoch (c) | (c)/(b) time |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['config']} | {r['items before']:.0f} → {r['items after']:.0f} | {r['aug before']:.0f} → {r['aug after']:.0f} | "
              f"{r['limit contiguous']:.1f}, {r['limit channels_last']:.1f} | {r['epoch before']:.1f} → {r['epoch after']:.1f} | "
              f"{r['limit'] / r['epoch before']:.2f}× → {r['limit'] / r['epoch after']:.2f}× |")

if __name__ == '__main__': main()
