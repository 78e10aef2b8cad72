// The jobs table of the batch shown: status filter chips with counts, a sort, "failed
// first", and live updates drawn incrementally.
//
// Events only record what changed; `flush` (in an animation frame, at most ten a second
// while live: see batch.js) draws it: each changed job patches its own row, and rows move
// only when the view's order depends on what changed. A status is never skipped: when a burst brings several status
// changes of one job (a stream resumed after an outage replays them), each is drawn for a
// frame of its own, in order, while changes within one status collapse into the latest.

import { $, announce, el, setHidden, setText } from './dom.js';
import { JOB_STATUSES, chip, statusLabel, statusRank } from './status.js';
import { newRow, patchRow, setNumber, ticks } from './job-row.js';
import { epochMs } from './format.js';

/** New rows built per frame: a snapshot of 500 jobs draws in a few short frames, not one long one. */
const NEW_ROWS_PER_FRAME = 50;
/**
 * Rows patched per frame. The browser's work for a frame grows with the rows that changed in
 * it; when more changed, the rest (oldest change first) are drawn in the frames right after,
 * so a burst never becomes one long frame.
 */
const PATCHES_PER_FRAME = 8;
/**
 * Rows are kept in groups (one <tbody> each) that the browser skips as a whole while out of
 * view (content-visibility, styles.css): a change or a moved row then costs the browser its
 * group and a dozen group boxes, not all the rows of a big batch.
 */
const ROWS_PER_GROUP = 25;
/**
 * Under a sort or filter that depends on the jobs' state, a changed job takes its new place
 * at most this often, together with the others that changed meanwhile: its row shows the
 * change at once, but rows do not jump under the reader's eyes ten times a second, and the
 * browser re-places the rows below once a second instead of once per change.
 */
const SETTLE_MS = 1000;
/** More status changes than this in one frame are announced as one summary. */
const ANNOUNCE_EACH_UP_TO = 3;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

const table = {
  ctx: { batchId: null, formats: null },
  // job_id -> { shown: the job as its row shows it (null before its first draw),
  //             steps: states still to draw, oldest first, tr, number }
  records: new Map(),
  arrivals: 0, // records created so far
  dirty: new Set(), // ids of rows to patch in the next flush
  counts: Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])), // of the statuses shown
  countsVersion: 0,
  view: { filter: 'all', sort: 'added', failedFirst: false },
  orderStale: true, // re-place the rows in the next flush (new rows, another view)
  settling: false, // re-place them at the next settle (a job's state moved it)
  placedAt: 0,
  numbersStale: true,
  chipsStale: true,
  onAction: () => {},
  redraw: () => {},
};

// ------------------------------------------------------------------ what the events change

/** Empties the table for another batch. */
export function resetTable(batchId) {
  table.ctx = { batchId, formats: null };
  table.records.clear();
  table.dirty.clear();
  for (const s of JOB_STATUSES) table.counts[s] = 0;
  table.countsVersion += 1;
  table.orderStale = table.numbersStale = table.chipsStale = true;
  for (const group of [...$('job-list').tBodies]) group.remove();
  showEmpty(false, 0);
}

/** The batch's output formats (for the download links of completed jobs). */
export function setFormats(formats) {
  table.ctx.formats = formats || null;
}

/** A snapshot: these are all the jobs, each as it is now. */
export function replaceJobs(jobs) {
  const ids = new Set();
  for (const job of jobs) {
    ids.add(job.job_id);
    record(job, true);
  }
  for (const id of [...table.records.keys()]) if (!ids.has(id)) drop(id);
}

/** A job event: the fields it carries changed. */
export function mergeJob(job) {
  record(job, false);
}

function record(job, whole) {
  let rec = table.records.get(job.job_id);
  if (!rec) {
    // arrival: snapshots list jobs in the order they were created, and a new job's event
    // comes after the jobs before it, so arrival order breaks ties of created_at (stored to
    // the millisecond) the way the server orders them.
    rec = { shown: null, steps: [], tr: null, number: 0, arrival: table.arrivals++, createdMs: null };
    table.records.set(job.job_id, rec);
    table.numbersStale = true;
  }
  // Parsed once (a job's creation time never changes), for the sorts.
  rec.createdMs ??= epochMs(job.created_at);
  const tail = rec.steps[rec.steps.length - 1];
  const latest = tail || rec.shown;
  const next = whole || !latest ? job : { ...latest, ...job };
  if (tail && tail.status === next.status) rec.steps[rec.steps.length - 1] = next;
  else rec.steps.push(next);
  table.dirty.add(job.job_id);
}

function drop(id) {
  const rec = table.records.get(id);
  count(rec.shown, -1);
  if (rec.tr) rec.tr.remove();
  table.records.delete(id);
  table.dirty.delete(id);
  table.orderStale = table.numbersStale = table.chipsStale = true;
}

/** The clock moved: rows of running jobs redraw their elapsed time, ETA and stall warning. */
export function tick() {
  for (const [id, rec] of table.records) if (rec.shown && ticks(rec.shown)) table.dirty.add(id);
}

// ------------------------------------------------------------------ what the page reads

/** Jobs per status as the rows show them, and their total. */
export function counts() {
  let total = 0;
  for (const s of JOB_STATUSES) total += table.counts[s];
  return { ...table.counts, total };
}

/** True while some change is not drawn yet (a status still to show, a row still to build);
 *  rows waiting to settle into their sorted place do not count. */
export const hasPending = () => table.dirty.size > 0;

// ------------------------------------------------------------------ drawing

/** Rows wait to settle into their sorted place (see SETTLE_MS). */
export const isSettling = () => table.settling;

/** Draws what changed since the last flush (or the first part of it: see hasPending). */
export function flush(now) {
  const changed = [];
  let built = 0;
  let patched = 0;
  for (const id of table.dirty) {
    const rec = table.records.get(id);
    if (!rec.tr) {
      if (built >= NEW_ROWS_PER_FRAME) continue;
      rec.tr = newRow(rec.steps[0] || rec.shown);
      built += 1;
      table.orderStale = table.numbersStale = true;
    } else if (patched >= PATCHES_PER_FRAME) {
      if (built >= NEW_ROWS_PER_FRAME) break;
      continue;
    } else {
      patched += 1;
    }
    const step = rec.steps.shift();
    if (step) show(rec, step, changed);
    patchRow(rec.tr, rec.shown, table.ctx, now);
    if (!rec.steps.length) table.dirty.delete(id);
  }
  if (table.numbersStale) renumber();
  if (table.orderStale || (table.settling && now - table.placedAt >= SETTLE_MS)) reorder(now);
  if (table.chipsStale) drawChips();
  announceChanges(changed);
}

function show(rec, job, changed) {
  const before = rec.shown;
  rec.shown = job;
  if (before && before.status === job.status && before.original_filename === job.original_filename && before.media_duration === job.media_duration) return;
  count(before, -1);
  count(job, 1);
  table.chipsStale = true;
  if (orderDependsOnContent()) table.settling = true;
  if (before && before.status !== job.status) changed.push(job);
}

/** Counts `job` (when there is one, with a status the page knows) in or out. */
function count(job, delta) {
  if (job && job.status in table.counts) {
    table.counts[job.status] += delta;
    table.countsVersion += 1;
  }
}

/** Changes whenever `counts()` may have: the header redraws its figures only then. */
export const countsVersion = () => table.countsVersion;

const orderDependsOnContent = () => table.view.filter !== 'all' || table.view.sort !== 'added' || table.view.failedFirst;

// By time, not by text: a whole second is sent without a fraction (`…:01Z` sorts after `…:01.5Z` as text).
const addedOrder = (a, b) => a.createdMs - b.createdMs || a.arrival - b.arrival;

/** Row numbers follow the order the files were added, whatever the sort. */
function renumber() {
  table.numbersStale = false;
  const drawn = [...table.records.values()].filter((r) => r.tr).sort(addedOrder);
  drawn.forEach((rec, i) => {
    if (rec.number !== i + 1) {
      rec.number = i + 1;
      setNumber(rec.tr, rec.number);
    }
  });
  table.orderStale = true;
}

const SORT_KEYS = {
  added: () => 0,
  name: (a, b) => collator.compare(String(a.original_filename || ''), String(b.original_filename || '')),
  status: (a, b) => statusRank(a.status) - statusRank(b.status),
  duration: (a, b) => (Number(a.media_duration) || 0) - (Number(b.media_duration) || 0),
};

const hasDuration = (job) => Number.isFinite(job.media_duration) && job.media_duration > 0;

function comparator() {
  const { sort, failedFirst } = table.view;
  const [key, direction] = sort.split('-');
  const primary = SORT_KEYS[key] || SORT_KEYS.added;
  const sign = direction === 'desc' ? -1 : 1;
  return (a, b) => {
    const x = a.shown;
    const y = b.shown;
    return (
      (failedFirst ? Number(y.status === 'failed') - Number(x.status === 'failed') : 0) ||
      // Unknown durations last, in either direction.
      (key === 'duration' ? Number(hasDuration(y)) - Number(hasDuration(x)) : 0) ||
      sign * primary(x, y) ||
      a.number - b.number
    );
  };
}

function reorder(now) {
  table.orderStale = table.settling = false;
  table.placedAt = now;
  const { filter } = table.view;
  const rows = [...table.records.values()]
    .filter((r) => r.tr && (filter === 'all' || r.shown.status === filter))
    .sort(comparator())
    .map((r) => r.tr);
  placeRows($('job-list'), rows);
  showEmpty(table.records.size > 0, rows.length);
}

/**
 * Puts `rows` into the table in this order, moving as few as possible: the longest run of
 * rows already in the wanted relative order stays where it is, and each other row goes right
 * after the row before it in the new order, into that row's group. One job changing place
 * then moves one row, neither every row after it nor a row across each group boundary.
 */
function placeRows(tableEl, rows) {
  const wanted = new Set(rows);
  for (const group of tableEl.tBodies) for (const tr of [...group.rows]) if (!wanted.has(tr)) tr.remove();
  if (rows.length && !tableEl.tBodies.length) tableEl.append(newGroup());
  const position = new Map(rows.map((tr, i) => [tr, i]));
  const current = [];
  for (const group of tableEl.tBodies) for (const tr of group.rows) current.push(position.get(tr));
  const stay = longestIncreasing(current);
  for (let i = 0; i < rows.length; i += 1) {
    if (stay.has(i)) continue;
    const tr = rows[i];
    const prev = rows[i - 1];
    if (!prev) {
      const first = tableEl.tBodies[0];
      if (first.firstElementChild !== tr) move(first, tr, first.firstElementChild);
    } else if (tr.previousElementSibling !== prev) {
      move(prev.parentNode, tr, prev.nextElementSibling);
    }
  }
  regroup(tableEl);
}

const newGroup = () => el('tbody', { class: 'job-group', role: 'rowgroup' });

/** Splits groups grown past twice their size; drops empty ones. */
function regroup(tableEl) {
  for (const group of [...tableEl.tBodies]) {
    if (!group.rows.length) {
      group.remove();
      continue;
    }
    if (group.rows.length <= 2 * ROWS_PER_GROUP) continue;
    const all = [...group.rows];
    let last = group;
    for (let k = ROWS_PER_GROUP; k < all.length; k += ROWS_PER_GROUP) {
      const next = newGroup();
      last.after(next);
      last = next;
      for (const tr of all.slice(k, k + ROWS_PER_GROUP)) move(next, tr, null);
    }
  }
}

/** Puts `tr` into `group` before `before` (null: at its end). */
function move(group, tr, before) {
  // moveBefore keeps focus and running animations of a connected row; insertBefore is the
  // fallback for new rows and older browsers.
  if (tr.isConnected && typeof group.moveBefore === 'function') {
    try {
      group.moveBefore(tr, before);
      return;
    } catch {
      // a state moveBefore refuses: a plain insert still puts the row in place
    }
  }
  group.insertBefore(tr, before);
}

/** "No files yet" without jobs; "none with this status" when the filter hides them all. */
function showEmpty(any, shown) {
  setHidden($('jobs-empty'), any);
  setHidden($('jobs-tools'), !any);
  setHidden($('jobs-table-wrap'), !any);
  setHidden($('jobs-filtered-empty'), !any || shown > 0);
}

/** The values of the longest strictly increasing subsequence of `seq`, as a Set. */
function longestIncreasing(seq) {
  const tails = []; // tails[k]: index in seq of the smallest tail of a run of length k + 1
  const prev = new Array(seq.length);
  for (let i = 0; i < seq.length; i += 1) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]] < seq[i]) lo = mid + 1;
      else hi = mid;
    }
    prev[i] = lo > 0 ? tails[lo - 1] : -1;
    tails[lo] = i;
  }
  const out = new Set();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i !== -1; i = prev[i]) out.add(seq[i]);
  return out;
}

function drawChips() {
  table.chipsStale = false;
  const c = counts();
  for (const button of $('job-filters').children) {
    const f = button.dataset.filter;
    setText(button.querySelector('.filter-count'), f === 'all' ? c.total : c[f]);
    const pressed = String(table.view.filter === f);
    if (button.getAttribute('aria-pressed') !== pressed) button.setAttribute('aria-pressed', pressed);
  }
}

function announceChanges(changed) {
  if (changed.length <= ANNOUNCE_EACH_UP_TO) {
    for (const job of changed) announce(`${job.original_filename}: ${statusLabel(job.status)}`);
    return;
  }
  const by = new Map();
  for (const job of changed) by.set(job.status, (by.get(job.status) || 0) + 1);
  const parts = [...by].map(([s, n]) => `${n} ${statusLabel(s).toLowerCase()}`);
  announce(`${changed.length} jobs changed: ${parts.join(', ')}.`);
}

// ------------------------------------------------------------------ the controls

function setView(change) {
  Object.assign(table.view, change);
  table.orderStale = table.chipsStale = true;
  const [key, direction] = table.view.sort.split('-');
  for (const th of $('job-list').tHead.rows[0].cells) {
    if (th.dataset.sortKey === key) th.setAttribute('aria-sort', direction === 'desc' ? 'descending' : 'ascending');
    else th.removeAttribute('aria-sort');
  }
  table.redraw();
}

/**
 * Builds the filter chips and wires the controls. `onAction(jobId, action, button)`: a
 * row's Cancel or Retry was pressed; `redraw()`: the view changed, flush now.
 */
export function initTable({ onAction, redraw }) {
  table.onAction = onAction;
  table.redraw = redraw;
  const filters = $('job-filters');
  for (const f of ['all', ...JOB_STATUSES]) {
    const button = el('button', { type: 'button', class: 'filter-chip', dataset: { filter: f }, 'aria-pressed': String(f === 'all') });
    if (f === 'all') button.append(el('span', { class: 'filter-label' }, 'All'));
    else {
      const icon = el('span', { class: 'chip' });
      chip(icon, f);
      button.append(icon);
    }
    button.append(' ', el('span', { class: 'filter-count' }, '0'));
    filters.append(button);
  }
  filters.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-filter]');
    if (button) setView({ filter: button.dataset.filter });
  });
  $('job-sort').addEventListener('change', (e) => setView({ sort: e.target.value }));
  $('job-failed-first').addEventListener('change', (e) => setView({ failedFirst: e.target.checked }));
  // One listener for every row's buttons: rows are many and come and go.
  $('job-list').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    const tr = button && button.closest('tr.job');
    if (tr) table.onAction(tr.dataset.jobId, button.dataset.action, button);
  });
}
