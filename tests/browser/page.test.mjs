// Browser tests for the Behavior Lens page in headless Chromium.
//
// They serve www/ with scripts/serve.mjs on a free 127.0.0.1 port, load each
// real log from tests/data through the page's file input and compare the
// page's summary with `behavior-lens inspect FILE --json` from the native
// CLI. Every request made by the page and its workers is recorded,
// and the run fails if any of them goes to an origin other than the
// server's.
//
// Needs: scripts/build.sh (www/pkg/) and `cargo build` (target/debug/behavior-lens),
// npm ci (playwright-core) and /usr/bin/chromium.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

import { HOST, startServer } from '../../scripts/serve.mjs';

const execFileAsync = promisify(execFile);

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WWW_ROOT = path.join(REPO_ROOT, 'www');
// The debug CLI that `cargo test` builds computes the same numbers as the
// release one.
const CLI_PATH = path.join(REPO_ROOT, process.env.BEHAVIOR_LENS_CLI ?? 'target/debug/behavior-lens');
const CHROMIUM_PATH = '/usr/bin/chromium';

// Real public logs, each in a different source format.
const REAL_LOGS = [
  'tests/data/taobao-userbehavior-sample/UserBehavior.csv',
  'tests/data/rees46-2019-oct-head/2019-Oct.csv',
  'tests/data/tianchi-mobile-sample/sample_user_behavior.csv',
  'tests/data/cdnow/CDNOW_master.txt',
  'tests/data/instacart-sample/df_sample.csv',
];

// An item table from the Tianchi sample: it has no user column, so it is
// not an event log and must be rejected.
const ITEM_TABLE = 'tests/data/tianchi-mobile-sample/sample_item_info.csv';
const SAMPLE_FILE = 'www/samples/rees46-2019-oct-head.csv';

const SUMMARY_KEYS = ['events', 'users', 'items', 'sessions', 'rows', 'rejected'];

// Upper bounds for waits so that a stuck page fails the test instead of
// hanging the run. They are limits, not performance assertions.
const READY_TIMEOUT_MS = 60_000;
const ANALYSIS_TIMEOUT_MS = 120_000;

const CHROMIUM_ARGS = [
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
function startBlockingProxy() {
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

function closeServer(server) {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** Runs the native CLI's `inspect FILE --json` and parses its output. */
async function inspectWithCli(relativePath) {
  const { stdout } = await execFileAsync(CLI_PATH, ['inspect', relativePath, '--json'], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

describe('Behavior Lens page', () => {
  let appServer;
  let appUrl;
  let appOrigin;
  let hostServer;
  let hostPageUrl;
  let portalServer;
  let portalOrigin;
  let blockingProxy;
  let hostDir;
  let userDataDir;
  let context;
  let page;

  // Every request seen by the browser context, including worker requests.
  const requests = [];
  // Console errors and uncaught exceptions, shown when a wait fails.
  const pageLog = [];

  before(async () => {
    for (const required of [path.join(WWW_ROOT, 'index.html'), path.join(WWW_ROOT, 'pkg'), CLI_PATH]) {
      assert.ok(existsSync(required), `${required} is missing: run bash scripts/build.sh first`);
    }
    assert.ok(existsSync(CHROMIUM_PATH), `${CHROMIUM_PATH} is missing: run bash scripts/setup.sh --browser`);

    ({ server: appServer, url: appUrl } = await startServer({ root: WWW_ROOT, port: 0 }));
    appOrigin = new URL(appUrl).origin;

    // A second server on another port is another origin: it hosts a page
    // that embeds the app in an iframe.
    hostDir = await mkdtemp(path.join(os.tmpdir(), 'behavior-lens-host-'));
    await writeFile(
      path.join(hostDir, 'embed.html'),
      [
        '<!doctype html>',
        '<html><head><meta charset="utf-8"><title>Embed host</title></head>',
        `<body><iframe id="app" src="${appUrl}" width="1200" height="900"></iframe></body>`,
        '</html>',
        '',
      ].join('\n'),
    );
    let hostUrl;
    ({ server: hostServer, url: hostUrl } = await startServer({ root: hostDir, port: 0 }));
    hostPageUrl = new URL('embed.html', hostUrl).href;

    // A third origin serves www/examples/embed.html, the documented host
    // page that drives the app with postMessage.
    let portalUrl;
    ({ server: portalServer, url: portalUrl } = await startServer({ root: WWW_ROOT, port: 0 }));
    portalOrigin = new URL(portalUrl).origin;

    blockingProxy = await startBlockingProxy();

    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'behavior-lens-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        ...CHROMIUM_ARGS,
        `--proxy-server=${blockingProxy.url}`,
        `--proxy-bypass-list=${HOST}`,
      ],
    });
    context.on('request', (request) => {
      requests.push(request.url());
    });
    context.on('response', (response) => {
      if (response.status() >= 400) {
        pageLog.push(`HTTP ${response.status()}: ${response.url()}`);
      }
    });
    page = context.pages()[0] ?? (await context.newPage());
    watchPage(page);
  });

  after(async () => {
    await context?.close();
    for (const server of [appServer, hostServer, portalServer, blockingProxy?.proxy]) {
      if (server) {
        await closeServer(server);
      }
    }
    for (const dir of [hostDir, userDataDir]) {
      if (dir) {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  function watchPage(target) {
    target.on('console', (message) => {
      if (message.type() === 'error') {
        pageLog.push(`console.error: ${message.text()}`);
      }
    });
    target.on('pageerror', (error) => {
      pageLog.push(`uncaught: ${error.message}`);
    });
  }

  function describeState(status) {
    const log = pageLog.length > 0 ? pageLog.slice(-10).join('\n  ') : '(none)';
    return `last data-status: ${status}\n  page errors:\n  ${log}`;
  }

  // Waits until data-status is `expected` or `error`, and fails on `error`
  // without waiting for the timeout.
  async function waitForStatus(frame, expected, timeout) {
    try {
      await frame.waitForFunction(
        (value) => [value, 'error'].includes(document.body?.dataset.status),
        expected,
        { timeout },
      );
    } catch (error) {
      const status = await frame.evaluate(() => document.body?.dataset.status).catch(() => 'unknown');
      throw new Error(`page did not reach data-status "${expected}": ${error.message}\n  ${describeState(status)}`);
    }
    const status = await frame.evaluate(() => document.body.dataset.status);
    if (status !== expected) {
      const errorText = await readErrorText(frame);
      assert.fail(`data-status is "${status}", expected "${expected}"; #error shows: ${errorText}\n  ${describeState(status)}`);
    }
  }

  async function openApp() {
    await page.goto(appUrl);
    await waitForStatus(page, 'ready', READY_TIMEOUT_MS);
  }

  // Starts recording every data-status change, so that the `done` of this
  // run is not confused with the `done` left by a previous one.
  async function startStatusRecording(frame) {
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
  async function waitForOutcome(frame) {
    try {
      await frame.waitForFunction(
        () => window.__statusHistory.some((status) => status === 'done' || status === 'error'),
        null,
        { timeout: ANALYSIS_TIMEOUT_MS },
      );
    } catch (error) {
      const status = await frame.evaluate(() => document.body?.dataset.status).catch(() => 'unknown');
      throw new Error(`analysis did not finish: ${error.message}\n  ${describeState(status)}`);
    }
    return frame.evaluate(() => document.body.dataset.status);
  }

  async function readSummary(frame) {
    const json = await frame.evaluate(() => JSON.stringify(window.behaviorLens?.report?.summary ?? null));
    return JSON.parse(json);
  }

  async function readErrorText(frame) {
    return frame.evaluate(() => document.querySelector('#error')?.innerText ?? '');
  }

  async function checkOverviewValues(frame, summary) {
    for (const key of SUMMARY_KEYS) {
      const element = frame.locator(`[data-summary="${key}"]`).first();
      assert.equal(await element.count(), 1, `no element [data-summary="${key}"] in the overview`);
      const value = await element.getAttribute('data-value');
      assert.equal(value, String(summary[key]), `[data-summary="${key}"] data-value`);
    }
  }

  test('page reaches ready', async () => {
    await openApp();
    const status = await page.evaluate(() => document.body.dataset.status);
    assert.equal(status, 'ready');
    const hasApi = await page.evaluate(() => typeof window.behaviorLens?.analyzeFile === 'function');
    assert.ok(hasApi, 'window.behaviorLens.analyzeFile is not a function');
  });

  test('CSP limits connect-src to self', async () => {
    const policy = await page.evaluate(
      () => document.querySelector('meta[http-equiv="Content-Security-Policy" i]')?.content ?? null,
    );
    assert.notEqual(policy, null, 'no Content-Security-Policy meta tag');
    const connectSrc = policy
      .split(';')
      .map((directive) => directive.trim())
      .find((directive) => directive.startsWith('connect-src'));
    assert.equal(connectSrc, "connect-src 'self'");
  });

  for (const logPath of REAL_LOGS) {
    test(`summary matches CLI: ${logPath}`, async () => {
      const expected = await inspectWithCli(logPath);
      await startStatusRecording(page);
      await page.setInputFiles('#file-input', path.join(REPO_ROOT, logPath));
      const outcome = await waitForOutcome(page);
      assert.equal(outcome, 'done', `data-status after analysis; #error shows: ${await readErrorText(page)}`);

      const summary = await readSummary(page);
      assert.deepEqual(summary, expected);
      await checkOverviewValues(page, expected);
    });
  }

  test('try-sample loads the REES46 sample', async () => {
    const expected = await inspectWithCli(SAMPLE_FILE);
    await startStatusRecording(page);
    await page.click('#try-sample');
    const outcome = await waitForOutcome(page);
    assert.equal(outcome, 'done', `data-status after analysis; #error shows: ${await readErrorText(page)}`);

    const summary = await readSummary(page);
    assert.equal(summary?.format, 'rees46');
    assert.deepEqual(summary, expected);
    await checkOverviewValues(page, expected);
  });

  test('item table shows user id error', async () => {
    await startStatusRecording(page);
    await page.setInputFiles('#file-input', path.join(REPO_ROOT, ITEM_TABLE));
    const outcome = await waitForOutcome(page);
    assert.equal(outcome, 'error');

    const errorPanel = page.locator('#error');
    assert.ok(await errorPanel.isVisible(), '#error is not visible');
    const text = await readErrorText(page);
    assert.match(text, /user id/i);
  });

  test('app works in a cross-origin iframe', async () => {
    const embedPage = await context.newPage();
    watchPage(embedPage);
    try {
      await embedPage.goto(hostPageUrl);
      const frame = embedPage.frames().find((candidate) => candidate.url().startsWith(appOrigin));
      assert.ok(frame, `no frame from ${appOrigin} in ${hostPageUrl}`);
      assert.notEqual(new URL(hostPageUrl).origin, appOrigin);

      await waitForStatus(frame, 'ready', READY_TIMEOUT_MS);
      await startStatusRecording(frame);
      await frame.click('#try-sample');
      const outcome = await waitForOutcome(frame);
      assert.equal(outcome, 'done', `data-status in the iframe; #error shows: ${await readErrorText(frame)}`);
      const summary = await readSummary(frame);
      assert.equal(summary?.format, 'rees46');
    } finally {
      await embedPage.close();
    }
  });

  test('portal drives the app with postMessage', async () => {
    const portal = await context.newPage();
    watchPage(portal);
    try {
      const portalPage = new URL('examples/embed.html', portalOrigin);
      portalPage.searchParams.set('app', new URL('index.html', appUrl).href);
      await portal.goto(portalPage.href);
      assert.notEqual(portalOrigin, appOrigin);
      await portal.waitForFunction(() => document.body.dataset.frame === 'ready', null, {
        timeout: READY_TIMEOUT_MS,
      });
      const log = 'tests/data/tianchi-mobile-sample/sample_user_behavior.csv';
      await portal.setInputFiles('#portal-file', path.join(REPO_ROOT, log));
      await portal.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.frame), null, {
        timeout: ANALYSIS_TIMEOUT_MS,
      });
      const frameState = await portal.evaluate(() => document.body.dataset.frame);
      const status = await portal.textContent('#portal-status');
      assert.equal(frameState, 'done', `portal status: ${status}`);
      const report = await portal.evaluate(() => window.lastReport);
      const expected = await inspectWithCli(log);
      assert.deepEqual(report.summary, expected);
    } finally {
      await portal.close();
    }
  });

  // Runs last, so it covers the requests of every test above.
  test('no request leaves the app origin', (t) => {
    assert.ok(
      requests.some((url) => url.startsWith(appOrigin) && url.endsWith('.wasm')),
      `no .wasm request from ${appOrigin} was recorded, so request recording is not working`,
    );
    const foreign = requests.filter((url) => {
      if (url.startsWith('data:') || url.startsWith('blob:')) {
        return false;
      }
      if (url === hostPageUrl) {
        return false;
      }
      // The portal's own page and script are the embedding host's, not the
      // app's.
      if (new URL(url).origin === portalOrigin && new URL(url).pathname.startsWith('/examples/')) {
        return false;
      }
      return new URL(url).origin !== appOrigin;
    });
    assert.deepEqual(foreign, [], `requests to other origins than ${appOrigin}`);

    // Chromium's own background requests (component updates, sign-in) do
    // not come from the page, so the context does not record them. The
    // proxy blocked them, and they are listed here for reference.
    for (const url of blockingProxy.blocked) {
      t.diagnostic(`blocked browser request: ${url}`);
    }
  });
});
