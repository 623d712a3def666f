import * as vscode from 'vscode';

/**
 * Owns disposables and releases them together, newest first, in the manner of
 * vscode-livepreview's `src/utils/dispose.ts`. Long-lived objects extend it and `_register`
 * everything they create, so one `dispose()` call leaves nothing behind.
 */
export abstract class DisposableOwner implements vscode.Disposable {
  private readonly owned: vscode.Disposable[] = [];
  private disposed = false;

  protected _register<T extends vscode.Disposable>(disposable: T): T {
    if (this.disposed) disposable.dispose();
    else this.owned.push(disposable);
    return disposable;
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const disposable of this.owned.splice(0).reverse()) {
      try {
        disposable.dispose();
      } catch (error) {
        // One failing disposable must not keep the others alive.
        console.error('Tiny Server: dispose failed', error);
      }
    }
  }
}
