"""Grad-CAM speed on one batch, four ways in one run (same model, layer and inputs):

- ours: `cervix_fastai.serve.gradcam.gradcam` (autograd only from the target layer up);
- pytorch-grad-cam: its `GradCAM` (a full forward with autograd, backward through the whole network);
- forward: one plain forward pass under `no_grad`;
- forward+backward: one forward with autograd and a backward of the class scores through the whole network.

Untrained weights (speed does not depend on them). Best of `--repeats` rounds in which the four take turns, after a
warm-up round (run-to-run drift on a small machine is large; taking turns spreads it evenly). Also prints the
Pearson r between our maps and pytorch-grad-cam's.

    python bench/gradcam_speed.py [--arch resnet50] [--size 224] [--bs 16]
"""
import argparse, time, warnings
import numpy as np, torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from cervix_fastai.models import create_model, cam_layer_name
from cervix_fastai.serve.gradcam import gradcam

def best_interleaved(fns:dict, repeats):
    "Best time of each function over `repeats` rounds, the functions taking turns in each round (after a warm-up round)"
    ts = {k: [] for k in fns}
    for r in range(repeats + 1):
        for k, fn in fns.items():
            t0 = time.perf_counter(); fn()
            if r: ts[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in ts.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', default='resnet50'); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=16); ap.add_argument('--repeats', type=int, default=4)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    torch.manual_seed(0)
    model = create_model(a.arch, 5, pretrained=False).eval()
    layer = model.get_submodule(cam_layer_name(model, a.size, a.arch))
    x = torch.randn(a.bs, 3, a.size, a.size)
    with torch.no_grad(): targets = model(x).argmax(1)
    ref = GradCAM(model=model, target_layers=[layer])
    tg = [ClassifierOutputTarget(int(t)) for t in targets]
    def fwd():
        with torch.no_grad(): model(x)
    def fwd_bwd():
        model.zero_grad(); model(x).gather(1, targets[:, None]).sum().backward()
    t = best_interleaved(dict(ours=lambda: gradcam(model, x, targets, layer), ref=lambda: ref(input_tensor=x, targets=tg),
                              fwd=fwd, fwd_bwd=fwd_bwd), a.repeats)
    ours, ref_maps = gradcam(model, x, targets, layer)[0], ref(input_tensor=x, targets=tg)
    r = [np.corrcoef(p.ravel(), q.ravel())[0, 1] for p, q in zip(ours, ref_maps)]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; {a.arch} at {a.size} px, batch {a.bs}')
    print(f"ours {t['ours']:.2f} s | pytorch-grad-cam {t['ref']:.2f} s | forward {t['fwd']:.2f} s | forward+backward {t['fwd_bwd']:.2f} s")
    print(f"ours / forward = {t['ours'] / t['fwd']:.2f}x; pytorch-grad-cam / ours = {t['ref'] / t['ours']:.2f}x; "
          f"pytorch-grad-cam / forward+backward = {t['ref'] / t['fwd_bwd']:.2f}x")
    print(f'Pearson r ours vs pytorch-grad-cam: min {min(r):.4f}, median {np.median(r):.4f}')

if __name__ == '__main__': main()
