#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: answers timing requests, one JSON object per line on stdin,
with one JSON object per line on stdout, so bench/run.js can alternate lkvit and PyTorch case by
case on the same machine (ratios taken that close together survive a noisy machine).

Same work as ../shared/peers/torch_dwconv.py: both memory layouts for depthwise conv (NCHW and
channels-last, where oneDNN is much faster for large kernels), forward, forward + input gradient
(an attack step) and forward + input and weight gradients (a training step); medians of `reps`.
Needs PyTorch (Debian: apt-get install python3-torch).
"""
import json, sys, time
import torch
import torch.nn.functional as F


def median_time(fn, reps, warm_calls=2):
    # Warm up for at least 0.2 s (and twice), so cores that idled while lkvit ran are back at speed.
    t_end = time.perf_counter() + 0.2
    for _ in range(warm_calls):
        fn()
    while time.perf_counter() < t_end:
        fn()
    times = []
    budget = time.perf_counter() + 3.0  # NCHW large kernels take seconds a call: at least 3 runs, then stop
    for i in range(reps):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
        if i >= 2 and time.perf_counter() > budget:
            break
    times.sort()
    return times[len(times) // 2] * 1e3


def dwconv(req):
    n, c, h, w, k, reps = req['N'], req['C'], req['H'], req['W'], req['K'], req['reps']
    out = {}
    for layout in ('nchw', 'channels_last'):
        x = torch.randn(n, c, h, w)
        if layout == 'channels_last':
            x = x.to(memory_format=torch.channels_last)
        wt = torch.randn(c, 1, k, k)
        fwd = median_time(lambda: F.conv2d(x, wt, padding=k // 2, groups=c), reps)
        xr = x.clone().requires_grad_(True)
        wr = wt.clone().requires_grad_(True)

        def fwd_bwd_input():
            y = F.conv2d(xr, wt, padding=k // 2, groups=c)
            y.backward(torch.ones_like(y))

        def fwd_bwd_all():
            y = F.conv2d(xr, wr, padding=k // 2, groups=c)
            y.backward(torch.ones_like(y))
        r2 = max(1, reps // 2) if req.get('slow_bwd') else reps
        out[layout] = dict(fwd_ms=fwd, fwd_bwd_input_ms=median_time(fwd_bwd_input, r2),
                           fwd_bwd_all_ms=median_time(fwd_bwd_all, max(1, r2 // 2)))
    return out


def attention(req):
    b, hd, t, d, reps = req['B'], req['H'], req['T'], req['d'], req['reps']
    q = torch.randn(b, hd, t, d, requires_grad=True)
    k = torch.randn(b, hd, t, d, requires_grad=True)
    v = torch.randn(b, hd, t, d, requires_grad=True)
    scale = d ** -0.5

    def fwd():
        with torch.no_grad():
            torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v

    def fwd_bwd():
        o = torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v
        o.backward(torch.ones_like(o))
    return dict(fwd_ms=median_time(fwd, reps), fwd_bwd_ms=median_time(fwd_bwd, reps))


def matmul(req):
    m, n, k, kind = req['M'], req['N'], req['K'], req.get('kind', 'matmul')
    # The same transposes lkvit's case does: linear (x W^T), its input gradient (g W) and its
    # weight gradient (g^T x).
    if kind == 'linear':
        a, b = torch.randn(m, k), torch.randn(n, k)
        f = lambda: F.linear(a, b)
    elif kind == 'linear-dw':
        a, b = torch.randn(k, m), torch.randn(k, n)
        f = lambda: a.t() @ b
    else:
        a, b = torch.randn(m, k), torch.randn(k, n)
        f = lambda: a @ b
    return dict(ms=median_time(f, req['reps']))


def conv(req):
    x = torch.randn(req['N'], req['Cin'], req['H'], req['W'])
    w = torch.randn(req['Cout'], req['Cin'] // req.get('groups', 1), req['K'], req['K'])
    kw = dict(stride=req.get('stride', 1), padding=req.get('padding', 0), groups=req.get('groups', 1))
    pass_ = req.get('pass', 'fwd')
    if pass_ == 'fwd':
        with torch.no_grad():
            return dict(ms=median_time(lambda: F.conv2d(x, w, **kw), req['reps']))
    # Backward only, as lkvit's case times it: a fresh graph each repetition, the clock around backward().
    g = torch.randn_like(F.conv2d(x, w, **kw))
    times = []
    for i in range(req['reps'] + 2):
        xr = x.clone().requires_grad_(pass_ == 'grad x')
        wr = w.clone().requires_grad_(pass_ == 'grad W')
        y = F.conv2d(xr, wr, **kw)
        t = time.perf_counter(); y.backward(g); dt = time.perf_counter() - t
        if i >= 2:
            times.append(dt)
    times.sort()
    return dict(ms=times[len(times) // 2] * 1e3)


_models = {}


def model(req):
    """A whole model (bench/torch_models.py, random weights, eval mode, frozen parameters) at
    224x224 in one memory layout: forward, and forward + input gradient of the summed
    cross-entropy (an attack step). form 'reparam' merges RepLKNet's kernels first; 'size' (default
    224) is the input side and 'overrides' architecture options in lkvit's names."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models
    name, batch, layout, form, reps = req['name'], req['N'], req['layout'], req.get('form', 'train-form'), req['reps']
    size, overrides = req.get('size', 224), req.get('overrides', {})
    key = (name, layout, form, json.dumps(overrides, sort_keys=True))
    if key not in _models:
        _models.clear()  # one model at a time: RepLKNet-31B is 320 MB of weights
        torch.manual_seed(1)
        m = torch_models.build(name, **overrides).eval()
        if form == 'reparam':
            for mod in m.modules():
                if hasattr(mod, 'merge_kernel'):
                    mod.merge_kernel()
        for p in m.parameters():
            p.requires_grad_(False)
        if layout == 'channels_last':
            m = m.to(memory_format=torch.channels_last)
        _models[key] = m
    m = _models[key]
    mean, std = torch_models.MEAN_STD[name]
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    x = torch.rand(batch, 3, size, size)
    if layout == 'channels_last':
        x = x.contiguous(memory_format=torch.channels_last)
    labels = torch.zeros(batch, dtype=torch.long)

    def fwd():
        with torch.no_grad():
            m((x - mean) / std)

    def fwd_bwd():
        xg = x.clone().requires_grad_(True)
        F.cross_entropy(m((xg - mean) / std), labels, reduction='sum').backward()

    return dict(fwd_ms=median_time(fwd, reps, warm_calls=1), fwd_bwd_ms=median_time(fwd_bwd, reps, warm_calls=1))


def pgd(req):
    """PGD L-inf the way torchattacks runs it (bench/torch_attack.py's loop) on a whole model at
    224x224 in one memory layout: the median time of one attack on the batch."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models
    from torch_attack import pgd_linf
    name, batch, layout, reps = req['name'], req['N'], req['layout'], req['reps']
    model(dict(name=name, N=1, layout=layout, reps=1))  # builds and caches the model in this layout
    m = _models[(name, layout, 'train-form', json.dumps({}))]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in torch_models.MEAN_STD[name])
    x = torch.rand(batch, 3, 224, 224)
    if layout == 'channels_last':
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) * 37 % 1000
    attack = lambda: pgd_linf(m, lambda v: (v - mean) / std, x, y, req['eps'], req['alpha'], req['steps'])
    return dict(attack_ms=median_time(attack, reps, warm_calls=1))


def train(req):
    """One training step of a whole model (bench/torch_models.py, random weights, train mode) in
    one memory layout: AdamW (lr 1e-3, weight decay 0.05) after the cross-entropy with label
    smoothing 0.1, backward to every parameter; 'size' is the input side, 'overrides' architecture
    options in lkvit's names."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models
    name, batch, layout, reps = req['name'], req['N'], req['layout'], req['reps']
    size, overrides = req.get('size', 224), req.get('overrides', {})
    _models.clear()
    torch.manual_seed(1)
    m = torch_models.build(name, **overrides).train()
    if layout == 'channels_last':
        m = m.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in torch_models.MEAN_STD[name])
    x = torch.rand(batch, 3, size, size)
    if layout == 'channels_last':
        x = x.contiguous(memory_format=torch.channels_last)
    classes = torch_models.config(name, **overrides)['numClasses']
    y = torch.arange(batch) * 7 % classes

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(m((x - mean) / std), y, label_smoothing=0.1).backward()
        opt.step()

    return dict(step_ms=median_time(step, reps, warm_calls=2))


def blas_library():
    """Which BLAS this torch build ended up with (Debian's torch uses the system libblas, which is
    the slow reference BLAS unless OpenBLAS is installed): matters for matmul and attention."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    try:
        maps = open('/proc/self/maps').read()
    except OSError:
        return 'unknown'
    for name in ('mkl', 'openblas', 'blis', 'atlas'):
        if name in maps:
            return name
    return 'reference' if 'libblas' in maps else 'unknown'


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print(json.dumps(dict(ready=True, torch=torch.__version__, threads=torch.get_num_threads(), blas=blas_library())), flush=True)
    ops = dict(dwconv=dwconv, attention=attention, matmul=matmul, conv=conv, model=model, pgd=pgd, train=train)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            res = ops[req['op']](req)
        except Exception as e:  # report, keep serving
            res = dict(error=str(e))
        print(json.dumps(res), flush=True)


if __name__ == '__main__':
    main()
