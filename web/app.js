// Vidscribe dashboard: plain ES module, no framework, no build step.
// Live updates come from Server-Sent Events (API.md "Live events"); polling only while the
// event stream is down. Everything user-supplied is rendered with textContent.

const UPLOAD_PARALLELISM = 3;
const POLL_MS = 3000;
const STALL_AFTER_MS = 30000;
const TOKEN_KEY = 'vidscribe.token';
const FORMATS = ['txt', 'srt', 'vtt', 'json'];

const STATUS = {
  pending: { icon: '○', label: 'Pending' },
  queued: { icon: '⋯', label: 'Queued' },
  processing: { icon: '⟳', label: 'Processing' },
  completed: { icon: '✓', label: 'Completed' },
  failed: { icon: '✕', label: 'Failed' },
  skipped: { icon: '↷', label: 'Skipped' },
  cancelled: { icon: '⊘', label: 'Cancelled' },
};

const STAGES = {
  waiting: 'Waiting',
  loading_model: 'Loading model',
  decoding: 'Decoding audio',
  transcribing: 'Transcribing',
  writing: 'Writing outputs',
  done: 'Done',
};

// ---------------------------------------------------------------- small DOM helpers

const $ = (id) => document.getElementById(id);

/** Creates an element; `text` always goes through textContent. */
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function setText(node, text) {
  const t = text === undefined || text === null ? '' : String(text);
  if (node.textContent !== t) node.textContent = t;
}

function announce(message) {
  const a = $('announcer');
  const line = el('p', {}, message);
  a.append(line);
  while (a.childElementCount > 5) a.firstElementChild.remove();
}

function showAlert(message) {
  const box = $('alerts');
  const item = el('div', { class: 'alert' });
  item.append(el('span', {}, message));
  item.append(el('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss message', onclick: () => item.remove() }, '×'));
  box.append(item);
  setTimeout(() => item.remove(), 12000);
}

function fmtClock(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function fmtTimestamp(seconds) {
  const ms = Math.round((seconds % 1) * 10);
  return `${fmtClock(seconds)}.${ms}`;
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function ms(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

function chip(node, status) {
  const s = STATUS[status] || { icon: '?', label: String(status || 'unknown') };
  if (node.dataset.status === status && node.childElementCount) return;
  node.replaceChildren(el('span', { class: 'chip-icon', 'aria-hidden': 'true' }, s.icon), el('span', { class: 'chip-text' }, s.label));
  node.dataset.status = status;
  for (const c of [...node.classList]) if (c.startsWith('chip-')) node.classList.remove(c);
  node.classList.add('chip', `chip-${status}`);
}

// ---------------------------------------------------------------- auth + API

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let tokenAsk = null;
let tokenDeclined = false; // the user dismissed the question: do not ask again by ourselves
let tokenRejected = false; // the server refused the last token we had: say so when asking

/** Asks for the token (once at a time; a rejected token is asked for again, saying so). */
function askToken() {
  if (!tokenAsk) {
    tokenAsk = new Promise((resolve) => {
      // A macrotask later, so callers that hit 401 together share this one question.
      setTimeout(() => {
        const question = tokenRejected
          ? 'The access token was not accepted by this Vidscribe server. Enter the access token:'
          : 'This Vidscribe server needs an access token:';
        const t = window.prompt(question, '');
        if (t && t.trim()) {
          token = t.trim();
          sessionStorage.setItem(TOKEN_KEY, token);
          tokenDeclined = false;
          tokenRejected = false;
        } else {
          tokenDeclined = true;
          needToken();
        }
        $('btn-token').hidden = !tokenDeclined;
        tokenAsk = null;
        resolve(Boolean(t && t.trim()));
      }, 0);
    });
  }
  return tokenAsk;
}

/** No usable token and the user declined to give one: stop streaming and polling (every
 *  request would be refused) until they enter one through the button. */
function needToken() {
  disconnect();
  setConn('offline', tokenRejected ? 'Access token not accepted' : 'Access token required');
  $('btn-token').hidden = false;
}

function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A URL usable where headers cannot be set (links, media, EventSource). */
function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

/** After a 401 for a request sent with `sentWith`: true when it is worth sending again. */
async function recoverFrom401(sentWith) {
  if (token && token !== sentWith) return true; // a token arrived while the request was in flight
  if (token) { token = ''; tokenRejected = true; sessionStorage.removeItem(TOKEN_KEY); }
  if (tokenDeclined) {
    needToken();
    return false;
  }
  return askToken();
}

$('btn-token').addEventListener('click', async () => {
  tokenDeclined = false;
  if (await askToken()) connect();
});

async function api(method, path, body, retried = false) {
  const sentWith = token;
  const headers = { ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 && !retried && (await recoverFrom401(sentWith))) return api(method, path, body, true);
  let data = null;
  const type = resp.headers.get('content-type') || '';
  if (type.includes('json')) data = await resp.json().catch(() => null);
  if (!resp.ok || (data && data.success === false)) throw new ApiError(resp.status, data);
  return data;
}

// ---------------------------------------------------------------- state

const state = {
  view: null, // 'list' | 'batch' | 'transcript'
  batchId: null,
  jobId: null,
  batches: new Map(), // batch_id -> summary
  batch: null, // the full batch shown in detail
  jobs: new Map(), // job_id -> job (of state.batch)
  lastStatus: new Map(), // job_id -> status (for announcements)
  localFiles: new Map(), // job_id -> File uploaded from this page (media fallback)
};

// ---------------------------------------------------------------- live connection

const live = {
  source: null,
  url: null,
  lastId: null,
  pollTimer: null,
  retryTimer: null,
  retryDelay: 1000,
  // A poll showed the state while the stream was down: resuming the stream would replay the
  // events in between, older than what is shown, and rows would go back (completed →
  // processing → completed). The stream then starts over from a snapshot instead.
  polled: false,
};

function setConn(kind, text) {
  const c = $('conn');
  c.dataset.state = kind;
  setText($('conn-text'), text);
}

function connect() {
  disconnect();
  const url = state.view === 'list' ? '/api/events' : `/api/batch/${encodeURIComponent(state.batchId)}/events`;
  live.url = url;
  live.lastId = null;
  live.polled = false;
  open();
}

function open(resumeFrom) {
  let url = live.url;
  if (resumeFrom !== undefined && resumeFrom !== null) url += `?last_event_id=${encodeURIComponent(resumeFrom)}`;
  const es = new EventSource(withToken(url));
  live.source = es;
  setConn('connecting', 'Connecting…');
  es.onopen = () => {
    if (live.source !== es) return;
    live.retryDelay = 1000;
    stopPolling();
    if (live.polled) {
      // Start over from a snapshot (the server subscribes before reading it: nothing is lost).
      es.close();
      live.polled = false;
      live.lastId = null;
      open(null);
      return;
    }
    setConn('live', 'Live');
  };
  es.onerror = () => {
    if (live.source !== es) return;
    startPolling();
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error, e.g. 401 or 404): find out why, then reopen
      // ourselves, resuming from the last event seen.
      setConn('offline', 'Disconnected — polling');
      diagnoseAndReopen(es);
    } else {
      setConn('reconnecting', 'Reconnecting… (polling)');
    }
  };
  const handler = (kind) => (ev) => {
    if (live.source !== es) return;
    if (ev.lastEventId) live.lastId = ev.lastEventId;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    onEvent(kind, data);
  };
  for (const kind of ['snapshot', 'batch', 'job', 'deleted']) es.addEventListener(kind, handler(kind));
}

async function diagnoseAndReopen(es) {
  const url = live.url;
  try {
    // A cheap request through the same auth layer tells 401 / 404 from "server down".
    const probe = state.view === 'list' ? '/api/batch/list' : `/api/batch/${encodeURIComponent(state.batchId)}`;
    await api('GET', probe);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && state.view !== 'list') {
      batchGone();
      return;
    }
  }
  clearTimeout(live.retryTimer);
  live.retryTimer = setTimeout(() => {
    if (live.source === es && live.url === url) open(live.lastId);
  }, live.retryDelay);
  live.retryDelay = Math.min(live.retryDelay * 2, 15000);
}

function disconnect() {
  if (live.source) live.source.close();
  live.source = null;
  clearTimeout(live.retryTimer);
  stopPolling();
}

function startPolling() {
  if (live.pollTimer) return;
  live.pollTimer = setInterval(pollOnce, POLL_MS);
  pollOnce();
}

function stopPolling() {
  clearInterval(live.pollTimer);
  live.pollTimer = null;
}

async function pollOnce() {
  try {
    if (state.view === 'list') {
      const data = await api('GET', '/api/batch/list');
      applyList(data.batches || []);
    } else if (state.batchId) {
      const data = await api('GET', `/api/batch/${encodeURIComponent(state.batchId)}`);
      applyBatch(data.batch);
    }
    if (!live.source || live.source.readyState !== EventSource.OPEN) live.polled = true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && state.view !== 'list') batchGone();
  }
}

function onEvent(kind, data) {
  if (kind === 'snapshot') {
    if (state.view === 'list') applyList(data.batches || []);
    else applyBatch(data);
    return;
  }
  if (kind === 'deleted') {
    state.batches.delete(data.batch_id);
    if (state.view === 'list') renderList();
    else if (data.batch_id === state.batchId) batchGone();
    return;
  }
  if (kind === 'batch') {
    if (state.view === 'list') {
      const prev = state.batches.get(data.batch_id) || {};
      state.batches.set(data.batch_id, { ...prev, ...data });
      renderList();
    } else if (state.batch && data.batch_id === state.batchId) {
      const { jobs: _ignored, ...summary } = data;
      Object.assign(state.batch, summary);
      renderBatchHeader();
    }
    return;
  }
  if (kind === 'job' && state.batch && data.batch_id === state.batchId) {
    const prev = state.jobs.get(data.job_id);
    state.jobs.set(data.job_id, { ...prev, ...data });
    renderJobs();
    renderBatchHeader();
  }
}

const deleting = new Set(); // batches this page is deleting: their `deleted` event is expected

function batchGone() {
  const id = state.batchId;
  state.batches.delete(id);
  if (!deleting.has(id)) showAlert('This batch no longer exists (it was deleted).');
  if (state.batchId === id) location.hash = '#/';
}

// ---------------------------------------------------------------- list view

function applyList(list) {
  state.batches = new Map(list.map((b) => [b.batch_id, b]));
  renderList();
}

function renderList() {
  const ul = $('batch-list');
  const items = [...state.batches.values()].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  $('list-empty').hidden = items.length > 0;
  const existing = new Map([...ul.children].map((li) => [li.dataset.batchId, li]));
  const keep = new Set();
  let prev = null;
  for (const b of items) {
    let li = existing.get(b.batch_id);
    if (!li) {
      li = el('li', { class: 'batch-item', dataset: { batchId: b.batch_id } });
      const a = el('a', { class: 'batch-link', href: `#/batch/${encodeURIComponent(b.batch_id)}` });
      const top = el('div', { class: 'batch-item-top' });
      top.append(a, el('span', { class: 'chip' }));
      const bar = el('progress', { max: '100', value: '0' });
      li.append(top, el('div', { class: 'batch-item-bar' }, null), el('p', { class: 'meta' }));
      li.querySelector('.batch-item-bar').append(bar, el('span', { class: 'progress-text' }));
    }
    keep.add(b.batch_id);
    const p = b.progress || {};
    const link = li.querySelector('.batch-link');
    setText(link, b.name);
    chip(li.querySelector('.chip'), b.status);
    const bar = li.querySelector('progress');
    const pct = Number(p.progress_percentage) || 0;
    bar.value = pct;
    bar.setAttribute('aria-label', `Progress of ${b.name}`);
    setText(li.querySelector('.progress-text'), `${pct.toFixed(0)}%`);
    const total = b.total_jobs ?? p.total_jobs ?? 0;
    setText(li.querySelector('.meta'), `${p.completed_jobs ?? 0} of ${total} done` + (p.failed_jobs ? `, ${p.failed_jobs} failed` : '') + ` · created ${fmtDate(b.created_at)}`);
    if (li.previousElementSibling !== prev || li.parentNode !== ul) {
      if (prev) prev.after(li); else ul.prepend(li);
    }
    prev = li;
  }
  for (const [id, li] of existing) if (!keep.has(id)) li.remove();
}

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = $('create-error');
  setText(err, '');
  const formats = [...form.querySelectorAll('input[name=formats]:checked')].map((i) => i.value);
  if (!formats.length) { setText(err, 'Choose at least one output format.'); return; }
  const conc = Number(form.max_concurrent.value);
  if (!Number.isInteger(conc) || conc < 1 || conc > 16) { setText(err, 'Files at once must be a whole number from 1 to 16.'); form.max_concurrent.focus(); return; }
  const body = { max_concurrent: conc, formats };
  if (form.name.value.trim()) body.name = form.name.value.trim();
  if (form.model.value.trim()) body.model = form.model.value.trim();
  if (form.language.value.trim()) body.language = form.language.value.trim();
  const btn = $('create-submit');
  btn.disabled = true;
  try {
    const data = await api('POST', '/api/batch/create', body);
    form.name.value = '';
    announce('Batch created.');
    location.hash = `#/batch/${encodeURIComponent(data.batch_id)}`;
  } catch (e) {
    setText(err, e.message);
  } finally {
    btn.disabled = false;
  }
});

// ---------------------------------------------------------------- batch view

function applyBatch(batch) {
  if (!batch || batch.batch_id !== state.batchId) return;
  const { jobs = [], ...rest } = batch;
  state.batch = rest;
  state.jobs = new Map(jobs.map((j) => [j.job_id, j]));
  renderBatchHeader();
  renderJobs();
}

function batchUrl(suffix = '') {
  return `/api/batch/${encodeURIComponent(state.batchId)}${suffix}`;
}

function jobUrl(jobId, suffix) {
  return `${batchUrl()}/jobs/${encodeURIComponent(jobId)}${suffix}`;
}

function renderBatchHeader() {
  const b = state.batch;
  if (!b) return;
  setText($('batch-name'), b.name);
  document.title = `${b.name} — Vidscribe`;
  chip($('batch-status'), b.status);
  const p = b.progress || {};
  const jobs = [...state.jobs.values()];
  // Counts from the jobs we hold when we hold them all (they are the freshest), else the summary.
  const counts = { ...p };
  if (jobs.length) {
    counts.total_jobs = jobs.length;
    for (const s of ['queued', 'processing', 'completed', 'failed', 'skipped', 'cancelled']) counts[`${s}_jobs`] = jobs.filter((j) => j.status === s).length;
  }
  for (const dd of $('batch-counts').querySelectorAll('dd[data-count]')) setText(dd, counts[dd.dataset.count] ?? 0);
  const pct = Number(p.progress_percentage) || 0;
  $('batch-progress-bar').value = pct;
  setText($('batch-progress-text'), `${pct.toFixed(1)}%`);
  setText($('batch-eta'), p.estimated_remaining || '—');
  const meta = [`Model ${b.model || '—'}`, `language ${b.language || 'auto'}`, `${b.max_concurrent ?? '?'} at once`];
  if (b.formats) meta.push(`formats ${b.formats.join(', ')}`);
  meta.push(`created ${fmtDate(b.created_at)}`);
  if (b.started_at) meta.push(`started ${fmtDate(b.started_at)}`);
  if (b.completed_at) meta.push(`finished ${fmtDate(b.completed_at)}`);
  setText($('batch-meta'), meta.join(' · '));
  const errP = $('batch-error');
  errP.hidden = !b.error_message;
  setText(errP, b.error_message || '');

  const pending = b.status === 'pending';
  const active = b.status === 'pending' || b.status === 'processing';
  const total = counts.total_jobs || 0;
  const busy = uploads.active > 0 || uploads.queue.length > 0;
  $('btn-start').hidden = !pending;
  $('btn-start').disabled = total === 0 || busy;
  $('btn-cancel').hidden = !active;
  $('upload-section').hidden = !pending;
  const zip = $('btn-zip');
  const anyDone = (counts.completed_jobs || 0) > 0;
  zip.hidden = !anyDone;
  zip.href = withToken(batchUrl('/download'));
  const note = $('start-note');
  if (pending && busy) { note.hidden = false; setText(note, 'Start is available when the uploads have finished.'); }
  else if (pending && total === 0) { note.hidden = false; setText(note, 'Add at least one file, then start.'); }
  else note.hidden = true;
}

function jobRow(job) {
  const li = el('li', { class: 'job', dataset: { jobId: job.job_id } });
  const head = el('div', { class: 'job-head' });
  head.append(el('span', { class: 'job-name' }), el('span', { class: 'chip job-status' }));
  const bar = el('div', { class: 'job-bar' });
  bar.append(el('progress', { class: 'job-progress', max: '100', value: '0' }), el('span', { class: 'progress-text' }));
  const facts = el('dl', { class: 'job-facts' });
  for (const [k, label] of [['stage', 'Stage'], ['elapsed', 'Elapsed'], ['eta', 'ETA'], ['worker', 'Worker']]) {
    const d = el('div', { class: `fact fact-${k}` });
    d.append(el('dt', {}, label), el('dd', { class: `job-${k}` }));
    facts.append(d);
  }
  const stalled = el('p', { class: 'job-stalled warn-text', hidden: true });
  const error = el('p', { class: 'job-error error-text', hidden: true });
  const warning = el('p', { class: 'job-warning warn-text', hidden: true });
  const actions = el('div', { class: 'actions job-actions' });
  li.append(head, bar, facts, stalled, error, warning, actions);
  return li;
}

function jobTimes(job, now) {
  const started = ms(job.started_at);
  const ended = ms(job.completed_at);
  const elapsed = started ? ((ended || now) - started) / 1000 : null;
  let eta = null;
  if (job.status === 'processing' && elapsed !== null && job.progress > 0.02 && job.progress < 1) {
    eta = (elapsed * (1 - job.progress)) / job.progress;
  }
  return { elapsed, eta };
}

function updateJobRow(li, job, now) {
  const name = li.querySelector('.job-name');
  setText(name, job.original_filename);
  const statusChip = li.querySelector('.job-status');
  chip(statusChip, job.status);
  li.dataset.status = job.status;
  const pct = job.status === 'completed' ? 100 : Math.max(0, Math.min(100, (Number(job.progress) || 0) * 100));
  const bar = li.querySelector('.job-progress');
  if (Math.abs(bar.value - pct) > 0.001) bar.value = pct;
  bar.setAttribute('aria-label', `Progress of ${job.original_filename}`);
  setText(li.querySelector('.job-bar .progress-text'), `${pct.toFixed(0)}%`);
  setText(li.querySelector('.job-stage'), job.stage ? (STAGES[job.stage] || job.stage) : '—');
  const { elapsed, eta } = jobTimes(job, now);
  setText(li.querySelector('.job-elapsed'), fmtClock(elapsed));
  setText(li.querySelector('.job-eta'), eta === null ? '—' : fmtClock(eta));
  setText(li.querySelector('.job-worker'), job.worker || '—');
  li.querySelector('.fact-worker').hidden = !job.worker;
  const hb = ms(job.heartbeat_at);
  const stalled = li.querySelector('.job-stalled');
  const isStalled = job.status === 'processing' && hb !== null && now - hb > STALL_AFTER_MS;
  stalled.hidden = !isStalled;
  if (isStalled) setText(stalled, `⚠ Stalled since ${new Date(hb).toLocaleTimeString()} (no heartbeat from ${job.worker || 'its worker'} for ${fmtClock((now - hb) / 1000)})`);
  const err = li.querySelector('.job-error');
  err.hidden = !job.error_message;
  setText(err, job.error_message ? `Error: ${job.error_message}` : '');
  const warning = li.querySelector('.job-warning');
  warning.hidden = !job.warning;
  setText(warning, job.warning ? `⚠ ${job.warning}` : '');

  // Actions depend only on status: rebuild them when it changes.
  const actions = li.querySelector('.job-actions');
  if (actions.dataset.for !== job.status) {
    actions.dataset.for = job.status;
    actions.replaceChildren(...jobActions(job));
  }
}

function jobActions(job) {
  const out = [];
  const name = job.original_filename;
  if (job.status === 'queued' || job.status === 'processing') {
    out.push(el('button', { type: 'button', class: 'job-cancel', 'aria-label': `Cancel ${name}`, onclick: (e) => jobAction(e.currentTarget, job.job_id, 'cancel') }, 'Cancel'));
  }
  if (job.status === 'failed' || job.status === 'skipped' || job.status === 'cancelled') {
    out.push(el('button', { type: 'button', class: 'job-retry', 'aria-label': `Retry ${name}`, onclick: (e) => jobAction(e.currentTarget, job.job_id, 'retry') }, 'Retry'));
  }
  if (job.status === 'completed') {
    out.push(el('a', { class: 'button primary job-view', href: `#/batch/${encodeURIComponent(state.batchId)}/job/${encodeURIComponent(job.job_id)}`, 'aria-label': `View transcript of ${name}` }, 'View transcript'));
    const formats = state.batch && state.batch.formats && state.batch.formats.length ? state.batch.formats : FORMATS;
    for (const f of FORMATS) {
      if (!formats.includes(f) && f !== 'json') continue;
      out.push(el('a', { class: 'button job-download', href: withToken(jobUrl(job.job_id, `/transcript.${f}`)), download: '', dataset: { format: f }, 'aria-label': `Download ${f.toUpperCase()} of ${name}` }, f.toUpperCase()));
    }
  }
  return out;
}

async function jobAction(button, jobId, what) {
  button.disabled = true;
  try {
    await api('POST', jobUrl(jobId, `/${what}`));
    announce(what === 'retry' ? 'Job queued again.' : 'Cancel requested.');
    if (!live.source || live.source.readyState !== EventSource.OPEN) pollOnce();
  } catch (e) {
    showAlert(`Could not ${what} the job: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

function renderJobs() {
  const ul = $('job-list');
  const now = Date.now();
  const jobs = [...state.jobs.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)) || String(a.job_id).localeCompare(String(b.job_id)));
  $('jobs-empty').hidden = jobs.length > 0;
  const existing = new Map([...ul.children].map((li) => [li.dataset.jobId, li]));
  const keep = new Set();
  let prev = null;
  for (const job of jobs) {
    let li = existing.get(job.job_id);
    if (!li) li = jobRow(job);
    keep.add(job.job_id);
    updateJobRow(li, job, now);
    if (li.parentNode !== ul || li.previousElementSibling !== prev) {
      if (prev) prev.after(li); else ul.prepend(li);
    }
    prev = li;
    const before = state.lastStatus.get(job.job_id);
    if (before && before !== job.status) announce(`${job.original_filename}: ${(STATUS[job.status] || {}).label || job.status}`);
    state.lastStatus.set(job.job_id, job.status);
  }
  for (const [id, li] of existing) if (!keep.has(id)) li.remove();
}

// A once-a-second tick for elapsed / ETA / stalled, without any network traffic.
setInterval(() => {
  if (state.view !== 'batch') return;
  const now = Date.now();
  for (const li of $('job-list').children) {
    const job = state.jobs.get(li.dataset.jobId);
    if (job && (job.status === 'processing' || li.querySelector('.job-stalled').hidden === false)) updateJobRow(li, job, now);
  }
}, 1000);

$('btn-start').addEventListener('click', async (ev) => {
  const failed = uploads.items.filter((u) => u.state === 'failed').length;
  if (failed && !window.confirm(`${failed} file(s) failed to upload and are not in this batch. Start without them?`)) return;
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api('POST', batchUrl('/start'));
    announce('Batch started.');
    if (!live.source || live.source.readyState !== EventSource.OPEN) pollOnce();
  } catch (e) {
    showAlert(`Could not start: ${e.message}`);
    btn.disabled = false;
  }
});

$('btn-cancel').addEventListener('click', async (ev) => {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api('POST', batchUrl('/cancel'));
    announce('Batch cancel requested.');
  } catch (e) {
    showAlert(`Could not cancel: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
});

$('btn-delete').addEventListener('click', async (ev) => {
  const name = state.batch ? state.batch.name : 'this batch';
  if (!window.confirm(`Delete the batch "${name}" with its uploads and transcripts? This cannot be undone.`)) return;
  const btn = ev.currentTarget;
  const id = state.batchId;
  btn.disabled = true;
  deleting.add(id);
  try {
    await api('DELETE', batchUrl());
    announce('Batch deleted.');
    state.batches.delete(id);
    // The stream's `deleted` event may already have taken us back to the list.
    if (state.batchId === id) location.hash = '#/';
  } catch (e) {
    deleting.delete(id);
    showAlert(`Could not delete: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
});

// ---------------------------------------------------------------- uploads

const uploads = { items: [], queue: [], active: 0, batchId: null };

function resetUploads() {
  for (const u of uploads.items) if (u.xhr && u.state === 'uploading') u.xhr.abort();
  uploads.items = [];
  uploads.queue = [];
  uploads.active = 0;
  $('upload-list').replaceChildren();
  setText($('upload-summary'), '');
}

function addFiles(fileList) {
  const files = [...fileList];
  if (!files.length || !state.batchId) return;
  for (const file of files) {
    const u = { file, state: 'waiting', batchId: state.batchId, row: null, xhr: null };
    u.row = uploadRow(u);
    $('upload-list').append(u.row);
    uploads.items.push(u);
    uploads.queue.push(u);
  }
  pumpUploads();
  updateUploadSummary();
}

function uploadRow(u) {
  const li = el('li', { class: 'upload', dataset: { state: 'waiting' } });
  li.append(
    el('span', { class: 'upload-name' }, u.file.name),
    el('span', { class: 'upload-size' }, fmtBytes(u.file.size)),
    el('progress', { class: 'upload-progress', max: '100', value: '0', 'aria-label': `Upload of ${u.file.name}` }),
    el('span', { class: 'upload-state' }, 'Waiting'),
    el('span', { class: 'upload-actions' }),
  );
  return li;
}

function setUpload(u, st, message) {
  u.state = st;
  u.row.dataset.state = st;
  const icon = { waiting: '…', uploading: '↑', done: '✓', failed: '✕' }[st] || '';
  setText(u.row.querySelector('.upload-state'), `${icon} ${message}`);
  const actions = u.row.querySelector('.upload-actions');
  actions.replaceChildren();
  if (st === 'failed') {
    u.row.querySelector('.upload-state').classList.add('error-text');
    actions.append(
      el('button', { type: 'button', class: 'link upload-retry', 'aria-label': `Retry upload of ${u.file.name}`, onclick: () => { u.row.querySelector('.upload-state').classList.remove('error-text'); setUpload(u, 'waiting', 'Waiting'); uploads.queue.push(u); pumpUploads(); updateUploadSummary(); } }, 'Retry'),
      el('button', { type: 'button', class: 'link upload-dismiss', 'aria-label': `Dismiss ${u.file.name}`, onclick: () => { uploads.items = uploads.items.filter((x) => x !== u); u.row.remove(); updateUploadSummary(); } }, 'Dismiss'),
    );
  }
}

function pumpUploads() {
  while (uploads.active < UPLOAD_PARALLELISM && uploads.queue.length) {
    const u = uploads.queue.shift();
    uploads.active += 1;
    uploadOne(u).finally(() => {
      uploads.active -= 1;
      pumpUploads();
      updateUploadSummary();
      renderBatchHeader();
    });
  }
  renderBatchHeader();
}

function uploadOne(u, retried = false) {
  return new Promise((resolve) => {
    setUpload(u, 'uploading', 'Uploading 0%');
    const xhr = new XMLHttpRequest();
    const sentWith = token;
    u.xhr = xhr;
    xhr.open('POST', '/api/batch/add-video');
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    const bar = u.row.querySelector('.upload-progress');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = (e.loaded / e.total) * 100;
      bar.value = pct;
      setText(u.row.querySelector('.upload-state'), `↑ Uploading ${pct.toFixed(0)}%`);
    };
    xhr.onload = async () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 401 && !retried && (await recoverFrom401(sentWith))) { resolve(uploadOne(u, true)); return; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.success !== false) {
        bar.value = 100;
        if (body.job_id) state.localFiles.set(body.job_id, u.file);
        setUpload(u, 'done', 'Added');
        // Not every server sends a job event for an upload: fetch when the stream is down.
        if (!live.source || live.source.readyState !== EventSource.OPEN) pollOnce();
      } else {
        const why = (body && body.error) || `${xhr.status} ${xhr.statusText || 'upload failed'}`;
        setUpload(u, 'failed', `Rejected: ${why}`);
      }
      resolve();
    };
    xhr.onerror = () => { setUpload(u, 'failed', 'Network error: the upload did not reach the server'); resolve(); };
    xhr.onabort = () => { setUpload(u, 'failed', 'Upload aborted'); resolve(); };
    const fd = new FormData();
    fd.append('batch_id', u.batchId);
    fd.append('file', u.file, u.file.name);
    xhr.send(fd);
  });
}

function updateUploadSummary() {
  const n = uploads.items.length;
  if (!n) { setText($('upload-summary'), ''); return; }
  const done = uploads.items.filter((u) => u.state === 'done').length;
  const failed = uploads.items.filter((u) => u.state === 'failed').length;
  const pending = n - done - failed;
  let text = `${done} of ${n} uploaded`;
  if (pending) text += `, ${pending} in progress`;
  if (failed) text += `, ${failed} rejected or failed — not in the batch (retry or dismiss them)`;
  setText($('upload-summary'), text + '.');
}

$('file-input').addEventListener('change', (ev) => {
  addFiles(ev.target.files);
  ev.target.value = '';
});

{
  const dz = $('dropzone');
  const stop = (e) => { e.preventDefault(); e.stopPropagation(); };
  for (const t of ['dragenter', 'dragover']) dz.addEventListener(t, (e) => { stop(e); dz.classList.add('dragging'); });
  for (const t of ['dragleave', 'dragend']) dz.addEventListener(t, (e) => { stop(e); dz.classList.remove('dragging'); });
  dz.addEventListener('drop', (e) => {
    stop(e);
    dz.classList.remove('dragging');
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  });
  // A file dropped outside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

window.addEventListener('beforeunload', (e) => {
  if (uploads.active > 0 || uploads.queue.length > 0) { e.preventDefault(); e.returnValue = ''; }
});

// ---------------------------------------------------------------- transcript viewer

const viewer = { segments: [], items: [], current: -1, objectUrl: null, triedLocal: false };

async function openViewer() {
  const player = $('player');
  const list = $('segment-list');
  list.replaceChildren();
  viewer.segments = [];
  viewer.items = [];
  viewer.current = -1;
  viewer.triedLocal = false;
  $('segment-search').value = '';
  setText($('segment-count'), 'Loading transcript…');
  $('viewer-back').href = `#/batch/${encodeURIComponent(state.batchId)}`;
  const note = $('player-note');
  note.hidden = true;

  let name = 'Transcript';
  try {
    const { batch } = await api('GET', batchUrl());
    const job = (batch.jobs || []).find((j) => j.job_id === state.jobId);
    if (job) name = job.original_filename;
  } catch { /* the title is cosmetic */ }
  setText($('viewer-title'), name);
  document.title = `${name} — transcript — Vidscribe`;

  // The uploaded media, served by the server; falls back to the file picked in this page.
  player.src = withToken(jobUrl(state.jobId, '/media'));
  player.load();

  try {
    const resp = await fetch(jobUrl(state.jobId, '/transcript.json'), { headers: authHeaders() });
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new Error((body && body.error) || `HTTP ${resp.status}`);
    }
    const t = await resp.json();
    viewer.segments = Array.isArray(t.segments) ? t.segments : [];
  } catch (e) {
    setText($('segment-count'), `Could not load the transcript: ${e.message}`);
    return;
  }
  for (const [i, seg] of viewer.segments.entries()) {
    const li = el('li', { class: 'segment-item' });
    const btn = el('button', { type: 'button', class: 'segment', dataset: { index: String(i), start: String(seg.start) } });
    btn.append(el('span', { class: 'segment-time' }, fmtTimestamp(Number(seg.start) || 0)), el('span', { class: 'segment-text' }, String(seg.text || '').trim()));
    btn.addEventListener('click', () => seek(i));
    li.append(btn);
    list.append(li);
    viewer.items.push(li);
  }
  filterSegments();
}

function seek(i) {
  const seg = viewer.segments[i];
  const player = $('player');
  if (!seg) return;
  player.currentTime = Number(seg.start) + 0.001;
  highlight(i);
}

function highlight(i) {
  if (viewer.current === i) return;
  const prev = viewer.items[viewer.current];
  if (prev) { prev.classList.remove('current'); prev.querySelector('.segment').removeAttribute('aria-current'); }
  viewer.current = i;
  const li = viewer.items[i];
  if (li) {
    li.classList.add('current');
    li.querySelector('.segment').setAttribute('aria-current', 'true');
    if (!li.hidden && typeof li.scrollIntoView === 'function') li.scrollIntoView({ block: 'nearest' });
  }
}

$('player').addEventListener('timeupdate', () => {
  const t = $('player').currentTime;
  const segs = viewer.segments;
  let idx = -1;
  for (let i = 0; i < segs.length; i += 1) {
    if (t >= segs[i].start && t < segs[i].end) { idx = i; break; }
    if (t >= segs[i].start) idx = i;
  }
  if (idx !== -1) highlight(idx);
});

$('player').addEventListener('error', () => {
  const local = state.localFiles.get(state.jobId);
  if (local && !viewer.triedLocal) {
    viewer.triedLocal = true;
    if (viewer.objectUrl) URL.revokeObjectURL(viewer.objectUrl);
    viewer.objectUrl = URL.createObjectURL(local);
    $('player').src = viewer.objectUrl;
    $('player').load();
    return;
  }
  const note = $('player-note');
  note.hidden = false;
  setText(note, 'The media cannot be played here (the server does not serve it, or this browser cannot decode it). The transcript is still searchable.');
});

function filterSegments() {
  const q = $('segment-search').value.trim().toLowerCase();
  let shown = 0;
  for (const [i, li] of viewer.items.entries()) {
    const match = !q || String(viewer.segments[i].text || '').toLowerCase().includes(q);
    li.hidden = !match;
    if (match) shown += 1;
  }
  const total = viewer.items.length;
  setText($('segment-count'), q ? `${shown} of ${total} segments match.` : `${total} segments.`);
}

$('segment-search').addEventListener('input', filterSegments);
$('segment-search').addEventListener('change', filterSegments);

// ---------------------------------------------------------------- routing

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'batch' && parts[1] && parts[2] === 'job' && parts[3]) return { view: 'transcript', batchId: parts[1], jobId: parts[3] };
  if (parts[0] === 'batch' && parts[1]) return { view: 'batch', batchId: parts[1], jobId: null };
  return { view: 'list', batchId: null, jobId: null };
}

function route() {
  const next = parseHash();
  const prevView = state.view;
  const prevBatch = state.batchId;
  state.view = next.view;
  state.batchId = next.batchId;
  state.jobId = next.jobId;
  for (const v of ['list', 'batch', 'transcript']) $(`view-${v}`).hidden = v !== next.view;

  if (next.view !== 'transcript') {
    const player = $('player');
    if (!player.paused) player.pause();
  }
  if (next.batchId !== prevBatch) {
    state.batch = null;
    state.jobs = new Map();
    state.lastStatus = new Map();
    $('job-list').replaceChildren();
    if (uploads.batchId !== next.batchId && next.view === 'batch') {
      if (uploads.active === 0 && uploads.queue.length === 0) resetUploads();
      uploads.batchId = next.batchId;
    }
  }
  if (next.view === 'list') {
    document.title = 'Vidscribe — batches';
    if (prevView !== 'list' || !live.source) connect();
  } else if (next.view === 'batch') {
    if (prevView === 'transcript' && prevBatch === next.batchId && live.source) {
      // Same batch: the stream stayed open while the transcript was shown.
    } else {
      connect();
    }
  } else if (next.view === 'transcript') {
    if (prevBatch !== next.batchId || !live.source || prevView === 'list') connect();
    openViewer();
  }
  const heading = document.querySelector(`#view-${next.view} h2`);
  if (prevView && heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
}

window.addEventListener('hashchange', route);
route();
