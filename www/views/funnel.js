// The Funnel view: a slice selector (all users, sessions, top categories
// and brands), the funnel chart and the step table.

import { funnelOption } from '../chart-options.js';
import { drawChart } from '../charts.js';
import { funnelStepRows } from '../rows.js';
import { fillTable } from '../tables.js';

const $ = (selector) => document.querySelector(selector);

/** Calls `rerender` when the slice changes. */
export function setup(rerender) {
  $('#funnel-slice').addEventListener('change', rerender);
}

function selectedTable(funnel) {
  const [kind, index] = $('#funnel-slice').value.split(':');
  if (kind === 'session') return { kind, table: funnel.by_session };
  if (kind === 'category') return { kind, table: funnel.by_category[Number(index)] };
  if (kind === 'brand') return { kind, table: funnel.by_brand[Number(index)] };
  return { kind: 'user', table: funnel.by_user };
}

function fillSlices(funnel, ui) {
  const select = $('#funnel-slice');
  const previous = select.value;
  select.replaceChildren();
  const add = (value, label) => {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    select.append(option);
  };
  add('user', ui.t('sliceAllUsers'));
  add('session', ui.t('sliceAllSessions'));
  funnel.by_category.forEach((table, index) => add(`category:${index}`, `${ui.t('sliceCategory')}: ${table.name}`));
  funnel.by_brand.forEach((table, index) => add(`brand:${index}`, `${ui.t('sliceBrand')}: ${table.name}`));
  select.value = [...select.options].some((option) => option.value === previous) ? previous : 'user';
}

export async function render(report, ui) {
  const funnel = report.funnel;
  fillSlices(funnel, ui);
  $('#funnel-window').textContent = ui.t('windowNote').replace('{hours}', String(funnel.window_hours));
  const { kind, table } = selectedTable(funnel);
  $('#funnel-count-header').textContent = kind === 'session' ? ui.t('sessions') : ui.t('funnelUsers');
  fillTable($('#funnel'), funnelStepRows(table, ui));
  await drawChart($('#funnel-chart'), funnelOption(table, ui));
}
