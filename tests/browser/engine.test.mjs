// The page's worker wrapper (www/engine.js) against a fake Worker under
// Node: message routing, cancel before and during training, model files
// and timeouts.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

/** Records what the page posts and lets the test send worker messages. */
class FakeWorker {
  static instances = [];

  constructor(url, options) {
    this.url = String(url);
    this.options = options;
    this.posted = [];
    this.terminated = false;
    this.onmessage = null;
    this.onerror = null;
    FakeWorker.instances.push(this);
  }

  postMessage(message) {
    this.posted.push(message);
  }

  terminate() {
    this.terminated = true;
  }

  /** Delivers a message from the worker to the page. */
  send(message) {
    this.onmessage({ data: message });
  }
}

globalThis.Worker = FakeWorker;
const { AnalysisEngine, CancelledError } = await import('../../www/engine.js');

function makeEngine() {
  const events = { ready: [], failures: [] };
  const engine = new AnalysisEngine({
    onReady: (version) => events.ready.push(version),
    onFailure: (message) => events.failures.push(message),
  });
  return { engine, events, worker: FakeWorker.instances.at(-1) };
}

describe('AnalysisEngine', () => {
  beforeEach(() => {
    FakeWorker.instances.length = 0;
  });

  test('starts a module worker', () => {
    const { engine, events, worker } = makeEngine();
    assert.match(worker.url, /\/worker\.js$/);
    assert.deepEqual(worker.options, { type: 'module' });
    assert.equal(engine.ready, false);
    worker.send({ type: 'ready', version: '1.2.3' });
    assert.equal(engine.ready, true);
    assert.deepEqual(events.ready, ['1.2.3']);
  });

  test('routes messages of one analysis', async () => {
    const { engine, worker } = makeEngine();
    const seen = [];
    const result = engine.analyze({ name: 'log.csv' }, { lang: 'en' }, null, {
      onProgress: (step, share) => seen.push(['progress', step, share]),
      onReport: (report) => seen.push(['report', report.stage]),
      onTraining: (message) => seen.push(['train', message.step]),
    });
    const [request] = worker.posted;
    assert.equal(request.type, 'analyze');
    assert.equal(request.model, null);
    assert.deepEqual(request.options, { lang: 'en' });

    worker.send({ type: 'progress', id: request.id, step: 'parse', share: 0.5 });
    worker.send({ type: 'report', id: request.id, stage: 'basic', json: '{"stage":"basic"}' });
    worker.send({ type: 'train-progress', id: request.id, step: 3, steps: 10 });
    worker.send({ type: 'progress', id: request.id + 1, step: 'parse', share: 0.9 });
    worker.send({ type: 'done', id: request.id, json: '{"stage":"done"}' });

    assert.deepEqual(await result, { stage: 'done' });
    assert.deepEqual(seen, [['progress', 'parse', 0.5], ['report', 'basic'], ['train', 3]]);
  });

  test('done adds the pool size to the model facts', async () => {
    const { engine, worker } = makeEngine();
    const pooled = engine.analyze({ name: 'log.csv' }, {}, null, {});
    const first = worker.posted[0].id;
    worker.send({ type: 'done', id: first, json: '{"model":{"source":"trained"}}', pool: { workers: 3, memory: [], modelPassMs: 1 } });
    assert.deepEqual(await pooled, { model: { source: 'trained', workers: 3 } });

    const withoutModel = engine.analyze({ name: 'log.csv' }, {}, null, {});
    const second = worker.posted[1].id;
    worker.send({ type: 'done', id: second, json: '{"model":null}', pool: { workers: 2, memory: [], modelPassMs: 1 } });
    assert.deepEqual(await withoutModel, { model: null });
  });

  test('error rejects with the preview', async () => {
    const { engine, worker } = makeEngine();
    const result = engine.analyze({ name: 'x.csv' }, {}, null, {});
    const { id } = worker.posted[0];
    worker.send({ type: 'error', id, message: 'no user id column', preview: { columns: ['a'] } });
    await assert.rejects(result, (error) => {
      assert.equal(error.message, 'no user id column');
      assert.deepEqual(error.preview, { columns: ['a'] });
      return true;
    });
  });

  test('error without id is a failure', () => {
    const { events, worker } = makeEngine();
    worker.send({ type: 'error', id: null, message: 'cannot load the analysis engine' });
    assert.deepEqual(events.failures, ['cannot load the analysis engine']);
  });

  test('cancel during parse replaces the worker', async () => {
    const { engine, worker } = makeEngine();
    const result = engine.analyze({ name: 'big.csv' }, {}, null, {});
    worker.send({ type: 'progress', id: worker.posted[0].id, step: 'parse', share: 0.2 });
    const generation = engine.generation;

    assert.equal(engine.cancel(), 'restarted');
    await assert.rejects(result, CancelledError);
    assert.equal(worker.terminated, true);
    assert.equal(FakeWorker.instances.length, 2);
    assert.equal(engine.worker, FakeWorker.instances[1]);
    assert.equal(engine.generation, generation + 1);
    assert.equal(engine.ready, false);
    assert.deepEqual(worker.posted.map((message) => message.type), ['analyze']);
  });

  test('cancel during training posts cancel', async () => {
    const { engine, worker } = makeEngine();
    const result = engine.analyze({ name: 'log.csv' }, {}, null, {});
    const { id } = worker.posted[0];
    worker.send({ type: 'report', id, stage: 'basic', json: '{}' });

    assert.equal(engine.cancel(), 'training');
    assert.deepEqual(worker.posted.at(-1), { type: 'cancel' });
    assert.equal(worker.terminated, false);
    worker.send({ type: 'done', id, json: '{"model":{"stopped":"cancelled"}}' });
    assert.deepEqual(await result, { model: { stopped: 'cancelled' } });
  });

  test('cancel at the train step posts cancel', () => {
    const { engine, worker } = makeEngine();
    engine.analyze({ name: 'log.csv' }, {}, null, {}).catch(() => {});
    worker.send({ type: 'progress', id: worker.posted[0].id, step: 'train', share: 0 });
    assert.equal(engine.cancel(), 'training');
    assert.equal(worker.terminated, false);
  });

  test('cancel with nothing running does nothing', () => {
    const { engine, worker } = makeEngine();
    assert.equal(engine.cancel(), null);
    assert.equal(worker.terminated, false);
    assert.deepEqual(worker.posted, []);
  });

  test('model bytes go with the analysis', () => {
    const { engine, worker } = makeEngine();
    const model = new ArrayBuffer(16);
    engine.analyze({ name: 'log.csv' }, {}, model, {}).catch(() => {});
    assert.equal(worker.posted[0].model, model);
  });

  test('text model bytes go with the analysis', () => {
    const { engine, worker } = makeEngine();
    const textModel = { name: 'gpt2.gguf', bytes: new ArrayBuffer(8) };
    engine.analyze({ name: 'log.csv' }, {}, null, {}, textModel).catch(() => {});
    assert.equal(worker.posted[0].textModel, textModel);
    engine.analyze({ name: 'log.csv' }, {}, null, {}).catch(() => {});
    assert.equal(worker.posted[1].textModel, null);
  });

  test('cancel while the text model reads replaces the worker', async () => {
    const { engine, worker } = makeEngine();
    const result = engine.analyze({ name: 'log.csv' }, {}, null, {}, { name: 't.gguf', bytes: new ArrayBuffer(8) });
    const { id } = worker.posted[0];
    engine.handle({ type: 'report', id, json: '{}', stage: 'basic' });
    engine.handle({ type: 'report', id, json: '{}', stage: 'model' });
    engine.handle({ type: 'progress', id, step: 'text', share: 0.5 });
    assert.equal(engine.cancel(), 'restarted');
    await assert.rejects(result, { name: 'CancelledError' });
  });

  test('saveModel resolves with the file', async () => {
    const { engine, worker } = makeEngine();
    const saved = engine.saveModel();
    const request = worker.posted[0];
    assert.equal(request.type, 'save-model');
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    worker.send({ type: 'model-file', id: request.id, bytes, name: 'model.gguf' });
    assert.deepEqual(await saved, { bytes, name: 'model.gguf' });
  });

  test('saveModel times out without a reply', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { engine } = makeEngine();
    const saved = engine.saveModel();
    t.mock.timers.tick(60_000);
    await assert.rejects(saved, /sent no reply to "save-model" within 60 s/);
    assert.equal(engine.pending.size, 0);
  });
});
