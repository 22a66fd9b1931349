import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { CozyModel } from './model';
import { checkServer } from './request';
import { CozySidebar } from './sidebar';
import { showTerms, termsGate } from './terms';
import { Language } from './tokens';

const PLUGIN_ID = 'cozy-jupyterlab:plugin';
const LANGUAGES: readonly Language[] = ['en', 'es', 'fr'];

const cozyIcon = new LabIcon({
  name: 'cozy-jupyterlab:cozy',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M12 3 2 11h3v9h5v-6h4v6h5v-9h3z"/></svg>'
});

/** JupyterLab's language (e.g. "fr-FR") reduced to one the terms exist in. */
function termsLanguage(code: string): Language {
  const short = code.slice(0, 2).toLowerCase();
  return LANGUAGES.find(language => language === short) ?? 'en';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Cozy Notebook: the terms gate and the connector sidebar.',
  autoStart: true,
  requires: [ITranslator],
  optional: [ILayoutRestorer, ICommandPalette, ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    translator: ITranslator,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null
  ): Promise<void> => {
    const trans = translator.load('cozy_jupyterlab');
    const model = new CozyModel(termsLanguage(translator.languageCode));
    let notifySync = true;
    const show = (): Promise<void> =>
      showTerms(model, trans).catch((error: Error) => {
        Notification.error(error.message);
      });

    const sidebar = new CozySidebar({
      model,
      trans,
      showTerms: show,
      notifySync: () => notifySync
    });
    sidebar.id = 'cozy-connectors';
    sidebar.title.icon = cozyIcon;
    sidebar.title.caption = trans.__('Cozy connectors');
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, 'cozy-connectors');

    app.commands.addCommand('cozy:show-terms', {
      label: trans.__('Cozy: Show terms'),
      execute: show
    });
    app.commands.addCommand('cozy:refresh-connectors', {
      label: trans.__('Cozy: Refresh connectors'),
      execute: () => model.refresh().catch((error: Error) => (model.error = error.message))
    });
    palette?.addItem({ command: 'cozy:show-terms', category: 'Cozy' });
    palette?.addItem({ command: 'cozy:refresh-connectors', category: 'Cozy' });

    if (settingRegistry) {
      const settings = await settingRegistry.load(PLUGIN_ID);
      const read = (): void => {
        notifySync = settings.get('notifySync').composite as boolean;
      };
      read();
      settings.changed.connect(read);
    }

    // After the shell is restored, so the gate opens over the layout; not awaited here,
    // since `restored` itself waits for this plugin to finish activating.
    void app.restored.then(async () => {
      try {
        await checkServer(trans);
        await termsGate(model, trans);
        await model.refresh();
      } catch (error) {
        model.error = (error as Error).message;
        Notification.error((error as Error).message);
      }
    });
  }
};

export default plugin;
