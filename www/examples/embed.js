// Example host page for embedding Behavior Lens. The app's address comes
// from the `app` query parameter (default: the page one folder up), so the
// portal and the app can live on different origins.

const params = new URLSearchParams(location.search);
const appUrl = new URL(params.get('app') ?? '../index.html', location.href);
const frame = document.getElementById('lens');
const status = document.getElementById('portal-status');
const summary = document.getElementById('portal-summary');
frame.src = appUrl.href;

let nextId = 1;

window.addEventListener('message', (event) => {
  // Accept replies only from the embedded app's origin.
  if (event.origin !== appUrl.origin || event.source !== frame.contentWindow) return;
  const message = event.data;
  switch (message?.type) {
    case 'behavior-lens:ready':
      status.textContent = `analysis frame ready (core ${message.version})`;
      document.body.dataset.frame = 'ready';
      break;
    case 'behavior-lens:progress':
      status.textContent = `${message.step}: ${Math.round(message.share * 100)}%`;
      break;
    case 'behavior-lens:report': {
      const s = message.report.summary;
      status.textContent = 'done';
      summary.textContent = `${s.format}: ${s.events} events, ${s.users} users, ${s.items} items, ${s.sessions} sessions`;
      window.lastReport = message.report;
      document.body.dataset.frame = 'done';
      break;
    }
    case 'behavior-lens:error':
      status.textContent = `error: ${message.message}`;
      document.body.dataset.frame = 'error';
      break;
    default:
      break;
  }
});

document.getElementById('portal-file').addEventListener('change', (event) => {
  const file = event.target.files?.[0];
  if (!file) return;
  document.body.dataset.frame = 'working';
  frame.contentWindow.postMessage({ type: 'behavior-lens:analyze', id: nextId++, file, name: file.name }, appUrl.origin);
});
