// The Recommendations view: find a user to see their behavior sentence,
// interest scores and top-k items with the reasons, or find an item to see
// what was viewed and bought with it.

import { decimal, percent } from '../format.js';
import { fillTable } from '../tables.js';
import { element, fill, showAvailability } from './common.js';

const $ = (selector) => document.querySelector(selector);

// Matches listed under a search box, and entries offered by its datalist.
const MAX_MATCHES = 20;
const MAX_SUGGESTIONS = 500;

const state = { report: null, ui: null, user: null, item: null };

/** Lists up to MAX_MATCHES names containing `query`, exact matches first. */
function findMatches(names, query) {
  const needle = query.trim().toLowerCase();
  if (!needle) return names.slice(0, MAX_MATCHES);
  const exact = names.filter((name) => name.toLowerCase() === needle);
  const partial = names.filter((name) => name.toLowerCase() !== needle && name.toLowerCase().includes(needle));
  return [...exact, ...partial].slice(0, MAX_MATCHES);
}

function fillSuggestions(datalist, names) {
  datalist.replaceChildren(
    ...names.slice(0, MAX_SUGGESTIONS).map((name) => {
      const option = document.createElement('option');
      option.value = name;
      return option;
    }),
  );
}

function showMatches(list, names, selected, onPick) {
  list.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement('li');
      const button = element('button', name, name === selected ? 'match selected' : 'match');
      button.type = 'button';
      button.addEventListener('click', () => onPick(name));
      item.append(button);
      return item;
    }),
  );
}

function scoreRows(entries) {
  return entries.map((entry) => [entry.name, decimal(entry.score, 3)]);
}

function renderInterest(user, ui) {
  const interest = state.report.interest?.users?.find((entry) => entry.user === user);
  $('#interest-missing').hidden = Boolean(interest);
  $('#interest-body').hidden = !interest;
  if (!interest) {
    const note = state.report.interest?.note;
    $('#interest-missing').textContent = note ? `${ui.t('noInterest')}: ${note}` : `${ui.t('noInterest')}.`;
    return;
  }
  fillTable($('#interest-categories'), scoreRows(interest.categories));
  fillTable($('#interest-items'), scoreRows(interest.items));
  fillTable(
    $('#interest-next'),
    interest.next_event.map((entry) => [ui.t(`kind.${entry.event}`), percent(entry.probability)]),
  );
  $('#interest-line').textContent = fill(ui, 'interestLine', {
    purchase: percent(interest.purchase_next_session),
    churn: percent(interest.churn_risk),
  });
}

function describeReasons(reasons, ui) {
  return reasons.map((reason) => `${ui.label('kind', reason.event)} ×${decimal(reason.weight, 2)}`).join(', ');
}

function showUser(name) {
  const { report, ui } = state;
  state.user = name;
  const users = report.recommendations.users;
  const entry = users.find((candidate) => candidate.user === name);
  showMatches($('#rec-user-matches'), findMatches(users.map((user) => user.user), $('#rec-user').value), name, showUser);
  $('#rec-user-detail').hidden = !entry;
  if (!entry) return;
  $('#rec-user-name').textContent = entry.user;
  $('#rec-sentence').textContent = entry.sentence;
  renderInterest(entry.user, ui);
  fillTable(
    $('#rec-items'),
    entry.items.map((item, index) => [
      index + 1,
      item.item,
      item.category ?? '–',
      decimal(item.score, 3),
      describeReasons(item.because, ui),
    ]),
  );
  $('#rec-items-empty').hidden = entry.items.length > 0;
}

function showItem(name) {
  const { report, ui } = state;
  state.item = name;
  const together = report.recommendations.together;
  const viewed = together.viewed.find((entry) => entry.item === name);
  const bought = together.bought.find((entry) => entry.item === name);
  $('#rec-item-detail').hidden = !viewed && !bought;
  const rows = (entry) => (entry?.with ?? []).map((other) => [other.item, ui.number(other.count), decimal(other.score, 3)]);
  fillTable($('#rec-viewed'), rows(viewed));
  fillTable($('#rec-bought'), rows(bought));
  $('#rec-viewed-empty').hidden = Boolean(viewed?.with.length);
  $('#rec-bought-empty').hidden = Boolean(bought?.with.length);
  $('#rec-item-name').textContent = name;
  showMatches($('#rec-item-matches'), findMatches(itemNames(together), $('#rec-item').value), name, showItem);
}

function itemNames(together) {
  return [...new Set([...together.viewed, ...together.bought].map((entry) => entry.item))];
}

/** Wires the two search boxes. */
export function setup() {
  $('#rec-user').addEventListener('input', (event) => {
    if (!state.report?.recommendations) return;
    const names = state.report.recommendations.users.map((user) => user.user);
    const matches = findMatches(names, event.target.value);
    showMatches($('#rec-user-matches'), matches, state.user, showUser);
    if (matches.length > 0 && matches[0].toLowerCase() === event.target.value.trim().toLowerCase()) showUser(matches[0]);
  });
  $('#rec-item').addEventListener('input', (event) => {
    if (!state.report?.recommendations) return;
    const matches = findMatches(itemNames(state.report.recommendations.together), event.target.value);
    showMatches($('#rec-item-matches'), matches, state.item, showItem);
    if (matches.length > 0 && matches[0].toLowerCase() === event.target.value.trim().toLowerCase()) showItem(matches[0]);
  });
}

export function render(report, ui) {
  state.report = report;
  state.ui = ui;
  const recommendations = report.recommendations;
  if (!showAvailability($('#recs-unavailable'), $('#recs-body'), recommendations, ui)) return;
  $('#recs-line').textContent = fill(ui, 'recsLine', {
    k: recommendations.k,
    users: ui.number(recommendations.users.length),
  });
  $('#repeat-line').textContent = ui.t(recommendations.repeat_purchases ? 'repeatIncluded' : 'repeatExcluded');
  const names = recommendations.users.map((user) => user.user);
  fillSuggestions($('#rec-user-list'), names);
  const user = names.includes(state.user) ? state.user : names[0];
  $('#rec-user-detail').hidden = true;
  if (user !== undefined) showUser(user);
  else $('#rec-user-matches').replaceChildren();

  const together = recommendations.together;
  const items = itemNames(together);
  fillSuggestions($('#rec-item-list'), items);
  $('#together-note').textContent =
    together.sessions_truncated > 0 ? fill(ui, 'togetherTruncated', { sessions: ui.number(together.sessions_truncated) }) : '';
  $('#rec-item-detail').hidden = true;
  const item = items.includes(state.item) ? state.item : items[0];
  if (item !== undefined) showItem(item);
  else $('#rec-item-matches').replaceChildren();
}
