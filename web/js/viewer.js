// The transcript viewer: the job's media beside its segments; a segment seeks the player,
// the playing segment is highlighted, and a search box filters the segments. For a job
// still running it shows the live transcript (?partial=1) and appends each `segments`
// event of the batch's stream as it comes.

import { api, batchHash, batchUrl, jobUrl } from './api.js';
import { authHeaders, withToken } from './auth.js';
import { $, el, setText } from './dom.js';
import * as format from './format.js';

const viewer = { segments: [], items: [], current: -1, objectUrl: null, localFile: null, triedLocal: false, batchId: null, jobId: null, live: false };

/** Shows the transcript of `jobId`; `localFile` (the upload picked in this page) plays when
 *  the server's media cannot. */
export async function openViewer(batchId, jobId, localFile) {
  const player = $('player');
  const list = $('segment-list');
  list.replaceChildren();
  Object.assign(viewer, { segments: [], items: [], current: -1, localFile, triedLocal: false, batchId, jobId, live: false });
  list.dataset.live = 'false';
  $('segment-search').value = '';
  setText($('segment-count'), 'Loading transcript…');
  $('viewer-back').href = batchHash(batchId);
  $('player-note').hidden = true;

  let name = 'Transcript';
  try {
    const { batch } = await api('GET', batchUrl(batchId));
    const job = (batch.jobs || []).find((j) => j.job_id === jobId);
    if (job) name = job.original_filename;
  } catch {
    // the title is cosmetic
  }
  setText($('viewer-title'), name);
  document.title = `${name} — transcript — Vidscribe`;

  player.src = withToken(jobUrl(batchId, jobId, '/media'));
  player.load();

  await loadTranscript();
}

/** (Re)reads the transcript: the final one, or what a running job has so far. */
async function loadTranscript() {
  const { batchId, jobId } = viewer;
  let t;
  try {
    const resp = await fetch(jobUrl(batchId, jobId, '/transcript.json?partial=1'), { headers: authHeaders() });
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new Error((body && body.error) || `HTTP ${resp.status}`);
    }
    t = await resp.json();
  } catch (e) {
    setText($('segment-count'), `Could not load the transcript: ${e.message}`);
    return;
  }
  if (viewer.batchId !== batchId || viewer.jobId !== jobId) return; // another job was opened meanwhile
  $('segment-list').replaceChildren();
  Object.assign(viewer, { segments: [], items: [], current: -1, live: t.partial === true });
  $('segment-list').dataset.live = String(viewer.live);
  addSegments(Array.isArray(t.segments) ? t.segments : []);
}

function addSegments(segments) {
  const list = $('segment-list');
  for (const seg of segments) {
    const i = viewer.segments.length;
    viewer.segments.push(seg);
    const li = el('li', { class: 'segment-item' });
    const btn = el('button', { type: 'button', class: 'segment', dataset: { index: String(i), start: String(seg.start) } });
    btn.append(
      el('span', { class: 'segment-time' }, format.timestamp(Number(seg.start) || 0)),
      el('span', { class: 'segment-text' }, String(seg.text || '').trim()),
    );
    btn.addEventListener('click', () => seek(i));
    li.append(btn);
    list.append(li);
    viewer.items.push(li);
  }
  filterSegments();
}

/** A `segments` event of the batch's stream: the open live transcript grows. */
export function onSegments(data) {
  if (!viewer.live || data.job_id !== viewer.jobId) return;
  const have = viewer.segments.length;
  if (data.first > have) {
    loadTranscript(); // missed some (a reconnect): read it whole again
    return;
  }
  addSegments((data.segments || []).slice(have - data.first));
}

/** A `job` event: a live transcript whose job ended is read again, final or not. */
export function onJob(job) {
  if (!viewer.live || job.job_id !== viewer.jobId) return;
  if (['completed', 'failed', 'cancelled', 'skipped', 'queued'].includes(job.status)) loadTranscript();
}

/** Leaving the viewer stops the sound. */
export function closeViewer() {
  const player = $('player');
  if (!player.paused) player.pause();
}

function seek(i) {
  const seg = viewer.segments[i];
  if (!seg) return;
  $('player').currentTime = Number(seg.start) + 0.001;
  highlight(i);
}

function highlight(i) {
  if (viewer.current === i) return;
  const prev = viewer.items[viewer.current];
  if (prev) {
    prev.classList.remove('current');
    prev.querySelector('.segment').removeAttribute('aria-current');
  }
  viewer.current = i;
  const li = viewer.items[i];
  if (li) {
    li.classList.add('current');
    li.querySelector('.segment').setAttribute('aria-current', 'true');
    if (!li.hidden && typeof li.scrollIntoView === 'function') li.scrollIntoView({ block: 'nearest' });
  }
}

function onTimeUpdate() {
  const t = $('player').currentTime;
  const segs = viewer.segments;
  let idx = -1;
  for (let i = 0; i < segs.length; i += 1) {
    if (t >= segs[i].start && t < segs[i].end) {
      idx = i;
      break;
    }
    if (t >= segs[i].start) idx = i;
  }
  if (idx !== -1) highlight(idx);
}

function onMediaError() {
  if (viewer.localFile && !viewer.triedLocal) {
    viewer.triedLocal = true;
    if (viewer.objectUrl) URL.revokeObjectURL(viewer.objectUrl);
    viewer.objectUrl = URL.createObjectURL(viewer.localFile);
    $('player').src = viewer.objectUrl;
    $('player').load();
    return;
  }
  const note = $('player-note');
  note.hidden = false;
  setText(note, 'The media cannot be played here (the server does not serve it, or this browser cannot decode it). The transcript is still searchable.');
}

function filterSegments() {
  const q = $('segment-search').value.trim().toLowerCase();
  let shown = 0;
  for (const [i, li] of viewer.items.entries()) {
    const match = !q || String(viewer.segments[i].text || '').toLowerCase().includes(q);
    li.hidden = !match;
    if (match) shown += 1;
  }
  const total = viewer.items.length;
  const soFar = viewer.live ? ' so far — still transcribing…' : '.';
  setText($('segment-count'), q ? `${shown} of ${total} segments match${soFar}` : `${total} segments${soFar}`);
}

export function initViewer() {
  $('player').addEventListener('timeupdate', onTimeUpdate);
  $('player').addEventListener('error', onMediaError);
  $('segment-search').addEventListener('input', filterSegments);
  $('segment-search').addEventListener('change', filterSegments);
}
