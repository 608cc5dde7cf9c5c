// One server action as the panel runs it everywhere (the actions bar, a
// diagnosis finding's way out): first the confirmation where data or the
// server may be lost (texts confirm.* in common.json), then the one API call.
import type { Api } from '../api';
import { t } from '../i18n';
import { needsConfirm, type ActionKey } from '../status';
import { confirmDialog } from './dialog';

export type CallableAction = Exclude<ActionKey, 'set_password'>;

// True when the user goes ahead (or the action asks nothing).
export async function confirmAction(name: string, key: CallableAction, forcedDelete = false): Promise<boolean> {
  if (!needsConfirm(key)) return true;
  const body = t(`confirm.${key}.body`) + (forcedDelete ? ' ' + t('confirm.delete.forced') : '');
  return confirmDialog({
    title: t(`confirm.${key}.title`, { name }),
    body,
    confirmLabel: t('action.' + key),
    danger: key !== 'rescue',
  });
}

// The API call behind an action key; rejects with the API's ApiError.
export async function callAction(api: Api, name: string, key: CallableAction, forcedDelete = false): Promise<void> {
  switch (key) {
    case 'force_stop':
      await api.action(name, 'stop', true);
      break;
    case 'power_button':
      await api.powerButton(name);
      break;
    case 'force_reboot':
      await api.action(name, 'reboot', true);
      break;
    case 'delete':
      await api.deleteServer(name, forcedDelete);
      break;
    default:
      await api.action(name, key);
  }
}
