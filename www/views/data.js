// The Data view's report part: warnings, rejected rows and the column
// mapping that was used.

import { fillTable } from '../tables.js';
import { element } from './common.js';

const $ = (selector) => document.querySelector(selector);

export function render(report, ui) {
  const summary = report.summary;
  const warnings = $('#warnings');
  warnings.replaceChildren();
  const messages = [...summary.warnings];
  if (report.input.mapping_unsure) messages.unshift(ui.t('unsure'));
  if (report.input.duplicates_dropped > 0) {
    messages.push(ui.t('duplicatesDropped').replace('{count}', ui.number(report.input.duplicates_dropped)));
  }
  if (messages.length === 0) messages.push(ui.t('noWarnings'));
  for (const text of messages) warnings.append(element('li', text));

  fillTable(
    $('#rejections'),
    summary.rejected_reasons.map((reason) => [reason.reason, ui.number(reason.count), reason.first_line]),
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
  $('#no-rejections').hidden = summary.rejected_reasons.length > 0;
  fillTable(
    $('#mapping'),
    report.input.mapping.map((entry) => [entry.field, entry.column]),
  );
  const sessions =
    report.input.session_source === 'inactivity_gap'
      ? ui.t('sessionSource.inactivity_gap').replace('{minutes}', ui.number(report.input.session_gap_minutes))
      : ui.label('sessionSource', report.input.session_source);
  $('#reading-line').textContent = [
    `${ui.t('encoding')}: ${summary.encoding}`,
    `${ui.t('timeBasis')}: ${ui.label('timeBasis', report.input.time_basis)}`,
    `${ui.t('sessionSource')}: ${sessions}`,
  ].join(' · ');
}
