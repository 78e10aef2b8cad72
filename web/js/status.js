// Statuses and stages as the page names them, and the few status rules the page needs
// (which jobs can be cancelled or retried, the order a status sort uses). The server
// decides what is legal; these only choose which buttons to offer.

import { el } from './dom.js';

/** Icon + label of every batch and job status: status is text, never colour alone. */
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

/** Every job status, in the order filters and counts list them. */
export const JOB_STATUSES = ['queued', 'processing', 'completed', 'failed', 'skipped', 'cancelled'];

/** The order of a sort by status: work in flight first, then what needs a look, then done. */
const SORT_RANK = { processing: 0, queued: 1, failed: 2, cancelled: 3, skipped: 4, completed: 5 };

export function statusLabel(status) {
  return (STATUS[status] || {}).label || String(status || 'unknown');
}

export function stageLabel(stage) {
  return stage ? STAGES[stage] || stage : '—';
}

export function statusRank(status) {
  return SORT_RANK[status] ?? JOB_STATUSES.length;
}

export const canCancel = (status) => status === 'queued' || status === 'processing';
export const canRetry = (status) => status === 'failed' || status === 'skipped' || status === 'cancelled';

/** The key of a status in the API's progress counts (`failed` → `failed_jobs`). */
export const countKey = (status) => `${status}_jobs`;

/** Makes `node` a status chip for `status` (rebuilt only when the status changes). */
export function chip(node, status) {
  if (node.dataset.status === status && node.childElementCount) return;
  const s = STATUS[status] || { icon: '?', label: String(status || 'unknown') };
  node.replaceChildren(el('span', { class: 'chip-icon', 'aria-hidden': 'true' }, s.icon), el('span', { class: 'chip-text' }, s.label));
  node.dataset.status = status;
  for (const c of [...node.classList]) if (c.startsWith('chip-')) node.classList.remove(c);
  node.classList.add('chip', `chip-${status}`);
}
