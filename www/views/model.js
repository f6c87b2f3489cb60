// The Model view: the behavior model's facts and perplexity beside the
// baselines, a loss curve that grows while it trains, saving and loading
// the model file, and the evaluation against baselines.

import { lossCurveOption } from '../chart-options.js';
import { clearChart, drawChart } from '../charts.js';
import { decimal, percent } from '../format.js';
import { perplexityRows } from '../rows.js';
import { fillTable } from '../tables.js';
import { element, fill, showAvailability } from './common.js';

const $ = (selector) => document.querySelector(selector);

// The behavior model's method name in the evaluation tables.
export const MODEL_METHOD = 'behavior_gpt';
// Live loss-curve redraws while training, at most one per this many ms.
const LIVE_REDRAW_MS = 500;
const CUTOFFS = [5, 10, 20];
const METRICS = ['hit_rate', 'ndcg', 'precision', 'recall', 'f1'];

const live = { points: [], offset: 0, lastStep: 0, lastSteps: 0, timer: null, ui: null, visible: () => false };


/** Wires the model buttons to the page's handlers. */
export function setup({ onSave, onLoad, onForget, isVisible }) {
  live.visible = isVisible;
  $('#model-save').addEventListener('click', onSave);
  $('#model-forget').addEventListener('click', onForget);
  $('#model-load').addEventListener('change', (event) => {
    const file = event.target.files?.[0];
    if (file) onLoad(file);
    event.target.value = '';
  });
}

/** Clears the live loss curve when a new analysis starts. */
export function startTraining(ui) {
  finishTraining();
  live.points = [];
  live.offset = 0;
  live.lastStep = 0;
  live.lastSteps = 0;
  live.ui = ui;
}

/** Stops live redraws once the analysis has ended, so they cannot replace the final curve. */
export function finishTraining() {
  clearTimeout(live.timer);
  live.timer = null;
}

/**
 * Adds one `train-progress` message to the live curve. Steps restart at
 * each epoch when the worker counts them per epoch, so a step lower than
 * the previous one moves the curve on by one epoch.
 */
export function addTrainingProgress(message, ui) {
  if (message.step < live.lastStep) live.offset += live.lastSteps || live.lastStep;
  live.lastStep = message.step;
  live.lastSteps = message.steps;
  live.points.push({
    step: live.offset + message.step,
    loss: message.loss ?? null,
    validation_loss: message.validation_loss ?? null,
  });
  live.ui = ui;
  $('#model-training').hidden = false;
  $('#model-training').textContent = describeTraining(message, ui);
  if (live.timer === null && live.visible()) {
    live.timer = setTimeout(() => {
      live.timer = null;
      drawChart($('#loss-chart'), lossCurveOption(live.points, live.ui));
    }, LIVE_REDRAW_MS);
  }
}

/** Describes a train-progress message in one line. */
export function describeTraining(message, ui) {
  return fill(ui, 'trainingLine', {
    epoch: message.epoch,
    epochs: message.epochs,
    step: message.step,
    steps: message.steps,
    loss: decimal(message.loss, 3),
    validation: decimal(message.validation_loss, 3),
    speed: ui.number(Math.round(message.tokens_per_second ?? 0)),
  });
}

function renderFacts(model, ui) {
  const facts = $('#model-facts');
  facts.replaceChildren();
  const add = (key, value) => facts.append(element('dt', ui.t(key)), element('dd', value));
  add('modelSource', ui.label('modelSource', model.source));
  add('modelSize', fill(ui, 'modelSizeValue', {
    parameters: ui.number(model.parameters),
    layers: model.layers,
    width: model.width,
    heads: model.heads,
    context: model.context,
  }));
  add('vocabulary', fill(ui, 'vocabularyValue', {
    vocab: ui.number(model.vocab_size),
    items: ui.number(model.item_tokens),
    categories: ui.number(model.category_tokens),
    coverage: percent(model.coverage),
  }));
  add('trainingRun', fill(ui, 'trainingRunValue', {
    epochs: model.epochs,
    steps: ui.number(model.steps),
    best: model.best_epoch ?? '–',
    stopped: ui.label('stopped', model.stopped),
    seconds: decimal(model.seconds, 1),
    speed: ui.number(Math.round(model.tokens_per_second ?? 0)),
  }));

  add('finalLoss', `${decimal(model.train_loss, 3)} / ${decimal(model.validation_loss, 3)}`);
  add('refit', ui.t(model.refit_on_all_events ? 'yes' : 'no'));
  add('dtype', model.dtype);

  fillTable($('#perplexity'), perplexityRows(model, ui));
}

function metricText(row, key) {
  const value = row[key];
  const interval = row.intervals?.[key];
  const text = decimal(value, 3);
  return interval ? `${text} [${decimal(interval[0], 3)}–${decimal(interval[1], 3)}]` : text;
}

const METRIC_KEYS = [
  ...CUTOFFS.map((k) => `hit_rate_at_${k}`),
  ...CUTOFFS.map((k) => `ndcg_at_${k}`),
  'mrr',
  ...METRICS.slice(2).flatMap((metric) => CUTOFFS.map((k) => `${metric}_at_${k}`)),
];

function fillRankingTable(table, rows, best, ui) {
  const head = table.querySelector('thead tr');
  head.replaceChildren(
    element('th', ui.t('method')),
    element('th', ui.t('users')),
    ...METRIC_KEYS.map((key) => element('th', ui.label('metric', key))),
  );
  fillTable(
    table,
    rows.map((row) => [
      methodName(row.method, ui) + (row.method === best ? ` (${ui.t('bestBaseline')})` : ''),
      ui.number(row.users),
      ...METRIC_KEYS.map((key) => metricText(row, key)),
    ]),
  );
}

/** Names an evaluation method in the interface language, or by its id. */
export function methodName(method, ui) {
  return method === MODEL_METHOD ? ui.t('behaviorModel') : ui.label('method', method);
}

/**
 * Compares the behavior model with the best baseline on hit rate at 10.
 * @returns {{key: string, values: object} | null} the i18n key of the verdict and its values
 */
export function compareWithBaseline(rows, bestBaseline) {
  const model = rows?.find((row) => row.method === MODEL_METHOD);
  const baselines = (rows ?? []).filter((row) => row.method !== MODEL_METHOD);
  const baseline =
    baselines.find((row) => row.method === bestBaseline) ??
    baselines.reduce((best, row) => (best === null || row.hit_rate_at_10 > best.hit_rate_at_10 ? row : best), null);
  if (!model || !baseline) return null;
  const values = {
    baseline: baseline.method,
    model: decimal(model.hit_rate_at_10, 3),
    base: decimal(baseline.hit_rate_at_10, 3),
  };
  if (model.hit_rate_at_10 < baseline.hit_rate_at_10) return { key: 'verdictLoses', values, loses: true };
  if (model.hit_rate_at_10 === baseline.hit_rate_at_10) return { key: 'verdictTies', values, loses: false };
  return { key: 'verdictWins', values, loses: false };
}

function renderVerdict(evaluation, ui) {
  const verdict = $('#eval-verdict');
  const result = compareWithBaseline(evaluation.next_item, evaluation.best_baseline?.next_item);
  verdict.hidden = !result;
  if (!result) return;
  verdict.textContent = fill(ui, result.key, { ...result.values, baseline: methodName(result.values.baseline, ui) });
  verdict.classList.toggle('loses', result.loses);
}

function renderEvaluation(report, ui) {
  const evaluation = report.evaluation;
  if (!showAvailability($('#eval-unavailable'), $('#eval-body'), evaluation, ui)) return;
  $('#eval-line').textContent = fill(ui, 'evaluationLine', {
    split: evaluation.split,
    cutoff: evaluation.cutoff ?? '–',
    before: ui.number(evaluation.users_before),
    after: ui.number(evaluation.users_after),
  });
  const repeat = evaluation.repeat_purchases ? 'repeatIncluded' : 'repeatExcluded';
  const detected = evaluation.repeat_purchases_detected ? ` ${ui.t('repeatDetected')}` : '';
  $('#eval-repeat').textContent = `${ui.t(repeat)}${detected}`;
  $('#eval-note').textContent = evaluation.note ?? '';

  renderVerdict(evaluation, ui);
  fillRankingTable($('#eval-next-item'), evaluation.next_item ?? [], evaluation.best_baseline?.next_item, ui);
  fillRankingTable($('#eval-purchase'), evaluation.purchase ?? [], evaluation.best_baseline?.purchase, ui);
  const classification = (rows) =>
    (rows ?? []).map((row) => [
      methodName(row.method, ui),
      ui.number(row.users),
      ui.number(row.positives),
      decimal(row.auc, 3),
      decimal(row.f1, 3),
      decimal(row.threshold, 3),
    ]);

  fillTable($('#eval-propensity'), classification(evaluation.propensity));
  fillTable($('#eval-churn'), classification(evaluation.churn));
  fillTable(
    $('#eval-coverage'),
    (evaluation.coverage ?? []).map((row) => [methodName(row.method, ui), percent(row.catalog_coverage), percent(row.popular_share)]),
  );
}

export async function render(report, ui, { canSave }) {
  const model = report.model;
  $('#model-save').disabled = !(model && canSave());
  renderEvaluation(report, ui);
  const chart = $('#loss-chart');
  if (showAvailability($('#model-unavailable'), $('#model-body'), model, ui)) {
    $('#model-training').hidden = true;
    renderFacts(model, ui);
  }
  const curve = model ? (model.loss_curve ?? []) : live.points;
  if (curve.length > 0) {
    await drawChart(chart, lossCurveOption(curve, ui));
  } else {
    clearChart(chart);
  }
}
