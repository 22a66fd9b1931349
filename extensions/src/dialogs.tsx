import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { CozyModel } from './model';
import { IConnector, IConsentScreen, ISetting } from './tokens';

/** What the connect form returns: settings as typed text, credentials only when typed. */
export interface IConnectValues {
  settings: Record<string, string>;
  credentials: Record<string, string>;
}

/** Show a connector's consent screen; resolves with the screen the user granted, else null. */
export async function askConsent(
  model: CozyModel,
  trans: TranslationBundle,
  connectorId: string,
  name: string
): Promise<IConsentScreen | null> {
  const screen = await model.consentScreen(connectorId);
  return (await showConsent(trans, name, screen)) ? screen : null;
}

/** Show a consent screen already fetched; resolves true when the user grants it. */
export async function showConsent(
  trans: TranslationBundle,
  name: string,
  screen: IConsentScreen
): Promise<boolean> {
  const body = document.createElement('div');
  body.className = 'cozy-Consent';
  body.textContent = screen.text;
  const result = await showDialog({
    title: trans.__('Connect %1?', name),
    body: new Widget({ node: body }),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Grant') })]
  });
  return result.button.accept;
}

const INPUT_TYPES: Partial<Record<ISetting['kind'], string>> = { date: 'date', int: 'number' };

function settingInput(setting: ISetting): HTMLInputElement {
  const input = document.createElement('input');
  input.name = setting.name;
  input.className = 'jp-mod-styled cozy-Form-input';
  if (setting.kind === 'bool') {
    input.type = 'checkbox';
    input.checked = ['true', 'yes', '1'].includes(
      (setting.value ?? setting.default ?? '').toLowerCase()
    );
    return input;
  }
  input.type = INPUT_TYPES[setting.kind] ?? 'text';
  if (setting.kind === 'decimal') {
    input.inputMode = 'decimal';
  }
  input.value = setting.value ?? '';
  input.placeholder = setting.default ?? '';
  return input;
}

/**
 * The settings and credentials form, rendered from the connector's manifest. Password fields
 * are masked, start empty even when a secret is stored, and are sent once, to the keyring.
 */
class ConnectForm extends Widget implements Dialog.IBodyWidget<IConnectValues> {
  constructor(trans: TranslationBundle, connector: IConnector) {
    super();
    this.addClass('cozy-Form');
    for (const setting of connector.settings) {
      const input = settingInput(setting);
      this._settings.push([setting, input]);
      this._row(setting.label, setting.help, input);
    }
    for (const credential of connector.credentials) {
      const input = document.createElement('input');
      input.type = 'password';
      input.name = credential.name;
      input.autocomplete = 'new-password';
      input.className = 'jp-mod-styled cozy-Form-input cozy-Form-secret';
      input.placeholder = credential.stored
        ? trans.__('stored in your keyring — type to replace')
        : '';
      this._credentials.push([credential.name, input]);
      this._row(credential.label, credential.help, input);
    }
  }

  getValue(): IConnectValues {
    const settings: Record<string, string> = {};
    for (const [setting, input] of this._settings) {
      const value = input.type === 'checkbox' ? String(input.checked) : input.value.trim();
      const before = setting.value ?? setting.default ?? '';
      if (value !== '' && value !== before) {
        settings[setting.name] = value;
      }
    }
    const credentials: Record<string, string> = {};
    for (const [name, input] of this._credentials) {
      if (input.value !== '') {
        credentials[name] = input.value;
      }
      input.value = '';
    }
    return { settings, credentials };
  }

  private _row(label: string, help: string, input: HTMLInputElement): void {
    const row = document.createElement('label');
    row.className = 'cozy-Form-row';
    const title = document.createElement('span');
    title.className = 'cozy-Form-label';
    title.textContent = label;
    row.append(title, input);
    if (help) {
      const hint = document.createElement('small');
      hint.className = 'cozy-Form-help';
      hint.textContent = help;
      row.append(hint);
    }
    this.node.append(row);
  }

  private _settings: [ISetting, HTMLInputElement][] = [];
  private _credentials: [string, HTMLInputElement][] = [];
}

/** The form step after consent; null when the user cancels. No form without fields. */
export async function askSettings(
  trans: TranslationBundle,
  connector: IConnector
): Promise<IConnectValues | null> {
  if (connector.settings.length === 0 && connector.credentials.length === 0) {
    return { settings: {}, credentials: {} };
  }
  const result = await showDialog({
    title: trans.__('Set up %1', connector.name),
    body: new ConnectForm(trans, connector),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Connect') })]
  });
  return result.button.accept ? result.value : null;
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

/** Ask before disconnecting; resolves with the erase choice, or null when cancelled. */
export async function askDisconnect(
  trans: TranslationBundle,
  name: string
): Promise<boolean | null> {
  const result = await showDialog({
    title: trans.__('Disconnect %1?', name),
    body: new DisconnectBody(trans, name),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Disconnect') })]
  });
  return result.button.accept ? result.value === true : null;
}
