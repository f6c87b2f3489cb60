// Ingestion benchmark, native and wasm in one run. It prints events per
// second for the Taobao sample and for a synthetic log of repeated rows with
// new user ids. It also prints wasm linear memory after parsing, which is
// the peak because wasm memory never shrinks. Build first with
// scripts/build.sh and the bench_ingest example.
//
//   node scripts/bench-ingest.mjs [EVENTS]

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const events = Number(process.argv[2] ?? 10_000_000);
if (!Number.isInteger(events) || events <= 0) {
  console.error(`invalid EVENTS ${process.argv[2]}; expected a positive whole number`);
  process.exit(2);
}

const { initSync, Upload } = await import(path.join(root, 'www/pkg/behavior_lens.js'));
const exports = initSync({ module: readFileSync(path.join(root, 'www/pkg/behavior_lens_bg.wasm')) });

const sample = readFileSync(path.join(root, 'tests/data/taobao-userbehavior-sample/UserBehavior.csv'));

/** Repeats the sample's rows with user ids shifted per copy (as the native benchmark does). */
function synthetic(count) {
  const rows = sample
    .toString('utf8')
    .split('\n')
    .filter((row) => row.length > 0)
    .map((row) => {
      const comma = row.indexOf(',');
      return [Number(row.slice(0, comma)), row.slice(comma)];
    });
  // Written straight into one buffer: ten million row strings would not
  // fit in Node's default heap.
  let buffer = Buffer.allocUnsafe(count * 48);
  let length = 0;
  for (let index = 0; index < count; index++) {
    const [user, rest] = rows[index % rows.length];
    const copy = Math.floor(index / rows.length);
    const line = `${user + copy * 10_000_000}${rest}\n`;
    if (length + line.length * 3 > buffer.length) {
      const grown = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    length += buffer.write(line, length);
  }
  return buffer.subarray(0, length);
}

/** Parses in wasm (events and timelines, as the native benchmark does) and returns millions of events per second. */
function measure(name, bytes) {
  const upload = new Upload(bytes.length);
  upload.push(bytes);
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const result = JSON.parse(upload.measure_ingest(name));
  const seconds = (performance.now() - start) / 1000;
  // CPU time of the whole process, Node's compiler and collector threads
  // included. On a shared machine it shows how much of the wall-clock time
  // went to waiting for a core.
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  upload.free();
  const rate = result.events / seconds / 1e6;
  console.log(
    `wasm    ${name.padEnd(28)} ${String(result.events).padStart(10)} events  ` +
      `parse+timelines ${seconds.toFixed(3).padStart(8)} s  ${rate.toFixed(2).padStart(6)} M events/s  ` +
      `${(result.heap_bytes / result.events).toFixed(1)} bytes/event  CPU time ${cpuSeconds.toFixed(2)} s`,
  );
  return rate;
}

const nativeOutput = execFileSync(path.join(root, 'target/release/examples/bench_ingest'), [String(events)], {
  encoding: 'utf8',
});
process.stdout.write(nativeOutput);
const nativeRates = [...nativeOutput.matchAll(/([\d.]+) M events\/s/g)].map((match) => Number(match[1]));

// The first call runs on the baseline compiler; warm up so the figures
// reflect optimized code, as the native figures do.
measure('warm-up', sample);
const wasmRates = [measure('taobao sample', sample), measure(`synthetic ${events}`, synthetic(events))];
console.log(`wasm    linear memory after parsing ${(exports.memory.buffer.byteLength / 1e6).toFixed(0)} MB`);
wasmRates.forEach((rate, index) => {
  const label = index === 0 ? 'taobao sample' : `synthetic ${events}`;
  console.log(`ratio   ${label.padEnd(28)} wasm/native ${(rate / nativeRates[index]).toFixed(2)}`);
});
