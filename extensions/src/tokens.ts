/**
 * Payloads of the REST API under /cozy/api/ (openapi.yaml), mirroring the core's dicts.
 */

export type Language = 'en' | 'es' | 'fr';

export interface IVersion {
  version: string;
  api: string;
}

export interface IErrorBody {
  message: string;
  reason?: string | null;
  detail?: { hint?: string | null; connector?: string };
}

export interface ITermsStatus {
  state: 'accepted' | 'required' | 'warning';
  accepted_version: string | null;
  latest_version: string;
  blocks_on: string | null;
  /** Kind of the last terms event in the ledger: "refused" after a decline. */
  last_event: string | null;
}

export interface ICollectRow {
  connector: string;
  name: string;
  personal_data: string[];
  purposes: string[];
  collections: string[];
}

export interface IThirdPartyRow {
  connector: string;
  processor: string;
  role: string;
  data_shared: string[];
  purpose: string;
  location: string;
}

export interface ITermsView {
  status: ITermsStatus;
  language: Language;
  title?: string;
  text: string;
  collect: ICollectRow[];
  third_parties: IThirdPartyRow[];
}

export interface IConsentEvent {
  seq: number;
  at: string;
  kind: 'given' | 'refused' | 'withdrawn' | 'renewed' | 'expired';
  scope: 'terms' | 'connector';
  version?: string | null;
}

export interface IRun {
  id: number;
  started_at: string;
  ended_at: string | null;
  outcome: string;
  added: number;
  updated: number;
  error: string | null;
}

/** A setting from the connector's manifest, with its stored value. */
export interface ISetting {
  name: string;
  label: string;
  kind: 'text' | 'int' | 'decimal' | 'bool' | 'date';
  default: string | null;
  help: string;
  value: string | null;
}

/** A credential from the manifest: only whether one is stored, never its value. */
export interface ICredential {
  name: string;
  label: string;
  help: string;
  stored: boolean;
}

export type ConnectorStatus = 'not_connected' | 'connected' | 'needs_reconnect' | 'error';

export interface IConnector {
  id: string;
  name: string;
  kind: 'file' | 'demo' | 'api' | string;
  enabled: boolean;
  connected: boolean;
  grant: string;
  status: ConnectorStatus;
  error: string | null;
  categories: string[];
  description: Partial<Record<Language, string>>;
  settings: ISetting[];
  credentials: ICredential[];
  last_run: IRun | null;
  /** Rows this connector brought, per collection. */
  rows: Record<string, number>;
  schedule: ISchedule;
  /** The sync running now, started here, elsewhere or by the scheduler. */
  job: IJob | null;
}

/** When a connector syncs by itself, and why it waits for the user if it does. */
export interface ISchedule {
  frequency: 'daily' | 'weekly' | 'off';
  next_run: string | null;
  paused: string | null;
  last_automatic: { outcome: string; started_at: string } | null;
}

export interface ITemplate {
  name: string;
  title: string;
  description: string;
}

export interface IImportReport {
  files: Record<string, string>;
  /** Per file: data rows, and how many were read, rejected and skipped. */
  rows: Record<string, { rows: number; read: number; rejected: number; skipped: number }>;
  runs: {
    connector: string;
    added: number;
    updated: number;
    /** "FILE:line N: reason" for each row that could not be read. */
    rejected: string[];
    /** "FILE:line N: reason" for each row that was no transaction (a total, a footer). */
    skipped: string[];
  }[];
}

export interface IConsentScreen {
  connector: string;
  name: string;
  state: string;
  text: string;
}

export interface IConnectResult {
  settings: Record<string, string>;
  message: string;
}

export interface IDisconnectResult {
  erased: Record<string, number>;
}

export interface IJob {
  id: string;
  /** A connector's sync, or the export of the whole workspace. */
  kind: 'sync' | 'export';
  connector: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  done: number;
  total: number | null;
  percent: number | null;
  report: { added: number; updated: number } | null;
  error: { message?: string } | null;
}

/** What a restore added, updated and left as it was. */
export interface IRestoreSummary {
  kind: 'full' | 'share';
  changed: boolean;
  collections: Record<string, { added: number; updated: number; unchanged: number }>;
}
