import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { CozyModel } from './model';
import { ITermsView } from './tokens';

/** Marks the Decline button apart from Escape, which closes the gate without deciding. */
const DECLINE = 'cozy-decline';

function TermsTables(props: { view: ITermsView; trans: TranslationBundle }): JSX.Element {
  const { view, trans } = props;
  return (
    <div className="cozy-Terms-tables">
      <h3>{trans.__('Data we collect')}</h3>
      <table className="cozy-Table cozy-Terms-collect">
        <thead>
          <tr>
            <th>{trans.__('Connector')}</th>
            <th>{trans.__('Personal data')}</th>
            <th>{trans.__('Purposes')}</th>
            <th>{trans.__('Stored in')}</th>
          </tr>
        </thead>
        <tbody>
          {view.collect.map(row => (
            <tr key={row.connector}>
              <td>{row.name}</td>
              <td>{row.personal_data.join(', ')}</td>
              <td>{row.purposes.join('; ')}</td>
              <td>{row.collections.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{trans.__('Third parties')}</h3>
      <table className="cozy-Table cozy-Terms-third-parties">
        <thead>
          <tr>
            <th>{trans.__('Connector')}</th>
            <th>{trans.__('Processor')}</th>
            <th>{trans.__('Role')}</th>
            <th>{trans.__('Data shared')}</th>
            <th>{trans.__('Purpose')}</th>
            <th>{trans.__('Location')}</th>
          </tr>
        </thead>
        <tbody>
          {view.third_parties.map(row => (
            <tr key={`${row.connector}/${row.processor}`}>
              <td>{row.connector}</td>
              <td>{row.processor}</td>
              <td>{row.role}</td>
              <td>{row.data_shared.join(', ')}</td>
              <td>{row.purpose}</td>
              <td>{row.location}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The terms as Markdown rendered by JupyterLab's own (sanitizing) renderer, then the tables.
 * Without a renderer the text shows as it is written.
 */
async function termsBody(
  view: ITermsView,
  trans: TranslationBundle,
  rendermime: IRenderMimeRegistry | null
): Promise<Widget> {
  const body = new Panel();
  body.addClass('cozy-Terms');
  let text: Widget;
  if (rendermime) {
    const renderer = rendermime.createRenderer('text/markdown');
    await renderer.renderModel(
      rendermime.createModel({ data: { 'text/markdown': view.text }, trusted: false })
    );
    text = renderer;
  } else {
    text = new Widget();
    text.node.textContent = view.text;
    text.addClass('cozy-mod-plain');
  }
  text.addClass('cozy-Terms-text');
  body.addWidget(text);
  body.addWidget(ReactWidget.create(<TermsTables view={view} trans={trans} />));
  return body;
}

/** Show the terms and record the user's Accept or Decline; Escape records nothing. */
export async function showTerms(
  model: CozyModel,
  trans: TranslationBundle,
  rendermime: IRenderMimeRegistry | null
): Promise<void> {
  const view = await model.loadTerms();
  const result = await showDialog({
    title: view.title ?? trans.__('Cozy Notebook terms'),
    body: await termsBody(view, trans, rendermime),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Decline'), actions: [DECLINE] }),
      Dialog.okButton({ label: trans.__('Accept') })
    ],
    hasClose: false
  });
  if (result.button.accept) {
    await model.decideTerms(true);
    Notification.success(trans.__('Terms accepted: your data features are unlocked.'), {
      autoClose: 4000
    });
  } else if (result.button.actions.includes(DECLINE)) {
    await model.decideTerms(false);
  }
}

/**
 * The startup gate: a modal when the terms must be accepted (unless the user already
 * declined them: the sidebar then offers them again), a notice when new ones are coming.
 */
export async function termsGate(
  model: CozyModel,
  trans: TranslationBundle,
  show: () => Promise<void>
): Promise<void> {
  const status = (await model.loadTerms()).status;
  if (status.state === 'required' && status.last_event !== 'refused') {
    await show();
  } else if (status.state === 'warning') {
    Notification.warning(
      trans.__(
        'New Cozy Notebook terms (%1) take effect on %2; accept them before then to keep syncing.',
        status.latest_version,
        status.blocks_on ?? ''
      ),
      {
        autoClose: false,
        actions: [
          { label: trans.__('Review terms'), callback: () => void show() }
        ]
      }
    );
  }
}
