// Table rows and sentences that both a view and the HTML report show, so
// the two always agree.

import { decimal, formatDuration, percent } from './format.js';

/** Rows of a funnel table: step, count, conversion, step conversion, drop-off, median time. */
export function funnelStepRows(table, ui) {
  return table.steps.map((step) => [
    ui.t(`kind.${step.step}`),
    ui.number(step.count),
    percent(step.conversion),
    percent(step.step_conversion),
    ui.number(step.drop_off),
    formatDuration(step.median_seconds_from_previous),
  ]);
}

/** Rows of the most common session paths: path, sessions, share. */
export function commonPathRows(paths, ui) {
  return paths.common_paths.map((entry) => [
    entry.path.map((kind) => ui.t(`kind.${kind}`)).join(' → '),
    ui.number(entry.sessions),
    percent(entry.share),
  ]);
}

/** Rows of the RFM segment summary. */
export function rfmSegmentRows(rfm, ui) {
  return rfm.segments.map((segment) => [
    ui.t(`segment.${segment.segment}`),
    ui.number(segment.customers),
    percent(segment.share),
    segment.mean_recency_days.toFixed(1),
    segment.mean_orders.toFixed(2),
    decimal(segment.mean_monetary, 2),
  ]);
}

/** Rows of perplexity: the behavior model and the two baselines. */
export function perplexityRows(model, ui) {
  const perplexity = model.perplexity ?? {};
  return [
    [ui.t('behaviorModel'), decimal(perplexity.model, 2)],
    [ui.t('method.unigram'), decimal(perplexity.unigram, 2)],
    [ui.t('method.bigram'), decimal(perplexity.bigram, 2)],
  ];
}

/** The churn sentence, or the retention note when churn could not be measured. */
export function churnText(report, ui) {
  const churn = report.retention.churn;
  if (!churn) return report.retention.note ?? '';
  return ui
    .t('churnLine')
    .replace('{churned}', ui.number(churn.churned_users))
    .replace('{users}', ui.number(report.summary.users))
    .replace('{rate}', percent(churn.churn_rate))
    .replace('{days}', churn.window_days.toFixed(1));
}
