// Interface text in Chinese and English. Log content is never translated.

/** @type {Record<string, Record<string, string>>} */
export const MESSAGES = {
  en: {
    title: 'Behavior Lens',
    tagline: 'Customer behavior analysis that runs in this browser tab. Your log never leaves this computer.',
    language: 'Language',
    drop: 'Drop an event log here (CSV, TSV, JSON Lines or behavior sentences)',
    choose: 'Choose a file',
    sample: 'Try the sample',
    sampleHint: 'The sample is the first rows of the public REES46 multi-category store log (October 2019).',
    overview: 'Overview',
    events: 'Events',
    users: 'Users',
    items: 'Items',
    sessions: 'Sessions',
    rows: 'Rows read',
    rejected: 'Rejected',
    span: 'Time span',
    noDates: 'no real dates in this log',
    mix: 'Event mix',
    quality: 'Data quality',
    noWarnings: 'No warnings.',
    reason: 'Reason',
    count: 'Count',
    firstLine: 'First line',
    examples: 'Rejected rows',
    line: 'Line',
    column: 'Column',
    value: 'Value',
    expected: 'Expected',
    mapping: 'Column mapping',
    field: 'Field',
    sentences: 'Behavior sentences of the most active users',
    privacy: 'Runs entirely in this tab: no upload, no tracking, no third-party requests.',
    'step.read': 'Reading the file',
    'step.parse': 'Parsing events',
    'step.timelines': 'Building timelines',
    'step.report': 'Building the report',
    'step.loading': 'Loading the analysis engine',
    errorTitle: 'The log could not be analyzed',
    unsure: 'The column mapping was guessed; check it below.',
    'kind.view': 'view',
    'kind.cart': 'add to cart',
    'kind.remove_from_cart': 'remove from cart',
    'kind.favorite': 'favorite',
    'kind.checkout': 'checkout',
    'kind.purchase': 'purchase',
    'kind.refund': 'refund',
    'kind.other': 'other',
    options: 'Reading options',
    format: 'Format',
    encoding: 'Encoding',
    timezone: 'Time zone of times without one',
    keepDuplicates: 'Keep exact duplicate rows',
    reanalyze: 'Analyze again',
    none: '(none)',
    mapHint: 'Choose which column holds each field, then analyze again.',
  },
  zh: {
    title: 'Behavior Lens 行为透镜',
    tagline: '在本浏览器标签页内完成的用户行为分析。日志不会离开这台电脑。',
    language: '语言',
    drop: '把行为日志拖到这里（CSV、TSV、JSON Lines 或行为句子）',
    choose: '选择文件',
    sample: '试用示例数据',
    sampleHint: '示例数据是公开的 REES46 综合商城 2019 年 10 月日志的前若干行。',
    overview: '概览',
    events: '事件数',
    users: '用户数',
    items: '商品数',
    sessions: '会话数',
    rows: '读取行数',
    rejected: '拒收行数',
    span: '时间范围',
    noDates: '此日志没有真实日期',
    mix: '事件构成',
    quality: '数据质量',
    noWarnings: '没有警告。',
    reason: '原因',
    count: '数量',
    firstLine: '首次出现行',
    examples: '被拒收的行',
    line: '行',
    column: '列',
    value: '值',
    expected: '期望',
    mapping: '列映射',
    field: '字段',
    sentences: '最活跃用户的行为句子',
    privacy: '完全在本标签页内运行：不上传、不追踪、不请求任何第三方。',
    'step.read': '正在读取文件',
    'step.parse': '正在解析事件',
    'step.timelines': '正在构建时间线',
    'step.report': '正在生成报告',
    'step.loading': '正在加载分析引擎',
    errorTitle: '无法分析此日志',
    unsure: '列映射是推测的，请在下方核对。',
    'kind.view': '浏览',
    'kind.cart': '加购',
    'kind.remove_from_cart': '移出购物车',
    'kind.favorite': '收藏',
    'kind.checkout': '结算',
    'kind.purchase': '购买',
    'kind.refund': '退款',
    'kind.other': '其他',
    options: '读取选项',
    format: '格式',
    encoding: '编码',
    timezone: '无时区时间所用时区',
    keepDuplicates: '保留完全重复的行',
    reanalyze: '重新分析',
    none: '（无）',
    mapHint: '请为每个字段选择对应的列，然后重新分析。',
  },
};

/**
 * Picks the interface language from the browser's preferences.
 * @returns {'zh' | 'en'}
 */
export function preferredLanguage() {
  const languages = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const language of languages) {
    if (/^zh\b/i.test(language)) return 'zh';
    if (/^en\b/i.test(language)) return 'en';
  }
  return 'en';
}

/**
 * Returns the text for a key in a language, falling back to English.
 * @param {string} lang
 * @param {string} key
 * @returns {string}
 */
export function translate(lang, key) {
  return MESSAGES[lang]?.[key] ?? MESSAGES.en[key] ?? key;
}
