// The smartby dashboard: overview tiles, the city map, one device up close, kept live by polling
// /dashboard/api/changes. Hand-written, no build step; plotly.js is loaded only for the charts.

import { CityMapView } from './citymap.js';
import { drawCharts, formatNumber, loadPlotly } from './charts.js';

const config = JSON.parse(document.getElementById('config').textContent);
const $ = (selector) => document.querySelector(selector);

// What the page holds; exposed for tests and the benchmark as window.smartby.
const app = {
  version: null,
  now: null,
  domains: [], // domain keys, by code
  states: [], // state keys, by code
  ids: [],
  index: new Map(), // id -> position
  domain: [],
  state: [],
  lon: [],
  lat: [],
  shown: new Set(config.domains.map((d) => d.key)),
  selected: null,
  span: '24h',
  selectedObserved: null,
  updates: 0,
  firstDrawMs: null,
  alerts: null,
  chartPoints: 0,
  failures: 0,
};
window.smartby = app;

const domainInfo = new Map(config.domains.map((d) => [d.key, d]));
const palette = [];
const paletteIndex = new Map();
function colourCode(domainCode, stateCode) {
  const key = `${domainCode}:${stateCode}`;
  let code = paletteIndex.get(key);
  if (code === undefined) {
    const domain = domainInfo.get(app.domains[domainCode]);
    const state = domain && domain.states.find((s) => s.key === app.states[stateCode]);
    code = palette.length;
    palette.push(state ? state.colour : '#c9ced6');
    paletteIndex.set(key, code);
  }
  return code;
}

function stateLabel(domainKey, stateKey) {
  const domain = domainInfo.get(domainKey);
  const state = domain && domain.states.find((s) => s.key === stateKey);
  return state ? state.label : stateKey;
}

const timeFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Copenhagen', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
function formatTime(text) {
  if (!text) return '–';
  const moment = new Date(text);
  return Number.isNaN(moment.getTime()) ? text : timeFormat.format(moment);
}

// With SMARTBY_AUTH=required the API wants a key: asked for once, kept in this tab (sessionStorage).
const KEY = 'smartby-key';
function askForKey(message) {
  const form = $('#login');
  if (!form.hidden) return;
  $('#login-status').textContent = message;
  form.hidden = false;
  $('#login-key').focus();
}
// Signing in through the city's identity provider: its session cookie counts once no key is sent.
const signIn = $('#login-oidc');
if (signIn) signIn.addEventListener('click', () => sessionStorage.removeItem(KEY));
$('#login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('#login-key').value.trim());
  window.location.reload();
});

async function getJSON(path) {
  const headers = { Accept: 'application/json' };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(config.api + path, { headers });
  if (response.status === 401 || response.status === 403) {
    askForKey(
      response.status === 403 ? 'That key may not read the dashboard.'
        : key ? 'That key was not accepted (unknown, revoked or expired).' : '',
    );
    return new Promise(() => {}); // the page waits for a key (signing in reloads it)
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// -- the map ----------------------------------------------------------------------------------------

const map = new CityMapView($('#map-canvas'), {
  onSelect: (i) => select(app.ids[i], { centre: false }),
  onHover: (i, at) => {
    const tip = $('#map-tip');
    if (i < 0) {
      tip.hidden = true;
      return;
    }
    const domain = app.domains[app.domain[i]];
    tip.textContent = `${app.ids[i]} · ${stateLabel(domain, app.states[app.state[i]])}`;
    tip.style.left = `${at[0] + 12}px`;
    tip.style.top = `${at[1] + 12}px`;
    tip.hidden = false;
  },
});
// Where a device's marker is on the page (for tests and tools), or null.
app.positionOf = (id) => (app.index.has(id) ? map.positionOf(app.index.get(id)) : null);

map.onDraw = (drawn) => {
  if (app.firstDrawMs === null && drawn > 0) {
    app.firstDrawMs = performance.now();
    document.body.dataset.mapReady = 'true';
    if ('requestIdleCallback' in window) requestIdleCallback(() => loadPlotly(config.plotly).catch(() => {}));
    else setTimeout(() => loadPlotly(config.plotly).catch(() => {}), 200);
  }
  app.drawn = drawn;
};

function visibleDomainCodes() {
  return app.domains.map((key, code) => (app.shown.has(key) ? code : -1)).filter((c) => c >= 0);
}

function pushDevices() {
  map.setDevices(
    { lon: app.lon, lat: app.lat, domain: app.domain, colour: app.ids.map((_, i) => colourCode(app.domain[i], app.state[i])) },
    palette,
  );
  map.setVisibleDomains(visibleDomainCodes());
  if (app.selected !== null && app.index.has(app.selected)) map.select(app.index.get(app.selected));
  countDomains();
}

function countDomains() {
  const counts = new Map();
  for (const code of app.domain) counts.set(code, (counts.get(code) || 0) + 1);
  for (const element of document.querySelectorAll('[data-count]')) {
    const code = app.domains.indexOf(element.dataset.count);
    element.textContent = `(${(counts.get(code) || 0).toLocaleString('en-GB')})`;
  }
  app.devices = app.ids.length;
  $('#map-canvas').setAttribute(
    'aria-label',
    `City map of ${app.ids.length.toLocaleString('en-GB')} devices. Drag or use the arrow keys to move, + and - to zoom.`,
  );
}

// Replace or update markers from a /devices or /changes answer.
function applyDevices(answer) {
  app.domains = answer.domains;
  app.states = answer.states;
  const table = answer.devices;
  if (answer.reset) {
    app.ids = table.id.slice();
    app.domain = table.domain.slice();
    app.state = table.state.slice();
    app.lon = table.lon.slice();
    app.lat = table.lat.slice();
    app.index = new Map(app.ids.map((id, i) => [id, i]));
  } else {
    if (!table.id.length && !answer.removed.length) return;
    for (let j = 0; j < table.id.length; j++) {
      let i = app.index.get(table.id[j]);
      if (i === undefined) {
        i = app.ids.length;
        app.ids.push(table.id[j]);
        app.index.set(table.id[j], i);
      }
      app.domain[i] = table.domain[j];
      app.state[i] = table.state[j];
      app.lon[i] = table.lon[j];
      app.lat[i] = table.lat[j];
    }
    if (answer.removed.length) {
      const gone = new Set(answer.removed);
      const keep = app.ids.map((id, i) => i).filter((i) => !gone.has(app.ids[i]));
      for (const key of ['ids', 'domain', 'state', 'lon', 'lat']) app[key] = keep.map((i) => app[key][i]);
      app.index = new Map(app.ids.map((id, i) => [id, i]));
    }
  }
  pushDevices();
}

// -- filters and search -----------------------------------------------------------------------------

function setShown(keys, { push = true } = {}) {
  app.shown = new Set(keys);
  for (const box of document.querySelectorAll('input[name="domain"]')) box.checked = app.shown.has(box.value);
  map.setVisibleDomains(visibleDomainCodes());
  if (push) {
    const url = new URL(window.location.href);
    const all = config.domains.filter((d) => d.states.length).every((d) => app.shown.has(d.key));
    if (all) url.searchParams.delete('domain');
    else url.searchParams.set('domain', [...app.shown].join(','));
    history.replaceState(null, '', url);
  }
}

for (const box of document.querySelectorAll('input[name="domain"]')) {
  box.addEventListener('change', () => {
    const keys = [...document.querySelectorAll('input[name="domain"]:checked')].map((b) => b.value);
    setShown(keys);
  });
}
$('#show-all').addEventListener('click', () => setShown(config.domains.map((d) => d.key)));

function matches(text) {
  const wanted = text.trim().toLowerCase();
  if (!wanted) return [];
  const exact = app.index.get(text.trim());
  const found = exact === undefined ? [] : [exact];
  for (let i = 0; i < app.ids.length && found.length < 10; i++) {
    if (i !== exact && app.ids[i].toLowerCase().includes(wanted)) found.push(i);
  }
  return found;
}

function showMatches(text) {
  const list = $('#search-results');
  const found = matches(text);
  list.replaceChildren(...found.map((i) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    const domain = app.domains[app.domain[i]];
    button.textContent = app.ids[i];
    button.setAttribute('aria-label', `${app.ids[i]}, ${domainInfo.get(domain).label}, ${stateLabel(domain, app.states[app.state[i]])}`);
    button.addEventListener('click', () => select(app.ids[i]));
    item.append(button);
    return item;
  }));
  $('#search-status').textContent = text.trim()
    ? (found.length ? `${found.length}${found.length === 10 ? '+' : ''} matching devices` : 'No device matches')
    : '';
  return found;
}

let searchTimer = 0;
$('#search-id').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => showMatches(e.target.value), 120);
});
$('#search').addEventListener('submit', (e) => {
  e.preventDefault();
  const found = showMatches($('#search-id').value);
  if (found.length === 1 || (found.length && app.ids[found[0]] === $('#search-id').value.trim())) {
    select(app.ids[found[0]]);
  } else if (found.length) {
    $('#search-results button').focus();
  }
});

// -- one device -------------------------------------------------------------------------------------

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function formatValue(attribute) {
  const value = attribute.value;
  if (typeof value === 'number') return `${formatNumber(value)}${attribute.unit ? ` ${attribute.unit}` : ''}`;
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value).slice(0, 120);
  return `${value}${attribute.unit ? ` ${attribute.unit}` : ''}`;
}

function alertWhen(alert) {
  const since = alert.validFrom ? `since ${formatTime(alert.validFrom)}` : '';
  return alert.validTo ? `${since}, ended ${formatTime(alert.validTo)}` : since;
}

async function showDeviceAlerts(id) {
  const answer = await getJSON(`/devices/${encodeURIComponent(id)}/alerts`);
  if (app.selected !== id) return;
  const list = $('#device-alerts');
  if (!answer.alerts.length) {
    const none = document.createElement('li');
    none.textContent = 'None.';
    list.replaceChildren(none);
    return;
  }
  list.replaceChildren(...answer.alerts.map((alert) => {
    const item = document.createElement('li');
    item.className = alert.validTo ? 'closed' : 'open';
    item.dataset.alert = alert.id;
    const when = document.createElement('span');
    when.className = 'when';
    when.textContent = ` ${alertWhen(alert)}`;
    item.append(`${alert.subCategory || alert.category || 'alert'} (${alert.provider || 'service'})`, when);
    return item;
  }));
}

// -- the services' alerts and indicators --------------------------------------------------------------

function showIndicators(indicators) {
  $('#indicators').replaceChildren(...indicators.map((kpi) => {
    const item = document.createElement('li');
    const tile = document.createElement('div');
    tile.className = 'tile kpi';
    tile.dataset.kpi = kpi.id;
    const share = kpi.value !== null && kpi.value >= 0 && kpi.value <= 1;
    const title = document.createElement('span');
    title.className = 'tile-title';
    title.textContent = kpi.name || kpi.id;
    const value = document.createElement('span');
    value.className = 'tile-value';
    const figure = document.createElement('span');
    figure.className = 'figure';
    figure.textContent = kpi.value === null ? '–' : formatNumber(share ? kpi.value * 100 : kpi.value);
    const unit = document.createElement('span');
    unit.className = 'unit';
    unit.textContent = share ? '%' : '';
    value.append(figure, ' ', unit);
    const detail = document.createElement('span');
    detail.className = 'tile-detail';
    detail.textContent = kpi.observedAt ? `${kpi.provider} · ${formatTime(kpi.observedAt)}` : (kpi.provider || '');
    tile.append(title, value, detail);
    item.append(tile);
    return item;
  }));
}

function showAlerts(answer) {
  app.alerts = answer.alerts.length;
  showIndicators(answer.indicators);
  $('#alerts-status').textContent = answer.alerts.length
    ? `${answer.alerts.length} open ${answer.alerts.length === 1 ? 'alert' : 'alerts'}, newest first`
    : 'No open alerts.';
  $('#alerts').replaceChildren(...answer.alerts.map((alert) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.source = alert.source || '';
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = `${alert.subCategory || alert.category || 'Alert'}: ${alert.source || ''}`;
    const when = document.createElement('span');
    when.className = 'when';
    when.textContent = ` ${alertWhen(alert)} · ${alert.provider || ''}`;
    button.append(what, when);
    button.title = alert.description || '';
    button.addEventListener('click', () => {
      if (!alert.source) return;
      select(alert.source);
      $('#map').scrollIntoView({ behavior: 'smooth', block: 'start' });
    });
    item.append(button);
    return item;
  }));
}

async function refreshAlerts() {
  showAlerts(await getJSON('/alerts'));
}

async function showDetail(id) {
  const detail = await getJSON(`/devices/${encodeURIComponent(id)}`);
  if (app.selected !== id) return null;
  showDeviceAlerts(id).catch(() => { $('#device-alerts').replaceChildren(); });
  $('#device-title').textContent = id;
  const domain = detail.domain ? domainInfo.get(detail.domain) : null;
  const parts = [detail.type];
  if (domain) parts.push(domain.label);
  if (detail.state) parts.push(stateLabel(detail.domain, detail.state));
  if (detail.lat !== null) parts.push(`${detail.lat.toFixed(5)} N, ${detail.lon.toFixed(5)} E`);
  $('#device-meta').textContent = parts.join(' · ');
  $('#device-attributes tbody').replaceChildren(...detail.attributes.map((a) => {
    const row = document.createElement('tr');
    const head = document.createElement('th');
    head.scope = 'row';
    head.textContent = a.name;
    row.append(head, cell(formatValue(a)), cell(a.observedAt ? formatTime(a.observedAt) : ''));
    row.dataset.attribute = a.name;
    return row;
  }));
  return detail;
}

async function showCharts(id) {
  const status = $('#charts-status');
  status.textContent = 'Loading history…';
  const answer = await getJSON(`/devices/${encodeURIComponent(id)}/history?span=${app.span}`);
  if (app.selected !== id) return;
  if (!answer.series.length) {
    $('#charts').replaceChildren();
    status.textContent = 'No numeric readings in this span.';
    app.chartPoints = 0;
    return;
  }
  const domain = app.index.has(id) ? app.domains[app.domain[app.index.get(id)]] : null;
  const states = domain ? domainInfo.get(domain).states : [];
  const points = await drawCharts($('#charts'), answer.series, {
    plotlyUrl: config.plotly, span: app.span, colour: states.length ? states[0].colour : undefined,
  });
  if (app.selected !== id) return;
  app.chartPoints = points;
  status.textContent = `${answer.series.length} ${answer.series.length === 1 ? 'attribute' : 'attributes'} charted ${app.span === '7d' ? 'over 7 days' : 'over the last 24 hours'}.`;
}

async function select(id, { centre = true } = {}) {
  if (!id) return;
  app.selected = id;
  app.chartPoints = 0;
  const section = $('#device');
  section.hidden = false;
  document.body.classList.add('with-device');
  const i = app.index.get(id);
  if (i !== undefined) {
    const domain = app.domains[app.domain[i]];
    if (!app.shown.has(domain)) setShown([...app.shown, domain]);
    map.select(i);
    if (centre) map.centreOn(i);
  } else {
    map.select(-1);
  }
  const url = new URL(window.location.href);
  url.searchParams.set('device', id);
  history.replaceState(null, '', url);
  try {
    const detail = await showDetail(id);
    if (!detail) return;
    app.selectedObserved = detail.observedAt;
    await showCharts(id);
  } catch (error) {
    $('#charts-status').textContent = error.status === 404 ? `No device ${id}.` : `Could not load ${id}: ${error.message}`;
  }
}

$('#device-close').addEventListener('click', () => {
  app.selected = null;
  $('#device').hidden = true;
  document.body.classList.remove('with-device');
  map.select(-1);
  const url = new URL(window.location.href);
  url.searchParams.delete('device');
  history.replaceState(null, '', url);
  $('#map-canvas').focus();
});

for (const button of document.querySelectorAll('[data-span]')) {
  button.addEventListener('click', () => {
    app.span = button.dataset.span;
    for (const other of document.querySelectorAll('[data-span]')) other.setAttribute('aria-pressed', String(other === button));
    if (app.selected) showCharts(app.selected).catch((error) => { $('#charts-status').textContent = error.message; });
  });
}

for (const button of document.querySelectorAll('[data-zoom]')) {
  button.addEventListener('click', () => {
    const how = button.dataset.zoom;
    if (how === 'in') map.zoomBy(1.6);
    else if (how === 'out') map.zoomBy(1 / 1.6);
    else map.fit();
  });
}

// -- overview tiles ---------------------------------------------------------------------------------

function showOverview(overview) {
  for (const tile of overview.tiles) {
    const element = document.getElementById(`tile-${tile.domain}`);
    if (!element) continue;
    element.querySelector('.figure').textContent = tile.value === null ? '–' : formatNumber(tile.value);
    element.querySelector('.unit').textContent = tile.unit;
    element.querySelector('.tile-title').textContent = tile.title;
    element.querySelector('.tile-detail').textContent = tile.detail;
    element.classList.toggle('alert', Boolean(tile.alert));
    element.dataset.value = tile.value === null ? '' : String(tile.value);
  }
}

for (const tile of document.querySelectorAll('.tile')) {
  tile.addEventListener('click', (e) => {
    e.preventDefault();
    const domain = tile.dataset.domain;
    if (domain === 'grid') {
      const grid = 'urn:ngsi-ld:GridSignal:DK2';
      select(grid);
      $('#device').scrollIntoView({ behavior: 'smooth', block: 'start' });
      return;
    }
    setShown([domain]);
    $('#map').scrollIntoView({ behavior: 'smooth', block: 'start' });
    $('#map-canvas').focus({ preventScroll: true });
  });
}

function showNow(text) {
  app.now = text;
  const element = $('#now');
  element.dateTime = text;
  element.textContent = formatTime(text);
}

// -- live updates -----------------------------------------------------------------------------------

// The connection's state, announced to screen readers only when it changes.
function setLive(text, lost) {
  const live = $('#live');
  if (live.textContent !== text) live.textContent = text;
  live.parentElement.classList.toggle('lost', lost);
}

async function poll() {
  try {
    const answer = await getJSON(`/changes?since=${encodeURIComponent(app.version || '')}`);
    applyDevices(answer);
    app.version = answer.version;
    showNow(answer.now);
    showOverview(answer.overview);
    await refreshAlerts();
    app.updates += 1;
    app.failures = 0;
    setLive('Live', false);
    $('#updated').textContent = `updated ${formatTime(new Date().toISOString())}`;
    if (app.selected) {
      const id = app.selected;
      const detail = await showDetail(id);
      if (detail && detail.observedAt !== app.selectedObserved) {
        app.selectedObserved = detail.observedAt;
        await showCharts(id);
      }
    }
  } catch (error) {
    app.failures += 1;
    setLive('Connection lost, retrying…', true);
  }
  const wait = config.pollSeconds * 1000 * Math.min(2 ** app.failures, 10);
  setTimeout(poll, wait);
}

async function start() {
  const params = new URLSearchParams(window.location.search);
  const wanted = (params.get('domain') || '').split(',').filter((key) => domainInfo.has(key));
  if (wanted.length) setShown(wanted, { push: false });
  const overview = getJSON('/overview').then(showOverview);
  const alerts = refreshAlerts().catch((error) => { $('#alerts-status').textContent = `Could not load alerts: ${error.message}`; });
  const [devices, districts] = await Promise.all([getJSON('/devices'), getJSON('/districts')]);
  map.setDistricts(districts.districts);
  applyDevices(devices);
  app.version = devices.version;
  showNow(devices.now);
  await overview;
  await alerts;
  setLive('Live', false);
  $('#updated').textContent = `${app.ids.length.toLocaleString('en-GB')} devices`;
  if (params.get('device')) select(params.get('device'));
  setTimeout(poll, config.pollSeconds * 1000);
}

start().catch((error) => {
  setLive(`Could not load the city: ${error.message}`, true);
  setTimeout(poll, config.pollSeconds * 1000);
});
