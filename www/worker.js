// The worker owns the WebAssembly instance, so parsing and analysis run
// off the page's main thread. Messages in: {type: 'analyze', id, file, options}.
// Messages out: ready, progress, done (report JSON text) and error.

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

self.onmessage = async (event) => {
  const message = event.data;
  if (!message || message.type !== 'analyze') return;
  const { id, file, options } = message;
  const progress = (step, share) => self.postMessage({ type: 'progress', id, step, share });
  let upload = null;
  try {
    await ready;
    upload = await readIntoUpload(file, (share) => progress('read', share));
    const json = upload.analyze(file.name, options ?? {}, progress);
    self.postMessage({ type: 'done', id, json });
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
};
