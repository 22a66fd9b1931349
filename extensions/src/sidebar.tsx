import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  buildIcon,
  fileUploadIcon,
  LabIcon,
  linkIcon,
  ReactWidget,
  UseSignal
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { askConsent, askDisconnect, askSettings, showConsent } from './dialogs';
import { CozyModel } from './model';
import { CozyAPIError } from './request';
import { IConnector } from './tokens';

/** What the sidebar needs from the plugin beyond the model. */
export interface ISidebarOptions {
  model: CozyModel;
  trans: TranslationBundle;
  showTerms: () => Promise<void>;
  showReport: () => Promise<void>;
  /** Whether to announce each finished sync (a user setting). */
  notifySync: () => boolean;
}

const KIND_ICONS: Record<string, LabIcon> = {
  api: linkIcon,
  file: fileUploadIcon,
  demo: buildIcon
};

/** Demo first (it needs nothing), then bank APIs, then file importers. */
const KIND_ORDER = ['demo', 'api', 'file'];

/** Run a user action; a refusal becomes a notification instead of an unhandled rejection. */
async function attempt(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    const message =
      error instanceof CozyAPIError ? error.explanation : (error as Error).message;
    Notification.error(message, { autoClose: 8000 });
  }
}

function Badge(props: { connector: IConnector; options: ISidebarOptions }): JSX.Element {
  const { connector, options } = props;
  const { trans } = options;
  const job = options.model.job(connector.id);
  if (job && (job.state === 'queued' || job.state === 'running')) {
    const label =
      job.percent === null ? trans.__('syncing…') : trans.__('syncing %1%', job.percent);
    return (
      <span className="cozy-Badge cozy-Badge-syncing">
        {label}
        <progress max={100} value={job.percent ?? undefined} />
      </span>
    );
  }
  const labels: Record<string, string> = {
    not_connected: trans.__('not connected'),
    connected: trans.__('connected'),
    needs_reconnect: trans.__('needs reconnect'),
    error: trans.__('error')
  };
  const status = connector.error !== null ? 'error' : connector.status;
  return <span className={`cozy-Badge cozy-Badge-${status}`}>{labels[status]}</span>;
}

/** "2 accounts · 1,204 transactions": what the connector brought, per collection. */
function rowsText(connector: IConnector, trans: TranslationBundle): string {
  return Object.entries(connector.rows)
    .map(([collection, count]) =>
      trans._n('%1 row in %2', '%1 rows in %2', count, collection)
    )
    .join(' · ');
}

function ConnectorRow(props: {
  connector: IConnector;
  options: ISidebarOptions;
}): JSX.Element {
  const { connector, options } = props;
  const { model, trans } = options;
  const run = connector.last_run;
  const job = model.job(connector.id);
  const busy = job?.state === 'queued' || job?.state === 'running';
  const Icon = KIND_ICONS[connector.kind] ?? linkIcon;
  const failure = connector.error ?? (connector.status === 'error' ? run?.error : null);

  const connect = (): Promise<void> =>
    attempt(async () => {
      const shown = await askConsent(model, trans, connector.id, connector.name);
      if (shown === null) {
        return;
      }
      const values = await askSettings(trans, connector);
      if (values === null) {
        return;
      }
      // A service address typed in the form sends data to another host: that host is shown
      // and granted before anything is saved.
      const screen = await model.consentScreen(connector.id, values.settings);
      if (screen.text !== shown.text && !(await showConsent(trans, connector.name, screen))) {
        return;
      }
      const { message } = await model.connect(connector.id, values.settings, values.credentials);
      if (message) {
        Notification.info(message, { autoClose: false });
      }
    });

  const sync = (): Promise<void> =>
    attempt(async () => {
      const done = await model.sync(connector.id);
      if (done.state === 'failed') {
        throw new Error(
          trans.__('Sync of %1 failed: %2', connector.name, done.error?.message ?? '')
        );
      }
      if (options.notifySync()) {
        Notification.success(
          trans.__('%1: %2 rows added', connector.name, done.report?.added ?? 0),
          { autoClose: 4000 }
        );
      }
    });

  const disconnect = (): Promise<void> =>
    attempt(async () => {
      const erase = await askDisconnect(trans, connector.name);
      if (erase !== null) {
        await model.disconnect(connector.id, erase);
      }
    });

  return (
    <li className="cozy-Connector" data-connector={connector.id} data-status={connector.status}>
      <div className="cozy-Connector-head">
        <Icon.react className="cozy-Connector-icon" tag="span" />
        <span className="cozy-Connector-name">{connector.name}</span>
        <Badge connector={connector} options={options} />
      </div>
      <div className="cozy-Connector-description">
        {connector.description[model.language] ?? connector.description.en}
      </div>
      {failure && <div className="cozy-Connector-failure">{failure}</div>}
      {run && (
        <div className="cozy-Connector-run">
          {connector.kind === 'file'
            ? trans.__(
                'Last import: %1 — %2 rows added',
                new Date(run.started_at).toLocaleString(),
                run.added
              )
            : trans.__(
                'Last sync: %1 — %2 rows added',
                new Date(run.started_at).toLocaleString(),
                run.added
              )}
        </div>
      )}
      {Object.keys(connector.rows).length > 0 && (
        <div className="cozy-Connector-rows">{rowsText(connector, trans)}</div>
      )}
      {connector.connected && connector.kind !== 'file' && (
        <Schedule connector={connector} options={options} />
      )}
      <div className="cozy-Connector-actions">
        {!connector.connected && (
          <button className="jp-mod-styled jp-mod-accept" onClick={connect}>
            {trans.__('Connect')}
          </button>
        )}
        {connector.status === 'needs_reconnect' && (
          <button className="jp-mod-styled jp-mod-accept" onClick={connect}>
            {trans.__('Reconnect')}
          </button>
        )}
        {/* File importers take files from the import area, not a sync. */}
        {connector.connected && connector.kind !== 'file' && (
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={sync}>
            {trans.__('Sync now')}
          </button>
        )}
        {connector.grant === 'granted' && (
          <button className="jp-mod-styled jp-mod-warn" disabled={busy} onClick={disconnect}>
            {trans.__('Disconnect')}
          </button>
        )}
      </div>
    </li>
  );
}

/** How often the connector syncs by itself, when next, and why it waits if it does. */
function Schedule(props: { connector: IConnector; options: ISidebarOptions }): JSX.Element {
  const { connector, options } = props;
  const { model, trans } = options;
  const { frequency, next_run, paused } = connector.schedule;
  const change = (value: string): Promise<void> =>
    attempt(() => model.setSchedule(connector.id, value));
  return (
    <div className="cozy-Schedule">
      <label>
        {trans.__('Syncs by itself')}{' '}
        <select
          className="cozy-Schedule-frequency"
          value={frequency}
          onChange={event => void change(event.currentTarget.value)}
        >
          <option value="daily">{trans.__('daily')}</option>
          <option value="weekly">{trans.__('weekly')}</option>
          <option value="off">{trans.__('never')}</option>
        </select>
      </label>
      {paused ? (
        <div className="cozy-Schedule-paused">
          {trans.__('Automatic syncs paused: %1. Reconnect or sync by hand to resume.', paused)}
        </div>
      ) : (
        next_run && (
          <div className="cozy-Schedule-next">
            {trans.__('Next automatic sync: %1', new Date(next_run).toLocaleString())}
          </div>
        )
      )}
    </div>
  );
}

/**
 * Statement files, dropped or picked. The first import of a format asks for the importer's
 * grant: the server names the importer, its consent screen is shown, then the upload repeats.
 */
function ImportArea(props: { options: ISidebarOptions }): JSX.Element {
  const { model, trans } = props.options;
  const [over, setOver] = React.useState(false);
  const picker = React.useRef<HTMLInputElement>(null);

  const upload = (files: File[]): Promise<void> =>
    attempt(async () => {
      if (files.length === 0) {
        return;
      }
      let report;
      try {
        report = await model.importFiles(files, false);
      } catch (error) {
        const importer = error instanceof CozyAPIError ? error.body.detail?.connector : null;
        if (!(error instanceof CozyAPIError && error.body.reason === 'grant-required' && importer)) {
          throw error;
        }
        const name = model.connectors.find(c => c.id === importer)?.name ?? importer;
        if ((await askConsent(model, trans, importer, name)) === null) {
          return;
        }
        report = await model.importFiles(files, true);
      }
      const added = report.runs.reduce((sum, run) => sum + run.added, 0);
      Notification.success(
        trans._n(
          'Imported %2 rows from %1 file',
          'Imported %2 rows from %1 files',
          files.length,
          added
        ),
        { autoClose: 5000 }
      );
      const rejected = report.runs.flatMap(run => run.rejected);
      if (rejected.length > 0) {
        Notification.warning(
          trans._n(
            '%1 row could not be read and was rejected: %2',
            '%1 rows could not be read and were rejected; the first: %2',
            rejected.length,
            rejected[0]
          ),
          { autoClose: false }
        );
      }
      const skipped = report.runs.reduce((sum, run) => sum + run.skipped.length, 0);
      if (skipped > 0) {
        Notification.info(
          trans._n(
            '%1 line was no transaction (a total or a note) and was skipped',
            '%1 lines were no transactions (totals or notes) and were skipped',
            skipped
          ),
          { autoClose: 8000 }
        );
      }
    });

  return (
    <div
      className={`cozy-Import${over ? ' cozy-mod-dragover' : ''}`}
      onDragOver={event => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={event => {
        event.preventDefault();
        setOver(false);
        void upload(Array.from(event.dataTransfer.files));
      }}
    >
      <span>{trans.__('Drop bank statements here (OFX, QIF, CSV, camt)')}</span>
      <button className="jp-mod-styled" onClick={() => picker.current?.click()}>
        {trans.__('Import file…')}
      </button>
      <input
        ref={picker}
        className="cozy-Import-input"
        type="file"
        multiple
        accept=".ofx,.qfx,.qif,.csv,.txt,.xml,.053,.052"
        onChange={event => {
          const files = Array.from(event.currentTarget.files ?? []);
          event.currentTarget.value = '';
          void upload(files);
        }}
      />
    </div>
  );
}

/** Leave with everything, or bring it in: export, import a bundle, and the report. */
function Tools(props: { options: ISidebarOptions }): JSX.Element {
  const { model, trans } = props.options;
  const picker = React.useRef<HTMLInputElement>(null);
  const job = model.exportJob;
  const exporting = job?.state === 'queued' || job?.state === 'running';

  const exportData = (): Promise<void> =>
    attempt(async () => {
      const { name, data } = await model.exportData();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(data);
      link.download = name;
      link.click();
      URL.revokeObjectURL(link.href);
      Notification.success(trans.__('Your data is in %1', name), { autoClose: 5000 });
    });

  // While a bundle travels: the share uploaded (0–100), then 100 while the server restores it.
  const [sent, setSent] = React.useState<number | null>(null);
  const importBundle = (file: File | undefined): Promise<void> =>
    attempt(async () => {
      if (!file) {
        return;
      }
      setSent(0);
      try {
        const summary = await model.importBundle(file, setSent);
        const added = Object.values(summary.collections).reduce((n, c) => n + c.added, 0);
        Notification.success(
          summary.changed
            ? trans.__('Bundle restored: %1 rows added', added)
            : trans.__('This bundle was already restored: nothing changed'),
          { autoClose: 5000 }
        );
      } finally {
        setSent(null);
      }
    });

  return (
    <div className="cozy-Sidebar-tools">
      <button className="jp-mod-styled" onClick={() => void props.options.showReport()}>
        {trans.__('What we hold')}
      </button>
      <button className="jp-mod-styled cozy-Export" disabled={exporting} onClick={exportData}>
        {exporting && job?.percent !== null
          ? trans.__('Exporting %1%', job?.percent ?? 0)
          : trans.__('Export my data')}
      </button>
      <button
        className="jp-mod-styled cozy-BundleImport"
        disabled={sent !== null}
        onClick={() => picker.current?.click()}
      >
        {sent === null
          ? trans.__('Import a bundle…')
          : sent < 100
            ? trans.__('Sending %1%', sent)
            : trans.__('Restoring…')}
      </button>
      <input
        ref={picker}
        className="cozy-Bundle-input"
        type="file"
        accept=".zip"
        onChange={event => {
          const file = event.currentTarget.files?.[0];
          event.currentTarget.value = '';
          void importBundle(file);
        }}
      />
    </div>
  );
}

function categoryLabel(category: string, trans: TranslationBundle): string {
  const known: Record<string, string> = {
    banking: trans.__('Banking'),
    other: trans.__('Other')
  };
  return known[category] ?? category;
}

function Panel(props: { options: ISidebarOptions }): JSX.Element {
  const { options } = props;
  const { model, trans } = options;
  if (model.error) {
    return <div className="cozy-Sidebar-error">{model.error}</div>;
  }
  if (model.terms === null) {
    return <div className="cozy-Sidebar-status">{trans.__('Loading…')}</div>;
  }
  if (model.locked) {
    const declined = model.terms.last_event === 'refused';
    return (
      <div className="cozy-Sidebar-locked">
        <p>
          {declined
            ? trans.__('You declined the terms: the data features are locked.')
            : trans.__('Accept the terms to unlock the data features.')}
        </p>
        <button className="jp-mod-styled jp-mod-accept" onClick={() => void options.showTerms()}>
          {trans.__('Show the terms')}
        </button>
      </div>
    );
  }
  const groups = new Map<string, IConnector[]>();
  const ordered = [...model.connectors].sort(
    (a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind)
  );
  for (const connector of ordered) {
    const category = connector.categories?.[0] ?? 'other';
    groups.set(category, [...(groups.get(category) ?? []), connector]);
  }
  return (
    <>
      <Tools options={options} />
      <ImportArea options={options} />
      {[...groups.entries()].map(([category, connectors]) => (
        <section className="cozy-Group" key={category} data-category={category}>
          <h3 className="cozy-Group-title">{categoryLabel(category, trans)}</h3>
          <ul className="cozy-Connectors">
            {connectors.map(connector => (
              <ConnectorRow key={connector.id} connector={connector} options={options} />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

/** The connector sidebar: re-renders whenever the model changes. */
export class CozySidebar extends ReactWidget {
  constructor(private readonly _options: ISidebarOptions) {
    super();
    this.addClass('cozy-Sidebar');
  }

  render(): JSX.Element {
    const { model, trans } = this._options;
    return (
      <>
        <header className="cozy-Sidebar-title">{trans.__('Cozy connectors')}</header>
        <UseSignal signal={model.changed}>
          {() => <Panel options={this._options} />}
        </UseSignal>
      </>
    );
  }
}
