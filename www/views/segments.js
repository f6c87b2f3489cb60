// The Segments view: user segments from behavior embeddings (scatter and a
// profile card per segment) and the RFM segments of buying customers.

import { segmentScatterOption } from '../chart-options.js';
import { clearChart, drawChart } from '../charts.js';
import { decimal, percent } from '../format.js';
import { rfmSegmentRows } from '../rows.js';
import { DataTable, fillHeader, fillTable, heatCell } from '../tables.js';
import { element, fill, showAvailability } from './common.js';

const $ = (selector) => document.querySelector(selector);

function namedCounts(entries, ui) {
  return entries.map((entry) => `${entry.name} (${ui.number(entry.count)})`).join(', ') || '–';
}

function segmentCard(segment, ui) {
  const card = element('article', undefined, 'profile');
  card.append(element('h4', segment.name));
  const facts = element('dl');
  const add = (key, value) => facts.append(element('dt', ui.t(key)), element('dd', value));
  add('segmentSize', `${ui.number(segment.size)} (${percent(segment.share)})`);
  add('conversion', percent(segment.conversion));
  add('orderValue', decimal(segment.order_value, 2));
  add('eventsPerUser', decimal(segment.events_per_user, 1));
  add('topCategories', namedCounts(segment.top_categories, ui));
  add('topItems', namedCounts(segment.top_items, ui));
  card.append(facts);
  if (segment.typical_sentence) {
    card.append(element('p', ui.t('typicalSentence'), 'hint'), element('p', segment.typical_sentence, 'sentence'));
  }
  return card;
}

async function renderEmbeddingSegments(report, ui) {
  const segments = report.segments;
  const chart = $('#segments-chart');
  if (!showAvailability($('#segments-unavailable'), $('#segments-body'), segments, ui)) {
    clearChart(chart);
    return;
  }
  const silhouette = (segments.silhouette ?? []).map((entry) => `k=${entry.k}: ${entry.score.toFixed(2)}`).join(', ');
  $('#segments-line').textContent = fill(ui, 'segmentsLine', {
    k: segments.k,
    users: ui.number(segments.users),
    dim: segments.dim,
    chosen: segments.chosen_by,
  });
  $('#silhouette-line').textContent = silhouette ? `${ui.t('silhouette')}: ${silhouette}` : '';
  const cards = $('#segment-cards');
  cards.replaceChildren(...segments.segments.map((segment) => segmentCard(segment, ui)));
  if (segments.points.length === 0) {
    clearChart(chart);
  } else {
    await drawChart(chart, segmentScatterOption(segments, ui));
  }
}

function renderRfmGrid(rfm, ui) {
  const grid = $('#rfm-grid');
  fillHeader(grid, ['R / F', '1', '2', '3', '4', '5']);
  const body = grid.querySelector('tbody');
  body.replaceChildren();
  grid.hidden = rfm.customers === 0;
  const largest = Math.max(1, ...rfm.grid.flat());
  for (let r = 5; r >= 1; r--) {
    const row = document.createElement('tr');
    row.append(element('th', String(r)));
    for (const count of rfm.grid[r - 1]) row.append(heatCell(ui.number(count), count / largest, '46, 158, 91'));
    body.append(row);
  }
}

function renderRfm(rfm, ui) {
  $('#rfm-note').textContent = rfm.note ?? '';
  fillTable($('#rfm-segments'), rfmSegmentRows(rfm, ui));
  renderRfmGrid(rfm, ui);
  DataTable.of($('#rfm-customers')).show(
    [
      { key: 'user', value: (row) => row.user },
      { key: 'segment', value: (row) => ui.t(`segment.${row.segment}`) },
      { key: 'recency', value: (row) => row.recency_days, text: (row) => row.recency_days.toFixed(1), numeric: true },
      { key: 'orders', value: (row) => row.orders, text: (row) => ui.number(row.orders), numeric: true },
      { key: 'monetary', value: (row) => row.monetary, text: (row) => decimal(row.monetary, 2), numeric: true },
      { key: 'rfmScores', value: (row) => `${row.r}${row.f}${row.m ?? '-'}` },
    ],
    rfm.customers_list,
    ui.t,
  );
}

export async function render(report, ui) {
  renderRfm(report.rfm, ui);
  await renderEmbeddingSegments(report, ui);
}
