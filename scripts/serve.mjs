#!/usr/bin/env node
// Static file server for the Behavior Lens page.
//
// Run directly, it serves www/ on http://127.0.0.1:8080/ (PORT overrides the
// port; the host is always 127.0.0.1). Imported, `startServer` serves any
// folder on any port, which the browser tests use with port 0.
//
// It sends no COOP/COEP headers, so the page can be embedded in an iframe
// of another origin, and no caching headers.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const HOST = '127.0.0.1';

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.gguf': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

function sendError(response, status, message) {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(`${status} ${message}\n`);
}

// Maps a request path to a file under `root`, or returns null when the
// decoded path is malformed or would leave `root`.
function resolveUnderRoot(root, requestUrl) {
  const rawPath = requestUrl.split('?')[0].split('#')[0];
  let decoded;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) {
    return null;
  }
  const resolved = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (resolved !== root && !resolved.startsWith(root + path.sep)) {
    return null;
  }
  return resolved;
}

async function handleRequest(root, request, response) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    sendError(response, 405, 'Method Not Allowed');
    return;
  }

  let filePath = resolveUnderRoot(root, request.url ?? '/');
  if (filePath === null) {
    sendError(response, 400, 'Bad Request: invalid path');
    return;
  }

  let info;
  try {
    info = await stat(filePath);
    if (info.isDirectory()) {
      filePath = path.join(filePath, 'index.html');
      info = await stat(filePath);
    }
  } catch {
    sendError(response, 404, 'Not Found');
    return;
  }
  if (!info.isFile()) {
    sendError(response, 404, 'Not Found');
    return;
  }

  const contentType = MIME_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
  response.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': info.size,
    'X-Content-Type-Options': 'nosniff',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const stream = createReadStream(filePath);
  stream.on('error', (error) => {
    console.error(`serve: failed to read ${filePath}: ${error.message}`);
    response.destroy(error);
  });
  stream.pipe(response);
}

/**
 * Starts serving `root` on 127.0.0.1:`port` (0 picks a free port).
 * Resolves to `{ server, url }` once the socket listens; `url` ends in "/".
 */
export function startServer({ root, port = 0 } = {}) {
  const absoluteRoot = path.resolve(root);
  const server = createServer((request, response) => {
    handleRequest(absoluteRoot, request, response).catch((error) => {
      console.error(`serve: ${request.method} ${request.url} failed: ${error.message}`);
      if (!response.headersSent) {
        sendError(response, 500, 'Internal Server Error');
      } else {
        response.destroy(error);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      const { port: actualPort } = server.address();
      resolve({ server, url: `http://${HOST}:${actualPort}/` });
    });
  });
}

async function main() {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const root = path.join(repoRoot, 'www');
  const portText = process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: invalid PORT "${portText}": expected an integer from 0 to 65535`);
    process.exit(2);
  }
  const { url } = await startServer({ root, port });
  console.log(`Serving ${root} at ${url}`);
  console.log('Press Ctrl+C to stop.');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error) => {
    console.error(`serve: failed to start: ${error.message}`);
    process.exit(1);
  });
}
