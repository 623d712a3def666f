import * as vscode from 'vscode';
import { hostName } from '../server/host-check';

/** Lets the server of the address being opened answer a host name (ServerManager.allowHost). */
export type AllowHost = (host: string) => void;

/**
 * `url` as the user's browser reaches it: `asExternalUri` gives remote, Codespaces and web setups
 * a port forwarder's address. When the forwarder names the server by a host of its own, `allow`
 * is told that name, which the server's DNS-rebinding check would otherwise refuse with 403.
 */
export async function externalUri(url: string, allow: AllowHost): Promise<vscode.Uri> {
  const local = vscode.Uri.parse(url);
  const external = await vscode.env.asExternalUri(local);
  const host = hostName(external.authority.slice(external.authority.lastIndexOf('@') + 1));
  if (host !== '' && host.toLowerCase() !== hostName(local.authority).toLowerCase()) allow(host);
  return external;
}

/** Opens `url` in VS Code's Simple Browser beside the editor, keeping focus where it is. */
export async function openInSimpleBrowser(url: string, allow: AllowHost, viewColumn = vscode.ViewColumn.Beside): Promise<void> {
  simpleBrowserUrl = url;
  const external = await externalUri(url, allow);
  await vscode.commands.executeCommand('simpleBrowser.api.open', external, { viewColumn, preserveFocus: true });
}

/** The address Tiny Server last showed in the Simple Browser; undefined until it opened one. */
let simpleBrowserUrl: string | undefined;

/** Whether the Simple Browser was last sent to `url` by Tiny Server (a folder and its index file alike). */
export function showsInSimpleBrowser(url: string): boolean {
  const page = (address: string): string => address.replace(/\/index\.html?$/, '/');
  return simpleBrowserUrl !== undefined && page(simpleBrowserUrl) === page(url);
}

/** The open Simple Browser's tab, once Tiny Server has opened one; undefined when closed since. */
export function simpleBrowserTab(): vscode.Tab | undefined {
  return simpleBrowserUrl === undefined ? undefined : anySimpleBrowserTab();
}

/**
 * Called when tabs closed: once no Simple Browser is left, the one Tiny Server opened is gone, and
 * a Simple Browser the user opens later on another address is not Tiny Server's to navigate.
 */
export function onTabsClosed(closed: readonly vscode.Tab[]): void {
  if (closed.some(isSimpleBrowser) && anySimpleBrowserTab() === undefined) simpleBrowserUrl = undefined;
}

function anySimpleBrowserTab(): vscode.Tab | undefined {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      if (isSimpleBrowser(tab)) return tab;
    }
  }
  return undefined;
}

function isSimpleBrowser(tab: vscode.Tab): boolean {
  return tab.input instanceof vscode.TabInputWebview && tab.input.viewType.includes('simpleBrowser.view');
}

/** Opens `url` in the system browser; false when VS Code could not open it. */
export async function openInExternalBrowser(url: string, allow: AllowHost): Promise<boolean> {
  return vscode.env.openExternal(await externalUri(url, allow));
}

/** Opens `url` the way `target` says; errors become a message instead of a failed command. */
export async function openUrl(url: string, allow: AllowHost, target: 'simpleBrowser' | 'externalBrowser'): Promise<void> {
  try {
    if (target === 'simpleBrowser') await openInSimpleBrowser(url, allow);
    else if (!(await openInExternalBrowser(url, allow))) throw new Error('the system browser did not accept it');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const where = target === 'simpleBrowser' ? 'the Simple Browser' : 'the external browser';
    void vscode.window.showErrorMessage(`Could not open ${url} in ${where}: ${reason}`);
  }
}
