#!/usr/bin/env python3
"""PyTorch definitions of every model family lkvit implements, with the published state-dict key
names and shapes, so the same checkpoint loads into both (parity fixtures, benchmark peers).

Written from the original sources (plain torch.nn; timm and torchvision are not needed):
  RepLKNet  - DingXiaoH/RepLKNet-pytorch, replknet.py
  ViT       - timm VisionTransformer (augreg weights: class token, global_pool='token'); DeiT
              (timm deit_small_patch16_224, non-distilled) is the same class with ImageNet mean/std
  XCiT      - timm xcit.py (0.9.x semantics: ConvPatchEmbed, PositionalEncodingFourier, XCA, LPI,
              ClassAttentionBlock with tokens_norm=True, LayerNorm eps 1e-6)
  ConvNeXt  - timm convnext.py (conv_mlp=False, layer-scale `gamma`, pool -> norm -> fc head)
  ResNet    - torchvision resnet.py (Bottleneck v1.5: stride on the 3x3 conv)
  BiT       - timm resnetv2.py (PreActBottleneck, StdConv2d eps 1e-8, GroupNorm + ReLU, 'fixed' stem)
The models take normalised input, as the originals do; MEAN_STD[name] is each one's normalisation.

Configurations use lkvit's option names (camelCase), so one JSON config drives both sides:
    model = build('replknet31b', channels=[8, 16, 24, 32], layers=[1, 1, 2, 1], numClasses=10)
Only modules with parameters or buffers matter for the keys; drop-path (rate 0 in evaluation)
and dropout are left out.
"""
import copy
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


# ----------------------------------------------------------------------------------------------
# RepLKNet (official replknet.py)

def conv_bn(cin, cout, kernel_size, stride=1, padding=None, groups=1):
    """Sequential(conv without bias `.conv`, BatchNorm `.bn`); padding defaults to kernel_size // 2."""
    if padding is None:
        padding = kernel_size // 2
    seq = nn.Sequential()
    seq.add_module('conv', nn.Conv2d(cin, cout, kernel_size, stride, padding, groups=groups, bias=False))
    seq.add_module('bn', nn.BatchNorm2d(cout))
    return seq


def conv_bn_relu(cin, cout, kernel_size, stride=1, padding=None, groups=1):
    seq = conv_bn(cin, cout, kernel_size, stride, padding, groups)
    seq.add_module('nonlinear', nn.ReLU())
    return seq


def fuse_bn(conv, bn):
    """Kernel and bias of the conv followed by the BatchNorm in evaluation mode (official fuse_bn)."""
    std = (bn.running_var + bn.eps).sqrt()
    # The official operation order, so merged weights match its float32 results bit for bit.
    return conv.weight * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


class ReparamLargeKernelConv(nn.Module):
    """Depthwise large-kernel conv_bn (`lkb_origin`) plus a parallel small-kernel conv_bn
    (`small_conv`) that merge_kernel() folds into one biased conv (`lkb_reparam`)."""

    def __init__(self, channels, kernel_size, small_kernel):
        super().__init__()
        self.kernel_size = kernel_size
        self.small_kernel = small_kernel
        self.lkb_origin = conv_bn(channels, channels, kernel_size, 1, kernel_size // 2, groups=channels)
        if small_kernel is not None:
            if small_kernel > kernel_size:  # the official code asserts the same
                raise ValueError(f'small kernel {small_kernel} is larger than the large kernel {kernel_size}')
            self.small_conv = conv_bn(channels, channels, small_kernel, 1, small_kernel // 2, groups=channels)

    def forward(self, x):
        if hasattr(self, 'lkb_reparam'):
            return self.lkb_reparam(x)
        out = self.lkb_origin(x)
        if hasattr(self, 'small_conv'):
            out = out + self.small_conv(x)
        return out

    def equivalent_kernel_bias(self):
        kernel, bias = fuse_bn(self.lkb_origin.conv, self.lkb_origin.bn)
        if hasattr(self, 'small_conv'):
            small_k, small_b = fuse_bn(self.small_conv.conv, self.small_conv.bn)
            pad = (self.kernel_size - self.small_kernel) // 2  # the small kernel sits in the centre
            kernel = kernel + F.pad(small_k, [pad] * 4)
            bias = bias + small_b
        return kernel, bias

    @torch.no_grad()
    def merge_kernel(self):
        kernel, bias = self.equivalent_kernel_bias()
        origin = self.lkb_origin.conv
        self.lkb_reparam = nn.Conv2d(origin.in_channels, origin.out_channels, origin.kernel_size, origin.stride,
                                     origin.padding, origin.dilation, origin.groups, bias=True)
        self.lkb_reparam.weight.data = kernel
        self.lkb_reparam.bias.data = bias
        del self.lkb_origin
        if hasattr(self, 'small_conv'):
            del self.small_conv


class RepLKBlock(nn.Module):
    def __init__(self, channels, dw_channels, kernel_size, small_kernel):
        super().__init__()
        # Registration order as in the official code, so state_dict() lists keys the same way.
        self.pw1 = conv_bn_relu(channels, dw_channels, 1, 1, 0)
        self.pw2 = conv_bn(dw_channels, channels, 1, 1, 0)
        self.large_kernel = ReparamLargeKernelConv(dw_channels, kernel_size, small_kernel)
        self.lk_nonlinear = nn.ReLU()
        self.prelkb_bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.pw1(self.prelkb_bn(x))
        out = self.lk_nonlinear(self.large_kernel(out))
        return x + self.pw2(out)


class ConvFFN(nn.Module):
    def __init__(self, channels, hidden_channels):
        super().__init__()
        self.preffn_bn = nn.BatchNorm2d(channels)
        self.pw1 = conv_bn(channels, hidden_channels, 1, 1, 0)
        self.pw2 = conv_bn(hidden_channels, channels, 1, 1, 0)
        self.nonlinear = nn.GELU()

    def forward(self, x):
        return x + self.pw2(self.nonlinear(self.pw1(self.preffn_bn(x))))


class RepLKNetStage(nn.Module):
    """`blocks` alternates RepLKBlock and ConvFFN. The official stage's `norm` is Identity unless
    norm_intermediate_features (downstream tasks only), so it has no keys here."""

    def __init__(self, channels, num_blocks, kernel_size, small_kernel, dw_ratio, ffn_ratio):
        super().__init__()
        blocks = []
        for _ in range(num_blocks):
            blocks.append(RepLKBlock(channels, int(channels * dw_ratio), kernel_size, small_kernel))
            blocks.append(ConvFFN(channels, int(channels * ffn_ratio)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class RepLKNet(nn.Module):
    def __init__(self, kernel_sizes, layers, channels, small_kernel, dw_ratio=1, ffn_ratio=4, num_classes=1000, stem_stride=4):
        super().__init__()
        c0 = channels[0]
        # stem_stride 4 is the official stem; 2 or 1 (lkvit's stemStride, for small images) turn its
        # stride-2 convolutions into stride 1 from the last one back.
        self.stem = nn.ModuleList([
            conv_bn_relu(3, c0, 3, 2 if stem_stride >= 2 else 1, 1),
            conv_bn_relu(c0, c0, 3, 1, 1, groups=c0),
            conv_bn_relu(c0, c0, 1, 1, 0),
            conv_bn_relu(c0, c0, 3, 2 if stem_stride == 4 else 1, 1, groups=c0)])
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, (depth, width, k) in enumerate(zip(layers, channels, kernel_sizes)):
            self.stages.append(RepLKNetStage(width, depth, k, small_kernel, dw_ratio, ffn_ratio))
            if i + 1 < len(layers):
                nxt = channels[i + 1]
                self.transitions.append(nn.Sequential(
                    conv_bn_relu(width, nxt, 1, 1, 0),
                    conv_bn_relu(nxt, nxt, 3, 2, 1, groups=nxt)))
        self.norm = nn.BatchNorm2d(channels[-1])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        for layer in self.stem:
            x = layer(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        x = self.avgpool(self.norm(x))
        return self.head(torch.flatten(x, 1))

    def structural_reparam(self):
        """Fold every small kernel and BatchNorm of the large-kernel convs into `lkb_reparam`."""
        for m in self.modules():
            if isinstance(m, ReparamLargeKernelConv):
                m.merge_kernel()


# ----------------------------------------------------------------------------------------------
# ViT (timm VisionTransformer: class token, pre-norm blocks, LayerNorm eps 1e-6, exact GELU)

class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2 (timm's Mlp; ConvNeXt uses it too, channels-last)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, tokens, dim), tokens in row-major order


class VisionTransformer(nn.Module):
    def __init__(self, embed_dim, depth, num_heads, mlp_ratio=4, image_size=224, patch_size=16, num_classes=1000):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f'image size {image_size} is not a multiple of the patch size {patch_size}')
        if embed_dim % num_heads:
            raise ValueError(f'embed dim {embed_dim} is not a multiple of the number of heads {num_heads}')
        tokens = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, embed_dim))  # class token's position first
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.blocks = nn.Sequential(*[TransformerBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])  # global_pool='token'


# ----------------------------------------------------------------------------------------------
# ConvNeXt (timm convnext.py, conv_mlp=False)

class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (timm LayerNorm2d, eps 1e-6)."""

    def __init__(self, channels):
        super().__init__(channels, eps=1e-6)

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim, kernel_size):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # applied channels-last
        self.mlp = Mlp(dim, 4 * dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))  # layer scale

    def forward(self, x):
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.mlp(self.norm(y)).permute(0, 3, 1, 2)
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtStage(nn.Module):
    """The first stage's downsample is Identity (no keys); the others are LayerNorm2d + 2x2/2 conv."""

    def __init__(self, cin, cout, depth, kernel_size, downsample):
        super().__init__()
        if not downsample:
            self.downsample = nn.Identity()
        else:
            self.downsample = nn.Sequential(LayerNorm2d(cin), nn.Conv2d(cin, cout, 2, 2))
        self.blocks = nn.Sequential(*[ConvNeXtBlock(cout, kernel_size) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class NormPoolHead(nn.Module):
    """timm NormMlpClassifierHead without hidden layer: average pool, LayerNorm over channels, fc."""

    def __init__(self, dim, num_classes):
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.norm(x.mean((2, 3), keepdim=True))
        return self.fc(torch.flatten(x, 1))


class ConvNeXt(nn.Module):
    def __init__(self, depths, dims, kernel_size=7, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0]))
        ins = [dims[0]] + list(dims[:-1])
        self.stages = nn.Sequential(*[ConvNeXtStage(cin, cout, depth, kernel_size, downsample=i > 0)
                                      for i, (cin, cout, depth) in enumerate(zip(ins, dims, depths))])
        self.head = NormPoolHead(dims[-1], num_classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


# ----------------------------------------------------------------------------------------------
# ResNet (torchvision resnet.py, Bottleneck)

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """`widths` are the bottleneck widths (torchvision's planes); stage outputs are 4x that."""

    def __init__(self, layers=(3, 4, 6, 3), widths=(64, 128, 256, 512), stem_width=64, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem_width
        for i, (depth, planes) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(depth):
                blocks.append(Bottleneck(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * Bottleneck.expansion
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----------------------------------------------------------------------------------------------
# BiT (timm resnetv2.py: ResNetV2 with PreActBottleneck, stem_type='fixed')

def make_divisible(v, divisor=8):
    """timm's channel rounding: nearest multiple of 8, never more than 10% below v."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


class StdConv2d(nn.Conv2d):
    """Conv with weight standardisation: each output channel's kernel is shifted to mean 0 and
    divided by sqrt(biased variance + eps) before use (BiT: eps 1e-8). No bias."""

    def __init__(self, cin, cout, kernel_size, stride=1, eps=1e-8):
        # timm's get_padding for dilation 1: ((stride - 1) + (kernel_size - 1)) // 2
        super().__init__(cin, cout, kernel_size, stride, ((stride - 1) + (kernel_size - 1)) // 2, bias=False)
        self.eps = eps

    def forward(self, x):
        w = self.weight
        flat = w.reshape(w.shape[0], -1)
        mean = flat.mean(1).reshape(-1, 1, 1, 1)
        var = flat.var(1, unbiased=False).reshape(-1, 1, 1, 1)
        return F.conv2d(x, (w - mean) / torch.sqrt(var + self.eps), None, self.stride, self.padding)


class GroupNormAct(nn.GroupNorm):
    """GroupNorm (eps 1e-5) followed by ReLU, as timm's GroupNormAct (channels first in the args)."""

    def __init__(self, channels, num_groups):
        super().__init__(num_groups, channels, eps=1e-5)

    def forward(self, x):
        return F.relu(super().forward(x))


class DownsampleConv(nn.Module):
    """Projection shortcut of a pre-activation block: a strided 1x1 StdConv, no norm (preact)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = StdConv2d(cin, cout, 1, stride)

    def forward(self, x):
        return self.conv(x)


class PreActBottleneck(nn.Module):
    def __init__(self, cin, cout, stride, num_groups, project):
        super().__init__()
        mid = make_divisible(cout * 0.25)
        # timm gives the first block of every stage a projection, even when shapes already match.
        self.downsample = DownsampleConv(cin, cout, stride) if project else None
        self.norm1 = GroupNormAct(cin, num_groups)
        self.conv1 = StdConv2d(cin, mid, 1)
        self.norm2 = GroupNormAct(mid, num_groups)
        self.conv2 = StdConv2d(mid, mid, 3, stride)
        self.norm3 = GroupNormAct(mid, num_groups)
        self.conv3 = StdConv2d(mid, cout, 1)

    def forward(self, x):
        x_preact = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(x_preact)
        x = self.conv1(x_preact)
        x = self.conv2(self.norm2(x))
        x = self.conv3(self.norm3(x))
        return x + shortcut


class ResNetV2Stage(nn.Module):
    def __init__(self, cin, cout, depth, stride, num_groups):
        super().__init__()
        self.blocks = nn.Sequential(*[
            PreActBottleneck(cin if i == 0 else cout, cout, stride if i == 0 else 1, num_groups, project=i == 0)
            for i in range(depth)])

    def forward(self, x):
        return self.blocks(x)


class ConvHead(nn.Module):
    """timm ClassifierHead(use_conv=True): average pool, 1x1 conv with bias as the classifier."""

    def __init__(self, channels, num_classes):
        super().__init__()
        self.fc = nn.Conv2d(channels, num_classes, 1, bias=True)

    def forward(self, x):
        return torch.flatten(self.fc(x.mean((2, 3), keepdim=True)), 1)


class ResNetV2(nn.Module):
    """stem_width and out_channels are multiplied by width_factor (and rounded to multiples of 8),
    as timm's stem_chs and channels are."""

    def __init__(self, layers, width_factor=1, num_groups=32, stem_width=64, out_channels=(256, 512, 1024, 2048),
                 num_classes=1000):
        super().__init__()
        stem_chs = make_divisible(stem_width * width_factor)
        self.stem = nn.Sequential()
        self.stem.add_module('conv', StdConv2d(3, stem_chs, 7, 2))
        self.stem.add_module('pad', nn.ConstantPad2d(1, 0.))  # BiT's 'fixed' SAME-padding approximation
        self.stem.add_module('pool', nn.MaxPool2d(3, 2, 0))
        self.stages = nn.Sequential()
        cin = stem_chs
        for i, (depth, c) in enumerate(zip(layers, out_channels)):
            cout = make_divisible(c * width_factor)
            self.stages.add_module(str(i), ResNetV2Stage(cin, cout, depth, 1 if i == 0 else 2, num_groups))
            cin = cout
        self.norm = GroupNormAct(cin, num_groups)
        self.head = ConvHead(cin, num_classes)

    def forward(self, x):
        return self.head(self.norm(self.stages(self.stem(x))))


# ----------------------------------------------------------------------------------------------
# XCiT (timm 0.9.x xcit.py, as Xcit(..., tokens_norm=True) builds every xcit_* model; the timm code
# follows facebookresearch/xcit, so its quirks are kept: the class-attention block adds gamma1 *
# norm1(patch tokens) to the patch tokens and then doubles them; only the class token is read.)

def conv3x3_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class ConvPatchEmbed(nn.Module):
    """patch 16: four conv3x3-BN stride 2 (dims D/8, D/4, D/2, D) with GELU between; patch 8: three."""

    def __init__(self, patch_size, dim):
        super().__init__()
        widths = {16: [dim // 8, dim // 4, dim // 2, dim], 8: [dim // 4, dim // 2, dim]}[patch_size]
        layers, cin = [], 3
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.GELU())
            layers.append(conv3x3_bn(cin, w, 2))
            cin = w
        self.proj = nn.Sequential(*layers)

    def forward(self, x):
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class PositionalEncodingFourier(nn.Module):
    def __init__(self, dim, hidden_dim=32, temperature=10000):
        super().__init__()
        self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
        self.scale = 2 * math.pi
        self.temperature = temperature
        self.hidden_dim = hidden_dim
        self.eps = 1e-6

    def forward(self, B, H, W):
        y_embed = torch.arange(1, H + 1).to(torch.float32).unsqueeze(1).repeat(1, 1, W)
        x_embed = torch.arange(1, W + 1).to(torch.float32).repeat(1, H, 1)
        y_embed = y_embed / (y_embed[:, -1:, :] + self.eps) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + self.eps) * self.scale
        dim_t = torch.arange(self.hidden_dim).to(torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / self.hidden_dim)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack([pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()], dim=4).flatten(3)
        pos_y = torch.stack([pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()], dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        pos = self.token_projection(pos.to(self.token_projection.weight.dtype))
        return pos.repeat(B, 1, 1, 1)  # (B, C, H, W)


class XCA(nn.Module):
    """Cross-covariance attention: q, k L2-normalised along the tokens, attention over channels."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 4, 1)
        q, k, v = qkv.unbind(0)  # (B, heads, C', N)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        return self.proj((attn @ v).permute(0, 3, 1, 2).reshape(B, N, C))


class LPI(nn.Module):
    """Local patch interaction: depthwise 3x3 -> GELU -> BatchNorm -> depthwise 3x3 on the token grid."""

    def __init__(self, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.act = nn.GELU()
        self.bn = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x, H, W):
        B, N, C = x.shape
        x = x.permute(0, 2, 1).reshape(B, C, H, W)
        x = self.conv2(self.bn(self.act(self.conv1(x))))
        return x.reshape(B, C, N).permute(0, 2, 1)


class XCABlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, eta=1.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = XCA(dim, num_heads)
        self.gamma1 = nn.Parameter(eta * torch.ones(dim))
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)
        self.local_mp = LPI(dim)
        self.gamma3 = nn.Parameter(eta * torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.gamma2 = nn.Parameter(eta * torch.ones(dim))

    def forward(self, x, H, W):
        x = x + self.gamma1 * self.attn(self.norm1(x))
        x = x + self.gamma3 * self.local_mp(self.norm3(x), H, W)  # 3 before 2, as the official code
        return x + self.gamma2 * self.mlp(self.norm2(x))


class ClassAttn(nn.Module):
    """CaiT's class attention: only the class token queries (separate q, k, v, with bias in XCiT)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        h = self.num_heads
        q = self.q(x[:, 0]).unsqueeze(1).reshape(B, 1, h, C // h).permute(0, 2, 1, 3) * self.scale
        k = self.k(x).reshape(B, N, h, C // h).permute(0, 2, 1, 3)
        v = self.v(x).reshape(B, N, h, C // h).permute(0, 2, 1, 3)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, 1, C))


class ClassAttentionBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, eta=1.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ClassAttn(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.gamma1 = nn.Parameter(eta * torch.ones(dim))
        self.gamma2 = nn.Parameter(eta * torch.ones(dim))

    def forward(self, x):
        x_norm1 = self.norm1(x)
        x = x + self.gamma1 * torch.cat([self.attn(x_norm1), x_norm1[:, 1:]], dim=1)
        x = self.norm2(x)  # tokens_norm=True
        cls_token = self.gamma2 * self.mlp(x[:, 0:1])
        return x + torch.cat([cls_token, x[:, 1:]], dim=1)


class XCiT(nn.Module):
    def __init__(self, embed_dim, depth, num_heads, mlp_ratio=4, patch_size=16, cls_attn_layers=2, num_classes=1000):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f'embed dim {embed_dim} is not a multiple of the number of heads {num_heads}')
        self.patch_embed = ConvPatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = PositionalEncodingFourier(embed_dim)
        self.blocks = nn.ModuleList([XCABlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.cls_attn_blocks = nn.ModuleList([ClassAttentionBlock(embed_dim, num_heads, mlp_ratio)
                                              for _ in range(cls_attn_layers)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        B = x.shape[0]
        x, (Hp, Wp) = self.patch_embed(x)
        x = x + self.pos_embed(B, Hp, Wp).reshape(B, -1, x.shape[1]).permute(0, 2, 1)
        for blk in self.blocks:
            x = blk(x, Hp, Wp)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        for blk in self.cls_attn_blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])  # global_pool='token'


# ----------------------------------------------------------------------------------------------
# Named configurations

REPLKNET_31 = dict(kernelSizes=[31, 29, 27, 13], layers=[2, 2, 18, 2], smallKernel=5, dwRatio=1, ffnRatio=4,
                   numClasses=1000, stemStride=4)
VIT = dict(mlpRatio=4, imageSize=224, patchSize=16, numClasses=1000)
CONVNEXT_DEEP = dict(depths=[3, 3, 27, 3], kernelSize=7, numClasses=1000)

# name -> (class, default config in lkvit's option names, (mean, std))
CONFIGS = {
    'replknet31b': (RepLKNet, dict(REPLKNET_31, channels=[128, 256, 512, 1024]), IMAGENET_MEAN_STD),
    'replknet31l': (RepLKNet, dict(REPLKNET_31, channels=[192, 384, 768, 1536]), IMAGENET_MEAN_STD),
    # RepLKNet-XL was pretrained on MegData73M and fine-tuned with mean = std = 0.5 (official README).
    'replknetxl': (RepLKNet, dict(REPLKNET_31, kernelSizes=[27, 27, 27, 13], channels=[256, 512, 1024, 2048],
                                  smallKernel=None, dwRatio=1.5), INCEPTION_MEAN_STD),
    'vit_ti16': (VisionTransformer, dict(VIT, embedDim=192, depth=12, numHeads=3), INCEPTION_MEAN_STD),
    'vit_s16': (VisionTransformer, dict(VIT, embedDim=384, depth=12, numHeads=6), INCEPTION_MEAN_STD),
    'vit_b16': (VisionTransformer, dict(VIT, embedDim=768, depth=12, numHeads=12), INCEPTION_MEAN_STD),
    'vit_l16': (VisionTransformer, dict(VIT, embedDim=1024, depth=24, numHeads=16), INCEPTION_MEAN_STD),
    # timm deit_small_patch16_224.fb_in1k: a VisionTransformer with ImageNet mean/std.
    'deit_s16': (VisionTransformer, dict(VIT, embedDim=384, depth=12, numHeads=6), IMAGENET_MEAN_STD),
    # timm xcit_small_12_p16_224.fb_in1k (and the robust XCiT-S12 checkpoints, same keys).
    'xcit_s12': (XCiT, dict(embedDim=384, depth=12, numHeads=8, mlpRatio=4, patchSize=16, clsAttnLayers=2,
                            numClasses=1000), IMAGENET_MEAN_STD),
    'convnext_tiny': (ConvNeXt, dict(CONVNEXT_DEEP, depths=[3, 3, 9, 3], dims=[96, 192, 384, 768]),
                      IMAGENET_MEAN_STD),
    'convnext_small': (ConvNeXt, dict(CONVNEXT_DEEP, dims=[96, 192, 384, 768]), IMAGENET_MEAN_STD),
    'convnext_base': (ConvNeXt, dict(CONVNEXT_DEEP, dims=[128, 256, 512, 1024]), IMAGENET_MEAN_STD),
    'convnext_large': (ConvNeXt, dict(CONVNEXT_DEEP, dims=[192, 384, 768, 1536]), IMAGENET_MEAN_STD),
    'resnet50': (ResNet, dict(layers=[3, 4, 6, 3], widths=[64, 128, 256, 512], stemWidth=64, numClasses=1000),
                 IMAGENET_MEAN_STD),
    # timm resnetv2_101x3_bitm (now resnetv2_101x3_bit.goog_in21k_ft_in1k): inception mean/std 0.5.
    'bit_m_r101x3': (ResNetV2, dict(layers=[3, 4, 23, 3], widthFactor=3, numGroups=32, stemWidth=64,
                                  outChannels=[256, 512, 1024, 2048], numClasses=1000), INCEPTION_MEAN_STD),
}

MEAN_STD = {name: mean_std for name, (_, _, mean_std) in CONFIGS.items()}


def snake_case(name):
    return re.sub(r'([A-Z])', r'_\1', name).lower()


def config(name, **overrides):
    """The named model's full configuration (lkvit option names) with `overrides` applied."""
    if name not in CONFIGS:
        raise KeyError(f'unknown model {name!r}; expected one of {", ".join(CONFIGS)}')
    defaults = CONFIGS[name][1]
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise TypeError(f'{name}: unknown option(s) {", ".join(unknown)}; expected {", ".join(defaults)}')
    return copy.deepcopy({**defaults, **overrides})


def build(name, **overrides):
    """A randomly initialised model `name` (a key of CONFIGS), options overridden by lkvit name."""
    cfg = config(name, **overrides)
    return CONFIGS[name][0](**{snake_case(k): v for k, v in cfg.items()})
