// Small DOM helpers shared by every view. Text always goes through textContent: nothing a
// user or the server supplies is ever parsed as HTML.

export const $ = (id) => document.getElementById(id);

/** Creates an element; `text` always goes through textContent. */
export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Writes text only when it differs: an unchanged cell costs no style or layout work. */
export function setText(node, text) {
  const t = text === undefined || text === null ? '' : String(text);
  if (node.textContent !== t) node.textContent = t;
}

/** Shows or hides a node, touching the DOM only on a change. */
export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

/** A line for screen readers (the live region keeps the last five). */
export function announce(message) {
  const a = $('announcer');
  a.append(el('p', {}, message));
  while (a.childElementCount > 5) a.firstElementChild.remove();
}

/** A dismissable error message that goes away by itself after a while. */
export function showAlert(message) {
  const item = el('div', { class: 'alert' });
  item.append(el('span', {}, message));
  item.append(el('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss message', onclick: () => item.remove() }, '×'));
  $('alerts').append(item);
  setTimeout(() => item.remove(), 12000);
}
