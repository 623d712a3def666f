// Imported, not the global: in Node the global performance is a getter, called on each use.
import { performance } from 'node:perf_hooks';

let turn = 0;
let turnEnding = false;
let hitsThisTurn = 0;
let turnStartedAt = 0;
/** A turn never covers more hits, or more time, than this, whatever the poll phase does. */
const MAX_HITS_PER_TURN = 32;
const MAX_TURN_MS = 1;

function endTurn(): void {
  turn++;
  turnEnding = false;
  hitsThisTurn = 0;
}

/**
 * The current event-loop turn, for sharing one stat among the requests of a poll phase.
 *
 * Why that never serves an edit late: every request handled in a poll phase had arrived by the
 * time that phase's readiness was reported, which is before the first stat of the phase. So a
 * request sent after a write completed is handled in a later phase, after the turn has ended
 * (setImmediate runs right after the poll phase), and gets a stat of its own. A request that
 * was still arriving during the write was concurrent with it and may see either version. The
 * caps on hits and time per turn (32 hits, 1 ms) bound the cases where a turn could outlive its
 * poll phase: libuv polling again inside the same phase (more than a thousand ready sockets at
 * once), or a hit outside the poll phase.
 */
export function currentTurn(): number {
  const now = performance.now();
  if (!turnEnding) {
    turnEnding = true;
    turnStartedAt = now;
    setImmediate(endTurn).unref();
  } else if (++hitsThisTurn > MAX_HITS_PER_TURN || now - turnStartedAt > MAX_TURN_MS) {
    endTurn();
    turnEnding = true;
    turnStartedAt = now;
  }
  return turn;
}

/** At most this many paths' outcomes are kept for a turn. */
const MAX_SHARED_PER_TURN = 64;

/**
 * What a path lookup found in the current turn (see `currentTurn`), shared by the requests of
 * the same poll phase as a cached file's stat is: most often that there is no file, for every
 * request an app behind the files answers (files first, then the app), which would otherwise
 * cost each request a path check and a stat.
 */
export class TurnShared<T> {
  private turn = -1;
  private found = new Map<string, T>();

  /** What was found for `path` in this turn; call before looking, so that a result belongs to its turn. */
  get(path: string): T | undefined {
    const turn = currentTurn();
    if (turn === this.turn) return this.found.get(path);
    this.turn = turn;
    // A new Map rather than clear(), which links the old table to a new one (see churn.ts).
    if (this.found.size > 0) this.found = new Map();
    return undefined;
  }

  /** Keeps what was found for `path` after `get` in the same turn. */
  set(path: string, value: T): void {
    if (this.found.size < MAX_SHARED_PER_TURN) this.found.set(path, value);
  }
}
