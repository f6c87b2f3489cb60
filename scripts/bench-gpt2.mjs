#!/usr/bin/env node
// GPT-2-124M throughput, native next to WebAssembly (Node, SIMD, one thread).
//
// Builds the wasm module with the `bench` feature into out/bench-pkg (the
// same rustc and wasm-opt flags as scripts/build.sh), runs
// `examples/bench_gpt2.rs --json` natively, runs the same benchmark code in
// wasm, and prints one table. Both sides come from `src/model/bench.rs`.
//
// Usage: node scripts/bench-gpt2.mjs [--skip-build] [--native-threads N]
//                                    [--peer ORT_PREFIX]
//   --skip-build         reuse out/bench-pkg and the native release build
//   --native-threads N   threads for native candle (default 1, like wasm)
//   --peer-only          with --peer, time only our wasm and onnxruntime-web
//   --peer ORT_PREFIX    also time onnxruntime-web, installed with
//                        `npm install --prefix ORT_PREFIX onnxruntime-web`,
//                        on the weights that scripts/export_gpt2_onnx.py
//                        wrote to out/gpt2-peer (see scripts/bench-peer.sh)
//
// Run one benchmark at a time: a full run takes several minutes on 2 cores.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = join(root, 'out', 'bench-pkg');
const peerDir = join(root, 'out', 'gpt2-peer');
// Matches PREFILL_BATCH, PREFILL_LEN and token_ids() in src/model/bench.rs.
const PREFILL_BATCH = 8;
const PREFILL_LEN = 128;
const VOCAB_SIZE = 50257;
const TOKEN_HASH = 2654435761;
const REPEATS = 3;
// Largest accepted logit difference between the two runtimes. Logits of the
// random model stay below about 3, and torch and onnxruntime-web differ by
// about 3e-6 on them, so 1e-3 catches wrong weights but not rounding.
const LOGITS_TOLERANCE = 1e-3;
const MIB = 1024 * 1024;

function parseArguments(argv) {
  const options = { skipBuild: false, nativeThreads: 1, ortPrefix: null, peerOnly: false };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    if (argument === '--skip-build') {
      options.skipBuild = true;
    } else if (argument === '--native-threads') {
      options.nativeThreads = Number.parseInt(argv[++i], 10);
      if (!(options.nativeThreads > 0)) {
        throw new Error(`--native-threads needs a positive integer, got ${argv[i]}`);
      }
    } else if (argument === '--peer-only') {
      options.peerOnly = true;
    } else if (argument === '--peer') {
      options.ortPrefix = argv[++i];
      if (!options.ortPrefix) throw new Error('--peer needs the npm prefix of onnxruntime-web');
    } else {
      throw new Error(`unknown option ${argument}; expected --skip-build, --native-threads N, --peer DIR or --peer-only`);
    }
  }
  return options;
}

function run(command, args, env = {}) {
  process.stderr.write(`\n==> ${command} ${args.join(' ')}\n`);
  return execFileSync(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * MIB,
  }).toString();
}

function buildWasm() {
  const rustflags = '-C target-feature=+simd128 --cfg getrandom_backend="wasm_js"';
  run('nice', ['-n', '10', 'cargo', 'build', '--release', '--target', 'wasm32-unknown-unknown',
    '--lib', '--features', 'bench'], { RUSTFLAGS: rustflags });
  const raw = join(root, 'target/wasm32-unknown-unknown/release/behavior_lens.wasm');
  rmSync(pkgDir, { recursive: true, force: true });
  run('wasm-bindgen', ['--target', 'web', '--out-dir', pkgDir, '--no-typescript', raw]);
  const wasmOpt = join(root, 'node_modules/.bin/wasm-opt');
  if (!existsSync(wasmOpt)) {
    process.stderr.write('wasm-opt not found (run scripts/setup.sh); timing the unoptimized module\n');
    return;
  }
  const bg = join(pkgDir, 'behavior_lens_bg.wasm');
  run(wasmOpt, ['-O3', '--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
    '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types',
    '--enable-multivalue', bg, '-o', bg]);
}

function buildNative() {
  run('nice', ['-n', '10', 'cargo', 'build', '--release', '--example', 'bench_gpt2']);
}

// Runs the example at normal priority; only the builds are niced.
function runNative(threads) {
  const binary = join(root, 'target/release/examples/bench_gpt2');
  const output = run(binary, ['--json'], { RAYON_NUM_THREADS: String(threads) });
  return JSON.parse(output.trim().split('\n').pop());
}

let instanceCount = 0;

// Instantiates the module in a fresh linear memory. Each import URL gets a
// new query string, so Node evaluates the glue again with its own state.
async function freshInstance(module) {
  instanceCount += 1;
  const url = pathToFileURL(join(pkgDir, 'behavior_lens.js'));
  url.search = `instance=${instanceCount}`;
  const glue = await import(url.href);
  const exports = glue.initSync({ module });
  return { glue, memory: exports.memory };
}

function tokenIds() {
  const ids = new BigInt64Array(PREFILL_BATCH * PREFILL_LEN);
  for (let i = 0; i < ids.length; i += 1) {
    ids[i] = BigInt((i * TOKEN_HASH) % VOCAB_SIZE);
  }
  return ids;
}

async function openOnnxruntimeWeb(ortPrefix) {
  const require = createRequire(join(resolve(ortPrefix), 'package.json'));
  const ort = require('onnxruntime-web');
  const packageJson = join(resolve(ortPrefix), 'node_modules', 'onnxruntime-web', 'package.json');
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8'));
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(readFileSync(join(peerDir, 'model.onnx')), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = { input_ids: new ort.Tensor('int64', tokenIds(), [PREFILL_BATCH, PREFILL_LEN]) };
  const runBatch = async () => (await session.run(feeds)).logits.data;
  return { version, session, runBatch };
}

// Returns the fastest of REPEATS timed runs after one warm-up run, in
// tokens/s of the benchmark batch.
async function bestTokensPerSecond(runBatch) {
  await runBatch();
  let best = Infinity;
  for (let i = 0; i < REPEATS; i += 1) {
    const start = performance.now();
    await runBatch();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return (PREFILL_BATCH * PREFILL_LEN) / best;
}

function maxAbsDifference(a, b) {
  if (a.length !== b.length) throw new Error(`logits lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const fixed = (value, digits = 1) => value.toFixed(digits);

function printTable(native, wasm) {
  const header = ['format', 'file bytes', 'native prefill tok/s', 'wasm prefill tok/s', 'wasm/native',
    'native decode tok/s', 'wasm decode tok/s', 'native % of roof', 'wasm % of roof'];
  const rows = native.formats.map((nativeFormat, index) => {
    const wasmFormat = wasm.formats[index];
    const share = (report, tokensPerSecond) =>
      (100 * tokensPerSecond * report.prefill_flops_per_token) / (report.roof_gflops * 1e9);
    return [
      nativeFormat.format,
      String(wasmFormat.file_bytes),
      fixed(nativeFormat.prefill_tokens_per_second),
      fixed(wasmFormat.prefill_tokens_per_second),
      fixed(wasmFormat.prefill_tokens_per_second / nativeFormat.prefill_tokens_per_second, 2),
      fixed(nativeFormat.decode_tokens_per_second),
      fixed(wasmFormat.decode_tokens_per_second),
      fixed(share(native, nativeFormat.prefill_tokens_per_second)),
      fixed(share(wasm, wasmFormat.prefill_tokens_per_second)),
    ];
  });
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| --- |${' ---: |'.repeat(header.length - 1)}`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log('');
  console.log(`roof (f32 matmul 2048^3): native ${fixed(native.roof_gflops)} GFLOP/s with ` +
    `${native.threads} thread(s), wasm ${fixed(wasm.roof_gflops)} GFLOP/s with 1 thread`);
  console.log(`prefill FLOPs per token = 2 * n_layer * 12 * n_embd^2 = ` +
    `${fixed(native.prefill_flops_per_token / 1e6)} MFLOP`);
  console.log('');
  console.log('| one block at 8 x 128 tokens | native ms | wasm ms |');
  console.log('| --- | ---: | ---: |');
  native.block_steps.forEach((step, index) => {
    const wasmStep = wasm.block_steps[index];
    console.log(`| ${step.step} | ${fixed(step.milliseconds, 2)} | ${fixed(wasmStep.milliseconds, 2)} |`);
  });
  console.log('');
  const bytes = Object.fromEntries(wasm.formats.map((f) => [f.format, f.file_bytes]));
  console.log(`file size q8_0/f32 = ${fixed((100 * bytes.q8_0) / bytes.f32)}%, ` +
    `q4k/f32 = ${fixed((100 * bytes.q4k) / bytes.f32)}% (target at most 30%)`);
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  if (options.ortPrefix && !existsSync(join(peerDir, 'model.onnx'))) {
    throw new Error(`${peerDir}/model.onnx is missing; run scripts/export_gpt2_onnx.py first`);
  }
  if (options.peerOnly && !options.ortPrefix) {
    throw new Error('--peer-only needs --peer DIR');
  }
  if (!options.skipBuild) {
    buildWasm();
  }
  const module = new WebAssembly.Module(readFileSync(join(pkgDir, 'behavior_lens_bg.wasm')));
  if (options.peerOnly) {
    await comparePeer(module, options.ortPrefix);
    return;
  }
  if (!options.skipBuild) {
    buildNative();
  }
  const native = runNative(options.nativeThreads);
  process.stderr.write('\n==> wasm benchmark\n');
  const wasm = JSON.parse((await freshInstance(module)).glue.benchGpt2());
  printTable(native, wasm);

  // Wasm memory never shrinks, so its size after a step is the peak so far.
  const gguf = (await freshInstance(module)).glue.benchGpt2Gguf('q8_0');
  const loader = await freshInstance(module);
  const startBytes = loader.memory.buffer.byteLength;
  const model = loader.glue.BenchModel.fromGguf(gguf);
  const loadedBytes = loader.memory.buffer.byteLength;
  model.prefillTokensPerSecond();
  const prefillBytes = loader.memory.buffer.byteLength;
  model.free();
  console.log(`wasm linear memory, q8_0 from its ${gguf.length}-byte GGUF: ` +
    `${fixed(startBytes / MIB)} MiB at start, ${fixed(loadedBytes / MIB)} MiB peak after loading, ` +
    `${fixed(prefillBytes / MIB)} MiB peak after prefill (target under 400 MB)`);

  if (options.ortPrefix) {
    await comparePeer(module, options.ortPrefix);
  }
}

async function comparePeer(module, ortPrefix) {
  process.stderr.write('\n==> peer: our wasm and onnxruntime-web on out/gpt2-peer\n');
  const ours = await freshInstance(module);
  const model = ours.glue.BenchModel.fromSafetensors(
    readFileSync(join(peerDir, 'hf', 'config.json'), 'utf8'),
    readFileSync(join(peerDir, 'hf', 'model.safetensors')),
  );
  const peer = await openOnnxruntimeWeb(ortPrefix);
  const difference = maxAbsDifference(model.lastLogits(), await peer.runBatch());
  console.log('');
  console.log(`peer: onnxruntime-web ${peer.version}, wasm backend, SIMD, 1 thread, same weights`);
  console.log(`last-position logits of the 8 x 128 batch: max abs difference ${difference.toExponential(2)}`);
  if (!(difference <= LOGITS_TOLERANCE)) {
    throw new Error(`the two runtimes disagree by more than ${LOGITS_TOLERANCE}; not timing them`);
  }
  const ourTokensPerSecond = model.prefillTokensPerSecond();
  model.free();
  const peerTokensPerSecond = await bestTokensPerSecond(peer.runBatch);
  await peer.session.release();
  console.log(`prefill tok/s: ours ${fixed(ourTokensPerSecond)}, ` +
    `onnxruntime-web ${fixed(peerTokensPerSecond)}, ours/onnxruntime-web ` +
    `${fixed(ourTokensPerSecond / peerTokensPerSecond, 2)} (goal at least 1.0)`);
}

await main();
