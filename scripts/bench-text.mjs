// Text-model benchmark, wasm (Node) beside native in one run: the text
// GPT-2 reads the REES46 sample's users (embeddings, next-step scores and
// the held-out check) without a behavior model, and each side prints the
// tokens it ran per second. Build first with scripts/build.sh (www/pkg and
// the release CLI).
//
//   node scripts/bench-text.mjs [TEXT_MODEL.gguf] [USERS]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const textModel = process.argv[2] ?? path.join(root, 'www/models/text-demo.gguf');
const users = Number(process.argv[3] ?? 200);
const log = path.join(root, 'www/samples/rees46-2019-oct-head.csv');
if (!Number.isInteger(users) || users < 10) {
  console.error(`invalid USERS ${process.argv[3]}; expected a whole number of at least 10`);
  process.exit(2);
}

const { initSync, Upload } = await import(path.join(root, 'www/pkg/behavior_lens.js'));
initSync({ module: readFileSync(path.join(root, 'www/pkg/behavior_lens_bg.wasm')) });

/** Runs the text model in wasm with the page's calls; returns its section. */
function readWasm() {
  const bytes = readFileSync(log);
  const upload = new Upload(bytes.length);
  upload.push(bytes);
  const session = upload.start(path.basename(log), { skipModel: true, lang: 'en', textUsers: users }, null);
  upload.free();
  session.finish_without_model('not needed for this benchmark');
  const section = JSON.parse(session.read_with_text_model(path.basename(textModel), readFileSync(textModel))).text_model;
  session.free();
  return section;
}

/** Runs the text model with the release CLI; returns its section. */
function readNative() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-text-'));
  try {
    const cli = path.join(root, 'target/release/behavior-lens');
    const args = ['analyze', log, '--out', dir, '--lang', 'en', '--no-model', '--text-model', textModel, '--text-users', String(users)];
    const run = spawnSync(cli, args, { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${cli} failed: ${run.stderr}`);
    return JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')).text_model;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const native = readNative();
const wasm = readWasm();
const model = native.model;
console.log(`text model ${path.basename(textModel)}: ${model.layers} layers, width ${model.width}, ` +
  `${model.vocab_size} tokens, ${model.weight_type}; ${native.users} users, ${native.tokens} tokens`);
console.log('| build | seconds | tokens/s |');
console.log('| --- | ---: | ---: |');
for (const [name, section] of [['native', native], ['wasm', wasm]]) {
  console.log(`| ${name} | ${section.seconds.toFixed(1)} | ${Math.round(section.tokens_per_second)} |`);
}
console.log(`wasm / native tokens/s: ${(wasm.tokens_per_second / native.tokens_per_second).toFixed(2)}`);
