// The page: file input, progress, error panel and report views. All heavy
// work runs in worker.js. Every value from the log is written with
// textContent, never as HTML.

import { preferredLanguage, translate } from './i18n.js';

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
/** @type {Map<number, {resolve: Function, reject: Function}>} */
const pending = new Map();
let nextId = 1;
let lang = preferredLanguage();

const $ = (selector) => document.querySelector(selector);

/** @param {'loading'|'ready'|'working'|'done'|'error'} status */
function setStatus(status) {
  document.body.dataset.status = status;
}

function t(key) {
  return translate(lang, key);
}

function applyLanguage() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  $('#lang').value = lang;
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  if (api.report) renderReport(api.report);
}

function showProgress(step, share) {
  $('#progress').hidden = false;
  $('#progress-step').textContent = t(`step.${step}`);
  $('#progress-share').textContent = `${Math.round(share * 100)}%`;
  $('#progress-bar').value = share;
}

function hideProgress() {
  $('#progress').hidden = true;
}

function showError(message) {
  const panel = $('#error');
  panel.replaceChildren();
  const title = document.createElement('strong');
  title.textContent = t('errorTitle');
  const body = document.createElement('p');
  body.textContent = message;
  panel.append(title, body);
  if (message.includes('--map')) {
    const hint = document.createElement('p');
    hint.textContent = t('mapHint');
    panel.append(hint);
  }
  panel.hidden = false;
}

worker.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'ready') {
    $('#version').textContent = `core ${message.version}`;
    $('#try-sample').disabled = false;
    setStatus('ready');
    if (window.parent !== window) {
      // Readiness carries no data, so any embedding origin may hear it.
      window.parent.postMessage({ type: 'behavior-lens:ready', version: message.version }, '*');
    }
    return;
  }
  const request = pending.get(message.id);
  if (message.type === 'progress') {
    showProgress(message.step, message.share);
    embedReply('progress', { step: message.step, share: message.share });
    return;
  }
  if (message.type === 'error' && message.id === null) {
    setStatus('error');
    showError(message.message);
    return;
  }
  if (!request) return;
  pending.delete(message.id);
  if (message.type === 'done') {
    request.resolve(JSON.parse(message.json));
  } else {
    const error = new Error(message.message);
    error.preview = message.preview;
    request.reject(error);
  }
};

worker.onerror = (event) => {
  setStatus('error');
  showError(event.message || 'the analysis worker failed to start');
};

/**
 * Analyzes a log file in the worker and shows the report.
 * @param {File} file
 * @param {object} [options] format, mapping, encoding, timezone, lang, ...
 * @returns {Promise<object>} the report object (as in report.json)
 */
async function analyzeFile(file, options = {}) {
  setStatus('working');
  $('#error').hidden = true;
  showProgress('read', 0);
  const id = nextId++;
  const result = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  lastFile = file;
  $('#reanalyze').disabled = false;
  worker.postMessage({ type: 'analyze', id, file, options: { lang, ...options } });
  try {
    const report = await result;
    api.report = report;
    renderReport(report);
    if (!report.input.mapping_unsure) {
      $('#mapping-form').hidden = true;
      $('#options-hint').hidden = true;
    }
    if (report.input.mapping_unsure) {
      const mapping = Object.fromEntries(
        report.input.mapping.map((entry) => [entry.field, report.input.columns.indexOf(entry.column)]),
      );
      showMappingForm(report.input.columns, mapping);
    }
    hideProgress();
    setStatus('done');
    return report;
  } catch (error) {
    hideProgress();
    // The panels below still show the previous file; hide them so they are
    // not read as this file's results.
    for (const id of REPORT_PANELS) $(id).hidden = true;
    showError(error.message);
    if (error.preview) {
      showMappingForm(error.preview.columns, Object.fromEntries(error.preview.mapping));
    }
    setStatus('error');
    throw error;
  }
}

/** @type {File | null} */
let lastFile = null;
const FIELDS = ['user', 'item', 'event', 'time', 'category', 'brand', 'price', 'quantity', 'session', 'order'];

/**
 * Shows one column picker per field, preset to the detected mapping.
 * @param {string[]} columns
 * @param {Record<string, number>} mapping field name to 0-based column
 */
function showMappingForm(columns, mapping) {
  const table = $('#mapping-form');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  for (const field of FIELDS) {
    const row = document.createElement('tr');
    const name = document.createElement('td');
    name.textContent = field;
    const cell = document.createElement('td');
    const select = document.createElement('select');
    select.dataset.field = field;
    const none = document.createElement('option');
    none.value = '';
    none.textContent = t('none');
    select.append(none);
    columns.forEach((column, index) => {
      const option = document.createElement('option');
      option.value = String(index + 1);
      option.textContent = column;
      select.append(option);
    });
    const detected = mapping[field];
    select.value = detected === undefined || detected < 0 ? '' : String(detected + 1);
    cell.append(select);
    row.append(name, cell);
    body.append(row);
  }
  table.hidden = false;
  const hint = $('#options-hint');
  hint.textContent = t('mapHint');
  hint.hidden = false;
  $('#options').open = true;
}

/** Reads the options panel into analysis options. */
function readOptions() {
  const options = {};
  const format = $('#opt-format').value;
  if (format) options.format = format;
  const encoding = $('#opt-encoding').value;
  if (encoding) options.encoding = encoding;
  const timezone = $('#opt-timezone').value.trim();
  if (timezone) options.timezone = timezone;
  if ($('#opt-duplicates').checked) options.keepDuplicates = true;
  if (!$('#mapping-form').hidden) {
    const pairs = [...document.querySelectorAll('#mapping-form select')]
      .filter((select) => select.value !== '')
      .map((select) => `${select.dataset.field}=${select.value}`);
    if (pairs.length > 0) options.mapping = pairs.join(',');
  }
  return options;
}

const api = { analyzeFile, report: null };
window.behaviorLens = api;

const REPORT_PANELS = [
  '#overview',
  '#funnel-panel',
  '#paths-panel',
  '#retention-panel',
  '#rfm-panel',
  '#quality',
  '#sentences-panel',
];

const numberFormat = () => new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US');

function fillTable(table, rows) {
  const body = table.querySelector('tbody');
  body.replaceChildren();
  for (const cells of rows) {
    const row = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = String(cell);
      row.append(td);
    }
    body.append(row);
  }
  table.hidden = rows.length === 0;
}

function renderReport(report) {
  const summary = report.summary;
  const format = numberFormat();
  $('#file-name').textContent = report.input.file;
  $('#format-line').textContent = `${summary.format} · ${summary.encoding} · ${report.input.detection_reason}`;
  for (const element of document.querySelectorAll('[data-summary]')) {
    const value = summary[element.dataset.summary];
    element.dataset.value = String(value);
    element.textContent = format.format(value);
  }
  $('#time-span').textContent =
    summary.first_event && summary.last_event
      ? `${summary.first_event} – ${summary.last_event}`
      : t('noDates');

  const mix = $('#event-mix');
  mix.replaceChildren();
  const total = Math.max(1, summary.events);
  for (const [kind, count] of Object.entries(summary.event_counts)) {
    if (count === 0) continue;
    const row = document.createElement('div');
    row.className = 'mix-row';
    const label = document.createElement('span');
    label.className = 'mix-label';
    label.textContent = t(`kind.${kind}`);
    const bar = document.createElement('span');
    bar.className = `mix-bar kind-${kind}`;
    bar.style.width = `${Math.max(0.5, (count / total) * 100)}%`;
    const value = document.createElement('span');
    value.className = 'mix-value';
    value.textContent = `${format.format(count)} (${((count / total) * 100).toFixed(1)}%)`;
    row.append(label, bar, value);
    mix.append(row);
  }

  const warnings = $('#warnings');
  warnings.replaceChildren();
  const messages = [...summary.warnings];
  if (report.input.mapping_unsure) messages.unshift(t('unsure'));
  if (messages.length === 0) messages.push(t('noWarnings'));
  for (const text of messages) {
    const item = document.createElement('li');
    item.textContent = text;
    warnings.append(item);
  }
  fillTable(
    $('#rejections'),
    summary.rejected_reasons.map((reason) => [reason.reason, format.format(reason.count), reason.first_line]),
  );
  fillTable(
    $('#examples'),
    report.input.rejected_examples.map((example) => [
      example.line,
      example.column_name ? `${example.column} (${example.column_name})` : example.column,
      example.value,
      example.expected,
    ]),
  );
  fillTable(
    $('#mapping'),
    report.input.mapping.map((entry) => [entry.field, entry.column]),
  );

  const sentences = $('#sentences');
  sentences.replaceChildren();
  for (const text of report.sentences) {
    const item = document.createElement('li');
    item.textContent = text;
    sentences.append(item);
  }
  renderFunnelSlices(report.funnel);
  renderRetention(report.retention);
  renderRfm(report.rfm);
  renderPaths(report.paths);
  for (const id of REPORT_PANELS) $(id).hidden = false;
}

/** Formats a duration in seconds as `45 s`, `12 min`, `3.5 h` or `2.1 d`. */
function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const percent = (share) => `${(share * 100).toFixed(1)}%`;

/** Lists the funnel's slices (users, sessions, categories, brands) in the selector. */
function renderFunnelSlices(funnel) {
  const select = $('#funnel-slice');
  const previous = select.value;
  select.replaceChildren();
  const add = (value, label) => {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    select.append(option);
  };
  add('user', t('sliceAllUsers'));
  add('session', t('sliceAllSessions'));
  funnel.by_category.forEach((table, index) => add(`category:${index}`, `${t('sliceCategory')}: ${table.name}`));
  funnel.by_brand.forEach((table, index) => add(`brand:${index}`, `${t('sliceBrand')}: ${table.name}`));
  select.value = [...select.options].some((option) => option.value === previous) ? previous : 'user';
  $('#funnel-window').textContent = t('windowNote').replace('{hours}', String(funnel.window_hours));
  renderFunnelTable(funnel);
}

function renderFunnelTable(funnel) {
  const [kind, index] = $('#funnel-slice').value.split(':');
  const table =
    kind === 'session'
      ? funnel.by_session
      : kind === 'category'
        ? funnel.by_category[Number(index)]
        : kind === 'brand'
          ? funnel.by_brand[Number(index)]
          : funnel.by_user;
  const format = numberFormat();
  $('#funnel th[data-i18n="funnelUsers"]').textContent = kind === 'session' ? t('sessions') : t('funnelUsers');
  fillTable(
    $('#funnel'),
    table.steps.map((step) => [
      t(`kind.${step.step}`),
      format.format(step.count),
      percent(step.conversion),
      percent(step.step_conversion),
      format.format(step.drop_off),
      formatDuration(step.median_seconds_from_previous),
    ]),
  );
  const bars = $('#funnel-bars');
  bars.replaceChildren();
  const first = Math.max(1, table.steps[0]?.count ?? 0);
  for (const step of table.steps) {
    const row = document.createElement('div');
    row.className = 'mix-row';
    const label = document.createElement('span');
    label.className = 'mix-label';
    label.textContent = t(`kind.${step.step}`);
    const bar = document.createElement('span');
    bar.className = `mix-bar kind-${step.step}`;
    bar.style.width = `${Math.max(0.5, (step.count / first) * 100)}%`;
    const value = document.createElement('span');
    value.className = 'mix-value';
    value.textContent = `${format.format(step.count)} (${percent(step.conversion)})`;
    row.append(label, bar, value);
    bars.append(row);
  }
}

/** Fills the cohort period selector, lifecycle table and churn list. */
function renderRetention(retention) {
  const select = $('#cohort-period');
  const previous = select.value;
  select.replaceChildren();
  for (const table of retention.cohorts) {
    const option = document.createElement('option');
    option.value = table.period;
    option.textContent = t(`period.${table.period}`);
    select.append(option);
  }
  // Default to the finest period whose rows fit on a screen (31 columns).
  const shown = retention.cohorts.filter((table) => table.cohorts.length > 0);
  const fitting = shown.find((table) => Math.max(...table.cohorts.map((c) => c.retention.length)) <= 31);
  const keep = shown.some((table) => table.period === previous);
  select.value = keep ? previous : (fitting ?? shown.at(-1))?.period ?? 'day';
  renderCohorts(retention);

  const format = numberFormat();
  fillTable(
    $('#lifecycle'),
    retention.lifecycle.map((row) => [
      row.period,
      format.format(row.new),
      format.format(row.returning),
      format.format(row.resurrecting),
      format.format(row.dormant),
    ]),
  );
  const churn = retention.churn;
  $('#churn-line').textContent = churn
    ? t('churnLine')
        .replace('{churned}', format.format(churn.churned_users))
        .replace('{users}', format.format(api.report.summary.users))
        .replace('{rate}', percent(churn.churn_rate))
        .replace('{days}', churn.window_days.toFixed(1))
    : (retention.note ?? '');
  fillTable(
    $('#at-risk'),
    (churn?.at_risk ?? []).map((risk) => [
      risk.user,
      risk.last_event,
      risk.recency_days.toFixed(1),
      format.format(risk.events),
      risk.recency_risk.toFixed(2),
    ]),
  );
}

/**
 * Fills a shaded matrix table.
 * @param {HTMLTableElement} table
 * @param {string[]} columns column headers after the row-label column
 * @param {{label: string, values: number[], title?: (k: number) => string}[]} rows shares in 0..1
 */
function fillMatrix(table, columns, rows) {
  const head = table.querySelector('thead tr');
  const body = table.querySelector('tbody');
  head.replaceChildren();
  body.replaceChildren();
  for (const text of ['', ...columns]) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
  for (const row of rows) {
    const tr = document.createElement('tr');
    const label = document.createElement('th');
    label.textContent = row.label;
    tr.append(label);
    row.values.forEach((share, k) => {
      const td = document.createElement('td');
      td.className = 'heat-cell';
      td.textContent = share > 0 ? percent(share) : '';
      if (row.title) td.title = row.title(k);
      td.style.backgroundColor = `rgba(47, 111, 222, ${Math.min(1, share).toFixed(3)})`;
      if (share > 0.5) td.classList.add('dark');
      tr.append(td);
    });
    body.append(tr);
  }
  table.hidden = rows.length === 0;
}

const stateName = (state) =>
  state === 'start' || state === 'end' ? t(`state.${state}`) : t(`kind.${state}`);

/** Fills common paths, the event-type transition matrix and the step matrix. */
function renderPaths(paths) {
  const format = numberFormat();
  fillTable(
    $('#common-paths'),
    paths.common_paths.map((entry) => [
      entry.path.map((kind) => t(`kind.${kind}`)).join(' → '),
      format.format(entry.sessions),
      percent(entry.share),
    ]),
  );
  const matrix = paths.event_transitions;
  const used = matrix.states
    .map((_, index) => index)
    .filter((index) => matrix.counts[index].some((n) => n > 0) || matrix.counts.some((row) => row[index] > 0));
  fillMatrix(
    $('#transitions'),
    used.filter((index) => index !== 0).map((index) => stateName(matrix.states[index])),
    used
      .filter((index) => index !== matrix.states.length - 1)
      .map((from) => ({
        label: stateName(matrix.states[from]),
        values: used.filter((index) => index !== 0).map((to) => matrix.probabilities[from][to]),
      })),
  );
  const kinds = paths.step_kinds
    .map((kind, column) => ({ kind, column }))
    .filter(({ column }) => paths.step_matrix.some((row) => row[column] > 0));
  fillMatrix(
    $('#step-matrix'),
    kinds.map(({ kind }) => t(`kind.${kind}`)),
    paths.step_matrix
      .map((row, step) => ({
        label: `${t('stepN').replace('{n}', String(step + 1))} (${format.format(paths.step_users[step])})`,
        values: kinds.map(({ column }) => row[column]),
      }))
      .filter((_, step) => paths.step_users[step] > 0),
  );
}

/** Fills the RFM segment table and the recency-by-frequency grid. */
function renderRfm(rfm) {
  const format = numberFormat();
  $('#rfm-note').textContent = rfm.note ?? '';
  fillTable(
    $('#rfm-segments'),
    rfm.segments.map((segment) => [
      t(`segment.${segment.segment}`),
      format.format(segment.customers),
      percent(segment.share),
      segment.mean_recency_days.toFixed(1),
      segment.mean_orders.toFixed(2),
      segment.mean_monetary === null ? '–' : segment.mean_monetary.toFixed(2),
    ]),
  );
  const grid = $('#rfm-grid');
  const head = grid.querySelector('thead tr');
  const body = grid.querySelector('tbody');
  head.replaceChildren();
  body.replaceChildren();
  grid.hidden = rfm.customers === 0;
  for (const text of ['R / F', '1', '2', '3', '4', '5']) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
  const largest = Math.max(1, ...rfm.grid.flat());
  for (let r = 5; r >= 1; r--) {
    const row = document.createElement('tr');
    const label = document.createElement('th');
    label.textContent = String(r);
    row.append(label);
    for (const count of rfm.grid[r - 1]) {
      const td = document.createElement('td');
      td.className = 'heat-cell';
      td.textContent = format.format(count);
      const share = count / largest;
      td.style.backgroundColor = `rgba(46, 158, 91, ${share.toFixed(3)})`;
      if (share > 0.5) td.classList.add('dark');
      row.append(td);
    }
    body.append(row);
  }
}

/** Draws the cohort matrix for the selected period as a shaded table. */
function renderCohorts(retention) {
  const table = retention.cohorts.find((entry) => entry.period === $('#cohort-period').value);
  const grid = $('#cohorts');
  const head = grid.querySelector('thead tr');
  const body = grid.querySelector('tbody');
  head.replaceChildren();
  body.replaceChildren();
  $('#cohort-note').textContent = table?.note ?? '';
  if (!table || table.cohorts.length === 0) {
    grid.hidden = true;
    return;
  }
  grid.hidden = false;
  const width = Math.max(...table.cohorts.map((cohort) => cohort.retention.length));
  const headers = [t('cohort'), t('cohortUsers'), ...Array.from({ length: width }, (_, k) => `+${k}`)];
  for (const text of headers) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
  const format = numberFormat();
  for (const cohort of table.cohorts) {
    const row = document.createElement('tr');
    const cells = [cohort.cohort, format.format(cohort.users)];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      row.append(td);
    }
    cohort.retention.forEach((share, offset) => {
      const td = document.createElement('td');
      td.textContent = percent(share);
      td.title = `${format.format(cohort.active[offset])} / ${format.format(cohort.users)}`;
      td.className = 'heat-cell';
      td.style.backgroundColor = `rgba(47, 111, 222, ${Math.min(1, share).toFixed(3)})`;
      if (share > 0.5) td.classList.add('dark');
      row.append(td);
    });
    body.append(row);
  }
}

$('#cohort-period').addEventListener('change', () => {
  if (api.report) renderCohorts(api.report.retention);
});

$('#funnel-slice').addEventListener('change', () => {
  if (api.report) renderFunnelTable(api.report.funnel);
});

function analyzeFromUi(file) {
  $('#mapping-form').hidden = true;
  $('#options-hint').hidden = true;
  analyzeFile(file, readOptions()).catch((error) => console.warn('analysis failed:', error.message));
}

// Embedding: a host page that shows this page in an iframe sends
// {type: 'behavior-lens:analyze', id, file | buffer, name, options} with
// postMessage. Replies go to that window and origin only:
// behavior-lens:progress {id, step, share}, behavior-lens:report {id,
// report} and behavior-lens:error {id, message}.

/** @type {{source: MessageEventSource, origin: string, id: unknown} | null} */
let embedRequest = null;

function embedReply(kind, fields) {
  if (!embedRequest) return;
  const { source, origin, id } = embedRequest;
  source.postMessage({ type: `behavior-lens:${kind}`, id, ...fields }, { targetOrigin: origin });
}

window.addEventListener('message', (event) => {
  const message = event.data;
  if (!message || message.type !== 'behavior-lens:analyze' || !event.source) return;
  let file = message.file;
  if (!(file instanceof Blob) && message.buffer instanceof ArrayBuffer) {
    file = new Blob([message.buffer]);
  }
  const reply = (kind, fields) =>
    event.source.postMessage({ type: `behavior-lens:${kind}`, id: message.id, ...fields }, { targetOrigin: event.origin });
  if (!(file instanceof Blob)) {
    reply('error', { message: 'expected a File, Blob or ArrayBuffer in "file" or "buffer"' });
    return;
  }
  if (document.body.dataset.status === 'working') {
    reply('error', { message: 'an analysis is already running; wait for its report' });
    return;
  }
  const name = typeof message.name === 'string' ? message.name : file.name || 'log.csv';
  const named = file instanceof File && file.name === name ? file : new File([file], name);
  embedRequest = { source: event.source, origin: event.origin, id: message.id };
  analyzeFile(named, typeof message.options === 'object' && message.options ? message.options : {})
    .then((report) => reply('report', { report }))
    .catch((error) => reply('error', { message: error.message }))
    .finally(() => {
      embedRequest = null;
    });
});

$('#reanalyze').addEventListener('click', () => {
  if (!lastFile) return;
  analyzeFile(lastFile, readOptions()).catch((error) => console.warn('analysis failed:', error.message));
});

$('#file-input').addEventListener('change', (event) => {
  const file = event.target.files?.[0];
  if (file) analyzeFromUi(file);
  event.target.value = '';
});

const dropZone = $('#drop-zone');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  const file = event.dataTransfer?.files?.[0];
  if (file) analyzeFromUi(file);
});

$('#try-sample').addEventListener('click', async () => {
  setStatus('working');
  showProgress('read', 0);
  try {
    const response = await fetch('./samples/rees46-2019-oct-head.csv');
    if (!response.ok) throw new Error(`sample not found (HTTP ${response.status})`);
    const blob = await response.blob();
    analyzeFromUi(new File([blob], 'rees46-2019-oct-head.csv', { type: 'text/csv' }));
  } catch (error) {
    hideProgress();
    // The panels below still show the previous file; hide them so they are
    // not read as this file's results.
    for (const id of REPORT_PANELS) $(id).hidden = true;
    showError(error.message);
    setStatus('error');
  }
});

$('#lang').addEventListener('change', (event) => {
  lang = event.target.value === 'zh' ? 'zh' : 'en';
  applyLanguage();
});

applyLanguage();
showProgress('loading', 0);
worker.addEventListener('message', (event) => {
  if (event.data.type === 'ready') hideProgress();
});
