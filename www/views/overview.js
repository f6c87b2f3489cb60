// The Overview view: counts, time span, event mix and sample sentences.

import { element } from './common.js';

const $ = (selector) => document.querySelector(selector);

export function render(report, ui) {
  const summary = report.summary;
  $('#file-name').textContent = report.input.file;
  $('#format-line').textContent = `${summary.format} · ${summary.encoding} · ${report.input.detection_reason}`;
  for (const card of document.querySelectorAll('[data-summary]')) {
    const value = summary[card.dataset.summary];
    card.dataset.value = String(value);
    card.textContent = ui.number(value);
  }
  $('#time-span').textContent =
    summary.first_event && summary.last_event ? `${summary.first_event} – ${summary.last_event}` : ui.t('noDates');

  const mix = $('#event-mix');
  mix.replaceChildren();
  const total = Math.max(1, summary.events);
  for (const [kind, count] of Object.entries(summary.event_counts)) {
    if (count === 0) continue;
    const row = element('div', undefined, 'mix-row');
    const bar = element('span', undefined, `mix-bar kind-${kind}`);
    bar.style.width = `${Math.max(0.5, (count / total) * 100)}%`;
    const value = `${ui.number(count)} (${((count / total) * 100).toFixed(1)}%)`;
    row.append(element('span', ui.t(`kind.${kind}`), 'mix-label'), bar, element('span', value, 'mix-value'));
    mix.append(row);
  }

  const sentences = $('#sentences');
  sentences.replaceChildren();
  for (const text of report.sentences) sentences.append(element('li', text));
}
