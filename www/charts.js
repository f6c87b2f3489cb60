// ECharts on the page and in the exported report. The library (vendored
// from the npm package by scripts/build.sh) is imported on first use, so a
// page that never opens a chart never parses it.
//
// Log text reaches charts only as series, axis and label data. Tooltips use
// ECharts' richText mode, which draws them on the canvas, so no chart text
// is ever parsed as HTML.

let library = null;

/** Imports ECharts once and returns the module. */
export function loadECharts() {
  library ??= import('./vendor/echarts.esm.min.js');
  return library;
}

const resizeObserver =
  typeof ResizeObserver === 'function'
    ? new ResizeObserver((entries) => {
        for (const entry of entries) {
          library?.then((echarts) => echarts.getInstanceByDom(entry.target)?.resize());
        }
      })
    : null;

/** Adds the settings every chart shares: escaped tooltips, fonts, short animation. */
function withDefaults(option) {
  return {
    animationDuration: 300,
    textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif' },
    ...option,
    tooltip: { confine: true, ...(option.tooltip ?? {}), renderMode: 'richText' },
  };
}

/**
 * Draws `option` into `container` with the canvas renderer, reusing the
 * container's chart, and shows the container.
 * @param {HTMLElement} container
 * @param {object} option ECharts option
 */
export async function drawChart(container, option) {
  const echarts = await loadECharts();
  container.hidden = false;
  let chart = echarts.getInstanceByDom(container);
  if (!chart) {
    chart = echarts.init(container, null, { renderer: 'canvas' });
    resizeObserver?.observe(container);
  }
  chart.setOption(withDefaults(option), { notMerge: true });
  chart.resize();
  container.dataset.chart = 'drawn';
  return chart;
}

/** Removes the chart of `container`, if any, and hides the container. */
export function clearChart(container) {
  container.hidden = true;
  container.dataset.chart = 'empty';
  resizeObserver?.unobserve(container);
  library?.then((echarts) => echarts.getInstanceByDom(container)?.dispose());
}

/** Resizes the charts inside `root`, after it was hidden while they changed. */
export function resizeCharts(root) {
  if (!library) return;
  library.then((echarts) => {
    for (const container of root.querySelectorAll('[data-chart="drawn"]')) {
      echarts.getInstanceByDom(container)?.resize();
    }
  });
}

/**
 * Renders `option` to an SVG document string with ECharts' server-side SVG
 * renderer. zrender escapes every text it writes into the SVG.
 */
export async function chartSvg(option, width, height) {
  const echarts = await loadECharts();
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ ...withDefaults(option), animation: false, tooltip: { show: false } });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
