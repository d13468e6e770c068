// Before the shards of an analysis are added up: each payload's counts are integers no larger than
// what its slice allows (a correct count <= the slice's samples), and everything that is not a count
// (ratios, bands, frequencies, block sets, seeds) is the same in every shard, so that the merge adds
// like to like. An edited shard is refused here, naming the shard and the field.
import type { ShardReport } from '../../shard/report';
import { PayloadChecker } from '../../shard/payload';

type Payload = Record<string, unknown>;
type Rows = Record<string, unknown>[];

/** The counts of one payload (each with its largest allowed value) and its skeleton (the rest). */
interface Parts {
  counts: [field: string, value: unknown, max: number][];
  skeleton: unknown;
}

function rows(c: PayloadChecker, field: string, v: unknown): Rows {
  if (!Array.isArray(v) || v.length === 0 || !v.every((e) => e !== null && typeof e === 'object'))
    throw c.fail(field, 'a non-empty array of objects');
  return v as Rows;
}

const PARTS: Record<string, (p: Payload, n: number, c: PayloadChecker) => Parts> = {
  occlusion(p, n, c) {
    const grid = c.ints('payload.grid', p.grid, 2, 1, 2 ** 20);
    const points = rows(c, 'payload.points', p.points);
    return {
      counts: [
        ['cleanCorrect', p.cleanCorrect, n],
        ...points.flatMap((q, k): Parts['counts'] => [
          [`points[${k}].correct`, q.correct, n],
          [`points[${k}].droppedPatches`, q.droppedPatches, n * grid[0] * grid[1]],
        ]),
      ],
      skeleton: {
        mode: p.mode,
        saliency: p.saliency,
        patchSize: p.patchSize,
        grid,
        seed: p.seed,
        ratios: points.map((q, k) => c.number(`payload.points[${k}].ratio`, q.ratio, 0, 1)),
      },
    };
  },
  frequency(p, n, c) {
    const bands = rows(c, 'payload.bands', p.bands);
    return {
      counts: [
        ['cleanCorrect', p.cleanCorrect, n],
        ...bands.map((b, k): Parts['counts'][number] => [`bands[${k}].correct`, b.correct, n]),
      ],
      skeleton: {
        seed: p.seed,
        noise: p.noise,
        bands: bands.map((b, k) => [
          c.number(`payload.bands[${k}].lo`, b.lo, 0, 1),
          c.number(`payload.bands[${k}].hi`, b.hi, 0, 1),
        ]),
      },
    };
  },
  'fourier-heatmap'(p, n, c) {
    // frequencies = (i - s) * stride for i = 0..2s; the evaluated half has s (2s + 1) + s + 1 of them.
    const f = p.frequencies;
    if (!Array.isArray(f) || f.length % 2 !== 1 || f.length > 2 * 4096 + 1)
      throw c.fail('payload.frequencies', 'an odd-length array of at most 8193 integers');
    const s = (f.length - 1) / 2,
      stride = s > 0 ? f[s + 1] : 1;
    if (!f.every((v, i) => v === (i - s) * stride) || !(Number.isInteger(stride) && stride >= 1))
      throw c.fail('payload.frequencies', 'the integers -R..R in steps of the stride');
    const correct = c.array('payload.correct', p.correct, 1 + s * (2 * s + 1) + s + 1);
    return {
      counts: correct.map((v, k): Parts['counts'][number] => [`correct[${k}]`, v, n]),
      skeleton: { seed: p.seed, eps: c.number('payload.eps', p.eps, 0, 1e6), frequencies: f },
    };
  },
  lesion(p, n, c) {
    const points = rows(c, 'payload.points', p.points);
    const trials = points.map((q, i) => rows(c, `payload.points[${i}].trials`, q.trials));
    return {
      counts: [
        ['cleanCorrect', p.cleanCorrect, n],
        ...trials.flatMap((t, i) =>
          t.map((e, k): Parts['counts'][number] => [`points[${i}].trials[${k}].correct`, e.correct, n]),
        ),
      ],
      skeleton: {
        seed: p.seed,
        totalBlocks: c.int('payload.totalBlocks', p.totalBlocks, 1, 2 ** 20),
        points: points.map((q, i) => ({
          blocks: q.blocks,
          fraction: c.number(`payload.points[${i}].fraction`, q.fraction, 0, 1),
          skip: trials[i].map((e) => e.skip),
        })),
      },
    };
  },
};

/**
 * The payloads of an analysis's shards (in shard order, from `mergeable`), checked: `samples` is the
 * slice's length, every count an integer in [0, its bound], the rest identical across shards.
 */
export function checkAnalysisShards(name: string, shards: ShardReport[]): object[] {
  const parts = PARTS[name];
  if (!parts) return shards.map((r) => r.payload as object);
  let skeleton: string | null = null;
  return shards.map((r) => {
    const c = new PayloadChecker(`shard ${r.shard.index}/${r.shard.count}`);
    const p = r.payload as Payload;
    const n = r.slice.end - r.slice.start;
    c.int('payload.samples', p.samples, n, n);
    c.int('payload.seed', p.seed, 0, 2 ** 53 - 1);
    const { counts, skeleton: rest } = parts(p, n, c);
    for (const [field, value, max] of counts) c.int(`payload.${field}`, value, 0, max);
    const text = JSON.stringify(rest);
    if (skeleton === null) skeleton = text;
    else if (text !== skeleton)
      throw c.fail(
        'payload',
        `the same settings (ratios, bands, frequencies, blocks, seed) as shard 1/${r.shard.count}`,
      );
    return p;
  });
}
