// Shared setup of the browser tests: paths, the real logs, the Chromium
// launch flags, a proxy that blocks every request leaving 127.0.0.1, and
// helpers that follow the page's data-status.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { HOST } from '../../scripts/serve.mjs';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WWW_ROOT = path.join(REPO_ROOT, 'www');
// The debug CLI that `cargo test` builds computes the same numbers as the
// release one.
export const CLI_PATH = path.join(REPO_ROOT, process.env.BEHAVIOR_LENS_CLI ?? 'target/debug/behavior-lens');
export const CHROMIUM_PATH = '/usr/bin/chromium';

// Real public logs, each in a different source format.
export const REAL_LOGS = [
  'tests/data/taobao-userbehavior-sample/UserBehavior.csv',
  'tests/data/rees46-2019-oct-head/2019-Oct.csv',
  'tests/data/tianchi-mobile-sample/sample_user_behavior.csv',
  'tests/data/cdnow/CDNOW_master.txt',
  'tests/data/instacart-sample/df_sample.csv',
];

export const SAMPLE_FILE = 'www/samples/rees46-2019-oct-head.csv';

// Upper bounds for waits so that a stuck page fails the test instead of
// hanging the run. They are limits, not performance assertions.
export const READY_TIMEOUT_MS = 60_000;
export const ANALYSIS_TIMEOUT_MS = 120_000;

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts an HTTP proxy on 127.0.0.1 that responds to every request with 403 and
 * rejects every CONNECT tunnel. Chromium sends all non-loopback traffic to
 * it, so such a request fails locally instead of leaving the machine.
 */
export function startBlockingProxy() {
  const blocked = [];
  const proxy = createServer((request, response) => {
    blocked.push(request.url);
    response.writeHead(403, { 'Content-Type': 'text/plain' });
    response.end('blocked by the test proxy\n');
  });
  proxy.on('connect', (request, socket) => {
    blocked.push(`CONNECT ${request.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  return new Promise((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, HOST, () => {
      resolve({ proxy, blocked, url: `http://${HOST}:${proxy.address().port}` });
    });
  });
}

/** Chromium flags that send every request except to 127.0.0.1 to `proxyUrl`. */
export function proxyArgs(proxyUrl) {
  return [`--proxy-server=${proxyUrl}`, `--proxy-bypass-list=${HOST}`];
}

export function closeServer(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** Runs the native CLI's `inspect FILE --json` and parses its output. */
export async function inspectWithCli(relativePath) {
  const { stdout } = await execFileAsync(CLI_PATH, ['inspect', relativePath, '--json'], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/**
 * Collects console errors and uncaught exceptions of pages, to show when a
 * wait fails.
 */
export class PageLog {
  constructor() {
    this.lines = [];
  }

  watch(target) {
    target.on('console', (message) => {
      if (message.type() === 'error') {
        this.lines.push(`console.error: ${message.text()}`);
      }
    });
    target.on('pageerror', (error) => {
      this.lines.push(`uncaught: ${error.message}`);
    });
  }

  describe(status) {
    const log = this.lines.length > 0 ? this.lines.slice(-10).join('\n  ') : '(none)';
    return `last data-status: ${status}\n  page errors:\n  ${log}`;
  }
}

export async function readErrorText(frame) {
  return frame.evaluate(() => document.querySelector('#error')?.innerText ?? '');
}

// Waits until data-status is `expected` or `error`, and fails on `error`
// without waiting for the timeout.
export async function waitForStatus(frame, expected, timeout, pageLog) {
  try {
    await frame.waitForFunction(
      (value) => [value, 'error'].includes(document.body?.dataset.status),
      expected,
      { timeout },
    );
  } catch (error) {
    const status = await frame.evaluate(() => document.body?.dataset.status).catch(() => 'unknown');
    throw new Error(`page did not reach data-status "${expected}": ${error.message}\n  ${pageLog.describe(status)}`);
  }
  const status = await frame.evaluate(() => document.body.dataset.status);
  if (status !== expected) {
    const errorText = await readErrorText(frame);
    assert.fail(`data-status is "${status}", expected "${expected}"; #error shows: ${errorText}\n  ${pageLog.describe(status)}`);
  }
}

// Ticks or clears "Train a behavior model". Training is left out of tests
// that check the other views, so each real log finishes in seconds.
export async function setModelTraining(frame, on) {
  await frame.evaluate((value) => {
    document.querySelector('#opt-model').checked = value;
  }, on);
}

// Starts recording every data-status change, so that the `done` of this
// run is not confused with the `done` left by a previous one.
export async function startStatusRecording(frame) {
  await frame.evaluate(() => {
    window.__statusHistory = [];
    if (!window.__statusObserver) {
      window.__statusObserver = new MutationObserver(() => {
        window.__statusHistory.push(document.body.dataset.status);
      });
      window.__statusObserver.observe(document.body, {
        attributes: true,
        attributeFilter: ['data-status'],
      });
    }
  });
}

// Waits until the status recorded since startStatusRecording becomes
// `done` or `error`, and returns it.
export async function waitForOutcome(frame, pageLog, timeout = ANALYSIS_TIMEOUT_MS) {
  try {
    await frame.waitForFunction(
      () => window.__statusHistory.some((status) => status === 'done' || status === 'error'),
      null,
      { timeout },
    );
  } catch (error) {
    const status = await frame.evaluate(() => document.body?.dataset.status).catch(() => 'unknown');
    throw new Error(`analysis did not finish: ${error.message}\n  ${pageLog.describe(status)}`);
  }
  return frame.evaluate(() => document.body.dataset.status);
}

// Strings that run script, load a resource or evaluate a template when a
// page inserts them as HTML or a spreadsheet reads them as a formula. Each
// sets window.__pwned or requests a path containing "pwned" when it fires.
export const HOSTILE_STRINGS = [
  '<img src=/pwned-img onerror="window.__pwned=1;alert(1)">',
  '<script>window.__pwned=2</script>',
  'javascript:window.__pwned=3',
  '{{constructor.constructor("window.__pwned=4")()}}',
  '=HYPERLINK("http://pwned.invalid/")',
  '<svg onload="window.__pwned=6"><a href="javascript:window.__pwned=7">x</a></svg>',
  '"><iframe src="/pwned-frame"></iframe>',
];

function quoteCsv(value) {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Builds a CSV log whose user, item, category, brand and session fields
 * all contain hostile strings. Its event types and times are valid, so it is
 * analyzed, except for two last rows with a hostile time and event type,
 * which are rejected and shown as examples.
 */
export function hostileLogText() {
  const header = ['user_id', 'item_id', 'event_type', 'timestamp', 'category', 'brand', 'price', 'session_id'];
  const kinds = ['view', 'view', 'cart', 'purchase', 'view', 'cart'];
  const pick = (index) => HOSTILE_STRINGS[index % HOSTILE_STRINGS.length];
  const start = 1_569_888_000;
  const rows = [];
  for (let user = 0; user < 8; user++) {
    for (let step = 0; step < kinds.length; step++) {
      rows.push([
        `${pick(user)} u${user}`,
        `${pick(user + step)} i${step}`,
        kinds[step],
        String(start + user * 3 * 86_400 + step * 600),
        `${pick(step)} c`,
        `${pick(step + 1)} b`,
        '9.99',
        `${pick(user)} s${user}`,
      ]);
    }
  }
  rows.push(header.map((_, column) => pick(column)));
  rows.push([pick(1), pick(2), pick(3), pick(4), pick(5), pick(6), pick(0), pick(1)]);
  return [header, ...rows].map((row) => `${row.map(quoteCsv).join(',')}\n`).join('');
}
