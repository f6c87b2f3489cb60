// Number and duration formatting shared by the views and the exports.

/** Formats a share in 0..1 as a percentage with one decimal. */
export const percent = (share) => `${(share * 100).toFixed(1)}%`;

/** Formats a duration in seconds as `45 s`, `12.0 min`, `3.5 h` or `2.1 d`. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/** Formats a number with `digits` decimals, or `–` when it is missing. */
export function decimal(value, digits) {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

/**
 * Formats `value` with `digits` decimals the way Rust's `{:.N}` does.
 * `Number.prototype.toFixed` rounds an exact tie away from zero, Rust
 * rounds it to even: 0.0078125 is `0.007813` in JavaScript and `0.007812`
 * in Rust.
 */
export function rustFixed(value, digits) {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21) return String(value);
  // toFixed(100) is the exact decimal expansion of every double from about
  // 4e-15 up, because such a double has at most 100 binary fraction digits.
  const exact = Math.abs(value).toFixed(100);
  const point = exact.indexOf('.');
  const dropped = exact.slice(point + 1 + digits);
  if (!/^50*$/.test(dropped)) return value.toFixed(digits);
  const truncated = digits > 0 ? exact.slice(0, point + 1 + digits) : exact.slice(0, point);
  // On a tie toFixed rounds up, which is also the even choice after an odd digit.
  if (Number(truncated.at(-1)) % 2 === 1) return value.toFixed(digits);
  return value < 0 ? `-${truncated}` : truncated;
}

/**
 * Formats a number the way Rust's `{}` prints an `f64`: the shortest text
 * that reads back as the same number, never in exponent notation.
 */
export function rustDisplay(value) {
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, lead, tail = '', exponentText] = match;
  const digits = lead + tail;
  const exponent = Number(exponentText);
  if (exponent >= 0) return sign + digits.padEnd(exponent + 1, '0');
  return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
}
