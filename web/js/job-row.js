// One row of the jobs table: built once per job, then patched in place. A patch writes only
// what differs, so a progress event of one job touches one bar and one figure.

import { el, setHidden, setText } from './dom.js';
import * as format from './format.js';
import { canCancel, canRetry, chip, stageLabel } from './status.js';
import { jobUrl, viewerHash } from './api.js';
import { withToken } from './auth.js';

const STALL_AFTER_MS = 30000;
// The cells a patch writes, found once per row rather than on every patch.
const cellsOf = new WeakMap();
const FORMATS = ['txt', 'srt', 'vtt', 'json'];

/** An empty row for `job` (filled by `patchRow`). */
export function newRow(job) {
  const tr = el('tr', { class: 'job', role: 'row', dataset: { jobId: job.job_id } });
  const name = el('td', { class: 'col-name', role: 'cell' });
  name.append(
    el('span', { class: 'job-name' }),
    el('p', { class: 'job-stalled warn-text', hidden: true }),
    el('p', { class: 'job-error error-text', hidden: true }),
    el('p', { class: 'job-warning warn-text', hidden: true }),
  );
  const progress = el('td', { class: 'col-progress', role: 'cell' });
  const bar = el('div', { class: 'job-bar' });
  bar.append(el('progress', { class: 'job-progress', max: '100', value: '0' }), el('span', { class: 'progress-text' }));
  progress.append(bar, el('span', { class: 'job-stage' }));
  const time = el('td', { class: 'col-time', role: 'cell' });
  time.append(el('span', { class: 'job-elapsed' }), el('span', { class: 'job-eta', hidden: true }), el('span', { class: 'job-worker', hidden: true }));
  const status = el('td', { class: 'col-status', role: 'cell' });
  status.append(el('span', { class: 'chip job-status' }));
  tr.append(
    el('td', { class: 'col-num', role: 'cell' }),
    name,
    status,
    progress,
    el('td', { class: 'col-duration job-duration', role: 'cell' }),
    time,
    el('td', { class: 'col-actions job-actions', role: 'cell' }),
  );
  cellsOf.set(tr, {
    name: name.firstChild,
    stalled: name.children[1],
    error: name.children[2],
    warning: name.children[3],
    status: status.firstChild,
    bar: bar.firstChild,
    pct: bar.lastChild,
    stage: progress.lastChild,
    duration: tr.children[4],
    elapsed: time.children[0],
    eta: time.children[1],
    worker: time.children[2],
    actions: tr.lastChild,
  });
  return tr;
}

/** Seconds since the job started (to its end), and the remaining estimate while it runs. */
function times(job, now) {
  const started = format.epochMs(job.started_at);
  const ended = format.epochMs(job.completed_at);
  const elapsed = started ? ((ended || now) - started) / 1000 : null;
  let eta = null;
  if (job.status === 'processing' && elapsed !== null && job.progress > 0.02 && job.progress < 1) {
    eta = (elapsed * (1 - job.progress)) / job.progress;
  }
  return { elapsed, eta };
}

/** True when the row shows something that changes with the clock alone (elapsed, ETA, stalled). */
export const ticks = (job) => job.status === 'processing';

/** Sets the row's number (its place in the order the files were added). */
export function setNumber(tr, number) {
  setText(tr.firstChild, number);
}

/** Brings `tr` up to `job`; `ctx` = { batchId, formats }. */
export function patchRow(tr, job, ctx, now) {
  const c = cellsOf.get(tr);
  const name = job.original_filename;
  if (tr.dataset.status !== job.status) tr.dataset.status = job.status;
  setText(c.name, name);
  chip(c.status, job.status);
  const pct = job.status === 'completed' ? 100 : Math.max(0, Math.min(100, (Number(job.progress) || 0) * 100));
  if (Math.abs(c.bar.value - pct) > 0.001) c.bar.value = pct;
  if (c.bar.dataset.name !== name) {
    c.bar.dataset.name = name;
    c.bar.setAttribute('aria-label', `Progress of ${name}`);
  }
  setText(c.pct, format.percent(pct));
  setText(c.stage, stageLabel(job.stage));
  setText(c.duration, format.duration(job.media_duration));
  const { elapsed, eta } = times(job, now);
  setText(c.elapsed, format.duration(elapsed));
  setHidden(c.eta, eta === null);
  setText(c.eta, eta === null ? '' : `ETA ${format.duration(eta)}`);
  setHidden(c.worker, !job.worker);
  setText(c.worker, job.worker || '');

  const hb = format.epochMs(job.heartbeat_at);
  const stalled = job.status === 'processing' && hb !== null && now - hb > STALL_AFTER_MS;
  setHidden(c.stalled, !stalled);
  setText(c.stalled, stalled ? `⚠ Stalled since ${new Date(hb).toLocaleTimeString()} (no heartbeat from ${job.worker || 'its worker'} for ${format.duration((now - hb) / 1000)})` : '');
  setHidden(c.error, !job.error_message);
  setText(c.error, job.error_message ? `Error: ${job.error_message}` : '');
  setHidden(c.warning, !job.warning);
  setText(c.warning, job.warning ? `⚠ ${job.warning}` : '');

  // Actions depend only on which of them the status allows (and the name they are labelled
  // with): a progress update of a running job leaves its buttons as they are.
  const actionsKey = `${canCancel(job.status)} ${canRetry(job.status)} ${job.status === 'completed'} ${job.status === 'processing'}\n${name}`;
  if (c.actions.dataset.for !== actionsKey) {
    c.actions.dataset.for = actionsKey;
    c.actions.replaceChildren(...actions(job, ctx));
  }
}

// Buttons carry data-action; the table listens once for all rows (see jobs.js).
function actions(job, ctx) {
  const out = [];
  const name = job.original_filename;
  if (canCancel(job.status)) {
    out.push(el('button', { type: 'button', class: 'job-cancel', dataset: { action: 'cancel' }, 'aria-label': `Cancel ${name}` }, 'Cancel'));
  }
  if (canRetry(job.status)) {
    out.push(el('button', { type: 'button', class: 'job-retry', dataset: { action: 'retry' }, 'aria-label': `Retry ${name}` }, 'Retry'));
  }
  if (job.status === 'processing') {
    out.push(el('a', { class: 'button job-live', href: viewerHash(ctx.batchId, job.job_id), 'aria-label': `Live transcript of ${name}` }, 'Live text'));
  }
  if (job.status === 'completed') {
    out.push(el('a', { class: 'button primary job-view', href: viewerHash(ctx.batchId, job.job_id), 'aria-label': `View transcript of ${name}` }, 'Transcript'));
    const formats = ctx.formats && ctx.formats.length ? ctx.formats : FORMATS;
    for (const f of FORMATS) {
      // JSON is always written (the viewer reads it), whatever formats the batch asked for.
      if (!formats.includes(f) && f !== 'json') continue;
      const href = withToken(jobUrl(ctx.batchId, job.job_id, `/transcript.${f}`));
      out.push(el('a', { class: 'button job-download', href, download: '', dataset: { format: f }, 'aria-label': `Download ${f.toUpperCase()} of ${name}` }, f.toUpperCase()));
    }
  }
  return out;
}
