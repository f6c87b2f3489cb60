// The report computed by the wasm build (as the page runs it) must equal,
// value for value, the report.json that the native CLI writes, for every
// real log in tests/data. With the committed sample model, the model
// sections must agree too: every count, name and ranking exactly, and
// every float to a relative 1e-4 (or 1e-5 absolute for values near zero, such as differences of log-probabilities), because matrix products sum in a
// different order in wasm than on the host CPU. Needs scripts/build.sh and
// `cargo build` (the debug CLI computes the same numbers as the release one).

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
      execFileSync(cli, ['analyze', log, '--out', out, '--lang', 'en', '--no-model'], { cwd: root, stdio: 'pipe' });
      const native = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
      const bytes = readFileSync(path.join(root, log));
      const upload = new Upload(bytes.length);
      upload.push(bytes);
      const wasm = JSON.parse(upload.analyze(log, { lang: 'en', skipModel: true }, undefined, undefined));
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

/**
 * Walks two JSON values in step. Non-numbers must be equal; numbers may
 * differ by `tolerance` relative to their size. Returns the largest
 * relative difference among values of at least 1e-3.
 */
function compareClose(actual, expected, tolerance, where = 'report') {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const difference = Math.abs(actual - expected) / Math.max(1e-12, Math.abs(expected), Math.abs(actual));
    assert.ok(difference <= tolerance || Math.abs(actual - expected) <= 1e-5, `${where}: ${actual} vs ${expected}`);
    // Report the relative difference of values big enough for it to mean something.
    return Math.max(Math.abs(actual), Math.abs(expected)) >= 1e-3 ? difference : 0;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where} is not an array`);
    assert.equal(actual.length, expected.length, `${where} length`);
    return expected.reduce((max, item, index) => Math.max(max, compareClose(actual[index], item, tolerance, `${where}[${index}]`)), 0);
  }
  if (expected !== null && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual), Object.keys(expected), `${where} keys`);
    return Object.keys(expected).reduce((max, key) => Math.max(max, compareClose(actual[key], expected[key], tolerance, `${where}.${key}`)), 0);
  }
  assert.equal(actual, expected, where);
  return 0;
}

/** Compares two lists of explanation reasons, allowing swaps at the cut. */
function compareReasons(actual, expected, where) {
  const weights = (reasons) => new Map(reasons.map((reason) => [reason.event, reason.weight]));
  const actualWeights = weights(actual);
  const expectedWeights = weights(expected);
  for (const [event, weight] of expectedWeights) {
    if (actualWeights.has(event)) {
      compareClose(actualWeights.get(event), weight, 1e-3, `${where} ${event}`);
    }
  }
  for (const [side, own, other] of [['wasm', actualWeights, expectedWeights], ['native', expectedWeights, actualWeights]]) {
    const otherSmallest = Math.min(...other.values());
    for (const [event, weight] of own) {
      if (other.has(event)) continue;
      assert.ok(
        Math.abs(weight - otherSmallest) <= 1e-3 || weight <= 1e-3,
        `${where}: only ${side} lists ${event} (${weight}), far from the other side's cut (${otherSmallest})`,
      );
    }
  }
  assert.ok(Math.abs(actual.length - expected.length) <= 1, `${where}: ${actual.length} reasons against ${expected.length}`);
}

test('wasm and CLI agree on the model sections with the sample model', () => {
  const log = 'www/samples/rees46-2019-oct-head.csv';
  const model = 'www/models/sample.gguf';
  const out = mkdtempSync(path.join(tmpdir(), 'behavior-lens-parity-'));
  try {
    execFileSync(cli, ['analyze', log, '--out', out, '--lang', 'en', '--model', model], { cwd: root, stdio: 'pipe' });
    const native = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const bytes = readFileSync(path.join(root, log));
    const upload = new Upload(bytes.length);
    upload.push(bytes);
    const wasm = JSON.parse(upload.analyze(log, { lang: 'en' }, undefined, readFileSync(path.join(root, model))));
    upload.free();
    for (const key of ['segments', 'interest', 'recommendations', 'evaluation', 'model']) {
      assert.ok(native[key], `the CLI report has ${key}`);
    }
    // Reasons are the top few events by weight. Rounding that differs
    // between the builds may swap reasons of near-equal weight at the cut,
    // so they are compared by event. A reason only one side lists must weigh
    // within 1e-3 of the other side's smallest listed weight, or of zero.
    native.recommendations.users.forEach((user, row) => {
      user.items.forEach((item, column) => {
        const other = wasm.recommendations.users[row].items[column];
        compareReasons(other.because, item.because, `recommendations.users[${row}].items[${column}].because`);
        delete item.because;
        delete other.because;
      });
    });
    // Training time and throughput are measured, not computed.
    for (const report of [native, wasm]) {
      delete report.model.seconds;
      delete report.model.tokens_per_second;
    }
    const largest = compareClose(wasm, native, 1e-4);
    console.log(`largest relative difference between wasm and native (values >= 1e-3): ${largest.toExponential(2)}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

// The text model's head is a q8_0 matrix of 50,257 rows. Native and wasm
// run different quantized kernels for it, so log-likelihoods differ by about
// 1e-3 and the candidate shares computed from them by up to about 1e-3
// relative (measured: see the printed figure).
const TEXT_TOLERANCE = 1e-2;

test('wasm and CLI agree on the text model section', () => {
  const log = 'www/samples/rees46-2019-oct-head.csv';
  const model = 'www/models/sample.gguf';
  const textModel = 'www/models/text-demo.gguf';
  const out = mkdtempSync(path.join(tmpdir(), 'behavior-lens-parity-'));
  try {
    execFileSync(cli, ['analyze', log, '--out', out, '--lang', 'en', '--model', model, '--text-model', textModel, '--text-users', '40'], {
      cwd: root,
      stdio: 'pipe',
    });
    const native = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).text_model;
    const bytes = readFileSync(path.join(root, log));
    const upload = new Upload(bytes.length);
    upload.push(bytes);
    const session = upload.start(log, { lang: 'en', textUsers: 40 });
    upload.free();
    session.load_model(readFileSync(path.join(root, model)));
    session.finish();
    const wasm = JSON.parse(session.read_with_text_model(textModel, readFileSync(path.join(root, textModel)))).text_model;
    session.free();
    assert.ok(native, 'the CLI report has the text model section');
    assert.ok(wasm, 'the wasm report has the text model section');
    // The model's name is the path each side was given; the rest is computed.
    for (const section of [native, wasm]) {
      delete section.seconds;
      delete section.tokens_per_second;
      section.model.name = path.basename(section.model.name);
    }
    const largest = compareClose(wasm, native, TEXT_TOLERANCE, 'text_model');
    console.log(`text model: largest relative difference between wasm and native (values >= 1e-3): ${largest.toExponential(2)}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
