import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { CozyModel } from './model';
import { reportWidget } from './report';
import { checkServer } from './request';
import { CozySidebar } from './sidebar';
import { showTerms, termsGate } from './terms';
import { Language } from './tokens';

const PLUGIN_ID = 'cozy-jupyterlab:plugin';
/** How often the sidebar looks for what automatic syncs changed, unless set otherwise. */
const REFRESH_MS = 30_000;
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
  optional: [ILayoutRestorer, ICommandPalette, ISettingRegistry, ILauncher, IRenderMimeRegistry],
  activate: async (
    app: JupyterFrontEnd,
    translator: ITranslator,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    launcher: ILauncher | null,
    rendermime: IRenderMimeRegistry | null
  ): Promise<void> => {
    const trans = translator.load('cozy_jupyterlab');
    const model = new CozyModel(termsLanguage(translator.languageCode));
    let notifySync = true;
    let refreshMs = REFRESH_MS;
    const show = (): Promise<void> =>
      showTerms(model, trans, rendermime).catch((error: Error) => {
        Notification.error(error.message);
      });
    let report: MainAreaWidget | null = null;
    const showReport = async (): Promise<void> => {
      try {
        const page = await model.reportPage();
        report?.dispose();
        report = reportWidget(page, trans, cozyIcon);
        app.shell.add(report, 'main');
        app.shell.activateById(report.id);
      } catch (error) {
        Notification.error((error as Error).message);
      }
    };

    const sidebar = new CozySidebar({
      model,
      trans,
      showTerms: show,
      showReport,
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
    app.commands.addCommand('cozy:open-report', {
      label: trans.__('Cozy: What we hold'),
      execute: showReport
    });
    app.commands.addCommand('cozy:new-from-template', {
      label: args => (args.title as string) ?? trans.__('Cozy template'),
      caption: args => (args.description as string) ?? '',
      icon: cozyIcon,
      execute: async args => {
        try {
          const path = await model.fromTemplate(args.name as string);
          await app.commands.execute('docmanager:open', { path });
        } catch (error) {
          Notification.error((error as Error).message);
        }
      }
    });
    for (const command of ['cozy:show-terms', 'cozy:refresh-connectors', 'cozy:open-report']) {
      palette?.addItem({ command, category: 'Cozy' });
    }
    if (launcher) {
      // Templates are listed by the server (they ship with it); the launcher shows them once known.
      void model
        .templates()
        .then(templates =>
          templates.forEach((template, rank) =>
            launcher.add({
              command: 'cozy:new-from-template',
              args: { ...template },
              category: trans.__('Cozy templates'),
              rank
            })
          )
        )
        .catch((error: Error) => console.warn(`cozy: no templates: ${error.message}`));
    }

    if (settingRegistry) {
      const settings = await settingRegistry.load(PLUGIN_ID);
      const read = (): void => {
        notifySync = settings.get('notifySync').composite as boolean;
        refreshMs = 1000 * (settings.get('refreshSeconds').composite as number);
      };
      read();
      settings.changed.connect(read);
    }

    model.paused.connect((_, connector) => {
      Notification.warning(
        trans.__(
          '%1 stopped syncing by itself: %2',
          connector.name,
          connector.schedule.paused ?? ''
        ),
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Open Cozy connectors'),
              callback: () => app.shell.activateById(sidebar.id)
            }
          ]
        }
      );
    });
    // Automatic syncs happen in the server: look again now and then, while unlocked.
    const lookAgain = (): void => {
      if (model.terms && !model.locked && !model.error) {
        void model.refresh().catch(() => undefined);
      }
      window.setTimeout(lookAgain, refreshMs);
    };
    window.setTimeout(lookAgain, refreshMs);

    // After the shell is restored, so the gate opens over the layout; not awaited here,
    // since `restored` itself waits for this plugin to finish activating.
    void app.restored.then(async () => {
      try {
        await checkServer(trans);
        await termsGate(model, trans, show);
        await model.refresh();
      } catch (error) {
        model.error = (error as Error).message;
        Notification.error((error as Error).message);
      }
    });
  }
};

export default plugin;
