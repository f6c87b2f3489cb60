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
//   tokens_per_second}, done {id, json}, model-file {id, bytes, name},
//   error {id, message, preview}.

import init, { Upload, version } from './pkg/behavior_lens.js';

const ready = init().then(
  () => {
    self.postMessage({ type: 'ready', version: version() });
  },
  (error) => {
    self.postMessage({ type: 'error', id: null, message: `cannot load the analysis engine: ${error}` });
    throw error;
  },
);

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

/** Trains or loads the behavior model and returns the report with its sections. */
async function behaviorSections(id, current, model, progress) {
  if (current.skips_model()) return current.finish_without_model('the behavior model was skipped by request');
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
  return current.finish(progress);
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
    const json = await behaviorSections(id, current, model, progress);
    if (!textModel) {
      self.postMessage({ type: 'done', id, json });
      return;
    }
    self.postMessage({ type: 'report', id, json, stage: 'model' });
    self.postMessage({ type: 'done', id, json: readWithTextModel(current, textModel, progress) });
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
  if (message.type === 'cancel') {
    cancelRequested = true;
  } else if (message.type === 'analyze') {
    cancelRequested = true;
    queue = queue.then(() => analyze(message));
  } else if (message.type === 'save-model') {
    saveModel(message);
  }
};
