// Vidscribe dashboard: plain ES modules, no framework, no build step (embedded in the
// binary as they are). This entry module wires the views to the address bar:
//   #/                          every batch (list.js)
//   #/batch/<id>                one batch and its jobs (batch.js, jobs.js, uploads.js)
//   #/batch/<id>/job/<job_id>   a transcript beside its media (viewer.js)
// Live updates come from Server-Sent Events (live.js); polling only while the stream is down.

import { authEvents, initTokenButton } from './auth.js';
import { batchTarget, enterBatch, initBatch } from './batch.js';
import { $ } from './dom.js';
import * as live from './live.js';
import { initList, listTarget } from './list.js';
import { localFile, useBatch } from './uploads.js';
import { closeViewer, initViewer, openViewer } from './viewer.js';

const VIEWS = ['list', 'batch', 'transcript'];
let shown = { view: null, batchId: null, jobId: null };

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'batch' && parts[1] && parts[2] === 'job' && parts[3]) return { view: 'transcript', batchId: parts[1], jobId: parts[3] };
  if (parts[0] === 'batch' && parts[1]) return { view: 'batch', batchId: parts[1], jobId: null };
  return { view: 'list', batchId: null, jobId: null };
}

function route() {
  const next = parseHash();
  const prev = shown;
  shown = next;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== next.view;
  if (next.view !== 'transcript') closeViewer();
  if (next.batchId !== prev.batchId) enterBatch(next.batchId);

  if (next.view === 'list') {
    document.title = 'Vidscribe — batches';
    if (prev.view !== 'list' || !live.isConnected()) live.connect(listTarget);
  } else if (next.view === 'batch') {
    useBatch(next.batchId);
    // Back from one of its transcripts: the batch's stream stayed open meanwhile.
    const keep = prev.view === 'transcript' && prev.batchId === next.batchId && live.isConnected();
    if (!keep) live.connect(batchTarget(next.batchId));
  } else {
    // The transcript view follows its batch's stream, so the batch is current on the way back.
    if (prev.batchId !== next.batchId || !live.isConnected() || prev.view === 'list') live.connect(batchTarget(next.batchId));
    openViewer(next.batchId, next.jobId, localFile(next.jobId));
  }
  const heading = document.querySelector(`#view-${next.view} h2`);
  if (prev.view && heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
}

authEvents.addEventListener('needed', (e) => {
  // Every request would be refused: stop streaming and polling until a token is entered.
  live.disconnect();
  live.setConn('offline', e.detail.rejected ? 'Access token not accepted' : 'Access token required');
});
authEvents.addEventListener('provided', () => live.reconnect());

initTokenButton();
initList();
initBatch();
initViewer();
window.addEventListener('hashchange', route);
route();
