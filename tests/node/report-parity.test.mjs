// The report computed by the wasm build (as the page runs it) must equal,
// value for value, the report.json that the native CLI writes, for every
// real log in tests/data. Needs scripts/build.sh and `cargo build` (the
// debug CLI computes the same numbers as the release one).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, process.env.BEHAVIOR_LENS_CLI ?? 'target/debug/behavior-lens');
const { initSync, Upload } = await import(path.join(root, 'www/pkg/behavior_lens.js'));
initSync({ module: readFileSync(path.join(root, 'www/pkg/behavior_lens_bg.wasm')) });

const LOGS = [
  'tests/data/taobao-userbehavior-sample/UserBehavior.csv',
  'tests/data/rees46-2019-oct-head/2019-Oct.csv',
  'tests/data/tianchi-mobile-sample/sample_user_behavior.csv',
  'tests/data/cdnow/CDNOW_master.txt',
  'tests/data/instacart-sample/df_sample.csv',
  'tests/data/formats/sentences-zh.txt',
  'tests/data/formats/events.jsonl',
  'tests/data/formats/online-retail.csv',
];

for (const log of LOGS) {
  test(`wasm report equals CLI report for ${path.basename(log)}`, () => {
    const out = mkdtempSync(path.join(tmpdir(), 'behavior-lens-parity-'));
    try {
      execFileSync(cli, ['analyze', log, '--out', out, '--lang', 'en'], { cwd: root, stdio: 'pipe' });
      const native = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
      const bytes = readFileSync(path.join(root, log));
      const upload = new Upload(bytes.length);
      upload.push(bytes);
      const wasm = JSON.parse(upload.analyze(log, { lang: 'en' }, undefined));
      upload.free();
      for (const key of Object.keys(native)) {
        assert.deepEqual(wasm[key], native[key], `report.${key} differs`);
      }
      assert.deepEqual(Object.keys(wasm), Object.keys(native));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}
