// The batch view: its header (status, progress, counts, ETA, actions) and its jobs table,
// fed by the batch's event stream and drawn in animation frames (at most ten a second
// while live), never once per event.

import { api, batchUrl, jobUrl } from './api.js';
import { withToken } from './auth.js';
import { $, announce, el, setHidden, setText, showAlert } from './dom.js';
import * as format from './format.js';
import { nextFrame } from './frame.js';
import * as jobs from './jobs.js';
import { refreshUnlessLive } from './live.js';
import { JOB_STATUSES, chip, countKey, statusLabel } from './status.js';
import * as uploads from './uploads.js';
import * as viewer from './viewer.js';

/**
 * The header waits for the rows (its counts and status then never run ahead of the table),
 * but never longer than this while a long burst is being drawn.
 */
const HEADER_MAX_LAG_MS = 250;
/**
 * Live updates redraw at most this often. Every redraw costs the browser a style, layout and
 * paint pass however little changed, and events of a big batch arrive hundreds a second:
 * ten redraws a second keep the page current (progress is written every 0.5 s) and leave the
 * browser time for everything else. What the user does (a filter, a sort) redraws at once.
 */
const LIVE_REDRAW_MS = 100;

// headerFor: what the header last showed (the summary object and the counts' version); the
// header redraws only when one of them changed, not on every frame the rows change.
const view = { batchId: null, batch: null, headerAt: 0, headerFor: null, drawnAt: -Infinity, drawTimer: 0 };
const deleting = new Set(); // batches this page is deleting: their `deleted` event is expected

/** Shows `batchId` from now on (an empty page until its snapshot arrives). */
export function enterBatch(batchId) {
  if (view.batchId === batchId) return;
  view.batchId = batchId;
  view.batch = null;
  jobs.resetTable(batchId);
}

/** What the live connection follows while a batch (or one of its transcripts) is shown. */
export function batchTarget(batchId) {
  return {
    url: batchUrl(batchId, '/events'),
    probe: batchUrl(batchId),
    poll: async () => applyBatch((await api('GET', batchUrl(batchId))).batch),
    onEvent,
    onGone: gone,
  };
}

function onEvent(kind, data) {
  if (kind === 'snapshot') applyBatch(data);
  else if (kind === 'deleted') {
    if (data.batch_id === view.batchId) gone();
  } else if (!view.batch || data.batch_id !== view.batchId) {
    // another batch's, or before the snapshot
  } else if (kind === 'batch') {
    const { jobs: _rows, ...summary } = data;
    view.batch = { ...view.batch, ...summary };
    draw();
  } else if (kind === 'job') {
    jobs.mergeJob(data);
    draw();
    viewer.onJob(data);
  } else if (kind === 'segments') {
    viewer.onSegments(data);
  }
}

function applyBatch(batch) {
  if (!batch || batch.batch_id !== view.batchId) return;
  const { jobs: list = [], ...summary } = batch;
  view.batch = summary;
  jobs.setFormats(summary.formats);
  jobs.replaceJobs(list);
  draw();
}

function gone() {
  const id = view.batchId;
  if (!deleting.has(id)) showAlert('This batch no longer exists (it was deleted).');
  if (view.batchId === id) location.hash = '#/';
}

const drawNow = () => nextFrame(render);

/** Redraws in an animation frame, at least LIVE_REDRAW_MS after the last one. */
function draw() {
  if (view.drawTimer) return;
  const wait = view.drawnAt + LIVE_REDRAW_MS - performance.now();
  if (wait <= 0) {
    drawNow();
    return;
  }
  view.drawTimer = setTimeout(() => {
    view.drawTimer = 0;
    drawNow();
  }, wait);
}

function render() {
  view.drawnAt = performance.now();
  if (!view.batch) return;
  const now = Date.now();
  jobs.flush(now);
  const headerDue = !jobs.hasPending() || now - view.headerAt >= HEADER_MAX_LAG_MS;
  if (headerDue) {
    const shows = `${jobs.countsVersion()} ${uploads.busy()}`;
    if (!view.headerFor || view.headerFor.batch !== view.batch || view.headerFor.shows !== shows) {
      renderHeader();
      view.headerFor = { batch: view.batch, shows };
    }
    view.headerAt = now;
  }
  // The rest of a burst in the very next frames; rows settling and a waiting header later.
  if (jobs.hasPending()) drawNow();
  else if (jobs.isSettling() || !headerDue) draw();
}

function renderHeader() {
  const b = view.batch;
  setText($('batch-name'), b.name);
  const title = `${b.name} — Vidscribe`;
  if (document.title !== title) document.title = title;
  chip($('batch-status'), b.status);
  const p = b.progress || {};
  // Counts from the rows when there are rows (they are the freshest), else the summary.
  const held = jobs.counts();
  const counts = { ...p };
  if (held.total) {
    counts.total_jobs = held.total;
    for (const s of JOB_STATUSES) counts[countKey(s)] = held[s];
  }
  for (const dd of $('batch-counts').querySelectorAll('dd[data-count]')) setText(dd, counts[dd.dataset.count] ?? 0);
  const pct = Number(p.progress_percentage) || 0;
  const bar = $('batch-progress-bar');
  if (bar.value !== pct) bar.value = pct;
  setText($('batch-progress-text'), format.percent(pct, 1));
  setText($('batch-eta'), p.estimated_remaining || '—');
  const meta = [`Model ${b.model || '—'}`, `language ${b.language || 'auto'}`, `${b.max_concurrent ?? '?'} at once`];
  if (b.vad) meta.push('speech only (VAD)');
  if (b.formats) meta.push(`formats ${b.formats.join(', ')}`);
  meta.push(`created ${format.date(b.created_at)}`);
  if (b.started_at) meta.push(`started ${format.date(b.started_at)}`);
  if (b.completed_at) meta.push(`finished ${format.date(b.completed_at)}`);
  setText($('batch-meta'), meta.join(' · '));
  setHidden($('batch-error'), !b.error_message);
  setText($('batch-error'), b.error_message || '');

  const pending = b.status === 'pending';
  const active = pending || b.status === 'processing';
  const total = counts.total_jobs || 0;
  const busy = uploads.busy();
  setHidden($('btn-start'), !pending);
  $('btn-start').disabled = total === 0 || busy;
  setHidden($('btn-cancel'), !active);
  setHidden($('upload-section'), !pending);
  const zip = $('btn-zip');
  setHidden(zip, !((counts.completed_jobs || 0) > 0));
  const href = withToken(batchUrl(b.batch_id, '/download'));
  if (zip.getAttribute('href') !== href) zip.setAttribute('href', href);
  const note = $('start-note');
  let why = '';
  if (pending && busy) why = 'Start is available when the uploads have finished.';
  else if (pending && total === 0) why = 'Add at least one file, then start.';
  setHidden(note, !why);
  setText(note, why);
}

async function jobAction(jobId, what, button) {
  button.disabled = true;
  try {
    await api('POST', jobUrl(view.batchId, jobId, `/${what}`));
    announce(what === 'retry' ? 'Job queued again.' : 'Cancel requested.');
    refreshUnlessLive();
  } catch (e) {
    showAlert(`Could not ${what} the job: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

async function start(ev) {
  const failed = uploads.failedCount();
  if (failed && !window.confirm(`${failed} file(s) failed to upload and are not in this batch. Start without them?`)) return;
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api('POST', batchUrl(view.batchId, '/start'));
    announce('Batch started.');
    refreshUnlessLive();
  } catch (e) {
    showAlert(`Could not start: ${e.message}`);
    btn.disabled = false;
  }
}

async function cancel(ev) {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api('POST', batchUrl(view.batchId, '/cancel'));
    announce('Batch cancel requested.');
  } catch (e) {
    showAlert(`Could not cancel: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

async function remove(ev) {
  const name = view.batch ? view.batch.name : 'this batch';
  if (!window.confirm(`Delete the batch "${name}" with its uploads and transcripts? This cannot be undone.`)) return;
  const btn = ev.currentTarget;
  const id = view.batchId;
  btn.disabled = true;
  deleting.add(id);
  try {
    await api('DELETE', batchUrl(id));
    announce('Batch deleted.');
    // The stream's `deleted` event may already have taken us back to the list.
    if (view.batchId === id) location.hash = '#/';
  } catch (e) {
    deleting.delete(id);
    showAlert(`Could not delete: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

/** The header's counts: one figure per job status, named as everywhere else. */
function buildCounts() {
  const dl = $('batch-counts');
  const item = (label, dd) => {
    const div = el('div');
    div.append(el('dt', {}, label), dd);
    return div;
  };
  dl.append(item('Total', el('dd', { dataset: { count: 'total_jobs' } }, '0')));
  for (const s of JOB_STATUSES) dl.append(item(statusLabel(s), el('dd', { dataset: { count: countKey(s) } }, '0')));
  dl.append(item('ETA', el('dd', { id: 'batch-eta' }, '—')));
}

export function initBatch() {
  buildCounts();
  // A filter or sort the user chose is drawn before the click returns: it is one change,
  // and what they asked for is on the screen in the very next frame.
  jobs.initTable({ onAction: jobAction, redraw: render });
  uploads.initUploads({ onChange: draw, onAdded: refreshUnlessLive });
  $('btn-start').addEventListener('click', start);
  $('btn-cancel').addEventListener('click', cancel);
  $('btn-delete').addEventListener('click', remove);
  // Elapsed, ETA and stall warnings move with the clock alone, without any network traffic.
  setInterval(() => {
    if ($('view-batch').hidden || !view.batch) return;
    jobs.tick();
    draw();
  }, 1000);
}
