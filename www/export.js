// Files the Export view offers: the report JSON, the CSV tables and one
// self-contained HTML report. The HTML report has inline styles and inline
// SVG charts, no script, and a Content-Security-Policy that blocks every
// fetch, so it opens offline. Every text from the log is escaped.

import {
  cohortHeatmapOption,
  funnelOption,
  lifecycleOption,
  lossCurveOption,
  pathSankeyOption,
  segmentScatterOption,
} from './chart-options.js';
import { chartSvg } from './charts.js';
import { decimal, percent } from './format.js';
import { churnText, commonPathRows, funnelStepRows, perplexityRows, rfmSegmentRows } from './rows.js';
import { compareWithBaseline, methodName } from './views/model.js';

// Points of the segment scatter drawn in the HTML report; a larger list is
// thinned evenly so the file stays small.
const MAX_EXPORTED_POINTS = 2000;
// Rows of long lists (users at risk, recommendations) in the HTML report.
const MAX_EXPORTED_ROWS = 50;
const CHART_WIDTH = 900;

/** Saves `blob` as a download named `name` through a temporary Blob URL. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started once click() returns; the delay covers
  // browsers that read the URL a little later.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Marks trusted markup (built here or by zrender) so `html` keeps it as is. */
class Markup {
  constructor(text) {
    this.text = text;
  }
}

const raw = (text) => new Markup(text);

/**
 * Tagged template that escapes every interpolated value except Markup and
 * arrays of Markup.
 */
function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    for (const part of parts) {
      out += part instanceof Markup ? part.text : escapeHtml(part ?? '');
    }
    out += strings[index + 1];
  });
  return raw(out);
}

function table(headers, rows) {
  return html`<table><thead><tr>${headers.map((header) => html`<th>${header}</th>`)}</tr></thead><tbody>${rows.map(
    (row) => html`<tr>${row.map((cell) => html`<td>${cell}</td>`)}</tr>`,
  )}</tbody></table>`;
}

function unavailable(section, ui) {
  const note = section?.note;
  return html`<p class="note">${note ? `${ui.t('notAvailable')}: ${note}` : `${ui.t('notAvailable')}.`}</p>`;
}

/** Yields to the event loop so a long export does not block input. */
const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

async function svg(option, height) {
  const text = await chartSvg(option, CHART_WIDTH, height);
  await pause();
  return raw(`<figure>${text}</figure>`);
}

function overviewSection(report, ui) {
  const summary = report.summary;
  const cards = ['events', 'users', 'items', 'sessions', 'rows', 'rejected'].map(
    (key) =>
      html`<div class="card"><span class="label">${ui.t(key)}</span><span class="value" data-summary="${key}" data-value="${String(summary[key])}">${ui.number(summary[key])}</span></div>`,
  );
  const total = Math.max(1, summary.events);
  const mix = Object.entries(summary.event_counts)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => {
      const width = Math.max(0.5, (count / total) * 100).toFixed(1);
      return html`<div class="mix-row"><span>${ui.t(`kind.${kind}`)}</span><span class="bar"><span style="width:${width}%"></span></span><span>${ui.number(count)} (${percent(count / total)})</span></div>`;
    });
  const span = summary.first_event && summary.last_event ? `${summary.first_event} – ${summary.last_event}` : ui.t('noDates');
  return html`<section><h2>${ui.t('overview')}</h2>
<p>${report.input.file} · ${summary.format} · ${summary.encoding}</p>
<div class="cards">${cards}</div>
<p>${ui.t('span')}: ${span}</p>
<h3>${ui.t('mix')}</h3>${mix}
<h3>${ui.t('quality')}</h3>
<ul>${(summary.warnings.length > 0 ? summary.warnings : [ui.t('noWarnings')]).map((text) => html`<li>${text}</li>`)}</ul>
${summary.rejected_reasons.length > 0 ? table([ui.t('reason'), ui.t('count'), ui.t('firstLine')], summary.rejected_reasons.map((reason) => [reason.reason, ui.number(reason.count), reason.first_line])) : ''}
</section>`;
}

async function funnelSection(report, ui) {
  const byUser = report.funnel.by_user;
  const rows = funnelStepRows(byUser, ui);
  const headers = [ui.t('step'), ui.t('funnelUsers'), ui.t('conversion'), ui.t('stepConversion'), ui.t('dropOff'), ui.t('medianTime')];
  return html`<section><h2>${ui.t('funnel')}</h2>
${await svg(funnelOption(byUser, ui), 320)}
${table(headers, rows)}
<p class="note">${ui.t('windowNote').replace('{hours}', String(report.funnel.window_hours))}</p>
</section>`;
}

async function pathsSection(report, ui) {
  const paths = report.paths;
  const layout = pathSankeyOption(paths, ui);
  const rows = commonPathRows(paths, ui);
  return html`<section><h2>${ui.t('paths')}</h2>
${layout ? await svg(layout.option, 420) : ''}
${table([ui.t('path'), ui.t('sessions'), ui.t('share')], rows)}
</section>`;
}

async function retentionSection(report, ui) {
  const retention = report.retention;
  const cohorts = retention.cohorts.find((entry) => entry.cohorts.length > 0);
  const parts = [];
  if (cohorts) {
    parts.push(html`<h3>${ui.t('cohortPeriod')}: ${ui.t(`period.${cohorts.period}`)}</h3>`);
    parts.push(await svg(cohortHeatmapOption(cohorts, ui), Math.min(900, 90 + cohorts.cohorts.length * 22)));
  } else if (retention.note) {
    parts.push(html`<p class="note">${retention.note}</p>`);
  }
  if (retention.lifecycle.length > 0) {
    parts.push(html`<h3>${ui.t('lifecycle')}</h3>`, await svg(lifecycleOption(retention.lifecycle, ui), 300));
  }
  const churn = retention.churn;
  if (churn) {
    parts.push(html`<h3>${ui.t('churn')}</h3><p>${churnText(report, ui)}</p>`);
    const rows = churn.at_risk
      .slice(0, MAX_EXPORTED_ROWS)
      .map((risk) => [risk.user, risk.last_event, risk.recency_days.toFixed(1), ui.number(risk.events), risk.recency_risk.toFixed(2)]);
    parts.push(table([ui.t('user'), ui.t('lastEvent'), ui.t('recency'), ui.t('events'), ui.t('risk')], rows));
  }
  return html`<section><h2>${ui.t('retention')}</h2>${parts}</section>`;
}

async function segmentsSection(report, ui) {
  const segments = report.segments;
  const parts = [];
  if (segments && segments.available !== false) {
    if (segments.points.length > 0) {
      parts.push(await svg(segmentScatterOption(segments, ui, MAX_EXPORTED_POINTS), 420));
    }
    const rows = segments.segments.map((segment) => [
      segment.name,
      `${ui.number(segment.size)} (${percent(segment.share)})`,
      percent(segment.conversion),
      decimal(segment.order_value, 2),
      decimal(segment.events_per_user, 1),
      segment.top_categories.map((entry) => entry.name).join(', '),
      segment.typical_sentence ?? '',
    ]);
    const headers = [ui.t('segment'), ui.t('segmentSize'), ui.t('conversion'), ui.t('orderValue'), ui.t('eventsPerUser'), ui.t('topCategories'), ui.t('typicalSentence')];
    parts.push(table(headers, rows));
  } else {
    parts.push(unavailable(segments, ui));
  }
  const rfm = report.rfm;
  parts.push(html`<h3>${ui.t('rfm')}</h3>`);
  if (rfm.note) parts.push(html`<p class="note">${rfm.note}</p>`);
  const rfmHeaders = [ui.t('segment'), ui.t('customers'), ui.t('share'), ui.t('meanRecency'), ui.t('meanOrders'), ui.t('meanMonetary')];
  parts.push(table(rfmHeaders, rfmSegmentRows(rfm, ui)));
  return html`<section><h2>${ui.t('segmentsTitle')}</h2>${parts}</section>`;
}

function recommendationsSection(report, ui) {
  const recommendations = report.recommendations;
  if (!recommendations) {
    return html`<section><h2>${ui.t('recommendations')}</h2>${unavailable(recommendations, ui)}</section>`;
  }
  const rows = recommendations.users
    .slice(0, MAX_EXPORTED_ROWS)
    .map((user) => [user.user, user.items.map((item) => item.item).join(', '), user.sentence]);
  const more =
    recommendations.users.length > MAX_EXPORTED_ROWS
      ? html`<p class="note">${ui.t('exportFirstRows').replace('{rows}', String(MAX_EXPORTED_ROWS)).replace('{total}', ui.number(recommendations.users.length))}</p>`
      : '';
  return html`<section><h2>${ui.t('recommendations')}</h2>
${table([ui.t('user'), ui.t('recommendedItems'), ui.t('sentence')], rows)}${more}
</section>`;
}

async function modelSection(report, ui) {
  const parts = [];
  const model = report.model;
  if (model) {
    parts.push(table([ui.t('method'), ui.t('perplexity')], perplexityRows(model, ui)));
    if ((model.loss_curve ?? []).length > 0) parts.push(await svg(lossCurveOption(model.loss_curve, ui), 300));
  } else {
    parts.push(unavailable(model, ui));
  }
  const evaluation = report.evaluation;
  parts.push(html`<h3>${ui.t('evaluation')}</h3>`);
  if (evaluation && evaluation.available !== false) {
    const verdict = compareWithBaseline(evaluation.next_item, evaluation.best_baseline?.next_item);
    if (verdict) {
      let text = ui.t(verdict.key);
      const values = { ...verdict.values, baseline: methodName(verdict.values.baseline, ui) };
      for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, value);
      parts.push(html`<p class="verdict">${text}</p>`);
    }
    const rows = (evaluation.next_item ?? []).map((row) => [
      methodName(row.method, ui),
      ui.number(row.users),
      decimal(row.hit_rate_at_10, 3),
      decimal(row.ndcg_at_10, 3),
      decimal(row.mrr, 3),
      decimal(row.precision_at_10, 3),
      decimal(row.recall_at_10, 3),
    ]);
    const headers = [ui.t('method'), ui.t('users'), 'HR@10', 'NDCG@10', 'MRR', 'P@10', 'R@10'];
    parts.push(table(headers, rows));
  } else {
    parts.push(unavailable(evaluation, ui));
  }
  return html`<section><h2>${ui.t('modelTitle')}</h2>${parts}</section>`;
}

const STYLE = `
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;color:#1d2430;margin:0 auto;max-width:960px;padding:16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #d6dbe3;padding-bottom:4px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px;display:block;overflow-x:auto}
th,td{border:1px solid #d6dbe3;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f1f4f8}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #d6dbe3;border-radius:6px;padding:6px 10px;min-width:110px}
.card .label{display:block;color:#5b6270;font-size:12px}.card .value{font-size:20px;font-weight:600}
.mix-row{display:grid;grid-template-columns:140px 1fr 160px;gap:8px;align-items:center}
.bar{background:#eef1f5;height:10px;border-radius:5px;overflow:hidden}.bar span{display:block;height:10px;background:#2f6fde}
figure{margin:8px 0;overflow-x:auto}svg{max-width:100%;height:auto}.note{color:#5b6270}.verdict{font-weight:600}
`;

/**
 * Builds the self-contained HTML report. Charts are drawn one at a time
 * with pauses between them, so the page stays responsive.
 * @returns {Promise<string>}
 */
export async function buildHtmlReport(report, ui) {
  const sections = [
    overviewSection(report, ui),
    await funnelSection(report, ui),
    await pathsSection(report, ui),
    await retentionSection(report, ui),
    await segmentsSection(report, ui),
    recommendationsSection(report, ui),
    await modelSection(report, ui),
  ];
  const lang = ui.lang === 'zh' ? 'zh-CN' : 'en';
  const policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
  return html`<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${ui.t('title')}: ${report.input.file}</title>
<style>${raw(STYLE)}</style></head>
<body><h1>${ui.t('title')}: ${report.input.file}</h1>
${sections}
<p class="note">${ui.t('exportFooter')}</p>
</body></html>
`.text;
}

/** Names the exported files after the log, without its extension. */
export function exportBaseName(report) {
  const base = String(report.input.file ?? 'report').replace(/\.[^.]*$/, '');
  const safe = base.replace(/[^\p{L}\p{N}._-]+/gu, '_').slice(0, 80);
  return safe || 'report';
}
