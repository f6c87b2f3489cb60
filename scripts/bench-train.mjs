// Training benchmark, wasm (Node) beside native in one run: tokens per
// second for the default behavior model on the REES46 sample, for a fixed
// number of epochs. It then times one native epoch on 1x, 4x and 16x the
// sample, made of copies with new user and session ids, to show how the
// cost grows with events. Build first with scripts/build.sh (www/pkg and
// the release CLI).
//
//   node scripts/bench-train.mjs [EPOCHS] [FILE]

import { spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeScaledSample } from './scaled-sample.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const epochs = Number(process.argv[2] ?? 2);
const file = process.argv[3] ?? path.join(root, 'www/samples/rees46-2019-oct-head.csv');
if (!Number.isInteger(epochs) || epochs <= 0) {
  console.error(`invalid EPOCHS ${process.argv[2]}; expected a positive whole number`);
  process.exit(2);
}

const { initSync, Upload } = await import(path.join(root, 'www/pkg/behavior_lens.js'));
initSync({ module: readFileSync(path.join(root, 'www/pkg/behavior_lens_bg.wasm')) });

/** Trains in wasm with the page's calls and returns the final progress. */
function trainWasm(bytes) {
  const upload = new Upload(bytes.length);
  upload.push(bytes);
  const session = upload.start(path.basename(file), { epochs, skipModel: false }, null);
  const started = performance.now();
  session.start_training();
  let progress = null;
  do {
    progress = JSON.parse(session.train_step());
  } while (!progress.done);
  const seconds = (performance.now() - started) / 1000;
  session.free();
  upload.free();
  return { ...progress, seconds };
}

/**
 * Trains with the native CLI for `runEpochs` epochs and returns its tokens
 * per second and wall time.
 */
function trainNative(logPath = file, runEpochs = epochs) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-train-'));
  try {
    const started = performance.now();
    const run = spawnSync(
      path.join(root, 'target/release/behavior-lens'),
      ['train', logPath, '--out', path.join(dir, 'model.gguf'), '--epochs', String(runEpochs), '--patience', String(runEpochs)],
      { encoding: 'utf8' },
    );
    const seconds = (performance.now() - started) / 1000;
    if (run.status !== 0) throw new Error(`native training failed: ${run.stderr}`);
    const match = /([0-9.]+) tokens\/s, /.exec(run.stderr);
    if (!match) throw new Error(`no tokens/s in the native output: ${run.stderr}`);
    return { seconds, tokensPerSecond: Number(match[1]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `copies` copies of the sample into `dir` and returns the path. */
function scaledSample(copies, dir) {
  return writeScaledSample(file, copies, dir);
}

const bytes = readFileSync(file);
const wasm = trainWasm(bytes);
const native = trainNative();
console.log(`file: ${path.relative(root, file)}, ${epochs} epochs, ${wasm.steps} steps`);
console.log(`wasm   ${wasm.tokens_per_second.toFixed(0)} tokens/s, ${wasm.seconds.toFixed(1)} s`);
console.log(`native ${native.tokensPerSecond.toFixed(0)} tokens/s, ${native.seconds.toFixed(1)} s (parse and save included)`);
console.log(`wasm / native: ${(wasm.tokens_per_second / native.tokensPerSecond).toFixed(2)}`);

const scaleDir = mkdtempSync(path.join(os.tmpdir(), 'bench-train-scale-'));
try {
  console.log('one native epoch at 1x, 4x and 16x the sample (new user and session ids per copy):');
  let base = null;
  for (const copies of [1, 4, 16]) {
    const run = trainNative(scaledSample(copies, scaleDir), 1);
    base ??= run.seconds;
    console.log(`  ${String(copies).padStart(2)}x: ${run.seconds.toFixed(1)} s wall, ${run.tokensPerSecond.toFixed(0)} tokens/s, ` +
      `${(run.seconds / base).toFixed(2)} times the 1x time`);
  }
} finally {
  rmSync(scaleDir, { recursive: true, force: true });
}
