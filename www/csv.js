// CSV tables of a report. The funnel, cohort and RFM tables match the ones
// `behavior-lens analyze --out DIR` writes (src/report/tables.rs) byte for
// byte: the same columns, number formats and formula-injection guard.

import { rustDisplay, rustFixed } from './format.js';

/**
 * Quotes a field when it contains a comma, quote or line break. A leading
 * `=`, `+`, `-` or `@` gets a `'` so spreadsheets do not run it as a
 * formula.
 * @param {string} value
 */
export function csvField(value) {
  const text = String(value);
  const guarded = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[,"\n\r]/.test(guarded) ? `"${guarded.replaceAll('"', '""')}"` : guarded;
}

/** Joins rows of already formatted fields into CSV text with a header. */
function csvText(header, rows) {
  return [header, ...rows].map((row) => `${row.join(',')}\n`).join('');
}

/** Renders one row per funnel step of every table: users, sessions, categories, brands. */
export function funnelCsv(report) {
  const funnel = report.funnel;
  const rows = [];
  const write = (unit, table) => {
    for (const step of table.steps) {
      const median = step.median_seconds_from_previous;
      rows.push([
        unit,
        csvField(table.name),
        step.step,
        step.count,
        rustFixed(step.conversion, 6),
        rustFixed(step.step_conversion, 6),
        step.drop_off,
        median === null || median === undefined ? '' : rustDisplay(median),
      ]);
    }
  };
  write('user', funnel.by_user);
  write('session', funnel.by_session);
  for (const table of funnel.by_category) write('user_by_category', table);
  for (const table of funnel.by_brand) write('user_by_brand', table);
  const header = [
    'unit',
    'slice',
    'step',
    'count',
    'conversion',
    'step_conversion',
    'drop_off',
    'median_seconds_from_previous',
  ];
  return csvText(header, rows);
}

/** Renders one row per cohort and period offset. */
export function cohortsCsv(report) {
  const rows = [];
  for (const table of report.retention.cohorts) {
    for (const cohort of table.cohorts) {
      cohort.active.forEach((active, offset) => {
        if (offset >= cohort.retention.length) return;
        rows.push([
          table.period,
          cohort.cohort,
          cohort.users,
          offset,
          active,
          rustFixed(cohort.retention[offset], 6),
        ]);
      });
    }
  }
  return csvText(['period', 'cohort', 'users', 'offset', 'active', 'retention'], rows);
}

/** Renders one row per listed RFM customer. */
export function rfmCsv(report) {
  const rows = report.rfm.customers_list.map((customer) => [
    csvField(customer.user),
    rustFixed(customer.recency_days, 3),
    customer.orders,
    customer.monetary === null ? '' : rustFixed(customer.monetary, 2),
    customer.r,
    customer.f,
    customer.m === null ? '' : customer.m,
    customer.segment,
  ]);
  return csvText(['user', 'recency_days', 'orders', 'monetary', 'r', 'f', 'm', 'segment'], rows);
}

/** Renders one row per user of the segment scatter, or null without segments. */
export function segmentsCsv(report) {
  const segments = report.segments;
  if (!segments?.available || !Array.isArray(segments.points)) return null;
  const names = new Map(segments.segments.map((segment) => [segment.id, segment.name]));
  const rows = segments.points.map((point) => [
    csvField(point.user),
    point.segment,
    csvField(names.get(point.segment) ?? ''),
    rustFixed(point.x, 6),
    rustFixed(point.y, 6),
  ]);
  return csvText(['user', 'segment_id', 'segment', 'x', 'y'], rows);
}

/** Renders one row per recommended item, or null without recommendations. */
export function recommendationsCsv(report) {
  const users = report.recommendations?.users;
  if (!Array.isArray(users)) return null;
  const rows = [];
  for (const user of users) {
    user.items.forEach((item, index) => {
      const because = item.because.map((reason) => `${reason.event}:${rustFixed(reason.weight, 3)}`).join(' ');
      rows.push([
        csvField(user.user),
        index + 1,
        csvField(item.item),
        item.category === null || item.category === undefined ? '' : csvField(item.category),
        rustFixed(item.score, 6),
        csvField(because),
      ]);
    });
  }
  return csvText(['user', 'rank', 'item', 'category', 'score', 'because'], rows);
}

/** Renders one row per next-step candidate of the text model, or null without one. */
export function nextStepsCsv(report) {
  const forecasts = report.text_model?.forecasts;
  if (!Array.isArray(forecasts)) return null;
  const rows = [];
  for (const forecast of forecasts) {
    forecast.candidates.forEach((candidate, index) => {
      rows.push([
        csvField(forecast.user),
        index + 1,
        csvField(candidate.action),
        candidate.kind,
        candidate.item === null || candidate.item === undefined ? '' : csvField(candidate.item),
        rustFixed(candidate.probability, 6),
      ]);
    });
  }
  return csvText(['user', 'rank', 'action', 'kind', 'item', 'probability'], rows);
}

/**
 * Lists the CSV tables the report has, as `[file name, text]` pairs.
 * Segments and recommendations are left out when the report lacks them.
 */
export function csvTables(report) {
  const tables = [
    ['funnel.csv', funnelCsv(report)],
    ['cohorts.csv', cohortsCsv(report)],
    ['rfm.csv', rfmCsv(report)],
    ['segments.csv', segmentsCsv(report)],
    ['recommendations.csv', recommendationsCsv(report)],
    ['next-steps.csv', nextStepsCsv(report)],
  ];
  return tables.filter(([, text]) => text !== null);
}
