import { readdirSync, readFileSync } from 'node:fs';

/** Bridges lead process groups of their own (POSIX only: Windows has none to signal). */
export const GROUPS = process.platform !== 'win32';

/** How often an ending group is looked at (each look reads /proc on Linux, on the event loop). */
const POLL_MS = 100;

/**
 * The process group an app process leads (it was spawned `detached`): what the app starts (a
 * subprocess, a multiprocessing worker) is in it, and ends with it.
 */
export class ProcessGroup {
  constructor(private readonly leader: number | undefined) {}

  /** Sends `signal` to every process of the group; false when none is there to take it (0 only asks). */
  signal(signal: NodeJS.Signals | 0): boolean {
    if (!GROUPS || this.leader === undefined) return false;
    try {
      process.kill(-this.leader, signal);
      return true;
    } catch {
      return false; // ESRCH: no process is left in the group
    }
  }

  /**
   * Whether a process of the group still runs. On Linux a zombie does not count: it runs nothing,
   * and waits only for a parent (often init, which may be slow) to reap it.
   */
  alive(): boolean {
    if (!this.signal(0)) return false;
    return process.platform !== 'linux' || this.leader === undefined || hasLivingMember(this.leader);
  }

  /**
   * Asks the group to end (SIGTERM) and waits for it until `deadline` (a Date.now() time), then
   * kills what is left; resolves true when it had to kill.
   */
  async end(deadline: number): Promise<boolean> {
    if (!this.signal('SIGTERM')) return false;
    while (this.alive()) {
      if (Date.now() >= deadline) {
        this.signal('SIGKILL');
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return false;
  }
}

/** Whether a process of group `pgid` is in a state other than zombie or dead, from /proc. */
function hasLivingMember(pgid: number): boolean {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return true; // no /proc to read: the signal said the group is there
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 0x30 || name.charCodeAt(0) > 0x39) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}
