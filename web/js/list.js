// The list view: the form that creates a batch, and every batch with its progress, live.

import { api, batchHash } from './api.js';
import { $, announce, el, setText } from './dom.js';
import * as format from './format.js';
import { chip } from './status.js';

const batches = new Map(); // batch_id -> summary

/** What the live connection follows while the list is shown. */
export const listTarget = {
  url: '/api/events',
  probe: '/api/batch/list',
  poll: async () => applyList((await api('GET', '/api/batch/list')).batches || []),
  onEvent,
  onGone: () => {},
};

function onEvent(kind, data) {
  if (kind === 'snapshot') applyList(data.batches || []);
  else if (kind === 'deleted') {
    batches.delete(data.batch_id);
    render();
  } else if (kind === 'batch') {
    batches.set(data.batch_id, { ...batches.get(data.batch_id), ...data });
    render();
  }
}

function applyList(list) {
  batches.clear();
  for (const b of list) batches.set(b.batch_id, b);
  render();
}

function newItem(b) {
  const li = el('li', { class: 'batch-item', dataset: { batchId: b.batch_id } });
  const top = el('div', { class: 'batch-item-top' });
  top.append(el('a', { class: 'batch-link', href: batchHash(b.batch_id) }), el('span', { class: 'chip' }));
  const bar = el('div', { class: 'batch-item-bar' });
  bar.append(el('progress', { max: '100', value: '0' }), el('span', { class: 'progress-text' }));
  li.append(top, bar, el('p', { class: 'meta' }));
  return li;
}

function render() {
  const ul = $('batch-list');
  // By time, not by text: a whole second is sent without a fraction.
  const items = [...batches.values()].sort((a, b) => format.epochMs(b.created_at) - format.epochMs(a.created_at));
  $('list-empty').hidden = items.length > 0;
  const existing = new Map([...ul.children].map((li) => [li.dataset.batchId, li]));
  let prev = null;
  for (const b of items) {
    const li = existing.get(b.batch_id) || newItem(b);
    existing.delete(b.batch_id);
    const p = b.progress || {};
    setText(li.querySelector('.batch-link'), b.name);
    chip(li.querySelector('.chip'), b.status);
    const bar = li.querySelector('progress');
    const pct = Number(p.progress_percentage) || 0;
    bar.value = pct;
    bar.setAttribute('aria-label', `Progress of ${b.name}`);
    setText(li.querySelector('.progress-text'), format.percent(pct));
    const total = b.total_jobs ?? p.total_jobs ?? 0;
    const failed = p.failed_jobs ? `, ${p.failed_jobs} failed` : '';
    setText(li.querySelector('.meta'), `${p.completed_jobs ?? 0} of ${total} done${failed} · created ${format.date(b.created_at)}`);
    if (li.previousElementSibling !== prev || li.parentNode !== ul) {
      if (prev) prev.after(li);
      else ul.prepend(li);
    }
    prev = li;
  }
  for (const li of existing.values()) li.remove();
}

/** The "New batch" form. */
export function initList() {
  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const err = $('create-error');
    setText(err, '');
    const formats = [...form.querySelectorAll('input[name=formats]:checked')].map((i) => i.value);
    if (!formats.length) {
      setText(err, 'Choose at least one output format.');
      return;
    }
    const conc = Number(form.max_concurrent.value);
    if (!Number.isInteger(conc) || conc < 1 || conc > 16) {
      setText(err, 'Files at once must be a whole number from 1 to 16.');
      form.max_concurrent.focus();
      return;
    }
    const body = { max_concurrent: conc, formats, vad: form.vad.checked };
    for (const field of ['name', 'model', 'language']) {
      const value = form[field].value.trim();
      if (value) body[field] = value;
    }
    const btn = $('create-submit');
    btn.disabled = true;
    try {
      const data = await api('POST', '/api/batch/create', body);
      form.name.value = '';
      announce('Batch created.');
      location.hash = batchHash(data.batch_id);
    } catch (e) {
      setText(err, e.message);
    } finally {
      btn.disabled = false;
    }
  });
}
