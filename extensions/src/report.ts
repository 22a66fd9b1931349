import { MainAreaWidget } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

/**
 * "What we hold": the transparency report the core renders, in a sandboxed frame so the page
 * can run nothing (it has no scripts anyway) and cannot reach the lab.
 */
export function reportWidget(
  page: string,
  trans: TranslationBundle,
  icon: LabIcon
): MainAreaWidget {
  const frame = document.createElement('iframe');
  frame.className = 'cozy-Report-frame';
  frame.setAttribute('sandbox', '');
  frame.title = trans.__('What we hold');
  frame.srcdoc = page;
  const content = new Widget({ node: document.createElement('div') });
  content.addClass('cozy-Report');
  content.node.append(frame);
  const widget = new MainAreaWidget({ content });
  widget.id = 'cozy-report';
  widget.title.label = trans.__('What we hold');
  widget.title.icon = icon;
  widget.title.closable = true;
  return widget;
}
