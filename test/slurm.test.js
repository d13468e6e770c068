// The README's Slurm recipe, run for real on a one-node Slurm cluster started on localhost: an
// `sbatch --array` job evaluates 3 shards of a small ImageNet-C folder and of a PGD attack, a job
// that depends on it (`--dependency=afterok`) runs `lkvit merge`, and the merged reports must be
// byte-identical to the unsharded runs. Needs root and Debian's slurm-wlm + munge (.ci/run installs
// them); elsewhere the test is skipped with a note, except under CI, where it fails.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const { execFileSync } = require('child_process');
const lk = require('..');
const { IMAGENET_WNIDS } = require('../lib/suites/classes');

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const cluster = path.join(__dirname, 'slurm', 'cluster.sh');
const have = (tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const missing = ['sbatch', 'slurmctld', 'slurmd', 'munged'].filter(
  (tool) => !have(tool) && !fs.existsSync(`/usr/sbin/${tool}`),
);
const isRoot = process.getuid && process.getuid() === 0;
const read = (file) => fs.readFileSync(file, 'utf8');
const withoutSeconds = (text) => JSON.stringify(JSON.parse(text), (k, v) => (k === 'seconds' ? undefined : v));

async function png(file, shade) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({
    create: { width: 20, height: 20, channels: 3, background: { r: (shade * 37) % 256, g: (shade * 91) % 256, b: 60 } },
  })
    .png()
    .toFile(file);
}

if (missing.length || !isRoot) {
  const why = missing.length ? `${missing.join(', ')} not found (apt-get install slurm-wlm munge)` : 'not root';
  if (process.env.CI)
    test('slurm: the one-node cluster can run here (CI installs slurm-wlm and munge)', (t) => t.fail(why));
  else
    test('slurm: skipped', (t) => {
      t.log(`Slurm test skipped: ${why}`);
      t.pass();
    });
} else {
  test.serial(
    'slurm: an sbatch array of eval and attack shards, merged by a dependent job, equals the unsharded runs',
    async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-slurm-'));
      const state = path.join(dir, 'cluster');
      execFileSync('bash', [cluster, 'start', state], { stdio: 'pipe' });
      t.teardown(() => execFileSync('bash', [cluster, 'stop', state], { stdio: 'pipe' }));
      const env = { ...process.env, SLURM_CONF: path.join(state, 'slurm.conf') };

      // A tiny ResNet with 1000 classes, a small ImageNet-C folder and an attack input.
      lk.manualSeed(2);
      const config = JSON.stringify({ layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: 1000 });
      const weights = path.join(dir, 'w.safetensors');
      lk.saveWeights(lk.createModel('resnet50', JSON.parse(config)), weights);
      const model = ['--model', 'resnet50', '--weights', weights, '--config', `'${config}'`];
      const data = path.join(dir, 'imagenet-c');
      for (const corruption of ['fog', 'snow'])
        for (const s of [1, 2])
          for (const k of [0, 1, 2])
            await png(path.join(data, corruption, String(s), IMAGENET_WNIDS[k], `${k}.png`), k + s);
      const r = new lk.Rng(5);
      const x = Float32Array.from({ length: 8 * 3 * 16 * 16 }, () => r.uniform());
      const input = path.join(dir, 'x.safetensors');
      lk.writeSafetensors(input, {
        x: { shape: [8, 3, 16, 16], data: x },
        y: { shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i % 3) },
      });

      const lkvit = `node ${cli}`;
      const evalFlags = `--suite imagenet-c --data ${data} ${model.join(' ')} --crop 16 --batch-size 2 --quiet`;
      const attackFlags = `--input ${input} ${model.join(' ')} --attack pgd --eps 8/255 --steps 2 --seed 7 --batch-size 3 --quiet`;
      const sh = (script) =>
        execFileSync('bash', ['-c', script], { env, cwd: dir, stdio: 'pipe', timeout: 240000 }).toString();

      // Unsharded references.
      sh(`${lkvit} eval ${evalFlags} --out single-eval`);
      sh(`${lkvit} attack ${attackFlags} --out adv.safetensors --json adv.json`);

      // The recipe: an array job, then the merges as a job that depends on it.
      fs.writeFileSync(
        path.join(dir, 'shards.sbatch'),
        [
          '#!/bin/bash',
          '#SBATCH --array=1-3',
          '#SBATCH --cpus-per-task=1',
          `#SBATCH --output=${dir}/slurm-%A_%a.out`,
          'set -e',
          `${lkvit} eval ${evalFlags} --out ${dir}/eval-shards --shard \${SLURM_ARRAY_TASK_ID}/3`,
          `mkdir -p ${dir}/attack-shards`,
          `${lkvit} attack ${attackFlags} --shard \${SLURM_ARRAY_TASK_ID}/3 --out ${dir}/attack-shards/adv-\${SLURM_ARRAY_TASK_ID}.safetensors --json ${dir}/attack-shards/pgd.shard-\${SLURM_ARRAY_TASK_ID}-of-3.json`,
          '',
        ].join('\n'),
      );
      const jid = sh('sbatch --parsable shards.sbatch').trim().split(';')[0];
      t.regex(jid, /^\d+$/);
      const merge = `${lkvit} merge ${dir}/eval-shards --out ${dir}/merged-eval --quiet && ${lkvit} merge ${dir}/attack-shards --out ${dir}/merged.safetensors --json ${dir}/merged.json --quiet`;
      sh(
        `sbatch --wait --kill-on-invalid-dep=yes --dependency=afterok:${jid} --output=${dir}/merge.out --wrap "${merge}"`,
      );

      const logs = fs.readdirSync(dir).filter((f) => /^slurm-\d+_\d\.out$/.test(f));
      t.is(logs.length, 3, 'three array tasks ran');
      for (const file of ['report.json', 'report.csv'])
        t.is(read(path.join(dir, 'merged-eval', file)), read(path.join(dir, 'single-eval', file)), file);
      t.is(withoutSeconds(read(path.join(dir, 'merged.json'))), withoutSeconds(read(path.join(dir, 'adv.json'))));
      const a = lk.readSafetensors(path.join(dir, 'adv.safetensors')),
        b = lk.readSafetensors(path.join(dir, 'merged.safetensors'));
      for (const key of ['x_adv', 'adv_pred']) t.deepEqual(b.tensors.get(key).data, a.tensors.get(key).data, key);
    },
  );
}
