// ECharts options for the report's charts, shared by the page and the
// exported HTML report. Each builder takes report data and `ui`:
// `{ t(key), number(value) }` for interface text and number formatting.

import { percent } from './format.js';

const KIND_COLORS = {
  view: '#2f6fde',
  cart: '#e08a1e',
  remove_from_cart: '#9a6b3c',
  favorite: '#c04f9b',
  checkout: '#7a5cc7',
  purchase: '#2e9e5b',
  refund: '#c9463d',
  other: '#8a8f98',
  start: '#5b6270',
  end: '#5b6270',
};

/** Names a path state (`start`, `end` or an event type) in the interface language. */
export function stateName(state, ui) {
  return state === 'start' || state === 'end' ? ui.t(`state.${state}`) : ui.t(`kind.${state}`);
}

/** Funnel chart of one funnel table: count, conversion and drop-off per step. */
export function funnelOption(table, ui) {
  const labels = table.steps.map((step, index) => {
    const drop = index === 0 || step.drop_off === 0 ? '' : ` · −${ui.number(step.drop_off)}`;
    return `${ui.t(`kind.${step.step}`)}: ${ui.number(step.count)} (${percent(step.conversion)})${drop}`;
  });
  const details = table.steps.map((step) =>
    [
      ui.t(`kind.${step.step}`),
      `${ui.t('count')}: ${ui.number(step.count)}`,
      `${ui.t('conversion')}: ${percent(step.conversion)}`,
      `${ui.t('stepConversion')}: ${percent(step.step_conversion)}`,
      `${ui.t('dropOff')}: ${ui.number(step.drop_off)}`,
    ].join('\n'),
  );
  return {
    tooltip: { trigger: 'item', formatter: (params) => details[params.dataIndex] },
    series: [
      {
        type: 'funnel',
        sort: 'none',
        left: '2%',
        width: '50%',
        top: 10,
        bottom: 10,
        minSize: '4%',
        gap: 2,
        label: { position: 'right', formatter: (params) => labels[params.dataIndex], color: '#1d2430', overflow: 'break' },
        labelLine: { show: true },
        data: table.steps.map((step) => ({
          name: ui.t(`kind.${step.step}`),
          value: step.count,
          itemStyle: { color: KIND_COLORS[step.step] },
        })),
      },
    ],
  };
}

/**
 * Sankey of the most common session paths laid out by step: node `view@1`
 * leads to `cart@2`, so the graph has no cycle. Every path ends in a
 * `session end` node one step after its last event.
 * @returns {{option: object, sessions: number, share: number} | null}
 */
export function pathSankeyOption(paths, ui) {
  const links = new Map();
  const nodes = new Map();
  let sessions = 0;
  let share = 0;
  for (const entry of paths.common_paths) {
    sessions += entry.sessions;
    share += entry.share;
    const states = [...entry.path, 'end'];
    for (let index = 0; index + 1 < states.length; index++) {
      const source = `${states[index]}@${index + 1}`;
      const target = `${states[index + 1]}@${index + 2}`;
      nodes.set(source, { state: states[index], step: index + 1 });
      nodes.set(target, { state: states[index + 1], step: index + 2 });
      const key = `${source}>${target}`;
      links.set(key, (links.get(key) ?? 0) + entry.sessions);
    }
  }
  if (links.size === 0) return null;
  return {
    sessions,
    share,
    option: sankey(nodes, links, (node) => `${node.step}. ${stateName(node.state, ui)}`, ui),
  };
}

/**
 * Sankey of every event-type transition within sessions, with each state
 * drawn twice: as the event (left) and as the next event (right). Repeats
 * such as view → view are links like any other, and the graph stays
 * acyclic because links only go left to right.
 */
export function transitionSankeyOption(transitions, ui) {
  const links = new Map();
  const nodes = new Map();
  transitions.states.forEach((from, row) => {
    transitions.states.forEach((to, column) => {
      const count = transitions.counts[row][column];
      if (count <= 0) return;
      const source = `from:${from}`;
      const target = `to:${to}`;
      nodes.set(source, { state: from, side: 'from' });
      nodes.set(target, { state: to, side: 'to' });
      links.set(`${source}>${target}`, count);
    });
  });
  if (links.size === 0) return null;
  const label = (node) => (node.side === 'from' ? `${stateName(node.state, ui)} →` : `→ ${stateName(node.state, ui)}`);
  return sankey(nodes, links, label, ui);
}

function sankey(nodes, links, label, ui) {
  const names = new Map([...nodes].map(([id, node]) => [id, label(node)]));
  return {
    tooltip: {
      trigger: 'item',
      formatter: (params) =>
        params.dataType === 'edge'
          ? `${names.get(params.data.source)} → ${names.get(params.data.target)}: ${ui.number(params.data.value)}`
          : `${names.get(params.name)}: ${ui.number(params.value)}`,
    },
    series: [
      {
        type: 'sankey',
        left: 10,
        right: 120,
        top: 10,
        bottom: 10,
        nodeGap: 10,
        nodeAlign: 'left',
        emphasis: { focus: 'adjacency' },
        lineStyle: { color: 'gradient', opacity: 0.35 },
        label: { formatter: (params) => names.get(params.name) },
        data: [...nodes].map(([id, node]) => ({ name: id, itemStyle: { color: KIND_COLORS[node.state] ?? '#8a8f98' } })),
        links: [...links].map(([key, value]) => {
          const [source, target] = key.split('>');
          return { source, target, value };
        }),
      },
    ],
  };
}

/** Heatmap of one cohort table: rows are cohorts, columns period offsets. */
export function cohortHeatmapOption(table, ui) {
  const width = Math.max(...table.cohorts.map((cohort) => cohort.retention.length));
  const offsets = Array.from({ length: width }, (_, k) => `+${k}`);
  const rows = table.cohorts.map((cohort) => `${cohort.cohort} (${ui.number(cohort.users)})`);
  const data = [];
  table.cohorts.forEach((cohort, row) => {
    cohort.retention.forEach((share, column) => data.push([column, row, Number((share * 100).toFixed(1))]));
  });
  return {
    tooltip: {
      formatter: (params) => {
        const [column, row] = params.data;
        const cohort = table.cohorts[row];
        return `${cohort.cohort} ${offsets[column]}: ${ui.number(cohort.active[column])} / ${ui.number(cohort.users)} (${params.data[2]}%)`;
      },
    },
    grid: { left: 150, right: 20, top: 10, bottom: 60 },
    xAxis: { type: 'category', data: offsets, splitArea: { show: true } },
    yAxis: { type: 'category', data: rows, inverse: true },
    visualMap: {
      min: 0,
      max: 100,
      calculable: false,
      orient: 'horizontal',
      left: 'center',
      bottom: 0,
      itemHeight: 120,
      text: ['100%', '0%'],
      inRange: { color: ['#eef3fc', '#2f6fde', '#173a7a'] },
    },
    series: [{ type: 'heatmap', data, label: { show: width <= 16 && rows.length <= 20, fontSize: 10 } }],
  };
}

/** Retention curves: the user-weighted mean and the largest cohorts. */
export function retentionCurvesOption(table, ui, maxCohorts = 8) {
  const width = Math.max(...table.cohorts.map((cohort) => cohort.retention.length));
  const offsets = Array.from({ length: width }, (_, k) => `+${k}`);
  const mean = offsets.map((_, k) => {
    let active = 0;
    let users = 0;
    for (const cohort of table.cohorts) {
      if (k < cohort.active.length) {
        active += cohort.active[k];
        users += cohort.users;
      }
    }
    return users > 0 ? Number(((active / users) * 100).toFixed(2)) : null;
  });
  const largest = [...table.cohorts].sort((a, b) => b.users - a.users).slice(0, maxCohorts);
  const series = [
    { type: 'line', name: ui.t('meanCurve'), data: mean, lineStyle: { width: 3 }, z: 3 },
    ...largest.map((cohort) => ({
      type: 'line',
      name: cohort.cohort,
      data: cohort.retention.map((share) => Number((share * 100).toFixed(2))),
      lineStyle: { width: 1 },
      symbolSize: 3,
    })),
  ];
  return {
    tooltip: { trigger: 'axis', valueFormatter: (value) => (value === null || value === undefined ? '–' : `${value}%`) },
    legend: { type: 'scroll', top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 30 },
    xAxis: { type: 'category', data: offsets, boundaryGap: false },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    series,
  };
}

/** Stacked bars per period: new, returning and resurrecting up, dormant down. */
export function lifecycleOption(lifecycle, ui) {
  const periods = lifecycle.map((row) => row.period);
  const bar = (key, color, sign = 1) => ({
    type: 'bar',
    name: ui.t(key),
    stack: 'users',
    itemStyle: { color },
    data: lifecycle.map((row) => sign * row[key]),
  });
  return {
    tooltip: { trigger: 'axis', valueFormatter: (value) => ui.number(Math.abs(value)) },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 40, bottom: 40 },
    xAxis: { type: 'category', data: periods },
    yAxis: { type: 'value', axisLabel: { formatter: (value) => ui.number(Math.abs(value)) } },
    series: [
      bar('new', '#2f6fde'),
      bar('returning', '#2e9e5b'),
      bar('resurrecting', '#e08a1e'),
      bar('dormant', '#8a8f98', -1),
    ],
  };
}

const SEGMENT_COLORS = ['#2f6fde', '#e08a1e', '#2e9e5b', '#c04f9b', '#7a5cc7', '#c9463d', '#1d9aa8', '#8a6d1f', '#5b6270', '#b05a2a'];

/**
 * Scatter of the users' embedding projection, one series per segment.
 * `maxPoints` keeps every n-th point of a larger list.
 */
export function segmentScatterOption(segments, ui, maxPoints = Infinity) {
  const stride = Math.max(1, Math.ceil(segments.points.length / maxPoints));
  const bySegment = new Map(segments.segments.map((segment) => [segment.id, []]));
  segments.points.forEach((point, index) => {
    if (index % stride !== 0) return;
    if (!bySegment.has(point.segment)) bySegment.set(point.segment, []);
    bySegment.get(point.segment).push([point.x, point.y, point.user]);
  });
  const names = new Map(segments.segments.map((segment) => [segment.id, segment.name]));
  const variance = segments.explained_variance ?? [];
  const axisName = (index) =>
    variance[index] === undefined ? ui.t(`component${index + 1}`) : `${ui.t(`component${index + 1}`)} (${percent(variance[index])})`;
  return {
    tooltip: {
      trigger: 'item',
      formatter: (params) => `${params.seriesName}\n${ui.t('user')}: ${params.data[2]}`,
    },
    legend: { type: 'scroll', top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 40 },
    xAxis: { type: 'value', name: axisName(0), nameLocation: 'middle', nameGap: 25, scale: true },
    yAxis: { type: 'value', name: axisName(1), nameLocation: 'middle', nameGap: 35, scale: true },
    series: [...bySegment].map(([id, data], index) => ({
      type: 'scatter',
      name: names.get(id) ?? `${ui.t('segment')} ${id}`,
      data,
      symbolSize: data.length > 2000 ? 3 : 6,
      large: data.length > 2000,
      itemStyle: { color: SEGMENT_COLORS[index % SEGMENT_COLORS.length], opacity: 0.75 },
    })),
  };
}

/**
 * Training and validation loss by step.
 * @param {{step: number, loss: number|null, validation_loss: number|null}[]} points
 */
export function lossCurveOption(points, ui) {
  const line = (key, name, color) => ({
    type: 'line',
    name,
    showSymbol: key === 'validation_loss',
    connectNulls: true,
    itemStyle: { color },
    data: points.filter((point) => point[key] !== null && point[key] !== undefined).map((point) => [point.step, point[key]]),
  });
  return {
    animation: false,
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 40 },
    xAxis: { type: 'value', name: ui.t('trainingStep'), nameLocation: 'middle', nameGap: 25, minInterval: 1 },
    yAxis: { type: 'value', name: ui.t('loss'), scale: true },
    series: [line('loss', ui.t('trainLoss'), '#2f6fde'), line('validation_loss', ui.t('validationLoss'), '#e08a1e')],
  };
}
