// The Text model view: choosing a text GPT-2, and what it read in the
// users' behavior sentences: likely next steps, a backtest of them, similar
// users beside the behavior model's, and segments.

import { decimal, percent } from '../format.js';
import { fillTable } from '../tables.js';
import { element, fill, showAvailability } from './common.js';

const $ = (selector) => document.querySelector(selector);

// Candidates shown per user in the forecast table.
const SHOWN_CANDIDATES = 3;

/**
 * Wires the text model controls to the page's handlers.
 * @param {{onLoad: (file: File) => void, onChoose: (entry: object|null) => void, onForget: () => void}} handlers
 */
export function setup({ onLoad, onChoose, onForget }) {
  $('#text-model-load').addEventListener('change', (event) => {
    const file = event.target.files?.[0];
    if (file) onLoad(file);
    event.target.value = '';
  });
  $('#text-model-choice').addEventListener('change', (event) => {
    const index = event.target.selectedIndex - 1;
    onChoose(index >= 0 ? siteModels[index] : null);
  });
  $('#text-model-forget').addEventListener('click', onForget);
}

/** @type {{file: string, label: string}[]} text models listed by the site */
let siteModels = [];

/** Lists the site's text models (from models/models.json) in the chooser. */
export function showSiteModels(models, ui) {
  siteModels = models;
  const select = $('#text-model-choice');
  select.replaceChildren(element('option', ui.t('noTextModel')), ...models.map((entry) => element('option', entry.label)));
  $('#text-model-site').hidden = models.length === 0;
}

/** Shows which text model the next analysis uses. */
export function showChosen(chosen, ui) {
  $('#text-model-loaded').hidden = !chosen;
  $('#text-model-forget').hidden = !chosen;
  if (chosen) $('#text-model-loaded').textContent = fill(ui, 'textModelChosen', { name: chosen.name });
  const index = chosen?.site ? siteModels.findIndex((entry) => entry.file === chosen.site) + 1 : 0;
  $('#text-model-choice').selectedIndex = Math.max(0, index);
}

/** Shows a message about choosing or reading a text model file. */
export function showStatus(text) {
  $('#text-model-status').textContent = text;
}

function names(neighbors) {
  return neighbors.map((entry) => `${entry.user} (${decimal(entry.similarity, 2)})`).join(', ') || '–';
}

function renderFacts(text, ui) {
  const facts = $('#text-facts');
  facts.replaceChildren();
  const model = text.model;
  const add = (key, value) => facts.append(element('dt', ui.t(key)), element('dd', value));
  add('textModelName', model.name);
  add('textModelShape', fill(ui, 'textModelShapeValue', {
    layers: model.layers,
    width: model.width,
    heads: model.heads,
    vocab: ui.number(model.vocab_size),
    parameters: ui.number(model.parameters),
  }));
  add('dtype', model.weight_type);
  add('textModelLang', `${ui.label('langName', model.lang)} (${model.lang_reason})`);
  add('textModelRun', fill(ui, 'textModelRunValue', {
    users: ui.number(text.users),
    tokens: ui.number(text.tokens),
    seconds: decimal(text.seconds, 1),
    speed: ui.number(Math.round(text.tokens_per_second)),
  }));
  $('#text-note').textContent = text.note ?? '';
}

function renderForecasts(text, ui) {
  fillTable(
    $('#text-forecasts'),
    text.forecasts.map((forecast) => [
      forecast.user,
      forecast.recent,
      forecast.kinds
        .slice(0, SHOWN_CANDIDATES)
        .map((share) => `${ui.label('kind', share.kind)} ${percent(share.probability)}`)
        .join('; '),
      forecast.candidates
        .slice(0, SHOWN_CANDIDATES)
        .map((candidate) => `${candidate.action} ${percent(candidate.probability)}`)
        .join('; '),
    ]),
  );
  const backtest = text.backtest;
  $('#text-backtest').hidden = !backtest;
  if (!backtest) {
    $('#text-backtest-line').textContent = ui.t('textBacktestNone');
    return;
  }
  $('#text-backtest-line').textContent = fill(ui, 'textBacktestLine', {
    users: ui.number(backtest.users),
    offered: percent(backtest.step_offered),
    top3: percent(backtest.step_top_3),
  });
  fillTable($('#text-backtest'), [
    [ui.t('textModelMethod'), percent(backtest.text_model)],
    [ui.t('markovKinds'), percent(backtest.markov)],
    [ui.t('mostFrequentKind'), percent(backtest.most_frequent)],
  ]);
}

function renderSimilar(text, ui) {
  const agreement = text.agreement;
  let line = ui.t('textAgreementNone');
  if (agreement) {
    line = fill(ui, 'textAgreementLine', {
      users: ui.number(agreement.users),
      overlap: percent(agreement.neighbor_overlap),
      chance: percent(agreement.neighbor_overlap_by_chance),
    });
    if (agreement.segments_adjusted_rand !== null) {
      line += ` ${fill(ui, 'textAgreementSegments', { ari: decimal(agreement.segments_adjusted_rand, 2) })}`;
    }
  }
  $('#text-agreement').textContent = line;
  fillTable(
    $('#text-similar'),
    text.similar_users.map((row) => [row.user, names(row.text), names(row.behavior)]),
  );
}

function renderSegments(text, ui) {
  const segments = text.segments;
  const table = $('#text-segments');
  if (!segments.available) {
    $('#text-segments-line').textContent = `${ui.t('notAvailable')}: ${segments.note ?? ''}`;
    fillTable(table, []);
    return;
  }
  $('#text-segments-line').textContent = fill(ui, 'segmentsLine', {
    k: segments.k,
    users: ui.number(segments.users),
    dim: segments.dim,
    chosen: segments.chosen_by,
  });
  fillTable(
    table,
    segments.segments.map((segment) => [
      segment.name,
      `${ui.number(segment.size)} (${percent(segment.share)})`,
      percent(segment.conversion),
      segment.typical_sentence ?? '–',
    ]),
  );
}

export function render(report, ui) {
  const text = report.text_model;
  const line = $('#text-unavailable');
  if (!text) {
    $('#text-body').hidden = true;
    line.hidden = false;
    line.textContent = report.text_model_note
      ? `${ui.t('notAvailable')}: ${report.text_model_note}`
      : ui.t(ui.stage === 'text' ? 'textPending' : 'textNone');
    return;
  }
  showAvailability(line, $('#text-body'), text, ui);
  renderFacts(text, ui);
  renderForecasts(text, ui);
  renderSimilar(text, ui);
  renderSegments(text, ui);
}
