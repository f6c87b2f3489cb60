// Larger copies of the REES46 sample for benchmarks that show how cost
// grows with events.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes `copies` copies of the rows of the REES46 log `source` into `dir`,
 * each copy with new user and session ids so copies are distinct users, and
 * returns the new file's path.
 */
export function writeScaledSample(source, copies, dir) {
  const [header, ...rows] = readFileSync(source, 'utf8').split(/\r?\n/).filter((line) => line.length > 0);
  const columns = header.split(',');
  const user = columns.indexOf('user_id');
  const session = columns.indexOf('user_session');
  if (user < 0 || session < 0) throw new Error(`${source} is not a REES46 log with user_id and user_session`);
  const out = [header];
  for (let copy = 0; copy < copies; copy += 1) {
    for (const row of rows) {
      const fields = row.split(',');
      // The sample's last line is cut off. Copies keep it as it is, so each
      // copy has the same rejected row.
      if (fields.length > Math.max(user, session)) {
        fields[user] = `${fields[user]}${copy}`;
        fields[session] = `${fields[session]}-${copy}`;
      }
      out.push(fields.join(','));
    }
  }
  const target = path.join(dir, `rees46-x${copies}.csv`);
  writeFileSync(target, `${out.join('\n')}\n`);
  return target;
}
