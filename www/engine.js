// The page's side of the analysis worker (worker.js): starts it, sends
// requests, routes its messages to the request they belong to, and replaces
// it when an analysis is cancelled before training, because parsing in
// WebAssembly cannot be interrupted.

/** The error an analysis rejects with when it was cancelled. */
export class CancelledError extends Error {
  constructor() {
    super('analysis cancelled');
    this.name = 'CancelledError';
  }
}

// Progress steps after which the worker trains the model and can stop at
// its next step instead of being replaced.
const TRAINING_STEPS = new Set(['train', 'model']);
// How long the worker may take to send a saved model file.
const SAVE_MODEL_TIMEOUT_MS = 60_000;

export class AnalysisEngine {
  /**
   * @param {{onReady: (version: string) => void, onFailure: (message: string) => void}} handlers
   * `onFailure` receives errors that belong to no request, such as a
   * WebAssembly module that fails to load.
   */
  constructor({ onReady, onFailure }) {
    this.onReady = onReady;
    this.onFailure = onFailure;
    /** @type {Map<number, object>} */
    this.pending = new Map();
    this.nextId = 1;
    this.ready = false;
    // Counts started workers; a saved model exists only in the worker of
    // the generation that produced it.
    this.generation = 0;
    this.worker = null;
    this.start();
  }

  start() {
    this.ready = false;
    this.generation += 1;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (event) => this.handle(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.onFailure(event.message || 'the analysis worker failed to start');
    };
    this.worker = worker;
  }

  handle(message) {
    if (message.type === 'ready') {
      this.ready = true;
      this.onReady(message.version);
      return;
    }
    if (message.type === 'error' && message.id === null) {
      this.onFailure(message.message);
      return;
    }
    const request = this.pending.get(message.id);
    if (!request) return;
    switch (message.type) {
      case 'progress':
        request.step = message.step;
        request.handlers.onProgress?.(message.step, message.share);
        break;
      case 'report':
        // After the basic report the worker trains and can stop at any step.
        // After the model report it runs the text model in one call, so only
        // replacing the worker stops it.
        request.training = message.stage === 'basic';
        request.handlers.onReport?.(JSON.parse(message.json), message.stage);
        break;
      case 'train-progress':
        request.training = true;
        request.handlers.onTraining?.(message);
        break;
      case 'done': {
        this.pending.delete(message.id);
        const report = JSON.parse(message.json);
        // The number of workers that shared the model pass is known only
        // to the page's worker, so it is added to the model facts here.
        if (report.model && Number.isInteger(message.pool?.workers)) {
          report.model.workers = message.pool.workers;
        }
        request.resolve(report);
        break;
      }
      case 'model-file':
        this.pending.delete(message.id);
        request.resolve({ bytes: message.bytes, name: message.name });
        break;
      case 'error': {
        this.pending.delete(message.id);
        const error = new Error(message.message);
        error.preview = message.preview;
        request.reject(error);
        break;
      }
      default:
        console.warn(`ignored a "${message.type}" message from the analysis worker`);
    }
  }

  /**
   * Posts `message` with a new id and resolves with the worker's final
   * reply to it. With `timeoutMs`, rejects when no reply came in time.
   */
  request(message, handlers = {}, timeoutMs = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { kind: message.type, handlers, resolve, reject, step: null, training: false });
      this.worker.postMessage({ ...message, id });
      if (timeoutMs !== null) {
        setTimeout(() => {
          if (!this.pending.delete(id)) return;
          reject(new Error(`the analysis worker sent no reply to "${message.type}" within ${timeoutMs / 1000} s`));
        }, timeoutMs);
      }
    });
  }

  /**
   * Analyzes a file; resolves to the full report.
   * @param {File} file
   * @param {object} options reading options and `lang`
   * @param {ArrayBuffer|null} model bytes of a saved model to use instead of training
   * @param {{onProgress?: Function, onReport?: Function, onTraining?: Function}} handlers
   * @param {{name: string, bytes: ArrayBuffer}|null} [textModel] a text GPT-2 that reads the sentences last
   */
  analyze(file, options, model, handlers, textModel = null) {
    return this.request({ type: 'analyze', file, options, model, textModel }, handlers);
  }

  /** Requests the trained model file; resolves to `{bytes, name}`. */
  saveModel() {
    return this.request({ type: 'save-model' }, {}, SAVE_MODEL_TIMEOUT_MS);
  }

  /**
   * Cancels the running analysis. While the model trains, the worker stops
   * at its next step and still sends the report with the best model so
   * far. Before that, the worker is replaced and the analysis rejects with
   * CancelledError.
   * @returns {'training' | 'restarted' | null} what was done, or null when nothing runs
   */
  cancel() {
    const analyses = [...this.pending.values()].filter((request) => request.kind === 'analyze');
    if (analyses.length === 0) return null;
    if (analyses.every((request) => request.training || TRAINING_STEPS.has(request.step))) {
      this.worker.postMessage({ type: 'cancel' });
      return 'training';
    }
    this.restart();
    return 'restarted';
  }

  /** Terminates the worker, rejects everything it was doing, and starts a new one. */
  restart() {
    this.worker.terminate();
    const requests = [...this.pending.values()];
    this.pending.clear();
    for (const request of requests) request.reject(new CancelledError());
    this.start();
  }
}
