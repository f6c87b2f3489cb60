// Page benchmark in headless Chromium: drops the REES46 sample on the page
// with "Train a behavior model" ticked and times it from the drop to the
// `done` status. Runs the sample with 1 and 2 workers in the model pass,
// then 4x and 16x the sample (copies of its rows with new user and session
// ids) with the page's default pool. Build first with
// `bash scripts/build.sh --page-only`. The 16x run trains for several
// minutes, and `--sizes 1,4` leaves it out.
//
// For each run the table gives the time of each step from the worker's
// progress messages. `segments` includes the wait for the other shards and
// the merge. `render` is the rest: from the drop to the first progress
// message and from the worker's `done` message to the page's `done`
// status. It also gives the model-pass time, the longest main-thread task
// (PerformanceObserver 'longtask') and the WebAssembly memory of each
// worker. Each run's line on stderr lists the tasks of 50 ms or more with
// the worker message that preceded them. With a pool, it adds the time of shard 0 in the page's worker,
// the wait for the other shards and the merge.
//
//   node scripts/bench-page.mjs [--sizes 1,4,16]

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startServer } from './serve.mjs';
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  PageLog,
  READY_TIMEOUT_MS,
  closeServer,
  proxyArgs,
  setModelTraining,
  startBlockingProxy,
  waitForStatus,
} from '../tests/browser/harness.mjs';
import { writeScaledSample } from './scaled-sample.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sampleFile = path.join(root, 'www/samples/rees46-2019-oct-head.csv');
// Limit for one run, against hangs; the 16x run trains for several minutes.
const RUN_TIMEOUT_MS = 60 * 60 * 1000;
// Steps in the order the worker reports them.
const STEPS = ['read', 'parse', 'timelines', 'report', 'train', 'evaluation', 'recommendations', 'segments'];

function parseSizes(argv) {
  const at = argv.indexOf('--sizes');
  if (at < 0) return [1, 4, 16];
  const sizes = (argv[at + 1] ?? '').split(',').map(Number);
  if (sizes.length === 0 || sizes.some((size) => !Number.isInteger(size) || size < 1)) {
    console.error(`invalid --sizes ${argv[at + 1]}; expected whole numbers of copies such as 1,4,16`);
    process.exit(2);
  }
  return sizes;
}

/** Returns the sample, or a file of `copies` copies of it in `dir`. */
function scaledSample(copies, dir) {
  return copies === 1 ? sampleFile : writeScaledSample(sampleFile, copies, dir);
}

// Runs in the page before its scripts: records the worker's messages with
// their times and the longest main-thread task, and adds `workers` to
// analyze requests when window.__benchWorkers is set.
function instrumentPage() {
  window.__bench = { messages: [], longestTaskMs: 0, longTasks: [], doneAt: null };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__bench.longestTaskMs = Math.max(window.__bench.longestTaskMs, entry.duration);
      window.__bench.longTasks.push({ at: entry.startTime, ms: entry.duration });
    }
  }).observe({ type: 'longtask', buffered: true });
  const PageWorker = window.Worker;
  window.Worker = class extends PageWorker {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const { type, step, share, pool } = event.data ?? {};
        window.__bench.messages.push({ type, step, share, pool, at: performance.now() });
      });
    }

    postMessage(message, ...rest) {
      if (message?.type === 'analyze' && window.__benchWorkers) {
        message = { ...message, options: { ...message.options, workers: window.__benchWorkers } };
      }
      return super.postMessage(message, ...rest);
    }
  };
}

// Runs in the page just before the drop: resets the records and notes when
// the status becomes `done`.
function startRun(workers) {
  window.__benchWorkers = workers;
  window.__bench.messages = [];
  window.__bench.longestTaskMs = 0;
  window.__bench.longTasks = [];
  window.__bench.doneAt = null;
  window.__bench.startedAt = performance.now();
  new MutationObserver((records, observer) => {
    if (document.body.dataset.status !== 'done') return;
    window.__bench.doneAt = performance.now();
    observer.disconnect();
  }).observe(document.body, { attributes: true, attributeFilter: ['data-status'] });
}

/** Sums the time from each step's first progress message to the next step's. */
function stepTimes(messages, startedAt) {
  const times = {};
  let current = null;
  let since = startedAt;
  for (const message of messages) {
    if (message.type !== 'progress' && message.type !== 'done') continue;
    const step = message.type === 'done' ? 'done' : message.step;
    if (step === current) continue;
    if (current !== null) times[current] = (times[current] ?? 0) + (message.at - since);
    current = step;
    since = message.at;
  }
  return times;
}

/**
 * Lists the main-thread tasks of 50 ms or more, each with the worker message
 * that arrived last before it started, to show what the page was handling.
 */
function slowTasks(bench) {
  return bench.longTasks
    .filter((task) => task.ms >= 50 && task.at >= bench.startedAt)
    .map((task) => {
      const before = bench.messages.filter((message) => message.at <= task.at).at(-1);
      const after = before ? `${before.type}${before.step ? ` ${before.step}` : ''}` : 'the drop';
      return { atS: Number(((task.at - bench.startedAt) / 1000).toFixed(2)), ms: Math.round(task.ms), after };
    });
}

async function runOnce(browser, appUrl, filePath, workers, pageLog) {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  try {
    await context.addInitScript(instrumentPage);
    const page = await context.newPage();
    pageLog.watch(page);
    await page.goto(appUrl);
    await waitForStatus(page, 'ready', READY_TIMEOUT_MS, pageLog);
    await setModelTraining(page, true);
    await page.evaluate(startRun, workers);
    await page.setInputFiles('#file-input', filePath);
    await waitForStatus(page, 'done', RUN_TIMEOUT_MS, pageLog);
    const bench = await page.evaluate(() => window.__bench);
    const report = await page.evaluate(() => window.behaviorLens.report.summary);
    const done = bench.messages.find((message) => message.type === 'done');
    return {
      events: report.events,
      users: report.users,
      endToEndMs: bench.doneAt - bench.startedAt,
      steps: stepTimes(bench.messages, bench.startedAt),
      pool: done?.pool ?? null,
      longestTaskMs: bench.longestTaskMs,
      slowTasks: slowTasks(bench),
    };
  } finally {
    await context.close();
  }
}

function seconds(ms) {
  return ms === undefined ? '-' : (ms / 1000).toFixed(1);
}

function printTable(rows) {
  const header = ['size', 'workers', 'events', 'users', 'end-to-end s', ...STEPS.map((step) => `${step} s`), 'render s',
    'model pass s', 'shard 0 s', 'wait s', 'merge s', 'longest task ms', 'wasm MB per worker'];
  const lines = rows.map(({ size, run }) => [
    `${size}x`,
    String(run.pool?.workers ?? '-'),
    String(run.events),
    String(run.users),
    seconds(run.endToEndMs),
    ...STEPS.map((step) => seconds(run.steps[step])),
    seconds(run.endToEndMs - Object.values(run.steps).reduce((sum, ms) => sum + ms, 0)),
    seconds(run.pool?.modelPassMs),
    seconds(run.pool?.ownShardMs),
    seconds(run.pool?.waitMs),
    seconds(run.pool?.mergeMs),
    run.longestTaskMs.toFixed(0),
    (run.pool?.memory ?? []).map((bytes) => (bytes / 2 ** 20).toFixed(0)).join('/'),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
  const format = (cells) => cells.map((cell, column) => cell.padStart(widths[column])).join('  ');
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

const sizes = parseSizes(process.argv);
for (const required of [path.join(root, 'www/pkg'), path.join(root, 'www/vendor/echarts.esm.min.js'), CHROMIUM_PATH]) {
  if (!existsSync(required)) {
    console.error(`${required} is missing: run bash scripts/build.sh --page-only (and scripts/setup.sh --browser)`);
    process.exit(1);
  }
}

const { server, url } = await startServer({ root: path.join(root, 'www'), port: 0 });
const blockingProxy = await startBlockingProxy();
const browser = await chromium.launch({
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: [...CHROMIUM_ARGS, ...proxyArgs(blockingProxy.url)],
});
const scaleDir = mkdtempSync(path.join(os.tmpdir(), 'bench-page-'));
const pageLog = new PageLog();
const rows = [];
try {
  for (const size of sizes) {
    const filePath = scaledSample(size, scaleDir);
    // The sample runs with 1 and 2 workers; larger logs with the default pool.
    for (const workers of size === 1 ? [1, 2] : [null]) {
      console.error(`running ${size}x with ${workers ?? 'the default number of'} workers ...`);
      const run = await runOnce(browser, url, filePath, workers, pageLog);
      rows.push({ size, run });
      // Each run's figures go to stderr at once, so a long run that is
      // stopped leaves the earlier ones.
      console.error(JSON.stringify({ size, ...run }));
    }
  }
} finally {
  await browser.close();
  await closeServer(server);
  await closeServer(blockingProxy.proxy);
  rmSync(scaleDir, { recursive: true, force: true });
}

printTable(rows);
const [single, pooled] = rows.filter((row) => row.size === 1);
if (single?.run.pool && pooled?.run.pool) {
  const speedUp = single.run.pool.modelPassMs / pooled.run.pool.modelPassMs;
  console.log(`model pass at 1x: ${seconds(single.run.pool.modelPassMs)} s with 1 worker, ` +
    `${seconds(pooled.run.pool.modelPassMs)} s with 2: ${speedUp.toFixed(2)} times faster`);
}
