// The Paths view: a Sankey of session paths (by step, or every transition
// from one event type to the next), common paths, the transition matrix
// and the step matrix.

import { pathSankeyOption, stateName, transitionSankeyOption } from '../chart-options.js';
import { clearChart, drawChart } from '../charts.js';
import { percent } from '../format.js';
import { commonPathRows } from '../rows.js';
import { fillMatrix, fillTable } from '../tables.js';

const $ = (selector) => document.querySelector(selector);

/** Calls `rerender` when the Sankey layout changes. */
export function setup(rerender) {
  $('#sankey-mode').addEventListener('change', rerender);
}

async function renderSankey(paths, ui) {
  const container = $('#sankey-chart');
  const note = $('#sankey-note');
  if ($('#sankey-mode').value === 'transitions') {
    const option = transitionSankeyOption(paths.event_transitions, ui);
    note.textContent = ui.t('sankeyTransitionsNote');
    if (option) {
      await drawChart(container, option);
    } else {
      clearChart(container);
      note.textContent = ui.t('noTransitions');
    }
    return;
  }
  const layout = pathSankeyOption(paths, ui);
  if (!layout) {
    clearChart(container);
    note.textContent = ui.t('noTransitions');
    return;
  }
  note.textContent = ui
    .t('sankeyStepsNote')
    .replace('{paths}', String(paths.common_paths.length))
    .replace('{share}', percent(layout.share))
    .replace('{steps}', String(paths.truncated_paths_longer_than));
  await drawChart(container, layout.option);
}

function renderMatrices(paths, ui) {
  fillTable($('#common-paths'), commonPathRows(paths, ui));
  const matrix = paths.event_transitions;
  const last = matrix.states.length - 1;
  const used = matrix.states
    .map((_, index) => index)
    .filter((index) => matrix.counts[index].some((n) => n > 0) || matrix.counts.some((row) => row[index] > 0));
  const targets = used.filter((index) => index !== 0);
  fillMatrix(
    $('#transitions'),
    targets.map((index) => stateName(matrix.states[index], ui)),
    used
      .filter((index) => index !== last)
      .map((from) => ({
        label: stateName(matrix.states[from], ui),
        values: targets.map((to) => matrix.probabilities[from][to]),
        title: (k) => ui.number(matrix.counts[from][targets[k]]),
      })),
  );
  const kinds = paths.step_kinds
    .map((kind, column) => ({ kind, column }))
    .filter(({ column }) => paths.step_matrix.some((row) => row[column] > 0));
  fillMatrix(
    $('#step-matrix'),
    kinds.map(({ kind }) => ui.t(`kind.${kind}`)),
    paths.step_matrix
      .map((row, step) => ({
        label: `${ui.t('stepN').replace('{n}', String(step + 1))} (${ui.number(paths.step_users[step])})`,
        values: kinds.map(({ column }) => row[column]),
      }))
      .filter((_, step) => paths.step_users[step] > 0),
  );
}

export async function render(report, ui) {
  renderMatrices(report.paths, ui);
  await renderSankey(report.paths, ui);
}
