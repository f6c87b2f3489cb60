// Tables of the report views. Every cell is written with textContent.

import { percent } from './format.js';

/** Replaces the body rows of `table` with `rows` (arrays of cell values). */
export function fillTable(table, rows) {
  const body = table.querySelector('tbody');
  body.replaceChildren();
  for (const cells of rows) {
    const row = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = String(cell);
      row.append(td);
    }
    body.append(row);
  }
  table.hidden = rows.length === 0;
}

/** Writes header cells into the first row of the table's thead. */
export function fillHeader(table, labels) {
  const head = table.querySelector('thead tr');
  head.replaceChildren();
  for (const text of labels) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
}

/** Creates a shaded cell whose background darkens with `share` in 0..1. */
export function heatCell(text, share, rgb = '47, 111, 222') {
  const td = document.createElement('td');
  td.className = 'heat-cell';
  td.textContent = text;
  td.style.backgroundColor = `rgba(${rgb}, ${Math.min(1, Math.max(0, share)).toFixed(3)})`;
  if (share > 0.5) td.classList.add('dark');
  return td;
}

/**
 * Fills a shaded matrix table.
 * @param {HTMLTableElement} table
 * @param {string[]} columns column headers after the row-label column
 * @param {{label: string, values: number[], title?: (k: number) => string}[]} rows shares in 0..1
 */
export function fillMatrix(table, columns, rows) {
  fillHeader(table, ['', ...columns]);
  const body = table.querySelector('tbody');
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement('tr');
    const label = document.createElement('th');
    label.textContent = row.label;
    tr.append(label);
    row.values.forEach((share, k) => {
      const td = heatCell(share > 0 ? percent(share) : '', share);
      if (row.title) td.title = row.title(k);
      tr.append(td);
    });
    body.append(tr);
  }
  table.hidden = rows.length === 0;
}

/**
 * @typedef {object} Column
 * @property {string} key i18n key of the header
 * @property {(row: any) => string|number|null} value sort key
 * @property {(row: any) => string} [text] cell text; defaults to the sort key
 * @property {boolean} [numeric] sort descending first and align right
 */

const tables = new WeakMap();

/**
 * A table that sorts by a clicked column and shows its rows by pages, so a
 * list of thousands of users costs one page of DOM rows. Its state (sort
 * column, order, page) lives as long as the table element.
 */
export class DataTable {
  /**
   * Returns the DataTable of `table`, creating it on first use.
   * @param {HTMLTableElement} table
   */
  static of(table) {
    let instance = tables.get(table);
    if (!instance) {
      instance = new DataTable(table);
      tables.set(table, instance);
    }
    return instance;
  }

  /** @param {HTMLTableElement} table */
  constructor(table) {
    this.table = table;
    this.pageSize = Number(table.dataset.pageSize ?? 50);
    this.rows = [];
    this.columns = [];
    this.sortIndex = -1;
    this.descending = false;
    this.page = 0;
    this.pager = document.createElement('div');
    this.pager.className = 'pager';
    this.pagerText = document.createElement('span');
    this.previous = document.createElement('button');
    this.previous.type = 'button';
    this.previous.textContent = '‹';
    this.previous.addEventListener('click', () => this.showPage(this.page - 1));
    this.next = document.createElement('button');
    this.next.type = 'button';
    this.next.textContent = '›';
    this.next.addEventListener('click', () => this.showPage(this.page + 1));
    this.pager.append(this.previous, this.pagerText, this.next);
    table.after(this.pager);
  }

  /**
   * Shows `rows` under `columns`, keeping the sort column when it still
   * exists, and returns to the first page.
   * @param {Column[]} columns
   * @param {any[]} rows
   * @param {(key: string) => string} translate interface text by i18n key
   */
  show(columns, rows, translate) {
    const sameColumns = columns.map((c) => c.key).join() === this.columns.map((c) => c.key).join();
    this.columns = columns;
    this.translate = translate;
    this.rows = rows.slice();
    if (!sameColumns) {
      this.sortIndex = -1;
      this.descending = false;
    }
    this.sortRows();
    this.renderHeader();
    this.showPage(0);
  }

  sortRows() {
    if (this.sortIndex < 0) return;
    const column = this.columns[this.sortIndex];
    const direction = this.descending ? -1 : 1;
    const collator = new Intl.Collator(undefined, { numeric: true });
    this.rows.sort((a, b) => {
      const left = column.value(a);
      const right = column.value(b);
      if (left === right) return 0;
      if (left === null || left === undefined) return 1;
      if (right === null || right === undefined) return -1;
      const order = typeof left === 'number' && typeof right === 'number' ? left - right : collator.compare(String(left), String(right));
      return order * direction;
    });
  }

  renderHeader() {
    const head = this.table.querySelector('thead tr');
    head.replaceChildren();
    this.columns.forEach((column, index) => {
      const th = document.createElement('th');
      th.scope = 'col';
      if (column.numeric) th.className = 'numeric';
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.textContent = this.translate(column.key);
      if (index === this.sortIndex) {
        th.setAttribute('aria-sort', this.descending ? 'descending' : 'ascending');
        button.dataset.order = this.descending ? 'descending' : 'ascending';
      }
      button.addEventListener('click', () => this.sortBy(index));
      th.append(button);
      head.append(th);
    });
  }

  /** Sorts by column `index`, reversing the order on a second click. */
  sortBy(index) {
    if (index === this.sortIndex) {
      this.descending = !this.descending;
    } else {
      this.sortIndex = index;
      this.descending = Boolean(this.columns[index].numeric);
    }
    this.sortRows();
    this.renderHeader();
    this.showPage(0);
  }

  showPage(page) {
    const pages = Math.max(1, Math.ceil(this.rows.length / this.pageSize));
    this.page = Math.min(Math.max(0, page), pages - 1);
    const start = this.page * this.pageSize;
    const shown = this.rows.slice(start, start + this.pageSize);
    const body = this.table.querySelector('tbody');
    body.replaceChildren();
    for (const row of shown) {
      const tr = document.createElement('tr');
      for (const column of this.columns) {
        const td = document.createElement('td');
        const value = column.text ? column.text(row) : column.value(row);
        td.textContent = value === null || value === undefined ? '–' : String(value);
        if (column.numeric) td.className = 'numeric';
        tr.append(td);
      }
      body.append(tr);
    }
    this.table.hidden = this.rows.length === 0;
    this.pager.hidden = this.rows.length <= this.pageSize;
    this.pagerText.textContent = this.translate('pageRows')
      .replace('{from}', String(this.rows.length === 0 ? 0 : start + 1))
      .replace('{to}', String(start + shown.length))
      .replace('{total}', String(this.rows.length));
    this.previous.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }
}
