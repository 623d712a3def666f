import * as vscode from 'vscode';

/**
 * Opens `url` in VS Code's Simple Browser beside the editor, keeping focus where it is. The
 * address goes through `asExternalUri` first so that remote, Codespaces and web setups get an
 * address their browser can reach (a port-forwarding proxy, for instance).
 */
export async function openInSimpleBrowser(url: string, viewColumn = vscode.ViewColumn.Beside): Promise<void> {
  simpleBrowserUrl = url;
  const external = await vscode.env.asExternalUri(vscode.Uri.parse(url));
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
  if (simpleBrowserUrl === undefined) return undefined;
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      if (tab.input instanceof vscode.TabInputWebview && tab.input.viewType.includes('simpleBrowser.view')) return tab;
    }
  }
  return undefined;
}

/** Opens `url` in the system browser; false when VS Code could not open it. */
export async function openInExternalBrowser(url: string): Promise<boolean> {
  const external = await vscode.env.asExternalUri(vscode.Uri.parse(url));
  return vscode.env.openExternal(external);
}

/** Opens `url` the way `target` says; errors become a message instead of a failed command. */
export async function openUrl(url: string, target: 'simpleBrowser' | 'externalBrowser'): Promise<void> {
  try {
    if (target === 'simpleBrowser') await openInSimpleBrowser(url);
    else if (!(await openInExternalBrowser(url))) throw new Error('the system browser did not accept it');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const where = target === 'simpleBrowser' ? 'the Simple Browser' : 'the external browser';
    void vscode.window.showErrorMessage(`Could not open ${url} in ${where}: ${reason}`);
  }
}
