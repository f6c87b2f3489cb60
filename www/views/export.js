// The Export view: buttons that download the report JSON, each CSV table
// and the HTML report.

import { csvTables } from '../csv.js';
import { buildHtmlReport, download, exportBaseName } from '../export.js';
import { element } from './common.js';

const $ = (selector) => document.querySelector(selector);

const state = { report: null, ui: null };

function exportButton(label, onClick) {
  const button = element('button', label);
  button.type = 'button';
  button.addEventListener('click', onClick);
  return button;
}

/** Downloads the report as JSON text, exactly the object the page shows. */
export function downloadJson(report) {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  download(new Blob([text], { type: 'application/json' }), `${exportBaseName(report)}-report.json`);
}

/** Builds the HTML report and downloads it. */
export async function downloadHtml(report, ui) {
  const status = $('#export-status');
  status.textContent = ui.t('exportBuilding');
  try {
    const text = await buildHtmlReport(report, ui);
    download(new Blob([text], { type: 'text/html' }), `${exportBaseName(report)}-report.html`);
    status.textContent = '';
  } catch (error) {
    console.error('building the HTML report failed:', error);
    status.textContent = `${ui.t('exportFailed')}: ${error.message}`;
  }
}

export function setup() {
  $('#export-json').addEventListener('click', () => {
    if (state.report) downloadJson(state.report);
  });
  $('#export-html').addEventListener('click', () => {
    if (state.report) downloadHtml(state.report, state.ui);
  });
}

export function render(report, ui) {
  state.report = report;
  state.ui = ui;
  const list = $('#export-csv');
  list.replaceChildren(
    ...csvTables(report).map(([name, text]) => {
      const button = exportButton(name, () => {
        download(new Blob([text], { type: 'text/csv' }), `${exportBaseName(report)}-${name}`);
      });
      button.dataset.file = name;
      return button;
    }),
  );
}
