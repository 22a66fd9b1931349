import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { CozyModel } from './model';
import { CozyAPIError } from './request';
import { IConnector } from './tokens';

/** What the sidebar needs from the plugin beyond the model. */
export interface ISidebarOptions {
  model: CozyModel;
  trans: TranslationBundle;
  showTerms: () => Promise<void>;
  /** Whether to announce each finished sync (a user setting). */
  notifySync: () => boolean;
}

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

/** The Disconnect dialog's body: a warning and the "erase" choice. */
class DisconnectBody extends Widget implements Dialog.IBodyWidget<boolean> {
  constructor(trans: TranslationBundle, name: string) {
    super();
    this.addClass('cozy-Disconnect');
    const text = document.createElement('p');
    text.textContent = trans.__(
      'Cozy Notebook will stop syncing %1 and withdraw its grant.',
      name
    );
    const label = document.createElement('label');
    this._erase.type = 'checkbox';
    this._erase.className = 'cozy-Disconnect-erase';
    label.append(this._erase, ` ${trans.__('Also erase my data brought by %1', name)}`);
    this.node.append(text, label);
  }

  getValue(): boolean {
    return this._erase.checked;
  }

  private _erase = document.createElement('input');
}

function Badge(props: { connector: IConnector; options: ISidebarOptions }): JSX.Element {
  const { connector, options } = props;
  const { trans } = options;
  const job = options.model.job(connector.id);
  if (job && (job.state === 'queued' || job.state === 'running')) {
    const label =
      job.percent === null
        ? trans.__('syncing…')
        : trans.__('syncing %1%', job.percent);
    return (
      <span className="cozy-Badge cozy-Badge-syncing">
        {label}
        <progress max={100} value={job.percent ?? undefined} />
      </span>
    );
  }
  const failed = connector.error !== null || connector.last_run?.outcome === 'failed';
  if (failed || job?.state === 'failed') {
    return <span className="cozy-Badge cozy-Badge-error">{trans.__('error')}</span>;
  }
  return connector.connected ? (
    <span className="cozy-Badge cozy-Badge-connected">{trans.__('connected')}</span>
  ) : (
    <span className="cozy-Badge">{trans.__('not connected')}</span>
  );
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

  const connect = (): Promise<void> =>
    attempt(async () => {
      const screen = await model.consentScreen(connector.id);
      const body = <div className="cozy-Consent">{screen.text}</div>;
      const result = await showDialog({
        title: trans.__('Connect %1?', connector.name),
        body,
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Connect') })]
      });
      if (!result.button.accept) {
        return;
      }
      const { message } = await model.connect(connector.id);
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
      const result = await showDialog({
        title: trans.__('Disconnect %1?', connector.name),
        body: new DisconnectBody(trans, connector.name),
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: trans.__('Disconnect') })
        ]
      });
      if (result.button.accept) {
        await model.disconnect(connector.id, result.value === true);
      }
    });

  return (
    <li className="cozy-Connector" data-connector={connector.id}>
      <div className="cozy-Connector-head">
        <span className="cozy-Connector-name">{connector.name}</span>
        <Badge connector={connector} options={options} />
      </div>
      <div className="cozy-Connector-description">
        {connector.description[model.language] ?? connector.description.en}
      </div>
      {run && (
        <div className="cozy-Connector-run">
          {trans.__(
            'Last sync: %1 — %2 rows added',
            new Date(run.started_at).toLocaleString(),
            run.added
          )}
        </div>
      )}
      <div className="cozy-Connector-actions">
        {!connector.connected && (
          <button className="jp-mod-styled jp-mod-accept" onClick={connect}>
            {trans.__('Connect')}
          </button>
        )}
        {/* File importers take files from the Import API, not a sync. */}
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
  return (
    <ul className="cozy-Connectors">
      {model.connectors.map(connector => (
        <ConnectorRow key={connector.id} connector={connector} options={options} />
      ))}
    </ul>
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
