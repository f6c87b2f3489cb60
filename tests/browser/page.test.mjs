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
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startServer } from '../../scripts/serve.mjs';
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  CLI_PATH,
  PageLog,
  ANALYSIS_TIMEOUT_MS,
  READY_TIMEOUT_MS,
  REAL_LOGS,
  REPO_ROOT,
  SAMPLE_FILE,
  WWW_ROOT,
  closeServer,
  inspectWithCli,
  proxyArgs,
  readErrorText,
  startBlockingProxy,
  setModelTraining,
  startStatusRecording,
  waitForOutcome as waitForOutcomeIn,
  waitForStatus as waitForStatusIn,
} from './harness.mjs';

// An item table from the Tianchi sample: it has no user column, so it is
// not an event log and must be rejected.
const ITEM_TABLE = 'tests/data/tianchi-mobile-sample/sample_item_info.csv';

const SUMMARY_KEYS = ['events', 'users', 'items', 'sessions', 'rows', 'rejected'];

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
  const pageLog = new PageLog();
  const watchPage = (target) => pageLog.watch(target);
  const waitForStatus = (frame, expected, timeout) => waitForStatusIn(frame, expected, timeout, pageLog);
  const waitForOutcome = (frame) => waitForOutcomeIn(frame, pageLog);

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
      args: [...CHROMIUM_ARGS, ...proxyArgs(blockingProxy.url)],
    });
    context.on('request', (request) => {
      requests.push(request.url());
    });
    context.on('response', (response) => {
      if (response.status() >= 400) {
        pageLog.lines.push(`HTTP ${response.status()}: ${response.url()}`);
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

  async function openApp() {
    await page.goto(appUrl);
    await waitForStatus(page, 'ready', READY_TIMEOUT_MS);
  }

  async function readSummary(frame) {
    const json = await frame.evaluate(() => JSON.stringify(window.behaviorLens?.report?.summary ?? null));
    return JSON.parse(json);
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
      await setModelTraining(page, false);
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
