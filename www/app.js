// The page: file input, progress and cancel, tabs of report views, model
// files, embedding and the offline cache. All heavy work runs in
// worker.js. Every value from the log is written with textContent or drawn
// by ECharts as text, never parsed as HTML.

import { AnalysisEngine, CancelledError } from './engine.js';
import { download } from './export.js';
import { preferredLanguage, translate } from './i18n.js';
import { resizeCharts } from './charts.js';
import * as dataView from './views/data.js';
import * as exportView from './views/export.js';
import * as funnelView from './views/funnel.js';
import * as modelView from './views/model.js';
import * as overviewView from './views/overview.js';
import * as pathsView from './views/paths.js';
import * as recommendationsView from './views/recommendations.js';
import * as retentionView from './views/retention.js';
import * as segmentsView from './views/segments.js';
import * as textView from './views/text.js';

const $ = (selector) => document.querySelector(selector);

let lang = preferredLanguage();
const numberFormats = new Map();

/** Interface text and number formatting for the views, in the current language. */
const ui = {
  get lang() {
    return lang;
  },
  /**
   * `basic` while the model trains after the first report, `text` while a
   * text model reads the sentences, `done` after.
   */
  stage: 'done',
  t: (key) => translate(lang, key),
  /** Translates `${prefix}.${value}`, or shows the value when it has no translation. */
  label: (prefix, value) => {
    const key = `${prefix}.${value}`;
    const text = translate(lang, key);
    return text === key ? String(value) : text;
  },
  number: (value) => {
    if (value === null || value === undefined) return '–';
    if (!numberFormats.has(lang)) numberFormats.set(lang, new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US'));
    return numberFormats.get(lang).format(value);
  },
};

/** @param {'loading'|'ready'|'working'|'done'|'error'|'cancelled'} status */
function setStatus(status) {
  document.body.dataset.status = status;
}

// ---- Progress, notices and errors ----

function showProgress(step, share, text) {
  $('#progress').hidden = false;
  $('#progress').dataset.step = step;
  $('#progress-step').textContent = text ?? ui.t(`step.${step}`);
  $('#progress-share').textContent = `${Math.round(share * 100)}%`;
  $('#progress-bar').value = share;
  $('#cancel').disabled = false;
}

function hideProgress() {
  $('#progress').hidden = true;
  delete $('#progress').dataset.step;
}

function showNotice(text) {
  $('#notice').textContent = text;
  $('#notice').hidden = !text;
}

function showError(message) {
  const panel = $('#error');
  panel.replaceChildren();
  const title = document.createElement('strong');
  title.textContent = ui.t('errorTitle');
  const body = document.createElement('p');
  body.textContent = message;
  panel.append(title, body);
  if (message.includes('--map')) {
    const hint = document.createElement('p');
    hint.textContent = ui.t('mapHint');
    panel.append(hint);
  }
  panel.hidden = false;
}

// ---- Views ----

const VIEWS = {
  data: dataView,
  overview: overviewView,
  funnel: funnelView,
  paths: pathsView,
  retention: retentionView,
  segments: segmentsView,
  recommendations: recommendationsView,
  model: modelView,
  text: textView,
  export: exportView,
};
// Views rendered with every report, because they are cheap and the tests
// and the embedding host read their numbers at once. The others render
// when their tab opens.
const EAGER_VIEWS = ['data', 'overview'];

let activeView = 'data';
/** Views whose content is older than the current report or language. */
const staleViews = new Set();
/** @type {Map<string, Promise<void>>} */
const rendering = new Map();

const viewSection = (name) => $(`#view-${name}`);

function viewOptions(name) {
  return name === 'model' ? { canSave: () => modelGeneration === engine.generation } : {};
}

/** Renders a view with the current report; resolves when its charts are drawn. */
function renderView(name) {
  const section = viewSection(name);
  const report = api.report;
  staleViews.delete(name);
  delete section.dataset.rendered;
  if (!report) return Promise.resolve();
  const run = (async () => {
    try {
      await VIEWS[name].render(report, ui, viewOptions(name));
      section.querySelector('.view-error')?.remove();
    } catch (error) {
      console.error(`rendering the ${name} view failed:`, error);
      let line = section.querySelector('.view-error');
      if (!line) {
        line = document.createElement('p');
        line.className = 'view-error error';
        section.prepend(line);
      }
      line.textContent = `${ui.t('viewFailed')}: ${error.message}`;
    }
    if (api.report === report) section.dataset.rendered = 'true';
  })();
  rendering.set(name, run);
  return run;
}

/**
 * Shows the view `name` and renders it when it is stale.
 * @returns {Promise<void>} resolves when the view is drawn
 */
function selectView(name) {
  if (!VIEWS[name]) throw new Error(`unknown view "${name}"; expected one of ${Object.keys(VIEWS).join(', ')}`);
  activeView = name;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.view === name;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const view of Object.keys(VIEWS)) viewSection(view).hidden = view !== name;
  if (staleViews.has(name)) return renderView(name);
  resizeCharts(viewSection(name));
  return rendering.get(name) ?? Promise.resolve();
}

function setReportVisible(visible) {
  for (const section of document.querySelectorAll('.view')) {
    section.querySelector('.empty')?.toggleAttribute('hidden', visible);
    section.querySelector('.view-body')?.toggleAttribute('hidden', !visible);
  }
}

/**
 * Shows a report in every view: the cheap ones now, the active one next,
 * and the rest when their tabs open.
 * @param {object} report
 * @param {'basic'|'text'|'done'} stage
 */
function showReport(report, stage = 'done') {
  api.report = report;
  ui.stage = stage;
  setReportVisible(true);
  for (const name of Object.keys(VIEWS)) staleViews.add(name);
  const drawn = EAGER_VIEWS.map(renderView);
  if (activeView === 'data') {
    return Promise.all([...drawn, selectView('overview')]);
  }
  return Promise.all([...drawn, staleViews.has(activeView) ? renderView(activeView) : Promise.resolve()]);
}

function clearReport() {
  api.report = null;
  setReportVisible(false);
  for (const name of Object.keys(VIEWS)) delete viewSection(name).dataset.rendered;
}

function applyLanguage() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  $('#lang').value = lang;
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = ui.t(element.dataset.i18n);
  }
  for (const element of document.querySelectorAll('[data-i18n-placeholder]')) {
    element.placeholder = ui.t(element.dataset.i18nPlaceholder);
  }
  for (const element of document.querySelectorAll('[data-i18n-label]')) {
    element.setAttribute('aria-label', ui.t(element.dataset.i18nLabel));
  }
  updateLoadedModel();
  showSiteTextModels();
  if (api.report) {
    for (const name of Object.keys(VIEWS)) staleViews.add(name);
    for (const name of EAGER_VIEWS) renderView(name);
    if (staleViews.has(activeView)) renderView(activeView);
  }
}

// ---- Analysis ----

const engine = new AnalysisEngine({
  onReady(version) {
    $('#version').textContent = `core ${version}`;
    $('#try-sample').disabled = false;
    const status = document.body.dataset.status;
    if (status === 'loading' || status === 'cancelled') setStatus('ready');
    if (window.parent !== window) {
      // Readiness carries no data, so any embedding origin may hear it.
      window.parent.postMessage({ type: 'behavior-lens:ready', version }, '*');
    }
  },
  onFailure(message) {
    setStatus('error');
    showError(message);
  },
});

/** The worker generation whose model the current report describes. */
let modelGeneration = 0;
/** @type {{name: string, bytes: ArrayBuffer} | null} a model file chosen with "Load model" */
let loadedModel = null;
/** @type {File | null} */
let lastFile = null;

/**
 * Analyzes a log file in the worker and shows the report. The first report
 * (before the model) is shown as soon as it arrives.
 * @param {File} file
 * @param {object} [options] format, mapping, encoding, timezone, lang, ...
 * @param {{model?: ArrayBuffer|null}} [extra] model bytes to use instead of training
 * @returns {Promise<object>} the report object (as in report.json)
 */
async function analyzeFile(file, options = {}, extra = {}) {
  setStatus('working');
  $('#error').hidden = true;
  showNotice('');
  showProgress('read', 0);
  lastFile = file;
  $('#reanalyze').disabled = false;
  const model = loadedModel?.bytes ?? extra.model ?? null;
  const text = textModel ? { name: textModel.name, bytes: textModel.bytes } : null;
  const textUsers = $('#text-users').value.trim();
  if (text && textUsers !== '') options = { ...options, textUsers: Number(textUsers) };
  modelView.startTraining(ui);
  try {
    const report = await engine.analyze(file, { lang, ...options }, model, {
      onProgress(step, share) {
        showProgress(step, share);
        embedReply('progress', { step, share });
      },
      onReport(partial, stage) {
        modelGeneration = engine.generation;
        showReport(partial, stage === 'model' ? 'text' : 'basic');
      },
      onTraining(message) {
        const share = message.steps > 0 ? Math.min(1, message.step / message.steps) : 0;
        showProgress('train', share, `${ui.t('step.train')}: ${modelView.describeTraining(message, ui)}`);
        modelView.addTrainingProgress(message, ui);
      },
    }, text);
    modelGeneration = engine.generation;
    modelView.finishTraining();
    hideProgress();
    await showReport(report, 'done');
    updateMappingForm(report);
    setStatus('done');
    return report;
  } catch (error) {
    modelView.finishTraining();
    hideProgress();
    if (error instanceof CancelledError) {
      showNotice(ui.t('cancelled'));
      setStatus(engine.ready ? 'ready' : 'cancelled');
      throw error;
    }
    // The views still show the previous file; hide them so they are not
    // read as this file's results.
    clearReport();
    selectView('data');
    showError(error.message);
    if (error.preview) {
      showMappingForm(error.preview.columns, Object.fromEntries(error.preview.mapping));
    }
    setStatus('error');
    throw error;
  }
}

function cancelAnalysis() {
  const outcome = engine.cancel();
  if (outcome === 'training') {
    $('#cancel').disabled = true;
    showNotice(ui.t('cancellingTraining'));
  }
}

function updateMappingForm(report) {
  if (!report.input.mapping_unsure) {
    $('#mapping-form').hidden = true;
    $('#options-hint').hidden = true;
    return;
  }
  const mapping = Object.fromEntries(
    report.input.mapping.map((entry) => [entry.field, report.input.columns.indexOf(entry.column)]),
  );
  showMappingForm(report.input.columns, mapping);
}

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
    none.textContent = ui.t('none');
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
  hint.textContent = ui.t('mapHint');
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
  if ($('#opt-day-first').checked) options.dayFirst = true;
  if ($('#opt-duplicates').checked) options.keepDuplicates = true;
  if (!$('#opt-model').checked) options.skipModel = true;
  if (!$('#mapping-form').hidden) {
    const pairs = [...document.querySelectorAll('#mapping-form select')]
      .filter((select) => select.value !== '')
      .map((select) => `${select.dataset.field}=${select.value}`);
    if (pairs.length > 0) options.mapping = pairs.join(',');
  }
  return options;
}

function analyzeFromUi(file, extra) {
  $('#mapping-form').hidden = true;
  $('#options-hint').hidden = true;
  analyzeFile(file, readOptions(), extra).catch((error) => console.warn('analysis failed:', error.message));
}

// ---- Model files ----

async function saveModel() {
  const status = $('#model-file-status');
  status.textContent = ui.t('savingModel');
  try {
    const { bytes, name } = await engine.saveModel();
    download(new Blob([bytes], { type: 'application/octet-stream' }), name || 'behavior-model.gguf');
    status.textContent = '';
  } catch (error) {
    console.error('saving the model failed:', error);
    status.textContent = `${ui.t('saveModelFailed')}: ${error.message}`;
  }
}

function updateLoadedModel() {
  $('#model-loaded').hidden = !loadedModel;
  $('#model-forget').hidden = !loadedModel;
  if (loadedModel) {
    $('#model-loaded').textContent = ui.t('modelLoaded').replace('{name}', loadedModel.name);
  }
}

async function loadModel(file) {
  try {
    loadedModel = { name: file.name, bytes: await file.arrayBuffer() };
  } catch (error) {
    console.error(`reading the model file ${file.name} failed:`, error);
    $('#model-file-status').textContent = `${ui.t('loadModelFailed')}: ${error.message}`;
    loadedModel = null;
  }
  updateLoadedModel();
}

function forgetModel() {
  loadedModel = null;
  updateLoadedModel();
}

/** Fetches the sample model when the site has one; null when it does not. */
async function fetchSampleModel() {
  try {
    const response = await fetch('./models/sample.gguf');
    if (!response.ok) return null;
    return await response.arrayBuffer();
  } catch (error) {
    console.info('no sample model, so the model will be trained:', error.message);
    return null;
  }
}

// ---- Text model ----

/** @type {{name: string, bytes: ArrayBuffer, site?: string} | null} the text model the next analysis uses */
let textModel = null;
/** @type {{file: string, label: string}[]} */
let siteTextModels = [];

async function loadTextModel(file) {
  textView.showStatus('');
  try {
    textModel = { name: file.name, bytes: await file.arrayBuffer() };
  } catch (error) {
    console.error(`reading the text model file ${file.name} failed:`, error);
    textView.showStatus(`${ui.t('textModelReadFailed')}: ${error.message}`);
    textModel = null;
  }
  textView.showChosen(textModel, ui);
}

async function chooseSiteTextModel(entry) {
  textView.showStatus('');
  if (!entry) {
    forgetTextModel();
    return;
  }
  try {
    const response = await fetch(`./models/${encodeURIComponent(entry.file)}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    textModel = { name: entry.file, bytes: await response.arrayBuffer(), site: entry.file };
  } catch (error) {
    console.error(`fetching the text model ${entry.file} failed:`, error);
    textView.showStatus(`${ui.t('textModelReadFailed')}: ${error.message}`);
    textModel = null;
  }
  textView.showChosen(textModel, ui);
}

function forgetTextModel() {
  textModel = null;
  textView.showStatus('');
  textView.showChosen(null, ui);
}

/**
 * Lists the text models the site offers in models/models.json:
 * `{"text": [{"file": "name.gguf", "label": {"en": "...", "zh": "..."}}]}`.
 * A site without the list offers none.
 */
async function fetchSiteTextModels() {
  try {
    const response = await fetch('./models/models.json');
    if (!response.ok) return [];
    const list = await response.json();
    return (Array.isArray(list?.text) ? list.text : []).filter((entry) => typeof entry?.file === 'string' && !entry.file.includes('/'));
  } catch (error) {
    console.info('no list of text models on this site:', error.message);
    return [];
  }
}

function showSiteTextModels() {
  const entries = siteTextModels.map((entry) => ({
    file: entry.file,
    label: (typeof entry.label === 'string' ? entry.label : entry.label?.[lang] ?? entry.label?.en) ?? entry.file,
  }));
  textView.showSiteModels(entries, ui);
  textView.showChosen(textModel, ui);
}

// ---- Embedding ----

// A host page that shows this page in an iframe sends
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

// ---- Controls ----

$('#reanalyze').addEventListener('click', () => {
  if (!lastFile) return;
  analyzeFile(lastFile, readOptions()).catch((error) => console.warn('analysis failed:', error.message));
});

$('#file-input').addEventListener('change', (event) => {
  const file = event.target.files?.[0];
  if (file) analyzeFromUi(file);
  event.target.value = '';
});

// The whole page accepts a dropped file; the Data tab's drop zone lights up.
const dropZone = $('#drop-zone');
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
document.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) dropZone.classList.remove('over');
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  const file = event.dataTransfer?.files?.[0];
  if (file) analyzeFromUi(file);
});

$('#try-sample').addEventListener('click', async () => {
  setStatus('working');
  showProgress('read', 0);
  try {
    const [response, model] = await Promise.all([fetch('./samples/rees46-2019-oct-head.csv'), fetchSampleModel()]);
    if (!response.ok) throw new Error(`sample not found (HTTP ${response.status})`);
    const blob = await response.blob();
    analyzeFromUi(new File([blob], 'rees46-2019-oct-head.csv', { type: 'text/csv' }), { model });
  } catch (error) {
    hideProgress();
    clearReport();
    showError(error.message);
    setStatus('error');
  }
});

$('#cancel').addEventListener('click', cancelAnalysis);

$('#lang').addEventListener('change', (event) => {
  lang = event.target.value === 'zh' ? 'zh' : 'en';
  applyLanguage();
});

const tabs = [...document.querySelectorAll('[role="tab"]')];
for (const tab of tabs) {
  tab.addEventListener('click', () => selectView(tab.dataset.view));
  tab.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    next.focus();
    selectView(next.dataset.view);
  });
}

for (const [name, view] of Object.entries(VIEWS)) {
  const rerender = () => {
    if (api.report) renderView(name);
  };
  if (name === 'model') {
    view.setup({ onSave: saveModel, onLoad: loadModel, onForget: forgetModel, isVisible: () => activeView === 'model' });
  } else if (name === 'text') {
    view.setup({ onLoad: loadTextModel, onChoose: chooseSiteTextModel, onForget: forgetTextModel });
  } else {
    view.setup?.(rerender);
  }
}

// ---- Offline cache ----

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || location.protocol === 'file:') return;
  navigator.serviceWorker.register('./sw.js').catch((error) => {
    console.warn('offline cache unavailable: registering sw.js failed:', error.message);
  });
}

// ---- Test and automation hooks ----

const api = {
  analyzeFile,
  report: null,
  /** Shows a report object without the worker; resolves when the active view is drawn. */
  render: (report) => showReport(report, 'done'),
  selectView,
  cancel: cancelAnalysis,
  views: Object.keys(VIEWS),
};
window.behaviorLens = api;

applyLanguage();
selectView('data');
fetchSiteTextModels().then((list) => {
  siteTextModels = list;
  showSiteTextModels();
});
if (document.readyState === 'complete') {
  registerServiceWorker();
} else {
  window.addEventListener('load', registerServiceWorker, { once: true });
}
