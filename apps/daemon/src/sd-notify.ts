// SPDX-License-Identifier: Apache-2.0
/**
 * Readiness for systemd (Type=notify): when NOTIFY_SOCKET is set, `systemd-notify
 * --ready` tells the service manager that the daemon is up (the controller is
 * listening, the enforcer enforcing). Node has no datagram Unix sockets, hence the
 * helper binary; it sends on behalf of its parent (this process) when it may, and
 * the units set NotifyAccess=all for when it may not (a non-root user).
 */
import { execFile } from 'node:child_process';

export function notifySystemdReady(status: string, onError: (err: Error) => void = () => undefined): Promise<boolean> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--status=${status}`], { timeout: 10_000 }, (err) => {
      if (err) onError(new Error(`systemd-notify --ready failed: ${err.message}`));
      resolve(!err);
    });
  });
}
