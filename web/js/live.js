// The live connection (API.md "Live events"): one EventSource at a time, resumed with the
// last event id after a drop, and polling only while the stream is down.
//
// A target says what to follow: { url, probe, poll(), onEvent(kind, data), onGone() }.
// `probe` is a cheap GET through the same auth layer: it tells a 404 (the batch is gone)
// or a 401 from a server that is down; `poll` fetches the whole state.

import { api, isNotFound } from './api.js';
import { withToken } from './auth.js';
import { $, setText } from './dom.js';

const POLL_MS = 3000;
const KINDS = ['snapshot', 'batch', 'job', 'deleted', 'segments'];

const live = {
  target: null,
  source: null,
  lastId: null,
  pollTimer: null,
  retryTimer: null,
  retryDelay: 1000,
  // A poll showed the state while the stream was down: resuming the stream would replay the
  // events in between, older than what is shown, and rows would go back (completed →
  // processing → completed). The stream then starts over from a snapshot instead.
  polled: false,
};

export function setConn(kind, text) {
  $('conn').dataset.state = kind;
  setText($('conn-text'), text);
}

export const isOpen = () => Boolean(live.source && live.source.readyState === EventSource.OPEN);
export const isConnected = () => Boolean(live.source);

/** Follows `target` from a fresh snapshot (replacing whatever was followed). */
export function connect(target) {
  disconnect();
  live.target = target;
  live.lastId = null;
  live.polled = false;
  open();
}

/** Follows the same target again from a fresh snapshot (e.g. once a token is entered). */
export function reconnect() {
  if (live.target) connect(live.target);
}

export function disconnect() {
  if (live.source) live.source.close();
  live.source = null;
  clearTimeout(live.retryTimer);
  stopPolling();
}

/** What a caller does after changing something: the stream brings the change, else a poll. */
export function refreshUnlessLive() {
  if (!isOpen()) pollOnce();
}

function open(resumeFrom) {
  const target = live.target;
  let url = target.url;
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
      diagnoseAndReopen(es, target);
    } else {
      setConn('reconnecting', 'Reconnecting… (polling)');
    }
  };
  const handler = (kind) => (ev) => {
    if (live.source !== es) return;
    if (ev.lastEventId) live.lastId = ev.lastEventId;
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    target.onEvent(kind, data);
  };
  for (const kind of KINDS) es.addEventListener(kind, handler(kind));
}

async function diagnoseAndReopen(es, target) {
  try {
    await api('GET', target.probe);
  } catch (e) {
    if (isNotFound(e) && live.target === target) {
      target.onGone();
      return;
    }
  }
  clearTimeout(live.retryTimer);
  live.retryTimer = setTimeout(() => {
    if (live.source === es && live.target === target) open(live.lastId);
  }, live.retryDelay);
  live.retryDelay = Math.min(live.retryDelay * 2, 15000);
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
  const target = live.target;
  if (!target) return;
  try {
    await target.poll();
    if (!isOpen()) live.polled = true;
  } catch (e) {
    if (isNotFound(e) && live.target === target) target.onGone();
  }
}
