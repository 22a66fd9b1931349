import { ISignal, Signal } from '@lumino/signaling';

import { post, requestAPI, requestBlob, requestText, uploadAPI } from './request';
import {
  IConnectResult,
  IConnector,
  IConsentEvent,
  IConsentScreen,
  IDisconnectResult,
  IImportReport,
  IJob,
  IRestoreSummary,
  ISchedule,
  ITemplate,
  ITermsStatus,
  ITermsView,
  Language
} from './tokens';

/** How often a running sync is polled. */
const POLL_MS = 400;

/**
 * What the sidebar shows: the terms status, the connectors and the running syncs.
 * Every change goes through the server first, then `changed` fires.
 */
export class CozyModel {
  constructor(readonly language: Language) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get terms(): ITermsStatus | null {
    return this._terms;
  }

  get connectors(): readonly IConnector[] {
    return this._connectors;
  }

  /** Set when the server cannot be reached or refuses the listing. */
  get error(): string | null {
    return this._error;
  }

  set error(value: string | null) {
    this._error = value;
    this._changed.emit();
  }

  /** Data features stay locked until the current terms are accepted. */
  get locked(): boolean {
    return this._terms?.state === 'required';
  }

  job(connector: string): IJob | undefined {
    return this._jobs.get(`sync:${connector}`);
  }

  /** The export of the whole workspace under way or last made, apart from any sync. */
  get exportJob(): IJob | undefined {
    return this._jobs.get('export:');
  }

  async loadTerms(): Promise<ITermsView> {
    const view = await requestAPI<ITermsView>(`terms?lang=${this.language}`);
    this._terms = view.status;
    this._changed.emit();
    return view;
  }

  async decideTerms(accept: boolean): Promise<IConsentEvent> {
    const event = await requestAPI<IConsentEvent>(
      accept ? 'terms/accept' : 'terms/decline',
      post({ language: this.language })
    );
    await this.refresh();
    return event;
  }

  /** Fires once for each connector whose automatic syncs paused (it needs the user). */
  get paused(): ISignal<this, IConnector> {
    return this._paused;
  }

  /** Reload the terms status and, when unlocked, the connectors. */
  async refresh(): Promise<void> {
    await this.loadTerms();
    this._connectors = this.locked ? [] : await requestAPI<IConnector[]>('connectors');
    this._error = null;
    this._changed.emit();
    for (const connector of this._connectors) {
      if (!connector.schedule?.paused) {
        this._announced.delete(connector.id);
      } else if (!this._announced.has(connector.id)) {
        this._announced.add(connector.id);
        this._paused.emit(connector);
      }
      // A sync this page did not start (the scheduler's, another tab's): show it too.
      if (connector.job && !this._following.has(connector.job.id)) {
        void this._follow(connector.job).catch(() => undefined);
      }
    }
  }

  async setSchedule(connector: string, frequency: string): Promise<void> {
    await requestAPI<ISchedule>(`connectors/${connector}/schedule`, {
      method: 'PUT',
      body: JSON.stringify({ frequency })
    });
    await this.refresh();
  }

  /** The consent screen, for the settings about to be saved when given. */
  consentScreen(connector: string, settings: Record<string, string> = {}): Promise<IConsentScreen> {
    const query = new URLSearchParams({ lang: this.language });
    for (const [name, value] of Object.entries(settings)) {
      query.append('set', `${name}=${value}`);
    }
    return requestAPI<IConsentScreen>(`connectors/${connector}/consent?${query}`);
  }

  /** Grant with the form's settings; credentials go to the server's keyring, never kept here. */
  async connect(
    connector: string,
    settings: Record<string, string> = {},
    credentials: Record<string, string> = {}
  ): Promise<IConnectResult> {
    const result = await requestAPI<IConnectResult>(
      `connectors/${connector}/consent`,
      post({ settings, credentials })
    );
    await this.refresh();
    return result;
  }

  /** Upload statement files; `grant` records the importer's grant after its screen was shown. */
  async importFiles(files: readonly File[], grant: boolean): Promise<IImportReport> {
    const form = new FormData();
    for (const file of files) {
      form.append('file', file, file.name);
    }
    if (grant) {
      form.append('grant', '1');
    }
    const report = await requestAPI<IImportReport>('import', { method: 'POST', body: form });
    await this.refresh();
    return report;
  }

  templates(): Promise<ITemplate[]> {
    return requestAPI<ITemplate[]>('templates');
  }

  /** Copy a template into the Jupyter root; resolves with the new notebook's path. */
  async fromTemplate(name: string): Promise<string> {
    const created = await requestAPI<{ path: string }>(
      `templates/${encodeURIComponent(name)}`,
      post()
    );
    return created.path;
  }

  /**
   * "Export my data": a full bundle made by a server job (its progress shows as the
   * ``export`` job), then fetched; resolves with the file to save.
   */
  async exportData(): Promise<{ name: string; data: Blob }> {
    const job = await this._follow(await requestAPI<IJob>('bundles/export', post()));
    if (job.state === 'failed' || !job.report) {
      throw new Error(job.error?.message ?? 'export failed');
    }
    const name = (job.report as unknown as { name: string }).name;
    return { name, data: await requestBlob(`bundles/exports/${encodeURIComponent(name)}`) };
  }

  /**
   * "Import a bundle": the server verifies it, then merges it; resolves with what changed.
   * ``onProgress`` gets the share of the file sent (0–100).
   */
  async importBundle(file: File, onProgress: (percent: number) => void): Promise<IRestoreSummary> {
    const summary = await uploadAPI<IRestoreSummary>('bundles', file, (sent, total) =>
      onProgress(total ? Math.floor((100 * sent) / total) : 0)
    );
    await this.refresh();
    return summary;
  }

  /** The transparency report as a self-contained page (no scripts). */
  reportPage(): Promise<string> {
    return requestText('report?format=html');
  }

  async disconnect(connector: string, erase: boolean): Promise<IDisconnectResult> {
    const result = await requestAPI<IDisconnectResult>(
      `connectors/${connector}/consent${erase ? '?erase=1' : ''}`,
      { method: 'DELETE' }
    );
    this._jobs.delete(`sync:${connector}`);
    await this.refresh();
    return result;
  }

  /** Start a sync and follow it until it ends; resolves with the finished job. */
  async sync(connector: string): Promise<IJob> {
    return this._follow(await requestAPI<IJob>(`connectors/${connector}/sync`, post()));
  }

  private async _follow(job: IJob): Promise<IJob> {
    this._following.add(job.id);
    try {
      this._setJob(job);
      while (job.state === 'queued' || job.state === 'running') {
        await new Promise(resolve => setTimeout(resolve, POLL_MS));
        job = await requestAPI<IJob>(`jobs/${job.id}`);
        this._setJob(job);
      }
    } finally {
      this._following.delete(job.id);
    }
    await this.refresh();
    return job;
  }

  private _setJob(job: IJob): void {
    this._jobs.set(job.kind === 'export' ? 'export:' : `sync:${job.connector}`, job);
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _paused = new Signal<this, IConnector>(this);
  private _terms: ITermsStatus | null = null;
  private _connectors: IConnector[] = [];
  private _jobs = new Map<string, IJob>();
  private _following = new Set<string>();
  private _announced = new Set<string>();
  private _error: string | null = null;
}
