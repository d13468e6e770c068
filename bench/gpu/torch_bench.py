#!/usr/bin/env python3
"""PyTorch's side of the GPU benchmark: the cases bench/gpu/bench.js wrote (cases.json), the same
shapes and passes, timed the same way (warm-up, then runs between two synchronisations on the host
clock), appending one JSON line per (case, pass) to ROWS:

    python3 bench/gpu/torch_bench.py CASES ROWS [--budget-s S]

On CUDA when available (TF32 off for matmuls and cuDNN, cudnn.benchmark on: PyTorch's best), on
the CPU otherwise and for the emulated dry run, where the ratio is not a GPU ratio. Depthwise conv
and whole models run in both layouts (NCHW and channels_last); attention as
F.scaled_dot_product_attention and as plain softmax(q k^T * scale) v; the report takes the fastest
variant. Whole models come from bench/torch_models.py (the official RepLKNet code, timm's ViT).
"""
import json, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def main():
    argv = sys.argv[1:]
    budget = float(argv[argv.index('--budget-s') + 1]) if '--budget-s' in argv else 1e9
    cases_file, rows_file = [a for i, a in enumerate(argv) if not a.startswith('--') and (i == 0 or argv[i - 1] != '--budget-s')][:2]
    deadline = time.time() + budget
    cases = json.load(open(cases_file))
    out = open(rows_file, 'a')

    def write(row):
        out.write(json.dumps(row) + '\n')
        out.flush()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        write(dict(kind='info', device=None, error=f'torch is not importable: {e}'))
        print(f'torch_bench: torch is not importable ({e}); PyTorch columns stay empty', file=sys.stderr)
        return
    gpu = cases['mode'] == 'gpu'
    if gpu and not torch.cuda.is_available():
        # The GPU cases on a CPU would take hours and compare nothing.
        write(dict(kind='info', torch=torch.__version__, device=None, error='torch.cuda.is_available() is False'))
        print('torch_bench: PyTorch sees no CUDA device; its columns stay empty', file=sys.stderr)
        return 1
    dev = torch.device('cuda' if gpu else 'cpu')
    info = dict(kind='info', torch=torch.__version__, device='cuda' if gpu else 'cpu')
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        p = torch.cuda.get_device_properties(0)
        info.update(name=p.name, sms=p.multi_processor_count, total_memory=p.total_memory,
                    capability=f'{p.major}.{p.minor}', cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
        clock = getattr(p, 'clock_rate', None)  # kHz, where this torch reports it
        if clock:
            info['clock_mhz'] = clock / 1e3
    else:
        info.update(name='CPU', threads=torch.get_num_threads())
    write(info)
    sync = torch.cuda.synchronize if gpu else (lambda: None)

    def timed(fn, reps, budget_ms):
        def once():
            sync()
            t = time.perf_counter()
            fn()
            sync()
            return (time.perf_counter() - t) * 1e3
        warm_end = time.perf_counter() + 0.2
        first = min(once(), once())
        while time.perf_counter() < warm_end:
            first = min(first, once())
        n = max(min(5, reps), min(reps, int(budget_ms / max(first, 1e-3))))
        ts = sorted(once() for _ in range(n))
        return dict(ms=ts[len(ts) // 2], min_ms=ts[0], max_ms=ts[-1], reps=n)

    def rand(*shape, lo=-1.0, hi=1.0):
        g = torch.Generator().manual_seed(12345)
        return (lo + (hi - lo) * torch.rand(*shape, generator=g)).to(dev)

    def nograd(f, *a, **kw):
        with torch.no_grad():
            return f(*a, **kw)

    def layouts(x):
        return [('nchw', x.contiguous()), ('channels_last', x.contiguous(memory_format=torch.channels_last))]

    models = {}

    def model_for(c, layout):
        import torch_models
        key = (c['name'], json.dumps(c['config'], sort_keys=True), layout)
        if key not in models:
            models.clear()
            torch.manual_seed(1)
            m = torch_models.build(c['name'], **c['config']).eval().to(dev)
            for p in m.parameters():
                p.requires_grad_(False)
            if layout == 'channels_last':
                m = m.to(memory_format=torch.channels_last)
            mean, std = (torch.tensor(v, device=dev).view(1, 3, 1, 1) for v in torch_models.MEAN_STD[c['name']])
            classes = torch_models.config(c['name'], **c['config'])['numClasses']
            models[key] = (m, mean, std, classes)
        return models[key]

    def variants(c, p):
        """{variant: fn} for one (case, pass)."""
        res = {}
        if c['kind'] == 'dwconv':
            x0 = rand(c['N'], c['C'], c['H'], c['W'])
            w0 = rand(c['C'], 1, c['K'], c['K'], lo=-0.05, hi=0.05)
            kw = dict(padding=c['padding'], groups=c['C'])
            for name, x in layouts(x0):
                if p == 'fwd':
                    res[name] = lambda x=x: nograd(F.conv2d, x, w0, **kw)
                    continue
                xr = x.clone().requires_grad_(True)
                wr = w0.clone().requires_grad_(p == 'fwd_bwd_all')
                ones = torch.ones_like(F.conv2d(x, w0, **kw))

                def step(xr=xr, wr=wr, ones=ones):
                    xr.grad = None
                    wr.grad = None
                    F.conv2d(xr, wr, **kw).backward(ones)
                res[name] = step
        elif c['kind'] == 'attention':
            shape = (c['B'], c['H'], c['T'], c['d'])
            q, k, v = (rand(*shape).requires_grad_(p != 'fwd') for _ in range(3))
            scale = c['d'] ** -0.5
            ones = torch.ones(shape, device=dev)
            fns = dict(math=lambda: torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v)
            if hasattr(F, 'scaled_dot_product_attention'):
                fns['sdpa'] = lambda: F.scaled_dot_product_attention(q, k, v)
            for name, f in fns.items():
                if p == 'fwd':
                    res[name] = lambda f=f: nograd(f)
                else:
                    def step(f=f):
                        q.grad = k.grad = v.grad = None
                        f().backward(ones)
                    res[name] = step
        else:
            for layout in ('nchw', 'channels_last'):
                m, mean, std, classes = model_for(c, layout)
                x = rand(c['batch'], 3, c['size'], c['size'], lo=0.0, hi=1.0)
                if layout == 'channels_last':
                    x = x.contiguous(memory_format=torch.channels_last)
                if p == 'forward':
                    res[layout] = lambda m=m, x=x, mean=mean, std=std: nograd(lambda: m((x - mean) / std))
                else:
                    y = (torch.arange(c['batch'], device=dev) * 37) % classes

                    def pgd_step(m=m, x0=x, mean=mean, std=std, y=y):
                        xa = x0.clone().requires_grad_(True)
                        loss = F.cross_entropy(m((xa - mean) / std), y, reduction='sum')
                        g, = torch.autograd.grad(loss, xa)
                        with torch.no_grad():
                            xn = xa + c['alpha'] * g.sign()
                            xn = torch.min(torch.max(xn, x0 - c['eps']), x0 + c['eps']).clamp_(0, 1)
                        return xn
                    res[layout] = pgd_step
        return res

    for section in cases['sections'].values():
        for c in section:
            for p in c['passes']:
                key = f"{c['id']}/{p}"
                if time.time() > deadline:
                    write(dict(key=key, skipped='out of time'))
                    continue
                row = dict(key=key, variants={})
                try:
                    for name, fn in variants(c, p).items():
                        try:
                            row['variants'][name] = timed(fn, cases['reps'], 20000 if c['kind'] == 'model' else 1500)
                        except Exception as e:  # one variant failing (out of memory, say) leaves the others
                            row['variants'][name] = dict(error=f'{type(e).__name__}: {e}'[:500])
                            if gpu:
                                torch.cuda.empty_cache()
                except Exception as e:
                    row['error'] = f'{type(e).__name__}: {e}'[:500]
                write(row)
                best = min((v['ms'], n) for n, v in row['variants'].items() if 'ms' in v) if any('ms' in v for v in row['variants'].values()) else None
                print(f'torch {key}: ' + (f'{best[0]:.3f} ms ({best[1]})' if best else row.get('error', 'no variant ran')), file=sys.stderr)
                if gpu:
                    torch.cuda.empty_cache()


if __name__ == '__main__':
    sys.exit(main())
