// The worker owns the WebAssembly instance, so parsing, training and the
// analyses run off the page's main thread.
//
// Messages in:
//   {type: 'analyze', id, file, options, model, textModel}
//                                                 model: ArrayBuffer of a saved
//                                                 behavior model, or null to train;
//                                                 textModel: {name, bytes} of a text
//                                                 GPT-2 that reads the sentences last
//   {type: 'cancel'}                              stop training at the next step
//   {type: 'save-model', id}
// Messages out:
//   ready, progress {id, step, share}, report {id, json, stage: 'basic' | 'model'},
//   train-progress {id, epoch, epochs, step, steps, loss, validation_loss,
//   tokens_per_second}, done {id, json, pool}, model-file {id, bytes, name},
//   error {id, message, preview}.
//
// The model pass (backtest, recommendations and embeddings) can be split
// across a pool of workers. This worker starts pool workers, each a copy of
// this script with its own WebAssembly instance. They parse the same file
// while the model trains, then each runs one shard of the pass with the
// model's file. This worker runs shard 0 and merges. The pool size comes from the
// `workers` option, or from the device (see poolSize). `pool` in `done`
// contains {workers, memory: wasm memory bytes per worker, modelPassMs} and,
// with more than one worker, the times of the pool's phases (see runPool).
//
// A pool worker receives {type: 'prepare', module, file, options} (module:
// the compiled WebAssembly.Module) and replies {type: 'prepared'}. Then it
// receives {type: 'shard', model, index, count} and replies {type:
// 'shard-result', result, memory}. It replies {type: 'error', message} when
// either fails.

import init, { Upload, version } from './pkg/behavior_lens.js';

// Name that marks a worker started by another worker.js as a pool worker.
const POOL_WORKER_NAME = 'behavior-lens-pool-worker';
const isPoolWorker = self.name === POOL_WORKER_NAME;
// Default maximum pool size. More workers add little on most devices,
// because each one repeats the parsing and keeps its own copy of the log.
const MAX_DEFAULT_WORKERS = 4;

// The compiled engine. The page's worker compiles it and sends it to its
// pool workers, which then share its machine code, including the code the
// browser has optimized while the model trained.
let resolveSharedModule;
const engineModule = isPoolWorker
  ? new Promise((resolve) => {
      resolveSharedModule = resolve;
    })
  : compileEngine();
// The module's exports, for the size of its memory.
let wasm = null;
const ready = engineModule.then((module) => init({ module_or_path: module })).then(
  (exports) => {
    wasm = exports;
    if (!isPoolWorker) self.postMessage({ type: 'ready', version: version() });
  },
  (error) => {
    self.postMessage({ type: 'error', id: null, message: `cannot load the analysis engine: ${error}` });
    throw error;
  },
);

async function compileEngine() {
  const url = new URL('./pkg/behavior_lens_bg.wasm', import.meta.url);
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch (error) {
    // compileStreaming needs the application/wasm content type, which
    // some servers do not send.
    console.warn('compiling the engine while it downloads failed, so it is compiled after the download:', error);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url} returned HTTP ${response.status}`);
    return WebAssembly.compile(await response.arrayBuffer());
  }
}

// The session of the last analyzed file, kept for "Save model".
let session = null;
let cancelRequested = false;
// Analyses run one after another; a new file stops the current training.
let queue = Promise.resolve();

/**
 * Reads a File into wasm memory in chunks, reporting the share read.
 * @param {File} file
 * @param {(share: number) => void} onProgress
 * @returns {Promise<Upload>}
 */
async function readIntoUpload(file, onProgress) {
  const upload = new Upload(file.size);
  const reader = file.stream().getReader();
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    upload.push(value);
    received += value.byteLength;
    onProgress(file.size > 0 ? received / file.size : 1);
  }
  return upload;
}

// Lets queued messages (such as 'cancel') run between training steps.
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(id, current) {
  const steps = current.start_training();
  self.postMessage({ type: 'progress', id, step: 'train', share: 0 });
  let last = null;
  for (let step = 0; step <= steps; step += 1) {
    if (cancelRequested) {
      current.cancel_training();
      break;
    }
    last = JSON.parse(current.train_step());
    self.postMessage({ type: 'train-progress', id, ...last });
    self.postMessage({ type: 'progress', id, step: 'train', share: last.step / Math.max(1, last.steps) });
    if (last.done) break;
    await yieldToMessages();
  }
}

/**
 * Trains or loads the behavior model, runs the model pass on the pool, and
 * returns the report with the model sections (or the reason they are missing).
 */
async function behaviorSections(id, current, model, poolWorkers, progress, pool) {
  try {
    if (model) {
      progress('model', 0);
      current.load_model(new Uint8Array(model));
    } else {
      await train(id, current);
    }
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (model) throw error;
    return current.finish_without_model(`no behavior model: ${text}`);
  }
  const started = performance.now();
  const json = poolWorkers.length === 0 ? current.finish(progress) : await runPool(current, poolWorkers, progress, pool);
  pool.memory.unshift(wasmMemoryBytes());
  pool.modelPassMs = performance.now() - started;
  return json;
}

/** Returns the report with the text model's section, or with the reason it has none. */
function readWithTextModel(current, textModel, progress) {
  try {
    return current.read_with_text_model(textModel.name, new Uint8Array(textModel.bytes), progress);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return current.text_model_failed(text);
  }
}

async function analyze(message) {
  const { id, file, options, model, textModel } = message;
  const progress = (step, share) => self.postMessage({ type: 'progress', id, step, share });
  let upload = null;
  let poolWorkers = [];
  try {
    await ready;
    upload = await readIntoUpload(file, (share) => progress('read', share));
    session?.free();
    session = null;
    cancelRequested = false;
    const current = upload.start(file.name, options ?? {}, progress);
    session = current;
    upload.free();
    upload = null;
    self.postMessage({ type: 'report', id, json: current.report(), stage: 'basic' });
    let json;
    let pool;
    if (current.skips_model()) {
      json = current.finish_without_model('the behavior model was skipped by request');
    } else {
      // Pool workers parse the file while this worker trains the model.
      poolWorkers = startPoolWorkers(poolSize(options) - 1, file, options ?? {});
      pool = { workers: poolWorkers.length + 1, memory: [], modelPassMs: 0 };
      json = await behaviorSections(id, current, model, poolWorkers, progress, pool);
    }
    if (textModel) {
      self.postMessage({ type: 'report', id, json, stage: 'model' });
      json = readWithTextModel(current, textModel, progress);
    }
    self.postMessage({ type: 'done', id, json, pool });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    let preview = null;
    try {
      preview = upload ? JSON.parse(upload.preview(options?.encoding ?? null)) : null;
    } catch (previewError) {
      console.warn('no preview of the failed file:', previewError);
    }
    self.postMessage({ type: 'error', id, message: text, preview });
  } finally {
    upload?.free();
    for (const poolWorker of poolWorkers) poolWorker.terminate();
  }
}

/**
 * Returns how many workers share the model pass: the `workers` option, or
 * one per logical core up to MAX_DEFAULT_WORKERS, and at most one per GB
 * of device memory when the browser reports it.
 */
function poolSize(options) {
  // The core has checked that an explicit count lies between 1 and 16.
  if (options?.workers) return options.workers;
  if (typeof Worker === 'undefined') return 1;
  let size = Math.min(MAX_DEFAULT_WORKERS, navigator.hardwareConcurrency || 1);
  // NOTE: one GB per worker is an estimate for logs of up to a few
  // million events; navigator.deviceMemory exists in Chromium only.
  if (typeof navigator.deviceMemory === 'number') {
    size = Math.min(size, Math.max(1, Math.floor(navigator.deviceMemory)));
  }
  return Math.max(1, size);
}

function wasmMemoryBytes() {
  return wasm?.memory?.buffer.byteLength ?? 0;
}

/** A pool worker seen from the worker that started it: one request at a time. */
class PoolWorker {
  constructor(number, total) {
    this.label = `worker ${number} of ${total} in the model pass`;
    this.pending = null;
    this.failure = null;
    if (typeof Worker === 'undefined') {
      this.failure = new Error(`${this.label} could not start: this browser cannot start a worker inside a worker, so set the workers option to 1`);
      return;
    }
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: POOL_WORKER_NAME });
    this.worker.onmessage = (event) => this.handle(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(new Error(`${this.label} failed: ${event.message || 'it stopped with an error'}`));
    };
    this.worker.onmessageerror = () => this.fail(new Error(`${this.label} sent a message that could not be read`));
  }

  handle(message) {
    if (message?.type === 'error') {
      this.fail(new Error(`${this.label} failed: ${message.message}`));
    } else if (this.pending && message?.type === this.pending.expected) {
      const { resolve } = this.pending;
      this.pending = null;
      resolve(message);
    }
  }

  fail(error) {
    this.failure ??= error;
    if (this.pending) {
      const { reject } = this.pending;
      this.pending = null;
      reject(this.failure);
    }
  }

  /** Sends `message` and resolves with the reply of type `expected`. */
  request(message, expected, transfer = []) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { expected, resolve, reject };
      this.worker.postMessage(message, transfer);
    });
  }

  terminate() {
    this.worker?.terminate();
    this.fail(new Error(`${this.label} was stopped`));
  }
}

/** Starts `count` pool workers that parse `file` at once. */
function startPoolWorkers(count, file, options) {
  const poolWorkers = [];
  for (let number = 1; number <= count; number += 1) {
    const poolWorker = new PoolWorker(number + 1, count + 1);
    poolWorker.prepared = engineModule.then((module) =>
      poolWorker.request({ type: 'prepare', module, file, options }, 'prepared'),
    );
    // A failure is reported when the pool runs; this keeps it from being
    // logged as unhandled in the meantime.
    poolWorker.prepared.catch(() => {});
    poolWorkers.push(poolWorker);
  }
  return poolWorkers;
}

/**
 * Runs the model pass in shards, shard 0 here and one in each pool worker,
 * merges them and returns the report JSON. Adds to `pool` each pool
 * worker's wasm memory in bytes (`memory`) and the milliseconds spent on
 * shard 0 (`ownShardMs`), waiting for the other shards (`waitMs`) and
 * merging (`mergeMs`).
 */
async function runPool(current, poolWorkers, progress, pool) {
  const count = poolWorkers.length + 1;
  const { memory } = pool;
  pool.shardMs = [];
  current.finish_training();
  const modelFile = current.model_file('f32');
  // Every pool worker must have its shard request before this worker runs
  // shard 0, because its replies are read only when shard 0 has finished.
  await Promise.all(poolWorkers.map((poolWorker) => poolWorker.prepared));
  const results = poolWorkers.map((poolWorker, position) => {
    const bytes = modelFile.slice().buffer;
    const request = { type: 'shard', model: bytes, index: position + 1, count };
    return poolWorker.request(request, 'shard-result', [bytes]).then((reply) => {
      memory[position] = reply.memory;
      pool.shardMs[position + 1] = reply.shardMs;
      return reply.result;
    });
  });
  // Failures are read below, after this worker's own shard.
  for (const result of results) result.catch(() => {});
  const started = performance.now();
  const own = current.run_shard(0, count, progress);
  const ownDone = performance.now();
  const shards = [own, ...(await Promise.all(results))];
  const merging = performance.now();
  const json = current.finish_shards(shards, progress);
  pool.ownShardMs = ownDone - started;
  pool.shardMs[0] = pool.ownShardMs;
  pool.waitMs = merging - ownDone;
  pool.mergeMs = performance.now() - merging;
  return json;
}

// ---- Pool worker side ----

let poolSession = null;

async function preparePoolWorker(message) {
  const { module, file, options } = message;
  resolveSharedModule(module);
  await ready;
  const upload = await readIntoUpload(file, () => {});
  try {
    poolSession = upload.start(file.name, options, null);
  } finally {
    upload.free();
  }
  self.postMessage({ type: 'prepared' });
}

function runPoolShard(message) {
  const { model, index, count } = message;
  if (!poolSession) throw new Error('the shard request came before the file was parsed');
  poolSession.load_model(new Uint8Array(model));
  const started = performance.now();
  const result = poolSession.run_shard(index, count, null);
  const shardMs = performance.now() - started;
  self.postMessage({ type: 'shard-result', result, memory: wasmMemoryBytes(), shardMs });
}

async function handlePoolMessage(message) {
  try {
    if (message.type === 'prepare') {
      await preparePoolWorker(message);
    } else if (message.type === 'shard') {
      runPoolShard(message);
    }
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    self.postMessage({ type: 'error', message: text });
  }
}

function saveModel(message) {
  const { id } = message;
  try {
    if (!session) throw new Error('analyze a log first');
    const bytes = session.model_file('q8_0');
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    self.postMessage({ type: 'model-file', id, bytes: buffer, name: 'behavior-model.gguf' }, [buffer]);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    self.postMessage({ type: 'error', id, message: text, preview: null });
  }
}

self.onmessage = (event) => {
  const message = event.data;
  if (!message) return;
  if (isPoolWorker) {
    queue = queue.then(() => handlePoolMessage(message));
  } else if (message.type === 'cancel') {
    cancelRequested = true;
  } else if (message.type === 'analyze') {
    cancelRequested = true;
    queue = queue.then(() => analyze(message));
  } else if (message.type === 'save-model') {
    saveModel(message);
  }
};
