// The status page: a plain client of the public API, like any dashboard. With API_KEYS set,
// the key typed in the header is kept in localStorage and sent as a Bearer token.
'use strict';

const KEY_STORAGE = 'plant-climate.api-key';
const HOUR_MS = 3600000;
const state = { locations: [], chart: null };

function headers() {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}`, Accept: 'application/json' } : { Accept: 'application/json' };
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    let type;
    try {
      const problem = await response.json();
      detail = `${problem.title}: ${problem.detail}`;
      type = problem.type;
    } catch {
      // not a problem document; keep the status line
    }
    const error = new Error(`${path}: ${detail}`);
    error.status = response.status;
    error.type = type;
    throw error;
  }
  return response.json();
}

async function collect(path) {
  const rows = [];
  let next = path;
  while (next) {
    const page = await api(next);
    rows.push(...page.data);
    if (!page.next_cursor) break;
    const url = new URL(next, window.location.origin);
    url.searchParams.set('cursor', page.next_cursor);
    next = `${url.pathname}${url.search}`;
  }
  return rows;
}

function showMessage(text) {
  const message = document.getElementById('message');
  message.textContent = text;
  message.hidden = !text;
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

const number = (value, unit) => (value === null || value === undefined ? '–' : `${value.toFixed(1)} ${unit}`);
const time = (iso) => (iso ? new Date(iso).toLocaleString() : '–');

function alarmState(location, latest, alarmCount) {
  if (latest) {
    const crossed = [];
    if (location.temperature_max !== null && latest.temperature !== null && latest.temperature > location.temperature_max) crossed.push('temperature above max');
    if (location.temperature_min !== null && latest.temperature !== null && latest.temperature < location.temperature_min) crossed.push('temperature below min');
    if (location.humidity_max !== null && latest.humidity !== null && latest.humidity > location.humidity_max) crossed.push('humidity above max');
    if (location.humidity_min !== null && latest.humidity !== null && latest.humidity < location.humidity_min) crossed.push('humidity below min');
    if (crossed.length > 0) return { text: `ALARM: ${crossed.join(', ')}`, kind: 'alarm' };
  }
  if (alarmCount > 0) return { text: `excursions in ${alarmCount} hour(s) of 24 h`, kind: 'recent' };
  const hasThresholds = ['temperature_min', 'temperature_max', 'humidity_min', 'humidity_max'].some((field) => location[field] !== null);
  return hasThresholds ? { text: 'ok', kind: 'ok' } : { text: 'no thresholds', kind: 'unknown' };
}

/**
 * Coverage of the last 24 complete hours per location: readings received over readings its
 * devices should have produced. gaps=include brings the hours without any reading too.
 */
function coverageByLocation(hours) {
  const totals = new Map();
  for (const hour of hours) {
    const total = totals.get(hour.loc_id) || { received: 0, expected: 0, unknown: false };
    if (hour.expected_count === null) total.unknown = true;
    else {
      total.received += hour.sample_count;
      total.expected += hour.expected_count;
    }
    totals.set(hour.loc_id, total);
  }
  return totals;
}

function coverageCell(row, total) {
  if (!total || total.unknown || total.expected === 0) {
    cell(row, '–', 'number').title = 'unknown: a device of this location has no poll interval recorded';
    return;
  }
  const share = (100 * total.received) / total.expected;
  const td = cell(row, `${share.toFixed(1)} %`, share < 90 ? 'number coverage-low' : 'number');
  td.title = `${total.received} of ${total.expected} expected readings in the last 24 complete hours`;
}

/** The MKT of the last 30 days per location; '–' (with the API's reason) when there is no exact value. */
/** At a headquarters database the API has no raw readings (README "Plants and headquarters"): those parts show '–'. */
function notAtHeadquarters(error) {
  return typeof error.type === 'string' && error.type.endsWith('/not-at-headquarters');
}

async function mktByLocation(locations) {
  const entries = await Promise.all(
    locations.map(async (location) => {
      try {
        const result = await api(`/v1/locations/${encodeURIComponent(location.loc_id)}/mkt`);
        return [location.loc_id, { value: result.mkt, title: `${result.readings} readings, ${result.source}` }];
      } catch (error) {
        if (error.status === 422 || notAtHeadquarters(error)) return [location.loc_id, { value: null, title: String(error.message) }];
        throw error;
      }
    }),
  );
  return new Map(entries);
}

async function renderLocations() {
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const since = new Date(hour - 24 * HOUR_MS).toISOString();
  const [locations, latest, alarms, hours] = await Promise.all([
    collect('/v1/locations'),
    api('/v1/latest').catch((error) => {
      if (notAtHeadquarters(error)) return { data: [] };
      throw error;
    }),
    collect(`/v1/alarms?from=${encodeURIComponent(since)}`),
    collect(`/v1/hourly?from=${encodeURIComponent(since)}&to=${encodeURIComponent(new Date(hour).toISOString())}&gaps=include&limit=10000`),
  ]);
  const coverage = coverageByLocation(hours);
  const mkt = await mktByLocation(locations);
  const dewPoint = new Map();
  for (const hour of hours) {
    if (hour.dew_point_max !== null && hour.dew_point_max !== undefined) dewPoint.set(hour.loc_id, Math.max(dewPoint.get(hour.loc_id) ?? -Infinity, hour.dew_point_max));
  }
  const minutesOut = new Map();
  for (const alarm of alarms) minutesOut.set(alarm.loc_id, (minutesOut.get(alarm.loc_id) || 0) + (alarm.minutes ?? 0));
  state.locations = locations;
  const latestById = new Map(latest.data.map((reading) => [reading.loc_id, reading]));
  const alarmHours = new Map();
  for (const alarm of alarms) {
    const hours = alarmHours.get(alarm.loc_id) || new Set();
    hours.add(alarm.bucket);
    alarmHours.set(alarm.loc_id, hours);
  }
  const body = document.querySelector('#locations tbody');
  body.replaceChildren();
  for (const location of locations) {
    const reading = latestById.get(location.loc_id);
    const row = document.createElement('tr');
    cell(row, location.loc_id);
    cell(row, location.name || (location.registered ? '' : '(unregistered)'));
    cell(row, [location.plant, location.area].filter(Boolean).join(' / '));
    cell(row, number(reading && reading.temperature, '°C'), 'number');
    cell(row, number(reading && reading.humidity, '%RH'), 'number');
    cell(row, time(reading && reading.capture_dt));
    coverageCell(row, coverage.get(location.loc_id));
    cell(row, number(dewPoint.get(location.loc_id), '°C'), 'number');
    const out = minutesOut.get(location.loc_id) || 0;
    cell(row, `${Math.round(out)} min`, out > 0 ? 'number excursion' : 'number');
    const kinetic = mkt.get(location.loc_id);
    cell(row, number(kinetic && kinetic.value, '°C'), 'number').title = kinetic ? kinetic.title : '';
    const alarm = alarmState(location, reading, (alarmHours.get(location.loc_id) || new Set()).size);
    const span = document.createElement('span');
    span.className = `state state-${alarm.kind}`;
    span.textContent = alarm.text;
    cell(row, '').appendChild(span);
    body.appendChild(row);
  }
  const select = document.getElementById('chart-location');
  const chosen = select.value;
  select.replaceChildren(
    ...locations.map((location) => {
      const option = document.createElement('option');
      option.value = location.loc_id;
      option.textContent = location.name ? `${location.loc_id} – ${location.name}` : location.loc_id;
      return option;
    }),
  );
  if (chosen && locations.some((location) => location.loc_id === chosen)) select.value = chosen;
}

async function renderChart() {
  const locId = document.getElementById('chart-location').value;
  const target = document.getElementById('chart');
  if (!locId) return;
  const hours = Number(document.getElementById('chart-window').value);
  const from = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS).toISOString();
  const rows = await collect(`/v1/locations/${encodeURIComponent(locId)}/hourly?from=${encodeURIComponent(from)}&include_partial=true&limit=10000`);
  document.getElementById('chart-empty').hidden = rows.length > 0;
  const data = [
    rows.map((row) => Date.parse(row.bucket) / 1000),
    rows.map((row) => row.temperature_avg),
    rows.map((row) => row.temperature_max),
    rows.map((row) => row.humidity_avg),
    rows.map((row) => row.dew_point_avg),
  ];
  const options = {
    width: Math.max(320, target.clientWidth || 800),
    height: 320,
    scales: { x: { time: true }, temp: {}, hum: { range: [0, 100] } },
    series: [
      {},
      { label: 'Temperature avg (°C)', scale: 'temp', stroke: '#d9480f', width: 2 },
      { label: 'Temperature max (°C)', scale: 'temp', stroke: '#f08c00', dash: [4, 4] },
      { label: 'Humidity avg (%RH)', scale: 'hum', stroke: '#1971c2', width: 2 },
      { label: 'Dew point avg (°C)', scale: 'temp', stroke: '#0c8599', dash: [2, 3] },
    ],
    axes: [{}, { scale: 'temp', label: '°C' }, { scale: 'hum', side: 1, label: '%RH', grid: { show: false } }],
  };
  if (state.chart) state.chart.destroy();
  state.chart = new uPlot(options, data, target);
}

const KIND = { above: 'above max', below: 'below min' };
const UNIT = { temperature: '°C', humidity: '%RH' };

/** Excursion events of the chart's location and window: runs of readings beyond the limits in force. */
async function renderExcursions() {
  const locId = document.getElementById('chart-location').value;
  if (!locId) return;
  const hours = Number(document.getElementById('chart-window').value);
  const from = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS).toISOString();
  let result;
  try {
    result = await api(`/v1/locations/${encodeURIComponent(locId)}/excursions?from=${encodeURIComponent(from)}&limit=200`);
  } catch (error) {
    if (!notAtHeadquarters(error)) throw error;
    document.getElementById('excursion-summary').textContent = 'Excursion events need the plant\'s raw readings: see the plant\'s own status page.';
    document.querySelector('#excursions tbody').replaceChildren();
    return;
  }
  const summary = result.summary;
  const parts = [
    ['temperature above max', summary.temperature_above_minutes],
    ['temperature below min', summary.temperature_below_minutes],
    ['humidity above max', summary.humidity_above_minutes],
    ['humidity below min', summary.humidity_below_minutes],
  ]
    .filter(([, minutes]) => minutes !== null)
    .map(([kind, minutes]) => `${kind}: ${Math.round(minutes)} min`);
  document.getElementById('excursion-summary').textContent =
    parts.length === 0 ? 'No thresholds in force for this location.' : `${parts.join(' · ')}${result.events_complete ? '' : ` (events listed from ${time(result.events_from)}: older raw readings pruned)`}`;
  const body = document.querySelector('#excursions tbody');
  body.replaceChildren();
  for (const event of result.data.slice().reverse()) {
    const row = document.createElement('tr');
    const span = document.createElement('span');
    span.className = 'state state-alarm';
    span.textContent = `${event.metric} ${KIND[event.direction]}`;
    cell(row, '').appendChild(span);
    cell(row, time(event.start));
    cell(row, time(event.end));
    cell(row, String(Math.round(event.minutes)), 'number');
    cell(row, number(event.peak, UNIT[event.metric]), 'number');
    cell(row, number(event.limit, UNIT[event.metric]), 'number');
    body.appendChild(row);
  }
}

async function renderPipeline() {
  const [pipeline, devices] = await Promise.all([api('/v1/pipeline'), api('/v1/devices')]);
  const facts = [
    ['Newest aggregated hour', time(pipeline.aggregation.newest_bucket)],
    ['Aggregation lag', pipeline.aggregation.lag_seconds === null ? '–' : `${Math.round(pipeline.aggregation.lag_seconds / 60)} min`],
    ['Hours waiting for aggregation', String(pipeline.aggregation.dirty_hours)],
    ['Newest raw reading', time(pipeline.raw.newest_capture_dt)],
    ['Devices', `${pipeline.devices.total} total: ${pipeline.devices.ok} ok, ${pipeline.devices.failing} failing, ${pipeline.devices.silent} silent`],
  ];
  const list = document.getElementById('pipeline');
  list.replaceChildren();
  for (const [term, value] of facts) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }
  const body = document.querySelector('#devices tbody');
  body.replaceChildren();
  for (const device of devices.data.filter((entry) => entry.status !== 'ok')) {
    const row = document.createElement('tr');
    cell(row, device.gateway_id);
    cell(row, device.device_id);
    cell(row, device.loc_id);
    const span = document.createElement('span');
    span.className = `state ${device.status === 'silent' ? 'state-alarm' : 'state-recent'}`;
    span.textContent = device.status;
    cell(row, '').appendChild(span);
    cell(row, time(device.last_ok_at));
    cell(row, device.last_error || '');
    body.appendChild(row);
  }
}

async function refresh() {
  try {
    await renderLocations();
    await Promise.all([renderChart(), renderExcursions(), renderPipeline()]);
    showMessage('');
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    showMessage(error.status === 401 ? 'This server needs an API key: enter it above.' : String(error.message || error));
  }
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('api-key');
  if (input.value) localStorage.setItem(KEY_STORAGE, input.value.trim());
  else localStorage.removeItem(KEY_STORAGE);
  input.value = '';
  void refresh();
});
for (const id of ['chart-location', 'chart-window']) {
  document.getElementById(id).addEventListener('change', () => void Promise.all([renderChart(), renderExcursions()]).catch((error) => showMessage(String(error.message))));
}
void refresh();
setInterval(() => void refresh(), 60000);
