// The page's CSV export (www/csv.js) against the CSV tables of
// `behavior-lens analyze --out DIR`. Both are built from the same
// report.json here, so any difference is in the formatting.
//
// Needs: `cargo build` (target/debug/behavior-lens).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { csvField, csvTables, funnelCsv, recommendationsCsv, segmentsCsv } from '../../www/csv.js';
import { rustDisplay, rustFixed } from '../../www/format.js';
import { CLI_PATH, REAL_LOGS, REPO_ROOT, hostileLogText } from './harness.mjs';

const execFileAsync = promisify(execFile);

describe('CSV number formats', () => {
  test('rustFixed rounds exact ties to even', () => {
    assert.equal(rustFixed(0.0078125, 6), '0.007812');
    assert.equal(rustFixed(0.0234375, 6), '0.023438');
    assert.equal(rustFixed(2.5, 0), '2');
    assert.equal(rustFixed(1.5, 0), '2');
    assert.equal(rustFixed(0.25, 1), '0.2');
  });

  test('rustFixed matches toFixed off ties', () => {
    assert.equal(rustFixed(0.024645, 6), '0.024645');
    assert.equal(rustFixed(1, 6), '1.000000');
    assert.equal(rustFixed(2260.484, 2), '2260.48');
  });

  test('rustDisplay never uses exponents', () => {
    assert.equal(rustDisplay(3600), '3600');
    assert.equal(rustDisplay(1e21), '1000000000000000000000');
    assert.equal(rustDisplay(1.5e-7), '0.00000015');
    assert.equal(rustDisplay(123.25), '123.25');
  });

  test('csvField quotes and guards formulas', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('=cmd()'), "'=cmd()");
    assert.equal(csvField('-1+2'), "'-1+2");
    assert.equal(csvField('@SUM(A1),x'), `"'@SUM(A1),x"`);
  });
});

describe('CSV tables of a hand-made report', () => {
  const report = {
    funnel: {
      by_user: {
        name: 'all',
        steps: [
          { step: 'view', count: 4, conversion: 1, step_conversion: 1, drop_off: 0, median_seconds_from_previous: null },
          { step: 'cart', count: 1, conversion: 0.25, step_conversion: 0.25, drop_off: 3, median_seconds_from_previous: 90.5 },
        ],
      },
      by_session: { name: 'all', steps: [] },
      by_category: [{ name: '=evil,name', steps: [] }],
      by_brand: [],
    },
    segments: {
      available: true,
      segments: [{ id: 0, name: 'Browsers' }],
      points: [{ user: '+u1', x: 0.5, y: -1, segment: 0 }],
    },
    recommendations: {
      users: [
        {
          user: 'u1',
          items: [{ item: 'i,2', category: null, score: 0.75, because: [{ event: 'view', weight: 0.5 }] }],
        },
      ],
    },
  };

  test('funnel rows', () => {
    const lines = funnelCsv(report).split('\n');
    assert.equal(lines[1], 'user,all,view,4,1.000000,1.000000,0,');
    assert.equal(lines[2], 'user,all,cart,1,0.250000,0.250000,3,90.5');
    assert.equal(lines.length, 4, 'two rows, the header and the final empty line');
  });

  test('segments rows', () => {
    assert.equal(segmentsCsv(report), "user,segment_id,segment,x,y\n'+u1,0,Browsers,0.500000,-1.000000\n");
  });

  test('recommendations rows', () => {
    assert.equal(
      recommendationsCsv(report),
      'user,rank,item,category,score,because\nu1,1,"i,2",,0.750000,view:0.500\n',
    );
  });

  test('missing sections give no table', () => {
    assert.equal(segmentsCsv({ segments: null }), null);
    assert.equal(segmentsCsv({ segments: { available: false, note: 'no items' } }), null);
    assert.equal(recommendationsCsv({}), null);
  });
});

describe('CSV tables against the CLI', () => {
  let outRoot;

  before(async () => {
    assert.ok(existsSync(CLI_PATH), `${CLI_PATH} is missing: run cargo build first`);
    outRoot = await mkdtemp(path.join(os.tmpdir(), 'behavior-lens-csv-'));
  });

  after(async () => {
    if (outRoot) await rm(outRoot, { recursive: true, force: true });
  });

  async function compareWithCli(logPath, out, modelArgs = ['--no-model']) {
    await execFileAsync(CLI_PATH, ['analyze', logPath, '--out', out, ...modelArgs], { cwd: REPO_ROOT });
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
    const pageTables = new Map(csvTables(report));
    const cliFiles = (await readdir(out)).filter((name) => name.endsWith('.csv'));
    for (const required of ['funnel.csv', 'cohorts.csv', 'rfm.csv']) {
      assert.ok(cliFiles.includes(required), `the CLI wrote no ${required}`);
    }
    for (const name of cliFiles) {
      assert.ok(pageTables.has(name), `the page offers no ${name}`);
      const cliText = await readFile(path.join(out, name), 'utf8');
      assert.equal(pageTables.get(name), cliText, `${name} differs from the CLI's`);
    }
    return pageTables;
  }

  for (const logPath of REAL_LOGS) {
    test(`same CSV text as the CLI: ${logPath}`, async () => {
      await compareWithCli(logPath, path.join(outRoot, path.basename(logPath)));
    });
  }

  test('same CSV text for a hostile log', async () => {
    const logPath = path.join(outRoot, 'hostile.csv');
    await writeFile(logPath, hostileLogText());
    const tables = await compareWithCli(logPath, path.join(outRoot, 'hostile'));
    const rfm = tables.get('rfm.csv');
    assert.match(rfm, /^"'=HYPERLINK/m, 'a user id starting with = is not guarded in rfm.csv');
  });

  test('same segment and recommendation CSV as the CLI with the sample model', async () => {
    const tables = await compareWithCli(
      'www/samples/rees46-2019-oct-head.csv',
      path.join(outRoot, 'sample-with-model'),
      ['--model', 'www/models/sample.gguf'],
    );
    assert.ok(tables.get('segments.csv'), 'no segments table');
    assert.ok(tables.get('recommendations.csv'), 'no recommendations table');
  });
});
