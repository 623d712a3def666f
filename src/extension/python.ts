import * as vscode from 'vscode';

/** The Python extension, whose public API names the interpreter a user selected per folder. */
export const PYTHON_EXTENSION_ID = 'ms-python.python';

/**
 * The part of the Python extension's public API (`@vscode/python-extension`, `environments`)
 * read here, typed by hand so that nothing of it is bundled. `path` is an interpreter or an
 * environment's folder; `resolveEnvironment` turns either into the interpreter.
 */
interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): { readonly id: string; readonly path: string };
  resolveEnvironment(
    environment: { readonly id: string; readonly path: string } | string,
  ): Promise<{ readonly executable: { readonly uri: vscode.Uri | undefined } } | undefined>;
  readonly onDidChangeActiveEnvironmentPath: vscode.Event<{ readonly resource?: vscode.WorkspaceFolder | vscode.Uri | undefined }>;
}

interface PythonExtensionExports {
  readonly ready?: Promise<void>;
  readonly environments?: PythonEnvironmentsApi;
}

/**
 * The interpreter selected in the Python extension for `folder`, or undefined when the
 * extension is not installed, has no selection, or fails (the caller then uses `python3`).
 */
export async function selectedInterpreter(folder: vscode.Uri): Promise<string | undefined> {
  const environments = await pythonEnvironments();
  if (environments === undefined) return undefined;
  try {
    const active = environments.getActiveEnvironmentPath(folder);
    const resolved = await environments.resolveEnvironment(active);
    const path = resolved?.executable.uri?.fsPath ?? active.path;
    return path === '' ? undefined : path;
  } catch {
    return undefined;
  }
}

/** Fires when the user selects another interpreter in the Python extension (for any folder). */
export async function onInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  const environments = await pythonEnvironments();
  return environments?.onDidChangeActiveEnvironmentPath(() => listener());
}

async function pythonEnvironments(): Promise<PythonEnvironmentsApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionExports>(PYTHON_EXTENSION_ID);
  if (extension === undefined) return undefined;
  try {
    const exports = extension.isActive ? extension.exports : await extension.activate();
    await exports?.ready;
    const environments = exports?.environments;
    return typeof environments?.getActiveEnvironmentPath === 'function' ? environments : undefined;
  } catch {
    return undefined;
  }
}
