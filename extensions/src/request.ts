import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { IErrorBody, IVersion } from './tokens';

/** A refusal or failure of the REST API, with the server's reason and hint. */
export class CozyAPIError extends Error {
  constructor(
    readonly status: number,
    readonly body: IErrorBody
  ) {
    super(body.message);
  }

  /** The message and, when the server names one, how to fix it. */
  get explanation(): string {
    const hint = this.body.detail?.hint;
    return hint ? `${this.message} (${hint})` : this.message;
  }
}

/** A refused answer as CozyAPIError: the server's JSON reason, else its status line. */
function refusal(status: number, statusText: string, text: string): CozyAPIError {
  let data: unknown = null;
  try {
    data = JSON.parse(text);
  } catch {
    // Tornado answers unknown routes with an HTML page; keep its status, drop the body.
  }
  const body =
    data && typeof data === 'object' && 'message' in data
      ? (data as IErrorBody)
      : { message: `${status} ${statusText}` };
  return new CozyAPIError(status, body);
}

/** The HTTP path of the frontend: the response, failures as CozyAPIError. */
async function fetchAPI(endPoint: string, init: RequestInit): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'cozy', 'api', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    throw refusal(response.status, response.statusText, await response.text());
  }
  return response;
}

/**
 * A file as the raw request body, reporting the bytes sent; typed JSON out.
 *
 * fetch() cannot tell how much of a body has gone, so this one request uses
 * XMLHttpRequest, with the same credentials ServerConnection.makeRequest adds.
 */
export function uploadAPI<T>(
  endPoint: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'cozy', 'api', endPoint);
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Content-Type', file.type || 'application/zip');
    const xsrf = document.cookie.match('\\b_xsrf=([^;]*)\\b');
    if (xsrf) {
      xhr.setRequestHeader('X-XSRFToken', xsrf[1]);
    }
    if (settings.appendToken && settings.token) {
      xhr.setRequestHeader('Authorization', `token ${settings.token}`);
    }
    xhr.upload.onprogress = event => onProgress(event.loaded, event.total || file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve((xhr.responseText ? JSON.parse(xhr.responseText) : null) as T);
      } else {
        reject(refusal(xhr.status, xhr.statusText, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new Error(`${url}: the server could not be reached`));
    xhr.send(file);
  });
}

/** The answer as text. */
export async function requestText(endPoint: string, init: RequestInit = {}): Promise<string> {
  return (await fetchAPI(endPoint, init)).text();
}

/** The answer as a file (a bundle to save). */
export async function requestBlob(endPoint: string, init: RequestInit = {}): Promise<Blob> {
  return (await fetchAPI(endPoint, init)).blob();
}

/** JSON in, typed JSON out. */
export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const text = await requestText(endPoint, init);
  return (text ? JSON.parse(text) : null) as T;
}

/** JSON body for POST requests. */
export function post(body: object = {}): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** The handshake: fails with an actionable message when the server extension is missing. */
export async function checkServer(trans: TranslationBundle): Promise<IVersion> {
  try {
    return await requestAPI<IVersion>('version');
  } catch (error) {
    if (error instanceof CozyAPIError && error.status === 404) {
      throw new Error(
        trans.__('the server extension is not enabled — run `jupyter server extension list`')
      );
    }
    throw error;
  }
}
