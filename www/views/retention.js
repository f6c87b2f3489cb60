// The Retention view: cohort heatmap, retention curves and cohort table for
// the chosen period, lifecycle bars and the churn-risk list.

import { cohortHeatmapOption, lifecycleOption, retentionCurvesOption } from '../chart-options.js';
import { clearChart, drawChart } from '../charts.js';
import { percent } from '../format.js';
import { churnText } from '../rows.js';
import { DataTable, fillHeader, fillTable, heatCell } from '../tables.js';
import { element } from './common.js';

const $ = (selector) => document.querySelector(selector);

// Row height of the cohort heatmap, in CSS pixels.
const HEATMAP_ROW_PX = 22;

/** Calls `rerender` when the cohort period changes. */
export function setup(rerender) {
  $('#cohort-period').addEventListener('change', rerender);
}

function fillPeriods(retention, ui) {
  const select = $('#cohort-period');
  const previous = select.value;
  select.replaceChildren();
  for (const table of retention.cohorts) {
    const option = document.createElement('option');
    option.value = table.period;
    option.textContent = ui.t(`period.${table.period}`);
    select.append(option);
  }
  // Default to the finest period whose rows fit on a screen (31 columns).
  const shown = retention.cohorts.filter((table) => table.cohorts.length > 0);
  const fitting = shown.find((table) => Math.max(...table.cohorts.map((c) => c.retention.length)) <= 31);
  const keep = shown.some((table) => table.period === previous);
  select.value = keep ? previous : ((fitting ?? shown.at(-1))?.period ?? 'day');
}

function fillCohortTable(table, ui) {
  const grid = $('#cohorts');
  const width = Math.max(...table.cohorts.map((cohort) => cohort.retention.length));
  fillHeader(grid, [ui.t('cohort'), ui.t('cohortUsers'), ...Array.from({ length: width }, (_, k) => `+${k}`)]);
  const body = grid.querySelector('tbody');
  body.replaceChildren();
  for (const cohort of table.cohorts) {
    const row = document.createElement('tr');
    row.append(element('td', cohort.cohort), element('td', ui.number(cohort.users)));
    cohort.retention.forEach((share, offset) => {
      const td = heatCell(percent(share), share);
      td.title = `${ui.number(cohort.active[offset])} / ${ui.number(cohort.users)}`;
      row.append(td);
    });
    body.append(row);
  }
  grid.hidden = false;
}

async function renderCohorts(retention, ui) {
  const table = retention.cohorts.find((entry) => entry.period === $('#cohort-period').value);
  $('#cohort-note').textContent = table?.note ?? (retention.cohorts.length === 0 ? (retention.note ?? '') : '');
  const hasCohorts = Boolean(table && table.cohorts.length > 0);
  $('#cohort-details').hidden = !hasCohorts;
  if (!hasCohorts) {
    clearChart($('#cohort-chart'));
    clearChart($('#curve-chart'));
    return;
  }
  fillCohortTable(table, ui);
  const heatmap = $('#cohort-chart');
  heatmap.style.height = `${Math.min(900, 90 + table.cohorts.length * HEATMAP_ROW_PX)}px`;
  await drawChart(heatmap, cohortHeatmapOption(table, ui));
  await drawChart($('#curve-chart'), retentionCurvesOption(table, ui));
}

async function renderLifecycle(retention, ui) {
  fillTable(
    $('#lifecycle'),
    retention.lifecycle.map((row) => [
      row.period,
      ui.number(row.new),
      ui.number(row.returning),
      ui.number(row.resurrecting),
      ui.number(row.dormant),
    ]),
  );
  $('#lifecycle-details').hidden = retention.lifecycle.length === 0;
  if (retention.lifecycle.length === 0) {
    clearChart($('#lifecycle-chart'));
    return;
  }
  await drawChart($('#lifecycle-chart'), lifecycleOption(retention.lifecycle, ui));
}

function renderChurn(report, ui) {
  const churn = report.retention.churn;
  $('#churn-line').textContent = churnText(report, ui);
  DataTable.of($('#at-risk')).show(
    [
      { key: 'user', value: (risk) => risk.user },
      { key: 'lastEvent', value: (risk) => risk.last_event },
      { key: 'recency', value: (risk) => risk.recency_days, text: (risk) => risk.recency_days.toFixed(1), numeric: true },
      { key: 'events', value: (risk) => risk.events, text: (risk) => ui.number(risk.events), numeric: true },
      { key: 'risk', value: (risk) => risk.recency_risk, text: (risk) => risk.recency_risk.toFixed(2), numeric: true },
    ],
    churn?.at_risk ?? [],
    ui.t,
  );
}

export async function render(report, ui) {
  const retention = report.retention;
  fillPeriods(retention, ui);
  renderChurn(report, ui);
  await renderCohorts(retention, ui);
  await renderLifecycle(retention, ui);
}
