// The model pass shared by a pool of workers, in headless Chromium. The
// REES46 sample with the sample model gives the same report with two
// workers as with one. A pool worker whose script fails makes the analysis
// fail with a message that names it.
//
// Needs: scripts/build.sh (www/pkg/, www/vendor/), npm ci (playwright-core)
// and /usr/bin/chromium.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { HOST, startServer } from '../../scripts/serve.mjs';
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  PageLog,
  READY_TIMEOUT_MS,
  WWW_ROOT,
  closeServer,
  proxyArgs,
  startBlockingProxy,
  waitForStatus,
} from './harness.mjs';

// Upper bound for one analysis of the sample with the sample model; a
// limit against hangs, not a performance assertion.
const POOL_TIMEOUT_MS = 300_000;

describe('Behavior Lens worker pool', () => {
  let appServer;
  let appUrl;
  let blockingProxy;
  let browser;
  const pageLog = new PageLog();

  before(async () => {
    assert.ok(existsSync(path.join(WWW_ROOT, 'pkg')), 'www/pkg is missing: run bash scripts/build.sh first');
    assert.ok(existsSync(CHROMIUM_PATH), `${CHROMIUM_PATH} is missing: run bash scripts/setup.sh --browser`);
    ({ server: appServer, url: appUrl } = await startServer({ root: WWW_ROOT, port: 0 }));
    blockingProxy = await startBlockingProxy();
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...proxyArgs(blockingProxy.url)],
    });
  });

  after(async () => {
    await browser?.close();
    for (const server of [appServer, blockingProxy?.proxy]) {
      if (server) await closeServer(server);
    }
  });

  async function openApp(context, url = appUrl) {
    const page = await context.newPage();
    pageLog.watch(page);
    page.setDefaultTimeout(POOL_TIMEOUT_MS);
    await page.goto(url);
    await waitForStatus(page, 'ready', READY_TIMEOUT_MS, pageLog);
    return page;
  }

  /**
   * Analyzes the page's sample log with the sample model and `workers`
   * workers; resolves to the report, or to {error} when the analysis fails.
   */
  function analyzeSample(page, workers) {
    return page.evaluate(async (count) => {
      const log = await (await fetch('./samples/rees46-2019-oct-head.csv')).blob();
      const model = await (await fetch('./models/sample.gguf')).arrayBuffer();
      const file = new File([log], 'rees46-2019-oct-head.csv');
      try {
        const report = await window.behaviorLens.analyzeFile(file, { workers: count }, { model });
        return JSON.stringify(report);
      } catch (error) {
        return JSON.stringify({ error: error.message });
      }
    }, workers).then((text) => JSON.parse(text));
  }

  test('two workers give the report of one', async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    try {
      const page = await openApp(context);
      const single = await analyzeSample(page, 1);
      assert.equal(single.error, undefined, `one worker: ${single.error}`);
      const pooled = await analyzeSample(page, 2);
      assert.equal(pooled.error, undefined, `two workers: ${pooled.error}`);

      assert.equal(single.model.workers, 1);
      assert.equal(pooled.model.workers, 2);
      assert.ok(single.evaluation.available, `evaluation: ${single.evaluation.note}`);
      assert.equal(single.evaluation.next_item[0].method, 'behavior_gpt');
      assert.ok(single.interest.users.length > 16, 'too few interest rows to span two shards');
      assert.ok(single.segments.points.length > 64, 'too few embedded users to span two shards');
      delete single.model.workers;
      delete pooled.model.workers;
      for (const key of Object.keys(single)) {
        assert.deepEqual(pooled[key], single[key], `report section ${key} differs between one and two workers`);
      }
      assert.deepEqual(Object.keys(pooled).sort(), Object.keys(single).sort());
    } finally {
      await context.close();
    }
  });

  test('failing pool worker names itself', async () => {
    // This server forwards to the page's server, except that only the
    // first request for worker.js gets the real script. Later requests come
    // from pool workers and get a script that throws at once.
    let scripts = 0;
    const front = createServer(async (request, response) => {
      const target = new URL(request.url, appUrl);
      if (target.pathname.endsWith('/worker.js')) scripts += 1;
      if (target.pathname.endsWith('/worker.js') && scripts > 1) {
        response.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' });
        response.end("throw new Error('broken pool worker script');");
        return;
      }
      const upstream = await fetch(target);
      response.writeHead(upstream.status, {
        'Content-Type': upstream.headers.get('content-type') ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
      });
      response.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise((resolve) => front.listen(0, HOST, resolve));
    const context = await browser.newContext({ serviceWorkers: 'block' });
    try {
      const page = await openApp(context, `http://${HOST}:${front.address().port}/`);
      const outcome = await analyzeSample(page, 2);
      assert.ok(scripts >= 2, 'no pool worker was started');
      assert.match(outcome.error ?? '', /^worker 2 of 2 in the model pass failed: .*broken pool worker script/);
      assert.equal(await page.evaluate(() => document.body.dataset.status), 'error');
    } finally {
      await context.close();
      await closeServer(front);
    }
  });
});
