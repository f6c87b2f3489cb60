// Helpers shared by the report views.

/**
 * Creates an element with text content and an optional class.
 * @param {string} tag
 * @param {string} [text]
 * @param {string} [className]
 */
export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/**
 * Shows or hides a section that may be missing from the report: `null`,
 * absent, or `{available: false, note}`. While the model trains, a missing
 * section is shown as pending instead.
 * @param {HTMLElement} line the "not available" paragraph
 * @param {HTMLElement} body the section's content
 * @param {any} section the report key
 * @param {object} ui
 * @returns {boolean} whether the section can be rendered
 */
export function showAvailability(line, body, section, ui) {
  const available = section !== null && section !== undefined && section.available !== false;
  body.hidden = !available;
  line.hidden = available;
  if (!available) {
    const note = section?.note;
    if (ui.stage === 'basic') {
      line.textContent = ui.t('pendingModel');
    } else {
      line.textContent = note ? `${ui.t('notAvailable')}: ${note}` : `${ui.t('notAvailable')}.`;
    }
  }
  return available;
}

/** Replaces each `{name}` in the text of `key` with `values[name]`. */
export function fill(ui, key, values) {
  let text = ui.t(key);
  for (const [name, value] of Object.entries(values)) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}
