// The REST API (API.md): JSON requests with the token, errors as ApiError, and the URLs of
// a batch's and a job's resources.

import { authHeaders, currentToken, recoverFrom401 } from './auth.js';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

/** One request; a 401 asks for the token and sends the request once more. */
export async function api(method, path, body, retried = false) {
  const sentWith = currentToken();
  const headers = { ...authHeaders() };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 && !retried && (await recoverFrom401(sentWith))) return api(method, path, body, true);
  let data = null;
  const type = resp.headers.get('content-type') || '';
  if (type.includes('json')) data = await resp.json().catch(() => null);
  if (!resp.ok || (data && data.success === false)) throw new ApiError(resp.status, data);
  return data;
}

export const isNotFound = (e) => e instanceof ApiError && e.status === 404;

export function batchUrl(batchId, suffix = '') {
  return `/api/batch/${encodeURIComponent(batchId)}${suffix}`;
}

export function jobUrl(batchId, jobId, suffix = '') {
  return `${batchUrl(batchId)}/jobs/${encodeURIComponent(jobId)}${suffix}`;
}

/** The dashboard's own address of a job's transcript. */
export function viewerHash(batchId, jobId) {
  return `#/batch/${encodeURIComponent(batchId)}/job/${encodeURIComponent(jobId)}`;
}

export function batchHash(batchId) {
  return `#/batch/${encodeURIComponent(batchId)}`;
}
