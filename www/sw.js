// Service worker that keeps the page usable offline after one visit. On
// install it caches the app shell, the WebAssembly engine, ECharts and the
// sample log (and the sample model when the site has one). Requests for
// those files go to the network first, so an online page always gets the
// current files, and fall back to the cache when the network fails.

// Bump when the list of cached files changes. The activate handler
// deletes the caches of other versions.
const CACHE_VERSION = 'v2';
const CACHE_PREFIX = 'behavior-lens-';
const CACHE_NAME = `${CACHE_PREFIX}${CACHE_VERSION}`;

const SHELL = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './engine.js',
  './worker.js',
  './i18n.js',
  './format.js',
  './tables.js',
  './charts.js',
  './chart-options.js',
  './csv.js',
  './rows.js',
  './export.js',
  './views/common.js',
  './views/data.js',
  './views/overview.js',
  './views/funnel.js',
  './views/paths.js',
  './views/retention.js',
  './views/segments.js',
  './views/recommendations.js',
  './views/model.js',
  './views/text.js',
  './views/export.js',
  './pkg/behavior_lens.js',
  './pkg/behavior_lens_bg.wasm',
  './vendor/echarts.esm.min.js',
  './samples/rees46-2019-oct-head.csv',
];
// Cached when the server has them; their absence is not an error.
const OPTIONAL = ['./models/sample.gguf', './models/models.json', './models/text-demo.gguf'];

const scopeUrl = (path) => new URL(path, self.registration.scope).href;
// Absolute URLs (without query) of every file this worker caches.
const CACHED_URLS = new Set([...SHELL, ...OPTIONAL].map(scopeUrl));

async function cacheOptional(cache) {
  for (const path of OPTIONAL) {
    try {
      const response = await fetch(path, { cache: 'no-cache' });
      if (response.ok) await cache.put(path, response);
    } catch (error) {
      console.info(`offline cache: ${path} not cached:`, error.message);
    }
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE_NAME);
      await cache.addAll(SHELL.map((path) => new Request(path, { cache: 'no-cache' })));
      await cacheOptional(cache);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== CACHE_NAME) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

/** Returns the cache key of a request URL (the URL without its query), or null when it is not cached. */
function cachedPath(url) {
  const bare = `${url.origin}${url.pathname}`;
  return CACHED_URLS.has(bare) ? bare : null;
}

async function networkFirst(request, path) {
  const cache = await caches.open(CACHE_NAME);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') await cache.put(path, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(path);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const path = cachedPath(new URL(request.url));
  if (path === null) return;
  event.respondWith(networkFirst(request, path));
});
