// How numbers, durations and dates read on the page: one definition of each.

/** A duration in seconds as m:ss or h:mm:ss; '—' when unknown. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A position in media, to the tenth of a second (transcript segments). */
export function timestamp(seconds) {
  const tenths = Math.round((seconds % 1) * 10);
  return `${duration(seconds)}.${tenths}`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

// Locale formatting is slow next to everything else a redraw does, and the same few times
// (a batch's created/started/finished) are shown over and over: each is formatted once.
const dates = new Map();

/** An RFC 3339 time from the server in the reader's locale. */
export function date(iso) {
  if (!iso) return '—';
  let text = dates.get(iso);
  if (text === undefined) {
    const d = new Date(iso);
    text = Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
    if (dates.size > 500) dates.clear();
    dates.set(iso, text);
  }
  return text;
}

/** An RFC 3339 time as epoch milliseconds, or null. */
export function epochMs(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** A percentage (0–100) with `digits` decimals. */
export function percent(value, digits = 0) {
  return `${(Number(value) || 0).toFixed(digits)}%`;
}
