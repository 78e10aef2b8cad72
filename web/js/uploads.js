// Adding files to a pending batch: a few uploads at a time, each with its own bar and
// outcome (a rejected file says why and can be retried or dismissed).

import { currentToken, recoverFrom401 } from './auth.js';
import { $, el, setText } from './dom.js';
import * as format from './format.js';

const PARALLELISM = 3;
const ICONS = { waiting: '…', uploading: '↑', done: '✓', failed: '✕' };

const uploads = { items: [], queue: [], active: 0, batchId: null };
// Files picked in this page, by the job they became: the viewer plays them when the server
// cannot serve the media.
const localFiles = new Map();
let hooks = { onChange: () => {}, onAdded: () => {} };

export const busy = () => uploads.active > 0 || uploads.queue.length > 0;
export const failedCount = () => uploads.items.filter((u) => u.state === 'failed').length;
export const localFile = (jobId) => localFiles.get(jobId);

/** Uploads go to `batchId` from now on; finished ones of another batch are cleared. */
export function useBatch(batchId) {
  if (uploads.batchId === batchId) return;
  if (!busy()) reset();
  uploads.batchId = batchId;
}

function reset() {
  for (const u of uploads.items) if (u.xhr && u.state === 'uploading') u.xhr.abort();
  uploads.items = [];
  uploads.queue = [];
  uploads.active = 0;
  $('upload-list').replaceChildren();
  setText($('upload-summary'), '');
}

function addFiles(fileList) {
  const files = [...fileList];
  if (!files.length || !uploads.batchId) return;
  for (const file of files) {
    const u = { file, state: 'waiting', batchId: uploads.batchId, row: newRow(file), xhr: null };
    $('upload-list').append(u.row);
    uploads.items.push(u);
    uploads.queue.push(u);
  }
  pump();
  updateSummary();
}

function newRow(file) {
  const li = el('li', { class: 'upload', dataset: { state: 'waiting' } });
  li.append(
    el('span', { class: 'upload-name' }, file.name),
    el('span', { class: 'upload-size' }, format.bytes(file.size)),
    el('progress', { class: 'upload-progress', max: '100', value: '0', 'aria-label': `Upload of ${file.name}` }),
    el('span', { class: 'upload-state' }, 'Waiting'),
    el('span', { class: 'upload-actions' }),
  );
  return li;
}

function setState(u, st, message) {
  u.state = st;
  u.row.dataset.state = st;
  const label = u.row.querySelector('.upload-state');
  setText(label, `${ICONS[st] || ''} ${message}`);
  label.classList.toggle('error-text', st === 'failed');
  const actions = u.row.querySelector('.upload-actions');
  actions.replaceChildren();
  if (st !== 'failed') return;
  const retry = () => {
    setState(u, 'waiting', 'Waiting');
    uploads.queue.push(u);
    pump();
    updateSummary();
  };
  const dismiss = () => {
    uploads.items = uploads.items.filter((x) => x !== u);
    u.row.remove();
    updateSummary();
  };
  actions.append(
    el('button', { type: 'button', class: 'link upload-retry', 'aria-label': `Retry upload of ${u.file.name}`, onclick: retry }, 'Retry'),
    el('button', { type: 'button', class: 'link upload-dismiss', 'aria-label': `Dismiss ${u.file.name}`, onclick: dismiss }, 'Dismiss'),
  );
}

function pump() {
  while (uploads.active < PARALLELISM && uploads.queue.length) {
    const u = uploads.queue.shift();
    uploads.active += 1;
    send(u).finally(() => {
      uploads.active -= 1;
      pump();
      updateSummary();
      hooks.onChange();
    });
  }
  hooks.onChange();
}

// XMLHttpRequest rather than fetch: only it reports upload progress.
function send(u, retried = false) {
  return new Promise((resolve) => {
    setState(u, 'uploading', 'Uploading 0%');
    const xhr = new XMLHttpRequest();
    const sentWith = currentToken();
    u.xhr = xhr;
    xhr.open('POST', '/api/batch/add-video');
    if (sentWith) xhr.setRequestHeader('Authorization', `Bearer ${sentWith}`);
    xhr.responseType = 'text';
    const bar = u.row.querySelector('.upload-progress');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = (e.loaded / e.total) * 100;
      bar.value = pct;
      setText(u.row.querySelector('.upload-state'), `${ICONS.uploading} Uploading ${format.percent(pct)}`);
    };
    xhr.onload = async () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: the status line says what happened
      }
      if (xhr.status === 401 && !retried && (await recoverFrom401(sentWith))) {
        resolve(send(u, true));
        return;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.success !== false) {
        bar.value = 100;
        if (body.job_id) localFiles.set(body.job_id, u.file);
        setState(u, 'done', 'Added');
        hooks.onAdded();
      } else {
        const why = (body && body.error) || `${xhr.status} ${xhr.statusText || 'upload failed'}`;
        setState(u, 'failed', `Rejected: ${why}`);
      }
      resolve();
    };
    xhr.onerror = () => {
      setState(u, 'failed', 'Network error: the upload did not reach the server');
      resolve();
    };
    xhr.onabort = () => {
      setState(u, 'failed', 'Upload aborted');
      resolve();
    };
    const fd = new FormData();
    fd.append('batch_id', u.batchId);
    fd.append('file', u.file, u.file.name);
    xhr.send(fd);
  });
}

function updateSummary() {
  const n = uploads.items.length;
  if (!n) {
    setText($('upload-summary'), '');
    return;
  }
  const done = uploads.items.filter((u) => u.state === 'done').length;
  const failed = failedCount();
  const pending = n - done - failed;
  let text = `${done} of ${n} uploaded`;
  if (pending) text += `, ${pending} in progress`;
  if (failed) text += `, ${failed} rejected or failed — not in the batch (retry or dismiss them)`;
  setText($('upload-summary'), `${text}.`);
}

/**
 * The file picker and drop zone. `onChange`: the set of uploads in flight changed (Start
 * waits for them); `onAdded`: the server accepted a file (not every server sends a job event
 * for an upload).
 */
export function initUploads(callbacks) {
  hooks = { ...hooks, ...callbacks };
  $('file-input').addEventListener('change', (ev) => {
    addFiles(ev.target.files);
    ev.target.value = '';
  });
  const dz = $('dropzone');
  const stop = (e) => {
    e.preventDefault();
    e.stopPropagation();
  };
  for (const t of ['dragenter', 'dragover']) {
    dz.addEventListener(t, (e) => {
      stop(e);
      dz.classList.add('dragging');
    });
  }
  for (const t of ['dragleave', 'dragend']) {
    dz.addEventListener(t, (e) => {
      stop(e);
      dz.classList.remove('dragging');
    });
  }
  dz.addEventListener('drop', (e) => {
    stop(e);
    dz.classList.remove('dragging');
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  });
  // A file dropped outside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  window.addEventListener('beforeunload', (e) => {
    if (busy()) {
      e.preventDefault();
      e.returnValue = '';
    }
  });
}
