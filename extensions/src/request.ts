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

/** The only HTTP path of the frontend: JSON in, typed JSON out, failures as CozyAPIError. */
export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'cozy', 'api', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Tornado answers unknown routes with an HTML page; keep its status, drop the body.
  }
  if (!response.ok) {
    const body =
      data && typeof data === 'object' && 'message' in data
        ? (data as IErrorBody)
        : { message: `${response.status} ${response.statusText}` };
    throw new CozyAPIError(response.status, body);
  }
  return data as T;
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
